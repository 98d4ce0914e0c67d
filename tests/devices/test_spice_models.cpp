// The builtin device libraries against ngspice (command-line program, the
// independent reference) and against the one SPICE writer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "core/numbers.hpp"
#include "devices/builtin.hpp"
#include "devices/device.hpp"
#include "devices/library_writer.hpp"
#include "ngspice_runner.hpp"

namespace dev = spicenn::devices;
using dev::testing::sweep_device;
using dev::testing::sweep_range;

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ngspice's own diode equation (dioload.c, no breakdown, RS = 0) for a D
// element with the device's IS and N: Shockley plus gmin*V, with the cubic
// reverse approximation below -3*N*vt.
double ngspice_diode_current(const dev::shockley_parameters& p, double v, double gmin = 1e-12) {
  const double vte = p.n * p.vt;
  if (v >= -3 * vte) return p.is * std::expm1(v / vte) + gmin * v;
  double arg = 3 * vte / (v * std::exp(1.0));
  arg = arg * arg * arg;
  return -p.is * (1 + arg) + gmin * v;
}

}  // namespace

// The checked-in device_models/*.lib are exactly what the writer produces
// now (regenerate with scripts/generate-device-models.sh).
TEST(DeviceModelFiles, CheckedInFilesMatchWriter) {
  for (const auto& name : dev::builtin_devices().names()) {
    const auto& d = dev::builtin_devices().get(name);
    const auto file = std::filesystem::path(SPICENN_SOURCE_DIR) / "device_models" / (name + ".lib");
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    EXPECT_EQ(read_file(file), dev::library_text(d))
        << file << " is out of date: run scripts/generate-device-models.sh";
  }
}

// Tolerance: |I_spice - I_cpp| <= 1e-9 * max|I| over the sweep. The only
// differences left are ngspice's decimal parsing of the constants and its
// solution of the (linear) sweep circuit.
TEST(DeviceModelFiles, NdrSubcircuitsMatchCppInNgspice) {
  for (const char* name : {"esaki", "rtd", "a21", "z21", "z15", "zaz21"}) {
    const auto& d = dev::builtin_devices().get(name);
    const auto w = *d.window();
    const auto sweeps = sweep_device(d.library_file(), name, {{w.lo - 0.2, w.hi + 0.2, 0.0025}});
    ASSERT_EQ(sweeps.size(), 1u);
    const auto& pts = sweeps[0];
    ASSERT_EQ(pts.size(), static_cast<std::size_t>(std::lround((w.hi - w.lo + 0.4) / 0.0025)) + 1) << name;
    double scale = 0;
    for (const auto& p : pts) scale = std::max(scale, std::abs(d.current(p.volts)));
    double worst = 0;
    for (const auto& p : pts) {
      const double diff = std::abs(p.amps - d.current(p.volts));
      worst = std::max(worst, diff / scale);
      EXPECT_LE(diff, 1e-9 * scale) << name << " at " << p.volts << " V: ngspice " << p.amps << " A, C++ "
                                    << d.current(p.volts) << " A";
    }
    RecordProperty(std::string(name) + "_worst_relative_difference", fmt::format("{:.3g}", worst));
  }
}

// Diodes: ngspice's D element against (a) the replica of its equation with
// the device's shockley() parameters, at 1e-9 relative + 1e-21 A: this pins
// IS, N and vt; (b) the pure Shockley law, within the documented deviation
// IS*e^-3 + gmin*|V|.
TEST(DeviceModelFiles, DiodeSubcircuitsMatchShockleyParameters) {
  struct diode_case {
    const char* name;
    std::vector<sweep_range> ranges;
  };
  const std::vector<diode_case> cases = {
      {"shockley_diode", {{-2.0, 0.75, 0.0025}}},
      {"ideal_diode", {{-2.0, -0.01, 0.01}, {-0.002, 0.00078, 0.00001}}},
  };
  for (const auto& c : cases) {
    const auto& d = dev::builtin_devices().get(c.name);
    const auto p = *d.shockley();
    const auto sweeps = sweep_device(d.library_file(), c.name, c.ranges);
    std::size_t checked = 0;
    for (const auto& pts : sweeps) {
      for (const auto& pt : pts) {
        const double ref = ngspice_diode_current(p, pt.volts);
        EXPECT_NEAR(pt.amps, ref, 1e-9 * std::abs(ref) + 1e-21) << c.name << " at " << pt.volts << " V";
        const double law = d.current(pt.volts);
        EXPECT_LE(std::abs(pt.amps - law),
                  1e-9 * std::abs(law) + p.is * std::exp(-3.0) * 1.0001 + 1e-12 * std::abs(pt.volts) * 1.0001)
            << c.name << " at " << pt.volts << " V";
        ++checked;
      }
    }
    EXPECT_GT(checked, 250u) << c.name;
  }
}

// The piecewise-linear diode in ngspice against its law, over both branches
// and around the kink (1e-9 relative: ngspice's parsing of the constants and
// its solution of the linear sweep circuit).
TEST(DeviceModelFiles, PiecewiseLinearDiodeMatchesItsLawInNgspice) {
  const auto& d = dev::builtin_devices().get("pwl_diode");
  const auto sweeps = sweep_device(d.library_file(), "pwl_diode", {{-2.0, 2.0, 0.01}, {-1e-6, 1e-6, 1e-8}});
  std::size_t checked = 0;
  for (const auto& pts : sweeps)
    for (const auto& pt : pts) {
      const double law = d.current(pt.volts);
      EXPECT_NEAR(pt.amps, law, 1e-9 * std::abs(law) + 1e-21) << "at " << pt.volts << " V";
      ++checked;
    }
  EXPECT_EQ(checked, 401u + 201u);
}

// The near-ideal diode converges in circuits: a rectifier driven through a
// resistor, and a random 12-node resistor-diode (MON-like) network solved
// cold (op) and along a DC sweep; once with ngspice's default tolerances and
// once with tight ones. With the defaults node voltages are only as accurate
// as reltol*|V| (1e-3 relative), so the exact check uses the tight run.
TEST(DeviceModelFiles, IdealDiodeConvergesInNetworks) {
  const auto& d = dev::builtin_devices().get("ideal_diode");
  const auto p = *d.shockley();
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> g(1e-4, 1e-3), x(-1.0, 1.0);
  std::string net = fmt::format("* ideal diode network\n.include {}\n", d.library_file().string());
  const int nodes = 12;
  int r = 0;
  for (int j = 1; j <= nodes; ++j) {
    net += fmt::format("XD{0} 0 n{0} ideal_diode\n", j);  // anode at ground: keeps v_j >= 0
    net += fmt::format("R{} n{} 0 {}\n", ++r, j, spicenn::format_double(1 / g(rng)));
    for (int k = j + 1; k <= nodes; ++k)
      if ((j + k) % 3 == 0) net += fmt::format("R{} n{} n{} {}\n", ++r, j, k, spicenn::format_double(1 / g(rng)));
    for (int s = 1; s <= 3; ++s)
      if ((j + s) % 2 == 0) net += fmt::format("R{} n{} in{} {}\n", ++r, j, s, spicenn::format_double(1 / g(rng)));
  }
  for (int s = 1; s <= 3; ++s) net += fmt::format("VIN{} in{} 0 {}\n", s, s, spicenn::format_double(x(rng)));
  net += "XR rin rout ideal_diode\nRR rout 0 1k\nVR rin 0 0\n";
  for (bool tight : {false, true}) {
    std::string deck = net;
    if (tight) deck += ".options reltol=1e-12 abstol=1e-20 vntol=1e-12\n";
    deck +=
        ".control\nset wr_singlescale\nset wr_vecnames\noption numdgt=17\nop\n"
        "wrdata op.txt v(n1) v(n2) v(n3) v(n4) v(n5) v(n6) v(n7) v(n8) v(n9) v(n10) v(n11) v(n12)\n"
        "dc vin1 -2 2 0.01\nwrdata sweep.txt v(n1) v(n2) v(n3) v(n4) v(n5) v(n6) v(n7) v(n8) v(n9) v(n10) v(n11) "
        "v(n12)\n"
        "dc vr -5 5 0.05\nwrdata rect.txt v(rout)\nquit 0\n"
        ".endc\n.end\n";
    const auto dir = dev::testing::scratch_dir("network");
    ASSERT_NO_THROW(dev::testing::run_ngspice(dir, deck)) << (tight ? "tight" : "default") << " tolerances";
    for (const char* file : {"op.txt", "sweep.txt"}) {
      const auto rows = dev::testing::read_wrdata(dir / file);
      ASSERT_FALSE(rows.empty());
      for (const auto& row : rows)
        for (std::size_t c = 1; c < row.size(); ++c) {  // column 0 is the scale
          EXPECT_GE(row[c], -1e-3) << file;             // clamped at ~0 by the diode
          EXPECT_LE(row[c], 2.0) << file;
        }
    }
    // half-wave rectifier through 1 kOhm
    const auto rect = dev::testing::read_wrdata(dir / "rect.txt");
    ASSERT_EQ(rect.size(), 201u);
    for (const auto& row : rect) {
      const double vin = row[0], vout = row.back();
      if (vin > 0.01) {
        const double i = vout / 1e3, drop = vin - vout;
        if (tight) {
          EXPECT_NEAR(drop, p.n * p.vt * std::log1p((i - 1e-12 * drop) / p.is), 1e-9) << vin;
        } else {
          EXPECT_LT(drop, 0.8e-3 + 1e-3 * vin) << vin;
          EXPECT_GT(drop, -1e-3 * vin) << vin;
        }
        EXPECT_LT(drop, tight ? 0.8e-3 : 0.8e-3 + 1e-3 * vin) << vin;
      } else if (vin < 0) {
        EXPECT_NEAR(vout, 0.0, 1e-8) << vin;  // reverse: IS + gmin*|V| through 1 kOhm
      }
    }
    std::filesystem::remove_all(dir);
  }
}

// Newton convergence through the NDR regions and the window clamps: each NDR
// device in series with a resistor small enough for a unique operating point
// (R = 0.5 / max negative slope), swept by a source; the solution must satisfy
// I_dev(V) = (Vs - V)/R. Default ngspice tolerances (solution accurate to
// ~reltol = 1e-3) and tight ones (1e-9 relative, plus gmin*|V| = 1e-12 S*|V|).
TEST(DeviceModelFiles, NdrDevicesConvergeWithResistiveLoad) {
  for (const char* name : {"esaki", "rtd", "a21", "z21", "z15", "zaz21"}) {
    const auto& d = dev::builtin_devices().get(name);
    const auto w = *d.window();
    double gneg = 0, imax = 0;
    for (double v = w.lo; v <= w.hi; v += 1e-4) {
      gneg = std::max(gneg, -d.conductance(v));
      imax = std::max(imax, std::abs(d.current(v)));
    }
    ASSERT_GT(gneg, 0) << name;
    const double r = 0.5 / gneg;
    for (bool tight : {false, true}) {
      const std::string deck = fmt::format(
          "* {} with a load resistor\n.include {}\nX1 a 0 {}\nR1 s a {}\nVS s 0 0\n{}"
          ".control\nset wr_singlescale\nset wr_vecnames\noption numdgt=17\n"
          "dc vs {} {} {}\nwrdata load.txt v(a)\nquit 0\n.endc\n.end\n",
          name, d.library_file().string(), name, spicenn::format_double(r),
          tight ? ".options reltol=1e-12 abstol=1e-20 vntol=1e-12\n" : "", spicenn::format_double(w.lo - 0.5),
          spicenn::format_double(w.hi + 0.5 + r * imax), spicenn::format_double((w.hi - w.lo + 1 + r * imax) / 300));
      const auto dir = dev::testing::scratch_dir(std::string("load_") + name);
      ASSERT_NO_THROW(dev::testing::run_ngspice(dir, deck)) << name;
      const auto rows = dev::testing::read_wrdata(dir / "load.txt");
      ASSERT_GE(rows.size(), 300u) << name;
      for (const auto& row : rows) {
        const double vs = row[0], va = row[1];
        const double kcl = d.current(va) - (vs - va) / r;
        // + gmin*|V|: ngspice may fall back to gmin stepping at a hard point
        EXPECT_LE(std::abs(kcl), (tight ? 1e-9 : 2e-3) * imax + 1e-12 * std::abs(va)) << name << " at Vs = " << vs;
      }
      std::filesystem::remove_all(dir);
    }
  }
}
