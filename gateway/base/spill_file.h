// Response bytes a slow client has not taken yet, kept in an unlinked temp
// file instead of memory. Used where reading from the worker cannot pause: a
// multiplexed connection carries other requests whose clients are fast.
//
// A FIFO: append() at the end, take() from the front. The file is created on
// the first append (O_TMPFILE, else mkstemp + unlink, so nothing is left
// behind even if the process dies) and closed with the object; it is emptied
// (truncated) whenever the reader catches up, so its size on disk is bounded
// by what one client lags behind, and by |max_bytes|.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>


namespace fcgimux {

class SpillFile {
 public:
  // |dir| holds the file ("" = $TMPDIR, else /tmp). |max_bytes| bounds what
  // may wait in it at once.
  SpillFile(std::string dir, uint64_t max_bytes);
  ~SpillFile();
  SpillFile(const SpillFile&) = delete;
  SpillFile& operator=(const SpillFile&) = delete;

  // Appends |bytes|. False (error() says why) when the file cannot be
  // created or written, or when it would hold more than max_bytes.
  bool append(std::span<const char> bytes);
  // Up to |max| bytes from the front; "" when empty or on a read error
  // (error() then says which).
  std::string take(size_t max);
  uint64_t size() const { return write_pos_ - read_pos_; }
  bool empty() const { return size() == 0; }
  // The last error, for the log line.
  const std::string& error() const { return error_; }

 private:
  bool open_file();

  std::string dir_;
  uint64_t max_bytes_;
  int fd_ = -1;
  uint64_t read_pos_ = 0;
  uint64_t write_pos_ = 0;
  std::string error_;
};

}  // namespace fcgimux
