// The verbs that run without the daemon (image engine, offline XML checks, host
// probe). They live in the helper binary `skiff-offline` so that `skiff`, which
// runs the daemon verbs, loads none of their libraries (zlib, zstd, libisofs,
// pugixml, spdlog); `skiff VERB ...` execs the helper for them. Both binaries
// list them: skiff from this table, skiff-offline from its commands; a test checks
// that the two agree (tests/golden/cli/client_test.py).
#pragma once

namespace skiff::app {

struct OfflineVerb {
  const char* name;
  const char* help;
};

inline constexpr OfflineVerb kOfflineVerbs[] = {
    {"version", "show versions of skiff and QEMU, and whether KVM is usable"},
    {"img", "disk images: create, info, check, convert, ... (like qemu-img)"},
    {"validate", "check a domain/network/pool/volume/snapshot XML file offline"},
    {"domxml-to-native", "print the QEMU command line of a domain XML file"},
};

inline constexpr const char* kOfflineHelper = "skiff-offline";

}  // namespace skiff::app
