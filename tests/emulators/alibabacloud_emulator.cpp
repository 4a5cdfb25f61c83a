// alibabacloud_emulator.cpp — see alibabacloud_emulator.hpp.
#include "alibabacloud_emulator.hpp"

#include <boost/json.hpp>
#include <variant>

namespace babysea::emu {

namespace json = boost::json;

namespace {

constexpr std::string_view kTasks = "/api/v1/tasks/";

const json::object* object_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().as_object() : nullptr;
}

std::string string_at(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// parameters.n within [1, max] (default 1); nullopt when present and invalid.
std::optional<int> count_param(const json::object* parameters, int max) {
  if (parameters == nullptr) return 1;
  auto it = parameters->find("n");
  if (it == parameters->end()) return 1;
  if (!it->value().is_int64() || it->value().as_int64() < 1 || it->value().as_int64() > max) return std::nullopt;
  return static_cast<int>(it->value().as_int64());
}

// "W*H" with both sides digits, when present.
bool size_ok(const json::object* parameters) {
  if (parameters == nullptr || !parameters->contains("size")) return true;
  std::string s = string_at(*parameters, "size");
  auto star = s.find('*');
  auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 5 && d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return star != std::string::npos && digits(std::string_view(s).substr(0, star)) &&
         digits(std::string_view(s).substr(star + 1));
}

// DashScope's time format: "2025-09-25 11:07:28.590".
std::string dashscope_time(std::string iso) {
  if (iso.size() > 1 && iso.back() == 'Z') iso.pop_back();
  if (auto t = iso.find('T'); t != std::string::npos) iso[t] = ' ';
  return iso;
}

}  // namespace

AlibabaCloudEmulator::AlibabaCloudEmulator(EmulatorOptions options)
    : EmulatorBase("alibabacloud", std::move(options)) {}

AlibabaCloudEmulator::~AlibabaCloudEmulator() { stop(); }

std::string AlibabaCloudEmulator::request_id() {
  return random_hex(4) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(6);
}

EmuResponse AlibabaCloudEmulator::error(int status, std::string_view code, std::string_view message) {
  json::object o;
  o["request_id"] = request_id();
  o["code"] = code;
  o["message"] = message;
  return EmuResponse::json(status, json::serialize(o));
}

EmuResponse AlibabaCloudEmulator::error_response(int status, std::string_view message) {
  switch (status) {
    case 400: return error(status, "InvalidParameter", message);
    case 401: return error(status, "InvalidApiKey", "Invalid API-key provided.");
    case 402: return error(status, "Arrearage", "Access denied, please make sure your account is in good standing.");
    case 403: return error(status, "AccessDenied", message);
    case 404: return error(status, "NotFound", message);
    case 429: return error(status, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.");
    default: return error(status, status >= 500 ? "InternalError" : "InvalidParameter", message);
  }
}

std::vector<std::pair<std::string, std::string>> AlibabaCloudEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};  // DashScope sends us no callbacks
}

std::optional<EmuResponse> AlibabaCloudEmulator::check_auth(const EmuRequest& r) {
  if (r.header("authorization") != "Bearer " + options().api_key) return error_response(401, "");
  return std::nullopt;
}

// The checks both task endpoints share; the parsed body on success.
std::variant<json::object, EmuResponse> AlibabaCloudEmulator::read_body(const EmuRequest& r) {
  if (auto bad = check_auth(r)) return *bad;
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return error(400, "InvalidParameter", "The request body is not valid JSON.");
  auto& body = v.as_object();
  if (string_at(body, "model").empty())
    return error(400, "BadRequest.EmptyModel", "Required parameter \"model\" missing from request.");
  if (object_at(body, "input") == nullptr)
    return error(400, "BadRequest.EmptyInput", "Required input parameter missing from request.");
  if (!size_ok(object_at(body, "parameters")))
    return error(400, "InvalidParameter", "The size is not match the pattern W*H.");
  return std::move(body);
}

EmuResponse AlibabaCloudEmulator::submit_task(const EmuRequest& r, bool video) {
  if (r.header("x-dashscope-async") != "enable") {
    if (auto bad = check_auth(r)) return *bad;
    return error(403, "AccessDenied", "current user api does not support synchronous calls");
  }
  auto read = read_body(r);
  if (auto* res = std::get_if<EmuResponse>(&read)) return *res;
  const auto& body = std::get<json::object>(read);
  const auto& input = *object_at(body, "input");
  std::optional<int> n = 1;
  if (video) {
    if (string_at(input, "prompt").empty() && string_at(input, "img_url").empty() &&
        string_at(input, "first_frame_url").empty() && !input.contains("media"))
      return error(400, "InvalidParameter", "Field required: input.prompt or input.img_url.");
  } else {
    if (string_at(input, "prompt").empty()) return error(400, "InvalidParameter", "Field required: input.prompt.");
    n = count_param(object_at(body, "parameters"), 4);
    if (!n) return error(400, "InvalidParameter", "n must be an integer between 1 and 4.");
  }
  std::string id = request_id();
  auto job = create_job(id, string_at(body, "model"), r, "", video ? 0 : *n);
  bool partial = false;
  if (!video) {
    int p = partial_.load();
    while (p > 0 && !partial_.compare_exchange_weak(p, p - 1)) {
    }
    partial = p > 0;
  }
  std::string file;
  if (video && job->outcome == JobOutcome::succeed) {
    auto ttl = faults().output_ttl();
    std::optional<SteadyTime> until;
    if (ttl.count() > 0) until = job->finish_at + ttl;
    file = id + ".mp4";
    static const std::string kMp4("\0\0\0\x18" "ftypmp42\0\0\0\0mp42isom", 24);
    std::string url = publish_file(file, kMp4, "video/mp4", job->finish_at, until);
    with_job(id, [&](EmuJob* j) {
      j->outputs.push_back(url);
      j->files.push_back(file);
      return 0;
    });
  }
  with_job(id, [&](EmuJob* j) {
    j->extra["kind"] = video ? "video" : "image";
    if (partial) j->extra["partial"] = "1";
    return 0;
  });
  json::object output;
  output["task_status"] = "PENDING";
  output["task_id"] = id;
  json::object o;
  o["output"] = std::move(output);
  o["request_id"] = request_id();
  return EmuResponse::json(200, json::serialize(o));
}

EmuResponse AlibabaCloudEmulator::generate(const EmuRequest& r) {
  auto read = read_body(r);
  if (auto* res = std::get_if<EmuResponse>(&read)) return *res;
  const auto& body = std::get<json::object>(read);
  const auto& input = *object_at(body, "input");
  std::string prompt;
  if (auto it = input.find("messages"); it != input.end() && it->value().is_array() && !it->value().as_array().empty()) {
    const auto& first = it->value().as_array().front();
    if (first.is_object()) {
      auto c = first.as_object().find("content");
      if (c != first.as_object().end() && c->value().is_array())
        for (const auto& item : c->value().as_array())
          if (item.is_object() && prompt.empty()) prompt = string_at(item.as_object(), "text");
    }
  }
  if (prompt.empty()) return error(400, "InvalidParameter", "Field required: input.messages[0].content[].text.");
  auto n = count_param(object_at(body, "parameters"), 6);
  if (!n) return error(400, "InvalidParameter", "n must be an integer between 1 and 6.");
  const json::object* parameters = object_at(body, "parameters");
  std::string size = parameters ? string_at(*parameters, "size") : std::string();
  if (size.empty()) size = "1664*928";

  std::string id = request_id();
  auto job = create_job(id, string_at(body, "model"), r, "", *n);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(job->finish_at - std::chrono::steady_clock::now());
  wait += std::chrono::milliseconds(1);  // the output files are live when the answer lands
  if (wait.count() < 0) wait = std::chrono::milliseconds(0);
  EmuResponse res;
  switch (job->outcome) {
    case JobOutcome::moderate:
    case JobOutcome::moderate_input:
      res = error(400, "DataInspectionFailed", "Input or output data may contain inappropriate content.");
      break;
    case JobOutcome::fail:
    case JobOutcome::lose: res = error(500, "InternalError", "An internal error has occured, please try again later."); break;
    case JobOutcome::succeed: {
      json::array content;
      for (const auto& url : job->outputs) content.push_back(json::object{{"image", url}, {"type", "image"}});
      json::object message{{"role", "assistant"}, {"content", std::move(content)}};
      json::array choices;
      choices.push_back(json::object{{"finish_reason", "stop"}, {"message", std::move(message)}});
      json::object o;
      o["output"] = json::object{{"choices", std::move(choices)}, {"finished", true}};
      o["usage"] = json::object{{"image_count", *n}, {"size", size}};
      o["request_id"] = id;
      res = EmuResponse::json(200, json::serialize(o));
      break;
    }
  }
  res.delay = wait;
  return res;
}

std::string AlibabaCloudEmulator::render(const EmuJob& job, SteadyTime at) const {
  auto unix_at = [&](SteadyTime t) {
    return job.created_unix_ms + std::chrono::duration_cast<std::chrono::milliseconds>(t - job.created).count();
  };
  auto stamp = [&](SteadyTime t) {
    return dashscope_time(iso8601(unix_at(t)));
  };
  const bool video = job.extra.count("kind") != 0 && job.extra.at("kind") == "video";
  json::object out;
  out["task_id"] = job.id;
  auto phase = job.phase(at);
  if (phase == EmuJob::Phase::lost) {
    out["task_status"] = "UNKNOWN";
  } else {
    out["submit_time"] = stamp(job.created);
    if (phase != EmuJob::Phase::queued) out["scheduled_time"] = stamp(job.start_at);
    if (job.is_final(at)) out["end_time"] = stamp(job.canceled && at >= job.canceled_at ? job.canceled_at : job.finish_at);
  }
  json::object o;
  switch (phase) {
    case EmuJob::Phase::queued: out["task_status"] = "PENDING"; break;
    case EmuJob::Phase::running: out["task_status"] = "RUNNING"; break;
    case EmuJob::Phase::succeeded: {
      out["task_status"] = "SUCCEEDED";
      if (video) {
        out["video_url"] = job.outputs.empty() ? std::string() : job.outputs.front();
        o["usage"] = json::object{{"duration", 5}, {"video_count", 1}, {"SR", 720}};
        break;
      }
      json::array results;
      std::int64_t failed = 0;
      for (std::size_t i = 0; i < job.outputs.size(); ++i) {
        if (i == 0 && job.extra.count("partial") != 0) {
          ++failed;
          results.push_back(json::object{{"code", "DataInspectionFailed"},
                                         {"message", "Output data may contain inappropriate content."}});
        } else {
          results.push_back(json::object{{"url", job.outputs[i]}});
        }
      }
      const auto total = static_cast<std::int64_t>(job.outputs.size());
      out["results"] = std::move(results);
      out["task_metrics"] = json::object{{"TOTAL", total}, {"SUCCEEDED", total - failed}, {"FAILED", failed}};
      o["usage"] = json::object{{"image_count", total - failed}};
      break;
    }
    case EmuJob::Phase::failed:
      out["task_status"] = "FAILED";
      out["code"] = "InternalError";
      out["message"] = "An internal error has occured during execution (emulated failure).";
      break;
    case EmuJob::Phase::moderated:
      out["task_status"] = "FAILED";
      out["code"] = "DataInspectionFailed";
      out["message"] = job.outcome == JobOutcome::moderate_input ? "Input data may contain inappropriate content."
                                                                  : "Output data may contain inappropriate content.";
      break;
    case EmuJob::Phase::canceled: out["task_status"] = "CANCELED"; break;
    case EmuJob::Phase::lost: break;
  }
  o["request_id"] = request_id();
  o["output"] = std::move(out);
  return json::serialize(o);
}

// GET /api/v1/tasks/{id}: unknown and lost tasks answer UNKNOWN with HTTP 200.
EmuResponse AlibabaCloudEmulator::task(const EmuRequest& r) {
  if (auto bad = check_auth(r)) return *bad;
  std::string id(std::string_view(r.path).substr(kTasks.size()));
  if (id.empty() || id.find('/') != std::string::npos) return error(404, "NotFound", "Not found.");
  auto now = std::chrono::steady_clock::now();
  std::optional<std::string> body = with_job(id, [&](EmuJob* j) -> std::optional<std::string> {
    if (j == nullptr) return std::nullopt;
    ++j->polls;
    j->last_poll = now;
    return render(*j, now);
  });
  if (!body) {
    json::object o;
    o["request_id"] = request_id();
    o["output"] = json::object{{"task_id", id}, {"task_status", "UNKNOWN"}};
    return EmuResponse::json(200, json::serialize(o));
  }
  return EmuResponse::json(200, *body);
}

// POST /api/v1/tasks/{id}/cancel: PENDING tasks only.
EmuResponse AlibabaCloudEmulator::cancel(const EmuRequest& r) {
  if (auto bad = check_auth(r)) return *bad;
  std::string_view rest = std::string_view(r.path).substr(kTasks.size());
  constexpr std::string_view kSuffix = "/cancel";
  if (!rest.ends_with(kSuffix)) return error(404, "NotFound", "Not found.");
  std::string id(rest.substr(0, rest.size() - kSuffix.size()));
  auto now = std::chrono::steady_clock::now();
  bool canceled = with_job(id, [&](EmuJob* j) {
    if (j == nullptr || j->phase(now) != EmuJob::Phase::queued) return false;
    j->canceled = true;
    j->canceled_at = now;
    ++j->version;
    return true;
  });
  if (!canceled) return error(400, "UnsupportedOperation", "Only a task in PENDING status can be canceled.");
  json::object o;
  o["request_id"] = request_id();
  return EmuResponse::json(200, json::serialize(o));
}

void AlibabaCloudEmulator::install_routes() {
  server().route("POST", kImagePath, guarded(Op::submit, [this](const EmuRequest& r) { return submit_task(r, false); }));
  server().route("POST", kVideoPath, guarded(Op::submit, [this](const EmuRequest& r) { return submit_task(r, true); }));
  server().route("POST", kSyncPath, guarded(Op::submit, [this](const EmuRequest& r) { return generate(r); }));
  server().route("GET", std::string(kTasks), guarded(Op::poll, [this](const EmuRequest& r) { return task(r); }));
  server().route("POST", std::string(kTasks), guarded(Op::cancel, [this](const EmuRequest& r) { return cancel(r); }));
}

}  // namespace babysea::emu
