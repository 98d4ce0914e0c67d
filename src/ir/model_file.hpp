// The model file: one XML format (format_version 1) for every family.
//
//   <?xml version="1.0" encoding="UTF-8"?>
//   <model format_version="1" family="mon">
//     <sizes> <size name="inputs" value="2"/> ... </sizes>
//     <options> <option name="diode" value="ideal"/> </options>
//     <scale volt="1" ampere="0.0001" ohm="10000" farad="1e-09" second="1e-05"/>
//     <devices> <device role="diode" name="ideal_diode"/> </devices>
//     <provenance seed="42" data="" created_by="spicenn 0.1.0 init mon">
//       <notes>free text</notes>
//     </provenance>
//     <parameters>
//       <tensor name="stage0.g_ground" shape="3" constraint="nonnegative" trainable="true">0.1 0.2 0.3</tensor>
//       ...
//     </parameters>
//   </model>
//
// docs/model-format.md describes every element. Doubles are written with
// spicenn::format_double (shortest round-trip), so load -> save -> load is
// bit-exact. Loading validates against the family schema (ir/schema.hpp);
// errors are spicenn::parse_error (not well-formed XML, text that is not a
// number) or spicenn::validation_error (everything else), and their message
// reads "file:line: /element/path: what is wrong".
//
//   ir::model m = ir::load_model("net.xml");
//   ir::save_model(m, "copy.xml");   // atomic: temp file + rename
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "ir/model.hpp"

namespace spicenn::ir {

// Reads and validates a model file. Relative device library paths resolve
// against the file's directory (stored in model::base_dir, made absolute).
model load_model(const std::filesystem::path& path);

// Parses and validates model text; display_name is used in messages as the
// file name. Relative library paths resolve against base_dir (empty = the
// current directory).
model load_model_from_string(std::string_view text, std::string_view display_name,
                             const std::filesystem::path& base_dir = {});

// Validates m, then writes it to path atomically (a temporary file in the
// same directory, then rename). Relative library paths are rewritten to stay
// valid from path's directory. Throws spicenn::error on I/O failure.
void save_model(const model& m, const std::filesystem::path& path);

// The file text of a model (validated first; library paths as stored).
std::string to_xml_string(const model& m);

}  // namespace spicenn::ir
