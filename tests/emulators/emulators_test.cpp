// Drives every provider emulator over real HTTP with the babysea Transport:
// submit, poll to completion, cancel, callbacks verified by babysea's own
// verifiers, and each fault of the FaultControl.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <algorithm>
#include <mutex>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/transport.hpp"
#include "babysea/webhooks.hpp"
#include "bfl_emulator.hpp"
#include "emulator_server.hpp"
#include "emulator_test_support.hpp"
#include "fal_emulator.hpp"
#include "openai_emulator.hpp"
#include "replicate_emulator.hpp"
#include "runway_emulator.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::emu::testing;

namespace {

// Records callbacks on loopback; answers `status` (200 by default).
class Receiver {
 public:
  Receiver() {
    server_.route("POST", "/", [this](const EmuRequest& r) {
      std::lock_guard<std::mutex> lock(mu_);
      got_.push_back(r);
      cv_.notify_all();
      return EmuResponse::text(status_, "ok");
    });
    server_.start();
  }
  std::string url(const std::string& path) const { return server_.base_url() + path; }
  void set_status(int s) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
  }
  bool wait(std::size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return got_.size() >= n; });
  }
  std::vector<EmuRequest> got() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  EmulatorServer server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<EmuRequest> got_;
  int status_ = 200;
};

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A JWKS fetcher over the babysea Transport (loopback only, for tests).
class LoopbackJwks : public JwksFetcher {
 public:
  Result<std::string> fetch(std::string_view url) override {
    auto r = http_.send("GET", std::string(url));
    if (!r.ok()) return r.status();
    if (r.value().status != 200) return Status(Code::unavailable, "jwks status " + std::to_string(r.value().status));
    return r.value().body;
  }

 private:
  Http http_;
};

// Faults every emulator shares, checked through one submit request.
void check_request_faults(EmulatorBase& e, Http& http, const std::function<Result<HttpResponse>()>& submit,
                          const std::function<bool(const HttpResponse&)>& accepted) {
  e.faults().rate_limit_next(1, 7, Op::submit);
  auto r = submit();
  REQUIRE(r.ok());
  CHECK(r.value().status == 429);
  CHECK(r.value().header("retry-after").value_or("") == "7");

  e.faults().http_error_next(1, 503, Op::submit);
  r = submit();
  REQUIRE(r.ok());
  CHECK(r.value().status == 503);

  e.faults().malformed_next(1, Op::submit);
  r = submit();
  REQUIRE(r.ok());
  CHECK(r.value().status == 200);
  boost::system::error_code ec;
  (void)json::parse(r.value().body, ec);
  CHECK(ec);

  e.faults().reset_next(1, Op::submit);
  r = submit();
  INFO((r.ok() ? std::to_string(r.value().status) + " " + r.value().body : r.status().message()));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::unavailable);

  // A hang: the client gives up; a later request is served normally.
  e.faults().hang_next(1, Op::submit);
  auto before = e.faults().counters();
  r = submit();  // the submit lambdas use a short timeout
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::timeout);
  CHECK(e.faults().counters().submits == before.submits);

  // The ambiguous case: the job is created, the answer is lost.
  e.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  r = submit();
  REQUIRE_FALSE(r.ok());
  CHECK(e.faults().counters().submits == before.submits + 1);

  // Latency on every request.
  e.faults().set_latency(milliseconds(250));
  auto t0 = std::chrono::steady_clock::now();
  r = submit();
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(240));
  e.faults().set_latency(milliseconds(0));
  REQUIRE(r.ok());
  CHECK(accepted(r.value()));
  CHECK(e.faults().pending_faults() == 0);
  (void)http;
}

}  // namespace

// ------------------------------------------------------------------ Replicate

TEST_CASE("replicate emulator: predictions, polling, signed webhooks", "[emulators][replicate]") {
  ReplicateEmulator rep(EmulatorOptions{.api_key = "r8_test"});
  fast(rep);
  rep.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Bearer r8_test"}};

  CHECK(http.ok("GET", rep.base_url() + "/v1/webhooks/default/secret").status == 401);
  auto secret_res = http.ok("GET", rep.base_url() + "/v1/webhooks/default/secret", auth);
  REQUIRE(secret_res.status == 200);
  std::string secret = str(parse_obj(secret_res.body), "key");
  CHECK(secret == rep.webhook_secret());
  CHECK(secret.starts_with("whsec_"));

  auto bad = http.ok("POST", rep.base_url() + "/v1/models/black-forest-labs/flux-schnell/predictions",
                     {{"Authorization", "Bearer wrong"}}, R"({"input":{"prompt":"x"}})");
  CHECK(bad.status == 401);
  auto invalid = http.ok("POST", rep.base_url() + "/v1/predictions", auth, R"({"input":{"prompt":"x"}})");
  CHECK(invalid.status == 422);  // no version

  json::object body;
  body["input"] = json::object{{"prompt", "a sea otter"}};
  body["webhook"] = rx.url("/callbacks/replicate?attempt_id=att-1");
  body["webhook_events_filter"] = json::array{"start", "completed"};
  auto sub = http.ok("POST", rep.base_url() + "/v1/models/black-forest-labs/flux-schnell/predictions", auth,
                     json::serialize(body));
  REQUIRE(sub.status == 201);
  auto p = parse_obj(sub.body);
  std::string id = str(p, "id");
  CHECK(str(p, "status") == "starting");
  CHECK(str(p, "model") == "black-forest-labs/flux-schnell");
  CHECK(str(p.at("urls").as_object(), "get") == rep.base_url() + "/v1/predictions/" + id);
  CHECK(rep.faults().submits_for("att-1") == 1);

  std::string status;
  json::object last;
  REQUIRE(eventually([&] {
    last = parse_obj(http.ok("GET", rep.base_url() + "/v1/predictions/" + id, auth).body);
    status = str(last, "status");
    return status == "succeeded";
  }));
  REQUIRE(last.at("output").is_array());
  auto out_url = std::string(last.at("output").as_array().at(0).as_string());
  auto file = http.ok("GET", out_url);
  CHECK(file.status == 200);
  CHECK(file.body == EmulatorBase::png_bytes());
  CHECK(file.header("content-type").value_or("") == "image/png");
  CHECK(last.at("metrics").as_object().at("predict_time").as_double() > 0.0);

  REQUIRE(rx.wait(2));
  auto verifier = StandardWebhookVerifier::create(StandardWebhookOptions{.secrets = {secret}});
  REQUIRE(verifier.ok());
  auto got = rx.got();
  REQUIRE(got.size() == 2);
  std::set<std::string> ids;
  for (const auto& cb : got) {
    CHECK(cb.target == "/callbacks/replicate?attempt_id=att-1");
    auto wid = cb.header("webhook-id").value_or("");
    auto wts = cb.header("webhook-timestamp").value_or("");
    auto wsig = cb.header("webhook-signature").value_or("");
    CHECK(wsig.starts_with("v1,"));
    auto v = verifier.value()->verify({wid, wts, wsig}, cb.body, now_s());
    CHECK(v.ok());
    ids.insert(wid);
    // A tampered body does not verify.
    CHECK_FALSE(verifier.value()->verify({wid, wts, wsig}, cb.body + " ", now_s()).ok());
  }
  CHECK(ids.size() == 2);
  CHECK(str(parse_obj(got[0].body), "status") == "starting");
  CHECK(str(parse_obj(got[1].body), "status") == "succeeded");
  CHECK(rep.faults().counters().polls >= 1);
}

TEST_CASE("replicate emulator: cancel, Prefer wait, Cancel-After, outcomes", "[emulators][replicate]") {
  ReplicateEmulator rep(EmulatorOptions{.api_key = "r8_test"});
  rep.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Bearer r8_test"}};
  auto submit = [&](std::vector<HttpHeader> extra = {}, std::string webhook = {}) {
    json::object body;
    body["version"] = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637";
    body["input"] = json::object{{"prompt", "x"}};
    if (!webhook.empty()) body["webhook"] = webhook;
    auto h = auth;
    for (auto& e : extra) h.push_back(e);
    return http.ok("POST", rep.base_url() + "/v1/predictions", h, json::serialize(body));
  };
  auto get = [&](const std::string& id) { return http.ok("GET", rep.base_url() + "/v1/predictions/" + id, auth); };

  SECTION("cancel a queued prediction; the completed webhook says canceled") {
    fast(rep, 5000, 100);
    auto id = str(parse_obj(submit({}, rx.url("/cb")).body), "id");
    auto c = http.ok("POST", rep.base_url() + "/v1/predictions/" + id + "/cancel", auth);
    CHECK(c.status == 200);
    CHECK(str(parse_obj(c.body), "status") == "canceled");
    CHECK(str(parse_obj(get(id).body), "status") == "canceled");
    REQUIRE(rx.wait(1));
    CHECK(str(parse_obj(rx.got()[0].body), "status") == "canceled");
    CHECK(http.ok("POST", rep.base_url() + "/v1/predictions/nope/cancel", auth).status == 404);
    CHECK(rep.faults().counters().cancels == 2);
  }
  SECTION("Prefer: wait answers with the final prediction") {
    fast(rep, 50, 100);
    auto t0 = std::chrono::steady_clock::now();
    auto r = submit({{"Prefer", "wait=5"}});
    CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(140));
    CHECK(str(parse_obj(r.body), "status") == "succeeded");
  }
  SECTION("Cancel-After before start aborts") {
    fast(rep, 2000, 100);
    auto id = str(parse_obj(submit({{"Cancel-After", "100ms"}}).body), "id");
    REQUIRE(eventually([&] { return str(parse_obj(get(id).body), "status") == "aborted"; }, milliseconds(1500)));
  }
  SECTION("job outcomes: failed, moderated, lost") {
    fast(rep, 30, 30);
    rep.faults().fail_next();
    rep.faults().moderate_next();
    rep.faults().lose_next();
    auto failed = str(parse_obj(submit().body), "id");
    auto moderated = str(parse_obj(submit().body), "id");
    auto lost = str(parse_obj(submit().body), "id");
    std::this_thread::sleep_for(milliseconds(120));
    auto f = parse_obj(get(failed).body);
    CHECK(str(f, "status") == "failed");
    CHECK_FALSE(str(f, "error").empty());
    auto m = parse_obj(get(moderated).body);
    CHECK(str(m, "status") == "failed");
    CHECK(str(m, "error").find("NSFW") != std::string::npos);
    CHECK(get(lost).status == 404);
  }
  SECTION("request faults") {
    fast(rep, 30, 30);
    check_request_faults(
        rep, http,
        [&] {
          json::object body;
          body["version"] = "v";
          body["input"] = json::object{{"prompt", "x"}};
          auto h = auth;
          h.push_back({"X-Babysea-Attempt-Id", "att-faults"});
          return http.send("POST", rep.base_url() + "/v1/predictions", h, json::serialize(body), milliseconds(400));
        },
        [](const HttpResponse& r) { return r.status == 201; });
    CHECK(rep.faults().submits_for("att-faults") == 2);  // the after_accept one and the last one
    CHECK(rep.faults().max_submits_per_tag() == 2);
    // A 429 on a poll carries the problem+json shape.
    auto id = str(parse_obj(submit().body), "id");
    rep.faults().rate_limit_next(1, 3, Op::poll);
    auto r = get(id);
    CHECK(r.status == 429);
    CHECK(parse_obj(r.body).at("status").as_int64() == 429);
  }
  SECTION("output URLs expire") {
    fast(rep, 20, 20);
    rep.faults().set_output_ttl(milliseconds(300));
    auto id = str(parse_obj(submit().body), "id");
    json::object p;
    REQUIRE(eventually([&] {
      p = parse_obj(get(id).body);
      return str(p, "status") == "succeeded";
    }));
    auto url = std::string(p.at("output").as_array().at(0).as_string());
    CHECK(http.ok("GET", url).status == 200);
    REQUIRE(eventually([&] { return http.ok("GET", url).status == 410; }, milliseconds(2000)));
    CHECK(rep.faults().counters().files >= 2);
  }
}

TEST_CASE("replicate emulator: duplicate, out-of-order, dropped and retried callbacks", "[emulators][replicate]") {
  ReplicateEmulator rep(EmulatorOptions{.api_key = "r8_test"});
  fast(rep, 30, 60);
  rep.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Bearer r8_test"}};
  auto submit = [&](std::string path) {
    json::object body;
    body["input"] = json::object{{"prompt", "x"}};
    body["webhook"] = rx.url(path);
    body["webhook_events_filter"] = json::array{"start", "output", "completed"};
    return str(parse_obj(http.ok("POST", rep.base_url() + "/v1/models/o/n/predictions", auth, json::serialize(body)).body),
               "id");
  };
  auto for_path = [&](const std::string& path) {
    std::vector<EmuRequest> out;
    for (auto& r : rx.got()) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  };

  rep.faults().duplicate_callbacks_next(1, 2);
  submit("/dup");
  REQUIRE(eventually([&] { return for_path("/dup").size() >= 5; }));
  std::this_thread::sleep_for(milliseconds(150));
  auto dup = for_path("/dup");
  REQUIRE(dup.size() == 5);  // start, output, completed x3
  std::map<std::string, int> by_id;
  for (auto& r : dup) ++by_id[r.header("webhook-id").value_or("")];
  CHECK(by_id.size() == 3);
  CHECK(std::count_if(by_id.begin(), by_id.end(), [](auto& kv) { return kv.second == 3; }) == 1);

  rep.faults().reorder_callbacks_next(1);
  submit("/ooo");
  REQUIRE(eventually([&] { return for_path("/ooo").size() >= 3; }));
  auto ooo = for_path("/ooo");
  CHECK(str(parse_obj(ooo[0].body), "status") == "succeeded");
  CHECK(str(parse_obj(ooo.back().body), "status") != "succeeded");

  rep.faults().drop_callbacks_next(1);
  submit("/drop");
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(for_path("/drop").empty());
  CHECK(rep.faults().counters().callbacks_dropped >= 1);

  // The terminal event is retried when the receiver fails; others are not.
  rx.set_status(500);
  submit("/retry");
  REQUIRE(eventually([&] { return for_path("/retry").size() >= 5; }));
  std::this_thread::sleep_for(milliseconds(300));
  auto retry = for_path("/retry");
  CHECK(retry.size() == 5);  // start, output, completed + 2 retries
  CHECK(retry.back().header("webhook-id") == retry[retry.size() - 2].header("webhook-id"));
}

// ------------------------------------------------------------------------ fal

TEST_CASE("fal emulator: queue, status, result, Ed25519 webhooks over JWKS", "[emulators][fal]") {
  FalEmulator fal(EmulatorOptions{.api_key = "fal_key"}, "user-123");
  fast(fal, 150, 150);
  fal.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Key fal_key"}};
  std::string model = "fal-ai/flux/dev";

  CHECK(http.ok("POST", fal.base_url() + "/" + model, {{"Authorization", "Key nope"}}, "{}").status == 401);
  auto sub = http.ok("POST", fal.base_url() + "/" + model + "?fal_webhook=" + url_encode(rx.url("/fal?attempt=a9")),
                     auth, R"({"prompt":"an otter"})");
  REQUIRE(sub.status == 200);
  auto s = parse_obj(sub.body);
  std::string id = str(s, "request_id");
  CHECK(str(s, "status_url") == fal.base_url() + "/" + model + "/requests/" + id + "/status");
  CHECK(str(s, "cancel_url") == fal.base_url() + "/" + model + "/requests/" + id + "/cancel");
  CHECK(fal.faults().submits_for("a9") == 1);

  auto st = http.ok("GET", str(s, "status_url"), auth);
  CHECK(st.status == 202);
  CHECK(str(parse_obj(st.body), "status") == "IN_QUEUE");
  CHECK(parse_obj(st.body).contains("queue_position"));
  CHECK(http.ok("GET", str(s, "response_url"), auth).status == 400);  // still in progress
  REQUIRE(eventually([&] {
    auto r = http.ok("GET", str(s, "status_url") + "?logs=1", auth);
    return r.status == 202 && str(parse_obj(r.body), "status") == "IN_PROGRESS";
  }));
  REQUIRE(eventually([&] {
    auto r = http.ok("GET", str(s, "status_url"), auth);
    return r.status == 200 && str(parse_obj(r.body), "status") == "COMPLETED";
  }));
  auto res = parse_obj(http.ok("GET", str(s, "response_url"), auth).body);
  auto img = std::string(res.at("images").as_array().at(0).as_object().at("url").as_string());
  CHECK(http.ok("GET", img).body == EmulatorBase::png_bytes());

  REQUIRE(rx.wait(1));
  auto cb = rx.got().at(0);
  auto body = parse_obj(cb.body);
  CHECK(str(body, "request_id") == id);
  CHECK(str(body, "status") == "OK");
  CHECK(cb.header("x-fal-webhook-signature").value_or("").size() == 128);

  LoopbackJwks fetcher;
  SystemClock clock;
  FalOptions opts;
  opts.jwks_url = fal.jwks_url();
  opts.user_id = "user-123";
  opts.min_fetch_interval_ms = 0;
  auto verifier = FalVerifier::create(fetcher, clock, opts);
  REQUIRE(verifier.ok());
  {
    auto rid = cb.header("x-fal-webhook-request-id").value();
    auto uid = cb.header("x-fal-webhook-user-id").value();
    auto ts = cb.header("x-fal-webhook-timestamp").value();
    auto sig = cb.header("x-fal-webhook-signature").value();
    FalHeaders h{rid, uid, ts, sig};
    auto v = verifier.value()->verify(h, cb.body);
    INFO((v.ok() ? "" : v.status().message()));
    CHECK(v.ok());
    CHECK_FALSE(verifier.value()->verify(h, cb.body + "\n").ok());
    CHECK(fal.jwks_requests() >= 1);
  }
  // A verifier pinned to another fal user refuses a genuine signature.
  opts.user_id = "someone-else";
  auto foreign = FalVerifier::create(fetcher, clock, opts);
  REQUIRE(foreign.ok());
  {
    auto rid = cb.header("x-fal-webhook-request-id").value();
    auto uid = cb.header("x-fal-webhook-user-id").value();
    auto ts = cb.header("x-fal-webhook-timestamp").value();
    auto sig = cb.header("x-fal-webhook-signature").value();
    CHECK_FALSE(foreign.value()->verify(FalHeaders{rid, uid, ts, sig}, cb.body).ok());
  }

  // Key rotation: the JWKS serves the new key; the verifier refetches.
  fal.rotate_key(false);
  auto sub2 = parse_obj(http.ok("POST", fal.base_url() + "/" + model + "?fal_webhook=" + url_encode(rx.url("/fal2")),
                                auth, R"({"prompt":"b"})")
                            .body);
  REQUIRE(rx.wait(2));
  auto cb2 = rx.got().at(1);
  auto before = fal.jwks_requests();
  {
    auto rid = cb2.header("x-fal-webhook-request-id").value();
    auto uid = cb2.header("x-fal-webhook-user-id").value();
    auto ts = cb2.header("x-fal-webhook-timestamp").value();
    auto sig = cb2.header("x-fal-webhook-signature").value();
    CHECK(rid == str(sub2, "request_id"));
    CHECK(verifier.value()->verify(FalHeaders{rid, uid, ts, sig}, cb2.body).ok());
  }
  CHECK(fal.jwks_requests() > before);
}

TEST_CASE("fal emulator: cancel, errors, lost requests, faults", "[emulators][fal]") {
  FalEmulator fal(EmulatorOptions{.api_key = "fal_key"});
  fal.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Key fal_key"}};
  auto submit = [&](std::string webhook = {}) {
    std::string url = fal.base_url() + "/fal-ai/flux/schnell";
    if (!webhook.empty()) url += "?fal_webhook=" + url_encode(webhook);
    return parse_obj(http.ok("POST", url, auth, R"({"prompt":"x"})").body);
  };

  SECTION("cancel") {
    fast(fal, 5000, 100);
    auto s = submit(rx.url("/c"));
    auto c = http.ok("PUT", str(s, "cancel_url"), auth);
    CHECK(c.status == 202);
    CHECK(str(parse_obj(c.body), "status") == "CANCELLATION_REQUESTED");
    auto again = http.ok("PUT", str(s, "cancel_url"), auth);
    CHECK(again.status == 400);
    CHECK(str(parse_obj(again.body), "status") == "ALREADY_COMPLETED");
    auto missing = http.ok("PUT", fal.base_url() + "/fal-ai/flux/schnell/requests/nope/cancel", auth);
    CHECK(missing.status == 404);
    CHECK(str(parse_obj(missing.body), "status") == "NOT_FOUND");
    auto st = parse_obj(http.ok("GET", str(s, "status_url"), auth).body);
    CHECK(str(st, "status") == "COMPLETED");
    CHECK(str(st, "error_type") == "request_cancelled");
    REQUIRE(rx.wait(1));
    CHECK(str(parse_obj(rx.got()[0].body), "status") == "ERROR");
  }
  SECTION("moderation, failure, lost") {
    fast(fal, 20, 20);
    fal.faults().moderate_next();
    fal.faults().fail_next();
    fal.faults().lose_next();
    auto m = submit(rx.url("/m"));
    auto f = submit();
    auto l = submit();
    std::this_thread::sleep_for(milliseconds(100));
    auto ms = parse_obj(http.ok("GET", str(m, "status_url"), auth).body);
    CHECK(str(ms, "error_type") == "content_policy_violation");
    CHECK(http.ok("GET", str(m, "response_url"), auth).status == 422);
    CHECK(str(parse_obj(http.ok("GET", str(f, "status_url"), auth).body), "error_type") == "internal_server_error");
    CHECK(http.ok("GET", str(f, "response_url"), auth).status == 500);
    CHECK(http.ok("GET", str(l, "status_url"), auth).status == 404);
    REQUIRE(rx.wait(1));
    auto wb = parse_obj(rx.got()[0].body);
    CHECK(str(wb, "status") == "ERROR");
    CHECK(wb.at("payload").is_object());
  }
  SECTION("request faults") {
    fast(fal, 20, 20);
    check_request_faults(
        fal, http,
        [&] {
          return http.send("POST", fal.base_url() + "/fal-ai/flux/schnell", auth, R"({"prompt":"x"})",
                           milliseconds(400));
        },
        [](const HttpResponse& r) { return r.status == 200; });
  }
}

// ------------------------------------------------------------------------ BFL

TEST_CASE("bfl emulator: submit, polling_url, HMAC webhook, statuses", "[emulators][bfl]") {
  BflEmulator bfl(EmulatorOptions{.api_key = "bfl_key"});
  fast(bfl, 50, 100);
  bfl.start();
  Receiver rx;
  Http http;
  std::vector<HttpHeader> auth{{"x-key", "bfl_key"}};

  CHECK(http.ok("POST", bfl.base_url() + "/v1/flux-pro-1.1", {{"x-key", "bad"}}, R"({"prompt":"x"})").status == 403);
  json::object body;
  body["prompt"] = "a lighthouse";
  body["webhook_url"] = rx.url("/bfl");
  body["webhook_secret"] = "bfl-hook-secret";
  auto sub = http.ok("POST", bfl.base_url() + "/v1/flux-pro-1.1", auth, json::serialize(body));
  REQUIRE(sub.status == 200);
  auto s = parse_obj(sub.body);
  std::string id = str(s, "id");
  CHECK(str(s, "polling_url") == bfl.base_url() + "/v1/get_result?id=" + id);
  CHECK(str(parse_obj(http.ok("GET", str(s, "polling_url"), auth).body), "status") == "Pending");
  json::object done;
  REQUIRE(eventually([&] {
    done = parse_obj(http.ok("GET", str(s, "polling_url"), auth).body);
    return str(done, "status") == "Ready";
  }));
  auto sample = str(done.at("result").as_object(), "sample");
  CHECK(http.ok("GET", sample).status == 200);

  REQUIRE(rx.wait(1));
  auto cb = rx.got().at(0);
  auto sig = cb.header("x-bfl-signature").value_or("");
  CHECK(sig.starts_with("sha256="));
  auto verifier = HmacHeaderVerifier::create(HmacHeaderOptions{.secrets = {"bfl-hook-secret"}});
  REQUIRE(verifier.ok());
  CHECK(verifier.value()->verify(sig, cb.body).ok());
  CHECK_FALSE(verifier.value()->verify(sig, cb.body + " ").ok());
  CHECK(str(parse_obj(cb.body), "status") == "Ready");

  // Unknown ids, and no cancel endpoint.
  CHECK(str(parse_obj(http.ok("GET", bfl.base_url() + "/v1/get_result?id=nope", auth).body), "status") ==
        "Task not found");
  CHECK(http.ok("DELETE", bfl.base_url() + "/v1/get_result?id=" + id, auth).status == 404);

  // Outcomes.
  fast(bfl, 20, 20);
  bfl.faults().moderate_input_next();
  bfl.faults().moderate_next();
  bfl.faults().fail_next();
  bfl.faults().lose_next();
  std::vector<std::string> urls;
  for (int i = 0; i < 4; ++i) {
    urls.push_back(str(parse_obj(http.ok("POST", bfl.base_url() + "/v1/flux-dev", auth, R"({"prompt":"x"})").body),
                       "polling_url"));
  }
  std::this_thread::sleep_for(milliseconds(100));
  std::vector<std::string> want{"Request Moderated", "Content Moderated", "Error", "Task not found"};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(str(parse_obj(http.ok("GET", urls[i], auth).body), "status") == want[i]);
  }

  // Faults: 402 and 429 on submit; expiring samples.
  bfl.faults().http_error_next(1, 402, Op::submit);
  CHECK(http.ok("POST", bfl.base_url() + "/v1/flux-dev", auth, R"({"prompt":"x"})").status == 402);
  check_request_faults(
      bfl, http,
      [&] { return http.send("POST", bfl.base_url() + "/v1/flux-dev", auth, R"({"prompt":"x"})", milliseconds(400)); },
      [](const HttpResponse& r) { return r.status == 200; });
  bfl.faults().set_output_ttl(milliseconds(200));
  auto poll_url = str(parse_obj(http.ok("POST", bfl.base_url() + "/v1/flux-dev", auth, R"({"prompt":"x"})").body),
                      "polling_url");
  json::object r;
  REQUIRE(eventually([&] {
    r = parse_obj(http.ok("GET", poll_url, auth).body);
    return str(r, "status") == "Ready";
  }));
  auto expiring = str(r.at("result").as_object(), "sample");
  CHECK(http.ok("GET", expiring).status == 200);
  REQUIRE(eventually([&] { return http.ok("GET", expiring).status == 410; }, milliseconds(2000)));
}

// --------------------------------------------------------------------- OpenAI

TEST_CASE("openai emulator: synchronous generations and OpenAI-shaped errors", "[emulators][openai]") {
  OpenAiEmulator oa(EmulatorOptions{.api_key = "sk-test"});
  fast(oa, 50, 100);
  oa.start();
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Bearer sk-test"}};
  std::string url = oa.base_url() + "/v1/images/generations";

  auto unauth = http.ok("POST", url, {{"Authorization", "Bearer nope"}}, R"({"prompt":"x"})");
  CHECK(unauth.status == 401);
  CHECK(str(parse_obj(unauth.body).at("error").as_object(), "code") == "invalid_api_key");

  auto t0 = std::chrono::steady_clock::now();
  auto r = http.ok("POST", url, auth, R"({"model":"gpt-image-1","prompt":"an otter","n":2,"output_format":"png"})");
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(140));
  REQUIRE(r.status == 200);
  auto o = parse_obj(r.body);
  CHECK(o.at("created").is_int64());
  auto& data = o.at("data").as_array();
  REQUIRE(data.size() == 2);
  CHECK(unbase64(str(data[0].as_object(), "b64_json")) == EmulatorBase::png_bytes());

  auto u = parse_obj(http.ok("POST", url, auth, R"({"model":"dall-e-3","prompt":"x","response_format":"url"})").body);
  auto file_url = str(u.at("data").as_array().at(0).as_object(), "url");
  CHECK(http.ok("GET", file_url).status == 200);

  CHECK(http.ok("POST", url, auth, R"({"model":"gpt-image-1"})").status == 400);
  CHECK(http.ok("POST", url, auth, R"({"prompt":"x","n":11})").status == 400);

  oa.faults().moderate_next();
  auto mod = http.ok("POST", url, auth, R"({"model":"gpt-image-1","prompt":"x"})");
  CHECK(mod.status == 400);
  auto err = parse_obj(mod.body).at("error").as_object();
  CHECK(str(err, "code") == "moderation_blocked");
  CHECK_FALSE(str(err, "message").empty());
  CHECK_FALSE(str(err, "type").empty());

  oa.faults().fail_next();
  CHECK(http.ok("POST", url, auth, R"({"prompt":"x"})").status == 500);

  oa.faults().rate_limit_next(1, 2);
  auto rl = http.ok("POST", url, auth, R"({"prompt":"x"})");
  CHECK(rl.status == 429);
  CHECK(rl.header("retry-after").value_or("") == "2");
  CHECK(rl.header("x-ratelimit-remaining-requests").value_or("") == "0");
  CHECK(str(parse_obj(rl.body).at("error").as_object(), "code") == "rate_limit_exceeded");

  check_request_faults(
      oa, http, [&] { return http.send("POST", url, auth, R"({"prompt":"x"})", milliseconds(600)); },
      [](const HttpResponse& x) { return x.status == 200; });
}

// --------------------------------------------------------------------- Runway

TEST_CASE("runway emulator: version header, tasks, polling cadence, cancel/delete", "[emulators][runway]") {
  RunwayEmulator rw(EmulatorOptions{.api_key = "rw_key"});
  fast(rw, 100, 150);
  rw.set_min_poll_interval(milliseconds(60));
  rw.start();
  Http http;
  std::vector<HttpHeader> auth{{"Authorization", "Bearer rw_key"}, {"X-Runway-Version", "2024-11-06"}};
  std::string body = R"({"model":"gen4_image","promptText":"a fox","ratio":"1920:1080"})";

  CHECK(http.ok("POST", rw.base_url() + "/v1/text_to_image", {{"Authorization", "Bearer rw_key"}}, body).status ==
        400);
  CHECK(http.ok("POST", rw.base_url() + "/v1/text_to_image",
                {{"Authorization", "Bearer rw_key"}, {"X-Runway-Version", "2023-01-01"}}, body)
            .status == 400);
  CHECK(http.ok("POST", rw.base_url() + "/v1/text_to_image",
                {{"Authorization", "Bearer x"}, {"X-Runway-Version", "2024-11-06"}}, body)
            .status == 401);
  CHECK(http.ok("POST", rw.base_url() + "/v1/text_to_image", auth, R"({"model":"gen4_image"})").status == 400);

  rw.throttle_next(1);
  auto id = str(parse_obj(http.ok("POST", rw.base_url() + "/v1/text_to_image", auth, body).body), "id");
  auto task = [&](const std::string& tid) { return http.ok("GET", rw.base_url() + "/v1/tasks/" + tid, auth); };
  CHECK(str(parse_obj(task(id).body), "status") == "THROTTLED");
  std::this_thread::sleep_for(milliseconds(70));
  std::set<std::string> seen;
  json::object last;
  REQUIRE(eventually(
      [&] {
        last = parse_obj(task(id).body);
        seen.insert(str(last, "status"));
        return str(last, "status") == "SUCCEEDED";
      },
      milliseconds(5000), milliseconds(70)));
  CHECK(seen.count("RUNNING") == 1);
  auto out = std::string(last.at("output").as_array().at(0).as_string());
  CHECK(http.ok("GET", out).status == 200);
  CHECK(rw.faults().counters().poll_violations == 0);

  // Polling faster than the minimum is recorded, and refused when enforced.
  task(id);
  task(id);
  CHECK(rw.faults().counters().poll_violations >= 1);
  rw.set_enforce_poll_interval(true);
  auto fastpoll = task(id);
  CHECK(fastpoll.status == 429);
  CHECK(fastpoll.header("retry-after"));
  rw.set_enforce_poll_interval(false);

  // Cancel a pending task; delete a finished one.
  fast(rw, 3000, 100);
  auto pending = str(parse_obj(http.ok("POST", rw.base_url() + "/v1/image_to_video", auth,
                                       R"({"model":"gen4_turbo","promptImage":"https://x/y.png"})")
                                   .body),
                     "id");
  CHECK(http.ok("DELETE", rw.base_url() + "/v1/tasks/" + pending, auth).status == 204);
  CHECK(str(parse_obj(task(pending).body), "status") == "CANCELLED");
  CHECK(http.ok("DELETE", rw.base_url() + "/v1/tasks/" + id, auth).status == 204);
  CHECK(task(id).status == 404);
  CHECK(http.ok("DELETE", rw.base_url() + "/v1/tasks/unknown", auth).status == 404);

  // Failure codes and lost tasks.
  fast(rw, 20, 20);
  rw.faults().moderate_input_next();
  rw.faults().moderate_next();
  rw.faults().fail_next();
  rw.faults().lose_next();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(str(parse_obj(http.ok("POST", rw.base_url() + "/v1/text_to_image", auth, body).body), "id"));
  }
  std::this_thread::sleep_for(milliseconds(100));
  CHECK(str(parse_obj(task(ids[0]).body), "failureCode") == "SAFETY.INPUT.TEXT");
  CHECK(str(parse_obj(task(ids[1]).body), "failureCode").starts_with("SAFETY.OUTPUT"));
  auto failed = parse_obj(task(ids[2]).body);
  CHECK(str(failed, "status") == "FAILED");
  CHECK_FALSE(str(failed, "failure").empty());
  CHECK(task(ids[3]).status == 404);

  check_request_faults(
      rw, http,
      [&] { return http.send("POST", rw.base_url() + "/v1/text_to_image", auth, body, milliseconds(400)); },
      [](const HttpResponse& r) { return r.status == 200; });
}

// A reset after the provider accepted a submit, on a reused keep-alive
// connection. The pooled transport used to resend the POST on a fresh
// connection, so one submit call created two paid jobs; it now resends only
// idempotent methods and reports the (retryable) error instead.
TEST_CASE("pooled transport does not resend a submit the provider already took", "[transport-retry]") {
  ReplicateEmulator rep(EmulatorOptions{.api_key = "r8_test"});
  rep.start();
  Http http(/*pool=*/true);
  std::vector<HttpHeader> auth{{"Authorization", "Bearer r8_test"}, {"X-Babysea-Attempt-Id", "att-once"}};
  // Warm the pool: the next request reuses this connection.
  REQUIRE(http.ok("GET", rep.base_url() + "/v1/webhooks/default/secret", auth).status == 200);
  rep.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  auto r = http.send("POST", rep.base_url() + "/v1/predictions", auth, R"({"version":"v","input":{}})");
  CHECK_FALSE(r.ok());
  CHECK(rep.faults().submits_for("att-once") == 1);
}
