// Family schemas: which sizes, options, devices and parameter tensors each
// network family must have, and the one validator every model goes through.
//
// A schema is instantiated at a model's sizes: the tensor list of a MON with
// stages = 2 names stage0.* and stage1.*, a KAN with layers = 3 has sizes
// width0..width3, and so on. load_model() validates every file it reads;
// code that builds or edits models in memory calls validate() itself.
//
//   ir::model m = ir::init_mon(4, 8, 2, 1, 42);
//   m.parameter("stage0.g_ground").values[0] = -1;
//   ir::validate(m);   // throws validation_error:
//   // /model/parameters/tensor[@name='stage0.g_ground']: value -1 at [0] is negative; ...
//
//   for (const auto& t : ir::schema_for(m).tensors) fmt::print("{} {}\n", t.name, t.shape_doc);
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::ir {

// The model file format version this build reads and writes.
inline constexpr int format_version = 1;

struct size_spec {
  std::string name;
  std::int64_t min = 1;
  std::int64_t max = 0;  // inclusive upper bound
  std::string meaning;
};

struct option_spec {
  std::string name;
  std::vector<std::string> values;  // allowed values
  std::string meaning;
};

struct device_spec {
  std::string role;
  std::vector<std::string> builtins;  // builtin devices allowed in this role
  std::string meaning;
};

struct tensor_spec {
  std::string name;
  std::vector<std::size_t> shape;
  std::string shape_doc;  // the shape in terms of sizes, e.g. "[hidden inputs]"
  constraint kind = constraint::none;
  bool trainable = true;  // false: the file must say trainable="false"
  std::string meaning;
  // false: the tensor may be absent (a feature the model does not use, e.g.
  // a KAN's batch normalization); the family's software model checks that
  // optional tensors come in consistent groups.
  bool required = true;
};

struct family_schema {
  family kind = family::mon;
  std::vector<size_spec> sizes;  // expanded (KAN: width0..widthL)
  std::vector<option_spec> options;
  std::vector<device_spec> devices;
  std::vector<tensor_spec> tensors;  // expanded (stage0.*, stage1.*, ...)
};

// The schema of family f instantiated at `sizes`. Validates the sizes first
// (names, ranges, cross-checks such as inputs <= nodes) and throws
// validation_error if they are wrong.
family_schema schema_for(family f, const std::map<std::string, std::int64_t>& sizes);
// schema_for(m.kind, m.sizes), plus the option-dependent checks
// (KirchhoffNet: theta == parameter count of the edge function).
family_schema schema_for(const model& m);

// Parameters per edge of a KirchhoffNet edge function (ir/edge_functions.hpp);
// throws spicenn::error for an unknown name.
std::size_t kirchhoff_theta_count(std::string_view edge_function);
// A KirchhoffNet's output nodes (1-based): the tensor output_nodes if the
// model has it, else 1..outputs.
std::vector<std::size_t> kirchhoff_output_nodes(const model& m);

// Where the model came from, so that errors can name file:line. load_model
// fills this in; for models built in memory leave it empty.
struct source_context {
  std::string file;  // display name used in messages
  // Line of an element path (and, for a tensor, of its value number
  // value_index); 0 if unknown.
  std::function<std::size_t(const std::string& element_path, std::optional<std::size_t> value_index)> line_of;
};

// Checks everything the schema says: sizes, options, scale consistency,
// devices (builtin or an existing library relative to m.base_dir), tensor
// names, shapes, constraints, trainable flags, value counts, finiteness,
// family rules (edge endpoints, hidden_clamp order, capacitance > 0) and
// that every identifier is safe (ir/names.hpp). Throws
// spicenn::validation_error naming the element path and what is wrong.
void validate(const model& m);
void validate(const model& m, const source_context& where);

// Element paths used in messages, e.g. "/model/parameters/tensor[@name='x']".
// Unsafe names are shown escaped.
std::string tensor_path(std::string_view name);
std::string size_path(std::string_view name);
std::string option_path(std::string_view name);
std::string device_path(std::string_view role);

}  // namespace spicenn::ir
