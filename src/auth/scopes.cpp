// Scopes, presets, and the account-boundary helpers of auth.hpp.
#include <array>
#include <utility>

#include "babysea/auth.hpp"

namespace babysea {
namespace {

constexpr std::array<std::pair<Scope, std::string_view>, 6> kScopes{{
    {Scope::generation_write, "generation:write"},
    {Scope::generation_read, "generation:read"},
    {Scope::generation_delete, "generation:delete"},
    {Scope::account_read, "account:read"},
    {Scope::health_read, "health:read"},
    {Scope::library_read, "library:read"},
}};

constexpr std::array<std::pair<std::string_view, ScopeSet>, 4> kPresets{{
    {"full_access", kFullAccess},
    {"generate_only", kGenerateOnly},
    {"read_only", kReadOnly},
    {"monitor_only", kMonitorOnly},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view scope_name(Scope scope) noexcept {
  for (const auto& [s, name] : kScopes)
    if (s == scope) return name;
  return "unknown";
}

Result<ScopeSet> parse_scopes(std::string_view text) {
  if (text.size() > 1024) return Status(Code::invalid_request, "scope list too long");
  ScopeSet out;
  std::string_view rest = text;
  while (true) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    bool known = false;
    for (const auto& [s, name] : kScopes)
      if (item == name) {
        out.add(s);
        known = true;
      }
    for (const auto& [name, set] : kPresets)
      if (item == name) {
        out = ScopeSet::from_bits(out.bits() | set.bits());
        known = true;
      }
    if (!known) return Status(Code::invalid_request, "unknown scope");
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (out.empty()) return Status(Code::invalid_request, "no scopes");
  return out;
}

std::string format_scopes(ScopeSet scopes) {
  std::string out;
  for (const auto& [s, name] : kScopes) {
    if (!scopes.has(s)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

Status require_scope(const Principal& principal, Scope scope) {
  if (principal.has(scope)) return {};
  return Status(Code::forbidden, "API key lacks scope " + std::string(scope_name(scope)));
}

Status resource_not_found(std::string_view kind) {
  return Status(Code::not_found, std::string(kind) + " not found");
}

Status check_owner(const Principal& principal, std::string_view owner_account, std::string_view kind) {
  if (!principal.account.empty() && principal.account == owner_account) return {};
  return resource_not_found(kind);
}

}  // namespace babysea
