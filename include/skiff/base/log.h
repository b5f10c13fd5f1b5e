// Logging: one process-wide logger (spdlog) to stderr or a file.
#pragma once

#include <filesystem>

#include <spdlog/spdlog.h>

namespace skiff {

// Sends log lines to `file` (appended, created with its directory) or, when
// empty, to stderr. `verbose` enables debug lines. Call once, early in main().
void InitLogging(const std::filesystem::path& file, bool verbose);

}  // namespace skiff

// Use spdlog's functions directly: spdlog::info("domain '{}' started", name);
