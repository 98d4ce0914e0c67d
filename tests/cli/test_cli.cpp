// The command line as a user runs it: exit status, output and error text of
// the spicenn program for each verb of the foundation.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct run_result {
  int status = -1;
  std::string output;  // stdout and stderr
};

run_result run(const std::string& args) {
  std::string command = std::string(SPICENN_CLI) + " " + args + " 2>&1";
  run_result r;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) r.output += buffer;
  int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("spicenn_test_cli_" + name); }

fs::path write(const std::string& name, const std::string& text) {
  auto p = temp(name);
  std::ofstream(p) << text;
  return p;
}

TEST(Cli, SimulatePrintsNodeVoltagesAsTextAndJson) {
  // Divider: v(out) = 10 * 3k / (1k + 3k) = 7.5 V.
  auto net = write("divider.cir", "divider\nV1 in 0 DC 10\nR1 in out 1k\nR2 out 0 3k\n.end\n");
  auto text = run("simulate " + net.string() + " --probe out");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("7.5"), std::string::npos) << text.output;
  auto json = run("simulate " + net.string() + " --json");
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(json.output.find(R"("analysis": "op")"), std::string::npos) << json.output;
  EXPECT_NE(json.output.find(R"("out": [7.5])"), std::string::npos) << json.output;
  EXPECT_NE(json.output.find(R"("in": [10])"), std::string::npos) << json.output;
}

TEST(Cli, SimulateDcSweepMatchesTheClosedForm) {
  auto net = write("sweep.cir", "sweep\nV1 in 0 DC 0\nR1 in out 1k\nR2 out 0 1k\n.end\n");
  auto r = run("simulate " + net.string() + " --analysis \"dc v1 0 2 1\" --probe out --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(R"("out": [0, 0.5, 1])"), std::string::npos) << r.output;
}

TEST(Cli, SimulateFailsWithNgspicesMessageAndTheLine) {
  auto net = write("bad.cir", "bad\nV1 in 0 DC 1\nD1 in 0 nosuchmodel\n.end\n");
  auto r = run("simulate " + net.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("nosuchmodel"), std::string::npos) << r.output;
  auto missing = run("simulate /nonexistent.cir");
  EXPECT_NE(missing.status, 0);
}

TEST(Cli, InitInfoAndCompileForEveryFamily) {
  auto mon = temp("mon.xml"), kan = temp("kan.xml"), kn = temp("kn.xml");
  ASSERT_EQ(run("init mon --inputs 3 --hidden 4 --outputs 2 --stages 2 --seed 5 -o " + mon.string()).status, 0);
  ASSERT_EQ(run("init kan --layers 4,3,2 --bases z15,zaz21 --seed 5 -o " + kan.string()).status, 0);
  ASSERT_EQ(run("init kirchhoffnet --inputs 2 --nodes 3 --outputs 2 --slices 2 --edge-function shift_tanh1 -o " + kn.string()).status,
            0);
  auto info = run("info " + mon.string());
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_NE(info.output.find("stage1.g_between"), std::string::npos) << info.output;
  // 3-4-2 with 2 stages: per stage 6 g_between pairs stored as 16, 4 g_ground, 2*4*fan_in h, 4 bias; readout 8 + 2.
  const int expected = (16 + 4 + 2 * 4 * 3 + 4) + (16 + 4 + 2 * 4 * 4 + 4) + 8 + 2;
  EXPECT_NE(info.output.find(std::to_string(expected) + " trainable values"), std::string::npos) << info.output;
  auto kan_info = run("info " + kan.string() + " --json");
  ASSERT_EQ(kan_info.status, 0) << kan_info.output;
  EXPECT_NE(kan_info.output.find(R"("family": "kan")"), std::string::npos) << kan_info.output;
  EXPECT_EQ(run("info " + kn.string()).status, 0);

  auto net = temp("mon.cir");
  auto compiled = run("compile " + mon.string() + " --input 0.1,0.2,0.3 -o " + net.string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  auto sim = run("simulate " + net.string() + " --probe out0 --probe out1");
  EXPECT_EQ(sim.status, 0) << sim.output;
  auto wrong = run("compile " + mon.string() + " --input 0.1");
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.output.find("3 inputs"), std::string::npos) << wrong.output;
}

TEST(Cli, RejectsBadModelFilesWithFileLineAndElement) {
  auto bad = write("bad.xml", "<?xml version=\"1.0\"?>\n<model format_version=\"1\" family=\"nosuch\">\n</model>\n");
  auto r = run("info " + bad.string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(bad.string() + ":2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nosuch"), std::string::npos) << r.output;
}

TEST(Cli, DevicesListsTheBuiltinLibrary) {
  auto r = run("devices --json");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* name : {"shockley_diode", "ideal_diode", "pwl_diode", "esaki", "rtd", "a21", "z21", "z15", "zaz21"})
    EXPECT_NE(r.output.find(std::string("\"") + name + "\""), std::string::npos) << name;
}

// set-diode swaps law and device; prune writes a model whose compiled
// netlist has no resistor above the threshold's resistance.
TEST(Cli, SetDiodeAndPruneRewriteAMonModel) {
  auto model = temp("sd_init.xml");
  ASSERT_EQ(run("init mon --inputs 6 --hidden 5 --outputs 2 --seed 4 -o " + model.string()).status, 0);
  auto exp = temp("sd_exp.xml");
  auto r = run("set-diode " + model.string() + " --diode ideal --device ideal_diode -o " + exp.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("device ideal_diode"), std::string::npos) << r.output;
  auto wrong = run("set-diode " + model.string() + " --diode shockley --device pwl_diode -o " + exp.string());
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.output.find("shockley_diode"), std::string::npos) << wrong.output;

  auto pruned = temp("sd_pruned.xml");
  r = run("prune " + model.string() + " --below 2e-5 -o " + pruned.string());  // 0.2 units: no resistor above 50 kohm
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("set to zero"), std::string::npos) << r.output;
  auto net = temp("sd_pruned.cir");
  r = run("compile " + pruned.string() + " -o " + net.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream in(net);
  std::size_t resistors = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != 'r' || line.rfind("rg", 0) == 0) continue;  // ground resistors are kept
    std::istringstream fields(line);
    std::string name, a, b;
    double ohms = 0;
    fields >> name >> a >> b >> ohms;
    EXPECT_LE(ohms, 5e4 * (1 + 1e-12)) << line;
    ++resistors;
  }
  EXPECT_GT(resistors, 0u);
}

TEST(Cli, FitDeviceWritesALibraryAndReportsTheError) {
  // A cubic is fitted exactly by degree 3: the reported max error must be tiny.
  std::string csv = "voltage,current\n";
  for (int i = 0; i <= 20; ++i) {
    double v = i * 0.05;
    csv += std::to_string(v) + "," + std::to_string(1e-3 * (v - 2 * v * v + v * v * v)) + "\n";
  }
  auto data = write("iv.csv", csv);
  auto lib = temp("fit.lib");
  auto r = run("fit-device " + data.string() + " --name cubic --degree 3 -o " + lib.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(lib));
  EXPECT_NE(r.output.find("max error"), std::string::npos);
  auto png = temp("fit.png");
  auto plotted = run("fit-device " + data.string() + " --name cubic --degree 3 -o " + lib.string() + " --plot " + png.string());
  ASSERT_EQ(plotted.status, 0) << plotted.output;
  std::ifstream png_file(png, std::ios::binary);
  char magic[8] = {};
  png_file.read(magic, 8);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG") << "not a PNG file";
  auto bad = run("fit-device " + data.string() + " --name Cubic --degree 3 -o " + lib.string());
  EXPECT_NE(bad.status, 0);
  auto neither = run("fit-device " + data.string() + " --name cubic -o " + lib.string());
  EXPECT_NE(neither.status, 0);
  EXPECT_NE(neither.output.find("--degree"), std::string::npos) << neither.output;
}

TEST(Cli, EveryVerbHasHelp) {
  for (const char* verb : {"simulate", "init", "info", "devices", "fit-device", "compile", "run", "grad", "verify", "train", "eval",
                           "set-diode", "prune"}) {
    auto r = run(std::string(verb) + " --help");
    EXPECT_EQ(r.status, 0) << verb;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << verb;
  }
}

}  // namespace
