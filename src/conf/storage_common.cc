// <permissions> parsing/formatting and path normalisation for pools and volumes.
#include "conf/storage_common.h"

#include "skiff/base/size.h"

namespace skiff::conf {

Result<Permissions> ParsePermissions(const Elem& e) {
  Permissions p;
  if (auto m = e.ChildText("mode")) {
    if (m->empty() || m->size() > 4 || m->find_first_not_of("01234567") != std::string::npos) {
      return e.Error("invalid mode '{}'", *m);
    }
    p.mode = *m;
  }
  auto id = [&](std::string_view name, std::optional<int64_t>& out) -> Status {
    if (auto t = e.ChildText(name)) {
      if (*t == "-1") {
        out = -1;
        return Status::Ok();
      }
      auto v = ParseUint(*t);
      if (!v.ok() || *v > 0xffffffffu) return e.Error("invalid {} '{}'", name, *t);
      out = static_cast<int64_t>(*v);
    }
    return Status::Ok();
  };
  SKIFF_TRY(id("owner", p.owner));
  SKIFF_TRY(id("group", p.group));
  if (auto l = e.ChildText("label")) p.label = *l;
  return p;
}

void WritePermissions(XmlWriter& w, const Permissions& p) {
  if (p.empty()) return;
  w.Open("permissions");
  if (!p.mode.empty()) w.Text("mode", p.mode);
  if (p.owner) w.Text("owner", std::to_string(*p.owner));
  if (p.group) w.Text("group", std::to_string(*p.group));
  if (!p.label.empty()) w.Text("label", p.label);
  w.Close("permissions");
}

std::string NormalizePath(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out += c;
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace skiff::conf
