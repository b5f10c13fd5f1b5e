// The REST API's paths, built in one place: the CLI (and tests) call these instead
// of writing "/v1/..." by hand. Names and ids are percent-encoded as one path
// segment; `sub` is a fixed sub-resource ("start", "xml"). Queries come from the
// *Query structs of types.h (ToQuery). The daemon's route table (src/daemon/rest/)
// registers the same paths with "{id}" patterns.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace skiff::api::routes {

inline constexpr std::string_view kVersion = "/v1/version";
inline constexpr std::string_view kEvents = "/v1/events";
inline constexpr std::string_view kHostCapabilities = "/v1/host/capabilities";
inline constexpr std::string_view kHostValidate = "/v1/host/validate";
inline constexpr std::string_view kDomains = "/v1/domains";
inline constexpr std::string_view kDomainRestore = "/v1/domains/restore";
inline constexpr std::string_view kNetworks = "/v1/networks";
inline constexpr std::string_view kPools = "/v1/pools";
inline constexpr std::string_view kVolumes = "/v1/volumes";  // ?path=: a volume by path
inline constexpr std::string_view kJobs = "/v1/jobs";
// skiff backup: GET ?dir= lists, POST .../verify and .../restore act on a path.
inline constexpr std::string_view kBackups = "/v1/backups";
inline constexpr std::string_view kBackupsVerify = "/v1/backups/verify";
inline constexpr std::string_view kBackupsRestore = "/v1/backups/restore";

// "/v1/domains/web1", Domain("web1", "start") -> "/v1/domains/web1/start".
std::string Domain(std::string_view ref, std::string_view sub = "");
// "/v1/domains/web1/disks/vdb" (detach-disk), with `sub` ("info", "resize") after it.
std::string DomainDisk(std::string_view ref, std::string_view target, std::string_view sub = "");
// "/v1/domains/web1/snapshots/s1", with `sub` ("revert") after it.
std::string DomainSnapshot(std::string_view ref, std::string_view name, std::string_view sub = "");
std::string Network(std::string_view name, std::string_view sub = "");
std::string Pool(std::string_view name, std::string_view sub = "");
// "/v1/pools/default/volumes".
std::string PoolVolumes(std::string_view pool);
// "/v1/pools/default/volumes/a.qcow2", with `sub` ("xml", "data") after it.
std::string Volume(std::string_view pool, std::string_view volume, std::string_view sub = "");
std::string Job(uint64_t id);

}  // namespace skiff::api::routes
