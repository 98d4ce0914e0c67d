#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/error.hpp"
#include "devices/builtin.hpp"
#include "devices/device.hpp"

#ifndef SPICENN_DEFAULT_DEVICE_MODELS_DIR
#error "SPICENN_DEFAULT_DEVICE_MODELS_DIR must be defined by the build"
#endif

namespace spicenn::devices {

void registry::add(std::unique_ptr<device> d) {
  SPICENN_ASSERT(d != nullptr, "registry::add needs a device");
  if (!is_valid_device_name(d->name()))
    throw error(fmt::format("device name '{}' is invalid: it must match [a-z][a-z0-9_]*", d->name()));
  if (find(d->name()) != nullptr) throw error(fmt::format("device '{}' is already registered", d->name()));
  devices_.push_back(std::move(d));
}

const device* registry::find(std::string_view name) const {
  for (const auto& d : devices_)
    if (d->name() == name) return d.get();
  return nullptr;
}

const device& registry::get(std::string_view name) const {
  if (const device* d = find(name)) return *d;
  const auto known = names();
  throw error(fmt::format("unknown device '{}'; known devices: {}", name,
                          known.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(known, ", "))));
}

std::vector<std::string> registry::names() const {
  std::vector<std::string> out;
  out.reserve(devices_.size());
  for (const auto& d : devices_) out.emplace_back(d->name());
  std::sort(out.begin(), out.end());
  return out;
}

void register_builtin_devices(registry& r) {
  for (auto& d : make_builtin_devices()) r.add(std::move(d));
}

const registry& builtin_devices() {
  static const registry instance = [] {
    registry r;
    register_builtin_devices(r);
    return r;
  }();
  return instance;
}

std::filesystem::path device_models_dir() {
  if (const char* env = std::getenv("SPICENN_DEVICE_MODELS"); env != nullptr && *env != '\0')
    return std::filesystem::absolute(std::filesystem::path(env));
  return std::filesystem::path(SPICENN_DEFAULT_DEVICE_MODELS_DIR);
}

std::optional<negative_slope> first_negative_slope(const device& d, double lo, double hi, double relative,
                                                   std::size_t points) {
  if (points < 2) points = 2;
  std::vector<double> v(points), g(points);
  double largest = 0;
  for (std::size_t i = 0; i < points; ++i) {
    v[i] = lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(points - 1);
    g[i] = d.conductance(v[i]);
    largest = std::max(largest, std::abs(g[i]));
  }
  for (std::size_t i = 0; i < points; ++i)
    if (g[i] < -relative * largest) return negative_slope{v[i], g[i]};
  return std::nullopt;
}

}  // namespace spicenn::devices
