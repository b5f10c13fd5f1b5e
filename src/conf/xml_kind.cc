// Detection of a definition's kind from its root element.
#include "skiff/conf/xml_kind.h"

#include "conf/xml_reader.h"

namespace skiff::conf {

std::string_view ToString(XmlKind kind) {
  switch (kind) {
    case XmlKind::kDomain:
      return "domain";
    case XmlKind::kNetwork:
      return "network";
    case XmlKind::kPool:
      return "pool";
    case XmlKind::kVolume:
      return "volume";
    case XmlKind::kSnapshot:
      return "domainsnapshot";
  }
  return "unknown";
}

Result<XmlKind> DetectXmlKind(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  for (XmlKind k : {XmlKind::kDomain, XmlKind::kNetwork, XmlKind::kPool, XmlKind::kVolume,
                    XmlKind::kSnapshot}) {
    if (doc->Root(ToString(k)).ok()) return k;
  }
  auto r = doc->Root("domain");
  return InvalidArgumentError(
      "{} (expected one of <domain>, <network>, <pool>, <volume>, <domainsnapshot>)",
      r.status().message());
}

}  // namespace skiff::conf
