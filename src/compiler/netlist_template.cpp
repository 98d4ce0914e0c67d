#include "compiler/netlist_template.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace spicenn::compiler {

std::filesystem::path templates_dir() {
  if (const char* dir = std::getenv("SPICENN_NETLIST_TEMPLATES"); dir && *dir) return dir;
  return SPICENN_NETLIST_TEMPLATES_DIR;
}

static bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

netlist_template::netlist_template(std::string text, std::string display_name) : display_name_(std::move(display_name)) {
  std::size_t line = 1;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) pieces_.push_back({false, std::move(literal), line});
    literal.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      auto close = text.find('}', i);
      std::string name = close == std::string::npos ? std::string{} : text.substr(i + 1, close - i - 1);
      if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char))
        throw lowering_error(fmt::format("{}:{}: malformed placeholder (expected {{name}} with letters, digits, _)", display_name_, line));
      flush();
      pieces_.push_back({true, name, line});
      if (std::find(names_.begin(), names_.end(), name) == names_.end()) names_.push_back(name);
      i = close;
    } else if (c == '}') {
      throw lowering_error(fmt::format("{}:{}: lone '}}' (write '}}}}' for a literal brace)", display_name_, line));
    } else {
      literal += c;
      if (c == '\n') ++line;
    }
  }
  flush();
}

netlist_template netlist_template::load(const std::string& file) {
  auto path = templates_dir() / file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw lowering_error(fmt::format("{}: cannot open netlist template", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return netlist_template(text.str(), path.string());
}

std::string netlist_template::render(const std::map<std::string, std::string>& values) const {
  for (const auto& [key, value] : values)
    if (std::find(names_.begin(), names_.end(), key) == names_.end())
      throw lowering_error(fmt::format("{}: value given for '{}', which the template does not use", display_name_, key));
  std::string out;
  for (const auto& p : pieces_) {
    if (!p.is_placeholder) {
      out += p.text;
      continue;
    }
    auto it = values.find(p.text);
    if (it == values.end())
      throw lowering_error(fmt::format("{}:{}: no value for placeholder '{{{}}}'", display_name_, p.line, p.text));
    out += it->second;
  }
  return out;
}

}  // namespace spicenn::compiler
