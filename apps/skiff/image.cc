// `skiff img ...`: qemu-img's subcommands on the image engine, without the daemon.
// Parsing and printing only; the work is in src/image (skiff/image/ops.h).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "command.h"
#include "skiff/base/size.h"
#include "skiff/image/image.h"
#include "skiff/image/iso.h"
#include "skiff/image/ops.h"

namespace skiff::app {
namespace {

using namespace skiff::image;

// qemu-img style arguments: short options (value attached or next word),
// long options (--name=value or --name value), positionals.
struct Args {
  std::map<std::string, std::vector<std::string>> opts;
  std::vector<std::pair<std::string, std::string>> order;  // every option as given
  std::vector<std::string> pos;
  bool has(const std::string& k) const {
    auto it = opts.find(k);
    return it != opts.end() && !it->second.empty();
  }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() || it->second.empty() ? def : it->second.back();
  }
  std::vector<std::string> all(const std::string& k) const {
    auto it = opts.find(k);
    return it == opts.end() ? std::vector<std::string>{} : it->second;
  }
};

// `with_value`: options that take a value, e.g. {"f", "O", "o", "output"}.
Result<Args> Parse(const std::vector<std::string>& in, const std::set<std::string>& with_value,
                   const std::set<std::string>& flags) {
  Args a;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string& w = in[i];
    if (w == "--") {
      for (++i; i < in.size(); ++i) a.pos.push_back(in[i]);
      break;
    }
    if (w.size() > 2 && w.rfind("--", 0) == 0) {
      std::string name = w.substr(2), value;
      size_t eq = name.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      if (with_value.count(name)) {
        if (!has_value) {
          if (i + 1 >= in.size()) return InvalidArgumentError("option '--{}' needs a value", name);
          value = in[++i];
        }
        a.opts[name].push_back(value);
        a.order.emplace_back(name, value);
      } else if (flags.count(name) && !has_value) {
        a.opts[name].push_back("");
        a.order.emplace_back(name, "");
      } else {
        return InvalidArgumentError("unknown option '--{}'", name);
      }
      continue;
    }
    if (w.size() > 1 && w[0] == '-' && !(w.size() > 1 && (w[1] >= '0' && w[1] <= '9'))) {
      for (size_t j = 1; j < w.size(); ++j) {
        std::string name(1, w[j]);
        if (with_value.count(name)) {
          std::string value = w.substr(j + 1);
          if (value.empty()) {
            if (i + 1 >= in.size()) return InvalidArgumentError("option '-{}' needs a value", name);
            value = in[++i];
          }
          a.opts[name].push_back(value);
          a.order.emplace_back(name, value);
          break;
        }
        if (!flags.count(name)) return InvalidArgumentError("unknown option '-{}'", name);
        a.opts[name].push_back("");
        a.order.emplace_back(name, "");
      }
      continue;
    }
    a.pos.push_back(w);
  }
  return a;
}

int Err(const Status& st) { return Fail(st.ToString()); }

ProgressFn MakeProgress(bool on) {
  if (!on) return nullptr;
  auto last = std::make_shared<double>(-1);
  return [last](double f) {
    double pct = f * 100.0;
    if (pct - *last < 1.0 && f < 1.0) return;
    *last = pct;
    std::printf("    (%.2f/100%%)\r", pct);
    std::fflush(stdout);
  };
}

void EndProgress(bool on) {
  if (on) std::printf("    (100.00/100%%)\n");
}

Status OutputFormat(const Args& a, bool* json) {
  std::string o = a.get("output", "human");
  if (o != "human" && o != "json")
    return InvalidArgumentError("--output must be 'human' or 'json', not '{}'", o);
  *json = o == "json";
  return Status::Ok();
}

int CmdCreate(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "b", "F", "o"}, {"q", "u"});
  if (!a.ok()) return Err(a.status());
  CreateOptions o;
  o.format = a->get("f", "raw");
  for (const auto& list : a->all("o")) {
    Status st = ParseCreateOptionList(list, o);
    if (!st.ok()) return Err(st);
  }
  if (a->has("b")) o.backing_file = a->get("b");
  if (a->has("F")) o.backing_format = a->get("F");
  o.open_backing = !a->has("u");
  if (a->pos.empty()) return Fail("create: expecting a filename");
  if (a->pos.size() > 2) return Fail("create: too many arguments");
  if (a->pos.size() == 2) {
    auto sz = ParseSize(a->pos[1]);
    if (!sz.ok()) return Err(sz.status());
    o.size = *sz;
    o.size_given = true;
  }
  Status st = CreateImage(a->pos[0], o);
  if (!st.ok()) return Err(st);
  if (!o.size_given) {
    // The image took its backing file's size; say what it got, as qemu-img does.
    OpenOptions oo;
    oo.format = o.format;
    auto made = OpenImage(a->pos[0], oo);
    if (made.ok()) o.size = (*made)->size();
  }
  if (!a->has("q")) {
    std::string line = fmt::format("Formatting '{}', fmt={}", a->pos[0], o.format);
    if (o.format == "qcow2") {
      line += fmt::format(" cluster_size={} extended_l2={} compression_type={}", o.cluster_size,
                          o.extended_l2 ? "on" : "off", o.compression_type);
    }
    if (o.preallocation != Preallocation::kOff ||
        a->get("o").find("preallocation") != std::string::npos) {
      line += fmt::format(" preallocation={}", PreallocationName(o.preallocation));
    }
    line += fmt::format(" size={}", (o.size + 511) / 512 * 512);
    if (!o.backing_file.empty()) {
      line += fmt::format(" backing_file={} backing_fmt={}", o.backing_file, o.backing_format);
    }
    if (o.format == "qcow2") {
      if (o.version == 2) line += " compat=0.10";
      line += fmt::format(" lazy_refcounts={} refcount_bits={}", o.lazy_refcounts ? "on" : "off",
                          o.refcount_bits);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

int CmdInfo(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "output"}, {"backing-chain", "U", "force-share"});
  if (!a.ok()) return Err(a.status());
  bool json;
  if (Status st = OutputFormat(*a, &json); !st.ok()) return Err(st);
  if (a->pos.size() != 1) return Fail("info: expecting one filename");
  auto text = ImageInfoText(a->pos[0], a->get("f"), json, a->has("backing-chain"));
  if (!text.ok()) return Err(text.status());
  std::fputs(text->c_str(), stdout);
  return 0;
}

int CmdCheck(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "output", "r", "T"}, {"q", "U", "force-share"});
  if (!a.ok()) return Err(a.status());
  bool json;
  if (Status st = OutputFormat(*a, &json); !st.ok()) return Err(st);
  if (a->pos.size() != 1) return Fail("check: expecting one filename");
  RepairMode mode = RepairMode::kNone;
  if (a->has("r")) {
    std::string r = a->get("r");
    if (r == "leaks") {
      mode = RepairMode::kLeaks;
    } else if (r == "all") {
      mode = RepairMode::kAll;
    } else {
      return Fail("check: -r expects 'leaks' or 'all', not '" + r + "'");
    }
  }
  auto rep = CheckImage(a->pos[0], a->get("f"), mode);
  if (!rep.ok()) {
    if (rep.status().code() == Code::kUnsupported) {
      Fail(rep.status().ToString());
      return 63;
    }
    Err(rep.status());
    return 1;
  }
  for (const auto& m : rep->messages) std::fprintf(stderr, "%s\n", m.c_str());
  if (json) {
    std::fputs(FormatCheckJson(*rep).c_str(), stdout);
  } else if (!a->has("q")) {
    std::fputs(FormatCheckHuman(*rep).c_str(), stdout);
  }
  return CheckExitCode(*rep);
}

int CmdConvert(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "O", "o", "B", "F", "S", "m", "t", "T"},
                 {"c", "p", "q", "W", "U", "n", "bitmaps", "skip-broken-bitmaps"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 2) return Fail("convert: expecting a source and a target filename");
  if (a->has("n")) return Fail("convert: -n (existing target) is not supported");
  ConvertOptions o;
  o.source_format = a->get("f");
  o.target.format = a->get("O", "raw");
  for (const auto& list : a->all("o")) {
    Status st = ParseCreateOptionList(list, o.target);
    if (!st.ok()) return Err(st);
  }
  o.compress = a->has("c");
  o.bitmaps = a->has("bitmaps");
  o.skip_broken_bitmaps = a->has("skip-broken-bitmaps");
  if (o.skip_broken_bitmaps && !o.bitmaps) {
    return Fail("convert: --skip-broken-bitmaps needs --bitmaps");
  }
  o.target_backing = a->get("B");
  o.target_backing_format = a->get("F");
  if (a->has("S")) {
    auto s = ParseSize(a->get("S"));
    if (!s.ok()) return Err(s.status());
    o.sparse_size = *s;
  }
  std::string cache = a->get("t", "unsafe");
  if (cache != "unsafe" && cache != "writeback" && cache != "writethrough" && cache != "none" &&
      cache != "directsync") {
    return Fail("convert: invalid cache mode '" + cache + "'");
  }
  o.unsafe_cache = cache == "unsafe";
  bool progress = a->has("p") && !a->has("q");
  o.progress = MakeProgress(progress);
  Status st = ConvertImage(a->pos[0], a->pos[1], o);
  if (!st.ok()) return Err(st);
  EndProgress(progress);
  return 0;
}

int CmdResize(const std::vector<std::string>& argv) {
  // "-1G" must reach the positionals: stop option parsing at a signed size.
  std::vector<std::string> words = argv;
  auto a = Parse(words, {"f", "preallocation"}, {"q", "shrink"});
  if (!a.ok()) {
    // A negative size such as -1G looks like an option: retry with it set aside.
    if (argv.size() >= 2 && argv.back().size() > 1 && argv.back()[0] == '-') {
      words.pop_back();
      a = Parse(words, {"f", "preallocation"}, {"q", "shrink"});
      if (a.ok()) a->pos.push_back(argv.back());
    }
    if (!a.ok()) return Err(a.status());
  }
  if (a->pos.size() != 2) return Fail("resize: expecting a filename and a size");
  Preallocation p = Preallocation::kOff;
  if (a->has("preallocation")) {
    auto r = ParsePreallocation(a->get("preallocation"));
    if (!r.ok()) return Err(r.status());
    p = *r;
  }
  Status st = ResizeImage(a->pos[0], a->get("f"), a->pos[1], a->has("shrink"), p);
  if (!st.ok()) return Err(st);
  if (!a->has("q")) std::printf("Image resized.\n");
  return 0;
}

int CmdSnapshot(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"c", "a", "d"}, {"l", "q", "U", "force-share"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 1) return Fail("snapshot: expecting one filename");
  const std::string& file = a->pos[0];
  Status st;
  if (a->has("c")) {
    st = CreateSnapshot(file, a->get("c"));
  } else if (a->has("a")) {
    st = ApplySnapshot(file, a->get("a"));
  } else if (a->has("d")) {
    st = DeleteSnapshot(file, a->get("d"));
  } else {
    auto list = ListSnapshots(file);
    if (!list.ok()) return Err(list.status());
    if (!list->empty()) std::fputs(FormatSnapshotTable(*list).c_str(), stdout);
    return 0;
  }
  return st.ok() ? 0 : Err(st);
}

// qemu-img bitmap: the actions run in the order given, all or none; --show
// (a Skiff extension) prints the ranges a bitmap marks dirty.
int CmdBitmap(const std::vector<std::string>& argv) {
  auto a = Parse(
      argv, {"merge", "g", "granularity", "b", "source-file", "F", "source-format", "f", "output"},
      {"add", "remove", "clear", "enable", "disable", "disabled", "show", "q"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 2) return Fail("bitmap: expecting a filename and a bitmap name");
  const std::string& file = a->pos[0];
  const std::string& name = a->pos[1];
  BitmapEdit edit;
  edit.format = a->get("f");
  std::string gran, src_file, src_fmt;
  for (const auto& [k, v] : a->order) {
    if (k == "add") {
      edit.actions.push_back({BitmapActionKind::kAdd, ""});
    } else if (k == "remove") {
      edit.actions.push_back({BitmapActionKind::kRemove, ""});
    } else if (k == "clear") {
      edit.actions.push_back({BitmapActionKind::kClear, ""});
    } else if (k == "enable") {
      edit.actions.push_back({BitmapActionKind::kEnable, ""});
    } else if (k == "disable" || k == "disabled") {
      edit.actions.push_back({BitmapActionKind::kDisable, ""});
    } else if (k == "merge") {
      edit.actions.push_back({BitmapActionKind::kMerge, v});
    } else if (k == "g" || k == "granularity") {
      gran = v;
    } else if (k == "b" || k == "source-file") {
      edit.source_file = v;
    } else if (k == "F" || k == "source-format") {
      edit.source_format = v;
    }
  }
  auto has_action = [&](BitmapActionKind kind) {
    return std::any_of(edit.actions.begin(), edit.actions.end(),
                       [&](const BitmapAction& x) { return x.kind == kind; });
  };
  if (a->has("show")) {
    if (!edit.actions.empty()) return Fail("bitmap: --show cannot be combined with other actions");
    bool json;
    if (Status st = OutputFormat(*a, &json); !st.ok()) return Err(st);
    auto ranges = BitmapDirtyRanges(file, edit.format, name);
    if (!ranges.ok()) return Err(ranges.status());
    std::string out = json ? "[" : "";
    for (size_t i = 0; i < ranges->size(); ++i) {
      auto [off, len] = (*ranges)[i];
      out += json ? fmt::format("{}{{ \"start\": {}, \"length\": {}, \"dirty\": true }}",
                                i == 0 ? "" : ",\n", off, len)
                  : fmt::format("{:#x} {:#x}\n", off, len);
    }
    if (json) out += "]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  if (!gran.empty()) {
    if (!has_action(BitmapActionKind::kAdd))
      return Fail("bitmap: granularity only supported with --add");
    auto g = ParseSize(gran);
    if (!g.ok()) return Fail("bitmap: invalid granularity '" + gran + "'");
    edit.granularity = *g;
    if (edit.granularity == 0) return Fail("bitmap: invalid granularity '" + gran + "'");
  }
  if (!edit.source_format.empty() && edit.source_file.empty()) {
    return Fail("bitmap: -F only supported with -b");
  }
  if (!edit.source_file.empty() && !has_action(BitmapActionKind::kMerge)) {
    return Fail("bitmap: merge bitmap source file only supported with --merge");
  }
  Status st = EditBitmap(file, name, edit);
  return st.ok() ? 0 : Err(st);
}

int CmdRebase(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "b", "F", "t", "T"}, {"u", "p", "q", "U"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 1) return Fail("rebase: expecting one filename");
  if (!a->has("b"))
    return Fail("rebase: expecting -b BACKING (use -b \"\" to remove the backing file)");
  bool progress = a->has("p") && !a->has("q");
  Status st = RebaseImage(a->pos[0], a->get("f"), a->get("b"), a->get("F"), a->has("u"),
                          MakeProgress(progress));
  if (!st.ok()) return Err(st);
  EndProgress(progress);
  return 0;
}

int CmdCommit(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "b", "t", "r"}, {"d", "p", "q"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 1) return Fail("commit: expecting one filename");
  bool progress = a->has("p") && !a->has("q");
  Status st = CommitImage(a->pos[0], a->get("f"), a->get("b"), a->has("d"), MakeProgress(progress));
  if (!st.ok()) return Err(st);
  EndProgress(progress);
  if (!a->has("q")) std::printf("Image committed.\n");
  return 0;
}

int CmdMap(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "output", "start-offset", "max-length"}, {"U", "force-share"});
  if (!a.ok()) return Err(a.status());
  bool json;
  if (Status st = OutputFormat(*a, &json); !st.ok()) return Err(st);
  if (a->pos.size() != 1) return Fail("map: expecting one filename");
  OpenOptions oo;
  oo.format = a->get("f");
  auto img = OpenImage(a->pos[0], oo);
  if (!img.ok()) return Err(img.status());
  uint64_t start = 0, len = UINT64_MAX;
  if (a->has("start-offset")) {
    auto s = ParseSize(a->get("start-offset"));
    if (!s.ok()) return Err(s.status());
    start = *s;
  }
  if (a->has("max-length")) {
    auto s = ParseSize(a->get("max-length"));
    if (!s.ok()) return Err(s.status());
    len = *s;
  }
  auto ext = MapImage(**img, start, len);
  if (!ext.ok()) return Err(ext.status());
  if (json) {
    std::fputs(FormatMapJson(*ext).c_str(), stdout);
    return 0;
  }
  for (const auto& e : *ext) {
    if (e.data && !e.offset)
      return Fail("'" + a->pos[0] +
                  "' contains compressed clusters, which have no host offset (use --output=json)");
  }
  std::fputs(FormatMapHuman(*ext).c_str(), stdout);
  return 0;
}

int CmdMeasure(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "O", "o", "output", "size", "l"}, {"U", "force-share"});
  if (!a.ok()) return Err(a.status());
  bool json;
  if (Status st = OutputFormat(*a, &json); !st.ok()) return Err(st);
  CreateOptions o;
  o.format = a->get("O", "raw");
  for (const auto& list : a->all("o")) {
    Status st = ParseCreateOptionList(list, o);
    if (!st.ok()) return Err(st);
  }
  uint64_t size = 0;
  std::string src;
  if (a->has("size")) {
    if (!a->pos.empty()) return Fail("measure: --size N and a filename are mutually exclusive");
    auto s = ParseSize(a->get("size"));
    if (!s.ok()) return Err(s.status());
    size = *s;
  } else {
    if (a->pos.size() != 1) return Fail("measure: expecting --size N or one filename");
    src = a->pos[0];
  }
  auto r = MeasureImage(o, src, a->get("f"), size);
  if (!r.ok()) return Err(r.status());
  if (json) {
    std::string out = "{\n";
    if (r->bitmaps) out += fmt::format("    \"bitmaps\": {},\n", *r->bitmaps);
    out += fmt::format("    \"required\": {},\n    \"fully-allocated\": {}\n}}\n", r->required,
                       r->fully_allocated);
    std::fputs(out.c_str(), stdout);
  } else {
    std::printf("required size: %llu\nfully allocated size: %llu\n",
                static_cast<unsigned long long>(r->required),
                static_cast<unsigned long long>(r->fully_allocated));
    if (r->bitmaps && o.format == "qcow2") {
      std::printf("bitmaps size: %llu\n", static_cast<unsigned long long>(*r->bitmaps));
    }
  }
  return 0;
}

int CmdCompare(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"f", "F", "T"}, {"p", "q", "s", "U", "force-share"});
  if (!a.ok()) {
    Err(a.status());
    return 2;
  }
  if (a->pos.size() != 2) {
    Fail("compare: expecting two filenames");
    return 2;
  }
  bool progress = a->has("p") && !a->has("q");
  auto r = CompareImages(a->pos[0], a->get("f"), a->pos[1], a->get("F"), a->has("s"),
                         MakeProgress(progress));
  if (!r.ok()) {
    Err(r.status());
    return r.status().code() == Code::kIo || r.status().code() == Code::kCorruption ? 4 : 2;
  }
  EndProgress(progress);
  if (!a->has("q")) std::printf("%s\n", r->message.c_str());
  return r->identical ? 0 : 1;
}

void Usage(FILE* to) {
  std::fputs(
      "usage: skiff img COMMAND [OPTIONS] ...   (qemu-img's commands and options)\n\n"
      "  create [-q] [-f fmt] [-b backing -F backing_fmt] [-u] [-o opts] file [size]\n"
      "  info [-f fmt] [--output=human|json] [--backing-chain] file\n"
      "  check [-f fmt] [--output=human|json] [-r leaks|all] file\n"
      "  convert [-c] [-p] [-q] [--bitmaps [--skip-broken-bitmaps]] [-f fmt] [-O fmt] [-o opts]\n"
      "          [-B backing [-F fmt]] [-S size] src dst\n"
      "  resize [-f fmt] [--preallocation=mode] [--shrink] file [+|-]size\n"
      "  snapshot [-l | -c name | -a name | -d name] file\n"
      "  bitmap (--add | --remove | --clear | --enable | --disable | --merge src)... [-g gran]\n"
      "         [-b src_file [-F src_fmt]] [-f fmt] file bitmap\n"
      "  bitmap --show [--output=human|json] file bitmap   (a Skiff extension: dirty ranges)\n"
      "  rebase [-f fmt] [-p] [-u] -b backing [-F backing_fmt] file\n"
      "  commit [-f fmt] [-b base] [-d] [-p] file\n"
      "  map [-f fmt] [--output=human|json] [--start-offset=off] [--max-length=len] file\n"
      "  measure [--output=human|json] [-O fmt] [-o opts] (--size N | [-f fmt] file)\n"
      "  compare [-f fmt] [-F fmt] [-p] [-q] [-s] file1 file2\n"
      "  bench [-c count] [-d depth] [-f fmt] [-o offset] [-s size] [-S step] [-w] [--pattern=p] "
      "file\n"
      "\nISO 9660 (skiff extensions):\n"
      "  iso-ls file.iso\n"
      "  iso-extract file.iso /path/in/iso dest\n"
      "  iso-create [-V volume_id] [--no-joliet] [--no-rock-ridge] -o out.iso source_dir\n",
      to);
}

int CmdBench(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"c", "d", "f", "o", "s", "S", "t", "i", "pattern", "flush-interval"},
                 {"w", "q", "n", "U", "no-drain", "force-share"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 1) return Fail("bench: expecting one filename");
  BenchOptions b;
  b.format = a->get("f");
  b.write = a->has("w");
  auto num = [&](const char* k, uint64_t* out, bool size) -> Status {
    if (!a->has(k)) return Status::Ok();
    auto v = size ? ParseSize(a->get(k)) : ParseUint(a->get(k));
    if (!v.ok()) return v.status();
    *out = *v;
    return Status::Ok();
  };
  uint64_t depth = b.depth, flush = 0;
  for (const auto& st : {num("c", &b.count, false), num("d", &depth, false),
                         num("o", &b.offset, true), num("s", &b.request_size, true),
                         num("S", &b.step, true), num("flush-interval", &flush, false)}) {
    if (!st.ok()) return Err(st);
  }
  b.depth = static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(depth, 1024)));
  b.flush_interval = flush;
  if (a->has("pattern")) {
    auto p = ParseUint(a->get("pattern"));
    if (!p.ok() || *p > 255) return Fail("bench: --pattern expects a byte value");
    b.pattern = static_cast<int>(*p);
  }
  if (!a->has("S")) b.step = b.request_size;
  if (!a->has("q")) {
    std::printf(
        "Sending %llu %s requests, %llu bytes each, %d in parallel (starting at offset %llu, step "
        "size %llu)\n",
        static_cast<unsigned long long>(b.count), b.write ? "write" : "read",
        static_cast<unsigned long long>(b.request_size), b.depth,
        static_cast<unsigned long long>(b.offset), static_cast<unsigned long long>(b.step));
  }
  auto secs = RunBench(a->pos[0], b);
  if (!secs.ok()) return Err(secs.status());
  if (!a->has("q")) std::printf("Run completed in %.3f seconds.\n", *secs);
  return 0;
}

int CmdIsoLs(const std::vector<std::string>& argv) {
  if (argv.size() != 1) return Fail("iso-ls: expecting one ISO file");
  auto list = ListIso(argv[0]);
  if (!list.ok()) return Err(list.status());
  for (const auto& e : *list) {
    if (e.is_dir) {
      std::printf("%s/\n", e.path.c_str());
    } else {
      std::printf("%s\t%llu\n", e.path.c_str(), static_cast<unsigned long long>(e.size));
    }
  }
  return 0;
}

int CmdIsoExtract(const std::vector<std::string>& argv) {
  if (argv.size() != 3)
    return Fail("iso-extract: expecting ISO, path in the image and destination");
  Status st = ExtractIsoFile(argv[0], argv[1], argv[2]);
  return st.ok() ? 0 : Err(st);
}

int CmdIsoCreate(const std::vector<std::string>& argv) {
  auto a = Parse(argv, {"o", "V"}, {"no-joliet", "no-rock-ridge", "q"});
  if (!a.ok()) return Err(a.status());
  if (a->pos.size() != 1 || !a->has("o"))
    return Fail("iso-create: expecting -o OUT.iso and one source directory");
  IsoCreateOptions o;
  o.volume_id = a->get("V", "cidata");
  o.joliet = !a->has("no-joliet");
  o.rock_ridge = !a->has("no-rock-ridge");
  Status st = CreateIso(a->get("o"), a->pos[0], o);
  return st.ok() ? 0 : Err(st);
}

// The subcommands of `skiff img`, as qemu-img names them.
const std::pair<const char*, int (*)(const std::vector<std::string>&)> kImgVerbs[] = {
    {"create", CmdCreate},
    {"info", CmdInfo},
    {"check", CmdCheck},
    {"convert", CmdConvert},
    {"resize", CmdResize},
    {"snapshot", CmdSnapshot},
    {"bitmap", CmdBitmap},
    {"rebase", CmdRebase},
    {"commit", CmdCommit},
    {"map", CmdMap},
    {"measure", CmdMeasure},
    {"compare", CmdCompare},
    {"bench", CmdBench},
    {"iso-ls", CmdIsoLs},
    {"iso-extract", CmdIsoExtract},
    {"iso-create", CmdIsoCreate},
};

int RunImg(const GlobalOptions&, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
    Usage(args.empty() ? stderr : stdout);
    return args.empty() ? 1 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  for (const auto& [name, run] : kImgVerbs) {
    if (sub == name) return run(rest);
  }
  return Fail("img: unknown command '" + sub + "' (see 'skiff img help')");
}

}  // namespace

void AddImageCommands(std::vector<Command>& out) {
  out.push_back(
      Command{"img", "disk images: create, info, check, convert, ... (like qemu-img)", RunImg});
}

}  // namespace skiff::app
