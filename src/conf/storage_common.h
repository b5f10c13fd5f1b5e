// Pieces shared by the pool and volume readers and writers: <permissions>.
#pragma once

#include "conf/xml_reader.h"
#include "skiff/conf/pool.h"

namespace skiff::conf {

Result<Permissions> ParsePermissions(const Elem& e);
void WritePermissions(XmlWriter& w, const Permissions& p);
// Collapses repeated '/' and drops a trailing one ("///a//b/" -> "/a/b").
std::string NormalizePath(std::string_view path);

}  // namespace skiff::conf
