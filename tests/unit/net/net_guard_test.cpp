// SSRF guard: spec categories (security.md §3.6, §4.5) through a fake resolver
// and a recording transport. Every case asserts that no connection was
// attempted to a denied address (and none at all on a refusal).
#include <catch2/catch.hpp>

#include <map>
#include <mutex>

#include "babysea/net_guard.hpp"
#include "babysea/schema.hpp"
#include "babysea/transport.hpp"

using namespace babysea;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a.has_value());
  return *a;
}

// DNS answers per host; a host with several answer lists answers them in turn
// (rebinding), repeating the last one.
class FakeResolver final : public Resolver {
 public:
  std::map<std::string, std::vector<std::vector<IpAddress>>> answers;
  std::map<std::string, int> lookups;
  Result<std::vector<IpAddress>> resolve(std::string_view host) override {
    std::lock_guard<std::mutex> lock(mu_);
    int n = lookups[std::string(host)]++;
    auto it = answers.find(std::string(host));
    if (it == answers.end() || it->second.empty()) return std::vector<IpAddress>{};
    auto idx = std::min<std::size_t>(static_cast<std::size_t>(n), it->second.size() - 1);
    return it->second[idx];
  }

 private:
  std::mutex mu_;
};

// Records every connect; answers from a script keyed by request target URL.
class RecordingTransport final : public Transport {
 public:
  struct Call {
    std::string url;
    ConnectTarget target;
  };
  std::vector<Call> calls;
  std::map<std::string, HttpResponse> script;  // url -> response (default 200)
  void async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) override {
    calls.push_back({request.url, target});
    auto it = script.find(request.url);
    if (it != script.end()) return done(it->second);
    HttpResponse r;
    r.status = 200;
    done(r);
  }
};

HttpResponse redirect_to(std::string location, int status = 302) {
  HttpResponse r;
  r.status = status;
  r.headers.push_back({"Location", std::move(location)});
  return r;
}

struct World {
  FakeResolver dns;
  RecordingTransport net;
  NetGuardOptions options;
  World() {
    dns.answers["public.test"] = {{ip("93.184.216.34")}};
    dns.answers["public.test."] = {{ip("93.184.216.34")}};
    dns.answers["public6.test"] = {{ip("2606:4700::1111")}};
    dns.answers["dual.test"] = {{ip("93.184.216.34"), ip("2606:4700::1111")}};
    dns.answers["a.test"] = {{ip("10.0.0.5")}};
    dns.answers["b.test"] = {{ip("93.184.216.34"), ip("10.0.0.5")}};
    dns.answers["b6.test"] = {{ip("2606:4700::1111"), ip("::1")}};
    dns.answers["c.test"] = {};
    dns.answers["metadata.google.internal"] = {{ip("169.254.169.254")}};
    dns.answers["localhost.test"] = {{ip("127.0.0.1")}};
    dns.answers["v6loop.test"] = {{ip("::1")}};
    dns.answers["mapped.test"] = {{ip("::ffff:192.168.0.1")}};
    dns.answers["nat64.test"] = {{ip("64:ff9b::a00:1")}};
    dns.answers["cgnat.test"] = {{ip("100.64.0.1")}};
    dns.answers["ula.test"] = {{ip("fd12:3456::1")}};
    dns.answers["teredo.test"] = {{ip("2001:0:4136:e378::1")}};
    dns.answers["sixtofour.test"] = {{ip("2002:a00:1::1")}};
    dns.answers["imds6.test"] = {{ip("fd00:ec2::254")}};
    dns.answers["r.test"] = {{ip("93.184.216.34")}, {ip("127.0.0.1")}};  // rebinding
  }
};

// Runs one URL through fetch_guarded; checks the refusal code (ok = Code::ok)
// and that nothing denied was ever dialed.
void run_case(World& w, const std::string& url, Code expect, const std::string& reason = "", int calls = -1) {
  INFO("url: " << url);
  NetGuard guard(w.dns, w.options);
  HttpRequest req;
  req.url = url;
  auto r = fetch_guarded(guard, w.net, req, 5);
  CHECK(r.code() == expect);
  if (!reason.empty() && !r.ok()) {
    REQUIRE_FALSE(r.status().issues().empty());
    CHECK(r.status().issues().front().code == reason);
  }
  for (const auto& c : w.net.calls) CHECK(guard.address_denied(c.target.address).empty());
  if (calls >= 0)
    CHECK(w.net.calls.size() == static_cast<std::size_t>(calls));
  else if (expect != Code::ok)
    CHECK(w.net.calls.empty());
}

}  // namespace

TEST_CASE("ssrf: denied IPv4 literals (private, loopback, link-local, CGNAT, metadata, special)") {
  const char* urls[] = {
      "http://127.0.0.1/",         "http://127.255.255.254/",  "http://10.0.0.1/",
      "http://172.16.0.1/",        "http://172.31.255.255/",   "http://192.168.1.1/",
      "http://169.254.169.254/latest/meta-data/", "http://169.254.1.1/", "http://100.64.0.1/",
      "http://100.127.255.254/",   "http://100.100.100.200/",  "http://192.0.0.192/",
      "http://0.0.0.0/",           "http://255.255.255.255/",  "http://224.0.0.1/",
      "http://239.255.255.250/",   "http://240.0.0.1/",        "http://192.0.2.1/",
      "http://198.51.100.7/",      "http://203.0.113.9/",      "http://198.18.0.1/",
      "http://192.88.99.1/",       "http://0.1.2.3/"};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
  }
}

TEST_CASE("ssrf: the reason names the range") {
  std::pair<const char*, const char*> cases[] = {
      {"http://169.254.169.254/", "metadata"}, {"http://100.100.100.200/", "metadata"},
      {"http://192.0.0.192/", "metadata"},     {"http://[fd00:ec2::254]/", "metadata"},
      {"http://127.0.0.1/", "loopback"},       {"http://10.1.2.3/", "private"},
      {"http://100.64.0.1/", "cgnat"},         {"http://[fe80::1]/", "link_local"},
      {"http://[fc00::1]/", "ula"},            {"http://[64:ff9b::7f00:1]/", "nat64"},
      {"http://[2002:7f00:1::1]/", "6to4"},    {"http://[2001::1]/", "teredo"},
      {"http://[2001:db8::1]/", "documentation"}, {"http://[ff02::1]/", "multicast"},
      {"http://[::127.0.0.1]/", "ipv4_compatible"}, {"http://255.255.255.255/", "broadcast"}};
  for (auto [u, reason] : cases) {
    World w;
    run_case(w, u, Code::url_forbidden, reason);
  }
}

TEST_CASE("ssrf: denied IPv6 literals, including mapped and compatible IPv4 forms") {
  const char* urls[] = {
      "http://[::1]/",          "http://[::]/",             "http://[::ffff:127.0.0.1]/",
      "http://[::ffff:10.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:7f00:1]/",
      "http://[::127.0.0.1]/",  "http://[fd00:ec2::254]/",  "http://[fc00::1]/",
      "http://[fe80::1]/",      "http://[ff02::1]/",        "http://[64:ff9b::7f00:1]/",
      "http://[64:ff9b:1::1]/", "http://[2002:7f00:1::1]/", "http://[2001::1]/",
      "http://[2001:db8::1]/",  "http://[100::1]/",         "http://[2001:10::1]/",
      "http://[2001:20::1]/",   "http://[fec0::1]/",        "http://[4000::1]/"};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
  }
}

TEST_CASE("ssrf: non-canonical numeric hosts are refused outright (never resolved)") {
  const char* urls[] = {"http://2130706433/",   "http://0x7f000001/", "http://0x7f.1/",
                        "http://0177.0.0.1/",   "http://017700000001/", "http://127.1/",
                        "http://012.0.0.1/",    "http://1.2.3.04/",   "http://%31%32%37.0.0.1/",
                        "http://127.0.0.1.1/",  "http://0x7F.0.0.1/"};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
    CHECK(w.dns.lookups.empty());
  }
}

TEST_CASE("ssrf: schemes other than http(s) and scheme-relative URLs") {
  const char* urls[] = {"file:///etc/passwd", "gopher://public.test/", "ftp://public.test/",
                        "dict://public.test:11211/", "data:image/png;base64,AAAA", "javascript:alert(1)",
                        "//public.test/path", "ws://public.test/", "/relative/path", ""};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
  }
  World w;
  run_case(w, "HTTPS://PUBLIC.TEST/", Code::ok);  // scheme and host case are ignored
  REQUIRE(w.net.calls.size() == 1);
  CHECK(w.net.calls[0].url == "https://public.test/");
}

TEST_CASE("ssrf: parser confusion, userinfo, zone ids, CR/LF and bad characters") {
  const char* urls[] = {"http://good.example@127.0.0.1/",      "http://127.0.0.1#@good.example/",
                        "http://good.example\\@127.0.0.1/",    "http://127.0.0.1:80\\@good.example/",
                        "http://[::1]@good.example/",          "http://user:pass@public.test/",
                        "http://@public.test/",                "http://[fe80::1%25eth0]/",
                        "http://[fe80::1%eth0]/",              "http://public.test/\r\nX-Injected: 1",
                        "http://public.test/\nfoo",            "http://public.test/ x",
                        "http://pub\x01lic.test/",             "http://public.test\t/",
                        "http://public_test.example/",         "http://xn--.test\xc3\xa9/"};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
  }
  World w;
  w.options.max_url_bytes = 64;
  run_case(w, "http://public.test/" + std::string(100, 'a'), Code::url_forbidden, "too_long");
}

TEST_CASE("ssrf: port allow-list") {
  const char* urls[] = {"http://public.test:22/", "http://public.test:6379/", "https://public.test:8443/",
                        "http://public.test:0/",  "http://public.test:080/",  "http://public.test:65536/",
                        "http://public.test:/"};
  for (const char* u : urls) {
    World w;
    run_case(w, u, Code::url_forbidden);
  }
  World w;
  w.options.allowed_ports = {443};
  run_case(w, "http://public.test/", Code::url_forbidden, "port");
  World w2;
  run_case(w2, "http://public.test:443/", Code::ok);
}

TEST_CASE("ssrf: DNS answers are classified one by one (SSRF-06)") {
  std::pair<const char*, Code> cases[] = {
      {"http://a.test/", Code::url_forbidden},         {"http://b.test/", Code::url_forbidden},
      {"http://b6.test/", Code::url_forbidden},        {"http://c.test/", Code::invalid_request},
      {"http://metadata.google.internal/", Code::url_forbidden}, {"http://localhost.test/", Code::url_forbidden},
      {"http://v6loop.test/", Code::url_forbidden},    {"http://mapped.test/", Code::url_forbidden},
      {"http://nat64.test/", Code::url_forbidden},     {"http://cgnat.test/", Code::url_forbidden},
      {"http://ula.test/", Code::url_forbidden},       {"http://teredo.test/", Code::url_forbidden},
      {"http://sixtofour.test/", Code::url_forbidden}, {"http://imds6.test/", Code::url_forbidden},
      {"http://unknown.test/", Code::invalid_request}};
  for (auto [u, code] : cases) {
    World w;
    run_case(w, u, code);
    CHECK(w.net.calls.empty());
  }
  World w;
  run_case(w, "http://b.test/", Code::url_forbidden, "mixed_answer");
}

TEST_CASE("ssrf: public addresses are allowed and pinned; Host stays the name") {
  std::pair<const char*, const char*> cases[] = {
      {"http://93.184.216.34/", "93.184.216.34"},        {"http://public.test/path?q=1", "93.184.216.34"},
      {"https://public6.test/", "2606:4700::1111"},      {"https://[2606:4700::1111]/", "2606:4700::1111"},
      {"http://100.63.255.254/", "100.63.255.254"},      {"http://100.128.0.1/", "100.128.0.1"},
      {"http://[::ffff:93.184.216.34]/", "93.184.216.34"}, {"http://public.test./", "93.184.216.34"},
      {"http://dual.test/", "93.184.216.34"},            {"http://172.32.0.1/", "172.32.0.1"}};
  for (auto [u, addr] : cases) {
    World w;
    run_case(w, u, Code::ok);
    REQUIRE(w.net.calls.size() == 1);
    CHECK(w.net.calls[0].target.address.to_string() == addr);
  }
  World w;
  NetGuard guard(w.dns, w.options);
  auto g = guard.check("https://Public.Test/a/b?c=d#frag");
  REQUIRE(g.ok());
  CHECK(g->host == "public.test");
  CHECK(g->host_header == "public.test");
  CHECK(g->port == 443);
  CHECK(g->target == "/a/b?c=d");
  CHECK(g->address == ip("93.184.216.34"));
}

TEST_CASE("ssrf: DNS rebinding gets one lookup per hop and the dial goes to the validated IP (SSRF-07)") {
  World w;
  run_case(w, "http://r.test/x", Code::ok);
  CHECK(w.dns.lookups["r.test"] == 1);
  REQUIRE(w.net.calls.size() == 1);
  CHECK(w.net.calls[0].target.address == ip("93.184.216.34"));
  // The second check of the same name sees 127.0.0.1 and refuses it: no dial.
  run_case(w, "http://r.test/x", Code::url_forbidden, "loopback", 1);
}

TEST_CASE("ssrf: every redirect hop is re-checked (SSRF-08)") {
  std::pair<const char*, Code> cases[] = {
      {"http://127.0.0.1/", Code::url_forbidden},      {"http://[::1]/", Code::url_forbidden},
      {"file:///etc/passwd", Code::url_forbidden},     {"http://a.test/", Code::url_forbidden},
      {"http://169.254.169.254/latest/", Code::url_forbidden}, {"gopher://public.test/", Code::url_forbidden},
      {"http://2130706433/", Code::url_forbidden}};
  for (auto [loc, code] : cases) {
    World w;
    w.net.script["http://public.test/start"] = redirect_to(loc);
    run_case(w, "http://public.test/start", code, "", 1);  // only the public first hop was dialed
  }
  {  // a 12-hop chain stops at the cap
    World w;
    for (int i = 0; i < 12; ++i)
      w.net.script["http://public.test/" + std::to_string(i)] = redirect_to("/" + std::to_string(i + 1));
    HttpRequest req;
    req.url = "http://public.test/0";
    NetGuard guard(w.dns, w.options);
    auto r = fetch_guarded(guard, w.net, req, 10);
    CHECK(r.code() == Code::invalid_request);
    REQUIRE_FALSE(r.status().issues().empty());
    CHECK(r.status().issues().front().code == "too_many_redirects");
    CHECK(w.net.calls.size() == 6);  // the first request + 5 hops
  }
  {  // a loop
    World w;
    w.net.script["http://public.test/a"] = redirect_to("http://public.test/b", 301);
    w.net.script["http://public.test/b"] = redirect_to("http://public.test/a", 307);
    run_case(w, "http://public.test/a", Code::invalid_request, "too_many_redirects", 6);
  }
  {  // a relative redirect to a public host works, and each hop resolves once
    World w;
    w.net.script["http://public.test/a"] = redirect_to("https://dual.test/b?x=1", 308);
    run_case(w, "http://public.test/a", Code::ok);
    REQUIRE(w.net.calls.size() == 2);
    CHECK(w.net.calls[1].url == "https://dual.test/b?x=1");
    CHECK(w.dns.lookups["dual.test"] == 1);
  }
  {  // with redirects disabled the 3xx is the answer
    World w;
    w.net.script["http://public.test/a"] = redirect_to("http://127.0.0.1/");
    NetGuard guard(w.dns, w.options);
    HttpRequest req;
    req.url = "http://public.test/a";
    auto r = fetch_guarded(guard, w.net, req, 0);
    REQUIRE(r.ok());
    CHECK(r->status == 302);
    CHECK(w.net.calls.size() == 1);
  }
}

TEST_CASE("ssrf: allow overrides open exactly the listed networks") {
  World w;
  w.options.allow_overrides.push_back(*IpNetwork::parse("127.0.0.1/32"));
  w.options.allowed_ports = {80, 18080};
  run_case(w, "http://localhost.test:18080/", Code::ok);
  CHECK(w.net.calls.size() == 1);
  World w2;
  w2.options = w.options;
  run_case(w2, "http://127.0.0.2/", Code::url_forbidden);
  run_case(w2, "http://10.0.0.1/", Code::url_forbidden);
  CHECK_FALSE(IpNetwork::parse("10.0.0.0/33").has_value());
  CHECK_FALSE(IpNetwork::parse("10.0.0.0").has_value());
}

TEST_CASE("ssrf: IpAddress parsing is canonical only") {
  CHECK(IpAddress::parse("1.2.3.4").has_value());
  CHECK_FALSE(IpAddress::parse("01.2.3.4").has_value());
  CHECK_FALSE(IpAddress::parse("1.2.3").has_value());
  CHECK_FALSE(IpAddress::parse("0x1.2.3.4").has_value());
  CHECK_FALSE(IpAddress::parse("fe80::1%eth0").has_value());
  CHECK(IpAddress::parse("2001:DB8::1")->to_string() == "2001:db8::1");
}

TEST_CASE("ssrf: the system resolver answers numeric names and reports unknown ones as empty") {
  auto r = make_system_resolver();
  auto a = r->resolve("127.0.0.1");
  REQUIRE(a.ok());
  REQUIRE(a->size() == 1);
  CHECK(a->front() == IpAddress::v4(127, 0, 0, 1));
  NetGuard guard(*r);
  CHECK(guard.check("http://127.0.0.1/").code() == Code::url_forbidden);
}

TEST_CASE("ssrf: an authority must end at '/', '?', '#' or the end (no rootless path behind it)") {
  // Boost.URL alone reads these with host 8.8.8.8 / 127.0.0.1 and a rootless
  // path; a WHATWG parser (and the provider fetching the URL) sees another
  // host or refuses the port. The guard refuses them all before any lookup.
  const char* urls[] = {"http://8.8.8.8.localtest.me/",  "http://93.184.216.34.public.test/x",
                        "http://127.0.0.1:8o/",          "http://public.test:80a/",
                        "http://public.test:8080x",      "http://[2606:4700::1111]x/",
                        "http://[2606:4700::1111]:80x/", "https://public.test:443.evil.test/",
                        "http://public.test:-1/",        "http://public.test:+80/"};
  for (const char* u : urls) {
    World w;
    w.dns.answers["8.8.8.8.localtest.me"] = {{ip("127.0.0.1")}};
    run_case(w, u, Code::url_forbidden);
    CHECK(w.dns.lookups.empty());
  }
  World w;
  NetGuard guard(w.dns, w.options);
  auto r = guard.parse("http://8.8.8.8.localtest.me/");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().issues().front().code == "authority");
  // The well-formed neighbours still pass.
  for (const char* ok : {"http://public.test", "http://public.test?q=1", "http://public.test#frag",
                         "http://public.test:80", "http://8.8.8.8/", "http://[2606:4700::1111]:443/x"}) {
    INFO(ok);
    CHECK(guard.parse(ok).ok());
  }
}

TEST_CASE("ssrf: the checked URL is the normalized one that is used") {
  World w;
  NetGuard guard(w.dns, w.options);
  auto g = guard.check("HTTP://PUBLIC.TEST?x=1#f");
  REQUIRE(g.ok());
  CHECK(g->url == "http://public.test/?x=1#f");
  CHECK(g->host == "public.test");
  auto policy = make_url_policy(guard);
  auto n = policy->normalize("generation_input_file", "HTTPS://Public.Test:443/a.png");
  REQUIRE(n.ok());
  CHECK(*n == "https://public.test/a.png");
  CHECK(policy->normalize("generation_input_file", "http://8.8.8.8.localtest.me/").code() == Code::url_forbidden);
}

TEST_CASE("ssrf: the server itself is never a target (self endpoints)") {
  World w;
  w.dns.answers["self.test"] = {{ip("203.0.114.7")}};
  w.dns.answers["other.test"] = {{ip("198.51.99.1")}};
  w.options.allowed_ports = {80, 443, 8080, 8081};
  w.options.allow_overrides.push_back(*IpNetwork::parse("127.0.0.0/8"));
  w.options.allow_overrides.push_back(*IpNetwork::parse("::1/128"));
  w.options.self = {SelfEndpoint{ip("127.0.0.1"), 8080}, SelfEndpoint{ip("203.0.114.7"), 443}};
  w.options.local_addresses = {ip("203.0.114.7"), ip("198.51.99.1")};
  NetGuard guard(w.dns, w.options);
  auto reason = [&](const char* url) -> std::string {
    auto r = guard.check(url);
    return r.ok() ? "" : r.status().issues().front().code;
  };
  CHECK(reason("http://127.0.0.1:8080/hook") == "self");
  CHECK(reason("http://127.0.0.2:8080/hook") == "self");            // any loopback address of this host
  CHECK(reason("http://[::1]:8080/hook") == "self");
  CHECK(reason("http://[::ffff:127.0.0.1]:8080/hook") == "self");   // mapped form
  CHECK(reason("https://self.test/hook") == "self");                // a name resolving to our public address
  CHECK(reason("http://other.test:8080/hook") == "self");           // another address of this host, our port
  CHECK(reason("http://127.0.0.1:8081/hook").empty());              // loopback allowed, another port
  CHECK(reason("http://other.test:8081/hook").empty());
  CHECK(guard.endpoint_denied(ip("127.0.0.1"), 8080) == "self");
  CHECK(guard.endpoint_denied(ip("127.0.0.1"), 8081).empty());
  // An unspecified listen address stands for every address of this host.
  World w2;
  w2.options.allowed_ports = {9000};
  w2.options.allow_overrides.push_back(*IpNetwork::parse("127.0.0.0/8"));
  w2.options.self = {SelfEndpoint{IpAddress{}, 9000}};
  NetGuard any(w2.dns, w2.options);
  CHECK(any.check("http://127.0.0.1:9000/").status().issues().front().code == "self");
  for (const IpAddress& a : local_interface_addresses()) {
    INFO(a.to_string());
    CHECK(any.endpoint_denied(a, 9000) == "self");
  }
}
