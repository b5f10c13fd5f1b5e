// Firmware descriptors -> the UEFI firmware of a domain, and its NVRAM file.
#include "qemu/firmware.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "qemu/guest_helpers.h"
#include "skiff/base/fs.h"
#include "skiff/qemu/argv.h"

namespace skiff::qemu {

namespace fs = std::filesystem;

std::vector<fs::path> DefaultFirmwareDirs() {
  return {"/etc/qemu/firmware", "/usr/share/qemu/firmware"};
}

namespace {

// The machine type a descriptor's globs are written for: aliases resolved
// (q35 -> pc-q35-*, pc -> pc-i440fx-*).
std::string MachineForMatch(const conf::DomainDef& def) {
  const std::string& m = def.os.machine;
  if (m.empty() || m == "pc") return "pc-i440fx-99.0";
  if (m == "q35") return "pc-q35-99.0";
  return m;
}

bool Serves(const nlohmann::json& d, const conf::DomainDef& def) {
  const auto& types = d.at("interface-types");
  if (std::find(types.begin(), types.end(), "uefi") == types.end()) return false;
  const auto& map = d.at("mapping");
  if (map.value("device", "") != "flash") return false;
  const std::string arch = def.os.arch.empty() ? "x86_64" : def.os.arch;
  const std::string machine = MachineForMatch(def);
  for (const auto& t : d.at("targets")) {
    if (t.value("architecture", "") != arch) continue;
    for (const auto& glob : t.at("machines")) {
      if (::fnmatch(glob.get<std::string>().c_str(), machine.c_str(), 0) == 0) return true;
    }
  }
  return false;
}

}  // namespace

std::optional<EfiFirmware> FindEfiFirmware(const conf::DomainDef& def,
                                           const std::vector<fs::path>& dirs) {
  // By file name; the first directory holding a name wins.
  std::map<std::string, fs::path> files;
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".json") files.emplace(e.path().filename().string(), e.path());
    }
  }
  for (const auto& [name, path] : files) {
    auto text = ReadFile(path);
    if (!text.ok()) continue;
    auto d = nlohmann::json::parse(*text, nullptr, false);
    try {
      if (d.is_discarded()) throw std::runtime_error("not JSON");
      if (!Serves(d, def)) continue;
      const auto& map = d.at("mapping");
      EfiFirmware fw;
      fw.descriptor = path.string();
      fw.code = map.at("executable").at("filename").get<std::string>();
      fw.vars_template = map.at("nvram-template").at("filename").get<std::string>();
      for (const auto& f : d.value("features", nlohmann::json::array())) {
        if (f == "secure-boot") fw.secure_boot = true;
        if (f == "requires-smm") fw.requires_smm = true;
      }
      // A descriptor whose files are gone (a half-removed package) serves nobody.
      if (!fs::exists(fw.code) || !fs::exists(fw.vars_template)) continue;
      return fw;
    } catch (const std::exception& e) {
      spdlog::warn("firmware descriptor '{}' skipped: {}", path.string(), e.what());
    }
  }
  return std::nullopt;
}

fs::path NvramPath(const fs::path& dir, const std::string& domain) {
  return dir / (domain + "_VARS.fd");
}

Result<std::string> PrepareNvram(const EfiFirmware& fw, const fs::path& dir,
                                 const std::string& domain) {
  const fs::path nvram = NvramPath(dir, domain);
  std::error_code ec;
  if (fs::exists(nvram, ec)) return nvram.string();
  SKIFF_TRY(MakeDirs(dir, 0755));
  SKIFF_ASSIGN_OR_RETURN(std::string vars, ReadFile(fw.vars_template));
  SKIFF_TRY(WriteFileAtomic(nvram, vars, 0600));
  return nvram.string();
}

conf::SysinfoDef ReadHostSysinfo(const fs::path& dmi_dir) {
  conf::SysinfoDef s;
  const std::pair<const char*, const char*> bios[] = {
      {"bios_vendor", "vendor"}, {"bios_version", "version"}, {"bios_date", "date"}};
  const std::pair<const char*, const char*> system[] = {
      {"sys_vendor", "manufacturer"}, {"product_name", "product"}, {"product_version", "version"},
      {"product_serial", "serial"},   {"product_sku", "sku"},      {"product_family", "family"}};
  auto read = [&](const auto& table, conf::SysinfoDef::Entries& out) {
    for (const auto& [file, name] : table) {
      auto v = ReadFile(dmi_dir / file, 256);
      if (!v.ok()) continue;
      std::string t = *v;
      while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
      if (!t.empty()) out.emplace_back(name, t);
    }
  };
  read(bios, s.bios);
  read(system, s.system);
  return s;
}

void PreviewStartContext(const conf::DomainDef& def, const fs::path& root, ArgvContext& ctx) {
  const fs::path run = root / "run/skiff/domains";
  if (def.os.firmware == "efi" && !def.os.loader) {
    if (auto fw = FindEfiFirmware(def)) {
      ctx.efi.code = fw->code;
      ctx.efi.nvram = NvramPath(root / "var/lib/skiff/nvram", def.name).string();
      ctx.efi.secure = fw->requires_smm;
    }
  }
  if (def.os.smbios_mode == "host") ctx.host_sysinfo = ReadHostSysinfo();
  for (const auto& t : def.devices.tpms) {
    if (t.backend == "emulator") ctx.tpm_socket = SwtpmSocket(run, def.name).string();
  }
  for (size_t i = 0; i < def.devices.filesystems.size(); ++i) {
    if (def.devices.filesystems[i].driver == "virtiofs") {
      ctx.virtiofs_sockets[i] = VirtiofsSocket(run, def.name, i).string();
    }
  }
  int port = 5900;
  for (size_t i = 0; i < def.devices.graphics.size(); ++i) {
    const auto& g = def.devices.graphics[i];
    if (g.type == conf::GraphicsType::kSpice && g.autoport) ctx.graphics_ports[i] = port++;
  }
}

}  // namespace skiff::qemu
