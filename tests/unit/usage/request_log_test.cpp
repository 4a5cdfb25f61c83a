// The usage log's batched writer: batches, a bounded queue that drops rather
// than blocks, retention on an injected clock, flush on destruction, escaping.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "babysea/request_log.hpp"
#include "support/stores.hpp"

using namespace babysea;

namespace {

constexpr std::int64_t kDay = 86'400'000;

RequestLogRow row(std::int64_t t, std::string account = "acct_a", std::string route = "/v1/usage", int status = 200) {
  return RequestLogRow{t, std::move(account), "key1", "GET", std::move(route), status, "", 250};
}

// A unit whose request log records the batches it is given, and can hold the
// first append until released or refuse every append.
class SpyUnit final : public babysea::testing::ForwardingUnit, RequestLogTable {
 public:
  struct Control {
    std::mutex mu;
    std::vector<std::size_t> batches;
    bool fail = false;
    bool hold_first = false;
    std::promise<void> entered;  // set when the held append starts
    std::shared_future<void> release;
  };
  SpyUnit(UnitOfWork& inner, Control& c) : ForwardingUnit(inner), c_(c) {}
  RequestLogTable& request_log() override { return *this; }

  Status append(const std::vector<RequestLogRow>& rows) override {
    bool hold = false;
    {
      std::lock_guard lock(c_.mu);
      c_.batches.push_back(rows.size());
      if (c_.fail) return Status(Code::storage_error, "disk full");
      hold = std::exchange(c_.hold_first, false);
    }
    if (hold) {
      c_.entered.set_value();
      c_.release.wait();
    }
    return inner_.request_log().append(rows);
  }
  Result<std::size_t> prune(std::int64_t before_ms) override { return inner_.request_log().prune(before_ms); }
  Status summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) override {
    return inner_.request_log().summarize(account, since_ms, out);
  }
  Status list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                          std::vector<RequestLogRow>& out) override {
    return inner_.request_log().list_for_account(account, since_ms, limit, out);
  }

 private:
  Control& c_;
};

class SpyStore final : public Store {
 public:
  std::string_view name() const override { return "spy"; }
  Status transact(Work work) override {
    return inner_->transact([&](UnitOfWork& u) {
      SpyUnit spy(u, control);
      return work(spy);
    });
  }
  Status read(Work work) override { return inner_->read(work); }

  std::int64_t rows(std::string_view account = "acct_a") {
    std::vector<RouteRequestCounts> out;
    REQUIRE(inner_->read([&](UnitOfWork& u) { return u.request_log().summarize(account, 0, out); }).ok());
    std::int64_t n = 0;
    for (const auto& r : out) n += r.total;
    return n;
  }
  std::vector<std::size_t> batches() {
    std::lock_guard lock(control.mu);
    return control.batches;
  }
  SpyUnit::Control control;

 private:
  std::unique_ptr<Store> inner_ = open_memory_store();
};

RequestLogOptions quiet() {
  RequestLogOptions o;
  o.flush_interval = std::chrono::hours(1);  // only flush(), a full batch or closing write
  return o;
}

}  // namespace

TEST_CASE("request log: rows are written in batches of at most max_batch, one unit each") {
  SpyStore store;
  ManualClock clock;
  RequestLogOptions o = quiet();
  o.max_batch = 3;
  RequestLog log(store, clock, o);
  for (int i = 0; i < 7; ++i) CHECK(log.record(row(clock.now_ms() + i)));
  REQUIRE(log.flush().ok());
  CHECK(store.rows() == 7);
  std::size_t total = 0;
  for (std::size_t b : store.batches()) {
    CHECK(b >= 1);
    CHECK(b <= 3);
    total += b;
  }
  CHECK(total == 7);
  CHECK(store.batches().size() >= 3);
  const RequestLogCounters c = log.counters();
  CHECK(c.written == 7);
  CHECK(c.dropped == 0);
  CHECK(c.failed == 0);
  CHECK(c.queued == 0);
  // Nothing recorded since: a flush writes nothing.
  REQUIRE(log.flush().ok());
  CHECK(log.counters().written == 7);
}

TEST_CASE("request log: the interval alone writes what is queued") {
  SpyStore store;
  ManualClock clock;
  RequestLogOptions o;
  o.flush_interval = std::chrono::milliseconds(5);
  RequestLog log(store, clock, o);
  REQUIRE(log.record(row(clock.now_ms())));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log.counters().written == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(log.counters().written == 1);
}

TEST_CASE("request log: a full queue drops and counts rows instead of blocking the caller") {
  SpyStore store;
  ManualClock clock;
  std::promise<void> release;
  store.control.hold_first = true;
  store.control.release = release.get_future().share();
  std::future<void> entered = store.control.entered.get_future();
  RequestLogOptions o = quiet();
  o.max_batch = 1;  // the first row wakes the writer, which then hangs in the store
  o.max_queue = 4;
  RequestLog log(store, clock, o);
  const std::int64_t now = clock.now_ms();
  REQUIRE(log.record(row(now)));
  REQUIRE(entered.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  // The writer is stuck inside a unit of work: record() still answers at once.
  for (int i = 0; i < 4; ++i) CHECK(log.record(row(now + 1 + i)));
  CHECK_FALSE(log.record(row(now + 10)));
  CHECK_FALSE(log.record(row(now + 11)));
  RequestLogCounters c = log.counters();
  CHECK(c.dropped == 2);
  CHECK(c.queued == 4);
  CHECK(c.written == 0);
  release.set_value();
  REQUIRE(log.flush().ok());
  c = log.counters();
  CHECK(c.written == 5);
  CHECK(c.dropped == 2);
  CHECK(store.rows() == 5);
  CHECK(log.metrics_text().find("babysea_request_log_dropped_total{reason=\"queue_full\"} 2\n") != std::string::npos);
  CHECK(log.metrics_text().find("babysea_request_log_written_total 5\n") != std::string::npos);
}

TEST_CASE("request log: a batch the store refuses is counted as failed and flush reports it") {
  SpyStore store;
  ManualClock clock;
  store.control.fail = true;
  RequestLog log(store, clock, quiet());
  REQUIRE(log.record(row(clock.now_ms())));
  REQUIRE(log.record(row(clock.now_ms())));
  CHECK(log.flush().code() == Code::storage_error);
  CHECK(log.counters().failed == 2);
  CHECK(log.counters().written == 0);
  CHECK(log.metrics_text().find("babysea_request_log_dropped_total{reason=\"write_failed\"} 2\n") != std::string::npos);
  {
    std::lock_guard lock(store.control.mu);
    store.control.fail = false;
  }
  REQUIRE(log.record(row(clock.now_ms())));
  CHECK(log.flush().ok());
  CHECK(store.rows() == 1);
}

TEST_CASE("request log: rows past the retention are pruned on the injected clock's schedule") {
  SpyStore store;
  ManualClock clock(100 * kDay);
  RequestLogOptions o = quiet();
  o.retention = std::chrono::milliseconds(30 * kDay);
  o.prune_interval = std::chrono::hours(1);
  RequestLog log(store, clock, o);
  REQUIRE(log.record(row(clock.now_ms() - 31 * kDay)));  // already past the retention
  REQUIRE(log.record(row(clock.now_ms() - 29 * kDay)));
  REQUIRE(log.record(row(clock.now_ms())));
  REQUIRE(log.flush().ok());  // the first pass prunes
  CHECK(log.counters().pruned == 1);
  CHECK(store.rows() == 2);
  clock.advance(std::chrono::minutes(59));  // 29 days + 59 minutes old: kept, and no prune is due
  REQUIRE(log.flush().ok());
  CHECK(log.counters().pruned == 1);
  clock.advance(std::chrono::days(1));  // 30 days 59 minutes old, and a prune is due
  REQUIRE(log.flush().ok());
  CHECK(log.counters().pruned == 2);
  CHECK(store.rows() == 1);
  clock.advance(std::chrono::days(30));
  REQUIRE(log.flush().ok());
  CHECK(log.counters().pruned == 3);
  CHECK(store.rows() == 0);
}

TEST_CASE("request log: destruction writes every queued row") {
  SpyStore store;
  ManualClock clock;
  {
    RequestLogOptions o = quiet();
    o.max_batch = 4;
    RequestLog log(store, clock, o);
    for (int i = 0; i < 10; ++i) REQUIRE(log.record(row(clock.now_ms(), i % 2 ? "acct_a" : "acct_b")));
  }
  CHECK(store.rows("acct_a") == 5);
  CHECK(store.rows("acct_b") == 5);
}

TEST_CASE("request log: text fields are escaped before they are stored") {
  CHECK(escape_log_field("acct_a") == "acct_a");
  CHECK(escape_log_field("a\x1b[31mred\n") == "a\\x1B[31mred\\x0A");
  CHECK(escape_log_field("tab\tdel\x7f") == "tab\\x09del\\x7F");
  CHECK(escape_log_field("back\\slash") == "back\\\\slash");
  CHECK(escape_log_field("caf\xC3\xA9 \xE6\x97\xA5") == "caf\xC3\xA9 \xE6\x97\xA5");        // é and 日 pass
  CHECK(escape_log_field("x\xE2\x80\xAEy") == "x\\u{202E}y");                              // RIGHT-TO-LEFT OVERRIDE
  CHECK(escape_log_field("\xE2\x81\xA6\xE2\x80\x8F\xD8\x9C") == "\\u{2066}\\u{200F}\\u{061C}");  // isolates, RLM, ALM
  CHECK(escape_log_field("\xC2\x9B" "31m") == "\\u{009B}31m");                              // C1 CSI
  CHECK(escape_log_field("\xFF\xC3") == "\\xFF\\xC3");                                      // invalid, truncated
  CHECK(escape_log_field("\xED\xA0\x80") == "\\xED\\xA0\\x80");                              // a surrogate
  CHECK(escape_log_field("\xC0\xAF") == "\\xC0\\xAF");                                      // overlong '/'
  CHECK(escape_log_field(std::string("nul\0x", 5)) == "nul\\x00x");

  SpyStore store;
  ManualClock clock;
  {
    RequestLog log(store, clock, quiet());
    RequestLogRow r = row(clock.now_ms(), "acct_\x1b[2J", "/v1/\xE2\x80\xAE");
    r.key_id = "k\r\n";
    REQUIRE(log.record(r));
  }
  std::vector<RouteRequestCounts> out;
  REQUIRE(store.read([&](UnitOfWork& u) { return u.request_log().summarize("acct_\\x1B[2J", 0, out); }).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].route == "/v1/\\u{202E}");
  std::vector<RequestLogRow> rows;
  REQUIRE(store.read([&](UnitOfWork& u) {
    return u.request_log().list_for_account("acct_\\x1B[2J", 0, 10, rows);
  }).ok());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key_id == "k\\x0D\\x0A");
  CHECK(rows[0].method == "GET");
}
