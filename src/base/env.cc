// PosixEnv: the real file system behind the Env seam; and WriteFileAtomic on any Env.
#include "skiff/base/env.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include <fmt/format.h>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff {
namespace {

namespace fs = std::filesystem;

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status Append(std::string_view data) override { return WriteAll(fd_.get(), data, path_); }
  Status Sync() override {
    if (::fsync(fd_.get()) != 0) return ErrnoError(errno, fmt::format("fsync '{}'", path_));
    return Status::Ok();
  }
  Status Close() override {
    fd_.reset();
    return Status::Ok();
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

class PosixEnv : public Env {
 public:
  Result<std::string> ReadFile(const fs::path& path) override { return skiff::ReadFile(path); }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const fs::path& path,
                                                        mode_t mode) override {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return ErrnoError(errno, fmt::format("create '{}'", path.string()));
    // open(2) applies the umask; the caller's mode is what it asked for.
    if (::fchmod(fd.get(), mode) != 0) {
      return ErrnoError(errno, fmt::format("fchmod '{}'", path.string()));
    }
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(std::move(fd), path.string()));
  }

  Status RenameFile(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError(errno, fmt::format("rename to '{}'", to.string()));
    }
    return Status::Ok();
  }

  Status RemoveFile(const fs::path& path) override { return RemoveFileIfExists(path); }

  Status SyncDir(const fs::path& dir) override {
    UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return ErrnoError(errno, fmt::format("open directory '{}'", dir.string()));
    if (::fsync(fd.get()) != 0) return ErrnoError(errno, fmt::format("fsync '{}'", dir.string()));
    return Status::Ok();
  }

  Status CreateDirs(const fs::path& dir) override { return MakeDirs(dir); }

  Result<std::vector<std::string>> ListDir(const fs::path& dir) override {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      if (ec == std::errc::no_such_file_or_directory) {
        return NotFoundError("directory '{}' does not exist", dir.string());
      }
      return IoError("list directory '{}': {}", dir.string(), ec.message());
    }
    std::vector<std::string> names;
    for (const auto& e : it) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  bool FileExists(const fs::path& path) override {
    std::error_code ec;
    return fs::exists(path, ec);
  }

  Status Symlink(const fs::path& target, const fs::path& link) override {
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_symlink(target, link, ec);
    if (ec) return IoError("symlink '{}': {}", link.string(), ec.message());
    return Status::Ok();
  }
};

}  // namespace

Env& DefaultEnv() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: threads may use it at exit
  return *env;
}

Status WriteFileAtomic(Env& env, const std::filesystem::path& path, std::string_view data,
                       mode_t mode) {
  static std::atomic<uint64_t> counter{0};
  const fs::path tmp = path.string() + fmt::format(".tmp.{}.{}", ::getpid(), counter.fetch_add(1));
  auto fail = [&](Status st) {
    (void)env.RemoveFile(tmp);
    return st;
  };
  SKIFF_ASSIGN_OR_RETURN(auto file, env.NewWritableFile(tmp, mode));
  if (Status st = file->Append(data); !st.ok()) return fail(st);
  if (Status st = file->Sync(); !st.ok()) return fail(st);
  if (Status st = file->Close(); !st.ok()) return fail(st);
  if (Status st = env.RenameFile(tmp, path); !st.ok()) return fail(st);
  return env.SyncDir(path.parent_path());
}

Status RemoveFileDurably(Env& env, const std::filesystem::path& path) {
  SKIFF_TRY(env.RemoveFile(path));
  return env.SyncDir(path.parent_path());
}

}  // namespace skiff
