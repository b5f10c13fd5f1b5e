// ISO 9660 images: reading (our own parser: ISO 9660 names, Joliet and Rock
// Ridge long names) and writing (through libisofs), e.g. cloud-init seeds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::image {

struct IsoEntry {
  std::string path;  // "/dir/file", names as Rock Ridge or Joliet give them
  bool is_dir = false;
  uint64_t size = 0;
};

// Every file and directory of the image, depth first. Errors name the file
// and the offset of the bad structure (kCorruption); never reads out of bounds.
Result<std::vector<IsoEntry>> ListIso(const std::string& iso_path);

// Copies the file at `path_in_iso` ("/user-data") to `dest`.
Status ExtractIsoFile(const std::string& iso_path, const std::string& path_in_iso,
                      const std::string& dest);

struct IsoCreateOptions {
  std::string volume_id = "cidata";
  bool joliet = true;
  bool rock_ridge = true;
};

// Writes an ISO image holding the contents of `source_dir`.
Status CreateIso(const std::string& out_path, const std::string& source_dir,
                 const IsoCreateOptions& options);

}  // namespace skiff::image
