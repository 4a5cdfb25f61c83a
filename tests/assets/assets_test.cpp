// Asset stores: the directory store against a real loopback HTTP server
// behind the SSRF guard (files, expired URLs, wrong types, size and time
// caps, redirects re-checked), atomic publication (no partial generation on
// failure, concurrent stores), safe generation ids; the memory store.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "babysea/assets.hpp"
#include "babysea/transport.hpp"
#include "support/testing.hpp"
#include "transport/loopback_server.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\0\0\0\rIHDR-png-body", 17);
const std::string kJpeg = std::string("\xff\xd8\xff\xe0", 4) + "JFIF-jpeg-body";
const std::string kWebp = std::string("RIFF\x20\0\0\0WEBPVP8 ", 16) + "webp-body";
const std::string kMp4 = std::string("\0\0\0\x18" "ftypisom", 12) + "mp4-body";

class MapResolver final : public Resolver {
 public:
  std::map<std::string, std::vector<IpAddress>> answers;
  Result<std::vector<IpAddress>> resolve(std::string_view host) override {
    auto it = answers.find(std::string(host));
    return it == answers.end() ? std::vector<IpAddress>{} : it->second;
  }
};

Reply file(std::string type, std::string body) {
  Reply r;
  if (!type.empty()) r.headers.push_back({"Content-Type", std::move(type)});
  r.body = std::move(body);
  return r;
}

Reply redirect(std::string location, std::chrono::milliseconds delay = 0ms) {
  Reply r;
  r.status = 302;
  r.headers.push_back({"Location", std::move(location)});
  r.delay = delay;
  return r;
}

Reply serve(const ServerRequest& req) {
  const std::string& p = req.target;
  if (p == "/img.png") return file("image/png", kPng);
  if (p == "/photo.jpg") return file("image/jpeg", kJpeg);
  if (p == "/clip") return file("video/mp4", kMp4);
  if (p == "/params") return file("IMAGE/PNG; charset=binary", kPng);
  if (p == "/expired") return [] { auto r = file("application/json", "{}"); r.status = 404; return r; }();
  if (p == "/gone") return [] { auto r = file("text/plain", "gone"); r.status = 410; return r; }();
  if (p == "/broken") return [] { auto r = file("text/plain", "oops"); r.status = 503; return r; }();
  if (p == "/page.html") return file("text/html", "<html><script>x</script></html>");
  if (p == "/liar.png") return file("image/png", "<html>not a png</html>");
  if (p == "/untyped") return file("", kPng);
  if (p == "/huge.png") return file("image/png", kPng + std::string(4096, 'z'));
  if (p == "/empty.png") return file("image/png", "");
  if (p == "/slow.png") {
    Reply r;
    r.action = Reply::Action::hang;
    return r;
  }
  if (p == "/to-private") return redirect("http://10.0.0.5/secret.png");
  if (p == "/to-metadata") return redirect("http://169.254.169.254/latest/meta-data/");
  if (p == "/to-internal-name") return redirect("http://internal.test/img.png");
  if (p == "/hop") return redirect("/img.png");
  if (p == "/loop") return redirect("/loop");
  if (p == "/chain1") return redirect("/chain2", 200ms);
  if (p == "/chain2") return redirect("/chain3", 200ms);
  if (p == "/chain3") return redirect("/img.png", 200ms);
  Reply r;
  r.status = 404;
  return r;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

ProviderOutput url_out(const std::string& url) {
  ProviderOutput o;
  o.url = url;
  return o;
}

ProviderOutput inline_out(std::string data, std::string type = "") {
  ProviderOutput o;
  o.data = std::move(data);
  o.content_type = std::move(type);
  return o;
}

bool has_issue(const Status& s, const std::string& code) {
  for (const auto& i : s.issues())
    if (i.code == code) return true;
  return false;
}

struct Rig {
  LoopbackServer server{serve};
  MapResolver dns;
  std::unique_ptr<NetGuard> guard;
  std::unique_ptr<Transport> transport = make_beast_transport();
  TempDir tmp;
  fs::path root = tmp.path() / "assets";
  DirectoryAssetOptions opts;
  std::unique_ptr<AssetStore> store;

  Rig() {
    dns.answers["cdn.test"] = {IpAddress::v4(127, 0, 0, 1)};
    dns.answers["internal.test"] = {IpAddress::v4(10, 1, 2, 3)};
    NetGuardOptions g;
    g.allowed_ports = {80, 443, server.port()};
    g.allow_overrides.push_back(*IpNetwork::parse("127.0.0.1/32"));  // the test server only
    guard = std::make_unique<NetGuard>(dns, g);
    opts.root = root;
    opts.public_base_url = "https://assets.example/v1/";
    opts.max_bytes_per_file = 1024;
    opts.fetch_timeout = 500ms;
    rebuild();
  }
  void rebuild() { store = make_directory_asset_store(opts, *guard, *transport); }
  std::string url(const std::string& path) const { return "http://cdn.test:" + std::to_string(server.port()) + path; }
};

}  // namespace

TEST_CASE("directory store: fetched and inline outputs land under root/<id>/<index>.<ext>") {
  Rig rig;
  auto r = rig.store->store("gen_01-A", {url_out(rig.url("/img.png")), url_out(rig.url("/photo.jpg")),
                                          url_out(rig.url("/clip")), inline_out(kWebp),
                                          inline_out(kPng, "image/png"), url_out(rig.url("/params"))});
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  const std::vector<std::string> want{"https://assets.example/v1/gen_01-A/0.png", "https://assets.example/v1/gen_01-A/1.jpg",
                                      "https://assets.example/v1/gen_01-A/2.mp4", "https://assets.example/v1/gen_01-A/3.webp",
                                      "https://assets.example/v1/gen_01-A/4.png", "https://assets.example/v1/gen_01-A/5.png"};
  CHECK(*r == want);
  const fs::path dir = rig.root / "gen_01-A";
  CHECK(read_file(dir / "0.png") == kPng);
  CHECK(read_file(dir / "1.jpg") == kJpeg);
  CHECK(read_file(dir / "2.mp4") == kMp4);
  CHECK(read_file(dir / "3.webp") == kWebp);
  CHECK(read_file(dir / "4.png") == kPng);
  CHECK(entries(dir).size() == 6);
  CHECK(entries(rig.root) == std::vector<std::string>{"gen_01-A"});  // no staging left behind
  auto got = rig.server.received();
  REQUIRE(got.size() == 4);
  CHECK(got[0].headers.at("host") == "cdn.test:" + std::to_string(rig.server.port()));
  CHECK(got[0].headers.at("accept").find("image/png") != std::string::npos);
  CHECK(rig.server.connections() == 1);  // the pooled transport reused one connection

  // Storing again replaces the files; remove counts and is idempotent.
  auto again = rig.store->store("gen_01-A", {url_out(rig.url("/hop"))});
  REQUIRE(again.ok());
  CHECK(*again == std::vector<std::string>{"https://assets.example/v1/gen_01-A/0.png"});
  CHECK(entries(dir) == std::vector<std::string>{"0.png"});
  CHECK(entries(rig.root) == std::vector<std::string>{"gen_01-A"});
  auto removed = rig.store->remove("gen_01-A");
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  CHECK_FALSE(fs::exists(dir));
  CHECK(entries(rig.root).empty());
  removed = rig.store->remove("gen_01-A");
  REQUIRE(removed.ok());
  CHECK(*removed == 0);
}

TEST_CASE("directory store: refusals, and no partial files for the generation") {
  Rig rig;
  struct Case {
    const char* path;
    Code code;
    const char* issue;  // "" when not checked
  };
  const std::vector<Case> cases{
      {"/expired", Code::unavailable, "expired"},
      {"/gone", Code::unavailable, "expired"},
      {"/broken", Code::unavailable, "http_error"},
      {"/page.html", Code::unsupported_media_type, "type_not_allowed"},
      {"/liar.png", Code::unsupported_media_type, "type_mismatch"},
      {"/untyped", Code::unsupported_media_type, "unknown_type"},
      {"/huge.png", Code::payload_too_large, ""},
      {"/empty.png", Code::unavailable, "empty"},
      {"/to-private", Code::url_forbidden, "private"},
      {"/to-metadata", Code::url_forbidden, ""},
      {"/to-internal-name", Code::url_forbidden, "private"},
      {"/loop", Code::unavailable, "too_many_redirects"},
      {"/missing", Code::unavailable, "expired"},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    // The first output is fine: it must not survive the second's failure.
    auto r = rig.store->store("gen_2", {url_out(rig.url("/img.png")), url_out(rig.url(c.path))});
    INFO(r.status().to_string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == c.code);
    if (*c.issue) CHECK(has_issue(r.status(), c.issue));
    CHECK(entries(rig.root).empty());
  }
  auto expired = rig.store->store("gen_2", {url_out(rig.url("/gone"))});
  CHECK(std::string(expired.status().message()).find("expired or failed (HTTP 410)") != std::string::npos);
  CHECK_FALSE(expired.status().retryable());
  CHECK(rig.store->store("gen_2", {url_out(rig.url("/broken"))}).status().retryable());

  // A failed re-store keeps what an earlier store published.
  REQUIRE(rig.store->store("gen_3", {inline_out(kJpeg)}).ok());
  CHECK(rig.store->store("gen_3", {inline_out(kPng), url_out(rig.url("/gone"))}).code() == Code::unavailable);
  CHECK(entries(rig.root / "gen_3") == std::vector<std::string>{"0.jpg"});
  CHECK(read_file(rig.root / "gen_3" / "0.jpg") == kJpeg);
  CHECK(entries(rig.root) == std::vector<std::string>{"gen_3"});
}

TEST_CASE("directory store: the guard decides before anything is sent") {
  Rig rig;
  for (const char* u : {"http://10.0.0.1/x.png", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
                        "http://internal.test/x.png", "ftp://cdn.test/x.png"}) {
    INFO(u);
    auto r = rig.store->store("gen_4", {url_out(u)});
    CHECK(r.code() == Code::url_forbidden);
  }
  // Another port of the allowed loopback address is not in the port list.
  CHECK(rig.store->store("gen_4", {url_out("http://cdn.test:1/img.png")}).code() == Code::url_forbidden);
  CHECK(rig.server.requests() == 0);
  CHECK(entries(rig.root).empty());
}

TEST_CASE("directory store: time caps hold per fetch and across a redirect chain") {
  Rig rig;
  SECTION("a server that never answers") {
    const auto start = Clock::now();
    auto r = rig.store->store("gen_5", {url_out(rig.url("/slow.png"))});
    const auto took = Clock::now() - start;
    CHECK(r.code() == Code::timeout);
    CHECK(took >= 450ms);
    CHECK(took < 2s);
  }
  SECTION("three slow hops, each inside the timeout, the chain over it") {
    const auto start = Clock::now();
    auto r = rig.store->store("gen_5", {url_out(rig.url("/chain1"))});
    const auto took = Clock::now() - start;
    CHECK(r.code() == Code::timeout);
    CHECK(took < 1500ms);
    rig.opts.fetch_timeout = 3s;
    rig.rebuild();
    auto ok = rig.store->store("gen_5", {url_out(rig.url("/chain1"))});
    INFO(ok.status().to_string());
    CHECK(ok.ok());
  }
  SECTION("max_redirects = 0: a redirect is an answer, not followed") {
    rig.opts.max_redirects = 0;
    rig.rebuild();
    auto r = rig.store->store("gen_5", {url_out(rig.url("/hop"))});
    CHECK(r.code() == Code::unavailable);
    CHECK(std::string(r.status().message()).find("HTTP 302") != std::string::npos);
    CHECK(rig.server.requests() == 1);
  }
  CHECK(entries(rig.root).size() <= 1);
  for (const auto& e : entries(rig.root)) CHECK(e == "gen_5");
}

TEST_CASE("directory store: generation ids must be safe path components") {
  Rig rig;
  for (std::string id : {std::string(""), std::string("."), std::string(".."), std::string("../x"), std::string("a/b"),
                         std::string("a\\b"), std::string("x y"), std::string(".hidden"), std::string("gen\n1"),
                         std::string("g\0n", 3), std::string(129, 'a'), std::string("%2e%2e")}) {
    INFO(id);
    auto r = rig.store->store(id, {inline_out(kPng)});
    CHECK(r.code() == Code::invalid_request);
    CHECK(has_issue(r.status(), "unsafe_path"));
    CHECK(rig.store->remove(id).code() == Code::invalid_request);
  }
  CHECK_FALSE(fs::exists(rig.root));
  CHECK(rig.store->store(std::string(128, 'a'), {inline_out(kPng)}).ok());
}

TEST_CASE("directory store: inline data is sniffed or checked against its type") {
  Rig rig;
  CHECK(rig.store->store("gen_6", {inline_out("plain text, no magic")}).code() == Code::unsupported_media_type);
  CHECK(rig.store->store("gen_6", {inline_out(kJpeg, "image/png")}).code() == Code::unsupported_media_type);
  CHECK(rig.store->store("gen_6", {inline_out("<svg/>", "image/svg+xml")}).code() == Code::unsupported_media_type);
  CHECK(rig.store->store("gen_6", {inline_out(kPng + std::string(2000, 'p'))}).code() == Code::payload_too_large);
  CHECK(rig.store->store("gen_6", {ProviderOutput{}}).code() == Code::invalid_request);
  CHECK(entries(rig.root).empty());
  auto r = rig.store->store("gen_6", {inline_out(kMp4), inline_out(kJpeg, "image/jpeg; q=1")});
  REQUIRE(r.ok());
  CHECK(entries(rig.root / "gen_6") == std::vector<std::string>{"0.mp4", "1.jpg"});
}

TEST_CASE("directory store: concurrent stores of one generation publish one complete set") {
  Rig rig;
  std::vector<std::thread> threads;
  std::mutex mu;
  int ok = 0;
  for (int w = 0; w < 6; ++w) {
    threads.emplace_back([&, w] {
      const std::string tag = "writer" + std::to_string(w);
      for (int round = 0; round < 5; ++round) {
        auto r = rig.store->store("gen_7", {inline_out(kPng + tag), inline_out(kJpeg + tag), inline_out(kWebp + tag)});
        std::lock_guard<std::mutex> lock(mu);
        ok += r.ok() ? 1 : 0;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(ok == 30);
  const fs::path dir = rig.root / "gen_7";
  REQUIRE(entries(dir) == std::vector<std::string>{"0.png", "1.jpg", "2.webp"});
  const std::string png = read_file(dir / "0.png");
  const std::string tag = png.substr(kPng.size());
  CHECK(read_file(dir / "1.jpg") == kJpeg + tag);
  CHECK(read_file(dir / "2.webp") == kWebp + tag);
  CHECK(entries(rig.root) == std::vector<std::string>{"gen_7"});
}

TEST_CASE("memory store: same rules, bytes kept in memory, URL outputs through the fetcher") {
  std::map<std::string, Result<std::string>> web{
      {"https://cdn.test/a.png", Result<std::string>(kPng)},
      {"https://cdn.test/expired.png", Result<std::string>(Status(Code::unavailable, "output URL expired (HTTP 404)"))}};
  std::vector<std::string> asked;
  auto store = make_memory_asset_store("https://assets.example/", [&](std::string_view url) -> Result<std::string> {
    asked.emplace_back(url);
    auto it = web.find(std::string(url));
    if (it == web.end()) return Status(Code::unavailable, "no such URL");
    return it->second;
  });
  auto r = store->store("gen_m", {url_out("https://cdn.test/a.png"), inline_out(kMp4)});
  REQUIRE(r.ok());
  CHECK(*r == std::vector<std::string>{"https://assets.example/gen_m/0.png", "https://assets.example/gen_m/1.mp4"});
  auto a = store->get("https://assets.example/gen_m/0.png");
  REQUIRE(a);
  CHECK(a->bytes == kPng);
  CHECK(a->content_type == "image/png");
  CHECK(store->get("https://assets.example/gen_m/1.mp4")->content_type == "video/mp4");
  CHECK_FALSE(store->get("https://assets.example/gen_m/2.png"));
  CHECK_FALSE(store->get("https://elsewhere.example/gen_m/0.png"));
  CHECK(store->file_count() == 2);

  // A failure keeps nothing of the call and leaves the earlier set alone.
  CHECK(store->store("gen_m", {inline_out(kJpeg), url_out("https://cdn.test/expired.png")}).code() == Code::unavailable);
  CHECK(store->store("gen_n", {inline_out("??")}).code() == Code::unsupported_media_type);
  CHECK(store->store("../gen", {inline_out(kPng)}).code() == Code::invalid_request);
  CHECK(store->file_count() == 2);
  CHECK(store->get("https://assets.example/gen_m/0.png")->bytes == kPng);
  CHECK(asked.size() == 2);

  auto n = store->remove("gen_m");
  REQUIRE(n.ok());
  CHECK(*n == 2);
  CHECK(*store->remove("gen_m") == 0);
  CHECK(store->file_count() == 0);

  auto no_fetch = make_memory_asset_store("https://assets.example");
  CHECK(no_fetch->store("gen_x", {url_out("https://cdn.test/a.png")}).code() == Code::unsupported);
  auto inl = no_fetch->store("gen_x", {inline_out(kPng)});
  REQUIRE(inl.ok());
  CHECK(inl->at(0) == "https://assets.example/gen_x/0.png");
}
