// Independent reference computations for the spice tests: a small Newton
// solver for resistor + Shockley-diode networks (nothing shared with ngspice
// but the device equations), and helpers.
#pragma once

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <Eigen/Dense>

namespace spicenn::spice::testing {

// Thermal voltage kT/q at ngspice's default 27 degC, with the CODATA 2014
// constants that ngspice uses (CODATA 2018 values would shift diode voltages
// by ~3.5e-7 relative).
inline double thermal_voltage() { return 1.38064852e-23 * 300.15 / 1.6021766208e-19; }

// Resistor-diode network with some node voltages fixed by ideal sources to
// ground. Node 0 is ground; unknown nodes are 1..n.
struct network {
  struct resistor {
    int a, b;
    double r;
  };
  struct diode {
    int anode, cathode;
    double is = 1e-14, n = 1.0;
  };
  int nodes = 0;                      // highest node number
  std::vector<double> fixed;          // fixed[k] = voltage of node k, NaN if free
  std::vector<resistor> resistors;
  std::vector<diode> diodes;
  double gmin = 1e-12;                // ngspice adds gmin across every junction

  explicit network(int n) : nodes(n), fixed(static_cast<std::size_t>(n + 1), std::nan("")) { fixed[0] = 0.0; }

  // Solves KCL with damped Newton; returns all node voltages (index 0 = ground).
  Eigen::VectorXd solve() const {
    const double vt = thermal_voltage();
    Eigen::VectorXd v = Eigen::VectorXd::Zero(nodes + 1);
    for (int k = 0; k <= nodes; ++k)
      if (!std::isnan(fixed[static_cast<std::size_t>(k)])) v(k) = fixed[static_cast<std::size_t>(k)];
    for (int iter = 0; iter < 500; ++iter) {
      Eigen::VectorXd f = Eigen::VectorXd::Zero(nodes + 1);  // current leaving each node
      Eigen::MatrixXd j = Eigen::MatrixXd::Zero(nodes + 1, nodes + 1);
      // A two-terminal element a -> b carrying current i with conductance g.
      auto stamp = [&](int a, int b, double i, double g) {
        f(a) += i;
        f(b) -= i;
        j(a, a) += g;
        j(a, b) -= g;
        j(b, a) -= g;
        j(b, b) += g;
      };
      for (const auto& r : resistors) stamp(r.a, r.b, (v(r.a) - v(r.b)) / r.r, 1.0 / r.r);
      for (const auto& d : diodes) {
        double vd = v(d.anode) - v(d.cathode);
        double e = std::exp(vd / (d.n * vt));
        stamp(d.anode, d.cathode, d.is * (e - 1.0) + gmin * vd, d.is * e / (d.n * vt) + gmin);
      }
      // Rows of fixed nodes: v_k - fixed = 0.
      for (int k = 0; k <= nodes; ++k) {
        if (std::isnan(fixed[static_cast<std::size_t>(k)])) continue;
        f(k) = 0.0;
        j.row(k).setZero();
        j(k, k) = 1.0;
      }
      Eigen::VectorXd dv = j.fullPivLu().solve(-f);
      // Damping: at most 0.1 V per step keeps the exponentials tame.
      double biggest = dv.cwiseAbs().maxCoeff();
      if (biggest > 0.1) dv *= 0.1 / biggest;
      v += dv;
      if (biggest < 1e-15) return v;
    }
    throw std::runtime_error("reference Newton solve did not converge");
  }

  // Current delivered by the fixed source at node k (leaving the source into the network).
  double source_current(const Eigen::VectorXd& v, int k) const {
    double i = 0.0;
    const double vt = thermal_voltage();
    for (const auto& r : resistors) {
      if (r.a == k) i += (v(r.a) - v(r.b)) / r.r;
      if (r.b == k) i -= (v(r.a) - v(r.b)) / r.r;
    }
    for (const auto& d : diodes) {
      double vd = v(d.anode) - v(d.cathode);
      double id = d.is * (std::exp(vd / (d.n * vt)) - 1.0) + gmin * vd;
      if (d.anode == k) i += id;
      if (d.cathode == k) i -= id;
    }
    return i;
  }
};

// Resident set size of this process in kB (/proc/self/statm).
inline long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

}  // namespace spicenn::spice::testing
