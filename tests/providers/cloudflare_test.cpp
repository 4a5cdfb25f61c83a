// Cloudflare Workers AI over a scripted transport: the exact request, both
// answer shapes (JSON envelope with a base64 image, raw image bytes), the
// v4 error envelope and its codes, the shared error matrix, malformed
// answers, nothing to poll or cancel, concurrent submits; and the
// JsonHttpAdapter raw-answer hook staying off for the other adapters.
#include <atomic>

#include "assets/media.hpp"
#include "provider_test_util.hpp"
#include "providers/common.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace babysea::provider_tests;

namespace {

const std::string kAccount = "0123456789abcdef0123456789abcdef";
const std::string kFlux = "@cf/black-forest-labs/flux-1-schnell";
const std::string kSdxl = "@cf/stabilityai/stable-diffusion-xl-base-1.0";
const std::string kFluxUrl = kBase + "/client/v4/accounts/" + kAccount + "/ai/run/" + kFlux;

// Sized from the literals (embedded NULs included, the terminator not).
template <std::size_t N>
std::string bytes_of(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}
const std::string kPng = bytes_of("\x89PNG\r\n\x1a\n\0\0\0\rIHDR-png-bytes");
const std::string kJpeg = bytes_of("\xff\xd8\xff\xe0\0\x10JFIF-jpeg-bytes");
const std::string kWebp = bytes_of("RIFF\x24\0\0\0WEBPVP8 -webp-bytes");

std::string envelope_with_image(std::string_view bytes) {
  return R"({"result":{"image":")" + b64(bytes) + R"("},"success":true,"errors":[],"messages":[]})";
}

std::string error_envelope(int code, std::string_view message) {
  return R"({"result":null,"success":false,"errors":[{"code":)" + std::to_string(code) + R"(,"message":")" +
         std::string(message) + R"("}],"messages":[]})";
}

CloudflareProviderOptions options(FakeTransport& t, const Clock& clock) {
  CloudflareProviderOptions o;
  o.transport = &t;
  o.clock = &clock;
  o.base_url = kBase;
  o.account_id = kAccount;
  o.api_token = "cf-api-secret";
  return o;
}

struct Cloudflare {
  ManualClock clock{kStartMs};
  FakeTransport t;
  std::shared_ptr<Provider> p;
  NativePayload flux = payload("cloudflare", kFlux, "", R"({"prompt":"a lighthouse at dusk","steps":4})");
  NativePayload sdxl =
      payload("cloudflare", kSdxl, "", R"({"prompt":"a lighthouse","negative_prompt":"fog","num_steps":20,"seed":7})");
  Cloudflare() {
    auto r = make_cloudflare_provider(options(t, clock));
    REQUIRE(r.ok());
    p = *r;
  }
  SubmitResult submit(const NativePayload& pl) { return p->submit(submit_request(pl, "")); }
  // Scripts one answer and submits the flux payload.
  SubmitResult answer(int status, std::string body, std::vector<HttpHeader> headers) {
    t.respond(status, std::move(body), std::move(headers));
    return submit(flux);
  }
  SubmitResult answer_json(int status, std::string body) {
    return answer(status, std::move(body), {{"Content-Type", "application/json"}});
  }
};

// A succeeded status with one inline output.
const ProviderOutput& only_output(const SubmitResult& r) {
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  REQUIRE(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 1);
  CHECK(r.status->outputs[0].url.empty());
  return r.status->outputs[0];
}

}  // namespace

TEST_CASE("cloudflare: synchronous run of a JSON model: the exact request and the decoded image", "[cloudflare]") {
  Cloudflare f;
  CHECK(f.p->id() == "cloudflare");
  CHECK(f.p->delivery() == DeliveryMode::synchronous);
  CHECK_FALSE(f.p->can_cancel());
  auto r = f.answer(200, envelope_with_image(kJpeg),
                    {{"Content-Type", "application/json; charset=utf-8"}, {"cf-ray", "8f1e2d3c4b5a6978-SJC"}});
  const auto& out = only_output(r);
  CHECK(out.data == kJpeg);
  CHECK(out.content_type == "image/jpeg");
  CHECK(r.job.job_id == "8f1e2d3c4b5a6978-SJC");

  REQUIRE(f.t.count() == 1);
  auto sent = f.t.last();
  CHECK(sent.request.method == "POST");
  CHECK(sent.request.url == kFluxUrl);
  CHECK(sent.header("Authorization") == std::optional<std::string>("Bearer cf-api-secret"));
  CHECK(sent.header("Content-Type") == std::optional<std::string>("application/json"));
  CHECK(sent.header("X-Babysea-Attempt-Id") == std::optional<std::string>("att_1"));
  CHECK(sent.request.body == R"({"prompt":"a lighthouse at dusk","steps":4})");  // as rendered: no "model"
  CHECK(parse(sent.request.body).find("model") == nullptr);
}

TEST_CASE("cloudflare: a binary model's raw image bytes become one inline output", "[cloudflare]") {
  Cloudflare f;
  f.t.respond(200, kPng, {{"Content-Type", "image/png"}, {"cf-ray", "8f1e2d3c4b5a6979-AMS"}});
  auto r = f.submit(f.sdxl);
  const auto& out = only_output(r);
  CHECK(out.data == kPng);
  CHECK(out.content_type == "image/png");
  CHECK(r.job.job_id == "8f1e2d3c4b5a6979-AMS");
  auto sent = f.t.last();
  CHECK(sent.request.url == kBase + "/client/v4/accounts/" + kAccount + "/ai/run/" + kSdxl);
  CHECK(sent.request.body == f.sdxl.json);

  // The header's type wins (parameters dropped, case folded); image/jpg is normalised.
  auto jpeg = f.answer(200, kJpeg, {{"Content-Type", "Image/JPEG; q=0.9"}});
  CHECK(only_output(jpeg).content_type == "image/jpeg");
  CHECK(only_output(jpeg).data == kJpeg);
  CHECK(jpeg.job.job_id == "att_1");  // no cf-ray: the attempt id
  CHECK(only_output(f.answer(200, kJpeg, {{"Content-Type", "image/jpg"}})).content_type == "image/jpeg");
  // An unsafe cf-ray is not used as an id.
  CHECK(f.answer(200, kPng, {{"Content-Type", "image/png"}, {"cf-ray", "../x y"}}).job.job_id == "att_1");
}

TEST_CASE("cloudflare: the JSON image's type is sniffed from its bytes, JPEG when unknown", "[cloudflare]") {
  Cloudflare f;
  CHECK(only_output(f.answer_json(200, envelope_with_image(kPng))).content_type == "image/png");
  CHECK(only_output(f.answer_json(200, envelope_with_image(kWebp))).content_type == "image/webp");
  CHECK(only_output(f.answer_json(200, envelope_with_image(kJpeg))).content_type == "image/jpeg");
  // The asset store's sniffer: any image it knows keeps its type.
  CHECK(only_output(f.answer_json(200, envelope_with_image("GIF89a-tiny"))).content_type == "image/gif");
  auto unknown = f.answer_json(200, envelope_with_image("no-known-signature"));
  CHECK(only_output(unknown).content_type == "image/jpeg");
  CHECK(only_output(unknown).data == "no-known-signature");
  // Bytes that sniff as video are not an image: JPEG as for unknown bytes.
  const std::string mp4("\0\0\0\x18" "ftypisom" "\0\0\0\0", 16);
  CHECK(only_output(f.answer_json(200, envelope_with_image(mp4))).content_type == "image/jpeg");
  // Extra members of the envelope are ignored.
  auto extra = f.answer_json(
      200, R"({"result":{"image":")" + b64(kPng) + R"(","seed":42},"success":true,"errors":[],"messages":["ok"]})");
  CHECK(only_output(extra).data == kPng);
}

TEST_CASE("cloudflare: a 2xx envelope that reports failure is a final failed status", "[cloudflare]") {
  Cloudflare f;
  auto nsfw = f.answer_json(200, error_envelope(3030, "AiError: Input prompt contains NSFW content (code 3030)"));
  REQUIRE(nsfw.error.ok());
  REQUIRE(nsfw.status.has_value());
  CHECK(nsfw.status->kind == ProviderStatusKind::failed);
  CHECK(nsfw.status->error.kind == ErrorKind::moderation);
  CHECK(nsfw.status->error.code == "3030");
  CHECK(nsfw.status->error.message == "AiError: Input prompt contains NSFW content (code 3030)");
  CHECK(nsfw.job.job_id == "att_1");

  auto bad = f.answer_json(200, error_envelope(5006, "AiError: Bad input: required properties at '/' are 'prompt'"));
  CHECK(bad.status->kind == ProviderStatusKind::failed);
  CHECK(bad.status->error.kind == ErrorKind::invalid_input);
  CHECK(bad.status->error.code == "5006");

  // errors[] non-empty even with success:true; an unknown code is a server error.
  auto odd = f.answer_json(200, R"({"result":{},"success":true,"errors":[{"code":9999,"message":"model crashed"}]})");
  CHECK(odd.status->kind == ProviderStatusKind::failed);
  CHECK(odd.status->error.kind == ErrorKind::server_error);
  CHECK(odd.status->error.code == "9999");
  CHECK(odd.status->error.message == "model crashed");
  // success:false without errors.
  auto bare = f.answer_json(200, R"({"result":null,"success":false,"errors":[],"messages":[]})");
  CHECK(bare.status->kind == ProviderStatusKind::failed);
  CHECK(bare.status->error.kind == ErrorKind::server_error);
  CHECK(bare.status->error.code == "failed");
  CHECK(bare.status->outputs.empty());
}

TEST_CASE("cloudflare: Workers AI error codes in the v4 envelope map to our kinds", "[cloudflare]") {
  struct Row {
    int status;
    int code;
    const char* message;
    ErrorKind expected;
  };
  const std::vector<Row> rows = {
      // https://developers.cloudflare.com/workers-ai/platform/errors/
      {400, 5007, "No such model @cf/x/y or task", ErrorKind::model_unavailable},
      {400, 5004, "Invalid data type for base64 input: number", ErrorKind::invalid_input},
      {400, 3003, "Request is missing headers or body: body", ErrorKind::invalid_input},
      {400, 3039, "Finetune is missing required files", ErrorKind::invalid_input},
      {403, 5018, "The account is not allowed to access this model", ErrorKind::model_unavailable},
      {403, 3041, "The account is not allowed to access this model", ErrorKind::model_unavailable},
      {403, 5016, "User has not agreed to Llama3.2 model terms", ErrorKind::model_unavailable},
      {403, 3023, "Service unavailable for account", ErrorKind::provider_auth},
      {405, 5019, "Request trying to use deprecated SDK version", ErrorKind::invalid_input},
      {405, 5005, "The model does not support LoRa inference", ErrorKind::invalid_input},
      {404, 3042, "The model name is invalid", ErrorKind::model_unavailable},
      {413, 3006, "Request is too large", ErrorKind::invalid_input},
      {408, 3007, "Request timeout", ErrorKind::timeout},
      {408, 3008, "Request was aborted", ErrorKind::timeout},
      {429, 3036, "You have used up your daily free allocation of 10,000 neurons.", ErrorKind::provider_quota},
      {429, 3040, "No more data centers to forward the request to", ErrorKind::provider_unavailable},
      // The v4 API's own authentication errors.
      {401, 10000, "Authentication error", ErrorKind::provider_auth},
      {400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers", ErrorKind::provider_auth},
      {400, 9109, "Invalid access token", ErrorKind::provider_auth},
      // Schema validation and the NSFW filter (client code, community reports).
      {400, 5006, "AiError: Bad input: Error: oneOf at '/' not met", ErrorKind::invalid_input},
      {400, 3030, "AiError: Input prompt contains NSFW content (code 3030)", ErrorKind::moderation},
      {400, 1234, "AiError: output image flagged as NSFW", ErrorKind::moderation},
      // Codes we do not know keep the status's kind.
      {500, 1101, "Worker threw exception", ErrorKind::server_error},
      {503, 1234, "try later", ErrorKind::provider_unavailable},
      {422, 7777, "whatever", ErrorKind::invalid_input},
  };
  for (const auto& row : rows) {
    INFO(row.status << " code " << row.code);
    Cloudflare f;
    auto r = f.answer_json(row.status, error_envelope(row.code, row.message));
    CHECK(r.error.kind == row.expected);
    CHECK(r.error.code == std::to_string(row.code));
    CHECK(r.error.message == "HTTP " + std::to_string(row.status) + ": " + row.message);
    CHECK_FALSE(r.status.has_value());
    CHECK(r.job.job_id.empty());
  }
}

TEST_CASE("cloudflare: Retry-After is kept, on a rate limit and on the daily allocation", "[cloudflare]") {
  Cloudflare f;
  auto rl = f.answer(429, error_envelope(971, "Please wait and consider throttling your request speed"),
                     {{"Content-Type", "application/json"}, {"Retry-After", "13"}});
  CHECK(rl.error.kind == ErrorKind::rate_limited);
  CHECK(rl.error.retry_after_ms == 13'000);
  CHECK(rl.error.code == "971");
  auto daily = f.answer(429, error_envelope(3036, "You have used up your daily free allocation of 10,000 neurons."),
                        {{"Content-Type", "application/json"}, {"Retry-After", "3600"}});
  CHECK(daily.error.kind == ErrorKind::provider_quota);
  CHECK(daily.error.retry_after_ms == 3'600'000);
  // Not JSON at all (an HTML error page from the edge): the status decides.
  auto html = f.answer(502, "<html>Bad gateway</html>", {{"Content-Type", "text/html"}});
  CHECK(html.error.kind == ErrorKind::server_error);
  CHECK(html.error.code.empty());
}

TEST_CASE("cloudflare: the shared HTTP / transport error matrix", "[cloudflare]") {
  ManualClock clock(kStartMs);
  auto pl = payload("cloudflare", kFlux, "", R"({"prompt":"a cat"})");
  for (const auto& c : error_matrix()) {
    INFO(c.name);
    FakeTransport t;
    auto p = make_cloudflare_provider(options(t, clock));
    REQUIRE(p.ok());
    script(t, c);
    SubmitResult r = (*p)->submit(submit_request(pl, ""));
    CHECK(r.error.kind == c.expected);
    CHECK(r.error.retry_after_ms == c.expected_retry_ms);
    CHECK(r.job.job_id.empty());
    CHECK_FALSE(r.status.has_value());
    CHECK(t.count() == 1);  // never retried by the adapter
    CHECK(r.error.message.find("secret") == std::string::npos);
  }
}

TEST_CASE("cloudflare: malformed answers", "[cloudflare]") {
  Cloudflare f;
  auto check_malformed = [&](SubmitResult r, const char* code) {
    CHECK(r.error.kind == ErrorKind::malformed_response);
    CHECK(r.error.code == code);
    CHECK_FALSE(r.status.has_value());
    CHECK(r.job.job_id.empty());
  };
  check_malformed(f.answer(200, "", {{"Content-Type", "image/png"}}), "empty_body");
  check_malformed(f.answer(200, "<html>hi</html>", {{"Content-Type", "text/html"}}), "unexpected_content_type");
  check_malformed(f.answer(200, kPng, {{"Content-Type", "application/octet-stream"}}), "unexpected_content_type");
  check_malformed(f.answer_json(200, R"({"result":{},"success":true,"errors":[]})"), "no_image");
  check_malformed(f.answer_json(200, R"({"result":{"image":""},"success":true,"errors":[]})"), "no_image");
  check_malformed(f.answer_json(200, R"({"result":{"image":42},"success":true})"), "no_image");
  check_malformed(f.answer_json(200, R"({"result":"x","success":true})"), "no_image");
  check_malformed(f.answer_json(200, R"({"result":{"image":"aGVs*G8="},"success":true})"), "bad_base64");
  check_malformed(f.answer_json(200, R"({"result":{"image":"aGVsbG8"},"success":true})"), "bad_base64");
  check_malformed(f.answer_json(200, R"(["not","an","object"])"), "malformed");
  check_malformed(f.answer_json(200, "null"), "malformed_json");  // the strict parser wants an object or array
  check_malformed(f.answer_json(200, R"({"result":)"), "malformed_json");
  // No Content-Type at all: read as JSON.
  check_malformed(f.answer(200, kPng, {}), "malformed_json");
  CHECK(only_output(f.answer(200, envelope_with_image(kPng), {})).data == kPng);
  // application/problem+json is JSON too.
  check_malformed(f.answer(200, kPng, {{"Content-Type", "application/problem+json"}}), "malformed_json");
}

TEST_CASE("cloudflare: refuses bad model names, endpoints and payloads before any I/O", "[cloudflare]") {
  Cloudflare f;
  for (const char* model : {"flux-1-schnell", "black-forest-labs/flux-1-schnell", "@cf/", "@cf", "@cf//flux",
                            "@cf/black-forest-labs/", "@cf/../accounts/x", "@cf/a/./b", "@cf/a b/c", "@cf/a/b?x=1",
                            "@cf/a/b#frag", "@cf/a%2Fb", "@hf/thebloke/model", "@CF/a/b", ""}) {
    INFO(model);
    auto r = f.submit(payload("cloudflare", model, "", R"({"prompt":"x"})"));
    CHECK(r.error.kind == ErrorKind::invalid_input);
    CHECK(r.error.code == "bad_model");
  }
  auto ep = f.submit(payload("cloudflare", kFlux, "/client/v4/accounts/x/ai/run", R"({"prompt":"x"})"));
  CHECK(ep.error.code == "bad_endpoint");
  auto arr = f.submit(payload("cloudflare", kFlux, "", R"(["prompt"])"));
  CHECK(arr.error.kind == ErrorKind::invalid_input);
  CHECK(arr.error.code == "bad_payload");
  auto other = f.submit(payload("openai", kFlux, "", R"({"prompt":"x"})"));
  CHECK(other.error.code == "payload_mismatch");
  SubmitRequest none = submit_request(f.flux);
  none.payload = nullptr;
  CHECK(f.p->submit(none).error.code == "no_payload");
  CHECK(f.t.count() == 0);

  // One-segment and deeper names are fine.
  f.t.respond(200, kPng, {{"Content-Type", "image/png"}});
  REQUIRE(f.submit(payload("cloudflare", "@cf/m", "", "{}")).error.ok());
  CHECK(f.t.last().request.url == kBase + "/client/v4/accounts/" + kAccount + "/ai/run/@cf/m");
}

TEST_CASE("cloudflare: nothing to poll, cancel or call back", "[cloudflare]") {
  Cloudflare f;
  auto p = f.p->poll(ProviderJob{"8f1e2d3c4b5a6978-SJC", ""});
  CHECK(p.error.ok());
  CHECK(p.status.kind == ProviderStatusKind::lost);
  CHECK(p.status.error.code == "job_lost");
  auto c = f.p->cancel(ProviderJob{"8f1e2d3c4b5a6978-SJC", ""});
  CHECK(c.error.ok());
  CHECK(c.outcome == CancelOutcome::unsupported);
  CHECK(f.p->parse_callback({}, "{}").code() == Code::unsupported);
  CHECK_FALSE(f.p->find_job("att_1").ok());
  CHECK(f.t.count() == 0);
}

TEST_CASE("cloudflare: factory checks and options", "[cloudflare]") {
  ManualClock clock(kStartMs);
  FakeTransport t;
  CloudflareProviderOptions defaults;
  CHECK(defaults.base_url == "https://api.cloudflare.com");
  CHECK(defaults.request_timeout == std::chrono::milliseconds{120'000});

  auto o = options(t, clock);
  o.account_id.clear();
  CHECK(make_cloudflare_provider(o).code() == Code::invalid_request);
  for (const char* bad : {"abc/def", "..", "a b", "acc?x=1", "%2e%2e"}) {
    INFO(bad);
    o.account_id = bad;
    CHECK(make_cloudflare_provider(o).code() == Code::invalid_request);
  }
  o = options(t, clock);
  o.api_token.clear();
  CHECK(make_cloudflare_provider(o).code() == Code::invalid_request);
  o = options(t, clock);
  o.base_url = "ftp://api.cloudflare.com";
  CHECK(make_cloudflare_provider(o).code() == Code::invalid_request);
  o = options(t, clock);
  o.transport = nullptr;
  CHECK(make_cloudflare_provider(o).code() == Code::invalid_request);

  // A base URL with a path prefix (an AI Gateway, a proxy) is kept; timing passes through.
  o = options(t, clock);
  o.base_url = kBase + "/gateway/";
  o.timing.submit_ack_timeout = std::chrono::milliseconds{150'000};
  auto p = make_cloudflare_provider(o);
  REQUIRE(p.ok());
  CHECK((*p)->timing().submit_ack_timeout == std::chrono::milliseconds{150'000});
  t.respond(200, kPng, {{"Content-Type", "image/png"}});
  auto pl = payload("cloudflare", kFlux, "", R"({"prompt":"x"})");
  REQUIRE((*p)->submit(submit_request(pl)).error.ok());
  CHECK(t.last().request.url == kBase + "/gateway/client/v4/accounts/" + kAccount + "/ai/run/" + kFlux);
}

TEST_CASE("cloudflare: concurrent submits from many threads", "[cloudflare]") {
  Cloudflare f;
  constexpr int kThreads = 8, kSubmits = 25;
  for (int i = 0; i < kThreads * kSubmits; ++i) {
    if (i % 2 == 0)
      f.t.respond(200, kPng, {{"Content-Type", "image/png"}});
    else
      f.t.json(200, envelope_with_image(kJpeg));
  }
  std::atomic<int> ok{0};
  on_threads(kThreads, [&](int) {
    for (int i = 0; i < kSubmits; ++i) {
      auto r = f.submit(f.flux);
      if (r.error.ok() && r.status && r.status->kind == ProviderStatusKind::succeeded &&
          r.status->outputs.size() == 1 &&
          (r.status->outputs[0].data == kPng || r.status->outputs[0].data == kJpeg))
        ok.fetch_add(1);
    }
  });
  CHECK(ok.load() == kThreads * kSubmits);
  CHECK(f.t.count() == static_cast<std::size_t>(kThreads * kSubmits));
  CHECK(f.t.pending() == 0);
}

TEST_CASE("cloudflare: the raw-answer hook stays off for the other adapters", "[cloudflare]") {
  // OpenAI does not set SubmitPlan::raw_answer: image bytes in a 2xx are malformed, as before.
  ManualClock clock(kStartMs);
  FakeTransport t;
  OpenAIImagesProviderOptions o;
  o.transport = &t;
  o.clock = &clock;
  o.base_url = kBase;
  o.api_key = "sk-test";
  auto p = make_openai_images_provider(o);
  REQUIRE(p.ok());
  t.respond(200, kPng, {{"Content-Type", "image/png"}});
  auto pl = payload("openai", "gpt-image-1", "", R"({"prompt":"x"})");
  auto r = (*p)->submit(submit_request(pl));
  CHECK(r.error.kind == ErrorKind::malformed_response);
  CHECK(r.error.code == "malformed_json");
}

TEST_CASE("cloudflare: media types for the raw-answer hook", "[cloudflare]") {
  CHECK(assets::media_type(" Image/PNG ; charset=binary") == "image/png");
  CHECK(assets::media_type("application/json") == "application/json");
  CHECK(assets::media_type("") == "");
  CHECK(providers::is_json_content_type("application/json; charset=utf-8"));
  CHECK(providers::is_json_content_type("APPLICATION/JSON"));
  CHECK(providers::is_json_content_type("application/problem+json"));
  CHECK_FALSE(providers::is_json_content_type("+json"));
  CHECK_FALSE(providers::is_json_content_type("image/png"));
  CHECK_FALSE(providers::is_json_content_type("text/json-ish"));
  CHECK_FALSE(providers::is_json_content_type(""));
}
