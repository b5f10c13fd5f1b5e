// skiff backup's files: a backup is a directory DIR/ID holding the domain's
// definition (domain.xml), its disks as qcow2 (an incremental's are overlays on
// its parent's, holding only the changed clusters), its NVRAM when it has one,
// and manifest.json, written last, which names them all with their sizes and
// SHA-256 sums. A directory without a manifest is no backup. This file is the
// pure part (manifest format, scan, verify, chains, retention, times); the
// daemon's DomainBackups makes and restores them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::daemon {

struct BackupDisk {
  std::string target;         // vda
  std::string file;           // vda.qcow2, in the backup's directory
  std::string source;         // the domain's disk when it was backed up
  std::string format;         // its format (raw, qcow2): what a restore writes
  uint64_t virtual_size = 0;  // guest bytes
  uint64_t copied = 0;        // guest bytes this backup holds (all of a full; the changes)
};

struct BackupFileSum {
  std::string name;  // in the backup's directory
  uint64_t bytes = 0;
  std::string sha256;  // lower-case hex
};

struct BackupManifest {
  std::string id;  // 20261207T231500Z: when it began, UTC
  std::string domain, uuid;
  bool incremental = false;
  std::string parent;   // an incremental's: the backup it builds on
  int64_t created = 0;  // unix seconds
  std::string definition = "domain.xml";
  std::string nvram;  // file name, empty when the domain has none
  std::vector<BackupDisk> disks;
  std::vector<BackupFileSum> files;  // every file above
};

inline constexpr std::string_view kManifestName = "manifest.json";

std::string ManifestToJson(const BackupManifest& m);
// `where` names the file in errors: "DIR/ID/manifest.json: ...", one line.
Result<BackupManifest> ParseManifest(std::string_view text, const std::string& where);

// Lower-case hex SHA-256 of a file's bytes.
Result<std::string> Sha256File(const std::filesystem::path& path);
// Its size and sum, as the manifest lists it.
Result<BackupFileSum> SumFile(const std::filesystem::path& dir, const std::string& name);

// One backup found in a directory: its manifest, or why it cannot be read.
struct BackupEntry {
  std::filesystem::path dir;
  BackupManifest manifest;
  Status error;  // the manifest's problem; `manifest` is empty then
};
// The backups in `dir` (subdirectories with a manifest; hidden ones, which are
// backups still being written, are left out), oldest first. kNotFound when `dir`
// is no directory.
Result<std::vector<BackupEntry>> ScanBackups(const std::filesystem::path& dir);
// Whether `path` is one backup (it has a manifest) rather than a directory of them.
bool IsBackupDir(const std::filesystem::path& path);

// What is wrong with one backup's files: one line each ("vda.qcow2: 1048576
// bytes, the manifest says 2097152 (truncated)"); empty when all are as listed.
std::vector<std::string> VerifyBackupFiles(const BackupEntry& b);

// The chain that restoring backup `id` of `backups` reads, oldest (the full) first.
// kNotFound names the missing parent.
Result<std::vector<const BackupEntry*>> BackupChain(const std::vector<BackupEntry>& backups,
                                                    const std::string& id);
// The newest readable backup of `domain` (any when empty) taken at or before
// `at` (unix seconds; 0: any time). kNotFound when there is none.
Result<const BackupEntry*> NewestBackup(const std::vector<BackupEntry>& backups,
                                        const std::string& domain, int64_t at);

// Retention: the ids of `domain`'s backups to keep with --keep-last N (the N
// newest) and --keep-daily N (the newest of each of the N latest days, UTC that
// have backups); 0 leaves that rule out. A kept incremental keeps its parents.
std::set<std::string> BackupsToKeep(const std::vector<BackupEntry>& backups,
                                    const std::string& domain, unsigned keep_last,
                                    unsigned keep_daily);

// "20261207T231500Z" for a unix time, and the UTC "2026-12-07 23:15:00" shown.
std::string BackupIdAt(int64_t unix_seconds);
std::string BackupTimeText(int64_t unix_seconds);
// --at: "2026-12-07T23:15:00Z", "2026-12-07 23:15[:00]", "2026-12-07" (its end),
// or a backup id; UTC. kInvalidArgument naming the text otherwise.
Result<int64_t> ParseBackupTime(std::string_view text);

}  // namespace skiff::daemon
