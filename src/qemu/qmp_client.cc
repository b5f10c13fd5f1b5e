// QmpClient: connection, capabilities negotiation, id-matched command replies,
// event dispatch and close detection on a reader thread, and SCM_RIGHTS fd passing.
#include "skiff/qemu/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

namespace skiff::qemu {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<QmpEvent> QmpEventWatch::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return event_.has_value() || closed_.has_value(); });
  if (event_) return *event_;
  if (closed_) return *closed_;
  return UnavailableError("qmp event '{}' did not arrive within {} ms", name_, timeout.count());
}

QmpClient::QmpClient(UniqueFd fd, QmpClientOptions options)
    : fd_(std::move(fd)), options_(std::move(options)) {}

QmpClient::~QmpClient() {
  Close();
  if (reader_.joinable()) {
    if (std::this_thread::get_id() == reader_id_) {
      // Contract violation (destroyed from a callback); never join ourselves.
      reader_.detach();
    } else {
      reader_.join();
    }
  }
}

Result<std::unique_ptr<QmpClient>> QmpClient::Connect(const std::filesystem::path& socket,
                                                      QmpClientOptions options) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = socket.string();
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return InvalidArgumentError("qmp socket path '{}' is empty or longer than {} bytes", path,
                                sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = Clock::now() + options.connect_timeout;
  int last_err = 0;
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoError(errno, "qmp socket");
    int r;
    do {
      r = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      auto left = std::chrono::milliseconds(MsLeft(deadline));
      options.connect_timeout = std::max(left, std::chrono::milliseconds(1));
      auto client = FromFd(std::move(fd), std::move(options));
      if (!client.ok()) return client.status().WithContext(fmt::format("qmp socket '{}'", path));
      return client;
    }
    last_err = errno;
    if (last_err != ENOENT && last_err != ECONNREFUSED && last_err != EAGAIN) break;
    if (Clock::now() >= deadline) break;
    ::usleep(10 * 1000);
  }
  if (last_err == ENOENT || last_err == ECONNREFUSED || last_err == EAGAIN) {
    return UnavailableError("qmp socket '{}': cannot connect within {} ms: {}", path,
                            options.connect_timeout.count(), std::strerror(last_err));
  }
  return ErrnoError(last_err, fmt::format("connect qmp socket '{}'", path));
}

Result<std::unique_ptr<QmpClient>> QmpClient::FromFd(UniqueFd fd, QmpClientOptions options) {
  if (!fd) return InvalidArgumentError("qmp: invalid socket fd");
  const auto timeout = options.connect_timeout;
  std::unique_ptr<QmpClient> c(new QmpClient(std::move(fd), std::move(options)));
  const auto deadline = Clock::now() + timeout;
  SKIFF_TRY(c->ReadGreeting());
  c->reader_ = std::thread([p = c.get()] { p->ReaderLoop(); });
  {
    std::lock_guard lock(c->mu_);
    c->reader_id_ = c->reader_.get_id();
  }
  auto left = std::max(std::chrono::milliseconds(MsLeft(deadline)), std::chrono::milliseconds(1));
  auto neg = c->Execute("qmp_capabilities", json(), left);
  if (!neg.ok()) return neg.status().WithContext("qmp capabilities negotiation");
  return c;
}

Status QmpClient::ReadGreeting() {
  const auto deadline = Clock::now() + options_.connect_timeout;
  for (;;) {
    size_t nl = buffer_.find('\n');
    while (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (!IsBlank(line)) {
        auto m = ParseQmpMessage(line);
        if (!m.ok()) return m.status().WithContext("qmp greeting");
        if (m->kind != QmpMessageKind::kGreeting) {
          return CorruptionError("qmp: expected a greeting, got another message first");
        }
        greeting_ = std::move(m->value);
        return Status::Ok();
      }
      nl = buffer_.find('\n');
    }
    if (buffer_.size() > options_.max_line_bytes) {
      return CorruptionError("qmp greeting longer than {} bytes", options_.max_line_bytes);
    }
    pollfd p{fd_.get(), POLLIN, 0};
    int left = MsLeft(deadline);
    if (left == 0) {
      return UnavailableError("qmp: no greeting within {} ms", options_.connect_timeout.count());
    }
    int r = ::poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoError(errno, "qmp poll");
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return ErrnoError(errno, "qmp read greeting");
    if (n == 0) return UnavailableError("qmp: connection closed before the greeting");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

bool QmpClient::ProcessBuffer(size_t scan_from) {
  size_t start = 0;
  for (size_t nl = buffer_.find('\n', scan_from); nl != std::string::npos;
       nl = buffer_.find('\n', start)) {
    std::string_view line(buffer_.data() + start, nl - start);
    if (line.size() > options_.max_line_bytes) {
      Finish(CorruptionError("qmp: message longer than {} bytes", options_.max_line_bytes), true);
      return false;
    }
    if (!IsBlank(line)) HandleLine(line);
    start = nl + 1;
  }
  buffer_.erase(0, start);
  if (buffer_.size() > options_.max_line_bytes) {
    Finish(CorruptionError("qmp: message longer than {} bytes", options_.max_line_bytes), true);
    return false;
  }
  return true;
}

void QmpClient::ReaderLoop() {
  // Bytes that arrived with the greeting come first.
  if (!ProcessBuffer(0)) {
    ::shutdown(fd_.get(), SHUT_RDWR);
    return;
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) {
      Finish(UnavailableError("qmp connection reset by qemu"), true);
      return;
    }
    if (n < 0) {
      Finish(ErrnoError(errno, "qmp read"), true);
      return;
    }
    if (n == 0) {
      // A last line without its newline still counts when QEMU closed right after it.
      if (!IsBlank(buffer_)) HandleLine(buffer_);
      buffer_.clear();
      Finish(UnavailableError("qmp connection closed by qemu"), true);
      return;
    }
    size_t scan_from = buffer_.size();
    buffer_.append(buf, static_cast<size_t>(n));
    if (!ProcessBuffer(scan_from)) {
      ::shutdown(fd_.get(), SHUT_RDWR);
      return;
    }
  }
}

void QmpClient::HandleLine(std::string_view line) {
  auto parsed = ParseQmpMessage(line);
  if (!parsed.ok()) {
    std::lock_guard lock(mu_);
    if (pending_ != nullptr && !pending_->done) {
      pending_->done = true;
      pending_->failure = parsed.status();
      cv_.notify_all();
    } else {
      spdlog::warn("{}", parsed.status().ToString());
    }
    return;
  }
  QmpMessage& m = *parsed;
  switch (m.kind) {
    case QmpMessageKind::kGreeting:
      spdlog::warn("qmp: unexpected second greeting ignored");
      return;
    case QmpMessageKind::kReturn:
    case QmpMessageKind::kError: {
      std::lock_guard lock(mu_);
      if (pending_ == nullptr || pending_->done ||
          !(m.id.is_null() || m.id == json(pending_->id))) {
        spdlog::debug("qmp: dropping a reply that matches no pending command");
        return;
      }
      pending_->done = true;
      if (m.kind == QmpMessageKind::kReturn) {
        pending_->value = std::move(m.value);
      } else {
        pending_->error_class = std::move(m.error_class);
        pending_->error_desc = std::move(m.error_desc);
        pending_->failure = QmpErrorToStatus("", pending_->error_class, pending_->error_desc);
      }
      cv_.notify_all();
      return;
    }
    case QmpMessageKind::kEvent: {
      QmpEvent ev;
      ev.name = std::move(m.event);
      ev.data = std::move(m.value);
      ev.seconds = m.seconds;
      ev.microseconds = m.microseconds;
      // on_event first: when a watcher wakes up, the event has been delivered.
      if (options_.on_event) options_.on_event(ev);
      {
        std::lock_guard lock(mu_);
        for (auto it = watches_.begin(); it != watches_.end();) {
          auto w = it->lock();
          if (!w) {
            it = watches_.erase(it);
            continue;
          }
          bool match = w->name_ == ev.name;
          if (match && w->filter_) {
            try {
              match = w->filter_(ev.data);
            } catch (const std::exception&) {
              match = false;
            }
          }
          if (match) {
            {
              std::lock_guard wl(w->mu_);
              w->event_ = ev;
            }
            w->cv_.notify_all();
            it = watches_.erase(it);
          } else {
            ++it;
          }
        }
      }
      return;
    }
  }
}

void QmpClient::Finish(const Status& why, bool notify) {
  std::list<std::weak_ptr<QmpEventWatch>> watches;
  bool call_close = false;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    close_reason_ = why;
    if (pending_ != nullptr && !pending_->done) {
      pending_->done = true;
      pending_->failure = why;
    }
    watches.swap(watches_);
    call_close = notify && !close_requested_;
  }
  cv_.notify_all();
  for (auto& wp : watches) {
    if (auto w = wp.lock()) {
      {
        std::lock_guard wl(w->mu_);
        w->closed_ = why;
      }
      w->cv_.notify_all();
    }
  }
  if (call_close && options_.on_close) options_.on_close(why);
}

void QmpClient::Close() {
  {
    std::lock_guard lock(mu_);
    close_requested_ = true;
  }
  if (fd_) ::shutdown(fd_.get(), SHUT_RDWR);
  Finish(UnavailableError("qmp connection closed"), false);
  if (reader_.joinable() && std::this_thread::get_id() != reader_.get_id()) reader_.join();
}

bool QmpClient::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

bool QmpClient::WaitForClose(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return closed_; });
}

std::shared_ptr<QmpEventWatch> QmpClient::WatchEvent(
    const std::string& name, std::function<bool(const nlohmann::json&)> filter) {
  auto w = std::make_shared<QmpEventWatch>();
  w->name_ = name;
  w->filter_ = std::move(filter);
  std::lock_guard lock(mu_);
  if (closed_) {
    w->closed_ = close_reason_.value_or(UnavailableError("qmp connection closed"));
  } else {
    watches_.push_back(w);
  }
  return w;
}

Status QmpClient::SendAll(const std::string& data, int fd) {
  size_t off = 0;
  bool fd_sent = fd < 0;
  while (off < data.size()) {
    iovec iov{const_cast<char*>(data.data() + off), data.size() - off};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (!fd_sent) {
      std::memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == EPIPE || errno == ECONNRESET) {
        return UnavailableError("qmp connection closed by qemu");
      }
      return ErrnoError(errno, "qmp send");
    }
    fd_sent = true;
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<nlohmann::json> QmpClient::Execute(const std::string& cmd, const nlohmann::json& args,
                                          std::chrono::milliseconds timeout) {
  return ExecuteImpl(cmd, args, -1, timeout);
}

Result<nlohmann::json> QmpClient::ExecuteWithFd(const std::string& cmd, const nlohmann::json& args,
                                                int fd, std::chrono::milliseconds timeout) {
  if (fd < 0) return InvalidArgumentError("qmp '{}': invalid fd {} to pass", cmd, fd);
  return ExecuteImpl(cmd, args, fd, timeout);
}

Result<nlohmann::json> QmpClient::ExecuteImpl(const std::string& cmd, const nlohmann::json& args,
                                              int fd, std::chrono::milliseconds timeout) {
  if (std::this_thread::get_id() == reader_id_) {
    return FailedPreconditionError("qmp '{}': cannot execute from the qmp event thread", cmd);
  }
  std::lock_guard exec_lock(exec_mu_);
  Pending pending;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      return close_reason_.value_or(UnavailableError("qmp connection closed"))
          .WithContext(fmt::format("qmp '{}'", cmd));
    }
    pending.id = next_id_++;
  }
  SKIFF_ASSIGN_OR_RETURN(std::string line, FormatQmpCommand(cmd, args, json(pending.id)));
  {
    std::lock_guard lock(mu_);
    pending_ = &pending;
  }
  Status sent = SendAll(line, fd);
  std::unique_lock lock(mu_);
  if (!sent.ok()) {
    pending_ = nullptr;
    return sent.WithContext(fmt::format("qmp '{}'", cmd));
  }
  bool done = cv_.wait_for(lock, timeout, [&] { return pending.done; });
  pending_ = nullptr;
  if (!done) {
    return UnavailableError("qmp '{}': no reply within {} ms", cmd, timeout.count());
  }
  if (!pending.error_class.empty() || !pending.failure.ok()) {
    if (!pending.error_class.empty()) {
      return QmpErrorToStatus(cmd, pending.error_class, pending.error_desc);
    }
    return pending.failure.WithContext(fmt::format("qmp '{}'", cmd));
  }
  return std::move(pending.value);
}

}  // namespace skiff::qemu
