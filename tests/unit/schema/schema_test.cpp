// Normalizer rules, table-driven (specs/normalizer.md, issue 3).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "babysea/schema.hpp"
#include "json/strict.hpp"
#include "schema/test_catalog.hpp"

using namespace babysea;

namespace {

std::shared_ptr<const Catalog> test_catalog() {
  static auto cat = [] {
    auto r = Catalog::load_json(testing::kTestProviders, testing::kTestModels, testing::kTestBridges);
    if (!r.ok()) {
      for (const auto& i : r.status().issues()) UNSCOPED_INFO(i.field << " " << i.code << " " << i.message);
      FAIL("test catalog failed to load: " << r.status().to_string());
    }
    return std::move(r).value();
  }();
  return cat;
}

std::vector<std::pair<std::string, std::string>> issues_of(const Status& st) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& i : st.issues()) out.emplace_back(i.field, i.code);
  return out;
}

using Issues = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("normalize: minimal image request gets defaults in declaration order") {
  auto r = normalize(test_catalog(), "example/image", R"({"generation_prompt":"a glass penguin"})");
  REQUIRE(r.ok());
  CHECK(r->canonical_json() ==
        R"({"generation_prompt":"a glass penguin","generation_ratio":"1:1","generation_output_format":"png",)"
        R"("generation_output_number":1,"generation_input_file":[],"generation_provider_order":"fastest",)"
        R"("generation_guidance":3,"generation_steps":5,"generation_moderation":true})");
  CHECK(r->provider_order() == std::vector<std::string>{"provider_a", "provider_b"});
  CHECK(r->provider_order_fastest());
  CHECK(r->prompt() == "a glass penguin");
  CHECK(r->output_number() == 1);
  CHECK(std::holds_alternative<std::monostate>(*r->value("generation_seed")));
  REQUIRE(r->native_payloads().size() == 2);
  CHECK(r->native_payloads()[0].json ==
        R"({"prompt":"a glass penguin","aspect_ratio":"1:1","format":"png","n":1,"guidance":3,"steps":5,"safety_enabled":true})");
  CHECK(r->native_payloads()[1].json ==
        R"({"input":{"text":"a glass penguin","aspect":"1:1","output_format":"png","num_outputs":1,"cfg":30,)"
        R"("steps":"5 steps","disable_safety_checker":false,"moderation":"enabled","sync_mode":false}})");
}

TEST_CASE("normalize: bridge transforms (rename, enum map, negate, scale, as, format, const, nesting)") {
  auto r = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"a blue whale","generation_ratio":"16:9","generation_output_format":"jpg",
                         "generation_input_file":["https://example.com/in.png"],"generation_seed":7,
                         "generation_guidance":2.5,"generation_steps":10,"generation_style":"ink",
                         "generation_mask":"https://example.com/m.png","generation_moderation":false,
                         "generation_output_number":2})");
  REQUIRE(r.ok());
  CHECK(r->native_payload("provider_a")->json ==
        R"({"prompt":"a blue whale","aspect_ratio":"16:9","format":"jpg","n":2,"image":"https://example.com/in.png",)"
        R"("seed":7,"guidance":2.5,"steps":10,"style":"ink","mask":"https://example.com/m.png","safety_enabled":false})");
  CHECK(r->native_payload("provider_b")->json ==
        R"({"input":{"text":"a blue whale","aspect":"16:9","output_format":"jpeg","num_outputs":2,)"
        R"("image_urls":["https://example.com/in.png"],"seed":"7","cfg":25,"steps":"10 steps","style":"ink",)"
        R"("mask_url":"https://example.com/m.png","disable_safety_checker":true,"moderation":"disabled","sync_mode":false}})");
}

TEST_CASE("normalize: video structured payload, last frame, unit scale, audio") {
  auto r = normalize(test_catalog(), "example/video",
                     R"({"generation_prompt":"waves","generation_duration":10,"generation_input_file":["https://e.com/a.png"],
                         "generation_input_file_last_content":"https://e.com/b.png","generation_generate_audio":true})");
  REQUIRE(r.ok());
  CHECK(r->provider_order() == std::vector<std::string>{"provider_c", "provider_a", "provider_b"});
  CHECK(r->duration_seconds() == 10);
  CHECK(r->resolution() == "720p");
  CHECK(r->generate_audio());
  CHECK(r->native_payloads()[0].json ==
        R"({"content":[{"type":"text","text":"waves"},{"type":"image_url","role":"first_frame","url":"https://e.com/a.png"},)"
        R"({"type":"image_url","role":"last_frame","url":"https://e.com/b.png"}],"duration_ms":10000,"resolution":"720p","audio":true})");
  CHECK(r->native_payload("provider_a")->json ==
        R"({"prompt":"waves","image":"https://e.com/a.png","last_image":"https://e.com/b.png","duration":"10s","resolution":"720p","generate_audio":true})");
  // Without the last frame the array item disappears.
  auto r2 = normalize(test_catalog(), "example/video",
                      R"({"generation_prompt":"waves","generation_duration":5,"generation_input_file":["https://e.com/a.png"]})");
  REQUIRE(r2.ok());
  CHECK(r2->native_payloads()[0].json ==
        R"({"content":[{"type":"text","text":"waves"},{"type":"image_url","role":"first_frame","url":"https://e.com/a.png"}],)"
        R"("duration_ms":5000,"resolution":"720p","audio":false})");
}

struct Case {
  const char* name;
  const char* model;
  std::string body;
  Issues expected;
};

TEST_CASE("normalize: every rule and issue code (table)") {
  const std::vector<Case> cases = {
      {"missing prompt", "example/image", R"({})", {{"generation_prompt", "missing_required"}}},
      {"empty prompt", "example/image", R"({"generation_prompt":""})", {{"generation_prompt", "min_length"}}},
      {"prompt too long (code points)", "example/image", R"({"generation_prompt":"aaaaaaaaaaaaaaaaaaaaa"})",
       {{"generation_prompt", "max_length"}}},
      {"prompt wrong type", "example/image", R"({"generation_prompt":3})", {{"generation_prompt", "invalid_type"}}},
      {"null is not omitted", "example/image", R"({"generation_prompt":"x","generation_ratio":null})",
       {{"generation_ratio", "invalid_type"}}},
      {"enum exact", "example/image", R"({"generation_prompt":"x","generation_output_format":"PNG"})",
       {{"generation_output_format", "unsupported_value"}}},
      {"no aliasing jpeg", "example/image", R"({"generation_prompt":"x","generation_output_format":"jpeg"})",
       {{"generation_output_format", "unsupported_value"}}},
      {"integer 3.5", "example/image", R"({"generation_prompt":"x","generation_seed":3.5})",
       {{"generation_seed", "invalid_type"}}},
      {"integer as string", "example/image", R"({"generation_prompt":"x","generation_seed":"3"})",
       {{"generation_seed", "invalid_type"}}},
      {"integer above max", "example/image", R"({"generation_prompt":"x","generation_seed":11})",
       {{"generation_seed", "max_value"}}},
      {"integer below min", "example/image", R"({"generation_prompt":"x","generation_seed":-1})",
       {{"generation_seed", "min_value"}}},
      {"integer huge", "example/image", R"({"generation_prompt":"x","generation_seed":99999999999999999999})",
       {{"generation_seed", "max_value"}}},
      {"integer with exponent", "example/image", R"({"generation_prompt":"x","generation_seed":1e300})",
       {{"generation_seed", "invalid_type"}}},
      {"integer written 3.0", "example/image", R"({"generation_prompt":"x","generation_seed":3.0})",
       {{"generation_seed", "invalid_type"}}},
      {"number below min", "example/image", R"({"generation_prompt":"x","generation_guidance":1.49})",
       {{"generation_guidance", "min_value"}}},
      {"number not finite", "example/image", R"({"generation_prompt":"x","generation_guidance":1e400})",
       {{"generation_guidance", "invalid_type"}}},
      {"number-enum not member", "example/image", R"({"generation_prompt":"x","generation_steps":7})",
       {{"generation_steps", "unsupported_value"}}},
      {"number-enum string", "example/image", R"({"generation_prompt":"x","generation_steps":"5"})",
       {{"generation_steps", "invalid_type"}}},
      {"boolean as string", "example/image", R"({"generation_prompt":"x","generation_moderation":"true"})",
       {{"generation_moderation", "invalid_type"}}},
      {"boolean as 1", "example/image", R"({"generation_prompt":"x","generation_moderation":1})",
       {{"generation_moderation", "invalid_type"}}},
      {"pattern mismatch", "example/image", R"({"generation_prompt":"x","generation_style":"ABC"})",
       {{"generation_style", "pattern_mismatch"}}},
      {"string too long and mismatch", "example/image", R"({"generation_prompt":"x","generation_style":"abcdefghi"})",
       {{"generation_style", "max_length"}}},
      {"url number", "example/image", R"({"generation_prompt":"x","generation_mask":5})",
       {{"generation_mask", "invalid_type"}}},
      {"url ftp", "example/image", R"({"generation_prompt":"x","generation_mask":"ftp://x"})",
       {{"generation_mask", "invalid_url"}}},
      {"url no host", "example/image", R"({"generation_prompt":"x","generation_mask":"https://"})",
       {{"generation_mask", "invalid_url"}}},
      {"url userinfo", "example/image", R"({"generation_prompt":"x","generation_mask":"http://user:pw@h/"})",
       {{"generation_mask", "invalid_url"}}},
      {"url space", "example/image", R"({"generation_prompt":"x","generation_mask":"https://exa mple.com"})",
       {{"generation_mask", "invalid_url"}}},
      {"url leading space", "example/image", R"({"generation_prompt":"x","generation_mask":" https://example.com"})",
       {{"generation_mask", "invalid_url"}}},
      {"url CRLF", "example/image", R"({"generation_prompt":"x","generation_mask":"https://a.com/\r\nX: y"})",
       {{"generation_mask", "invalid_url"}}},
      {"url javascript", "example/image", R"J({"generation_prompt":"x","generation_mask":"javascript:alert(1)"})J",
       {{"generation_mask", "invalid_url"}}},
      {"url-array not array", "example/image", R"({"generation_prompt":"x","generation_input_file":"https://a.com/x.png"})",
       {{"generation_input_file", "invalid_type"}}},
      {"url-array too many + bad url", "example/image",
       R"({"generation_prompt":"x","generation_input_file":["https://a.com/1.png","not-a-url"]})",
       {{"generation_input_file", "max_items"}, {"generation_input_file", "invalid_url"}}},
      {"url-array non-string item", "example/image", R"({"generation_prompt":"x","generation_input_file":[1,2]})",
       {{"generation_input_file", "invalid_type"}}},
      {"video min_items", "example/video", R"({"generation_prompt":"x","generation_duration":5,"generation_input_file":[]})",
       {{"generation_input_file", "min_items"}}},
      {"video missing duration and file", "example/video", R"({"generation_prompt":"x"})",
       {{"generation_input_file", "missing_required"}, {"generation_duration", "missing_required"}}},
      {"video duration not offered", "example/video",
       R"({"generation_prompt":"x","generation_duration":7,"generation_input_file":["https://a.com/x.png"]})",
       {{"generation_duration", "unsupported_value"}}},
      {"video resolution not offered", "example/video",
       R"({"generation_prompt":"x","generation_duration":5,"generation_input_file":["https://a.com/x.png"],"generation_resolution":"4k"})",
       {{"generation_resolution", "unsupported_value"}}},
      {"video audio wrong type", "example/video",
       R"({"generation_prompt":"x","generation_duration":5,"generation_input_file":["https://a.com/x.png"],"generation_generate_audio":"yes"})",
       {{"generation_generate_audio", "invalid_type"}}},
      {"video last frame bad url", "example/video",
       R"({"generation_prompt":"x","generation_duration":5,"generation_input_file":["https://a.com/x.png"],"generation_input_file_last_content":"file:///etc/passwd"})",
       {{"generation_input_file_last_content", "invalid_url"}}},
      {"output number above max", "example/image", R"({"generation_prompt":"x","generation_output_number":3})",
       {{"generation_output_number", "max_value"}}},
      {"output number zero", "example/image", R"({"generation_prompt":"x","generation_output_number":0})",
       {{"generation_output_number", "min_value"}}},
      {"unknown field", "example/image", R"({"generation_prompt":"x","provider_b_safety_override":false})",
       {{"provider_b_safety_override", "unknown_field"}}},
      {"server-controlled fields", "example/image",
       R"({"generation_prompt":"x","webhook_secret":"s","generation_region":"eu","api_key":"k","generation_price":1})",
       {{"webhook_secret", "unknown_field"}, {"generation_region", "unknown_field"}, {"api_key", "unknown_field"},
        {"generation_price", "unknown_field"}}},
      {"duplicate declared key", "example/image", R"({"generation_prompt":"x","generation_prompt":"y"})",
       {{"generation_prompt", "duplicate_field"}}},
      {"duplicate unknown key", "example/image", R"({"generation_prompt":"x","zz":1,"zz":2})",
       {{"zz", "unknown_field"}, {"zz", "duplicate_field"}}},
      {"provider order unknown", "example/image", R"({"generation_prompt":"x","generation_provider_order":"provider_a, nope"})",
       {{"generation_provider_order", "unsupported_value"}}},
      {"provider order duplicate", "example/image",
       R"({"generation_prompt":"x","generation_provider_order":"provider_a,provider_a"})",
       {{"generation_provider_order", "unsupported_value"}}},
      {"provider order empty", "example/image", R"({"generation_prompt":"x","generation_provider_order":""})",
       {{"generation_provider_order", "min_length"}}},
      {"provider order empty entry", "example/image", R"({"generation_prompt":"x","generation_provider_order":"provider_a,"})",
       {{"generation_provider_order", "unsupported_value"}}},
      {"provider order FASTEST", "example/image", R"({"generation_prompt":"x","generation_provider_order":"FASTEST"})",
       {{"generation_provider_order", "unsupported_value"}}},
      {"provider order array", "example/image", R"({"generation_prompt":"x","generation_provider_order":["provider_a"]})",
       {{"generation_provider_order", "invalid_type"}}},
      {"provider order too long", "example/image",
       std::string(R"({"generation_prompt":"x","generation_provider_order":")") + std::string(300, 'a') + "\"}",
       {{"generation_provider_order", "max_length"}}},
      {"all issues at once, declaration order then unknown in input order", "example/image",
       R"({"zzz":1,"generation_output_format":"webp","generation_prompt":"","generation_input_file":["https://a","ftp://x","y"],"aaa":2})",
       {{"generation_prompt", "min_length"}, {"generation_output_format", "unsupported_value"},
        {"generation_input_file", "max_items"}, {"generation_input_file", "invalid_url"}, {"zzz", "unknown_field"},
        {"aaa", "unknown_field"}}},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = normalize(test_catalog(), c.model, c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::invalid_request);
    CHECK(issues_of(r.status()) == c.expected);
    for (const auto& i : r.status().issues()) CHECK_FALSE(i.message.empty());
  }
}

TEST_CASE("normalize: accepted edge values") {
  const std::vector<std::pair<const char*, const char*>> ok = {
      {"bounds inclusive", R"({"generation_prompt":"x","generation_seed":10,"generation_guidance":1.5})"},
      {"integer for number", R"({"generation_prompt":"x","generation_guidance":5})"},
      {"number-enum 10.0", R"({"generation_prompt":"x","generation_steps":10.0})"},
      {"pattern lower", R"({"generation_prompt":"x","generation_style":"abc"})"},
      {"URL upper-case scheme", R"({"generation_prompt":"x","generation_mask":"HTTPS://EXAMPLE.COM"})"},
      {"URL ipv6 and port", R"({"generation_prompt":"x","generation_mask":"http://[::1]:8080/a?b#c"})"},
      {"20 code points of emoji", R"({"generation_prompt":"😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀"})"},
      {"escaped newline in prompt", R"({"generation_prompt":"a\nb"})"},
      {"explicit order with spaces", R"({"generation_prompt":"x","generation_provider_order":" provider_b , provider_a"})"},
  };
  for (const auto& [name, body] : ok) {
    INFO(name);
    auto r = normalize(test_catalog(), "example/image", body);
    if (!r.ok())
      for (const auto& i : r.status().issues()) UNSCOPED_INFO(i.field << " " << i.code << " " << i.message);
    CHECK(r.ok());
  }
  auto r = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x","generation_seed":3})");
  REQUIRE(r.ok());
  CHECK(std::get<std::int64_t>(*r->value("generation_seed")) == 3);
}

TEST_CASE("normalize: strict JSON refusals are invalid_json") {
  const std::vector<std::pair<const char*, std::string>> bad = {
      {"array body", R"(["generation_prompt"])"},
      {"string body", R"("x")"},
      {"number body", "42"},
      {"empty body", ""},
      {"trailing bytes", R"({"generation_prompt":"x"}})"},
      {"trailing garbage", R"({"generation_prompt":"x"} x)"},
      {"truncated", R"({"generation_prompt":"x")"},
      {"invalid utf-8", std::string("{\"generation_prompt\":\"\xff\xfe\"}")},
      {"raw control char", std::string("{\"generation_prompt\":\"a\x01\"}")},
      {"escaped NUL", R"({"generation_prompt":"a\u0000b"})"},
      {"NUL in unknown field", R"({"generation_prompt":"a","x":{"y":"\u0000"}})"},
      {"lone surrogate", R"({"generation_prompt":"\ud800"})"},
      {"too deep", R"({"generation_prompt":"a","x":[[[[[[[[[[1]]]]]]]]]]})"},
      {"nested duplicate key", R"({"generation_prompt":"a","x":{"k":1,"k":2}})"},
      {"single quotes", "{'generation_prompt':'x'}"},
      {"NaN", R"({"generation_prompt":"x","generation_guidance":NaN})"},
  };
  for (const auto& [name, body] : bad) {
    INFO(name);
    auto r = normalize(test_catalog(), "example/image", body);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::invalid_request);
    REQUIRE(r.status().issues().size() == 1);
    CHECK(r.status().issues()[0].code == "invalid_json");
  }
}

TEST_CASE("normalize: limits") {
  NormalizeOptions opt;
  opt.max_body_bytes = 100;
  auto big = normalize(test_catalog(), "example/image",
                       R"({"generation_prompt":")" + std::string(200, 'a') + "\"}", opt);
  CHECK(big.status().code() == Code::payload_too_large);

  NormalizeOptions small;
  small.max_string_bytes = 16;
  small.max_array_items = 2;
  auto s = normalize(test_catalog(), "example/image", R"({"generation_prompt":")" + std::string(17, 'a') + "\"}", small);
  CHECK(issues_of(s.status()) == Issues{{"generation_prompt", "max_length"}});
  auto a = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_input_file":["https://a.b/1","https://a.b/2","https://a.b/3"]})",
                     small);
  CHECK(issues_of(a.status()) == Issues{{"generation_input_file", "max_items"}});
  auto unknown_arr = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x","q":[1,2,3]})", small);
  CHECK(issues_of(unknown_arr.status()) == Issues{{"q", "invalid_json"}});
}

TEST_CASE("normalize: non-strict drops unknown fields but never server-controlled ones") {
  NormalizeOptions opt;
  opt.strict = false;
  auto r = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x","extra":1})", opt);
  REQUIRE(r.ok());
  CHECK(r->canonical_json().find("extra") == std::string::npos);
  auto s = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x","webhook_url":"https://a.b"})", opt);
  CHECK(issues_of(s.status()) == Issues{{"webhook_url", "unknown_field"}});
}

TEST_CASE("normalize: model lookup and route type") {
  CHECK(normalize(test_catalog(), "nope/model", "{}").status().code() == Code::model_not_found);
  NormalizeOptions opt;
  opt.expected_type = ModelType::video;
  auto r = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x"})", opt);
  CHECK(r.status().code() == Code::invalid_request);
  CHECK(issues_of(r.status()) == Issues{{"model", "unsupported_value"}});
}

TEST_CASE("normalize: fingerprint is stable across key order and defaults, differs on content") {
  auto a = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_seed":3,"generation_ratio":"16:9"})");
  auto b = normalize(test_catalog(), "example/image",
                     R"({ "generation_ratio" : "16:9", "generation_seed": 3, "generation_prompt":"x",
                          "generation_output_format":"png", "generation_provider_order":"fastest"})");
  auto c = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_seed":4,"generation_ratio":"16:9"})");
  auto d = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_seed":3,"generation_ratio":"16:9","generation_provider_order":"provider_b"})");
  REQUIRE((a.ok() && b.ok() && c.ok() && d.ok()));
  CHECK(a->fingerprint() == b->fingerprint());
  CHECK(a->canonical_json() == b->canonical_json());
  CHECK(a->fingerprint() != c->fingerprint());
  CHECK(a->fingerprint() != d->fingerprint());
  CHECK(a->fingerprint_hex().size() == 64);
  CHECK(d->provider_order() == std::vector<std::string>{"provider_b"});
  CHECK_FALSE(d->provider_order_fastest());
  REQUIRE(d->native_payloads().size() == 1);
  CHECK(d->native_payloads()[0].provider == "provider_b");
}

TEST_CASE("normalize: payload modes and render_native_payload") {
  NormalizeOptions opt;
  opt.payloads = PayloadMode::first_provider;
  auto r = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x"})", opt);
  REQUIRE(r.ok());
  CHECK(r->native_payloads().size() == 1);
  opt.payloads = PayloadMode::none;
  auto n = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x"})", opt);
  REQUIRE(n.ok());
  CHECK(n->native_payloads().empty());
  auto p = render_native_payload(*n, "provider_b");
  REQUIRE(p.ok());
  CHECK(p->native_model == "b/image");
  CHECK(p->json == normalize(test_catalog(), "example/image", R"({"generation_prompt":"x"})")->native_payload("provider_b")->json);
  auto bad = render_native_payload(*n, "provider_z");
  CHECK(issues_of(bad.status()) == Issues{{"provider", "unsupported_value"}});
}

namespace {
struct DenyLocalhost final : UrlPolicy {
  Status check(std::string_view field, std::string_view url) const override {
    if (url.find("localhost") != std::string_view::npos) return Status(Code::url_forbidden, "points at a local address.");
    return Status();
  }
};
}  // namespace

TEST_CASE("normalize: pluggable URL policy") {
  DenyLocalhost policy;
  NormalizeOptions opt;
  opt.url_policy = &policy;
  auto ok = normalize(test_catalog(), "example/image",
                      R"({"generation_prompt":"x","generation_input_file":["https://example.com/a.png"]})", opt);
  CHECK(ok.ok());
  auto r = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_input_file":["http://localhost/a.png"]})", opt);
  CHECK(r.status().code() == Code::url_forbidden);
  CHECK(issues_of(r.status()) == Issues{{"generation_input_file", "url_forbidden"}});
  auto mixed = normalize(test_catalog(), "example/image",
                         R"({"generation_mask":"http://localhost/m","generation_seed":99,"generation_prompt":"x"})", opt);
  CHECK(mixed.status().code() == Code::invalid_request);
  CHECK(issues_of(mixed.status()) == Issues{{"generation_seed", "max_value"}, {"generation_mask", "url_forbidden"}});
}

namespace {
// A policy that rewrites every URL it accepts (as the SSRF guard normalizes).
struct Rewriting final : UrlPolicy {
  Status check(std::string_view, std::string_view) const override { return Status(); }
  Result<std::string> normalize(std::string_view, std::string_view url) const override {
    return "https://normalized.example/" + std::to_string(url.size());
  }
};
}  // namespace

TEST_CASE("normalize: the URL policy's normalized form is what is stored and forwarded") {
  Rewriting policy;
  NormalizeOptions opt;
  opt.url_policy = &policy;
  auto n = normalize(test_catalog(), "example/image",
                     R"({"generation_prompt":"x","generation_input_file":["HTTPS://Example.com/a.png"]})", opt);
  REQUIRE(n.ok());
  REQUIRE(n->input_files().size() == 1);
  CHECK(n->input_files()[0] == "https://normalized.example/25");
  CHECK(n->canonical_json().find("HTTPS://Example.com") == std::string::npos);
  for (const auto& p : n->native_payloads()) CHECK(p.json.find("HTTPS://Example.com") == std::string::npos);
}

TEST_CASE("normalize: integer fields take JSON integers only (no fraction, no exponent)") {
  for (const char* bad : {"4.0", "4e0", "4E0", "40e-1", "4.5", "-1.0", "0.0e0"}) {
    INFO(bad);
    auto r = normalize(test_catalog(), "example/image",
                       std::string(R"({"generation_prompt":"x","generation_seed":)") + bad + "}");
    CHECK(r.status().code() == Code::invalid_request);
    CHECK(issues_of(r.status()) == Issues{{"generation_seed", "invalid_type"}});
  }
  auto ok = normalize(test_catalog(), "example/image", R"({"generation_prompt":"x","generation_seed":4})");
  CHECK(ok.ok());
}
