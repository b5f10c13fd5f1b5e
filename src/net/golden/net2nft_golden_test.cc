// Golden runner for tests/golden/net2nft: each <case>.plan (ParsePlanText's
// format) renders to <case>.nft, or fails with the text in <case>.err.
// SKIFF_REGENERATE_GOLDEN=1 rewrites the expected files.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "skiff/base/fs.h"
#include "skiff/net/nft.h"
#include "skiff/net/plan.h"
#include "testutil/temp_dir.h"

namespace skiff::net {
namespace {

namespace fs = std::filesystem;

fs::path Dir() { return testing::SourceDir() / "tests/golden/net2nft"; }

bool Regenerate() {
  const char* e = std::getenv("SKIFF_REGENERATE_GOLDEN");
  return e != nullptr && std::string(e) == "1";
}

std::set<std::string> Cases() {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(Dir())) {
    if (e.path().extension() == ".plan") out.insert(e.path().stem().string());
  }
  return out;
}

// The .nft text, or "error: <status>" for a plan that must be refused.
std::pair<std::string, std::string> Render(const std::string& plan_text) {
  auto plan = ParsePlanText(plan_text);
  if (!plan.ok()) return {"err", plan.status().ToString() + "\n"};
  auto rules = RenderNftRuleset(*plan);
  if (!rules.ok()) return {"err", rules.status().ToString() + "\n"};
  return {"nft", *rules};
}

TEST(Net2Nft, Cases) {
  std::set<std::string> cases = Cases();
  ASSERT_FALSE(cases.empty()) << "no cases in " << Dir();
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c);
    auto text = ReadFile(Dir() / (c + ".plan"));
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    auto [ext, got] = Render(*text);
    fs::path expected = Dir() / (c + "." + ext);
    fs::path other = Dir() / (c + "." + (ext == "nft" ? "err" : "nft"));
    if (Regenerate()) {
      ASSERT_TRUE(WriteFileAtomic(expected, got).ok());
      ASSERT_TRUE(RemoveFileIfExists(other).ok());
      continue;
    }
    EXPECT_FALSE(fs::exists(other)) << other << " exists, but the case gives ." << ext;
    auto want = ReadFile(expected);
    ASSERT_TRUE(want.ok()) << expected << " is missing; run with SKIFF_REGENERATE_GOLDEN=1";
    EXPECT_EQ(got, *want) << "in " << expected;
  }
}

TEST(Net2Nft, EveryFileBelongsToACase) {
  std::set<std::string> cases = Cases();
  for (const auto& e : fs::directory_iterator(Dir())) {
    std::string ext = e.path().extension().string();
    std::string name = e.path().filename().string();
    if (name == "README.md") continue;
    EXPECT_TRUE(ext == ".plan" || ext == ".nft" || ext == ".err") << "stray file " << name;
    EXPECT_TRUE(cases.count(e.path().stem().string())) << name << " has no .plan";
  }
}

}  // namespace
}  // namespace skiff::net
