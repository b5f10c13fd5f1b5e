// File helpers: whole-file read, atomic write (temp, fsync, rename, fsync dir).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff {

// Reads the whole file. kNotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

// As ReadFile, but reads at most `max_bytes`: a longer input (a huge file, or
// /dev/zero, which never ends) is kInvalidArgument naming it and the limit.
Result<std::string> ReadFile(const std::filesystem::path& path, size_t max_bytes);

// Replaces `path` with `data` so that a reader or a crash sees either the old
// or the new content, never a mix: writes `path.tmp.XXXXXX` in the same
// directory, fsyncs it, renames it over `path` and fsyncs the directory.
// On error nothing at `path` changes and the temp file is removed.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data,
                       mode_t mode = 0644);

// Creates `dir` and its parents with `mode` (like mkdir -p). Ok if it exists.
Status MakeDirs(const std::filesystem::path& dir, mode_t mode = 0755);

// Removes a file; ok if it is already gone.
Status RemoveFileIfExists(const std::filesystem::path& path);

}  // namespace skiff
