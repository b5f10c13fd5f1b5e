// ISO 9660 writer on libisofs (Rock Ridge and Joliet names), for seed images.
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

Status IsoError(int code, const std::string& what) {
  return IoError("{}: {}", what, iso_error_to_msg(code));
}

}  // namespace

Status CreateIso(const std::string& out_path, const std::string& source_dir, const IsoCreateOptions& o) {
  std::lock_guard lk(iso_mu);
  int r = iso_init();
  if (r < 0) return IsoError(r, "libisofs init");
  IsoImage* image = nullptr;
  IsoWriteOpts* wopts = nullptr;
  struct burn_source* src = nullptr;
  Status st;
  do {
    r = iso_image_new(o.volume_id.c_str(), &image);
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
    r = iso_tree_add_dir_rec(image, iso_image_get_root(image), abs.c_str());
    if (r < 0) {
      st = IsoError(r, fmt::format("adding '{}'", source_dir));
      break;
    }
    r = iso_write_opts_new(&wopts, 0);
    if (r < 0) {
      st = IsoError(r, "iso write options");
      break;
    }
    iso_write_opts_set_rockridge(wopts, o.rock_ridge ? 1 : 0);
    iso_write_opts_set_joliet(wopts, o.joliet ? 1 : 0);
    r = iso_image_create_burn_source(image, wopts, &src);
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
  if (wopts != nullptr) iso_write_opts_free(wopts);
  if (image != nullptr) iso_image_unref(image);
  iso_finish();
  return st;
}

}  // namespace skiff::image
