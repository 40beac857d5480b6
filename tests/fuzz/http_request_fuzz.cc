// libFuzzer entry point; the target is fuzz_http_request() in targets/http_request.cc,
// which the replay test (tests/unit/fuzz_replay) runs too.
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fcgimux::fuzz::fuzz_http_request(data, size);
}
