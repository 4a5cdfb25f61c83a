// cloudflare_emulator.cpp — see cloudflare_emulator.hpp.
#include "cloudflare_emulator.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstring>

namespace babysea::emu {

namespace json = boost::json;

namespace {

constexpr std::string_view kAccountsPrefix = "/client/v4/accounts/";
constexpr std::string_view kRun = "/ai/run/";

// One emulated model: its output shape and the input checks applied.
struct CfModel {
  std::string_view name;
  bool json_output;  // the JSON envelope with base64, else the raw bytes
  std::string_view content_type;
  int max_steps;  // num_steps / steps
  int min_side;   // width / height
  int max_side;
  bool closed;  // prompt and steps only (additionalProperties: false)
};

// From cloudflare-docs src/content/workers-ai-models/<model>.json (schema.input / schema.output).
constexpr CfModel kModels[] = {
    {"@cf/black-forest-labs/flux-1-schnell", true, "image/jpeg", 8, 0, 0, true},
    {"@cf/leonardo/lucid-origin", true, "image/jpeg", 40, 0, 2500, false},
    {"@cf/stabilityai/stable-diffusion-xl-base-1.0", false, "image/png", 20, 256, 2048, false},
    {"@cf/bytedance/stable-diffusion-xl-lightning", false, "image/png", 20, 256, 2048, false},
    {"@cf/lykon/dreamshaper-8-lcm", false, "image/png", 20, 256, 2048, false},
    {"@cf/runwayml/stable-diffusion-v1-5-img2img", false, "image/png", 20, 256, 2048, false},
    {"@cf/runwayml/stable-diffusion-v1-5-inpainting", false, "image/png", 20, 256, 2048, false},
    {"@cf/leonardo/phoenix-1.0", false, "image/jpeg", 50, 0, 2048, false},
};

const CfModel* find_model(std::string_view name) {
  for (const auto& m : kModels)
    if (m.name == name) return &m;
  return nullptr;
}

std::string base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Whether `v` is an integer in [lo, hi].
bool int_in(const json::value& v, std::int64_t lo, std::int64_t hi) {
  return v.is_int64() && v.as_int64() >= lo && v.as_int64() <= hi;
}

}  // namespace

CfError CfError::daily_limit() {
  return {429, 3036,
          "You have used up your daily free allocation of 10,000 neurons. Please upgrade to Cloudflare's Workers Paid "
          "plan if you would like to continue usage."};
}
CfError CfError::out_of_capacity() { return {429, 3040, "No more data centers to forward the request to"}; }
CfError CfError::private_model() { return {403, 5018, "The account is not allowed to access this model"}; }

CloudflareEmulator::CloudflareEmulator(EmulatorOptions options, std::string account_id)
    : EmulatorBase("cloudflare", std::move(options)), account_id_(std::move(account_id)) {}

CloudflareEmulator::~CloudflareEmulator() { stop(); }

const std::string& CloudflareEmulator::jpeg_bytes() {
  // A 1x1 grayscale baseline JPEG (libjpeg, quality 50).
  static constexpr char kJpeg[] =
      "\xff\xd8\xff\xe0\x00\x10\x4a\x46\x49\x46\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
      "\xff\xdb\x00\x43\x00\x10\x0b\x0c\x0e\x0c\x0a\x10\x0e\x0d\x0e\x12\x11\x10\x13\x18"
      "\x28\x1a\x18\x16\x16\x18\x31\x23\x25\x1d\x28\x3a\x33\x3d\x3c\x39\x33\x38\x37\x40"
      "\x48\x5c\x4e\x40\x44\x57\x45\x37\x38\x50\x6d\x51\x57\x5f\x62\x67\x68\x67\x3e\x4d"
      "\x71\x79\x70\x64\x78\x5c\x65\x67\x63\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01"
      "\x11\x00\xff\xc4\x00\x14\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x06\xff\xc4\x00\x14\x10\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
      "\x00\x00\x00\x00\x00\x00\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x48\xff\xd9";
  static const std::string bytes(kJpeg, sizeof kJpeg - 1);
  return bytes;
}

void CloudflareEmulator::error_next(CfError error, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) errors_.push_back(error);
}

std::optional<CfError> CloudflareEmulator::take_error() {
  std::lock_guard<std::mutex> lock(mu_);
  if (errors_.empty()) return std::nullopt;
  CfError e = std::move(errors_.front());
  errors_.pop_front();
  return e;
}

EmuResponse CloudflareEmulator::error(CfError e, std::string ray) {
  json::object err;
  err["code"] = e.code;
  err["message"] = e.message;
  json::object o;
  o["result"] = nullptr;
  o["success"] = false;
  o["errors"] = json::array{std::move(err)};
  o["messages"] = json::array{};
  auto r = EmuResponse::json(e.status, json::serialize(o));
  r.with_header("cf-ray", ray.empty() ? random_hex(8) + "-EMU" : std::move(ray));
  return r;
}

EmuResponse CloudflareEmulator::error_response(int status, std::string_view message) {
  int code = 1000;
  switch (status) {
    case 400: code = 5006; break;
    case 401:
    case 403: code = 10000; break;
    case 404:
    case 410: code = 7000; break;
    case 408: code = 3007; break;
    case 413: code = 3006; break;
    case 429: code = 971; break;
    default:
      if (status >= 500) code = 3043;
      break;
  }
  return error({status, code, std::string(message)});
}

std::vector<std::pair<std::string, std::string>> CloudflareEmulator::sign_callback(const Outgoing&, std::int64_t) {
  return {};  // Workers AI sends no callbacks
}

EmuResponse CloudflareEmulator::outcome_error(JobOutcome outcome, std::string ray) {
  CfError e;
  switch (outcome) {
    case JobOutcome::moderate_input: e = {400, 3030, "AiError: Input prompt contains NSFW content (code 3030)"}; break;
    case JobOutcome::moderate: e = {400, 3030, "AiError: Output image contains NSFW content (code 3030)"}; break;
    default: e = {500, 3043, "AiError: Internal server error (code 3043)"}; break;
  }
  if (failures_in_2xx_) e.status = 200;
  return error(std::move(e), std::move(ray));
}

EmuResponse CloudflareEmulator::run(const EmuRequest& r) {
  std::string ray = random_hex(8) + "-EMU";
  if (r.header("authorization") != "Bearer " + options().api_key) return error({401, 10000, "Authentication error"}, ray);
  const std::string path = url_decode(r.path, false);
  std::string_view rest = std::string_view(path).substr(kAccountsPrefix.size());
  const std::size_t slash = rest.find('/');
  std::string_view account = rest.substr(0, slash);
  std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (!tail.starts_with(kRun)) return error({404, 7000, "No route for that URI"}, ray);
  if (account != account_id_) return error({403, 10000, "Authentication error"}, ray);
  const std::string model(tail.substr(kRun.size()));
  if (!model.starts_with("@cf/")) return error({404, 3042, "The model name is invalid"}, ray);
  const CfModel* m = find_model(model);
  if (m == nullptr) return error({400, 5007, "No such model " + model + " or task"}, ray);

  auto bad_input = [&](std::string what) { return error({400, 5006, "AiError: Bad input: " + what}, ray); };
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object()) return bad_input("Error: Type mismatch of '/', 'object' expected");
  const auto& body = v.as_object();
  auto prompt = body.find("prompt");
  if (prompt == body.end()) return bad_input("Error: required properties at '/' are 'prompt'");
  if (!prompt->value().is_string() || prompt->value().as_string().empty() || prompt->value().as_string().size() > 2048)
    return bad_input("Error: String length must be between 1 and 2048 at '/prompt'");
  for (const auto& [key, value] : body) {
    const bool steps = key == "steps" || key == "num_steps";
    const bool side = key == "width" || key == "height";
    if (m->closed && key != "prompt" && key != "steps")
      return bad_input("Additional or unevaluated properties '/" + std::string(key) + "' at '/' not allowed");
    if (steps && !int_in(value, 1, m->max_steps))
      return bad_input("Error: Number must be between 1 and " + std::to_string(m->max_steps) + " at '/" +
                       std::string(key) + "'");
    if (side && !int_in(value, m->min_side, m->max_side))
      return bad_input("Error: Number must be between " + std::to_string(m->min_side) + " and " +
                       std::to_string(m->max_side) + " at '/" + std::string(key) + "'");
  }
  if (auto scripted = take_error()) return error(std::move(*scripted), ray);

  auto job = create_job(ray, model, r, "", /*n_outputs=*/0);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(job->finish_at - std::chrono::steady_clock::now());
  if (wait.count() < 0) wait = std::chrono::milliseconds(0);
  EmuResponse res;
  if (job->outcome != JobOutcome::succeed) {
    res = outcome_error(job->outcome, ray);
  } else {
    std::string image = m->content_type == "image/png" ? png_bytes() : jpeg_bytes();
    if (image.size() < image_size_) image.resize(image_size_, '\0');
    if (m->json_output) {
      json::object result;
      result["image"] = base64(image);
      json::object o;
      o["result"] = std::move(result);
      o["success"] = true;
      o["errors"] = json::array{};
      o["messages"] = json::array{};
      res = EmuResponse::json(200, json::serialize(o));
    } else {
      res = EmuResponse::text(200, std::move(image), std::string(m->content_type));
    }
    res.with_header("cf-ray", ray);
  }
  res.delay = wait;
  return res;
}

void CloudflareEmulator::install_routes() {
  server().route("POST", std::string(kAccountsPrefix), guarded(Op::submit, [this](const EmuRequest& r) { return run(r); }));
}

}  // namespace babysea::emu
