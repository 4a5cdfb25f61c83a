#include "babysea/stripe.hpp"

#include <sodium.h>

#include <algorithm>

#include "json/json.hpp"

namespace babysea {
namespace {

Status bad_signature(std::string why) { return Status(Code::invalid_signature, "Stripe-Signature: " + why); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void hmac_sha256(std::string_view key, std::string_view t, std::string_view body,
                 unsigned char out[crypto_auth_hmacsha256_BYTES]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(t.data()), t.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>("."), 1);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

Status verify_stripe_signature(std::string_view header, std::string_view body,
                               const std::vector<std::string>& secrets, std::int64_t now_s,
                               std::int64_t tolerance_s, std::size_t max_body_bytes) {
  if (body.size() > max_body_bytes)
    return Status(Code::payload_too_large, "webhook body exceeds " + std::to_string(max_body_bytes) + " bytes");
  if (header.size() > 8192) return bad_signature("header too long");
  if (secrets.empty()) return bad_signature("no endpoint secret configured");
  if (sodium_init() < 0) return Status(Code::internal, "libsodium failed to initialise");

  std::string_view t_text;
  std::vector<std::array<unsigned char, crypto_auth_hmacsha256_BYTES>> v1;
  std::string_view rest = header;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = item.substr(0, eq), v = item.substr(eq + 1);
    if (k == "t") {
      if (!t_text.empty()) return bad_signature("more than one timestamp");
      t_text = v;
    } else if (k == "v1") {
      std::array<unsigned char, crypto_auth_hmacsha256_BYTES> sig{};
      std::size_t len = 0;
      if (v.size() != 2 * sig.size() ||
          sodium_hex2bin(sig.data(), sig.size(), v.data(), v.size(), nullptr, &len, nullptr) != 0 ||
          len != sig.size())
        continue;  // malformed v1 entries cannot match; others may
      if (v1.size() < 16) v1.push_back(sig);
    }  // other schemes (v0, ...) are ignored
  }
  if (t_text.empty()) return bad_signature("no timestamp");
  if (t_text.size() > 12 || !std::all_of(t_text.begin(), t_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad_signature("timestamp is not a unix time");
  std::int64_t t = 0;
  for (char c : t_text) t = t * 10 + (c - '0');
  if (v1.empty()) return bad_signature("no v1 signature");
  if (t < now_s - tolerance_s) return bad_signature("timestamp is too old");
  if (t > now_s + tolerance_s) return bad_signature("timestamp is in the future");

  bool match = false;
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  for (const auto& secret : secrets) {
    hmac_sha256(secret, t_text, body, expected);
    for (const auto& sig : v1) {
      // Constant-time; keep looping so timing does not reveal which matched.
      match |= sodium_memcmp(expected, sig.data(), sizeof expected) == 0;
    }
  }
  sodium_memzero(expected, sizeof expected);
  if (!match) return bad_signature("no signature matches");
  return {};
}

std::string stripe_signature_header(std::string_view secret, std::int64_t timestamp_s, std::string_view body) {
  if (sodium_init() < 0) return {};
  std::string t = std::to_string(timestamp_s);
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  hmac_sha256(secret, t, body, mac);
  char hex[2 * crypto_auth_hmacsha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
  return "t=" + t + ",v1=" + hex;
}

// ------------------------------------------------------------ event parsing

namespace {

namespace od = simdjson::ondemand;

// The fields of data.object babysea may need, across the event types it
// handles (Stripe puts "type" after "data", so everything is read in one pass).
struct StripeObject {
  std::string id;
  std::string mode;
  std::string payment_status;
  std::string payment_intent;
  std::string client_reference_id;
  std::string charge;
  std::string invoice;
  std::int64_t amount_total = -1;
  std::int64_t amount_paid = -1;
  std::int64_t amount = -1;
  std::int64_t amount_refunded = -1;
  std::string meta_account_id;
  std::string meta_price_id;
  std::string meta_credits;
  bool has_meta_credits = false;
  std::string subscription_account_id;
  std::string line_price_id;
};

struct StripeEvent {
  std::string id;
  std::string type;
  StripeObject object;
};

using simdjson::SUCCESS;

// A string, null (left empty), or an expanded object whose "id" is taken.
simdjson::error_code read_id_like(od::value v, std::string& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type == od::json_type::null) return SUCCESS;
  if (type == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return e;
    out = std::string(s);
    return SUCCESS;
  }
  if (type == od::json_type::object) {
    od::object obj;
    if (auto e = v.get_object().get(obj)) return e;
    for (auto field : obj) {
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      if (key == "id") {
        if (auto e = read_id_like(field.value(), out)) return e;
      }
    }
    return SUCCESS;
  }
  return simdjson::INCORRECT_TYPE;
}

simdjson::error_code read_int_or_null(od::value v, std::int64_t& out) {
  bool is_null = false;
  if (auto e = v.is_null().get(is_null)) return e;
  if (is_null) return SUCCESS;
  return v.get_int64().get(out);
}

simdjson::error_code read_metadata(od::value v, std::string* account_id, std::string* price_id,
                                   std::string* credits, bool* has_credits) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type == od::json_type::null) return SUCCESS;
  od::object obj;
  if (auto e = v.get_object().get(obj)) return e;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    std::string* target = nullptr;
    if (key == "account_id") target = account_id;
    else if (key == "price_id") target = price_id;
    else if (key == "credits") target = credits;
    if (!target) continue;
    std::string_view s;
    if (auto e = field.value().get_string().get(s)) return e;
    *target = std::string(s);
    if (target == credits && has_credits) *has_credits = true;
  }
  return SUCCESS;
}

// {"metadata": {...}} nested in subscription_details (and parent.subscription_details).
simdjson::error_code read_subscription_details(od::value v, std::string& account_id) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::object) return SUCCESS;
  od::object obj;
  if (auto e = v.get_object().get(obj)) return e;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (key == "metadata") {
      if (auto e = read_metadata(field.value(), &account_id, nullptr, nullptr, nullptr)) return e;
    } else if (key == "subscription_details") {
      if (auto e = read_subscription_details(field.value(), account_id)) return e;
    }
  }
  return SUCCESS;
}

// lines.data[0].price.id, or lines.data[0].pricing.price_details.price.
simdjson::error_code read_first_line_price(od::value v, std::string& price_id) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::object) return SUCCESS;
  od::object lines;
  if (auto e = v.get_object().get(lines)) return e;
  for (auto field : lines) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (key != "data") continue;
    od::array data;
    if (auto e = field.value().get_array().get(data)) return e;
    for (auto item : data) {
      od::object line;
      if (auto e = item.get_object().get(line)) return e;
      for (auto lf : line) {
        std::string_view lk;
        if (auto e = lf.unescaped_key().get(lk)) return e;
        if (lk == "price" && price_id.empty()) {
          if (auto e = read_id_like(lf.value(), price_id)) return e;
        } else if (lk == "pricing" && price_id.empty()) {
          od::object pricing;
          if (lf.value().get_object().get(pricing) != SUCCESS) continue;
          for (auto pf : pricing) {
            std::string_view pk;
            if (auto e = pf.unescaped_key().get(pk)) return e;
            if (pk != "price_details") continue;
            od::object details;
            if (pf.value().get_object().get(details) != SUCCESS) continue;
            for (auto df : details) {
              std::string_view dk;
              if (auto e = df.unescaped_key().get(dk)) return e;
              if (dk == "price") {
                if (auto e = read_id_like(df.value(), price_id)) return e;
              }
            }
          }
        }
      }
      break;  // the first line decides
    }
  }
  return SUCCESS;
}

simdjson::error_code read_object(od::value v, StripeObject& o) {
  od::object obj;
  if (auto e = v.get_object().get(obj)) return e;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    od::value val = field.value();
    simdjson::error_code e = SUCCESS;
    if (key == "id") e = read_id_like(val, o.id);
    else if (key == "mode") e = read_id_like(val, o.mode);
    else if (key == "payment_status") e = read_id_like(val, o.payment_status);
    else if (key == "payment_intent") e = read_id_like(val, o.payment_intent);
    else if (key == "client_reference_id") e = read_id_like(val, o.client_reference_id);
    else if (key == "charge") e = read_id_like(val, o.charge);
    else if (key == "invoice") e = read_id_like(val, o.invoice);
    else if (key == "amount_total") e = read_int_or_null(val, o.amount_total);
    else if (key == "amount_paid") e = read_int_or_null(val, o.amount_paid);
    else if (key == "amount") e = read_int_or_null(val, o.amount);
    else if (key == "amount_refunded") e = read_int_or_null(val, o.amount_refunded);
    else if (key == "metadata")
      e = read_metadata(val, &o.meta_account_id, &o.meta_price_id, &o.meta_credits, &o.has_meta_credits);
    else if (key == "subscription_details" || key == "parent")
      e = read_subscription_details(val, o.subscription_account_id);
    else if (key == "lines") e = read_first_line_price(val, o.line_price_id);
    if (e) return e;
  }
  return SUCCESS;
}

Result<StripeEvent> parse_event(std::string_view body) {
  auto padded = json::pad(body);
  od::document doc;
  auto fail = [](const char* what) { return Status(Code::invalid_request, std::string("Stripe event: ") + what); };
  if (json::thread_parser().iterate(padded).get(doc) != SUCCESS) return fail("not JSON");
  StripeEvent ev;
  od::object top;
  if (doc.get_object().get(top) != SUCCESS) return fail("not a JSON object");
  bool have_object = false;
  for (auto field : top) {
    std::string_view key;
    if (field.unescaped_key().get(key) != SUCCESS) return fail("bad key");
    if (key == "id" || key == "type") {
      std::string_view s;
      if (field.value().get_string().get(s) != SUCCESS) return fail("id/type is not a string");
      (key == "id" ? ev.id : ev.type) = std::string(s);
    } else if (key == "data") {
      od::object data;
      if (field.value().get_object().get(data) != SUCCESS) return fail("data is not an object");
      for (auto df : data) {
        std::string_view dk;
        if (df.unescaped_key().get(dk) != SUCCESS) return fail("bad key");
        if (dk == "object") {
          if (read_object(df.value(), ev.object) != SUCCESS) return fail("data.object is malformed");
          have_object = true;
        }
      }
    }
  }
  if (ev.id.empty() || ev.type.empty() || !have_object) return fail("missing id, type or data.object");
  return ev;
}

const StripePrice* find_price(const std::vector<StripePrice>& prices, std::string_view id) {
  for (const auto& p : prices)
    if (p.price_id == id) return &p;
  return nullptr;
}

}  // namespace

// --------------------------------------------------------------- handling

StripeWebhooks::StripeWebhooks(Ledger& ledger, Store& store, const Clock& clock, StripeOptions options)
    : ledger_(ledger), store_(store), clock_(clock), options_(std::move(options)) {}

Result<StripeOutcome> StripeWebhooks::handle(std::string_view header, std::string_view body) {
  BABYSEA_RETURN_IF_ERROR(verify_stripe_signature(header, body, options_.endpoint_secrets,
                                                  clock_.now_ms() / 1000, options_.tolerance_s,
                                                  options_.max_body_bytes));
  BABYSEA_ASSIGN_OR_RETURN(StripeEvent ev, parse_event(body));
  const StripeObject& o = ev.object;
  StripeOutcome out;
  out.event_id = ev.id;
  out.type = ev.type;
  auto refuse = [&](std::string why) { return Status(Code::invalid_request, ev.type + " " + o.id + ": " + why); };

  Status s = store_.transact([&](UnitOfWork& uow) -> Status {
    BABYSEA_ASSIGN_OR_RETURN(bool fresh, uow.seen().insert_if_absent("stripe", ev.id, clock_.now_ms()));
    if (!fresh) {
      out.effect = StripeEffect::duplicate;
      out.detail = "event already processed";
      return {};
    }

    auto grant_for = [&](const StripePrice& price, std::string_view account, std::string key,
                         std::int64_t paid_cents) -> Status {
      if (o.has_meta_credits) {
        auto meta = parse_credits(o.meta_credits);
        if (!meta.ok() || *meta != price.credits)
          return refuse("metadata.credits disagrees with the configured credits of " + price.price_id);
      }
      if (price.amount_cents >= 0 && paid_cents != price.amount_cents)
        return refuse("paid " + std::to_string(paid_cents) + " but " + price.price_id + " costs " +
                      std::to_string(price.amount_cents));
      BABYSEA_ASSIGN_OR_RETURN(GrantResult g, ledger_.grant(uow, account, price.credits, key, "stripe:" + o.id));
      out.account = std::string(account);
      if (g.replayed) {
        out.detail = "already granted under " + key;
        return {};
      }
      PaymentRow p;
      p.id = o.payment_intent.empty() ? o.id : o.payment_intent;
      p.account = std::string(account);
      p.credits = price.credits;
      p.amount_cents = std::max<std::int64_t>(paid_cents, 0);
      p.created_ms = clock_.now_ms();
      BABYSEA_RETURN_IF_ERROR(uow.ledger().insert_payment(p));
      out.effect = StripeEffect::granted;
      out.amount = price.credits;
      return {};
    };

    auto claw = [&](PaymentRow& p, Micros delta, std::string ref) -> Status {
      if (delta <= 0) {
        out.detail = "nothing left to claw back";
        return {};
      }
      BABYSEA_ASSIGN_OR_RETURN(ClawbackResult c, ledger_.clawback(uow, p.account, delta, "stripe:" + ev.id, ref));
      BABYSEA_RETURN_IF_ERROR(uow.ledger().add_payment_clawed_back(p.id, delta));
      out.effect = StripeEffect::clawed_back;
      out.account = p.account;
      out.amount = c.clawback.applied;
      out.shortfall = c.clawback.shortfall;
      return {};
    };

    auto find_payment = [&](PaymentRow& p) -> Status {
      Status f = Status(Code::not_found, "no payment");
      if (!o.payment_intent.empty()) f = uow.ledger().get_payment(o.payment_intent, p);
      if (f.code() == Code::not_found && !o.invoice.empty()) f = uow.ledger().get_payment(o.invoice, p);
      return f;
    };

    if (ev.type == "checkout.session.completed" || ev.type == "checkout.session.async_payment_succeeded") {
      if (o.payment_status != "paid") {
        out.detail = "payment_status is '" + o.payment_status + "': waiting for payment";
        return {};
      }
      if (o.mode != "payment") {
        out.detail = "mode '" + o.mode + "' grants through invoice.paid";
        return {};
      }
      std::string account = o.client_reference_id.empty() ? o.meta_account_id : o.client_reference_id;
      if (!o.client_reference_id.empty() && !o.meta_account_id.empty() && o.client_reference_id != o.meta_account_id)
        return refuse("client_reference_id and metadata.account_id disagree");
      if (account.empty()) return refuse("no account (client_reference_id or metadata.account_id)");
      const StripePrice* price = find_price(options_.packs, o.meta_price_id);
      if (!price) return refuse("price '" + o.meta_price_id + "' is not a configured credit pack");
      return grant_for(*price, account, "order:" + o.id, o.amount_total);
    }
    if (ev.type == "invoice.paid") {
      std::string account = !o.meta_account_id.empty() ? o.meta_account_id : o.subscription_account_id;
      if (!o.meta_account_id.empty() && !o.subscription_account_id.empty() &&
          o.meta_account_id != o.subscription_account_id)
        return refuse("invoice and subscription metadata.account_id disagree");
      if (account.empty()) return refuse("no account (metadata.account_id)");
      std::string price_id = o.line_price_id.empty() ? o.meta_price_id : o.line_price_id;
      const StripePrice* price = find_price(options_.plans, price_id);
      if (!price) return refuse("price '" + price_id + "' is not a configured plan");
      return grant_for(*price, account, "invoice:" + o.id, o.amount_paid);
    }
    if (ev.type == "charge.refunded") {
      PaymentRow p;
      Status f = find_payment(p);
      if (f.code() == Code::not_found) {
        out.detail = "charge is not for credits babysea granted";
        return {};
      }
      BABYSEA_RETURN_IF_ERROR(f);
      const std::int64_t base = o.amount > 0 ? o.amount : p.amount_cents;
      if (base <= 0 || o.amount_refunded <= 0) {
        out.detail = "no refunded amount";
        return {};
      }
      BABYSEA_ASSIGN_OR_RETURN(Micros target, checked_mul_div(p.credits, std::min(o.amount_refunded, base), base));
      return claw(p, std::min(target, p.credits) - p.clawed_back, "stripe:charge:" + o.id);
    }
    if (ev.type == "charge.dispute.created") {
      PaymentRow p;
      Status f = find_payment(p);
      if (f.code() == Code::not_found) {
        out.detail = "disputed charge is not for credits babysea granted";
        return {};
      }
      BABYSEA_RETURN_IF_ERROR(f);
      if (p.amount_cents <= 0 || o.amount <= 0) {
        out.detail = "no disputed amount";
        return {};
      }
      BABYSEA_ASSIGN_OR_RETURN(Micros share, checked_mul_div(p.credits, std::min(o.amount, p.amount_cents), p.amount_cents));
      return claw(p, std::min(share, p.credits - p.clawed_back), "stripe:dispute:" + o.id);
    }
    out.detail = "event type not handled";
    return {};
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace babysea
