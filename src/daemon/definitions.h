// Reading a folder of stored definitions (ROOT/etc/skiff/{domains,networks,pools}) at
// daemon start. A file that does not read or parse is logged on one line and kept.
#pragma once

#include <filesystem>
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

}  // namespace skiff::daemon
