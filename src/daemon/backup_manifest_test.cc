// backup_manifest: a manifest written and read back, each way one can be bad
// (every error names the file), verify's findings on changed files, chains,
// the newest backup by time, retention, and the times --at takes.
#include "daemon/backup_manifest.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

// A backup directory `id` under `dir` with a definition and one disk file.
BackupManifest MakeBackup(const fs::path& dir, const std::string& id, int64_t created,
                          const std::string& parent = "", const std::string& domain = "web") {
  const fs::path b = dir / id;
  fs::create_directories(b);
  Write(b / "domain.xml", "<domain/>");
  Write(b / "vda.qcow2", "disk bytes of " + id);
  BackupManifest m;
  m.id = id;
  m.domain = domain;
  m.uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0";
  m.incremental = !parent.empty();
  m.parent = parent;
  m.created = created;
  m.disks.push_back({"vda", "vda.qcow2", "/images/web.qcow2", "qcow2", 1 << 20, 4096});
  for (const char* f : {"domain.xml", "vda.qcow2"}) m.files.push_back(*SumFile(b, f));
  Write(b / "manifest.json", ManifestToJson(m));
  return m;
}

TEST(BackupManifestTest, RoundTrips) {
  skiff::testing::TempDir t;
  BackupManifest m = MakeBackup(t.path(), BackupIdAt(1796685300), 1796685300);
  auto text = ReadFile(t / m.id / "manifest.json");
  ASSERT_TRUE(text.ok());
  auto back = ParseManifest(*text, "m.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, "20261207T231500Z");
  EXPECT_EQ(back->domain, "web");
  EXPECT_FALSE(back->incremental);
  ASSERT_EQ(back->disks.size(), 1u);
  EXPECT_EQ(back->disks[0].virtual_size, 1u << 20);
  ASSERT_EQ(back->files.size(), 2u);
  EXPECT_EQ(back->files[1].sha256, m.files[1].sha256);
  EXPECT_NE(text->find("\"created\": \"2026-12-07 23:15:00\""), std::string::npos) << *text;
}

TEST(BackupManifestTest, Sha256IsTheStandardOne) {
  skiff::testing::TempDir t;
  Write(t / "abc", "abc");  // FIPS 180-2's first example
  EXPECT_EQ(*Sha256File(t / "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(BackupManifestTest, BadManifestsNameFileAndProblem) {
  auto err = [](const std::string& text) {
    auto m = ParseManifest(text, "/b/X/manifest.json");
    EXPECT_FALSE(m.ok()) << text;
    std::string msg = m.ok() ? "" : m.status().message();
    EXPECT_EQ(msg.rfind("/b/X/manifest.json: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  };
  EXPECT_NE(err("{\"skiff_backup\": 1, \"id\": ").find("invalid JSON at byte"), std::string::npos);
  EXPECT_NE(err("[]").find("not a JSON object"), std::string::npos);
  // A number too large for a double: nlohmann's out_of_range, not a parse_error.
  EXPECT_NE(err(std::string("782e339ab80\0\xfc", 13)).find("not a manifest"), std::string::npos);
  EXPECT_NE(err("{\"skiff_backup\": 9}").find("version 9"), std::string::npos);
  nlohmann::json good = nlohmann::json::parse(ManifestToJson([] {
    BackupManifest m;
    m.id = "20261207T231500Z";
    m.domain = "web";
    m.disks.push_back({"vda", "vda.qcow2", "/x", "qcow2", 1, 1});
    m.files = {{"domain.xml", 1, "00"}, {"vda.qcow2", 1, "00"}};
    return m;
  }()));
  ASSERT_TRUE(ParseManifest(good.dump(), "m").ok());
  auto with = [&](const std::function<void(nlohmann::json&)>& f) {
    nlohmann::json j = good;
    f(j);
    return err(j.dump());
  };
  EXPECT_NE(with([](auto& j) { j.erase("domain"); }).find("'domain' is missing"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["created_unix"] = "noon"; }).find("'created_unix' has the wrong"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["kind"] = "partial"; }).find("not full or incremental"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["kind"] = "incremental"; }).find("without a 'parent'"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) {
              j["disks"][0]["file"] = "../../etc/passwd";
            }).find("leaves the backup's directory"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["files"][1]["name"] = "other"; }).find("'vda.qcow2' has no"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["disks"][0]["format"] = "vmdk"; }).find("disk 1: format 'vmdk'"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["id"] = "../x"; }).find("is not a backup id"), std::string::npos);
}

TEST(BackupManifestTest, ScanSkipsPartialsAndReportsBadOnes) {
  skiff::testing::TempDir t;
  MakeBackup(t.path(), "20261201T000000Z", 1796083200);
  MakeBackup(t.path(), "20261202T000000Z", 1796169600, "20261201T000000Z");
  fs::create_directories(t / ".20261203T000000Z.partial");
  Write(t / ".20261203T000000Z.partial" / "manifest.json", "{}");
  fs::create_directories(t / "20261204T000000Z");
  Write(t / "20261204T000000Z" / "manifest.json", "{broken");
  fs::create_directories(t / "not-a-backup");
  auto list = ScanBackups(t.path());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].manifest.id, "20261201T000000Z");
  EXPECT_TRUE((*list)[1].manifest.incremental);
  EXPECT_FALSE((*list)[2].error.ok());
  EXPECT_NE((*list)[2].error.message().find("20261204T000000Z/manifest.json"), std::string::npos);
  EXPECT_EQ(ScanBackups(t / "none").status().code(), Code::kNotFound);
}

TEST(BackupManifestTest, VerifyNamesTruncatedChangedAndMissingFiles) {
  skiff::testing::TempDir t;
  MakeBackup(t.path(), "20261201T000000Z", 1796083200);
  auto list = *ScanBackups(t.path());
  EXPECT_TRUE(VerifyBackupFiles(list[0]).empty());
  const fs::path disk = t / "20261201T000000Z" / "vda.qcow2";
  const auto size = fs::file_size(disk);
  fs::resize_file(disk, size - 3);
  auto p = VerifyBackupFiles(list[0]);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0],
            fmt::format("vda.qcow2: {} bytes, the manifest says {} (truncated)", size - 3, size));
  fs::resize_file(disk, size);  // same size, other bytes
  p = VerifyBackupFiles(list[0]);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("vda.qcow2: its SHA-256 is not the manifest's"), std::string::npos);
  fs::remove(t / "20261201T000000Z" / "domain.xml");
  p = VerifyBackupFiles(list[0]);
  EXPECT_EQ(p[0], "domain.xml: missing");
}

TEST(BackupManifestTest, ChainsAndNewestByTime) {
  skiff::testing::TempDir t;
  MakeBackup(t.path(), "20261201T000000Z", 1796083200);
  MakeBackup(t.path(), "20261202T000000Z", 1796169600, "20261201T000000Z");
  MakeBackup(t.path(), "20261203T000000Z", 1796256000, "20261202T000000Z");
  MakeBackup(t.path(), "20261204T000000Z", 1796342400, "20261130T000000Z");
  MakeBackup(t.path(), "20261205T000000Z", 1796428800, "", "db");
  auto list = *ScanBackups(t.path());
  auto chain = BackupChain(list, "20261203T000000Z");
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[0]->manifest.id, "20261201T000000Z");
  EXPECT_EQ(BackupChain(list, "20261204T000000Z").status().message(),
            "backup '20261204T000000Z' needs '20261130T000000Z', which is not there");
  EXPECT_EQ((*NewestBackup(list, "web", 0))->manifest.id, "20261204T000000Z");
  EXPECT_EQ((*NewestBackup(list, "", 0))->manifest.id, "20261205T000000Z");
  EXPECT_EQ((*NewestBackup(list, "web", *ParseBackupTime("2026-12-02")))->manifest.id,
            "20261202T000000Z");
  EXPECT_EQ(NewestBackup(list, "web", *ParseBackupTime("2026-11-01")).status().code(),
            Code::kNotFound);
}

TEST(BackupManifestTest, RetentionKeepsWhatKeptBackupsNeed) {
  skiff::testing::TempDir t;
  // Day 1: full and incremental; day 2: incremental; day 3: full and incremental.
  MakeBackup(t.path(), "20261201T010000Z", 1796086800);
  MakeBackup(t.path(), "20261201T020000Z", 1796090400, "20261201T010000Z");
  MakeBackup(t.path(), "20261202T010000Z", 1796173200, "20261201T020000Z");
  MakeBackup(t.path(), "20261203T010000Z", 1796259600);
  MakeBackup(t.path(), "20261203T020000Z", 1796263200, "20261203T010000Z");
  MakeBackup(t.path(), "20261203T030000Z", 1796266800, "", "db");
  auto list = *ScanBackups(t.path());
  EXPECT_EQ(BackupsToKeep(list, "web", 1, 0),
            (std::set<std::string>{"20261203T010000Z", "20261203T020000Z"}));
  // The newest of day 2 is an incremental: its chain back to day 1's full stays.
  EXPECT_EQ(BackupsToKeep(list, "web", 0, 2),
            (std::set<std::string>{"20261201T010000Z", "20261201T020000Z", "20261202T010000Z",
                                   "20261203T010000Z", "20261203T020000Z"}));
  EXPECT_EQ(BackupsToKeep(list, "db", 1, 0), (std::set<std::string>{"20261203T030000Z"}));
}

TEST(BackupManifestTest, TimesForAt) {
  EXPECT_EQ(*ParseBackupTime("20261207T231500Z"), 1796685300);
  EXPECT_EQ(*ParseBackupTime("2026-12-07T23:15:00Z"), 1796685300);
  EXPECT_EQ(*ParseBackupTime("2026-12-07 23:15:00"), 1796685300);
  EXPECT_EQ(*ParseBackupTime("2026-12-07 23:15"), 1796685359);
  EXPECT_EQ(*ParseBackupTime("2026-12-07"), 1796687999);
  auto bad = ParseBackupTime("yesterday");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--at: 'yesterday' is not a time"), std::string::npos);
  EXPECT_EQ(BackupIdAt(1796685300), "20261207T231500Z");
  EXPECT_EQ(BackupTimeText(1796685300), "2026-12-07 23:15:00");
}

}  // namespace
}  // namespace skiff::daemon
