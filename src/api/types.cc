// The checks of the API's requests that span more than one field or bound a value
// (the fields themselves are read by fields.cc).
#include "skiff/api/types.h"

namespace skiff::api {

Status SetVcpusRequest::Validate() const {
  if (count > kMaxVcpus) return InvalidArgumentError("vcpu count {} is too large", count);
  return Status::Ok();
}

Status PinVcpuRequest::Validate() const {
  if (vcpu > kMaxVcpu) return InvalidArgumentError("vcpu {} is too large", vcpu);
  return Status::Ok();
}

Status RunningOrPaused::Validate() const {
  if (paused && running) {
    return InvalidArgumentError("--running and --paused are mutually exclusive");
  }
  return Status::Ok();
}

std::optional<bool> RunningOrPaused::want_paused() const {
  if (paused || running) return paused;
  return std::nullopt;
}

Status DiagramQuery::Validate() const {
  if (!format.empty() && format != "text" && format != "svg") {
    return InvalidArgumentError("query parameter 'format' must be text or svg, not '{}'", format);
  }
  return Status::Ok();
}

Status CapabilitiesQuery::Validate() const {
  if (!format.empty() && format != "json" && format != "xml") {
    return InvalidArgumentError("query parameter 'format' must be json or xml, not '{}'", format);
  }
  return Status::Ok();
}

Status BuildPoolRequest::Validate() const {
  if (overwrite && no_overwrite) {
    return InvalidArgumentError("'overwrite' and 'no_overwrite' exclude each other");
  }
  return Status::Ok();
}

}  // namespace skiff::api
