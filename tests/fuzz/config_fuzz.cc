// libFuzzer entry point; the target is fuzz_config() in targets/config.cc,
// which the replay test (tests/unit/fuzz_replay) runs too.
//
// The loader resolves worker and listen hosts with getaddrinfo. Fuzzed text
// names arbitrary hosts, and each would be a DNS query: slow, dependent on
// the network, and not reproducible. This binary (only this one) interposes
// getaddrinfo with a numeric-only version: names fail as unresolvable at
// once, numeric addresses resolve as before. The executable's definition
// wins over libc's (and over ASan's weak interceptor); the real function is
// found with dlsym(RTLD_NEXT).
#include <dlfcn.h>
#include <netdb.h>

#include "tests/fuzz/fuzz_support.h"

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
                           struct addrinfo** res) {
  using Fn = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "getaddrinfo"));
  struct addrinfo h {};
  if (hints != nullptr) h = *hints;
  h.ai_flags |= AI_NUMERICHOST;
  return real(node, service, &h, res);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fcgimux::fuzz::fuzz_config(data, size);
}
