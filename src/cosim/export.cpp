#include "cosim/export.hpp"

#include "ir/schema.hpp"
#include "models/kan.hpp"

namespace spicenn::cosim {

void prepare_for_export(ir::model& model) {
  // KAN: batch normalization folds exactly into the layer it follows, so the
  // exported model (and its circuit) has none.
  if (model.kind == ir::family::kan && model.find_parameter("layer0.bn_weight")) {
    model = models::kan_fold_batch_norm(model);
    model.origin.notes += (model.origin.notes.empty() ? "" : "\n") +
                          std::string("batch normalization folded into coef and bias (running statistics)");
  }
  ir::validate(model);
}

}  // namespace spicenn::cosim
