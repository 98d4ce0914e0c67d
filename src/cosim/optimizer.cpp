#include "cosim/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/finite_scan.hpp"
#include "core/numbers.hpp"
#include "core/parallel.hpp"

namespace spicenn::cosim {

std::string_view to_string(optimizer_kind k) {
  switch (k) {
    case optimizer_kind::sgd: return "sgd";
    case optimizer_kind::adam: return "adam";
  }
  return "?";
}

optimizer_kind optimizer_kind_from_string(std::string_view name) {
  if (name == "sgd") return optimizer_kind::sgd;
  if (name == "adam") return optimizer_kind::adam;
  throw error(fmt::format("unknown optimizer '{}': choose adam or sgd", name));
}

std::string_view to_string(schedule_kind k) {
  switch (k) {
    case schedule_kind::constant: return "constant";
    case schedule_kind::cosine: return "cosine";
    case schedule_kind::step: return "step";
  }
  return "?";
}

schedule_kind schedule_kind_from_string(std::string_view name) {
  if (name == "constant") return schedule_kind::constant;
  if (name == "cosine") return schedule_kind::cosine;
  if (name == "step") return schedule_kind::step;
  throw error(fmt::format("unknown learning-rate schedule '{}': choose constant, cosine or step", name));
}

double lr_schedule::at(std::uint64_t step) const {
  switch (kind) {
    case schedule_kind::constant: return base;
    case schedule_kind::cosine: {
      if (total_steps == 0) return base;
      const double progress = static_cast<double>(std::min(step, total_steps)) / static_cast<double>(total_steps);
      return min + (base - min) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    }
    case schedule_kind::step: {
      if (step_size == 0) return base;
      return base * std::pow(gamma, static_cast<double>(step / step_size));
    }
  }
  return base;
}

void project(ir::tensor& t) {
  switch (t.kind) {
    case ir::constraint::none:
    case ir::constraint::index: return;
    case ir::constraint::nonnegative:
      for (double& v : t.values)
        if (!(v > 0.0)) v = 0.0;  // also maps NaN and -0 to +0
      return;
    case ir::constraint::symmetric_nonnegative: {
      if (t.shape.size() != 2 || t.shape[0] != t.shape[1] || t.values.size() != t.shape[0] * t.shape[1])
        throw error(fmt::format("tensor {}: constraint symmetric_nonnegative needs a square matrix, shape is {}", t.name,
                                ir::shape_to_string(t.shape)));
      const std::size_t n = t.shape[0];
      for (std::size_t i = 0; i < n; ++i) {
        t.values[i * n + i] = 0.0;
        for (std::size_t j = i + 1; j < n; ++j) {
          double s = 0.5 * (t.values[i * n + j] + t.values[j * n + i]);
          if (!(s > 0.0)) s = 0.0;
          t.values[i * n + j] = s;
          t.values[j * n + i] = s;
        }
      }
      return;
    }
  }
}

void project_constraints(ir::model& m) {
  for (auto& t : m.parameters)
    if (t.trainable) project(t);
}

optimizer::optimizer(optimizer_options options) : options_(options) {
  auto in_unit = [](double b) { return b >= 0.0 && b < 1.0; };
  if (!in_unit(options_.beta1) || !in_unit(options_.beta2))
    throw error(fmt::format("optimizer: beta1 = {} and beta2 = {} must lie in [0, 1)", options_.beta1, options_.beta2));
  if (!(options_.epsilon > 0.0)) throw error(fmt::format("optimizer: epsilon = {} must be > 0", options_.epsilon));
  if (!(options_.momentum >= 0.0 && options_.momentum < 1.0))
    throw error(fmt::format("optimizer: momentum = {} must lie in [0, 1)", options_.momentum));
  if (!(options_.weight_decay >= 0.0) || !std::isfinite(options_.weight_decay))
    throw error(fmt::format("optimizer: weight decay = {} must be a finite number >= 0", options_.weight_decay));
}

namespace {

bool updated(const ir::tensor& t) { return t.trainable && t.kind != ir::constraint::index; }

// Smaller tensors are updated on the calling thread (16384 values take
// ~20 µs, a parallel call's hand-off a few µs).
constexpr long min_values_per_thread = 16384;

}  // namespace

void optimizer::step(ir::model& m, const std::map<std::string, std::vector<double>>& gradient, double learning_rate) {
  if (!std::isfinite(learning_rate) || learning_rate < 0.0)
    throw error(fmt::format("optimizer: learning rate {} must be a finite number >= 0", learning_rate));
  // Check everything first so that a bad gradient leaves the model and the
  // state untouched.
  for (const auto& t : m.parameters) {
    if (!updated(t)) continue;
    auto it = gradient.find(t.name);
    if (it == gradient.end())
      throw error(fmt::format("optimizer: no gradient for trainable tensor {} (the evaluator returned {} gradient{})",
                              t.name, gradient.size(), gradient.size() == 1 ? "" : "s"));
    if (it->second.size() != t.values.size())
      throw error(fmt::format("optimizer: gradient of {} has {} values, the tensor {} (shape {})", t.name,
                              it->second.size(), t.values.size(), ir::shape_to_string(t.shape)));
    if (all_finite(it->second)) continue;
    for (std::size_t i = 0; i < it->second.size(); ++i)
      if (!std::isfinite(it->second[i]))
        throw error(fmt::format("optimizer: gradient of {} is {} at flat index {}; refusing to step", t.name,
                                format_double(it->second[i]), i));
  }

  ++state_.steps;
  const double lr = learning_rate;
  const double wd = options_.weight_decay;
  const bool adam = options_.kind == optimizer_kind::adam;
  const double t_step = static_cast<double>(state_.steps);
  const double correction1 = 1.0 - std::pow(options_.beta1, t_step);
  const double correction2 = 1.0 - std::pow(options_.beta2, t_step);
  for (auto& t : m.parameters) {
    if (!updated(t)) continue;
    const auto& g = gradient.at(t.name);
    const std::size_t n = t.values.size();
    if (adam) {
      auto& mom1 = state_.first_moment[t.name];
      auto& mom2 = state_.second_moment[t.name];
      mom1.resize(n, 0.0);
      mom2.resize(n, 0.0);
      // A plain loop over restrict pointers that the compiler vectorizes
      // (this file is built with -fno-math-errno, so std::sqrt is one
      // instruction, and without FMA contraction: the vector body and the
      // scalar tail round alike, whatever a buffer's alignment; Eigen's
      // vectorized sqrt is an approximation that would not). A scalar loop
      // was 40 % of a MON training step on MNIST sizes.
      double* __restrict m1 = mom1.data();
      double* __restrict m2 = mom2.data();
      double* __restrict theta = t.values.data();
      const double* __restrict grad = g.data();
      const double b1 = options_.beta1, b2 = options_.beta2, eps = options_.epsilon;
      // m̂/(sqrt(v̂) + ε) = (m/c1)/(sqrt(v)/sqrt(c2) + ε), as PyTorch's Adam
      // computes it: one division and one square root per value.
      const double step_size = lr / correction1, inv_sqrt_c2 = 1.0 / std::sqrt(correction2), decay = lr * wd;
      // Large tensors in contiguous ranges on `threads` threads.
      const int chunks = chunk_count(static_cast<long>(n), resolve_threads(options_.threads), min_values_per_thread);
      auto update = [&](auto constrain) {
        parallel_chunks(static_cast<long>(n), chunks, [&](int, long begin, long end) {
          // Local restrict pointers and constants: through the captured
          // references the compiler cannot rule out aliasing, and the loop
          // stays scalar.
          double* __restrict a = m1 + begin;
          double* __restrict b = m2 + begin;
          double* __restrict th = theta + begin;
          const double* __restrict gr = grad + begin;
          const auto count = static_cast<std::size_t>(end - begin);
          const double beta1 = b1, beta2 = b2, epsilon = eps, size = step_size, scale = inv_sqrt_c2, wd_step = decay;
          for (std::size_t i = 0; i < count; ++i) {
            a[i] = beta1 * a[i] + (1.0 - beta1) * gr[i];
            b[i] = beta2 * b[i] + (1.0 - beta2) * gr[i] * gr[i];
            th[i] = constrain(th[i] - (size * (a[i] / (std::sqrt(b[i]) * scale + epsilon)) + wd_step * th[i]));
          }
        });
      };
      // A nonnegative tensor's projection in the same pass (project() would
      // read and write the tensor once more).
      if (t.kind == ir::constraint::nonnegative) {
        update([](double x) { return x > 0.0 ? x : 0.0; });  // project(): NaN and -0 to +0
        continue;
      }
      update([](double x) { return x; });
    } else if (options_.momentum > 0.0) {
      auto& velocity = state_.first_moment[t.name];
      velocity.resize(n, 0.0);
      for (std::size_t i = 0; i < n; ++i) {
        velocity[i] = options_.momentum * velocity[i] + g[i];
        t.values[i] -= lr * (velocity[i] + wd * t.values[i]);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) t.values[i] -= lr * (g[i] + wd * t.values[i]);
    }
    project(t);
  }
}

std::string optimizer::state_to_string() const {
  std::string out = fmt::format("optimizer {}\nsteps {}\n", to_string(options_.kind), state_.steps);
  auto dump = [&](const char* which, const std::map<std::string, std::vector<double>>& buffers) {
    for (const auto& [name, values] : buffers) {
      out += fmt::format("moment {} {} {}\n", which, name, values.size());
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (i) out += ' ';
        out += format_double(values[i]);
      }
      out += '\n';
    }
  };
  dump("first", state_.first_moment);
  dump("second", state_.second_moment);
  return out;
}

void optimizer::load_state(std::string_view text, std::string_view display_name) {
  optimizer_state s;
  std::istringstream in{std::string(text)};
  std::string line;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& what) -> void {
    throw parse_error({std::string(display_name), line_no}, what);
  };
  auto next_line = [&]() -> bool {
    while (std::getline(in, line)) {
      ++line_no;
      if (!trim(line).empty()) return true;
    }
    return false;
  };
  if (!next_line()) fail("empty optimizer state");
  {
    std::istringstream f(line);
    std::string word, kind;
    f >> word >> kind;
    if (word != "optimizer") fail(fmt::format("expected 'optimizer <kind>', found '{}'", line));
    if (kind != to_string(options_.kind))
      fail(fmt::format("the state was written by the {} optimizer, this run uses {}", kind, to_string(options_.kind)));
  }
  if (!next_line()) fail("missing 'steps <n>'");
  {
    std::istringstream f(line);
    std::string word;
    f >> word >> s.steps;
    if (word != "steps" || f.fail()) fail(fmt::format("expected 'steps <n>', found '{}'", line));
  }
  while (next_line()) {
    std::istringstream f(line);
    std::string word, which, name;
    std::size_t count = 0;
    f >> word >> which >> name >> count;
    if (word != "moment" || f.fail() || (which != "first" && which != "second"))
      fail(fmt::format("expected 'moment first|second <tensor> <count>', found '{}'", line));
    auto& buffer = (which == "first" ? s.first_moment : s.second_moment)[name];
    buffer.clear();
    buffer.reserve(count);
    if (count > 0) {
      if (!std::getline(in, line)) fail(fmt::format("moment {} {}: missing the line of values", which, name));
      ++line_no;
      std::istringstream values(line);
      std::string token;
      while (values >> token) {
        auto v = try_parse_double(token);
        if (!v) fail(fmt::format("moment {} {}: '{}' is not a number", which, name, token));
        buffer.push_back(*v);
      }
      if (buffer.size() != count)
        fail(fmt::format("moment {} {}: expected {} values, found {}", which, name, count, buffer.size()));
    }
  }
  state_ = std::move(s);
}

}  // namespace spicenn::cosim
