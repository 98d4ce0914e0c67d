#include "cosim/export.hpp"

#include "ir/schema.hpp"

namespace spicenn::cosim {

void prepare_for_export(ir::model& model) { ir::validate(model); }

}  // namespace spicenn::cosim
