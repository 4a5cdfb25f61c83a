// babysea/stripe.hpp — Stripe top-ups into the ledger.
//
// `verify_stripe_signature` checks a `Stripe-Signature: t=<unix>,v1=<hex>...`
// header: HMAC-SHA256 over "<t>.<raw body>" keyed with the endpoint secret
// text as is (the whole "whsec_..." string), any v1 may match, other schemes
// (v0) are ignored, |now - t| <= tolerance, bodies over the cap are refused
// before any hashing. Comparison is constant-time (libsodium).
//
// `StripeWebhooks::handle` verifies, then applies the event exactly once
// (specs/ledger.md §4) in one unit of work together with the record that the
// event id was processed: a refused event writes nothing, a duplicate is a
// successful no-op. Credits come from configuration (price id -> credits),
// never from event metadata alone.
//
// Codes: invalid_signature, payload_too_large, invalid_request (malformed
// event, unknown price, metadata disagreeing with configuration, amount
// mismatch), not_found (account unknown to the ledger), plus ledger/store codes.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/clock.hpp"
#include "babysea/ledger.hpp"
#include "babysea/money.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

inline constexpr std::size_t kStripeMaxBodyBytes = 1u << 20;

Status verify_stripe_signature(std::string_view signature_header, std::string_view raw_body,
                               const std::vector<std::string>& endpoint_secrets, std::int64_t now_s,
                               std::int64_t tolerance_s = 300,
                               std::size_t max_body_bytes = kStripeMaxBodyBytes);

// Builds a valid Stripe-Signature header ("t=<t>,v1=<hex>") for `raw_body`:
// for tests, demos, and hosts that forward events internally.
std::string stripe_signature_header(std::string_view endpoint_secret, std::int64_t timestamp_s,
                                    std::string_view raw_body);

// A Stripe price and the credits it buys.
struct StripePrice {
  std::string price_id;
  Micros credits = 0;
  // What Stripe must have charged for it, in the smallest currency unit;
  // -1 skips the check.
  std::int64_t amount_cents = -1;
};

struct StripeOptions {
  std::vector<std::string> endpoint_secrets;  // current and, during rotation, previous
  std::int64_t tolerance_s = 300;
  std::size_t max_body_bytes = kStripeMaxBodyBytes;
  std::vector<StripePrice> packs;  // one-time Checkout prices
  std::vector<StripePrice> plans;  // subscription prices (invoice.paid)
};

enum class StripeEffect { granted, clawed_back, no_effect, duplicate };

struct StripeOutcome {
  std::string event_id;
  std::string type;
  StripeEffect effect = StripeEffect::no_effect;
  std::string account;   // when the event touched an account
  Micros amount = 0;     // granted, or clawed back (applied)
  Micros shortfall = 0;  // clawback the balance could not cover
  std::string detail;    // why nothing happened, for logs
};

class StripeWebhooks {
 public:
  // Borrows all three; they must outlive this object.
  StripeWebhooks(Ledger& ledger, Store& store, const Clock& clock, StripeOptions options);

  // Verifies and applies one webhook delivery.
  Result<StripeOutcome> handle(std::string_view signature_header, std::string_view raw_body);

 private:
  Ledger& ledger_;
  Store& store_;
  const Clock& clock_;
  StripeOptions options_;
};

}  // namespace babysea
