// std::visit helper: std::visit(overloaded{[](int) {...}, [](double) {...}}, v).
#pragma once

namespace spicenn {

template <class... Ts>
struct overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

}  // namespace spicenn
