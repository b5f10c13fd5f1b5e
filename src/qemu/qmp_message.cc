// Parsing and formatting of QMP messages; everything QEMU sends goes through
// ParseQmpMessage, which must survive any input (see fuzz/qmp_reply_fuzz.cc).
#include "skiff/qemu/qmp_message.h"

#include <cctype>
#include <exception>

namespace skiff::qemu {
namespace {

using nlohmann::json;

std::string Snippet(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (s.size() > kMax) out += "...";
  return out;
}

int64_t IntOr(const json& obj, const char* key, int64_t dflt) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return dflt;
  return it->get<int64_t>();
}

}  // namespace

Result<QmpMessage> ParseQmpMessage(std::string_view line) {
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return CorruptionError("qmp message is not valid json: '{}'", Snippet(line));
  }
  if (!j.is_object()) {
    return CorruptionError("qmp message is not a json object: '{}'", Snippet(line));
  }
  QmpMessage m;
  if (auto it = j.find("id"); it != j.end()) m.id = *it;
  if (auto it = j.find("return"); it != j.end()) {
    m.kind = QmpMessageKind::kReturn;
    m.value = std::move(*it);
    return m;
  }
  if (auto it = j.find("error"); it != j.end()) {
    if (!it->is_object()) {
      return CorruptionError("qmp error reply has a non-object 'error': '{}'", Snippet(line));
    }
    auto cls = it->find("class");
    auto desc = it->find("desc");
    if (cls == it->end() || !cls->is_string() || desc == it->end() || !desc->is_string()) {
      return CorruptionError("qmp error reply lacks string 'class' and 'desc': '{}'",
                             Snippet(line));
    }
    m.kind = QmpMessageKind::kError;
    m.error_class = cls->get<std::string>();
    m.error_desc = desc->get<std::string>();
    return m;
  }
  if (auto it = j.find("event"); it != j.end()) {
    if (!it->is_string()) {
      return CorruptionError("qmp event name is not a string: '{}'", Snippet(line));
    }
    m.kind = QmpMessageKind::kEvent;
    m.event = it->get<std::string>();
    m.value = json::object();
    if (auto d = j.find("data"); d != j.end()) {
      if (!d->is_object()) {
        return CorruptionError("qmp event '{}' has non-object data", Snippet(m.event));
      }
      m.value = std::move(*d);
    }
    if (auto t = j.find("timestamp"); t != j.end() && t->is_object()) {
      m.seconds = IntOr(*t, "seconds", 0);
      m.microseconds = IntOr(*t, "microseconds", 0);
    }
    return m;
  }
  if (auto it = j.find("QMP"); it != j.end()) {
    if (!it->is_object()) {
      return CorruptionError("qmp greeting is not an object: '{}'", Snippet(line));
    }
    m.kind = QmpMessageKind::kGreeting;
    m.value = std::move(*it);
    return m;
  }
  return CorruptionError("qmp message is neither a reply, an event nor a greeting: '{}'",
                         Snippet(line));
}

Result<std::string> FormatQmpCommand(const std::string& cmd, const nlohmann::json& args,
                                     const nlohmann::json& id) {
  if (cmd.empty()) return InvalidArgumentError("qmp command name is empty");
  if (!args.is_null() && !args.is_object()) {
    return InvalidArgumentError("qmp '{}': arguments must be a json object, not {}", cmd,
                                args.type_name());
  }
  json j = json::object();
  j["execute"] = cmd;
  if (args.is_object() && !args.empty()) j["arguments"] = args;
  if (!id.is_null()) j["id"] = id;
  try {
    return j.dump() + "\r\n";
  } catch (const std::exception& e) {
    return InvalidArgumentError("qmp '{}': cannot serialise arguments: {}", cmd, e.what());
  }
}

Status QmpErrorToStatus(std::string_view cmd, std::string_view error_class,
                        std::string_view error_desc) {
  Code code = Code::kFailedPrecondition;
  if (error_class == "DeviceNotFound") {
    code = Code::kNotFound;
  } else if (error_class == "CommandNotFound" || error_class == "KVMMissingCap") {
    code = Code::kUnsupported;
  }
  return Status(code, fmt::format("qmp '{}': {} ({})", cmd, error_desc, error_class));
}

std::string QmpErrorClass(const Status& status) {
  const std::string& m = status.message();
  if (m.rfind("qmp '", 0) != 0 || m.empty() || m.back() != ')') return "";
  size_t open = m.rfind(" (");
  if (open == std::string::npos) return "";
  std::string cls = m.substr(open + 2, m.size() - open - 3);
  for (char c : cls) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return "";
  }
  return cls;
}

}  // namespace skiff::qemu
