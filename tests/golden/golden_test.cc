// Data-driven golden suites: domain2argv (XML -> QEMU argv or error), domainxml2xml
// (XML -> canonical XML or error) and confxml2xml (network/pool/volume/snapshot).
// SKIFF_REGENERATE_GOLDEN=1 rewrites the expected files; a data file that belongs
// to no case fails the run.
#include <gtest/gtest.h>

#include <set>

#include "golden/golden_util.h"
#include "skiff/conf/network.h"
#include "skiff/conf/pool.h"
#include "skiff/conf/snapshot.h"
#include "skiff/conf/volume.h"
#include "skiff/conf/xml_kind.h"

namespace skiff::golden {
namespace {

bool EndsWith(const std::string& s, std::string_view suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// Case names (input file stems) of a suite; fails on files that belong to no case.
std::vector<std::string> Cases(const fs::path& dir, const std::vector<std::string>& outputs) {
  std::set<std::string> cases;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  for (const auto& p : files) {
    std::string n = p.filename().string();
    bool is_output = false;
    for (const auto& o : outputs) is_output |= EndsWith(n, o);
    if (!is_output && EndsWith(n, ".xml")) cases.insert(n.substr(0, n.size() - 4));
  }
  for (const auto& p : files) {
    std::string n = p.filename().string();
    bool owned = false;
    for (const auto& o : outputs) {
      if (EndsWith(n, o) && cases.count(n.substr(0, n.size() - o.size()))) owned = true;
    }
    if (!owned && !(EndsWith(n, ".xml") && cases.count(n.substr(0, n.size() - 4)))) {
      ADD_FAILURE() << "data file no case references: " << p;
    }
  }
  return {cases.begin(), cases.end()};
}

// Writes the one expected file of a case (and removes the others when regenerating).
void Expect(const fs::path& dir, const std::string& name, const std::string& ext,
            const std::string& actual, const std::vector<std::string>& all_exts) {
  if (Regenerate()) {
    for (const auto& e : all_exts) {
      if (e != ext) fs::remove(dir / (name + e));
    }
  } else {
    for (const auto& e : all_exts) {
      if (e != ext && fs::exists(dir / (name + e))) {
        ADD_FAILURE() << name << ": unexpected " << e << " file (the case now gives " << ext << ")";
      }
    }
  }
  std::string msg = CheckGolden(dir / (name + ext), actual);
  if (!msg.empty()) ADD_FAILURE() << name << ": " << msg;
}

TEST(Golden, Domain2Argv) {
  fs::path dir = GoldenDir() / "domain2argv";
  std::vector<std::string> exts = {".args", ".err"};
  auto cases = Cases(dir, exts);
  EXPECT_GE(cases.size(), 60u);
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    std::string xml = ReadAll(dir / (name + ".xml"));
    auto def = conf::ParseDomainXml(xml, name + ".xml");
    if (!def.ok()) {
      Expect(dir, name, ".err", def.status().ToString() + "\n", exts);
      continue;
    }
    auto argv = qemu::BuildQemuArgv(*def, CaseContext(name, *def));
    if (!argv.ok()) {
      Expect(dir, name, ".err", argv.status().ToString() + "\n", exts);
      continue;
    }
    Expect(dir, name, ".args", ArgsText(*argv), exts);
  }
}

// Parses with P, formats with F; checks the canonical text is stable and re-parses equal.
template <typename P, typename F>
std::pair<std::string, std::string> RoundTrip(const std::string& xml, const std::string& source,
                                              P parse, F format) {
  auto def = parse(xml, source);
  if (!def.ok()) return {"", def.status().ToString() + "\n"};
  std::string out = format(*def);
  auto again = parse(out, source + " (formatted)");
  if (!again.ok()) {
    ADD_FAILURE() << source << ": formatted xml does not parse: " << again.status().ToString()
                  << "\n" << out;
  } else {
    EXPECT_TRUE(*again == *def) << source << ": parse(format(x)) differs from x";
    EXPECT_EQ(format(*again), out) << source << ": formatting is not stable";
  }
  return {out, ""};
}

std::pair<std::string, std::string> AnyRoundTrip(const std::string& xml, const std::string& source) {
  auto kind = conf::DetectXmlKind(xml, source);
  if (!kind.ok()) return {"", kind.status().ToString() + "\n"};
  switch (*kind) {
    case conf::XmlKind::kDomain: return RoundTrip(xml, source, conf::ParseDomainXml, conf::FormatDomainXml);
    case conf::XmlKind::kNetwork: return RoundTrip(xml, source, conf::ParseNetworkXml, conf::FormatNetworkXml);
    case conf::XmlKind::kPool: return RoundTrip(xml, source, conf::ParsePoolXml, conf::FormatPoolXml);
    case conf::XmlKind::kVolume: return RoundTrip(xml, source, conf::ParseVolumeXml, conf::FormatVolumeXml);
    case conf::XmlKind::kSnapshot:
      return RoundTrip(xml, source, conf::ParseSnapshotXml, conf::FormatSnapshotXml);
  }
  return {"", "unknown kind\n"};
}

void RunXml2Xml(const std::string& suite, size_t min_cases) {
  fs::path dir = GoldenDir() / suite;
  std::vector<std::string> exts = {".out.xml", ".err"};
  auto cases = Cases(dir, exts);
  EXPECT_GE(cases.size(), min_cases);
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    auto [out, err] = AnyRoundTrip(ReadAll(dir / (name + ".xml")), name + ".xml");
    if (err.empty()) {
      Expect(dir, name, ".out.xml", out, exts);
    } else {
      Expect(dir, name, ".err", err, exts);
    }
  }
}

TEST(Golden, DomainXml2Xml) { RunXml2Xml("domainxml2xml", 10); }
TEST(Golden, ConfXml2Xml) { RunXml2Xml("confxml2xml", 10); }

}  // namespace
}  // namespace skiff::golden
