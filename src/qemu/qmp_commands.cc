// QMP operations on a running QEMU: run state, power, balloon, vCPUs, disk and
// NIC hotplug, block stats, save/restore of the machine state through an fd.
#include "skiff/qemu/qmp_commands.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "skiff/base/strings.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string StrOr(const json& j, const char* key, std::string dflt = "") {
  if (!j.is_object()) return dflt;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

int64_t IntOr(const json& j, const char* key, int64_t dflt) {
  if (!j.is_object()) return dflt;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : dflt;
}

uint64_t UintOr(const json& j, const char* key) {
  int64_t v = IntOr(j, key, 0);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

Status Simple(QmpClient& qmp, const char* cmd) { return qmp.Execute(cmd).status(); }

Status RequireString(const json& obj, const char* key, const char* what) {
  if (!obj.is_object() || StrOr(obj, key).empty()) {
    return InvalidArgumentError("{} needs a string '{}'", what, key);
  }
  return Status::Ok();
}

// device_del and the wait for the guest to release the device.
Status DeleteDevice(QmpClient& qmp, const std::string& id, std::chrono::milliseconds timeout) {
  auto watch =
      qmp.WatchEvent("DEVICE_DELETED", [id](const json& d) { return StrOr(d, "device") == id; });
  SKIFF_TRY(qmp.Execute("device_del", json{{"id", id}}));
  auto ev = watch->Wait(timeout);
  if (!ev.ok()) {
    if (qmp.closed()) return ev.status().WithContext(fmt::format("device '{}'", id));
    return UnavailableError("device '{}' was not released by the guest within {} ms", id,
                            timeout.count());
  }
  return Status::Ok();
}

MigrationProgress ProgressFrom(const json& info) {
  MigrationProgress p;
  p.status = StrOr(info, "status");
  if (info.is_object()) {
    if (auto it = info.find("ram"); it != info.end() && it->is_object()) {
      p.transferred = UintOr(*it, "transferred");
      p.remaining = UintOr(*it, "remaining");
      p.total = UintOr(*it, "total");
    }
  }
  return p;
}

// Polls query-migrate until the migration completes, fails or `timeout` passes.
Status WaitForMigration(QmpClient& qmp, const char* what, std::chrono::milliseconds timeout,
                        std::chrono::milliseconds interval, const ProgressCallback& progress,
                        const std::atomic<bool>* cancelled = nullptr) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (cancelled && cancelled->load()) {
      (void)qmp.Execute("migrate_cancel");
      return CancelledError("{} was cancelled", what);
    }
    SKIFF_ASSIGN_OR_RETURN(json info, qmp.Execute("query-migrate"));
    MigrationProgress p = ProgressFrom(info);
    if (progress) progress(p);
    if (p.status == "completed") return Status::Ok();
    if (p.status == "failed" || p.status == "cancelled") {
      std::string desc = StrOr(info, "error-desc", "no reason given");
      return FailedPreconditionError("{} failed: migration {}: {}", what, p.status, desc);
    }
    if (Clock::now() >= deadline) {
      (void)qmp.Execute("migrate_cancel");
      return UnavailableError("{} did not complete within {} ms (migration '{}')", what,
                              timeout.count(), p.status);
    }
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace

std::string_view RunStateName(RunState state) {
  switch (state) {
    case RunState::kRunning:
      return "running";
    case RunState::kPaused:
      return "paused";
    case RunState::kShutdown:
      return "shutdown";
    case RunState::kCrashed:
      return "crashed";
    case RunState::kPmSuspended:
      return "pmsuspended";
    case RunState::kUnknown:
      break;
  }
  return "unknown";
}

RunStatus RunStatusFromQemu(std::string_view s, bool running) {
  RunStatus r;
  r.qemu_status = std::string(s);
  r.running = running;
  auto set = [&](RunState st, const char* reason) {
    r.state = st;
    r.reason = reason;
  };
  if (s == "running") {
    set(RunState::kRunning, "booted");
  } else if (s == "paused") {
    set(RunState::kPaused, "user");
  } else if (s == "prelaunch") {
    set(RunState::kPaused, "starting-up");
  } else if (s == "inmigrate" || s == "finish-migrate" || s == "colo") {
    set(RunState::kPaused, "migration");
  } else if (s == "postmigrate") {
    set(RunState::kPaused, "saved");
  } else if (s == "save-vm" || s == "restore-vm") {
    set(RunState::kPaused, "snapshot");
  } else if (s == "io-error") {
    set(RunState::kPaused, "io-error");
  } else if (s == "debug") {
    set(RunState::kPaused, "debug");
  } else if (s == "watchdog") {
    set(RunState::kPaused, "watchdog");
  } else if (s == "shutdown") {
    set(RunState::kShutdown, "shutdown");
  } else if (s == "internal-error") {
    set(RunState::kCrashed, "crashed");
  } else if (s == "guest-panicked") {
    set(RunState::kCrashed, "panicked");
  } else if (s == "suspended") {
    set(RunState::kPmSuspended, "suspended");
  } else {
    r.state = running ? RunState::kRunning : RunState::kUnknown;
    r.reason = std::string(s);
  }
  return r;
}

Result<RunStatus> QueryStatus(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-status"));
  std::string s = StrOr(r, "status");
  if (s.empty()) return CorruptionError("qmp 'query-status': reply has no 'status'");
  bool running = r.is_object() && r.contains("running") && r["running"].is_boolean() &&
                 r["running"].get<bool>();
  return RunStatusFromQemu(s, running);
}

Status SystemPowerdown(QmpClient& qmp) { return Simple(qmp, "system_powerdown"); }
Status SystemReset(QmpClient& qmp) { return Simple(qmp, "system_reset"); }
Status Pause(QmpClient& qmp) { return Simple(qmp, "stop"); }
Status Resume(QmpClient& qmp) { return Simple(qmp, "cont"); }
Status Quit(QmpClient& qmp, std::chrono::milliseconds timeout) {
  return qmp.Execute("quit", json(), timeout).status();
}

Status SetBalloon(QmpClient& qmp, uint64_t bytes) {
  if (bytes == 0 || bytes > static_cast<uint64_t>(INT64_MAX)) {
    return InvalidArgumentError("balloon target {} bytes is out of range", bytes);
  }
  return qmp.Execute("balloon", json{{"value", static_cast<int64_t>(bytes)}}).status();
}

Status SetInitialBalloon(QmpClient& qmp, const conf::DomainDef& def) {
  const auto& balloon = def.devices.memballoon;
  if (!balloon || balloon->model != "virtio") return Status::Ok();
  if (def.current_memory_kib == 0 || def.current_memory_kib >= def.memory_kib) {
    return Status::Ok();
  }
  return SetBalloon(qmp, def.current_memory_kib * 1024)
      .WithContext(
          fmt::format("set the balloon to <currentMemory> {} KiB", def.current_memory_kib));
}

Status SetGraphicsPasswords(QmpClient& qmp, const conf::DomainDef& def) {
  const auto& gs = def.devices.graphics;
  for (size_t i = 0; i < gs.size(); ++i) {
    if (gs[i].passwd.empty()) continue;
    const std::string protocol(conf::ToString(gs[i].type));
    Status st =
        qmp.Execute("set_password", json{{"protocol", protocol}, {"password", gs[i].passwd}})
            .status();
    // The message names the display, never the password.
    if (!st.ok())
      return st.WithContext(fmt::format("set the {} password of graphics {}", protocol, i));
  }
  return Status::Ok();
}

Result<uint64_t> QueryBalloon(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-balloon"));
  int64_t actual = IntOr(r, "actual", -1);
  if (actual < 0) return CorruptionError("qmp 'query-balloon': reply has no valid 'actual'");
  return static_cast<uint64_t>(actual);
}

Result<std::vector<VcpuInfo>> QueryCpusFast(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-cpus-fast"));
  if (!r.is_array()) return CorruptionError("qmp 'query-cpus-fast': reply is not a list");
  std::vector<VcpuInfo> out;
  for (const auto& e : r) {
    if (!e.is_object()) return CorruptionError("qmp 'query-cpus-fast': entry is not an object");
    VcpuInfo v;
    v.cpu_index = static_cast<int>(IntOr(e, "cpu-index", -1));
    v.thread_id = IntOr(e, "thread-id", -1);
    v.qom_path = StrOr(e, "qom-path");
    if (auto it = e.find("props"); it != e.end() && it->is_object()) v.props = *it;
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<HotpluggableCpu>> QueryHotpluggableCpus(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-hotpluggable-cpus"));
  if (!r.is_array()) {
    return CorruptionError("qmp 'query-hotpluggable-cpus': reply is not a list");
  }
  std::vector<HotpluggableCpu> out;
  for (const auto& e : r) {
    HotpluggableCpu c;
    c.type = StrOr(e, "type");
    if (c.type.empty()) {
      return CorruptionError("qmp 'query-hotpluggable-cpus': entry without 'type'");
    }
    c.vcpus_count = static_cast<int>(IntOr(e, "vcpus-count", 1));
    c.qom_path = StrOr(e, "qom-path");
    if (auto it = e.find("props"); it != e.end() && it->is_object()) c.props = *it;
    out.push_back(std::move(c));
  }
  return out;
}

namespace {

// device_del of a hot-plugged vCPU and the wait for the guest to eject it. QEMU
// sends DEVICE_DELETED only once the CPU object is freed, which may lag behind the
// unplug (TCG), so the slot is also watched: the vCPU is gone when its slot is free.
Status DeleteVcpu(QmpClient& qmp, const std::string& id, std::chrono::milliseconds timeout) {
  auto watch =
      qmp.WatchEvent("DEVICE_DELETED", [id](const json& d) { return StrOr(d, "device") == id; });
  SKIFF_TRY(qmp.Execute("device_del", json{{"id", id}}));
  const std::string path = "/machine/peripheral/" + id;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto ev = watch->Wait(std::chrono::milliseconds(250));
    if (ev.ok()) return Status::Ok();
    if (qmp.closed()) return ev.status().WithContext(fmt::format("device '{}'", id));
    auto slots = QueryHotpluggableCpus(qmp);
    if (slots.ok() && std::none_of(slots->begin(), slots->end(),
                                   [&](const HotpluggableCpu& s) { return s.qom_path == path; })) {
      return Status::Ok();
    }
    if (Clock::now() >= deadline) {
      return UnavailableError("device '{}' was not released by the guest within {} ms", id,
                              timeout.count());
    }
  }
}

}  // namespace

Result<int> SetVcpuCount(QmpClient& qmp, int target, std::chrono::milliseconds unplug_timeout) {
  SKIFF_ASSIGN_OR_RETURN(auto slots, QueryHotpluggableCpus(qmp));
  int present = 0, max = 0;
  for (const auto& s : slots) {
    max += s.vcpus_count;
    if (s.plugged()) present += s.vcpus_count;
  }
  if (target < 1 || target > max) {
    return InvalidArgumentError("vcpu count {} is out of range 1..{} (maxcpus)", target, max);
  }
  if (target < present) {
    // Only vCPUs that were device_add'ed (ours are /machine/peripheral/<id>) can
    // go; those QEMU made at boot (-smp N) stay. The highest slots go first.
    constexpr std::string_view kPeripheral = "/machine/peripheral/";
    std::vector<std::pair<std::string, int>> removable;
    int removable_vcpus = 0;
    for (const auto& s : slots) {
      if (!s.plugged() || s.qom_path.rfind(kPeripheral, 0) != 0) continue;
      removable.emplace_back(s.qom_path.substr(kPeripheral.size()), s.vcpus_count);
      removable_vcpus += s.vcpus_count;
    }
    if (present - removable_vcpus > target) {
      return FailedPreconditionError(
          "vcpu count {}: only hot-plugged vcpus can be unplugged; {} of the {} present were "
          "there at boot",
          target, present - removable_vcpus, present);
    }
    for (const auto& [id, count] : removable) {
      if (present <= target) break;
      if (present - count < target) {
        return FailedPreconditionError("vcpu count {}: device '{}' holds {} vcpus", target, id,
                                       count);
      }
      Status st = DeleteVcpu(qmp, id, unplug_timeout);
      if (!st.ok()) {
        return Status(st.code(), fmt::format("vcpu count {}: {} ({} vcpus present)", target,
                                             st.message(), present));
      }
      present -= count;
    }
    return present;
  }
  // QEMU lists slots highest first; plug the lowest free ones first.
  std::vector<const HotpluggableCpu*> free;
  for (const auto& s : slots) {
    if (!s.plugged()) free.push_back(&s);
  }
  std::reverse(free.begin(), free.end());
  for (const HotpluggableCpu* s : free) {
    if (present >= target) break;
    json dev = s->props;
    dev["driver"] = s->type;
    // The id names the slot: its position in QEMU's (socket, core, thread) order.
    dev["id"] = fmt::format("vcpu{}", present);
    auto r = qmp.Execute("device_add", dev);
    if (!r.ok()) return r.status().WithContext(fmt::format("vcpu {}", present));
    present += s->vcpus_count;
  }
  return present;
}

Status AttachDisk(QmpClient& qmp, const json& blockdev, const json& device) {
  SKIFF_TRY(RequireString(blockdev, "node-name", "disk hotplug blockdev"));
  SKIFF_TRY(RequireString(device, "id", "disk hotplug device"));
  SKIFF_TRY(RequireString(device, "driver", "disk hotplug device"));
  const std::string node = StrOr(blockdev, "node-name");
  const std::string id = StrOr(device, "id");
  auto added = qmp.Execute("blockdev-add", blockdev);
  if (!added.ok()) return added.status().WithContext(fmt::format("disk '{}'", id));
  auto dev = qmp.Execute("device_add", device);
  if (!dev.ok()) {
    (void)qmp.Execute("blockdev-del", json{{"node-name", node}});
    return dev.status().WithContext(fmt::format("disk '{}'", id));
  }
  return Status::Ok();
}

Status DetachDisk(QmpClient& qmp, const std::string& device_id, const std::string& node_name,
                  std::chrono::milliseconds timeout) {
  SKIFF_TRY(DeleteDevice(qmp, device_id, timeout));
  auto r = qmp.Execute("blockdev-del", json{{"node-name", node_name}});
  if (!r.ok()) return r.status().WithContext(fmt::format("disk '{}'", device_id));
  return Status::Ok();
}

Status AttachNic(QmpClient& qmp, int tap_fd, const json& netdev, const json& device) {
  SKIFF_TRY(RequireString(netdev, "id", "nic hotplug netdev"));
  SKIFF_TRY(RequireString(netdev, "type", "nic hotplug netdev"));
  SKIFF_TRY(RequireString(device, "id", "nic hotplug device"));
  SKIFF_TRY(RequireString(device, "driver", "nic hotplug device"));
  const std::string netdev_id = StrOr(netdev, "id");
  const std::string id = StrOr(device, "id");
  const std::string fdname = "fd-" + netdev_id;
  auto got = qmp.ExecuteWithFd("getfd", json{{"fdname", fdname}}, tap_fd);
  if (!got.ok()) return got.status().WithContext(fmt::format("nic '{}'", id));
  json nd = netdev;
  nd["fd"] = fdname;
  auto added = qmp.Execute("netdev_add", nd);
  if (!added.ok()) {
    (void)qmp.Execute("closefd", json{{"fdname", fdname}});
    return added.status().WithContext(fmt::format("nic '{}'", id));
  }
  auto dev = qmp.Execute("device_add", device);
  if (!dev.ok()) {
    (void)qmp.Execute("netdev_del", json{{"id", netdev_id}});
    return dev.status().WithContext(fmt::format("nic '{}'", id));
  }
  return Status::Ok();
}

Status DetachNic(QmpClient& qmp, const std::string& device_id, const std::string& netdev_id,
                 std::chrono::milliseconds timeout) {
  SKIFF_TRY(DeleteDevice(qmp, device_id, timeout));
  auto r = qmp.Execute("netdev_del", json{{"id", netdev_id}});
  if (!r.ok()) return r.status().WithContext(fmt::format("nic '{}'", device_id));
  return Status::Ok();
}

Result<std::vector<BlockStats>> QueryBlockStats(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-blockstats"));
  if (!r.is_array()) return CorruptionError("qmp 'query-blockstats': reply is not a list");
  std::vector<BlockStats> out;
  for (const auto& e : r) {
    if (!e.is_object()) continue;
    BlockStats b;
    b.device = StrOr(e, "device");
    b.qdev = StrOr(e, "qdev");
    b.node_name = StrOr(e, "node-name");
    auto st = e.find("stats");
    if (st == e.end() || !st->is_object()) {
      return CorruptionError("qmp 'query-blockstats': entry without 'stats'");
    }
    b.rd_bytes = UintOr(*st, "rd_bytes");
    b.wr_bytes = UintOr(*st, "wr_bytes");
    b.rd_operations = UintOr(*st, "rd_operations");
    b.wr_operations = UintOr(*st, "wr_operations");
    b.flush_operations = UintOr(*st, "flush_operations");
    b.rd_total_time_ns = UintOr(*st, "rd_total_time_ns");
    b.wr_total_time_ns = UintOr(*st, "wr_total_time_ns");
    out.push_back(std::move(b));
  }
  return out;
}

Result<MigrationProgress> QueryMigrate(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-migrate"));
  return ProgressFrom(r);
}

Status SaveState(QmpClient& qmp, int fd, const SaveOptions& options,
                 const ProgressCallback& progress) {
  if (fd < 0) return InvalidArgumentError("save: invalid fd {}", fd);
  bool paused_by_us = false;
  if (options.pause_first) {
    SKIFF_ASSIGN_OR_RETURN(RunStatus st, QueryStatus(qmp));
    if (st.running) {
      SKIFF_TRY(Pause(qmp).WithContext("save"));
      paused_by_us = true;
    }
  }
  Status s = [&]() -> Status {
    // QEMU's default limit (32 MiB/s) is meant for live migration over a network.
    auto bw = qmp.Execute("migrate-set-parameters", json{{"max-bandwidth", int64_t{1} << 40}});
    if (!bw.ok()) return bw.status();
    constexpr const char* kFdName = "skiff-save";
    auto got = qmp.ExecuteWithFd("getfd", json{{"fdname", kFdName}}, fd);
    if (!got.ok()) return got.status();
    auto mig = qmp.Execute("migrate", json{{"uri", fmt::format("fd:{}", kFdName)}});
    if (!mig.ok()) {
      (void)qmp.Execute("closefd", json{{"fdname", kFdName}});
      return mig.status();
    }
    return WaitForMigration(qmp, "save", options.timeout, options.poll_interval, progress,
                            options.cancelled);
  }();
  if (!s.ok()) {
    // The guest was running before: leave it running, as it was.
    if (paused_by_us && !qmp.closed()) (void)Resume(qmp);
    if (s.message().rfind("save", 0) == 0) return s;
    return s.WithContext("save");
  }
  return Status::Ok();
}

Status AbandonSave(QmpClient& qmp, bool resume, std::chrono::milliseconds timeout,
                   std::chrono::milliseconds poll_interval) {
  const auto deadline = Clock::now() + timeout;
  bool cancel_sent = false;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(MigrationProgress p, QueryMigrate(qmp));
    // No migration (an empty answer), or one that has ended either way.
    if (p.status.empty() || p.status == "none" || p.status == "completed" || p.status == "failed" ||
        p.status == "cancelled") {
      break;
    }
    if (!cancel_sent) {
      SKIFF_TRY(qmp.Execute("migrate_cancel").status().WithContext("abandoned save"));
      cancel_sent = true;
    }
    if (Clock::now() >= deadline) {
      return UnavailableError("abandoned save: migration still '{}' after {} ms", p.status,
                              timeout.count());
    }
    std::this_thread::sleep_for(poll_interval);
  }
  if (!resume) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(RunStatus st, QueryStatus(qmp));
  return st.running ? Status::Ok() : Resume(qmp);
}

Status RestoreState(QmpClient& qmp, int fd, std::chrono::milliseconds timeout,
                    const ProgressCallback& progress) {
  if (fd < 0) return InvalidArgumentError("restore: invalid fd {}", fd);
  constexpr const char* kFdName = "skiff-restore";
  auto got = qmp.ExecuteWithFd("getfd", json{{"fdname", kFdName}}, fd);
  if (!got.ok()) return got.status().WithContext("restore");
  auto mig = qmp.Execute("migrate-incoming", json{{"uri", fmt::format("fd:{}", kFdName)}});
  if (!mig.ok()) {
    (void)qmp.Execute("closefd", json{{"fdname", kFdName}});
    return mig.status().WithContext("restore");
  }
  return WaitForMigration(qmp, "restore", timeout, 100ms, progress);
}

Status DumpGuestMemory(QmpClient& qmp, int fd, std::chrono::milliseconds timeout) {
  if (fd < 0) return InvalidArgumentError("dump: invalid fd {}", fd);
  constexpr const char* kFdName = "skiff-dump";
  auto got = qmp.ExecuteWithFd("getfd", json{{"fdname", kFdName}}, fd);
  if (!got.ok()) return got.status().WithContext("dump");
  auto r = qmp.Execute(
      "dump-guest-memory",
      json{{"paging", false}, {"protocol", fmt::format("fd:{}", kFdName)}, {"detach", true}});
  if (!r.ok()) {
    (void)qmp.Execute("closefd", json{{"fdname", kFdName}});
    return r.status().WithContext("dump");
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(json info, qmp.Execute("query-dump"));
    std::string status = StrOr(info, "status", "");
    if (status == "completed") return Status::Ok();
    if (status == "failed") return FailedPreconditionError("dump failed (see the domain's log)");
    if (Clock::now() >= deadline) {
      return UnavailableError("dump did not complete within {} ms ('{}')", timeout.count(), status);
    }
    std::this_thread::sleep_for(100ms);
  }
}

Status ResizeBlockNode(QmpClient& qmp, const std::string& node, uint64_t bytes) {
  return qmp.Execute("block_resize", {{"node-name", node}, {"size", bytes}}).status();
}

Result<std::vector<std::pair<std::string, std::string>>> QueryBlockIoErrors(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json r, qmp.Execute("query-block"));
  if (!r.is_array()) return CorruptionError("qmp 'query-block': reply is not a list");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : r) {
    if (!d.is_object()) continue;
    auto io = d.find("io-status");
    if (io == d.end() || !io->is_string() || *io == "ok") continue;
    auto ins = d.find("inserted");
    std::string node;
    if (ins != d.end() && ins->is_object() && ins->contains("node-name") &&
        (*ins)["node-name"].is_string()) {
      node = (*ins)["node-name"].get<std::string>();
    }
    out.emplace_back(node, io->get<std::string>());
  }
  return out;
}

Status RunBlockJobs(QmpClient& qmp, const json& actions, const std::vector<std::string>& job_ids,
                    const std::function<void(double)>& progress,
                    const std::function<bool()>& cancelled) {
  SKIFF_TRY(qmp.Execute("transaction", json{{"actions", actions}}).status());
  bool cancel_sent = false;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(json jobs, qmp.Execute("query-jobs"));
    uint64_t done = 0, total = 0;
    size_t concluded = 0;
    std::string error;
    for (const auto& id : job_ids) {
      const json* mine = nullptr;
      if (jobs.is_array()) {
        for (const auto& j : jobs) {
          if (StrOr(j, "id") == id) mine = &j;
        }
      }
      if (!mine) return CorruptionError("job '{}' is not listed by query-jobs", id);
      done += mine->value("current-progress", uint64_t{0});
      total += mine->value("total-progress", uint64_t{0});
      if (StrOr(*mine, "status") == "concluded") {
        ++concluded;
        if (error.empty()) error = StrOr(*mine, "error");
      }
    }
    if (progress && total > 0) progress(static_cast<double>(done) / static_cast<double>(total));
    if (concluded == job_ids.size()) {
      for (const auto& id : job_ids) (void)qmp.Execute("job-dismiss", json{{"id", id}});
      if (cancel_sent) return CancelledError("the backup was cancelled");
      if (!error.empty()) return FailedPreconditionError("{}", error);
      return Status::Ok();
    }
    if (!cancel_sent && cancelled && cancelled()) {
      for (const auto& id : job_ids) (void)qmp.Execute("job-cancel", json{{"id", id}});
      cancel_sent = true;
    }
    std::this_thread::sleep_for(50ms);
  }
}

Result<std::vector<std::string>> QueryPersistentBitmaps(QmpClient& qmp, const std::string& node) {
  SKIFF_ASSIGN_OR_RETURN(json block, qmp.Execute("query-block"));
  std::vector<std::string> out;
  if (!block.is_array()) return out;
  for (const auto& d : block) {
    auto ins = d.find("inserted");
    if (ins == d.end() || !ins->is_object() || StrOr(*ins, "node-name") != node) continue;
    auto bitmaps = ins->find("dirty-bitmaps");
    if (bitmaps == ins->end() || !bitmaps->is_array()) continue;
    for (const auto& b : *bitmaps) {
      if (!b.is_object() || !b.value("persistent", false) || b.value("inconsistent", false)) {
        continue;
      }
      out.push_back(StrOr(b, "name"));
    }
  }
  return out;
}

Status RunSnapshotJob(QmpClient& qmp, const std::string& kind, const std::string& tag,
                      const std::vector<std::string>& nodes, std::chrono::milliseconds timeout) {
  if (kind != "save" && kind != "load" && kind != "delete") {
    return InvalidArgumentError("unknown snapshot job '{}'", kind);
  }
  if (nodes.empty()) return InvalidArgumentError("snapshot '{}': no disk to {} it on", tag, kind);
  const std::string id = "skiff-snapshot-" + kind;
  const std::string what = fmt::format("snapshot-{} '{}'", kind, tag);
  json args{{"job-id", id}, {"tag", tag}, {"devices", nodes}};
  if (kind != "delete") args["vmstate"] = nodes.front();
  auto r = qmp.Execute("snapshot-" + kind, args);
  if (!r.ok()) return r.status().WithContext(what);
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    SKIFF_ASSIGN_OR_RETURN(json jobs, qmp.Execute("query-jobs"));
    const json* mine = nullptr;
    if (jobs.is_array()) {
      for (const auto& j : jobs) {
        if (StrOr(j, "id") == id) mine = &j;
      }
    }
    if (!mine) return CorruptionError("{}: job '{}' is not listed by query-jobs", what, id);
    if (StrOr(*mine, "status") == "concluded") {
      std::string error = StrOr(*mine, "error");
      (void)qmp.Execute("job-dismiss", json{{"id", id}});
      if (!error.empty()) return FailedPreconditionError("{}: {}", what, error);
      return Status::Ok();
    }
    if (Clock::now() >= deadline) {
      return UnavailableError("{} did not complete within {} ms", what, timeout.count());
    }
    std::this_thread::sleep_for(50ms);
  }
}

Status DeviceAdd(QmpClient& qmp, const nlohmann::json& props) {
  return qmp.Execute("device_add", props).status();
}

Status DeviceDel(QmpClient& qmp, const std::string& id) {
  return qmp.Execute("device_del", json{{"id", id}}).status();
}

Status BlockdevDel(QmpClient& qmp, const std::string& node_name) {
  return qmp.Execute("blockdev-del", json{{"node-name", node_name}}).status();
}

Status NetdevAdd(QmpClient& qmp, const nlohmann::json& netdev) {
  return qmp.Execute("netdev_add", netdev).status();
}

Status NetdevDel(QmpClient& qmp, const std::string& id) {
  return qmp.Execute("netdev_del", json{{"id", id}}).status();
}

Result<std::vector<QomProperty>> QomList(QmpClient& qmp, const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(json list, qmp.Execute("qom-list", json{{"path", path}}));
  if (!list.is_array()) return CorruptionError("qom-list '{}': reply is not a list", path);
  std::vector<QomProperty> out;
  for (const auto& e : list) {
    std::string name = StrOr(e, "name");
    if (!name.empty()) out.push_back({std::move(name), StrOr(e, "type")});
  }
  return out;
}

Result<nlohmann::json> QomGet(QmpClient& qmp, const std::string& path,
                              const std::string& property) {
  return qmp.Execute("qom-get", json{{"path", path}, {"property", property}});
}

Result<std::map<std::string, std::string>> PeripheralDevices(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(auto props, QomList(qmp, "/machine/peripheral"));
  std::map<std::string, std::string> out;
  for (const auto& p : props) {
    // Children are "child<TYPE>"; links and plain properties are not devices.
    if (p.type.rfind("child<", 0) != 0 || p.type.back() != '>') continue;
    out[p.name] = p.type.substr(6, p.type.size() - 7);
  }
  return out;
}

Result<std::string> DeviceMac(QmpClient& qmp, const std::string& id) {
  SKIFF_ASSIGN_OR_RETURN(json mac, QomGet(qmp, "/machine/peripheral/" + id, "mac"));
  if (!mac.is_string()) return NotFoundError("device '{}' has no mac address", id);
  return AsciiLower(mac.get<std::string>());
}

namespace {

std::vector<PciDevice> PciDevicesFrom(const json& devices, int depth) {
  std::vector<PciDevice> out;
  if (!devices.is_array()) return out;
  for (const auto& d : devices) {
    if (!d.is_object()) continue;
    PciDevice dev;
    dev.qdev_id = StrOr(d, "qdev_id");
    dev.slot = static_cast<int>(IntOr(d, "slot", -1));
    dev.function = static_cast<int>(IntOr(d, "function", 0));
    if (auto br = d.find("pci_bridge"); br != d.end() && br->is_object()) {
      dev.bridge = true;
      // Bridges behind bridges are a handful at most; the depth stops a reply
      // that loops (QEMU's never does) from recursing without end.
      if (depth < 8 && br->contains("devices")) {
        dev.bridged = PciDevicesFrom((*br)["devices"], depth + 1);
      }
    }
    out.push_back(std::move(dev));
  }
  return out;
}

}  // namespace

Result<std::vector<PciBus>> QueryPci(QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(json buses, qmp.Execute("query-pci"));
  if (!buses.is_array()) return CorruptionError("query-pci: reply is not a list");
  std::vector<PciBus> out;
  for (const auto& b : buses) {
    if (!b.is_object()) continue;
    PciBus bus;
    bus.bus = static_cast<int>(IntOr(b, "bus", -1));
    if (b.contains("devices")) bus.devices = PciDevicesFrom(b["devices"], 0);
    out.push_back(std::move(bus));
  }
  return out;
}

}  // namespace skiff::qemu
