// Service: virtual networks, delegated to the NetworkDriver (src/daemon/network/).
#include "daemon/network/driver.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

std::vector<NetworkSummary> Service::ListNetworks() { return net_->List(); }

Result<NetworkSummary> Service::DefineNetwork(const std::string& xml, const std::string& source) {
  return net_->Define(xml, source);
}

Result<NetworkSummary> Service::CreateNetwork(const std::string& xml, const std::string& source) {
  return net_->Create(xml, source);
}

Result<NetworkSummary> Service::GetNetwork(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(NetworkDetails d, net_->Get(ref));
  return d.summary;
}

Result<NetworkDetails> Service::NetworkInfo(const std::string& ref) { return net_->Get(ref); }

Result<std::string> Service::NetworkXml(const std::string& ref, bool inactive) {
  return net_->Xml(ref, inactive);
}

Status Service::UndefineNetwork(const std::string& ref) { return net_->Undefine(ref); }

Status Service::SetNetworkAutostart(const std::string& ref, bool enabled) {
  return net_->SetAutostart(ref, enabled);
}

Result<NetworkSummary> Service::StartNetwork(const std::string& ref) { return net_->Start(ref); }

Status Service::DestroyNetwork(const std::string& ref) { return net_->Destroy(ref); }

Result<std::vector<NetworkLease>> Service::NetworkLeases(const std::string& ref,
                                                         const std::string& mac) {
  return net_->Leases(ref, mac);
}

}  // namespace skiff::daemon
