// FaultInjectionEnv: an Env over another one (the real file system in a temp
// dir) that fails writes from the Nth on, as a full or failing disk does, and
// "crashes": it forgets what a power cut would, so that a test can prove that
// what was written survives whole or not at all (leveldb's
// db/fault_injection_test.cc). What a crash forgets:
//   - file data not synced (a file keeps only what its last Sync covered; a
//     file created or truncated and never synced ends empty), and
//   - creations, renames, removals and symlinks in a directory not synced since.
#pragma once

#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/env.h"

namespace skiff::testing {

class FaultInjectionEnv : public Env {
 public:
  explicit FaultInjectionEnv(Env& base) : base_(base) {}

  // From the `n`th mutating call on (1: the next one), every mutating call
  // (create, append, sync, rename, remove, symlink, directory sync) fails with
  // kIo "injected fault". 0: no faults.
  void FailFromNthWrite(int n);
  // Whether a call failed because of FailFromNthWrite since it was set.
  bool fault_hit();
  // Mutating calls since the last FailFromNthWrite.
  int writes();

  // Forgets, on the base Env, what was not durable (see above); then faults stop
  // and tracking starts afresh.
  Status Crash();

  Result<std::string> ReadFile(const std::filesystem::path& path) override;
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::filesystem::path& path,
                                                        mode_t mode) override;
  Status RenameFile(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status RemoveFile(const std::filesystem::path& path) override;
  Status SyncDir(const std::filesystem::path& dir) override;
  Status CreateDirs(const std::filesystem::path& dir) override;
  Result<std::vector<std::string>> ListDir(const std::filesystem::path& dir) override;
  bool FileExists(const std::filesystem::path& path) override;
  Status Symlink(const std::filesystem::path& target, const std::filesystem::path& link) override;

 private:
  class File;
  // What a directory entry held before a change not yet made durable.
  struct Entry {
    std::optional<std::string> content;         // a regular file's bytes
    std::optional<std::filesystem::path> link;  // a symlink's target
  };
  struct DirOp {
    std::filesystem::path path;                 // the entry changed
    std::optional<std::filesystem::path> from;  // a rename's source
    Entry before;                               // `path` before (nothing: it did not exist)
  };

  Status CountWrite();                                              // needs mu_
  Entry Snapshot(const std::filesystem::path& path);                // needs mu_
  void Restore(const std::filesystem::path& path, const Entry& e);  // needs mu_
  void Synced(const std::filesystem::path& path, size_t size);

  Env& base_;
  std::mutex mu_;
  int fail_from_ = 0;
  int writes_ = 0;
  bool hit_ = false;
  std::map<std::filesystem::path, size_t> synced_;  // files written since: bytes made durable
  std::vector<DirOp> pending_;                      // directory changes not synced yet
};

}  // namespace skiff::testing
