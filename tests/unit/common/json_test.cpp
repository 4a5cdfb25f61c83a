#include <catch2/catch.hpp>

#include "json/json.hpp"

using babysea::json::JsonWriter;

TEST_CASE("json: writer escapes and places commas") {
  JsonWriter w;
  w.begin_object()
      .field("a", "x\"y\\z\n\x01")
      .field("n", std::int64_t{-5})
      .field("b", true)
      .key("arr")
      .begin_array()
      .value(1)
      .value("two")
      .null()
      .begin_object()
      .end_object()
      .end_array()
      .key("raw")
      .raw("{\"k\":1}")
      .end_object();
  CHECK(w.str() ==
        R"({"a":"x\"y\\z\n\u0001","n":-5,"b":true,"arr":[1,"two",null,{}],"raw":{"k":1}})");
}

TEST_CASE("json: writer output parses back with simdjson") {
  JsonWriter w;
  w.begin_object().field("s", "héllo \t").field("v", std::int64_t{42}).end_object();
  auto padded = babysea::json::pad(w.str());
  auto& parser = babysea::json::thread_parser();
  simdjson::ondemand::document doc;
  REQUIRE(parser.iterate(padded).get(doc) == simdjson::SUCCESS);
  std::string_view s;
  REQUIRE(doc["s"].get_string().get(s) == simdjson::SUCCESS);
  CHECK(s == "héllo \t");
  int64_t v;
  REQUIRE(doc["v"].get_int64().get(v) == simdjson::SUCCESS);
  CHECK(v == 42);
}

TEST_CASE("json: escaping finds special bytes at every offset of long strings") {
  for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 33u}) {
    for (std::size_t pos = 0; pos < len; ++pos) {
      for (char special : {'"', '\\', '\n', '\x1f', '\x01'}) {
        std::string s(len, 'a');
        s[pos] = special;
        std::string out;
        babysea::json::append_quoted(out, s);
        auto padded = babysea::json::pad(out);
        simdjson::ondemand::document doc;
        REQUIRE(babysea::json::thread_parser().iterate(padded).get(doc) == simdjson::SUCCESS);
        std::string_view back;
        REQUIRE(doc.get_string().get(back) == simdjson::SUCCESS);
        REQUIRE(back == s);
      }
    }
  }
  std::string utf8 = "h\xc3\xa9llo w\xc3\xb6rld, \xe2\x82\xac 100 and more than eight bytes";
  std::string out;
  babysea::json::append_quoted(out, utf8);
  CHECK(out == "\"" + utf8 + "\"");
}
