#include "gateway/http/request_head.h"

namespace fcgimux {

void RequestHead::clear() {
  // The containers are moved out and back around a fresh head, so that a
  // field added later is reset without this function knowing it.
  std::string m = std::move(method), t = std::move(target), p = std::move(path), qs = std::move(query),
              a = std::move(authority);
  auto h = std::move(headers);
  *this = RequestHead{};
  m.clear();
  t.clear();
  p.clear();
  qs.clear();
  a.clear();
  h.clear();
  method = std::move(m);
  target = std::move(t);
  path = std::move(p);
  query = std::move(qs);
  authority = std::move(a);
  headers = std::move(h);
}

const std::string* RequestHead::find(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace fcgimux
