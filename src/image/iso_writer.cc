// ISO 9660 writer on libisofs (Rock Ridge and Joliet names), for seed images.
// libisofs (and libjte, libacl and libbz2 behind it) is loaded with dlopen on
// the first CreateIso: every program that links the image engine would
// otherwise load and relocate those four libraries at start-up (`skiff img
// info` takes a few milliseconds, most of it start-up), for a verb that is
// rarely used.
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#define LIBISOFS_WITHOUT_LIBBURN 1
#include <libisofs/libisofs.h>

#include <filesystem>
#include <mutex>

#include "image/host_file.h"
#include "skiff/image/iso.h"

namespace skiff::image {
namespace {

std::mutex iso_mu;  // libisofs keeps global state between iso_init and iso_finish

// The libisofs functions we call, typed from the header (a mismatch fails to compile).
// clang-format off
#define SKIFF_ISOFS_FUNCTIONS(X)                                                                   \
  X(iso_init)                                                                                      \
  X(iso_finish) X(iso_error_to_msg) X(iso_image_new) X(iso_image_get_root) X(iso_tree_add_dir_rec) \
      X(iso_write_opts_new) X(iso_write_opts_set_rockridge) X(iso_write_opts_set_joliet)           \
          X(iso_image_create_burn_source) X(iso_write_opts_free) X(iso_image_unref)
// clang-format on

struct IsoFs {
#define SKIFF_ISOFS_MEMBER(f) decltype(&::f) f = nullptr;
  SKIFF_ISOFS_FUNCTIONS(SKIFF_ISOFS_MEMBER)
#undef SKIFF_ISOFS_MEMBER
};

// Loads libisofs once (called with iso_mu held).
Result<const IsoFs*> LoadIsoFs() {
  static IsoFs lib;
  static bool tried = false;
  static std::string error;
  if (!tried) {
    tried = true;
    void* h = ::dlopen(SKIFF_LIBISOFS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* e = ::dlerror();
      error =
          fmt::format("iso-create needs libisofs: {}", e != nullptr ? e : SKIFF_LIBISOFS_SONAME);
    } else {
#define SKIFF_ISOFS_LOAD(f)                                 \
  lib.f = reinterpret_cast<decltype(&::f)>(::dlsym(h, #f)); \
  if (lib.f == nullptr && error.empty()) error = "libisofs lacks " #f;
      SKIFF_ISOFS_FUNCTIONS(SKIFF_ISOFS_LOAD)
#undef SKIFF_ISOFS_LOAD
    }
  }
  if (!error.empty()) return UnsupportedError("{}", error);
  return &lib;
}

}  // namespace

Status CreateIso(const std::string& out_path, const std::string& source_dir,
                 const IsoCreateOptions& o) {
  std::lock_guard lk(iso_mu);
  SKIFF_ASSIGN_OR_RETURN(const IsoFs* iso, LoadIsoFs());
  auto IsoError = [iso](int code, const std::string& what) {
    return IoError("{}: {}", what, iso->iso_error_to_msg(code));
  };
  int r = iso->iso_init();
  if (r < 0) return IsoError(r, "libisofs init");
  IsoImage* image = nullptr;
  IsoWriteOpts* wopts = nullptr;
  struct burn_source* src = nullptr;
  Status st;
  do {
    r = iso->iso_image_new(o.volume_id.c_str(), &image);
    if (r < 0) {
      st = IsoError(r, "iso image");
      break;
    }
    std::error_code ec;
    std::string abs = std::filesystem::absolute(source_dir, ec).string();
    if (ec || !std::filesystem::is_directory(abs, ec)) {
      st = NotFoundError("'{}' is not a directory", source_dir);
      break;
    }
    r = iso->iso_tree_add_dir_rec(image, iso->iso_image_get_root(image), abs.c_str());
    if (r < 0) {
      st = IsoError(r, fmt::format("adding '{}'", source_dir));
      break;
    }
    r = iso->iso_write_opts_new(&wopts, 0);
    if (r < 0) {
      st = IsoError(r, "iso write options");
      break;
    }
    iso->iso_write_opts_set_rockridge(wopts, o.rock_ridge ? 1 : 0);
    iso->iso_write_opts_set_joliet(wopts, o.joliet ? 1 : 0);
    r = iso->iso_image_create_burn_source(image, wopts, &src);
    if (r < 0) {
      st = IsoError(r, "iso writer");
      break;
    }
    auto out = HostFile::Create(out_path);
    if (!out.ok()) {
      st = out.status();
      break;
    }
    unsigned char buf[2048];
    uint64_t pos = 0;
    for (;;) {
      int n = src->read_xt(src, buf, sizeof(buf));
      if (n < 0) {
        st = IoError("writing '{}': libisofs failed", out_path);
        break;
      }
      if (n == 0) break;
      st = out->WriteAll(pos, std::span<const uint8_t>(buf, static_cast<size_t>(n)));
      if (!st.ok()) break;
      pos += static_cast<uint64_t>(n);
      if (n < static_cast<int>(sizeof(buf))) break;
    }
    if (st.ok()) st = out->Sync();
  } while (false);
  if (src != nullptr) {
    src->free_data(src);
    free(src);
  }
  if (wopts != nullptr) iso->iso_write_opts_free(wopts);
  if (image != nullptr) iso->iso_image_unref(image);
  iso->iso_finish();
  return st;
}

}  // namespace skiff::image
