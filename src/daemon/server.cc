// HttpServer: the only Boost.Beast translation unit. One event loop thread accepts and
// parses; handlers run on a worker pool; responses are written back on the loop.
#include "skiff/daemon/server.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <fstream>
#include <thread>

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "daemon/token_file.h"
#include "skiff/api/errors.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using local = asio::local::stream_protocol;
using UnixStream = beast::basic_stream<local>;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

namespace {

struct Shared {
  Api& api;
  EventBus& events;
  ServerOptions options;
  asio::thread_pool workers;
  std::vector<BearerToken> tokens;
  // Open sessions, and TCP sessions whose token has not been checked yet (sessions
  // may end on a worker thread).
  std::atomic<int> clients{0}, anonymous{0};
  Shared(Api& a, EventBus& e, const ServerOptions& o)
      : api(a), events(e), options(o), workers(static_cast<size_t>(std::max(1, o.workers))) {}
};

// Does process `pid` have `gid` among its groups? Read from /proc so that the
// groups of the calling process count, not those of its user's database entry.
bool ProcessInGroup(pid_t pid, gid_t gid) {
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/status");
  if (!text.ok()) return false;
  size_t pos = text->find("\nGroups:");
  if (pos == std::string::npos) return false;
  size_t end = text->find('\n', pos + 1);
  std::istringstream in(text->substr(pos + 8, end - pos - 8));
  long g;
  while (in >> g) {
    if (static_cast<gid_t>(g) == gid) return true;
  }
  return false;
}

bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string ErrorText(const Status& st) { return DumpJson(api::ErrorBody(st)); }

template <typename Stream>
void CloseStream(Stream& s) {
  beast::error_code ec;
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    beast::get_lowest_layer(s).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(s).close();
  } else {
    s.socket().shutdown(local::socket::shutdown_both, ec);
    s.close();
  }
}

template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(Shared& shared, Stream stream, Role role, std::string peer, bool needs_token)
      : shared_(shared),
        stream_(std::move(stream)),
        role_(role),
        peer_(std::move(peer)),
        needs_token_(needs_token),
        anonymous_(needs_token) {
    ++shared_.clients;
    if (anonymous_) ++shared_.anonymous;
  }

  ~Session() {
    if (sub_id_) shared_.events.Unsubscribe(sub_id_);
    --shared_.clients;
    if (anonymous_) --shared_.anonymous;
  }

  void Start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      beast::get_lowest_layer(stream_).expires_after(
          std::chrono::milliseconds(shared_.options.read_timeout_ms));
      stream_.async_handshake(
          asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
            if (ec) {
              spdlog::info("{}: tls handshake refused: {}", self->peer_, ec.message());
              CloseStream(self->stream_);
              return;
            }
            self->Read();
          });
    } else {
      Read();
    }
  }

 private:
  void SetTimeout() {
    beast::get_lowest_layer(stream_).expires_after(
        std::chrono::milliseconds(shared_.options.read_timeout_ms));
  }

  void Read() {
    parser_.emplace();
    // The head first: a volume upload (PUT .../data) may carry a larger body than
    // other requests. Beast checks a Content-Length against the limit in force when
    // the head is parsed, so the larger limit applies until the route is known.
    const auto& o = shared_.options;
    parser_->body_limit(std::max(o.max_body_bytes, o.max_data_body_bytes));
    parser_->header_limit(16 * 1024);
    SetTimeout();
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          if (ec) {
            self->OnRead(ec);
            return;
          }
          const auto& h = self->parser_->get();
          // The token is checked on the head, before any of the body is read: an
          // unauthenticated client costs no more than its headers.
          if (self->needs_token_ && !self->Authenticate(h[http::field::authorization])) return;
          std::string_view target(h.target().data(), h.target().size());
          target = target.substr(0, target.find('?'));
          bool data = h.method() == http::verb::put && target.ends_with("/data");
          size_t limit = data ? self->shared_.options.max_data_body_bytes
                              : self->shared_.options.max_body_bytes;
          auto length = self->parser_->content_length();
          if (length && *length > limit) {
            self->body_limit_hit_ = limit;
            self->OnRead(http::error::body_limit);
            return;
          }
          self->parser_->body_limit(limit);  // a chunked body
          http::async_read(self->stream_, self->buffer_, *self->parser_,
                           [self](beast::error_code ec2, size_t) { self->OnRead(ec2); });
        });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      CloseStream(stream_);
      return;
    }
    if (ec == http::error::body_limit) {
      SendRaw(413,
              ErrorText(InvalidArgumentError(
                  "request body exceeds {} bytes",
                  body_limit_hit_ ? body_limit_hit_ : shared_.options.max_body_bytes)),
              /*close=*/true);
      return;
    }
    if (ec) {
      SendRaw(400, ErrorText(InvalidArgumentError("malformed http request: {}", ec.message())),
              true);
      return;
    }
    auto msg = parser_->release();
    keep_alive_ = msg.keep_alive();
    Request req;
    req.method = std::string(msg.method_string());
    req.body = std::move(msg.body());
    req.role = role_;
    req.peer = peer_;
    Status st = ParseTarget(std::string_view(msg.target().data(), msg.target().size()), &req.path,
                            &req.query);
    if (!st.ok()) {
      SendRaw(400, ErrorText(st), !keep_alive_);
      return;
    }
    if (needs_token_) req.role = token_role_;
    auto self = this->shared_from_this();
    asio::post(shared_.workers, [self, req = std::move(req)]() mutable {
      Response resp = self->shared_.api.Handle(req);
      if (resp.status >= 500) {
        spdlog::warn("{} {} {}: {} {}", req.peer, req.method, req.path, resp.status, resp.body);
      }
      asio::post(self->stream_.get_executor(), [self, resp = std::move(resp)]() mutable {
        if (resp.event_stream) {
          self->StartEvents();
        } else {
          self->SendRaw(resp.status, std::move(resp.body), !self->keep_alive_, resp.content_type);
        }
      });
    });
  }

  // The role of this request's bearer token; a missing or wrong one is answered
  // 401 and the connection closed (returns false).
  bool Authenticate(beast::string_view header) {
    std::string given(header.data(), header.size());
    token_role_ = Role::kNone;
    if (given.rfind("Bearer ", 0) == 0) {
      given = given.substr(7);
      for (const auto& t : shared_.tokens) {
        if (ConstantTimeEqual(t.value, given)) token_role_ = t.role;
      }
    }
    if (token_role_ == Role::kNone) {
      spdlog::warn("{}: refused: missing or wrong bearer token", peer_);
      SendRaw(401, ErrorText(PermissionDeniedError("missing or wrong bearer token")), true);
      return false;
    }
    if (anonymous_) {
      anonymous_ = false;
      --shared_.anonymous;
    }
    return true;
  }

  void SendRaw(int status, std::string body, bool close,
               const std::string& content_type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(http::field::server, "skiffd");
    res->set(http::field::content_type, content_type);
    res->keep_alive(!close);
    res->body() = std::move(body);
    res->prepare_payload();
    SetTimeout();
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, close](beast::error_code ec, size_t) {
                        if (ec || close) {
                          CloseStream(self->stream_);
                          return;
                        }
                        self->Read();
                      });
  }

  // --- server-sent events: the connection turns into a stream of "data: {...}" lines.
  void StartEvents() {
    beast::get_lowest_layer(stream_).expires_never();
    std::weak_ptr<Session> weak = this->shared_from_this();
    auto exec = stream_.get_executor();
    sub_id_ = shared_.events.Subscribe([weak, exec](const nlohmann::json& ev) {
      std::string line = "data: " + DumpJson(ev) + "\n\n";
      asio::post(exec, [weak, line = std::move(line)]() mutable {
        if (auto s = weak.lock()) s->Queue(std::move(line));
      });
    });
    Queue(
        "HTTP/1.1 200 OK\r\nServer: skiffd\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n: skiffd events\n\n");
    // A read that ends tells us the client went away.
    auto self = this->shared_from_this();
    stream_.async_read_some(asio::buffer(probe_), [self](beast::error_code, size_t) {
      self->closed_ = true;
      if (self->sub_id_) self->shared_.events.Unsubscribe(self->sub_id_);
      self->sub_id_ = 0;
      CloseStream(self->stream_);
    });
  }

  void Queue(std::string data) {
    if (closed_) return;
    if (out_.size() > 10000) {  // a client that does not read: drop it
      closed_ = true;
      CloseStream(stream_);
      return;
    }
    out_.push_back(std::move(data));
    if (out_.size() == 1) WriteNext();
  }

  void WriteNext() {
    asio::async_write(stream_, asio::buffer(out_.front()),
                      [self = this->shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) {
                          self->closed_ = true;
                          self->out_.clear();
                          return;
                        }
                        self->out_.pop_front();
                        if (!self->out_.empty()) self->WriteNext();
                      });
  }

  Shared& shared_;
  Stream stream_;
  Role role_;
  std::string peer_;
  bool needs_token_;
  bool anonymous_;                 // counted in Shared::anonymous
  Role token_role_ = Role::kNone;  // of the request being read (TCP)
  bool keep_alive_ = true;
  size_t body_limit_hit_ = 0;  // the limit a request's Content-Length exceeded
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  uint64_t sub_id_ = 0;
  bool closed_ = false;
  std::deque<std::string> out_;
  char probe_[64];
};

class ServerImpl : public Server {
 public:
  ServerImpl(Api& api, EventBus& events, const ServerOptions& o)
      : shared_(api, events, o),
        ssl_(asio::ssl::context::tls_server),
        signals_(ioc_),
        reap_timer_(ioc_) {}

  Status Init() {
    const auto& o = shared_.options;
    if (!o.unix_path.empty()) {
      SKIFF_TRY(MakeDirs(std::filesystem::path(o.unix_path).parent_path()));
      ::unlink(o.unix_path.c_str());
      beast::error_code ec;
      unix_.emplace(ioc_);
      unix_->open(local(), ec);
      if (!ec) unix_->bind(local::endpoint(o.unix_path), ec);
      if (!ec) unix_->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return UnavailableError("listen on '{}': {}", o.unix_path, ec.message());
      ::chmod(o.unix_path.c_str(), 0660);
      if (::chown(o.unix_path.c_str(), 0, o.have_read_group ? o.socket_gid : 0) != 0) {
        spdlog::warn("chown '{}': {}", o.unix_path, std::strerror(errno));
      }
    }
    if (!o.tcp_host.empty()) {
      if (o.tls_cert.empty() || o.tls_key.empty() || o.token_file.empty()) {
        return InvalidArgumentError("tcp listening needs --tls-cert, --tls-key and --token-file");
      }
      SKIFF_ASSIGN_OR_RETURN(shared_.tokens, LoadTokenFile(o.token_file));
      beast::error_code ec;
      ssl_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
      ssl_.use_certificate_chain_file(o.tls_cert, ec);
      if (ec) return InvalidArgumentError("tls certificate '{}': {}", o.tls_cert, ec.message());
      ssl_.use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
      if (ec) return InvalidArgumentError("tls key '{}': {}", o.tls_key, ec.message());
      auto addr = asio::ip::make_address(o.tcp_host, ec);
      if (ec) return InvalidArgumentError("listen address '{}': {}", o.tcp_host, ec.message());
      tcp_.emplace(ioc_);
      asio::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(o.tcp_port));
      tcp_->open(ep.protocol(), ec);
      if (!ec) tcp_->set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) tcp_->bind(ep, ec);
      if (!ec) tcp_->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) return UnavailableError("listen on {}:{}: {}", o.tcp_host, o.tcp_port, ec.message());
      tcp_port_ = tcp_->local_endpoint().port();
    }
    return Status::Ok();
  }

  void Run() override {
    signals_.add(SIGTERM);
    signals_.add(SIGINT);
    signals_.async_wait([this](beast::error_code ec, int sig) {
      if (!ec) {
        spdlog::info("signal {}: stopping (running domains keep running)", sig);
        Stop();
      }
    });
    if (unix_) AcceptUnix();
    if (tcp_) AcceptTcp();
    ArmReaper();
    ioc_.run();
    shared_.workers.join();
  }

  void Stop() override {
    asio::post(ioc_, [this] {
      beast::error_code ec;
      if (unix_) unix_->close(ec);
      if (tcp_) tcp_->close(ec);
      reap_timer_.cancel();
      signals_.cancel();
      ioc_.stop();
    });
  }

  int tcp_port() const override { return tcp_port_; }

 private:
  void ArmReaper() {
    reap_timer_.expires_after(std::chrono::milliseconds(200));
    reap_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      ReapStaleZombies();
      ArmReaper();
    });
  }

  void AcceptUnix() {
    unix_->async_accept([this](beast::error_code ec, local::socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        ucred cred{};
        socklen_t len = sizeof cred;
        Role role = Role::kNone;
        std::string peer = "unknown peer";
        if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
          peer = fmt::format("uid {}", cred.uid);
          const auto& o = shared_.options;
          if (cred.uid == 0) {
            role = Role::kAdmin;  // admitted even past max_clients
          } else if (o.have_read_group &&
                     (cred.gid == o.socket_gid || ProcessInGroup(cred.pid, o.socket_gid))) {
            role = Role::kReadOnly;
          }
        }
        if (role != Role::kAdmin && shared_.clients >= shared_.options.max_clients) {
          RefuseOverLimit(sock, peer, "max_clients", shared_.options.max_clients);
        } else {
          refusing_ = false;
          std::make_shared<Session<UnixStream>>(shared_, UnixStream(std::move(sock)), role, peer,
                                                false)
              ->Start();
        }
      } else {
        spdlog::warn("accept on unix socket: {}", ec.message());
      }
      AcceptUnix();
    });
  }

  void AcceptTcp() {
    tcp_->async_accept([this](beast::error_code ec, asio::ip::tcp::socket sock) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        beast::error_code e2;
        auto ep = sock.remote_endpoint(e2);
        std::string peer = fmt::format("tls {}:{}", ep.address().to_string(), ep.port());
        const auto& o = shared_.options;
        if (shared_.clients >= o.max_clients) {
          RefuseOverLimit(sock, peer, "max_clients", o.max_clients);
        } else if (shared_.anonymous >= o.max_anonymous_clients) {
          RefuseOverLimit(sock, peer, "max_anonymous_clients", o.max_anonymous_clients);
        } else {
          refusing_ = false;
          std::make_shared<Session<TlsStream>>(
              shared_, TlsStream(beast::tcp_stream(std::move(sock)), ssl_), Role::kNone, peer, true)
              ->Start();
        }
      }
      AcceptTcp();
    });
  }

  // Closes a connection past a limit; logged once per burst (the first refusal
  // after one was admitted), so that a flood does not flood the log too.
  template <typename Socket>
  void RefuseOverLimit(Socket& sock, const std::string& peer, const char* limit, int value) {
    if (!refusing_) {
      spdlog::warn("{}: refused: {} ({}) connections open", peer, limit, value);
      refusing_ = true;
    }
    beast::error_code ec;
    sock.close(ec);
  }

  asio::io_context ioc_{1};
  bool refusing_ = false;  // io thread
  Shared shared_;
  asio::ssl::context ssl_;
  asio::signal_set signals_;
  asio::steady_timer reap_timer_;
  std::optional<local::acceptor> unix_;
  std::optional<asio::ip::tcp::acceptor> tcp_;
  int tcp_port_ = 0;
};

}  // namespace

Result<std::unique_ptr<Server>> Server::Create(Api& api, EventBus& events,
                                               const ServerOptions& options) {
  try {
    auto s = std::make_unique<ServerImpl>(api, events, options);
    SKIFF_TRY(s->Init());
    return std::unique_ptr<Server>(std::move(s));
  } catch (const std::exception& e) {
    return InternalError("server setup: {}", e.what());
  }
}

}  // namespace skiff::daemon
