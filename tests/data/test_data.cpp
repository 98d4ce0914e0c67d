#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "scratch_path.hpp"

namespace spicenn::data {
namespace {

namespace fs = std::filesystem;

fs::path write_bytes(const std::string& name, const std::vector<unsigned char>& bytes) {
  auto path = test::scratch_path("test_data_" + name);
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

// ---- average pooling -------------------------------------------------------

// A synthetic MNIST directory (IDX files of 28x28 images with known bytes)
// under a temporary SPICENN_DATA_DIR, so pooling is tested without the real
// data set.
struct fake_mnist {
  fs::path root = test::scratch_path("test_data_fake_mnist");
  std::vector<unsigned char> images = idx_images(5, 28, 28), labels = {0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 4, 1, 5};
  std::string old_dir;
  fake_mnist() {
    if (const char* d = std::getenv("SPICENN_DATA_DIR")) old_dir = d;
    fs::create_directories(root / "mnist");
    for (const char* prefix : {"train", "t10k"}) {
      std::ofstream(root / "mnist" / (std::string(prefix) + "-images-idx3-ubyte"), std::ios::binary)
          .write(reinterpret_cast<const char*>(images.data()), static_cast<std::streamsize>(images.size()));
      std::ofstream(root / "mnist" / (std::string(prefix) + "-labels-idx1-ubyte"), std::ios::binary)
          .write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
    }
    ::setenv("SPICENN_DATA_DIR", root.c_str(), 1);
  }
  ~fake_mnist() {
    if (old_dir.empty())
      ::unsetenv("SPICENN_DATA_DIR");
    else
      ::setenv("SPICENN_DATA_DIR", old_dir.c_str(), 1);
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  // Pixel (r, c) of image i straight from the bytes: byte 16 + i*784 + r*28 + c.
  int pixel(std::size_t i, std::size_t r, std::size_t c) const { return images[16 + i * 784 + r * 28 + c]; }
};

TEST(Pooling, TwoByTwoAverageOfTheImageBytes) {
  fake_mnist fake;
  auto full = load_dataset("mnist", split::train);
  auto pooled = load_dataset("mnist", split::train, {.pool = 2});
  ASSERT_EQ(full.dimension(), 784u);
  ASSERT_EQ(pooled.dimension(), 196u);
  ASSERT_EQ(pooled.size(), 5u);
  EXPECT_EQ(pooled.labels, full.labels);
  EXPECT_EQ(pooled.classes, 10u);
  for (std::size_t i = 0; i < pooled.size(); ++i)
    for (std::size_t R = 0; R < 14; ++R)
      for (std::size_t C = 0; C < 14; ++C) {
        const int sum = fake.pixel(i, 2 * R, 2 * C) + fake.pixel(i, 2 * R, 2 * C + 1) + fake.pixel(i, 2 * R + 1, 2 * C) +
                        fake.pixel(i, 2 * R + 1, 2 * C + 1);
        EXPECT_NEAR(pooled.features(static_cast<Eigen::Index>(R * 14 + C), static_cast<Eigen::Index>(i)), sum / (4 * 255.0),
                    1e-6)
            << "image " << i << " block " << R << "," << C;
      }
  EXPECT_GE(pooled.features.minCoeff(), 0.0f);
  EXPECT_LE(pooled.features.maxCoeff(), 1.0f);
  // 7x7 blocks: 4x4 = 16 features; one block checked by hand.
  auto coarse = load_dataset("mnist", split::test, {.pool = 7});
  ASSERT_EQ(coarse.dimension(), 16u);
  int sum = 0;
  for (std::size_t r = 7; r < 14; ++r)
    for (std::size_t c = 21; c < 28; ++c) sum += fake.pixel(3, r, c);
  EXPECT_NEAR(coarse.features(1 * 4 + 3, 3), sum / (49 * 255.0), 1e-6);
  // pool 1 is the identity.
  EXPECT_EQ(load_dataset("mnist", split::train, {.pool = 1}).features, full.features);
}

// ---- bilinear resizing (as PIL / torchvision's Resize) ----------------------

// A 28x28 test pattern of all byte values, (7 r^2 + 31 c + 3 r c) mod 256.
Eigen::MatrixXf resize_pattern() {
  Eigen::MatrixXf x(784, 1);
  for (int r = 0; r < 28; ++r)
    for (int c = 0; c < 28; ++c) x(r * 28 + c, 0) = static_cast<float>((7 * r * r + 31 * c + 3 * r * c) % 256) / 255.0f;
  return x;
}

// Expected bytes from Pillow 9.4 (Debian python3-pil), not from this code:
//   a = np.array([[(7*r*r + 31*c + 3*r*c) % 256 for c in range(28)] for r in range(28)], np.uint8)
//   np.asarray(Image.fromarray(a).resize((14, 14), Image.BILINEAR))   (and (9, 9))
// It rounds after each pass: a one-pass filter with one final rounding
// differs from it at 158 of the 196 pixels of the 14x14 result.
TEST(BilinearResize, MatchesPillowBitForBit) {
  const int expected14[14][14] = {
      {30, 90, 156, 191, 102, 99, 161, 145, 97, 104, 143, 150, 106, 95},
      {77, 142, 147, 120, 121, 158, 147, 120, 133, 122, 111, 136, 145, 124},
      {147, 131, 116, 141, 142, 127, 116, 137, 126, 127, 136, 137, 150, 151},
      {145, 136, 141, 130, 143, 128, 137, 134, 127, 144, 109, 110, 131, 147},
      {149, 141, 126, 115, 120, 133, 138, 143, 124, 125, 134, 131, 140, 108},
      {150, 126, 139, 116, 121, 114, 127, 108, 121, 102, 139, 136, 133, 121},
      {151, 131, 160, 125, 106, 131, 112, 145, 130, 147, 100, 165, 118, 102},
      {117, 128, 137, 122, 147, 112, 105, 126, 147, 136, 93, 166, 127, 112},
      {103, 149, 126, 131, 132, 101, 102, 119, 120, 157, 130, 139, 136, 105},
      {141, 142, 127, 136, 149, 134, 143, 120, 117, 122, 123, 124, 125, 131},
      {124, 119, 128, 129, 146, 123, 136, 137, 154, 107, 108, 121, 134, 135},
      {131, 144, 113, 138, 151, 116, 129, 154, 123, 124, 125, 122, 135, 99},
      {122, 153, 122, 139, 164, 121, 126, 151, 120, 157, 130, 99, 112, 129},
      {159, 141, 105, 137, 160, 124, 92, 125, 143, 121, 103, 149, 131, 158}};
  const int expected9[9][9] = {{68, 148, 139, 122, 146, 110, 123, 135, 111}, {133, 129, 134, 135, 127, 130, 125, 137, 147},
                               {144, 130, 130, 132, 136, 133, 125, 122, 132}, {143, 133, 115, 121, 123, 118, 123, 135, 127},
                               {134, 139, 125, 122, 118, 143, 115, 144, 116}, {124, 134, 130, 119, 109, 129, 134, 136, 121},
                               {130, 126, 138, 133, 134, 132, 111, 123, 129}, {135, 124, 146, 126, 142, 130, 129, 119, 116},
                               {146, 121, 149, 125, 118, 135, 121, 124, 138}};
  const Eigen::MatrixXf x = resize_pattern();
  const Eigen::MatrixXf y14 = bilinear_resize(x, 28, 14), y9 = bilinear_resize(x, 28, 9);
  ASSERT_EQ(y14.rows(), 196);
  ASSERT_EQ(y9.rows(), 81);
  for (int R = 0; R < 14; ++R)
    for (int C = 0; C < 14; ++C) EXPECT_EQ(y14(R * 14 + C, 0), static_cast<float>(expected14[R][C]) / 255.0f) << R << "," << C;
  for (int R = 0; R < 9; ++R)
    for (int C = 0; C < 9; ++C) EXPECT_EQ(y9(R * 9 + C, 0), static_cast<float>(expected9[R][C]) / 255.0f) << R << "," << C;
  // The corner by hand: taps (3, 3, 1)/7 on rows and columns 0..2, each pass
  // rounded. Rows 0, 1, 2 of the pattern start 0 31 62 | 7 41 75 | 28 65 102:
  // (93 + 62)/7 = 22.1 -> 22, (21 + 123 + 75)/7 = 31.3 -> 31,
  // (84 + 195 + 102)/7 = 54.4 -> 54; then (66 + 93 + 54)/7 = 30.4 -> 30.
  EXPECT_EQ(y14(0, 0), 30.0f / 255.0f);
  // An interior pixel: taps (1, 3, 3, 1)/8 on rows and columns 1..4 (the 28x28
  // centres 1.5, 0.5, 0.5, 1.5 pixels from the 14x14 centre at 3.0).
  double sum = 0.0;
  const double w[4] = {1, 3, 3, 1};
  for (int i = 0; i < 4; ++i) {
    double row = 0.0;
    for (int j = 0; j < 4; ++j) row += w[j] * std::round(x((1 + i) * 28 + 1 + j, 0) * 255.0);
    sum += w[i] * std::floor(row / 8.0 + 0.5);
  }
  EXPECT_EQ(y14(1 * 14 + 1, 0), static_cast<float>(std::floor(sum / 8.0 + 0.5)) / 255.0f);
  // Size 28: the identity; constant images stay constant.
  EXPECT_EQ(bilinear_resize(x, 28, 28), x);
  const Eigen::MatrixXf flat = Eigen::MatrixXf::Constant(784, 2, 200.0f / 255.0f);
  EXPECT_EQ(bilinear_resize(flat, 28, 14), Eigen::MatrixXf::Constant(196, 2, 200.0f / 255.0f));
  EXPECT_THROW(bilinear_resize(x, 28, 0), error);
  EXPECT_THROW(bilinear_resize(x, 27, 14), error);
}

TEST(BilinearResize, LoadsThroughTheDataLayerAndRejectsBadSizes) {
  fake_mnist fake;
  auto full = load_dataset("mnist", split::train);
  auto resized = load_dataset("mnist", split::test, {.resize = 14});
  ASSERT_EQ(resized.dimension(), 196u);
  EXPECT_EQ(resized.labels, full.labels);
  EXPECT_EQ(resized.features, bilinear_resize(full.features, 28, 14));
  EXPECT_NE(resized.features, load_dataset("mnist", split::test, {.pool = 2}).features);  // not 2x2 pooling
  EXPECT_EQ(load_dataset("mnist", split::train, {.resize = 28}).features, full.features);
  auto message = [](const load_options& o, std::string_view name = "mnist") {
    try {
      load_dataset(name, split::train, o);
    } catch (const error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({.resize = 29}).find("resize to 29x29"), std::string::npos);
  EXPECT_NE(message({.pool = 2, .resize = 14}).find("exclude each other"), std::string::npos);
  EXPECT_NE(message({.resize = 14}, "moons").find("no image to resize"), std::string::npos);
}

TEST(ShiftImages, SubPixelShiftsResampleBilinearly) {
  // A vertical ramp f(r, c) = 0.1 r + 0.2 (8x8): bilinear resampling of a
  // linear function is exact, so every interior pixel of a shifted copy
  // reads f(r − dy) = f(r) − 0.1 dy with one dy per image, |dy| <= 0.5.
  Eigen::MatrixXd x(64, 20);
  for (Eigen::Index r = 0; r < 8; ++r)
    for (Eigen::Index c = 0; c < 8; ++c) x.row(r * 8 + c).setConstant(0.1 * static_cast<double>(r) + 0.2);
  const Eigen::MatrixXd original = x;
  shift_images(x, 8, 0.5, 3);
  int fractional = 0;
  for (Eigen::Index k = 0; k < x.cols(); ++k) {
    const double dy = (original(3 * 8 + 3, k) - x(3 * 8 + 3, k)) / 0.1;
    EXPECT_LE(std::abs(dy), 0.5 + 1e-12) << k;
    for (Eigen::Index r = 1; r < 7; ++r)
      for (Eigen::Index c = 1; c < 7; ++c)
        EXPECT_NEAR(x(r * 8 + c, k), original(r * 8 + c, k) - 0.1 * dy, 1e-12) << k << " " << r << " " << c;
    fractional += std::abs(dy) > 0.01 && std::abs(std::abs(dy) - 0.5) > 0.01;
  }
  EXPECT_GT(fractional, 10);
  Eigen::MatrixXd again = original;
  shift_images(again, 8, 0.5, 3);
  EXPECT_EQ(again, x);  // deterministic for a seed
}

TEST(Pooling, RejectsSizesThatDoNotDivide28AndToySets) {
  fake_mnist fake;
  for (std::size_t k : {0, 3, 5, 29}) {
    try {
      load_dataset("mnist", split::train, {.pool = k});
      ADD_FAILURE() << "accepted pool " << k;
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find(fmt::format("pool size {} ", k)), std::string::npos) << e.what();
    }
  }
  try {
    load_dataset("moons", split::train, {.pool = 2});
    ADD_FAILURE() << "pooled a toy set";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("moons"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mnist and fashion-mnist only"), std::string::npos) << e.what();
  }
  EXPECT_EQ(load_dataset("moons", split::train, {.pool = 1}).dimension(), 2u);
  EXPECT_THROW(average_pool(Eigen::MatrixXf::Zero(784, 1), 28, 3), error);
}

// ---- validation split -------------------------------------------------------

TEST(Validation, HoldsOutTheLastSamplesDisjointFromTraining) {
  auto all = load_dataset("moons", split::train);
  ASSERT_EQ(all.size(), 2000u);
  EXPECT_EQ(default_validation_size("moons", all.size()), 200u);
  EXPECT_EQ(default_validation_size("spirals", 2000), 200u);
  EXPECT_EQ(default_validation_size("mnist", 60000), 5000u);
  EXPECT_EQ(default_validation_size("fashion-mnist", 60000), 5000u);
  EXPECT_EQ(default_validation_size("mnist", 2000), 200u);  // a --limit: 10 %
  auto [fit, val] = hold_out(all, 200);
  ASSERT_EQ(fit.size(), 1800u);
  ASSERT_EQ(val.size(), 200u);
  EXPECT_EQ(fit.name, "moons");
  EXPECT_EQ(val.classes, 2u);
  // Exactly the last 200 samples, in order, and the first 1800 for training.
  for (std::size_t i = 0; i < 200; ++i) {
    EXPECT_EQ(val.features.col(static_cast<Eigen::Index>(i)), all.features.col(static_cast<Eigen::Index>(1800 + i)));
    EXPECT_EQ(val.labels[i], all.labels[1800 + i]);
  }
  EXPECT_EQ(fit.features, all.features.leftCols(1800));
  // Disjoint: no validation sample occurs among the training samples.
  std::set<std::pair<float, float>> train_points;
  for (Eigen::Index i = 0; i < fit.features.cols(); ++i) train_points.insert({fit.features(0, i), fit.features(1, i)});
  for (Eigen::Index i = 0; i < val.features.cols(); ++i)
    EXPECT_EQ(train_points.count({val.features(0, i), val.features(1, i)}), 0u) << "validation sample " << i;
  // After a limit (first samples), the holdout is the tail of what is left.
  auto limited = hold_out(all.head(300), 30);
  EXPECT_EQ(limited.train.size(), 270u);
  EXPECT_EQ(limited.validation.features, all.features.middleCols(270, 30));
  // 0 = none; n >= size is an error naming the sizes.
  auto none = hold_out(all, 0);
  EXPECT_EQ(none.train.size(), 2000u);
  EXPECT_EQ(none.validation.size(), 0u);
  try {
    hold_out(all, 2000);
    ADD_FAILURE() << "held out everything";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("2000"), std::string::npos) << e.what();
  }
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

TEST(RealData, PooledMnistMatchesTheFullImagesAndTheRawFile) {
  const auto file = data_cache_dir() / "mnist" / "t10k-images-idx3-ubyte";
  if (!fs::exists(file)) GTEST_SKIP() << "run scripts/fetch-data.sh";
  auto full = load_dataset("mnist", split::test);
  auto pooled = load_dataset("mnist", split::test, {.pool = 2});
  ASSERT_EQ(pooled.dimension(), 196u);
  ASSERT_EQ(pooled.size(), 10000u);
  // The raw bytes of the first images, read here independently of the loader.
  std::ifstream in(file, std::ios::binary);
  std::vector<unsigned char> bytes(16 + 3 * 784);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t R = 0; R < 14; ++R)
      for (std::size_t C = 0; C < 14; ++C) {
        int sum = 0;
        for (std::size_t r = 2 * R; r < 2 * R + 2; ++r)
          for (std::size_t c = 2 * C; c < 2 * C + 2; ++c) sum += bytes[16 + i * 784 + r * 28 + c];
        EXPECT_NEAR(pooled.features(static_cast<Eigen::Index>(R * 14 + C), static_cast<Eigen::Index>(i)), sum / (4 * 255.0), 1e-6);
      }
  // Pooling keeps the mean brightness of every image.
  for (Eigen::Index i = 0; i < 20; ++i) EXPECT_NEAR(pooled.features.col(i).mean(), full.features.col(i).mean(), 1e-5);
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
