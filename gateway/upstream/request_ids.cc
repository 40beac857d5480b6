#include "gateway/upstream/request_ids.h"

#include <algorithm>

namespace fcgimux {

std::optional<uint16_t> RequestIds::acquire() {
  if (taken_.size() >= 0xFFFF) return std::nullopt;
  uint16_t id = last_;
  do {
    id = uint16_t(id % 0xFFFF + 1);  // 1..65535, wrapping past 0
  } while (in_use(id));
  taken_.insert(std::lower_bound(taken_.begin(), taken_.end(), id), id);
  last_ = id;
  return id;
}

void RequestIds::release(uint16_t id) {
  auto it = std::lower_bound(taken_.begin(), taken_.end(), id);
  if (it != taken_.end() && *it == id) taken_.erase(it);
}

bool RequestIds::in_use(uint16_t id) const { return std::binary_search(taken_.begin(), taken_.end(), id); }

}  // namespace fcgimux
