// ConsoleMux: one poll() thread per domain copies guest output from QEMU's console
// socket to every viewer and viewer input back to QEMU.
#include "qemu/console_mux.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace skiff::qemu {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxViewerBacklog = 1 << 20;  // then the viewer is dropped
constexpr size_t kMaxQemuBacklog = 64 << 10;   // then viewer input is dropped

Result<sockaddr_un> Addr(const fs::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof a.sun_path) {
    return InvalidArgumentError("socket path '{}' is too long", path.string());
  }
  std::memcpy(a.sun_path, path.c_str(), path.native().size());
  return a;
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes as much of `buf` as the socket takes now; false when the peer is gone.
bool Flush(int fd, std::string& buf) {
  while (!buf.empty()) {
    ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<ConsoleMux>> ConsoleMux::Start(const fs::path& qemu_socket,
                                                      const fs::path& viewer_socket,
                                                      std::chrono::milliseconds connect_timeout,
                                                      const fs::path& log_file,
                                                      const LogLimits& log_limits) {
  std::unique_ptr<ConsoleMux> m(new ConsoleMux());
  m->viewer_socket_ = viewer_socket;
  m->log_file_ = log_file;
  m->log_limits_ = log_limits;
  SKIFF_ASSIGN_OR_RETURN(sockaddr_un qa, Addr(qemu_socket));
  SKIFF_ASSIGN_OR_RETURN(sockaddr_un va, Addr(viewer_socket));

  auto deadline = std::chrono::steady_clock::now() + connect_timeout;
  while (true) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoError(errno, "console socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&qa), sizeof qa) == 0) {
      m->qemu_ = std::move(fd);
      break;
    }
    int err = errno;
    if (std::chrono::steady_clock::now() >= deadline) {
      return UnavailableError("cannot connect to the console of QEMU at '{}': {}",
                              qemu_socket.string(), ErrnoError(err, "connect").message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  SetNonBlocking(m->qemu_.get());

  UniqueFd lfd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!lfd) return ErrnoError(errno, "console listen socket");
  ::unlink(viewer_socket.c_str());  // a previous daemon's
  mode_t old = ::umask(0077);
  int rc = ::bind(lfd.get(), reinterpret_cast<sockaddr*>(&va), sizeof va);
  int err = errno;
  ::umask(old);
  if (rc != 0) return ErrnoError(err, fmt::format("bind '{}'", viewer_socket.string()));
  struct stat st {};
  if (::stat(viewer_socket.c_str(), &st) == 0) m->socket_ino_ = st.st_ino;
  if (::listen(lfd.get(), 16) != 0) {
    err = errno;
    ::unlink(viewer_socket.c_str());
    return ErrnoError(err, fmt::format("listen '{}'", viewer_socket.string()));
  }
  m->listen_ = std::move(lfd);
  m->stop_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!m->stop_) {
    err = errno;
    ::unlink(viewer_socket.c_str());
    return ErrnoError(err, "eventfd");
  }
  m->thread_ = std::thread([p = m.get()] { p->Loop(); });
  return m;
}

ConsoleMux::~ConsoleMux() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t n = ::write(stop_.get(), &one, sizeof one);
    (void)n;
    thread_.join();
  }
  if (listen_) RemoveSocket();
}

void ConsoleMux::RemoveSocket() {
  struct stat st {};
  if (::stat(viewer_socket_.c_str(), &st) == 0 && st.st_ino == socket_ino_) {
    ::unlink(viewer_socket_.c_str());
  }
}

void ConsoleMux::CheckLog(size_t bytes_read) {
  if (log_file_.empty()) return;
  since_check_ += bytes_read;
  if (since_check_ < LogLimits::kCheckEvery) return;
  since_check_ = 0;
  auto rotated = RotateLogIfLarge(log_file_, log_limits_);
  if (!rotated.ok() && !log_warned_) {
    log_warned_ = true;  // once: the guest may print on
    spdlog::warn("console {}: {}", viewer_socket_.string(), rotated.status().ToString());
  }
}

void ConsoleMux::Loop() {
  struct Viewer {
    UniqueFd fd;
    std::string out;  // guest output not yet sent
  };
  std::list<Viewer> viewers;
  std::string to_qemu;
  char buf[16384];
  bool qemu_gone = false;
  while (!qemu_gone) {
    // 0 stop, 1 qemu, 2 listen, then viewers.
    std::vector<pollfd> fds;
    fds.push_back({stop_.get(), POLLIN, 0});
    fds.push_back({qemu_.get(), static_cast<short>(POLLIN | (to_qemu.empty() ? 0 : POLLOUT)), 0});
    fds.push_back({listen_.get(), POLLIN, 0});
    for (auto& v : viewers) {
      fds.push_back({v.fd.get(), static_cast<short>(POLLIN | (v.out.empty() ? 0 : POLLOUT)), 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("console {}: poll: {}", viewer_socket_.string(), std::strerror(errno));
      break;
    }
    if (fds[0].revents) break;

    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(qemu_.get(), buf, sizeof buf);
      if (n > 0) {
        for (auto& v : viewers) v.out.append(buf, static_cast<size_t>(n));
        CheckLog(static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        qemu_gone = true;
      }
    }
    if (!qemu_gone && !to_qemu.empty() && !Flush(qemu_.get(), to_qemu)) qemu_gone = true;
    if (qemu_gone) break;

    if (fds[2].revents & POLLIN) {
      while (true) {
        int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (c < 0) break;
        viewers.push_back(Viewer{UniqueFd(c), {}});
      }
    }

    // Viewers polled this round are the first fds.size() - 3 of the list (new ones follow).
    size_t i = 3;
    for (auto it = viewers.begin(); it != viewers.end();) {
      bool drop = false;
      if (i < fds.size()) {
        short re = fds[i++].revents;
        if (re & (POLLIN | POLLHUP | POLLERR)) {
          ssize_t n = ::read(it->fd.get(), buf, sizeof buf);
          if (n > 0) {
            if (to_qemu.size() + static_cast<size_t>(n) <= kMaxQemuBacklog) {
              to_qemu.append(buf, static_cast<size_t>(n));
            }
          } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            drop = true;
          }
        }
      }
      if (!drop && !it->out.empty()) drop = !Flush(it->fd.get(), it->out);
      if (!drop && it->out.size() > kMaxViewerBacklog) {
        spdlog::warn("console {}: a viewer fell {} bytes behind and was disconnected",
                     viewer_socket_.string(), it->out.size());
        drop = true;
      }
      it = drop ? viewers.erase(it) : std::next(it);
    }
    if (!to_qemu.empty() && !Flush(qemu_.get(), to_qemu)) {
      qemu_gone = true;
      break;
    }
    viewers_ = static_cast<int>(viewers.size());
  }
  // Viewers see EOF; new ones cannot connect any more.
  viewers.clear();
  viewers_ = 0;
  if (qemu_gone) {
    RemoveSocket();
    listen_.reset();
    qemu_closed_ = true;
  }
}

}  // namespace skiff::qemu
