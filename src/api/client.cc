// API client: a small blocking HTTP/1.1 client over a unix socket or TLS (OpenSSL).
// OpenSSL is loaded with dlopen on the first tls:// connection, so that a client on
// the unix socket (the `skiff` CLI, whose start-up time counts) never loads it.
#include "skiff/api/client.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <mutex>

#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "skiff/api/errors.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/base/strings.h"

namespace skiff::api {
namespace {

// The OpenSSL functions the client calls, resolved from libssl (and libcrypto, its
// dependency) at run time. Typed from the headers, so a mismatch fails to compile.
// clang-format off
#define SKIFF_OPENSSL_FUNCTIONS(X)                                                                \
  X(TLS_client_method)                                                                            \
  X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) X(SSL_CTX_set_verify)                            \
      X(SSL_CTX_load_verify_locations) X(SSL_CTX_set_default_verify_paths) X(SSL_new) X(SSL_free) \
          X(SSL_set_fd) X(SSL_get0_param) X(SSL_ctrl) X(SSL_connect) X(SSL_shutdown) X(SSL_read)  \
              X(SSL_write) X(SSL_get_error) X(SSL_get_verify_result) X(ERR_get_error)             \
                  X(ERR_error_string_n) X(X509_verify_cert_error_string)                          \
                      X(X509_VERIFY_PARAM_set1_host) X(X509_VERIFY_PARAM_set1_ip_asc)
// clang-format on

struct OpenSsl {
#define SKIFF_OPENSSL_MEMBER(f) decltype(&::f) f = nullptr;
  SKIFF_OPENSSL_FUNCTIONS(SKIFF_OPENSSL_MEMBER)
#undef SKIFF_OPENSSL_MEMBER
};

#define SKIFF_STR2(x) #x
#define SKIFF_STR(x) SKIFF_STR2(x)

// Loads libssl once; null and `error` set when it is missing or lacks a function.
const OpenSsl* LoadOpenSsl(std::string* error) {
  static std::once_flag once;
  static OpenSsl ssl;
  static std::string load_error;
  std::call_once(once, [] {
    const char* lib = "libssl.so." SKIFF_STR(OPENSSL_SHLIB_VERSION);
    void* h = ::dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = ::dlerror();
      load_error = std::string("tls: cannot load OpenSSL: ") + (e ? e : lib);
      return;
    }
#define SKIFF_OPENSSL_LOAD(f)                               \
  ssl.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f)); \
  if (!ssl.f && load_error.empty()) load_error = "tls: OpenSSL lacks " #f;
    SKIFF_OPENSSL_FUNCTIONS(SKIFF_OPENSSL_LOAD)
#undef SKIFF_OPENSSL_LOAD
  });
  if (!load_error.empty()) {
    *error = load_error;
    return nullptr;
  }
  return &ssl;
}

class ClientImpl : public Client {
 public:
  ClientImpl(UniqueFd fd, std::string host, std::string token, const OpenSsl* o, SSL_CTX* ctx,
             SSL* ssl)
      : fd_(std::move(fd)),
        host_(std::move(host)),
        token_(std::move(token)),
        o_(o),
        ctx_(ctx),
        ssl_(ssl) {}
  ~ClientImpl() override {
    if (ssl_) {
      o_->SSL_shutdown(ssl_);
      o_->SSL_free(ssl_);
    }
    if (ctx_) o_->SSL_CTX_free(ctx_);
  }

  Result<HttpResponse> Raw(std::string_view method, std::string_view target,
                           std::string_view body) override {
    SKIFF_TRY(SendRequest(method, target, body));
    return ReadResponse(/*stream=*/nullptr);
  }

  Status Stream(std::string_view target,
                const std::function<bool(const nlohmann::json&)>& on_event) override {
    SKIFF_TRY(SendRequest("GET", target, {}));
    std::string head;
    SKIFF_ASSIGN_OR_RETURN(int status, ReadHead(&head));
    if (status != 200) {
      auto r = ReadBody(head);
      return StatusFromErrorBody(status, r.ok() ? *r : "");
    }
    std::string line;
    std::string data;
    while (true) {
      char c;
      SKIFF_ASSIGN_OR_RETURN(size_t n, ReadSome(&c, 1));
      if (n == 0) return Status::Ok();
      if (c != '\n') {
        line.push_back(c);
        continue;
      }
      if (line.empty()) {
        if (!data.empty()) {
          auto j = nlohmann::json::parse(data, nullptr, false);
          data.clear();
          if (!j.is_discarded() && !on_event(j)) return Status::Ok();
        }
      } else if (line.rfind("data:", 0) == 0) {
        data += Trim(line.substr(5));
      }
      line.clear();
    }
  }

 private:
  Status SendRequest(std::string_view method, std::string_view target, std::string_view body) {
    std::string req;
    req.reserve(256 + body.size());
    req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(host_);
    req.append("\r\nUser-Agent: skiff\r\nAccept: application/json\r\n");
    if (!token_.empty()) req.append("Authorization: Bearer ").append(token_).append("\r\n");
    if (!body.empty() || method == "POST" || method == "PUT") {
      req.append("Content-Type: application/json\r\nContent-Length: ")
          .append(std::to_string(body.size()))
          .append("\r\n");
    }
    req.append("\r\n").append(body);
    return WriteAll(req);
  }

  Status WriteAll(std::string_view data) {
    while (!data.empty()) {
      ssize_t n;
      if (ssl_) {
        n = o_->SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
        if (n <= 0) return UnavailableError("tls write to daemon failed");
      } else {
        n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          // The daemon stopped reading (a body over its limit, say) and may have
          // answered why: the caller reads that answer, or finds the connection closed.
          if (errno == EPIPE || errno == ECONNRESET) return Status::Ok();
          return ErrnoError(errno, "write to daemon").WithContext("connection lost");
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Result<size_t> ReadSome(char* buf, size_t len) {
    if (!pending_.empty()) {
      size_t n = std::min(len, pending_.size());
      std::memcpy(buf, pending_.data(), n);
      pending_.erase(0, n);
      return n;
    }
    while (true) {
      if (ssl_) {
        int n = o_->SSL_read(ssl_, buf, static_cast<int>(len));
        if (n > 0) return static_cast<size_t>(n);
        int err = o_->SSL_get_error(ssl_, n);
        if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return size_t{0};
        return UnavailableError("tls read from daemon failed");
      }
      ssize_t n = ::recv(fd_.get(), buf, len, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return size_t{0};
      return ErrnoError(errno, "read from daemon");
    }
  }

  // Reads up to the blank line; returns the status code and the head in `head`.
  Result<int> ReadHead(std::string* head) {
    std::string buf;
    char tmp[4096];
    while (true) {
      size_t pos = buf.find("\r\n\r\n");
      if (pos != std::string::npos) {
        *head = buf.substr(0, pos + 2);
        pending_ = buf.substr(pos + 4) + pending_;
        break;
      }
      if (buf.size() > 64 * 1024) return InternalError("daemon sent an oversized header");
      SKIFF_ASSIGN_OR_RETURN(size_t n, ReadSome(tmp, sizeof tmp));
      if (n == 0) return UnavailableError("daemon closed the connection");
      buf.append(tmp, n);
    }
    if (head->rfind("HTTP/1.", 0) != 0 || head->size() < 12) {
      return InternalError("daemon sent a malformed status line");
    }
    return std::atoi(head->c_str() + 9);
  }

  Result<std::string> ReadBody(const std::string& head) {
    long long length = -1;
    bool chunked = false;
    size_t start = 0;
    while (start < head.size()) {
      size_t end = head.find("\r\n", start);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(start, end - start);
      start = end + 2;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = AsciiLower(line.substr(0, colon));
      std::string value(Trim(line.substr(colon + 1)));
      if (name == "content-length") length = std::atoll(value.c_str());
      if (name == "transfer-encoding" && AsciiLower(value).find("chunked") != std::string::npos) {
        chunked = true;
      }
    }
    std::string body;
    char tmp[16384];
    if (chunked) {
      std::string raw;
      while (true) {
        // Decode what we have; stop at the terminating zero-size chunk.
        size_t pos = 0;
        std::string out;
        bool done = false;
        while (true) {
          size_t eol = raw.find("\r\n", pos);
          if (eol == std::string::npos) break;
          size_t sz = std::strtoul(raw.substr(pos, eol - pos).c_str(), nullptr, 16);
          if (sz == 0) {
            done = true;
            break;
          }
          if (raw.size() < eol + 2 + sz + 2) break;
          out.append(raw, eol + 2, sz);
          pos = eol + 2 + sz + 2;
        }
        if (done) return out;
        SKIFF_ASSIGN_OR_RETURN(size_t n, ReadSome(tmp, sizeof tmp));
        if (n == 0) return UnavailableError("daemon closed the connection mid-response");
        raw.append(tmp, n);
      }
    }
    while (length < 0 || static_cast<long long>(body.size()) < length) {
      size_t want = sizeof tmp;
      if (length >= 0) want = std::min<size_t>(want, static_cast<size_t>(length) - body.size());
      SKIFF_ASSIGN_OR_RETURN(size_t n, ReadSome(tmp, want));
      if (n == 0) {
        if (length < 0) break;
        return UnavailableError("daemon closed the connection mid-response");
      }
      body.append(tmp, n);
    }
    return body;
  }

  Result<HttpResponse> ReadResponse(void*) {
    std::string head;
    SKIFF_ASSIGN_OR_RETURN(int status, ReadHead(&head));
    SKIFF_ASSIGN_OR_RETURN(std::string body, ReadBody(head));
    return HttpResponse{status, std::move(body)};
  }

  UniqueFd fd_;
  std::string host_;
  std::string token_;
  const OpenSsl* o_ = nullptr;  // set for tls
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string pending_;
};

void SetTimeout(int fd, int ms) {
  if (ms <= 0) return;
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::string TlsErrorText(const OpenSsl& o) {
  unsigned long e = o.ERR_get_error();
  if (e == 0) return "handshake failed";
  char buf[256];
  o.ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

Result<Uri> ParseUri(std::string_view text) {
  if (text.empty()) text = kDefaultUri;
  Uri u;
  if (text.rfind("unix://", 0) == 0) {
    u.path = std::string(text.substr(7));
  } else if (text.rfind("unix:", 0) == 0) {
    u.path = std::string(text.substr(5));
  } else if (text.rfind("tls://", 0) == 0) {
    u.kind = Uri::Kind::kTls;
    std::string rest(text.substr(6));
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0) {
      return InvalidArgumentError("uri '{}': expected tls://host:port", text);
    }
    u.host = rest.substr(0, colon);
    if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']') {
      u.host = u.host.substr(1, u.host.size() - 2);
    }
    char* end = nullptr;
    long port = std::strtol(rest.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
      return InvalidArgumentError("uri '{}': invalid port", text);
    }
    u.port = static_cast<int>(port);
    return u;
  } else {
    return InvalidArgumentError("uri '{}': expected unix:///path or tls://host:port", text);
  }
  if (u.path.empty() || u.path[0] != '/') {
    return InvalidArgumentError("uri '{}': the socket path must be absolute", text);
  }
  return u;
}

Result<std::unique_ptr<Client>> Client::Connect(std::string_view uri_text,
                                                const ClientOptions& options) {
  SKIFF_ASSIGN_OR_RETURN(Uri uri, ParseUri(uri_text));
  if (uri.kind == Uri::Kind::kUnix) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (uri.path.size() >= sizeof addr.sun_path) {
      return InvalidArgumentError("socket path '{}' is too long", uri.path);
    }
    std::memcpy(addr.sun_path, uri.path.c_str(), uri.path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoError(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      int err = errno;
      Status st = ErrnoError(err, fmt::format("connect to '{}'", uri.path));
      return Status(err == EACCES ? Code::kPermissionDenied : Code::kUnavailable,
                    st.message() + " (is skiffd running?)");
    }
    SetTimeout(fd.get(), options.timeout_ms);
    return std::unique_ptr<Client>(
        std::make_unique<ClientImpl>(std::move(fd), "localhost", "", nullptr, nullptr, nullptr));
  }

  std::string token = options.token;
  if (token.empty()) {
    if (const char* t = std::getenv("SKIFF_TOKEN")) token = t;
  }
  if (token.empty()) {
    if (const char* f = std::getenv("SKIFF_TOKEN_FILE")) {
      SKIFF_ASSIGN_OR_RETURN(std::string t, ReadFile(f));
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      token = t;
    }
  }
  std::string ca = options.ca_file;
  if (ca.empty()) {
    if (const char* c = std::getenv("SKIFF_TLS_CA")) ca = c;
  }

  std::string load_error;
  const OpenSsl* o = LoadOpenSsl(&load_error);
  if (!o) return UnavailableError("{}", load_error);

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(uri.port);
  int gai = ::getaddrinfo(uri.host.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) return UnavailableError("resolve '{}': {}", uri.host, gai_strerror(gai));
  UniqueFd fd;
  int last_err = 0;
  for (addrinfo* a = res; a; a = a->ai_next) {
    UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!s) continue;
    if (::connect(s.get(), a->ai_addr, a->ai_addrlen) == 0) {
      fd = std::move(s);
      break;
    }
    last_err = errno;
  }
  ::freeaddrinfo(res);
  if (!fd) {
    return UnavailableError("connect to '{}:{}': {}", uri.host, uri.port, std::strerror(last_err));
  }
  SetTimeout(fd.get(), options.timeout_ms);

  SSL_CTX* ctx = o->SSL_CTX_new(o->TLS_client_method());
  if (!ctx) return InternalError("tls: cannot create a context");
  // SSL_CTX_set_min_proto_version and SSL_set_tlsext_host_name are macros over *_ctrl.
  o->SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr);
  o->SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!ca.empty()) {
    if (o->SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
      o->SSL_CTX_free(ctx);
      return InvalidArgumentError("tls: cannot load ca file '{}'", ca);
    }
  } else {
    o->SSL_CTX_set_default_verify_paths(ctx);
  }
  SSL* ssl = o->SSL_new(ctx);
  o->SSL_set_fd(ssl, fd.get());
  X509_VERIFY_PARAM* param = o->SSL_get0_param(ssl);
  unsigned char ipbuf[16];
  bool is_ip = ::inet_pton(AF_INET, uri.host.c_str(), ipbuf) == 1 ||
               ::inet_pton(AF_INET6, uri.host.c_str(), ipbuf) == 1;
  if (is_ip) {
    o->X509_VERIFY_PARAM_set1_ip_asc(param, uri.host.c_str());
  } else {
    o->SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                const_cast<char*>(uri.host.c_str()));
    o->X509_VERIFY_PARAM_set1_host(param, uri.host.c_str(), 0);
  }
  if (o->SSL_connect(ssl) != 1) {
    std::string why = TlsErrorText(*o);
    long v = o->SSL_get_verify_result(ssl);
    if (v != X509_V_OK) why = o->X509_verify_cert_error_string(v);
    o->SSL_free(ssl);
    o->SSL_CTX_free(ctx);
    return UnavailableError("tls handshake with '{}:{}' failed: {}", uri.host, uri.port, why);
  }
  return std::unique_ptr<Client>(
      std::make_unique<ClientImpl>(std::move(fd), uri.host, token, o, ctx, ssl));
}

Result<nlohmann::json> Client::Call(std::string_view method, std::string_view target,
                                    const nlohmann::json& body) {
  std::string text = body.is_null() ? std::string() : body.dump();
  SKIFF_ASSIGN_OR_RETURN(HttpResponse r, Raw(method, target, text));
  if (r.status < 200 || r.status >= 300) return StatusFromErrorBody(r.status, r.body);
  if (r.body.empty()) return nlohmann::json();
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return InternalError("daemon sent a body that is not json");
  return j;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace skiff::api
