// Names of the provider interface's enums (provider.hpp).
#include "babysea/provider.hpp"

namespace babysea {

std::string_view delivery_mode_name(DeliveryMode m) noexcept {
  switch (m) {
    case DeliveryMode::webhook: return "webhook";
    case DeliveryMode::polling: return "polling";
    case DeliveryMode::synchronous: return "synchronous";
  }
  return "unknown";
}

std::string_view provider_status_name(ProviderStatusKind k) noexcept {
  switch (k) {
    case ProviderStatusKind::queued: return "queued";
    case ProviderStatusKind::running: return "running";
    case ProviderStatusKind::succeeded: return "succeeded";
    case ProviderStatusKind::failed: return "failed";
    case ProviderStatusKind::canceled: return "canceled";
    case ProviderStatusKind::lost: return "lost";
  }
  return "unknown";
}

bool is_final(ProviderStatusKind k) noexcept {
  return k != ProviderStatusKind::queued && k != ProviderStatusKind::running;
}

}  // namespace babysea
