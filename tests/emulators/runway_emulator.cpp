// runway_emulator.cpp — see runway_emulator.hpp.
#include "runway_emulator.hpp"

#include <boost/json.hpp>

namespace babysea::emu {

namespace json = boost::json;

RunwayEmulator::RunwayEmulator(EmulatorOptions options) : EmulatorBase("runway", std::move(options)) {}

RunwayEmulator::~RunwayEmulator() { stop(); }

EmuResponse RunwayEmulator::error_response(int status, std::string_view message) {
  json::object o;
  o["error"] = message;
  return EmuResponse::json(status, json::serialize(o));
}

std::vector<std::pair<std::string, std::string>> RunwayEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};  // Runway documents no callbacks for generation tasks
}

std::optional<EmuResponse> RunwayEmulator::check_auth(const EmuRequest& r) {
  if (r.header("authorization") != "Bearer " + options().api_key) {
    return error_response(401, "Invalid API key or API key not provided.");
  }
  auto version = r.header("x-runway-version");
  if (!version) return error_response(400, "The X-Runway-Version header is required.");
  if (*version != kVersion) return error_response(400, "Unsupported X-Runway-Version: " + *version);
  return std::nullopt;
}

std::string RunwayEmulator::render(const EmuJob& job, SteadyTime at) const {
  json::object o;
  o["id"] = job.id;
  o["createdAt"] = iso8601(job.created_unix_ms);
  switch (job.phase(at)) {
    case EmuJob::Phase::queued: o["status"] = job.extra.count("throttled") != 0 ? "THROTTLED" : "PENDING"; break;
    case EmuJob::Phase::running:
      o["status"] = "RUNNING";
      o["progress"] = job.progress(at);
      break;
    case EmuJob::Phase::succeeded: {
      o["status"] = "SUCCEEDED";
      json::array out;
      for (const auto& u : job.outputs) out.emplace_back(u);
      o["output"] = std::move(out);
      break;
    }
    case EmuJob::Phase::failed:
      o["status"] = "FAILED";
      o["failure"] = "An unexpected error occurred (emulated failure).";
      o["failureCode"] = "INTERNAL";
      break;
    case EmuJob::Phase::moderated: {
      bool input = job.outcome == JobOutcome::moderate_input;
      o["status"] = "FAILED";
      o["failure"] = input ? "The prompt was flagged by content moderation." : "The output was flagged by content moderation.";
      o["failureCode"] = input ? "SAFETY.INPUT.TEXT" : "SAFETY.OUTPUT.IMAGE";
      break;
    }
    case EmuJob::Phase::canceled: o["status"] = "CANCELLED"; break;
    case EmuJob::Phase::lost: o["status"] = "FAILED"; break;
  }
  return json::serialize(o);
}

EmuResponse RunwayEmulator::submit(const EmuRequest& r) {
  if (auto bad = check_auth(r)) return *bad;
  std::string kind(std::string_view(r.path).substr(4));
  if (kind.empty() || kind.find('/') != std::string::npos || kind == "tasks") return error_response(404, "Not found");
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return error_response(400, "Invalid JSON body.");
  const auto& body = v.as_object();
  if (!body.contains("model")) return error_response(400, "Validation of body failed: model is required.");
  bool needs_text = kind.starts_with("text_to");
  if (needs_text && !(body.contains("promptText") && body.at("promptText").is_string())) {
    return error_response(400, "Validation of body failed: promptText is required.");
  }
  std::string model = body.at("model").is_string() ? std::string(body.at("model").as_string()) : kind;
  std::string id = random_hex(4) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(6);
  auto job = create_job(id, model, r, "");
  int t = throttle_.load();
  while (t > 0 && !throttle_.compare_exchange_weak(t, t - 1)) {
  }
  if (t > 0) {
    with_job(id, [](EmuJob* j) {
      j->extra["throttled"] = "1";
      return 0;
    });
  }
  json::object o;
  o["id"] = id;
  return EmuResponse::json(200, json::serialize(o));
}

void RunwayEmulator::install_routes() {
  server().route("POST", "/v1/", guarded(Op::submit, [this](const EmuRequest& r) { return submit(r); }));
  server().route("GET", "/v1/tasks/", guarded(Op::poll, [this](const EmuRequest& r) {
                   if (auto bad = check_auth(r)) return *bad;
                   std::string id(std::string_view(r.path).substr(10));
                   auto now = std::chrono::steady_clock::now();
                   bool too_soon = false;
                   std::optional<std::string> body = with_job(id, [&](EmuJob* j) -> std::optional<std::string> {
                     if (j == nullptr) return std::nullopt;
                     if (j->last_poll && now - *j->last_poll < min_poll_interval()) too_soon = true;
                     ++j->polls;
                     j->last_poll = now;
                     if (j->phase(now) == EmuJob::Phase::lost) return std::nullopt;
                     return render(*j, now);
                   });
                   if (too_soon) {
                     faults().count_poll_violation();
                     if (enforce_) {
                       auto secs = std::max<std::int64_t>(1, (min_poll_ms_.load() + 999) / 1000);
                       return error_response(429, "Polling too frequently; poll no faster than every 5 seconds.")
                           .with_header("Retry-After", std::to_string(secs));
                     }
                   }
                   if (!body) return error_response(404, "Task not found");
                   return EmuResponse::json(200, *body);
                 }));
  server().route("DELETE", "/v1/tasks/", guarded(Op::cancel, [this](const EmuRequest& r) {
                   if (auto bad = check_auth(r)) return *bad;
                   std::string id(std::string_view(r.path).substr(10));
                   auto before = cancel_job(id);
                   if (!before || *before == EmuJob::Phase::lost) return error_response(404, "Task not found");
                   if (*before != EmuJob::Phase::queued && *before != EmuJob::Phase::running) {
                     with_job(id, [](EmuJob* j) {
                       j->deleted = true;
                       return 0;
                     });
                   }
                   EmuResponse res;
                   res.status = 204;
                   return res;
                 }));
}

}  // namespace babysea::emu
