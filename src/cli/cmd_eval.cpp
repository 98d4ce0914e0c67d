#include "cli/commands.hpp"

namespace spicenn::cli {

void register_eval(CLI::App&) {}  // not implemented yet

}  // namespace spicenn::cli
