// guard_classify: reads one URL per line, hex-encoded (its exact bytes, NUL
// and newlines included), and prints one JSON
// line per URL with what NetGuard::parse made of it:
//   {"ok":true,"scheme":"http","host":"...","port":80,"url":"<normalized>"}
//   {"ok":false,"reason":"<issue code>"}
// The policy is opened wide (every port, every network) so that only the
// syntax decides: tests/unit/net/url_differential.js compares the host and
// port with what a WHATWG parser (Node's URL) sees for the same string.
#include <sodium.h>

#include <iostream>
#include <string>

#include "babysea/net_guard.hpp"
#include "json/json.hpp"

namespace {

class NoDns final : public babysea::Resolver {
 public:
  babysea::Result<std::vector<babysea::IpAddress>> resolve(std::string_view) override {
    return std::vector<babysea::IpAddress>{};
  }
};

}  // namespace

int main() {
  using namespace babysea;
  NoDns dns;
  NetGuardOptions o;
  o.allowed_ports.clear();
  for (int p = 1; p <= 65535; ++p) o.allowed_ports.push_back(static_cast<std::uint16_t>(p));
  o.allow_overrides = {*IpNetwork::parse("0.0.0.0/0"), *IpNetwork::parse("::/0")};
  o.max_url_bytes = 1 << 16;
  NetGuard guard(dns, o);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string url(line.size() / 2, '\0');
    std::size_t n = 0;
    if (sodium_hex2bin(reinterpret_cast<unsigned char*>(url.data()), url.size(), line.data(), line.size(), nullptr,
                       &n, nullptr) != 0 ||
        n != url.size()) {
      std::cerr << "guard_classify: expected one hex-encoded URL per line\n";
      return 2;
    }
    auto g = guard.parse(url);
    json::JsonWriter w;
    w.begin_object();
    if (g.ok()) {
      w.field("ok", true).field("scheme", g->scheme).field("host", g->host);
      w.field("port", static_cast<std::int64_t>(g->port)).field("url", g->url);
    } else {
      w.field("ok", false);
      w.field("reason", g.status().issues().empty() ? std::string(code_name(g.code()))
                                                    : g.status().issues().front().code);
    }
    w.end_object();
    std::cout << w.str() << '\n';
  }
  return 0;
}
