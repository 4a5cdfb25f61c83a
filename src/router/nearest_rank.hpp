// nearest_rank.hpp — the router's one percentile rule (internal).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace babysea::router_detail {

// The nearest-rank `pct` percentile of `v` by `key(element)`: the element of
// 1-based rank ceil(pct * n / 100) in key order. Reorders `v`
// (nth_element). REQUIRES: !v.empty(), 0 < pct <= 100.
template <class T, class Key>
std::int64_t nearest_rank(std::vector<T>& v, int pct, Key key) {
  const std::size_t k = std::max<std::size_t>(1, (static_cast<std::size_t>(pct) * v.size() + 99) / 100);
  auto nth = v.begin() + static_cast<std::ptrdiff_t>(k - 1);
  std::nth_element(v.begin(), nth, v.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  return key(*nth);
}

}  // namespace babysea::router_detail
