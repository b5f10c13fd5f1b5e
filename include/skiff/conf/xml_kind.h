// Which kind of definition an XML document is, from its root element.
#pragma once

#include <string_view>

#include "skiff/base/status.h"

namespace skiff::conf {

enum class XmlKind { kDomain, kNetwork, kPool, kVolume, kSnapshot };

// "domain", "network", "pool", "volume", "domainsnapshot".
std::string_view ToString(XmlKind kind);

// Reads the root element. Syntax errors are "source:line:col: xml syntax error: ...";
// an unknown root is kInvalidArgument naming it.
Result<XmlKind> DetectXmlKind(std::string_view xml, std::string_view source_name);

}  // namespace skiff::conf
