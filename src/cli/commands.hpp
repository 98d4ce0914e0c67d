// The spicenn command line: one function per verb, each registering a CLI11
// subcommand whose callback calls the libraries. No simulation, lowering or
// file-format logic lives here.
#pragma once

#include <CLI/CLI.hpp>

namespace spicenn::cli {

void register_simulate(CLI::App& app);     // spicenn simulate NETLIST.cir
void register_init(CLI::App& app);         // spicenn init kan|mon|kirchhoffnet
void register_info(CLI::App& app);         // spicenn info MODEL.xml
void register_devices(CLI::App& app);      // spicenn devices
void register_fit_device(CLI::App& app);   // spicenn fit-device IV.csv
void register_compile(CLI::App& app);      // spicenn compile MODEL.xml
void register_prune(CLI::App& app);        // spicenn prune MODEL.xml --below SIEMENS
void register_perturb(CLI::App& app);      // spicenn perturb KAN.xml --sigma S --seed N
void register_set_diode(CLI::App& app);    // spicenn set-diode MODEL.xml --diode ideal|shockley|device [--device ...]
void register_run(CLI::App& app);          // spicenn run MODEL.xml --engine software|spice
void register_grad(CLI::App& app);         // spicenn grad MODEL.xml --engine software|spice|fd
void register_verify(CLI::App& app);       // spicenn verify MODEL.xml
void register_train(CLI::App& app);        // spicenn train MODEL.xml --data ...
void register_eval(CLI::App& app);         // spicenn eval MODEL.xml --data ...
void register_trajectory(CLI::App& app);   // spicenn trajectory KN.xml --input ...
void register_predict(CLI::App& app);      // spicenn predict MODEL.xml (--data ... | --grid ...) -o OUT.csv
void register_activation(CLI::App& app);   // spicenn activation MODEL.xml -o FIGURE.png
void register_plot(CLI::App& app);         // spicenn plot METRICS.csv -o CURVES.png

}  // namespace spicenn::cli
