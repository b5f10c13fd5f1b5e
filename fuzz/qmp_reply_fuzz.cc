// Fuzzes the QMP reply/event parser with arbitrary bytes from a "QEMU", line by line
// as QmpClient splits them; also round-trips the parts a client reads.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "skiff/qemu/qmp_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t start = 0;
  while (start <= all.size()) {
    size_t nl = all.find('\n', start);
    std::string_view line = all.substr(start, nl == std::string_view::npos ? nl : nl - start);
    auto m = skiff::qemu::ParseQmpMessage(line);
    if (m.ok() && m->kind == skiff::qemu::QmpMessageKind::kError) {
      skiff::Status st = skiff::qemu::QmpErrorToStatus("fuzz", m->error_class, m->error_desc);
      (void)skiff::qemu::QmpErrorClass(st);
    }
    if (m.ok() && m->kind == skiff::qemu::QmpMessageKind::kEvent) {
      (void)skiff::qemu::FormatQmpCommand(m->event, m->value, m->id);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return 0;
}
