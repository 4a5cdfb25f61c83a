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
