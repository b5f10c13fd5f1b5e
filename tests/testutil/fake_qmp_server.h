// FakeQmpServer: a scripted QMP peer on a unix socket, for QmpClient and QEMU-operation tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/status.h"

namespace skiff::testing {

// Listens on a unix socket path and speaks QMP to one client at a time: sends a
// greeting on accept, answers `qmp_capabilities`, and runs the scripted handler
// of every other command (CommandNotFound when there is none). Handlers run on
// the server thread; they may reply, send events or raw lines, or disconnect.
class FakeQmpServer {
 public:
  struct Command {
    std::string name;
    nlohmann::json args;                         // "arguments", or null
    nlohmann::json id;                           // "id", or null
    std::vector<std::shared_ptr<UniqueFd>> fds;  // received with SCM_RIGHTS
  };
  using Handler = std::function<void(FakeQmpServer&, const Command&)>;

  explicit FakeQmpServer(std::filesystem::path socket);
  ~FakeQmpServer();
  FakeQmpServer(const FakeQmpServer&) = delete;
  FakeQmpServer& operator=(const FakeQmpServer&) = delete;

  // Binds, listens and starts the server thread.
  Status Start();
  const std::filesystem::path& socket_path() const { return socket_; }

  // The raw greeting line (without "\r\n"); default: a QEMU 7.2 greeting.
  void SetGreeting(std::string raw);
  void OnCommand(const std::string& name, Handler handler);
  // Shorthands: reply {"return": value} / an error reply.
  void ReturnFor(const std::string& name, nlohmann::json value);
  void ErrorFor(const std::string& name, std::string error_class, std::string desc);
  // Replies nothing at all to `name` (for timeouts).
  void IgnoreCommand(const std::string& name);

  // Reply helpers for handlers: echo the command's id.
  void Reply(const Command& c, const nlohmann::json& value);
  void ReplyError(const Command& c, const std::string& error_class, const std::string& desc);
  void SendEvent(const std::string& name, const nlohmann::json& data = nlohmann::json::object());
  // Sends `raw` followed by "\r\n" on the current connection.
  void SendLine(const std::string& raw);
  // Closes the current connection (QEMU dying, from the client's side of view).
  void Disconnect();

  // Every command received so far, in order (qmp_capabilities included).
  std::vector<Command> commands() const;
  std::vector<std::string> command_names() const;
  // Waits until a command `name` has been received `count` times in total.
  bool WaitForCommand(const std::string& name, std::chrono::milliseconds timeout, size_t count = 1);
  int connections() const;

 private:
  void Loop();
  void HandleLine(const std::string& line, std::vector<std::shared_ptr<UniqueFd>> fds);
  void WriteRaw(const std::string& data);

  std::filesystem::path socket_;
  UniqueFd listen_fd_;
  UniqueFd wake_r_, wake_w_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string greeting_;
  std::map<std::string, Handler> handlers_;
  std::vector<Command> commands_;
  int connections_ = 0;
  bool stop_ = false;

  std::mutex write_mu_;
  int conn_fd_ = -1;  // owned by the server thread; written under write_mu_
  bool disconnect_requested_ = false;
};

}  // namespace skiff::testing
