// The last step before a trained model leaves training: `spicenn train`
// calls it on the selected (best-validation) model before the final test
// evaluation and before writing --out, so the test accuracy is that of the
// model as written.
//
//   cosim::prepare_for_export(model);   // then evaluate / save
//
// KAN: batch normalization is folded into the layer it follows
// (models::kan_fold_batch_norm); every model is validated.
#pragma once

#include "ir/model.hpp"

namespace spicenn::cosim {

// Rewrites model in place into the form that is evaluated and saved; throws
// spicenn::validation_error if the result does not validate.
void prepare_for_export(ir::model& model);

}  // namespace spicenn::cosim
