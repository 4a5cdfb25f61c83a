// The Cloudflare Workers AI emulator over real HTTP (babysea's Beast
// transport, no pool): both answer shapes, auth and account checks, model
// names and input schemas, job outcomes, scripted Cloudflare errors and the
// FaultControl request faults.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>

#include "babysea/transport.hpp"
#include "cloudflare_emulator.hpp"
#include "emulator_test_support.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::emu::testing;

namespace {

constexpr const char* kToken = "cf-token";
const std::string kFlux = "@cf/black-forest-labs/flux-1-schnell";
const std::string kSdxl = "@cf/stabilityai/stable-diffusion-xl-base-1.0";

// A started emulator with fast jobs and the shared client for it.
struct Fixture {
  CloudflareEmulator emu{EmulatorOptions{.api_key = kToken}};
  Http http;  // no pool: a pooled connection would retry over a reset fault
  Fixture() {
    fast(emu, 40, 60);
    emu.start();
  }
  std::string run_url(std::string_view model, std::string_view account = CloudflareEmulator::kDefaultAccount) const {
    return emu.base_url() + "/client/v4/accounts/" + std::string(account) + "/ai/run/" + std::string(model);
  }
  static std::vector<HttpHeader> headers(const std::string& token, std::string attempt = "att_1") {
    return {{"Authorization", "Bearer " + token},
            {"Content-Type", "application/json"},
            {"X-Babysea-Attempt-Id", std::move(attempt)}};
  }
  Result<HttpResponse> post(std::string url, std::string body, std::string token = kToken,
                            milliseconds timeout = milliseconds(3000), std::string attempt = "att_1") {
    return http.send("POST", std::move(url), headers(token, std::move(attempt)), std::move(body), timeout);
  }
  HttpResponse run(std::string_view model, std::string body, std::string token = kToken) {
    return http.ok("POST", run_url(model), headers(token), std::move(body));
  }
};

// Checks a v4 error envelope: status, first error's code; returns its message.
std::string expect_error(const HttpResponse& r, int status, int code) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.header("content-type").value_or("") == "application/json");
  CHECK(r.header("cf-ray").has_value());
  auto o = parse_obj(r.body);
  CHECK(o.at("success") == false);
  CHECK(o.at("result").is_null());
  const auto& errors = o.at("errors").as_array();
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("code").as_int64() == code);
  return std::string(errors[0].at("message").as_string());
}

}  // namespace

TEST_CASE("cloudflare emulator: JSON and raw-bytes models, held for the job timing", "[emulators][cloudflare]") {
  Fixture f;
  auto t0 = std::chrono::steady_clock::now();
  auto flux = f.run(kFlux, R"({"prompt":"a lighthouse","steps":4})");
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(95));
  REQUIRE(flux.status == 200);
  CHECK(flux.header("content-type").value_or("") == "application/json");
  auto o = parse_obj(flux.body);
  CHECK(o.at("success") == true);
  CHECK(o.at("errors").as_array().empty());
  CHECK(o.at("messages").as_array().empty());
  CHECK(unbase64(o.at("result").at("image").as_string()) == CloudflareEmulator::jpeg_bytes());
  CHECK(CloudflareEmulator::jpeg_bytes().substr(0, 3) == "\xff\xd8\xff");
  CHECK(CloudflareEmulator::jpeg_bytes().size() == 159);

  // The cf-ray header names the job, which kept the request.
  std::string ray(flux.header("cf-ray").value_or(""));
  CHECK(ray.size() == 20);
  CHECK(ray.ends_with("-EMU"));
  auto job = f.emu.job(ray);
  REQUIRE(job.has_value());
  CHECK(job->model == kFlux);
  CHECK(job->body == R"({"prompt":"a lighthouse","steps":4})");
  CHECK(job->tag == "att_1");
  CHECK(f.emu.faults().submits_for("att_1") == 1);

  auto sdxl = f.run(kSdxl, R"({"prompt":"a lighthouse","negative_prompt":"fog","num_steps":20,"width":1024})");
  REQUIRE(sdxl.status == 200);
  CHECK(sdxl.header("content-type").value_or("") == "image/png");
  CHECK(sdxl.body == EmulatorBase::png_bytes());
  CHECK(sdxl.header("cf-ray").has_value());

  auto phoenix = f.run("@cf/leonardo/phoenix-1.0", R"({"prompt":"x","num_steps":50,"guidance":2})");
  REQUIRE(phoenix.status == 200);
  CHECK(phoenix.header("content-type").value_or("") == "image/jpeg");
  CHECK(phoenix.body == CloudflareEmulator::jpeg_bytes());

  auto lucid = f.run("@cf/leonardo/lucid-origin", R"({"prompt":"x","width":2500,"steps":40})");
  REQUIRE(lucid.status == 200);
  CHECK(lucid.header("content-type").value_or("") == "application/json");
  CHECK(f.emu.faults().counters().submits == 4);
}

TEST_CASE("cloudflare emulator: auth, account, model names and input schemas", "[emulators][cloudflare]") {
  Fixture f;
  const std::string ok_body = R"({"prompt":"x"})";
  CHECK(expect_error(f.run(kFlux, ok_body, "wrong"), 401, 10000) == "Authentication error");
  auto other = f.post(f.run_url(kFlux, "another-account"), ok_body);
  REQUIRE(other.ok());
  expect_error(other.value(), 403, 10000);
  auto models = f.post(f.emu.base_url() + "/client/v4/accounts/" + f.emu.account_id() + "/ai/models/search", "{}");
  REQUIRE(models.ok());
  expect_error(models.value(), 404, 7000);

  expect_error(f.run("@hf/thebloke/some-model", ok_body), 404, 3042);
  CHECK(expect_error(f.run("@cf/nobody/no-model", ok_body), 400, 5007) == "No such model @cf/nobody/no-model or task");

  CHECK(expect_error(f.run(kFlux, R"({"steps":4})"), 400, 5006) ==
        "AiError: Bad input: Error: required properties at '/' are 'prompt'");
  expect_error(f.run(kFlux, R"({"prompt":""})"), 400, 5006);
  expect_error(f.run(kFlux, R"({"prompt":")" + std::string(2049, 'a') + R"("})"), 400, 5006);
  expect_error(f.run(kFlux, R"(["prompt"])"), 400, 5006);
  expect_error(f.run(kFlux, "not json"), 400, 5006);
  CHECK(expect_error(f.run(kFlux, R"({"prompt":"x","width":1024})"), 400, 5006) ==
        "AiError: Bad input: Additional or unevaluated properties '/width' at '/' not allowed");
  expect_error(f.run(kFlux, R"({"prompt":"x","model":"flux"})"), 400, 5006);  // no "model" member
  expect_error(f.run(kFlux, R"({"prompt":"x","steps":9})"), 400, 5006);
  expect_error(f.run(kSdxl, R"({"prompt":"x","num_steps":21})"), 400, 5006);
  expect_error(f.run(kSdxl, R"({"prompt":"x","height":128})"), 400, 5006);
  expect_error(f.run(kSdxl, R"({"prompt":"x","width":"1024"})"), 400, 5006);
  CHECK(f.emu.faults().counters().submits == 0);
  CHECK(f.emu.job_ids().empty());
}

TEST_CASE("cloudflare emulator: outcomes, scripted Cloudflare errors, padded images", "[emulators][cloudflare]") {
  Fixture f;
  const std::string body = R"({"prompt":"x"})";
  f.emu.faults().moderate_input_next();
  CHECK(expect_error(f.run(kFlux, body), 400, 3030) == "AiError: Input prompt contains NSFW content (code 3030)");
  f.emu.faults().moderate_next();
  CHECK(expect_error(f.run(kSdxl, body), 400, 3030) == "AiError: Output image contains NSFW content (code 3030)");
  f.emu.faults().fail_next();
  expect_error(f.run(kSdxl, body), 500, 3043);
  f.emu.faults().lose_next();  // nothing to lose in one exchange: a failed run
  expect_error(f.run(kFlux, body), 500, 3043);
  CHECK(f.emu.faults().counters().submits == 4);  // each of those ran

  f.emu.set_failures_in_2xx(true);
  f.emu.faults().moderate_next();
  expect_error(f.run(kSdxl, body), 200, 3030);
  f.emu.faults().fail_next();
  expect_error(f.run(kFlux, body), 200, 3043);
  f.emu.set_failures_in_2xx(false);

  const auto before = f.emu.faults().counters().submits;
  f.emu.error_next(CfError::daily_limit());
  CHECK(expect_error(f.run(kFlux, body), 429, 3036).starts_with("You have used up your daily free allocation"));
  f.emu.error_next(CfError::out_of_capacity(), 2);
  expect_error(f.run(kFlux, body), 429, 3040);
  expect_error(f.run(kSdxl, body), 429, 3040);
  f.emu.error_next(CfError::private_model());
  expect_error(f.run(kSdxl, body), 403, 5018);
  f.emu.error_next(CfError{413, 3006, "Request is too large"});
  expect_error(f.run(kSdxl, body), 413, 3006);
  CHECK(f.emu.faults().counters().submits == before);  // refused runs create no job
  // A refused input does not consume a scripted error.
  f.emu.error_next(CfError::daily_limit());
  expect_error(f.run(kFlux, R"({})"), 400, 5006);
  expect_error(f.run(kFlux, body), 429, 3036);
  CHECK(f.run(kFlux, body).status == 200);

  f.emu.set_image_size(100'000);
  auto big = f.run(kSdxl, body);
  REQUIRE(big.status == 200);
  CHECK(big.body.size() == 100'000);
  CHECK(big.body.starts_with(EmulatorBase::png_bytes()));
  auto big_json = parse_obj(f.run(kFlux, body).body);
  CHECK(unbase64(big_json.at("result").at("image").as_string()).size() == 100'000);
}

TEST_CASE("cloudflare emulator: request faults of the FaultControl", "[emulators][cloudflare]") {
  Fixture f;
  const std::string body = R"({"prompt":"x"})";
  auto submit = [&](milliseconds timeout = milliseconds(600)) { return f.post(f.run_url(kSdxl), body, kToken, timeout); };

  f.emu.faults().rate_limit_next(1, 7, Op::submit);
  auto rl = submit();
  REQUIRE(rl.ok());
  expect_error(rl.value(), 429, 971);
  CHECK(rl.value().header("retry-after").value_or("") == "7");

  f.emu.faults().http_error_next(1, 503, Op::submit);
  auto busy = submit();
  REQUIRE(busy.ok());
  expect_error(busy.value(), 503, 3043);

  f.emu.faults().malformed_next(1, Op::submit);
  auto bad = submit();
  REQUIRE(bad.ok());
  CHECK(bad.value().status == 200);
  boost::system::error_code ec;
  (void)json::parse(bad.value().body, ec);
  CHECK(ec);

  f.emu.faults().reset_next(1, Op::submit);
  auto reset = submit();
  REQUIRE_FALSE(reset.ok());
  CHECK(reset.status().code() == Code::unavailable);

  const auto before = f.emu.faults().counters();
  f.emu.faults().hang_next(1, Op::submit);
  auto hung = submit(milliseconds(300));
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.status().code() == Code::timeout);
  CHECK(f.emu.faults().counters().submits == before.submits);

  // The ambiguous case: the image was made (and billed), the answer lost.
  f.emu.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  REQUIRE_FALSE(submit().ok());
  CHECK(f.emu.faults().counters().submits == before.submits + 1);
  CHECK(f.emu.faults().max_submits_per_tag() == 1);

  f.emu.faults().set_latency(milliseconds(250));
  auto t0 = std::chrono::steady_clock::now();
  auto slow = submit(milliseconds(2000));
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(240));
  f.emu.faults().set_latency(milliseconds(0));
  REQUIRE(slow.ok());
  CHECK(slow.value().status == 200);
  CHECK(f.emu.faults().pending_faults() == 0);
  CHECK(f.emu.faults().counters().submit_requests == 7);
}
