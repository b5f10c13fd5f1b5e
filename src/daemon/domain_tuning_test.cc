// DomainTuning: memory, vcpus, cpu shares and pinning with --live/--config/--current,
// against FakeHypervisor.
#include "daemon/service_test_fixture.h"

namespace skiff::daemon {
namespace {

using TuningTest = ServiceTest;

TEST_F(TuningTest, MemoryLiveChangesTheGuestNotTheDefinition) {
  DefineAndStart("a");
  ASSERT_TRUE(service_->tuning().SetMemory("a", 256 * 1024, false, kLive).ok());
  EXPECT_EQ(service_->GetDomain("a")->used_memory_kib, 256u * 1024);
  EXPECT_TRUE(Has(LiveXml("a"), "<currentMemory unit='KiB'>262144</currentMemory>"))
      << LiveXml("a");
  EXPECT_TRUE(Has(ConfigXml("a"), "<currentMemory unit='KiB'>524288</currentMemory>"));
  // --current on a running domain is --live.
  ASSERT_TRUE(service_->tuning().SetMemory("a", 384 * 1024, false, kCurrent).ok());
  EXPECT_EQ(service_->GetDomain("a")->used_memory_kib, 384u * 1024);
  auto over = service_->tuning().SetMemory("a", 2048 * 1024, false, kLive);
  EXPECT_EQ(over.code(), Code::kInvalidArgument) << over.ToString();
  EXPECT_EQ(service_->tuning().SetMemory("a", 0, false, kLive).code(), Code::kInvalidArgument);
}

TEST_F(TuningTest, MaximumMemoryOnlyInTheDefinition) {
  DefineAndStart("a");
  auto live = service_->tuning().SetMemory("a", 2048 * 1024, true, kCurrent);
  EXPECT_EQ(live.code(), Code::kFailedPrecondition) << live.ToString();
  ASSERT_TRUE(service_->tuning().SetMemory("a", 256 * 1024, true, kConfig).ok());
  // The current memory follows a maximum below it; the running guest keeps its own.
  EXPECT_TRUE(Has(ConfigXml("a"), "<memory unit='KiB'>262144</memory>")) << ConfigXml("a");
  EXPECT_TRUE(Has(ConfigXml("a"), "<currentMemory unit='KiB'>262144</currentMemory>"));
  EXPECT_TRUE(Has(LiveXml("a"), "<memory unit='KiB'>1048576</memory>"));
  // Written: a restarted daemon reads it back.
  auto file = ReadFile(dir_.path() / "etc/skiff/domains/a.xml");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(Has(*file, "<memory unit='KiB'>262144</memory>"));
}

TEST_F(TuningTest, VcpusLiveAndConfig) {
  DefineAndStart("a");
  ASSERT_TRUE(service_->tuning().SetVcpus("a", 3, false, kBoth).ok());
  auto c = service_->tuning().VcpuCount("a");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->maximum_config, 4u);
  EXPECT_EQ(c->current_config, 3u);
  EXPECT_EQ(c->maximum_live, 4u);
  EXPECT_EQ(c->current_live, 3u);
  EXPECT_EQ(service_->tuning().SetVcpus("a", 5, false, kLive).code(), Code::kInvalidArgument);
  EXPECT_EQ(service_->tuning().SetVcpus("a", 0, false, kLive).code(), Code::kInvalidArgument);
  EXPECT_EQ(service_->tuning().SetVcpus("a", 8, true, kLive).code(), Code::kFailedPrecondition);
  // A new maximum below the current count lowers it.
  ASSERT_TRUE(service_->tuning().SetVcpus("a", 2, true, kConfig).ok());
  c = service_->tuning().VcpuCount("a");
  EXPECT_EQ(c->maximum_config, 2u);
  EXPECT_EQ(c->current_config, 2u);
  EXPECT_EQ(c->maximum_live, 4u);
  ASSERT_TRUE(service_->DestroyDomain("a").ok());
  c = service_->tuning().VcpuCount("a");
  EXPECT_EQ(c->maximum_live, 0u);
  EXPECT_EQ(c->current_live, 0u);
  EXPECT_EQ(service_->tuning().SetVcpus("a", 1, false, kLive).code(), Code::kFailedPrecondition);
}

TEST_F(TuningTest, CpuSharesScopesAndRange) {
  Define("a");
  EXPECT_EQ(service_->tuning().CpuShares("a", kCurrent).value(), 0u);  // unset
  EXPECT_EQ(service_->tuning().CpuShares("a", kLive).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(service_->tuning().CpuShares("a", kBoth).status().code(), Code::kInvalidArgument);
  ASSERT_TRUE(service_->tuning().SetCpuShares("a", 512, kCurrent).ok());
  EXPECT_EQ(service_->tuning().CpuShares("a", kConfig).value(), 512u);
  EXPECT_EQ(service_->tuning().SetCpuShares("a", 1, kConfig).code(), Code::kInvalidArgument);
  EXPECT_EQ(service_->tuning().SetCpuShares("a", 262145, kConfig).code(), Code::kInvalidArgument);
  ASSERT_TRUE(service_->StartDomain("a", false).ok());
  ASSERT_TRUE(service_->tuning().SetCpuShares("a", 2048, kLive).ok());
  EXPECT_EQ(service_->tuning().CpuShares("a", kCurrent).value(), 2048u);
  EXPECT_EQ(service_->tuning().CpuShares("a", kConfig).value(), 512u);
}

TEST_F(TuningTest, PinningNormalisesAndChecksTheVcpu) {
  Define("a");
  ASSERT_TRUE(service_->tuning().PinVcpu("a", 1, "0,1,2", kConfig).ok());
  ASSERT_TRUE(service_->tuning().PinEmulator("a", "3", kConfig).ok());
  auto p = service_->tuning().Pinning("a", kConfig);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->vcpus.size(), 4u);
  EXPECT_EQ(p->vcpus[1], "0-2");
  EXPECT_EQ(p->emulator, "3");
  EXPECT_NE(p->vcpus[0], "0-2");  // unpinned: every host CPU
  auto bad = service_->tuning().PinVcpu("a", 4, "0", kConfig);
  EXPECT_EQ(bad.code(), Code::kInvalidArgument);
  EXPECT_TRUE(Has(bad.ToString(), "persistent vcpu count 4")) << bad.ToString();
  EXPECT_EQ(service_->tuning().PinVcpu("a", 0, "x-y", kConfig).code(), Code::kInvalidArgument);
  EXPECT_EQ(service_->tuning().PinVcpu("a", 0, "0", kLive).code(), Code::kFailedPrecondition);
}

TEST_F(TuningTest, TransientDomainHasNoDefinitionToChange) {
  auto r = service_->CreateDomain(Xml("t"), "t.xml", false);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto st = service_->tuning().SetMemory("t", 256 * 1024, false, kConfig);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(st.ToString(), "transient domain 't'")) << st.ToString();
  EXPECT_TRUE(service_->tuning().SetMemory("t", 256 * 1024, false, kCurrent).ok());
  EXPECT_EQ(service_->tuning().SetVcpus("nope", 1, false, kCurrent).code(), Code::kNotFound);
}

}  // namespace
}  // namespace skiff::daemon
