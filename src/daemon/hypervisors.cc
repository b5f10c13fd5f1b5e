// Driver choice for skiffd: FakeHypervisor for tests, QemuHypervisor otherwise.
#include "fake/fake_hypervisor.h"
#include "daemon/qemu_hypervisor.h"
#include "skiff/daemon/daemon.h"

namespace skiff::daemon {

Result<std::unique_ptr<Hypervisor>> MakeHypervisor(bool fake, const Paths& paths) {
  if (fake) return std::unique_ptr<Hypervisor>(std::make_unique<fake::FakeHypervisor>());
  return std::unique_ptr<Hypervisor>(std::make_unique<QemuHypervisor>(paths));
}

}  // namespace skiff::daemon
