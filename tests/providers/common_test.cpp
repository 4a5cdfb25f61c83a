// Behaviour every adapter shares: configuration checks, the configured host
// resolved once and reused, and the HTTP / transport error matrix.
#include <functional>

#include "provider_test_util.hpp"
#include "providers/common.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

struct Adapter {
  const char* name;
  std::function<Result<std::shared_ptr<Provider>>(FakeTransport&, const Clock&, std::string base)> make;
  NativePayload payload;
};

std::vector<Adapter> adapters() {
  return {
      {"replicate",
       [](FakeTransport& t, const Clock& c, std::string base) {
         ReplicateProviderOptions o;
         o.transport = &t;
         o.clock = &c;
         o.base_url = std::move(base);
         o.api_token = "r8_token";
         return make_replicate_provider(o);
       },
       payload("replicate", "black-forest-labs/flux-schnell", "", R"({"input":{"prompt":"a cat"}})")},
      {"fal",
       [](FakeTransport& t, const Clock& c, std::string base) {
         FalProviderOptions o;
         o.transport = &t;
         o.clock = &c;
         o.base_url = std::move(base);
         o.api_key = "fal_key";
         return make_fal_provider(o);
       },
       payload("fal", "fal-ai/flux/schnell", "", R"({"prompt":"a cat"})")},
      {"bfl",
       [](FakeTransport& t, const Clock& c, std::string base) {
         BflProviderOptions o;
         o.transport = &t;
         o.clock = &c;
         o.base_url = std::move(base);
         o.api_key = "bfl_key";
         return make_bfl_provider(o);
       },
       payload("bfl", "flux-dev", "/v1/flux-dev", R"({"prompt":"a cat"})")},
      {"openai",
       [](FakeTransport& t, const Clock& c, std::string base) {
         OpenAIImagesProviderOptions o;
         o.transport = &t;
         o.clock = &c;
         o.base_url = std::move(base);
         o.api_key = "sk-test";
         return make_openai_images_provider(o);
       },
       payload("openai", "gpt-image-1", "", R"({"prompt":"a cat","n":1})")},
      {"runway",
       [](FakeTransport& t, const Clock& c, std::string base) {
         RunwayProviderOptions o;
         o.transport = &t;
         o.clock = &c;
         o.base_url = std::move(base);
         o.api_key = "rw_key";
         return make_runway_provider(o);
       },
       payload("runway", "gen4_turbo", "image_to_video", R"({"promptText":"a cat","promptImage":"https://x/y.png"})")},
  };
}

}  // namespace

TEST_CASE("every adapter maps HTTP statuses, bodies and transport failures on submit") {
  ManualClock clock(kStartMs);
  for (const auto& a : adapters()) {
    for (const auto& c : error_matrix()) {
      INFO(a.name << ": " << c.name);
      FakeTransport t;
      auto p = a.make(t, clock, kBase);
      REQUIRE(p.ok());
      script(t, c);
      SubmitResult r = (*p)->submit(submit_request(a.payload, ""));
      CHECK(r.error.kind == c.expected);
      CHECK(r.error.retry_after_ms == c.expected_retry_ms);
      CHECK(r.job.job_id.empty());
      CHECK(t.count() == 1);  // never retried by the adapter
      CHECK(r.error.message.find("token") == std::string::npos);
    }
  }
}

TEST_CASE("every adapter refuses a payload rendered for another provider without I/O") {
  ManualClock clock(kStartMs);
  for (const auto& a : adapters()) {
    INFO(a.name);
    FakeTransport t;
    auto p = a.make(t, clock, kBase);
    REQUIRE(p.ok());
    NativePayload other = a.payload;
    other.provider = "someone-else";
    SubmitResult r = (*p)->submit(submit_request(other));
    CHECK(r.error.kind == ErrorKind::invalid_input);
    SubmitRequest none = submit_request(a.payload);
    none.payload = nullptr;
    CHECK((*p)->submit(none).error.kind == ErrorKind::invalid_input);
    CHECK(t.count() == 0);
  }
}

TEST_CASE("Retry-After as an HTTP date is honoured") {
  ManualClock clock(784'111'777'000);  // Sun, 06 Nov 1994 08:49:37 GMT
  FakeTransport t;
  auto p = adapters()[0].make(t, clock, kBase);
  REQUIRE(p.ok());
  t.respond(429, "{}", {{"Retry-After", "Sun, 06 Nov 1994 08:50:07 GMT"}});
  auto r = (*p)->submit(submit_request(adapters()[0].payload));
  CHECK(r.error.kind == ErrorKind::rate_limited);
  CHECK(r.error.retry_after_ms == 30'000);
}

TEST_CASE("factories refuse bad configuration") {
  FakeTransport t;
  ReplicateProviderOptions r;
  r.api_token = "x";
  CHECK(make_replicate_provider(r).code() == Code::invalid_request);  // no transport
  r.transport = &t;
  r.base_url = "ftp://api.replicate.com";
  CHECK(make_replicate_provider(r).code() == Code::invalid_request);
  r.base_url = "https://user@api.replicate.com";
  CHECK(make_replicate_provider(r).code() == Code::invalid_request);
  r.base_url = "https://api.replicate.com";
  r.webhook_secrets = {"whsec_c2hvcnQ="};  // decodes to 5 bytes: too short
  CHECK(make_replicate_provider(r).code() == Code::invalid_request);
  r.webhook_secrets.clear();
  r.api_token.clear();
  CHECK(make_replicate_provider(r).code() == Code::invalid_request);

  FalProviderOptions f;
  f.transport = &t;
  CHECK(make_fal_provider(f).code() == Code::invalid_request);  // no key
  BflProviderOptions b;
  b.transport = &t;
  CHECK(make_bfl_provider(b).code() == Code::invalid_request);
  OpenAIImagesProviderOptions o;
  o.transport = &t;
  CHECK(make_openai_images_provider(o).code() == Code::invalid_request);
  RunwayProviderOptions w;
  w.transport = &t;
  CHECK(make_runway_provider(w).code() == Code::invalid_request);
  w.api_key = "k";
  CHECK(make_runway_provider(w).ok());
}

TEST_CASE("the configured host is resolved once, cached for dns_ttl, and a stale answer outlives a resolver failure") {
  ManualClock clock(kStartMs);
  FakeTransport t;
  FakeResolver resolver;
  resolver.set("api.provider.test", {*IpAddress::parse("2001:db8::1"), *IpAddress::parse("198.51.100.7")});
  RunwayProviderOptions o;
  o.transport = &t;
  o.resolver = &resolver;
  o.clock = &clock;
  o.base_url = "https://API.provider.test:8443/";
  o.api_key = "k";
  o.dns_ttl = std::chrono::milliseconds{60'000};
  auto p = make_runway_provider(o);
  REQUIRE(p.ok());
  auto pl = payload("runway", "gen4_turbo", "text_to_video", R"({"promptText":"x"})");
  t.json(200, R"({"id":"task_1"})");
  t.json(200, R"({"id":"task_2"})");
  REQUIRE((*p)->submit(submit_request(pl)).error.ok());
  REQUIRE((*p)->submit(submit_request(pl)).error.ok());
  CHECK(resolver.lookups() == 1);
  auto reqs = t.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].request.url == "https://api.provider.test:8443/v1/text_to_video");
  CHECK(reqs[0].target.address == *IpAddress::parse("198.51.100.7"));  // IPv4 preferred
  CHECK(reqs[0].target.port == 8443);

  clock.advance(std::chrono::milliseconds{61'000});
  resolver.fail_next(1);
  t.json(200, R"({"id":"task_3"})");
  REQUIRE((*p)->submit(submit_request(pl)).error.ok());  // stale address reused
  CHECK(resolver.lookups() == 2);
  CHECK(t.last().target.address == *IpAddress::parse("198.51.100.7"));
}

TEST_CASE("an unresolvable configured host is a connection error, with no request sent") {
  ManualClock clock(kStartMs);
  FakeTransport t;
  FakeResolver resolver;  // knows nothing
  ReplicateProviderOptions o;
  o.transport = &t;
  o.resolver = &resolver;
  o.clock = &clock;
  o.base_url = "https://api.replicate.test";
  o.api_token = "r8";
  auto p = make_replicate_provider(o);
  REQUIRE(p.ok());
  auto r = (*p)->poll(ProviderJob{"abc", ""});
  CHECK(r.error.kind == ErrorKind::connection);
  CHECK(t.count() == 0);
}

TEST_CASE("Origin: same scheme, host and port only") {
  auto o = providers::Origin::parse("https://api.bfl.ai/prefix/");
  REQUIRE(o.ok());
  CHECK(o->prefix == "/prefix");
  CHECK(o->origin == "https://api.bfl.ai");
  CHECK(o->same_origin("https://api.bfl.ai/v1/get_result?id=1"));
  CHECK(o->same_origin("https://API.BFL.AI:443/x"));
  CHECK_FALSE(o->same_origin("http://api.bfl.ai/x"));
  CHECK_FALSE(o->same_origin("https://api.eu.bfl.ai/x"));
  CHECK_FALSE(o->same_origin("https://api.bfl.ai:8443/x"));
  CHECK_FALSE(o->same_origin("https://api.bfl.ai@evil.example/x"));
  CHECK_FALSE(o->same_origin("https://evil.example/?https://api.bfl.ai/"));
  CHECK_FALSE(o->same_origin("/v1/get_result?id=1"));
  CHECK(providers::Origin::parse("https://api.bfl.ai/?q=1").code() == Code::invalid_request);
}

TEST_CASE("error bodies in the common shapes") {
  auto a = providers::read_error_body(R"({"error":{"code":"moderation_blocked","message":"no","type":"x"}})");
  CHECK(a.code == "moderation_blocked");
  CHECK(a.message == "no");
  auto b = providers::read_error_body(R"({"detail":[{"type":"content_policy_violation","msg":"flagged"}]})");
  CHECK(b.code == "content_policy_violation");
  CHECK(b.message == "flagged");
  auto c = providers::read_error_body(R"({"detail":"Request timed out","error_type":"request_timeout"})");
  CHECK(c.error_type == "request_timeout");
  CHECK(c.message == "Request timed out");
  auto d = providers::read_error_body("not json \x01 at all");
  CHECK(d.code.empty());
  CHECK(d.message.find('\x01') == std::string::npos);
}

TEST_CASE("base64 decoding refuses malformed input") {
  CHECK(providers::base64_decode("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(providers::base64_decode("aGVs\nbG8=") == std::optional<std::string>("hello"));
  CHECK_FALSE(providers::base64_decode("aGVsbG8").has_value());
  CHECK_FALSE(providers::base64_decode("aGVs*G8=").has_value());
}
