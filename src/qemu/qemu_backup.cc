// Backups of a running guest (libvirt: qemu_backup.c): each disk's copy target
// is passed to QEMU as an fd set and opened as a qcow2 node, then one transaction
// starts a blockdev-backup job per disk and the bitmap the next incremental
// reads, so that all of it is the guest's state at one instant.
#include <fmt/format.h>

#include "qemu/qemu_driver.h"
#include "qemu/qemu_files.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {

namespace {

constexpr const char* kBackupOwner = "backup of disk";

std::string FormatNode(const std::string& target) { return "fmt-" + target; }

}  // namespace

Status QemuDriver::BackupDisks(const std::string& name, const std::vector<DiskBackup>& disks,
                               const std::function<void(double)>& progress,
                               const std::function<bool()>& cancelled) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  QmpClient& qmp = vm->proc->qmp();
  std::vector<std::string> nodes, jobs;
  auto cleanup = [&] {
    for (const auto& n : nodes) (void)BlockdevDel(qmp, n);
    RemoveFdSetsOverQmp(qmp, kBackupOwner);
  };
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& d : disks) {
    // QEMU must take the write permission a new persistent bitmap needs: the
    // read-only fd it opened the image through first would keep its old locks.
    conf::DiskDef owner;
    owner.target_dev = d.target;
    DropReadOnlyFdsOverQmp(qmp, DiskFdSetOwner(owner));
    auto alias = AddFdSetOverQmp(qmp, d.file, true, fmt::format("{} '{}'", kBackupOwner, d.target));
    if (!alias.ok()) {
      cleanup();
      return alias.status().WithContext(fmt::format("domain '{}': disk {}", name, d.target));
    }
    const std::string node = "backup-" + d.target;
    nlohmann::json target{{"driver", "qcow2"},
                          {"node-name", node},
                          {"file", {{"driver", "file"}, {"filename", *alias}}},
                          {"backing", nullptr}};
    if (Status st = qmp.Execute("blockdev-add", target).status(); !st.ok()) {
      cleanup();
      return st.WithContext(fmt::format("domain '{}': backup target of disk {}", name, d.target));
    }
    nodes.push_back(node);
    nlohmann::json backup{{"job-id", "skiff-backup-" + d.target},
                          {"device", FormatNode(d.target)},
                          {"target", node},
                          {"sync", d.since_bitmap.empty() ? "full" : "incremental"},
                          {"auto-dismiss", false}};
    if (!d.since_bitmap.empty()) backup["bitmap"] = d.since_bitmap;
    if (!d.new_bitmap.empty()) {
      actions.push_back(
          {{"type", "block-dirty-bitmap-add"},
           {"data",
            {{"node", FormatNode(d.target)}, {"name", d.new_bitmap}, {"persistent", true}}}});
    }
    actions.push_back({{"type", "blockdev-backup"}, {"data", backup}});
    jobs.push_back("skiff-backup-" + d.target);
  }
  Status st = RunBlockJobs(qmp, actions, jobs, progress, cancelled);
  if (!st.ok()) {
    // Whatever the transaction started is undone: no bitmap claims a backup.
    for (const auto& d : disks) {
      if (d.new_bitmap.empty()) continue;
      (void)qmp.Execute("block-dirty-bitmap-remove",
                        {{"node", FormatNode(d.target)}, {"name", d.new_bitmap}});
    }
  }
  cleanup();
  return st.WithContext(fmt::format("domain '{}': backup", name));
}

Result<std::vector<std::string>> QemuDriver::DiskBitmaps(const std::string& name,
                                                         const std::string& target) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return QueryPersistentBitmaps(vm->proc->qmp(), FormatNode(target));
}

Status QemuDriver::RemoveDiskBitmap(const std::string& name, const std::string& target,
                                    const std::string& bitmap) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return vm->proc->qmp()
      .Execute("block-dirty-bitmap-remove", {{"node", FormatNode(target)}, {"name", bitmap}})
      .status();
}

}  // namespace skiff::qemu
