// The service layer's pure parts: text helpers, the ObjectReader, the error
// classes, the renderers' envelopes and the operation table.
#include <catch2/catch.hpp>

#include <set>

#include "babysea/service.hpp"
#include "json/strict.hpp"
#include "service/object_reader.hpp"
#include "service/render.hpp"
#include "service/text.hpp"

using namespace babysea;

TEST_CASE("text: RFC 3339 with milliseconds, UTC", "[service]") {
  CHECK(text::rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(text::rfc3339_ms(1'796'425'309'123) == "2026-12-04T23:01:49.123Z");
  CHECK(text::rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
}

TEST_CASE("text: case-insensitive compare, integers, media types, UTF-8", "[service]") {
  CHECK(text::iequals("Content-Type", "content-type"));
  CHECK_FALSE(text::iequals("Content-Type", "content-typ"));
  CHECK(text::istarts_with("HTTPS://x", "https://"));
  CHECK_FALSE(text::istarts_with("http", "https://"));
  CHECK(text::parse_int("42") == 42);
  CHECK(text::parse_int("-7") == -7);
  for (std::string_view bad : {"", "-", "+1", "1.0", " 1", "0x1", "1234567890123456789"})
    CHECK_FALSE(text::parse_int(bad).has_value());
  CHECK(text::json_media_type("application/json"));
  CHECK(text::json_media_type("Application/JSON; charset=\"UTF-8\""));
  CHECK_FALSE(text::json_media_type("application/json; charset=latin1"));
  CHECK_FALSE(text::json_media_type("application/json; charset=utf-8; charset=utf-8"));
  CHECK_FALSE(text::json_media_type("text/plain"));
  CHECK(text::valid_utf8("ok é") == "ok é");
  CHECK(text::valid_utf8("a\xff" "b") == "a\xEF\xBF\xBD" "b");
  CHECK(text::base64("hi") == "aGk=");
}

TEST_CASE("ObjectReader: typed members, dotted paths, the first issue", "[service]") {
  auto doc = json::parse_strict(R"({"a":{"n":5,"s":"x","list":["p",""]},"extra":1})");
  REQUIRE(doc.ok());
  {
    service::ReadErrors errors("config");
    service::ObjectReader root(&*doc, "", errors);
    auto a = root.object("a");
    int n = 0;
    std::string s;
    a.integer("n", n, 0, 10);
    a.str("s", s, true);
    a.finish();
    CHECK(n == 5);
    CHECK(s == "x");
    REQUIRE_FALSE(errors.ok());
    const Status st = errors.status();
    CHECK(st.code() == Code::invalid_request);
    REQUIRE(st.issues().size() == 1);
    CHECK(st.issues()[0].field == "a.list");
    CHECK(st.issues()[0].code == "unknown_key");
  }
  {
    service::ReadErrors errors("request_json");
    service::ObjectReader root(&*doc, "", errors);
    auto a = root.object("a");
    std::vector<std::string> list;
    a.strings("list", list);
    CHECK(errors.status().issues().at(0).field == "a.list[1]");
    CHECK(errors.status().issues().at(0).code == "empty");
    CHECK(std::string(errors.status().message()).rfind("request_json: a.list[1]", 0) == 0);
  }
  {
    service::ReadErrors errors("x");
    service::ObjectReader root(&*doc, "", errors);
    int n = 0;
    root.object("a").integer("n", n, 6, 9);
    CHECK(errors.status().issues().at(0).code == "range");
    CHECK(n == 0);  // nothing written on a refusal
  }
  CHECK(service::parse_object("", "args", true)->is_object());
  CHECK(service::parse_object("", "args", false).code() == Code::invalid_request);
  CHECK(service::parse_object("[1]", "args", true).code() == Code::invalid_request);
}

TEST_CASE("wire errors: every Code has a deliberate class; BSE codes are stable", "[service]") {
  CHECK(std::string(wire_error(Code::insufficient_credits).bse) == "BSE1004");
  CHECK(wire_error(Code::insufficient_credits).http == 402);
  CHECK(std::string(wire_error(Code::idempotency_conflict).bse) == "BSE2015");
  CHECK(std::string(wire_error(Code::idempotency_in_progress).bse) == "BSE2016");
  CHECK(wire_error(Code::providers_failed).http == 502);
  CHECK(wire_error(Code::internal).http == 500);
}

TEST_CASE("render: error envelope hides internal messages, carries issues and provider errors", "[service]") {
  const std::string internal =
      render::error_document("req_1", 1'000, Status(Code::storage_error, "disk /var/x failed"), "BSE5000");
  CHECK(internal.find("disk") == std::string::npos);
  CHECK(internal.find(R"("message":"internal error")") != std::string::npos);
  CHECK(internal.find(R"("retryable":true)") != std::string::npos);

  const std::string bad = render::error_document(
      "req_2", 1'000, Status(Code::invalid_request, "bad", {FieldIssue{"generation_ratio", "unsupported_value", "no"}}),
      "BSE2001");
  auto v = json::parse_strict(bad);
  REQUIRE(v.ok());
  CHECK(v->find("status")->string == "error");
  CHECK(v->find("request_id")->string == "req_2");
  CHECK(v->find("timestamp")->string == "1970-01-01T00:00:01.000Z");
  const json::Value* err = v->find("error");
  CHECK(err->find("code")->string == "BSE2001");
  CHECK(err->find("type")->string == "invalid_request");
  CHECK(err->find("details")->find("issues")->array.at(0).find("field")->string == "generation_ratio");

  const std::string failed = render::error_document(
      "", 0, Status(Code::providers_failed, "all failed", {FieldIssue{"bfl", "provider_error", "boom"}}), "BSE4001");
  auto f = json::parse_strict(failed);
  REQUIRE(f.ok());
  CHECK(f->find("request_id") == nullptr);
  CHECK(f->find("error")->find("details") == nullptr);
  CHECK(f->find("error")->find("provider_errors")->array.at(0).find("provider")->string == "bfl");

  // Invalid UTF-8 in a message never makes the document invalid JSON.
  CHECK(json::parse_strict(render::error_document("", 0, Status(Code::not_found, "x\xff"), "BSE3001")).ok());
}

TEST_CASE("render: success envelope, paging beside data", "[service]") {
  auto v = json::parse_strict(render::success_document("req_3", 2'000, "Generations listed", R"({"generations":[]})",
                                                       render::Paging{7, 5, 0}));
  REQUIRE(v.ok());
  CHECK(v->find("status")->string == "success");
  CHECK(v->find("data")->find("generations")->is_array());
  CHECK(v->find("total")->integer == 7);
  CHECK(v->find("limit")->integer == 5);
}

TEST_CASE("render: the create response is never null-typed", "[service]") {
  GenerationView g;
  g.id = "gen_1";
  g.model = "bfl/flux-schnell";
  g.provider_order = {"bfl", "replicate"};
  auto v = json::parse_strict(render::create_response(g));
  REQUIRE(v.ok());
  CHECK(v->find("generation_prediction_id")->is_string());
  CHECK(v->find("generation_provider_order")->array.size() == 2);
  g.status = GenerationStatus::canceled;
  auto c = json::parse_strict(render::create_response(g));
  CHECK(c->find("generation_status")->string == "canceled");
}

TEST_CASE("operations: one row per Operation, unique names, findable", "[service]") {
  std::set<std::string_view> names;
  for (const auto& o : operations()) {
    CHECK(names.insert(o.name).second);
    CHECK(operation_named(o.name) == o.op);
    CHECK(&operation_info(o.op) == &o);
    CHECK(o.route.substr(0, 4) == "/v1/");
  }
  CHECK_FALSE(operation_named("no.such").has_value());
}
