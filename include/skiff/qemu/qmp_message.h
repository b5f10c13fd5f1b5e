// QMP wire messages: parsing one line from QEMU's monitor into a typed message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"

namespace skiff::qemu {

enum class QmpMessageKind { kGreeting, kReturn, kError, kEvent };

// One message from QEMU. Which fields are set depends on `kind`:
//  kGreeting: `value` is the "QMP" object ({"version": ..., "capabilities": [...]}).
//  kReturn:   `value` is the "return" value, `id` the echoed command id (null when absent).
//  kError:    `error_class` and `error_desc` from "error", `id` as for kReturn.
//  kEvent:    `event` is the name, `value` the "data" object ({} when absent), and
//             `seconds`/`microseconds` the timestamp (0 when absent).
struct QmpMessage {
  QmpMessageKind kind = QmpMessageKind::kReturn;
  nlohmann::json id;
  nlohmann::json value;
  std::string error_class;
  std::string error_desc;
  std::string event;
  int64_t seconds = 0;
  int64_t microseconds = 0;
};

// Parses one JSON object as QEMU sends it (one per line; surrounding whitespace
// is ignored). Never throws. Returns kCorruption naming the problem for text that
// is not JSON, not an object, or not one of the four message shapes.
Result<QmpMessage> ParseQmpMessage(std::string_view line);

// Serialises a command: {"execute": cmd, "arguments": args, "id": id} followed by
// "\r\n". `arguments` is left out when `args` is null or an empty object. Returns
// kInvalidArgument when `args` is neither null nor an object, or holds invalid UTF-8.
Result<std::string> FormatQmpCommand(const std::string& cmd, const nlohmann::json& args,
                                     const nlohmann::json& id);

// Turns a QMP error reply into a Status: DeviceNotFound -> kNotFound,
// CommandNotFound -> kUnsupported, DeviceNotActive -> kFailedPrecondition,
// KVMMissingCap -> kUnsupported, anything else (GenericError) -> kFailedPrecondition.
// The message is "qmp 'CMD': DESC (CLASS)".
Status QmpErrorToStatus(std::string_view cmd, std::string_view error_class,
                        std::string_view error_desc);

// The QEMU error class named in a Status made by QmpErrorToStatus ("GenericError"),
// or empty when the status does not come from a QMP error reply.
std::string QmpErrorClass(const Status& status);

}  // namespace skiff::qemu
