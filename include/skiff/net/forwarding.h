// IPv4 forwarding, on while at least one NAT, routed or open network is
// active, and set back to its old value when the last one stops.
#pragma once

#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "skiff/base/status.h"

namespace skiff::net {

// Reference-counts the networks that need forwarding. The holders and the
// value found before the first one are kept in `state_file`, so that a
// restarted daemon releases correctly. Thread-safe.
class IpForwarding {
 public:
  // `sysctl`: normally /proc/sys/net/ipv4/ip_forward (tests pass a plain file).
  // `state_file`: e.g. ROOT/run/skiff/network/ip_forward.state.
  IpForwarding(std::filesystem::path sysctl, std::filesystem::path state_file);

  // Adds `network` as a holder; the first holder saves the current value and
  // writes "1". Acquiring twice for one network counts once.
  Status Acquire(const std::string& network);
  // Removes `network`; when no holder is left, writes back the saved value and
  // removes the state file. Ok when `network` held nothing.
  Status Release(const std::string& network);
  // The current holders (read from the state file).
  Result<std::set<std::string>> Holders();

 private:
  struct State {
    std::string saved;  // "0" or "1"
    std::set<std::string> holders;
  };
  Result<State> Load();
  Status Store(const State& s);

  std::filesystem::path sysctl_;
  std::filesystem::path state_file_;
  std::mutex mu_;
};

}  // namespace skiff::net
