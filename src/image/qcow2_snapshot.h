// The qcow2 internal snapshot table: parsing with bounds checks, serialisation.
// Creating, applying and deleting snapshots are Qcow2Image methods
// (qcow2_snapshot.cc), since they rewrite refcounts and the active L1 table.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::image {

struct Qcow2Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  std::string id;
  std::string name;
  uint32_t date_sec = 0;
  uint32_t date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t vm_state_size = 0;
  uint64_t disk_size = 0;  // 0 when the entry has no such extra data
  int64_t icount = -1;
  std::string extra;  // extra data beyond the fields we know, kept verbatim
};

// Parses `nb` entries from `table` (the bytes at the snapshot table offset, as
// many as the file holds). Checks every length against the buffer and every L1
// table against the file size and cluster alignment. Returns the entries and
// the table's length in bytes via `*table_bytes`.
Result<std::vector<Qcow2Snapshot>> ParseSnapshotTable(std::span<const uint8_t> table, uint32_t nb,
                                                      uint32_t version, uint64_t cluster_size,
                                                      uint64_t file_size, uint64_t table_offset,
                                                      const std::string& name,
                                                      uint64_t* table_bytes);

std::vector<uint8_t> SerializeSnapshotTable(const std::vector<Qcow2Snapshot>& snaps);

}  // namespace skiff::image
