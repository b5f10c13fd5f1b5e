// The offline verbs as a user runs them: `skiff validate` and `skiff domxml-to-native`
// (exit codes, stdout, stderr), against the built binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "golden/golden_util.h"
#include "skiff/base/process.h"
#include "testutil/temp_dir.h"

namespace skiff::golden {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Skiff() {
  const char* b = std::getenv("SKIFF_BUILD_DIR");
  return (fs::path(b ? b : ".") / "bin" / "skiff").string();
}

// The verbs need build/bin/skiff (built by the default target).
#define SKIFF_REQUIRE_BINARY()                                                  \
  do {                                                                          \
    if (!fs::exists(Skiff())) {                                                 \
      if (InCi()) FAIL() << "skiff binary missing: " << Skiff();                \
      GTEST_SKIP() << "skiff binary missing (build target skiff): " << Skiff(); \
    }                                                                           \
  } while (0)

RunResult RunSkiff(std::vector<std::string> args) {
  args.insert(args.begin(), Skiff());
  auto r = RunCommand(args, std::chrono::seconds(30));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RunResult{};
}

TEST(CliVerbs, ValidateAcceptsAndRefuses) {
  SKIFF_REQUIRE_BINARY();
  fs::path d = GoldenDir() / "domain2argv";
  auto ok = RunSkiff({"validate", (d / "full-q35-guest.xml").string()});
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.out, (d / "full-q35-guest.xml").string() + " validates\n");

  auto bad = RunSkiff({"validate", (d / "disk-duplicate-target.xml").string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, StartsWith("error: "));
  EXPECT_THAT(bad.err, HasSubstr("duplicate disk target 'vda'"));

  auto syntax = RunSkiff({"validate", (d / "syntax-error.xml").string()});
  EXPECT_EQ(syntax.exit_code, 1);
  EXPECT_THAT(syntax.err, HasSubstr("syntax-error.xml:7:1: xml syntax error"));
}

TEST(CliVerbs, ValidateFormatPrintsCanonicalXmlOfEveryKind) {
  SKIFF_REQUIRE_BINARY();
  fs::path c = GoldenDir() / "confxml2xml";
  for (std::string name : {"net-nat-dhcp", "pool-dir", "vol-qcow2-backing", "snap-external"}) {
    auto r = RunSkiff({"validate", "--format", (c / (name + ".xml")).string()});
    EXPECT_EQ(r.exit_code, 0) << name << r.err;
    EXPECT_EQ(r.out, ReadAll(c / (name + ".out.xml"))) << name;
  }
}

TEST(CliVerbs, DomxmlToNative) {
  SKIFF_REQUIRE_BINARY();
  fs::path d = GoldenDir() / "domain2argv";
  auto r = RunSkiff({"domxml-to-native", "qemu-argv", (d / "name-with-comma.xml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(" -name guest=web,,01,debug-threads=on "));
  EXPECT_THAT(r.out, HasSubstr(" -accel tcg "));
  auto bad = RunSkiff({"domxml-to-native", "xen-xm", (d / "minimal-pc.xml").string()});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("unsupported format 'xen-xm'"));
}

// An offline conversion: type='kvm' converts on any host, KVM or not (issue 14).
TEST(CliVerbs, DomxmlToNativeConvertsKvmDomainsOnAnyHost) {
  SKIFF_REQUIRE_BINARY();
  auto r = RunSkiff({"domxml-to-native", "qemu-argv",
                     (GoldenDir() / "domain2argv" / "cpu-host-passthrough-kvm.xml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(" -accel kvm"));
  EXPECT_THAT(r.out, HasSubstr(" -cpu host"));
  if (!r.err.empty()) {
    EXPECT_THAT(r.err, StartsWith("warning: kvm is not usable on this host ("));
  }
}

TEST(CliVerbs, DomxmlToNativeResolvesVolumesThroughPools) {
  SKIFF_REQUIRE_BINARY();
  testing::TempDir root;
  fs::create_directories(root / "etc/skiff/pools");
  WriteAll(root / "etc/skiff/pools/default.xml",
           "<pool type='dir'><name>default</name><target><path>/srv/pool</path></target></pool>");
  auto r = RunSkiff({"domxml-to-native", "--root", root.path().string(), "qemu-argv",
                     (GoldenDir() / "domain2argv" / "disk-volume.xml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("filename=/srv/pool/guest.qcow2,"));
}

}  // namespace
}  // namespace skiff::golden
