#include "cli/commands.hpp"

namespace spicenn::cli {

void register_run(CLI::App&) {}  // not implemented yet

}  // namespace spicenn::cli
