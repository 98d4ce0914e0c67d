// mon_network::from_model overloads that look the diode up in a device
// registry; kept apart so that code passing Shockley parameters directly does
// not link against the device registry.
#include <fmt/format.h>

#include "core/error.hpp"
#include "models/mon.hpp"

namespace spicenn::models {

mon_network mon_network::from_model(const ir::model& model, const devices::registry& registry) {
  const auto it = model.options.find("diode");
  const bool shockley = it != model.options.end() && it->second == "shockley";
  if (!shockley) return from_model(model, static_cast<const devices::shockley_parameters*>(nullptr));
  const std::string path = "/model/devices/device[@role='diode']";
  const ir::device_ref* ref = nullptr;
  for (const auto& d : model.devices)
    if (d.role == "diode") ref = &d;
  if (!ref) throw validation_error({}, path, "option diode=shockley needs a device with role 'diode'");
  const devices::device* dev = registry.find(ref->name);
  if (!dev) {
    throw validation_error({}, path,
                           fmt::format("diode device '{}' is not in the device registry{}", ref->name,
                                       ref->library.empty() ? "" : fmt::format(" (library '{}')", ref->library)));
  }
  const auto params = dev->shockley();
  if (!params)
    throw validation_error({}, path,
                           fmt::format("device '{}' has no Shockley parameters, so it cannot be a MON diode", ref->name));
  return from_model(model, &*params);
}

mon_network mon_network::from_model(const ir::model& model) { return from_model(model, devices::builtin_devices()); }

}  // namespace spicenn::models
