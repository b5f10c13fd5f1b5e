// The HTTP server of skiffd: Boost.Beast on one Asio event loop, requests handed to a
// small worker pool, on a unix socket (roles from SO_PEERCRED) and optionally on TCP
// with TLS and bearer tokens (never plain TCP).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

struct ServerOptions {
  std::string unix_path;          // empty: no unix socket
  gid_t socket_gid = 0;           // group of the socket; its members get read-only access
  bool have_read_group = false;   // false: only root may connect
  std::string tcp_host;           // empty: no TCP listener
  int tcp_port = 0;               // 0: any free port (see tcp_port())
  std::string tls_cert, tls_key;  // PEM files; required with TCP
  std::string token_file;         // lines "TOKEN" (admin) or "TOKEN readonly"; required with TCP
  size_t max_body_bytes = 1 << 20;
  // PUT .../volumes/{vol}/data (vol-upload) carries raw bytes, up to this many per request.
  size_t max_data_body_bytes = (8 << 20) + 4096;
  int read_timeout_ms = 30000;  // a client that sends nothing for this long is dropped
  // Connections, as libvirt's max_clients and max_anonymous_clients: past
  // max_clients a new connection is closed at once; a TCP client counts as
  // anonymous from accept until its first request's token is checked, and past
  // max_anonymous_clients new TCP connections are closed at once. root on the
  // unix socket is always admitted (the local admin keeps a way in).
  int max_clients = 5000;
  int max_anonymous_clients = 20;
  int workers = 8;
};

class Server {
 public:
  // Binds the listeners. Fails with the reason when a socket, certificate or
  // token file cannot be used.
  static Result<std::unique_ptr<Server>> Create(Api& api, EventBus& events,
                                                const ServerOptions& options);
  virtual ~Server() = default;

  // Serves until Stop() or SIGTERM/SIGINT. Also reaps orphaned children (the daemon
  // is a child subreaper).
  virtual void Run() = 0;
  // Thread-safe.
  virtual void Stop() = 0;
  virtual int tcp_port() const = 0;
};

// Reaps child processes that have been zombies since the previous call; children
// that someone waits for (RunCommand, QEMU supervision) are reaped by their owner
// first. Returns how many were reaped.
int ReapStaleZombies();

}  // namespace skiff::daemon
