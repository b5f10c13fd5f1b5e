// Opening images inside a backing chain (loop and depth checks).
#pragma once

#include <memory>
#include <set>
#include <string>

#include "skiff/image/image.h"

namespace skiff::image {

// Opens `path` as OpenImage does; `chain` holds the canonical paths of the
// images that have `path` below them.
Result<std::unique_ptr<Image>> OpenImageInChain(const std::string& path, const OpenOptions& options,
                                                std::set<std::string> chain);

}  // namespace skiff::image
