// Opening images inside a backing chain (loop and depth checks), and qcow2
// images for qcow2-only operations.
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

class Qcow2Image;

// Opens a qcow2 image for an operation only qcow2 has (`what` names it in the
// error for another format); `backing`: open its backing chain too.
Result<std::unique_ptr<Qcow2Image>> OpenQcow2(const std::string& path, bool writable, bool backing,
                                              const char* what);

}  // namespace skiff::image
