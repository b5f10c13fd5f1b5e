// The API client: one HTTP/1.1 connection to skiffd over a unix socket or TLS.
// The CLI and tests use it; it never throws.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"

namespace skiff::api {

inline constexpr std::string_view kDefaultUri = "unix:///run/skiff/skiffd.sock";

struct Uri {
  enum class Kind { kUnix, kTls } kind = Kind::kUnix;
  std::string path;  // unix socket path
  std::string host;  // tls
  int port = 0;      // tls
};

// Accepts "unix:///path/to/skiffd.sock", "unix:/path", "tls://host:port". An empty
// string means kDefaultUri. Anything else is kInvalidArgument naming the URI.
Result<Uri> ParseUri(std::string_view text);

struct ClientOptions {
  std::string token;    // bearer token (tls); empty: $SKIFF_TOKEN, then the file $SKIFF_TOKEN_FILE
  std::string ca_file;  // PEM to verify the daemon (tls); empty: $SKIFF_TLS_CA, else system roots
  int timeout_ms = 0;   // per request; 0 means none
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

class Client {
 public:
  // Connects to the daemon. kUnavailable names the socket or host when nobody answers.
  static Result<std::unique_ptr<Client>> Connect(std::string_view uri,
                                                 const ClientOptions& options = {});
  virtual ~Client() = default;

  // Sends one request and reads the whole response. `body` may be empty.
  virtual Result<HttpResponse> Raw(std::string_view method, std::string_view target,
                                   std::string_view body) = 0;

  // Sends a JSON request; a 2xx response gives its JSON body (null when empty), any
  // other status gives the daemon's error as a Status (code and message).
  Result<nlohmann::json> Call(std::string_view method, std::string_view target,
                              const nlohmann::json& body = nullptr);

  // Opens a server-sent event stream at `target` and calls `on_event` with each
  // event's data (JSON) until it returns false or the stream ends.
  virtual Status Stream(std::string_view target,
                        const std::function<bool(const nlohmann::json&)>& on_event) = 0;
};

// Percent-encodes a path segment or query value.
std::string UrlEncode(std::string_view s);

}  // namespace skiff::api
