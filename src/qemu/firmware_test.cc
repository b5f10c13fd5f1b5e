// UEFI firmware chosen from descriptors on a fake tree; NVRAM made once; host SMBIOS.
#include "qemu/firmware.h"

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

namespace fs = std::filesystem;

// A descriptor as Debian's ovmf writes them (docs/interop/firmware.json).
std::string Descriptor(const fs::path& code, const fs::path& vars, const std::string& machines,
                       const std::string& features) {
  return R"({"interface-types": ["uefi"],
  "mapping": {"device": "flash",
    "executable": {"filename": ")" +
         code.string() + R"(", "format": "raw"},
    "nvram-template": {"filename": ")" +
         vars.string() + R"(", "format": "raw"}},
  "targets": [{"architecture": "x86_64", "machines": [)" +
         machines + R"(]}],
  "features": [)" +
         features + R"(], "tags": []})";
}

conf::DomainDef Domain(const std::string& machine) {
  conf::DomainDef d;
  d.name = "vm";
  d.os.machine = machine;
  d.os.firmware = "efi";
  return d;
}

class FirmwareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    share_ = dir_.path() / "share";
    etc_ = dir_.path() / "etc";
    ASSERT_TRUE(MakeDirs(share_).ok() && MakeDirs(etc_).ok());
    for (const char* f : {"CODE.secboot.fd", "VARS.ms.fd", "CODE.fd", "VARS.fd"}) {
      ASSERT_TRUE(WriteFileAtomic(dir_.path() / f, std::string("template ") + f, 0644).ok());
    }
    Write(share_ / "40-secure.json",
          Descriptor(dir_.path() / "CODE.secboot.fd", dir_.path() / "VARS.ms.fd", R"("pc-q35-*")",
                     R"("requires-smm", "secure-boot", "enrolled-keys")"));
    Write(share_ / "60-plain.json", Descriptor(dir_.path() / "CODE.fd", dir_.path() / "VARS.fd",
                                               R"("pc-i440fx-*", "pc-q35-*")", R"("acpi-s3")"));
  }
  void Write(const fs::path& p, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomic(p, text, 0644).ok());
  }
  std::vector<fs::path> Dirs() const { return {etc_, share_}; }

  testing::TempDir dir_;
  fs::path share_, etc_;
};

TEST_F(FirmwareTest, FirstDescriptorServingTheMachineWins) {
  auto q35 = FindEfiFirmware(Domain("q35"), Dirs());
  ASSERT_TRUE(q35);
  EXPECT_EQ(q35->code, (dir_.path() / "CODE.secboot.fd").string());
  EXPECT_TRUE(q35->secure_boot && q35->requires_smm);
  EXPECT_TRUE(FindEfiFirmware(Domain("pc-q35-7.2"), Dirs())->requires_smm);
  // i440fx machines: only the plain firmware serves them.
  for (const char* m : {"pc", "", "pc-i440fx-7.2"}) {
    auto pc = FindEfiFirmware(Domain(m), Dirs());
    ASSERT_TRUE(pc) << m;
    EXPECT_EQ(pc->code, (dir_.path() / "CODE.fd").string()) << m;
    EXPECT_FALSE(pc->requires_smm);
  }
}

TEST_F(FirmwareTest, EtcOverridesAndBrokenOrGoneDescriptorsAreSkipped) {
  Write(etc_ / "40-secure.json", "{ not json");  // overrides share's, and is skipped
  auto fw = FindEfiFirmware(Domain("q35"), Dirs());
  ASSERT_TRUE(fw);
  EXPECT_EQ(fw->code, (dir_.path() / "CODE.fd").string());
  fs::remove(dir_.path() / "CODE.fd");  // a half-removed package serves nobody
  EXPECT_FALSE(FindEfiFirmware(Domain("q35"), Dirs()));
  EXPECT_FALSE(FindEfiFirmware(Domain("q35"), {dir_.path() / "none"}));
}

TEST_F(FirmwareTest, NvramIsCopiedOnceAndKept) {
  auto fw = FindEfiFirmware(Domain("pc"), Dirs());
  ASSERT_TRUE(fw);
  auto nvram = PrepareNvram(*fw, dir_.path() / "nvram", "vm");
  ASSERT_TRUE(nvram.ok()) << nvram.status().ToString();
  EXPECT_EQ(*nvram, (dir_.path() / "nvram/vm_VARS.fd").string());
  EXPECT_EQ(ReadFile(*nvram).value(), "template VARS.fd");
  Write(*nvram, "the guest's variables");  // what the guest stored survives the next start
  EXPECT_EQ(PrepareNvram(*fw, dir_.path() / "nvram", "vm").value(), *nvram);
  EXPECT_EQ(ReadFile(*nvram).value(), "the guest's variables");
}

TEST_F(FirmwareTest, HostSysinfoLeavesOutTheUuid) {
  const fs::path dmi = dir_.path() / "dmi";
  ASSERT_TRUE(MakeDirs(dmi).ok());
  Write(dmi / "bios_vendor", "SeaBIOS\n");
  Write(dmi / "sys_vendor", "QEMU\n");
  Write(dmi / "product_uuid", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0\n");
  auto s = ReadHostSysinfo(dmi);
  ASSERT_EQ(s.bios.size(), 1u);
  EXPECT_EQ(s.bios[0], (std::pair<std::string, std::string>{"vendor", "SeaBIOS"}));
  ASSERT_EQ(s.system.size(), 1u);
  EXPECT_EQ(s.system[0].second, "QEMU");
}

}  // namespace
}  // namespace skiff::qemu
