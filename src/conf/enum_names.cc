// ToString for the public enums of the conf models.
#include "conf/enum_names.h"

#include "skiff/conf/domain.h"
#include "skiff/conf/network.h"

namespace skiff::conf {

#define SKIFF_ENUM_TOSTRING(Type, table) \
  std::string_view ToString(Type v) { return table.at(static_cast<size_t>(v)); }
SKIFF_ENUM_TOSTRING(DomainType, kDomainTypeNames)
SKIFF_ENUM_TOSTRING(LifecycleAction, kLifecycleNames)
SKIFF_ENUM_TOSTRING(CpuMode, kCpuModeNames)
SKIFF_ENUM_TOSTRING(BootDevice, kBootDeviceNames)
SKIFF_ENUM_TOSTRING(DiskType, kDiskTypeNames)
SKIFF_ENUM_TOSTRING(DiskDevice, kDiskDeviceNames)
SKIFF_ENUM_TOSTRING(DiskBus, kDiskBusNames)
SKIFF_ENUM_TOSTRING(InterfaceType, kInterfaceTypeNames)
SKIFF_ENUM_TOSTRING(NicModel, kNicModelNames)
SKIFF_ENUM_TOSTRING(CharSourceType, kCharSourceNames)
SKIFF_ENUM_TOSTRING(GraphicsType, kGraphicsTypeNames)
SKIFF_ENUM_TOSTRING(VideoModel, kVideoModelNames)
SKIFF_ENUM_TOSTRING(InputType, kInputTypeNames)
SKIFF_ENUM_TOSTRING(InputBus, kInputBusNames)
SKIFF_ENUM_TOSTRING(WatchdogModel, kWatchdogModelNames)
SKIFF_ENUM_TOSTRING(ForwardMode, kForwardModeNames)
#undef SKIFF_ENUM_TOSTRING

}  // namespace skiff::conf
