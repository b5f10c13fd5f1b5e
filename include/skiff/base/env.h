// Env: the file-system operations persistence depends on, behind one seam (as
// leveldb's include/leveldb/env.h), so that a test can swap in an Env that fails
// the Nth write or forgets what was not synced when it "crashes"
// (tests/testutil/fault_injection_env.h) and prove that no definition is lost
// or half-written. DefaultEnv() is the real file system.
//
// Implementations are thread-safe. Paths are absolute or relative to the cwd.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"

namespace skiff {

// A file open for writing from its start. Data reaches the disk for certain only
// after Sync(); the destructor closes without syncing.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;   // fsync: the data so far is durable
  virtual Status Close() = 0;  // idempotent
};

class Env {
 public:
  virtual ~Env() = default;

  // The whole file. kNotFound when it does not exist.
  virtual Result<std::string> ReadFile(const std::filesystem::path& path) = 0;
  // Creates `path` (mode `mode`) or truncates it, open for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::filesystem::path& path,
                                                                mode_t mode) = 0;
  // rename(2): atomic replacement of `to`; durable once the directory is synced.
  virtual Status RenameFile(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Removes a file or symlink; ok when it is already gone.
  virtual Status RemoveFile(const std::filesystem::path& path) = 0;
  // fsync of a directory: creations, renames and removals in it are durable.
  virtual Status SyncDir(const std::filesystem::path& dir) = 0;
  // mkdir -p.
  virtual Status CreateDirs(const std::filesystem::path& dir) = 0;
  // The names in `dir` (not . and ..), sorted. kNotFound when it does not exist.
  virtual Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) = 0;
  // Whether `path` exists (a symlink counts when its target exists).
  virtual bool FileExists(const std::filesystem::path& path) = 0;
  // Makes `link` a symlink to `target`, replacing what was at `link`.
  virtual Status Symlink(const std::filesystem::path& target,
                         const std::filesystem::path& link) = 0;
};

// The real file system; lives for the whole process.
Env& DefaultEnv();

// Replaces `path` with `data` so that a reader or a crash sees either the old or
// the new content, never a mix: writes a temp file beside it, syncs it, renames
// it over `path` and syncs the directory. On error nothing at `path` changes and
// the temp file is removed (as far as `env` still lets us).
Status WriteFileAtomic(Env& env, const std::filesystem::path& path, std::string_view data,
                       mode_t mode = 0644);

// Removes `path` (ok when it is gone) and syncs its directory, so that a crash
// does not bring it back.
Status RemoveFileDurably(Env& env, const std::filesystem::path& path);

}  // namespace skiff
