// DomainDevices: attach and detach of disks and interfaces on the running guest
// and/or the persistent definition (virsh attach-disk, detach-disk,
// attach-interface, detach-interface, attach-device, detach-device). The Service
// hands it out as devices(). `ref` is a name, a UUID or a numeric id.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

class DomainCore;
struct DomainObj;

class DomainDevices {
 public:
  explicit DomainDevices(DomainCore& core) : core_(core) {}

  Status AttachDisk(const std::string& ref, const DiskRequest& req, const Scope& scope);
  Status DetachDisk(const std::string& ref, const std::string& target, const Scope& scope);
  Status AttachInterface(const std::string& ref, const InterfaceRequest& req, const Scope& scope);
  Status DetachInterface(const std::string& ref, const std::string& type, const std::string& mac,
                         const Scope& scope);
  // attach-device / detach-device: `xml` is one <disk> (file, block or volume) or
  // <interface>, from the file `source` (named in errors); detach finds a disk by
  // its target, an interface by type and MAC.
  Status AttachDevice(const std::string& ref, const std::string& xml, const std::string& source,
                      const Scope& scope);
  Status DetachDevice(const std::string& ref, const std::string& xml, const std::string& source,
                      const Scope& scope);

  // domblklist: the disks of the running guest, or of the definition (`inactive`).
  Result<std::vector<conf::DiskDef>> Disks(const std::string& ref, bool inactive);
  // domiflist: interfaces with their tap names when running ("-" otherwise).
  Result<std::vector<std::pair<std::string, conf::InterfaceDef>>> Interfaces(const std::string& ref,
                                                                             bool inactive);
  // domblkinfo: the sizes of disk `disk` (a target such as vda, or its file), read
  // from its image: capacity (what the guest sees), allocation (what the file
  // occupies), physical (the file's length).
  struct BlockInfo {
    std::string target;
    uint64_t capacity = 0;
    uint64_t allocation = 0;
    uint64_t physical = 0;
  };
  Result<BlockInfo> DiskInfo(const std::string& ref, const std::string& disk);
  // domblkinfo --all: every disk that has media.
  Result<std::vector<BlockInfo>> DiskInfos(const std::string& ref);
  // blockresize: grows disk `disk` to `bytes` (a multiple of 512): through the
  // hypervisor while the domain runs (the guest sees it at once), with the image
  // engine while it is shut off. Shrinking is refused (it would cut data off).
  Status ResizeDisk(const std::string& ref, const std::string& disk, uint64_t bytes);
  // domblkerror: the running guest's disks whose I/O failed.
  Result<std::vector<std::pair<std::string, std::string>>> DiskErrors(const std::string& ref);

  // domifaddr: addresses from the DHCP leases of the running guest's networks.
  Result<std::vector<InterfaceAddress>> Addresses(const std::string& ref);

 private:
  // attach-disk and attach-device: `disk` into the live and/or persistent definition.
  Status AttachDiskLocked(DomainObj& obj, const conf::DiskDef& disk, const Scope& scope);

  DomainCore& core_;
};

}  // namespace skiff::daemon
