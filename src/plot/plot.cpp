#include "plot/plot.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/files.hpp"

extern char** environ;

namespace spicenn::plot {

namespace {

// A gnuplot string literal in double quotes (a newline breaks a title
// into lines); other control characters become blanks.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out + "\"";
}

void check(const figure& f, const std::filesystem::path& file) {
  const auto ext = file.extension().string();
  if (ext != ".png" && ext != ".svg")
    throw error(fmt::format("plot {}: the figure is written as PNG or SVG; the name must end in .png or .svg", file.string()));
  if (f.curves.empty() && !f.map) throw error(fmt::format("plot {}: no curves to draw", file.string()));
  if (f.map) {
    const auto& m = *f.map;
    if (m.x.size() != m.y.size() || m.x.size() != m.k.size() || m.x.empty())
      throw error(fmt::format("plot {}: the class map needs as many x, y and class values, at least one", file.string()));
    for (int k : m.k)
      if (k < 0 || static_cast<std::size_t>(k) >= m.colors.size())
        throw error(fmt::format("plot {}: class {} of the map has no colour ({} given)", file.string(), k, m.colors.size()));
  }
  for (const auto& c : f.curves) {
    if (c.x.size() != c.y.size())
      throw error(fmt::format("plot {}: curve '{}' has {} x values but {} y values", file.string(), c.title, c.x.size(),
                              c.y.size()));
    if (c.x.empty()) throw error(fmt::format("plot {}: curve '{}' has no points", file.string(), c.title));
  }
}

}  // namespace

std::string data_text(const figure& f) {
  std::string out;
  if (f.map) {
    out += "# class map\n";
    for (std::size_t i = 0; i < f.map->x.size(); ++i) out += fmt::format("{:.17g} {:.17g} {}\n", f.map->x[i], f.map->y[i], f.map->k[i]);
    out += "\n\n";
  }
  for (std::size_t k = 0; k < f.curves.size(); ++k) {
    const auto& c = f.curves[k];
    out += fmt::format("# curve {}: {}\n", k, c.title);
    for (std::size_t i = 0; i < c.x.size(); ++i)
      if (std::isfinite(c.x[i]) && std::isfinite(c.y[i])) out += fmt::format("{:.17g} {:.17g}\n", c.x[i], c.y[i]);
    out += "\n\n";
  }
  return out;
}

std::string gnuplot_script(const figure& f, const std::filesystem::path& data, const std::filesystem::path& file) {
  std::ostringstream s;
  const bool png = file.extension() == ".png";
  if (png)
    s << fmt::format("set terminal pngcairo size {},{} noenhanced font 'sans,11'\n", f.width, f.height);
  else
    s << fmt::format("set terminal svg size {},{} noenhanced font 'sans,11' background '#ffffff'\n", f.width, f.height);
  s << "set output " << quoted(file.string()) << "\n";
  s << "set encoding utf8\nset grid\n";
  s << (f.key_outside ? "set key outside right top vertical\n" : "set key top left\n");
  if (f.equal_axes) s << "set size ratio -1\n";
  if (!f.map) s << "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05\n";  // no point on the frame
  if (!f.title.empty()) s << "set title " << quoted(f.title) << "\n";
  if (!f.x_label.empty()) s << "set xlabel " << quoted(f.x_label) << "\n";
  if (!f.y_label.empty()) s << "set ylabel " << quoted(f.y_label) << "\n";
  if (f.log_x) s << "set logscale x\n";
  if (f.log_y) s << "set logscale y\n";
  std::size_t block = 0;
  std::string items;
  if (f.map) {
    const auto classes = f.map->colors.size();
    s << "unset colorbox\n" << fmt::format("set cbrange [-0.5:{}]\nset palette maxcolors {}\nset palette defined (", classes - 0.5, classes);
    for (std::size_t k = 0; k < classes; ++k) s << (k ? ", " : "") << k << " " << quoted(f.map->colors[k]);
    s << ")\n";
    items += quoted(data.string()) + fmt::format(" index {} using 1:2:3 with image notitle", block++);
  }
  for (const auto& c : f.curves) {
    std::string how = c.look == style::points ? "with points pt 6 ps 0.8" : c.look == style::dashed ? "with lines lw 2 dt 2" : "with lines lw 2";
    if (!c.color.empty()) how += " lc rgb " + quoted(c.color);
    items += (items.empty() ? "" : ", \\\n     ") + quoted(data.string()) + fmt::format(" index {} using 1:2 {} title ", block++, how) +
             quoted(c.title);
  }
  s << "plot " << items << "\n";
  return s.str();
}

void write(const figure& f, const std::filesystem::path& file) {
  check(f, file);
  auto data = file, script = file;
  data += ".dat";
  script += ".gp";
  write_file_atomically(data, data_text(f), "plot data");
  write_file_atomically(script, gnuplot_script(f, data, file), "gnuplot script");
  // gnuplot's messages go to a file so that its error can be reported.
  auto log = file;
  log += ".log";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string program = "gnuplot", arg = script.string();
  std::vector<char*> argv = {program.data(), arg.data(), nullptr};
  pid_t pid = 0;
  int status = 0;
  const int spawned = posix_spawnp(&pid, "gnuplot", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned == 0) waitpid(pid, &status, 0);
  std::string message;
  {
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    message = text.str();
  }
  std::error_code ec;
  std::filesystem::remove(log, ec);
  if (spawned != 0)
    throw error(fmt::format("plot {}: gnuplot is not installed (apt-get install gnuplot-nox)", file.string()));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw error(fmt::format("plot {}: gnuplot failed on {}: {}", file.string(), script.string(), message));
}

}  // namespace spicenn::plot
