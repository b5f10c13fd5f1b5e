// Reading and writing the fields of the API's typed structs: JSON objects and query
// strings, with errors that name the field.
#include "skiff/api/fields.h"

#include <charconv>
#include <limits>

#include "skiff/api/client.h"

namespace skiff::api {

JsonReader::JsonReader(const nlohmann::json& object, bool strict, std::string prefix)
    : object_(object), strict_(strict), prefix_(std::move(prefix)) {}

const nlohmann::json* JsonReader::Find(const char* key, unsigned flags) {
  seen_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) {
    if (flags & kRequired) Note(InvalidArgumentError("field '{}{}' is required", prefix_, key));
    return nullptr;
  }
  return &*it;
}

void JsonReader::Note(Status st) {
  if (first_error_.ok() && !st.ok()) first_error_ = std::move(st);
}

Status JsonReader::Finish() {
  // Unknown fields first: a misspelt name explains the other errors.
  if (strict_) {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (seen_.count(it.key())) continue;
      if (prefix_.empty())
        return InvalidArgumentError("unknown field '{}' in request body", it.key());
      return InvalidArgumentError("unknown field '{}{}'", prefix_, it.key());
    }
  }
  return first_error_;
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool, bool& out) {
  if (!v.is_boolean()) return InvalidArgumentError("field '{}' must be a boolean", name);
  out = v.get<bool>();
  return Status::Ok();
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool,
                             std::string& out) {
  if (!v.is_string()) return InvalidArgumentError("field '{}' must be a string", name);
  out = v.get<std::string>();
  return Status::Ok();
}

namespace {

template <typename T>
Status ReadSigned(const nlohmann::json& v, const std::string& name, T& out) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      return InvalidArgumentError("field '{}' is out of range: {}", name, u);
    }
    out = static_cast<T>(u);
    return Status::Ok();
  }
  if (!v.is_number_integer()) return InvalidArgumentError("field '{}' must be an integer", name);
  int64_t i = v.get<int64_t>();
  if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) {
    return InvalidArgumentError("field '{}' is out of range: {}", name, i);
  }
  out = static_cast<T>(i);
  return Status::Ok();
}

template <typename T>
Status ReadUnsigned(const nlohmann::json& v, const std::string& name, T& out) {
  // Parsed text holds non-negative integers as unsigned; built JSON may hold them signed.
  if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0)) {
    return InvalidArgumentError("field '{}' must be a non-negative integer", name);
  }
  uint64_t u = v.get<uint64_t>();
  if (u > std::numeric_limits<T>::max()) {
    return InvalidArgumentError("field '{}' is out of range: {}", name, u);
  }
  out = static_cast<T>(u);
  return Status::Ok();
}

}  // namespace

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool, int& out) {
  return ReadSigned(v, name, out);
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool, int64_t& out) {
  return ReadSigned(v, name, out);
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool,
                             unsigned& out) {
  return ReadUnsigned(v, name, out);
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool,
                             uint64_t& out) {
  return ReadUnsigned(v, name, out);
}

Status JsonReader::ReadValue(const nlohmann::json& v, const std::string& name, bool,
                             nlohmann::json& out) {
  if (!v.is_object()) return InvalidArgumentError("field '{}' must be an object", name);
  out = v;
  return Status::Ok();
}

Result<nlohmann::json> ParseJsonObject(std::string_view text) {
  if (text.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError("request body is not valid json");
  if (!j.is_object()) return InvalidArgumentError("request body must be a json object");
  return j;
}

const std::string* QueryReader::Find(const char* key, unsigned flags) {
  seen_.insert(key);
  auto it = query_.find(key);
  if (it == query_.end()) {
    if (flags & kRequired) Note(InvalidArgumentError("query parameter '{}' is required", key));
    return nullptr;
  }
  return &it->second;
}

void QueryReader::Note(Status st) {
  if (first_error_.ok() && !st.ok()) first_error_ = std::move(st);
}

Status QueryReader::Finish() {
  // Unknown parameters first: a misspelt name explains the other errors.
  for (const auto& [k, v] : query_) {
    if (!seen_.count(k)) return InvalidArgumentError("unknown query parameter '{}'", k);
  }
  return first_error_;
}

void QueryReader::operator()(const char* key, bool& field, unsigned flags) {
  const std::string* v = Find(key, flags);
  if (v == nullptr) return;
  if (v->empty() || *v == "1" || *v == "true" || *v == "yes") {
    field = true;
  } else if (*v == "0" || *v == "false" || *v == "no") {
    field = false;
  } else {
    Note(InvalidArgumentError("query parameter '{}' must be true or false, not '{}'", key, *v));
  }
}

void QueryReader::operator()(const char* key, std::string& field, unsigned flags) {
  if (const std::string* v = Find(key, flags)) field = *v;
}

void QueryReader::operator()(const char* key, uint64_t& field, unsigned flags) {
  const std::string* v = Find(key, flags);
  if (v == nullptr) return;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size()) {
    Note(InvalidArgumentError("query parameter '{}' must be a non-negative integer, not '{}'", key,
                              *v));
    return;
  }
  field = n;
}

void QueryReader::operator()(const char* key, std::optional<uint64_t>& field, unsigned flags) {
  if (!query_.count(key)) {
    (void)Find(key, flags);
    return;
  }
  uint64_t n = 0;
  (*this)(key, n, flags);
  field = n;
}

void QueryWriter::Add(const char* key, std::string_view value) {
  text_ += text_.empty() ? "?" : "&";
  text_ += key;
  text_ += "=";
  text_ += UrlEncode(value);
}

void QueryWriter::operator()(const char* key, const bool& field, unsigned) {
  if (field) Add(key, "true");
}

void QueryWriter::operator()(const char* key, const std::string& field, unsigned) {
  if (!field.empty()) Add(key, field);
}

void QueryWriter::operator()(const char* key, const uint64_t& field, unsigned) {
  Add(key, std::to_string(field));
}

void QueryWriter::operator()(const char* key, const std::optional<uint64_t>& field, unsigned) {
  if (field) Add(key, std::to_string(*field));
}

}  // namespace skiff::api
