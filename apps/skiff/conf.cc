// Offline definition verbs (no daemon): `skiff validate FILE` and
// `skiff domxml-to-native qemu-argv FILE`, as virt-xml-validate and virsh have them.
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <string>
#include <vector>

#include "command.h"
#include "skiff/base/fs.h"
#include "skiff/base/strings.h"
#include "skiff/conf/domain.h"
#include "skiff/conf/network.h"
#include "skiff/conf/pool.h"
#include "skiff/conf/snapshot.h"
#include "skiff/conf/volume.h"
#include "skiff/conf/xml_kind.h"
#include "skiff/qemu/argv.h"
#include "skiff/qemu/host.h"

namespace skiff::app {

namespace {

// Definitions are small; libvirt reads at most 10 MiB of XML. A larger input (a
// disk image, /dev/zero) is refused instead of read without end.
constexpr size_t kMaxXmlBytes = 10 << 20;

Result<std::string> ReadInput(const std::string& path) {
  return ReadFile(path == "-" ? "/dev/stdin" : path, kMaxXmlBytes);
}

// Parses any kind of definition; returns its canonical XML.
Result<std::string> ParseAny(const std::string& xml, const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(conf::XmlKind kind, conf::DetectXmlKind(xml, name));
  switch (kind) {
    case conf::XmlKind::kDomain: {
      SKIFF_ASSIGN_OR_RETURN(auto d, conf::ParseDomainXml(xml, name));
      return conf::FormatDomainXml(d);
    }
    case conf::XmlKind::kNetwork: {
      SKIFF_ASSIGN_OR_RETURN(auto d, conf::ParseNetworkXml(xml, name));
      return conf::FormatNetworkXml(d);
    }
    case conf::XmlKind::kPool: {
      SKIFF_ASSIGN_OR_RETURN(auto d, conf::ParsePoolXml(xml, name));
      return conf::FormatPoolXml(d);
    }
    case conf::XmlKind::kVolume: {
      SKIFF_ASSIGN_OR_RETURN(auto d, conf::ParseVolumeXml(xml, name));
      return conf::FormatVolumeXml(d);
    }
    case conf::XmlKind::kSnapshot: {
      SKIFF_ASSIGN_OR_RETURN(auto d, conf::ParseSnapshotXml(xml, name));
      return conf::FormatSnapshotXml(d);
    }
  }
  return InternalError("unknown definition kind");
}

int Validate(const GlobalOptions&, const std::vector<std::string>& args) {
  bool format = false;
  std::vector<std::string> files;
  for (const auto& a : args) {
    if (a == "--format") {
      format = true;
    } else if (a == "-h" || a == "--help") {
      std::printf(
          "usage: skiff validate [--format] FILE...\n"
          "Checks domain, network, pool, volume or snapshot XML (kind from the root\n"
          "element). --format prints the canonical XML instead of 'FILE validates'.\n");
      return 0;
    } else if (a.size() > 1 && a[0] == '-') {
      return Fail("validate: unknown option '" + a + "'");
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) return Fail("validate: missing FILE (see 'skiff validate --help')");
  int rc = 0;
  for (const auto& f : files) {
    std::string name = f == "-" ? "<stdin>" : f;
    auto xml = ReadInput(f);
    if (!xml.ok()) {
      rc = Fail(xml.status().message());
      continue;
    }
    auto out = ParseAny(*xml, name);
    if (!out.ok()) {
      rc = Fail(out.status().message());
      continue;
    }
    if (format) {
      std::fputs(out->c_str(), stdout);
    } else {
      std::printf("%s validates\n", name.c_str());
    }
  }
  return rc;
}

int DomxmlToNative(const GlobalOptions&, const std::vector<std::string>& args) {
  std::string root = "/";
  std::vector<std::string> pos;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--root" && i + 1 < args.size()) {
      root = args[++i];
    } else if (args[i] == "-h" || args[i] == "--help") {
      std::printf(
          "usage: skiff domxml-to-native [--root DIR] qemu-argv FILE\n"
          "Prints the QEMU command line of a domain definition. Taps are shown as\n"
          "fd=3,4,...; volume disks are resolved through DIR/etc/skiff/pools/POOL.xml.\n");
      return 0;
    } else {
      pos.push_back(args[i]);
    }
  }
  if (pos.size() != 2)
    return Fail("domxml-to-native: usage: skiff domxml-to-native qemu-argv FILE");
  if (pos[0] != "qemu-argv") {
    return Fail("domxml-to-native: unsupported format '" + pos[0] + "' (supported: qemu-argv)");
  }
  auto xml = ReadInput(pos[1]);
  if (!xml.ok()) return Fail(xml.status().message());
  auto def = conf::ParseDomainXml(*xml, pos[1] == "-" ? "<stdin>" : pos[1]);
  if (!def.ok()) return Fail(def.status().message());

  qemu::ArgvContext ctx;
  if (auto q = qemu::FindQemu(); q.ok()) {
    ctx.emulator = q->path;
    ctx.qemu_major = q->major;
    ctx.qemu_minor = q->minor;
    ctx.sandbox =
        qemu::QemuHasSandbox(def->devices.emulator.empty() ? q->path : def->devices.emulator);
  }
  // An offline conversion: a type='kvm' file gets its KVM command line on any
  // host (virsh does the same), with a warning where this host could not run it.
  qemu::KvmStatus kvm = qemu::ProbeKvm();
  ctx.kvm_usable = true;
  if (def->type == conf::DomainType::kKvm && !kvm.usable) {
    std::fprintf(stderr,
                 "warning: kvm is not usable on this host (%s); the command line is for "
                 "a host where it is\n",
                 kvm.reason.c_str());
  }
  std::filesystem::path r(root);
  ctx.qmp_socket = (r / "run/skiff/domains" / (def->name + ".qmp")).string();
  qemu::PreviewStartContext(*def, r, ctx);
  int fd = 3;
  for (size_t i = 0; i < def->devices.interfaces.size(); ++i) {
    if (def->devices.interfaces[i].type != conf::InterfaceType::kUser) ctx.tap_fds[i] = fd++;
  }
  for (const auto& d : def->devices.disks) {
    if (d.type != conf::DiskType::kVolume) continue;
    auto pool_xml = ReadFile(r / "etc/skiff/pools" / (d.source_pool + ".xml"));
    if (!pool_xml.ok()) {
      return Fail("disk '" + d.target_dev + "': pool '" + d.source_pool + "' is not defined");
    }
    auto pool = conf::ParsePoolXml(*pool_xml, d.source_pool + ".xml");
    if (!pool.ok()) return Fail(pool.status().message());
    ctx.volume_paths[d.target_dev] = pool->target_path + "/" + d.source_volume;
  }
  auto argv = qemu::BuildQemuArgv(*def, ctx);
  if (!argv.ok()) return Fail(argv.status().message());
  std::string line;
  for (const auto& a : *argv) {
    if (!line.empty()) line += ' ';
    line += ShellQuote(a);
  }
  std::printf("%s\n", line.c_str());
  return 0;
}

}  // namespace

void AddConfCommands(std::vector<Command>& out) {
  out.push_back(
      {"validate", "check a domain/network/pool/volume/snapshot XML file offline", Validate});
  out.push_back(
      {"domxml-to-native", "print the QEMU command line of a domain XML file", DomxmlToNative});
}

}  // namespace skiff::app
