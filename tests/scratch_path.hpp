#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace spicenn::test {

// A fresh path (not yet created) inside a directory that belongs to this test
// process and is removed when the process exits. ctest runs every test case in
// its own process, in parallel, so a fixed name under /tmp would be shared by
// whichever cases run at the same time (one case's clean-up then deletes
// another's files).
inline std::filesystem::path scratch_path(const std::string& tag) {
  struct process_directory {
    std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("spicenn_test_" + std::to_string(::getpid()));
    process_directory() { std::filesystem::create_directories(path); }
    ~process_directory() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const process_directory dir;
  static std::atomic<unsigned> counter{0};
  return dir.path / (std::to_string(counter++) + "_" + tag);
}

}  // namespace spicenn::test
