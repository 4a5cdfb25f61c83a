// The SSRF guard: URL policy, address classification, pinning.
#include "babysea/net_guard.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/url.hpp>
#include <cstring>

#include "babysea/schema.hpp"

namespace babysea {
namespace {

Status forbidden(std::string_view reason, std::string message) {
  return Status(Code::url_forbidden, message, {FieldIssue{"url", std::string(reason), message}});
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool prefix_match(const IpAddress& a, const std::uint8_t* net, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a.bytes.data(), net, static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  std::uint8_t mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
  return (a.bytes[static_cast<std::size_t>(full)] & mask) == (net[full] & mask);
}

struct V4Rule {
  std::uint8_t net[4];
  int prefix;
  const char* reason;
};

// specs/security.md §3.6: the ssrf_filter IPv4 list (more specific first, so
// the reason names the best-known use: metadata before link-local, ...).
constexpr V4Rule kV4Rules[] = {
    {{169, 254, 169, 254}, 32, "metadata"},
    {{100, 100, 100, 200}, 32, "metadata"},
    {{192, 0, 0, 192}, 32, "metadata"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{0, 0, 0, 0}, 32, "unspecified"},
    {{0, 0, 0, 0}, 8, "this_network"},
    {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "cgnat"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link_local"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "ietf_protocol"},
    {{192, 0, 2, 0}, 24, "documentation"},
    {{192, 88, 99, 0}, 24, "6to4_relay"},
    {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},
    {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

std::string_view v4_reason(const IpAddress& a) {
  for (const auto& r : kV4Rules)
    if (prefix_match(a, r.net, r.prefix)) return r.reason;
  return {};
}

struct V6Rule {
  std::uint8_t net[16];
  int prefix;
  const char* reason;
};

// Denied inside 2000::/3 (everything outside 2000::/3 is denied anyway; the
// rules below name the reason for the well-known ones).
constexpr V6Rule kV6Rules[] = {
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0x20, 0x01, 0x00, 0x10}, 28, "orchid"},
    {{0x20, 0x01, 0x00, 0x20}, 28, "orchid"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "teredo"},
    {{0x20, 0x02}, 16, "6to4"},
    // outside 2000::/3, named for clearer reasons
    {{0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54}, 128, "metadata"},
    {{0x00, 0x64, 0xff, 0x9b}, 96, "nat64"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "nat64"},
    {{0x01, 0x00}, 64, "discard_only"},
    {{0xfc}, 7, "ula"},
    {{0xfe, 0x80}, 10, "link_local"},
    {{0xfe, 0xc0}, 10, "site_local"},
    {{0xff}, 8, "multicast"},
};

}  // namespace

// ------------------------------------------------------------------ IpAddress

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (text.find(':') == std::string_view::npos) {
    // inet_pton(AF_INET) accepts only four decimal parts without leading zeros.
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
  }
  if (text.find('%') != std::string_view::npos) return std::nullopt;
  a.v6 = true;
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  return a;
}

IpAddress IpAddress::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress r;
  r.bytes[0] = a;
  r.bytes[1] = b;
  r.bytes[2] = c;
  r.bytes[3] = d;
  return r;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto base = IpAddress::parse(text.substr(0, slash));
  if (!base) return std::nullopt;
  std::string_view p = text.substr(slash + 1);
  if (p.empty() || p.size() > 3) return std::nullopt;
  int prefix = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    prefix = prefix * 10 + (c - '0');
  }
  if (prefix > (base->v6 ? 128 : 32)) return std::nullopt;
  return IpNetwork{*base, prefix};
}

bool IpNetwork::contains(const IpAddress& a) const {
  if (a.v6 != base.v6) return false;
  return prefix_match(a, base.bytes.data(), prefix);
}

std::string_view deny_reason(const IpAddress& a) {
  if (!a.v6) return v4_reason(a);
  const auto& b = a.bytes;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b.data(), kMapped, 12) == 0) {  // ::ffff:a.b.c.d → classify as IPv4
    IpAddress v4 = IpAddress::v4(b[12], b[13], b[14], b[15]);
    return v4_reason(v4);
  }
  static constexpr std::uint8_t kZero[16] = {};
  if (std::memcmp(b.data(), kZero, 15) == 0) return b[15] == 1 ? "loopback" : "unspecified";
  if (std::memcmp(b.data(), kZero, 12) == 0) return "ipv4_compatible";
  for (const auto& r : kV6Rules)
    if (prefix_match(a, r.net, r.prefix)) return r.reason;
  if ((b[0] & 0xE0) != 0x20) return "not_global_unicast";  // outside 2000::/3 (incl. ::/8)
  return {};
}

// ------------------------------------------------------------------ resolver

namespace {

class SystemResolver final : public Resolver {
 public:
  Result<std::vector<IpAddress>> resolve(std::string_view host) override {
    std::string name(host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(name.c_str(), nullptr, &hints, &res);
    std::vector<IpAddress> out;
    if (rc == EAI_NONAME || rc == EAI_NODATA) return out;
    if (rc != 0) return Status(Code::unavailable, std::string("DNS resolution failed: ") + gai_strerror(rc));
    for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
      IpAddress a;
      if (p->ai_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(p->ai_addr);
        std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
      } else if (p->ai_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(p->ai_addr);
        a.v6 = true;
        std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
      } else {
        continue;
      }
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
    }
    freeaddrinfo(res);
    return out;
  }
};

// ::ffff:a.b.c.d → a.b.c.d: the socket uses the address that was classified.
IpAddress unwrap_mapped(const IpAddress& a) {
  if (!a.v6 || a.bytes[10] != 0xff || a.bytes[11] != 0xff) return a;
  for (int i = 0; i < 10; ++i)
    if (a.bytes[static_cast<std::size_t>(i)] != 0) return a;
  return IpAddress::v4(a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]);
}

// Whether a reg-name would be taken as a number by inet_aton-style parsers
// (WHATWG "ends in a number"): its last label is all decimal digits or 0x-hex.
bool numeric_looking(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  auto dot = host.rfind('.');
  std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  if (std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; })) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    return std::all_of(last.begin() + 2, last.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  }
  return false;
}

class GuardUrlPolicy final : public UrlPolicy {
 public:
  explicit GuardUrlPolicy(const NetGuard& g) : guard_(g) {}
  Status check(std::string_view, std::string_view url) const override {
    auto r = guard_.check(url);
    if (r.ok()) return {};
    return r.status();
  }
  Result<std::string> normalize(std::string_view, std::string_view url) const override {
    BABYSEA_ASSIGN_OR_RETURN(GuardedUrl g, guard_.check(url));
    return std::move(g.url);
  }

 private:
  const NetGuard& guard_;
};

}  // namespace

std::unique_ptr<Resolver> make_system_resolver() { return std::make_unique<SystemResolver>(); }

std::vector<IpAddress> local_interface_addresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    IpAddress a;
    if (i->ifa_addr->sa_family == AF_INET) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      a.v6 = true;
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeifaddrs(list);
  return out;
}

std::unique_ptr<UrlPolicy> make_url_policy(const NetGuard& guard) {
  return std::make_unique<GuardUrlPolicy>(guard);
}

// ------------------------------------------------------------------ NetGuard

NetGuard::NetGuard(Resolver& resolver, NetGuardOptions options)
    : resolver_(resolver), options_(std::move(options)) {
  if (!options_.self.empty() && options_.local_addresses.empty())
    options_.local_addresses = local_interface_addresses();
  for (auto& a : options_.local_addresses) a = unwrap_mapped(a);
}

std::string_view NetGuard::endpoint_denied(const IpAddress& address, std::uint16_t port) const {
  if (!options_.self.empty()) {
    const IpAddress a = unwrap_mapped(address);
    const std::string_view kind = deny_reason(a);
    const bool this_host = kind == "loopback" || kind == "unspecified" || kind == "this_network" ||
                           std::find(options_.local_addresses.begin(), options_.local_addresses.end(), a) !=
                               options_.local_addresses.end();
    for (const SelfEndpoint& e : options_.self)
      if (e.port == port && (this_host || a == unwrap_mapped(e.address))) return "self";
  }
  return address_denied(address);
}

std::string_view NetGuard::address_denied(const IpAddress& address) const {
  std::string_view reason = deny_reason(address);
  if (reason.empty()) return {};
  for (const auto& n : options_.allow_overrides)
    if (n.contains(address)) return {};
  // An IPv4-mapped address may be allowed through its IPv4 override.
  if (address.v6 && address.bytes[10] == 0xff && address.bytes[11] == 0xff &&
      std::all_of(address.bytes.begin(), address.bytes.begin() + 10, [](std::uint8_t b) { return b == 0; })) {
    IpAddress v4 = IpAddress::v4(address.bytes[12], address.bytes[13], address.bytes[14], address.bytes[15]);
    for (const auto& n : options_.allow_overrides)
      if (n.contains(v4)) return {};
  }
  return reason;
}

Result<GuardedUrl> NetGuard::parse(std::string_view url) const {
  if (url.size() > options_.max_url_bytes) return forbidden("too_long", "URL is longer than the allowed maximum");
  for (unsigned char c : url) {
    if (c == '\r' || c == '\n') return forbidden("crlf", "URL contains CR or LF");
    if (c < 0x21 || c >= 0x7f) return forbidden("invalid_character", "URL contains a control, space or non-ASCII byte");
    if (c == '\\') return forbidden("invalid_character", "URL contains a backslash");
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return forbidden("unparsable", "URL is not an absolute URI");
  boost::urls::url_view u = *parsed;
  std::string scheme;
  for (char c : u.scheme()) scheme.push_back(lower(c));
  if (scheme != "http" && scheme != "https") return forbidden("scheme", "only http and https URLs are allowed");
  if (scheme == "http" && !options_.allow_http) return forbidden("scheme", "plain http is not allowed");
  if (!u.has_authority()) return forbidden("no_host", "URL has no host");
  if (u.has_userinfo()) return forbidden("userinfo", "URLs with user information are not allowed");
  // RFC 3986 and WHATWG both end the authority at the first '/', '?' or '#'.
  // Boost.URL also accepts an authority followed by a rootless path
  // ("http://8.8.8.8.evil.test/" as host 8.8.8.8 and path ".evil.test/"),
  // which every other parser reads with another host: refuse those outright.
  {
    std::string_view rest = url.substr(u.scheme().size() + 1);
    if (rest.substr(0, 2) != "//") return forbidden("no_host", "URL has no authority");
    rest.remove_prefix(2);
    std::string_view raw_authority = rest.substr(0, rest.find_first_of("/?#"));
    std::string_view path = u.encoded_path();
    if (raw_authority != u.encoded_authority() || (!path.empty() && path.front() != '/'))
      return forbidden("authority", "URL authority must be followed by '/', '?', '#' or the end");
  }

  GuardedUrl g;
  g.scheme = scheme;
  const std::uint16_t default_port = scheme == "https" ? 443 : 80;
  g.port = default_port;
  if (u.has_port()) {
    std::string_view p = u.port();
    if (p.empty() || p.size() > 5 || (p.size() > 1 && p[0] == '0') ||
        !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return forbidden("port", "URL port is empty or not canonical decimal");
    unsigned v = 0;
    for (char c : p) v = v * 10 + static_cast<unsigned>(c - '0');
    if (v == 0 || v > 65535) return forbidden("port", "URL port is out of range");
    g.port = static_cast<std::uint16_t>(v);
  }
  if (std::find(options_.allowed_ports.begin(), options_.allowed_ports.end(), g.port) ==
      options_.allowed_ports.end())
    return forbidden("port", "URL port " + std::to_string(g.port) + " is not allowed");

  std::string_view host_text = u.encoded_host_address();
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4: {
      auto a = IpAddress::parse(host_text);
      if (!a) return forbidden("numeric_host", "IPv4 host is not canonical");
      g.host = a->to_string();
      g.address = *a;
      g.numeric_host = true;
      break;
    }
    case boost::urls::host_type::ipv6: {
      auto a = IpAddress::parse(host_text);
      if (!a) return forbidden("zone_id", "IPv6 host is not a plain address (zone ids are refused)");
      g.host = host_text;
      for (auto& c : g.host) c = lower(c);
      g.address = *a;
      g.numeric_host = true;
      break;
    }
    case boost::urls::host_type::name: {
      if (host_text.empty()) return forbidden("no_host", "URL has no host");
      if (host_text.find('%') != std::string_view::npos)
        return forbidden("encoded_host", "percent-encoded hosts are not allowed");
      for (char c : host_text) {
        char l = lower(c);
        if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '.'))
          return forbidden("invalid_host", "host contains characters outside letters, digits, '-' and '.'");
        g.host.push_back(l);
      }
      if (g.host.size() > 253 || g.host.front() == '.' || g.host.find("..") != std::string::npos)
        return forbidden("invalid_host", "host name is malformed");
      if (numeric_looking(g.host))
        return forbidden("numeric_host", "non-canonical numeric hosts are not allowed");
      // An IDNA A-label ("xn--...") is read through Punycode by WHATWG
      // parsers (and refused by them when it does not decode); without an IDNA
      // library here the guard cannot see the same name, so it refuses them.
      for (std::size_t at = 0; at != std::string::npos;) {
        if (g.host.compare(at, 4, "xn--") == 0)
          return forbidden("idn_host", "internationalized (xn--) host names are not allowed");
        at = g.host.find('.', at);
        if (at != std::string::npos) ++at;
      }
      break;
    }
    default:
      return forbidden("invalid_host", "URL host type is not allowed");
  }
  if (g.numeric_host) {
    // An IPv4-mapped literal connects over IPv4 to the unwrapped address.
    std::string_view reason = endpoint_denied(g.address, g.port);
    if (!reason.empty())
      return forbidden(reason, "address " + g.address.to_string() + " is not public (" + std::string(reason) + ")");
    g.resolved = {g.address};
    g.address = unwrap_mapped(g.address);
  }
  const bool brackets = u.host_type() == boost::urls::host_type::ipv6;
  g.host_header = brackets ? "[" + g.host + "]" : g.host;
  if (g.port != default_port) g.host_header += ":" + std::to_string(g.port);
  std::string_view t = u.encoded_target();
  g.target = t.empty() ? "/" : std::string(t);
  if (g.target.front() != '/') g.target.insert(g.target.begin(), '/');
  g.url = g.scheme + "://" + g.host_header + g.target;
  if (u.has_fragment()) {
    g.url += '#';
    g.url += u.encoded_fragment();
  }
  return g;
}

Result<GuardedUrl> NetGuard::check(std::string_view url) const {
  BABYSEA_ASSIGN_OR_RETURN(GuardedUrl g, parse(url));
  if (g.numeric_host) return g;
  auto resolved = resolver_.resolve(g.host);  // exactly one lookup per check
  if (!resolved.ok()) return resolved.status();
  if (resolved->empty())
    return Status(Code::invalid_request, "host does not resolve",
                  {FieldIssue{"url", "unresolvable", "host '" + g.host + "' does not resolve to any address"}});
  std::size_t denied = 0;
  std::string first_reason, first_addr;
  for (const auto& a : *resolved) {
    std::string_view reason = endpoint_denied(a, g.port);
    if (!reason.empty() && denied++ == 0) {
      first_reason = reason;
      first_addr = a.to_string();
    }
  }
  if (denied > 0) {
    if (denied < resolved->size())
      return forbidden("mixed_answer", "host resolves to a non-public address " + first_addr + " (" + first_reason +
                                           ") among public ones");
    return forbidden(first_reason, "host resolves to non-public address " + first_addr + " (" + first_reason + ")");
  }
  g.resolved = std::move(resolved).value();
  g.address = unwrap_mapped(g.resolved.front());
  return g;
}

}  // namespace babysea
