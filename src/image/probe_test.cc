// Format probing: QEMU's magics for the foreign formats, qcow v1 apart from qcow2.
#include "image/probe.h"

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace skiff::image {
namespace {

std::vector<uint8_t> Head(std::string_view magic, size_t at = 0) {
  std::vector<uint8_t> b(512, 0);
  std::memcpy(b.data() + at, magic.data(), magic.size());
  return b;
}

TEST(ProbeTest, Qcow2AndQcowV1) {
  auto b = Head(std::string_view("QFI\xfb\0\0\0\3", 8));
  EXPECT_EQ(FormatFromMagic(b, {}), "qcow2");
  b[7] = 2;
  EXPECT_EQ(FormatFromMagic(b, {}), "qcow2");
  b[7] = 1;
  EXPECT_EQ(FormatFromMagic(b, {}), "qcow");
}

TEST(ProbeTest, ForeignMagics) {
  EXPECT_EQ(FormatFromMagic(Head("KDMV"), {}), "vmdk");
  EXPECT_EQ(FormatFromMagic(Head("# Disk DescriptorFile\nversion=1\n"), {}), "vmdk");
  EXPECT_EQ(FormatFromMagic(Head("\x7f\x10\xda\xbe", 0x40), {}), "vdi");
  EXPECT_EQ(FormatFromMagic(Head("vhdxfile"), {}), "vhdx");
  EXPECT_EQ(FormatFromMagic(Head("conectix"), {}), "vpc");
  EXPECT_EQ(FormatFromMagic(Head(std::string_view("QED\0", 4)), {}), "qed");
  EXPECT_EQ(FormatFromMagic(Head("WithoutFreeSpace"), {}), "parallels");
  EXPECT_EQ(FormatFromMagic(Head(std::string_view("LUKS\xba\xbe\0\1", 8)), {}), "luks");
  EXPECT_EQ(FormatFromMagic(Head("Bochs Virtual HD Image"), {}), "bochs");
  EXPECT_EQ(FormatFromMagic(Head("#!/bin/sh\n#V2.0 Format\nmodprobe cloop"), {}), "cloop");
  EXPECT_EQ(FormatFromMagic(Head(""), Head("koly")), "dmg");
  EXPECT_EQ(ForeignFormatTitle("vmdk"), "VMware VMDK");
  EXPECT_EQ(ForeignFormatTitle("raw"), "");
}

TEST(ProbeTest, EverythingElseIsRaw) {
  EXPECT_EQ(FormatFromMagic(Head(""), {}), "raw");
  EXPECT_EQ(FormatFromMagic(Head("KDM"), {}), "raw");
  // A short file: the head is zero-filled, no tail.
  std::vector<uint8_t> tiny = {'K', 'D'};
  EXPECT_EQ(FormatFromMagic(tiny, {}), "raw");
  EXPECT_EQ(FormatFromMagic(Head("hello"), Head("not koly")), "raw");
}

}  // namespace
}  // namespace skiff::image
