#include "spice/batch.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "core/numbers.hpp"
#include "core/text.hpp"

namespace spicenn::spice {

namespace {

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t start = i;
    while (i < line.size() && !std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

const char* form = "input sources for batch evaluation must have the form 'V<name> n+ n- [DC] value' (or I<name>)";

}  // namespace

std::string batch_source_name(std::string_view input_source) { return "bspicenn_" + to_lower(trim(input_source)); }

std::string sweep_netlist(std::string_view netlist, const std::vector<std::string>& input_sources,
                          const Eigen::Ref<const Eigen::MatrixXd>& samples) {
  const auto k = input_sources.size();
  if (static_cast<std::size_t>(samples.cols()) != k)
    throw netlist_error(fmt::format("batch evaluation: {} input sources but the sample matrix has {} columns", k,
                                    samples.cols()),
                        {}, 0, {});
  if (samples.rows() < 1) throw netlist_error("batch evaluation: no samples", {}, 0, {});
  for (Eigen::Index r = 0; r < samples.rows(); ++r)
    for (Eigen::Index c = 0; c < samples.cols(); ++c)
      if (!std::isfinite(samples(r, c)))
        throw netlist_error(fmt::format("batch evaluation: sample {} of input '{}' is {}", r,
                                        input_sources[static_cast<std::size_t>(c)], samples(r, c)),
                            {}, 0, {});

  std::vector<std::string> names;
  for (const auto& s : input_sources) {
    std::string n = to_lower(trim(s));
    if (n.empty() || (n.front() != 'v' && n.front() != 'i'))
      throw netlist_error(fmt::format("batch evaluation: input '{}' is not a voltage or current source name (V... or I...)", s),
                          {}, 0, {});
    if (std::find(names.begin(), names.end(), n) != names.end())
      throw netlist_error(fmt::format("batch evaluation: input source '{}' listed twice", s), {}, 0, {});
    names.push_back(std::move(n));
  }

  auto lines = split_lines(netlist);
  while (lines.size() > 1 && trim(lines.back()).empty()) lines.pop_back();
  std::vector<std::size_t> found(k, 0);  // 1-based line of each input source
  std::size_t end_line = 0;              // 1-based line of the top-level .end
  int depth = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto words = split_words(lines[i]);
    if (words.empty()) continue;
    std::string first = to_lower(words[0]);
    if (first == ".subckt") ++depth;
    if (first == ".ends") depth = std::max(0, depth - 1);
    if (depth > 0) continue;
    if (first == ".end" && !end_line) end_line = i + 1;
    if (first == sample_index_source || first.rfind("bspicenn_", 0) == 0)
      throw netlist_error(fmt::format("batch evaluation: the netlist already uses the reserved name '{}'", words[0]),
                          {}, i + 1, std::string(lines[i]));
    auto it = std::find(names.begin(), names.end(), first);
    if (it == names.end()) continue;
    auto j = static_cast<std::size_t>(it - names.begin());
    if (found[j])
      throw netlist_error(fmt::format("batch evaluation: input source '{}' is defined twice (lines {} and {})",
                                      input_sources[j], found[j], i + 1),
                          {}, i + 1, std::string(lines[i]));
    bool ok = (words.size() == 4 && to_lower(words[3]) != "dc") || (words.size() == 5 && to_lower(words[3]) == "dc");
    bool continued = i + 1 < lines.size() && trim(lines[i + 1]).substr(0, 1) == "+";
    if (!ok || continued)
      throw netlist_error(fmt::format("batch evaluation: {}; input source '{}' is not", form, input_sources[j]), {},
                          i + 1, std::string(lines[i]));
    found[j] = i + 1;
  }
  for (std::size_t j = 0; j < k; ++j)
    if (!found[j])
      throw netlist_error(fmt::format("batch evaluation: input source '{}' is not in the netlist (top level)",
                                      input_sources[j]),
                          {}, 0, {});

  const Eigen::Index n = samples.rows();
  fmt::memory_buffer out;
  auto emit_index_source = [&] {
    fmt::format_to(std::back_inserter(out), "{} {} 0 dc 0\n", sample_index_source, sample_index_node);
  };
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (i + 1 == end_line) emit_index_source();
    auto it = std::find(found.begin(), found.end(), i + 1);
    if (it == found.end()) {
      fmt::format_to(std::back_inserter(out), "{}\n", lines[i]);
      continue;
    }
    auto j = static_cast<Eigen::Index>(it - found.begin());
    auto words = split_words(lines[i]);
    const char quantity = to_lower(words[0]).front();  // 'v' or 'i': the B source gives the same quantity
    fmt::format_to(std::back_inserter(out), "{} {} {} {}=pwl(v({})", batch_source_name(words[0]), words[1], words[2],
                   quantity, sample_index_node);
    for (Eigen::Index r = 0; r < n; ++r)
      fmt::format_to(std::back_inserter(out), ", {},{}", r, format_double(samples(r, j)));
    // A single sample still needs two pwl points (the sweep then has two).
    if (n == 1) fmt::format_to(std::back_inserter(out), ", 1,{}", format_double(samples(0, j)));
    fmt::format_to(std::back_inserter(out), ")\n");
  }
  if (!end_line) emit_index_source();
  return fmt::to_string(out);
}

Eigen::MatrixXd evaluate_batch(engine& eng, std::string_view netlist, const std::vector<std::string>& input_sources,
                               const Eigen::Ref<const Eigen::MatrixXd>& samples, const std::vector<std::string>& probes,
                               const batch_options& options) {
  const Eigen::Index n = samples.rows();
  Eigen::MatrixXd result(n, static_cast<Eigen::Index>(probes.size()));
  if (n == 0) return result;

  // Vector names of the sweep: an input source's own current is its B source's.
  std::vector<std::string> vectors;
  for (const auto& p : probes) {
    std::string name = to_lower(trim(p));
    for (const auto& s : input_sources) {
      std::string src = to_lower(trim(s));
      if (name == "i(" + src + ")") name = "i(" + batch_source_name(src) + ")";
      if (name == src + "#branch") name = batch_source_name(src) + "#branch";
    }
    vectors.push_back(std::move(name));
  }

  const auto chunk = static_cast<Eigen::Index>(std::max<std::size_t>(options.chunk_size, 1));
  for (Eigen::Index r0 = 0; r0 < n; r0 += chunk) {
    const Eigen::Index m = std::min(chunk, n - r0);
    eng.load(sweep_netlist(netlist, input_sources, samples.middleRows(r0, m)));
    const Eigen::Index points = std::max<Eigen::Index>(m, 2);
    eng.dc(sample_index_source, 0, static_cast<double>(points - 1), 1);
    if (options.voltage_bound) {
      try {
        eng.check_node_voltages(*options.voltage_bound, {std::string(sample_index_node)});
      } catch (const convergence_error& e) {
        auto v = eng.real_vector(e.node());
        Eigen::Index bad = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (!std::isfinite(v[i]) || std::abs(v[i]) > *options.voltage_bound) {
            bad = static_cast<Eigen::Index>(i);
            break;
          }
        }
        throw convergence_error(
            "batch dc sweep",
            fmt::format("implausible solution for sample {}: node '{}' is at {} V, beyond the plausibility bound of "
                        "{} V (ngspice reported convergence)",
                        r0 + bad, e.node(), format_double(v[static_cast<std::size_t>(bad)]),
                        format_double(*options.voltage_bound)),
            {}, e.node());
      }
    }
    for (std::size_t p = 0; p < vectors.size(); ++p) {
      auto v = eng.real_vector(vectors[p]);
      if (static_cast<Eigen::Index>(v.size()) != points)
        throw convergence_error("batch dc sweep",
                                fmt::format("the batch sweep returned {} points for '{}', expected {} (samples {}..{})",
                                            v.size(), probes[p], points, r0, r0 + m - 1),
                                {});
      for (Eigen::Index r = 0; r < m; ++r) result(r0 + r, static_cast<Eigen::Index>(p)) = v[static_cast<std::size_t>(r)];
    }
  }
  return result;
}

}  // namespace spicenn::spice
