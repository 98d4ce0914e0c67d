// Evaluators for the KirchhoffNet family (docs/models.md §3):
//
//   software  models::kirchhoffnet (Dormand-Prince 5(4) at the options'
//             ode_rtol / ode_atol; gradients by the discrete adjoint)
//
// Normally reached through cosim::make_evaluator.
#pragma once

#include <memory>

#include "cosim/evaluator.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

std::unique_ptr<evaluator> make_kirchhoffnet_software_evaluator(const ir::model& m,
                                                                const evaluator_options& options = {});

}  // namespace spicenn::cosim
