// skiffd: the Skiff daemon. Flags -> modules -> run.
#include <cstdio>
#include <cstring>
#include <string>

#include "skiff/qemu/host.h"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-V") == 0) {
      std::printf("skiffd %s\n", SKIFF_VERSION);
      auto q = skiff::qemu::FindQemu();
      std::printf("QEMU: %s\n",
                  q.ok() ? (q->version + " (" + q->path + ")").c_str() : q.status().message().c_str());
      std::printf("KVM: %s\n", skiff::qemu::DescribeKvm(skiff::qemu::ProbeKvm()).c_str());
      return 0;
    }
  }
  std::fprintf(stderr, "error: skiffd: the daemon is not built yet (see issue 5)\n");
  return 1;
}
