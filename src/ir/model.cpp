#include "ir/model.hpp"

#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "devices/device.hpp"
#include "ir/names.hpp"

namespace spicenn::ir {

namespace {

// "a, b, c" (at most `limit` entries, then "... (N in all)"), or "none".
template <class Range, class Key>
std::string list_names(const Range& range, Key key, std::size_t limit = 40) {
  std::string out;
  std::size_t n = 0;
  for (const auto& item : range) {
    if (n == limit) {
      out += fmt::format(", ... ({} in all)", std::size(range));
      break;
    }
    if (n++) out += ", ";
    out += key(item);
  }
  return n ? out : std::string("none");
}

}  // namespace

std::string_view to_string(family f) {
  switch (f) {
    case family::kan: return "kan";
    case family::mon: return "mon";
    case family::kirchhoffnet: return "kirchhoffnet";
  }
  SPICENN_ASSERT(false, "unknown family enumerator");
}

std::optional<family> family_from_string(std::string_view name) {
  for (family f : {family::kan, family::mon, family::kirchhoffnet})
    if (to_string(f) == name) return f;
  return std::nullopt;
}

std::string_view to_string(constraint c) {
  switch (c) {
    case constraint::none: return "none";
    case constraint::nonnegative: return "nonnegative";
    case constraint::symmetric_nonnegative: return "symmetric_nonnegative";
    case constraint::index: return "index";
  }
  SPICENN_ASSERT(false, "unknown constraint enumerator");
}

std::optional<constraint> constraint_from_string(std::string_view name) {
  for (constraint c : {constraint::none, constraint::nonnegative, constraint::symmetric_nonnegative,
                       constraint::index})
    if (to_string(c) == name) return c;
  return std::nullopt;
}

std::size_t shape_size(const std::vector<std::size_t>& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) {
    if (d != 0 && n > std::numeric_limits<std::size_t>::max() / d)
      throw error(fmt::format("shape {} has too many elements", shape_to_string(shape)));
    n *= d;
  }
  return n;
}

std::string shape_to_string(const std::vector<std::size_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, " "));
}

std::size_t tensor::size() const { return shape_size(shape); }

std::size_t tensor::offset(std::initializer_list<std::size_t> index) const {
  if (index.size() != shape.size())
    throw error(fmt::format("tensor '{}' has shape {}: index [{}] has {} dimensions, expected {}", name,
                            shape_to_string(shape), fmt::join(index, " "), index.size(), shape.size()));
  std::size_t flat = 0;
  std::size_t dim = 0;
  for (std::size_t i : index) {
    if (i >= shape[dim])
      throw error(fmt::format("tensor '{}' has shape {}: index [{}] is out of range in dimension {}", name,
                              shape_to_string(shape), fmt::join(index, " "), dim));
    flat = flat * shape[dim] + i;
    ++dim;
  }
  if (flat >= values.size())
    throw error(fmt::format("tensor '{}' holds {} values but shape {} needs {}", name, values.size(),
                            shape_to_string(shape), size()));
  return flat;
}

const tensor* model::find_parameter(std::string_view name) const {
  for (const auto& t : parameters)
    if (t.name == name) return &t;
  return nullptr;
}

const tensor& model::parameter(std::string_view name) const {
  if (const tensor* t = find_parameter(name)) return *t;
  throw error(fmt::format("{} model has no parameter tensor '{}'; it has: {}", to_string(kind), name,
                          list_names(parameters, [](const tensor& t) { return t.name; })));
}

tensor& model::parameter(std::string_view name) {
  return const_cast<tensor&>(static_cast<const model&>(*this).parameter(name));
}

std::int64_t model::size(std::string_view name) const {
  if (auto it = sizes.find(std::string(name)); it != sizes.end()) return it->second;
  throw error(fmt::format("{} model has no size '{}'; it has: {}", to_string(kind), name,
                          list_names(sizes, [](const auto& kv) { return kv.first; })));
}

std::string input_size_name(const model& m) { return m.kind == family::kan ? "width0" : "inputs"; }

std::string output_size_name(const model& m) {
  return m.kind == family::kan ? fmt::format("width{}", m.size("layers")) : "outputs";
}

const std::string& model::option(std::string_view name) const {
  if (auto it = options.find(std::string(name)); it != options.end()) return it->second;
  throw error(fmt::format("{} model has no option '{}'; it has: {}", to_string(kind), name,
                          list_names(options, [](const auto& kv) { return kv.first; })));
}

const device_ref* model::find_device(std::string_view role) const {
  for (const auto& d : devices)
    if (d.role == role) return &d;
  return nullptr;
}

const device_ref& model::device(std::string_view role) const {
  if (const device_ref* d = find_device(role)) return *d;
  throw error(fmt::format("{} model has no device with role '{}'; roles: {}", to_string(kind), role,
                          list_names(devices, [](const device_ref& d) { return d.role; })));
}

std::filesystem::path library_path(const model& m, const device_ref& d) {
  if (d.library.empty()) return devices::builtin_devices().get(d.name).library_file();
  std::filesystem::path lib(d.library);
  if (lib.is_absolute() || m.base_dir.empty()) return lib;
  return m.base_dir / lib;
}

}  // namespace spicenn::ir
