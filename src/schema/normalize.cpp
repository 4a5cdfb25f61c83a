// The request normalizer: simdjson On-Demand walk → typed values → checks →
// defaults → provider order → canonical JSON + fingerprint → native payloads.
#include <sodium.h>

#include <cmath>
#include <cstring>

#include "babysea/schema.hpp"
#include "catalog/bridge.hpp"
#include "json/json.hpp"
#include "json/strict.hpp"

namespace babysea {

namespace od = simdjson::ondemand;

namespace {

constexpr std::size_t kMaxModelFields = 64;

enum class Problem : std::uint8_t { none, type, too_long, too_many, above, below };

struct Abort {
  std::string field;
  std::string message;
};

std::string_view json_type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "a value";
}

void ensure_sodium() {
  static const bool ok = [] { return sodium_init() >= 0; }();
  (void)ok;
}

}  // namespace

struct NormalizerImpl {
  const NormalizeOptions& opt;
  std::optional<Abort> abort;
  std::vector<std::string_view> unknown_keys;  // views into the parser's string buffer

  bool fail(std::string_view field, std::string message) {
    if (!abort) abort = Abort{std::string(field), std::move(message)};
    return false;
  }
  bool fail(std::string_view field, simdjson::error_code e) {
    return fail(field, std::string("invalid JSON: ") + simdjson::error_message(e));
  }

  // Consumes and strictly validates any value (for unknown fields, wrongly
  // typed values and nested content).
  bool walk(od::value v, std::size_t depth, std::string_view field) {
    if (depth > opt.max_depth) return fail(field, "nesting deeper than " + std::to_string(opt.max_depth));
    od::json_type t;
    if (auto e = v.type().get(t)) return fail(field, e);
    switch (t) {
      case od::json_type::null: {
        bool is_null = false;
        if (auto e = v.is_null().get(is_null)) return fail(field, e);
        return is_null || fail(field, "invalid JSON literal");
      }
      case od::json_type::boolean: {
        bool b;
        if (auto e = v.get_bool().get(b)) return fail(field, e);
        return true;
      }
      case od::json_type::number: {
        od::number n;
        if (auto e = v.get_number().get(n)) return fail(field, e);
        return true;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail(field, e);
        return check_string(s, field);
      }
      case od::json_type::array: {
        od::array a;
        if (auto e = v.get_array().get(a)) return fail(field, e);
        std::size_t n = 0;
        for (auto item : a) {
          od::value iv;
          if (auto e = item.get(iv)) return fail(field, e);
          if (++n > opt.max_array_items)
            return fail(field, "array longer than " + std::to_string(opt.max_array_items) + " items");
          if (!walk(iv, depth + 1, field)) return false;
        }
        return true;
      }
      case od::json_type::object: {
        od::object o;
        if (auto e = v.get_object().get(o)) return fail(field, e);
        std::vector<std::string_view> keys;
        for (auto f : o) {
          std::string_view key;
          if (auto e = f.unescaped_key().get(key)) return fail(field, e);
          if (key.find('\0') != std::string_view::npos) return fail(field, "NUL character in a key");
          for (auto k : keys)
            if (k == key) return fail(field, "duplicate key " + std::string(key.substr(0, 64)));
          if (keys.size() >= opt.max_fields) return fail(field, "object with too many members");
          keys.push_back(key);
          od::value fv;
          if (auto e = f.value().get(fv)) return fail(field, e);
          if (!walk(fv, depth + 1, field)) return false;
        }
        return true;
      }
    }
    return fail(field, "unknown JSON type");
  }

  bool check_string(std::string_view s, std::string_view field) {
    if (s.find('\0') != std::string_view::npos) return fail(field, "NUL character in a string");
    return true;
  }

  // Reads the value of declared field `spec` into `out`; sets `problem` for
  // kind mismatches and hard limits. Returns false only on abort.
  bool read_field(const FieldSpec& spec, od::value v, FieldValue& out, Problem& problem) {
    const std::string_view name = spec.name;
    od::json_type t;
    if (auto e = v.type().get(t)) return fail(name, e);
    auto mismatch = [&]() {
      problem = Problem::type;
      return walk(v, 2, name);
    };
    switch (spec.type) {
      case FieldType::boolean: {
        if (t != od::json_type::boolean) return mismatch();
        bool b;
        if (auto e = v.get_bool().get(b)) return fail(name, e);
        out = b;
        return true;
      }
      case FieldType::integer:
      case FieldType::number:
      case FieldType::number_enum: {
        if (t != od::json_type::number) return mismatch();
        // Integer fields take JSON integers only: 4.0 and 4e0 are numbers
        // with a fraction or an exponent, not integers (nothing is coerced).
        const std::string_view raw = v.raw_json_token();
        const bool integer_syntax = raw.find_first_of(".eE") == std::string_view::npos;
        if (spec.type == FieldType::integer && !integer_syntax) {
          problem = Problem::type;
          return walk(v, 2, name);
        }
        od::number n;
        if (auto e = v.get_number().get(n)) {
          if (e != simdjson::NUMBER_ERROR) return fail(name, e);
          // Not representable: an integer beyond 64 bits is out of range;
          // anything else (e.g. 1e400) is not a finite number.
          if (spec.type == FieldType::integer && integer_syntax)
            problem = !raw.empty() && raw.front() == '-' ? Problem::below : Problem::above;
          else
            problem = Problem::type;
          return true;
        }
        double d;
        if (n.is_int64()) {
          if (spec.type == FieldType::integer) {
            out = n.get_int64();
            return true;
          }
          d = static_cast<double>(n.get_int64());
        } else if (n.is_uint64()) {
          d = static_cast<double>(n.get_uint64());
        } else {
          d = n.get_double();
        }
        if (!std::isfinite(d)) {
          problem = Problem::type;
          return true;
        }
        if (spec.type == FieldType::integer) {
          if (d != std::trunc(d)) {
            problem = Problem::type;
            return true;
          }
          if (d >= 9.2e18 || d <= -9.2e18) {
            problem = d > 0 ? Problem::above : Problem::below;
            return true;
          }
          out = static_cast<std::int64_t>(d);
          return true;
        }
        out = d;
        return true;
      }
      case FieldType::string:
      case FieldType::enumeration:
      case FieldType::url: {
        if (t != od::json_type::string) return mismatch();
        std::string_view s;
        if (auto e = v.get_string().get(s)) return fail(name, e);
        if (!check_string(s, name)) return false;
        if (s.size() > opt.max_string_bytes) {
          problem = Problem::too_long;
          return true;
        }
        out.emplace<std::string>(s);
        return true;
      }
      case FieldType::url_array: {
        if (t != od::json_type::array) return mismatch();
        od::array a;
        if (auto e = v.get_array().get(a)) return fail(name, e);
        std::vector<std::string> list;
        for (auto item : a) {
          od::value iv;
          if (auto e = item.get(iv)) return fail(name, e);
          od::json_type it;
          if (auto e = iv.type().get(it)) return fail(name, e);
          if (list.size() >= opt.max_array_items) {
            problem = Problem::too_many;
            if (!walk(iv, 3, name)) return false;
            continue;
          }
          if (it != od::json_type::string) {
            if (problem == Problem::none) problem = Problem::type;
            if (!walk(iv, 3, name)) return false;
            continue;
          }
          std::string_view s;
          if (auto e = iv.get_string().get(s)) return fail(name, e);
          if (!check_string(s, name)) return false;
          if (s.size() > opt.max_string_bytes) {
            problem = Problem::too_long;
            continue;
          }
          list.emplace_back(s);
        }
        if (problem == Problem::none) out = std::move(list);
        return true;
      }
    }
    return true;
  }

  static void problem_issue(const FieldSpec& spec, Problem p, const NormalizeOptions& opt,
                            std::vector<FieldIssue>& issues) {
    const std::string& n = spec.name;
    switch (p) {
      case Problem::type: {
        std::string what;
        switch (spec.type) {
          case FieldType::boolean: what = "must be a boolean."; break;
          case FieldType::integer: what = "must be a JSON integer (no fraction, no exponent)."; break;
          case FieldType::number:
          case FieldType::number_enum: what = "must be a finite number."; break;
          case FieldType::url: what = "must be a URL string."; break;
          case FieldType::url_array: what = "must be an array of URL strings."; break;
          default: what = "must be a string."; break;
        }
        issues.push_back({n, "invalid_type", n + " " + what});
        break;
      }
      case Problem::too_long:
        issues.push_back({n, "max_length", n + " has a string longer than " + std::to_string(opt.max_string_bytes) + " bytes."});
        break;
      case Problem::too_many:
        issues.push_back({n, "max_items", n + " has more than " + std::to_string(opt.max_array_items) + " items."});
        break;
      case Problem::above: issues.push_back({n, "max_value", n + " is too large."}); break;
      case Problem::below: issues.push_back({n, "min_value", n + " is too small."}); break;
      case Problem::none: break;
    }
  }

  // generation_provider_order: "fastest" or a comma list of the model's providers.
  static void check_provider_order(const Model& m, const FieldValue& v, std::vector<std::string>& order,
                                   bool& fastest, std::vector<FieldIssue>& issues) {
    const std::string name = "generation_provider_order";
    const auto* s = std::get_if<std::string>(&v);
    if (!s) {
      issues.push_back({name, "invalid_type", name + " must be a string."});
      return;
    }
    if (s->size() > 256) {
      issues.push_back({name, "max_length", name + " must have at most 256 characters."});
      return;
    }
    if (*s == "fastest") {
      fastest = true;
      order = m.default_provider_order;
      return;
    }
    fastest = false;
    std::string_view text(*s);
    if (text.find_first_not_of(" \t") == std::string_view::npos) {
      issues.push_back({name, "min_length", name + " must not be empty (use fastest or a provider list)."});
      return;
    }
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find(',', start);
      if (end == std::string_view::npos) end = text.size();
      std::string_view part = text.substr(start, end - start);
      while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
      while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
      if (part.empty()) {
        issues.push_back({name, "unsupported_value", name + " has an empty entry."});
        return;
      }
      bool known = false;
      for (const auto& p : m.providers) known = known || p == part;
      if (!known) {
        std::string allowed;
        for (const auto& p : m.providers) allowed += (allowed.empty() ? "" : ", ") + p;
        issues.push_back({name, "unsupported_value",
                          name + " names " + std::string(part.substr(0, 64)) + ", not one of fastest, " + allowed + "."});
        return;
      }
      for (const auto& p : order)
        if (p == part) {
          issues.push_back({name, "unsupported_value", name + " repeats " + std::string(part) + "."});
          return;
        }
      order.emplace_back(part);
      start = end + 1;
    }
  }

  static void write_value(json::JsonWriter& w, const FieldValue& v) {
    switch (v.index()) {
      case 1: w.value(std::get<bool>(v)); break;
      case 2: w.value(std::get<std::int64_t>(v)); break;
      case 3: w.value(std::get<double>(v)); break;
      case 4: w.value(std::string_view(std::get<std::string>(v))); break;
      case 5:
        w.begin_array();
        for (const auto& s : std::get<std::vector<std::string>>(v)) w.value(std::string_view(s));
        w.end_array();
        break;
      default: w.null(); break;
    }
  }

  static NativePayload render(const ProviderBinding& b, const std::vector<FieldValue>& values) {
    NativePayload p;
    p.provider = b.provider;
    p.native_model = b.native_model;
    p.endpoint = b.endpoint;
    std::string buffer;
    buffer.reserve(512);
    json::JsonWriter w(std::move(buffer));
    detail::write_payload(*b.bridge, values.data(), w);
    p.json = std::move(w).take();
    return p;
  }

  Result<NormalizedRequest> run(const std::shared_ptr<const Catalog>& catalog, std::string_view model_id,
                                std::string_view body) {
    const Model* model = catalog ? catalog->find(model_id) : nullptr;
    if (!model) return Status(Code::model_not_found, "unknown model " + std::string(model_id.substr(0, 200)));
    if (opt.expected_type && *opt.expected_type != model->type)
      return Status(Code::invalid_request,
                    std::string(model_id) + " is a " + std::string(model_type_name(model->type)) + " model",
                    {{"model", "unsupported_value",
                      "model " + std::string(model_id) + " is not a " +
                          std::string(model_type_name(*opt.expected_type)) + " model."}});
    if (body.size() > opt.max_body_bytes)
      return Status(Code::payload_too_large,
                    "request body larger than " + std::to_string(opt.max_body_bytes) + " bytes");
    const std::size_t nfields = model->fields.size();
    if (nfields > kMaxModelFields) return Status(Code::internal, "model has too many fields");

    std::vector<FieldValue> values(nfields);
    std::array<Problem, kMaxModelFields> problems{};
    std::array<bool, kMaxModelFields> supplied{};
    std::vector<FieldIssue> extra_issues;  // duplicate/unknown, in input order

    thread_local std::string scratch;
    auto padded = json::pad_into(scratch, body);
    auto& parser = json::thread_parser();
    od::document doc;
    auto invalid = [](std::string field, std::string message) {
      return Status(Code::invalid_request, "request body is not a strict JSON object",
                    {{std::move(field), "invalid_json", std::move(message)}});
    };
    if (auto e = parser.iterate(padded).get(doc)) return invalid("", std::string("invalid JSON: ") + simdjson::error_message(e));
    od::json_type top;
    if (auto e = doc.type().get(top)) return invalid("", std::string("invalid JSON: ") + simdjson::error_message(e));
    if (top != od::json_type::object)
      return invalid("", std::string("request body must be a JSON object, not ") + std::string(json_type_name(top)) + ".");
    od::object obj;
    if (auto e = doc.get_object().get(obj)) return invalid("", std::string("invalid JSON: ") + simdjson::error_message(e));
    std::size_t members = 0;
    for (auto f : obj) {
      std::string_view key;
      if (auto e = f.unescaped_key().get(key)) {
        fail("", e);
        break;
      }
      if (key.find('\0') != std::string_view::npos || key.size() > 256) {
        fail("", "invalid key (NUL or longer than 256 bytes)");
        break;
      }
      if (++members > opt.max_fields) {
        fail("", "more than " + std::to_string(opt.max_fields) + " members");
        break;
      }
      od::value v;
      if (auto e = f.value().get(v)) {
        fail(key, e);
        break;
      }
      int idx = model->field_index(key);
      if (idx >= 0) {
        auto i = static_cast<std::size_t>(idx);
        if (supplied[i]) {
          extra_issues.push_back({std::string(key), "duplicate_field", std::string(key) + " appears more than once."});
          if (!walk(v, 2, key)) break;
          continue;
        }
        supplied[i] = true;
        if (!read_field(model->fields[i], v, values[i], problems[i])) break;
        continue;
      }
      bool dup = false;
      for (auto k : unknown_keys) dup = dup || k == key;
      if (!walk(v, 2, key)) break;
      std::string k(key.substr(0, 128));
      if (dup) {
        extra_issues.push_back({k, "duplicate_field", k + " appears more than once."});
        continue;
      }
      unknown_keys.push_back(key);
      if (detail::is_server_controlled_name(key))
        extra_issues.push_back({k, "unknown_field", k + " is server-controlled and may never be set by a customer."});
      else if (opt.strict)
        extra_issues.push_back({k, "unknown_field", k + " is not a field of " + model->identifier + "."});
    }
    if (!abort) {
      const char* loc = nullptr;
      if (!doc.current_location().get(loc)) fail("", "trailing content after the JSON object");
    }
    if (abort) return invalid(abort->field.substr(0, 128), abort->message);

    // Declared fields in order: kind problems, defaults, domain checks.
    std::vector<FieldIssue> issues;
    std::vector<std::string> order;
    bool fastest = true;
    bool any_policy_issue = false;
    for (std::size_t i = 0; i < nfields; ++i) {
      const FieldSpec& spec = model->fields[i];
      if (problems[i] != Problem::none) {
        problem_issue(spec, problems[i], opt, issues);
        values[i] = std::monostate{};
        continue;
      }
      if (!supplied[i]) {
        if (!std::holds_alternative<std::monostate>(spec.default_value)) values[i] = spec.default_value;
        else if (spec.required) {
          issues.push_back({spec.name, "missing_required", spec.name + " is required."});
          continue;
        } else continue;
      }
      if (spec.name == "generation_provider_order") {
        std::size_t before = issues.size();
        check_provider_order(*model, values[i], order, fastest, issues);
        if (issues.size() != before) values[i] = std::monostate{};
        continue;
      }
      std::size_t before = issues.size();
      detail::check_value(spec, values[i], issues);
      if (issues.size() == before && opt.url_policy &&
          (spec.type == FieldType::url || spec.type == FieldType::url_array)) {
        // The policy's normalized form replaces the URL: what was checked is
        // what the provider receives.
        auto check = [&](std::string& url) {
          auto st = opt.url_policy->normalize(spec.name, url);
          if (!st.ok()) {
            issues.push_back({spec.name, "url_forbidden", spec.name + " " + std::string(st.status().message())});
            any_policy_issue = true;
            return false;
          }
          url = std::move(st).value();
          return true;
        };
        if (auto* s = std::get_if<std::string>(&values[i])) check(*s);
        else if (auto* l = std::get_if<std::vector<std::string>>(&values[i]))
          for (auto& u : *l)
            if (!check(u)) break;
      }
      if (issues.size() != before) values[i] = std::monostate{};
    }
    for (auto& x : extra_issues) issues.push_back(std::move(x));
    if (!issues.empty()) {
      bool all_policy = any_policy_issue;
      for (const auto& is : issues) all_policy = all_policy && is.code == "url_forbidden";
      return Status(all_policy ? Code::url_forbidden : Code::invalid_request, "request failed validation",
                    std::move(issues));
    }

    NormalizedRequest out;
    out.catalog_ = catalog;
    out.model_ = model;
    out.fastest_ = fastest;
    out.provider_order_ = std::move(order);

    // Canonical body and fingerprint.
    std::string canonical_buffer;
    canonical_buffer.reserve(body.size() + 256);
    json::JsonWriter w(std::move(canonical_buffer));
    w.begin_object();
    for (std::size_t i = 0; i < nfields; ++i) {
      const FieldSpec& spec = model->fields[i];
      if (std::holds_alternative<std::monostate>(values[i])) continue;
      w.key(spec.name);
      if (spec.name == "generation_provider_order" && !fastest) {
        std::string joined;
        for (const auto& p : out.provider_order_) joined += (joined.empty() ? "" : ",") + p;
        w.value(std::string_view(joined));
      } else {
        write_value(w, values[i]);
      }
    }
    w.end_object();
    out.canonical_ = std::move(w).take();
    ensure_sodium();
    crypto_generichash_state st;
    crypto_generichash_init(&st, nullptr, 0, out.fingerprint_.size());
    static constexpr std::string_view kDomain = "babysea.request.v1\n";
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kDomain.data()), kDomain.size());
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(model->identifier.data()),
                              model->identifier.size());
    const unsigned char nl = '\n';
    crypto_generichash_update(&st, &nl, 1);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(out.canonical_.data()),
                              out.canonical_.size());
    crypto_generichash_final(&st, out.fingerprint_.data(), out.fingerprint_.size());

    out.values_ = std::move(values);
    if (opt.payloads != PayloadMode::none) {
      for (const auto& provider : out.provider_order_) {
        const ProviderBinding* b = model->binding(provider);
        if (!b) return Status(Code::internal, "catalog has no bridge for " + provider);
        out.payloads_.push_back(render(*b, out.values_));
        if (opt.payloads == PayloadMode::first_provider) break;
      }
    }
    return out;
  }
};

Result<NormalizedRequest> normalize(const std::shared_ptr<const Catalog>& catalog, std::string_view model_identifier,
                                    std::string_view body, const NormalizeOptions& options) {
  NormalizerImpl impl{options, std::nullopt, {}};
  return impl.run(catalog, model_identifier, body);
}

Result<NativePayload> render_native_payload(const NormalizedRequest& request, std::string_view provider) {
  const ProviderBinding* b = request.model().binding(provider);
  if (!b)
    return Status(Code::invalid_request, "provider is not supported by this model",
                  {{"provider", "unsupported_value",
                    "provider " + std::string(provider.substr(0, 64)) + " is not supported by " +
                        request.model().identifier + "."}});
  return NormalizerImpl::render(*b, request.values());
}

// --- NormalizedRequest accessors ----------------------------------------------

const FieldValue* NormalizedRequest::value(std::string_view field) const noexcept {
  int i = model_->field_index(field);
  return i < 0 ? nullptr : &values_[static_cast<std::size_t>(i)];
}

namespace {
const std::vector<std::string>& empty_list() {
  static const std::vector<std::string> kEmpty;
  return kEmpty;
}
}  // namespace

std::string_view NormalizedRequest::prompt() const noexcept {
  const FieldValue* v = value("generation_prompt");
  const auto* s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}
std::string_view NormalizedRequest::ratio() const noexcept {
  const FieldValue* v = value("generation_ratio");
  const auto* s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}
std::string_view NormalizedRequest::output_format() const noexcept {
  const FieldValue* v = value("generation_output_format");
  const auto* s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}
std::int64_t NormalizedRequest::output_number() const noexcept {
  const FieldValue* v = value("generation_output_number");
  const auto* n = v ? std::get_if<std::int64_t>(v) : nullptr;
  return n ? *n : 1;
}
const std::vector<std::string>& NormalizedRequest::input_files() const noexcept {
  const FieldValue* v = value("generation_input_file");
  const auto* l = v ? std::get_if<std::vector<std::string>>(v) : nullptr;
  return l ? *l : empty_list();
}
std::optional<std::int64_t> NormalizedRequest::duration_seconds() const noexcept {
  const FieldValue* v = value("generation_duration");
  const auto* d = v ? std::get_if<double>(v) : nullptr;
  if (!d) return std::nullopt;
  return static_cast<std::int64_t>(*d);
}
std::string_view NormalizedRequest::resolution() const noexcept {
  const FieldValue* v = value("generation_resolution");
  const auto* s = v ? std::get_if<std::string>(v) : nullptr;
  return s ? std::string_view(*s) : std::string_view();
}
bool NormalizedRequest::generate_audio() const noexcept {
  const FieldValue* v = value("generation_generate_audio");
  const auto* b = v ? std::get_if<bool>(v) : nullptr;
  return b && *b;
}

std::string NormalizedRequest::fingerprint_hex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (auto b : fingerprint_) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

const NativePayload* NormalizedRequest::native_payload(std::string_view provider) const noexcept {
  for (const auto& p : payloads_)
    if (p.provider == provider) return &p;
  return nullptr;
}

}  // namespace babysea
