// Expiring signed asset URLs: AssetUrlSigner sign / verify (valid, invalid
// for every tampering and malformed parameter, expired), URLs that already
// carry a query, and the stores' client_url() (directory and memory) signing
// while store() keeps returning the plain URL.
#include <catch2/catch.hpp>

#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <optional>
#include <string>

#include "babysea/assets.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/transport.hpp"
#include "support/testing.hpp"

using namespace babysea;
using Check = AssetUrlSigner::Check;

namespace {

constexpr std::int64_t kNow = 1'700'000'000'123;  // unix ms

std::array<unsigned char, AssetUrlSigner::kKeyBytes> key_of(unsigned char fill) {
  std::array<unsigned char, AssetUrlSigner::kKeyBytes> k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<unsigned char>(fill + i);
  return k;
}

// What the server sees of a signed URL: the encoded path and both parameters.
struct Parts {
  std::string path;
  std::string expires;
  std::string signature;
  int expires_count = 0;
  int signature_count = 0;
  std::string query;
};

Parts parts(const std::string& url) {
  auto u = boost::urls::parse_uri_reference(url);
  REQUIRE(u);
  Parts p;
  p.path = std::string(u->encoded_path());
  p.query = std::string(u->encoded_query());
  for (auto param : u->params()) {
    if (param.key == AssetUrlSigner::kExpiresParam) {
      p.expires = param.value;
      ++p.expires_count;
    }
    if (param.key == AssetUrlSigner::kSignatureParam) {
      p.signature = param.value;
      ++p.signature_count;
    }
  }
  return p;
}

const std::string kPng = std::string("\x89PNG\r\n\x1a\n", 8) + std::string("\0\0\0\rIHDR-png-body", 17);

ProviderOutput inline_png() {
  ProviderOutput o;
  o.data = kPng;
  o.content_type = "image/png";
  return o;
}

}  // namespace

TEST_CASE("asset URL signer: a signed URL verifies for its path until it expires") {
  const auto key = key_of(1);
  AssetUrlSigner signer(key);
  CHECK(signer.lifetime() == AssetUrlSigner::kDefaultLifetime);
  auto url = signer.sign("https://cdn.example/assets/gen_1/0.png", kNow);
  REQUIRE(url.ok());
  const Parts p = parts(*url);
  CHECK(p.path == "/assets/gen_1/0.png");
  CHECK(p.expires == std::to_string(kNow / 1000 + 3600));
  CHECK(p.signature.size() == 43);
  CHECK(p.signature.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  CHECK(*url == "https://cdn.example/assets/gen_1/0.png?expires=" + p.expires + "&signature=" + p.signature);
  CHECK(p.signature == signer.signature(p.path, kNow / 1000 + 3600));

  CHECK(signer.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
  const std::int64_t expiry_ms = (kNow / 1000 + 3600) * 1000;
  CHECK(signer.verify(p.path, p.expires, p.signature, expiry_ms - 1) == Check::valid);
  CHECK(signer.verify(p.path, p.expires, p.signature, expiry_ms) == Check::expired);
  CHECK(signer.verify(p.path, p.expires, p.signature, expiry_ms + 86'400'000) == Check::expired);

  // Deterministic: the same key, path and time sign alike (another instance too).
  AssetUrlSigner again(key);
  CHECK(*again.sign("https://cdn.example/assets/gen_1/0.png", kNow) == *url);
  CHECK(again.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
}

TEST_CASE("asset URL signer: tampering, another key and malformed parameters are invalid") {
  AssetUrlSigner signer(key_of(1), std::chrono::seconds(600));
  auto url = signer.sign("https://cdn.example/assets/gen_1/0.png", kNow);
  REQUIRE(url.ok());
  const Parts p = parts(*url);
  REQUIRE(signer.verify(p.path, p.expires, p.signature, kNow) == Check::valid);

  SECTION("another path") {
    CHECK(signer.verify("/assets/gen_1/1.png", p.expires, p.signature, kNow) == Check::invalid);
    CHECK(signer.verify("/assets/gen_2/0.png", p.expires, p.signature, kNow) == Check::invalid);
    CHECK(signer.verify("/assets/gen_1/0.png/", p.expires, p.signature, kNow) == Check::invalid);
    CHECK(signer.verify("/assets/gen_1/%30.png", p.expires, p.signature, kNow) == Check::invalid);  // exact encoding
    CHECK(signer.verify("", p.expires, p.signature, kNow) == Check::invalid);
  }
  SECTION("another expiry, even a later or earlier one") {
    const std::int64_t e = std::stoll(p.expires);
    CHECK(signer.verify(p.path, std::to_string(e + 1), p.signature, kNow) == Check::invalid);
    CHECK(signer.verify(p.path, std::to_string(e - 1), p.signature, kNow) == Check::invalid);
    CHECK(signer.verify(p.path, std::to_string(e + 86'400), p.signature, kNow) == Check::invalid);
  }
  SECTION("a changed signature") {
    for (std::size_t i : {std::size_t{0}, std::size_t{20}, std::size_t{41}, std::size_t{42}}) {
      std::string sig = p.signature;
      sig[i] = sig[i] == 'A' ? 'B' : 'A';
      INFO(i);
      CHECK(signer.verify(p.path, p.expires, sig, kNow) == Check::invalid);
    }
  }
  SECTION("another key") {
    AssetUrlSigner other(key_of(2), std::chrono::seconds(600));
    CHECK(other.verify(p.path, p.expires, p.signature, kNow) == Check::invalid);
    auto theirs = other.sign("https://cdn.example/assets/gen_1/0.png", kNow);
    REQUIRE(theirs.ok());
    const Parts q = parts(*theirs);
    CHECK(q.signature != p.signature);
    CHECK(signer.verify(q.path, q.expires, q.signature, kNow) == Check::invalid);
  }
  SECTION("missing parameters") {
    CHECK(signer.verify(p.path, "", p.signature, kNow) == Check::invalid);
    CHECK(signer.verify(p.path, p.expires, "", kNow) == Check::invalid);
    CHECK(signer.verify(p.path, "", "", kNow) == Check::invalid);
  }
  SECTION("malformed expiry: not 1-12 plain digits") {
    for (const std::string& e : {std::string("12a4"), std::string("-5"), std::string("+") + p.expires,
                                 std::string("0") + p.expires, p.expires + " ", std::string(" ") + p.expires,
                                 p.expires + ".0", std::string("1e9"), std::string("0"), std::string(13, '9'),
                                 std::string(40, '9'), std::string("\xd9\xa1\xd9\xa2", 4), std::string("1\0", 2)}) {
      INFO(e);
      CHECK(signer.verify(p.path, e, p.signature, kNow) == Check::invalid);
    }
  }
  SECTION("malformed signature: wrong length or alphabet") {
    for (const std::string& s : {p.signature.substr(0, 42), p.signature + "A", p.signature + "=",
                                 std::string(43, '='), std::string(43, '+'), std::string(43, '/'),
                                 std::string(64, 'a'), std::string(4096, 'A'), std::string(43, '\0')}) {
      INFO(s.size());
      CHECK(signer.verify(p.path, p.expires, s, kNow) == Check::invalid);
    }
    // The standard alphabet's spelling of the same bytes is not accepted either.
    std::string standard = p.signature;
    for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
    if (standard != p.signature) CHECK(signer.verify(p.path, p.expires, standard, kNow) == Check::invalid);
  }
  SECTION("an over-long path is refused before any MAC work") {
    const std::string long_path = "/" + std::string(AssetUrlSigner::kMaxPathBytes, 'a');
    const std::string e = std::to_string(kNow / 1000 + 60);
    CHECK(signer.verify(long_path, e, signer.signature(long_path, kNow / 1000 + 60), kNow) == Check::invalid);
  }
  SECTION("an expired link must still be genuine to be told apart") {
    const std::int64_t later = kNow + 601'000;
    CHECK(signer.verify(p.path, p.expires, p.signature, later) == Check::expired);
    std::string sig = p.signature;
    sig[5] = sig[5] == 'x' ? 'y' : 'x';
    CHECK(signer.verify(p.path, p.expires, sig, later) == Check::invalid);
    CHECK(signer.verify("/assets/gen_1/1.png", p.expires, p.signature, later) == Check::invalid);
  }
}

TEST_CASE("asset URL signer: a past signing time yields an expired link") {
  AssetUrlSigner signer(key_of(3), std::chrono::seconds(60));
  auto url = signer.sign("https://cdn.example/a/g/0.png", kNow - 3'600'000);
  REQUIRE(url.ok());
  const Parts p = parts(*url);
  CHECK(signer.verify(p.path, p.expires, p.signature, kNow) == Check::expired);
  CHECK(signer.verify(p.path, p.expires, p.signature, kNow - 3'600'000) == Check::valid);
}

TEST_CASE("asset URL signer: existing queries, relative references, unparsable URLs, lifetimes") {
  AssetUrlSigner signer(key_of(4), std::chrono::seconds(120));
  SECTION("a URL with a query keeps it; earlier expires/signature parameters are replaced") {
    auto url = signer.sign("https://cdn.example/f/gen/0.webp?v=2&expires=1&signature=forged&w=64", kNow);
    REQUIRE(url.ok());
    const Parts p = parts(*url);
    CHECK(p.expires_count == 1);
    CHECK(p.signature_count == 1);
    CHECK(p.query == "v=2&w=64&expires=" + p.expires + "&signature=" + p.signature);
    CHECK(p.path == "/f/gen/0.webp");
    CHECK(signer.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
    // Signing a signed URL again gives one fresh pair.
    auto again = signer.sign(*url, kNow + 10'000);
    REQUIRE(again.ok());
    const Parts q = parts(*again);
    CHECK(q.expires_count == 1);
    CHECK(q.signature_count == 1);
    CHECK(q.expires == std::to_string((kNow + 10'000) / 1000 + 120));
    CHECK(signer.verify(q.path, q.expires, q.signature, kNow) == Check::valid);
  }
  SECTION("a fragment stays after the query") {
    auto url = signer.sign("https://cdn.example/f/gen/0.png#frag", kNow);
    REQUIRE(url.ok());
    CHECK(url->find("#frag") == url->size() - 5);
    const Parts p = parts(*url);
    CHECK(signer.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
  }
  SECTION("percent-encoded paths are signed exactly as encoded") {
    auto url = signer.sign("https://cdn.example/f/a%20b/0.png", kNow);
    REQUIRE(url.ok());
    const Parts p = parts(*url);
    CHECK(p.path == "/f/a%20b/0.png");
    CHECK(signer.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
    CHECK(signer.verify("/f/a b/0.png", p.expires, p.signature, kNow) == Check::invalid);
  }
  SECTION("a relative reference is signed by its path") {
    auto url = signer.sign("/assets/gen/0.png", kNow);
    REQUIRE(url.ok());
    const Parts p = parts(*url);
    CHECK(signer.verify("/assets/gen/0.png", p.expires, p.signature, kNow) == Check::valid);
  }
  SECTION("what does not parse is refused") {
    for (const char* bad : {"http://[::1/x.png", "https://a b/x.png", "https://cdn.example/x y.png"}) {
      INFO(bad);
      CHECK(signer.sign(bad, kNow).code() == Code::invalid_request);
    }
  }
  SECTION("the lifetime is clamped to 1 s .. kMaxLifetime") {
    AssetUrlSigner tiny(key_of(4), std::chrono::seconds(0));
    CHECK(tiny.lifetime() == std::chrono::seconds(1));
    AssetUrlSigner huge(key_of(4), std::chrono::seconds(std::int64_t{1} << 40));
    CHECK(huge.lifetime() == AssetUrlSigner::kMaxLifetime);
    auto url = huge.sign("https://cdn.example/f/gen/0.png", kNow);
    REQUIRE(url.ok());
    const Parts p = parts(*url);
    CHECK(huge.verify(p.path, p.expires, p.signature, kNow) == Check::valid);
  }
}

TEST_CASE("memory store: client_url signs with a signer, store() and the default keep plain URLs") {
  auto signer = std::make_shared<const AssetUrlSigner>(key_of(5), std::chrono::seconds(300));
  auto store = make_memory_asset_store("https://assets.example/files/", {}, signer);
  auto r = store->store("gen_s", {inline_png()});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  const std::string plain = "https://assets.example/files/gen_s/0.png";
  CHECK(r->at(0) == plain);
  const std::string url = store->client_url(plain, kNow);
  REQUIRE(url.rfind(plain + "?expires=", 0) == 0);
  const Parts p = parts(url);
  CHECK(signer->verify(p.path, p.expires, p.signature, kNow) == Check::valid);
  CHECK(signer->verify(p.path, p.expires, p.signature, kNow + 300'000) == Check::expired);
  // The file is there behind either spelling of the link.
  REQUIRE(store->get(url));
  CHECK(store->get(url)->bytes == kPng);
  CHECK(store->get(plain)->bytes == kPng);

  auto open = make_memory_asset_store("https://assets.example/files");
  REQUIRE(open->store("gen_s", {inline_png()}).ok());
  CHECK(open->client_url(plain, kNow) == plain);

  // A host's own store that does not override client_url hands out the URL unchanged.
  struct HostStore final : AssetStore {
    Result<std::vector<std::string>> store(std::string_view, const std::vector<ProviderOutput>&) override {
      return std::vector<std::string>{};
    }
    Result<std::size_t> remove(std::string_view) override { return std::size_t{0}; }
  } host;
  CHECK(host.client_url("https://mine.example/x.png", kNow) == "https://mine.example/x.png");
}

namespace {

class NoResolver final : public Resolver {
 public:
  Result<std::vector<IpAddress>> resolve(std::string_view) override { return std::vector<IpAddress>{}; }
};

}  // namespace

TEST_CASE("directory store: client_url signs with options.url_signer; store() returns the plain URL") {
  babysea::testing::TempDir dir;
  NoResolver resolver;
  NetGuard guard(resolver, NetGuardOptions{});
  auto transport = make_beast_transport(BeastTransportOptions{});
  auto signer = std::make_shared<const AssetUrlSigner>(key_of(6), std::chrono::seconds(90));
  DirectoryAssetOptions o;
  o.root = dir.file("assets");
  o.public_base_url = "https://files.example/assets";
  o.url_signer = signer;
  auto store = make_directory_asset_store(o, guard, *transport);
  auto r = store->store("gen_d", {inline_png()});
  REQUIRE(r.ok());
  const std::string plain = "https://files.example/assets/gen_d/0.png";
  REQUIRE(*r == std::vector<std::string>{plain});
  const std::string url = store->client_url(plain, kNow);
  REQUIRE(url.rfind(plain + "?expires=", 0) == 0);
  const Parts p = parts(url);
  CHECK(p.expires == std::to_string(kNow / 1000 + 90));
  CHECK(signer->verify("/assets/gen_d/0.png", p.expires, p.signature, kNow) == Check::valid);
  CHECK(signer->verify("/assets/gen_d/0.png", p.expires, p.signature, kNow + 90'000) == Check::expired);

  o.url_signer.reset();
  auto open = make_directory_asset_store(o, guard, *transport);
  CHECK(open->client_url(plain, kNow) == plain);
}
