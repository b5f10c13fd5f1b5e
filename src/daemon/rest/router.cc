// Api: the route table, path matching, role checks and request parsing helpers.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "skiff/daemon/rest.h"

namespace skiff::daemon {

namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool Match(std::string_view pattern, std::string_view path, Params* params) {
  auto p = Split(pattern);
  auto s = Split(path);
  if (p.size() != s.size()) return false;
  Params out;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i].size() > 2 && p[i].front() == '{' && p[i].back() == '}') {
      out[std::string(p[i].substr(1, p[i].size() - 2))] = std::string(s[i]);
    } else if (p[i] != s[i]) {
      return false;
    }
  }
  *params = std::move(out);
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> Decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) {
        return InvalidArgumentError("bad percent-escape in request target");
      }
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgumentError("bad percent-escape in request target");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string>* query) {
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (raw_path.empty() || raw_path[0] != '/') {
    return InvalidArgumentError("request target must start with '/'");
  }
  // Decode segment by segment so that an escaped '/' stays inside its segment.
  std::string out;
  for (auto seg : Split(raw_path)) {
    SKIFF_ASSIGN_OR_RETURN(std::string d, Decode(seg, false));
    if (d.empty() || d.find('/') != std::string::npos || d.find('\0') != std::string::npos) {
      return InvalidArgumentError("invalid path segment in request target");
    }
    out += "/";
    out += d;
  }
  *path = out.empty() ? "/" : out;
  query->clear();
  if (q == std::string_view::npos) return Status::Ok();
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    SKIFF_ASSIGN_OR_RETURN(std::string k, Decode(kv.substr(0, eq), true));
    std::string v;
    if (eq != std::string_view::npos) {
      SKIFF_ASSIGN_OR_RETURN(v, Decode(kv.substr(eq + 1), true));
    }
    (*query)[k] = v;
  }
  return Status::Ok();
}

Status CheckQuery(const Request& req, const std::vector<std::string>& allowed) {
  for (const auto& [k, v] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return InvalidArgumentError("unknown query parameter '{}'", k);
    }
  }
  return Status::Ok();
}

Api::Api(Service& service) : service_(service) {
  AddDomainRoutes(*this);
  AddSnapshotRoutes(*this);
  AddObjectRoutes(*this);
  AddNetworkRoutes(*this);
  AddHostRoutes(*this);
  AddJobRoutes(*this);
  AddBackupRoutes(*this);
  AddStorageRoutes(*this);
}

void Api::Add(std::string method, std::string pattern, bool write, Handler handler) {
  routes_.push_back({std::move(method), std::move(pattern), write, std::move(handler)});
}

Response Api::Handle(const Request& req) {
  bool path_known = false;
  for (const auto& r : routes_) {
    Params params;
    if (!Match(r.pattern, req.path, &params)) continue;
    path_known = true;
    if (r.method != req.method) continue;
    if (req.role == Role::kNone) {
      return ErrorResponse(PermissionDeniedError("{} is not allowed to use the api", req.peer));
    }
    if (r.write && req.role != Role::kAdmin) {
      return ErrorResponse(
          PermissionDeniedError("{} has read-only access; {} {} needs root (or an admin token)",
                                req.peer, req.method, req.path));
    }
    try {
      return r.handler(service_, req, params);
    } catch (const std::exception& e) {
      // Handlers do not throw; a library throw here is a bug, reported as such.
      spdlog::error("{} {}: unexpected exception: {}", req.method, req.path, e.what());
      return ErrorResponse(InternalError("unexpected error: {}", e.what()));
    }
  }
  if (path_known) {
    return ErrorResponse(
        Status(Code::kInvalidArgument,
               fmt::format("method {} is not allowed on {}", req.method, req.path)));
  }
  return ErrorResponse(NotFoundError("no such api route: {} {}", req.method, req.path));
}

}  // namespace skiff::daemon
