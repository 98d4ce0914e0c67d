// Model IR shared by all three families (device-basis KAN, resistor-diode
// MON, KirchhoffNet).
//
// A model is a family tag, named integer sizes, string options, physical
// scales, the devices it uses, provenance, and a list of named parameter
// tensors. Keeping parameters generic (name, shape, constraint, values) lets
// one file format, one optimizer, one gradient printer and one training loop
// serve every family; the family schema (ir/schema.hpp) says which tensors a
// family must have, their shapes and constraints, and validates them in one
// place. Software models build typed views over these tensors.
//
//   spicenn::ir::model m = spicenn::ir::load_model("mon.xml");
//   const auto& g = m.parameter("stage0.g_ground");   // throws if absent
//   double g0 = g.at({0});
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::ir {

enum class family { kan, mon, kirchhoffnet };
std::string_view to_string(family f);
std::optional<family> family_from_string(std::string_view name);

// What training must preserve for a tensor.
enum class constraint {
  none,         // any finite real
  nonnegative,  // conductances: >= 0
  symmetric_nonnegative,  // square, symmetric, zero diagonal, >= 0 (MON g_between)
  index,        // integer-valued structure (e.g. KirchhoffNet edge endpoints); not trainable
};
std::string_view to_string(constraint c);
std::optional<constraint> constraint_from_string(std::string_view name);

// Row-major dense tensor of doubles with a name unique within the model.
struct tensor {
  std::string name;
  std::vector<std::size_t> shape;  // empty shape = scalar (one value)
  constraint kind = constraint::none;
  bool trainable = true;
  std::vector<double> values;  // size == product(shape)

  std::size_t size() const;  // product(shape); 1 for a scalar; throws on overflow
  std::size_t offset(std::initializer_list<std::size_t> index) const;  // bounds-checked
  double& at(std::initializer_list<std::size_t> index) { return values[offset(index)]; }
  double at(std::initializer_list<std::size_t> index) const { return values[offset(index)]; }

  friend bool operator==(const tensor&, const tensor&) = default;
};

// Product of the dimensions (1 for an empty shape); throws spicenn::error if
// it overflows std::size_t.
std::size_t shape_size(const std::vector<std::size_t>& shape);
// "[3 4]", "[]" for a scalar.
std::string shape_to_string(const std::vector<std::size_t>& shape);

// Physical value of one normalized unit. ohm == volt/ampere and
// second == farad*ohm are checked on load.
struct physical_scale {
  double volt = 1.0;
  double ampere = 1e-4;
  double ohm = 1e4;
  double farad = 1e-9;
  double second = 1e-5;

  // This scale with another volt and ampere, ohm = volt/ampere and
  // second = farad·ohm re-derived (as ir::validate requires).
  physical_scale with_volt_ampere(double v, double a) const {
    physical_scale s = *this;
    s.volt = v;
    s.ampere = a;
    s.ohm = v / a;
    s.second = s.farad * s.ohm;
    return s;
  }

  friend bool operator==(const physical_scale&, const physical_scale&) = default;
};

// A device the model uses: a builtin name (see devices::registry) or a
// library file written by `spicenn fit-device` (path relative to the model
// file, or absolute).
struct device_ref {
  std::string role;  // what it is used for, e.g. "diode", "basis0"
  std::string name;  // device / subcircuit name
  std::string library;  // empty for builtin devices

  friend bool operator==(const device_ref&, const device_ref&) = default;
};

struct provenance {
  std::optional<std::uint64_t> seed;
  std::string data;  // data set name, e.g. "mnist"
  std::optional<double> accuracy;  // test accuracy in [0,1], if known
  std::string created_by;  // e.g. "spicenn init mon 0.1.0", "spicenn train ..."
  std::string notes;

  friend bool operator==(const provenance&, const provenance&) = default;
};

struct model {
  family kind = family::mon;
  std::map<std::string, std::int64_t> sizes;    // e.g. inputs, hidden, outputs, stages
  std::map<std::string, std::string> options;   // e.g. diode = ideal|shockley
  physical_scale scale;
  std::vector<device_ref> devices;
  provenance origin;
  std::vector<tensor> parameters;
  // Directory that relative device library paths resolve against: the
  // directory of the file the model was loaded from (absolute), or empty
  // (= the current directory) for models built in memory. Not written to
  // files; save_model rewrites relative library paths for the new location.
  std::filesystem::path base_dir;

  // Lookups throw spicenn::error naming the missing entry and listing the
  // entries that exist.
  const tensor& parameter(std::string_view name) const;
  tensor& parameter(std::string_view name);
  const tensor* find_parameter(std::string_view name) const;
  std::int64_t size(std::string_view name) const;
  const std::string& option(std::string_view name) const;
  const device_ref& device(std::string_view role) const;
  const device_ref* find_device(std::string_view role) const;
};

// The sizes that hold a model's input and output counts: "inputs" and
// "outputs" (mon, kirchhoffnet), "width0" and "width<layers>" (kan; the
// output name needs the size "layers").
std::string input_size_name(const model& m);
std::string output_size_name(const model& m);

// The library file that defines device d's subcircuit: d.library resolved
// against m.base_dir, or, for a builtin device, the registry's library file.
// Does not check that the file exists (ir::validate does).
std::filesystem::path library_path(const model& m, const device_ref& d);

}  // namespace spicenn::ir
