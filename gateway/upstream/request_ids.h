// FastCGI request ids of one worker connection. An id stays taken from
// BEGIN_REQUEST until its END_REQUEST arrives (or the connection dies), also
// when the request was aborted: a late record for an aborted request must
// never be mistaken for a newer request that reused its id.
//
// Ids are handed out round-robin over 1..65535 (0 is the management id), so
// a just-released id is the last to be taken again. Few ids are in flight on
// one connection (its cap is tens to hundreds), so a small sorted vector is
// both the smallest and the fastest set here.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace fcgimux {

class RequestIds {
 public:
  // A free id, now taken; nullopt only when all 65535 are in flight.
  std::optional<uint16_t> acquire();
  // |id| ended (END_REQUEST) and may be taken again. Unknown ids are ignored.
  void release(uint16_t id);
  bool in_use(uint16_t id) const;
  size_t in_flight() const { return taken_.size(); }

 private:
  std::vector<uint16_t> taken_;  // sorted
  uint16_t last_ = 0;            // the id handed out last
};

}  // namespace fcgimux
