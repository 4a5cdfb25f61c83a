// Outbound webhooks: signing, envelope, endpoint registration, dispatcher.
#include <sodium.h>

#include <algorithm>
#include <charconv>

#include "babysea/ids.hpp"
#include "babysea/money.hpp"
#include "babysea/webhook_delivery.hpp"
#include "json/json.hpp"
#include "service/text.hpp"

namespace babysea {
namespace {

constexpr std::size_t kMaxSecretBytes = 256;

// For a unit of work whose body itself uses BABYSEA_RETURN_IF_ERROR.
#define BABYSEA_RETURN_IF_UNIT_FAILS(expr)        \
  do {                                            \
    ::babysea::Status unit_status_ = (expr);      \
    if (!unit_status_.ok()) return unit_status_;  \
  } while (0)

void ensure_sodium() {
  static const int once = sodium_init();
  (void)once;
}

std::string hmac_sha256(std::string_view key, std::string_view msg) {
  ensure_sodium();
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

using text::base64;

bool is_terminal_event(std::string_view e) {
  return e == "generation.completed" || e == "generation.failed" || e == "generation.canceled";
}

// The generation id of a generation.* payload (empty when absent).
std::string subject_of(std::string_view event, std::string_view data) {
  if (event.substr(0, 11) != "generation.") return {};
  auto padded = json::pad(data);
  simdjson::ondemand::document doc;
  if (json::thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS) return {};
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return {};
  std::string_view id;
  if (obj.find_field_unordered("generation_id").get_string().get(id) != simdjson::SUCCESS) return {};
  return std::string(id);
}

// The ledger writes credits.low_balance rows in its own shape (micros); the
// public payload is {account_id, current_balance, thresholds_crossed[]}.
std::string render_data(std::string_view event, std::string_view payload) {
  if (payload.empty()) return "{}";
  if (event != "credits.low_balance") return std::string(payload);
  auto padded = json::pad(payload);
  simdjson::ondemand::document doc;
  if (json::thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS) return std::string(payload);
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::string(payload);
  std::string account;
  std::int64_t available = 0;
  std::vector<std::int64_t> crossed;
  bool ledger_shape = false;
  for (auto field : obj) {
    std::string_view k;
    if (field.unescaped_key().get(k) != simdjson::SUCCESS) return std::string(payload);
    if (k == "account_id") {
      std::string_view v;
      if (field.value().get_string().get(v) != simdjson::SUCCESS) return std::string(payload);
      account = v;
    } else if (k == "available_micros") {
      if (field.value().get_int64().get(available) != simdjson::SUCCESS) return std::string(payload);
      ledger_shape = true;
    } else if (k == "thresholds_crossed_micros") {
      simdjson::ondemand::array arr;
      if (field.value().get_array().get(arr) != simdjson::SUCCESS) return std::string(payload);
      for (auto v : arr) {
        std::int64_t t = 0;
        if (v.get_int64().get(t) != simdjson::SUCCESS) return std::string(payload);
        crossed.push_back(t);
      }
    }
  }
  if (!ledger_shape) return std::string(payload);
  json::JsonWriter w;
  w.begin_object().field("account_id", account).key("current_balance").raw(format_credits(available));
  w.key("thresholds_crossed").begin_array();
  for (auto t : crossed) {
    w.begin_object().key("threshold").raw(format_credits(t)).key("balance_at").raw(format_credits(available));
    w.end_object();
  }
  w.end_array().end_object();
  return std::move(w).take();
}

Status invalid(std::string field, std::string code, std::string message) {
  return Status(Code::invalid_request, message, {FieldIssue{std::move(field), std::move(code), message}});
}

Status validate_secret(const std::string& secret, WebhookSigning signing) {
  if (secret.size() < 16 || secret.size() > kMaxSecretBytes)
    return invalid("secret", "invalid_secret", "secret must be 16 to 256 bytes");
  for (unsigned char c : secret)
    if (c < 0x21 || c > 0x7e) return invalid("secret", "invalid_secret", "secret must be printable ASCII");
  if (signing != WebhookSigning::babysea) {
    auto probe = standard_webhooks_signature(secret, "probe", 0, "");
    if (!probe.ok()) return probe.status();
  }
  return {};
}

Result<std::string> encode_events(const std::vector<std::string>& events) {
  std::string out;
  for (const auto& e : events) {
    if (!is_webhook_event(e)) return invalid("events", "unsupported_value", "unknown webhook event '" + e + "'");
    if (!out.empty()) out += ',';
    out += e;
  }
  return out;
}

bool event_selected(const WebhookEndpointRow& ep, std::string_view event) {
  const auto events = endpoint_events(ep);
  return events.empty() || std::find(events.begin(), events.end(), event) != events.end();
}

// Retry-After as delta seconds (HTTP-dates are not honored: a peer's clock
// has no say over ours; they fall back to the schedule).
std::int64_t retry_after_ms(const HttpResponse& r) {
  auto h = r.header("Retry-After");
  if (!h || h->empty() || h->size() > 9) return 0;
  std::int64_t s = 0;
  auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), s);
  if (ec != std::errc() || p != h->data() + h->size() || s < 0) return 0;
  return s * 1000;
}

}  // namespace

std::vector<std::string_view> endpoint_events(const WebhookEndpointRow& endpoint) {
  std::vector<std::string_view> out;
  std::string_view list = endpoint.events;
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (comma != 0) out.push_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

// ------------------------------------------------------------------ signing

bool is_webhook_event(std::string_view event) noexcept {
  return std::find(std::begin(kWebhookEvents), std::end(kWebhookEvents), event) != std::end(kWebhookEvents);
}

std::string babysea_signature_header(std::string_view secret, std::int64_t unix_s, std::string_view body) {
  std::string t = std::to_string(unix_s);
  std::string msg = t + "." + std::string(body);
  std::string mac = hmac_sha256(secret, msg);
  char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  return "t=" + t + ",v1=" + hex;
}

Result<std::string> standard_webhooks_signature(std::string_view secret, std::string_view msg_id,
                                                std::int64_t unix_s, std::string_view body) {
  ensure_sodium();
  if (secret.substr(0, 6) == "whsec_") secret.remove_prefix(6);
  std::string key(secret.size(), '\0');
  std::size_t key_len = 0;
  if (secret.empty() ||
      sodium_base642bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), secret.data(), secret.size(),
                        nullptr, &key_len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      key_len == 0)
    return invalid("secret", "invalid_secret", "a Standard Webhooks secret must be whsec_<base64>");
  key.resize(key_len);
  std::string msg = std::string(msg_id) + "." + std::to_string(unix_s) + "." + std::string(body);
  std::string sig = "v1," + base64(hmac_sha256(key, msg));
  sodium_memzero(key.data(), key.size());
  return sig;
}

std::string webhook_envelope(std::string_view event, std::int64_t event_ms, std::string_view delivery_id,
                             std::string_view data_json) {
  json::JsonWriter w;
  w.begin_object()
      .field("webhook_event", event)
      .field("webhook_timestamp", text::rfc3339_ms(event_ms))
      .field("webhook_delivery_id", delivery_id)
      .key("webhook_data")
      .raw(data_json.empty() ? std::string_view("{}") : data_json)
      .end_object();
  return std::move(w).take();
}

Result<std::vector<HttpHeader>> webhook_headers(const WebhookEndpointRow& ep, std::string_view delivery_id,
                                                std::string_view event, std::int64_t now_s,
                                                std::string_view body) {
  std::vector<HttpHeader> h;
  h.push_back({"Content-Type", "application/json"});
  h.push_back({"User-Agent", "babysea-webhooks/1"});
  h.push_back({"X-BabySea-Event", std::string(event)});
  h.push_back({"X-BabySea-Delivery-Id", std::string(delivery_id)});
  h.push_back({"X-BabySea-Timestamp", std::to_string(now_s)});
  if (ep.signing == WebhookSigning::babysea || ep.signing == WebhookSigning::both)
    h.push_back({"X-BabySea-Signature", babysea_signature_header(ep.secret, now_s, body)});
  if (ep.signing == WebhookSigning::standard_webhooks || ep.signing == WebhookSigning::both) {
    BABYSEA_ASSIGN_OR_RETURN(std::string sig, standard_webhooks_signature(ep.secret, delivery_id, now_s, body));
    if (!ep.previous_secret.empty()) {
      BABYSEA_ASSIGN_OR_RETURN(std::string old,
                               standard_webhooks_signature(ep.previous_secret, delivery_id, now_s, body));
      sig += " " + old;
    }
    h.push_back({"webhook-id", std::string(delivery_id)});
    h.push_back({"webhook-timestamp", std::to_string(now_s)});
    h.push_back({"webhook-signature", std::move(sig)});
  }
  return h;
}

std::string new_webhook_secret() {
  unsigned char raw[32];
  random_bytes(raw, sizeof raw);
  return "whsec_" + base64(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
}

Result<bool> webhook_event_wanted(UnitOfWork& unit, std::string_view account, std::string_view event) {
  std::vector<WebhookEndpointRow> eps;
  BABYSEA_RETURN_IF_ERROR(unit.webhook_endpoints().list_for_account(account, eps));
  return std::any_of(eps.begin(), eps.end(), [&](const WebhookEndpointRow& ep) {
    return ep.enabled && event_selected(ep, event);
  });
}

Result<std::string> enqueue_webhook_event(UnitOfWork& unit, std::string_view account, std::string_view event,
                                          std::string_view data_json, std::int64_t now_ms) {
  if (!is_webhook_event(event)) return invalid("event", "unsupported_value", "unknown webhook event");
  OutboxRow row;
  row.id = new_id(now_ms);
  row.topic = event;
  row.account = account;
  row.payload = data_json;
  row.next_attempt_ms = now_ms;
  row.created_ms = now_ms;
  BABYSEA_RETURN_IF_ERROR(unit.outbox().append(row));
  return row.id;
}

// ---------------------------------------------------------------- endpoints

WebhookEndpoints::WebhookEndpoints(Store& store, const NetGuard& guard, const Clock& clock)
    : store_(store), guard_(guard), clock_(clock) {}

Result<WebhookEndpointRow> WebhookEndpoints::owned(UnitOfWork& u, std::string_view account, std::string_view id) {
  WebhookEndpointRow row;
  Status s = u.webhook_endpoints().get(id, row);
  // Another account's endpoint is reported exactly like a missing one.
  if (s.code() == Code::not_found || (s.ok() && row.account != account))
    return Status(Code::not_found, "webhook endpoint not found");
  if (!s.ok()) return s;
  return row;
}

Result<WebhookEndpointRow> WebhookEndpoints::create(std::string_view account, WebhookEndpointSpec spec) {
  if (account.empty()) return invalid("account", "required", "account is required");
  BABYSEA_ASSIGN_OR_RETURN(std::string events, encode_events(spec.events));
  if (spec.signing != WebhookSigning::babysea && spec.signing != WebhookSigning::standard_webhooks &&
      spec.signing != WebhookSigning::both)
    return invalid("signing", "unsupported_value", "unknown signing mode");
  if (spec.secret.empty()) spec.secret = new_webhook_secret();
  BABYSEA_RETURN_IF_ERROR(validate_secret(spec.secret, spec.signing));
  BABYSEA_ASSIGN_OR_RETURN(GuardedUrl g, guard_.check(spec.url));
  const std::int64_t now = clock_.now_ms();
  WebhookEndpointRow row;
  row.id = new_id(now);
  row.account = account;
  row.url = g.url;
  row.secret = std::move(spec.secret);
  row.signing = spec.signing;
  row.events = std::move(events);
  row.created_ms = now;
  row.updated_ms = now;
  BABYSEA_RETURN_IF_UNIT_FAILS(store_.transact([&](UnitOfWork& u) -> Status {
    // Endpoints belong to existing customer accounts only.
    AccountRow owner;
    Status found = u.ledger().get_account(row.account, owner);
    if (found.code() == Code::not_found || (found.ok() && owner.kind != AccountKind::customer))
      return Status(Code::not_found, "no such account",
                    {FieldIssue{"account", "not_found", "the account does not exist"}});
    BABYSEA_RETURN_IF_ERROR(found);
    return u.webhook_endpoints().insert(row);
  }));
  return row;
}

Result<std::vector<WebhookEndpointRow>> WebhookEndpoints::list(std::string_view account) {
  std::vector<WebhookEndpointRow> out;
  BABYSEA_RETURN_IF_ERROR(
      store_.read([&](UnitOfWork& u) { return u.webhook_endpoints().list_for_account(account, out); }));
  return out;
}

Result<WebhookEndpointRow> WebhookEndpoints::get(std::string_view account, std::string_view id) {
  WebhookEndpointRow out;
  BABYSEA_RETURN_IF_UNIT_FAILS(store_.read([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(out, owned(u, account, id));
    return {};
  }));
  return out;
}

Result<WebhookEndpointRow> WebhookEndpoints::rotate_secret(std::string_view account, std::string_view id,
                                                           std::string new_secret) {
  if (new_secret.empty()) new_secret = new_webhook_secret();
  WebhookEndpointRow out;
  BABYSEA_RETURN_IF_UNIT_FAILS(store_.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(out, owned(u, account, id));
    BABYSEA_RETURN_IF_ERROR(validate_secret(new_secret, out.signing));
    out.previous_secret = out.secret;
    out.secret = new_secret;
    out.updated_ms = clock_.now_ms();
    return u.webhook_endpoints().update(out);
  }));
  return out;
}

Status WebhookEndpoints::finish_rotation(std::string_view account, std::string_view id) {
  return store_.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(WebhookEndpointRow row, owned(u, account, id));
    row.previous_secret.clear();
    row.updated_ms = clock_.now_ms();
    return u.webhook_endpoints().update(row);
  });
}

Status WebhookEndpoints::disable(std::string_view account, std::string_view id) {
  return store_.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(WebhookEndpointRow row, owned(u, account, id));
    row.enabled = false;
    row.disabled_reason = "disabled";
    row.updated_ms = clock_.now_ms();
    return u.webhook_endpoints().update(row);
  });
}

Status WebhookEndpoints::enable(std::string_view account, std::string_view id) {
  BABYSEA_ASSIGN_OR_RETURN(WebhookEndpointRow current, get(account, id));
  BABYSEA_RETURN_IF_ERROR(guard_.check(current.url).status());
  return store_.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(WebhookEndpointRow row, owned(u, account, id));
    row.enabled = true;
    row.disabled_reason.clear();
    row.updated_ms = clock_.now_ms();
    return u.webhook_endpoints().update(row);
  });
}

Result<std::string> WebhookEndpoints::send_test(std::string_view account, std::string_view id) {
  const std::int64_t now = clock_.now_ms();
  WebhookDeliveryRow d;
  d.id = new_id(now);
  d.event_id = "test:" + d.id;
  d.endpoint_id = id;
  d.account = account;
  d.event = "webhook.test";
  d.data = "{}";
  d.event_ms = now;
  d.next_attempt_ms = now;
  d.created_ms = now;
  d.updated_ms = now;
  BABYSEA_RETURN_IF_UNIT_FAILS(store_.transact([&](UnitOfWork& u) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(WebhookEndpointRow row, owned(u, account, id));
    if (!row.enabled) return Status(Code::invalid_state, "webhook endpoint is disabled");
    return u.webhook_deliveries().insert(d);
  }));
  return d.id;
}

// --------------------------------------------------------------- dispatcher

WebhookDispatcher::WebhookDispatcher(Store& store, Transport& transport, const NetGuard& guard, const Clock& clock,
                                     WebhookDispatcherOptions options)
    : store_(store), transport_(transport), guard_(guard), clock_(clock), options_(std::move(options)) {
  if (options_.retry_schedule.empty()) options_.retry_schedule.push_back(std::chrono::milliseconds(0));
  options_.max_concurrency = std::max<std::size_t>(1, options_.max_concurrency);
  options_.max_queue = std::max<std::size_t>(1, options_.max_queue);
}

WebhookDispatcher::~WebhookDispatcher() { stop(); }

Status WebhookDispatcher::fan_out(DispatchStats& stats) {
  const std::int64_t now = clock_.now_ms();
  // A pass with nothing to fan out costs a read, not a unit of work.
  std::vector<OutboxRow> due;
  BABYSEA_RETURN_IF_ERROR(store_.read([&](UnitOfWork& u) { return u.outbox().due(now, 1, due); }));
  if (due.empty()) return Status();
  return store_.transact([&](UnitOfWork& u) -> Status {
    std::vector<OutboxRow> rows;
    BABYSEA_RETURN_IF_ERROR(u.outbox().due(now, options_.fanout_batch, rows));
    std::size_t created = 0;
    for (const auto& r : rows) {
      if (!is_webhook_event(r.topic)) {  // not ours to deliver: parked as failed
        BABYSEA_RETURN_IF_ERROR(u.outbox().update(r.seq, OutboxState::failed, r.attempts, r.next_attempt_ms));
        continue;
      }
      std::vector<WebhookEndpointRow> eps;
      BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().list_for_account(r.account, eps));
      std::string data;
      std::string subject;
      for (const auto& ep : eps) {
        if (!ep.enabled || !event_selected(ep, r.topic)) continue;
        if (data.empty()) {
          data = render_data(r.topic, r.payload);
          subject = subject_of(r.topic, data);
        }
        WebhookDeliveryRow d;
        d.id = new_id(now);
        d.event_id = r.id;
        d.endpoint_id = ep.id;
        d.account = r.account;
        d.event = r.topic;
        d.subject = subject;
        d.data = data;
        d.event_ms = r.created_ms;
        d.next_attempt_ms = now + options_.retry_schedule.front().count();
        d.created_ms = now;
        d.updated_ms = now;
        Status s = u.webhook_deliveries().insert(d);
        if (s.code() == Code::idempotency_conflict) continue;  // already fanned out
        BABYSEA_RETURN_IF_ERROR(s);
        ++created;
      }
      BABYSEA_RETURN_IF_ERROR(u.outbox().update(r.seq, OutboxState::delivered, r.attempts + 1, r.next_attempt_ms));
    }
    stats.fanned_out += created;
    return Status();
  });
}

struct WebhookDispatcher::Outcome {
  enum Kind { delivered, retry, cancel, gone } kind = retry;
  int status = 0;
  std::string error;
  std::int64_t retry_after_ms = 0;
};

void WebhookDispatcher::attempt(const WebhookDeliveryRow& row, DispatchStats& stats, std::mutex& stats_mu) {
  Outcome out;
  WebhookEndpointRow ep;
  Status s = store_.read([&](UnitOfWork& u) -> Status {
    BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().get(row.endpoint_id, ep));
    if (row.event == "generation.started" && !row.subject.empty()) {
      std::vector<WebhookDeliveryRow> same;
      BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().list_for_subject(row.endpoint_id, row.subject, same));
      for (const auto& o : same)
        if (is_terminal_event(o.event) && (o.attempts > 0 || o.state != DeliveryState::pending))
          return Status(Code::invalid_state, "superseded by a terminal event");
    }
    return {};
  });
  bool sent = false;
  if (s.code() == Code::not_found || (s.ok() && !ep.enabled)) {
    out.kind = Outcome::cancel;
    out.error = "endpoint disabled or removed";
  } else if (s.code() == Code::invalid_state) {
    out.kind = Outcome::cancel;
    out.error = "started after a terminal event";
  } else if (!s.ok()) {
    return;  // storage trouble: the row stays due and is retried next pass
  } else {
    sent = true;
    auto g = guard_.check(ep.url);  // re-checked at delivery time, pinned below
    if (!g.ok()) {
      out.error = std::string(code_name(g.code()));
      if (!g.status().issues().empty()) out.error += ": " + g.status().issues().front().code;
    } else {
      const std::int64_t now_s = clock_.now_ms() / 1000;
      std::string body = webhook_envelope(row.event, row.event_ms, row.id, row.data);
      auto headers = webhook_headers(ep, row.id, row.event, now_s, body);
      if (!headers.ok()) {
        out.error = "signing: invalid secret";
      } else {
        HttpRequest req;
        req.method = "POST";
        req.url = g->url;
        req.headers = std::move(headers).value();
        req.body = std::move(body);
        req.connect_timeout = options_.connect_timeout;
        req.headers_timeout = options_.headers_timeout;
        req.total_timeout = options_.total_timeout;
        req.max_response_bytes = options_.max_response_bytes;
        auto r = transport_.send(std::move(req), ConnectTarget{g->address, g->port});  // no redirects
        if (!r.ok()) {
          out.error = std::string(code_name(r.code()));
        } else {
          out.status = r->status;
          if (r->status >= 200 && r->status < 300) {
            out.kind = Outcome::delivered;
          } else if (r->status == 410) {
            out.kind = Outcome::gone;
            out.error = "410 gone: endpoint disabled";
          } else {
            out.error = "HTTP " + std::to_string(r->status);
            out.retry_after_ms = std::min<std::int64_t>(retry_after_ms(*r), options_.max_retry_after.count());
          }
        }
      }
    }
  }
  const std::int64_t now = clock_.now_ms();
  bool gave_up = false;
  Status w = store_.transact([&](UnitOfWork& u) -> Status {
    WebhookDeliveryRow cur;
    BABYSEA_RETURN_IF_ERROR(u.webhook_deliveries().get(row.id, cur));
    if (cur.state != DeliveryState::pending || cur.attempts != row.attempts) return {};  // someone else moved it
    if (sent) ++cur.attempts;
    cur.last_status = out.status;
    cur.last_error = out.error;
    cur.updated_ms = now;
    gave_up = false;
    switch (out.kind) {
      case Outcome::delivered:
        cur.state = DeliveryState::delivered;
        break;
      case Outcome::cancel:
        cur.state = DeliveryState::canceled;
        break;
      case Outcome::gone: {
        cur.state = DeliveryState::failed;
        WebhookEndpointRow e;
        BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().get(row.endpoint_id, e));
        e.enabled = false;
        e.disabled_reason = "gone";
        e.updated_ms = now;
        BABYSEA_RETURN_IF_ERROR(u.webhook_endpoints().update(e));
        break;
      }
      case Outcome::retry: {
        const auto& sched = options_.retry_schedule;
        if (static_cast<std::size_t>(cur.attempts) >= sched.size()) {
          cur.state = DeliveryState::failed;
          gave_up = true;
        } else {
          std::int64_t delay = sched[static_cast<std::size_t>(cur.attempts)].count();
          cur.next_attempt_ms = now + std::max(delay, out.retry_after_ms);
        }
        break;
      }
    }
    return u.webhook_deliveries().update(cur);
  });
  std::lock_guard<std::mutex> lock(stats_mu);
  if (sent) ++stats.attempted;
  if (!w.ok()) return;
  switch (out.kind) {
    case Outcome::delivered: ++stats.delivered; break;
    case Outcome::cancel: ++stats.canceled; break;
    case Outcome::gone: ++stats.gave_up; break;
    case Outcome::retry: gave_up ? ++stats.gave_up : ++stats.retried; break;
  }
}

Result<DispatchStats> WebhookDispatcher::run_once() {
  std::lock_guard<std::mutex> pass(pass_mu_);
  DispatchStats stats;
  BABYSEA_RETURN_IF_ERROR(fan_out(stats));
  std::vector<WebhookDeliveryRow> due;
  const std::int64_t now = clock_.now_ms();
  if (store_.shared()) {
    // Other instances' dispatchers see the same rows: claim what this pass
    // can send before its lease runs out.
    const auto per_worker = std::max<std::int64_t>(1, options_.lease.count() / std::max<std::int64_t>(1, options_.total_timeout.count()));
    const std::size_t limit = std::min<std::size_t>(options_.max_queue, options_.max_concurrency * static_cast<std::size_t>(per_worker));
    BABYSEA_RETURN_IF_ERROR(store_.transact([&](UnitOfWork& u) {
      due.clear();
      return u.webhook_deliveries().claim_due(now, limit, now + options_.lease.count(), due);
    }));
  } else {
    BABYSEA_RETURN_IF_ERROR(
        store_.read([&](UnitOfWork& u) { return u.webhook_deliveries().due(now, options_.max_queue, due); }));
  }
  std::mutex stats_mu;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < due.size(); i = next++) attempt(due[i], stats, stats_mu);
  };
  const std::size_t n = std::min(options_.max_concurrency, due.size());
  std::vector<std::thread> workers;
  for (std::size_t i = 1; i < n; ++i) workers.emplace_back(worker);
  worker();
  for (auto& t : workers) t.join();
  return stats;
}

void WebhookDispatcher::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> guard(mu_);
    while (!stopping_) {
      wake_ = false;
      guard.unlock();
      (void)run_once();  // failures leave rows due; the next pass retries
      guard.lock();
      cv_.wait_for(guard, options_.idle_poll, [&] { return wake_ || stopping_; });
    }
  });
}

void WebhookDispatcher::stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  cv_.notify_all();
  if (t.joinable()) t.join();
}

void WebhookDispatcher::notify() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

}  // namespace babysea
