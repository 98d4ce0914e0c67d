// mon_network::from_model overloads that look the diode up (builtin
// registry, library files); kept apart so that code passing Shockley
// parameters directly does not link against the device registry.
#include <fmt/format.h>

#include "core/error.hpp"
#include "models/model_devices.hpp"
#include "models/mon.hpp"

namespace spicenn::models {

mon_network mon_network::from_model(const ir::model& model, const devices::registry& registry) {
  const auto it = model.options.find("diode");
  const bool needs_device = it != model.options.end() && (it->second == "shockley" || it->second == "device");
  if (!needs_device) return from_model(model, static_cast<const devices::shockley_parameters*>(nullptr));
  const std::string path = "/model/devices/device[@role='diode']";
  const ir::device_ref* ref = nullptr;
  for (const auto& d : model.devices)
    if (d.role == "diode") ref = &d;
  if (!ref) throw validation_error({}, path, fmt::format("option diode={} needs a device with role 'diode'", it->second));
  const auto dev = load_model_device(model, *ref, registry);  // validation_error for an unknown builtin
  if (it->second == "shockley" && !dev->shockley())
    throw validation_error({}, path,
                           fmt::format("device '{}' has no Shockley parameters, so it cannot be the diode of option "
                                       "diode=shockley{}",
                                       ref->name, ref->library.empty() ? "" : "; option diode=device uses its own curve"));
  return from_model(model, dev);
}

mon_network mon_network::from_model(const ir::model& model) { return from_model(model, devices::builtin_devices()); }

}  // namespace spicenn::models
