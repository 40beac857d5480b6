// Longest-prefix routing from a request path to a route.
#pragma once

#include <string_view>
#include <vector>

#include "gateway/config/config.h"

namespace fcgimux {

class Router {
 public:
  // |routes| must outlive the router.
  explicit Router(const std::vector<RouteConfig>& routes);

  // The route whose prefix is the longest match for the decoded, normalized
  // |path|. A prefix matches whole segments: "/app" and "/app/" both match
  // "/app" and "/app/x", never "/apple". nullptr when nothing matches.
  const RouteConfig* match(std::string_view path) const;

 private:
  std::vector<const RouteConfig*> by_length_;  // longest prefix first
};

}  // namespace fcgimux
