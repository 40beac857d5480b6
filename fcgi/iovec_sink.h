// Where the request writer puts the records it frames. Headers and params are
// small and copied; request bodies are borrowed and kept alive by a pin until
// the write that carries them completes.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

namespace fcgi {

// Keeps borrowed bytes alive. Whatever owns the bytes; the sink holds a copy
// of the pin for as long as it references them.
using Pin = std::shared_ptr<const void>;

class IovecSink {
 public:
  virtual ~IovecSink() = default;
  // Appends a copy of |bytes|.
  virtual void push_copy(std::span<const std::byte> bytes) = 0;
  // Appends |bytes| without copying; |pin| keeps them alive.
  virtual void push_borrowed(std::span<const std::byte> bytes, Pin pin) = 0;
};

}  // namespace fcgi
