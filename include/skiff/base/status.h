// Status and Result<T>: the one error type every Skiff module returns.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace skiff {

// Stable error codes. They map to HTTP status and CLI exit code in one place
// (src/daemon/status_http.cc). Never renumber.
enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,
  kCorruption,
  kIo,
  kInternal,
  kPermissionDenied,
  kUnsupported,
  kCancelled,
};

// Lower-case name of a code, as printed in front of messages ("corruption").
std::string_view CodeName(Code code);

// An error (or success) with a message that names the object and the value.
// Messages are lower-case and never end with a period.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is prefixed by `context`:
  // Corruption("L2 table ...").WithContext("disk 'vda'") -> "disk 'vda': L2 table ...".
  Status WithContext(std::string_view context) const;

  // "corruption: disk 'vda': L2 table at 0x50000 is not cluster-aligned", or "ok".
  std::string ToString() const;

  bool operator==(const Status& other) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

#define SKIFF_DEFINE_ERROR_CTOR(Name)                                          \
  inline Status Name##Error(std::string message) {                             \
    return Status(Code::k##Name, std::move(message));                          \
  }                                                                            \
  template <typename... Args>                                                  \
  Status Name##Error(fmt::format_string<Args...> f, Args&&... args) {          \
    return Status(Code::k##Name, fmt::format(f, std::forward<Args>(args)...)); \
  }

SKIFF_DEFINE_ERROR_CTOR(InvalidArgument)
SKIFF_DEFINE_ERROR_CTOR(NotFound)
SKIFF_DEFINE_ERROR_CTOR(AlreadyExists)
SKIFF_DEFINE_ERROR_CTOR(FailedPrecondition)
SKIFF_DEFINE_ERROR_CTOR(Unavailable)
SKIFF_DEFINE_ERROR_CTOR(Corruption)
SKIFF_DEFINE_ERROR_CTOR(Io)
SKIFF_DEFINE_ERROR_CTOR(Internal)
SKIFF_DEFINE_ERROR_CTOR(PermissionDenied)
SKIFF_DEFINE_ERROR_CTOR(Unsupported)
SKIFF_DEFINE_ERROR_CTOR(Cancelled)
#undef SKIFF_DEFINE_ERROR_CTOR

// An I/O error from errno: "open '/x': no such file or directory".
Status ErrnoError(int err, std::string_view what);

[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);

// Holds either a T or a non-ok Status, like std::expected.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(const T& value) : v_(value) {}            // NOLINT(google-explicit-constructor)
  Result(T&& value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) {
      CheckFailed(__FILE__, __LINE__, "Result constructed from an ok Status");
    }
  }
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status>) Result(U&& value)
      : v_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & {
    Check();
    return std::get<T>(v_);
  }
  const T& value() const& {
    Check();
    return std::get<T>(v_);
  }
  T&& value() && {
    Check();
    return std::get<T>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T other) const { return ok() ? std::get<T>(v_) : other; }

 private:
  void Check() const {
    if (!ok()) {
      CheckFailed(__FILE__, __LINE__, std::get<Status>(v_).ToString().c_str());
    }
  }
  std::variant<T, Status> v_;
};

namespace internal {
inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace skiff

#define SKIFF_CONCAT_INNER(a, b) a##b
#define SKIFF_CONCAT(a, b) SKIFF_CONCAT_INNER(a, b)

// Returns the error from a Status or Result expression.
#define SKIFF_TRY(expr)                                                  \
  do {                                                                   \
    ::skiff::Status skiff_try_st_ = ::skiff::internal::ToStatus((expr)); \
    if (!skiff_try_st_.ok()) return skiff_try_st_;                       \
  } while (0)

// `SKIFF_ASSIGN_OR_RETURN(auto x, Foo());` declares x from Foo()'s value, or returns its error.
#define SKIFF_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_ASSIGN_OR_RETURN_IMPL(SKIFF_CONCAT(skiff_res_, __LINE__), lhs, expr)
#define SKIFF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()

// Always-on invariant check: crashes with file and line. Never for input-triggered conditions.
#define SKIFF_CHECK(cond)                                         \
  do {                                                            \
    if (!(cond)) ::skiff::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)
#ifdef NDEBUG
#define SKIFF_DCHECK(cond) \
  do {                     \
  } while (0)
#else
#define SKIFF_DCHECK(cond) SKIFF_CHECK(cond)
#endif
