// QmpClient: one connection to a QEMU monitor (QMP) over a unix socket.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/status.h"
#include "skiff/qemu/qmp_message.h"

namespace skiff::qemu {

// An asynchronous event from QEMU ("SHUTDOWN", "DEVICE_DELETED", ...).
struct QmpEvent {
  std::string name;
  nlohmann::json data = nlohmann::json::object();
  int64_t seconds = 0;  // QEMU's timestamp
  int64_t microseconds = 0;
};

struct QmpClientOptions {
  // How long Connect() retries while the socket does not exist or refuses, and
  // how long it waits for the greeting and the capabilities negotiation.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  // Called on the client's reader thread for every event, in arrival order.
  // It runs before any QmpEventWatch for the same event wakes up.
  // It must not call Execute() on the same client (that returns
  // kFailedPrecondition) and must not destroy the client.
  std::function<void(const QmpEvent&)> on_event;
  // Called once, on the reader thread, when the connection ends without Close()
  // having been called (QEMU exited or closed the monitor). `why` says how.
  std::function<void(const Status& why)> on_close;
  // Lines longer than this end the connection as a protocol error.
  size_t max_line_bytes = 64 << 20;
};

// Waits for one event matching a filter; see QmpClient::WatchEvent.
class QmpEventWatch {
 public:
  // Blocks until a matching event arrived (possibly before this call), the
  // connection closed (kUnavailable) or `timeout` passed (kUnavailable naming the event).
  Result<QmpEvent> Wait(std::chrono::milliseconds timeout);

 private:
  friend class QmpClient;
  std::string name_;
  std::function<bool(const nlohmann::json&)> filter_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<QmpEvent> event_;
  std::optional<Status> closed_;
};

// A negotiated QMP connection. Execute() may be called from any thread; calls
// are serialised (one command in flight) and matched to replies by "id", so a
// reply that arrives after its command timed out is dropped, not mistaken for
// the next one's. A reader thread owned by the client reads replies and events.
// Destroying the client closes it (joins the reader thread): never destroy it
// from inside its own callbacks.
class QmpClient {
 public:
  // Connects to `socket`, retrying until `connect_timeout` while it is absent
  // or refuses; reads the greeting and negotiates capabilities. Errors:
  // kUnavailable (no socket / no greeting in time, connection closed),
  // kCorruption (the peer does not speak QMP), QMP errors of qmp_capabilities.
  static Result<std::unique_ptr<QmpClient>> Connect(const std::filesystem::path& socket,
                                                    QmpClientOptions options = {});
  // As Connect, on an already connected stream socket (e.g. a socketpair).
  static Result<std::unique_ptr<QmpClient>> FromFd(UniqueFd fd, QmpClientOptions options = {});

  ~QmpClient();
  QmpClient(const QmpClient&) = delete;
  QmpClient& operator=(const QmpClient&) = delete;

  // Runs `cmd` with `args` (an object, or null for none) and returns its "return"
  // value. Errors: QEMU's error reply as QmpErrorToStatus gives it; kUnavailable
  // when the connection is closed or closes before the reply, or no reply within
  // `timeout`; kCorruption when the reply cannot be parsed; kFailedPrecondition
  // when called from the reader thread (an event callback).
  Result<nlohmann::json> Execute(const std::string& cmd,
                                 const nlohmann::json& args = nlohmann::json(),
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // As Execute, and passes `fd` to QEMU with the command (SCM_RIGHTS), as `getfd`
  // and `add-fd` expect. The caller keeps its own copy of `fd`.
  Result<nlohmann::json> ExecuteWithFd(
      const std::string& cmd, const nlohmann::json& args, int fd,
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Registers interest in the next event `name` whose data satisfies `filter`
  // (null: any). Register before the command that triggers the event, then Wait().
  std::shared_ptr<QmpEventWatch> WatchEvent(
      const std::string& name, std::function<bool(const nlohmann::json&)> filter = nullptr);

  // Closes the connection and joins the reader thread (unless called on it).
  // Pending Execute() calls fail with kUnavailable. on_close is not called. Idempotent.
  void Close();

  // True once the connection has ended (closed by either side).
  bool closed() const;
  // Blocks until the connection has ended (all messages before the end were
  // handled) or `timeout` passed. True when it has ended.
  bool WaitForClose(std::chrono::milliseconds timeout);
  // The "QMP" object of QEMU's greeting ({"version": {...}, "capabilities": [...]}).
  const nlohmann::json& greeting() const { return greeting_; }

 private:
  struct Pending {
    uint64_t id = 0;
    bool done = false;
    nlohmann::json value;     // the "return" value
    std::string error_class;  // set for a QMP error reply
    std::string error_desc;
    Status failure;  // transport/parse failure or QMP error
  };

  QmpClient(UniqueFd fd, QmpClientOptions options);
  Status ReadGreeting();
  void ReaderLoop();
  // Handles every complete line in buffer_ (newlines searched from `scan_from`);
  // false when the connection must end (oversized message).
  bool ProcessBuffer(size_t scan_from);
  void HandleLine(std::string_view line);
  void Finish(const Status& why, bool notify);
  Result<nlohmann::json> ExecuteImpl(const std::string& cmd, const nlohmann::json& args, int fd,
                                     std::chrono::milliseconds timeout);
  Status SendAll(const std::string& data, int fd);

  UniqueFd fd_;
  QmpClientOptions options_;
  nlohmann::json greeting_;
  std::string buffer_;  // bytes read but not yet parsed; reader thread only after start
  std::thread reader_;
  std::thread::id reader_id_;

  std::mutex exec_mu_;  // serialises Execute()

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  uint64_t next_id_ = 1;
  Pending* pending_ = nullptr;
  bool closed_ = false;
  bool close_requested_ = false;
  std::optional<Status> close_reason_;
  std::list<std::weak_ptr<QmpEventWatch>> watches_;
};

}  // namespace skiff::qemu
