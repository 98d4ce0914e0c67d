#include "ir/model_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pugixml.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/numbers.hpp"
#include "ir/names.hpp"
#include "ir/schema.hpp"

namespace spicenn::ir {

namespace fs = std::filesystem;

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool all_blank(std::string_view s) { return std::all_of(s.begin(), s.end(), is_blank); }

// Calls f(token, position) for every blank-separated token of text.
template <class F>
void for_each_token(std::string_view text, F f) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_blank(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !is_blank(text[i])) ++i;
    if (i > start && !f(text.substr(start, i - start), start)) return;
  }
}

bool is_text_node(pugi::xml_node n) { return n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata; }

template <class Int>
std::optional<Int> parse_integer(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  Int value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class reader {
 public:
  reader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text_.size(); ++i)
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }

  model read(const fs::path& base_dir) {
    auto result = doc_.load_buffer(text_.data(), text_.size(), pugi::parse_default, pugi::encoding_utf8);
    if (!result)
      throw parse_error({file_, line_of_offset(result.offset)},
                        fmt::format("malformed XML: {}", result.description()));
    pugi::xml_node root;
    for (auto n : doc_.children()) {
      if (n.type() == pugi::node_element) {
        if (root) fail(n, "/", fmt::format("second top-level element <{}>; a model file has one <model>", n.name()));
        root = n;
      } else if (is_text_node(n) && !all_blank(n.value())) {
        fail(n, "/", "unexpected text outside <model>");
      }
    }
    if (!root) throw parse_error({file_, 1}, "malformed XML: no <model> element");
    if (std::string_view(root.name()) != "model")
      fail(root, "/" + std::string(root.name()), fmt::format("the top-level element must be <model>, not <{}>", root.name()));

    model m;
    m.base_dir = base_dir.empty() ? fs::path{} : fs::absolute(base_dir);
    const std::string path = "/model";
    nodes_[path] = root;
    check_attributes(root, path, {"format_version", "family"}, {});
    auto version = parse_integer<long long>(root.attribute("format_version").value());
    if (!version) parse_fail(root, path, fmt::format("format_version {} is not an integer", display_quoted(root.attribute("format_version").value())));
    if (*version != format_version)
      fail(root, path,
           *version > format_version
               ? fmt::format("format_version {} is newer than this spicenn reads ({}); upgrade spicenn", *version, format_version)
               : fmt::format("format_version {} is not supported (this spicenn reads {})", *version, format_version));
    std::string_view fam = root.attribute("family").value();
    auto f = family_from_string(fam);
    if (!f) fail(root, path, fmt::format("unknown family {}; known: kan, mon, kirchhoffnet", display_quoted(fam)));
    m.kind = *f;

    auto sections = children(root, path, {"sizes", "options", "scale", "devices", "provenance", "parameters"});
    for (const char* required : {"sizes", "scale", "parameters"})
      if (!sections.count(required)) fail(root, path, fmt::format("missing element <{}>", required));
    read_sizes(sections["sizes"], m);
    if (sections.count("options")) read_options(sections["options"], m);
    read_scale(sections["scale"], m);
    if (sections.count("devices")) read_devices(sections["devices"], m);
    if (sections.count("provenance")) read_provenance(sections["provenance"], m);
    read_parameters(sections["parameters"], m);

    source_context where;
    where.file = file_;
    where.line_of = [this](const std::string& p, std::optional<std::size_t> value) { return line_of_path(p, value); };
    validate(m, where);
    return m;
  }

 private:
  std::size_t line_of_offset(std::ptrdiff_t offset) const {
    if (offset < 0) return 0;
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), static_cast<std::size_t>(offset));
    return static_cast<std::size_t>(it - line_starts_.begin());
  }
  std::size_t line_of(pugi::xml_node n) const { return n ? line_of_offset(n.offset_debug()) : 0; }

  [[noreturn]] void fail(pugi::xml_node n, const std::string& path, const std::string& what) const {
    throw validation_error({file_, line_of(n)}, path, what);
  }
  [[noreturn]] void parse_fail(pugi::xml_node n, const std::string& path, const std::string& what) const {
    parse_fail(line_of(n), path, what);
  }
  [[noreturn]] void parse_fail(std::size_t line, const std::string& path, const std::string& what) const {
    throw parse_error({file_, line}, path + ": " + what);
  }

  // Line of the nearest recorded ancestor of path; for a tensor value, the
  // line that holds it.
  std::size_t line_of_path(std::string p, std::optional<std::size_t> value) const {
    auto exact = nodes_.find(p);
    if (exact != nodes_.end() && value) {
      if (auto line = line_of_value(exact->second, *value)) return line;
    }
    while (!p.empty()) {
      if (auto it = nodes_.find(p); it != nodes_.end()) return line_of(it->second);
      auto slash = p.rfind('/');
      if (slash == std::string::npos) break;
      p.resize(slash);
    }
    return 0;
  }

  std::size_t line_of_value(pugi::xml_node tensor, std::size_t index) const {
    std::size_t count = 0, line = 0;
    for (auto c : tensor.children()) {
      if (!is_text_node(c)) continue;
      std::string_view text = c.value();
      for_each_token(text, [&](std::string_view, std::size_t pos) {
        if (count++ != index) return true;
        line = line_of(c) + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
        return false;
      });
      if (line) return line;
    }
    return 0;
  }

  void check_attributes(pugi::xml_node n, const std::string& path, std::initializer_list<const char*> required,
                        std::initializer_list<const char*> optional) const {
    std::set<std::string> seen;
    for (auto a : n.attributes()) {
      std::string name = a.name();
      bool known = std::any_of(required.begin(), required.end(), [&](const char* r) { return name == r; }) ||
                   std::any_of(optional.begin(), optional.end(), [&](const char* r) { return name == r; });
      if (!known) {
        std::vector<std::string> allowed(required.begin(), required.end());
        allowed.insert(allowed.end(), optional.begin(), optional.end());
        fail(n, path, fmt::format("unknown attribute {} on <{}>; allowed: {}", display_quoted(name), n.name(),
                                  allowed.empty() ? std::string("none") : fmt::format("{}", fmt::join(allowed, ", "))));
      }
      if (!seen.insert(name).second) fail(n, path, fmt::format("attribute '{}' is given twice", name));
    }
    for (const char* r : required)
      if (!n.attribute(r)) fail(n, path, fmt::format("missing attribute '{}' on <{}>", r, n.name()));
  }

  // Element children of n, each allowed name at most once (or, with
  // `repeated`, collected in order); no other elements and no text.
  std::map<std::string, pugi::xml_node> children(pugi::xml_node n, const std::string& path,
                                                 std::initializer_list<const char*> allowed) {
    std::map<std::string, pugi::xml_node> out;
    for (auto c : n.children()) {
      if (c.type() == pugi::node_element) {
        std::string name = c.name();
        if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; }))
          fail(c, path, fmt::format("unknown element <{}> in <{}>; allowed: {}", name, n.name(),
                                    fmt::format("{}", fmt::join(std::vector<std::string>(allowed.begin(), allowed.end()), ", "))));
        if (!out.emplace(name, c).second) fail(c, path, fmt::format("element <{}> is given twice", name));
        nodes_[path + "/" + name] = c;
      } else if (is_text_node(c) && !all_blank(c.value())) {
        fail(c, path, fmt::format("unexpected text {} in <{}>", display_quoted(trim(c.value()), 40), n.name()));
      }
    }
    return out;
  }

  // Element children of n, all named `name`, in order; no text.
  std::vector<pugi::xml_node> list(pugi::xml_node n, const std::string& path, const char* name) {
    std::vector<pugi::xml_node> out;
    for (auto c : n.children()) {
      if (c.type() == pugi::node_element) {
        if (std::string_view(c.name()) != name)
          fail(c, path, fmt::format("unknown element <{}> in <{}>; only <{}> is allowed", c.name(), n.name(), name));
        out.push_back(c);
      } else if (is_text_node(c) && !all_blank(c.value())) {
        fail(c, path, fmt::format("unexpected text {} in <{}>", display_quoted(trim(c.value()), 40), n.name()));
      }
    }
    return out;
  }

  void no_children(pugi::xml_node n, const std::string& path) {
    for (auto c : n.children()) {
      if (c.type() == pugi::node_element)
        fail(c, path, fmt::format("unknown element <{}> in <{}>; it takes no elements", c.name(), n.name()));
      if (is_text_node(c) && !all_blank(c.value()))
        fail(c, path, fmt::format("unexpected text {} in <{}>", display_quoted(trim(c.value()), 40), n.name()));
    }
  }

  // The path of an element named by `attribute`: by name when the name is
  // safe, else by position (an unsafe name never appears unescaped).
  static std::string named_path(pugi::xml_node n, const char* attribute, std::string (*by_name)(std::string_view),
                                std::string by_position) {
    auto a = n.attribute(attribute);
    return a && is_safe_identifier(a.value()) ? by_name(a.value()) : by_position;
  }

  // An identifier attribute; the element's path uses it when it is safe.
  std::string identifier(pugi::xml_node n, const std::string& path, const char* attribute, const char* what) {
    std::string value = n.attribute(attribute).value();
    if (auto problem = identifier_problem(value); !problem.empty())
      fail(n, path, fmt::format("{} {} {}", what, display_quoted(value), problem));
    return value;
  }

  void read_sizes(pugi::xml_node sec, model& m) {
    std::size_t i = 0;
    for (auto n : list(sec, "/model/sizes", "size")) {
      std::string path = named_path(n, "name", size_path, fmt::format("/model/sizes/size[{}]", ++i));
      check_attributes(n, path, {"name", "value"}, {});
      no_children(n, path);
      std::string name = identifier(n, path, "name", "size name");
      auto value = parse_integer<std::int64_t>(n.attribute("value").value());
      if (!value) parse_fail(n, path, fmt::format("value {} is not an integer", display_quoted(n.attribute("value").value())));
      if (!m.sizes.emplace(name, *value).second) fail(n, path, fmt::format("size '{}' is given twice", name));
      nodes_[path] = n;
    }
  }

  void read_options(pugi::xml_node sec, model& m) {
    std::size_t i = 0;
    for (auto n : list(sec, "/model/options", "option")) {
      std::string path = named_path(n, "name", option_path, fmt::format("/model/options/option[{}]", ++i));
      check_attributes(n, path, {"name", "value"}, {});
      no_children(n, path);
      std::string name = identifier(n, path, "name", "option name");
      if (!m.options.emplace(name, n.attribute("value").value()).second)
        fail(n, path, fmt::format("option '{}' is given twice", name));
      nodes_[path] = n;
    }
  }

  double number_attribute(pugi::xml_node n, const std::string& path, const char* name) {
    std::string_view text = n.attribute(name).value();
    auto v = try_parse_double(text);
    if (!v) parse_fail(n, path, fmt::format("{} = {} is not a number (or is outside the range of a double)", name, display_quoted(text)));
    return *v;
  }

  void read_scale(pugi::xml_node n, model& m) {
    const std::string path = "/model/scale";
    check_attributes(n, path, {"volt", "ampere", "ohm", "farad", "second"}, {});
    no_children(n, path);
    m.scale.volt = number_attribute(n, path, "volt");
    m.scale.ampere = number_attribute(n, path, "ampere");
    m.scale.ohm = number_attribute(n, path, "ohm");
    m.scale.farad = number_attribute(n, path, "farad");
    m.scale.second = number_attribute(n, path, "second");
  }

  void read_devices(pugi::xml_node sec, model& m) {
    std::size_t i = 0;
    for (auto n : list(sec, "/model/devices", "device")) {
      std::string path = named_path(n, "role", device_path, fmt::format("/model/devices/device[{}]", ++i));
      check_attributes(n, path, {"role", "name"}, {"library"});
      no_children(n, path);
      device_ref d;
      d.role = identifier(n, path, "role", "device role");
      if (m.find_device(d.role)) fail(n, path, fmt::format("device role '{}' is given twice", d.role));
      d.name = n.attribute("name").value();
      d.library = n.attribute("library").value();
      if (n.attribute("library") && d.library.empty())
        fail(n, path, "library is empty: omit the attribute for a builtin device");
      nodes_[path] = n;
      m.devices.push_back(std::move(d));
    }
  }

  void read_provenance(pugi::xml_node n, model& m) {
    const std::string path = "/model/provenance";
    check_attributes(n, path, {}, {"seed", "data", "accuracy", "created_by"});
    if (auto a = n.attribute("seed")) {
      auto seed = parse_integer<std::uint64_t>(a.value());
      if (!seed) parse_fail(n, path, fmt::format("seed {} is not an unsigned 64-bit integer", display_quoted(a.value())));
      m.origin.seed = seed;
    }
    if (n.attribute("accuracy")) m.origin.accuracy = number_attribute(n, path, "accuracy");
    m.origin.data = n.attribute("data").value();
    m.origin.created_by = n.attribute("created_by").value();
    auto parts = children(n, path, {"notes"});
    if (parts.count("notes")) {
      pugi::xml_node notes = parts["notes"];
      check_attributes(notes, path + "/notes", {}, {});
      for (auto c : notes.children()) {
        if (c.type() == pugi::node_element)
          fail(c, path + "/notes", fmt::format("unknown element <{}> in <notes>; notes are plain text", c.name()));
        if (is_text_node(c)) m.origin.notes += c.value();
      }
    }
  }

  void read_parameters(pugi::xml_node sec, model& m) {
    std::size_t i = 0;
    std::set<std::string> names;
    for (auto n : list(sec, "/model/parameters", "tensor")) {
      std::string path = named_path(n, "name", tensor_path, fmt::format("/model/parameters/tensor[{}]", ++i));
      check_attributes(n, path, {"name", "shape", "constraint", "trainable"}, {});
      tensor t;
      t.name = identifier(n, path, "name", "tensor name");
      if (!names.insert(t.name).second) fail(n, path, fmt::format("tensor '{}' is given twice", t.name));
      nodes_[path] = n;

      std::string_view shape_text = n.attribute("shape").value();
      bool shape_ok = true;
      for_each_token(shape_text, [&](std::string_view tok, std::size_t) {
        auto d = parse_integer<std::size_t>(tok);
        if (!d || tok.front() == '-') return shape_ok = false;
        t.shape.push_back(*d);
        return true;
      });
      if (!shape_ok)
        parse_fail(n, path, fmt::format("shape {} is not a list of nonnegative integers (\"\" for a scalar)", display_quoted(shape_text)));
      std::size_t expected = 0;
      try {
        expected = shape_size(t.shape);
      } catch (const error&) {
        fail(n, path, fmt::format("shape {} has too many elements", display_quoted(shape_text)));
      }

      std::string_view kind = n.attribute("constraint").value();
      auto c = constraint_from_string(kind);
      if (!c)
        fail(n, path, fmt::format("unknown constraint {}; known: none, nonnegative, symmetric_nonnegative, index", display_quoted(kind)));
      t.kind = *c;

      std::string_view trainable = n.attribute("trainable").value();
      if (trainable != "true" && trainable != "false")
        parse_fail(n, path, fmt::format("trainable = {} must be true or false", display_quoted(trainable)));
      t.trainable = trainable == "true";

      t.values.reserve(std::min(expected, text_.size() / 2 + 1));
      for (auto child : n.children()) {
        if (child.type() == pugi::node_element)
          fail(child, path, fmt::format("unknown element <{}> in <tensor>; values are plain text", child.name()));
        if (!is_text_node(child)) continue;
        std::string_view text = child.value();
        for_each_token(text, [&](std::string_view tok, std::size_t pos) {
          auto v = try_parse_double(tok);
          if (!v) {
            auto line = line_of(child) + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
            parse_fail(line, path, fmt::format("value {} (counting from 0) is {}: not a number, or outside the range of a double",
                                               t.values.size(), display_quoted(tok, 40)));
          }
          t.values.push_back(*v);
          return true;
        });
      }
      if (t.values.size() != expected)
        fail(n, path, fmt::format("has {} values but shape {} needs {}", t.values.size(), shape_to_string(t.shape), expected));
      m.parameters.push_back(std::move(t));
    }
  }

  std::string_view text_;
  std::string file_;
  std::vector<std::size_t> line_starts_;
  pugi::xml_document doc_;
  std::unordered_map<std::string, pugi::xml_node> nodes_;
};

// ---------------------------------------------------------------- writing

std::string values_text(const tensor& t) {
  constexpr std::size_t per_line = 16;
  const auto& v = t.values;
  auto join = [&](std::size_t from, std::size_t to) {
    std::string s;
    for (std::size_t i = from; i < to; ++i) {
      if (i > from) s += ' ';
      s += format_double(v[i]);
    }
    return s;
  };
  // Rank >= 2 with several rows: one row (first index) per line; otherwise
  // short tensors on one line, long ones 16 values per line.
  bool rows = t.shape.size() >= 2 && t.shape[0] > 1;
  if (!rows && v.size() <= per_line) return join(0, v.size());
  std::size_t row = rows ? v.size() / t.shape[0] : per_line;
  if (row == 0) return join(0, v.size());
  std::string s = "\n";
  for (std::size_t i = 0; i < v.size(); i += row) {
    s += "      ";
    s += join(i, std::min(v.size(), i + row));
    s += '\n';
  }
  s += "    ";
  return s;
}

std::string write_xml(const model& m, const std::vector<device_ref>& devices) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("model");
  root.append_attribute("format_version") = format_version;
  root.append_attribute("family") = std::string(to_string(m.kind)).c_str();

  family_schema schema = schema_for(m);
  auto sizes = root.append_child("sizes");
  for (const auto& s : schema.sizes) {
    auto n = sizes.append_child("size");
    n.append_attribute("name") = s.name.c_str();
    n.append_attribute("value") = std::to_string(m.sizes.at(s.name)).c_str();
  }
  if (!m.options.empty()) {
    auto options = root.append_child("options");
    for (const auto& o : schema.options) {
      auto n = options.append_child("option");
      n.append_attribute("name") = o.name.c_str();
      n.append_attribute("value") = m.options.at(o.name).c_str();
    }
  }
  auto scale = root.append_child("scale");
  scale.append_attribute("volt") = format_double(m.scale.volt).c_str();
  scale.append_attribute("ampere") = format_double(m.scale.ampere).c_str();
  scale.append_attribute("ohm") = format_double(m.scale.ohm).c_str();
  scale.append_attribute("farad") = format_double(m.scale.farad).c_str();
  scale.append_attribute("second") = format_double(m.scale.second).c_str();
  if (!devices.empty()) {
    auto devs = root.append_child("devices");
    for (const auto& d : devices) {
      auto n = devs.append_child("device");
      n.append_attribute("role") = d.role.c_str();
      n.append_attribute("name") = d.name.c_str();
      if (!d.library.empty()) n.append_attribute("library") = d.library.c_str();
    }
  }
  const auto& o = m.origin;
  auto prov = root.append_child("provenance");
  if (o.seed) prov.append_attribute("seed") = std::to_string(*o.seed).c_str();
  if (!o.data.empty()) prov.append_attribute("data") = o.data.c_str();
  if (o.accuracy) prov.append_attribute("accuracy") = format_double(*o.accuracy).c_str();
  if (!o.created_by.empty()) prov.append_attribute("created_by") = o.created_by.c_str();
  if (!o.notes.empty()) prov.append_child("notes").append_child(pugi::node_pcdata).set_value(o.notes.c_str());

  auto params = root.append_child("parameters");
  for (const auto& t : m.parameters) {
    auto n = params.append_child("tensor");
    n.append_attribute("name") = t.name.c_str();
    std::string shape;
    for (std::size_t d : t.shape) shape += (shape.empty() ? "" : " ") + std::to_string(d);
    n.append_attribute("shape") = shape.c_str();
    n.append_attribute("constraint") = std::string(to_string(t.kind)).c_str();
    n.append_attribute("trainable") = t.trainable ? "true" : "false";
    n.append_child(pugi::node_pcdata).set_value(values_text(t).c_str());
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_indent, pugi::encoding_utf8);
  return out.str();
}

// Library paths relative to m.base_dir, rewritten relative to target_dir.
std::vector<device_ref> rebased_devices(const model& m, const fs::path& target_dir) {
  std::vector<device_ref> out = m.devices;
  fs::path from = fs::absolute(m.base_dir.empty() ? fs::current_path() : m.base_dir).lexically_normal();
  fs::path to = target_dir.lexically_normal();
  if (from == to) return out;
  for (auto& d : out) {
    if (d.library.empty() || fs::path(d.library).is_absolute()) continue;
    fs::path abs = (from / d.library).lexically_normal();
    fs::path rel = abs.lexically_relative(to);
    std::string text = rel.empty() ? abs.string() : rel.generic_string();
    if (!is_safe_library_path(text)) text = abs.generic_string();
    if (!is_safe_library_path(text))
      throw error(fmt::format("cannot save device '{}': its library {} cannot be written as a safe path relative to {}",
                              d.name, abs.string(), to.string()));
    d.library = text;
  }
  return out;
}

}  // namespace

model load_model_from_string(std::string_view text, std::string_view display_name, const fs::path& base_dir) {
  reader r(text, std::string(display_name));
  return r.read(base_dir);
}

model load_model(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw parse_error({path.string(), 0}, fmt::format("cannot open model file: {}", std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw parse_error({path.string(), 0}, "cannot read model file");
  fs::path dir = fs::absolute(path).parent_path();
  return load_model_from_string(buffer.str(), path.string(), dir);
}

std::string to_xml_string(const model& m) {
  validate(m);
  return write_xml(m, m.devices);
}

void save_model(const model& m, const fs::path& path) {
  validate(m);
  fs::path target = fs::absolute(path);
  std::string text = write_xml(m, rebased_devices(m, target.parent_path()));

  write_file_atomically(target, text, "model file");
}

}  // namespace spicenn::ir
