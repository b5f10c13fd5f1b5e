// Shared helpers of the golden runners.
#include "golden/golden_util.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "testutil/temp_dir.h"

namespace skiff::golden {

bool Regenerate() {
  const char* v = std::getenv("SKIFF_REGENERATE_GOLDEN");
  return v && std::string(v) == "1";
}

bool InCi() {
  const char* v = std::getenv("CI");
  return v && std::string(v) == "true";
}

fs::path GoldenDir() { return testing::SourceDir() / "tests" / "golden"; }

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << data;
}

qemu::ArgvContext CaseContext(const std::string& case_name, const conf::DomainDef& def) {
  qemu::ArgvContext ctx;
  ctx.qemu_major = 7;
  ctx.qemu_minor = 2;
  ctx.emulator = qemu::kDefaultEmulator;
  ctx.sandbox = true;  // as libvirt's expected command lines (seccomp_sandbox = 1)
  ctx.kvm_usable = case_name.rfind("nokvm-", 0) != 0;
  if (!ctx.kvm_usable) {
    ctx.kvm_reason = "only kvm_pvm is loaded (paravirtual nested kvm cannot run stock guests)";
  }
  ctx.qmp_socket = "/run/skiff/" + def.name + ".qmp";
  if (case_name.rfind("console-", 0) == 0) {
    ctx.console_socket = "/run/skiff/" + def.name + ".console";
    ctx.log_file = "/var/log/skiff/domains/" + def.name + ".log";
  }
  for (size_t i = 0; i < def.devices.interfaces.size(); ++i) {
    if (def.devices.interfaces[i].type != conf::InterfaceType::kUser) {
      ctx.tap_fds[i] = 30 + static_cast<int>(i);
    }
  }
  for (size_t i = 0; i < def.devices.graphics.size(); ++i) {
    const auto& g = def.devices.graphics[i];
    if (g.autoport && g.type == conf::GraphicsType::kSpice)
      ctx.graphics_ports[i] = 5900 + static_cast<int>(i);
  }
  // What the driver settles at start, fixed here as Debian 12's packages give it
  // (ovmf's secure-boot firmware for q35, swtpm and virtiofsd sockets beside QMP).
  if (def.os.firmware == "efi") {
    ctx.efi.code =
        def.IsQ35() ? "/usr/share/OVMF/OVMF_CODE_4M.ms.fd" : "/usr/share/OVMF/OVMF_CODE_4M.fd";
    ctx.efi.nvram = "/var/lib/skiff/nvram/" + def.name + "_VARS.fd";
    ctx.efi.secure = def.IsQ35();
  }
  if (!def.devices.tpms.empty()) ctx.tpm_socket = "/run/skiff/" + def.name + ".swtpm.sock";
  for (size_t i = 0; i < def.devices.filesystems.size(); ++i) {
    if (def.devices.filesystems[i].driver == "virtiofs") {
      ctx.virtiofs_sockets[i] = "/run/skiff/" + def.name + ".fs" + std::to_string(i) + ".sock";
    }
  }
  for (const auto& d : def.devices.disks) {
    if (d.type == conf::DiskType::kVolume) {
      ctx.volume_paths[d.target_dev] =
          "/var/lib/skiff/pools/" + d.source_pool + "/" + d.source_volume;
    }
  }
  return ctx;
}

std::string ArgsText(const std::vector<std::string>& argv) {
  std::string out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (i > 0 && !argv[i].empty() && argv[i][0] == '-') {
      out += '\n';
    } else if (i > 0) {
      out += ' ';
    }
    out += argv[i];
  }
  out += '\n';
  return out;
}

std::string CheckGolden(const fs::path& expected, const std::string& actual) {
  if (Regenerate()) {
    WriteAll(expected, actual);
    return "";
  }
  if (!fs::exists(expected)) return "missing expected file " + expected.string();
  std::string want = ReadAll(expected);
  if (want == actual) return "";
  return "mismatch with " + expected.string() + "\n--- expected\n" + want + "--- actual\n" + actual;
}

}  // namespace skiff::golden
