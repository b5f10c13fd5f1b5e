// Volume verbs (vol-*): wired to the daemon's /v1/pools/{pool}/volumes routes.
#include <cstdio>

#include "daemon_cli.h"
#include "skiff/base/size.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

Command VolVerb(std::string name, std::string help, ArgSpec spec,
                std::function<int(const Args&, api::Client&)> fn) {
  return {name, help, [=](const GlobalOptions& g, const std::vector<std::string>& args) {
            Args a;
            if (!ParseArgs(name, spec, args, &a)) return 1;
            auto c = ConnectOrFail(g);
            if (!c) return 1;
            return fn(a, *c);
          }};
}

std::string VolPath(const Args& a, const std::string& vol = "") {
  std::string p = "/v1/pools/" + api::UrlEncode(a.get("pool")) + "/volumes";
  if (!vol.empty()) p += "/" + api::UrlEncode(vol);
  return p;
}

}  // namespace

void AddVolCommands(std::vector<Command>& out) {
  out.push_back(VolVerb("vol-list", "list volumes", {{"pool"}, 1, {"details", "json"}, {}},
                        [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", VolPath(a), nullptr, &r)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", r["volumes"].dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : r["volumes"]) rows.push_back({v.value("name", ""), v.value("path", "")});
    PrintTable({"Name", "Path"}, rows);
    return 0;
  }));
  out.push_back(VolVerb("vol-create-as", "create a volume from a set of args",
                        {{"pool", "name", "capacity"}, 3, {"prealloc-metadata"},
                         {"format", "allocation", "backing-vol", "backing-vol-format"}},
                        [](const Args& a, api::Client& c) {
    auto cap = ParseSize(a.get("capacity"));
    if (!cap.ok()) return Fail(cap.status().message());
    json b = {{"name", a.get("name")}, {"capacity", *cap}};
    for (const char* k : {"format", "backing-vol", "backing-vol-format"}) {
      if (a.values.count(k)) b[k] = a.get(k);
    }
    if (!CallOrFail(c, "POST", VolPath(a), b, nullptr)) return 1;
    std::printf("Vol %s created\n\n", a.get("name").c_str());
    return 0;
  }));
  out.push_back(VolVerb("vol-delete", "delete a volume", {{"vol", "pool"}, 2, {}, {}},
                        [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "DELETE", VolPath(a, a.get("vol")), nullptr, nullptr)) return 1;
    std::printf("Vol %s deleted\n\n", a.get("vol").c_str());
    return 0;
  }));
  out.push_back(VolVerb("vol-info", "storage vol information", {{"vol", "pool"}, 2, {"json"}, {}},
                        [](const Args& a, api::Client& c) {
    json v;
    if (!CallOrFail(c, "GET", VolPath(a, a.get("vol")), nullptr, &v)) return 1;
    std::printf("%s\n", v.dump(2).c_str());
    return 0;
  }));
}

}  // namespace skiff::app
