#include "cli/commands.hpp"

namespace spicenn::cli {

void register_grad(CLI::App&) {}  // not implemented yet

}  // namespace spicenn::cli
