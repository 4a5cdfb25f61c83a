// Shared provider plumbing (common.hpp).
#include "providers/common.hpp"

#include "assets/media.hpp"
#include "service/text.hpp"

#include <sodium.h>

#include <boost/url.hpp>

namespace babysea::providers {
namespace {

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

using text::iequals;

struct ParsedAuthority {
  std::string scheme, host;
  std::uint16_t port = 0;
  bool ipv6 = false;
};

// Scheme, host and effective port of an absolute http(s) URL without userinfo.
std::optional<ParsedAuthority> authority_of(const boost::urls::url_view& u) {
  ParsedAuthority a;
  for (char c : u.scheme()) a.scheme.push_back(lower_char(c));
  if (a.scheme != "http" && a.scheme != "https") return std::nullopt;
  if (!u.has_authority() || u.has_userinfo()) return std::nullopt;
  a.port = a.scheme == "https" ? 443 : 80;
  if (u.has_port()) {
    std::string_view p = u.port();
    if (p.empty() || p.size() > 5) return std::nullopt;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    a.port = static_cast<std::uint16_t>(v);
  }
  std::string_view h = u.encoded_host_address();
  if (h.empty() || h.find('%') != std::string_view::npos) return std::nullopt;
  for (char c : h) a.host.push_back(lower_char(c));
  a.ipv6 = u.host_type() == boost::urls::host_type::ipv6;
  return a;
}

}  // namespace

// ------------------------------------------------------------------ Origin

Result<Origin> Origin::parse(std::string_view url) {
  for (unsigned char c : url)
    if (c < 0x21 || c >= 0x7f) return Status(Code::invalid_request, "base URL contains a control, space or non-ASCII byte");
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status(Code::invalid_request, "base URL is not an absolute URL");
  boost::urls::url_view u = *parsed;
  auto a = authority_of(u);
  if (!a) return Status(Code::invalid_request, "base URL must be http(s) with a host and no user information");
  if (u.has_query() || u.has_fragment()) return Status(Code::invalid_request, "base URL must not have a query or fragment");
  Origin o;
  o.scheme = a->scheme;
  o.host = a->host;
  o.port = a->port;
  const std::uint16_t def = o.scheme == "https" ? 443 : 80;
  o.origin = o.scheme + "://" + (a->ipv6 ? "[" + o.host + "]" : o.host);
  if (o.port != def) o.origin += ":" + std::to_string(o.port);
  o.prefix = std::string(u.encoded_path());
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  return o;
}

bool Origin::same_origin(std::string_view url) const {
  for (unsigned char c : url)
    if (c < 0x21 || c >= 0x7f) return false;
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return false;
  auto a = authority_of(*parsed);
  return a && a->scheme == scheme && a->host == host && a->port == port;
}

// -------------------------------------------------------------- HttpClient

HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::create(const ProviderHttpOptions& options, std::string_view base_url) {
  if (!options.transport) return Status(Code::invalid_request, "provider: a transport is required");
  BABYSEA_ASSIGN_OR_RETURN(Origin origin, Origin::parse(base_url));
  std::unique_ptr<HttpClient> c(new HttpClient());
  c->origin_ = std::move(origin);
  c->transport_ = options.transport;
  c->clock_ = options.clock ? options.clock : &SystemClock::instance();
  c->dns_ttl_ = options.dns_ttl;
  c->connect_timeout_ = options.connect_timeout;
  c->request_timeout_ = options.request_timeout;
  c->max_response_bytes_ = options.max_response_bytes;
  c->numeric_ = IpAddress::parse(c->origin_.host);
  if (!c->numeric_) {
    if (options.resolver) {
      c->resolver_ = options.resolver;
    } else {
      c->owned_resolver_ = make_system_resolver();
      c->resolver_ = c->owned_resolver_.get();
    }
  }
  return c;
}

Result<ConnectTarget> HttpClient::target() const {
  if (numeric_) return ConnectTarget{*numeric_, origin_.port};
  const std::int64_t now = clock_->monotonic_ns();
  const std::int64_t ttl_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(dns_ttl_).count();
  std::optional<IpAddress> stale;
  {
    std::lock_guard lock(mu_);
    if (cached_ && now - cached_at_ns_ < ttl_ns) return ConnectTarget{*cached_, origin_.port};
    stale = cached_;
  }
  auto r = resolver_->resolve(origin_.host);
  if (!r.ok() || r->empty()) {
    if (stale) return ConnectTarget{*stale, origin_.port};  // keep serving the last good answer
    if (!r.ok()) return Status(Code::unavailable, "provider host could not be resolved");
    return Status(Code::unavailable, "provider host resolves to no address");
  }
  IpAddress chosen = r->front();
  for (const auto& a : *r)
    if (!a.v6) {  // prefer IPv4: the common case for provider APIs
      chosen = a;
      break;
    }
  std::lock_guard lock(mu_);
  cached_ = chosen;
  cached_at_ns_ = now;
  return ConnectTarget{chosen, origin_.port};
}

Result<HttpResponse> HttpClient::send(std::string_view method, std::string url, std::vector<HttpHeader> headers,
                                      std::string body, std::optional<std::chrono::milliseconds> timeout) const {
  if (!origin_.same_origin(url)) return Status(Code::invalid_request, "URL is not on the configured provider host");
  BABYSEA_ASSIGN_OR_RETURN(ConnectTarget t, target());
  HttpRequest req;
  req.method = std::string(method);
  req.url = std::move(url);
  req.headers = std::move(headers);
  req.body = std::move(body);
  req.connect_timeout = connect_timeout_;
  req.total_timeout = timeout ? *timeout : request_timeout_;
  req.headers_timeout = req.total_timeout;
  req.max_response_bytes = max_response_bytes_;
  return transport_->send(std::move(req), t);
}

Answer call_json(const HttpClient& http, std::string_view method, std::string url, std::vector<HttpHeader> headers,
                 std::string body, std::size_t max_json_bytes, bool body_required, bool accept_raw) {
  Answer a;
  auto r = http.send(method, std::move(url), std::move(headers), std::move(body));
  if (!r.ok()) {
    a.error = transport_error(r.status());
    return a;
  }
  a.sent = true;
  a.response = std::move(*r);
  if (!is_2xx(a.response.status)) {
    a.error = http_error(a.response, http.now_ms());
    return a;
  }
  if (a.response.body.empty() && !body_required) return a;
  if (accept_raw) {
    auto type = a.response.header("Content-Type");
    if (type && !is_json_content_type(*type)) {
      if (a.response.body.empty())
        a.error = make_error(ErrorKind::malformed_response, "empty_body", "provider answer is empty");
      return a;
    }
  }
  auto parsed = parse_json(a.response.body, max_json_bytes);
  if (!parsed.ok()) {
    a.error = make_error(ErrorKind::malformed_response, "malformed_json", "provider answer is not valid JSON");
    return a;
  }
  a.body = std::move(*parsed);
  return a;
}

Result<std::unique_ptr<HttpJwksFetcher>> HttpJwksFetcher::create(const ProviderHttpOptions& options,
                                                                 std::string_view url) {
  BABYSEA_ASSIGN_OR_RETURN(auto http, HttpClient::create(options, url));
  std::unique_ptr<HttpJwksFetcher> f(new HttpJwksFetcher());
  f->http_ = std::move(http);
  return f;
}

Result<std::string> HttpJwksFetcher::fetch(std::string_view url) {
  BABYSEA_ASSIGN_OR_RETURN(HttpResponse r, http_->send("GET", std::string(url), {{"Accept", "application/json"}}, {},
                                                       std::chrono::milliseconds{10'000}));
  if (!is_2xx(r.status)) return Status(Code::unavailable, "JWKS fetch answered HTTP " + std::to_string(r.status));
  return std::move(r.body);
}

// ------------------------------------------------------------------ errors

ProviderError make_error(ErrorKind kind, std::string code, std::string message, std::int64_t retry_after) {
  ProviderError e;
  e.kind = kind;
  e.code = clip(code, 100);
  e.message = clip(message);
  e.retry_after_ms = retry_after < 0 ? 0 : retry_after;
  return e;
}

ProviderError transport_error(const Status& s) {
  switch (s.code()) {
    case Code::timeout: return make_error(ErrorKind::timeout, "timeout", "provider did not answer in time");
    case Code::unavailable:
    case Code::canceled: return make_error(ErrorKind::connection, "connection", "connection to the provider failed");
    case Code::payload_too_large:
      return make_error(ErrorKind::malformed_response, "too_large", "provider answer exceeds the size cap");
    default: return make_error(ErrorKind::unknown, std::string(code_name(s.code())), "request could not be sent");
  }
}

std::int64_t retry_after_ms(const HttpResponse& response, std::int64_t now_ms) {
  auto h = response.header("Retry-After");
  if (!h) return 0;
  std::string_view v = *h;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  auto ms = parse_retry_after(v, now_ms);
  return ms ? *ms : 0;
}

ErrorBody read_error_body(std::string_view body) {
  ErrorBody out;
  auto parsed = parse_json(body, 1u << 20);
  if (!parsed.ok()) {
    out.message = clip(body, 120);
    return out;
  }
  const json::Value& v = *parsed;
  auto take_detail_array = [&](const json::Value& arr) {
    for (const auto& item : arr.array) {
      if (!item.is_object()) continue;
      std::string_view t = string_member(item, "type");
      if (!t.empty()) out.detail_types.emplace_back(t);
      if (out.message.empty()) out.message = clip(string_member(item, "msg"));
    }
    if (out.code.empty() && !out.detail_types.empty()) out.code = out.detail_types.front();
  };
  if (v.is_array()) {  // fal model errors may come as a bare list
    take_detail_array(v);
    return out;
  }
  if (!v.is_object()) return out;
  if (const json::Value* e = member(v, "error")) {
    if (e->is_object()) {
      std::string_view c = string_member(*e, "code");
      out.code = c.empty() ? std::string(string_member(*e, "type")) : std::string(c);
      out.message = clip(string_member(*e, "message"));
    } else if (e->is_string()) {
      out.message = clip(e->string);
    }
  }
  if (const json::Value* d = member(v, "detail")) {
    if (d->is_string() && out.message.empty()) out.message = clip(d->string);
    if (d->is_array()) take_detail_array(*d);
  }
  out.error_type = std::string(string_member(v, "error_type"));
  if (out.code.empty()) out.code = out.error_type;
  if (out.code.empty()) out.code = std::string(string_member(v, "failureCode"));
  if (out.code.empty()) out.code = std::string(string_member(v, "code"));
  if (out.message.empty()) out.message = clip(string_member(v, "message"));
  if (out.message.empty()) out.message = clip(string_member(v, "title"));
  return out;
}

ProviderError http_error(const HttpResponse& response, std::int64_t now_ms) {
  ErrorKind kind = error_kind_from_http_status(response.status);
  if (kind == ErrorKind::none) kind = ErrorKind::malformed_response;  // a 1xx/3xx where an answer was due
  ErrorBody body = read_error_body(response.body);
  std::string message = body.message.empty() ? "provider answered HTTP " + std::to_string(response.status)
                                              : "HTTP " + std::to_string(response.status) + ": " + body.message;
  return make_error(kind, body.code, std::move(message), retry_after_ms(response, now_ms));
}

// -------------------------------------------------------------------- JSON

Result<json::Value> parse_json(std::string_view body, std::size_t max_bytes) {
  json::StrictLimits limits;
  limits.max_bytes = max_bytes;
  limits.max_string_bytes = max_bytes;
  limits.max_depth = 64;
  return json::parse_strict(body, limits);
}

const json::Value* member(const json::Value& object, std::string_view key) { return object.find(key); }

std::string_view string_member(const json::Value& object, std::string_view key) {
  const json::Value* v = object.find(key);
  return (v && v->is_string()) ? std::string_view(v->string) : std::string_view();
}

json::Value json_string(std::string_view s) {
  json::Value v;
  v.kind = json::Value::Kind::string;
  v.string = std::string(s);
  return v;
}

json::Value json_array(std::vector<json::Value> items) {
  json::Value v;
  v.kind = json::Value::Kind::array;
  v.array = std::move(items);
  return v;
}

Result<std::string> merge_members(std::string_view object_json, std::vector<json::Member> extra) {
  BABYSEA_ASSIGN_OR_RETURN(json::Value v, parse_json(object_json, json::kMaxDocumentBytes));
  if (!v.is_object()) return Status(Code::invalid_request, "native payload is not a JSON object");
  for (auto& m : extra) {
    bool replaced = false;
    for (auto& existing : v.object)
      if (existing.first == m.first) {
        existing.second = std::move(m.second);
        replaced = true;
        break;
      }
    if (!replaced) v.object.push_back(std::move(m));
  }
  return json::to_json(v);
}

bool is_http_url(std::string_view s) {
  auto ci_prefix = [&](std::string_view p) { return s.size() > p.size() && iequals(s.substr(0, p.size()), p); };
  return ci_prefix("https://") || ci_prefix("http://");
}

void collect_url_outputs(const json::Value& value, std::vector<ProviderOutput>& out, int depth) {
  if (depth < 0) return;
  if (value.is_string()) {
    if (is_http_url(value.string)) out.push_back(ProviderOutput{value.string, {}, {}});
    return;
  }
  if (value.is_array()) {
    for (const auto& item : value.array) collect_url_outputs(item, out, depth - 1);
    return;
  }
  if (!value.is_object()) return;
  std::string_view url = string_member(value, "url");
  if (is_http_url(url)) {
    out.push_back(ProviderOutput{std::string(url), {}, std::string(string_member(value, "content_type"))});
    return;
  }
  for (const auto& m : value.object)
    if (m.second.is_object() || m.second.is_array()) collect_url_outputs(m.second, out, depth - 1);
}

// -------------------------------------------------------------------- text

std::string clip(std::string_view text, std::size_t cap) {
  std::string out;
  out.reserve(std::min(text.size(), cap));
  for (unsigned char c : text) {
    if (out.size() >= cap) break;
    out.push_back((c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?');
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = lower_char(c);
  return out;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return lower(haystack).find(lower(needle)) != std::string::npos;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool is_json_content_type(std::string_view content_type) {
  const std::string type = assets::media_type(content_type);
  return type == "application/json" || (type.size() > 5 && type.ends_with("+json"));
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

bool is_path_segment(std::string_view id) {
  if (id.empty() || id.size() > 256 || id == "." || id == "..") return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string_view> callback_header(std::span<const CallbackHeader> headers, std::string_view name,
                                                bool* duplicate) {
  std::optional<std::string_view> found;
  if (duplicate) *duplicate = false;
  for (const auto& h : headers) {
    if (!iequals(h.name, name)) continue;
    if (found) {
      if (duplicate) *duplicate = true;
      continue;
    }
    found = h.value;
  }
  return found;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (sodium_init() < 0) return std::nullopt;
  std::string out(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(),
                        " \t\r\n", &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0)
    return std::nullopt;
  if (end != text.data() + text.size()) return std::nullopt;  // trailing garbage
  out.resize(len);
  return out;
}


}  // namespace babysea::providers
