// Folders of stored definitions (ROOT/etc/skiff/{domains,networks,pools}): reading
// them at daemon start (a file that does not read or parse is logged on one line and
// kept), and their autostart links (DIR/autostart/NAME.xml -> DIR/NAME.xml, as
// libvirt keeps them).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "skiff/base/fs.h"
#include "skiff/base/status.h"

namespace skiff::daemon {

// Calls add(def, path) for every *.xml file in dir that parse(text, path) accepts;
// kind ("domain", "network", "pool") names the files in the log line.
template <typename Parse, typename Add>
void LoadDefinitionFiles(const std::filesystem::path& dir, std::string_view kind, Parse parse,
                         Add add) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file() || e.path().extension() != ".xml") continue;
    const std::string path = e.path().string();
    auto text = ReadFile(e.path());
    auto def = text.ok() ? parse(*text, path) : decltype(parse(*text, path))(text.status());
    if (!def.ok()) {
      spdlog::error("skipping {} definition '{}': {} (the file is kept)", kind, path,
                    def.status().ToString());
      continue;
    }
    add(std::move(*def), e.path());
  }
}

inline std::filesystem::path AutostartLink(const std::filesystem::path& dir,
                                           const std::string& name) {
  return dir / "autostart" / (name + ".xml");
}

inline bool HasAutostartLink(const std::filesystem::path& dir, const std::string& name) {
  std::error_code ec;
  return std::filesystem::exists(AutostartLink(dir, name), ec);
}

// Makes (enabled) or removes the autostart link of definition `name` in `dir`.
inline Status SetAutostartLink(const std::filesystem::path& dir, const std::string& name,
                               bool enabled) {
  const std::filesystem::path link = AutostartLink(dir, name);
  if (!enabled) return RemoveFileIfExists(link);
  SKIFF_TRY(MakeDirs(link.parent_path()));
  std::error_code ec;
  std::filesystem::remove(link, ec);
  std::filesystem::create_symlink(dir / (name + ".xml"), link, ec);
  if (ec) return IoError("autostart link '{}': {}", link.string(), ec.message());
  return Status::Ok();
}

}  // namespace skiff::daemon
