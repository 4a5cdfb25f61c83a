// byteplus_emulator.cpp — see byteplus_emulator.hpp.
#include "byteplus_emulator.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstring>
#include <ctime>

namespace babysea::emu {

namespace json = boost::json;

namespace {

constexpr std::string_view kImagesPath = "/api/v3/images/generations";
constexpr std::string_view kTasksPath = "/api/v3/contents/generations/tasks";
constexpr std::string_view kTaskPrefix = "/api/v3/contents/generations/tasks/";

std::string_view type_of(int status) {
  switch (status) {
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    default: return status >= 500 ? "InternalServerError" : "BadRequest";
  }
}

std::string base64(const std::string& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::string str(const json::object& o, std::string_view key, std::string def = {}) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : def;
}

// "cgt-20250331175019-68d9t"-like: the creation time and a random tail.
std::string task_id(std::int64_t unix_ms, const std::string& tail) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
  return "cgt-" + std::string(stamp) + "-" + tail;
}

// Why a content[] item is refused; empty when it is fine.
std::string content_problem(const json::value& item) {
  const auto* o = item.if_object();
  if (o == nullptr) return "content items must be objects";
  std::string type = str(*o, "type");
  if (type == "text") return str(*o, "text").empty() ? "text items need a text" : "";
  if (type == "image_url") {
    const auto* image = o->if_contains("image_url");
    if (image == nullptr || !image->is_object() || str(image->as_object(), "url").empty())
      return "image_url items need image_url.url";
    std::string role = str(*o, "role", "first_frame");
    if (role != "first_frame" && role != "last_frame" && role != "reference_image") return "unknown role " + role;
    return "";
  }
  if (type == "video_url" || type == "audio_url" || type == "draft_task") return "";
  return "unknown content type " + type;
}

// The task's status word at `at` ("" when lost).
std::string status_word(const EmuJob& job, SteadyTime at) {
  auto phase = job.phase(at);
  if (phase == EmuJob::Phase::lost) return "";
  if (phase == EmuJob::Phase::canceled) return "cancelled";
  if (phase == EmuJob::Phase::queued) return "queued";
  if (job.extra.count("expire") != 0) return "expired";
  switch (phase) {
    case EmuJob::Phase::running: return "running";
    case EmuJob::Phase::succeeded: return "succeeded";
    default: return "failed";
  }
}

}  // namespace

BytePlusEmulator::BytePlusEmulator(EmulatorOptions options) : EmulatorBase("byteplus", std::move(options)) {}

BytePlusEmulator::~BytePlusEmulator() { stop(); }

void BytePlusEmulator::set_open_models(std::set<std::string> models) {
  std::lock_guard<std::mutex> lock(models_mu_);
  open_models_ = std::move(models);
}

const std::string& BytePlusEmulator::mp4_bytes() {
  static const std::string bytes = [] {
    static constexpr char kHead[] = "\0\0\0\x18" "ftypmp42\0\0\0\0mp42isom\0\0\0\x08mdat";
    return std::string(kHead, sizeof kHead - 1);
  }();
  return bytes;
}

bool BytePlusEmulator::take(std::atomic<int>& counter) {
  int n = counter.load();
  while (n > 0 && !counter.compare_exchange_weak(n, n - 1)) {
  }
  return n > 0;
}

EmuResponse BytePlusEmulator::error(int status, std::string_view code, std::string_view message,
                                    std::string_view param) {
  std::string rid = random_hex(16);
  json::object e;
  e["code"] = code;
  e["message"] = std::string(message) + " Request id: " + rid;
  e["param"] = param;
  e["type"] = type_of(status);
  json::object o;
  o["error"] = std::move(e);
  return EmuResponse::json(status, json::serialize(o)).with_header("X-Request-Id", rid);
}

EmuResponse BytePlusEmulator::error_response(int status, std::string_view message) {
  switch (status) {
    case 401: return error(401, "AuthenticationError", message);
    case 402: return error(402, "AccountOverdueError", message);
    case 403: return error(403, "AccessDenied", message);
    case 404: return error(404, "ResourceNotFound", message);
    case 429: return error(429, "RateLimitExceeded.EndpointRPMExceeded", message);
    case 503: return error(503, "ServiceUnavailable", message);
    default: return error(status, status >= 500 ? "InternalServiceError" : "InvalidParameter", message);
  }
}

std::vector<std::pair<std::string, std::string>> BytePlusEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};  // BytePlus signs no callbacks; this emulator sends none
}

std::optional<EmuResponse> BytePlusEmulator::check_auth(const EmuRequest& r) {
  if (r.header("authorization") != "Bearer " + options().api_key)
    return error(401, "AuthenticationError", "The API key or AK/SK in the request is missing or invalid.");
  return std::nullopt;
}

std::optional<EmuResponse> BytePlusEmulator::admit(const std::string& model) {
  if (model.empty())
    return error(400, "MissingParameter", "The request failed because it is missing one or multiple required parameters.",
                 "model");
  if (take(overdue_))
    return error(403, "AccountOverdueError", "The request failed because your account has an overdue balance.");
  std::lock_guard<std::mutex> lock(models_mu_);
  if (!open_models_.empty() && open_models_.count(model) == 0)
    return error(404, "ModelNotOpen",
                 "Your account has not activated the model " + model + ". Please activate the model service in the Ark Console.");
  return std::nullopt;
}

std::optional<json::object> BytePlusEmulator::read_body(const EmuRequest& r, EmuResponse& refusal) {
  if (auto bad = check_auth(r)) {
    refusal = *bad;
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    refusal = error(400, "InvalidParameter", "The request body is not a JSON object.");
    return std::nullopt;
  }
  if (auto bad = admit(str(v.as_object(), "model"))) {
    refusal = *bad;
    return std::nullopt;
  }
  return std::move(v.as_object());
}

EmuResponse BytePlusEmulator::images(const EmuRequest& r) {
  EmuResponse refusal;
  auto parsed = read_body(r, refusal);
  if (!parsed) return refusal;
  const json::object& body = *parsed;
  std::string prompt = str(body, "prompt");
  if (prompt.empty()) return error(400, "MissingParameter", "The parameter prompt is required.", "prompt");
  std::string format = str(body, "response_format", "url");
  if (format != "url" && format != "b64_json")
    return error(400, "InvalidParameter", "response_format must be url or b64_json.", "response_format");
  std::string output_format = str(body, "output_format", "jpeg");
  if (output_format != "jpeg" && output_format != "png")
    return error(400, "InvalidParameter", "output_format must be jpeg or png.", "output_format");
  std::int64_t n = 1;
  if (str(body, "sequential_image_generation", "disabled") == "auto") {
    const auto* options = body.if_contains("sequential_image_generation_options");
    const auto* max = options && options->is_object() ? options->as_object().if_contains("max_images") : nullptr;
    if (max != nullptr) {
      if (!max->is_int64() || max->as_int64() < 1 || max->as_int64() > 15)
        return error(400, "InvalidParameter", "max_images must be an integer in [1, 15].", "max_images");
      n = max->as_int64();
    }
  }
  std::string size = str(body, "size", "2048x2048");

  auto job = create_job("img-" + random_hex(12), str(body, "model"), r, "", static_cast<int>(n));
  bool partial = job->outcome == JobOutcome::succeed && take(partial_);
  // Answered once the job is done, one millisecond late so the files are live.
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(job->finish_at - std::chrono::steady_clock::now()) +
              std::chrono::milliseconds(1);
  EmuResponse res;
  if (job->outcome == JobOutcome::moderate_input) {
    res = error(400, "InputTextSensitiveContentDetected",
                "The request failed because the input text may contain sensitive information.");
  } else if (job->outcome == JobOutcome::fail || job->outcome == JobOutcome::lose) {
    res = error(500, "InternalServiceError", "The service encountered an unexpected internal error.");
  } else {
    json::array data;
    std::int64_t made = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      json::object d;
      if (job->outcome == JobOutcome::moderate || (partial && i == 0)) {
        d["error"] = {{"code", "OutputImageSensitiveContentDetected"},
                      {"message", "The request failed because the output image may contain sensitive information."}};
      } else {
        if (format == "url") {
          d["url"] = job->outputs.at(static_cast<std::size_t>(i));
        } else {
          d["b64_json"] = base64(png_bytes());
        }
        d["size"] = size;
        ++made;
      }
      data.push_back(std::move(d));
    }
    json::object o;
    o["model"] = job->model;
    o["created"] = job->created_unix_ms / 1000;
    o["data"] = std::move(data);
    o["usage"] = {{"generated_images", made}, {"output_tokens", made * 16384}, {"total_tokens", made * 16384}};
    res = EmuResponse::json(200, json::serialize(o)).with_header("X-Request-Id", random_hex(16));
  }
  res.delay = std::max(wait, std::chrono::milliseconds(0));
  return res;
}

EmuResponse BytePlusEmulator::create_task(const EmuRequest& r) {
  if (r.path != kTasksPath) return error_response(404, "Not found.");
  EmuResponse refusal;
  auto parsed = read_body(r, refusal);
  if (!parsed) return refusal;
  const json::object& body = *parsed;
  const auto* content = body.if_contains("content");
  if (content == nullptr || !content->is_array() || content->as_array().empty())
    return error(400, "MissingParameter", "The parameter content is required.", "content");
  for (const auto& item : content->as_array())
    if (std::string problem = content_problem(item); !problem.empty())
      return error(400, "InvalidParameter", "The parameter content is not valid: " + problem + ".", "content");
  const auto* last = body.if_contains("return_last_frame");
  const bool last_frame = last != nullptr && last->is_bool() && last->as_bool();

  auto job = create_job(task_id(unix_ms(), random_hex(3)), str(body, "model"), r, str(body, "callback_url"), 0);
  std::vector<std::string> files, urls;
  if (job->outcome == JobOutcome::succeed) {
    std::optional<SteadyTime> until;
    if (auto ttl = faults().output_ttl(); ttl.count() > 0) until = job->finish_at + ttl;
    files.push_back(job->id + ".mp4");
    urls.push_back(publish_file(files.back(), mp4_bytes(), "video/mp4", job->finish_at, until));
    if (last_frame) {
      files.push_back(job->id + "-last.png");
      urls.push_back(publish_file(files.back(), png_bytes(), "image/png", job->finish_at, until));
    }
  }
  const bool expire = take(expire_);
  with_job(job->id, [&](EmuJob* j) {
    j->files = files;
    j->outputs = urls;
    if (expire) j->extra["expire"] = "1";
    return 0;
  });
  json::object o;
  o["id"] = job->id;
  return EmuResponse::json(200, json::serialize(o)).with_header("X-Request-Id", random_hex(16));
}

std::string BytePlusEmulator::render(const EmuJob& job, SteadyTime at) const {
  json::object o;
  o["id"] = job.id;
  o["model"] = job.model;
  std::string status = status_word(job, at);
  o["status"] = status;
  auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(at - job.created).count();
  o["created_at"] = job.created_unix_ms / 1000;
  o["updated_at"] = job.created_unix_ms / 1000 + elapsed;
  boost::system::error_code ec;
  auto body = json::parse(job.body, ec);
  for (const char* key : {"resolution", "ratio", "duration", "seed"})
    if (const auto* value = !ec && body.is_object() ? body.as_object().if_contains(key) : nullptr) o[key] = *value;
  if (status == "succeeded") {
    json::object content;
    content["video_url"] = job.outputs.at(0);
    if (job.outputs.size() > 1) content["last_frame_url"] = job.outputs[1];
    o["content"] = std::move(content);
    o["usage"] = {{"completion_tokens", 108900}, {"total_tokens", 108900}};
    o["framespersecond"] = 24;
  } else if (status == "failed") {
    json::object e;
    if (job.phase(at) == EmuJob::Phase::moderated) {
      bool input = job.outcome == JobOutcome::moderate_input;
      e["code"] = input ? "InputTextSensitiveContentDetected" : "OutputVideoSensitiveContentDetected";
      e["message"] = input ? "The request failed because the input text may contain sensitive information."
                           : "The request failed because the output video may contain sensitive information.";
    } else {
      e["code"] = "InternalServiceError";
      e["message"] = "The service encountered an unexpected internal error (emulated failure).";
    }
    o["error"] = std::move(e);
  }
  return json::serialize(o);
}

EmuResponse BytePlusEmulator::get_task(const EmuRequest& r) {
  if (auto refused = check_auth(r)) return *refused;
  std::string id(std::string_view(r.path).substr(kTaskPrefix.size()));
  auto now = std::chrono::steady_clock::now();
  std::optional<std::string> body = with_job(id, [&](EmuJob* j) -> std::optional<std::string> {
    if (j == nullptr || status_word(*j, now).empty()) return std::nullopt;
    ++j->polls;
    j->last_poll = now;
    return render(*j, now);
  });
  if (!body) return error(404, "ResourceNotFound", "The specified task " + id + " is not found.");
  return EmuResponse::json(200, *body).with_header("X-Request-Id", random_hex(16));
}

EmuResponse BytePlusEmulator::delete_task(const EmuRequest& r) {
  if (auto refused = check_auth(r)) return *refused;
  std::string id(std::string_view(r.path).substr(kTaskPrefix.size()));
  auto now = std::chrono::steady_clock::now();
  std::string before = with_job(id, [&](EmuJob* j) -> std::string {
    std::string status = j ? status_word(*j, now) : "";
    if (status == "queued") {
      j->canceled = true;
      j->canceled_at = now;
      ++j->version;
    } else if (status == "succeeded" || status == "failed" || status == "expired") {
      j->deleted = true;  // the record is gone: later reads answer 404
    }
    return status;
  });
  if (before.empty()) return error(404, "ResourceNotFound", "The specified task " + id + " is not found.");
  if (before == "running" || before == "cancelled")
    return error(403, "OperationDenied.UnsupportedPhase",
                 "Operation is denied because operation is not supported while the target is in its current phase.");
  return EmuResponse::json(200, "{}").with_header("X-Request-Id", random_hex(16));
}

void BytePlusEmulator::install_routes() {
  server().route("POST", std::string(kImagesPath), guarded(Op::submit, [this](const EmuRequest& r) { return images(r); }));
  server().route("POST", std::string(kTasksPath),
                 guarded(Op::submit, [this](const EmuRequest& r) { return create_task(r); }));
  server().route("GET", std::string(kTaskPrefix), guarded(Op::poll, [this](const EmuRequest& r) { return get_task(r); }));
  server().route("DELETE", std::string(kTaskPrefix),
                 guarded(Op::cancel, [this](const EmuRequest& r) { return delete_task(r); }));
}

}  // namespace babysea::emu
