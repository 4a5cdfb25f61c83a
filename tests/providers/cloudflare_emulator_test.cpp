// The Cloudflare Workers AI adapter over real HTTP (make_beast_transport on
// loopback) against its emulator: JSON and raw-bytes models, failures inside
// a 2xx, moderation, the daily allocation, Retry-After, lost answers and the
// faults of the FaultControl; nothing to poll or cancel.
#include <catch2/catch.hpp>

#include "babysea/providers.hpp"
#include "babysea/schema.hpp"
#include "cloudflare_emulator.hpp"
#include "emulator_test_util.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::provider_tests;
using std::chrono::milliseconds;

namespace {

const std::string kFlux = "@cf/black-forest-labs/flux-1-schnell";
const std::string kSdxl = "@cf/stabilityai/stable-diffusion-xl-base-1.0";

struct Setup {
  std::unique_ptr<Transport> transport = make_beast_transport();
  CloudflareEmulator emu;
  CloudflareProviderOptions o;
  std::shared_ptr<Provider> p;
  NativePayload flux;
  NativePayload sdxl;
  int attempts = 0;

  Setup() {
    fast(emu, 10, 20);
    emu.start();
    o.transport = transport.get();
    o.base_url = emu.base_url();
    o.account_id = emu.account_id();
    o.api_token = emu.options().api_key;
    p = make(o);
    flux = native(kFlux, R"({"prompt":"a lighthouse at dusk","steps":4})");
    sdxl = native(kSdxl, R"({"prompt":"a lighthouse","negative_prompt":"fog","num_steps":20,"width":1024})");
  }
  static std::shared_ptr<Provider> make(const CloudflareProviderOptions& options) {
    auto made = make_cloudflare_provider(options);
    REQUIRE(made.ok());
    return *made;
  }
  static NativePayload native(std::string model, std::string json) {
    NativePayload n;
    n.provider = "cloudflare";
    n.native_model = std::move(model);
    n.json = std::move(json);
    return n;
  }
  // Each submit is a fresh attempt.
  SubmitResult submit(const NativePayload& pl, Provider* with = nullptr) {
    SubmitRequest r;
    r.generation_id = "gen_1";
    r.attempt_id = "att_" + std::to_string(++attempts);
    r.payload = &pl;
    return (with ? *with : *p).submit(r);
  }
};

const ProviderOutput& only_output(const SubmitResult& r) {
  INFO(r.error.code << " " << r.error.message);
  REQUIRE(r.error.ok());
  REQUIRE(r.status.has_value());
  REQUIRE(r.status->kind == ProviderStatusKind::succeeded);
  REQUIRE(r.status->outputs.size() == 1);
  return r.status->outputs[0];
}

}  // namespace

TEST_CASE("emulated cloudflare: JSON and raw-bytes models become inline images", "[cloudflare]") {
  Setup s;
  auto r = s.submit(s.flux);
  const auto& jpeg = only_output(r);
  CHECK(jpeg.data == CloudflareEmulator::jpeg_bytes());
  CHECK(jpeg.content_type == "image/jpeg");
  CHECK(jpeg.url.empty());
  auto job = s.emu.job(r.job.job_id);  // the cf-ray names the emulated run
  REQUIRE(job.has_value());
  CHECK(job->model == kFlux);
  CHECK(job->body == s.flux.json);
  CHECK(job->tag == "att_1");

  auto raw = s.submit(s.sdxl);
  const auto& png = only_output(raw);
  CHECK(png.data == EmulatorBase::png_bytes());
  CHECK(png.content_type == "image/png");
  CHECK(raw.job.job_id.ends_with("-EMU"));
  auto phoenix = s.submit(Setup::native("@cf/leonardo/phoenix-1.0", R"({"prompt":"x","num_steps":25})"));
  CHECK(only_output(phoenix).content_type == "image/jpeg");
  CHECK(s.emu.faults().max_submits_per_tag() == 1);

  // Nothing to poll, cancel or call back.
  CHECK(s.p->poll(r.job).status.kind == ProviderStatusKind::lost);
  CHECK(s.p->cancel(r.job).outcome == CancelOutcome::unsupported);
  CHECK(s.emu.faults().counters().requests == 3);
}

TEST_CASE("emulated cloudflare: images larger than the default 4 MiB answer cap", "[cloudflare]") {
  Setup s;
  s.emu.set_image_size(6u << 20);
  CHECK(only_output(s.submit(s.sdxl)).data.size() == (6u << 20));
  auto big = s.submit(s.flux);  // ~8 MiB of base64
  CHECK(only_output(big).data.size() == (6u << 20));
  CHECK(only_output(big).content_type == "image/jpeg");
}

TEST_CASE("emulated cloudflare: moderation, failures in a 2xx, refused input, account errors", "[cloudflare]") {
  Setup s;
  s.emu.faults().moderate_input_next();
  auto nsfw = s.submit(s.flux);
  CHECK(nsfw.error.kind == ErrorKind::moderation);
  CHECK(nsfw.error.code == "3030");
  s.emu.faults().moderate_next();
  CHECK(s.submit(s.sdxl).error.kind == ErrorKind::moderation);
  s.emu.faults().fail_next();
  auto failed = s.submit(s.sdxl);
  CHECK(failed.error.kind == ErrorKind::server_error);
  CHECK(failed.error.code == "3043");

  s.emu.set_failures_in_2xx(true);
  s.emu.faults().moderate_next();
  auto in_2xx = s.submit(s.sdxl);
  REQUIRE(in_2xx.error.ok());
  REQUIRE(in_2xx.status.has_value());
  CHECK(in_2xx.status->kind == ProviderStatusKind::failed);
  CHECK(in_2xx.status->error.kind == ErrorKind::moderation);
  CHECK(in_2xx.job.job_id.ends_with("-EMU"));
  s.emu.faults().fail_next();
  auto failed_2xx = s.submit(s.flux);
  REQUIRE(failed_2xx.status.has_value());
  CHECK(failed_2xx.status->kind == ProviderStatusKind::failed);
  CHECK(failed_2xx.status->error.kind == ErrorKind::server_error);
  s.emu.set_failures_in_2xx(false);

  // The model's schema refuses the input: invalid_input, fail fast.
  auto extra = s.submit(Setup::native(kFlux, R"({"prompt":"x","width":1024})"));
  CHECK(extra.error.kind == ErrorKind::invalid_input);
  CHECK(extra.error.code == "5006");
  CHECK(s.submit(Setup::native("@cf/nobody/no-model", R"({"prompt":"x"})")).error.kind ==
        ErrorKind::model_unavailable);

  s.emu.error_next(CfError::daily_limit());
  auto daily = s.submit(s.flux);
  CHECK(daily.error.kind == ErrorKind::provider_quota);
  CHECK(daily.error.code == "3036");
  s.emu.error_next(CfError::out_of_capacity());
  CHECK(s.submit(s.flux).error.kind == ErrorKind::provider_unavailable);
  s.emu.error_next(CfError::private_model());
  CHECK(s.submit(s.sdxl).error.kind == ErrorKind::model_unavailable);

  auto wrong = s.o;
  wrong.api_token = "wrong-token";
  auto bad_auth = s.submit(s.flux, Setup::make(wrong).get());
  CHECK(bad_auth.error.kind == ErrorKind::provider_auth);
  CHECK(bad_auth.error.code == "10000");
  CHECK(bad_auth.error.message.find("wrong-token") == std::string::npos);
  auto other = s.o;
  other.account_id = "another-account";
  CHECK(s.submit(s.flux, Setup::make(other).get()).error.kind == ErrorKind::provider_auth);
}

TEST_CASE("emulated cloudflare: Retry-After, 5xx, lost answers and hangs", "[cloudflare]") {
  Setup s;
  s.emu.faults().rate_limit_next(1, 4, Op::submit);
  auto rl = s.submit(s.flux);
  CHECK(rl.error.kind == ErrorKind::rate_limited);
  CHECK(rl.error.retry_after_ms == 4'000);
  CHECK(rl.error.code == "971");

  s.emu.faults().http_error_next(1, 502, Op::submit);
  CHECK(s.submit(s.sdxl).error.kind == ErrorKind::server_error);
  s.emu.faults().http_error_next(1, 503, Op::submit);
  CHECK(s.submit(s.sdxl).error.kind == ErrorKind::provider_unavailable);
  s.emu.faults().malformed_next(1, Op::submit);
  CHECK(s.submit(s.flux).error.kind == ErrorKind::malformed_response);

  // The run happened but its answer was lost: a connection error, never retried by the adapter.
  const auto before = s.emu.faults().counters();
  s.emu.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  auto lost = s.submit(s.sdxl);
  CHECK(lost.error.kind == ErrorKind::connection);
  CHECK(lost.job.job_id.empty());
  auto after = s.emu.faults().counters();
  CHECK(after.submits == before.submits + 1);
  CHECK(after.submit_requests == before.submit_requests + 1);
  CHECK(s.emu.faults().max_submits_per_tag() == 1);

  s.emu.faults().hang_next(1, Op::submit);
  auto impatient = s.o;
  impatient.request_timeout = milliseconds(300);
  CHECK(s.submit(s.flux, Setup::make(impatient).get()).error.kind == ErrorKind::timeout);

  // A run slower than the timeout (the job timing holds the answer) is a timeout too.
  fast(s.emu, 200, 400);
  CHECK(s.submit(s.sdxl, Setup::make(impatient).get()).error.kind == ErrorKind::timeout);
  fast(s.emu, 10, 20);
  CHECK(only_output(s.submit(s.sdxl)).content_type == "image/png");
  CHECK(s.emu.faults().pending_faults() == 0);
}
