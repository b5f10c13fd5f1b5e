// Folders of stored definitions (ROOT/etc/skiff/{domains,networks,pools}): reading
// them at daemon start (a file that does not read or parse is logged on one line and
// kept), and their autostart links (DIR/autostart/NAME.xml -> DIR/NAME.xml, as
// libvirt keeps them). All of it goes through the Env seam, so that tests can fail
// and crash the disk under it (persistence_fault_test.cc).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "skiff/base/env.h"
#include "skiff/base/status.h"
#include "skiff/daemon/object_registry.h"

namespace skiff::daemon {

// Calls add(def, path) for every *.xml file in dir that parse(text, path) accepts;
// kind ("domain", "network", "pool") names the files in the log line.
template <typename Parse, typename Add>
void LoadDefinitionFiles(Env& env, const std::filesystem::path& dir, std::string_view kind,
                         Parse parse, Add add) {
  auto names = env.ListDir(dir);
  if (!names.ok()) return;
  for (const auto& name : *names) {
    const std::filesystem::path file = dir / name;
    // Only NAME.xml; temp files of an interrupted write (NAME.xml.tmp.*) are not definitions.
    if (file.extension() != ".xml") continue;
    auto text = env.ReadFile(file);
    if (!text.ok() && text.status().code() != Code::kNotFound) {
      spdlog::error("skipping {} definition '{}': {} (the file is kept)", kind, file.string(),
                    text.status().ToString());
      continue;
    }
    if (!text.ok()) continue;  // a directory (autostart/) or gone meanwhile
    auto def = parse(*text, file.string());
    if (!def.ok()) {
      spdlog::error("skipping {} definition '{}': {} (the file is kept)", kind, file.string(),
                    def.status().ToString());
      continue;
    }
    add(std::move(*def), file);
  }
}

// Removes what interrupted atomic writes left in `dir` (WriteFileAtomic's temp
// files, NAME.tmp.*): a daemon killed mid-write leaves one each time. Called at
// daemon start, before anything writes there. Returns how many went.
inline size_t RemoveStaleTempFiles(Env& env, const std::filesystem::path& dir) {
  size_t removed = 0;
  for (const auto& name : env.ListDir(dir).value_or(std::vector<std::string>{})) {
    if (name.find(".tmp.") == std::string::npos) continue;
    if (Status st = env.RemoveFile(dir / name); !st.ok()) {
      spdlog::warn("stale temp file: {}", st.ToString());
      continue;
    }
    ++removed;
  }
  if (removed) spdlog::info("removed {} stale temp file(s) in '{}'", removed, dir.string());
  return removed;
}

inline std::filesystem::path AutostartLink(const std::filesystem::path& dir,
                                           const std::string& name) {
  return dir / "autostart" / (name + ".xml");
}

inline bool HasAutostartLink(Env& env, const std::filesystem::path& dir, const std::string& name) {
  return env.FileExists(AutostartLink(dir, name));
}

// Loads every stored definition in `dir` into `registry` as a persistent object
// (Obj has `def` and `autostart`), with its autostart link read; a file whose name
// or UUID another file already holds is logged on one line and kept. This is the
// one loading loop domains, networks and pools share.
template <typename Obj, typename Parse>
void LoadDefinitionsInto(Env& env, const std::filesystem::path& dir, std::string_view kind,
                         Parse parse, ObjectRegistry<Obj>& registry) {
  LoadDefinitionFiles(env, dir, kind, parse, [&](auto def, const std::filesystem::path& file) {
    if (def.name != file.stem().string()) {
      spdlog::warn("{} definition '{}' names {} '{}'", kind, file.string(), kind, def.name);
    }
    auto obj = std::make_shared<Obj>();
    obj->def = std::move(def);
    obj->autostart = HasAutostartLink(env, dir, obj->def.name);
    if (Status st = registry.Add(obj); !st.ok()) {
      spdlog::error("skipping {} definition '{}': {} (the file is kept)", kind, file.string(),
                    st.ToString());
    }
  });
}

// Makes (enabled) or removes the autostart link of definition `name` in `dir`,
// durably (the autostart directory is synced).
inline Status SetAutostartLink(Env& env, const std::filesystem::path& dir, const std::string& name,
                               bool enabled) {
  const std::filesystem::path link = AutostartLink(dir, name);
  if (!enabled) return RemoveFileDurably(env, link);
  SKIFF_TRY(env.CreateDirs(link.parent_path()));
  SKIFF_TRY(env.Symlink(dir / (name + ".xml"), link)
                .WithContext(fmt::format("autostart link '{}'", link.string())));
  return env.SyncDir(link.parent_path());
}

// Stores a definition's XML as DIR/NAME.xml, atomically and durably.
inline Status WriteDefinitionFile(Env& env, const std::filesystem::path& dir,
                                  const std::string& name, std::string_view xml) {
  return WriteFileAtomic(env, dir / (name + ".xml"), xml, 0600);
}

// Removes DIR/NAME.xml durably (a crash does not bring it back).
inline Status RemoveDefinitionFile(Env& env, const std::filesystem::path& dir,
                                   const std::string& name) {
  return RemoveFileDurably(env, dir / (name + ".xml"));
}

}  // namespace skiff::daemon
