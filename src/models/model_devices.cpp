#include "models/model_devices.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.hpp"
#include "devices/fit.hpp"
#include "ir/schema.hpp"

namespace spicenn::models {

std::string model_device_key(const ir::model& m, const ir::device_ref& ref) {
  if (ref.library.empty()) return ref.name;
  const auto file = ir::library_path(m, ref);
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  const auto time = std::filesystem::last_write_time(file, ec).time_since_epoch().count();
  return fmt::format("{}|{}|{}|{}", ref.name, std::filesystem::absolute(file).string(), size, time);
}

std::shared_ptr<const devices::device> load_model_device(const ir::model& m, const ir::device_ref& ref,
                                                         const devices::registry& builtins) {
  if (ref.library.empty()) {
    const devices::device* d = builtins.find(ref.name);
    if (!d)
      throw validation_error({}, ir::device_path(ref.role),
                             fmt::format("device '{}' is not a builtin device (builtins: {})", ref.name,
                                         fmt::join(builtins.names(), ", ")));
    return std::shared_ptr<const devices::device>(std::shared_ptr<const devices::device>(), d);  // borrowed
  }
  const std::string key = model_device_key(m, ref);
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const devices::device>> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto dev = std::make_shared<devices::fitted_device>(devices::load_fitted_device(ir::library_path(m, ref)));
  if (dev->name() != ref.name)
    throw validation_error({}, ir::device_path(ref.role),
                           fmt::format("library {} defines device '{}', not '{}'", ref.library, dev->name(), ref.name));
  std::lock_guard lock(mutex);
  return cache.emplace(key, std::move(dev)).first->second;
}

}  // namespace spicenn::models
