// Jobs: long operations (save, managedsave, restore) that report progress and can be
// cancelled. Each runs on its own thread; the API returns its id at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "skiff/api/types.h"
#include "skiff/base/status.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/hypervisor.h"

namespace skiff::daemon {

class JobManager {
 public:
  explicit JobManager(EventBus& events) : events_(events) {}
  ~JobManager() { StopAll(); }

  // Asks every running job to stop (its cancel flag) and waits for all of them.
  // The owner calls it before tearing down what the jobs use. Idempotent.
  void StopAll();

  // Starts `work` on a new thread as job `kind` on `object` and returns its id.
  // `work` gets a JobControl (progress, cancel flag) and returns its outcome.
  uint64_t Start(std::string kind, std::string object,
                 std::function<Status(const JobControl&)> work);

  // The job as the API shows it (state running, completed, failed or cancelled;
  // the error of one that failed). kNotFound for an unknown id.
  Result<api::Job> Get(uint64_t id);
  std::vector<api::Job> List();
  // Asks a running job to stop. kFailedPrecondition when it already ended.
  Status Cancel(uint64_t id);
  // Blocks until the job ends; returns its outcome.
  Status Wait(uint64_t id);

 private:
  struct Job {
    uint64_t id = 0;
    std::string kind, object;
    std::string state = "running";
    int progress = 0;
    Status result;
    std::atomic<bool> cancel{false};
    std::thread thread;
  };
  api::Job Describe(const Job& j);  // needs mu_
  void Announce(api::Job job);      // a "job" event

  EventBus& events_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Job>> jobs_;
};

}  // namespace skiff::daemon
