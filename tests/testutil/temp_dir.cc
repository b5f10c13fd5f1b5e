// Temporary directories for tests.
#include "testutil/temp_dir.h"

#include <cstdlib>
#include <string>

namespace skiff::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/skiff-test-XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path SourceDir() {
  const char* s = std::getenv("SKIFF_SOURCE_DIR");
  return s ? std::filesystem::path(s) : std::filesystem::current_path();
}

}  // namespace skiff::testing
