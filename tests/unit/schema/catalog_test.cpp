// Catalog loading and validation, estimates.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "babysea/catalog.hpp"
#include "babysea/schema.hpp"
#include "schema/test_catalog.hpp"
#include "support/testing.hpp"

using namespace babysea;

namespace {

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  INFO("replace pattern not found: " << from);
  REQUIRE(pos != std::string::npos);
  s.replace(pos, from.size(), to);
  return s;
}

bool has_issue(const Status& st, const std::string& field_part, const std::string& message_part,
               const std::string& code = "definition_error") {
  for (const auto& i : st.issues())
    if (i.field.find(field_part) != std::string::npos && i.message.find(message_part) != std::string::npos &&
        i.code == code)
      return true;
  return false;
}

Status load(const std::string& models, const std::string& bridges) {
  auto r = Catalog::load_json(testing::kTestProviders, models, bridges);
  return r.ok() ? Status() : r.status();
}

}  // namespace

TEST_CASE("catalog: the shipped data/ catalog loads and is what the issue asks for") {
  auto r = Catalog::load_directory(babysea::testing::source_dir() / "data");
  if (!r.ok())
    for (const auto& i : r.status().issues()) UNSCOPED_INFO(i.field << ": " << i.code << ": " << i.message);
  REQUIRE(r.ok());
  const Catalog& c = **r;
  // The breadth of the service we model: 80+ models from 12+ labs, most
  // with two or more bridges so failover means something.
  CHECK(c.models().size() >= 80);
  int images = 0, videos = 0, multi = 0;
  std::set<std::string> providers, labs;
  for (const auto& m : c.models()) {
    (m.type == ModelType::image ? images : videos)++;
    labs.insert(m.identifier.substr(0, m.identifier.find('/')));
    if (m.bindings.size() >= 2) ++multi;
    for (const auto& b : m.bindings) {
      providers.insert(b.provider);
      CHECK_FALSE(b.native_model.empty());
      REQUIRE(b.bridge != nullptr);
    }
    CHECK(m.bindings.size() == m.providers.size());
    CHECK_FALSE(m.capabilities.ratios.empty());
    CHECK_FALSE(m.capabilities.output_formats.empty());
  }
  CHECK(labs.size() >= 12);
  CHECK(multi * 2 > static_cast<int>(c.models().size()));
  CHECK(images >= 30);
  CHECK(videos >= 30);
  // Every provider profile has models behind it (and an adapter: the
  // profiles are exactly the eight adapters' ids).
  std::set<std::string> profiles;
  for (const auto& p : c.providers()) profiles.insert(p.id);
  CHECK(profiles == std::set<std::string>{"alibabacloud", "bfl", "byteplus", "cloudflare", "fal", "openai", "replicate",
                                          "runway"});
  CHECK(providers == profiles);
  const Model* schnell = c.find("bfl/flux-schnell");
  REQUIRE(schnell);
  CHECK(schnell->pricing.flat == 3000);
  CHECK(c.find("nope/nope") == nullptr);
}

TEST_CASE("catalog: the test catalog loads") {
  CHECK(load(testing::kTestModels, testing::kTestBridges).ok());
}

TEST_CASE("catalog: every validation problem is reported at once") {
  std::string models = testing::kTestModels;
  models = replace(models, R"("providers":["provider_a","provider_b"]})", R"("providers":["provider_a","provider_b","provider_x"]})");
  models = replace(models, R"("pricing":{"unit":"generation","credits":"0.005"})", R"("pricing":{"unit":"generation","credits":"0"})");
  models = replace(models, R"("generation_guidance":{"type":"number","min":1.5,"max":5,"default":3})",
                   R"("generation_guidance":{"type":"number","min":1.5,"max":5,"default":6})");
  auto st = load(models, testing::kTestBridges);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Code::invalid_request);
  CHECK(has_issue(st, "providers", "unknown provider provider_x"));
  CHECK(has_issue(st, "pricing.credits", "greater than zero"));
  CHECK(has_issue(st, "generation_guidance.default", "at most", "invalid_default"));
  CHECK(st.issues().size() >= 4);  // + no bridge for provider_x
}

TEST_CASE("catalog: validation rules (table)") {
  const std::string m = testing::kTestModels;
  const std::string b = testing::kTestBridges;
  struct Row {
    const char* name;
    std::string models, bridges;
    const char* field;
    const char* message;
    const char* code;
  };
  const std::vector<Row> rows = {
      {"default ratio outside values", replace(m, R"("ratios":["1:1","16:9"],)", R"("ratios":["1:1","16:9"],"default_ratio":"4:3",)"), b,
       "default_ratio", "not one of", "invalid_default"},
      {"enum default outside values",
       replace(m, R"("generation_moderation":{"type":"boolean","default":true})",
               R"("generation_moderation":{"type":"enum","values":["a"],"default":"b"})"),
       replace(b, R"("safety_enabled":{"from":"generation_moderation"})", R"("safety_enabled":{"const":1})"),
       "generation_moderation.default", "not one of", "invalid_default"},
      {"negative price", replace(m, R"("credits":"0.005")", R"("credits":"-1")"), b, "credits", "greater than zero",
       "definition_error"},
      {"float price", replace(m, R"("credits":"0.005")", R"("credits":0.005)"), b, "credits", "never a float",
       "definition_error"},
      {"missing tier", replace(m, R"("1080p_noaudio":"0.3")", R"("1080p_nope":"0.3")"), b, "tiers", "missing price",
       "definition_error"},
      {"capability wider than provider", m,
       replace(b, R"("limits":{"ratios":["1:1","16:9"],"output_formats")", R"("limits":{"ratios":["1:1"],"output_formats")"),
       "limits.ratios", "wider than what the provider supports", "definition_error"},
      {"max outputs wider than provider", m, replace(b, R"("max_outputs":2,"max_input_files":2)", R"("max_outputs":1,"max_input_files":2)"),
       "limits.max_outputs", "wider", "definition_error"},
      {"bridge cannot express a field", m, replace(b, R"("style":{"from":"generation_style"},)", ""),
       "payload", "cannot express declared field generation_style", "definition_error"},
      {"bridge names an undeclared field", m, replace(b, R"("sync_mode":{"const":false})", R"("sync_mode":{"from":"generation_nope"})"),
       "sync_mode.from", "does not declare", "definition_error"},
      {"total enum map missing a value", m,
       replace(b, R"("map":{"jpg":"jpeg"},"map_partial":true)", R"("map":{"jpg":"jpeg"})"), "output_format.map",
       "cannot express value png", "definition_error"},
      {"map key outside the domain", m, replace(b, R"("map":{"jpg":"jpeg"})", R"("map":{"gif":"jpeg"})"),
       "map.gif", "cannot take", "definition_error"},
      {"unknown provider in bridge", m, replace(b, R"("provider":"provider_c","native_model":"c/video")", R"("provider":"provider_q","native_model":"c/video")"),
       "provider", "unknown provider provider_q", "definition_error"},
      {"server-controlled extra field",
       replace(m, R"("generation_seed":{"type":"integer","min":0,"max":10})", R"("generation_webhook_secret":{"type":"string","max_length":5})"),
       b, "generation_webhook_secret",
       "server-controlled", "definition_error"},
      {"bad field name", replace(m, R"("generation_seed":{)", R"("generation_Seed":{)"), b, "generation_Seed", "must match",
       "definition_error"},
      {"min above max", replace(m, R"("min":0,"max":10)", R"("min":10,"max":1)"), b, "generation_seed", "min must not exceed max",
       "definition_error"},
      {"bad regex", replace(m, R"("pattern":"^[a-z]+$")", R"("pattern":"([a-z")"), b, "pattern", "does not compile",
       "definition_error"},
      {"unknown field type", replace(m, R"({"type":"url"})", R"({"type":"object"})"), b, "type", "unsupported type object",
       "definition_error"},
      {"unknown key in spec", replace(m, R"({"type":"url"})", R"({"type":"url","nullable":true})"), b, "nullable",
       "unsupported property", "definition_error"},
      {"duplicate provider order entry", replace(m, R"("default_provider_order":["provider_c"])", R"("default_provider_order":["provider_c","provider_c"])"),
       b, "default_provider_order", "duplicate", "definition_error"},
      {"bad advertised order", replace(m, R"("providers":["provider_a","provider_b"]})", R"("providers":["provider_a","provider_b"],"provider_orders":["fastest","provider_a, zz"]})"),
       b, "provider_orders", "unsupported provider zz", "definition_error"},
      {"missing bridge", m, replace(b, R"("provider":"provider_b","native_model":"b/video")", R"("provider":"provider_a","native_model":"b/video")"),
       "bridges", "duplicate bridge", "definition_error"},
      {"video without durations", replace(m, R"("durations":[5,10],)", ""), b, "durations", "video models need durations",
       "definition_error"},
      {"a format the API does not offer", replace(m, R"("output_formats":["png","jpg"])", R"("output_formats":["png","svg"])"),
       replace(b, R"("output_formats":["png","jpg"],"max_outputs":4)", R"("output_formats":["png","svg"],"max_outputs":4)"),
       "output_formats", "not one the API offers", "definition_error"},
      {"bridge without a source", m, replace(b, R"("source":"https://docs.example.com/b/video",)", ""),
       "source", "required", "definition_error"},
      {"bridge source not an https page", m,
       replace(b, R"("source":"https://docs.example.com/b/video")", R"("source":"from memory")"), "source",
       "https URL", "definition_error"},
      {"duplicate JSON key in data", replace(m, R"("model_type":"image",)", R"("model_type":"image","model_type":"image",)"), b,
       "models.json", "duplicate key", "definition_error"},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    auto st = load(row.models, row.bridges);
    REQUIRE_FALSE(st.ok());
    for (const auto& i : st.issues()) UNSCOPED_INFO(i.field << ": " << i.code << ": " << i.message);
    CHECK(has_issue(st, row.field, row.message, row.code));
  }
}

TEST_CASE("catalog: store publishes snapshots without dropping holders") {
  auto first = Catalog::load_json(testing::kTestProviders, testing::kTestModels, testing::kTestBridges);
  REQUIRE(first.ok());
  CatalogStore store(first.value());
  auto held = store.snapshot();
  auto req = normalize(held, "example/image", R"({"generation_prompt":"x"})");
  REQUIRE(req.ok());
  CHECK(store.reload_directory(babysea::testing::source_dir() / "data").ok());
  CHECK(store.snapshot() != held);
  CHECK(store.snapshot()->find("bfl/flux-schnell") != nullptr);
  CHECK(store.snapshot()->find("example/image") == nullptr);
  // The in-flight request still sees its own model.
  CHECK(req->model().identifier == "example/image");
  CHECK(req->catalog() == held);
  // A failed reload keeps the current snapshot.
  auto current = store.snapshot();
  CHECK_FALSE(store.reload_directory("/nonexistent-dir").ok());
  CHECK(store.snapshot() == current);
}

TEST_CASE("estimate: flat image pricing, affordability") {
  auto cat = Catalog::load_json(testing::kTestProviders, testing::kTestModels, testing::kTestBridges);
  REQUIRE(cat.ok());
  const Model& m = *(*cat)->find("example/image");
  EstimateParams p;
  p.count = 2;
  p.balance = 10'000'000;  // 10 credits
  auto e = estimate(m, p);
  REQUIRE(e.ok());
  CHECK(e->cost_per_generation == 5000);
  CHECK(e->cost_total == 10000);
  CHECK(e->can_afford == true);
  CHECK(e->max_affordable == 2000);
  CHECK_FALSE(e->cost_per_second.has_value());
  p.balance = 9999;
  e = estimate(m, p);
  REQUIRE(e.ok());
  CHECK(e->can_afford == false);
  CHECK(e->max_affordable == 1);
  p.balance = -5;
  CHECK(estimate(m, p)->max_affordable == 0);
  p.count = 3;
  auto bad = estimate(m, p);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().issues()[0].code == "max_value");
}

TEST_CASE("estimate: per-second tiers with resolution and audio") {
  auto cat = Catalog::load_json(testing::kTestProviders, testing::kTestModels, testing::kTestBridges);
  REQUIRE(cat.ok());
  const Model& m = *(*cat)->find("example/video");
  EstimateParams p;
  p.duration_seconds = 10;
  auto e = estimate(m, p);
  REQUIRE(e.ok());
  CHECK(e->tier == "720p_noaudio");
  CHECK(e->cost_per_second == 100000);
  CHECK(e->cost_per_generation == 1000000);
  CHECK(e->cost_total == 1000000);
  p.resolution = "1080p";
  p.audio = true;
  e = estimate(m, p);
  REQUIRE(e.ok());
  CHECK(e->tier == "1080p_audio");
  CHECK(e->cost_total == 4000000);
  CHECK(e->resolution == "1080p");
  CHECK(e->audio == true);
  p.duration_seconds = 7;
  CHECK(estimate(m, p).status().issues()[0].field == "generation_duration");
  p.duration_seconds.reset();
  CHECK(estimate(m, p).status().issues()[0].code == "missing_required");
  p.duration_seconds = 5;
  p.resolution = "4k";
  CHECK(estimate(m, p).status().issues()[0].code == "unsupported_value");

  auto req = normalize(*cat, "example/video",
                       R"({"generation_prompt":"w","generation_duration":5,"generation_input_file":["https://a.b/c"],)"
                       R"("generation_resolution":"1080p","generation_generate_audio":true})");
  REQUIRE(req.ok());
  auto er = estimate(*req, 1'000'000);
  REQUIRE(er.ok());
  CHECK(er->cost_total == 2000000);
  CHECK(er->can_afford == false);
  CHECK(er->max_affordable == 0);
}
