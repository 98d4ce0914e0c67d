// spicenn plot FILE.csv ... -o FIGURE.png|svg: training curves (metrics CSVs
// of `train --metrics`), node voltages over time (`trajectory` CSVs) or a
// decision boundary (a `predict --grid` CSV, with `--points` a `predict
// --data` CSV on top). The kind follows from the CSV's header.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "core/numbers.hpp"
#include "core/text.hpp"
#include "cosim/metrics.hpp"
#include "plot/plot.hpp"

namespace spicenn::cli {

namespace {

// A CSV of numbers under a header line; parse_error names file:line.
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  std::size_t column(const std::string& name, const std::string& file) const {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw parse_error({file, 1}, fmt::format("no column '{}'", name));
    return static_cast<std::size_t>(it - header.begin());
  }
};

std::vector<std::string> split(std::string_view line) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    out.emplace_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

std::string first_line(const std::string& file) {
  const std::string text = read_file(file, "CSV");
  return std::string(trim(std::string_view(text).substr(0, text.find('\n'))));
}

table read_table(const std::string& file) {
  const std::string text = read_file(file, "CSV");
  table t;
  std::size_t last = 0;
  for_each_line(text, [&](std::size_t line_no, std::string_view raw) {
    last = line_no;
    const std::string_view line = trim(raw);
    if (line.empty()) return;
    auto fields = split(line);
    if (t.header.empty()) {
      t.header = std::move(fields);
      return;
    }
    if (fields.size() != t.header.size())
      throw parse_error({file, line_no}, fmt::format("{} fields, but the header has {}", fields.size(), t.header.size()));
    std::vector<double> row;
    for (const auto& f : fields) {
      const auto v = try_parse_double(f);
      if (!v) throw parse_error({file, line_no}, fmt::format("'{}' is not a number", f));
      row.push_back(*v);
    }
    t.rows.push_back(std::move(row));
  });
  if (t.rows.empty()) throw parse_error({file, last}, "no data rows");
  return t;
}

const std::vector<std::string> class_fills = {"#c6dbef", "#fdd0a2", "#c7e9c0", "#dadaeb", "#fcbba1", "#d9d9d9"};
const std::vector<std::string> class_points = {"#08519c", "#d94801", "#238b45", "#54278f", "#a50f15", "#252525"};

void metrics_figure(const std::vector<std::string>& files, bool accuracy, plot::figure& f, std::string& summary) {
  f.x_label = "epoch";
  f.y_label = accuracy ? "accuracy (%)" : "mean cross-entropy";
  std::string names;
  std::size_t epochs = 0;
  for (const auto& file : files) {
    const auto rows = cosim::read_metrics_csv(file);  // parse_error names file:line
    if (rows.empty()) throw error(fmt::format("plot: {} has no epochs", file));
    const std::string name = std::filesystem::path(file).stem().string();
    names += (names.empty() ? "" : ", ") + name;
    plot::curve train{name + " training", {}, {}, plot::style::dashed}, val{name + " validation", {}, {}, plot::style::lines};
    const double scale = accuracy ? 100.0 : 1.0;
    for (const auto& r : rows) {
      train.x.push_back(static_cast<double>(r.epoch));
      train.y.push_back(scale * (accuracy ? r.train_accuracy : r.train_loss));
      val.x.push_back(static_cast<double>(r.epoch));
      val.y.push_back(scale * (accuracy ? r.val_accuracy : r.val_loss));  // NaN without a validation set: left out
    }
    epochs += rows.size();
    f.curves.push_back(std::move(train));
    if (std::any_of(val.y.begin(), val.y.end(), [](double v) { return std::isfinite(v); })) f.curves.push_back(std::move(val));
  }
  f.title = fmt::format("training curves: {}", names);
  summary = fmt::format("{} curves, {} epochs", f.curves.size(), epochs);
}

// trajectory CSV: t, t_seconds, then software_n<i>, spice_n<i> per node.
void trajectory_figure(const std::string& file, plot::figure& f, std::string& summary, std::string& detail) {
  const auto t = read_table(file);
  f.x_label = "time (normalized)";
  f.y_label = "node voltage (normalized)";
  f.key_outside = true;
  std::size_t nodes = 0;
  double worst = 0.0, scale = 0.0;
  for (std::size_t c = 2; c + 1 < t.header.size(); c += 2) {
    const std::string node = t.header[c].substr(t.header[c].find('_') + 1);
    const std::string color = class_points[nodes % class_points.size()];
    plot::curve soft{"software " + node, {}, {}, plot::style::lines, color}, sp{"ngspice " + node, {}, {}, plot::style::points, color};
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      soft.x.push_back(t.rows[r][0]);
      soft.y.push_back(t.rows[r][c]);
      worst = std::max(worst, std::abs(t.rows[r][c] - t.rows[r][c + 1]));
      scale = std::max(scale, std::abs(t.rows[r][c]));
      if (r % 8 == 0 || r + 1 == t.rows.size()) {  // every 8th ngspice point, to see the line under them
        sp.x.push_back(t.rows[r][0]);
        sp.y.push_back(t.rows[r][c + 1]);
      }
    }
    f.curves.push_back(std::move(soft));
    f.curves.push_back(std::move(sp));
    ++nodes;
  }
  detail = fmt::format("largest |software - ngspice| {:.3g} (signal scale {:.3g})", worst, scale);
  f.title = fmt::format("{}: {} node(s) over time\n{}", std::filesystem::path(file).filename().string(), nodes, detail);
  summary = fmt::format("{} nodes, {} time points", nodes, t.rows.size());
}

// predict --grid CSV (x0, x1, predicted, y...) as a class map; with
// `points`, a predict --data CSV (x0, x1, label, predicted, ...) on top,
// coloured by label, and its accuracy in the title.
void boundary_figure(const std::string& grid_file, const std::string& points_file, plot::figure& f, std::string& summary,
                     std::string& detail) {
  const auto grid = read_table(grid_file);
  const auto gx = grid.column("x0", grid_file), gy = grid.column("x1", grid_file), gp = grid.column("predicted", grid_file);
  plot::class_map map;
  int classes = 0;
  for (const auto& r : grid.rows) {
    map.x.push_back(r[gx]);
    map.y.push_back(r[gy]);
    map.k.push_back(static_cast<int>(r[gp]));
    classes = std::max(classes, map.k.back() + 1);
  }
  f.x_label = "x0";
  f.y_label = "x1";
  f.equal_axes = true;
  f.key_outside = true;
  f.title = "decision boundary";
  summary = fmt::format("{} grid points", grid.rows.size());
  if (!points_file.empty()) {
    const auto pts = read_table(points_file);
    const auto px = pts.column("x0", points_file), py = pts.column("x1", points_file), pl = pts.column("label", points_file),
               pp = pts.column("predicted", points_file);
    std::map<int, plot::curve> by_label;
    std::size_t correct = 0;
    for (const auto& r : pts.rows) {
      const int label = static_cast<int>(r[pl]);
      classes = std::max(classes, label + 1);
      auto& c = by_label[label];
      c.title = fmt::format("label {}", label);
      c.look = plot::style::points;
      c.color = class_points[static_cast<std::size_t>(label) % class_points.size()];
      c.x.push_back(r[px]);
      c.y.push_back(r[py]);
      correct += r[pl] == r[pp];
    }
    for (auto& [label, c] : by_label) f.curves.push_back(std::move(c));
    const double accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(pts.rows.size());
    detail = fmt::format("{}: accuracy {:.2f} % ({}/{})", std::filesystem::path(points_file).filename().string(), accuracy,
                         correct, pts.rows.size());
    f.title = "decision boundary; " + detail;
    summary += fmt::format(", {} points, accuracy {:.2f} %", pts.rows.size(), accuracy);
  }
  if (static_cast<std::size_t>(classes) > class_fills.size())
    throw error(fmt::format("plot: {} classes; a decision boundary is drawn for at most {}", classes, class_fills.size()));
  map.colors.assign(class_fills.begin(), class_fills.begin() + classes);
  f.map = std::move(map);
}

// Any CSV of numbers: columns `ys` against column `x` of every file that has
// them, one curve per file and column.
void columns_figure(const std::vector<std::string>& files, const std::string& x, const std::vector<std::string>& ys,
                    double y_scale, plot::style look, plot::figure& f, std::string& summary) {
  f.x_label = x;
  f.key_outside = true;
  f.y_label = fmt::format("{}{}", fmt::join(ys, ", "), y_scale == 1.0 ? "" : fmt::format(" (x {:g})", y_scale));
  std::size_t points = 0;
  for (const auto& file : files) {
    const auto t = read_table(file);
    const auto cx = t.column(x, file);
    std::size_t found = 0;
    for (const auto& y : ys) {
      const auto it = std::find(t.header.begin(), t.header.end(), y);
      if (it == t.header.end()) continue;
      const auto cy = static_cast<std::size_t>(it - t.header.begin());
      plot::curve c{files.size() > 1 ? fmt::format("{} ({})", y, std::filesystem::path(file).stem().string()) : y, {}, {}, look};
      for (const auto& r : t.rows) {
        c.x.push_back(r[cx]);
        c.y.push_back(y_scale * r[cy]);
      }
      points += c.x.size();
      f.curves.push_back(std::move(c));
      ++found;
    }
    if (!found) throw parse_error({file, 1}, fmt::format("none of the columns {} is in this CSV", fmt::join(ys, ", ")));
  }
  f.title = fmt::format("{} against {}", fmt::join(ys, ", "), x);
  summary = fmt::format("{} curves, {} points", f.curves.size(), points);
}

}  // namespace

void register_plot(CLI::App& app) {
  struct args {
    std::vector<std::string> files;
    std::string output, quantity = "accuracy", title, points, x, y, style = "lines";
    double y_scale = 1.0;
  };
  static args a;
  auto* cmd = app.add_subcommand(
      "plot",
      "Draw a figure (PNG or SVG) from spicenn's CSVs, by their header: training curves from `train --metrics` files "
      "(several drawn together), node voltages over time from a `trajectory` CSV (software lines, ngspice points), or "
      "a decision boundary from a `predict --grid` CSV (with --points, a `predict --data` CSV on top)");
  cmd->add_option("files", a.files, "CSV file(s)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a.output, "Figure to write (.png or .svg)")->required();
  cmd->add_option("--quantity", a.quantity, "Training curves: accuracy (%) or loss (mean cross-entropy)")
      ->capture_default_str()
      ->check(CLI::IsMember({"accuracy", "loss"}));
  cmd->add_option("--points", a.points, "Decision boundary: a `predict --data` CSV (x0, x1, label, predicted) drawn on top")
      ->check(CLI::ExistingFile);
  cmd->add_option("--x", a.x, "Any CSV of numbers: the column on the x axis (with --y)");
  cmd->add_option("--y", a.y, "Any CSV of numbers: comma-separated columns drawn against --x, from every file that has them")
      ->needs(cmd->get_option("--x"));
  cmd->add_option("--y-scale", a.y_scale, "Factor on the --y columns (e.g. 100 for percent)")->capture_default_str();
  cmd->add_option("--style", a.style, "Curves of --x/--y: lines or points")
      ->capture_default_str()
      ->check(CLI::IsMember({"lines", "points"}));
  cmd->add_option("--title", a.title,
                  "Figure title (default: what the files hold; a trajectory's deviation and a boundary's accuracy stay "
                  "as a second line)");
  cmd->callback([] {
    plot::figure f;
    std::string summary, detail;  // detail: what a --title keeps as its second line
    const std::string header = first_line(a.files.front());
    if (!a.x.empty()) {
      if (a.y.empty()) throw error("plot: --x needs --y");
      columns_figure(a.files, a.x, parse_name_list(a.y), a.y_scale, a.style == "points" ? plot::style::points : plot::style::lines,
                     f, summary);
    } else if (header == cosim::metrics_csv_header()) {
      metrics_figure(a.files, a.quantity == "accuracy", f, summary);
    } else if (header.rfind("t,t_seconds,", 0) == 0) {
      if (a.files.size() != 1) throw error("plot: one trajectory CSV at a time");
      trajectory_figure(a.files.front(), f, summary, detail);
    } else if (header.rfind("x0,x1,predicted", 0) == 0) {
      if (a.files.size() != 1) throw error("plot: one grid CSV at a time (the data points go to --points)");
      boundary_figure(a.files.front(), a.points, f, summary, detail);
    } else {
      throw parse_error({a.files.front(), 1},
                        fmt::format("unknown CSV header '{}': expected a metrics CSV ({}), a trajectory CSV (t,t_seconds,...) "
                                    "or a predict --grid CSV (x0,x1,predicted,...)",
                                    header, cosim::metrics_csv_header()));
    }
    if (!a.points.empty() && !f.map) throw error("plot: --points goes with a predict --grid CSV");
    if (!a.title.empty()) f.title = a.title + (detail.empty() ? "" : "\n" + detail);
    plot::write(f, a.output);
    fmt::print("wrote {} ({})\n", a.output, summary);
  });
}

}  // namespace spicenn::cli
