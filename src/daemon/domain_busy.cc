// DomainBusy: a map of domain to the job that reads its disks.
#include "skiff/daemon/domain_busy.h"

namespace skiff::daemon {

Status DomainBusy::Check(const std::string& domain) const {
  std::lock_guard l(mu_);
  auto it = held_.find(domain);
  if (it == held_.end()) return Status::Ok();
  const Holder& h = it->second;
  return FailedPreconditionError("domain '{}' is being {}{}; wait until it ends", domain, h.what,
                                 h.job ? fmt::format(" (job {})", h.job) : "");
}

void DomainBusy::Hold(const std::string& domain, std::string what) {
  std::lock_guard l(mu_);
  held_[domain] = Holder{std::move(what), 0};
}

void DomainBusy::SetJob(const std::string& domain, uint64_t job) {
  std::lock_guard l(mu_);
  if (auto it = held_.find(domain); it != held_.end()) it->second.job = job;
}

void DomainBusy::Release(const std::string& domain) {
  std::lock_guard l(mu_);
  held_.erase(domain);
}

}  // namespace skiff::daemon
