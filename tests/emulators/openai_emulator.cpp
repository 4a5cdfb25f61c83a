// openai_emulator.cpp — see openai_emulator.hpp.
#include "openai_emulator.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstring>

namespace babysea::emu {

namespace json = boost::json;

OpenAiEmulator::OpenAiEmulator(EmulatorOptions options) : EmulatorBase("openai", std::move(options)) {}

OpenAiEmulator::~OpenAiEmulator() { stop(); }

EmuResponse OpenAiEmulator::error(int status, std::string_view message, std::string_view type,
                                  std::string_view code) {
  json::object e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = nullptr;
  if (code.empty()) {
    e["code"] = nullptr;
  } else {
    e["code"] = code;
  }
  json::object o;
  o["error"] = std::move(e);
  auto r = EmuResponse::json(status, json::serialize(o));
  if (status == 429) {
    r.with_header("x-ratelimit-limit-requests", "50");
    r.with_header("x-ratelimit-remaining-requests", "0");
    r.with_header("x-ratelimit-reset-requests", "1s");
  }
  return r;
}

EmuResponse OpenAiEmulator::error_response(int status, std::string_view message) {
  if (status == 429) return error(429, "Rate limit reached for requests (emulated).", "requests", "rate_limit_exceeded");
  if (status == 401) return error(401, message, "invalid_request_error", "invalid_api_key");
  if (status >= 500) return error(status, "The server had an error while processing your request.", "server_error", "");
  return error(status, message, "invalid_request_error", "");
}

std::vector<std::pair<std::string, std::string>> OpenAiEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};  // OpenAI Images sends no callbacks
}

EmuResponse OpenAiEmulator::generate(const EmuRequest& r) {
  if (r.header("authorization") != "Bearer " + options().api_key) {
    return error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    return error(400, "We could not parse the JSON body of your request.", "invalid_request_error", "");
  }
  const auto& body = v.as_object();
  auto str = [&](std::string_view k, std::string def) -> std::string {
    auto it = body.find(k);
    return it != body.end() && it->value().is_string() ? std::string(it->value().as_string()) : def;
  };
  std::string model = str("model", "dall-e-2");
  std::string prompt = str("prompt", "");
  if (prompt.empty()) return error(400, "Missing required parameter: 'prompt'.", "invalid_request_error", "");
  std::int64_t n = 1;
  if (auto it = body.find("n"); it != body.end()) {
    if (!it->value().is_int64() || it->value().as_int64() < 1 || it->value().as_int64() > 10) {
      return error(400, "Invalid 'n': must be an integer between 1 and 10.", "invalid_request_error",
                   "integer_out_of_range");
    }
    n = it->value().as_int64();
  }
  bool gpt_image = model.starts_with("gpt-image");
  std::string format = str("response_format", gpt_image ? "b64_json" : "url");
  if (format != "url" && format != "b64_json") {
    return error(400, "Invalid value for 'response_format': must be 'url' or 'b64_json'.", "invalid_request_error",
                 "");
  }
  std::string output_format = str("output_format", "png");
  if (output_format != "png" && output_format != "jpeg" && output_format != "webp") {
    return error(400, "Invalid value for 'output_format'.", "invalid_request_error", "");
  }
  std::string size = str("size", "1024x1024");

  auto job = create_job("img_" + random_hex(12), model, r, "", static_cast<int>(n));
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(job->finish_at - std::chrono::steady_clock::now());
  // One millisecond past the end, so the output files are live when the answer lands.
  wait += std::chrono::milliseconds(1);
  if (wait.count() < 0) wait = std::chrono::milliseconds(0);
  EmuResponse res;
  switch (job->outcome) {
    case JobOutcome::moderate:
    case JobOutcome::moderate_input:
      res = error(400,
                  "Your request was rejected as a result of our safety system. Your request may contain content "
                  "that is not allowed by our safety system.",
                  "image_generation_user_error", "moderation_blocked");
      break;
    case JobOutcome::fail:
    case JobOutcome::lose:
      res = error(500, "The server had an error while processing your request.", "server_error", "");
      break;
    case JobOutcome::succeed: {
      json::array data;
      for (const auto& url : job->outputs) {
        json::object d;
        if (format == "url") {
          d["url"] = url;
        } else {
          const auto& png = png_bytes();
          std::string b64(sodium_base64_ENCODED_LEN(png.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
          sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(png.data()), png.size(),
                            sodium_base64_VARIANT_ORIGINAL);
          b64.resize(std::strlen(b64.c_str()));
          d["b64_json"] = b64;
        }
        d["revised_prompt"] = prompt;
        data.push_back(std::move(d));
      }
      json::object o;
      o["created"] = job->created_unix_ms / 1000;
      o["data"] = std::move(data);
      o["output_format"] = output_format;
      o["size"] = size;
      json::object usage;
      usage["input_tokens"] = static_cast<std::int64_t>(prompt.size() / 4 + 1);
      usage["output_tokens"] = 272 * n;
      usage["total_tokens"] = static_cast<std::int64_t>(prompt.size() / 4 + 1) + 272 * n;
      o["usage"] = std::move(usage);
      res = EmuResponse::json(200, json::serialize(o));
      break;
    }
  }
  res.delay = wait;
  return res;
}

void OpenAiEmulator::install_routes() {
  server().route("POST", "/v1/images/generations",
                 guarded(Op::submit, [this](const EmuRequest& r) { return generate(r); }));
}

}  // namespace babysea::emu
