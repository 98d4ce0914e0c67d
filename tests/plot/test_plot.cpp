// The plotting module: gnuplot writes real PNG and SVG files from the data
// and script it is given, and bad figures are refused naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/error.hpp"
#include "plot/plot.hpp"
#include "scratch_path.hpp"

namespace spicenn::plot {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

figure parabola() {
  figure f;
  f.title = "a_title with 'quotes'";
  f.x_label = "x (V)";
  f.y_label = "y";
  curve c{"x^2", {}, {}, style::lines}, d{"points", {0.0, 1.0, 2.0}, {1.0, 0.5, 0.25}, style::points};
  for (int i = -10; i <= 10; ++i) {
    c.x.push_back(0.1 * i);
    c.y.push_back(0.01 * i * i);
  }
  f.curves = {c, d};
  return f;
}

TEST(Plot, WritesPngAndSvgThatGnuplotDrew) {
  const auto dir = test::scratch_path("test_plot");
  fs::create_directories(dir);
  write(parabola(), dir / "f.png");
  const std::string png = read(dir / "f.png");
  ASSERT_GT(png.size(), 1000u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  write(parabola(), dir / "f.svg");
  const std::string svg = read(dir / "f.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("a_title with 'quotes'"), std::string::npos);  // not mangled by gnuplot's enhanced text
  // The data and the script stay beside the figure, one block per curve.
  const std::string data = read(dir / "f.svg.dat");
  EXPECT_NE(data.find("# curve 1: points"), std::string::npos);
  EXPECT_NE(read(dir / "f.svg.gp").find("index 1 using 1:2 with points"), std::string::npos);
  fs::remove_all(dir);
}

// A class map (a decision boundary) under coloured points.
TEST(Plot, DrawsAClassMapUnderItsCurves) {
  const auto dir = test::scratch_path("test_plot_map");
  fs::create_directories(dir);
  figure f;
  f.equal_axes = true;
  f.key_outside = true;
  class_map m;
  m.colors = {"#c6dbef", "#fdd0a2"};
  for (int i = 0; i < 20; ++i)
    for (int j = 0; j < 20; ++j) {
      m.x.push_back(0.05 * i);
      m.y.push_back(0.05 * j);
      m.k.push_back(i > j ? 1 : 0);
    }
  f.map = m;
  f.curves.push_back({"points", {0.2, 0.7}, {0.6, 0.1}, style::points, "#08519c"});
  write(f, dir / "map.png");
  EXPECT_EQ(read(dir / "map.png").substr(0, 4), std::string("\x89PNG", 4));
  const std::string script = read(dir / "map.png.gp");
  EXPECT_NE(script.find("index 0 using 1:2:3 with image notitle"), std::string::npos) << script;
  EXPECT_NE(script.find("index 1 using 1:2 with points pt 6 ps 0.8 lc rgb \"#08519c\""), std::string::npos) << script;
  EXPECT_NE(script.find("set palette defined (0 \"#c6dbef\", 1 \"#fdd0a2\")"), std::string::npos) << script;
  EXPECT_NE(script.find("set size ratio -1"), std::string::npos);
  auto bad = f;
  bad.map->k[3] = 2;
  EXPECT_THROW(write(bad, dir / "bad.png"), error);
  fs::remove_all(dir);
}

TEST(Plot, RefusesWhatItCannotDrawNamingTheFile) {
  auto expect_error = [](const figure& f, const std::string& file, const std::string& what) {
    try {
      write(f, fs::temp_directory_path() / file);
      FAIL() << "accepted " << file;
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_error(parabola(), "f.jpg", "must end in .png or .svg");
  auto uneven = parabola();
  uneven.curves[1].y.pop_back();
  expect_error(uneven, "f.png", "3 x values but 2 y values");
  expect_error(figure{}, "f.png", "no curves");
}

}  // namespace
}  // namespace spicenn::plot
