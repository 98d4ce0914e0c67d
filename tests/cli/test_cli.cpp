// The command line as a user runs it: exit status, output and error text of
// the spicenn program for each verb of the foundation.
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include "scratch_path.hpp"

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

// The JSON document a verb printed with --json: the last output line that
// starts with '{' or '[' (the output also holds stderr's messages).
nlohmann::json json_in(const std::string& output) {
  std::string found;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && (line.front() == '{' || line.front() == '[')) found = line;
  return nlohmann::json::parse(found);
}

// One directory per process: several cases use the same file names.
fs::path temp(const std::string& name) {
  static const fs::path dir = [] {
    auto d = spicenn::test::scratch_path("cli");
    fs::create_directories(d);
    return d;
  }();
  return dir / name;
}

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
  const auto j = json_in(json.output);
  EXPECT_EQ(j.at("analysis"), "op") << json.output;
  EXPECT_EQ(j.at("vectors").at("out"), nlohmann::json::array({7.5})) << json.output;
  EXPECT_EQ(j.at("vectors").at("in"), nlohmann::json::array({10.0})) << json.output;
}

TEST(Cli, SimulateDcSweepMatchesTheClosedForm) {
  auto net = write("sweep.cir", "sweep\nV1 in 0 DC 0\nR1 in out 1k\nR2 out 0 1k\n.end\n");
  auto r = run("simulate " + net.string() + " --analysis \"dc v1 0 2 1\" --probe out --json");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(json_in(r.output).at("vectors").at("out"), nlohmann::json::array({0.0, 0.5, 1.0})) << r.output;
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
  EXPECT_EQ(json_in(kan_info.output).at("family"), "kan") << kan_info.output;
  EXPECT_EQ(run("info " + kn.string()).status, 0);

  auto net = temp("mon.cir");
  auto compiled = run("compile " + mon.string() + " --input 0.1,0.2,0.3 -o " + net.string());
  ASSERT_EQ(compiled.status, 0) << compiled.output;
  auto sim = run("simulate " + net.string() + " --probe out0 --probe out1");
  EXPECT_EQ(sim.status, 0) << sim.output;
  auto wrong = run("compile " + mon.string() + " --input 0.1");
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.output.find("3 inputs"), std::string::npos) << wrong.output;

  auto kn_net = temp("kn.cir");
  auto kn_compiled = run("compile " + kn.string() + " --input 0.3,-0.2 --precise -o " + kn_net.string());
  ASSERT_EQ(kn_compiled.status, 0) << kn_compiled.output;
  EXPECT_NE(kn_compiled.output.find("theta values"), std::string::npos) << kn_compiled.output;
  auto kn_sim = run("simulate " + kn_net.string() + " --analysis \"tran 5e-8 1e-5 0 1e-8 uic\" --probe out1");
  EXPECT_EQ(kn_sim.status, 0) << kn_sim.output;
  EXPECT_NE(kn_sim.output.find("out1"), std::string::npos) << kn_sim.output;
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

// set-diode takes a fitted library: a monotone one goes into the model with
// its own law (option diode = device, the default for a library), which
// verify then judges SPICE against in full; modelling it as ideal is
// refused, and so is a non-monotone one (an NDR curve), naming the device
// and the voltage where its slope turns negative. A SPICE library that
// fit-device did not write has no law to judge by: verify exits non-zero.
std::string read(const fs::path& p);

// spicenn activation draws the diode ReLU of a builtin device as a PNG and
// reports ngspice against the software law; a non-monotone library is refused.
TEST(Cli, ActivationDrawsTheDiodeReluOfADevice) {
  const auto png = temp("activation.png"), csv = temp("activation.csv");
  auto r = run("activation --device shockley_diode --points 21 -o " + png.string() + " --csv " + csv.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ngspice against the software law: largest |dv|"), std::string::npos) << r.output;
  EXPECT_EQ(read(png).substr(0, 4), std::string("\x89PNG", 4));
  const std::string table = read(csv);
  EXPECT_EQ(table.rfind("current_A,ideal_V,software_V,spice_V\n", 0), 0u) << table;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 22);
  // --json: one line, the same count of points as the CSV's rows.
  r = run("activation --device shockley_diode --points 21 --json -o " + png.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = json_in(r.output);
  EXPECT_EQ(j.at("points"), 21) << r.output;
  EXPECT_EQ(j.at("device"), "shockley_diode") << r.output;
  EXPECT_LT(j.at("deviation_volts").get<double>(), 1e-3) << r.output;
  r = run("activation --device z15 -o " + png.string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("z15"), std::string::npos) << r.output;
}

// spicenn plot draws training curves from metrics CSVs (a run without a
// validation set has training curves only) and names the file and line of
// a malformed row.
TEST(Cli, PlotDrawsTrainingCurvesFromMetricsFiles) {
  const std::string header = "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate,engine\n";
  const auto a = write("metrics-a.csv", header + "1,0.9,0.6,0.8,0.65,1.5,100,0.01,software\n2,0.5,0.8,0.6,0.75,1.5,100,0.01,software\n");
  const auto b = write("metrics-b.csv", header + "1,0.7,0.7,,,1.5,100,0.003,spice\n");
  const auto svg = temp("curves.svg");
  auto r = run("plot " + a.string() + " " + b.string() + " -o " + svg.string() + " --quantity loss");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("3 curves, 3 epochs"), std::string::npos) << r.output;
  const std::string text = read(svg);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("metrics-a validation"), std::string::npos);
  EXPECT_EQ(text.find("metrics-b validation"), std::string::npos);
  const auto bad = write("metrics-bad.csv", header + "1,0.9,0.6,0.8,0.65,1.5,100,0.01,software\n2,zero,0.8,0.6,0.75,1.5,100\n");
  r = run("plot " + bad.string() + " -o " + temp("bad.png").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(bad.string() + ":3"), std::string::npos) << r.output;
}

// The model file text with tensor `name`'s values v_k replaced by change(k, v_k).
template <class Change>
std::string with_tensor(std::string text, const std::string& name, Change change) {
  const auto tag = text.find("<tensor name=\"" + name + "\"");
  EXPECT_NE(tag, std::string::npos) << name;
  const auto at = text.find('>', tag) + 1;
  const auto end = text.find('<', at);
  std::istringstream values(text.substr(at, end - at));
  std::string changed;
  std::size_t k = 0;
  for (double v; values >> v; ++k) {
    std::ostringstream number;
    number.precision(17);
    number << change(k, v);
    changed += (changed.empty() ? "" : " ") + number.str();
  }
  return text.replace(at, end - at, changed);
}

// run --engine spice, train --engine spice and compile say when the circuit cannot realise the
// model (here: readout weights ~1e6, i.e. 0.01-ohm resistors); the software
// engine has nothing to warn about.
TEST(Cli, SpiceRunAndCompileWarnWhenTheCircuitCannotRealiseTheModel) {
  auto model = temp("realise.xml");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 5 --outputs 2 --seed 3 -o " + model.string()).status, 0);
  const auto big = write("realise-big.xml", with_tensor(read(model), "readout.weight", [](std::size_t, double v) { return v * 1e6; }));
  auto r = run("run " + big.string() + " --input 0.3,-0.7 --engine spice");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("spicenn: warning: readout.weight["), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("below 1 ohm"), std::string::npos) << r.output;
  r = run("compile " + big.string() + " -o " + temp("realise.cir").string());
  EXPECT_NE(r.output.find("spicenn: warning: readout.weight["), std::string::npos) << r.output;
  r = run("train " + big.string() + " --data moons --engine spice --epochs 1 --limit 40 --validation 8 --batch 16 --no-test --fresh"
          " --progress off --out " + temp("realise-trained.xml").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("spicenn: warning: readout.weight["), std::string::npos) << r.output;
  r = run("run " + big.string() + " --input 0.3,-0.7 --engine software");
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  r = run("run " + model.string() + " --input 0.3,-0.7 --engine spice");
  EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
}

// compile warns for the other families too: a KAN crossbar coefficient of
// 1e6 (a 0.01-ohm resistor), a KirchhoffNet capacitance of 1e-7 (1e-16 F);
// the models as `init` writes them compile without a warning.
TEST(Cli, CompileWarnsWhenAKanOrKirchhoffNetCircuitCannotRealiseTheModel) {
  auto kan = temp("realise-kan.xml"), kn = temp("realise-kn.xml");
  ASSERT_EQ(run("init kan --layers 3,4,2 --bases z15,zaz21 --seed 5 -o " + kan.string()).status, 0);
  ASSERT_EQ(run("init kirchhoffnet --inputs 2 --nodes 3 --outputs 2 --slices 2 --edge-function shift_tanh1 -o " + kn.string()).status,
            0);
  for (const auto& model : {kan, kn}) {
    auto r = run("compile " + model.string() + " -o " + temp("realise-clean.cir").string());
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("warning"), std::string::npos) << r.output;
  }
  // layer1.coef has shape [4 2 2]: value 5 is [1, 0, 1].
  const auto big = write("realise-kan-big.xml", with_tensor(read(kan), "layer1.coef", [](std::size_t k, double v) { return k == 5 ? 1e6 : v; }));
  auto r = run("compile " + big.string() + " -o " + temp("realise-kan.cir").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("spicenn: warning: layer1.coef[1, 0, 1]: resistor 0.01 ohm"), std::string::npos) << r.output;
  const auto small = write("realise-kn-small.xml", with_tensor(read(kn), "capacitance", [](std::size_t k, double v) { return k == 1 ? 1e-7 : v; }));
  r = run("compile " + small.string() + " -o " + temp("realise-kn.cir").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("spicenn: warning: capacitance[1]: capacitor 1e-16 F"), std::string::npos) << r.output;
  r = run("compile " + small.string());  // the netlist on stdout, the warning still on stderr
  EXPECT_NE(r.output.find("spicenn: warning: capacitance[1]:"), std::string::npos) << r.output;
}

// --json on fit-device and train: the fields agree with the fit's own text
// output and with the metrics CSV the same run wrote.
TEST(Cli, FitDeviceAndTrainReportAsJson) {
  std::string csv = "voltage,current\n";
  for (int i = 0; i <= 40; ++i) {
    const double v = 0.025 * i;
    csv += std::to_string(v) + "," + std::to_string(1e-3 * (v - 2 * v * v + v * v * v)) + "\n";
  }
  const auto data = write("json-iv.csv", csv);
  auto r = run("fit-device " + data.string() + " --name cubic --degree 3 --json -o " + temp("json-fit.lib").string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto fit = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_EQ(fit.at("name"), "cubic");
  EXPECT_EQ(fit.at("points"), 41);
  EXPECT_EQ(fit.at("window_volts"), nlohmann::json::array({0.0, 1.0}));
  EXPECT_LT(fit.at("max_error_A").get<double>(), 1e-6);  // a cubic by degree 3; to_string rounds the data to 1e-6 A

  auto model = temp("json-mon.xml"), out = temp("json-trained.xml"), metrics = temp("json-metrics.csv");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 8 --outputs 2 --input-scale 3 --seed 2 -o " + model.string()).status, 0);
  r = run("train " + model.string() + " --data moons --epochs 2 --batch 32 --lr 0.02 --validation 200 --fresh --progress off --json" +
          " --out " + out.string() + " --metrics " + metrics.string());
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output.substr(r.output.find("{\"model\"")));
  EXPECT_EQ(j.at("epochs"), 2);
  EXPECT_EQ(j.at("engine"), "software");
  EXPECT_TRUE(j.at("test_accuracy").is_number());
  // The selected epoch's validation accuracy is the one in the metrics CSV.
  std::istringstream rows(read(metrics));
  std::string line;
  std::getline(rows, line);
  double best = -1;
  while (std::getline(rows, line)) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    if (std::stoull(f[0]) == j.at("selected_epoch").get<std::uint64_t>()) best = std::stod(f[4]);
  }
  EXPECT_DOUBLE_EQ(j.at("validation_accuracy").get<double>(), best);
}

// spicenn plot draws a decision boundary from predict CSVs (the accuracy
// in the title computed from the points), a trajectory CSV, and any CSV's
// columns; an unknown CSV is refused naming the file.
TEST(Cli, PlotDrawsBoundariesTrajectoriesAndColumns) {
  auto mon = temp("plot-mon.xml"), grid = temp("plot-grid.csv"), pts = temp("plot-test.csv");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 8 --outputs 2 --seed 2 -o " + mon.string()).status, 0);
  ASSERT_EQ(run("predict " + mon.string() + " --grid -2,2,-2,2,20 --progress off -o " + grid.string()).status, 0);
  ASSERT_EQ(run("predict " + mon.string() + " --data moons --limit 50 --progress off -o " + pts.string()).status, 0);
  std::size_t correct = 0, total = 0;
  {
    std::istringstream rows(read(pts));
    std::string line;
    std::getline(rows, line);  // x0,x1,label,predicted,...
    while (std::getline(rows, line)) {
      std::vector<std::string> f;
      std::stringstream fields(line);
      for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
      correct += f[2] == f[3];
      ++total;
    }
  }
  auto r = run("plot " + grid.string() + " --points " + pts.string() + " -o " + temp("plot-boundary.svg").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("400 grid points, 50 points"), std::string::npos) << r.output;
  char accuracy[32];
  std::snprintf(accuracy, sizeof accuracy, "accuracy %.2f %%", 100.0 * static_cast<double>(correct) / static_cast<double>(total));
  EXPECT_NE(r.output.find(accuracy), std::string::npos) << r.output << " expected " << accuracy;

  auto kn = temp("plot-kn.xml"), traj = temp("plot-traj.csv");
  ASSERT_EQ(run("init kirchhoffnet --inputs 2 --nodes 4 --outputs 2 --slices 1 --edge-function shift_tanh2 -o " + kn.string()).status, 0);
  ASSERT_EQ(run("trajectory " + kn.string() + " --input 0.5,-0.25 -o " + traj.string()).status, 0);
  r = run("plot " + traj.string() + " -o " + temp("plot-traj.png").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 nodes"), std::string::npos) << r.output;

  const auto cols = write("plot-cols.csv", "sigma,a,b\n0,0.9,0.8\n0.1,0.85,0.7\n");
  r = run("plot " + cols.string() + " --x sigma --y a,b --y-scale 100 --style points -o " + temp("plot-cols.png").string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("2 curves, 4 points"), std::string::npos) << r.output;
  r = run("plot " + cols.string() + " -o " + temp("plot-unknown.png").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(cols.string() + ":1"), std::string::npos) << r.output;
}

TEST(Cli, SetDiodeTakesAMonotoneLibraryAndRefusesAnNdrOne) {
  std::string soft = "voltage,current\n", ndr = "voltage,current\n";
  for (int i = 0; i <= 60; ++i) {
    const double v = -0.5 + 0.025 * i;
    char row[64];
    std::snprintf(row, sizeof row, "%.6g,%.9g\n", v, 5e-5 * std::log1p(std::exp(v / 0.05)));
    soft += row;
  }
  for (int i = 0; i <= 50; ++i) {  // rises to a peak at 0.1 V, then falls
    const double v = 0.01 * i;
    char row[64];
    std::snprintf(row, sizeof row, "%.6g,%.9g\n", v, 1e-2 * v * std::exp(-v / 0.1));
    ndr += row;
  }
  auto soft_lib = temp("soft_diode.lib"), ndr_lib = temp("ndr_diode.lib");
  ASSERT_EQ(run("fit-device " + write("soft.csv", soft).string() + " --name soft_diode --spline -o " + soft_lib.string()).status, 0);
  ASSERT_EQ(run("fit-device " + write("ndr.csv", ndr).string() + " --name ndr_diode --spline -o " + ndr_lib.string()).status, 0);
  auto mon = temp("setdiode_mon.xml"), with_soft = temp("setdiode_soft.xml"), with_ndr = temp("setdiode_ndr.xml");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 5 --outputs 2 -o " + mon.string()).status, 0);
  auto r = run("set-diode " + mon.string() + " --device " + soft_lib.string() + " -o " + with_soft.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("diode device"), std::string::npos) << r.output;
  const auto info = run("info " + with_soft.string()).output;
  EXPECT_NE(info.find("soft_diode"), std::string::npos) << info;
  r = run("verify " + with_soft.string() + " --samples 2");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("NOT VERIFIED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("software, soft_diode law"), std::string::npos) << r.output;

  r = run("set-diode " + mon.string() + " --diode ideal --device " + soft_lib.string() + " -o " + temp("x.xml").string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("set option diode = device"), std::string::npos) << r.output;

  r = run("set-diode " + mon.string() + " --device " + ndr_lib.string() + " -o " + with_ndr.string());
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("'ndr_diode'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not monotone: its slope dI/dV turns negative at 0.1"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(with_ndr));

  // A vendor's library, named in the model file by hand.
  auto vendor = write("vendor_diode.lib", ".subckt vendor_diode a c\nd1 a c dv\n.model dv d(is=1e-12 n=1.5)\n.ends vendor_diode\n");
  std::string text = read(mon);
  const std::string builtin = "<device role=\"diode\" name=\"pwl_diode\" />";
  ASSERT_NE(text.find(builtin), std::string::npos) << text;
  text.replace(text.find(builtin), builtin.size(),
               "<device role=\"diode\" name=\"vendor_diode\" library=\"" + vendor.string() + "\" />");
  const auto with_vendor = write("setdiode_vendor.xml", text);
  r = run("verify " + with_vendor.string() + " --samples 2");
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("NOT VERIFIED"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nothing could be checked"), std::string::npos) << r.output;
}

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// train holds out a validation split, selects the best-validation epoch,
// tests it once; eval --split validation sees the same held-out samples.
TEST(Cli, TrainSelectsOnTheValidationSplitAndTestsOnce) {
  auto init = temp("val_init.xml"), out = temp("val_out.xml"), metrics = temp("val_metrics.csv");
  fs::remove_all(out.string() + ".checkpoint");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 8 --outputs 2 --seed 3 -o " + init.string()).status, 0);
  auto r = run("train " + init.string() + " --data moons --epochs 5 --lr 0.05 --validation 300 --test-limit 500 --progress lines"
               " --metrics " + metrics.string() + " --out " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("1700 samples, validation 300 held out, test 500 once at the end"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("val loss"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("test loss"), std::string::npos) << r.output;
  const auto once = r.output.find("test (evaluated once");
  ASSERT_NE(once, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("test (evaluated once", once + 1), std::string::npos) << r.output;
  // The metrics: validation columns per epoch; the test in METRICS.test.json.
  std::istringstream csv(read(metrics));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate,engine");
  std::vector<double> val_accuracy;
  while (std::getline(csv, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string f; std::getline(row, f, ',');) fields.push_back(f);
    ASSERT_EQ(fields.size(), 9u) << line;
    val_accuracy.push_back(std::stod(fields[4]));
  }
  ASSERT_EQ(val_accuracy.size(), 5u);
  const auto json = nlohmann::json::parse(read(temp("val_metrics.test.json")));
  EXPECT_EQ(json.at("split"), "test") << json;
  EXPECT_EQ(json.at("samples"), 500) << json;
  const int epoch = json.at("selected_epoch");
  ASSERT_GE(epoch, 1);
  ASSERT_LE(epoch, 5);
  // The selected epoch has the highest validation accuracy of the CSV.
  EXPECT_EQ(val_accuracy[static_cast<std::size_t>(epoch - 1)], *std::max_element(val_accuracy.begin(), val_accuracy.end()));
  const std::string model = read(out);
  EXPECT_NE(model.find("selected the model of epoch " + std::to_string(epoch) + " of 5"), std::string::npos);
  EXPECT_NE(model.find("--validation 300"), std::string::npos);
  // eval --split validation: the same 300 samples, the same accuracy as the CSV row.
  auto e = run("eval " + out.string() + " --data moons --split validation --validation 300 --json");
  ASSERT_EQ(e.status, 0) << e.output;
  const auto ej = json_in(e.output);
  EXPECT_EQ(ej.at("samples"), 300) << e.output;
  EXPECT_DOUBLE_EQ(ej.at("accuracy").get<double>(), val_accuracy[static_cast<std::size_t>(epoch - 1)]) << e.output;
  // The default validation split of the toy sets: 200 samples.
  auto d = run("eval " + out.string() + " --data moons --split validation --json");
  EXPECT_EQ(json_in(d.output).at("samples"), 200) << d.output;
}

TEST(Cli, TrainRejectsBadValidationPatienceAndPoolOptions) {
  auto init = temp("valbad_init.xml"), out = temp("valbad_out.xml");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 4 --outputs 2 -o " + init.string()).status, 0);
  const std::string base = "train " + init.string() + " --data moons --epochs 1 --fresh --out " + out.string();
  auto all = run(base + " --limit 100 --validation 100");
  EXPECT_NE(all.status, 0);
  EXPECT_NE(all.output.find("validation split of 100 samples leaves nothing to train on"), std::string::npos) << all.output;
  auto patience = run(base + " --validation 0 --patience 2");
  EXPECT_NE(patience.status, 0);
  EXPECT_NE(patience.output.find("--patience 2 needs a validation set"), std::string::npos) << patience.output;
  auto pool = run(base + " --pool 2");
  EXPECT_NE(pool.status, 0);
  EXPECT_NE(pool.output.find("mnist and fashion-mnist only"), std::string::npos) << pool.output;
  // --validation 0: no per-epoch evaluation, the last epoch's model.
  auto none = run(base + " --validation 0 --no-test --progress lines");
  ASSERT_EQ(none.status, 0) << none.output;
  EXPECT_NE(none.output.find("(2000 samples, validation 0 held out)"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find("last epoch, no validation set"), std::string::npos) << none.output;
  EXPECT_EQ(none.output.find("test (evaluated once"), std::string::npos) << none.output;
}

// MNIST with 2x2 pooling: 196 inputs for train, eval and the compile sweep deck.
TEST(Cli, PoolingGivesFourteenByFourteenInputs) {
  const char* dir = std::getenv("SPICENN_DATA_DIR");
  const fs::path data = dir && *dir ? fs::path(dir) : fs::path(std::getenv("HOME")) / ".cache" / "spicenn";
  if (!fs::exists(data / "mnist" / "t10k-images-idx3-ubyte")) GTEST_SKIP() << "run scripts/fetch-data.sh";
  auto init = temp("pool_init.xml"), out = temp("pool_out.xml"), deck = temp("pool_sweep.cir");
  ASSERT_EQ(run("init mon --inputs 196 --hidden 8 --outputs 10 --seed 2 -o " + init.string()).status, 0);
  auto t = run("train " + init.string() + " --data mnist --pool 2 --limit 400 --epochs 1 --test-limit 100 --fresh --progress off"
               " --out " + out.string());
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("mnist 2x2-pooled (360 samples, validation 40 held out, test 100"), std::string::npos) << t.output;
  EXPECT_NE(read(out).find("2x2 average pooling (14x14 features)"), std::string::npos);
  auto e = run("eval " + out.string() + " --data mnist --pool 2 --limit 50 --json");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_EQ(json_in(e.output).at("samples"), 50) << e.output;
  auto wrong = run("eval " + out.string() + " --data mnist --limit 50");
  EXPECT_NE(wrong.status, 0);
  EXPECT_NE(wrong.output.find("784 features"), std::string::npos) << wrong.output;
  auto bad = run("eval " + out.string() + " --data mnist --pool 3");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("pool size 3"), std::string::npos) << bad.output;
  auto c = run("compile " + out.string() + " --data mnist --pool 2 --limit 3 -o " + deck.string());
  ASSERT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("3 mnist test samples"), std::string::npos) << c.output;
}

// MNIST resized as torchvision's Resize (--resize 14): 196 inputs for train,
// eval and the compile sweep deck; --pool and --resize exclude each other.
TEST(Cli, ResizeGivesFourteenByFourteenInputs) {
  const char* dir = std::getenv("SPICENN_DATA_DIR");
  const fs::path data = dir && *dir ? fs::path(dir) : fs::path(std::getenv("HOME")) / ".cache" / "spicenn";
  if (!fs::exists(data / "mnist" / "t10k-images-idx3-ubyte")) GTEST_SKIP() << "run scripts/fetch-data.sh";
  auto init = temp("resize_init.xml"), out = temp("resize_out.xml"), deck = temp("resize_sweep.cir");
  ASSERT_EQ(run("init mon --inputs 196 --hidden 8 --outputs 10 --seed 2 -o " + init.string()).status, 0);
  auto t = run("train " + init.string() + " --data mnist --resize 14 --limit 400 --epochs 1 --test-limit 100 --fresh "
               "--progress off --out " + out.string());
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_NE(t.output.find("mnist resized to 14x14 (360 samples"), std::string::npos) << t.output;
  EXPECT_NE(read(out).find("resized to 14x14 (bilinear"), std::string::npos);
  EXPECT_NE(read(out).find("--resize 14"), std::string::npos);
  auto e = run("eval " + out.string() + " --data mnist --resize 14 --limit 50 --json");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_EQ(json_in(e.output).at("samples"), 50) << e.output;
  auto both = run("eval " + out.string() + " --data mnist --resize 14 --pool 2 --limit 50");
  EXPECT_NE(both.status, 0);
  EXPECT_NE(both.output.find("exclude each other"), std::string::npos) << both.output;
  auto toy = run("eval " + out.string() + " --data moons --resize 14");
  EXPECT_NE(toy.status, 0);
  EXPECT_NE(toy.output.find("no image to resize"), std::string::npos) << toy.output;
  auto c = run("compile " + out.string() + " --data mnist --resize 14 --limit 3 -o " + deck.string());
  ASSERT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("3 mnist test samples"), std::string::npos) << c.output;
}

// CSV rows of `spicenn predict`: header fields, then one vector of fields per row.
std::vector<std::vector<std::string>> read_csv(const fs::path& p, std::string* header) {
  std::istringstream in(read(p));
  std::string line;
  std::getline(in, *header);
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream row(line);
    for (std::string f; std::getline(row, f, ',');) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

std::size_t json_count(const std::string& output, const std::string& key) { return json_in(output).at(key).get<std::size_t>(); }

// predict on a data set: the rows' predicted classes agree with the outputs
// (argmax) and their count of correct ones with `eval` on the same samples,
// for both engines; predict on a grid: N x N rows, x0 fastest, the corners
// given, and the outputs of a grid point those of `run` at that input.
TEST(Cli, PredictWritesPerSampleClassesAndGrids) {
  auto init = temp("pred_init.xml"), model = temp("pred_model.xml");
  fs::remove_all(model.string() + ".checkpoint");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 8 --outputs 2 --seed 3 -o " + init.string()).status, 0);
  auto t = run("train " + init.string() + " --data moons --epochs 2 --lr 0.05 --limit 400 --no-test --fresh --progress off"
               " --threads 1 --out " + model.string());
  ASSERT_EQ(t.status, 0) << t.output;
  for (const char* engine : {"software", "spice"}) {
    auto csv = temp(std::string("pred_") + engine + ".csv");
    auto p = run("predict " + model.string() + " --data moons --limit 300 --batch 70 --threads 1 --engine " + engine +
                 " -o " + csv.string());
    ASSERT_EQ(p.status, 0) << p.output;
    std::string header;
    const auto rows = read_csv(csv, &header);
    EXPECT_EQ(header, "x0,x1,label,predicted,y0,y1");
    ASSERT_EQ(rows.size(), 300u);
    std::size_t correct = 0, ones = 0;
    for (const auto& r : rows) {
      ASSERT_EQ(r.size(), 6u);
      const int predicted = std::stoi(r[3]);
      EXPECT_EQ(predicted, std::stod(r[5]) > std::stod(r[4]) ? 1 : 0);
      correct += r[2] == r[3];
      ones += predicted == 1;
    }
    EXPECT_GT(ones, 0u);  // not a constant classifier
    EXPECT_LT(ones, 300u);
    auto e = run("eval " + model.string() + " --data moons --limit 300 --threads 1 --json --progress off --engine " + engine);
    ASSERT_EQ(e.status, 0) << e.output;
    EXPECT_EQ(correct, json_count(e.output, "correct")) << engine << ": " << e.output;
  }
  // The training split: the first rows are the first training samples (label i % 2).
  auto train_csv = temp("pred_train.csv");
  ASSERT_EQ(run("predict " + model.string() + " --data moons --split train --limit 4 -o " + train_csv.string()).status, 0);
  std::string header;
  auto rows = read_csv(train_csv, &header);
  ASSERT_EQ(rows.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rows[i][2], std::to_string(i % 2));

  auto grid = temp("pred_grid.csv");
  auto g = run("predict " + model.string() + " --grid -1,2,-0.5,1.5,5 --batch 7 -o " + grid.string());
  ASSERT_EQ(g.status, 0) << g.output;
  rows = read_csv(grid, &header);
  EXPECT_EQ(header, "x0,x1,predicted,y0,y1");
  ASSERT_EQ(rows.size(), 25u);
  const auto at = [&](std::size_t i) { return std::make_pair(std::stod(rows[i][0]), std::stod(rows[i][1])); };
  EXPECT_EQ(at(0), std::make_pair(-1.0, -0.5));
  EXPECT_EQ(at(1), std::make_pair(-0.25, -0.5));
  EXPECT_EQ(at(4), std::make_pair(2.0, -0.5));
  EXPECT_EQ(at(5), std::make_pair(-1.0, 0.0));
  EXPECT_EQ(at(20), std::make_pair(-1.0, 1.5));
  EXPECT_EQ(at(24), std::make_pair(2.0, 1.5));
  auto one = run("run " + model.string() + " --input 2,0 --json");
  ASSERT_EQ(one.status, 0) << one.output;
  const auto outputs = json_in(one.output).at("outputs");
  EXPECT_NEAR(outputs.at(0).get<double>(), std::stod(rows[9][3]), 1e-9) << one.output;  // row 9: x0 = 2, x1 = 0
  EXPECT_NEAR(outputs.at(1).get<double>(), std::stod(rows[9][4]), 1e-9) << one.output;

  // Errors: a grid for a model with 3 inputs; neither or both of --data and --grid.
  auto three = temp("pred_three.xml");
  ASSERT_EQ(run("init mon --inputs 3 --hidden 4 --outputs 2 -o " + three.string()).status, 0);
  auto bad = run("predict " + three.string() + " --grid 0,1,0,1,4 -o " + grid.string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("needs a model with 2 inputs"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("has 3"), std::string::npos) << bad.output;
  auto neither = run("predict " + model.string() + " -o " + grid.string());
  EXPECT_NE(neither.status, 0);
  EXPECT_NE(neither.output.find("--data NAME or --grid"), std::string::npos) << neither.output;
  EXPECT_NE(run("predict " + model.string() + " --data moons --grid 0,1,0,1,4 -o " + grid.string()).status, 0);
  auto small = run("predict " + model.string() + " --grid 0,1,0,1,1 -o " + grid.string());
  EXPECT_NE(small.status, 0);
  EXPECT_NE(small.output.find("from 2 to 10000"), std::string::npos) << small.output;
}

// A verb's stdout and stderr apart (run() mixes them): --json prints its
// document alone on stdout, the human messages stay on stderr.
struct split_result {
  int status = -1;
  std::string out, err;
};

split_result run_split(const std::string& args) {
  static int calls = 0;
  const auto err = temp("stderr_" + std::to_string(++calls) + ".txt");
  const std::string command = std::string(SPICENN_CLI) + " " + args + " 2>" + err.string();
  split_result r;
  FILE* pipe = popen(command.c_str(), "r");
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) r.out += buffer;
  const int raw = pclose(pipe);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.err = read(err);
  return r;
}

// The one JSON line on stdout, nothing else; its keys in order.
nlohmann::json stdout_json(const split_result& r) {
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << "stdout: " << r.out;
  EXPECT_TRUE(!r.out.empty() && r.out.front() == '{') << "stdout: " << r.out;
  return nlohmann::json::parse(r.out);
}
std::vector<std::string> keys(const split_result& r) {
  std::vector<std::string> k;
  const auto j = nlohmann::ordered_json::parse(r.out);
  for (const auto& [key, value] : j.items()) k.push_back(key);
  return k;
}
using names = std::vector<std::string>;

// --json on init, set-diode, prune and perturb: an object naming what was
// written, with figures that agree with `info` of the written file and with
// the verb's own message on stderr.
TEST(Cli, ModelWritingVerbsReportAsJson) {
  const auto mon = temp("jw_mon.xml"), kan = temp("jw_kan.xml"), kn = temp("jw_kn.xml");
  struct family_case {
    std::string args;
    fs::path file;
    const char* family;
    std::uint64_t seed;
  };
  for (const auto& c : {family_case{"mon --inputs 6 --hidden 5 --outputs 2 --seed 4", mon, "mon", 4},
                        family_case{"kan --layers 2,4,2 --bases z15,zaz21 --seed 7", kan, "kan", 7},
                        family_case{"kirchhoffnet --inputs 2 --nodes 4 --outputs 2 --seed 9", kn, "kirchhoffnet", 9}}) {
    const auto r = run_split("init " + c.args + " --json -o " + c.file.string());
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = stdout_json(r);
    EXPECT_EQ(keys(r), (names{"output", "family", "trainable_values", "seed"})) << j;
    EXPECT_EQ(j.at("output"), c.file.string());
    EXPECT_EQ(j.at("family"), c.family);
    EXPECT_EQ(j.at("seed"), c.seed);
    EXPECT_NE(r.err.find("spicenn: wrote " + c.file.string()), std::string::npos) << r.err;  // still on stderr
    const auto info = run_split("info " + c.file.string() + " --json");
    ASSERT_EQ(info.status, 0) << info.err;
    const auto i = stdout_json(info);
    EXPECT_EQ(i.at("family"), j.at("family"));
    EXPECT_EQ(i.at("trainable_parameters"), j.at("trainable_values"));
    EXPECT_GT(j.at("trainable_values").get<std::size_t>(), 0u);
    EXPECT_NE(run("info " + c.file.string()).output.find("seed    " + std::to_string(c.seed) + "\n"), std::string::npos);
  }

  // set-diode: law and device as the written model has them.
  const auto exp = temp("jw_exp.xml");
  auto r = run_split("set-diode " + mon.string() + " --diode ideal --device ideal_diode --json -o " + exp.string());
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "diode", "device", "library"})) << j;
  EXPECT_EQ(j.at("model"), mon.string());
  EXPECT_EQ(j.at("output"), exp.string());
  EXPECT_TRUE(j.at("library").is_null()) << j;
  auto info = stdout_json(run_split("info " + exp.string() + " --json"));
  EXPECT_EQ(info.at("options").at("diode"), j.at("diode"));
  EXPECT_EQ(info.at("devices").at("diode"), j.at("device"));
  EXPECT_EQ(j.at("device"), "ideal_diode");
  r = run_split("set-diode " + mon.string() + " --diode shockley --json -o " + exp.string());  // the default device
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  info = stdout_json(run_split("info " + exp.string() + " --json"));
  EXPECT_EQ(info.at("options").at("diode"), "shockley");
  EXPECT_EQ(info.at("devices").at("diode"), j.at("device"));
  EXPECT_EQ(j.at("device"), "shockley_diode");
  // A fitted library: the law is its own curve; library names the file.
  std::string soft = "voltage,current\n";
  for (int i = 0; i <= 60; ++i) {
    const double v = -0.5 + 0.025 * i;
    char row[64];
    std::snprintf(row, sizeof row, "%.6g,%.9g\n", v, 5e-5 * std::log1p(std::exp(v / 0.05)));
    soft += row;
  }
  const auto lib = temp("jw_soft.lib");
  ASSERT_EQ(run("fit-device " + write("jw_soft.csv", soft).string() + " --name jw_soft --spline -o " + lib.string()).status, 0);
  r = run_split("set-diode " + mon.string() + " --device " + lib.string() + " --json -o " + exp.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  info = stdout_json(run_split("info " + exp.string() + " --json"));
  EXPECT_EQ(j.at("diode"), "device");
  EXPECT_EQ(info.at("options").at("diode"), j.at("diode"));
  EXPECT_EQ(info.at("devices").at("diode"), j.at("device"));
  EXPECT_EQ(j.at("device"), "jw_soft");
  ASSERT_TRUE(j.at("library").is_string()) << j;
  EXPECT_TRUE(fs::equivalent(j.at("library").get<std::string>(), lib)) << j;

  // prune: the counts of the message on stderr; the compiled pruned model
  // has no resistor above 1 / --below.
  const auto pruned = temp("jw_pruned.xml");
  r = run_split("prune " + mon.string() + " --below 2e-5 --json -o " + pruned.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "below_siemens", "threshold", "removed", "kept", "pairs_merged"})) << j;
  EXPECT_EQ(j.at("output"), pruned.string());
  EXPECT_DOUBLE_EQ(j.at("below_siemens").get<double>(), 2e-5);
  std::size_t removed = 0, kept = 0, merged = 0;
  double threshold = 0;
  const auto message = r.err.find("spicenn: wrote " + pruned.string() + ": ");
  ASSERT_NE(message, std::string::npos) << r.err;
  ASSERT_EQ(std::sscanf(r.err.c_str() + message + pruned.string().size() + 17,
                        "%zu conductances below %*s S (%lf units) set to zero, %zu kept; %zu input pairs merged", &removed,
                        &threshold, &kept, &merged),
            4)
      << r.err;
  EXPECT_EQ(j.at("removed"), removed);
  EXPECT_EQ(j.at("kept"), kept);
  EXPECT_EQ(j.at("pairs_merged"), merged);
  EXPECT_NEAR(j.at("threshold").get<double>(), threshold, 1e-5 * threshold);  // the message has 6 digits
  EXPECT_GT(removed, 0u);
  EXPECT_GT(kept, 0u);
  const auto net = stdout_json(run_split("compile " + pruned.string() + " --json -o " + temp("jw_pruned.cir").string()));
  EXPECT_LE(net.at("resistors").at("max_ohms").get<double>(), 5e4 * (1 + 1e-12)) << net;

  // perturb: sigma and seed as the written model's provenance records them;
  // a KAN's prune has no input pairs to merge.
  const auto chip = temp("jw_chip.xml");
  r = run_split("perturb " + kan.string() + " --sigma 0.05 --seed 3 --json -o " + chip.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "sigma", "seed"})) << j;
  EXPECT_EQ(j.at("model"), kan.string());
  EXPECT_EQ(j.at("output"), chip.string());
  EXPECT_EQ(j.at("sigma"), 0.05);
  EXPECT_EQ(j.at("seed"), 3);
  EXPECT_NE(read(chip).find("conductance mismatch sigma 0.05 (seed 3)"), std::string::npos);
  info = stdout_json(run_split("info " + chip.string() + " --json"));
  EXPECT_NE(info.at("parameters").dump().find("\"layer0.coef_mismatch\""), std::string::npos) << info;
  r = run_split("prune " + chip.string() + " --below 5e-6 --json -o " + temp("jw_chip_pruned.xml").string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_TRUE(j.at("pairs_merged").is_null()) << j;
  EXPECT_NE(r.err.find(std::to_string(j.at("removed").get<std::size_t>()) + " conductances below"), std::string::npos) << r.err;
}

// The resistor values of a netlist: the fourth field of every r-element line.
std::vector<double> netlist_resistors(const fs::path& netlist) {
  std::vector<double> ohms;
  std::istringstream in(read(netlist));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != 'r') continue;
    std::istringstream fields(line);
    std::string name, a, b, value;
    fields >> name >> a >> b >> value;
    ohms.push_back(std::stod(value));
  }
  return ohms;
}

// compile --json: the resistor figures agree with the written netlist, the
// other figures with the summary on stderr; the netlist on stdout and JSON
// exclude each other.
TEST(Cli, CompileReportsAsJson) {
  const auto mon = temp("jc_mon.xml"), kan = temp("jc_kan.xml"), kn = temp("jc_kn.xml");
  ASSERT_EQ(run("init mon --inputs 3 --hidden 4 --outputs 2 --stages 2 --seed 5 -o " + mon.string()).status, 0);
  ASSERT_EQ(run("init kan --layers 2,4,2 --bases z15,zaz21 --seed 3 -o " + kan.string()).status, 0);
  ASSERT_EQ(run("init kirchhoffnet --inputs 2 --nodes 3 --outputs 2 --slices 2 --edge-function shift_tanh1 -o " + kn.string()).status,
            0);

  const auto mon_net = temp("jc_mon.cir");
  auto r = run_split("compile " + mon.string() + " --input 0.1,0.2,0.3 --json -o " + mon_net.string());
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "family", "elements", "outputs", "hidden_nodes", "resistors"})) << j;
  EXPECT_EQ(j.at("model"), mon.string());
  EXPECT_EQ(j.at("output"), mon_net.string());
  EXPECT_EQ(j.at("family"), "mon");
  EXPECT_EQ(j.at("outputs"), nlohmann::json::array({"out0", "out1"}));
  ASSERT_EQ(j.at("hidden_nodes").size(), 2u);  // stages
  EXPECT_EQ(j.at("hidden_nodes").at(1).size(), 4u);
  const auto ohms = netlist_resistors(mon_net);
  ASSERT_FALSE(ohms.empty());
  const auto& res = j.at("resistors");
  EXPECT_EQ(res.at("count"), ohms.size()) << res;
  EXPECT_EQ(res.at("min_ohms"), *std::min_element(ohms.begin(), ohms.end())) << res;
  EXPECT_EQ(res.at("max_ohms"), *std::max_element(ohms.begin(), ohms.end())) << res;
  EXPECT_EQ(res.at("below_1k"), std::count_if(ohms.begin(), ohms.end(), [](double o) { return o < 1e3; })) << res;
  EXPECT_EQ(res.at("above_1meg"), std::count_if(ohms.begin(), ohms.end(), [](double o) { return o > 1e6; })) << res;
  EXPECT_NE(r.err.find("spicenn: wrote " + mon_net.string() + " (" + std::to_string(j.at("elements").get<std::size_t>()) +
                       " elements; outputs out0,out1"),
            std::string::npos)
      << r.err;

  const auto kan_net = temp("jc_kan.cir");
  r = run_split("compile " + kan.string() + " --input 0.3,0.8 --json -o " + kan_net.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "family", "elements", "outputs", "basis_devices", "resistors"})) << j;
  EXPECT_EQ(j.at("basis_devices"), 12);  // (2 + 4 inputs) x 2 bases
  EXPECT_EQ(j.at("resistors").at("count"), netlist_resistors(kan_net).size()) << j;
  EXPECT_NE(r.err.find(std::to_string(j.at("elements").get<std::size_t>()) + " elements, 12 basis devices; outputs out0,out1"),
            std::string::npos)
      << r.err;

  const auto kn_net = temp("jc_kn.cir");
  r = run_split("compile " + kn.string() + " --input 0.3,-0.2 --precise --json -o " + kn_net.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "family", "elements", "mna_unknowns", "outputs", "nodes", "min_farads",
                            "max_farads", "edges", "edge_function", "theta_values", "min_theta", "max_theta", "theta",
                            "time_unit_seconds", "stop_time_seconds", "slices", "gated_slices", "gate_width_seconds"}))
      << j;
  EXPECT_EQ(j.at("family"), "kirchhoffnet");
  EXPECT_EQ(j.at("edge_function"), "shift_tanh1");
  EXPECT_EQ(j.at("theta"), "resistor");
  EXPECT_EQ(j.at("slices"), 2);
  std::size_t elements = 0, unknowns = 0, nodes = 0, edges = 0, theta = 0;
  ASSERT_EQ(std::sscanf(r.err.c_str() + r.err.find(" ("), " (%zu elements, ~%zu MNA unknowns", &elements, &unknowns), 2) << r.err;
  ASSERT_EQ(std::sscanf(r.err.c_str() + r.err.find("\nspicenn: ") + 1, "spicenn: %zu nodes with capacitors from %*s to %*s F; %zu edge sources",
                        &nodes, &edges),
            2)
      << r.err;
  ASSERT_NE(r.err.find(" theta values"), std::string::npos) << r.err;
  ASSERT_EQ(std::sscanf(r.err.c_str() + r.err.rfind(' ', r.err.find(" theta values") - 1) + 1, "%zu", &theta), 1) << r.err;
  EXPECT_EQ(j.at("elements"), elements);
  EXPECT_EQ(j.at("mna_unknowns"), unknowns);
  EXPECT_EQ(j.at("nodes"), nodes);
  EXPECT_EQ(j.at("edges"), edges);
  EXPECT_EQ(j.at("theta_values"), theta);
  std::size_t capacitors = 0;
  {
    std::istringstream in(read(kn_net));
    for (std::string line; std::getline(in, line);) capacitors += !line.empty() && line[0] == 'c';
  }
  EXPECT_EQ(j.at("nodes"), capacitors);  // one capacitor to ground per node

  const auto mon2 = temp("jc_mon2.xml"), deck = temp("jc_sweep.cir");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 4 --outputs 2 -o " + mon2.string()).status, 0);
  r = run_split("compile " + mon2.string() + " --data moons --limit 5 --json -o " + deck.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "family", "data", "samples"})) << j;
  EXPECT_EQ(j.at("samples"), 5);
  EXPECT_NE(r.err.find("(5 moons test samples in one DC sweep)"), std::string::npos) << r.err;

  r = run_split("compile " + mon.string() + " --json");  // the netlist would share stdout
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--output"), std::string::npos) << r.err;
}

// predict and trajectory --json: the counts and figures agree with the CSV
// each wrote.
TEST(Cli, PredictAndTrajectoryReportAsJson) {
  const auto mon = temp("jp_mon.xml");
  ASSERT_EQ(run("init mon --inputs 2 --hidden 6 --outputs 2 --seed 2 -o " + mon.string()).status, 0);
  const auto grid = temp("jp_grid.csv");
  auto r = run_split("predict " + mon.string() + " --grid -1,1,-1,1,4 --progress off --json -o " + grid.string());
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "engine", "data", "split", "samples"})) << j;
  EXPECT_EQ(j.at("model"), mon.string());
  EXPECT_EQ(j.at("output"), grid.string());
  EXPECT_EQ(j.at("engine"), "software");
  EXPECT_TRUE(j.at("data").is_null()) << j;
  EXPECT_TRUE(j.at("split").is_null()) << j;
  std::string header;
  EXPECT_EQ(j.at("samples"), read_csv(grid, &header).size());
  EXPECT_EQ(j.at("samples"), 16);
  const auto pts = temp("jp_points.csv");
  r = run_split("predict " + mon.string() + " --data moons --split train --offset 3 --limit 7 --progress off --engine spice --json -o " +
                pts.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(j.at("data"), "moons");
  EXPECT_EQ(j.at("split"), "train");
  EXPECT_EQ(j.at("engine"), "spice");
  const auto rows = read_csv(pts, &header);
  EXPECT_EQ(j.at("samples"), rows.size());
  EXPECT_EQ(j.at("samples"), 7);
  EXPECT_NE(r.err.find("7 predictions (spice engine) written to " + pts.string()), std::string::npos) << r.err;

  const auto kn = temp("jp_kn.xml"), traj = temp("jp_traj.csv");
  ASSERT_EQ(run("init kirchhoffnet --inputs 2 --nodes 4 --outputs 2 --slices 1 --edge-function shift_tanh2 -o " + kn.string()).status, 0);
  r = run_split("trajectory " + kn.string() + " --input 0.5,-0.25 --points 11 --nodes 1,4 --json -o " + traj.string());
  ASSERT_EQ(r.status, 0) << r.err;
  j = stdout_json(r);
  EXPECT_EQ(keys(r), (names{"model", "output", "times", "nodes", "max_abs_difference", "signal_scale"})) << j;
  EXPECT_EQ(j.at("output"), traj.string());
  EXPECT_EQ(j.at("nodes"), nlohmann::json::array({1, 4}));
  const auto samples = read_csv(traj, &header);
  EXPECT_EQ(header, "t,t_seconds,software_n1,spice_n1,software_n4,spice_n4");
  EXPECT_EQ(j.at("times"), samples.size());
  double worst = 0, scale = 0;
  for (const auto& row : samples) {
    ASSERT_EQ(row.size(), 6u);
    for (std::size_t k = 2; k < 6; k += 2) {
      worst = std::max(worst, std::abs(std::stod(row[k]) - std::stod(row[k + 1])));
      scale = std::max(scale, std::abs(std::stod(row[k])));
    }
  }
  EXPECT_GT(scale, 0);
  EXPECT_NEAR(j.at("signal_scale").get<double>(), scale, 1e-9 * scale);  // the CSV has 10 digits
  EXPECT_NEAR(j.at("max_abs_difference").get<double>(), worst, 1e-9 * scale);
}

// Every verb that prints results offers --json.
TEST(Cli, EveryResultVerbOffersJson) {
  for (const char* verb : {"simulate", "init kan", "init mon", "init kirchhoffnet", "info", "devices", "fit-device", "compile",
                           "run", "grad", "verify", "train", "eval", "predict", "trajectory", "set-diode", "prune", "perturb",
                           "activation"}) {
    auto r = run(std::string(verb) + " --help");
    EXPECT_EQ(r.status, 0) << verb;
    EXPECT_NE(r.output.find("--json"), std::string::npos) << verb;
  }
}

TEST(Cli, EveryVerbHasHelp) {
  for (const char* verb : {"simulate", "init", "info", "devices", "fit-device", "compile", "run", "grad", "verify", "train", "eval",
                           "predict", "trajectory", "set-diode", "prune", "perturb"}) {
    auto r = run(std::string(verb) + " --help");
    EXPECT_EQ(r.status, 0) << verb;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << verb;
  }
}

}  // namespace

// The KAN family through the verbs a user runs: init (batch norm), compile
// (the netlist runs in `ngspice -b`), run and grad in software and SPICE,
// verify, perturb, prune, and a short training run against SPICE whose
// written model has the batch normalization folded away.
TEST(Cli, KanThroughEveryVerb) {
  auto model = temp("kan_init.xml");
  auto r = run("init kan --layers 2,4,2 --bases z15,zaz21 --batch-norm --seed 3 -o " + model.string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto net = temp("kan.cir");
  r = run("compile " + model.string() + " --input 0.3,0.8 -o " + net.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("12 basis devices"), std::string::npos) << r.output;  // (2 + 4 inputs) x 2 bases
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("ngspice -b " + net.string() + " 2>&1").c_str(), "r"), pclose);
  std::string ng;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) ng += buffer;
  EXPECT_NE(ng.find("out0"), std::string::npos) << ng;
  for (const char* engine : {"software", "spice"}) {
    r = run("run " + model.string() + " --engine " + engine + " --input 0.3,0.8");
    ASSERT_EQ(r.status, 0) << r.output;
    r = run("grad " + model.string() + " --engine " + engine + " --input 0.3,0.8 --target 1");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("layer0.coef"), std::string::npos) << r.output;
  }
  r = run("verify " + model.string() + " --samples 4");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("PASSED"), std::string::npos) << r.output;

  auto chip = temp("kan_chip.xml");
  r = run("perturb " + model.string() + " --sigma 0.1 --seed 2 -o " + chip.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream chip_file(chip);
  std::stringstream chip_text;
  chip_text << chip_file.rdbuf();
  EXPECT_NE(chip_text.str().find("layer0.coef_mismatch"), std::string::npos);

  auto pruned = temp("kan_pruned.xml");
  r = run("prune " + chip.string() + " --below 5e-6 -o " + pruned.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("set to zero"), std::string::npos) << r.output;

  auto trained = temp("kan_trained.xml");
  r = run("train " + model.string() + " --data moons --engine spice --epochs 1 --batch 50 --lr 0.01 --limit 200 "
          "--validation 50 --no-test --fresh --progress off --out " + trained.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream trained_file(trained);
  std::stringstream trained_text;
  trained_text << trained_file.rdbuf();
  EXPECT_EQ(trained_text.str().find("bn_weight"), std::string::npos) << "batch normalization was not folded";
  EXPECT_NE(trained_text.str().find("batch normalization folded"), std::string::npos);
  r = run("eval " + trained.string() + " --data moons --engine spice --limit 100");
  ASSERT_EQ(r.status, 0) << r.output;
}
