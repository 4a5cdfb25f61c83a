// Golden tests: for each catalog model × provider, one canonical request and
// its exact expected native payload (tests/unit/schema/golden/payloads.json).
// BABYSEA_UPDATE_GOLDEN=1 rewrites the expected payloads (review the diff!).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "babysea/schema.hpp"
#include "json/strict.hpp"
#include "support/testing.hpp"

using namespace babysea;

namespace {
std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}
}  // namespace

TEST_CASE("golden: every model x provider maps to its exact native payload") {
  const auto root = babysea::testing::source_dir();
  auto cat = Catalog::load_directory(root / "data");
  if (!cat.ok())
    for (const auto& i : cat.status().issues()) UNSCOPED_INFO(i.field << ": " << i.code << ": " << i.message);
  REQUIRE(cat.ok());
  const auto golden_path = root / "tests/unit/schema/golden/payloads.json";
  auto doc = json::parse_strict(slurp(golden_path));
  REQUIRE(doc.ok());
  const json::Value* cases = doc->find("cases");
  REQUIRE(cases);
  REQUIRE(cases->is_array());
  const bool update = std::getenv("BABYSEA_UPDATE_GOLDEN") != nullptr;
  std::set<std::pair<std::string, std::string>> covered;
  json::JsonWriter out;
  out.begin_object().key("cases").begin_array();
  for (const auto& c : cases->array) {
    const std::string model = c.find("model")->string;
    const json::Value* request = c.find("request");
    REQUIRE(request);
    const std::string body = json::to_json(*request);
    INFO(model << " " << body);
    auto r = normalize(*cat, model, body);
    if (!r.ok())
      for (const auto& i : r.status().issues()) UNSCOPED_INFO(i.field << " " << i.code << " " << i.message);
    REQUIRE(r.ok());
    out.begin_object().field("model", model).key("request").raw(body).key("payloads").begin_object();
    const json::Value* expected = c.find("payloads");
    for (const auto& b : r->model().bindings) {
      INFO("provider " << b.provider);
      covered.insert({model, b.provider});
      const NativePayload* p = r->native_payload(b.provider);
      REQUIRE(p);
      out.key(b.provider).raw(p->json);
      if (update) continue;
      REQUIRE(expected);
      const json::Value* want = expected->find(b.provider);
      REQUIRE(want);
      CHECK(p->json == json::to_json(*want));
    }
    out.end_object().end_object();
  }
  out.end_array().end_object();
  for (const auto& m : (*cat)->models())
    for (const auto& b : m.bindings) {
      INFO("no golden case for " << m.identifier << " on " << b.provider);
      CHECK(covered.count({m.identifier, b.provider}) == 1);
    }
  if (update) {
    std::ofstream f(golden_path, std::ios::binary | std::ios::trunc);
    f << out.str() << "\n";
    WARN("golden payloads rewritten: " << golden_path);
  }
}
