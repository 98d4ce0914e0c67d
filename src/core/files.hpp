// Whole-file I/O that never leaves a half-written file behind.
//
//   spicenn::write_file_atomically("model.xml", text, "model file");
//   // writes model.xml.tmp.<pid>.<n>, fsyncs it, renames it over model.xml
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace spicenn {

// Writes text to a temporary file in path's directory, fsyncs it and renames
// it over path. On failure removes the temporary file and throws
// spicenn::error "cannot write <what> <path>: <reason>".
void write_file_atomically(const std::filesystem::path& path, std::string_view text, std::string_view what = "file");

// Reads a whole file; throws spicenn::error "cannot open <what> '<path>': <reason>".
std::string read_file(const std::filesystem::path& path, std::string_view what = "file");

}  // namespace spicenn
