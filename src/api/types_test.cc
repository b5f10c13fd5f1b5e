// Parsing JSON and query strings into the API's typed requests, without a daemon
// (as Firecracker tests its request parsers): good input, each kind of bad input,
// and the round trip of answers.
#include "skiff/api/types.h"

#include <gtest/gtest.h>

#include "skiff/api/routes.h"

namespace skiff::api {
namespace {

using json = nlohmann::json;

template <typename T>
Result<T> ParseText(std::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(json j, ParseJsonObject(text));
  return ParseRequest<T>(j);
}

TEST(TypesTest, DefineDomainRequestDefaults) {
  auto r = ParseText<DefineDomainRequest>(R"({"xml": "<domain/>"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->xml, "<domain/>");
  EXPECT_EQ(r->source, "");
  EXPECT_FALSE(r->start);
  EXPECT_FALSE(r->paused);
  EXPECT_TRUE(r->persistent);
}

TEST(TypesTest, NullIsAbsent) {
  auto r = ParseText<DefineDomainRequest>(R"({"xml": "x", "persistent": null})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->persistent);
}

TEST(TypesTest, EmptyBodyIsEmptyObject) {
  auto r = ParseText<StartDomainRequest>("");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->paused);
  EXPECT_TRUE(ParseText<Empty>("{}").ok());
}

TEST(TypesTest, MissingRequiredFieldIsNamed) {
  auto r = ParseText<DefineDomainRequest>(R"({"source": "a.xml"})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "field 'xml' is required");
}

TEST(TypesTest, WrongTypesAreNamed) {
  EXPECT_EQ(ParseText<StartDomainRequest>(R"({"paused": "yes"})").status().message(),
            "field 'paused' must be a boolean");
  EXPECT_EQ(ParseText<DefineDomainRequest>(R"({"xml": 5})").status().message(),
            "field 'xml' must be a string");
  EXPECT_EQ(ParseText<SetMemoryRequest>(R"({"kib": -1})").status().message(),
            "field 'kib' must be a non-negative integer");
  EXPECT_EQ(ParseText<SetMemoryRequest>(R"({"kib": 1.5})").status().message(),
            "field 'kib' must be a non-negative integer");
  EXPECT_EQ(ParseText<SetMemoryRequest>(R"({"kib": 1, "live": 1})").status().message(),
            "field 'live' must be a boolean");
}

TEST(TypesTest, UnknownFieldIsRefused) {
  auto r = ParseText<StartDomainRequest>(R"({"paused": true, "bogus": 1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unknown field 'bogus' in request body");
  EXPECT_EQ(ParseText<Empty>(R"({"x": 1})").status().message(),
            "unknown field 'x' in request body");
}

TEST(TypesTest, BadJsonText) {
  EXPECT_EQ(ParseText<Empty>("{").status().message(), "request body is not valid json");
  EXPECT_EQ(ParseText<Empty>("[1]").status().message(), "request body must be a json object");
  EXPECT_EQ(ParseRequest<Empty>(json(3)).status().message(), "request body must be a json object");
}

TEST(TypesTest, ScopeIsPartOfTheRequest) {
  auto r = ParseText<AttachDiskRequest>(
      R"({"source": "/i/a.img", "target": "vdb", "bus": "virtio", "live": true})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->target, "vdb");
  EXPECT_EQ(r->bus, "virtio");
  EXPECT_TRUE(r->live);
  EXPECT_FALSE(r->config);
  EXPECT_EQ(ParseText<AttachDiskRequest>(R"({"source": "a"})").status().message(),
            "field 'target' is required");
}

TEST(TypesTest, NestedObjectsNameTheirFields) {
  auto ok = ParseText<CreateVolumeRequest>(
      R"({"xml": "<volume/>", "clone_of": {"pool": "p", "volume": "v"}})");
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE(ok->clone_of.has_value());
  EXPECT_EQ(ok->clone_of->volume, "v");
  EXPECT_FALSE(ParseText<CreateVolumeRequest>(R"({"xml": "x"})")->clone_of.has_value());
  EXPECT_EQ(ParseText<CreateVolumeRequest>(R"({"xml": "x", "clone_of": "p/v"})").status().message(),
            "field 'clone_of' must be an object");
  EXPECT_EQ(ParseText<CreateVolumeRequest>(R"({"xml": "x", "clone_of": {"volume": "v"}})")
                .status()
                .message(),
            "field 'clone_of.pool' is required");
  EXPECT_EQ(ParseText<CreateVolumeRequest>(
                R"({"xml": "x", "clone_of": {"pool": "p", "volume": "v", "size": 1}})")
                .status()
                .message(),
            "unknown field 'clone_of.size'");
  // A misspelt name is named before the fields it leaves missing.
  EXPECT_EQ(ParseText<CreateVolumeRequest>(R"({"xml": "x", "clone_of": {"pool": "p", "vol": "v"}})")
                .status()
                .message(),
            "unknown field 'clone_of.vol'");
  EXPECT_EQ(ParseText<DefineDomainRequest>(R"({"xmll": "x"})").status().message(),
            "unknown field 'xmll' in request body");
}

TEST(TypesTest, ValidateChecksValuesTogether) {
  EXPECT_EQ(ParseText<SaveRequest>(R"({"file": "/s", "paused": true, "running": true})")
                .status()
                .message(),
            "--running and --paused are mutually exclusive");
  auto save = ParseText<SaveRequest>(R"({"file": "/s", "running": true})");
  ASSERT_TRUE(save.ok());
  EXPECT_EQ(save->want_paused(), std::optional<bool>(false));
  EXPECT_EQ(ParseText<ManagedSaveRequest>("{}")->want_paused(), std::nullopt);
  EXPECT_EQ(ParseText<SetVcpusRequest>(R"({"count": 5000})").status().message(),
            "vcpu count 5000 is too large");
  EXPECT_EQ(ParseText<PinVcpuRequest>(R"({"vcpu": 20000, "cpuset": "0"})").status().message(),
            "vcpu 20000 is too large");
  EXPECT_EQ(ParseText<BuildPoolRequest>(R"({"overwrite": true, "no_overwrite": true})")
                .status()
                .message(),
            "'overwrite' and 'no_overwrite' exclude each other");
}

TEST(TypesTest, RequestsRoundTrip) {
  AttachInterfaceRequest in;
  in.type = "network";
  in.source = "default";
  in.mac = "52:54:00:00:00:01";
  in.config = true;
  json j = in;
  EXPECT_EQ(j["type"], "network");
  EXPECT_EQ(j["config"], true);
  auto out = ParseRequest<AttachInterfaceRequest>(j);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->mac, in.mac);
  EXPECT_TRUE(out->config);
  EXPECT_FALSE(out->live);
}

TEST(TypesTest, AnswersIgnoreUnknownFieldsButCheckTypes) {
  json j = {{"domains", {{{"id", 3}, {"name", "web1"}, {"state", "running"}, {"new", 1}}}}};
  auto r = ParseResponse<DomainList>(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->domains.size(), 1u);
  EXPECT_EQ(r->domains[0].id, 3);
  EXPECT_TRUE(r->domains[0].persistent);  // absent: the default
  j["domains"][0]["id"] = "3";
  EXPECT_EQ(ParseResponse<DomainList>(j).status().message(),
            "field 'domains[0].id' must be an integer");
  EXPECT_EQ(ParseResponse<DomainList>(json{{"domains", 1}}).status().message(),
            "field 'domains' must be an array");
}

TEST(TypesTest, AnswersKeepTheirWireShape) {
  // The CLI prints --json from the typed answer: every field the daemon sent comes back.
  json net = {{"name", "lab"},      {"uuid", "u"},           {"active", true},
              {"autostart", false}, {"persistent", true},    {"bridge", "virbr1"},
              {"mode", "nat"},      {"ipv4", "10.0.0.1/24"}, {"dnsmasq_pid", nullptr}};
  auto n = ParseResponse<NetworkInfo>(net);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(json(*n).dump(), net.dump());
  net["dnsmasq_pid"] = 42;
  EXPECT_EQ(json(*ParseResponse<NetworkInfo>(net)).dump(), net.dump());

  json vol = {{"name", "a"},       {"path", "/p/a"}, {"key", "/p/a"},  {"type", "file"},
              {"format", "qcow2"}, {"capacity", 10}, {"allocation", 0}};
  EXPECT_EQ(json(*ParseResponse<Volume>(vol)).dump(), vol.dump());  // no "backing"
  vol["backing"] = {{"path", "/p/b"}, {"format", "raw"}};
  EXPECT_EQ(json(*ParseResponse<Volume>(vol)).dump(), vol.dump());

  json ext = {{"size", 100}, {"extents", {{0, 10}, {50, 5}}}};
  auto e = ParseResponse<Extents>(ext);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->extents[1], (std::pair<uint64_t, uint64_t>{50, 5}));
  EXPECT_EQ(json(*e).dump(), ext.dump());
}

TEST(TypesTest, JobErrors) {
  json j = {{"job",
             {{"id", 4},
              {"kind", "save"},
              {"object", "web1"},
              {"state", "failed"},
              {"progress", 10},
              {"error", {{"code", "io"}, {"message", "disk full"}}}}}};
  auto r = ParseResponse<JobReply>(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->job.id, 4u);
  ASSERT_TRUE(r->job.error.has_value());
  EXPECT_EQ(r->job.error->message, "disk full");
}

TEST(QueryTest, Parses) {
  auto q = ParseQuery<UndefineDomainQuery>({{"managed_save", "true"}, {"remove_all_storage", ""}});
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->managed_save);
  EXPECT_TRUE(q->remove_all_storage);
  EXPECT_FALSE(q->snapshots_metadata);
  EXPECT_FALSE(ParseQuery<XmlQuery>({{"inactive", "no"}})->inactive);
  auto ext = ParseQuery<ExtentsQuery>({{"offset", "4096"}});
  ASSERT_TRUE(ext.ok());
  EXPECT_EQ(ext->offset, 4096u);
  EXPECT_FALSE(ext->length.has_value());
}

TEST(QueryTest, BadInput) {
  EXPECT_EQ(ParseQuery<XmlQuery>({{"inactive", "maybe"}}).status().message(),
            "query parameter 'inactive' must be true or false, not 'maybe'");
  EXPECT_EQ(ParseQuery<XmlQuery>({{"inactiv", "1"}}).status().message(),
            "unknown query parameter 'inactiv'");
  EXPECT_EQ(ParseQuery<DetachInterfaceQuery>({{"mac", "x"}}).status().message(),
            "query parameter 'type' is required");
  EXPECT_EQ(ParseQuery<ExtentsQuery>({{"offset", "-1"}}).status().message(),
            "query parameter 'offset' must be a non-negative integer, not '-1'");
  EXPECT_EQ(ParseQuery<DiagramQuery>({{"format", "png"}}).status().message(),
            "query parameter 'format' must be text or svg, not 'png'");
  EXPECT_EQ(ParseQuery<CapabilitiesQuery>({{"format", "yaml"}}).status().message(),
            "query parameter 'format' must be json or xml, not 'yaml'");
  EXPECT_TRUE(ParseQuery<CapabilitiesQuery>({{"format", "xml"}}).ok());
}

TEST(QueryTest, Writes) {
  EXPECT_EQ(ToQuery(XmlQuery{}), "");
  EXPECT_EQ(ToQuery(XmlQuery{true}), "?inactive=true");
  DetachInterfaceQuery d;
  d.type = "network";
  d.mac = "52:54:00:00:00:01";
  d.live = true;
  EXPECT_EQ(ToQuery(d), "?type=network&mac=52%3A54%3A00%3A00%3A00%3A01&live=true");
  ExtentsQuery e;
  e.offset = 0;
  EXPECT_EQ(ToQuery(e), "?offset=0");
  e.length = 512;
  EXPECT_EQ(ToQuery(e), "?offset=0&length=512");
}

TEST(RoutesTest, BuildsPaths) {
  EXPECT_EQ(routes::Domain("web1"), "/v1/domains/web1");
  EXPECT_EQ(routes::Domain("web 1", "start"), "/v1/domains/web%201/start");
  EXPECT_EQ(routes::DomainDisk("web1", "vdb"), "/v1/domains/web1/disks/vdb");
  EXPECT_EQ(routes::Network("lab", "leases"), "/v1/networks/lab/leases");
  EXPECT_EQ(routes::Pool("default", "info"), "/v1/pools/default/info");
  EXPECT_EQ(routes::Volume("default", "a/b", "xml"), "/v1/pools/default/volumes/a%2Fb/xml");
  EXPECT_EQ(routes::Job(7), "/v1/jobs/7");
}

}  // namespace
}  // namespace skiff::api
