// FakeQmpServer: a scripted QMP server thread on a unix socket.
#include "testutil/fake_qmp_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skiff::testing {

using nlohmann::json;

FakeQmpServer::FakeQmpServer(std::filesystem::path socket) : socket_(std::move(socket)) {
  greeting_ =
      R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}})";
}

FakeQmpServer::~FakeQmpServer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  if (wake_w_) (void)!::write(wake_w_.get(), "x", 1);
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  std::filesystem::remove(socket_, ec);
}

Status FakeQmpServer::Start() {
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listen_fd_) return ErrnoError(errno, "fake qmp socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string p = socket_.string();
  if (p.size() >= sizeof addr.sun_path) return InvalidArgumentError("fake qmp path too long");
  std::memcpy(addr.sun_path, p.c_str(), p.size() + 1);
  ::unlink(p.c_str());
  if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, "fake qmp bind");
  }
  if (::listen(listen_fd_.get(), 4) != 0) return ErrnoError(errno, "fake qmp listen");
  int p2[2];
  if (::pipe2(p2, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  wake_r_.reset(p2[0]);
  wake_w_.reset(p2[1]);
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void FakeQmpServer::SetGreeting(std::string raw) {
  std::lock_guard lock(mu_);
  greeting_ = std::move(raw);
}

void FakeQmpServer::OnCommand(const std::string& name, Handler handler) {
  std::lock_guard lock(mu_);
  handlers_[name] = std::move(handler);
}

void FakeQmpServer::ReturnFor(const std::string& name, json value) {
  OnCommand(name, [value](FakeQmpServer& s, const Command& c) { s.Reply(c, value); });
}

void FakeQmpServer::ErrorFor(const std::string& name, std::string error_class, std::string desc) {
  OnCommand(name, [error_class, desc](FakeQmpServer& s, const Command& c) {
    s.ReplyError(c, error_class, desc);
  });
}

void FakeQmpServer::IgnoreCommand(const std::string& name) {
  OnCommand(name, [](FakeQmpServer&, const Command&) {});
}

void FakeQmpServer::Reply(const Command& c, const json& value) {
  json j = {{"return", value}};
  if (!c.id.is_null()) j["id"] = c.id;
  SendLine(j.dump());
}

void FakeQmpServer::ReplyError(const Command& c, const std::string& error_class,
                               const std::string& desc) {
  json j = {{"error", {{"class", error_class}, {"desc", desc}}}};
  if (!c.id.is_null()) j["id"] = c.id;
  SendLine(j.dump());
}

void FakeQmpServer::SendEvent(const std::string& name, const json& data) {
  json j = {{"event", name},
            {"data", data},
            {"timestamp", {{"seconds", 1700000000}, {"microseconds", 123}}}};
  SendLine(j.dump());
}

void FakeQmpServer::SendLine(const std::string& raw) { WriteRaw(raw + "\r\n"); }

void FakeQmpServer::WriteRaw(const std::string& data) {
  std::lock_guard lock(write_mu_);
  if (conn_fd_ < 0) return;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(conn_fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void FakeQmpServer::Disconnect() {
  {
    std::lock_guard lock(write_mu_);
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    disconnect_requested_ = true;
  }
  if (wake_w_) (void)!::write(wake_w_.get(), "x", 1);
}

std::vector<FakeQmpServer::Command> FakeQmpServer::commands() const {
  std::lock_guard lock(mu_);
  return commands_;
}

std::vector<std::string> FakeQmpServer::command_names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& c : commands_) out.push_back(c.name);
  return out;
}

bool FakeQmpServer::WaitForCommand(const std::string& name, std::chrono::milliseconds timeout,
                                   size_t count) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    size_t n = 0;
    for (const auto& c : commands_) n += c.name == name;
    return n >= count;
  });
}

int FakeQmpServer::connections() const {
  std::lock_guard lock(mu_);
  return connections_;
}

void FakeQmpServer::HandleLine(const std::string& line,
                               std::vector<std::shared_ptr<UniqueFd>> fds) {
  json j = json::parse(line, nullptr, false);
  Command c;
  if (j.is_discarded() || !j.is_object() || !j.contains("execute") || !j["execute"].is_string()) {
    ReplyError(c, "GenericError", "JSON parse error");
    return;
  }
  c.name = j["execute"].get<std::string>();
  if (j.contains("arguments")) c.args = j["arguments"];
  if (j.contains("id")) c.id = j["id"];
  c.fds = std::move(fds);
  Handler h;
  {
    std::lock_guard lock(mu_);
    commands_.push_back(c);
    auto it = handlers_.find(c.name);
    if (it != handlers_.end()) h = it->second;
  }
  cv_.notify_all();
  if (h) {
    h(*this, c);
  } else if (c.name == "qmp_capabilities") {
    Reply(c, json::object());
  } else {
    ReplyError(c, "CommandNotFound", "The command " + c.name + " has not been found");
  }
}

void FakeQmpServer::Loop() {
  UniqueFd conn;
  std::string buf;
  std::vector<std::shared_ptr<UniqueFd>> fds;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
    }
    {
      std::lock_guard lock(write_mu_);
      if (disconnect_requested_) {
        disconnect_requested_ = false;
        if (conn) {
          conn_fd_ = -1;
          conn.reset();
          buf.clear();
          fds.clear();
        }
      }
    }
    pollfd p[2] = {{wake_r_.get(), POLLIN, 0}, {conn ? conn.get() : listen_fd_.get(), POLLIN, 0}};
    int r = ::poll(p, 2, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    if (p[0].revents) {
      char x[64];
      (void)!::read(wake_r_.get(), x, sizeof x);
      continue;
    }
    if (!p[1].revents) continue;
    if (!conn) {
      int c = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      conn.reset(c);
      std::string greeting;
      {
        std::lock_guard lock(mu_);
        ++connections_;
        greeting = greeting_;
      }
      {
        std::lock_guard lock(write_mu_);
        conn_fd_ = conn.get();
      }
      cv_.notify_all();
      if (!greeting.empty()) SendLine(greeting);
      continue;
    }
    char data[65536];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    iovec iov{data, sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(conn.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::lock_guard lock(write_mu_);
      conn_fd_ = -1;
      conn.reset();
      buf.clear();
      fds.clear();
      continue;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          fds.push_back(std::make_shared<UniqueFd>(fd));
        }
      }
    }
    buf.append(data, static_cast<size_t>(n));
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      HandleLine(line, std::move(fds));
      fds.clear();
      bool gone;
      {
        std::lock_guard lock(write_mu_);
        gone = disconnect_requested_;
      }
      if (gone) break;
    }
  }
  std::lock_guard lock(write_mu_);
  conn_fd_ = -1;
}

}  // namespace skiff::testing
