// Strict reading of libvirt-style XML over pugixml: positions (line:column) for
// errors, element paths, and tracking of what was read so that anything Skiff
// does not understand is refused by name instead of being dropped.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "skiff/base/status.h"
#include "skiff/base/strings.h"  // XmlEscape
#include "skiff/base/uuid.h"

namespace skiff::conf {

// How deep elements may nest in any XML Skiff reads (libvirt's documents need
// about 10; <metadata> is the user's, and gets the rest).
inline constexpr int kMaxXmlDepth = 256;

// The longest name of a domain, network, pool or volume, in bytes. Names become
// file names and parts of unix socket paths (at most 107 bytes:
// /run/skiff/domains/NAME.console), as in libvirt, whose own names are as short.
inline constexpr size_t kMaxNameBytes = 80;

class XmlDoc;

// One element of a document being read, with its path ("/domain/devices/disk[2]").
// Reading a child or attribute marks it as understood.
class Elem {
 public:
  Elem() = default;
  Elem(XmlDoc* doc, pugi::xml_node node, std::string path)
      : doc_(doc), node_(node), path_(std::move(path)) {}

  explicit operator bool() const { return static_cast<bool>(node_); }
  const std::string& path() const { return path_; }
  std::string_view name() const { return node_.name(); }
  pugi::xml_node node() const { return node_; }

  // First child element named `name` (marked), or an empty Elem.
  Elem Child(std::string_view name) const;
  // All child elements named `name`, in order (marked).
  std::vector<Elem> Children(std::string_view name) const;
  // Attribute value (marked), or nullopt.
  std::optional<std::string> Attr(std::string_view name) const;
  // Text content, trimmed of surrounding whitespace.
  std::string Text() const;
  // Text of child `name`, or nullopt when the child is absent.
  std::optional<std::string> ChildText(std::string_view name) const;
  // Marks this element and everything under it as understood.
  void MarkSubtree() const;

  // "src:line:col: <path>: message" as kInvalidArgument.
  Status Error(std::string message) const;
  template <typename... A>
  Status Error(fmt::format_string<A...> f, A&&... a) const {
    return Error(fmt::format(f, std::forward<A>(a)...));
  }
  // Same, for a value Skiff understands but does not support (kUnsupported).
  Status Unsupported(std::string message) const;
  template <typename... A>
  Status Unsupported(fmt::format_string<A...> f, A&&... a) const {
    return Unsupported(fmt::format(f, std::forward<A>(a)...));
  }

  // Typed attribute readers: nullopt when absent, error naming path/@attr and value.
  Result<std::optional<uint64_t>> UintAttr(std::string_view name) const;
  Result<std::optional<bool>> YesNoAttr(std::string_view name) const;  // yes|no
  Result<std::optional<bool>> OnOffAttr(std::string_view name) const;  // on|off
  // An attribute restricted to `allowed` values ("" when absent).
  Result<std::string> EnumAttr(std::string_view name,
                               const std::vector<std::string_view>& allowed) const;
  // Element text as a size scaled by its unit= attribute, in KiB (or bytes).
  Result<uint64_t> SizeKiB(std::string_view default_unit = "KiB") const;
  Result<uint64_t> SizeBytes(std::string_view default_unit = "bytes") const;

 private:
  XmlDoc* doc_ = nullptr;
  pugi::xml_node node_;
  std::string path_;
};

class XmlDoc {
 public:
  // Parses `xml`; syntax errors read "src:line:col: xml syntax error: <reason>".
  static Result<std::unique_ptr<XmlDoc>> Parse(std::string_view xml, std::string_view source);

  // The root element, checked to be named `expected`.
  Result<Elem> Root(std::string_view expected);
  const std::string& source() const { return source_; }

  // "src:line:col" of a node.
  std::string Position(pugi::xml_node node) const;
  std::string PositionOfOffset(ptrdiff_t offset) const;

  void Mark(pugi::xml_node n) { seen_nodes_.insert(n.internal_object()); }
  void Mark(pugi::xml_attribute a) { seen_attrs_.insert(a.internal_object()); }

  // Fails on the first element or attribute that no reader marked:
  // "src:30:5: unsupported element <hostdev> in /domain/devices" (kUnsupported).
  Status CheckAllUnderstood() const;

 private:
  Status CheckNode(pugi::xml_node node, const std::string& path) const;
  std::string source_;
  std::string text_;
  pugi::xml_document doc_;
  std::vector<size_t> line_starts_;
  std::unordered_set<const void*> seen_nodes_;
  std::unordered_set<const void*> seen_attrs_;
};

// The <name> child of `root` (a domain, network, pool or volume): present, at most
// kMaxNameBytes, without '/' or control characters, and not "." or "..", since it
// names the object's files. Errors name the element's line.
Result<std::string> ReadObjectName(const Elem& root);
// The <uuid> child of `root`, or a new random one when it has none.
Result<Uuid> ReadObjectUuid(const Elem& root);

// A small indented XML writer producing libvirt-like output.
class XmlWriter {
 public:
  // Opens <name attrs...>; attributes with empty values are skipped.
  void Open(std::string_view name,
            std::initializer_list<std::pair<std::string_view, std::string>> attrs = {});
  void Close(std::string_view name);
  // <name attrs.../> (empty element).
  void Empty(std::string_view name,
             std::initializer_list<std::pair<std::string_view, std::string>> attrs = {});
  void Empty(std::string_view name, const std::vector<std::pair<std::string, std::string>>& attrs);
  // <name attrs...>text</name>.
  void Text(std::string_view name, std::string_view text,
            std::initializer_list<std::pair<std::string_view, std::string>> attrs = {});
  // Already well-formed XML, written verbatim after the current indentation.
  void RawLine(std::string_view xml);
  std::string Take() { return std::move(out_); }

 private:
  void Indent();
  std::string out_;
  int depth_ = 0;
};

}  // namespace skiff::conf
