// Reference-counted IPv4 forwarding with the old value saved in a state file.
#include "skiff/net/forwarding.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::net {
namespace {

// /proc/sys files cannot be replaced by rename: write in place.
Status WriteSysctl(const std::filesystem::path& path, const std::string& value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open '{}'", path.string()));
  std::string v = value + "\n";
  if (::write(fd.get(), v.data(), v.size()) != static_cast<ssize_t>(v.size())) {
    return ErrnoError(errno, fmt::format("write '{}'", path.string()));
  }
  return Status::Ok();
}

}  // namespace

IpForwarding::IpForwarding(std::filesystem::path sysctl, std::filesystem::path state_file)
    : sysctl_(std::move(sysctl)), state_file_(std::move(state_file)) {}

Result<IpForwarding::State> IpForwarding::Load() {
  State s;
  auto text = ReadFile(state_file_);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return s;
    return text.status();
  }
  std::istringstream in(*text);
  std::string key, value;
  while (in >> key >> value) {
    if (key == "saved") {
      s.saved = value;
    } else if (key == "holder") {
      s.holders.insert(value);
    } else {
      return CorruptionError("'{}': unknown key '{}'", state_file_.string(), key);
    }
  }
  if (!s.holders.empty() && s.saved != "0" && s.saved != "1") {
    return CorruptionError("'{}': saved value '{}' is not 0 or 1", state_file_.string(), s.saved);
  }
  return s;
}

Status IpForwarding::Store(const State& s) {
  if (s.holders.empty()) return RemoveFileIfExists(state_file_);
  std::string text = "saved " + s.saved + "\n";
  for (const auto& h : s.holders) text += "holder " + h + "\n";
  SKIFF_TRY(MakeDirs(state_file_.parent_path()));
  return WriteFileAtomic(state_file_, text);
}

Status IpForwarding::Acquire(const std::string& network) {
  std::lock_guard<std::mutex> l(mu_);
  SKIFF_ASSIGN_OR_RETURN(State s, Load());
  if (s.holders.empty()) {
    SKIFF_ASSIGN_OR_RETURN(std::string cur, ReadFile(sysctl_));
    s.saved.assign(1, !cur.empty() && cur[0] == '1' ? '1' : '0');
  }
  bool first = s.holders.empty();
  s.holders.insert(network);
  // The state is stored before the sysctl changes so that a crash between the
  // two still remembers the value to restore.
  SKIFF_TRY(Store(s));
  if (first) SKIFF_TRY(WriteSysctl(sysctl_, "1"));
  return Status::Ok();
}

Status IpForwarding::Release(const std::string& network) {
  std::lock_guard<std::mutex> l(mu_);
  SKIFF_ASSIGN_OR_RETURN(State s, Load());
  if (s.holders.erase(network) == 0) return Status::Ok();
  if (s.holders.empty()) SKIFF_TRY(WriteSysctl(sysctl_, s.saved));
  return Store(s);
}

Result<std::set<std::string>> IpForwarding::Holders() {
  std::lock_guard<std::mutex> l(mu_);
  SKIFF_ASSIGN_OR_RETURN(State s, Load());
  return s.holders;
}

}  // namespace skiff::net
