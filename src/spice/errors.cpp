#include "spice/errors.hpp"

#include <fmt/format.h>

namespace spicenn::spice {

namespace {

std::string compose(const std::string& summary, const std::string& message, std::size_t line_number,
                    const std::string& netlist_line) {
  std::string out = summary;
  if (!netlist_line.empty()) {
    out += line_number ? fmt::format("\n  line {}: {}", line_number, netlist_line)
                       : fmt::format("\n  netlist line: {}", netlist_line);
  }
  if (!message.empty()) {
    out += "\n  ngspice said:";
    std::size_t start = 0;
    while (start < message.size()) {
      auto end = message.find('\n', start);
      if (end == std::string::npos) end = message.size();
      if (end > start) out += "\n    " + message.substr(start, end - start);
      start = end + 1;
    }
  }
  return out;
}

}  // namespace

spice_error::spice_error(std::string command, const std::string& summary, std::string ngspice_message,
                         std::size_t line_number, std::string netlist_line)
    : simulation_error(compose(summary, ngspice_message, line_number, netlist_line)),
      summary_(summary),
      command_(std::move(command)),
      ngspice_message_(std::move(ngspice_message)),
      line_number_(line_number),
      netlist_line_(std::move(netlist_line)) {}

netlist_error::netlist_error(const std::string& summary, std::string ngspice_message, std::size_t line_number,
                             std::string netlist_line)
    : spice_error("load", summary, std::move(ngspice_message), line_number, std::move(netlist_line)) {}

convergence_error::convergence_error(std::string command, const std::string& summary, std::string ngspice_message,
                                     std::string node)
    : spice_error(std::move(command), summary, std::move(ngspice_message)), node_(std::move(node)) {}

vector_error::vector_error(std::string vector_name, const std::string& summary, std::string ngspice_message)
    : spice_error("read vector", summary, std::move(ngspice_message)), vector_name_(std::move(vector_name)) {}

}  // namespace spicenn::spice
