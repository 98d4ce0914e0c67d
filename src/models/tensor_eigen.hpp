// Eigen views of ir tensor values (row-major, as in the model file) and back.
//
//   Eigen::MatrixXd H = spicenn::models::row_major(m.parameter("stage0.h_pos").values, hidden, inputs);
//   grad["stage0.h_pos"] = spicenn::models::to_row_major(dH);
#pragma once

#include <vector>

#include <Eigen/Core>

namespace spicenn::models {

// The ir tensors' layout (row-major), e.g. to read one in place through an Eigen::Map.
using row_major_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline Eigen::MatrixXd row_major(const std::vector<double>& values, Eigen::Index rows, Eigen::Index cols) {
  return Eigen::Map<const row_major_matrix>(values.data(), rows, cols);
}

inline Eigen::VectorXd vector_of(const std::vector<double>& values) {
  return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
}

inline std::vector<double> to_row_major(const Eigen::MatrixXd& m) {
  std::vector<double> out(static_cast<std::size_t>(m.size()));
  Eigen::Map<row_major_matrix>(out.data(), m.rows(), m.cols()) = m;
  return out;
}

inline std::vector<double> to_vector(const Eigen::VectorXd& v) { return {v.data(), v.data() + v.size()}; }

}  // namespace spicenn::models
