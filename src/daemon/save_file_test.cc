// save_file: the header line of a save file, written and read back, and each way a
// file can fail to be one (every error names the file).
#include "daemon/save_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

constexpr const char* kXml =
    "<domain type='qemu'><name>web</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
    "<memory unit='MiB'>256</memory><vcpu>2</vcpu>"
    "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>";

conf::DomainDef Def() {
  auto d = conf::ParseDomainXml(kXml, "test.xml");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return *d;
}

void Write(const std::filesystem::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

// The error of reading `file`, which must fail and name it.
std::string ReadError(const std::filesystem::path& file) {
  auto h = ReadSaveHeader(file.string());
  EXPECT_FALSE(h.ok());
  if (h.ok()) return "";
  std::string msg = h.status().ToString();
  EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
  return msg;
}

TEST(SaveFileTest, RoundTripKeepsDefinitionPausedAndStateOffset) {
  testing::TempDir dir;
  const auto file = dir / "web.save";
  for (bool paused : {false, true}) {
    ASSERT_TRUE(WriteSaveHeader(file.string(), Def(), paused).ok());
    auto size = std::filesystem::file_size(file);
    // The hypervisor's state follows the header in the same file.
    std::ofstream(file, std::ios::binary | std::ios::app) << "QEVM\x01state bytes\n\nmore";
    auto h = ReadSaveHeader(file.string());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->def.name, "web");
    EXPECT_EQ(h->def.uuid.ToString(), "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    EXPECT_EQ(h->def.vcpus, 2u);
    EXPECT_EQ(h->paused, paused);
    EXPECT_EQ(h->state_offset, size);
    EXPECT_EQ(conf::FormatDomainXml(h->def), conf::FormatDomainXml(Def()));
  }
  // One line of JSON with the magic first (keys sorted), mode 0600.
  auto text = ReadFile(file);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->rfind("{\"magic\":\"skiff-save-v1\",\"paused\":true,\"xml\":\"<domain", 0), 0u)
      << *text;
  auto perms = std::filesystem::status(file).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(SaveFileTest, RewriteReplacesTheHeaderAndKeepsTheStateByteForByte) {
  testing::TempDir dir;
  const auto file = dir / "web.save";
  ASSERT_TRUE(WriteSaveHeader(file.string(), Def(), false).ok());
  std::string state("QEVM\x01", 5);
  for (int i = 0; i < 100000; ++i) state += static_cast<char>(i * 7);
  std::ofstream(file, std::ios::binary | std::ios::app) << state;
  conf::DomainDef next = Def();
  next.title = "moved";
  auto before = ReadSaveHeader(file.string());
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  ASSERT_TRUE(RewriteSaveHeader(file.string(), *before, next, true).ok());
  auto h = ReadSaveHeader(file.string());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->def.title, "moved");
  EXPECT_TRUE(h->paused);
  auto text = ReadFile(file);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->substr(h->state_offset), state);
  // Nothing left beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
  // A file gone in between: an error naming it, nothing left beside it.
  Status st = RewriteSaveHeader((dir / "gone.save").string(), *before, next, false);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("gone.save"), std::string::npos) << st.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir / "gone.save"));
}

TEST(SaveFileTest, OnlyWhatTheGuestCannotSeeMayChange) {
  const conf::DomainDef saved = Def();
  auto with = [&](const std::string& devices) {
    std::string xml = kXml;
    xml.insert(xml.find("</domain>"), "<devices>" + devices + "</devices>");
    auto d = conf::ParseDomainXml(xml, "new.xml");
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return *d;
  };
  const std::string disk_a =
      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
      "<source file='/old/web.qcow2'/><target dev='vda' bus='virtio'/></disk>";
  std::string disk_b = disk_a;
  disk_b.replace(disk_b.find("/old/"), 5, "/new/");
  conf::DomainDef a = with(disk_a);
  EXPECT_TRUE(CheckSaveCompatible(a, with(disk_b), "f.save").ok());
  conf::DomainDef titled = a;
  titled.title = "t";
  titled.description = "d";
  EXPECT_TRUE(CheckSaveCompatible(a, titled, "f.save").ok());
  // The guest would see these.
  conf::DomainDef more_memory = a;
  more_memory.memory_kib *= 2;
  Status st = CheckSaveCompatible(a, more_memory, "f.save");
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("changes the saved guest's hardware"), std::string::npos);
  EXPECT_NE(st.message().find("f.save"), std::string::npos);
  std::string bus = disk_a;
  bus.replace(bus.find("virtio"), 6, "sata");
  bus.replace(bus.find("vda"), 3, "sda");
  EXPECT_FALSE(CheckSaveCompatible(a, with(bus), "f.save").ok());
  conf::DomainDef renamed = a;
  renamed.name = "other";
  EXPECT_NE(CheckSaveCompatible(a, renamed, "f.save").message().find("holds domain 'web'"),
            std::string::npos);
  EXPECT_FALSE(CheckSaveCompatible(saved, conf::DomainDef(), "f.save").ok());
}

TEST(SaveFileTest, MissingFileIsNotFound) {
  testing::TempDir dir;
  auto h = ReadSaveHeader((dir / "absent.save").string());
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kNotFound);
  EXPECT_NE(h.status().ToString().find("absent.save"), std::string::npos);
}

TEST(SaveFileTest, FileThatIsNotASaveFile) {
  testing::TempDir dir;
  const auto file = dir / "disk.img";
  for (const std::string& data : {std::string("QFI\xfb\x00\x00\x00\x03 some qcow2\n", 20),
                                  std::string("\n"), std::string("[1,2,3]\n"),
                                  std::string(R"({"magic":"other-v1","xml":"<domain/>"})"
                                              "\n"),
                                  std::string(R"({"magic":"skiff-save-v2","xml":"<domain/>"})"
                                              "\n"),
                                  std::string(R"({"magic":"skiff-save-v1"})"
                                              "\n"),
                                  std::string(R"({"magic":"skiff-save-v1","xml":5})"
                                              "\n")}) {
    Write(file, data);
    std::string msg = ReadError(file);
    EXPECT_NE(msg.find("is not a skiff save file"), std::string::npos) << msg;
    EXPECT_EQ(ReadSaveHeader(file.string()).status().code(), Code::kInvalidArgument);
  }
}

TEST(SaveFileTest, TruncatedHeader) {
  testing::TempDir dir;
  const auto full = dir / "full.save";
  ASSERT_TRUE(WriteSaveHeader(full.string(), Def(), false).ok());
  auto text = ReadFile(full);
  ASSERT_TRUE(text.ok());
  const auto cut = dir / "cut.save";
  // Cut anywhere, even just before the newline: no complete header line.
  for (size_t len : {size_t{0}, size_t{10}, text->size() / 2, text->size() - 1}) {
    Write(cut, text->substr(0, len));
    std::string msg = ReadError(cut);
    EXPECT_NE(msg.find("is not a skiff save file"), std::string::npos) << len << ": " << msg;
  }
}

TEST(SaveFileTest, HeaderOverTheSizeLimit) {
  testing::TempDir dir;
  const auto file = dir / "huge.save";
  // A valid header whose line is longer than the limit is refused unread past it.
  std::string xml(kXml);
  std::string pad = "<!--" + std::string(kMaxSaveHeader, 'x') + "-->";
  xml.insert(xml.find("</domain>"), pad);
  nlohmann::json j = {{"magic", kSaveMagic}, {"paused", false}, {"xml", xml}};
  Write(file, j.dump() + "\n");
  std::string msg = ReadError(file);
  EXPECT_NE(msg.find("is not a skiff save file"), std::string::npos) << msg;
}

TEST(SaveFileTest, BadXmlInsideTheHeader) {
  testing::TempDir dir;
  const auto file = dir / "bad.save";
  for (const std::string& xml : {std::string("<domain"), std::string("<domain type='qemu'/>"),
                                 std::string("<network><name>n</name></network>")}) {
    nlohmann::json j = {{"magic", kSaveMagic}, {"paused", false}, {"xml", xml}};
    Write(file, j.dump() + "\n");
    std::string msg = ReadError(file);
    EXPECT_EQ(msg.find("is not a skiff save file"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace skiff::daemon
