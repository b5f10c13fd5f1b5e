// Status: names of codes, context chaining and the crash path for SKIFF_CHECK.
#include "skiff/base/status.h"

#include <cstdio>
#include <cstring>

namespace skiff {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kAlreadyExists:
      return "already exists";
    case Code::kFailedPrecondition:
      return "failed precondition";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kCorruption:
      return "corruption";
    case Code::kIo:
      return "i/o error";
    case Code::kInternal:
      return "internal error";
    case Code::kPermissionDenied:
      return "permission denied";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, fmt::format("{}: {}", context, message_));
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return fmt::format("{}: {}", CodeName(code_), message_);
}

Status ErrnoError(int err, std::string_view what) {
  std::string msg = std::strerror(err);
  if (!msg.empty()) msg[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(msg[0])));
  Code code = Code::kIo;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EEXIST) code = Code::kAlreadyExists;
  if (err == EACCES || err == EPERM) code = Code::kPermissionDenied;
  return Status(code, fmt::format("{}: {}", what, msg));
}

void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "skiff: check failed at %s:%d: %s\n", file, line, cond);
  std::abort();
}

}  // namespace skiff
