// The contract checker itself: it must FAIL on a missing required member, a
// wrong type, an unexpected null and a value outside its enum (else the
// contract test could pass by checking nothing), and the contract file must
// load and be well-formed.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "contract_checker.hpp"
#include "contract_support.hpp"

using babysea::contract::Contract;
using babysea::contract::Violation;
namespace bj = boost::json;

namespace {

// A tiny contract of its own, so the checker's semantics are pinned apart
// from the real contract's content.
const char* kMini = R"({
  "definitions": {
    "status": {"type": "string", "enum": ["pending", "succeeded"]},
    "thing": {"type": "object",
              "required": {"id": {"type": "string", "pattern": "^g_[0-9]+$"},
                           "count": {"type": "integer", "minimum": 0},
                           "status": {"$ref": "status"},
                           "used": {"type": "string", "nullable": true},
                           "files": {"type": "array", "items": {"type": "string"}, "min_items": 1}},
              "optional": {"score": {"type": "number", "maximum": 1}},
              "absent": ["secret"],
              "switch": {"field": "status", "cases": {"succeeded": {"type": "object",
                         "required": {"used": {"type": "string"}}}}}}
  },
  "envelopes": {"plain": {"type": "object", "required": {"data": {"type": "object"}}}},
  "operations": {"get": {"method": "GET", "path": "/x", "scope": "s", "http": [200], "envelope": "plain",
                         "data": {"$ref": "thing"}}},
  "error_cases": {}
})";

const char* kGood = R"({"id": "g_1", "count": 3, "status": "pending", "used": null, "files": ["a"], "score": 0.5})";

std::vector<Violation> check_thing(const Contract& c, const std::string& doc) {
  return c.check_definition(bj::parse(doc), "thing");
}

bool has(const std::vector<Violation>& v, const std::string& path, const std::string& fragment) {
  for (const auto& x : v)
    if (x.path == path && x.message.find(fragment) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("checker: a conforming document has no violations", "[contract][checker]") {
  const Contract c = Contract::parse(kMini);
  auto v = check_thing(c, kGood);
  INFO(babysea::contract::to_string(v));
  CHECK(v.empty());
  CHECK(c.check_success("get", bj::parse(std::string(R"({"data": )") + kGood + "}"), 200).empty());
}

TEST_CASE("checker: it fails on a missing required member", "[contract][checker]") {
  const Contract c = Contract::parse(kMini);
  auto v = check_thing(c, R"({"count": 3, "status": "pending", "used": null, "files": ["a"]})");
  REQUIRE(v.size() == 1);
  CHECK(v[0].path == "$.id");
  CHECK(v[0].message.find("missing required") != std::string::npos);
  // Through an envelope: the path leads into data.
  auto e = c.check_success("get", bj::parse(R"({"data": {"id": "g_1", "count": 3, "status": "pending",
                                                         "files": ["a"]}})"));
  CHECK(has(e, "$.data.used", "missing required"));
  CHECK(has(c.check_success("get", bj::parse(R"({"daata": {}})")), "$.data", "missing required"));
}

TEST_CASE("checker: it fails on a wrong type", "[contract][checker]") {
  const Contract c = Contract::parse(kMini);
  CHECK(has(check_thing(c, R"({"id": 7, "count": 3, "status": "pending", "used": null, "files": ["a"]})"), "$.id",
            "wrong type"));
  // 3.0 is not an integer literal; "3" is not a number.
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3.0, "status": "pending", "used": null, "files": ["a"]})"),
            "$.count", "wrong type"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": "3", "status": "pending", "used": null, "files": ["a"]})"),
            "$.count", "wrong type"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": "pending", "used": null, "files": [1]})"),
            "$.files[0]", "wrong type"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": "pending", "used": null, "files": "a"})"),
            "$.files", "wrong type"));
}

TEST_CASE("checker: it fails on an unexpected null", "[contract][checker]") {
  const Contract c = Contract::parse(kMini);
  CHECK(has(check_thing(c, R"({"id": null, "count": 3, "status": "pending", "used": null, "files": ["a"]})"), "$.id",
            "null"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": null, "used": null, "files": ["a"]})"),
            "$.status", "null"));  // through a $ref
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": "pending", "used": null, "files": null})"),
            "$.files", "null"));
  // The switch: succeeded makes `used` non-nullable.
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": "succeeded", "used": null, "files": ["a"]})"),
            "$.used", "null"));
  CHECK(check_thing(c, R"({"id": "g_1", "count": 3, "status": "succeeded", "used": "x", "files": ["a"]})").empty());
}

TEST_CASE("checker: it fails on a value outside its enum, const, pattern or bounds", "[contract][checker]") {
  const Contract c = Contract::parse(kMini);
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 3, "status": "done", "used": null, "files": ["a"]})"),
            "$.status", "outside the enum"));
  CHECK(has(check_thing(c, R"({"id": "x_1", "count": 3, "status": "pending", "used": null, "files": ["a"]})"), "$.id",
            "does not match"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": -1, "status": "pending", "used": null, "files": ["a"]})"),
            "$.count", "below the minimum"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 1, "status": "pending", "used": null, "files": []})"),
            "$.files", "fewer than"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 1, "status": "pending", "used": null, "files": ["a"],
                               "score": 2})"),
            "$.score", "above the maximum"));
  CHECK(has(check_thing(c, R"({"id": "g_1", "count": 1, "status": "pending", "used": null, "files": ["a"],
                               "secret": 1})"),
            "$.secret", "must be absent"));
  CHECK(has(c.check(bj::parse("false"), bj::parse(R"({"const": true})")), "$", "expected true"));
  // one_of: none matches -> a violation; one matches -> none.
  const auto one_of = bj::parse(R"({"one_of": [{"type": "number"}, {"type": "object", "values": {"type": "number"}}]})");
  CHECK(c.check(bj::parse("1.5"), one_of).empty());
  CHECK(c.check(bj::parse(R"({"720p": 0.1})"), one_of).empty());
  CHECK_FALSE(c.check(bj::parse(R"({"720p": "0.1"})"), one_of).empty());
  CHECK_FALSE(c.check(bj::parse(R"("0.1")"), one_of).empty());
  // A closed object refuses extra members.
  CHECK(has(c.check(bj::parse(R"({"a": 1, "b": 2})"),
                    bj::parse(R"({"type": "object", "required": {"a": {"type": "integer"}}, "additional": false})")),
            "$.b", "unexpected member"));
}

TEST_CASE("checker: a malformed contract is refused, not silently lenient", "[contract][checker]") {
  auto with_def = [](const std::string& def) {
    return std::string(R"({"definitions": {"d": )") + def +
           R"(}, "envelopes": {}, "operations": {}, "error_cases": {}})";
  };
  CHECK_NOTHROW(Contract::parse(with_def(R"({"type": "string"})")));
  CHECK_THROWS_AS(Contract::parse(with_def(R"({"type": "strng"})")), std::invalid_argument);
  CHECK_THROWS_AS(Contract::parse(with_def(R"({"type": "string", "requird": {}})")), std::invalid_argument);
  CHECK_THROWS_AS(Contract::parse(with_def(R"({"$ref": "nowhere"})")), std::invalid_argument);
  CHECK_THROWS_AS(Contract::parse(with_def(R"({"type": "string", "pattern": "(["})")), std::invalid_argument);
  CHECK_THROWS_AS(Contract::parse("{}"), std::invalid_argument);
  CHECK_THROWS_AS(Contract::parse("not json"), std::invalid_argument);
}

TEST_CASE("checker: the real contract rejects broken versions of a valid record and envelope", "[contract][checker]") {
  const Contract& c = babysea::contract::api_contract();
  bj::object g = bj::parse(R"({
    "account_id": "acct_a", "generation_id": "0190a0a0-0000-7000-8000-000000000000",
    "model_identifier": "bfl/flux-schnell", "generation_provider_order": ["replicate", "fal"],
    "generation_provider_used": "replicate", "generation_prediction_id": "p1", "generation_status": "succeeded",
    "generation_prompt": "x", "generation_output_file": ["https://app.us.babysea.ai/f/0.png"],
    "generation_created_at": "2026-01-01T00:00:00.000Z", "generation_started_at": "2026-01-01T00:00:01.000Z",
    "generation_completed_at": "2026-01-01T00:00:02.000Z", "generation_metrics_total_time": 2.0,
    "generation_metrics_predict_time": 1.0})").as_object();
  {
    auto v = c.check_definition(g, "generation");
    INFO(babysea::contract::to_string(v));
    CHECK(v.empty());
  }
  auto broken = [&](auto&& edit) {
    bj::object copy = g;
    edit(copy);
    return c.check_definition(copy, "generation");
  };
  CHECK(has(broken([](bj::object& o) { o.erase("generation_created_at"); }), "$.generation_created_at", "missing"));
  CHECK(has(broken([](bj::object& o) { o["generation_output_file"] = "x"; }), "$.generation_output_file", "wrong type"));
  CHECK(has(broken([](bj::object& o) { o["generation_provider_used"] = nullptr; }), "$.generation_provider_used",
            "null"));
  CHECK(has(broken([](bj::object& o) { o["generation_status"] = "cancelled"; }), "$.generation_status", "enum"));
  CHECK(has(broken([](bj::object& o) { o["generation_created_at"] = "2026-01-01 00:00:00"; }),
            "$.generation_created_at", "does not match"));
  CHECK(has(broken([](bj::object& o) { o["generation_status"] = "failed"; }), "$.generation_error_code", "missing"));
  CHECK(has(broken([](bj::object& o) { o["generation_status"] = "processing"; }), "$.generation_provider_used",
            "wrong type"));

  bj::object env = bj::parse(R"({"status": "success", "request_id": "req_1", "message": "ok",
                                 "timestamp": "2026-01-01T00:00:00.000Z"})").as_object();
  env["data"] = g;
  CHECK(c.check_success("content.get", env, 200).empty());
  bj::object no_rid = env;
  no_rid.erase("request_id");
  CHECK(has(c.check_success("content.get", no_rid, 200), "$.request_id", "missing"));
  CHECK(has(c.check_success("content.get", env, 201), "(http status)", "not one of"));
  bj::object paged = env;
  paged["total"] = 1;
  CHECK(has(c.check_success("content.get", paged), "$.total", "absent"));

  const bj::value err = bj::parse(R"({"status": "error", "request_id": "req_1", "message": "m",
      "timestamp": "2026-01-01T00:00:00.000Z",
      "error": {"code": "BSE3001", "type": "not_found", "message": "m", "retryable": false}})");
  CHECK(c.check_error("not_found", err, 404, 2).empty());
  CHECK(has(c.check_error("not_found", err, 400), "(http status)", "expected HTTP 404"));
  CHECK(has(c.check_error("not_found", err, std::nullopt, 7), "(return value)", "expected C ABI code 2"));
  CHECK(has(c.check_error("invalid_state", err), "$.error.code", "BSE3002"));
  CHECK(has(c.check_error("invalid_request", err), "$.error.details", "missing"));
  bj::value bad_code = err;
  bad_code.at("error").as_object()["code"] = "E3001";
  CHECK(has(c.check_error("not_found", bad_code), "$.error.code", "does not match"));
}
