// Test helper: runs the ngspice command-line program (`ngspice -b`) as an
// independent SPICE reference and reads DC sweeps written with `wrdata`.
//
//   auto sweeps = sweep_device(lib_file, "z15", {{-0.2, 1.6, 0.005}});
//   for (auto& p : sweeps[0]) check(p.volts, p.amps);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace spicenn::devices::testing {

struct sweep_range {
  double start, stop, step;
};

struct sweep_point {
  double volts;  // the sweep value as ngspice reports it
  double amps;   // device current, anode -> cathode
};

// A fresh directory for one test's files (removed by nobody: under /tmp).
std::filesystem::path scratch_dir(const std::string& tag);

// Runs `ngspice -b deck` in dir; returns its combined output. Throws
// std::runtime_error when ngspice fails or prints an error.
std::string run_ngspice(const std::filesystem::path& dir, const std::string& deck_text);

// Reads a `wrdata` file written with wr_singlescale and wr_vecnames.
std::vector<std::vector<double>> read_wrdata(const std::filesystem::path& file);

// Sweeps a voltage source across subcircuit `subckt` (pins anode cathode)
// from `library` over each range, one `dc` per range.
std::vector<std::vector<sweep_point>> sweep_device(const std::filesystem::path& library, const std::string& subckt,
                                                   const std::vector<sweep_range>& ranges);

}  // namespace spicenn::devices::testing
