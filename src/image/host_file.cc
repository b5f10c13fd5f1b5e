// Positional file I/O for image files: exact reads, full writes, fallocate, holes.
#include "image/host_file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <vector>

namespace skiff::image {

// Starts the write-back of the file's dirty pages (sync_file_range) whenever it
// is asked to, on a thread of its own; requests made while it works coalesce.
class HostFile::Kicker {
 public:
  explicit Kicker(int fd) : fd_(fd), thread_([this] { Run(); }) {}
  ~Kicker() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void Kick() {
    {
      std::lock_guard lk(mu_);
      pending_ = true;
    }
    cv_.notify_one();
  }

 private:
  void Run() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [this] { return pending_ || stop_; });
      if (stop_) return;
      pending_ = false;
      lk.unlock();
      // Only a hint: errors surface at Sync().
      (void)::sync_file_range(fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
      lk.lock();
    }
  }

  const int fd_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is initialised
};

HostFile::WriteBack::WriteBack() = default;
HostFile::WriteBack::~WriteBack() = default;

HostFile& HostFile::operator=(HostFile&& o) noexcept {
  if (this != &o) {
    wb_.reset();  // stop our kicker before our descriptor closes
    fd_ = std::move(o.fd_);
    path_ = std::move(o.path_);
    writable_ = o.writable_;
    unsafe_ = o.unsafe_;
    wb_ = std::move(o.wb_);
  }
  return *this;
}

void HostFile::Kick(uint64_t bytes) const {
  if (wb_->unkicked.fetch_add(bytes) + bytes < kWritebackKick) return;
  wb_->unkicked.store(0);
  std::call_once(wb_->started, [this] { wb_->kicker = std::make_unique<Kicker>(fd_.get()); });
  wb_->kicker->Kick();
}

Result<HostFile> HostFile::Open(const std::string& path, bool writable) {
  int fd = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, fmt::format("open '{}'", path));
  HostFile f;
  f.fd_.reset(fd);
  f.path_ = path;
  f.writable_ = writable;
  return f;
}

Result<HostFile> HostFile::Create(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(errno, fmt::format("create '{}'", path));
  HostFile f;
  f.fd_.reset(fd);
  f.path_ = path;
  f.writable_ = true;
  return f;
}

Status HostFile::ReadExact(uint64_t offset, std::span<uint8_t> buf) const {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd_.get(), buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read '{}' at 0x{:x}", path_, offset + done));
    }
    if (n == 0) {
      return CorruptionError("'{}': {} bytes at 0x{:x} lie past the end of the file", path_,
                             buf.size(), offset);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status HostFile::ReadZeroFill(uint64_t offset, std::span<uint8_t> buf) const {
  size_t done = 0;
  while (done < buf.size()) {
    ssize_t n =
        ::pread(fd_.get(), buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read '{}' at 0x{:x}", path_, offset + done));
    }
    if (n == 0) {
      std::fill(buf.begin() + static_cast<ptrdiff_t>(done), buf.end(), 0);
      break;
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status HostFile::WriteAll(uint64_t offset, std::span<const uint8_t> buf) const {
  if (!writable_) return FailedPreconditionError("'{}' is open read-only", path_);
  size_t done = 0;
  while (done < buf.size()) {
    const size_t piece = std::min<size_t>(buf.size() - done, kMaxWrite);
    ssize_t n = ::pwrite(fd_.get(), buf.data() + done, piece, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("write '{}' at 0x{:x}", path_, offset + done));
    }
    done += static_cast<size_t>(n);
  }
  if (!unsafe_) Kick(buf.size());
  return Status::Ok();
}

Result<uint64_t> HostFile::Size() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path_));
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd_.get(), 0, SEEK_END);
    if (end < 0) return ErrnoError(errno, fmt::format("seek '{}'", path_));
    return static_cast<uint64_t>(end);
  }
  return static_cast<uint64_t>(st.st_size);
}

Status HostFile::Truncate(uint64_t size) const {
  if (!writable_) return FailedPreconditionError("'{}' is open read-only", path_);
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoError(errno, fmt::format("truncate '{}' to {}", path_, size));
  }
  return Status::Ok();
}

Status HostFile::Allocate(uint64_t offset, uint64_t length) const {
  if (!writable_) return FailedPreconditionError("'{}' is open read-only", path_);
  if (length == 0) return Status::Ok();
  int err = ::posix_fallocate(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(length));
  if (err != 0) return ErrnoError(err, fmt::format("fallocate '{}'", path_));
  return Status::Ok();
}

Status HostFile::WriteZeroBytes(uint64_t offset, uint64_t length) const {
  static const std::vector<uint8_t> zeros(1 << 20, 0);
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
    SKIFF_TRY(WriteAll(offset, std::span<const uint8_t>(zeros.data(), n)));
    offset += n;
    length -= n;
    // Zero fills (preallocation=full) are synced by their caller even on an
    // unsafe file: start the write-back as they go, as WriteAll does.
    if (unsafe_) Kick(n);
  }
  return Status::Ok();
}

bool HostFile::Extend(uint64_t size) const {
  if (!writable_) return false;
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (size <= static_cast<uint64_t>(st.st_size)) return true;
  // Not posix_fallocate: its fallback writes zeroes, which costs what it saves.
  return ::fallocate(fd_.get(), 0, st.st_size, static_cast<off_t>(size) - st.st_size) == 0;
}

Status HostFile::PunchHole(uint64_t offset, uint64_t length) const {
  if (!writable_) return FailedPreconditionError("'{}' is open read-only", path_);
  if (length == 0) return Status::Ok();
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
    return Status::Ok();
  }
  return WriteZeroBytes(offset, length);
}

Status HostFile::ZeroRange(uint64_t offset, uint64_t length, bool may_unmap) const {
  if (!writable_) return FailedPreconditionError("'{}' is open read-only", path_);
  if (length == 0) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(uint64_t size, Size());
  if (offset >= size) return Status::Ok();  // reads as zeroes already
  uint64_t in_file = std::min(length, size - offset);
  if (may_unmap && ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                               static_cast<off_t>(offset), static_cast<off_t>(in_file)) == 0) {
    return Status::Ok();
  }
  if (::fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(in_file)) == 0) {
    return Status::Ok();
  }
  return WriteZeroBytes(offset, in_file);
}

Status HostFile::Sync() const {
  if (!writable_ || unsafe_) return Status::Ok();
  if (::fdatasync(fd_.get()) != 0) return ErrnoError(errno, fmt::format("fsync '{}'", path_));
  return Status::Ok();
}

Result<uint64_t> HostFile::AllocatedBytes() const {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path_));
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

Result<uint64_t> HostFile::NextData(uint64_t offset, uint64_t size) const {
  if (offset >= size) return size;
  off_t r = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_DATA);
  if (r < 0) {
    if (errno == ENXIO) return size;
    return offset;  // no SEEK_DATA support: everything is data
  }
  return std::min<uint64_t>(static_cast<uint64_t>(r), size);
}

Result<uint64_t> HostFile::NextHole(uint64_t offset, uint64_t size) const {
  if (offset >= size) return size;
  off_t r = ::lseek(fd_.get(), static_cast<off_t>(offset), SEEK_HOLE);
  if (r < 0) return size;
  return std::min<uint64_t>(static_cast<uint64_t>(r), size);
}

}  // namespace skiff::image
