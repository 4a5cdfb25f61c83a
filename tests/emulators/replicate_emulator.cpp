// replicate_emulator.cpp — see replicate_emulator.hpp.
#include "replicate_emulator.hpp"

#include <sodium.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>

#include "babysea/webhooks.hpp"

namespace babysea::emu {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

// "1m30s", "30s", "500ms", "2h" -> milliseconds; nullopt when malformed.
std::optional<milliseconds> parse_duration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::int64_t n = 0;
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      n = n * 10 + (s[i] - '0');
      ++i;
      ++digits;
      if (n > 1'000'000'000) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    std::string_view rest = s.substr(i);
    if (rest.starts_with("ms")) {
      total += n;
      i += 2;
    } else if (rest.starts_with("s")) {
      total += n * 1000;
      i += 1;
    } else if (rest.starts_with("m")) {
      total += n * 60'000;
      i += 1;
    } else if (rest.starts_with("h")) {
      total += n * 3'600'000;
      i += 1;
    } else {
      return std::nullopt;
    }
  }
  return milliseconds(total);
}

std::string make_secret() {
  unsigned char key[32];
  randombytes_buf(key, sizeof key);
  std::string b64(sodium_base64_ENCODED_LEN(sizeof key, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), key, sizeof key, sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  return "whsec_" + b64;
}

std::string problem(int status, std::string_view title, std::string_view detail) {
  json::object o;
  o["title"] = title;
  o["detail"] = detail;
  o["status"] = status;
  return json::serialize(o);
}

}  // namespace

ReplicateEmulator::ReplicateEmulator(EmulatorOptions options, std::string webhook_secret)
    : EmulatorBase("replicate", std::move(options)), secret_(std::move(webhook_secret)) {
  if (secret_.empty()) secret_ = make_secret();
}

ReplicateEmulator::~ReplicateEmulator() { stop(); }

bool ReplicateEmulator::authorized(const EmuRequest& r) const {
  auto h = r.header("authorization");
  return h && (*h == "Bearer " + options().api_key || *h == "Token " + options().api_key);
}

EmuResponse ReplicateEmulator::error_response(int status, std::string_view message) {
  std::string_view title = status == 429   ? "Request was throttled."
                           : status == 404 ? "Not found"
                           : status == 401 ? "Unauthenticated"
                           : status == 402 ? "Insufficient credit"
                           : status == 422 ? "Input validation failed"
                           : status >= 500 ? "Internal server error"
                                           : "Bad request";
  auto r = EmuResponse::json(status, problem(status, title, message));
  r.headers[0].second = "application/problem+json";
  return r;
}

std::vector<std::pair<std::string, std::string>> ReplicateEmulator::sign_callback(const Outgoing& out,
                                                                                  std::int64_t unix_s) {
  return {{"webhook-id", out.message_id},
          {"webhook-timestamp", std::to_string(unix_s)},
          {"webhook-signature", standard_webhook_signature(secret_, out.message_id, unix_s, out.body)}};
}

std::string ReplicateEmulator::render(const EmuJob& job, SteadyTime at, bool output_event) const {
  json::object o;
  o["id"] = job.id;
  o["model"] = job.model;
  auto ver = job.extra.find("version");
  o["version"] = ver != job.extra.end() ? ver->second : "emulated";
  boost::system::error_code ec;
  auto body = json::parse(job.body, ec);
  if (!ec && body.is_object() && body.as_object().contains("input")) {
    o["input"] = body.as_object().at("input");
  } else {
    o["input"] = json::object();
  }
  o["logs"] = "";
  o["output"] = nullptr;
  o["error"] = nullptr;
  o["data_removed"] = false;
  o["source"] = "api";
  o["created_at"] = iso8601(job.created_unix_ms);
  auto to_unix = [&](SteadyTime t) {
    return job.created_unix_ms + std::chrono::duration_cast<milliseconds>(t - job.created).count();
  };
  auto phase = job.phase(at);
  if (output_event) phase = EmuJob::Phase::running;
  std::string status;
  switch (phase) {
    case EmuJob::Phase::queued: status = "starting"; break;
    case EmuJob::Phase::running: status = "processing"; break;
    case EmuJob::Phase::succeeded: status = "succeeded"; break;
    case EmuJob::Phase::failed:
      status = "failed";
      o["error"] = "CUDA out of memory (emulated failure)";
      break;
    case EmuJob::Phase::moderated:
      status = "failed";
      o["error"] = "NSFW content detected. Try running it again, or try a different prompt.";
      break;
    case EmuJob::Phase::canceled: status = job.aborted ? "aborted" : "canceled"; break;
    case EmuJob::Phase::lost: status = "failed"; break;
  }
  o["status"] = status;
  if (phase != EmuJob::Phase::queued && !(phase == EmuJob::Phase::canceled && job.aborted)) {
    o["started_at"] = iso8601(to_unix(job.start_at));
  }
  bool final = phase != EmuJob::Phase::queued && phase != EmuJob::Phase::running;
  if (final) {
    SteadyTime end = (job.canceled || job.aborted) ? job.canceled_at : job.finish_at;
    o["completed_at"] = iso8601(to_unix(end));
    if (!job.aborted && end > job.start_at) {
      json::object metrics;
      metrics["predict_time"] = std::chrono::duration<double>(end - job.start_at).count();
      o["metrics"] = metrics;
    }
  }
  if (phase == EmuJob::Phase::succeeded || output_event) {
    json::array out;
    for (const auto& u : job.outputs) out.emplace_back(u);
    o["output"] = out;
  }
  json::object urls;
  urls["get"] = base_url() + "/v1/predictions/" + job.id;
  urls["cancel"] = base_url() + "/v1/predictions/" + job.id + "/cancel";
  urls["web"] = "https://replicate.com/p/" + job.id;
  o["urls"] = urls;
  return json::serialize(o);
}

EmuResponse ReplicateEmulator::submit(const EmuRequest& r, std::string model, bool needs_version) {
  if (!authorized(r)) return error_response(401, "You did not pass a valid authentication token");
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return error_response(400, "The request body is not valid JSON.");
  const auto& body = v.as_object();
  auto input = body.find("input");
  if (input == body.end() || !input->value().is_object()) return error_response(422, "input: Input is required");
  std::string version;
  if (needs_version) {
    auto ver = body.find("version");
    if (ver == body.end() || !ver->value().is_string()) return error_response(422, "version: version is required");
    version = std::string(ver->value().as_string());
    if (model.empty()) model = "emulated/model";
  }
  std::string webhook;
  if (auto w = body.find("webhook"); w != body.end()) {
    if (!w->value().is_string()) return error_response(422, "webhook: must be a URL");
    webhook = std::string(w->value().as_string());
    if (!parse_http_url(webhook)) return error_response(422, "webhook: Enter a valid URL.");
  }
  std::vector<std::string> filter{"output", "completed"};
  if (auto f = body.find("webhook_events_filter"); f != body.end()) {
    if (!f->value().is_array()) return error_response(422, "webhook_events_filter: must be an array");
    filter.clear();
    for (const auto& e : f->value().as_array()) {
      if (!e.is_string()) return error_response(422, "webhook_events_filter: must be strings");
      std::string ev(e.as_string());
      if (ev != "start" && ev != "output" && ev != "logs" && ev != "completed") {
        return error_response(422, "webhook_events_filter: \"" + ev + "\" is not a valid choice.");
      }
      filter.push_back(ev);
    }
  }
  std::optional<milliseconds> cancel_after;
  if (auto ca = r.header("cancel-after")) {
    cancel_after = parse_duration(*ca);
    if (!cancel_after) return error_response(400, "Cancel-After: invalid duration");
  }

  auto has = [&](std::string_view ev) { return std::find(filter.begin(), filter.end(), ev) != filter.end(); };
  auto created = create_job(random_hex(13), model, r, webhook);
  auto now = std::chrono::steady_clock::now();
  SteadyTime terminal_at{};
  EmuJob snap = with_job(created->id, [&](EmuJob* j) {
    terminal_at = j->finish_at;
    j->extra["version"] = version.empty() ? "emulated" : version;
    if (has("completed")) j->extra["completed_event"] = "1";
    if (cancel_after && j->finish_at > now + *cancel_after && j->outcome != JobOutcome::lose) {
      j->canceled_at = now + *cancel_after;
      if (j->start_at > j->canceled_at) {
        j->aborted = true;
      } else {
        j->canceled = true;
      }
      terminal_at = j->canceled_at;
    }
    return *j;
  });
  const EmuJob* job = &snap;
  if (!webhook.empty()) {
    if (has("start")) {
      schedule_callback(job->id, now, false, [this, webhook](const EmuJob& j) -> std::optional<Outgoing> {
        return Outgoing{webhook, "msg_" + random_hex(12), render(j, std::chrono::steady_clock::now()), false, {}};
      });
    }
    if (has("output") && job->outcome == JobOutcome::succeed && terminal_at == job->finish_at) {
      schedule_callback(job->id, job->finish_at, false, [this, webhook](const EmuJob& j) -> std::optional<Outgoing> {
        return Outgoing{webhook, "msg_" + random_hex(12), render(j, j.finish_at, true), false, {}};
      });
    }
    if (has("completed") && job->outcome != JobOutcome::lose) {
      schedule_callback(job->id, terminal_at + milliseconds(1), true,
                        [this, webhook](const EmuJob& j) -> std::optional<Outgoing> {
                          return Outgoing{webhook, "msg_" + random_hex(12),
                                          render(j, std::chrono::steady_clock::now()), true, {}};
                        });
    }
  }

  // Prefer: wait[=n] holds the answer until the prediction is final (at most n s).
  SteadyTime render_at = now;
  milliseconds delay{0};
  if (auto pw = r.header("prefer"); pw && pw->starts_with("wait")) {
    int secs = 60;
    if (pw->size() > 5 && (*pw)[4] == '=') secs = std::clamp(std::atoi(pw->c_str() + 5), 1, 60);
    SteadyTime until = std::min(terminal_at + milliseconds(1), now + std::chrono::seconds(secs));
    delay = std::chrono::duration_cast<milliseconds>(until - now);
    render_at = until;
  }
  auto res = EmuResponse::json(201, render(*job, render_at));
  res.delay = delay;
  return res;
}

void ReplicateEmulator::install_routes() {
  server().route("POST", "/v1/predictions", guarded(Op::submit, [this](const EmuRequest& r) {
                   return submit(r, "", true);
                 }));
  server().route("POST", "/v1/models/", guarded(Op::submit, [this](const EmuRequest& r) {
                   // /v1/models/{owner}/{name}/predictions
                   std::string_view rest = std::string_view(r.path).substr(11);
                   auto slash = rest.find('/');
                   if (slash == std::string_view::npos || !rest.ends_with("/predictions")) {
                     return error_response(404, "Not found.");
                   }
                   std::string model(rest.substr(0, rest.size() - 12));
                   if (model.find('/') != slash || model.find('/', slash + 1) != std::string::npos) {
                     return error_response(404, "Not found.");
                   }
                   return submit(r, model, false);
                 }));
  server().route("GET", "/v1/predictions/", guarded(Op::poll, [this](const EmuRequest& r) {
                   if (!authorized(r)) return error_response(401, "You did not pass a valid authentication token");
                   std::string id(std::string_view(r.path).substr(16));
                   auto now = std::chrono::steady_clock::now();
                   std::optional<std::string> body = with_job(id, [&](EmuJob* j) -> std::optional<std::string> {
                     if (j == nullptr) return std::nullopt;
                     ++j->polls;
                     j->last_poll = now;
                     if (j->phase(now) == EmuJob::Phase::lost) return std::nullopt;
                     return render(*j, now);
                   });
                   if (!body) return error_response(404, "Not found.");
                   return EmuResponse::json(200, *body);
                 }));
  server().route("POST", "/v1/predictions/", guarded(Op::cancel, [this](const EmuRequest& r) {
                   if (!authorized(r)) return error_response(401, "You did not pass a valid authentication token");
                   std::string_view rest = std::string_view(r.path).substr(16);
                   if (!rest.ends_with("/cancel")) return error_response(404, "Not found.");
                   std::string id(rest.substr(0, rest.size() - 7));
                   auto before = cancel_job(id);
                   if (!before || *before == EmuJob::Phase::lost) return error_response(404, "Not found.");
                   auto now = std::chrono::steady_clock::now();
                   auto snapshot = job(id);
                   if ((*before == EmuJob::Phase::queued || *before == EmuJob::Phase::running) &&
                       !snapshot->callback_url.empty() && snapshot->extra.count("completed_event") != 0) {
                     std::string url = snapshot->callback_url;
                     schedule_callback(id, now, true, [this, url](const EmuJob& j) -> std::optional<Outgoing> {
                       return Outgoing{url, "msg_" + random_hex(12), render(j, std::chrono::steady_clock::now()),
                                       true, {}};
                     });
                   }
                   return EmuResponse::json(200, render(*snapshot, now));
                 }));
  server().route("GET", "/v1/webhooks/default/secret", guarded(Op::other, [this](const EmuRequest& r) {
                   if (!authorized(r)) return error_response(401, "You did not pass a valid authentication token");
                   json::object o;
                   o["key"] = secret_;
                   return EmuResponse::json(200, json::serialize(o));
                 }));
}

}  // namespace babysea::emu
