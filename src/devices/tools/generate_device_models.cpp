// Writes the builtin device libraries (device_models/*.lib) with the one
// SPICE writer. Run through scripts/generate-device-models.sh; the test
// DeviceModelFiles.CheckedInFilesMatchWriter fails when the checked-in files
// and this output differ.
//
//   spicenn_generate_device_models [OUTPUT_DIR]   (default: device_models_dir())
#include <cstdio>
#include <exception>
#include <filesystem>

#include "devices/device.hpp"
#include "devices/library_writer.hpp"

int main(int argc, char** argv) {
  try {
    namespace dev = spicenn::devices;
    const std::filesystem::path dir = argc > 1 ? std::filesystem::path(argv[1]) : dev::device_models_dir();
    std::filesystem::create_directories(dir);
    const auto& reg = dev::builtin_devices();
    for (const auto& name : reg.names()) {
      const auto file = dir / (name + ".lib");
      dev::write_library_file(reg.get(name), file);
      std::printf("wrote %s\n", file.string().c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spicenn_generate_device_models: %s\n", e.what());
    return 1;
  }
}
