#include "image/qcow2_header.h"

#include <gtest/gtest.h>

#include "image/endian.h"

namespace skiff::image {
namespace {

// Cluster 0 as it sits in a file: the serialised header padded to the cluster.
Result<std::vector<uint8_t>> Cluster0(const Qcow2Header& h) {
  auto b = SerializeQcow2Header(h);
  if (b.ok()) b->resize(h.cluster_size(), 0);
  return b;
}

Qcow2Header Sample() {
  Qcow2Header h;
  h.size = 1 << 30;
  h.l1_size = 2;
  h.l1_table_offset = 0x30000;
  h.refcount_table_offset = 0x10000;
  h.refcount_table_clusters = 1;
  return h;
}

TEST(Qcow2Header, RoundTripKeepsFieldsAndExtensions) {
  Qcow2Header h = Sample();
  h.backing_file = "base.qcow2";
  h.backing_format = "qcow2";
  h.compatible_features = kCompatLazyRefcounts;
  h.other_extensions.push_back({0x12345678, "keep me"});
  auto bytes = Cluster0(h);
  ASSERT_TRUE(bytes.ok());
  auto p = ParseQcow2Header(*bytes, 0x40000, "t");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->size, h.size);
  EXPECT_EQ(p->backing_file, "base.qcow2");
  EXPECT_EQ(p->backing_format, "qcow2");
  EXPECT_EQ(p->header_length, 112u);
  EXPECT_EQ(p->compatible_features, kCompatLazyRefcounts);
  ASSERT_EQ(p->other_extensions.size(), 1u);
  EXPECT_EQ(p->other_extensions[0].second, "keep me");
  EXPECT_EQ(p->feature_names.size(), 8u);
}

TEST(Qcow2Header, RefusesUnknownIncompatibleFeature) {
  Qcow2Header h = Sample();
  h.incompatible_features = 1ull << 33;
  auto bytes = Cluster0(h);
  ASSERT_TRUE(bytes.ok());
  auto p = ParseQcow2Header(*bytes, 0x40000, "disk.qcow2");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kUnsupported);
  EXPECT_NE(p.status().message().find("bit 33"), std::string::npos) << p.status().message();
}

TEST(Qcow2Header, RejectsMisalignedL1AndNamesTheOffset) {
  Qcow2Header h = Sample();
  h.l1_table_offset = 0x30200;
  auto bytes = Cluster0(h);
  auto p = ParseQcow2Header(*bytes, 0x40000, "disk.qcow2");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kCorruption);
  EXPECT_NE(p.status().message().find("0x30200"), std::string::npos);
}

TEST(Qcow2Header, RejectsTablesPastTheEnd) {
  Qcow2Header h = Sample();
  auto bytes = Cluster0(h);
  auto p = ParseQcow2Header(*bytes, 0x30008, "disk.qcow2");  // L1 needs 16 bytes
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("past the end"), std::string::npos);
}

TEST(Qcow2Header, RejectsL1TooSmallForAbsurdSize) {
  Qcow2Header h = Sample();
  h.size = 1ull << 60;
  auto bytes = Cluster0(h);
  auto p = ParseQcow2Header(*bytes, 0x40000, "disk.qcow2");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("too small"), std::string::npos);
}

TEST(Qcow2Header, RejectsL1BeyondLimit) {
  Qcow2Header h = Sample();
  h.l1_size = 0x1000000;
  auto bytes = Cluster0(h);
  auto p = ParseQcow2Header(*bytes, 1ull << 40, "disk.qcow2");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("32 MiB"), std::string::npos);
}

TEST(Qcow2Header, RejectsShortFileAndBadMagic) {
  std::vector<uint8_t> tiny(40, 0);
  EXPECT_EQ(ParseQcow2Header(tiny, 40, "x").status().code(), Code::kCorruption);
  Qcow2Header h = Sample();
  auto bytes = Cluster0(h);
  (*bytes)[0] = 'X';
  auto p = ParseQcow2Header(*bytes, 0x40000, "x");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("magic"), std::string::npos);
}

TEST(Qcow2Header, ExtensionOverrunIsCorruption) {
  Qcow2Header h = Sample();
  auto bytes = Cluster0(h);
  StoreBe32(bytes->data() + 112, 0x11111111);
  StoreBe32(bytes->data() + 116, 0x7fffffff);
  auto p = ParseQcow2Header(*bytes, 0x40000, "x");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("overruns"), std::string::npos);
}

TEST(Qcow2Header, V2HasNoFeatureTable) {
  Qcow2Header h = Sample();
  h.version = 2;
  auto bytes = Cluster0(h);
  auto p = ParseQcow2Header(*bytes, 0x40000, "x");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->header_length, 72u);
  EXPECT_EQ(p->refcount_order, 4u);
  EXPECT_TRUE(p->feature_names.empty());
}

}  // namespace
}  // namespace skiff::image
