// libvirt cpuset / nodeset syntax: "0-3,^2,8".
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff::conf {

// Parses a cpuset ("0-3,^2,8"); kInvalidArgument naming the text when malformed,
// when a range is reversed, or when the result is empty. Ids are limited to 0..16383.
Result<std::set<unsigned>> ParseCpuset(std::string_view text);

// "0-2,5": a CPU set in cpuset syntax, ranges joined (the inverse of ParseCpuset).
std::string FormatCpuset(const std::set<unsigned>& cpus);

}  // namespace skiff::conf
