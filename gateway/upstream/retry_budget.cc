#include "gateway/upstream/retry_budget.h"

namespace fcgimux {

namespace {
int64_t second_of(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

RetryBudget::Bucket& RetryBudget::bucket(TimePoint now) {
  const int64_t s = second_of(now);
  Bucket& b = buckets_[size_t(((s % int64_t(kBuckets)) + int64_t(kBuckets)) % int64_t(kBuckets))];
  if (b.second != s) b = {s, 0, 0};  // a bucket from an older window is reused
  return b;
}

uint64_t RetryBudget::requests_in_window(TimePoint now) {
  const int64_t s = second_of(now);
  uint64_t n = 0;
  for (const Bucket& b : buckets_)
    if (b.second > s - int64_t(kBuckets) && b.second <= s) n += b.requests;
  return n;
}

uint64_t RetryBudget::retries_in_window(TimePoint now) {
  const int64_t s = second_of(now);
  uint64_t n = 0;
  for (const Bucket& b : buckets_)
    if (b.second > s - int64_t(kBuckets) && b.second <= s) n += b.retries;
  return n;
}

void RetryBudget::on_request(TimePoint now) { ++bucket(now).requests; }

bool RetryBudget::try_spend(TimePoint now) {
  const double allowed = double(cfg_.floor) + cfg_.ratio * double(requests_in_window(now));
  if (double(retries_in_window(now)) + 1.0 > allowed) return false;
  ++bucket(now).retries;
  return true;
}

}  // namespace fcgimux
