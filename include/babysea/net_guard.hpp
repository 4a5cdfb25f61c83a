// babysea/net_guard.hpp — the SSRF guard: may this URL be fetched or called?
//
// `NetGuard` is a policy object applied to every user-supplied URL (media
// inputs, customer webhook endpoints) at registration and again right before
// each connection. `check(url)`:
//  1. parses the URL with Boost.URL (one parser) and refuses anything but
//     absolute http(s) URLs: other schemes, userinfo (even empty), zone ids,
//     percent-encoded or non-canonical numeric hosts (`2130706433`, `0x7f.1`,
//     `0177.0.0.1`, `127.1`), IDNA A-labels (`xn--`: WHATWG parsers decode
//     them, the guard cannot), CR/LF/control bytes, backslashes or spaces
//     anywhere, an authority not followed by `/`, `?`, `#` or the end (so
//     `http://8.8.8.8.evil.test/` or `http://127.0.0.1:8o/` can never be
//     read with a host or port other than the one a WHATWG parser sees),
//     ports that are not canonical decimal 1..65535 or not on the allow-list,
//     URLs above the length cap;
//  2. resolves the host exactly once through the `Resolver` (numeric hosts are
//     not resolved) and classifies **every** resolved address against the deny
//     list of specs/security.md §3.6 ("our rule set"); one denied address
//     refuses the whole URL (a mixed answer fails as a whole);
//  3. refuses an address that is this process itself (`self`: the server's
//     own listening endpoints; with loopback allowed, any loopback, unspecified
//     or interface address of this host on a listening port): reason "self";
//  4. returns a `GuardedUrl` whose `address` is the pinned address: the
//     transport connects to exactly that address (never resolving again) and
//     sends the original host as Host header and TLS SNI. `GuardedUrl::url`
//     is the normalized URL that was checked: callers store and forward it,
//     never the raw string.
// Redirect hops are re-checked one by one (`fetch_guarded` in transport.hpp).
//
// Refusals are `Code::url_forbidden` with one FieldIssue {field "url", code =
// the reason (e.g. "scheme", "userinfo", "numeric_host", "port", "private",
// "loopback", "metadata", "mixed_answer"...), message}. A host that resolves
// to nothing is `Code::invalid_request` (issue code "unresolvable"); a
// resolver failure is `Code::unavailable` (retryable).
//
// Ownership: a NetGuard borrows its Resolver, which must outlive it.
// Thread safety: NetGuard is immutable after construction and safe for
// concurrent use if its Resolver is (the default resolver is).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/status.hpp"

namespace babysea {

class UrlPolicy;  // schema.hpp

// An IPv4 or IPv6 address as raw bytes (IPv4 in the first 4 bytes).
// Value type; safe to copy between threads.
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  // Canonical numeric text only: dotted decimal IPv4 with exactly four parts
  // and no leading zeros, or an IPv6 address (no zone id, no brackets).
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
  // "1.2.3.4" or RFC 5952 IPv6 text ("2001:db8::1").
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

// A CIDR block, e.g. 127.0.0.1/32 (used for explicit allow overrides).
struct IpNetwork {
  IpAddress base;
  int prefix = 0;
  // "10.0.0.0/8", "::1/128"; nullopt when malformed.
  static std::optional<IpNetwork> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
};

// Why an address is denied ("private", "loopback", "link_local", "cgnat",
// "metadata", "documentation", "benchmarking", "multicast", "reserved",
// "broadcast", "unspecified", "this_network", "ula", "nat64", "6to4",
// "teredo", "ipv4_compatible", "not_global_unicast", ...); empty when the
// address is public. IPv4-mapped IPv6 (::ffff:a.b.c.d) is unwrapped first and
// classified as IPv4. Pure function; thread-safe.
std::string_view deny_reason(const IpAddress& address);

// DNS seam. Implementations return every address the name resolves to
// (A and AAAA), in any order; an empty vector means "no address".
// Codes: unavailable (resolver failure, retryable). Must be safe for
// concurrent use.
class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual Result<std::vector<IpAddress>> resolve(std::string_view host) = 0;
};

// The system resolver (getaddrinfo, blocking, no caching). Thread-safe.
std::unique_ptr<Resolver> make_system_resolver();

// One endpoint this process listens on. An unspecified address (0.0.0.0 or
// ::) stands for every address of this host.
struct SelfEndpoint {
  IpAddress address;
  std::uint16_t port = 0;
};

// Addresses of this host's network interfaces (getifaddrs), for the `self`
// rule; empty when they cannot be read.
std::vector<IpAddress> local_interface_addresses();

struct NetGuardOptions {
  // Ports a URL may name (explicitly or by its scheme's default).
  std::vector<std::uint16_t> allowed_ports{80, 443};
  // Whether plain http is allowed (https always is).
  bool allow_http = true;
  // URLs longer than this are refused before parsing.
  std::size_t max_url_bytes = 2048;
  // Redirect hops followed by fetch_guarded at most (each re-checked).
  int max_redirects = 5;
  // Networks that are allowed even though the deny list covers them. Empty
  // by default; for tests (a loopback receiver) and private deployments only.
  std::vector<IpNetwork> allow_overrides;
  // Where this process listens (the reference server's address and port). A
  // URL whose address is one of these, or any address of this host (a
  // loopback, unspecified or `local_addresses` address) on one of these
  // ports, is refused with reason "self", whatever allow_overrides say.
  std::vector<SelfEndpoint> self;
  // This host's own addresses for the rule above (NetGuard fills them from
  // local_interface_addresses() when `self` is set and this is empty).
  std::vector<IpAddress> local_addresses;
};

// The outcome of a successful check: where to connect and what to send.
struct GuardedUrl {
  std::string url;          // the URL as checked (normalized scheme/host case)
  std::string scheme;       // "http" or "https"
  std::string host;         // host as written (lowercase), no brackets: SNI/certificate name
  std::string host_header;  // Host header value: host, plus ":port" when not the default
  std::uint16_t port = 0;   // effective port
  std::string target;       // origin-form request target ("/path?query"), never empty
  IpAddress address;        // the pinned address: connect here and only here
  std::vector<IpAddress> resolved;  // every address the host resolved to (all allowed)
  bool numeric_host = false;        // the host was an IP literal (no DNS lookup)
};

class NetGuard {
 public:
  NetGuard(Resolver& resolver, NetGuardOptions options = {});

  // Syntax and policy only (no DNS): returns the GuardedUrl without
  // `address`/`resolved` (for numeric hosts they are filled and classified).
  Result<GuardedUrl> parse(std::string_view url) const;
  // Full check: parse, resolve once, classify every address, pin one.
  Result<GuardedUrl> check(std::string_view url) const;
  // Whether an address may be connected to under this policy (deny list
  // minus allow_overrides); the reason when not.
  std::string_view address_denied(const IpAddress& address) const;
  // address_denied, plus the `self` rule for a connection to `port`.
  std::string_view endpoint_denied(const IpAddress& address, std::uint16_t port) const;

  const NetGuardOptions& options() const { return options_; }

 private:
  Resolver& resolver_;
  NetGuardOptions options_;
};

// Adapter for the normalizer (schema.hpp NormalizeOptions::url_policy): its
// check() runs NetGuard::check() and returns the refusal. Borrows `guard`.
std::unique_ptr<UrlPolicy> make_url_policy(const NetGuard& guard);

}  // namespace babysea
