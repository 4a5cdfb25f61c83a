// normalize_bench: throughput and latency of the request normalizer on one
// core (validate + defaults + fingerprint + one native payload).
// Prints one JSON object. `--quick` runs a short smoke pass (ctest).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "babysea/schema.hpp"
#include "json/json.hpp"

#ifndef BABYSEA_SOURCE_DIR
#define BABYSEA_SOURCE_DIR "."
#endif

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double per_s = 0;
  std::int64_t p50_ns = 0;
  std::int64_t p99_ns = 0;
};

Figures run(const std::shared_ptr<const babysea::Catalog>& cat, const char* model, const std::string& body,
            const babysea::NormalizeOptions& opt, bool expect_ok, std::size_t iterations) {
  // Warm-up and sanity.
  for (int i = 0; i < 1000; ++i) {
    auto r = babysea::normalize(cat, model, body, opt);
    if (r.ok() != expect_ok) {
      std::fprintf(stderr, "unexpected result for %s: %s\n", model, r.status().to_string().c_str());
      std::exit(1);
    }
  }
  // Throughput: one timed batch.
  std::size_t sink = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < iterations; ++i) {
    auto r = babysea::normalize(cat, model, body, opt);
    sink += r.ok() ? r->canonical_json().size() : r.status().issues().size();
  }
  auto t1 = Clock::now();
  Figures f;
  f.per_s = static_cast<double>(iterations) / std::chrono::duration<double>(t1 - t0).count();
  // Latency: individually timed calls.
  std::vector<std::int64_t> ns;
  ns.reserve(iterations / 4);
  for (std::size_t i = 0; i < iterations / 4; ++i) {
    auto a = Clock::now();
    auto r = babysea::normalize(cat, model, body, opt);
    auto b = Clock::now();
    sink += r.ok();
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  }
  std::sort(ns.begin(), ns.end());
  f.p50_ns = ns[ns.size() / 2];
  f.p99_ns = ns[ns.size() * 99 / 100];
  if (sink == 42) std::puts("");  // keep the work observable
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const char* env = std::getenv("BABYSEA_SOURCE_DIR");
  std::filesystem::path root = env ? env : BABYSEA_SOURCE_DIR;
  auto cat = babysea::Catalog::load_directory(root / "data");
  if (!cat.ok()) {
    std::fprintf(stderr, "catalog: %s\n", cat.status().to_string().c_str());
    return 1;
  }
  const std::size_t n = quick ? 20000 : 1000000;

  // A typical image request (~300 bytes).
  const std::string image =
      R"({"generation_prompt":"A cinematic photograph of a lighthouse on a rocky cliff at dusk, warm light )"
      R"(spilling from the windows, waves crashing below, volumetric fog, 35mm film grain",)"
      R"("generation_ratio":"16:9","generation_output_format":"jpg","generation_output_number":2,)"
      R"("generation_seed":42,"generation_provider_order":"fastest"})";
  const std::string video =
      R"({"generation_prompt":"A slow dolly shot through a rain-soaked neon street at night, reflections on )"
      R"(the asphalt, a cyclist passing by","generation_duration":8,"generation_resolution":"1080p",)"
      R"("generation_generate_audio":true,"generation_ratio":"16:9","generation_seed":7})";
  const std::string invalid =
      R"({"generation_prompt":"","generation_ratio":"5:4","generation_output_format":"jpeg",)"
      R"("generation_output_number":"2","generation_seed":3.5,"webhook_secret":"x","unknown":1})";

  babysea::NormalizeOptions opt;
  opt.payloads = babysea::PayloadMode::first_provider;
  Figures img = run(*cat, "bfl/flux-schnell", image, opt, true, n);
  Figures vid = run(*cat, "google/veo-3-fast", video, opt, true, n / 2);
  Figures bad = run(*cat, "bfl/flux-schnell", invalid, opt, false, n / 2);
  babysea::NormalizeOptions all;
  Figures img_all = run(*cat, "bfl/flux-schnell", image, all, true, n / 2);

  babysea::json::JsonWriter w;
  w.begin_object()
      .field("image_per_s", static_cast<std::int64_t>(img.per_s))
      .field("image_p50_ns", img.p50_ns)
      .field("image_p99_ns", img.p99_ns)
      .field("image_bytes", static_cast<std::int64_t>(image.size()))
      .field("image_all_payloads_per_s", static_cast<std::int64_t>(img_all.per_s))
      .field("video_per_s", static_cast<std::int64_t>(vid.per_s))
      .field("video_p50_ns", vid.p50_ns)
      .field("video_p99_ns", vid.p99_ns)
      .field("invalid_per_s", static_cast<std::int64_t>(bad.per_s))
      .field("invalid_p50_ns", bad.p50_ns)
      .field("invalid_p99_ns", bad.p99_ns)
      .field("iterations", static_cast<std::int64_t>(n))
      .end_object();
  std::printf("%s\n", w.str().c_str());
  return 0;
}
