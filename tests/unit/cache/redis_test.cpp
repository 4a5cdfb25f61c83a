// The Redis client (src/cache/redis_client.hpp) and the shared rate limiter
// (src/cache/shared_rate_limit.hpp) against a real Redis.
//
// Needs BABYSEA_TEST_REDIS and BABYSEA_TEST_REDIS_CTL: ctest runs it through
// scripts/with_redis.sh (label "redis"). Without them the server tests fail
// rather than skip.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "babysea/auth.hpp"
#include "babysea/clock.hpp"
#include "cache/redis_client.hpp"
#include "cache/shared_rate_limit.hpp"

using namespace babysea;
using namespace babysea::cache;
using namespace std::chrono_literals;

namespace {

std::string test_url() {
  const char* url = std::getenv("BABYSEA_TEST_REDIS");
  INFO("BABYSEA_TEST_REDIS is not set: run through scripts/with_redis.sh");
  REQUIRE(url != nullptr);
  return url;
}

void redis_ctl(const std::string& what) {
  const char* ctl = std::getenv("BABYSEA_TEST_REDIS_CTL");
  REQUIRE(ctl != nullptr);
  const std::string cmd = std::string("\"") + ctl + "\" " + what;
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::unique_ptr<RedisClient> client(std::string url = "", RedisOptions o = {}) {
  auto c = RedisClient::create(url.empty() ? test_url() : url, o);
  REQUIRE(c.ok());
  return std::move(c).value();
}

Principal who(std::string account, std::string key) { return Principal{std::move(account), std::move(key), kFullAccess, "us"}; }

// A fresh key prefix per test (one server serves the whole binary).
std::string prefix(std::string_view test) {
  static std::atomic<int> n{0};
  return "test:" + std::string(test) + ":" + std::to_string(n++) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ":";
}

}  // namespace

TEST_CASE("redis url: accepted forms") {
  auto a = parse_redis_url("redis://localhost");
  REQUIRE(a.ok());
  CHECK(a.value().transport == RedisConfig::Transport::tcp);
  CHECK(a.value().host == "localhost");
  CHECK(a.value().port == 6379);
  CHECK(a.value().db == 0);
  CHECK(a.value().password.empty());
  CHECK_FALSE(a.value().tls);

  auto b = parse_redis_url("REDIS://:s3cret@cache.example:6380/2");
  REQUIRE(b.ok());
  CHECK(b.value().host == "cache.example");
  CHECK(b.value().port == 6380);
  CHECK(b.value().db == 2);
  CHECK(b.value().username.empty());
  CHECK(b.value().password == "s3cret");

  auto c = parse_redis_url("redis://default:p%40ss%3Aw@10.0.0.7:1/15");
  REQUIRE(c.ok());
  CHECK(c.value().host == "10.0.0.7");
  CHECK(c.value().port == 1);
  CHECK(c.value().db == 15);
  CHECK(c.value().username == "default");
  CHECK(c.value().password == "p@ss:w");
  CHECK(c.value().redacted_url().find("p@ss") == std::string::npos);
  CHECK(c.value().redacted_url() == "redis://default:***@10.0.0.7:1/15");

  auto d = parse_redis_url("redis://[::1]:7000/");
  REQUIRE(d.ok());
  CHECK(d.value().host == "::1");
  CHECK(d.value().port == 7000);
  CHECK(d.value().redacted_url() == "redis://[::1]:7000/0");

  auto e = parse_redis_url("redis+unix:///run/redis/redis.sock?db=3");
  REQUIRE(e.ok());
  CHECK(e.value().transport == RedisConfig::Transport::unix_socket);
  CHECK(e.value().socket_path == "/run/redis/redis.sock");
  CHECK(e.value().db == 3);

  auto f = parse_redis_url("unix://:pw@/var/my%20dir/r.sock");
  REQUIRE(f.ok());
  CHECK(f.value().socket_path == "/var/my dir/r.sock");
  CHECK(f.value().password == "pw");
  CHECK(f.value().redacted_url() == "redis+unix://:***@/var/my dir/r.sock");

  // specs/router.md §3.6: an Upstash-style URL passes through unchanged.
  auto g = parse_redis_url("redis://default:token@example.upstash.io:6379");
  REQUIRE(g.ok());
  CHECK(g.value().host == "example.upstash.io");
  CHECK(g.value().username == "default");
  CHECK(g.value().password == "token");
  CHECK_FALSE(g.value().tls);
}

TEST_CASE("redis url: refused forms") {
  for (const char* bad : {"", "localhost:6379", "localhost", "http://h", "https://example.upstash.io/cache", "redis:",
                          "redis://", "redis://:pw@", "redis://h:0", "redis://h:70000", "redis://h:abc", "redis://h:",
                          "redis://h/x", "redis://h/1/2", "redis://h/-1", "redis://h/99999999999", "redis://h?db=1",
                          "redis://h#frag", "redis://user@h", "redis://user:@h", "redis:h", "redis://[v1.x]/",
                          "redis://h%00x/", "redis+unix://", "redis+unix:///", "redis+unix://host/tmp/x.sock",
                          "redis+unix://:1/tmp/x.sock", "redis+unix:///tmp/x.sock?foo=1",
                          "redis+unix:///tmp/x.sock?db=x", "redis+unix:///tmp/x.sock?db", "unix:relative.sock",
                          "redis+unix:///tmp/x%00.sock"}) {
    INFO(bad);
    auto r = parse_redis_url(bad);
    CHECK(r.code() == Code::invalid_request);
    auto c = RedisClient::create(bad);
    CHECK(c.code() == Code::invalid_request);
  }
}

TEST_CASE("redis url: rediss is refused as unsupported, never downgraded") {
  REQUIRE_FALSE(redis_tls_supported());
  for (const char* tls : {"rediss://h", "REDISS://:pw@cache.example:6380/1", "rediss://default:token@example.upstash.io:6379"}) {
    INFO(tls);
    auto r = parse_redis_url(tls);
    CHECK(r.code() == Code::unsupported);
    CHECK(r.status().message().find("TLS") != std::string_view::npos);
    CHECK(r.status().message().find("token") == std::string_view::npos);
    CHECK(RedisClient::create(tls).code() == Code::unsupported);
  }
}

TEST_CASE("redis: ping measures a round trip; commands are binary-safe") {
  auto c = client();
  auto rtt = c->ping();
  REQUIRE(rtt.ok());
  CHECK(rtt.value() > 0us);
  CHECK(rtt.value() < 1s);
  CHECK(c->connected());

  const std::string key = prefix("bin") + "k";
  const std::string value("a\0b\r\n$3\r\n", 10);
  auto set = c->command({"SET", key, value, "PX", "60000"});
  REQUIRE(set.ok());
  CHECK(set.value().type == RedisReply::Type::status);
  CHECK(set.value().str == "OK");
  auto get = c->command({"GET", key});
  REQUIRE(get.ok());
  CHECK(get.value().type == RedisReply::Type::string);
  CHECK(get.value().str == value);
  auto missing = c->command({"GET", key + "-missing"});
  REQUIRE(missing.ok());
  CHECK(missing.value().is_nil());
  auto incr = c->command({"INCRBY", key + "-n", "41"});
  REQUIRE(incr.ok());
  CHECK(incr.value().integer == 41);

  // An error reply is storage_error, and the connection survives it.
  auto wrong = c->command({"LPUSH", key, "x"});
  CHECK(wrong.code() == Code::storage_error);
  CHECK(wrong.status().message().find("WRONGTYPE") != std::string_view::npos);
  CHECK(c->command({}).code() == Code::invalid_request);
  CHECK(c->ping().ok());
}

TEST_CASE("redis: eval runs a script by SHA1 and reloads it after SCRIPT FLUSH") {
  auto c = client();
  const RedisScript script("return {KEYS[1], ARGV[1], ARGV[2], redis.call('INCR', KEYS[1])}");
  CHECK(script.sha1().size() == 40);
  const std::string key = prefix("eval") + "counter";
  REQUIRE(c->command({"SCRIPT", "FLUSH"}).ok());
  for (int round = 1; round <= 3; ++round) {
    auto r = c->eval(script, {key}, {"x", std::string("y\0z", 3)});
    REQUIRE(r.ok());
    REQUIRE(r.value().type == RedisReply::Type::array);
    REQUIRE(r.value().elements.size() == 4);
    CHECK(r.value().elements[0].str == key);
    CHECK(r.value().elements[1].str == "x");
    CHECK(r.value().elements[2].str == std::string("y\0z", 3));
    CHECK(r.value().elements[3].integer == round);
    if (round == 2) REQUIRE(c->command({"SCRIPT", "FLUSH"}).ok());
  }
  auto loaded = c->command({"SCRIPT", "EXISTS", script.sha1()});
  REQUIRE(loaded.ok());
  CHECK(loaded.value().elements.at(0).integer == 1);

  const RedisScript broken("return redis.call('NOSUCHCOMMAND')");
  CHECK(c->eval(broken, {}, {}).code() == Code::storage_error);
  const RedisScript syntax("this is not lua");
  CHECK(c->eval(syntax, {}, {}).code() == Code::storage_error);
  CHECK(c->ping().ok());
}

TEST_CASE("redis: AUTH with an ACL user and SELECT of a db") {
  const std::string url = test_url();
  const std::string path = url.substr(std::string("redis+unix://").size());
  auto admin = client();
  const std::string user = "babysea-test-user";
  REQUIRE(admin->command({"ACL", "SETUSER", user, "reset", "on", ">s3cret", "~*", "+@all"}).ok());

  auto good = client("redis+unix://" + user + ":s3cret@" + path + "?db=3");
  auto who_am_i = good->command({"ACL", "WHOAMI"});
  REQUIRE(who_am_i.ok());
  CHECK(who_am_i.value().str == user);
  const std::string key = prefix("db") + "k";
  REQUIRE(good->command({"SET", key, "in-db-3"}).ok());
  auto in0 = admin->command({"EXISTS", key});
  REQUIRE(in0.ok());
  CHECK(in0.value().integer == 0);  // admin is on db 0
  auto in3 = admin->command({"EVAL", "redis.call('SELECT', 3) return redis.call('GET', KEYS[1])", "1", key});
  REQUIRE(in3.ok());
  CHECK(in3.value().str == "in-db-3");

  auto bad = client("redis+unix://" + user + ":wrong@" + path);
  auto p = bad->ping();
  CHECK(p.code() == Code::unavailable);
  CHECK(p.status().message().find("AUTH") != std::string_view::npos);
  CHECK(p.status().message().find("wrong") == std::string_view::npos);  // the password is not echoed
  CHECK_FALSE(bad->connected());
  REQUIRE(admin->command({"ACL", "DELUSER", user}).ok());
}

TEST_CASE("redis: an unreachable server is unavailable, then backed off") {
  RedisOptions o;
  o.connect_timeout = 200ms;
  o.initial_backoff = 300ms;
  auto c = client("redis+unix:///nonexistent-dir/redis.sock", o);
  auto first = c->ping();
  CHECK(first.code() == Code::unavailable);
  CHECK(first.status().retryable());
  auto second = c->ping();  // inside the backoff: fails fast, says so
  CHECK(second.code() == Code::unavailable);
  CHECK(second.status().message().find("reconnecting in") != std::string_view::npos);
  CHECK(c->connect().code() == Code::unavailable);

  auto tcp = client("redis://127.0.0.1:1", o);  // nothing listens on port 1
  CHECK(tcp->ping().code() == Code::unavailable);
}

TEST_CASE("redis: a command past its timeout is unavailable; the next call reconnects") {
  RedisOptions o;
  o.command_timeout = 200ms;
  auto c = client("", o);
  auto admin = client();
  REQUIRE(c->ping().ok());
  // Every other client's commands wait while the server is paused.
  REQUIRE(admin->command({"CLIENT", "PAUSE", "600", "ALL"}).ok());
  const auto start = std::chrono::steady_clock::now();
  auto slow = c->ping();
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(slow.code() == Code::unavailable);
  CHECK(slow.status().message().find("timed out") != std::string_view::npos);
  CHECK(took >= 150ms);
  CHECK(took < 550ms);
  CHECK_FALSE(c->connected());
  // Once the pause is over (UNPAUSE would be paused too), the client is back.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool back = false;
  while (!back && std::chrono::steady_clock::now() < deadline) back = c->ping().ok();
  CHECK(back);
}

TEST_CASE("shared rate limit: the same decisions and headers as the in-process limiter") {
  auto c = client();
  RateLimitOptions o;
  o.per_key = {3, 3000};
  o.per_account = {5, 60'000};
  SharedRateLimiter shared(*c, o, prefix("same"));
  ManualClock clock;
  RateLimiter local(clock, o);
  // Two keys of one account, then another account's key. (Key ids are
  // unique across accounts: the in-process limiter keys its buckets by key id
  // alone, the shared one under the account's hash tag.)
  const std::vector<Principal> calls = {who("acct", "k1"), who("acct", "k1"), who("acct", "k2"), who("acct", "k1"),
                                        who("acct", "k1"), who("acct", "k2"), who("acct", "k2"), who("acct", "k2"),
                                        who("other", "k9"), who("other", "k9")};
  int admitted = 0;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    INFO("call " << i);
    RateInfo a, b;
    Status sa = shared.acquire(calls[i], &a);
    Status sb = local.acquire(calls[i], &b);
    REQUIRE((sa.ok() || sa.code() == Code::rate_limited));
    CHECK(sa.code() == sb.code());
    CHECK(sa.message() == sb.message());
    CHECK(a.limit == b.limit);
    CHECK(a.remaining == b.remaining);
    CHECK(a.retry_after_s == b.retry_after_s);
    CHECK(a.reset_unix_s > 0);
    admitted += sa.ok();
  }
  CHECK(admitted == 7);  // acct: 5 (account limit), other: 2
  RateInfo info;
  Status refused = shared.acquire(who("acct", "k3"), &info);
  CHECK(refused.code() == Code::rate_limited);
  CHECK(refused.retryable());
  CHECK(info.remaining == 0);
  CHECK(info.retry_after_s >= 1);
  CHECK(info.retry_after_s <= 12);
}

TEST_CASE("shared rate limit: refill after the window; disabled buckets touch nothing") {
  auto c = client();
  RateLimitOptions o;
  o.per_key = {5, 500};
  o.per_account = {0, 1000};
  const std::string pfx = prefix("refill");
  SharedRateLimiter rl(*c, o, pfx);
  auto p = who("a", "k");
  RateInfo info;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(rl.acquire(p, &info).ok());
    CHECK(info.limit == 5);
  }
  CHECK(rl.acquire(p, &info).code() == Code::rate_limited);
  CHECK(info.retry_after_s == 1);
  auto ttl = c->command({"PTTL", rl.key_bucket(p)});
  REQUIRE(ttl.ok());
  CHECK(ttl.value().integer > 0);
  CHECK(ttl.value().integer <= 500);
  CHECK(c->command({"EXISTS", rl.account_bucket(p)}).value().integer == 0);
  std::this_thread::sleep_for(600ms);  // a whole window refills everything
  for (int i = 0; i < 5; ++i) CHECK(rl.acquire(p).ok());
  CHECK(rl.acquire(p).code() == Code::rate_limited);

  RateLimitOptions off;
  off.per_key = {0, 1000};
  off.per_account = {0, 1000};
  SharedRateLimiter none(*c, off, pfx + "off:");
  for (int i = 0; i < 20; ++i) {
    REQUIRE(none.acquire(p, &info).ok());
    CHECK(info.limit == 0);
  }
  CHECK(c->command({"EXISTS", none.key_bucket(p), none.account_bucket(p)}).value().integer == 0);
}

TEST_CASE("shared rate limit: concurrent instances admit exactly the limit") {
  constexpr int kThreads = 8;
  constexpr int kTries = 40;
  RateLimitOptions o;
  o.per_key = {1000, 60'000};
  o.per_account = {97, 60'000};  // the account limit binds across 4 keys
  const std::string pfx = prefix("concurrent");

  SECTION("one client (one connection) per thread, as separate instances would") {
    const std::string url = test_url();  // REQUIRE only on this thread
    std::atomic<int> admitted{0}, refused{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        auto c = RedisClient::create(url);
        if (!c.ok()) {
          failed += kTries;
          return;
        }
        SharedRateLimiter rl(*c.value(), o, pfx);
        for (int i = 0; i < kTries; ++i) {
          Status s = rl.acquire(who("acct", "k" + std::to_string((t + i) % 4)));
          if (s.ok())
            ++admitted;
          else if (s.code() == Code::rate_limited)
            ++refused;
          else
            ++failed;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(failed == 0);
    CHECK(admitted == 97);
    CHECK(refused == kThreads * kTries - 97);
  }
  SECTION("one client shared by every thread") {
    auto c = client();
    SharedRateLimiter rl(*c, o, pfx + "shared:");
    std::atomic<int> admitted{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < kTries; ++i) {
          Status s = rl.acquire(who("acct", "k" + std::to_string((t + i) % 4)));
          if (s.ok())
            ++admitted;
          else if (s.code() != Code::rate_limited)
            ++failed;
        }
      });
    for (auto& th : threads) th.join();
    CHECK(failed == 0);
    CHECK(admitted == 97);
  }
}

TEST_CASE("redis: server stopped mid-use is unavailable; restarted, the client recovers") {
  RedisOptions o;
  o.initial_backoff = 20ms;
  o.max_backoff = 200ms;
  auto c = client("", o);
  RateLimitOptions ro;
  ro.per_key = {100, 60'000};
  ro.per_account = {0, 60'000};
  SharedRateLimiter rl(*c, ro, prefix("restart"));
  const RedisScript script("return redis.call('INCR', KEYS[1])");
  const std::string key = prefix("restart") + "n";
  REQUIRE(c->ping().ok());
  REQUIRE(c->eval(script, {key}, {}).ok());
  REQUIRE(rl.acquire(who("a", "k")).ok());

  redis_ctl("stop");
  for (int i = 0; i < 5; ++i) {
    CHECK(c->ping().code() == Code::unavailable);
    CHECK(c->eval(script, {key}, {}).code() == Code::unavailable);
    CHECK(rl.acquire(who("a", "k")).code() == Code::unavailable);
    std::this_thread::sleep_for(30ms);
  }
  CHECK_FALSE(c->connected());

  redis_ctl("start");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  Result<std::chrono::microseconds> rtt = Status(Code::unavailable, "not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    rtt = c->ping();
    if (rtt.ok()) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(rtt.ok());
  // The restarted server lost the script cache and the keys (no persistence):
  // eval reloads the script, the limiter starts from full buckets.
  auto n = c->eval(script, {key}, {});
  REQUIRE(n.ok());
  CHECK(n.value().integer == 1);
  RateInfo info;
  REQUIRE(rl.acquire(who("a", "k"), &info).ok());
  CHECK(info.remaining == 99);
}
