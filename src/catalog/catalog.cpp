#include "babysea/catalog.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "catalog/bridge.hpp"
#include "json/strict.hpp"

namespace babysea {

using json::Value;
using detail::BridgeNode;

std::string_view model_type_name(ModelType type) noexcept {
  return type == ModelType::video ? "video" : "image";
}

std::string_view field_type_name(FieldType type) noexcept {
  switch (type) {
    case FieldType::string: return "string";
    case FieldType::url: return "url";
    case FieldType::enumeration: return "enum";
    case FieldType::number_enum: return "number-enum";
    case FieldType::number: return "number";
    case FieldType::integer: return "integer";
    case FieldType::boolean: return "boolean";
    case FieldType::url_array: return "url-array";
  }
  return "unknown";
}

int Model::field_index(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == name) return static_cast<int>(i);
  return -1;
}

const FieldSpec* Model::field(std::string_view name) const noexcept {
  int i = field_index(name);
  return i < 0 ? nullptr : &fields[static_cast<std::size_t>(i)];
}

const ProviderBinding* Model::binding(std::string_view provider) const noexcept {
  for (const auto& b : bindings)
    if (b.provider == provider) return &b;
  return nullptr;
}

std::string Model::tier_key(std::string_view resolution, bool audio) const {
  if (pricing.tiers.empty()) return {};
  std::string key(resolution);
  if (capabilities.audio) {
    if (!key.empty()) key += '_';
    key += audio ? "audio" : "noaudio";
  }
  return key;
}

const Model* Catalog::find(std::string_view model_identifier) const noexcept {
  auto it = index_.find(model_identifier);
  return it == index_.end() ? nullptr : &models_[it->second];
}

// ---------------------------------------------------------------------------

struct CatalogLoader {
  std::vector<FieldIssue> issues;
  std::set<std::string, std::less<>> known_providers;

  void error(std::string path, std::string message, const char* code = "definition_error") {
    issues.push_back(FieldIssue{std::move(path), code, std::move(message)});
  }

  // --- small typed readers -------------------------------------------------
  void check_keys(const Value& obj, const std::string& path, std::initializer_list<std::string_view> allowed) {
    for (const auto& [k, v] : obj.object) {
      bool ok = false;
      for (auto a : allowed) ok = ok || a == k;
      if (!ok) error(path + "." + k, "unsupported property " + k);
    }
  }
  const Value* member(const Value& obj, std::string_view key, const std::string& path, bool required) {
    const Value* v = obj.find(key);
    if (!v && required) error(path + "." + std::string(key), "is required");
    return v;
  }
  std::string read_string(const Value& obj, std::string_view key, const std::string& path, bool required,
                          bool non_empty = true) {
    const Value* v = member(obj, key, path, required);
    if (!v) return {};
    if (!v->is_string() || (non_empty && v->string.empty())) {
      error(path + "." + std::string(key), "must be a non-empty string");
      return {};
    }
    return v->string;
  }
  bool read_bool(const Value& obj, std::string_view key, const std::string& path, bool dflt) {
    const Value* v = obj.find(key);
    if (!v) return dflt;
    if (!v->is_bool()) {
      error(path + "." + std::string(key), "must be a boolean");
      return dflt;
    }
    return v->boolean;
  }
  std::int64_t read_int(const Value& obj, std::string_view key, const std::string& path, std::int64_t dflt,
                        std::int64_t lo, std::int64_t hi) {
    const Value* v = obj.find(key);
    if (!v) return dflt;
    if (!v->is_integer() || v->integer < lo || v->integer > hi) {
      error(path + "." + std::string(key),
            "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      return dflt;
    }
    return v->integer;
  }
  std::vector<std::string> read_strings(const Value& obj, std::string_view key, const std::string& path,
                                        bool required, bool non_empty) {
    std::vector<std::string> out;
    const Value* v = member(obj, key, path, required);
    if (!v) return out;
    std::string p = path + "." + std::string(key);
    if (!v->is_array()) {
      error(p, "must be an array of strings");
      return out;
    }
    for (const auto& item : v->array) {
      if (!item.is_string() || item.string.empty()) {
        error(p, "must contain only non-empty strings");
        return {};
      }
      if (std::find(out.begin(), out.end(), item.string) != out.end()) {
        error(p, "duplicate value " + item.string);
        continue;
      }
      out.push_back(item.string);
    }
    if (non_empty && out.empty()) error(p, "must not be empty");
    return out;
  }
  std::vector<std::int64_t> read_ints(const Value& obj, std::string_view key, const std::string& path) {
    std::vector<std::int64_t> out;
    const Value* v = obj.find(key);
    if (!v) return out;
    std::string p = path + "." + std::string(key);
    if (!v->is_array()) {
      error(p, "must be an array of positive integers");
      return out;
    }
    for (const auto& item : v->array) {
      if (!item.is_integer() || item.integer <= 0 || item.integer > 86400) {
        error(p, "must contain only positive integers (seconds, at most 86400)");
        return {};
      }
      if (std::find(out.begin(), out.end(), item.integer) != out.end()) {
        error(p, "duplicate value " + std::to_string(item.integer));
        continue;
      }
      out.push_back(item.integer);
    }
    return out;
  }

  // --- providers -----------------------------------------------------------
  std::vector<ProviderInfo> load_providers(const Value& doc) {
    std::vector<ProviderInfo> out;
    const std::string path = "providers.json";
    if (!doc.is_object()) {
      error(path, "must be an object");
      return out;
    }
    check_keys(doc, path, {"schema_version", "providers"});
    if (read_string(doc, "schema_version", path, true) != "babysea.providers.v1")
      error(path + ".schema_version", "must be babysea.providers.v1");
    const Value* list = member(doc, "providers", path, true);
    if (!list) return out;
    if (!list->is_array()) {
      error(path + ".providers", "must be an array");
      return out;
    }
    for (std::size_t i = 0; i < list->array.size(); ++i) {
      const Value& p = list->array[i];
      std::string pp = path + ".providers[" + std::to_string(i) + "]";
      if (!p.is_object()) {
        error(pp, "must be an object");
        continue;
      }
      check_keys(p, pp, {"id", "display_name", "description", "website", "docs", "delivery_method", "cancel_method",
                         "webhook_verification"});
      ProviderInfo info;
      info.id = read_string(p, "id", pp, true);
      info.display_name = read_string(p, "display_name", pp, true);
      info.description = read_string(p, "description", pp, true);
      info.website = read_string(p, "website", pp, true);
      info.docs = read_string(p, "docs", pp, true);
      info.delivery_method = read_string(p, "delivery_method", pp, true);
      info.cancel_method = read_string(p, "cancel_method", pp, false);
      info.webhook_verification = read_string(p, "webhook_verification", pp, false);
      for (const char* url : {"website", "docs"}) {
        const std::string& u = std::string_view(url) == "website" ? info.website : info.docs;
        if (!u.empty() && u.rfind("https://", 0) != 0) error(pp + "." + url, "must be an https URL");
      }
      auto one_of = [&](const std::string& v, std::string_view key, std::initializer_list<std::string_view> allowed) {
        if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
          error(pp + "." + std::string(key), "unsupported value " + v);
      };
      one_of(info.delivery_method, "delivery_method", {"webhook_with_polling", "synchronous", "polling"});
      one_of(info.cancel_method, "cancel_method", {"", "prediction_cancel_api", "queue_cancel_api"});
      one_of(info.webhook_verification, "webhook_verification", {"", "hmac_sha256", "ed25519"});
      if (info.id.empty()) continue;
      if (!known_providers.insert(info.id).second) {
        error(pp + ".id", "duplicate provider " + info.id);
        continue;
      }
      out.push_back(std::move(info));
    }
    return out;
  }

  // --- field specs -----------------------------------------------------------
  static bool valid_field_name(std::string_view name) {
    static const std::regex re("^generation_[a-z0-9]+(_[a-z0-9]+)*$");
    return std::regex_match(name.begin(), name.end(), re);
  }

  // Converts a JSON value to the field's value kind; false when the kind is wrong.
  static bool to_field_value(const FieldSpec& spec, const Value& v, FieldValue& out) {
    switch (spec.type) {
      case FieldType::boolean:
        if (!v.is_bool()) return false;
        out = v.boolean;
        return true;
      case FieldType::integer:
        if (v.is_integer()) out = v.integer;
        else if (v.kind == Value::Kind::number && v.number == std::trunc(v.number) && std::fabs(v.number) < 9.2e18)
          out = static_cast<std::int64_t>(v.number);
        else return false;
        return true;
      case FieldType::number:
      case FieldType::number_enum:
        if (!v.is_numeric()) return false;
        out = v.number;
        return true;
      case FieldType::string:
      case FieldType::url:
      case FieldType::enumeration:
        if (!v.is_string()) return false;
        out = v.string;
        return true;
      case FieldType::url_array: {
        if (!v.is_array()) return false;
        std::vector<std::string> list;
        for (const auto& item : v.array) {
          if (!item.is_string()) return false;
          list.push_back(item.string);
        }
        out = std::move(list);
        return true;
      }
    }
    return false;
  }

  void check_default(FieldSpec& spec, const std::string& path) {
    if (std::holds_alternative<std::monostate>(spec.default_value)) return;
    std::vector<FieldIssue> found;
    detail::check_value(spec, spec.default_value, found);
    for (auto& f : found) error(path + ".default", f.message, "invalid_default");
  }

  std::optional<FieldSpec> parse_extra_field(const std::string& name, const Value& v, const std::string& path) {
    if (!v.is_object()) {
      error(path, "must be an object");
      return std::nullopt;
    }
    check_keys(v, path,
               {"type", "required", "default", "values", "min", "max", "min_length", "max_length", "pattern",
                "min_items", "max_items", "description", "label"});
    FieldSpec spec;
    spec.name = name;
    spec.core = false;
    std::string type = read_string(v, "type", path, true);
    if (type == "string") spec.type = FieldType::string;
    else if (type == "url") spec.type = FieldType::url;
    else if (type == "enum") spec.type = FieldType::enumeration;
    else if (type == "number-enum") spec.type = FieldType::number_enum;
    else if (type == "number") spec.type = FieldType::number;
    else if (type == "integer") spec.type = FieldType::integer;
    else if (type == "boolean") spec.type = FieldType::boolean;
    else if (type == "url-array") spec.type = FieldType::url_array;
    else {
      if (!type.empty()) error(path + ".type", "unsupported type " + type);
      return std::nullopt;
    }
    std::size_t before = issues.size();
    spec.required = read_bool(v, "required", path, false);
    if (const Value* d = v.find("description"); d && !d->is_string()) error(path + ".description", "must be a string");
    else if (d) spec.description = d->string;
    if (const Value* l = v.find("label"); l && !l->is_string()) error(path + ".label", "must be a string");
    auto only = [&](std::initializer_list<std::string_view> keys, bool allowed) {
      for (auto k : keys)
        if (v.find(k) && !allowed) error(path + "." + std::string(k), "not allowed for type " + type);
    };
    only({"values"}, spec.type == FieldType::enumeration || spec.type == FieldType::number_enum);
    only({"min", "max"}, spec.type == FieldType::integer || spec.type == FieldType::number);
    only({"min_length", "max_length", "pattern"}, spec.type == FieldType::string);
    only({"min_items", "max_items"}, spec.type == FieldType::url_array);
    if (spec.type == FieldType::enumeration) spec.values = read_strings(v, "values", path, true, true);
    if (spec.type == FieldType::number_enum) {
      const Value* vals = member(v, "values", path, true);
      if (vals && (!vals->is_array() || vals->array.empty())) error(path + ".values", "must be a non-empty array");
      if (vals && vals->is_array())
        for (const auto& n : vals->array) {
          if (!n.is_numeric()) {
            error(path + ".values", "must contain only numbers");
            break;
          }
          if (std::find(spec.number_values.begin(), spec.number_values.end(), n.number) != spec.number_values.end())
            error(path + ".values", "duplicate value");
          else spec.number_values.push_back(n.number);
        }
    }
    if (spec.type == FieldType::integer || spec.type == FieldType::number) {
      for (auto key : {"min", "max"}) {
        const Value* b = v.find(key);
        if (!b) continue;
        bool ok = spec.type == FieldType::integer ? b->is_integer() && std::fabs(b->number) < 9.0e15 : b->is_numeric();
        if (!ok) {
          error(path + "." + key, spec.type == FieldType::integer ? "must be an integer" : "must be a number");
          continue;
        }
        (std::string_view(key) == "min" ? spec.min : spec.max) = b->number;
      }
      if (spec.min && spec.max && *spec.min > *spec.max) error(path, "min must not exceed max");
    }
    if (spec.type == FieldType::string) {
      if (v.find("min_length")) spec.min_length = static_cast<std::size_t>(read_int(v, "min_length", path, 0, 0, 1 << 20));
      if (v.find("max_length")) spec.max_length = static_cast<std::size_t>(read_int(v, "max_length", path, 0, 0, 1 << 20));
      if (spec.min_length && spec.max_length && *spec.min_length > *spec.max_length)
        error(path, "min_length must not exceed max_length");
      if (!spec.max_length) error(path + ".max_length", "is required for string fields (bounded input)");
      if (const Value* p = v.find("pattern")) {
        if (!p->is_string() || p->string.empty()) error(path + ".pattern", "must be a non-empty string");
        else {
          spec.pattern = p->string;
          try {
            auto compiled = std::make_shared<detail::CompiledPattern>();
            compiled->regex = std::regex(spec.pattern, std::regex::ECMAScript);
            spec.compiled_pattern = std::move(compiled);
          } catch (const std::regex_error&) {
            error(path + ".pattern", "does not compile");
          }
        }
      }
    }
    if (spec.type == FieldType::url_array) {
      if (v.find("min_items")) spec.min_items = static_cast<std::size_t>(read_int(v, "min_items", path, 0, 0, 64));
      spec.max_items = static_cast<std::size_t>(read_int(v, "max_items", path, 1, 0, 64));
      if (spec.min_items && *spec.min_items > *spec.max_items) error(path, "min_items must not exceed max_items");
    }
    if (issues.size() != before) return std::nullopt;
    if (const Value* d = v.find("default")) {
      if (!to_field_value(spec, *d, spec.default_value)) error(path + ".default", "has the wrong type", "invalid_default");
      else check_default(spec, path);
    }
    return spec;
  }

  // --- models --------------------------------------------------------------
  static std::string join_order(const std::vector<std::string>& ids) {
    std::string s;
    for (const auto& id : ids) s += (s.empty() ? "" : ", ") + id;
    return s;
  }

  void build_core_fields(Model& m) {
    const Capabilities& c = m.capabilities;
    FieldSpec prompt;
    prompt.name = "generation_prompt";
    prompt.type = FieldType::string;
    prompt.required = c.prompt_required;
    prompt.min_length = c.prompt_required ? 1 : 0;
    prompt.max_length = c.prompt_max_length;
    prompt.description = "Text prompt.";
    m.fields.push_back(std::move(prompt));

    FieldSpec ratio;
    ratio.name = "generation_ratio";
    ratio.type = FieldType::enumeration;
    ratio.values = c.ratios;
    ratio.default_value = c.default_ratio;
    m.fields.push_back(std::move(ratio));

    FieldSpec format;
    format.name = "generation_output_format";
    format.type = FieldType::enumeration;
    format.values = c.output_formats;
    format.default_value = c.default_output_format;
    m.fields.push_back(std::move(format));

    FieldSpec number;
    number.name = "generation_output_number";
    number.type = FieldType::integer;
    number.min = 1;
    number.max = static_cast<double>(c.max_outputs);
    number.default_value = std::int64_t{1};
    m.fields.push_back(std::move(number));

    if (c.max_input_files > 0) {
      FieldSpec files;
      files.name = "generation_input_file";
      files.type = FieldType::url_array;
      files.max_items = static_cast<std::size_t>(c.max_input_files);
      if (c.min_input_files > 0) {
        files.min_items = static_cast<std::size_t>(c.min_input_files);
        files.required = true;
      } else {
        files.default_value = std::vector<std::string>{};
      }
      m.fields.push_back(std::move(files));
    }
    if (c.last_frame) {
      FieldSpec last;
      last.name = "generation_input_file_last_content";
      last.type = FieldType::url;
      m.fields.push_back(std::move(last));
    }
    if (!c.durations.empty()) {
      FieldSpec d;
      d.name = "generation_duration";
      d.type = FieldType::number_enum;
      d.required = true;
      for (auto s : c.durations) d.number_values.push_back(static_cast<double>(s));
      m.fields.push_back(std::move(d));
    }
    if (!c.resolutions.empty()) {
      FieldSpec r;
      r.name = "generation_resolution";
      r.type = FieldType::enumeration;
      r.values = c.resolutions;
      r.default_value = c.default_resolution;
      m.fields.push_back(std::move(r));
    }
    if (c.audio) {
      FieldSpec a;
      a.name = "generation_generate_audio";
      a.type = FieldType::boolean;
      a.default_value = false;
      m.fields.push_back(std::move(a));
    }
    FieldSpec order;
    order.name = "generation_provider_order";
    order.type = FieldType::string;
    order.max_length = 256;
    order.default_value = std::string("fastest");
    order.description = "fastest, or a comma-separated list of this model's providers.";
    m.fields.push_back(std::move(order));
  }

  std::string check_order_string(const Model& m, std::string_view s) {
    if (s == "fastest") return {};
    std::vector<std::string> seen;
    std::size_t start = 0;
    while (start <= s.size()) {
      std::size_t end = s.find(',', start);
      if (end == std::string_view::npos) end = s.size();
      std::string_view part = s.substr(start, end - start);
      while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
      while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
      if (part.empty()) return "has an empty entry";
      if (std::find(m.providers.begin(), m.providers.end(), part) == m.providers.end())
        return "names unsupported provider " + std::string(part);
      if (std::find(seen.begin(), seen.end(), part) != seen.end()) return "repeats provider " + std::string(part);
      seen.emplace_back(part);
      start = end + 1;
    }
    return {};
  }

  void load_pricing(Model& m, const Value& p, const std::string& path) {
    if (!p.is_object()) {
      error(path, "must be an object");
      return;
    }
    check_keys(p, path, {"unit", "credits", "tiers"});
    std::string unit = read_string(p, "unit", path, true);
    if (unit == "generation") m.pricing.unit = PriceUnit::per_generation;
    else if (unit == "second") {
      m.pricing.unit = PriceUnit::per_second;
      if (m.capabilities.durations.empty()) error(path + ".unit", "per-second pricing needs durations");
    } else if (!unit.empty()) error(path + ".unit", "must be generation or second");
    auto price = [&](const Value& v, const std::string& pp) -> std::optional<Micros> {
      if (!v.is_string()) {
        error(pp, "must be a decimal string of credits (never a float)");
        return std::nullopt;
      }
      auto r = parse_credits(v.string);
      if (!r.ok()) {
        error(pp, "is not a valid credit amount: " + std::string(r.status().message()));
        return std::nullopt;
      }
      if (*r <= 0) {
        error(pp, "price must be greater than zero");
        return std::nullopt;
      }
      return *r;
    };
    const Value* credits = p.find("credits");
    const Value* tiers = p.find("tiers");
    if ((credits != nullptr) == (tiers != nullptr)) {
      error(path, "needs exactly one of credits or tiers");
      return;
    }
    if (credits) {
      m.pricing.flat = price(*credits, path + ".credits");
      return;
    }
    if (!tiers->is_object() || tiers->object.empty()) {
      error(path + ".tiers", "must be a non-empty object");
      return;
    }
    const Capabilities& c = m.capabilities;
    std::set<std::string> expected;
    std::vector<std::string> res = c.resolutions.empty() ? std::vector<std::string>{""} : c.resolutions;
    for (const auto& r : res) {
      if (c.audio) {
        expected.insert(r.empty() ? "audio" : r + "_audio");
        expected.insert(r.empty() ? "noaudio" : r + "_noaudio");
      } else if (!r.empty()) {
        expected.insert(r);
      }
    }
    if (expected.empty()) {
      error(path + ".tiers", "tiers need resolutions or audio on the model");
      return;
    }
    for (const auto& [k, v] : tiers->object) {
      if (!expected.count(k)) {
        error(path + ".tiers." + k, "is not a tier of this model");
        continue;
      }
      if (auto micros = price(v, path + ".tiers." + k)) m.pricing.tiers.emplace(k, *micros);
    }
    for (const auto& k : expected)
      if (!tiers->find(k)) error(path + ".tiers." + k, "missing price for tier");
  }

  std::optional<Model> load_model(const Value& v, const std::string& path) {
    if (!v.is_object()) {
      error(path, "must be an object");
      return std::nullopt;
    }
    check_keys(v, path,
               {"model_identifier", "model_type", "display_name", "capabilities", "fields", "pricing", "providers",
                "default_provider_order", "provider_orders"});
    Model m;
    m.identifier = read_string(v, "model_identifier", path, true);
    static const std::regex id_re("^[a-z0-9][a-z0-9.-]*/[a-z0-9][a-z0-9._-]*$");
    if (!m.identifier.empty() && !std::regex_match(m.identifier, id_re))
      error(path + ".model_identifier", "must look like <lab>/<model> in lower case");
    std::string type = read_string(v, "model_type", path, true);
    if (type == "video") m.type = ModelType::video;
    else if (type != "image" && !type.empty()) error(path + ".model_type", "must be image or video");
    m.display_name = read_string(v, "display_name", path, false);

    // capabilities
    const Value* caps = member(v, "capabilities", path, true);
    std::string cp = path + ".capabilities";
    if (caps && !caps->is_object()) error(cp, "must be an object");
    if (caps && caps->is_object()) {
      check_keys(*caps, cp,
                 {"prompt_required", "prompt_max_length", "ratios", "default_ratio", "output_formats",
                  "default_output_format", "max_outputs", "input_files", "last_frame", "durations", "resolutions",
                  "default_resolution", "audio"});
      Capabilities& c = m.capabilities;
      c.prompt_required = read_bool(*caps, "prompt_required", cp, true);
      c.prompt_max_length = static_cast<std::size_t>(read_int(*caps, "prompt_max_length", cp, 2000, 1, 32768));
      c.ratios = read_strings(*caps, "ratios", cp, true, true);
      c.default_ratio = caps->find("default_ratio") ? read_string(*caps, "default_ratio", cp, true)
                                                    : (c.ratios.empty() ? "" : c.ratios.front());
      if (!c.default_ratio.empty() && std::find(c.ratios.begin(), c.ratios.end(), c.default_ratio) == c.ratios.end())
        error(cp + ".default_ratio", "default " + c.default_ratio + " is not one of the ratios", "invalid_default");
      c.output_formats = read_strings(*caps, "output_formats", cp, true, true);
      // The formats the API offers (specs/api.md, generation_output_format): png,
      // jpg, webp for images, mp4 for video.
      for (const auto& f : c.output_formats)
        if (m.type == ModelType::video ? f != "mp4" : f != "png" && f != "jpg" && f != "webp")
          error(cp + ".output_formats", "format " + f + " is not one the API offers for " + type + " models");
      c.default_output_format = caps->find("default_output_format")
                                    ? read_string(*caps, "default_output_format", cp, true)
                                    : (c.output_formats.empty() ? "" : c.output_formats.front());
      if (!c.default_output_format.empty() &&
          std::find(c.output_formats.begin(), c.output_formats.end(), c.default_output_format) == c.output_formats.end())
        error(cp + ".default_output_format", "default " + c.default_output_format + " is not one of the formats",
              "invalid_default");
      c.max_outputs = read_int(*caps, "max_outputs", cp, 1, 1, 16);
      if (const Value* f = caps->find("input_files")) {
        if (!f->is_object()) error(cp + ".input_files", "must be an object");
        else {
          check_keys(*f, cp + ".input_files", {"min", "max"});
          c.min_input_files = read_int(*f, "min", cp + ".input_files", 0, 0, 16);
          c.max_input_files = read_int(*f, "max", cp + ".input_files", 0, 0, 16);
          if (c.min_input_files > c.max_input_files) error(cp + ".input_files", "min must not exceed max");
        }
      }
      c.last_frame = read_bool(*caps, "last_frame", cp, false);
      c.durations = read_ints(*caps, "durations", cp);
      c.resolutions = read_strings(*caps, "resolutions", cp, false, false);
      if (!c.resolutions.empty()) {
        c.default_resolution = caps->find("default_resolution") ? read_string(*caps, "default_resolution", cp, true)
                                                                : c.resolutions.front();
        if (std::find(c.resolutions.begin(), c.resolutions.end(), c.default_resolution) == c.resolutions.end())
          error(cp + ".default_resolution", "default " + c.default_resolution + " is not one of the resolutions",
                "invalid_default");
      } else if (caps->find("default_resolution")) {
        error(cp + ".default_resolution", "needs resolutions", "invalid_default");
      }
      c.audio = read_bool(*caps, "audio", cp, false);
      if (m.type == ModelType::video && c.durations.empty()) error(cp + ".durations", "video models need durations");
      if (m.type == ModelType::image && (!c.durations.empty() || c.audio || c.last_frame))
        error(cp, "image models cannot declare durations, audio or last_frame");
      if (c.last_frame && c.max_input_files == 0) error(cp + ".last_frame", "needs input_files.max >= 1");
    }
    build_core_fields(m);

    // model-specific fields
    if (const Value* extras = v.find("fields")) {
      if (!extras->is_object()) error(path + ".fields", "must be an object");
      else
        for (const auto& [name, spec] : extras->object) {
          std::string fp = path + ".fields." + name;
          if (!valid_field_name(name)) {
            error(fp, "field names must match generation_[a-z0-9]+(_[a-z0-9]+)*");
            continue;
          }
          if (detail::is_server_controlled_name(name)) {
            error(fp, "names a server-controlled setting a customer may never set");
            continue;
          }
          if (m.field(name)) {
            error(fp, "duplicates a core field");
            continue;
          }
          if (auto parsed = parse_extra_field(name, spec, fp)) m.fields.push_back(std::move(*parsed));
        }
    }
    if (m.fields.size() > 64) error(path + ".fields", "at most 64 fields per model");

    // providers and orders
    m.providers = read_strings(v, "providers", path, true, true);
    for (const auto& p : m.providers)
      if (!known_providers.count(p)) error(path + ".providers", "unknown provider " + p);
    std::vector<std::string> order = v.find("default_provider_order")
                                         ? read_strings(v, "default_provider_order", path, true, true)
                                         : m.providers;
    for (const auto& p : order)
      if (std::find(m.providers.begin(), m.providers.end(), p) == m.providers.end())
        error(path + ".default_provider_order", "names unsupported provider " + p);
    for (const auto& p : m.providers)
      if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
    m.default_provider_order = order;
    if (v.find("provider_orders")) {
      m.provider_orders = read_strings(v, "provider_orders", path, true, true);
      for (const auto& s : m.provider_orders)
        if (auto problem = check_order_string(m, s); !problem.empty())
          error(path + ".provider_orders", "order string '" + s + "' " + problem);
    } else {
      m.provider_orders = {"fastest", join_order(m.default_provider_order)};
    }

    // pricing
    if (const Value* p = member(v, "pricing", path, true)) load_pricing(m, *p, path + ".pricing");
    return m;
  }

  // --- bridges -------------------------------------------------------------
  static bool single_valued(const FieldSpec& f) {
    switch (f.type) {
      case FieldType::enumeration: return f.values.size() == 1;
      case FieldType::number_enum: return f.number_values.size() == 1;
      case FieldType::integer: return f.min && f.max && *f.min == *f.max;
      case FieldType::url_array: return f.max_items && *f.max_items == 0;
      default: return false;
    }
  }

  std::optional<BridgeNode> parse_node(const Model& m, const Value& v, const std::string& path,
                                       std::vector<bool>& referenced, std::size_t depth) {
    if (depth > 8) {
      error(path, "bridge nesting deeper than 8");
      return std::nullopt;
    }
    if (!v.is_object()) {
      error(path, "a bridge node must be an object");
      return std::nullopt;
    }
    BridgeNode node;
    if (const Value* c = v.find("const")) {
      check_keys(v, path, {"const"});
      node.kind = BridgeNode::Kind::constant;
      node.raw = json::to_json(*c);
      return node;
    }
    if (const Value* o = v.find("object")) {
      check_keys(v, path, {"object"});
      if (!o->is_object()) {
        error(path + ".object", "must be an object");
        return std::nullopt;
      }
      node.kind = BridgeNode::Kind::object;
      for (const auto& [k, child] : o->object)
        if (auto n = parse_node(m, child, path + "." + k, referenced, depth + 1)) node.members.push_back(detail::BridgeMember{k, std::move(*n)});
      return node;
    }
    if (const Value* a = v.find("array")) {
      check_keys(v, path, {"array"});
      if (!a->is_array() || a->array.empty()) {
        error(path + ".array", "must be a non-empty array");
        return std::nullopt;
      }
      node.kind = BridgeNode::Kind::array;
      for (std::size_t i = 0; i < a->array.size(); ++i)
        if (auto n = parse_node(m, a->array[i], path + "[" + std::to_string(i) + "]", referenced, depth + 1))
          node.items.push_back(std::move(*n));
      return node;
    }
    check_keys(v, path, {"from", "index", "map", "map_partial", "negate", "scale", "as", "format"});
    std::string from = read_string(v, "from", path, true);
    if (from.empty()) return std::nullopt;
    node.kind = BridgeNode::Kind::field;
    node.field = m.field_index(from);
    if (node.field < 0 || from == "generation_provider_order") {
      error(path + ".from", "names a field the model does not declare: " + from);
      return std::nullopt;
    }
    const FieldSpec& spec = m.fields[static_cast<std::size_t>(node.field)];
    referenced[static_cast<std::size_t>(node.field)] = true;
    if (v.find("index")) {
      if (spec.type != FieldType::url_array) error(path + ".index", "only for url-array fields");
      node.index = static_cast<std::size_t>(read_int(v, "index", path, 0, 0, 63));
    }
    node.negate = read_bool(v, "negate", path, false);
    if (node.negate && spec.type != FieldType::boolean) error(path + ".negate", "only for boolean fields");
    node.scale = read_int(v, "scale", path, 1, 1, 1000000);
    bool numeric = spec.type == FieldType::integer || spec.type == FieldType::number || spec.type == FieldType::number_enum;
    if (node.scale != 1 && !numeric) error(path + ".scale", "only for numeric fields");
    if (const Value* as = v.find("as")) {
      std::string s = as->is_string() ? as->string : "";
      if (s == "string") node.as = BridgeNode::As::string;
      else if (s == "integer" && numeric) node.as = BridgeNode::As::integer;
      else if (s == "number" && numeric) node.as = BridgeNode::As::number;
      else error(path + ".as", "must be string, or integer/number for numeric fields");
    }
    if (const Value* f = v.find("format")) {
      if (!f->is_string() || f->string.find("{}") == std::string::npos) error(path + ".format", "must contain {}");
      else node.format = f->string;
    }
    bool scalar_index = spec.type != FieldType::url_array || node.index.has_value();
    if ((!node.format.empty() || node.as == BridgeNode::As::string) && !scalar_index)
      error(path, "format/as need a scalar value (use index for url-array)");
    node.map_partial = read_bool(v, "map_partial", path, false);
    if (const Value* mp = v.find("map")) {
      if (!mp->is_object() || mp->object.empty()) {
        error(path + ".map", "must be a non-empty object");
      } else if (spec.type != FieldType::enumeration && spec.type != FieldType::number_enum &&
                 spec.type != FieldType::boolean) {
        error(path + ".map", "only for enum, number-enum and boolean fields");
      } else {
        std::vector<std::string> domain;
        if (spec.type == FieldType::enumeration) domain = spec.values;
        else if (spec.type == FieldType::boolean) domain = {"true", "false"};
        else
          for (double d : spec.number_values) domain.push_back(detail::canonical_text(FieldValue(d)));
        for (const auto& [k, target] : mp->object) {
          if (std::find(domain.begin(), domain.end(), k) == domain.end())
            error(path + ".map." + k, "maps a value the field cannot take");
          node.map.emplace_back(k, json::to_json(target));
        }
        if (!node.map_partial)
          for (const auto& d : domain)
            if (!mp->find(d)) error(path + ".map", "cannot express value " + d + " (add it or set map_partial)");
      }
    } else if (node.map_partial) {
      error(path + ".map_partial", "needs map");
    }
    return node;
  }

  template <typename T>
  void subset(const std::vector<T>& model, const std::vector<T>& provider, const std::string& path,
              const std::string& what) {
    for (const auto& x : model)
      if (std::find(provider.begin(), provider.end(), x) == provider.end()) {
        std::ostringstream os;
        os << "model " << what << " " << x << " is wider than what the provider supports";
        error(path, os.str());
      }
  }

  void load_bridge(std::vector<Model>& models, const Value& v, const std::string& path,
                   std::set<std::pair<std::string, std::string>>& seen) {
    if (!v.is_object()) {
      error(path, "must be an object");
      return;
    }
    check_keys(v, path,
               {"model_identifier", "provider", "native_model", "endpoint", "limits", "payload", "source", "notes"});
    std::string model_id = read_string(v, "model_identifier", path, true);
    std::string provider = read_string(v, "provider", path, true);
    // Where the bridge's native field names come from: the provider's
    // documented schema for this model (an https page).
    const std::string source = read_string(v, "source", path, true);
    if (!source.empty() && (source.rfind("https://", 0) != 0 || source.size() <= 8))
      error(path + ".source", "must be an https URL (the provider's documented schema)");
    if (model_id.empty() || provider.empty()) return;
    Model* m = nullptr;
    for (auto& cand : models)
      if (cand.identifier == model_id) m = &cand;
    if (!m) {
      error(path + ".model_identifier", "unknown model " + model_id);
      return;
    }
    if (!known_providers.count(provider)) {
      error(path + ".provider", "unknown provider " + provider);
      return;
    }
    if (std::find(m->providers.begin(), m->providers.end(), provider) == m->providers.end()) {
      error(path + ".provider", "provider " + provider + " is not in the providers of " + model_id);
      return;
    }
    if (!seen.insert({model_id, provider}).second) {
      error(path, "duplicate bridge for " + model_id + " on " + provider);
      return;
    }
    ProviderBinding b;
    b.provider = provider;
    b.native_model = read_string(v, "native_model", path, true);
    b.endpoint = read_string(v, "endpoint", path, false);
    const Capabilities& c = m->capabilities;
    const Value* limits = member(v, "limits", path, true);
    std::string lp = path + ".limits";
    if (limits && limits->is_object()) {
      check_keys(*limits, lp,
                 {"ratios", "output_formats", "max_outputs", "max_input_files", "last_frame", "durations",
                  "resolutions", "audio", "prompt_max_length"});
      ProviderLimits& l = b.limits;
      l.ratios = read_strings(*limits, "ratios", lp, true, true);
      l.output_formats = read_strings(*limits, "output_formats", lp, true, true);
      l.max_outputs = read_int(*limits, "max_outputs", lp, 1, 1, 16);
      l.max_input_files = read_int(*limits, "max_input_files", lp, 0, 0, 16);
      l.last_frame = read_bool(*limits, "last_frame", lp, false);
      l.durations = read_ints(*limits, "durations", lp);
      l.resolutions = read_strings(*limits, "resolutions", lp, false, false);
      l.audio = read_bool(*limits, "audio", lp, false);
      l.prompt_max_length = static_cast<std::size_t>(read_int(*limits, "prompt_max_length", lp, 0, 0, 1 << 20));
      subset(c.ratios, l.ratios, lp + ".ratios", "ratio");
      subset(c.output_formats, l.output_formats, lp + ".output_formats", "output format");
      subset(c.durations, l.durations, lp + ".durations", "duration");
      subset(c.resolutions, l.resolutions, lp + ".resolutions", "resolution");
      if (c.max_outputs > l.max_outputs) error(lp + ".max_outputs", "model max_outputs is wider than the provider's");
      if (c.max_input_files > l.max_input_files)
        error(lp + ".max_input_files", "model input_files.max is wider than the provider's");
      if (c.last_frame && !l.last_frame) error(lp + ".last_frame", "model last_frame is not supported by the provider");
      if (c.audio && !l.audio) error(lp + ".audio", "model audio is not supported by the provider");
      if (l.prompt_max_length && c.prompt_max_length > l.prompt_max_length)
        error(lp + ".prompt_max_length", "model prompt_max_length is wider than the provider's");
    } else if (limits) {
      error(lp, "must be an object");
    }
    const Value* payload = member(v, "payload", path, true);
    if (!payload) return;
    std::vector<bool> referenced(m->fields.size(), false);
    Value wrapped;
    wrapped.kind = Value::Kind::object;
    wrapped.object.push_back(json::Member{"object", *payload});
    auto root = parse_node(*m, wrapped, path + ".payload", referenced, 0);
    if (!root) return;
    for (std::size_t i = 0; i < m->fields.size(); ++i) {
      const FieldSpec& f = m->fields[i];
      if (referenced[i] || f.name == "generation_provider_order" || single_valued(f)) continue;
      error(path + ".payload", "bridge cannot express declared field " + f.name);
    }
    auto bridge = std::make_shared<detail::Bridge>();
    bridge->payload = std::move(*root);
    b.bridge = std::move(bridge);
    m->bindings.push_back(std::move(b));
  }
};

namespace {

Result<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return Status(Code::not_found, "cannot read " + p.string());
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace

Result<std::shared_ptr<const Catalog>> Catalog::load_directory(const std::filesystem::path& dir) {
  BABYSEA_ASSIGN_OR_RETURN(std::string providers, read_file(dir / "providers.json"));
  BABYSEA_ASSIGN_OR_RETURN(std::string models, read_file(dir / "models.json"));
  BABYSEA_ASSIGN_OR_RETURN(std::string bridges, read_file(dir / "bridges.json"));
  return load_json(providers, models, bridges);
}

Result<std::shared_ptr<const Catalog>> Catalog::load_json(std::string_view providers_json,
                                                          std::string_view models_json,
                                                          std::string_view bridges_json) {
  CatalogLoader loader;
  auto parse = [&](std::string_view text, const char* name) -> std::optional<Value> {
    auto r = json::parse_strict(text);
    if (!r.ok()) {
      loader.error(name, std::string(r.status().message()));
      return std::nullopt;
    }
    return std::move(r).value();
  };
  auto providers_doc = parse(providers_json, "providers.json");
  auto models_doc = parse(models_json, "models.json");
  auto bridges_doc = parse(bridges_json, "bridges.json");
  if (!loader.issues.empty())
    return Status(Code::invalid_request, "catalog is invalid", std::move(loader.issues));

  std::shared_ptr<Catalog> catalog(new Catalog());
  catalog->providers_ = loader.load_providers(*providers_doc);

  const std::string mp = "models.json";
  if (!models_doc->is_object()) loader.error(mp, "must be an object");
  else {
    loader.check_keys(*models_doc, mp, {"schema_version", "models"});
    if (loader.read_string(*models_doc, "schema_version", mp, true) != "babysea.models.v1")
      loader.error(mp + ".schema_version", "must be babysea.models.v1");
    const Value* list = loader.member(*models_doc, "models", mp, true);
    if (list && !list->is_array()) loader.error(mp + ".models", "must be an array");
    if (list && list->is_array())
      for (std::size_t i = 0; i < list->array.size(); ++i) {
        const Value& mv = list->array[i];
        const Value* idv = mv.find("model_identifier");
        std::string label = idv && idv->is_string() ? idv->string : std::to_string(i);
        auto model = loader.load_model(mv, mp + ".models[" + label + "]");
        if (!model) continue;
        if (catalog->index_.count(model->identifier)) {
          loader.error(mp + ".models[" + label + "]", "duplicate model " + model->identifier);
          continue;
        }
        catalog->index_.emplace(model->identifier, catalog->models_.size());
        catalog->models_.push_back(std::move(*model));
      }
  }

  const std::string bp = "bridges.json";
  std::set<std::pair<std::string, std::string>> seen;
  if (!bridges_doc->is_object()) loader.error(bp, "must be an object");
  else {
    loader.check_keys(*bridges_doc, bp, {"schema_version", "bridges"});
    if (loader.read_string(*bridges_doc, "schema_version", bp, true) != "babysea.bridges.v1")
      loader.error(bp + ".schema_version", "must be babysea.bridges.v1");
    const Value* list = loader.member(*bridges_doc, "bridges", bp, true);
    if (list && !list->is_array()) loader.error(bp + ".bridges", "must be an array");
    if (list && list->is_array())
      for (std::size_t i = 0; i < list->array.size(); ++i)
        loader.load_bridge(catalog->models_, list->array[i], bp + ".bridges[" + std::to_string(i) + "]", seen);
  }
  // Every supported provider needs a bridge; keep bindings in provider order.
  for (auto& m : catalog->models_) {
    std::vector<ProviderBinding> ordered;
    for (const auto& p : m.providers) {
      auto it = std::find_if(m.bindings.begin(), m.bindings.end(), [&](const auto& b) { return b.provider == p; });
      if (it == m.bindings.end()) loader.error(mp + ".models[" + m.identifier + "].providers", "no bridge for provider " + p);
      else ordered.push_back(std::move(*it));
    }
    m.bindings = std::move(ordered);
  }
  if (!loader.issues.empty())
    return Status(Code::invalid_request, "catalog is invalid", std::move(loader.issues));
  return std::shared_ptr<const Catalog>(std::move(catalog));
}

CatalogStore::CatalogStore(std::shared_ptr<const Catalog> initial) : current_(std::move(initial)) {}

std::shared_ptr<const Catalog> CatalogStore::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Status CatalogStore::reload_directory(const std::filesystem::path& dir) {
  auto next = Catalog::load_directory(dir);
  if (!next.ok()) return std::move(next).take_status();
  replace(std::move(next).value());
  return Status();
}

void CatalogStore::replace(std::shared_ptr<const Catalog> next) {
  if (!next) return;
  std::lock_guard<std::mutex> lock(mu_);
  current_.swap(next);
  // `next` (the old snapshot) is released outside the critical section's
  // hot part when it goes out of scope; holders keep it alive.
}

}  // namespace babysea
