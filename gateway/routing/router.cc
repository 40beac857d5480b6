#include "gateway/routing/router.h"

#include <algorithm>

namespace fcgimux {

namespace {

// The prefix without trailing '/', so that "/app" and "/app/" mean the same
// mount; "/" becomes "" and matches every absolute path.
std::string_view stem(std::string_view prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix;
}

}  // namespace

Router::Router(const std::vector<RouteConfig>& routes) {
  by_length_.reserve(routes.size());
  for (const RouteConfig& r : routes) by_length_.push_back(&r);
  // Longest stem first; equal stems keep file order, so the first one written
  // wins (the config loader should reject such duplicates anyway).
  std::stable_sort(by_length_.begin(), by_length_.end(),
                   [](const RouteConfig* a, const RouteConfig* b) {
                     return stem(a->prefix).size() > stem(b->prefix).size();
                   });
}

const RouteConfig* Router::match(std::string_view path) const {
  for (const RouteConfig* r : by_length_) {
    const std::string_view s = stem(r->prefix);
    if (path.substr(0, s.size()) != s) continue;
    // Whole segments: what follows the stem is the end of the path or '/'.
    if (path.size() == s.size() || path[s.size()] == '/') {
      if (s.empty() && (path.empty() || path.front() != '/')) continue;  // "/" needs an absolute path
      return r;
    }
  }
  return nullptr;
}

}  // namespace fcgimux
