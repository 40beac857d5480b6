#include "gateway/base/spill_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace fcgimux {

SpillFile::SpillFile(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_bytes_(max_bytes) {
  if (dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    dir_ = tmp && *tmp ? tmp : "/tmp";
  }
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool SpillFile::open_file() {
#ifdef O_TMPFILE
  fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ >= 0) return true;
#endif
  // No O_TMPFILE here (or on this file system): a named file, unlinked at once.
  std::string path = dir_ + "/fcgimux-spill-XXXXXX";
  fd_ = ::mkostemp(path.data(), O_CLOEXEC);
  if (fd_ < 0) {
    error_ = fmt::format("cannot create a temp file in {}: {}", dir_, std::strerror(errno));
    return false;
  }
  ::unlink(path.c_str());
  return true;
}

bool SpillFile::append(std::span<const char> bytes) {
  if (bytes.empty()) return true;
  if (size() + bytes.size() > max_bytes_) {
    error_ = fmt::format("over max_temp_file_size ({} bytes)", max_bytes_);
    return false;
  }
  if (fd_ < 0 && !open_file()) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, off_t(write_pos_ + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = fmt::format("cannot write the temp file: {}", std::strerror(errno));
      return false;
    }
    done += size_t(n);
  }
  write_pos_ += done;
  return true;
}

std::string SpillFile::take(size_t max) {
  const size_t want = size_t(std::min<uint64_t>(max, size()));
  std::string out(want, '\0');
  size_t done = 0;
  while (done < want) {
    const ssize_t n = ::pread(fd_, out.data() + done, want - done, off_t(read_pos_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = fmt::format("cannot read the temp file: {}", n < 0 ? std::strerror(errno) : "short file");
      return {};
    }
    done += size_t(n);
  }
  read_pos_ += done;
  if (read_pos_ == write_pos_) {
    // Caught up: give the disk space back and start over at offset 0.
    read_pos_ = write_pos_ = 0;
    if (::ftruncate(fd_, 0) != 0) error_ = fmt::format("cannot truncate the temp file: {}", std::strerror(errno));
  }
  return out;
}

}  // namespace fcgimux
