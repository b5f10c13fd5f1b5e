// EventBus: a list of sinks behind one mutex; each event gets a sequence number.
#include "skiff/daemon/events.h"

#include <chrono>

namespace skiff::daemon {

uint64_t EventBus::Subscribe(Sink sink) {
  std::lock_guard l(mu_);
  uint64_t id = next_id_++;
  sinks_[id] = std::move(sink);
  return id;
}

void EventBus::Unsubscribe(uint64_t id) {
  std::lock_guard l(mu_);
  sinks_.erase(id);
}

void EventBus::Publish(api::Event event) {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  std::lock_guard l(mu_);
  event.seq = ++seq_;
  event.time = static_cast<uint64_t>(now.count());
  const nlohmann::json j = event;
  for (auto& [id, sink] : sinks_) sink(j);
}

size_t EventBus::SubscriberCountForTest() {
  std::lock_guard l(mu_);
  return sinks_.size();
}

}  // namespace skiff::daemon
