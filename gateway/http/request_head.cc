#include "gateway/http/request_head.h"

namespace fcgimux {

const std::string* RequestHead::find(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace fcgimux
