// REST routes for pool definitions (/v1/pools); pool machinery and volumes are in
// rest/storage.cc.
#include "daemon/rest/definitions.h"
#include "daemon/storage/driver.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

nlohmann::json PoolJson(const PoolSummary& p) {
  return api::PoolSummary{p.name, p.uuid.ToString(), p.active, p.autostart, p.persistent,
                          p.type, p.target};
}

}  // namespace

void AddObjectRoutes(Api& api) {
  DefinitionKind<PoolSummary> k;
  k.collection = "pools";
  k.default_source = "pool.xml";
  k.to_json = PoolJson;
  k.list = [](Service& s) { return s.storage().ListPools(); };
  k.define = [](Service& s, const std::string& xml, const std::string& src) {
    return s.storage().DefinePool(xml, src);
  };
  k.start = [](Service& s, const std::string& name) -> Result<PoolSummary> {
    SKIFF_TRY(s.storage().StartPool(name));
    return s.storage().GetPool(name);
  };
  k.get = [](Service& s, const std::string& name) { return s.storage().GetPool(name); };
  k.xml = [](Service& s, const std::string& name, bool) { return s.storage().PoolXml(name); };
  k.undefine = [](Service& s, const std::string& name) { return s.storage().UndefinePool(name); };
  k.autostart = [](Service& s, const std::string& name, bool on) {
    return s.storage().SetPoolAutostart(name, on);
  };
  AddDefinitionRoutes(api, std::move(k));
}

}  // namespace skiff::daemon
