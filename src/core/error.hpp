// spicenn error hierarchy.
//
// Every failure the user can cause is one of these, and each carries the
// context needed to act on it: file and line, the element path in a model
// file, the netlist line and ngspice's own message.
//
//   try { auto m = spicenn::ir::load_model("net.xml"); }
//   catch (const spicenn::validation_error& e) { fmt::print("{}\n", e.what()); }
//   // net.xml:12: /model/parameters/tensor[@name='stage0.g_ground']: value -1 < 0 ...
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace spicenn {

// Base of all spicenn errors: what() is the full, user-facing message.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& message) : std::runtime_error(message) {}
};

// Where in a text file something went wrong. line == 0 means "unknown".
struct source_location {
  std::string file;
  std::size_t line = 0;
  std::string to_string() const;  // "file:line", "file" or ""
};

// Malformed input text: XML, CSV, IDX, a template.
class parse_error : public error {
 public:
  parse_error(source_location where, const std::string& what);
  const source_location& where() const { return where_; }

 private:
  source_location where_;
};

// Well-formed input whose content is wrong: sizes, signs, unknown devices.
class validation_error : public error {
 public:
  validation_error(source_location where, std::string element_path, const std::string& what);
  const source_location& where() const { return where_; }
  const std::string& element_path() const { return element_path_; }

 private:
  source_location where_;
  std::string element_path_;
};

// A model that cannot be turned into a netlist (compiler layer).
class lowering_error : public error {
 public:
  using error::error;
};

// Anything that failed inside ngspice; subclasses in spice/errors.hpp.
class simulation_error : public error {
 public:
  using error::error;
};

// Internal invariant violated: a bug in spicenn, not in the input.
class internal_error : public error {
 public:
  using error::error;
};

[[noreturn]] void assertion_failed(const char* expr, const char* file, int line, const std::string& why);

}  // namespace spicenn

// SPICENN_ASSERT(cond, "why"): checked in every build type; throws internal_error with file:line.
#define SPICENN_ASSERT(cond, why) \
  do {                            \
    if (!(cond)) ::spicenn::assertion_failed(#cond, __FILE__, __LINE__, (why)); \
  } while (0)
