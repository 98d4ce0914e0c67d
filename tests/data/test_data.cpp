#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "data/dataset.hpp"

namespace spicenn::data {
namespace {

namespace fs = std::filesystem;

fs::path write_bytes(const std::string& name, const std::vector<unsigned char>& bytes) {
  auto path = fs::temp_directory_path() / ("spicenn_test_data_" + name);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::vector<unsigned char> idx_images(unsigned count, unsigned rows, unsigned cols) {
  std::vector<unsigned char> b = {0, 0, 8, 3};
  for (unsigned v : {count, rows, cols})
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
  for (unsigned i = 0; i < count * rows * cols; ++i) b.push_back(static_cast<unsigned char>(i * 37 % 256));
  return b;
}

TEST(Idx, ReadsImagesColumnPerSampleScaledToUnitRange) {
  auto path = write_bytes("ok-images", idx_images(3, 2, 2));
  auto m = load_idx_images(path);
  ASSERT_EQ(m.rows(), 4);
  ASSERT_EQ(m.cols(), 3);
  // Byte i of the payload is i*37 mod 256; sample c, pixel r is byte c*4 + r.
  EXPECT_FLOAT_EQ(m(1, 2), ((2 * 4 + 1) * 37 % 256) / 255.0f);
}

TEST(Idx, RejectsMalformedFilesWithTheReason) {
  auto bad_magic = idx_images(1, 2, 2);
  bad_magic[2] = 0x0D;  // float elements
  auto truncated = idx_images(2, 2, 2);
  truncated.pop_back();
  auto wrong_dims = idx_images(1, 2, 2);
  wrong_dims[3] = 2;
  const std::pair<std::vector<unsigned char>, std::string> cases[] = {
      {{1, 2}, "shorter than"},
      {bad_magic, "not unsigned byte"},
      {truncated, "payload has 7 bytes, header announces 8"},
      {wrong_dims, "has 2 dimensions, expected 3"},
  };
  for (const auto& [bytes, reason] : cases) {
    auto path = write_bytes("bad", bytes);
    try {
      load_idx_images(path);
      ADD_FAILURE() << "accepted a file that should fail with " << reason;
    } catch (const parse_error& e) {
      EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(load_idx_images("/nonexistent/file"), parse_error);
}

TEST(ToySets, AreDeterministicBalancedAndOnTheirCurves) {
  auto a = make_moons(500, 3, 0.0), b = make_moons(500, 3, 0.0);
  EXPECT_EQ(a.features, b.features);
  EXPECT_EQ(std::accumulate(a.labels.begin(), a.labels.end(), 0), 250);
  for (std::size_t i = 0; i < a.size(); ++i) {
    // Noise-free moons: class 0 on the unit circle around (0,0), class 1 around (1,0.5).
    double cx = a.labels[i] == 0 ? 0.0 : 1.0, cy = a.labels[i] == 0 ? 0.0 : 0.5;
    EXPECT_NEAR(std::hypot(a.features(0, i) - cx, a.features(1, i) - cy), 1.0, 1e-6);
  }
  auto c = make_circles(400, 9, 0.0, 0.5);
  for (std::size_t i = 0; i < c.size(); ++i)
    EXPECT_NEAR(std::hypot(c.features(0, i), c.features(1, i)), c.labels[i] ? 0.5 : 1.0, 1e-6);
  auto train = load_dataset("spirals", split::train), test = load_dataset("spirals", split::test);
  EXPECT_NE(train.features.leftCols(10), test.features.leftCols(10));
  EXPECT_THROW(load_dataset("cifar", split::train), error);
}

std::array<int, 10> class_counts(const dataset& d) {
  std::array<int, 10> counts{};
  for (auto l : d.labels) ++counts.at(l);
  return counts;
}

TEST(RealData, MnistHasTheStandardSplitAndClassCounts) {
  if (!fs::exists(data_cache_dir() / "mnist" / "train-labels-idx1-ubyte")) GTEST_SKIP() << "run scripts/fetch-data.sh";
  auto train = load_dataset("mnist", split::train);
  auto test = load_dataset("mnist", split::test);
  EXPECT_EQ(train.size(), 60000u);
  EXPECT_EQ(test.size(), 10000u);
  EXPECT_EQ(train.dimension(), 784u);
  // Published per-digit counts of the MNIST training set (LeCun et al.).
  std::array<int, 10> expected{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949};
  EXPECT_EQ(class_counts(train), expected);
  EXPECT_LE(train.features.maxCoeff(), 1.0f);
  EXPECT_GE(train.features.minCoeff(), 0.0f);
}

TEST(RealData, FashionMnistIsReadFromTheDebianPackageGzipFiles) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz")) GTEST_SKIP() << "install dataset-fashion-mnist";
  auto test = load_dataset("fashion-mnist", split::test);
  EXPECT_EQ(test.size(), 10000u);
  std::array<int, 10> expected;
  expected.fill(1000);  // Fashion-MNIST's test split is balanced by construction.
  EXPECT_EQ(class_counts(test), expected);
}

}  // namespace
}  // namespace spicenn::data
