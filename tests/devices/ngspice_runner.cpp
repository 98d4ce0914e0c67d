#include "ngspice_runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/numbers.hpp"
#include "scratch_path.hpp"

namespace spicenn::devices::testing {

std::filesystem::path scratch_dir(const std::string& tag) {
  auto dir = test::scratch_path(tag);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string run_ngspice(const std::filesystem::path& dir, const std::string& deck_text) {
  const auto deck = dir / "deck.cir";
  const auto log = dir / "ngspice.log";
  {
    std::ofstream out(deck);
    out << deck_text;
  }
  const std::string cmd = fmt::format("cd '{}' && ngspice -b deck.cir > ngspice.log 2>&1", dir.string());
  const int status = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (status != 0) throw std::runtime_error(fmt::format("ngspice failed (status {}):\n{}", status, text));
  for (const char* bad : {"Error", "error:", "not parsed", "aborted", "singular", "Timestep too small"})
    if (text.find(bad) != std::string::npos)
      throw std::runtime_error(fmt::format("ngspice reported '{}':\n{}", bad, text));
  return text;
}

std::vector<std::vector<double>> read_wrdata(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("no wrdata output " + file.string());
  std::vector<std::vector<double>> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {  // wr_vecnames: first line holds the names
      header = false;
      continue;
    }
    std::istringstream ss(line);
    std::vector<double> row;
    for (std::string w; ss >> w;) {
      auto v = try_parse_double(w);
      if (!v) throw std::runtime_error(fmt::format("bad number '{}' in {}", w, file.string()));
      row.push_back(*v);
    }
    if (!row.empty()) rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::vector<sweep_point>> sweep_device(const std::filesystem::path& library, const std::string& subckt,
                                                   const std::vector<sweep_range>& ranges) {
  const auto dir = scratch_dir(subckt);
  std::string deck = fmt::format(
      "* sweep of {}\n"
      ".include {}\n"
      "X1 a 0 {}\n"
      "V1 a 0 0\n"
      // Tight tolerances: with the default reltol = 1e-3 ngspice may stop
      // Newton with the branch current still linearized at the previous sweep
      // point (error ~ f''*dV^2/2, up to ~1e-3 relative); these make the
      // reported current the device expression evaluated at the sweep voltage.
      ".options reltol=1e-12 abstol=1e-20 vntol=1e-12\n"
      ".control\n"
      "set wr_singlescale\n"
      "set wr_vecnames\n"
      "option numdgt=17\n",
      subckt, library.string(), subckt);
  for (std::size_t k = 0; k < ranges.size(); ++k) {
    deck += fmt::format("dc v1 {} {} {}\n", format_double(ranges[k].start), format_double(ranges[k].stop),
                        format_double(ranges[k].step));
    deck += fmt::format("wrdata sweep{}.txt i(v1)\n", k);
  }
  deck += "quit 0\n.endc\n.end\n";
  run_ngspice(dir, deck);
  std::vector<std::vector<sweep_point>> out;
  for (std::size_t k = 0; k < ranges.size(); ++k) {
    std::vector<sweep_point> pts;
    for (const auto& row : read_wrdata(dir / fmt::format("sweep{}.txt", k))) {
      if (row.size() != 2) throw std::runtime_error("unexpected wrdata columns");
      // i(v1) flows from the source's + node through it: the device current is -i(v1)
      pts.push_back({row[0], -row[1]});
    }
    out.push_back(std::move(pts));
  }
  std::filesystem::remove_all(dir);
  return out;
}

}  // namespace spicenn::devices::testing
