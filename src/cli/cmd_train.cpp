#include "cli/commands.hpp"

namespace spicenn::cli {

void register_train(CLI::App&) {}  // not implemented yet

}  // namespace spicenn::cli
