#include "gateway/http/request_head.h"

namespace fcgimux {

void RequestHead::clear() {
  // Field by field: once per request, on the hot path. A new field must be
  // reset here too (http_parser_test: "a head the sink leaves behind is
  // cleared ...", which sets every field).
  method.clear();
  target.clear();
  path.clear();
  query.clear();
  authority.clear();
  version_major = 1;
  version_minor = 1;
  headers.clear();
  keep_alive = true;
  chunked = false;
  content_length.reset();
  expect_continue = false;
}

const std::string* RequestHead::find(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

}  // namespace fcgimux
