// fal_emulator.cpp — see fal_emulator.hpp.
#include "fal_emulator.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstring>

namespace babysea::emu {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

std::string hex(const unsigned char* data, std::size_t n) {
  std::string out(n * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data, n);
  out.resize(n * 2);
  return out;
}

std::string b64url(const std::string& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

struct Parsed {
  std::string id;
  bool status = false;
  bool cancel = false;
  bool ok = false;
};

// "/{model...}/requests/{id}[/status|/cancel]"
Parsed parse_request_path(std::string_view path) {
  Parsed p;
  auto at = path.rfind("/requests/");
  if (at == std::string_view::npos || at == 0) return p;
  std::string_view rest = path.substr(at + 10);
  if (rest.ends_with("/status")) {
    p.status = true;
    rest.remove_suffix(7);
  } else if (rest.ends_with("/cancel")) {
    p.cancel = true;
    rest.remove_suffix(7);
  }
  if (rest.empty() || rest.find('/') != std::string_view::npos) return p;
  p.id = std::string(rest);
  p.ok = true;
  return p;
}

}  // namespace

FalEmulator::FalEmulator(EmulatorOptions options, std::string user_id)
    : EmulatorBase("fal", std::move(options)), user_id_(std::move(user_id)) {
  rotate_key(false);
}

FalEmulator::~FalEmulator() { stop(); }

void FalEmulator::rotate_key(bool keep_old) {
  Key k;
  k.pk.resize(crypto_sign_PUBLICKEYBYTES);
  k.sk.resize(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(k.pk.data()), reinterpret_cast<unsigned char*>(k.sk.data()));
  std::lock_guard<std::mutex> lock(keys_mu_);
  if (!keep_old) keys_.clear();
  keys_.push_back(std::move(k));
}

std::string FalEmulator::public_key() const {
  std::lock_guard<std::mutex> lock(keys_mu_);
  return keys_.back().pk;
}

std::string FalEmulator::jwks() const {
  json::array keys;
  std::lock_guard<std::mutex> lock(keys_mu_);
  for (const auto& k : keys_) {
    json::object o;
    o["kty"] = "OKP";
    o["crv"] = "Ed25519";
    o["x"] = b64url(k.pk);
    o["kid"] = hex(reinterpret_cast<const unsigned char*>(k.pk.data()), 8);
    o["use"] = "sig";
    o["alg"] = "EdDSA";
    keys.push_back(std::move(o));
  }
  json::object doc;
  doc["keys"] = std::move(keys);
  return json::serialize(doc);
}

EmuResponse FalEmulator::error_response(int status, std::string_view message) {
  json::object o;
  o["detail"] = message;
  return EmuResponse::json(status, json::serialize(o));
}

std::vector<std::pair<std::string, std::string>> FalEmulator::sign_callback(const Outgoing& out, std::int64_t unix_s) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(out.body.data()), out.body.size());
  std::string ts = std::to_string(unix_s);
  std::string message = out.message_id + "\n" + user_id_ + "\n" + ts + "\n" + hex(digest, sizeof digest);
  unsigned char sig[crypto_sign_BYTES];
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         reinterpret_cast<const unsigned char*>(keys_.back().sk.data()));
  }
  return {{"X-Fal-Webhook-Request-Id", out.message_id},
          {"X-Fal-Webhook-User-Id", user_id_},
          {"X-Fal-Webhook-Timestamp", ts},
          {"X-Fal-Webhook-Signature", hex(sig, sizeof sig)}};
}

std::string FalEmulator::result_body(const EmuJob& job) const {
  json::object o;
  json::array images;
  for (const auto& u : job.outputs) {
    json::object img;
    img["url"] = u;
    img["content_type"] = "image/png";
    img["width"] = 1;
    img["height"] = 1;
    images.push_back(std::move(img));
  }
  o["images"] = std::move(images);
  o["seed"] = 42;
  json::array nsfw;
  for (std::size_t i = 0; i < job.outputs.size(); ++i) nsfw.push_back(false);
  o["has_nsfw_concepts"] = std::move(nsfw);
  boost::system::error_code ec;
  auto in = json::parse(job.body, ec);
  if (!ec && in.is_object() && in.as_object().contains("prompt")) o["prompt"] = in.as_object().at("prompt");
  json::object timings;
  timings["inference"] = std::chrono::duration<double>(job.finish_at - job.start_at).count();
  o["timings"] = std::move(timings);
  return json::serialize(o);
}

namespace {
json::value moderation_detail() {
  json::object d;
  d["loc"] = json::array{"body", "prompt"};
  d["msg"] = "The content could not be processed because it contained material flagged by a content checker.";
  d["type"] = "content_policy_violation";
  return json::array{d};
}
}  // namespace

std::string FalEmulator::webhook_body(const EmuJob& job, SteadyTime at) const {
  json::object o;
  o["request_id"] = job.id;
  o["gateway_request_id"] = job.id;
  switch (job.phase(at)) {
    case EmuJob::Phase::succeeded: {
      o["status"] = "OK";
      boost::system::error_code ec;
      o["payload"] = json::parse(result_body(job), ec);
      break;
    }
    case EmuJob::Phase::moderated: {
      o["status"] = "ERROR";
      o["error"] = "Invalid status code: 422";
      json::object p;
      p["detail"] = moderation_detail();
      o["payload"] = std::move(p);
      break;
    }
    case EmuJob::Phase::canceled: {
      o["status"] = "ERROR";
      o["error"] = "Request cancelled";
      o["payload"] = nullptr;
      break;
    }
    default: {
      o["status"] = "ERROR";
      o["error"] = "Invalid status code: 500";
      json::object p;
      p["detail"] = "Internal server error (emulated failure)";
      o["payload"] = std::move(p);
      break;
    }
  }
  return json::serialize(o);
}

EmuResponse FalEmulator::submit(const EmuRequest& r) {
  if (r.header("authorization") != "Key " + options().api_key) return error_response(401, "Unauthorized");
  std::string model(std::string_view(r.path).substr(1));
  if (model.empty() || model.find("/requests/") != std::string::npos) return error_response(404, "Not found");
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return error_response(422, "Request body must be a JSON object");
  std::string webhook = r.query_param("fal_webhook").value_or("");
  if (!webhook.empty() && !parse_http_url(webhook)) return error_response(422, "fal_webhook: invalid URL");

  std::string id = random_hex(4) + "-" + random_hex(2) + "-" + random_hex(2) + "-" + random_hex(2) + "-" +
                   random_hex(6);
  auto job = create_job(id, model, r, webhook);
  if (!webhook.empty() && job->outcome != JobOutcome::lose) {
    schedule_callback(id, job->finish_at + milliseconds(1), true, [this, webhook](const EmuJob& j) {
      return std::optional<Outgoing>(
          Outgoing{webhook, j.id, webhook_body(j, std::chrono::steady_clock::now()), true, {}});
    });
  }
  std::string base = base_url() + "/" + model + "/requests/" + id;
  json::object o;
  o["request_id"] = id;
  o["gateway_request_id"] = id;
  o["status"] = "IN_QUEUE";
  o["response_url"] = base;
  o["status_url"] = base + "/status";
  o["cancel_url"] = base + "/cancel";
  o["queue_position"] = 0;
  return EmuResponse::json(200, json::serialize(o));
}

EmuResponse FalEmulator::status(const EmuRequest& r, const std::string& id) {
  auto now = std::chrono::steady_clock::now();
  auto snap = with_job(id, [&](EmuJob* j) -> std::optional<EmuJob> {
    if (j == nullptr) return std::nullopt;
    ++j->polls;
    j->last_poll = now;
    return *j;
  });
  if (!snap || snap->phase(now) == EmuJob::Phase::lost) return error_response(404, "Request not found");
  std::string response_url = base_url() + "/" + snap->model + "/requests/" + id;
  json::object o;
  o["response_url"] = response_url;
  bool logs = r.query_param("logs").value_or("0") == "1";
  switch (auto phase = snap->phase(now)) {
    case EmuJob::Phase::queued: {
      std::int64_t position = 0;
      for (const auto& other : job_ids()) {
        auto oj = job(other);
        if (oj && oj->id != id && oj->created < snap->created && oj->phase(now) == EmuJob::Phase::queued) ++position;
      }
      o["status"] = "IN_QUEUE";
      o["queue_position"] = position;
      return EmuResponse::json(202, json::serialize(o));
    }
    case EmuJob::Phase::running: {
      o["status"] = "IN_PROGRESS";
      if (logs) {
        json::object line;
        line["message"] = "step " + std::to_string(static_cast<int>(snap->progress(now) * 100)) + "%";
        line["level"] = "INFO";
        line["timestamp"] = iso8601(unix_ms());
        o["logs"] = json::array{line};
      } else {
        o["logs"] = nullptr;
      }
      return EmuResponse::json(202, json::serialize(o));
    }
    default: {
      o["status"] = "COMPLETED";
      o["logs"] = logs ? json::value(json::array{}) : json::value(nullptr);
      json::object metrics;
      metrics["inference_time"] = std::chrono::duration<double>(snap->finish_at - snap->start_at).count();
      o["metrics"] = std::move(metrics);
      if (phase == EmuJob::Phase::moderated) {
        o["error"] = "The content could not be processed because it contained material flagged by a content checker.";
        o["error_type"] = "content_policy_violation";
      } else if (phase == EmuJob::Phase::failed) {
        o["error"] = "Internal server error (emulated failure)";
        o["error_type"] = "internal_server_error";
      } else if (phase == EmuJob::Phase::canceled) {
        o["error"] = "Request cancelled";
        o["error_type"] = "request_cancelled";
      }
      return EmuResponse::json(200, json::serialize(o));
    }
  }
}

EmuResponse FalEmulator::result(const std::string& id) {
  auto now = std::chrono::steady_clock::now();
  auto snap = job(id);
  if (!snap) return error_response(404, "Request not found");
  switch (snap->phase(now)) {
    case EmuJob::Phase::lost: return error_response(404, "Request not found");
    case EmuJob::Phase::queued:
    case EmuJob::Phase::running: return error_response(400, "Request is still in progress");
    case EmuJob::Phase::succeeded: return EmuResponse::json(200, result_body(*snap));
    case EmuJob::Phase::moderated: {
      json::object o;
      o["detail"] = moderation_detail();
      return EmuResponse::json(422, json::serialize(o));
    }
    case EmuJob::Phase::canceled: return error_response(400, "Request cancelled");
    case EmuJob::Phase::failed: break;
  }
  return error_response(500, "Internal server error (emulated failure)");
}

EmuResponse FalEmulator::cancel(const std::string& id) {
  auto before = cancel_job(id);
  json::object o;
  if (!before || *before == EmuJob::Phase::lost) {
    o["status"] = "NOT_FOUND";
    return EmuResponse::json(404, json::serialize(o));
  }
  if (*before != EmuJob::Phase::queued && *before != EmuJob::Phase::running) {
    o["status"] = "ALREADY_COMPLETED";
    return EmuResponse::json(400, json::serialize(o));
  }
  auto snap = job(id);
  if (snap && !snap->callback_url.empty()) {
    std::string url = snap->callback_url;
    schedule_callback(id, std::chrono::steady_clock::now(), true, [this, url](const EmuJob& j) {
      return std::optional<Outgoing>(Outgoing{url, j.id, webhook_body(j, std::chrono::steady_clock::now()), true, {}});
    });
  }
  o["status"] = "CANCELLATION_REQUESTED";
  return EmuResponse::json(202, json::serialize(o));
}

void FalEmulator::install_routes() {
  server().route("GET", "/.well-known/jwks.json", guarded(Op::other, [this](const EmuRequest&) {
                   jwks_requests_.fetch_add(1);
                   return EmuResponse::json(200, jwks()).with_header("Cache-Control", "max-age=86400");
                 }));
  server().route("POST", "/", guarded(Op::submit, [this](const EmuRequest& r) { return submit(r); }));
  auto poll = guarded(Op::poll, [this](const EmuRequest& r) {
    if (r.header("authorization") != "Key " + options().api_key) return error_response(401, "Unauthorized");
    return status(r, parse_request_path(r.path).id);
  });
  auto fetch = guarded(Op::result, [this](const EmuRequest& r) {
    if (r.header("authorization") != "Key " + options().api_key) return error_response(401, "Unauthorized");
    return result(parse_request_path(r.path).id);
  });
  server().route("GET", "/", [this, poll, fetch](const EmuRequest& r) {
    auto p = parse_request_path(r.path);
    if (!p.ok || p.cancel) return error_response(404, "Not found");
    return p.status ? poll(r) : fetch(r);
  });
  server().route("PUT", "/", guarded(Op::cancel, [this](const EmuRequest& r) {
                   if (r.header("authorization") != "Key " + options().api_key) {
                     return error_response(401, "Unauthorized");
                   }
                   auto p = parse_request_path(r.path);
                   if (!p.ok || !p.cancel) return error_response(404, "Not found");
                   return cancel(p.id);
                 }));
}

}  // namespace babysea::emu
