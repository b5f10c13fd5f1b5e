// The verbs that run without the daemon (image engine, offline XML checks, host
// probe). They live in the helper binary `skiff-offline` so that `skiff`, which
// runs the daemon verbs, loads none of their libraries (zlib, zstd, libisofs,
// pugixml, spdlog); `skiff VERB ...` execs the helper for them. Both binaries
// list them: skiff from this table, skiff-offline from its commands; a test checks
// that the two agree (tests/golden/cli/client_test.py). `img` runs in its own,
// leaner helper `skiff-img` (image engine only, see img_main.cc), which starts in
// a fraction of skiff-offline's time; skiff-offline has `img` too.
#pragma once

namespace skiff::app {

inline constexpr const char* kOfflineHelper = "skiff-offline";
inline constexpr const char* kImgHelper = "skiff-img";

struct OfflineVerb {
  const char* name;
  const char* help;
  const char* helper;  // the binary `skiff` execs for it
};

inline constexpr OfflineVerb kOfflineVerbs[] = {
    {"version", "show versions of skiff and QEMU, and whether KVM is usable", kOfflineHelper},
    {"img", "disk images: create, info, check, convert, ... (like qemu-img)", kImgHelper},
    {"validate", "check a domain/network/pool/volume/snapshot XML file offline", kOfflineHelper},
    {"domxml-to-native", "print the QEMU command line of a domain XML file", kOfflineHelper},
};

}  // namespace skiff::app
