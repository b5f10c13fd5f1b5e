// Tests for the KVM and QEMU probes, on fake sysfs trees.
#include "skiff/qemu/host.h"

#include <fstream>

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

TEST(ProbeKvm, PvmIsRefusedWithReason) {
  testing::TempDir d;
  std::filesystem::create_directories(d.path() / "sys/module/kvm_pvm");
  KvmStatus s = ProbeKvm(d.path(), "/dev/null");
  EXPECT_FALSE(s.usable);
  EXPECT_EQ(s.module, "kvm_pvm");
  EXPECT_NE(DescribeKvm(s).find("paravirtual nested KVM (kvm_pvm)"), std::string::npos);
}

TEST(ProbeKvm, MissingDeviceNamesIt) {
  testing::TempDir d;
  std::filesystem::create_directories(d.path() / "sys/module/kvm_intel");
  KvmStatus s = ProbeKvm(d.path(), d.path() / "nokvm");
  EXPECT_FALSE(s.usable);
  EXPECT_EQ(s.module, "kvm_intel");
  EXPECT_NE(s.reason.find("nokvm"), std::string::npos) << s.reason;
}

TEST(ProbeKvm, DeviceThatIsNotKvmIsRefused) {
  testing::TempDir d;
  std::filesystem::create_directories(d.path() / "sys/module/kvm_amd");
  KvmStatus s = ProbeKvm(d.path(), "/dev/null");
  EXPECT_FALSE(s.usable);
  EXPECT_NE(s.reason.find("API version"), std::string::npos) << s.reason;
}

TEST(ParseQemuVersion, Debian) {
  auto b = ParseQemuVersion("/usr/bin/q",
                            "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)\n"
                            "Copyright (c) 2003-2022 Fabrice Bellard\n");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->version, "7.2.19");
  EXPECT_EQ(b->major, 7);
  EXPECT_FALSE(ParseQemuVersion("/x", "garbage").ok());
}

}  // namespace
TEST(ProbeHostFacts, AgreesWithProcAndUname) {
  auto f = ProbeHostFacts();
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  meminfo >> key >> kib;
  ASSERT_EQ(key, "MemTotal:");
  EXPECT_EQ(f.memory_kib / 1024, kib / 1024);  // sysinfo and meminfo round alike to the MiB
  std::ifstream osrelease("/proc/sys/kernel/osrelease");
  std::string release;
  osrelease >> release;
  EXPECT_EQ(f.kernel_release, release);
  EXPECT_EQ(f.arch, "x86_64");
  EXPECT_GE(f.cpus, 1);
}

}  // namespace skiff::qemu
