// The binary codec of the lifecycle aggregate (encode_generation /
// decode_generation): a round trip of a Generation with every field set to a
// distinct non-default value, and refusal (an error, never a crash) of
// unknown versions, every truncation, trailing bytes, out-of-range enums,
// absurd lengths and seeded garbage.
#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <string>

#include "babysea/lifecycle.hpp"

using namespace babysea;

namespace {

Attempt full_attempt(int order) {
  Attempt a;
  a.id = attempt_id_for("gen_full", order);
  a.order = order;
  a.provider = order == 1 ? "replicate" : "fal";
  a.status = order == 1 ? AttemptStatus::timed_out : AttemptStatus::succeeded;
  a.job.job_id = "job-" + std::to_string(order);
  a.job.handle = "https://api.test/jobs/" + std::to_string(order) + "?x=\x01\xff";
  a.created_ms = 1'700'000'000'001 + order;
  a.submitted_ms = 1'700'000'000'101 + order;
  a.started_ms = 1'700'000'000'201 + order;
  a.finished_ms = 1'700'000'000'301 + order;
  a.submits = 3 + order;
  a.submit_in_flight = order == 1;
  a.resubmitted = true;
  a.submit_due_ms = 1'700'000'000'401 + order;
  a.deadline_ms = 1'700'000'000'501 + order;
  a.next_poll_ms = 1'700'000'000'601 + order;
  a.poll_failures = 4 + order;
  a.error = order == 1 ? ErrorKind::unknown : ErrorKind::moderation;
  a.error_code = "SAFETY.INPUT";
  a.error_message = std::string("nul\0inside", 10);
  a.outcome = order == 1 ? AttemptOutcome::cancelled : AttemptOutcome::used;
  a.cancel = order == 1 ? CancelState::unsupported : CancelState::given_up;
  a.cancel_tries = 7 + order;
  a.next_cancel_ms = 1'700'000'000'701 + order;
  a.output_urls = {"https://cdn.test/a.png", "", "https://cdn.test/b.png"};
  a.inline_outputs = 2 + order;
  a.asset_tries = 5 + order;
  a.asset_in_flight = true;
  a.asset_due_ms = 1'700'000'000'801 + order;
  a.predict_ms = 9'000 + order;
  return a;
}

Generation full_generation() {
  Generation g;
  g.id = "gen_full";
  g.account = "acct_ü";
  g.region = "eu";
  g.model = "kling-v2";
  g.type = ModelType::video;
  g.status = GenerationStatus::canceled;
  g.params_json = R"({"prompt":"a \"quoted\" cat","n":2})";
  g.chain = {"replicate", "fal", "bfl"};
  g.hold_id = "hold_42";
  g.held = 123'456'789;
  g.cost_per_output = -5;  // signed values survive
  g.max_outputs = 4;
  g.settled = 999;
  g.credits_refunded = true;
  g.started_emitted = true;
  g.created_ms = 1'700'000'000'000;
  g.started_ms = 1'700'000'000'010;
  g.completed_ms = 1'700'000'000'020;
  g.deadline_ms = std::numeric_limits<std::int64_t>::max();
  g.prediction_id = "pred_1";
  g.provider_used = "fal";
  g.error = "all providers failed";
  g.error_code = "BSE4001";
  g.outputs = {"https://assets.test/1.mp4", "https://assets.test/2.mp4"};
  g.removed = true;
  g.predict_ms = 4'321;
  g.attempts = {full_attempt(1), full_attempt(2)};
  g.audit = {"1 late success of gen_full.1 discarded", "2 ignored running"};
  g.audit_dropped = 17;
  return g;
}

void check_attempt_equal(const Attempt& x, const Attempt& y) {
  CHECK(x.id == y.id);
  CHECK(x.order == y.order);
  CHECK(x.provider == y.provider);
  CHECK(x.status == y.status);
  CHECK(x.job.job_id == y.job.job_id);
  CHECK(x.job.handle == y.job.handle);
  CHECK(x.created_ms == y.created_ms);
  CHECK(x.submitted_ms == y.submitted_ms);
  CHECK(x.started_ms == y.started_ms);
  CHECK(x.finished_ms == y.finished_ms);
  CHECK(x.submits == y.submits);
  CHECK(x.submit_in_flight == y.submit_in_flight);
  CHECK(x.resubmitted == y.resubmitted);
  CHECK(x.submit_due_ms == y.submit_due_ms);
  CHECK(x.deadline_ms == y.deadline_ms);
  CHECK(x.next_poll_ms == y.next_poll_ms);
  CHECK(x.poll_failures == y.poll_failures);
  CHECK(x.error == y.error);
  CHECK(x.error_code == y.error_code);
  CHECK(x.error_message == y.error_message);
  CHECK(x.outcome == y.outcome);
  CHECK(x.cancel == y.cancel);
  CHECK(x.cancel_tries == y.cancel_tries);
  CHECK(x.next_cancel_ms == y.next_cancel_ms);
  CHECK(x.output_urls == y.output_urls);
  CHECK(x.inline_outputs == y.inline_outputs);
  CHECK(x.asset_tries == y.asset_tries);
  CHECK(x.asset_in_flight == y.asset_in_flight);
  CHECK(x.asset_due_ms == y.asset_due_ms);
  CHECK(x.predict_ms == y.predict_ms);
}

void check_generation_equal(const Generation& x, const Generation& y) {
  CHECK(x.id == y.id);
  CHECK(x.account == y.account);
  CHECK(x.region == y.region);
  CHECK(x.model == y.model);
  CHECK(x.type == y.type);
  CHECK(x.status == y.status);
  CHECK(x.params_json == y.params_json);
  CHECK(x.chain == y.chain);
  CHECK(x.hold_id == y.hold_id);
  CHECK(x.held == y.held);
  CHECK(x.cost_per_output == y.cost_per_output);
  CHECK(x.max_outputs == y.max_outputs);
  CHECK(x.settled == y.settled);
  CHECK(x.credits_refunded == y.credits_refunded);
  CHECK(x.started_emitted == y.started_emitted);
  CHECK(x.created_ms == y.created_ms);
  CHECK(x.started_ms == y.started_ms);
  CHECK(x.completed_ms == y.completed_ms);
  CHECK(x.deadline_ms == y.deadline_ms);
  CHECK(x.prediction_id == y.prediction_id);
  CHECK(x.provider_used == y.provider_used);
  CHECK(x.error == y.error);
  CHECK(x.error_code == y.error_code);
  CHECK(x.outputs == y.outputs);
  CHECK(x.removed == y.removed);
  CHECK(x.predict_ms == y.predict_ms);
  CHECK(x.audit == y.audit);
  CHECK(x.audit_dropped == y.audit_dropped);
  REQUIRE(x.attempts.size() == y.attempts.size());
  for (std::size_t i = 0; i < x.attempts.size(); ++i) {
    INFO("attempt " << i);
    check_attempt_equal(x.attempts[i], y.attempts[i]);
  }
}

// Offsets of fields in the encoding, for targeted corruption. Layout (see
// codec.cpp): u8 version, then length-prefixed strings (i64 length) and i64s.
constexpr std::size_t kVersionAt = 0;

}  // namespace

TEST_CASE("codec: round trip of a fully populated generation") {
  const Generation g = full_generation();
  const std::string bytes = encode_generation(g);
  auto back = decode_generation(bytes);
  REQUIRE(back.ok());
  check_generation_equal(*back, g);
  // `version` lives in the storage row, not in the document.
  CHECK(back->version == 0);
  // Deterministic: encoding the decoded value gives the same bytes.
  CHECK(encode_generation(*back) == bytes);
}

TEST_CASE("codec: round trip of a default generation and of every enum value") {
  Generation g;
  auto back = decode_generation(encode_generation(g));
  REQUIRE(back.ok());
  check_generation_equal(*back, g);

  for (int s = 0; s <= static_cast<int>(GenerationStatus::canceled); ++s) {
    g.status = static_cast<GenerationStatus>(s);
    Attempt a;
    a.id = "x.1";
    a.status = static_cast<AttemptStatus>(s + 3);  // succeeded .. discarded
    a.outcome = std::nullopt;
    a.cancel = static_cast<CancelState>(s);
    a.error = static_cast<ErrorKind>(s * 3);
    g.attempts = {a};
    auto r = decode_generation(encode_generation(g));
    REQUIRE(r.ok());
    CHECK(r->status == g.status);
    CHECK(r->attempts.at(0).status == a.status);
    CHECK_FALSE(r->attempts.at(0).outcome.has_value());
    CHECK(r->attempts.at(0).cancel == a.cancel);
    CHECK(r->attempts.at(0).error == a.error);
  }
}

TEST_CASE("codec: the version byte is checked") {
  std::string bytes = encode_generation(full_generation());
  REQUIRE(static_cast<unsigned char>(bytes[kVersionAt]) == 1);
  for (int v : {0, 2, 0x7f, 0xff}) {
    INFO("version " << v);
    bytes[kVersionAt] = static_cast<char>(v);
    auto r = decode_generation(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == Code::corruption);
  }
}

TEST_CASE("codec: every truncation and any trailing byte is an error, not a crash") {
  const std::string bytes = encode_generation(full_generation());
  CHECK(decode_generation("").code() == Code::corruption);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode_generation(std::string_view(bytes).substr(0, n));
    if (r.ok()) FAIL("decoded a truncation of length " << n << " of " << bytes.size());
    CHECK(r.code() == Code::corruption);
  }
  CHECK(decode_generation(bytes + '\0').code() == Code::corruption);
  CHECK(decode_generation(bytes + "trailing").code() == Code::corruption);
}

TEST_CASE("codec: out-of-range enums and absurd lengths are refused") {
  Generation g;
  g.id = "g";
  const std::string base = encode_generation(g);
  // version(1) + id(8+1) + account/region/model (8 each) → type at 34, status at 42.
  const std::size_t type_at = 1 + 9 + 8 + 8 + 8;
  const std::size_t status_at = type_at + 8;
  auto put_i64 = [](std::string& s, std::size_t at, std::int64_t v) {
    for (int i = 0; i < 8; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff);
  };
  REQUIRE(decode_generation(base).ok());
  for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{2}, std::numeric_limits<std::int64_t>::max()}) {
    std::string b = base;
    put_i64(b, type_at, bad);
    CHECK(decode_generation(b).code() == Code::corruption);
  }
  for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{5}, std::numeric_limits<std::int64_t>::min()}) {
    std::string b = base;
    put_i64(b, status_at, bad);
    CHECK(decode_generation(b).code() == Code::corruption);
  }
  // The id's length claims more bytes than there are (and a negative length).
  for (std::int64_t bad : {std::int64_t{1} << 40, std::int64_t{-1}, std::numeric_limits<std::int64_t>::max()}) {
    std::string b = base;
    put_i64(b, 1, bad);
    CHECK(decode_generation(b).code() == Code::corruption);
  }

  // Attempt enums: status, error kind, outcome, cancel state.
  Generation with = full_generation();
  with.attempts.resize(1);
  const std::string ok_bytes = encode_generation(with);
  REQUIRE(decode_generation(ok_bytes).ok());
  auto refused = [&](auto mutate) {
    Generation copy = with;
    mutate(copy.attempts[0]);
    return decode_generation(encode_generation(copy)).code() == Code::corruption;
  };
  CHECK(refused([](Attempt& x) { x.status = static_cast<AttemptStatus>(8); }));
  CHECK(refused([](Attempt& x) { x.status = static_cast<AttemptStatus>(-1); }));
  CHECK(refused([](Attempt& x) { x.error = static_cast<ErrorKind>(14); }));
  CHECK(refused([](Attempt& x) { x.outcome = static_cast<AttemptOutcome>(4); }));
  CHECK(refused([](Attempt& x) { x.cancel = static_cast<CancelState>(5); }));
  CHECK(refused([](Attempt& x) { x.cancel = static_cast<CancelState>(-3); }));
  CHECK_FALSE(refused([](Attempt& x) { x.cancel = CancelState::pending; }));
}

TEST_CASE("codec: seeded garbage and bit flips never crash") {
  const std::string good = encode_generation(full_generation());
  std::mt19937 rng(20240611);
  int decoded = 0;
  for (int i = 0; i < 3'000; ++i) {
    std::string b;
    if (i % 2 == 0) {
      // random bytes, sometimes with a valid version byte
      b.resize(rng() % 600);
      for (auto& c : b) c = static_cast<char>(rng() & 0xff);
      if (!b.empty() && i % 4 == 0) b[0] = 1;
    } else {
      b = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] ^= static_cast<char>(1u << (rng() % 8));
    }
    auto r = decode_generation(b);
    if (r.ok()) {
      ++decoded;
      // Whatever decodes is a stable document: (re-)encoding is a fixed point.
      const std::string again = encode_generation(*r);
      auto r2 = decode_generation(again);
      REQUIRE(r2.ok());
      CHECK(encode_generation(*r2) == again);
      CHECK(again.size() == b.size());
    } else {
      CHECK(r.code() == Code::corruption);
    }
  }
  // Most single bit flips land in payload bytes and still decode; random bytes mostly do not.
  CHECK(decoded > 0);
}
