// The BytePlus ModelArk emulator over real HTTP: Seedream images answered at
// once, Seedance tasks (statuses, outputs, DELETE per status), ModelArk
// error bodies, and the FaultControl faults every emulator shares.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <thread>

#include "babysea/transport.hpp"
#include "byteplus_emulator.hpp"
#include "emulator_test_support.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::emu::testing;

namespace {

const std::string kImages = "/api/v3/images/generations";
const std::string kTasks = "/api/v3/contents/generations/tasks";
const std::string kVideo =
    R"({"model":"seedance-1-0-pro-250528","content":[{"type":"text","text":"a dog runs"},)"
    R"({"type":"image_url","image_url":{"url":"https://example.com/a.png"},"role":"first_frame"}],"ratio":"16:9","duration":5})";

// The shared client on one emulator: paths or absolute URLs, the Bearer key unless told otherwise.
struct Client {
  BytePlusEmulator& emu;
  std::string key = "ark-key";
  Http http{/*pool=*/false, /*max_response_bytes=*/4u << 20};

  std::string url(const std::string& target) const {
    return target.starts_with("http") ? target : emu.base_url() + target;
  }
  std::vector<HttpHeader> headers() const {
    return {{"Authorization", "Bearer " + key}, {"X-Babysea-Attempt-Id", "att-bp"}};
  }
  Result<HttpResponse> send(std::string method, const std::string& target, std::string body = {},
                            milliseconds timeout = milliseconds(3000)) {
    return http.send(std::move(method), url(target), headers(), std::move(body), timeout);
  }
  HttpResponse ok(std::string method, const std::string& target, std::string body = {}) {
    return http.ok(std::move(method), url(target), headers(), std::move(body));
  }
  json::object obj(std::string method, const std::string& target, std::string body = {}) {
    auto r = ok(std::move(method), target, std::move(body));
    INFO(r.status);
    return parse_obj(r.body);
  }
  json::object task(const std::string& id) { return obj("GET", kTasks + "/" + id); }
  std::string create(const std::string& body = kVideo) {
    auto o = obj("POST", kTasks, body);
    REQUIRE(o.contains("id"));
    return std::string(o.at("id").as_string());
  }
};

std::string code_of(const json::object& o) {
  auto it = o.find("error");
  return it != o.end() && it->value().is_object() ? str(it->value().as_object(), "code") : std::string();
}

std::string status_of(Client& c, const std::string& id) { return str(c.task(id), "status"); }

// Waits until the task reports `status` (or 3 s pass).
bool reaches(Client& c, const std::string& id, const std::string& status) {
  return eventually([&] { return status_of(c, id) == status; }, milliseconds(3000));
}

}  // namespace

TEST_CASE("byteplus emulator: Seedream images answer at once, URLs or base64", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  fast(bp, 40, 60);
  bp.start();
  Client c{bp};

  auto t0 = std::chrono::steady_clock::now();
  auto r = c.ok("POST", kImages, R"({"model":"seedream-4-0-250828","prompt":"a lighthouse","size":"2K"})");
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(95));  // held for queued + running
  REQUIRE(r.status == 200);
  CHECK(r.header("X-Request-Id").has_value());
  auto o = json::parse(r.body).as_object();
  CHECK(str(o, "model") == "seedream-4-0-250828");
  auto& data = o.at("data").as_array();
  REQUIRE(data.size() == 1);
  CHECK(str(data[0].as_object(), "size") == "2K");
  auto file = c.ok("GET", str(data[0].as_object(), "url"));
  CHECK(file.status == 200);
  CHECK(file.body == EmulatorBase::png_bytes());
  CHECK(o.at("usage").as_object().at("generated_images").as_int64() == 1);
  CHECK(bp.faults().submits_for("att-bp") == 1);

  auto group = c.obj("POST", kImages,
                     R"({"model":"seedream-4-0-250828","prompt":"a comic","response_format":"b64_json",)"
                     R"("sequential_image_generation":"auto","sequential_image_generation_options":{"max_images":3}})");
  auto& items = group.at("data").as_array();
  REQUIRE(items.size() == 3);
  for (const auto& item : items) CHECK(unbase64(str(item.as_object(), "b64_json")) == EmulatorBase::png_bytes());
  CHECK(group.at("usage").as_object().at("generated_images").as_int64() == 3);

  // Validation, in ModelArk's error shape.
  c.key = "wrong";
  auto unauth = c.ok("POST", kImages, R"({"model":"m","prompt":"x"})");
  CHECK(unauth.status == 401);
  CHECK(code_of(json::parse(unauth.body).as_object()) == "AuthenticationError");
  CHECK(str(json::parse(unauth.body).as_object().at("error").as_object(), "type") == "Unauthorized");
  c.key = "ark-key";
  CHECK(c.ok("POST", kImages, "not json").status == 400);
  auto no_model = c.ok("POST", kImages, R"({"prompt":"x"})");
  CHECK(no_model.status == 400);
  CHECK(code_of(json::parse(no_model.body).as_object()) == "MissingParameter");
  CHECK(code_of(c.obj("POST", kImages, R"({"model":"m"})")) == "MissingParameter");
  CHECK(code_of(c.obj("POST", kImages, R"({"model":"m","prompt":"x","response_format":"png"})")) == "InvalidParameter");
  CHECK(code_of(c.obj("POST", kImages, R"({"model":"m","prompt":"x","output_format":"webp"})")) == "InvalidParameter");
  CHECK(code_of(c.obj("POST", kImages,
                      R"({"model":"m","prompt":"x","sequential_image_generation":"auto",)"
                      R"("sequential_image_generation_options":{"max_images":16}})")) == "InvalidParameter");
}

TEST_CASE("byteplus emulator: image moderation, failures, account and model refusals", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  fast(bp, 10, 10);
  bp.start();
  Client c{bp};
  const std::string two = R"({"model":"seedream-4-0-250828","prompt":"x","sequential_image_generation":"auto",)"
                          R"("sequential_image_generation_options":{"max_images":2}})";

  bp.faults().moderate_input_next();
  auto in = c.ok("POST", kImages, two);
  CHECK(in.status == 400);
  CHECK(code_of(json::parse(in.body).as_object()) == "InputTextSensitiveContentDetected");

  bp.faults().moderate_next();
  auto out = c.obj("POST", kImages, two);
  auto& flagged = out.at("data").as_array();
  REQUIRE(flagged.size() == 2);
  for (const auto& item : flagged) CHECK(code_of(item.as_object()) == "OutputImageSensitiveContentDetected");
  CHECK(out.at("usage").as_object().at("generated_images").as_int64() == 0);

  bp.partial_moderation_next(1);
  auto partial = c.obj("POST", kImages, two);
  auto& mixed = partial.at("data").as_array();
  REQUIRE(mixed.size() == 2);
  CHECK(code_of(mixed[0].as_object()) == "OutputImageSensitiveContentDetected");
  CHECK(c.ok("GET", str(mixed[1].as_object(), "url")).status == 200);

  bp.faults().fail_next();
  auto failed = c.ok("POST", kImages, two);
  CHECK(failed.status == 500);
  CHECK(code_of(json::parse(failed.body).as_object()) == "InternalServiceError");

  bp.overdue_next(1);
  auto overdue = c.ok("POST", kTasks, kVideo);
  CHECK(overdue.status == 403);
  CHECK(code_of(json::parse(overdue.body).as_object()) == "AccountOverdueError");
  CHECK(c.ok("POST", kTasks, kVideo).status == 200);

  bp.set_open_models({"seedance-1-0-pro-250528"});
  auto closed = c.ok("POST", kImages, two);
  CHECK(closed.status == 404);
  CHECK(code_of(json::parse(closed.body).as_object()) == "ModelNotOpen");
  CHECK(c.ok("POST", kTasks, kVideo).status == 200);
  bp.set_open_models({});
  CHECK(c.ok("POST", kImages, two).status == 200);
}

TEST_CASE("byteplus emulator: Seedance tasks from queued to a final status", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  fast(bp, 200, 150);
  bp.start();
  Client c{bp};

  auto id = c.create(R"({"model":"seedance-1-0-pro-250528","content":[{"type":"text","text":"x"}],)"
                     R"("return_last_frame":true,"callback_url":"http://127.0.0.1:9/cb","resolution":"720p"})");
  CHECK(id.starts_with("cgt-"));
  auto queued = c.task(id);
  CHECK(str(queued, "status") == "queued");
  CHECK(str(queued, "model") == "seedance-1-0-pro-250528");
  CHECK(str(queued, "resolution") == "720p");
  CHECK(queued.at("created_at").is_int64());
  CHECK_FALSE(queued.contains("content"));
  REQUIRE(reaches(c, id, "running"));
  REQUIRE(reaches(c, id, "succeeded"));
  auto done = c.task(id);
  auto& content = done.at("content").as_object();
  auto video = c.ok("GET", str(content, "video_url"));
  CHECK(video.status == 200);
  CHECK(video.body == BytePlusEmulator::mp4_bytes());
  CHECK(video.header("Content-Type").value_or("") == "video/mp4");
  CHECK(c.ok("GET", str(content, "last_frame_url")).body == EmulatorBase::png_bytes());
  CHECK(done.at("usage").as_object().at("completion_tokens").as_int64() > 0);
  // The callback URL is kept, never called (BytePlus callbacks are unsigned).
  CHECK(bp.job(id)->callback_url == "http://127.0.0.1:9/cb");
  CHECK(bp.faults().counters().callbacks_sent == 0);
  CHECK(bp.job(id)->polls >= 3);

  auto plain = c.create();
  REQUIRE(reaches(c, plain, "succeeded"));
  CHECK_FALSE(c.task(plain).at("content").as_object().contains("last_frame_url"));

  // Validation.
  CHECK(code_of(c.obj("POST", kTasks, R"({"model":"m"})")) == "MissingParameter");
  CHECK(code_of(c.obj("POST", kTasks, R"({"model":"m","content":[]})")) == "MissingParameter");
  CHECK(code_of(c.obj("POST", kTasks, R"({"model":"m","content":[{"type":"text"}]})")) == "InvalidParameter");
  CHECK(code_of(c.obj("POST", kTasks, R"({"model":"m","content":[{"type":"image_url","image_url":{}}]})")) ==
        "InvalidParameter");
  CHECK(code_of(c.obj("POST", kTasks,
                      R"({"model":"m","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"},"role":"middle"}]})")) ==
        "InvalidParameter");
  CHECK(code_of(c.obj("POST", kTasks, R"({"model":"m","content":[{"type":"hologram"}]})")) == "InvalidParameter");
  CHECK(c.ok("POST", kTasks + "/cgt-1", kVideo).status == 404);
  CHECK(c.ok("GET", kTasks + "/cgt-unknown").status == 404);
  c.key = "wrong";
  CHECK(c.ok("GET", kTasks + "/" + id).status == 401);
  CHECK(c.ok("DELETE", kTasks + "/" + id).status == 401);
}

TEST_CASE("byteplus emulator: failed, moderated, lost and expired tasks", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  fast(bp, 20, 20);
  bp.start();
  Client c{bp};
  bp.faults().fail_next();
  bp.faults().moderate_input_next();
  bp.faults().moderate_next();
  bp.faults().lose_next();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(c.create());
  fast(bp, 300, 20);
  bp.expire_next(1);
  auto expiring = c.create();
  CHECK(status_of(c, expiring) == "queued");
  std::this_thread::sleep_for(milliseconds(80));

  auto failed = c.task(ids[0]);
  CHECK(str(failed, "status") == "failed");
  CHECK(code_of(failed) == "InternalServiceError");
  CHECK_FALSE(str(failed.at("error").as_object(), "message").empty());
  CHECK(code_of(c.task(ids[1])) == "InputTextSensitiveContentDetected");
  CHECK(code_of(c.task(ids[2])) == "OutputVideoSensitiveContentDetected");
  auto lost = c.ok("GET", kTasks + "/" + ids[3]);
  CHECK(lost.status == 404);
  CHECK(code_of(json::parse(lost.body).as_object()) == "ResourceNotFound");
  REQUIRE(reaches(c, expiring, "expired"));
  CHECK_FALSE(c.task(expiring).contains("content"));
}

TEST_CASE("byteplus emulator: DELETE cancels a queued task and deletes a finished one", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  bp.start();
  Client c{bp};

  fast(bp, 5'000, 100);
  auto queued = c.create();
  auto del = c.ok("DELETE", kTasks + "/" + queued);
  CHECK(del.status == 200);
  CHECK(del.body == "{}");
  CHECK(status_of(c, queued) == "cancelled");
  auto again = c.ok("DELETE", kTasks + "/" + queued);
  CHECK(again.status == 403);
  CHECK(code_of(json::parse(again.body).as_object()) == "OperationDenied.UnsupportedPhase");
  CHECK(status_of(c, queued) == "cancelled");  // a cancelled task is not deleted

  fast(bp, 10, 5'000);
  auto running = c.create();
  REQUIRE(reaches(c, running, "running"));
  auto refused = c.ok("DELETE", kTasks + "/" + running);
  CHECK(refused.status == 403);
  CHECK(code_of(json::parse(refused.body).as_object()) == "OperationDenied.UnsupportedPhase");
  CHECK(status_of(c, running) == "running");

  fast(bp, 10, 10);
  auto finished = c.create();
  bp.faults().fail_next();
  auto failed = c.create();
  bp.expire_next(1);
  auto expired = c.create();
  REQUIRE(reaches(c, finished, "succeeded"));
  REQUIRE(reaches(c, failed, "failed"));
  REQUIRE(reaches(c, expired, "expired"));
  for (const auto& id : {finished, failed, expired}) {
    INFO(id);
    CHECK(c.ok("DELETE", kTasks + "/" + id).status == 200);
    CHECK(c.ok("GET", kTasks + "/" + id).status == 404);  // the record is gone
    CHECK(c.ok("DELETE", kTasks + "/" + id).status == 404);
  }
  CHECK(c.ok("DELETE", kTasks + "/cgt-unknown").status == 404);
  CHECK(bp.faults().counters().cancels == 10);
}

TEST_CASE("byteplus emulator: shared request faults, latency and output expiry", "[emulators][byteplus]") {
  BytePlusEmulator bp(EmulatorOptions{.api_key = "ark-key"});
  fast(bp, 10, 10);
  bp.start();
  Client c{bp};
  auto submit = [&] { return c.send("POST", kTasks, kVideo, milliseconds(500)); };

  bp.faults().rate_limit_next(1, 7, Op::submit);
  auto limited = submit();
  REQUIRE(limited.ok());
  CHECK(limited->status == 429);
  CHECK(limited->header("Retry-After").value_or("") == "7");
  CHECK(code_of(json::parse(limited->body).as_object()) == "RateLimitExceeded.EndpointRPMExceeded");

  bp.faults().http_error_next(1, 503, Op::submit);
  auto busy = submit();
  REQUIRE(busy.ok());
  CHECK(busy->status == 503);
  CHECK(code_of(json::parse(busy->body).as_object()) == "ServiceUnavailable");

  bp.faults().malformed_next(1, Op::poll);
  auto id = c.create();
  auto garbled = c.ok("GET", kTasks + "/" + id);
  CHECK(garbled.status == 200);
  boost::system::error_code ec;
  (void)json::parse(garbled.body, ec);
  CHECK(ec);

  bp.faults().reset_next(1, Op::submit);
  auto reset = submit();
  REQUIRE_FALSE(reset.ok());
  CHECK(reset.status().code() == Code::unavailable);

  const auto before = bp.faults().counters().submits;
  bp.faults().hang_next(1, Op::submit);
  auto hung = submit();
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.status().code() == Code::timeout);
  CHECK(bp.faults().counters().submits == before);

  // The ambiguous case: the task is created, the answer is lost.
  bp.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  CHECK_FALSE(submit().ok());
  CHECK(bp.faults().counters().submits == before + 1);

  bp.faults().set_latency(milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(c.ok("GET", kTasks + "/" + id).status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(190));
  bp.faults().set_latency(milliseconds(0));

  bp.faults().set_output_ttl(milliseconds(60));
  auto short_lived = c.create();
  REQUIRE(reaches(c, short_lived, "succeeded"));
  auto url = str(c.task(short_lived).at("content").as_object(), "video_url");
  std::this_thread::sleep_for(milliseconds(100));
  CHECK(c.ok("GET", url).status == 410);
  CHECK(bp.faults().pending_faults() == 0);
}
