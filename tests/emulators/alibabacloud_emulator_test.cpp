// The DashScope emulator over real HTTP: async tasks (images, video),
// statuses, UNKNOWN for unknown tasks, cancel while PENDING only, the
// synchronous Qwen-Image endpoint, DashScope-shaped errors and every fault.
#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "alibabacloud_emulator.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/transport.hpp"
#include "emulator_test_support.hpp"

using namespace babysea;
using namespace babysea::emu;
using namespace babysea::emu::testing;

namespace {

constexpr const char* kKey = "sk-emu";
const std::vector<HttpHeader> kAuth = {{"Authorization", std::string("Bearer ") + kKey}};

// The shared client on one emulator: paths, the Bearer key unless told otherwise.
struct Client {
  explicit Client(AlibabaCloudEmulator& e) : emu(e) {}
  AlibabaCloudEmulator& emu;
  Http http;

  Result<HttpResponse> send(std::string method, const std::string& path, std::string body = {},
                            std::vector<HttpHeader> headers = kAuth,
                            milliseconds timeout = milliseconds(3000)) {
    return http.send(std::move(method), emu.base_url() + path, std::move(headers), std::move(body), timeout);
  }
  HttpResponse ok(std::string method, const std::string& path, std::string body = {},
                  std::vector<HttpHeader> headers = kAuth) {
    return http.ok(std::move(method), emu.base_url() + path, std::move(headers), std::move(body));
  }
  // An async submit with the right headers.
  HttpResponse submit(const std::string& path, std::string body, milliseconds timeout = milliseconds(3000)) {
    auto r = send("POST", path, std::move(body),
                  {{"Authorization", std::string("Bearer ") + kKey}, {"X-DashScope-Async", "enable"},
                   {"X-Babysea-Attempt-Id", "att-emu"}},
                  timeout);
    REQUIRE(r.ok());
    return r.value();
  }
};

// A started emulator (job timing queued_ms -> running_ms) and a client.
struct Rig {
  explicit Rig(int queued_ms = 100, int running_ms = 200) {
    fast(emu, queued_ms, running_ms);
    emu.start();
  }
  AlibabaCloudEmulator emu{EmulatorOptions{.api_key = kKey}};
  Client c{emu};
};

const json::object& output(const json::object& o) { return o.at("output").as_object(); }

const std::string kImageBody = R"({"model":"wan2.2-t2i-flash","input":{"prompt":"a fox"},"parameters":{"size":"1024*1024","n":2}})";
const std::string kVideoBody = R"({"model":"wan2.5-t2v-preview","input":{"prompt":"waves"},"parameters":{"size":"1280*720","duration":5}})";
const std::string kSyncBody =
    R"({"model":"qwen-image-plus","input":{"messages":[{"role":"user","content":[{"text":"a fox"}]}]},"parameters":{"size":"1328*1328"}})";

std::string task_id(const HttpResponse& r) {
  REQUIRE(r.status == 200);
  auto o = parse_obj(r.body);
  CHECK(str(output(o), "task_status") == "PENDING");
  CHECK_FALSE(str(o, "request_id").empty());
  return str(output(o), "task_id");
}

// Polls a task until `status` (or 5 s).
json::object wait_for(Client& c, const std::string& id, std::string_view status) {
  json::object last;
  for (int i = 0; i < 250; ++i) {
    last = parse_obj(c.ok("GET", "/api/v1/tasks/" + id).body);
    if (str(output(last), "task_status") == status) return last;
    std::this_thread::sleep_for(milliseconds(20));
  }
  FAIL("task " << id << " never reached " << status << ": " << json::serialize(last));
  return last;
}

}  // namespace

TEST_CASE("alibabacloud emulator: image and video tasks from PENDING to SUCCEEDED", "[alibabacloud][emulators]") {
  Rig rig{150, 150};
  auto& emu = rig.emu;
  auto& c = rig.c;

  auto id = task_id(c.submit(AlibabaCloudEmulator::kImagePath, kImageBody));
  auto job = emu.job(id);
  REQUIRE(job);
  CHECK(job->model == "wan2.2-t2i-flash");
  CHECK(job->tag == "att-emu");
  CHECK(emu.faults().submits_for("att-emu") == 1);
  auto first = parse_obj(c.ok("GET", "/api/v1/tasks/" + id).body);
  CHECK(str(output(first), "task_status") == "PENDING");
  CHECK(str(output(first), "task_id") == id);
  CHECK(str(output(first), "submit_time").size() == 23);  // "2025-09-25 11:07:28.590"
  CHECK(wait_for(c, id, "RUNNING").at("output").as_object().contains("scheduled_time"));
  auto done = wait_for(c, id, "SUCCEEDED");
  const auto& results = output(done).at("results").as_array();
  REQUIRE(results.size() == 2);
  std::set<std::string> urls;
  for (const auto& r : results) {
    std::string url = str(r.as_object(), "url");
    CHECK(url.rfind(emu.base_url() + "/files/", 0) == 0);
    urls.insert(url);
    auto file = c.ok("GET", url.substr(emu.base_url().size()), {}, {});
    CHECK(file.status == 200);
    CHECK(file.body == EmulatorBase::png_bytes());
  }
  CHECK(urls.size() == 2);
  CHECK(output(done).at("task_metrics").as_object().at("SUCCEEDED").as_int64() == 2);
  CHECK(done.at("usage").as_object().at("image_count").as_int64() == 2);
  CHECK(output(done).contains("end_time"));
  CHECK(emu.faults().counters().polls >= 3);

  auto vid = task_id(c.submit(AlibabaCloudEmulator::kVideoPath, kVideoBody));
  auto vdone = wait_for(c, vid, "SUCCEEDED");
  std::string video_url = str(output(vdone), "video_url");
  REQUIRE(video_url.rfind(emu.base_url() + "/files/", 0) == 0);
  CHECK(video_url.ends_with(".mp4"));
  CHECK_FALSE(output(vdone).contains("results"));
  auto file = c.ok("GET", video_url.substr(emu.base_url().size()), {}, {});
  CHECK(file.status == 200);
  CHECK(file.header("content-type").value_or("") == "video/mp4");
  CHECK(vdone.at("usage").as_object().at("video_count").as_int64() == 1);

  // A task id DashScope does not know: HTTP 200, UNKNOWN.
  auto unknown = c.ok("GET", "/api/v1/tasks/no-such-task");
  CHECK(unknown.status == 200);
  CHECK(str(output(parse_obj(unknown.body)), "task_status") == "UNKNOWN");
  CHECK(str(output(parse_obj(unknown.body)), "task_id") == "no-such-task");
}

TEST_CASE("alibabacloud emulator: request checks answer DashScope's error shape", "[alibabacloud][emulators]") {
  Rig rig{};
  auto& emu = rig.emu;
  auto& c = rig.c;
  auto code_of = [](const HttpResponse& r) {
    auto o = parse_obj(r.body);
    CHECK_FALSE(str(o, "request_id").empty());
    CHECK_FALSE(str(o, "message").empty());
    return str(o, "code");
  };
  auto unauth = c.ok("POST", AlibabaCloudEmulator::kImagePath, kImageBody,
                     {{"Authorization", "Bearer nope"}, {"X-DashScope-Async", "enable"}});
  CHECK(unauth.status == 401);
  CHECK(code_of(unauth) == "InvalidApiKey");
  CHECK(c.ok("GET", "/api/v1/tasks/x", {}, {}).status == 401);
  auto sync_call = c.ok("POST", AlibabaCloudEmulator::kImagePath, kImageBody);  // no X-DashScope-Async
  CHECK(sync_call.status == 403);
  CHECK(code_of(sync_call) == "AccessDenied");
  auto expect = [&](const std::string& path, const std::string& body, const char* code) {
    INFO(body);
    auto r = c.submit(path, body);
    CHECK(r.status == 400);
    CHECK(code_of(r) == code);
  };
  expect(AlibabaCloudEmulator::kImagePath, "not json", "InvalidParameter");
  expect(AlibabaCloudEmulator::kImagePath, R"({"input":{"prompt":"x"}})", "BadRequest.EmptyModel");
  expect(AlibabaCloudEmulator::kImagePath, R"({"model":"wan2.2-t2i-flash"})", "BadRequest.EmptyInput");
  expect(AlibabaCloudEmulator::kImagePath, R"({"model":"m","input":{}})", "InvalidParameter");
  expect(AlibabaCloudEmulator::kImagePath, R"({"model":"m","input":{"prompt":"x"},"parameters":{"n":5}})",
         "InvalidParameter");
  expect(AlibabaCloudEmulator::kImagePath, R"({"model":"m","input":{"prompt":"x"},"parameters":{"size":"1024x1024"}})",
         "InvalidParameter");
  expect(AlibabaCloudEmulator::kVideoPath, R"({"model":"m","input":{"negative_prompt":"x"}})", "InvalidParameter");
  expect(AlibabaCloudEmulator::kSyncPath, R"({"model":"qwen-image","input":{"messages":[]}})", "InvalidParameter");
  // Image-to-video needs no prompt.
  CHECK(c.submit(AlibabaCloudEmulator::kVideoPath, R"({"model":"wan2.5-i2v-preview","input":{"img_url":"https://x/y.png"}})")
            .status == 200);
  CHECK(emu.faults().counters().submits == 1);
}

TEST_CASE("alibabacloud emulator: cancel while PENDING only", "[alibabacloud][emulators]") {
  Rig rig{3000, 100};
  auto& emu = rig.emu;
  auto& c = rig.c;
  auto pending = task_id(c.submit(AlibabaCloudEmulator::kImagePath, kImageBody));
  auto ok = c.ok("POST", "/api/v1/tasks/" + pending + "/cancel");
  CHECK(ok.status == 200);
  CHECK_FALSE(str(parse_obj(ok.body), "request_id").empty());
  auto canceled = parse_obj(c.ok("GET", "/api/v1/tasks/" + pending).body);
  CHECK(str(output(canceled), "task_status") == "CANCELED");
  CHECK(output(canceled).contains("end_time"));
  auto again = c.ok("POST", "/api/v1/tasks/" + pending + "/cancel");
  CHECK(again.status == 400);
  CHECK(str(parse_obj(again.body), "code") == "UnsupportedOperation");

  fast(emu, 20, 3000);
  auto running = task_id(c.submit(AlibabaCloudEmulator::kVideoPath, kVideoBody));
  wait_for(c, running, "RUNNING");
  auto refused = c.ok("POST", "/api/v1/tasks/" + running + "/cancel");
  CHECK(refused.status == 400);
  CHECK(str(parse_obj(refused.body), "code") == "UnsupportedOperation");
  CHECK(str(output(parse_obj(c.ok("GET", "/api/v1/tasks/" + running).body)), "task_status") == "RUNNING");
  CHECK(c.ok("POST", "/api/v1/tasks/unknown-task/cancel").status == 400);
  CHECK(c.ok("POST", "/api/v1/tasks/" + running, "{}").status == 404);  // not the cancel path
  CHECK(emu.faults().counters().cancels == 5);
}

TEST_CASE("alibabacloud emulator: failed, moderated, partial and lost tasks", "[alibabacloud][emulators]") {
  Rig rig{20, 20};
  auto& emu = rig.emu;
  auto& c = rig.c;
  emu.faults().fail_next();
  emu.faults().moderate_input_next();
  emu.faults().moderate_next();
  emu.faults().lose_next();
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(task_id(c.submit(AlibabaCloudEmulator::kImagePath, kImageBody)));
  emu.partial_failure_next(1);
  ids.push_back(task_id(c.submit(AlibabaCloudEmulator::kImagePath, kImageBody)));
  emu.partial_failure_next(1);
  ids.push_back(task_id(c.submit(AlibabaCloudEmulator::kImagePath,
                                 R"({"model":"wan2.2-t2i-flash","input":{"prompt":"a fox"},"parameters":{"n":1}})")));
  std::this_thread::sleep_for(milliseconds(120));
  auto get = [&](const std::string& id) { return output(parse_obj(c.ok("GET", "/api/v1/tasks/" + id).body)); };

  auto failed = get(ids[0]);
  CHECK(str(failed, "task_status") == "FAILED");
  CHECK(str(failed, "code") == "InternalError");
  auto input = get(ids[1]);
  CHECK(str(input, "task_status") == "FAILED");
  CHECK(str(input, "code") == "DataInspectionFailed");
  CHECK(str(input, "message").starts_with("Input"));
  auto out = get(ids[2]);
  CHECK(str(out, "code") == "DataInspectionFailed");
  CHECK(str(out, "message").starts_with("Output"));
  CHECK(str(get(ids[3]), "task_status") == "UNKNOWN");

  auto partial = get(ids[4]);
  CHECK(str(partial, "task_status") == "SUCCEEDED");
  const auto& results = partial.at("results").as_array();
  REQUIRE(results.size() == 2);
  CHECK(str(results[0].as_object(), "code") == "DataInspectionFailed");
  CHECK_FALSE(results[0].as_object().contains("url"));
  CHECK_FALSE(str(results[1].as_object(), "url").empty());
  CHECK(partial.at("task_metrics").as_object().at("FAILED").as_int64() == 1);
  auto none = get(ids[5]);
  REQUIRE(none.at("results").as_array().size() == 1);
  CHECK(str(none.at("results").as_array()[0].as_object(), "code") == "DataInspectionFailed");
}

TEST_CASE("alibabacloud emulator: the synchronous Qwen-Image endpoint", "[alibabacloud][emulators]") {
  Rig rig{60, 90};
  auto& emu = rig.emu;
  auto& c = rig.c;
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.ok("POST", AlibabaCloudEmulator::kSyncPath, kSyncBody);  // no async header needed
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(140));
  REQUIRE(r.status == 200);
  auto o = parse_obj(r.body);
  const auto& content =
      output(o).at("choices").as_array().at(0).as_object().at("message").as_object().at("content").as_array();
  REQUIRE(content.size() == 1);
  std::string url = str(content[0].as_object(), "image");
  CHECK(c.ok("GET", url.substr(emu.base_url().size()), {}, {}).status == 200);
  CHECK(emu.job(str(o, "request_id")).has_value());
  CHECK(o.at("usage").as_object().at("image_count").as_int64() == 1);

  emu.faults().moderate_next();
  auto mod = c.ok("POST", AlibabaCloudEmulator::kSyncPath, kSyncBody);
  CHECK(mod.status == 400);
  CHECK(str(parse_obj(mod.body), "code") == "DataInspectionFailed");
  emu.faults().fail_next();
  auto failed = c.ok("POST", AlibabaCloudEmulator::kSyncPath, kSyncBody);
  CHECK(failed.status == 500);
  CHECK(str(parse_obj(failed.body), "code") == "InternalError");
}

TEST_CASE("alibabacloud emulator: request faults", "[alibabacloud][emulators]") {
  Rig rig{};
  auto& emu = rig.emu;
  auto& c = rig.c;
  auto submit = [&](milliseconds timeout = milliseconds(600)) {
    return c.send("POST", AlibabaCloudEmulator::kImagePath, kImageBody,
                  {{"Authorization", std::string("Bearer ") + kKey}, {"X-DashScope-Async", "enable"}}, timeout);
  };
  emu.faults().rate_limit_next(1, 7, Op::submit);
  auto rl = submit();
  REQUIRE(rl.ok());
  CHECK(rl->status == 429);
  CHECK(rl->header("retry-after").value_or("") == "7");
  CHECK(str(parse_obj(rl->body), "code") == "Throttling.RateQuota");

  emu.faults().http_error_next(1, 503, Op::poll);
  auto busy = c.send("GET", "/api/v1/tasks/x");
  REQUIRE(busy.ok());
  CHECK(busy->status == 503);
  CHECK(str(parse_obj(busy->body), "code") == "InternalError");
  emu.faults().http_error_next(1, 402, Op::submit);
  auto arrears = submit();
  REQUIRE(arrears.ok());
  CHECK(str(parse_obj(arrears->body), "code") == "Arrearage");

  emu.faults().malformed_next(1, Op::submit);
  auto bad = submit();
  REQUIRE(bad.ok());
  CHECK(bad->status == 200);
  boost::system::error_code ec;
  (void)json::parse(bad->body, ec);
  CHECK(ec);

  emu.faults().reset_next(1, Op::cancel);
  auto reset = c.send("POST", "/api/v1/tasks/x/cancel");
  REQUIRE_FALSE(reset.ok());
  CHECK(reset.status().code() == Code::unavailable);

  const auto before = emu.faults().counters().submits;
  emu.faults().hang_next(1, Op::submit);
  auto hung = submit(milliseconds(300));
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.status().code() == Code::timeout);
  CHECK(emu.faults().counters().submits == before);

  emu.faults().reset_next(1, Op::submit, /*after_accept=*/true);
  REQUIRE_FALSE(submit().ok());
  CHECK(emu.faults().counters().submits == before + 1);  // the job exists; its answer was lost

  emu.faults().set_latency(milliseconds(250));
  auto t0 = std::chrono::steady_clock::now();
  auto slow = submit();
  CHECK(std::chrono::steady_clock::now() - t0 >= milliseconds(240));
  emu.faults().set_latency(milliseconds(0));
  REQUIRE(slow.ok());
  CHECK(slow->status == 200);
  CHECK(emu.faults().pending_faults() == 0);
}
