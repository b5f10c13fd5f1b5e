// TempDir: a fresh directory under $TMPDIR, removed with everything in it.
#pragma once

#include <filesystem>
#include <string>

namespace skiff::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The source tree (SKIFF_SOURCE_DIR, set by CTest) for reading test data.
std::filesystem::path SourceDir();

}  // namespace skiff::testing
