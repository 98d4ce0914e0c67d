// Helpers shared by the ir tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "ir/model.hpp"

namespace spicenn::ir::test {

inline std::uint64_t bits(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Bit-exact equality of everything a model file stores.
inline void expect_same_model(const model& a, const model& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.sizes, b.sizes);
  EXPECT_EQ(a.options, b.options);
  EXPECT_EQ(bits(a.scale.volt), bits(b.scale.volt));
  EXPECT_EQ(bits(a.scale.ampere), bits(b.scale.ampere));
  EXPECT_EQ(bits(a.scale.ohm), bits(b.scale.ohm));
  EXPECT_EQ(bits(a.scale.farad), bits(b.scale.farad));
  EXPECT_EQ(bits(a.scale.second), bits(b.scale.second));
  EXPECT_EQ(a.devices, b.devices);
  EXPECT_EQ(a.origin.seed, b.origin.seed);
  EXPECT_EQ(a.origin.data, b.origin.data);
  EXPECT_EQ(a.origin.accuracy.has_value(), b.origin.accuracy.has_value());
  if (a.origin.accuracy && b.origin.accuracy) {
    EXPECT_EQ(bits(*a.origin.accuracy), bits(*b.origin.accuracy));
  }
  EXPECT_EQ(a.origin.created_by, b.origin.created_by);
  EXPECT_EQ(a.origin.notes, b.origin.notes);
  ASSERT_EQ(a.parameters.size(), b.parameters.size());
  for (std::size_t i = 0; i < a.parameters.size(); ++i) {
    const auto& x = a.parameters[i];
    const auto& y = b.parameters[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.shape, y.shape) << x.name;
    EXPECT_EQ(x.kind, y.kind) << x.name;
    EXPECT_EQ(x.trainable, y.trainable) << x.name;
    ASSERT_EQ(x.values.size(), y.values.size()) << x.name;
    for (std::size_t k = 0; k < x.values.size(); ++k)
      ASSERT_EQ(bits(x.values[k]), bits(y.values[k])) << x.name << "[" << k << "] " << x.values[k] << " vs " << y.values[k];
  }
}

// Runs f, expects an exception of type E whose message contains every one
// of `parts`; returns the message.
template <class E, class F>
std::string expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
  } catch (const E& e) {
    std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "missing '" << p << "' in: " << what;
    return what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no exception thrown";
  return {};
}

// A fresh temporary directory, removed at scope exit.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("spicenn_ir_test_" + std::to_string(rd()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace spicenn::ir::test
