// The one place that formats SPICE text for device libraries.
//
// Every device library is a file holding one subcircuit `NAME (anode
// cathode)`: a `D` element with a local `.model` card for Shockley diodes,
// a behavioural current source `B1 anode cathode I = ...` for analytic NDR
// curves and fitted devices. Outside a device's window the expression holds
// its end values with ternaries, so only constants are evaluated there.
// Fitted devices also carry their fit in `* spicenn-fit: KEY VALUES...`
// comment lines (read back by load_fitted_device).
//
//   std::string text = spicenn::devices::library_text(reg.get("z15"));
//   spicenn::devices::write_library_file(reg.get("z15"), "z15.lib");
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "devices/device.hpp"

namespace spicenn::devices {

// Prefix of the machine-readable fit lines in fitted-device libraries.
inline constexpr std::string_view fit_line_prefix = "* spicenn-fit:";
inline constexpr int fit_format_version = 1;

// Full library file text for a builtin (shockley_device, ndr_device) or
// fitted device. Throws spicenn::error for any other device type.
std::string library_text(const device& d);

// The B-source current expression of an ndr_device or fitted_device in terms
// of the voltage text `v` (e.g. "V(anode,cathode)"), clamp included.
std::string current_expression(const device& d, std::string_view v);

// Writes library_text(d) to file (throws spicenn::error on I/O failure).
void write_library_file(const device& d, const std::filesystem::path& file);

}  // namespace spicenn::devices
