// fal callbacks against a real JWKS served over HTTP on loopback: a locally
// generated Ed25519 key, another user id, mismatched request ids, JWKS
// entries of other key types, the JWKS server down, cache expiry and key
// rotation (ManualClock), and fetch rate limiting.
#include <catch2/catch.hpp>
#include <sodium.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>

#include "babysea/webhooks.hpp"
#include "support/stores.hpp"

using namespace babysea;
namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using std::chrono::milliseconds;

namespace {

const std::string kUser = "fal-user-ours";

struct Keypair {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  Keypair() { crypto_sign_keypair(pk, sk); }
  std::string x() const {
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return b64;
  }
  std::string jwk() const { return R"({"kty":"OKP","crv":"Ed25519","use":"sig","kid":"k)" + x().substr(0, 6) + R"(","x":")" + x() + R"("})"; }
};

std::string jwks(const std::vector<std::string>& entries) {
  std::string out = R"({"keys":[)";
  for (std::size_t i = 0; i < entries.size(); ++i) out += (i ? "," : "") + entries[i];
  return out + "]}";
}

std::string sha256_hex(std::string_view body) {
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, d, sizeof d);
  return hex;
}

// A fal-style delivery signed by `key`.
struct Delivery {
  std::string request_id, user_id, timestamp, signature, body;
  FalHeaders headers() const { return {request_id, user_id, timestamp, signature}; }
};

Delivery sign(const Keypair& key, std::string request_id, std::string user_id, std::int64_t ts, std::string body) {
  Delivery d{std::move(request_id), std::move(user_id), std::to_string(ts), "", std::move(body)};
  const std::string msg = d.request_id + "\n" + d.user_id + "\n" + d.timestamp + "\n" + sha256_hex(d.body);
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), key.sk);
  char hex[2 * crypto_sign_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, sig, sizeof sig);
  d.signature = hex;
  return d;
}

std::string fal_body(std::string_view request_id) {
  return R"({"request_id":")" + std::string(request_id) +
         R"(","gateway_request_id":"gw_1","status":"OK","payload":{"images":[{"url":"https://fal.media/x.png"}]}})";
}

// A tiny synchronous HTTP/1.1 server on 127.0.0.1:0 serving the JWKS.
class JwksServer {
 public:
  enum class Mode { serve, error_500, close };

  JwksServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~JwksServer() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);  // unblocks accept()
    thread_.join();
  }
  void set(Mode mode, std::string body = {}) {
    std::lock_guard lock(mu_);
    mode_ = mode;
    body_ = std::move(body);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/.well-known/jwks.json"; }
  int requests() const { return requests_; }

 private:
  void run() {
    for (int served = 0; served < 10'000 && !stop_; ++served) {  // bounded loop
      boost::system::error_code ec;
      tcp::socket sock(ioc_);
      acceptor_.accept(sock, ec);
      if (ec || stop_) break;
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(sock, buf, req, ec);
      if (ec) continue;
      ++requests_;
      Mode mode;
      std::string body;
      {
        std::lock_guard lock(mu_);
        mode = mode_;
        body = body_;
      }
      if (mode == Mode::close) {
        sock.close(ec);
        continue;
      }
      http::response<http::string_body> res{mode == Mode::serve ? http::status::ok : http::status::internal_server_error,
                                            11};
      res.set(http::field::content_type, "application/json");
      res.keep_alive(false);
      res.body() = mode == Mode::serve ? body : R"({"error":"down"})";
      res.prepare_payload();
      http::write(sock, res, ec);
      sock.shutdown(tcp::socket::shutdown_both, ec);
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  Mode mode_ = Mode::serve;
  std::string body_;
};

// The test's JwksFetcher: a Beast synchronous client for http://127.0.0.1:<port>/path.
class BeastFetcher final : public JwksFetcher {
 public:
  Result<std::string> fetch(std::string_view url) override {
    constexpr std::string_view kScheme = "http://";
    if (url.substr(0, kScheme.size()) != kScheme) return Status(Code::invalid_request, "only http:// in tests");
    std::string_view rest = url.substr(kScheme.size());
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string target(slash == std::string_view::npos ? "/" : rest.substr(slash));
    auto colon = authority.rfind(':');
    std::string host(authority.substr(0, colon));
    std::string port(authority.substr(colon + 1));
    try {
      net::io_context ioc;
      tcp::resolver resolver(ioc);
      boost::beast::tcp_stream stream(ioc);
      stream.connect(resolver.resolve(host, port));
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, host);
      http::write(stream, req);
      boost::beast::flat_buffer buf;
      http::response_parser<http::string_body> parser;
      parser.body_limit(1 << 20);
      http::read(stream, buf, parser);
      auto res = parser.release();
      boost::system::error_code ec;
      stream.socket().shutdown(tcp::socket::shutdown_both, ec);
      if (res.result_int() < 200 || res.result_int() > 299)
        return Status(Code::unavailable, "jwks answered " + std::to_string(res.result_int()));
      return std::move(res.body());
    } catch (const std::exception& e) {
      return Status(Code::unavailable, std::string("jwks fetch failed: ") + e.what());
    }
  }
};

struct Fixture {
  JwksServer server;
  BeastFetcher fetcher;
  ManualClock clock{1'760'000'000'000};
  Keypair key;
  std::unique_ptr<FalVerifier> verifier;

  explicit Fixture(std::int64_t min_fetch_interval_ms = 60'000) {
    REQUIRE(sodium_init() >= 0);
    server.set(JwksServer::Mode::serve, jwks({key.jwk()}));
    FalOptions o;
    o.user_id = kUser;
    o.jwks_url = server.url();
    o.min_fetch_interval_ms = min_fetch_interval_ms;
    auto v = FalVerifier::create(fetcher, clock, o);
    REQUIRE(v.ok());
    verifier = std::move(v).value();
  }
  std::int64_t now_s() const { return clock.now_ms() / 1000; }
};

}  // namespace

TEST_CASE("fal: a delivery signed by the JWKS key verifies; keys are cached") {
  Fixture f;
  auto d = sign(f.key, "req_1", kUser, f.now_s(), fal_body("req_1"));
  auto r = f.verifier->verify(d.headers(), d.body);
  REQUIRE(r.ok());
  CHECK(r->source() == "fal");
  CHECK(r->message_id() == "req_1");
  CHECK(r->timestamp_s() == f.now_s());
  CHECK(f.verifier->fetch_count() == 1);
  CHECK(f.server.requests() == 1);
  auto d2 = sign(f.key, "req_2", kUser, f.now_s(), fal_body("req_2"));
  CHECK(f.verifier->verify(d2.headers(), d2.body).ok());
  CHECK(f.server.requests() == 1);  // served from the cache

  // Replay protection through the store.
  testing::StoreFixture store("sqlite-file");
  int applied = 0;
  for (int i = 0; i < 3; ++i) {
    auto again = f.verifier->verify(d.headers(), d.body);
    REQUIRE(again.ok());
    auto outcome = commit_callback(*store.store, *again, f.clock.now_ms(), [&](UnitOfWork&) -> Status {
      ++applied;
      return {};
    });
    REQUIRE(outcome.ok());
    CHECK(*outcome == (i == 0 ? CallbackOutcome::applied : CallbackOutcome::duplicate));
  }
  CHECK(applied == 1);
}

TEST_CASE("fal: refusals (another user, mismatched ids, tampering, time, format)") {
  Fixture f;
  const std::int64_t now = f.now_s();
  Keypair stranger;
  struct Case {
    const char* name;
    Delivery d;
  };
  std::vector<Case> cases;
  cases.push_back({"another fal user id (validly signed by the platform key)", sign(f.key, "req_1", "fal-user-theirs", now, fal_body("req_1"))});
  cases.push_back({"header and body request ids differ", sign(f.key, "req_1", kUser, now, fal_body("req_2"))});
  cases.push_back({"body without request_id", sign(f.key, "req_1", kUser, now, R"({"status":"OK","payload":null})")});
  cases.push_back({"body request_id twice", sign(f.key, "req_1", kUser, now, R"({"request_id":"req_1","request_id":"req_2"})")});
  cases.push_back({"body request_id not a string", sign(f.key, "req_1", kUser, now, R"({"request_id":1})")});
  cases.push_back({"body not JSON", sign(f.key, "req_1", kUser, now, "request_id=req_1")});
  cases.push_back({"body with trailing content", sign(f.key, "req_1", kUser, now, fal_body("req_1") + "{}")});
  cases.push_back({"nested request_id only", sign(f.key, "req_1", kUser, now, R"({"payload":{"request_id":"req_1"}})")});
  cases.push_back({"stale (301 s)", sign(f.key, "req_1", kUser, now - 301, fal_body("req_1"))});
  cases.push_back({"future (301 s)", sign(f.key, "req_1", kUser, now + 301, fal_body("req_1"))});
  cases.push_back({"signed by a key not in the JWKS", sign(stranger, "req_1", kUser, now, fal_body("req_1"))});
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.body[5] ^= 1;
    cases.push_back({"tampered body", d});
  }
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.request_id = "req_9";
    d.body = fal_body("req_9");
    cases.push_back({"request id changed after signing (both places)", d});
  }
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.signature = d.signature.substr(0, 126);
    cases.push_back({"short signature", d});
  }
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.signature[0] = 'z';
    cases.push_back({"non-hex signature", d});
  }
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.timestamp = " " + d.timestamp;
    cases.push_back({"timestamp with a space", d});
  }
  {
    auto d = sign(f.key, "req_1", kUser, now, fal_body("req_1"));
    d.user_id = "";
    cases.push_back({"missing user id", d});
  }
  for (const auto& c : cases) {
    INFO(c.name);
    CHECK(f.verifier->verify(c.d.headers(), c.d.body).code() == Code::invalid_signature);
  }
  // The boundary of the tolerance passes.
  auto edge = sign(f.key, "req_e", kUser, now - 300, fal_body("req_e"));
  CHECK(f.verifier->verify(edge.headers(), edge.body).ok());
  // One JWKS fetch for all of that: the stranger's key did not cause a refetch
  // storm (at most one per min_fetch_interval).
  CHECK(f.server.requests() == 1);
}

TEST_CASE("fal: only OKP/Ed25519 JWKS entries are used; none means fail closed") {
  Fixture f;
  const std::string rsa = R"({"kty":"RSA","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"})";
  const std::string ec = R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
  const std::string x25519 = R"({"kty":"OKP","crv":"X25519","x":")" + f.key.x() + R"("})";
  const std::string enc_use = R"({"kty":"OKP","crv":"Ed25519","use":"enc","x":")" + f.key.x() + R"("})";
  const std::string short_x = R"({"kty":"OKP","crv":"Ed25519","x":"AAAA"})";
  f.server.set(JwksServer::Mode::serve, jwks({rsa, ec, x25519, enc_use, short_x}));
  auto d = sign(f.key, "req_1", kUser, f.now_s(), fal_body("req_1"));
  auto r = f.verifier->verify(d.headers(), d.body);
  CHECK(r.code() == Code::unavailable);
  CHECK(r.status().retryable());

  // The same entries plus the Ed25519 key: it is found among them.
  Fixture g;
  g.server.set(JwksServer::Mode::serve, jwks({rsa, ec, x25519, g.key.jwk()}));
  auto d2 = sign(g.key, "req_1", kUser, g.now_s(), fal_body("req_1"));
  CHECK(g.verifier->verify(d2.headers(), d2.body).ok());

  auto parsed = parse_ed25519_jwks(jwks({rsa, ec, x25519, g.key.jwk(), f.key.jwk()}));
  REQUIRE(parsed.ok());
  CHECK(parsed->size() == 2);
  CHECK(parse_ed25519_jwks(R"({"keys":[]})").code() == Code::invalid_request);
  CHECK(parse_ed25519_jwks(R"({"keys":[)" + g.key.jwk() + R"(]} x)").code() == Code::invalid_request);
  CHECK(parse_ed25519_jwks(R"({"keys":[]},"keys":[)" + g.key.jwk() + "]}").code() == Code::invalid_request);
  CHECK(parse_ed25519_jwks(R"([1,2])").code() == Code::invalid_request);
}

TEST_CASE("fal: JWKS down, invalid or oversized with no cached key fails closed; fetches are rate-limited") {
  for (int variant = 0; variant < 4; ++variant) {
    Fixture f;
    INFO("variant " << variant);
    if (variant == 0) f.server.set(JwksServer::Mode::error_500);
    if (variant == 1) f.server.set(JwksServer::Mode::close);
    if (variant == 2) f.server.set(JwksServer::Mode::serve, "{not json");
    if (variant == 3) f.server.set(JwksServer::Mode::serve, jwks({f.key.jwk(), std::string(70'000, ' ') + f.key.jwk()}));
    auto d = sign(f.key, "req_1", kUser, f.now_s(), fal_body("req_1"));
    auto r = f.verifier->verify(d.headers(), d.body);
    CHECK(r.code() == Code::unavailable);
    CHECK(r.status().retryable());
    CHECK(f.verifier->fetch_count() == 1);
    // Within the fetch interval no second fetch happens, whatever arrives.
    for (int i = 0; i < 5; ++i) CHECK(f.verifier->verify(d.headers(), d.body).code() == Code::unavailable);
    CHECK(f.verifier->fetch_count() == 1);
    // The JWKS comes back; after the interval the next delivery fetches it.
    f.server.set(JwksServer::Mode::serve, jwks({f.key.jwk()}));
    f.clock.advance(milliseconds(60'000));
    auto d2 = sign(f.key, "req_2", kUser, f.now_s(), fal_body("req_2"));
    CHECK(f.verifier->verify(d2.headers(), d2.body).ok());
    CHECK(f.verifier->fetch_count() == 2);
  }
}

TEST_CASE("fal: keys expire after the cache TTL; a rotated key is picked up") {
  Fixture f;
  auto d = sign(f.key, "req_1", kUser, f.now_s(), fal_body("req_1"));
  REQUIRE(f.verifier->verify(d.headers(), d.body).ok());
  CHECK(f.verifier->fetch_count() == 1);

  // Just under 24 h: still cached, even with the server down.
  f.server.set(JwksServer::Mode::error_500);
  f.clock.advance(milliseconds(24LL * 3600 * 1000 - 1));
  auto d2 = sign(f.key, "req_2", kUser, f.now_s(), fal_body("req_2"));
  CHECK(f.verifier->verify(d2.headers(), d2.body).ok());
  CHECK(f.verifier->fetch_count() == 1);
  // At 24 h the cached keys are no longer used: the server is down, so fail closed.
  f.clock.advance(milliseconds(1));
  auto d3 = sign(f.key, "req_3", kUser, f.now_s(), fal_body("req_3"));
  CHECK(f.verifier->verify(d3.headers(), d3.body).code() == Code::unavailable);
  CHECK(f.verifier->fetch_count() == 2);

  // Rotation: fal publishes a new key; deliveries signed by it verify after a refetch.
  Keypair next;
  f.server.set(JwksServer::Mode::serve, jwks({next.jwk()}));
  f.clock.advance(milliseconds(60'000));
  auto d4 = sign(f.key, "req_4", kUser, f.now_s(), fal_body("req_4"));
  CHECK(f.verifier->verify(d4.headers(), d4.body).code() == Code::invalid_signature);  // old key is gone
  CHECK(f.verifier->fetch_count() == 3);
  auto d5 = sign(next, "req_5", kUser, f.now_s(), fal_body("req_5"));
  CHECK(f.verifier->verify(d5.headers(), d5.body).ok());
  CHECK(f.verifier->fetch_count() == 3);

  // A key rotated while the cache is fresh: the failed verify refetches once
  // the interval has passed.
  Keypair third;
  f.server.set(JwksServer::Mode::serve, jwks({next.jwk(), third.jwk()}));
  auto d6 = sign(third, "req_6", kUser, f.now_s(), fal_body("req_6"));
  CHECK(f.verifier->verify(d6.headers(), d6.body).code() == Code::invalid_signature);  // interval not passed
  CHECK(f.verifier->fetch_count() == 3);
  f.clock.advance(milliseconds(60'000));
  auto d7 = sign(third, "req_7", kUser, f.now_s(), fal_body("req_7"));
  CHECK(f.verifier->verify(d7.headers(), d7.body).ok());
  CHECK(f.verifier->fetch_count() == 4);
}

TEST_CASE("fal: configuration and size caps") {
  BeastFetcher fetcher;
  ManualClock clock;
  FalOptions o;
  CHECK(FalVerifier::create(fetcher, clock, o).code() == Code::invalid_request);  // no user id
  o.user_id = kUser;
  o.cache_ttl_ms = 24LL * 3600 * 1000 + 1;
  CHECK(FalVerifier::create(fetcher, clock, o).code() == Code::invalid_request);
  o.cache_ttl_ms = 3600 * 1000;
  o.max_body_bytes = 100;
  auto v = std::move(FalVerifier::create(fetcher, clock, o)).value();
  Keypair k;
  auto d = sign(k, "req_1", kUser, clock.now_ms() / 1000, std::string(101, '{'));
  CHECK(v->verify(d.headers(), d.body).code() == Code::payload_too_large);
  CHECK(v->fetch_count() == 0);  // refused before any fetch or hashing
}

TEST_CASE("fal: concurrent deliveries with a cold cache fetch the JWKS once") {
  Fixture f;
  std::vector<Delivery> ds;
  for (int i = 0; i < 8; ++i) {
    const std::string rid = "req_c" + std::to_string(i);
    ds.push_back(sign(f.key, rid, kUser, f.now_s(), fal_body(rid)));
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < 20; ++k)
        if (f.verifier->verify(ds[static_cast<std::size_t>(i)].headers(), ds[static_cast<std::size_t>(i)].body).ok())
          ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 160);
  CHECK(f.verifier->fetch_count() == 1);
  CHECK(f.server.requests() == 1);
}
