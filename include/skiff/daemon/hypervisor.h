// The daemon's short names for the driver seam (include/skiff/hypervisor/
// hypervisor.h), which lives outside the daemon and outside every driver.
#pragma once

#include "skiff/hypervisor/hypervisor.h"

namespace skiff::daemon {

using hypervisor::BlockIoStats;
using hypervisor::DomainState;
using hypervisor::ExitReason;
using hypervisor::GuestEvent;
using hypervisor::GuestTap;
using hypervisor::Hypervisor;
using hypervisor::InterfaceAddress;
using hypervisor::JobControl;
using hypervisor::NetIoStats;
using hypervisor::RuntimeStats;
using hypervisor::StartOptions;
using hypervisor::VcpuRuntime;

}  // namespace skiff::daemon
