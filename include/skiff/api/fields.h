// The machinery behind the API's typed structs (types.h): each struct lists its
// fields once, in a `Visit` member, and that list drives both directions of JSON
// (to_json, ParseRequest/ParseResponse) and of query strings (ToQuery, ParseQuery).
//
//   struct StartDomainRequest {
//     bool paused = false;
//     template <typename V> void Visit(V& v) { v("paused", paused); }
//   };
//
// Reading never throws: a missing required field, a value of the wrong type or (in a
// request) an unknown field is kInvalidArgument naming the field ("field 'xml' is
// required", "field 'clone_of.pool' must be a string"). A field that is absent or
// null keeps the struct's default. Writing emits every field, except a
// std::optional that holds nothing (omitted, or null with kNullWhenEmpty).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::api {

// How a field is read or written; combine with |.
enum FieldFlags : unsigned {
  kOptional = 0,
  kRequired = 1,       // reading: absent or null is an error
  kNullWhenEmpty = 2,  // writing a std::optional: null instead of leaving it out
};

class JsonReader;
class JsonWriter;

// A struct whose fields are listed by `template <typename V> void Visit(V&)`.
template <typename T>
concept Visitable = requires(T& t, JsonWriter& w) {
  t.Visit(w);
};

// Reads the fields of one JSON object. `strict` (requests) refuses fields that the
// struct does not list; answers are read leniently, so that a newer daemon may add
// fields. `prefix` names nested objects in errors ("clone_of.").
class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, bool strict, std::string prefix = "");

  template <typename T>
  void operator()(const char* key, T& field, unsigned flags = kOptional) {
    const nlohmann::json* v = Find(key, flags);
    if (v != nullptr) Note(ReadValue(*v, prefix_ + key, strict_, field));
  }

  // (strict) An unknown field, else the first error met, else Ok.
  Status Finish();

  // One value of each supported type; `name` is the field's full name for errors.
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict, bool& out);
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          std::string& out);
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict, int& out);
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          int64_t& out);
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          unsigned& out);
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          uint64_t& out);
  // Kept as it is (an open-ended map such as a domain's stats): must be an object.
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          nlohmann::json& out);
  template <typename T>
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          std::optional<T>& out) {
    T value{};
    SKIFF_TRY(ReadValue(v, name, strict, value));
    out = std::move(value);
    return Status::Ok();
  }
  template <typename T>
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          std::vector<T>& out) {
    if (!v.is_array()) return InvalidArgumentError("field '{}' must be an array", name);
    out.clear();
    out.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      SKIFF_TRY(ReadValue(v[i], fmt::format("{}[{}]", name, i), strict, out[i]));
    }
    return Status::Ok();
  }
  template <typename A, typename B>
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict,
                          std::pair<A, B>& out) {
    if (!v.is_array() || v.size() != 2) {
      return InvalidArgumentError("field '{}' must be an array of two", name);
    }
    SKIFF_TRY(ReadValue(v[0], name + "[0]", strict, out.first));
    return ReadValue(v[1], name + "[1]", strict, out.second);
  }
  template <Visitable T>
  static Status ReadValue(const nlohmann::json& v, const std::string& name, bool strict, T& out) {
    if (!v.is_object()) return InvalidArgumentError("field '{}' must be an object", name);
    JsonReader sub(v, strict, name + ".");
    out.Visit(sub);
    return sub.Finish();
  }

 private:
  // The value of `key`, or null when it is absent or null (noting the error when
  // it is required).
  const nlohmann::json* Find(const char* key, unsigned flags);
  void Note(Status st);

  const nlohmann::json& object_;
  bool strict_;
  std::string prefix_;
  std::set<std::string, std::less<>> seen_;
  Status first_error_;
};

// Writes the fields of a struct into a JSON object.
class JsonWriter {
 public:
  explicit JsonWriter(nlohmann::json& out) : out_(out) {}

  template <typename T>
  void operator()(const char* key, const T& field, unsigned flags = kOptional) {
    if constexpr (requires { field.has_value(); }) {
      if (field.has_value()) {
        out_[key] = *field;
      } else if (flags & kNullWhenEmpty) {
        out_[key] = nullptr;
      }
    } else {
      out_[key] = field;
    }
  }

 private:
  nlohmann::json& out_;
};

// nlohmann's hook: `nlohmann::json j = request;` writes every field (found by ADL).
template <Visitable T>
void to_json(nlohmann::json& j, const T& value) {
  j = nlohmann::json::object();
  JsonWriter w(j);
  // Visit is shared with the readers, hence not const; the writer only reads.
  const_cast<T&>(value).Visit(w);
}

namespace internal {
template <typename T>
Status ValidateIfAny(const T& value) {
  if constexpr (requires { value.Validate(); }) {
    return value.Validate();
  } else {
    return Status::Ok();
  }
}
}  // namespace internal

// A request body (already parsed JSON) as T: unknown fields are refused, then the
// struct's own Validate() (when it has one) checks the values together.
template <Visitable T>
Result<T> ParseRequest(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgumentError("request body must be a json object");
  T out{};
  JsonReader r(j, /*strict=*/true);
  out.Visit(r);
  SKIFF_TRY(r.Finish());
  SKIFF_TRY(internal::ValidateIfAny(out));
  return out;
}

// The daemon's answer as T: fields it does not know are ignored.
template <Visitable T>
Result<T> ParseResponse(const nlohmann::json& j) {
  if (!j.is_object()) return InvalidArgumentError("answer must be a json object");
  T out{};
  JsonReader r(j, /*strict=*/false);
  out.Visit(r);
  SKIFF_TRY(r.Finish());
  return out;
}

// Parses the text of a request body: empty is {}, anything but a JSON object is
// kInvalidArgument ("request body is not valid json", "... must be a json object").
Result<nlohmann::json> ParseJsonObject(std::string_view text);

// Reads the fields of a query string ("?inactive=true&mac=52:54:00:..."), decoded
// into `query`. Unknown parameters are refused. Booleans take "", 1/0, true/false,
// yes/no; a parameter given without a value is true.
class QueryReader {
 public:
  explicit QueryReader(const std::map<std::string, std::string>& query) : query_(query) {}

  void operator()(const char* key, bool& field, unsigned flags = kOptional);
  void operator()(const char* key, std::string& field, unsigned flags = kOptional);
  void operator()(const char* key, uint64_t& field, unsigned flags = kOptional);
  void operator()(const char* key, std::optional<uint64_t>& field, unsigned flags = kOptional);

  Status Finish();

 private:
  const std::string* Find(const char* key, unsigned flags);
  void Note(Status st);

  const std::map<std::string, std::string>& query_;
  std::set<std::string, std::less<>> seen_;
  Status first_error_;
};

// Writes a query string: false booleans, empty strings and empty optionals are left
// out; "" when nothing is left, else "?a=b&c=true" (values percent-encoded).
class QueryWriter {
 public:
  void operator()(const char* key, const bool& field, unsigned flags = kOptional);
  void operator()(const char* key, const std::string& field, unsigned flags = kOptional);
  void operator()(const char* key, const uint64_t& field, unsigned flags = kOptional);
  void operator()(const char* key, const std::optional<uint64_t>& field,
                  unsigned flags = kOptional);
  const std::string& text() const { return text_; }

 private:
  void Add(const char* key, std::string_view value);
  std::string text_;
};

template <typename T>
Result<T> ParseQuery(const std::map<std::string, std::string>& query) {
  T out{};
  QueryReader r(query);
  out.Visit(r);
  SKIFF_TRY(r.Finish());
  SKIFF_TRY(internal::ValidateIfAny(out));
  return out;
}

template <typename T>
std::string ToQuery(const T& value) {
  QueryWriter w;
  const_cast<T&>(value).Visit(w);
  return w.text();
}

}  // namespace skiff::api
