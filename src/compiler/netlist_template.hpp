// Netlist snippets with named placeholders, loaded from netlist_templates/.
//
// A template is SPICE text with `{name}` placeholders (`{{` and `}}` stand
// for literal braces). Rendering rejects missing keys, unused keys and
// unknown placeholders, and reports `template:line`.
//
//   auto t = spicenn::compiler::netlist_template::load("mon_deck.cir.in");
//   std::string text = t.render({{"title", "mon"}, {"body", cards}});
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace spicenn::compiler {

class netlist_template {
 public:
  // Parses text; `display_name` appears in error messages.
  netlist_template(std::string text, std::string display_name);
  // Loads netlist_templates/<file> (see templates_dir()).
  static netlist_template load(const std::string& file);

  // Every placeholder must be given and every key used; throws
  // spicenn::lowering_error naming template:line and the key.
  std::string render(const std::map<std::string, std::string>& values) const;
  const std::vector<std::string>& placeholders() const { return names_; }

 private:
  struct piece {
    bool is_placeholder;
    std::string text;  // literal text or placeholder name
    std::size_t line;
  };
  std::string display_name_;
  std::vector<piece> pieces_;
  std::vector<std::string> names_;  // unique, in order of first use
};

// $SPICENN_NETLIST_TEMPLATES, else the source tree's netlist_templates/.
std::filesystem::path templates_dir();

}  // namespace spicenn::compiler
