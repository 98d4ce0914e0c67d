// The CLI's --json output: nlohmann-json values with keys in insertion
// order, printed on one line (non-finite numbers become null, doubles in
// shortest round-trip form).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace spicenn::cli {

using json = nlohmann::ordered_json;

inline std::string to_text(const json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace spicenn::cli
