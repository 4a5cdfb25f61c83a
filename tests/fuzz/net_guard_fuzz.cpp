// Fuzz target: the SSRF guard's URL syntax (NetGuard::parse), policy opened
// wide so only syntax decides. Properties: never crashes; an accepted URL has
// a host of letters, digits, '-' and '.' (or an IP literal), a port in
// 1..65535, a target starting with '/', no byte outside visible ASCII in its
// normalized form; and the normalized URL is a fixed point (parsing it again
// gives the same URL, host and port), so what is checked is what is used.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/net_guard.hpp"

namespace {

class NoDns final : public babysea::Resolver {
 public:
  babysea::Result<std::vector<babysea::IpAddress>> resolve(std::string_view) override {
    return std::vector<babysea::IpAddress>{};
  }
};

const babysea::NetGuard& guard() {
  static NoDns dns;
  static const babysea::NetGuard g = [] {
    babysea::NetGuardOptions o;
    o.allowed_ports.clear();
    for (int p = 1; p <= 65535; ++p) o.allowed_ports.push_back(static_cast<std::uint16_t>(p));
    o.allow_overrides = {*babysea::IpNetwork::parse("0.0.0.0/0"), *babysea::IpNetwork::parse("::/0")};
    return babysea::NetGuard(dns, o);
  }();
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto g = guard().parse(in);
  if (!g.ok()) {
    if (g.code() != babysea::Code::url_forbidden || g.status().issues().empty()) std::abort();
    return 0;
  }
  if (g->host.empty() || g->port == 0 || g->target.empty() || g->target.front() != '/') std::abort();
  if (g->scheme != "http" && g->scheme != "https") std::abort();
  for (char c : g->host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
    if (!ok) std::abort();
  }
  for (unsigned char c : g->url)
    if (c < 0x21 || c >= 0x7f || c == '\\') std::abort();
  auto again = guard().parse(g->url);
  if (!again.ok() || again->url != g->url || again->host != g->host || again->port != g->port ||
      again->target != g->target)
    std::abort();
  return 0;
}
