// Figures drawn by gnuplot (Debian gnuplot-nox), run as a child process
// without a shell: PNG (pngcairo) or SVG, chosen by the file's extension.
// The data and the script are written beside the figure (FILE.dat,
// FILE.gp), so a user can restyle a figure and rerun `gnuplot FILE.gp`.
//
//   spicenn::plot::figure f;
//   f.title = "diode ReLU";
//   f.x_label = "injected current (uA)";
//   f.y_label = "node voltage (V)";
//   f.curves.push_back({"ngspice", xs, ys});
//   spicenn::plot::write(f, "activation.png");
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace spicenn::plot {

enum class style { lines, dashed, points };

struct curve {
  std::string title;
  std::vector<double> x, y;  // same length; non-finite points are left out
  style look = style::lines;
  std::string color;  // "#rrggbb"; empty: gnuplot's sequence
};

// Classes on a regular grid (x fastest or not; gnuplot infers the grid),
// drawn under the curves as an image, class k in colors[k].
struct class_map {
  std::vector<double> x, y;
  std::vector<int> k;
  std::vector<std::string> colors;  // "#rrggbb" per class
};

struct figure {
  std::string title, x_label, y_label;  // a title may hold '\n' line breaks
  std::vector<curve> curves;
  std::optional<class_map> map;
  bool log_x = false, log_y = false;
  bool equal_axes = false;   // one unit as long on both axes
  bool key_outside = false;  // the legend right of the plot instead of top left
  int width = 900, height = 600;  // pixels (PNG), points (SVG)
};

// The gnuplot script that draws `f` from `data` (as write_data lays it out)
// into `file` (.png or .svg).
std::string gnuplot_script(const figure& f, const std::filesystem::path& data, const std::filesystem::path& file);
// One block per curve (after the class map's, if any), separated by two
// blank lines (gnuplot's `index`).
std::string data_text(const figure& f);

// Writes FILE.dat and FILE.gp and runs gnuplot on them. Throws
// spicenn::error naming the file for another extension, curves of unequal
// lengths or without points, a missing gnuplot (with the package to
// install) or gnuplot's own error message.
void write(const figure& f, const std::filesystem::path& file);

}  // namespace spicenn::plot
