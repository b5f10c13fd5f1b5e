// <network> XML -> NetworkDef, and NetworkDef -> canonical XML.
#include "conf/enum_names.h"
#include "conf/xml_reader.h"
#include "skiff/base/size.h"
#include "skiff/conf/mac.h"
#include "skiff/conf/network.h"

namespace skiff::conf {

namespace {

Result<NetworkDef> ParseNetworkElem(const Elem& root) {
  NetworkDef n;
  root.Attr("connections");  // run-time count of attached interfaces
  if (auto v6 = root.Attr("ipv6")) {
    if (*v6 != "yes" && *v6 != "no") return root.Error("invalid ipv6 '{}'", *v6);
    n.ipv6 = *v6;
  }
  SKIFF_ASSIGN_OR_RETURN(n.name, ReadObjectName(root));
  SKIFF_ASSIGN_OR_RETURN(n.uuid, ReadObjectUuid(root));
  if (Elem f = root.Child("forward")) {
    auto mode = f.Attr("mode");
    if (!mode) {
      n.forward = ForwardMode::kNat;  // libvirt's default for <forward/>
    } else {
      auto m = EnumFromName<ForwardMode>(kForwardModeNames, *mode);
      if (!m || *m == ForwardMode::kNone) {
        return f.Unsupported("unsupported forward mode '{}' (supported: nat, route, open, bridge)",
                             *mode);
      }
      n.forward = *m;
    }
    n.forward_dev = f.Attr("dev").value_or("");
    // <interface dev=.../> names the same single uplink as dev=.
    auto ifs = f.Children("interface");
    if (ifs.size() > 1) return ifs[1].Unsupported("more than one forward interface");
    if (ifs.size() == 1) {
      std::string dev = ifs[0].Attr("dev").value_or("");
      if (dev.empty()) return ifs[0].Error("forward interface without dev");
      if (!n.forward_dev.empty() && dev != n.forward_dev) {
        return ifs[0].Error("forward interface '{}' differs from forward dev '{}'", dev,
                            n.forward_dev);
      }
      n.forward_dev = dev;
    }
  }
  if (Elem b = root.Child("bridge")) {
    n.bridge = b.Attr("name").value_or("");
    SKIFF_ASSIGN_OR_RETURN(n.bridge_stp, b.EnumAttr("stp", {"on", "off"}));
    if (auto d = b.Attr("delay")) {
      auto v = ParseUint(*d);
      if (!v.ok() || *v > 3600) return b.Error("invalid delay '{}'", *d);
      n.bridge_delay = static_cast<unsigned>(*v);
    }
  }
  if (Elem m = root.Child("mac")) {
    auto mac = ParseMac(m.Attr("address").value_or(""));
    if (!mac.ok()) return m.Error(mac.status().message());
    n.mac = *mac;
  }
  if (Elem m = root.Child("mtu")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, m.UintAttr("size"));
    if (!v || *v < 68 || *v > 65535) return m.Error("invalid mtu size");
    n.mtu = static_cast<unsigned>(*v);
  }
  if (Elem d = root.Child("domain")) {
    n.domain_name = d.Attr("name").value_or("");
    if (n.domain_name.empty()) return d.Error("domain needs a name");
    SKIFF_ASSIGN_OR_RETURN(n.domain_local, d.EnumAttr("localOnly", {"yes", "no"}));
  }
  if (Elem dns = root.Child("dns")) {
    SKIFF_ASSIGN_OR_RETURN(n.dns_enable, dns.EnumAttr("enable", {"yes", "no"}));
    SKIFF_ASSIGN_OR_RETURN(n.dns_forward_plain_names,
                           dns.EnumAttr("forwardPlainNames", {"yes", "no"}));
    for (const Elem& h : dns.Children("host")) {
      DnsHost host;
      host.ip = h.Attr("ip").value_or("");
      for (const Elem& hn : h.Children("hostname")) host.hostnames.push_back(hn.Text());
      if (host.ip.empty()) return h.Error("dns host without ip");
      if (host.hostnames.empty()) return h.Error("dns host '{}' without hostname", host.ip);
      n.dns_hosts.push_back(std::move(host));
    }
  }
  for (const Elem& ipe : root.Children("ip")) {
    NetworkIp ip;
    SKIFF_ASSIGN_OR_RETURN(ip.family, ipe.EnumAttr("family", {"ipv4", "ipv6"}));
    if (ip.family == "ipv4") ip.family.clear();
    ip.address = ipe.Attr("address").value_or("");
    if (ip.address.empty()) return ipe.Error("ip without address");
    ip.netmask = ipe.Attr("netmask").value_or("");
    if (auto p = ipe.Attr("prefix")) {
      auto v = ParseUint(*p);
      if (!v.ok() || *v > 128) return ipe.Error("invalid prefix '{}'", *p);
      ip.prefix = static_cast<unsigned>(*v);
    }
    if (Elem dhcp = ipe.Child("dhcp")) {
      for (const Elem& r : dhcp.Children("range")) {
        DhcpRange range{r.Attr("start").value_or(""), r.Attr("end").value_or("")};
        if (range.start.empty() || range.end.empty()) return r.Error("range needs start and end");
        ip.dhcp_ranges.push_back(std::move(range));
      }
      for (const Elem& h : dhcp.Children("host")) {
        DhcpHost host;
        if (h.Attr("id")) return h.Unsupported("dhcp host by client id (DUID) is not supported");
        if (auto mac = h.Attr("mac")) {
          auto m = ParseMac(*mac);
          if (!m.ok()) return h.Error(m.status().message());
          host.mac = *m;
        }
        host.name = h.Attr("name").value_or("");
        host.ip = h.Attr("ip").value_or("");
        if (host.ip.empty()) return h.Error("dhcp host without ip");
        if (host.mac.empty() && host.name.empty()) return h.Error("dhcp host needs mac or name");
        ip.dhcp_hosts.push_back(std::move(host));
      }
    }
    n.ips.push_back(std::move(ip));
  }
  return n;
}

}  // namespace

Result<NetworkDef> ParseNetworkXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  SKIFF_ASSIGN_OR_RETURN(Elem root, doc->Root("network"));
  SKIFF_ASSIGN_OR_RETURN(NetworkDef def, ParseNetworkElem(root));
  SKIFF_TRY(doc->CheckAllUnderstood());
  Status st = ValidateNetwork(def);
  if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", source_name, st.message()));
  return def;
}

std::string FormatNetworkXml(const NetworkDef& n) {
  XmlWriter w;
  w.Open("network", {{"ipv6", n.ipv6}});
  w.Text("name", n.name);
  w.Text("uuid", n.uuid.ToString());
  if (n.forward != ForwardMode::kNone) {
    w.Empty("forward", {{"mode", std::string(ToString(n.forward))}, {"dev", n.forward_dev}});
  }
  if (!n.bridge.empty() || !n.bridge_stp.empty() || n.bridge_delay) {
    w.Empty("bridge", {{"name", n.bridge},
                       {"stp", n.bridge_stp},
                       {"delay", n.bridge_delay ? std::to_string(*n.bridge_delay) : ""}});
  }
  if (n.mtu) w.Empty("mtu", {{"size", std::to_string(*n.mtu)}});
  if (!n.mac.empty()) w.Empty("mac", {{"address", n.mac}});
  if (!n.domain_name.empty())
    w.Empty("domain", {{"name", n.domain_name}, {"localOnly", n.domain_local}});
  if (!n.dns_enable.empty() || !n.dns_forward_plain_names.empty() || !n.dns_hosts.empty()) {
    if (n.dns_hosts.empty()) {
      w.Empty("dns", {{"enable", n.dns_enable}, {"forwardPlainNames", n.dns_forward_plain_names}});
    } else {
      w.Open("dns", {{"enable", n.dns_enable}, {"forwardPlainNames", n.dns_forward_plain_names}});
      for (const auto& h : n.dns_hosts) {
        w.Open("host", {{"ip", h.ip}});
        for (const auto& hn : h.hostnames) w.Text("hostname", hn);
        w.Close("host");
      }
      w.Close("dns");
    }
  }
  for (const auto& ip : n.ips) {
    std::initializer_list<std::pair<std::string_view, std::string>> a = {
        {"family", ip.family},
        {"address", ip.address},
        {"netmask", ip.netmask},
        {"prefix", ip.prefix ? std::to_string(*ip.prefix) : ""}};
    if (ip.dhcp_ranges.empty() && ip.dhcp_hosts.empty()) {
      w.Empty("ip", a);
      continue;
    }
    w.Open("ip", a);
    w.Open("dhcp");
    for (const auto& r : ip.dhcp_ranges) w.Empty("range", {{"start", r.start}, {"end", r.end}});
    for (const auto& h : ip.dhcp_hosts)
      w.Empty("host", {{"mac", h.mac}, {"name", h.name}, {"ip", h.ip}});
    w.Close("dhcp");
    w.Close("ip");
  }
  w.Close("network");
  return w.Take();
}

}  // namespace skiff::conf
