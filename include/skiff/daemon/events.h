// EventBus: lifecycle events and job progress, fanned out to the event-stream clients.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include <nlohmann/json.hpp>

#include "skiff/api/types.h"

namespace skiff::daemon {

class EventBus {
 public:
  using Sink = std::function<void(const nlohmann::json& event)>;

  // Registers `sink`; it is called on the publisher's thread and must not block.
  // Returns an id for Unsubscribe.
  uint64_t Subscribe(Sink sink);
  void Unsubscribe(uint64_t id);

  // Stamps `event` with a sequence number (seq) and a time (unix ms), then hands
  // its JSON to every sink.
  void Publish(api::Event event);

  size_t SubscriberCountForTest();

 private:
  std::mutex mu_;
  uint64_t next_id_ = 1;
  uint64_t seq_ = 0;
  std::map<uint64_t, Sink> sinks_;
};

}  // namespace skiff::daemon
