// Strict XML reading over pugixml: line:column positions, element paths, and
// refusal of anything no reader consumed.
#include "conf/xml_reader.h"

#include <algorithm>
#include <new>

#include "skiff/base/size.h"

namespace skiff::conf {

// ---- Elem ----

Elem Elem::Child(std::string_view name) const {
  if (!node_) return {};
  for (pugi::xml_node c = node_.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && name == c.name()) {
      doc_->Mark(c);
      return Elem(doc_, c, path_ + "/" + std::string(name));
    }
  }
  return {};
}

std::vector<Elem> Elem::Children(std::string_view name) const {
  std::vector<Elem> out;
  if (!node_) return out;
  int i = 0;
  for (pugi::xml_node c = node_.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && name == c.name()) {
      doc_->Mark(c);
      out.emplace_back(doc_, c, fmt::format("{}/{}[{}]", path_, name, ++i));
    }
  }
  return out;
}

std::optional<std::string> Elem::Attr(std::string_view name) const {
  if (!node_) return std::nullopt;
  for (pugi::xml_attribute a = node_.first_attribute(); a; a = a.next_attribute()) {
    if (name == a.name()) {
      doc_->Mark(a);
      return std::string(a.value());
    }
  }
  return std::nullopt;
}

std::string Elem::Text() const {
  return node_ ? std::string(Trim(node_.child_value())) : std::string();
}

std::optional<std::string> Elem::ChildText(std::string_view name) const {
  Elem c = Child(name);
  if (!c) return std::nullopt;
  return c.Text();
}

void Elem::MarkSubtree() const {
  if (!node_) return;
  struct Walker : pugi::xml_tree_walker {
    XmlDoc* doc;
    bool for_each(pugi::xml_node& n) override {
      doc->Mark(n);
      for (pugi::xml_attribute a = n.first_attribute(); a; a = a.next_attribute()) doc->Mark(a);
      return true;
    }
  } w;
  w.doc = doc_;
  doc_->Mark(node_);
  for (pugi::xml_attribute a = node_.first_attribute(); a; a = a.next_attribute()) doc_->Mark(a);
  pugi::xml_node n = node_;
  n.traverse(w);
}

Status Elem::Error(std::string message) const {
  return InvalidArgumentError("{}: {}: {}", doc_->Position(node_), path_, message);
}

Status Elem::Unsupported(std::string message) const {
  return UnsupportedError("{}: {}: {}", doc_->Position(node_), path_, message);
}

Result<std::optional<uint64_t>> Elem::UintAttr(std::string_view name) const {
  auto v = Attr(name);
  if (!v) return std::optional<uint64_t>();
  // libvirt accepts hexadecimal ("0x10") wherever it accepts a number.
  Result<uint64_t> r = InvalidArgumentError("not a number");
  if (v->size() > 2 && (*v)[0] == '0' && ((*v)[1] == 'x' || (*v)[1] == 'X')) {
    uint64_t val = 0;
    bool okhex = v->size() <= 18;
    for (size_t i = 2; okhex && i < v->size(); ++i) {
      char c = static_cast<char>(std::tolower(static_cast<unsigned char>((*v)[i])));
      if (!std::isxdigit(static_cast<unsigned char>(c))) okhex = false;
      val = val * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (okhex) r = val;
  } else {
    r = ParseUint(*v);
  }
  if (!r.ok()) return Error("invalid {} '{}': expected an unsigned integer", name, *v);
  return std::optional<uint64_t>(*r);
}

Result<std::optional<bool>> Elem::YesNoAttr(std::string_view name) const {
  auto v = Attr(name);
  if (!v) return std::optional<bool>();
  if (*v == "yes") return std::optional<bool>(true);
  if (*v == "no") return std::optional<bool>(false);
  return Error("invalid {} '{}': expected yes or no", name, *v);
}

Result<std::optional<bool>> Elem::OnOffAttr(std::string_view name) const {
  auto v = Attr(name);
  if (!v) return std::optional<bool>();
  if (*v == "on") return std::optional<bool>(true);
  if (*v == "off") return std::optional<bool>(false);
  return Error("invalid {} '{}': expected on or off", name, *v);
}

Result<std::string> Elem::EnumAttr(std::string_view name,
                                   const std::vector<std::string_view>& allowed) const {
  auto v = Attr(name);
  if (!v) return std::string();
  for (auto a : allowed) {
    if (*v == a) return *v;
  }
  std::string list;
  for (auto a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  return Unsupported("unsupported {} '{}' (supported: {})", name, *v, list);
}

Result<uint64_t> Elem::SizeKiB(std::string_view default_unit) const {
  SKIFF_ASSIGN_OR_RETURN(uint64_t bytes, SizeBytes(default_unit));
  // libvirt rounds up to whole KiB.
  return bytes / 1024 + (bytes % 1024 ? 1 : 0);
}

Result<uint64_t> Elem::SizeBytes(std::string_view default_unit) const {
  std::string text = Text();
  auto n = ParseUint(text);
  if (!n.ok()) return Error("invalid size '{}'", text);
  std::string unit = Attr("unit").value_or("");
  auto r = ScaleLibvirtUnit(*n, unit, default_unit);
  if (!r.ok()) {
    return Error("invalid size '{}' with unit '{}': {}", text, unit, r.status().message());
  }
  return *r;
}

// ---- XmlDoc ----

Result<std::string> ReadObjectName(const Elem& root) {
  Elem elem = root.Child("name");
  if (!elem || elem.Text().empty()) return root.Error("missing <name>");
  std::string name = elem.Text();
  if (name.size() > kMaxNameBytes) {
    return elem.Error("<name> is {} bytes long; names are at most {} bytes", name.size(),
                      kMaxNameBytes);
  }
  if (name == "." || name == "..") return elem.Error("<name> must not be '{}'", name);
  for (unsigned char c : name) {
    if (c == '/') return elem.Error("<name> '{}' must not contain '/'", name);
    if (c < 0x20 || c == 0x7f) {
      return elem.Error("<name> must not contain control characters (found 0x{:02x})", c);
    }
  }
  return name;
}

Result<Uuid> ReadObjectUuid(const Elem& root) {
  Elem u = root.Child("uuid");
  if (!u) return Uuid::Generate();
  auto uuid = Uuid::Parse(u.Text());
  if (!uuid.ok()) return u.Error("invalid uuid '{}'", u.Text());
  return *uuid;
}

Result<std::unique_ptr<XmlDoc>> XmlDoc::Parse(std::string_view xml, std::string_view source) {
  auto doc = std::make_unique<XmlDoc>();
  doc->source_ = std::string(source);
  doc->text_ = std::string(xml);
  doc->line_starts_.push_back(0);
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '\n') doc->line_starts_.push_back(i + 1);
  }
  pugi::xml_parse_result res;
  try {
    res = doc->doc_.load_buffer(doc->text_.data(), doc->text_.size(),
                                pugi::parse_default | pugi::parse_doctype, pugi::encoding_utf8);
  } catch (const std::bad_alloc&) {
    return InvalidArgumentError("{}: xml document too large", source);
  } catch (...) {
    return InvalidArgumentError("{}: xml parser failed", source);
  }
  if (!res) {
    std::string reason = res.description();
    std::transform(reason.begin(), reason.end(), reason.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return InvalidArgumentError("{}: xml syntax error: {}", doc->PositionOfOffset(res.offset),
                                reason);
  }
  // The readers and the checks after them recurse over the tree; a hostile
  // document thousands of elements deep would overflow their stack. pugixml's own
  // parser and this walk are iterative.
  struct DepthCheck : pugi::xml_tree_walker {
    pugi::xml_node deepest;
    bool for_each(pugi::xml_node& n) override {
      if (depth() < kMaxXmlDepth) return true;
      deepest = n;
      return false;
    }
  } check;
  doc->doc_.traverse(check);
  if (check.deepest) {
    return InvalidArgumentError("{}: xml nests elements more than {} deep",
                                doc->PositionOfOffset(check.deepest.offset_debug()), kMaxXmlDepth);
  }
  return doc;
}

std::string XmlDoc::PositionOfOffset(ptrdiff_t offset) const {
  if (offset < 0) return source_;
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), static_cast<size_t>(offset));
  size_t line = static_cast<size_t>(it - line_starts_.begin());
  size_t col = static_cast<size_t>(offset) - line_starts_[line - 1] + 1;
  return fmt::format("{}:{}:{}", source_, line, col);
}

std::string XmlDoc::Position(pugi::xml_node node) const {
  ptrdiff_t off = node ? node.offset_debug() : -1;
  // offset_debug points at the name; errors point at '<'.
  if (off > 0 && node.type() == pugi::node_element) --off;
  return PositionOfOffset(off);
}

Result<Elem> XmlDoc::Root(std::string_view expected) {
  pugi::xml_node root = doc_.document_element();
  if (!root) return InvalidArgumentError("{}: xml syntax error: no root element", source_);
  if (expected != root.name()) {
    return InvalidArgumentError("{}: root element is <{}>, expected <{}>", Position(root),
                                root.name(), expected);
  }
  Mark(root);
  return Elem(this, root, "/" + std::string(expected));
}

Status XmlDoc::CheckNode(pugi::xml_node node, const std::string& path) const {
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    if (!seen_attrs_.count(a.internal_object())) {
      return UnsupportedError("{}: unsupported attribute '{}' of <{}> in {}", Position(node),
                              a.name(), node.name(), path);
    }
  }
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element) continue;
    if (!seen_nodes_.count(c.internal_object())) {
      for (pugi::xml_node o = node.child(c.name()); o; o = o.next_sibling(c.name())) {
        if (seen_nodes_.count(o.internal_object())) {
          return InvalidArgumentError("{}: duplicate element <{}> in {}", Position(c), c.name(),
                                      path);
        }
      }
      return UnsupportedError("{}: unsupported element <{}> in {}", Position(c), c.name(), path);
    }
    SKIFF_TRY(CheckNode(c, path + "/" + c.name()));
  }
  return Status::Ok();
}

Status XmlDoc::CheckAllUnderstood() const {
  pugi::xml_node root = doc_.document_element();
  if (!root) return Status::Ok();
  return CheckNode(root, std::string("/") + root.name());
}

// ---- formatting ----

void XmlWriter::Indent() { out_.append(static_cast<size_t>(depth_) * 2, ' '); }

namespace {
template <typename Attrs>
void AppendAttrs(std::string& out, const Attrs& attrs) {
  for (const auto& [k, v] : attrs) {
    if (v.empty()) continue;
    out += ' ';
    out += k;
    out += "='";
    out += XmlEscape(v);
    out += '\'';
  }
}
}  // namespace

void XmlWriter::Open(std::string_view name,
                     std::initializer_list<std::pair<std::string_view, std::string>> attrs) {
  Indent();
  out_ += '<';
  out_ += name;
  AppendAttrs(out_, attrs);
  out_ += ">\n";
  ++depth_;
}

void XmlWriter::Close(std::string_view name) {
  --depth_;
  Indent();
  out_ += "</";
  out_ += name;
  out_ += ">\n";
}

void XmlWriter::Empty(std::string_view name,
                      std::initializer_list<std::pair<std::string_view, std::string>> attrs) {
  Indent();
  out_ += '<';
  out_ += name;
  AppendAttrs(out_, attrs);
  out_ += "/>\n";
}

void XmlWriter::Empty(std::string_view name,
                      const std::vector<std::pair<std::string, std::string>>& attrs) {
  Indent();
  out_ += '<';
  out_ += name;
  AppendAttrs(out_, attrs);
  out_ += "/>\n";
}

void XmlWriter::Text(std::string_view name, std::string_view text,
                     std::initializer_list<std::pair<std::string_view, std::string>> attrs) {
  Indent();
  out_ += '<';
  out_ += name;
  AppendAttrs(out_, attrs);
  out_ += '>';
  out_ += XmlEscape(text, false);
  out_ += "</";
  out_ += name;
  out_ += ">\n";
}

void XmlWriter::RawLine(std::string_view xml) {
  Indent();
  out_ += xml;
  out_ += '\n';
}

}  // namespace skiff::conf
