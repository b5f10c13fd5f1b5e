// The save file's header line: read and written here, the state after it by the hypervisor.
#include "daemon/save_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

Result<SaveHeader> ReadSaveHeader(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("open '{}'", file));
  // Only the first line: the state after it may be gigabytes.
  std::string line;
  char buf[4096];
  bool done = false;
  while (!done && line.size() < kMaxSaveHeader) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read '{}'", file));
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        done = true;
        break;
      }
      line += buf[i];
    }
  }
  auto header = nlohmann::json::parse(line, nullptr, false);
  if (!done || !header.is_object() || header.value("magic", "") != kSaveMagic ||
      !header.contains("xml") || !header["xml"].is_string()) {
    return InvalidArgumentError("'{}' is not a skiff save file", file);
  }
  SaveHeader h;
  SKIFF_ASSIGN_OR_RETURN(h.def, conf::ParseDomainXml(header["xml"].get<std::string>(), file));
  h.paused = header.value("paused", false);
  h.state_offset = line.size() + 1;
  return h;
}

Status WriteSaveHeader(const std::string& file, const conf::DomainDef& def, bool paused) {
  nlohmann::json header = {
      {"magic", kSaveMagic}, {"xml", conf::FormatDomainXml(def)}, {"paused", paused}};
  return WriteFileAtomic(file, header.dump() + "\n", 0600);
}

}  // namespace skiff::daemon
