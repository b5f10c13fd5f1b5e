#include "testutil/fault_injection_env.h"

#include <algorithm>

namespace skiff::testing {

namespace fs = std::filesystem;

class FaultInjectionEnv::File : public WritableFile {
 public:
  File(FaultInjectionEnv& env, fs::path path, std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}
  Status Append(std::string_view data) override {
    {
      std::lock_guard l(env_.mu_);
      SKIFF_TRY(env_.CountWrite());
    }
    SKIFF_TRY(base_->Append(data));
    size_ += data.size();
    return Status::Ok();
  }
  Status Sync() override {
    {
      std::lock_guard l(env_.mu_);
      SKIFF_TRY(env_.CountWrite());
    }
    SKIFF_TRY(base_->Sync());
    env_.Synced(path_, size_);
    return Status::Ok();
  }
  Status Close() override { return base_->Close(); }

 private:
  FaultInjectionEnv& env_;
  fs::path path_;
  std::unique_ptr<WritableFile> base_;
  size_t size_ = 0;
};

void FaultInjectionEnv::FailFromNthWrite(int n) {
  std::lock_guard l(mu_);
  fail_from_ = n;
  writes_ = 0;
  hit_ = false;
}

bool FaultInjectionEnv::fault_hit() {
  std::lock_guard l(mu_);
  return hit_;
}

int FaultInjectionEnv::writes() {
  std::lock_guard l(mu_);
  return writes_;
}

Status FaultInjectionEnv::CountWrite() {
  ++writes_;
  if (fail_from_ > 0 && writes_ >= fail_from_) {
    hit_ = true;
    return IoError("injected fault (write {})", writes_);
  }
  return Status::Ok();
}

FaultInjectionEnv::Entry FaultInjectionEnv::Snapshot(const fs::path& path) {
  Entry e;
  std::error_code ec;
  if (fs::is_symlink(path, ec)) {
    e.link = fs::read_symlink(path, ec);
  } else if (auto text = base_.ReadFile(path); text.ok()) {
    e.content = std::move(*text);
  }
  return e;
}

void FaultInjectionEnv::Restore(const fs::path& path, const Entry& e) {
  (void)base_.RemoveFile(path);
  if (e.link) {
    (void)base_.Symlink(*e.link, path);
  } else if (e.content) {
    if (auto f = base_.NewWritableFile(path, 0600); f.ok()) {
      (void)(*f)->Append(*e.content);
      (void)(*f)->Close();
    }
  }
}

void FaultInjectionEnv::Synced(const fs::path& path, size_t size) {
  std::lock_guard l(mu_);
  synced_[path] = size;
}

Status FaultInjectionEnv::Crash() {
  std::lock_guard l(mu_);
  // Directory changes not made durable go, newest first.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (it->from) {
      (void)base_.RenameFile(it->path, *it->from);
      if (auto s = synced_.find(it->path); s != synced_.end()) {
        synced_[*it->from] = s->second;
        synced_.erase(s);
      }
    }
    Restore(it->path, it->before);
  }
  // Files keep what their last sync covered.
  for (const auto& [path, size] : synced_) {
    auto text = base_.ReadFile(path);
    if (!text.ok() || text->size() <= size) continue;
    Restore(path, Entry{text->substr(0, size), std::nullopt});
  }
  pending_.clear();
  synced_.clear();
  fail_from_ = 0;
  return Status::Ok();
}

Result<std::string> FaultInjectionEnv::ReadFile(const fs::path& path) {
  return base_.ReadFile(path);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const fs::path& path,
                                                                         mode_t mode) {
  std::lock_guard l(mu_);
  SKIFF_TRY(CountWrite());
  if (!base_.FileExists(path)) pending_.push_back({path, std::nullopt, Entry{}});
  SKIFF_ASSIGN_OR_RETURN(auto file, base_.NewWritableFile(path, mode));
  synced_[path] = 0;  // truncated: nothing of it is durable yet
  return std::unique_ptr<WritableFile>(std::make_unique<File>(*this, path, std::move(file)));
}

Status FaultInjectionEnv::RenameFile(const fs::path& from, const fs::path& to) {
  std::lock_guard l(mu_);
  SKIFF_TRY(CountWrite());
  Entry before = Snapshot(to);
  SKIFF_TRY(base_.RenameFile(from, to));
  pending_.push_back({to, from, std::move(before)});
  if (auto s = synced_.find(from); s != synced_.end()) {
    synced_[to] = s->second;
    synced_.erase(s);
  } else {
    synced_.erase(to);
  }
  return Status::Ok();
}

Status FaultInjectionEnv::RemoveFile(const fs::path& path) {
  std::lock_guard l(mu_);
  SKIFF_TRY(CountWrite());
  Entry before = Snapshot(path);
  SKIFF_TRY(base_.RemoveFile(path));
  if (before.content || before.link) pending_.push_back({path, std::nullopt, std::move(before)});
  synced_.erase(path);
  return Status::Ok();
}

Status FaultInjectionEnv::Symlink(const fs::path& target, const fs::path& link) {
  std::lock_guard l(mu_);
  SKIFF_TRY(CountWrite());
  Entry before = Snapshot(link);
  SKIFF_TRY(base_.Symlink(target, link));
  pending_.push_back({link, std::nullopt, std::move(before)});
  return Status::Ok();
}

Status FaultInjectionEnv::SyncDir(const fs::path& dir) {
  std::lock_guard l(mu_);
  SKIFF_TRY(CountWrite());
  SKIFF_TRY(base_.SyncDir(dir));
  const fs::path d = dir.empty() ? fs::path(".") : dir;
  std::erase_if(pending_, [&](const DirOp& op) {
    return op.path.parent_path() == d && (!op.from || op.from->parent_path() == d);
  });
  return Status::Ok();
}

Status FaultInjectionEnv::CreateDirs(const fs::path& dir) {
  // Directories made by the daemon are made at start and assumed durable.
  return base_.CreateDirs(dir);
}

Result<std::vector<std::string>> FaultInjectionEnv::ListDir(const fs::path& dir) {
  return base_.ListDir(dir);
}

bool FaultInjectionEnv::FileExists(const fs::path& path) { return base_.FileExists(path); }

}  // namespace skiff::testing
