// The devices a model names, as C++ I-V laws for the software models:
// builtins from a registry, library devices from the file the model names
// (resolved like the compiler does, relative to the model file). Only
// libraries written by `spicenn fit-device` carry a law spicenn can read.
//
//   auto diode = spicenn::models::load_model_device(model, model.device("diode"));
//   double i = diode->current(0.6);  // amperes
#pragma once

#include <memory>
#include <string>

#include "devices/device.hpp"
#include "ir/model.hpp"

namespace spicenn::models {

// The device `ref` names. A library device is loaded once per file, size and
// modification time (training rebuilds its network after every step); a
// builtin is borrowed from `builtins`, which must outlive the result. Throws
// validation_error naming the device for an unknown builtin, a library that
// defines another device or carries no fit data (parse_error: file:line).
std::shared_ptr<const devices::device> load_model_device(const ir::model& m, const ir::device_ref& ref,
                                                         const devices::registry& builtins = devices::builtin_devices());

// A key that identifies the device `ref` names: the builtin's name, or the
// library's name, absolute path, size and modification time.
std::string model_device_key(const ir::model& m, const ir::device_ref& ref);

}  // namespace spicenn::models
