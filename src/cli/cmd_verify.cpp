#include "cli/commands.hpp"

namespace spicenn::cli {

void register_verify(CLI::App&) {}  // not implemented yet

}  // namespace spicenn::cli
