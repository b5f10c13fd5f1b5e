// Tests for host capability parsing and host validation on fake trees.
#include "skiff/qemu/host_caps.h"

#include <fstream>

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

TEST(ParseMachineHelp, AliasesAndDefault) {
  auto m = ParseMachineHelp(
      "Supported machines are:\n"
      "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
      "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
      "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "pc");
  EXPECT_EQ(m[0].canonical, "pc-i440fx-7.2");
  EXPECT_EQ(m[0].description, "Standard PC (i440FX + PIIX, 1996)");
  EXPECT_TRUE(m[1].is_default);
  EXPECT_EQ(m[2].canonical, "pc-q35-7.2");
}

TEST(ParseCpuInfo, TopologyAndVirt) {
  std::string one =
      "processor\t: {}\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nphysical id\t: 0\n"
      "cpu cores\t: 2\nflags\t\t: fpu sse2 svm avx\n\n";
  HostCpu c = ParseCpuInfo(fmt::format(fmt::runtime(one), 0) + fmt::format(fmt::runtime(one), 1));
  EXPECT_EQ(c.vendor, "AMD");
  EXPECT_EQ(c.logical, 2);
  EXPECT_EQ(c.cores, 2);
  EXPECT_EQ(c.threads, 1);
  EXPECT_TRUE(c.hw_virt);
  EXPECT_FALSE(ParseCpuInfo("flags : fpu sse2\n").hw_virt);
}

TEST(ValidateHost, ReportsMissingPiecesWithWhatToDo) {
  testing::TempDir d;
  std::filesystem::create_directories(d.path() / "proc");
  std::ofstream(d.path() / "proc/cpuinfo") << "processor : 0\nflags : fpu sse2\n";
  std::filesystem::create_directories(d.path() / "sys/fs/cgroup/cpu");
  auto checks = ValidateHost(d.path());
  std::string text = FormatHostChecks(checks);
  EXPECT_NE(text.find("Checking for hardware virtualization"), std::string::npos);
  EXPECT_NE(text.find("Checking if device /dev/kvm exists"), std::string::npos);
  auto find = [&](const std::string& what) {
    for (const auto& c : checks) {
      if (c.what == what) return c;
    }
    ADD_FAILURE() << "no check " << what;
    return HostCheck{};
  };
  EXPECT_EQ(find("Checking for hardware virtualization").result, CheckResult::kFail);
  EXPECT_EQ(find("Checking if device /dev/kvm exists").result, CheckResult::kFail);
  EXPECT_EQ(find("Checking if device /dev/net/tun exists").result, CheckResult::kFail);
  EXPECT_EQ(find("Checking for cgroup 'cpu' controller support").result, CheckResult::kPass);
  EXPECT_EQ(find("Checking for cgroup 'memory' controller support").result, CheckResult::kWarn);
}

TEST(ValidateHost, CgroupV2Controllers) {
  testing::TempDir d;
  std::filesystem::create_directories(d.path() / "sys/fs/cgroup");
  std::ofstream(d.path() / "sys/fs/cgroup/cgroup.controllers") << "cpuset cpu io memory pids\n";
  for (const auto& c : ValidateHost(d.path())) {
    if (c.area == "CGROUP") {
      EXPECT_EQ(c.result, CheckResult::kPass) << c.what;
    }
  }
}

}  // namespace
}  // namespace skiff::qemu
