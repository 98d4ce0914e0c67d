// Safe identifiers and safe comment text: the rule that keeps names read
// from a model file from injecting anything into a netlist.
//
// Every identifier a model file supplies (tensor names, size and option
// names, option values, device roles and names) must match
// `[A-Za-z][A-Za-z0-9_.]*` and be at most max_identifier_length characters;
// the loader and ir::validate reject anything else. Library paths follow a
// similar rule (is_safe_library_path). Free text (provenance data,
// created_by, notes) is never used in a netlist; a writer that wants to put
// any text in a SPICE comment must pass it through spice_comment_safe().
//
//   ir::is_safe_identifier("stage0.g_ground");          // true
//   ir::is_safe_identifier("x\n.control shell rm -rf /"); // false
//   ir::spice_comment_safe("a\nb");                      // "a b"
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spicenn::ir {

inline constexpr std::size_t max_identifier_length = 64;
inline constexpr std::size_t max_library_path_length = 1024;

// [A-Za-z][A-Za-z0-9_.]*, 1..max_identifier_length characters.
bool is_safe_identifier(std::string_view name);

// A relative or absolute path made of [A-Za-z0-9_./+-] only (no blanks, no
// quotes, no control characters), 1..max_library_path_length characters.
bool is_safe_library_path(std::string_view path);

// Why `name` is not a safe identifier (empty string if it is), for messages.
std::string identifier_problem(std::string_view name);

// Text for a SPICE comment line: every control character (including CR, LF,
// TAB) and every non-ASCII byte becomes a blank, a trailing backslash is
// dropped, and the result is cut to max_length characters. The result never
// contains a line break, so it cannot end the comment.
std::string spice_comment_safe(std::string_view text, std::size_t max_length = 200);

// `text` quoted for an error message: control and non-ASCII bytes escaped
// (\n, \t, \xNN), long text shortened with "...". Never contains a newline.
std::string display_quoted(std::string_view text, std::size_t max_length = 80);

}  // namespace spicenn::ir
