// JobManager: one thread per running job; finished jobs stay listed for inspection.
#include "skiff/daemon/jobs.h"

#include <algorithm>

#include "skiff/api/errors.h"

namespace skiff::daemon {

void JobManager::StopAll() {
  std::vector<std::thread> threads;
  {
    std::lock_guard l(mu_);
    for (auto& [id, j] : jobs_) {
      j->cancel = true;
      if (j->thread.joinable()) threads.push_back(std::move(j->thread));
    }
  }
  for (auto& t : threads) t.join();
}

api::Job JobManager::Describe(const Job& j) {
  api::Job out{j.id, j.kind, j.object, j.state, j.progress, std::nullopt};
  if (!j.result.ok()) {
    out.error = api::ErrorInfo{std::string(api::ErrorId(j.result.code())), j.result.message()};
  }
  return out;
}

void JobManager::Announce(api::Job job) {
  api::Event e;
  e.type = "job";
  e.job = std::move(job);
  events_.Publish(std::move(e));
}

uint64_t JobManager::Start(std::string kind, std::string object,
                           std::function<Status(const JobControl&)> work) {
  std::lock_guard l(mu_);
  for (auto& [old_id, old] : jobs_) {
    if (old->state != "running" && old->thread.joinable()) old->thread.join();
  }
  // Keep the history short: drop the oldest finished jobs beyond 100.
  while (jobs_.size() >= 100) {
    auto it = std::find_if(jobs_.begin(), jobs_.end(),
                           [](const auto& p) { return p.second->state != "running"; });
    if (it == jobs_.end()) break;
    if (it->second->thread.joinable()) it->second->thread.join();
    jobs_.erase(it);
  }
  auto job = std::make_unique<Job>();
  Job* j = job.get();
  j->id = next_id_++;
  j->kind = std::move(kind);
  j->object = std::move(object);
  uint64_t id = j->id;
  jobs_[id] = std::move(job);
  Announce(Describe(*j));
  j->thread = std::thread([this, j, work = std::move(work)] {
    JobControl control;
    control.cancelled = &j->cancel;
    control.progress = [this, j](int p) {
      api::Job d;
      {
        std::lock_guard g(mu_);
        if (p == j->progress) return;
        j->progress = p;
        d = Describe(*j);
      }
      Announce(std::move(d));
    };
    Status st = work(control);
    api::Job d;
    {
      std::lock_guard g(mu_);
      j->result = st;
      if (st.ok()) {
        j->state = "completed";
        j->progress = 100;
      } else {
        j->state = st.code() == Code::kCancelled ? "cancelled" : "failed";
      }
      d = Describe(*j);
    }
    cv_.notify_all();
    Announce(std::move(d));
  });
  return id;
}

Result<api::Job> JobManager::Get(uint64_t id) {
  std::lock_guard l(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFoundError("job {} not found", id);
  return Describe(*it->second);
}

std::vector<api::Job> JobManager::List() {
  std::lock_guard l(mu_);
  std::vector<api::Job> out;
  for (auto& [id, j] : jobs_) out.push_back(Describe(*j));
  return out;
}

Status JobManager::Cancel(uint64_t id) {
  std::lock_guard l(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFoundError("job {} not found", id);
  if (it->second->state != "running") {
    return FailedPreconditionError("job {} already ended ({})", id, it->second->state);
  }
  it->second->cancel = true;
  return Status::Ok();
}

Status JobManager::Wait(uint64_t id) {
  std::unique_lock l(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return NotFoundError("job {} not found", id);
  Job* j = it->second.get();
  cv_.wait(l, [j] { return j->state != "running"; });
  return j->result;
}

}  // namespace skiff::daemon
