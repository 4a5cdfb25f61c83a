// bfl_emulator.cpp — see bfl_emulator.hpp.
#include "bfl_emulator.hpp"

#include <boost/json.hpp>

#include "babysea/webhooks.hpp"

namespace babysea::emu {

namespace json = boost::json;
using std::chrono::milliseconds;

BflEmulator::BflEmulator(EmulatorOptions options) : EmulatorBase("bfl", std::move(options)) {}

BflEmulator::~BflEmulator() { stop(); }

EmuResponse BflEmulator::error_response(int status, std::string_view message) {
  json::object o;
  o["detail"] = message;
  return EmuResponse::json(status, json::serialize(o));
}

// The scheme has no timestamp: the signature (X-BFL-Signature, keyed with the
// job's own webhook_secret) is computed once when the callback is built.
std::vector<std::pair<std::string, std::string>> BflEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};
}

std::string BflEmulator::render(const std::string& id, const EmuJob* job, SteadyTime at, bool webhook) const {
  json::object o;
  o["id"] = id;
  if (webhook) o["task_id"] = id;
  o["result"] = nullptr;
  o["progress"] = nullptr;
  o["details"] = nullptr;
  auto phase = job == nullptr ? EmuJob::Phase::lost : job->phase(at);
  switch (phase) {
    case EmuJob::Phase::queued: o["status"] = "Pending"; break;
    case EmuJob::Phase::running:
      o["status"] = "Pending";
      o["progress"] = job->progress(at);
      break;
    case EmuJob::Phase::succeeded: {
      o["status"] = "Ready";
      json::object res;
      res["sample"] = job->outputs.empty() ? std::string() : job->outputs.front();
      boost::system::error_code ec;
      auto in = json::parse(job->body, ec);
      if (!ec && in.is_object() && in.as_object().contains("prompt")) res["prompt"] = in.as_object().at("prompt");
      res["seed"] = 42;
      auto to_s = [&](SteadyTime t) {
        return static_cast<double>(job->created_unix_ms) / 1000.0 +
               std::chrono::duration<double>(t - job->created).count();
      };
      res["start_time"] = to_s(job->start_at);
      res["end_time"] = to_s(job->finish_at);
      res["duration"] = std::chrono::duration<double>(job->finish_at - job->start_at).count();
      o["result"] = std::move(res);
      o["progress"] = 1.0;
      break;
    }
    case EmuJob::Phase::failed: {
      o["status"] = "Error";
      json::object d;
      d["error"] = "Internal error (emulated failure)";
      o["details"] = std::move(d);
      break;
    }
    case EmuJob::Phase::moderated: {
      bool input = job->outcome == JobOutcome::moderate_input;
      o["status"] = input ? "Request Moderated" : "Content Moderated";
      json::object d;
      d["Moderation Reasons"] = json::array{input ? "Derivative Works Filter" : "NSFW"};
      o["details"] = std::move(d);
      break;
    }
    case EmuJob::Phase::canceled:
    case EmuJob::Phase::lost: o["status"] = "Task not found"; break;
  }
  return json::serialize(o);
}

EmuResponse BflEmulator::submit(const EmuRequest& r) {
  if (r.header("x-key") != options().api_key) return error_response(403, "Invalid or missing API key (x-key).");
  std::string model(std::string_view(r.path).substr(4));
  if (model.empty() || model.find('/') != std::string::npos || model == "get_result") {
    return error_response(404, "Not Found");
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return error_response(422, "Request body must be a JSON object");
  const auto& body = v.as_object();
  auto str = [&](std::string_view k) -> std::string {
    auto it = body.find(k);
    return it != body.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
  };
  if (str("prompt").empty() && !body.contains("input_image")) return error_response(422, "prompt: Field required");
  std::string webhook = str("webhook_url");
  std::string secret = str("webhook_secret");
  if (!webhook.empty() && !parse_http_url(webhook)) return error_response(422, "webhook_url: invalid URL");

  auto job = create_job(random_hex(4) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(2) + "-" +
                            random_hex(6),
                        model, r, webhook);
  if (!webhook.empty() && job->outcome != JobOutcome::lose) {
    schedule_callback(job->id, job->finish_at + milliseconds(1), true, [this, webhook, secret](const EmuJob& j) {
      Outgoing out{webhook, j.id, render(j.id, &j, std::chrono::steady_clock::now(), true), true, {}};
      if (!secret.empty()) out.headers.emplace_back("X-BFL-Signature", hmac_header_signature(secret, out.body));
      return std::optional<Outgoing>(std::move(out));
    });
  }
  json::object o;
  o["id"] = job->id;
  o["polling_url"] = base_url() + "/v1/get_result?id=" + url_encode(job->id);
  o["cost"] = 4.0;
  return EmuResponse::json(200, json::serialize(o));
}

void BflEmulator::install_routes() {
  server().route("POST", "/v1/", guarded(Op::submit, [this](const EmuRequest& r) { return submit(r); }));
  server().route("GET", "/v1/get_result", guarded(Op::poll, [this](const EmuRequest& r) {
                   if (r.header("x-key") != options().api_key) {
                     return error_response(403, "Invalid or missing API key (x-key).");
                   }
                   auto id = r.query_param("id");
                   if (!id || id->empty()) return error_response(422, "id: Field required");
                   auto now = std::chrono::steady_clock::now();
                   std::string body = with_job(*id, [&](EmuJob* j) {
                     if (j != nullptr) {
                       ++j->polls;
                       j->last_poll = now;
                     }
                     return render(*id, j, now, false);
                   });
                   return EmuResponse::json(200, body);
                 }));
}

}  // namespace babysea::emu
