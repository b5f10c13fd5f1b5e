// Routes shared by the named definition objects that are not domains (networks,
// storage pools): list, define (optionally started, or transient), get, XML,
// undefine and autostart. Each kind names its Service calls; the request checks,
// body fields and replies are written once here.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

template <typename Summary>
struct DefinitionKind {
  std::string collection;      // "networks": routes under /v1/networks, list key "networks"
  std::string default_source;  // names the XML in errors when the caller gave no file name
  std::function<nlohmann::json(const Summary&)> to_json;  // an api/types.h summary
  std::function<std::vector<Summary>(Service&)> list;
  std::function<Result<Summary>(Service&, const std::string& xml, const std::string& source)>
      define;
  // A transient object (define + start, gone when stopped); empty: refused.
  std::function<Result<Summary>(Service&, const std::string& xml, const std::string& source)>
      create;
  std::function<Result<Summary>(Service&, const std::string& name)> start;
  std::function<Result<Summary>(Service&, const std::string& name)> get;
  std::function<Result<std::string>(Service&, const std::string& name, bool inactive)> xml;
  std::function<Status(Service&, const std::string& name)> undefine;
  std::function<Status(Service&, const std::string& name, bool enabled)> autostart;
};

// GET /v1/C, POST /v1/C {"xml", "source", "start", "persistent"}, GET and DELETE
// /v1/C/{name}, GET /v1/C/{name}/xml[?inactive=1], POST /v1/C/{name}/autostart {"enabled"}.
// `get` may be left out when the kind registers a richer GET /v1/C/{name} itself.
template <typename Summary>
void AddDefinitionRoutes(Api& api, DefinitionKind<Summary> k) {
  const bool R = false, W = true;
  auto kind = std::make_shared<const DefinitionKind<Summary>>(std::move(k));
  const std::string base = "/v1/" + kind->collection;
  api.Add("GET", base, R, [kind](Service& s, const Request& r, const Params&) -> Response {
    TRY_RESPONSE(CheckQuery(r, {}));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& o : kind->list(s)) arr.push_back(kind->to_json(o));
    return JsonResponse({{kind->collection, arr}});
  });
  api.Add("POST", base, W, [kind](Service& s, const Request& r, const Params&) -> Response {
    TRY_RESPONSE(CheckQuery(r, {}));
    ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::DefineRequest>(r));
    const std::string& xml = req.xml;
    std::string source = req.source.empty() ? kind->default_source : req.source;
    if (!req.persistent) {
      if (!kind->create) {
        return ErrorResponse(UnsupportedError(
            "transient {} are not supported: define the object, then start it", kind->collection));
      }
      ASSIGN_OR_RESPONSE(Summary o, kind->create(s, xml, source));
      return JsonResponse(kind->to_json(o), 201);
    }
    ASSIGN_OR_RESPONSE(Summary o, kind->define(s, xml, source));
    if (req.start) {
      ASSIGN_OR_RESPONSE(o, kind->start(s, o.name));
    }
    return JsonResponse(kind->to_json(o), 201);
  });
  if (kind->get) {
    api.Add("GET", base + "/{name}", R, [kind](Service& s, const Request& r, const Params& p) {
      TRY_RESPONSE(CheckQuery(r, {}));
      ASSIGN_OR_RESPONSE(Summary o, kind->get(s, p.at("name")));
      return JsonResponse(kind->to_json(o));
    });
  }
  api.Add("DELETE", base + "/{name}", W, [kind](Service& s, const Request& r, const Params& p) {
    TRY_RESPONSE(CheckQuery(r, {}));
    TRY_RESPONSE(kind->undefine(s, p.at("name")));
    return JsonResponse(nlohmann::json::object());
  });
  api.Add("GET", base + "/{name}/xml", R, [kind](Service& s, const Request& r, const Params& p) {
    ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::XmlQuery>(r));
    api::XmlReply out;
    ASSIGN_OR_RESPONSE(out.xml, kind->xml(s, p.at("name"), q.inactive));
    return JsonResponse(out);
  });
  api.Add("POST", base + "/{name}/autostart", W,
          [kind](Service& s, const Request& r, const Params& p) -> Response {
            TRY_RESPONSE(CheckQuery(r, {}));
            ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::AutostartRequest>(r));
            TRY_RESPONSE(kind->autostart(s, p.at("name"), req.enabled));
            return EmptyResponse();
          });
}

}  // namespace skiff::daemon
