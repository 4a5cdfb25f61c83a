// contract_checker.hpp — validates JSON documents against the response shapes
// of specs/api.md written once as data (tests/contract/api_contract.json; its
// "_doc" member describes the shape keywords).
//
// check() returns every violation with the JSON path where it is ("$.data.
// models[3].schema.generation_output_number"): a required member missing, a
// wrong type, null where not nullable, a value outside its enum or const, a
// string off its pattern, a member that must be absent, ... An empty list
// means the document conforms.
//
// A Contract validates its own shapes when loaded: an unknown keyword, a bad
// type name, a dangling $ref or a bad regex throws std::invalid_argument, so a
// typo in the contract cannot silently check nothing.
#pragma once

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace babysea::contract {

struct Violation {
  std::string path;     // "$.data.generation_id"
  std::string message;  // "missing required member"
};

// "  $.data.x: message" lines, for failure output.
std::string to_string(const std::vector<Violation>& violations);

class Contract {
 public:
  // Parses and validates a contract document (throws std::invalid_argument).
  static Contract parse(const std::string& json_text);
  static Contract load(const std::string& path);

  // Checks `doc` against `shape` (a shape object; "$ref"s resolve against
  // this contract's definitions). `path` is the path of `doc` itself.
  std::vector<Violation> check(const boost::json::value& doc, const boost::json::value& shape,
                               const std::string& path = "$") const;
  // Against a named definition.
  std::vector<Violation> check_definition(const boost::json::value& doc, const std::string& definition,
                                          const std::string& path = "$") const;

  // A success answer of `operation`: its envelope and its data shape; plus, for
  // an HTTP answer (`http_status` set), that the status is one the operation
  // documents and the 202 constraints ("accepted") when it is 202.
  std::vector<Violation> check_success(const std::string& operation, const boost::json::value& doc,
                                       std::optional<int> http_status = std::nullopt) const;

  // An error answer of documented case `error_case` (a key of "error_cases"):
  // the error envelope, error.code/type/retryable and the case's extra shape;
  // `http_status` (HTTP door) or `abi_code` (C ABI return value) against the
  // case's; `headers` (lower-case names) must hold the case's headers.
  // `operation` picks an operation's own error envelope (openai.images).
  std::vector<Violation> check_error(const std::string& error_case, const boost::json::value& doc,
                                     std::optional<int> http_status = std::nullopt,
                                     std::optional<int> abi_code = std::nullopt,
                                     const std::map<std::string, std::string>* headers = nullptr,
                                     const std::string& operation = {}) const;

  const boost::json::object& operations() const { return root_.at("operations").as_object(); }
  const boost::json::object& operation(const std::string& name) const;
  const boost::json::object& error_case(const std::string& name) const;
  const boost::json::object& root() const { return root_; }

 private:
  void validate_shape(const boost::json::value& shape, const std::string& where) const;
  void check_into(const boost::json::value& doc, const boost::json::value& shape, const std::string& path,
                  std::vector<Violation>& out, int depth) const;
  const std::regex& regex(const std::string& pattern) const;

  boost::json::object root_;
  mutable std::map<std::string, std::regex> regex_cache_;
};

}  // namespace babysea::contract
