// libFuzzer target over the normalizer entry point.
//
// Input: first byte picks a catalog model (shipped data/ catalog plus the
// test catalog), second byte picks options; the rest is the request body.
// Besides "no crash, no sanitizer report", it checks invariants:
//   - a successful request re-normalizes from its canonical_json() to the
//     same canonical body and fingerprint (idempotence);
//   - every rendered native payload is one strict JSON object;
//   - estimate() of a successful request never fails except on overflow;
//   - a failure always carries at least one issue unless it is
//     model_not_found / payload_too_large.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "babysea/schema.hpp"
#include "json/strict.hpp"
#include "schema/test_catalog.hpp"

#ifndef BABYSEA_SOURCE_DIR
#define BABYSEA_SOURCE_DIR "."
#endif

namespace {

struct Catalogs {
  std::shared_ptr<const babysea::Catalog> shipped;
  std::shared_ptr<const babysea::Catalog> test;
};

const Catalogs& catalogs() {
  static const Catalogs c = [] {
    const char* env = std::getenv("BABYSEA_SOURCE_DIR");
    std::filesystem::path root = env ? env : BABYSEA_SOURCE_DIR;
    auto shipped = babysea::Catalog::load_directory(root / "data");
    auto test = babysea::Catalog::load_json(babysea::testing::kTestProviders, babysea::testing::kTestModels,
                                            babysea::testing::kTestBridges);
    if (!shipped.ok() || !test.ok()) {
      std::fprintf(stderr, "fuzz: cannot load catalogs: %s / %s\n", shipped.status().to_string().c_str(),
                   test.status().to_string().c_str());
      std::abort();
    }
    return Catalogs{std::move(shipped).value(), std::move(test).value()};
  }();
  return c;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const Catalogs& cats = catalogs();
  const auto& shipped = cats.shipped->models();
  const auto& test = cats.test->models();
  const std::size_t pick = data[0] % (shipped.size() + test.size());
  const bool use_test = pick >= shipped.size();
  const auto& catalog = use_test ? cats.test : cats.shipped;
  const babysea::Model& model = use_test ? test[pick - shipped.size()] : shipped[pick];
  babysea::NormalizeOptions opt;
  opt.strict = (data[1] & 1) == 0;
  opt.payloads = (data[1] & 2) ? babysea::PayloadMode::first_provider : babysea::PayloadMode::all_providers;
  if (data[1] & 4) {
    opt.max_string_bytes = 64;
    opt.max_array_items = 2;
    opt.max_depth = 3;
  }
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  auto r = babysea::normalize(catalog, model.identifier, body, opt);
  if (!r.ok()) {
    const auto code = r.status().code();
    check(code == babysea::Code::invalid_request || code == babysea::Code::payload_too_large ||
              code == babysea::Code::url_forbidden,
          "unexpected status code");
    if (code == babysea::Code::invalid_request) check(!r.status().issues().empty(), "invalid_request without issues");
    return 0;
  }
  const auto& req = r.value();
  for (const auto& p : req.native_payloads()) {
    auto parsed = babysea::json::parse_strict(p.json);
    check(parsed.ok() && parsed->is_object(), "native payload is not a JSON object");
  }
  auto again = babysea::normalize(catalog, model.identifier, req.canonical_json(), opt);
  check(again.ok(), "canonical body does not re-normalize");
  check(again->canonical_json() == req.canonical_json(), "canonical body is not a fixed point");
  check(again->fingerprint() == req.fingerprint(), "fingerprint differs after re-normalization");
  auto est = babysea::estimate(req, std::int64_t{1'000'000});
  check(est.ok() || est.status().code() == babysea::Code::invalid_amount, "estimate of a valid request failed");
  if (est.ok()) check(est->cost_total > 0, "estimate is not positive");
  return 0;
}
