// Outbound webhooks and the Beast transport against a real loopback HTTP
// receiver (port 0) that succeeds, fails, hangs, redirects and answers 410;
// at-least-once delivery with a stable delivery id across a restart; the
// `standardwebhooks` npm package verifies what we sign.
#include <catch2/catch.hpp>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <map>
#include <set>
#include <mutex>
#include <thread>

#include "babysea/ledger.hpp"
#include "babysea/webhook_delivery.hpp"
#include "json/json.hpp"
#include "support/process.hpp"
#include "support/stores.hpp"

using namespace babysea;
using namespace babysea::testing;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

struct Received {
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

// A tiny HTTP/1.1 server on 127.0.0.1:0. `mode` decides every answer:
// ok, fail (500), hang (no answer for 2 s), redirect (302), gone (410),
// busy (503 + Retry-After: 120), big (2 MiB body), slow (ok after 100 ms).
class Receiver {
 public:
  Receiver() : acceptor_(ioc_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { loop(); });
  }
  ~Receiver() {
    stop_ = true;
    beast::error_code ec;
    tcp::socket s(ioc_);
    s.connect(acceptor_.local_endpoint(), ec);  // unblock accept
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  std::uint16_t port() const { return port_; }
  void set_mode(std::string m) {
    std::lock_guard<std::mutex> lock(mu_);
    mode_ = std::move(m);
  }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return got_;
  }

 private:
  void loop() {
    for (int i = 0; i < 200 && !stop_; ++i) {  // bounded
      tcp::socket sock(ioc_);
      beast::error_code ec;
      acceptor_.accept(sock, ec);
      if (ec || stop_) return;
      conns_.emplace_back([this, s = std::move(sock)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(tcp::socket sock) {
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    beast::error_code ec;
    http::read(sock, buf, req, ec);
    if (ec) return;
    std::string mode;
    {
      std::lock_guard<std::mutex> lock(mu_);
      mode = mode_;
      Received r;
      r.target = std::string(req.target());
      for (const auto& f : req) {
        std::string n(f.name_string());
        for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[n] = std::string(f.value());
      }
      r.body = req.body();
      got_.push_back(std::move(r));
    }
    http::response<http::string_body> res;
    res.version(11);
    res.result(http::status::ok);
    res.body() = "OK";
    if (mode == "fail") res.result(http::status::internal_server_error);
    if (mode == "redirect") {
      res.result(http::status::found);
      res.set(http::field::location, "http://127.0.0.1:" + std::to_string(port_) + "/elsewhere");
    }
    if (mode == "gone") res.result(http::status::gone);
    if (mode == "busy") {
      res.result(http::status::service_unavailable);
      res.set(http::field::retry_after, "120");
    }
    if (mode == "big") res.body() = std::string(2u << 20, 'x');
    if (mode == "slow") std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (mode == "hang") {
      for (int i = 0; i < 20 && !stop_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      return;
    }
    res.prepare_payload();
    http::write(sock, res, ec);
    sock.shutdown(tcp::socket::shutdown_both, ec);
  }

  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::mutex mu_;
  std::string mode_ = "ok";
  std::vector<Received> got_;
};

class MapResolver final : public Resolver {
 public:
  std::mutex mu;
  std::map<std::string, std::vector<IpAddress>> answers;
  Result<std::vector<IpAddress>> resolve(std::string_view host) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = answers.find(std::string(host));
    return it == answers.end() ? std::vector<IpAddress>{} : it->second;
  }
};

std::string field(const std::string& body, const char* name) {
  auto padded = json::pad(body);
  simdjson::ondemand::document doc;
  REQUIRE(json::thread_parser().iterate(padded).get(doc) == simdjson::SUCCESS);
  std::string_view v;
  REQUIRE(doc[name].get_string().get(v) == simdjson::SUCCESS);
  return std::string(v);
}

struct Rig {
  Receiver rx;
  MapResolver dns;
  NetGuardOptions gopts;
  std::unique_ptr<NetGuard> guard;
  std::unique_ptr<Transport> transport = make_beast_transport();
  ManualClock clock{SystemClock::instance().now_ms()};
  StoreFixture f;
  WebhookDispatcherOptions dopts;
  explicit Rig(const std::string& store_kind = "sqlite-file") : f(store_kind) {
    dns.answers["hooks.test"] = {IpAddress::v4(127, 0, 0, 1)};
    gopts.allowed_ports = {80, 443, rx.port()};
    gopts.allow_overrides.push_back(*IpNetwork::parse("127.0.0.1/32"));
    guard = std::make_unique<NetGuard>(dns, gopts);
    REQUIRE(Ledger(*f.store, clock).create_account("acct_1").ok());
    dopts.total_timeout = std::chrono::milliseconds(500);
    dopts.headers_timeout = std::chrono::milliseconds(500);
  }
  std::string url() const { return "http://hooks.test:" + std::to_string(rx.port()) + "/hook"; }
  WebhookEndpointRow endpoint(WebhookSigning signing = WebhookSigning::babysea, std::string secret = "") {
    WebhookEndpoints eps(*f.store, *guard, clock);
    WebhookEndpointSpec spec;
    spec.url = url();
    spec.signing = signing;
    spec.secret = std::move(secret);
    auto r = eps.create("acct_1", spec);
    REQUIRE(r.ok());
    return *r;
  }
  void enqueue(const std::string& event, const std::string& data) {
    REQUIRE(f.store->transact([&](UnitOfWork& u) {
      return enqueue_webhook_event(u, "acct_1", event, data, clock.now_ms()).status();
    }).ok());
  }
  std::vector<WebhookDeliveryRow> deliveries(const std::string& endpoint_id) {
    std::vector<WebhookDeliveryRow> out;
    REQUIRE(f.store->read([&](UnitOfWork& u) { return u.webhook_deliveries().list_for_endpoint(endpoint_id, 100, out); })
                .ok());
    return out;
  }
};

const char* kGenData = R"({"account_id":"acct_1","model_identifier":"m","generation_status":"succeeded","generation_id":"gen_1"})";

}  // namespace

TEST_CASE("webhooks: endpoint_events reads the stored list, skipping empty items") {
  WebhookEndpointRow ep;
  CHECK(endpoint_events(ep).empty());  // every event
  ep.events = "generation.succeeded";
  CHECK(endpoint_events(ep) == std::vector<std::string_view>{"generation.succeeded"});
  ep.events = "generation.failed,,generation.canceled,";
  CHECK(endpoint_events(ep) == std::vector<std::string_view>{"generation.failed", "generation.canceled"});
}

TEST_CASE("transport: pinned address, original Host, deadlines, caps") {
  Receiver rx;
  auto t = make_beast_transport();
  ConnectTarget to{IpAddress::v4(127, 0, 0, 1), rx.port()};
  HttpRequest req;
  req.method = "POST";
  req.url = "http://hooks.test:" + std::to_string(rx.port()) + "/in?x=1";
  req.body = "hello";
  auto r = t->send(req, to);
  REQUIRE(r.ok());
  CHECK(r->status == 200);
  CHECK(r->body == "OK");
  auto got = rx.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].headers["host"] == "hooks.test:" + std::to_string(rx.port()));
  CHECK(got[0].target == "/in?x=1");
  CHECK(got[0].body == "hello");

  rx.set_mode("big");
  req.max_response_bytes = 1024;
  CHECK(t->send(req, to).code() == Code::payload_too_large);

  rx.set_mode("hang");
  req.headers_timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  CHECK(t->send(req, to).code() == Code::timeout);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));

  rx.set_mode("redirect");
  auto red = t->send(req, to);
  REQUIRE(red.ok());
  CHECK(red->status == 302);  // never followed
  CHECK(rx.received().size() == 4);

  HttpRequest bad = req;
  bad.headers.push_back({"X-Evil", "a\r\nInjected: 1"});
  CHECK(t->send(bad, to).code() == Code::invalid_request);

  // Nothing listens on port 1 of loopback: a connection failure.
  CHECK(t->send(req, ConnectTarget{IpAddress::v4(127, 0, 0, 1), 1}).code() == Code::unavailable);
}

TEST_CASE("webhooks: babysea signature, retries with a fresh t and the same delivery id, restart loses nothing") {
  Rig rig;
  auto ep = rig.endpoint();
  CHECK(ep.secret.rfind("whsec_", 0) == 0);
  rig.enqueue("generation.completed", kGenData);
  rig.rx.set_mode("fail");
  {
    WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
    auto s = d.run_once();
    REQUIRE(s.ok());
    CHECK(s->fanned_out == 1);
    CHECK(s->attempted == 1);
    CHECK(s->retried == 1);
    // Not due yet: nothing is sent.
    rig.clock.advance(std::chrono::seconds(4));
    REQUIRE(d.run_once().ok());
    CHECK(rig.rx.received().size() == 1);
    rig.clock.advance(std::chrono::seconds(1));
    REQUIRE(d.run_once().ok());
    CHECK(rig.rx.received().size() == 2);
  }
  // Restart: a new store handle and dispatcher over the same file.
  rig.f.store = rig.f.reopen();
  rig.rx.set_mode("ok");
  rig.clock.advance(std::chrono::minutes(5));
  WebhookDispatcher d2(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  auto s = d2.run_once();
  REQUIRE(s.ok());
  CHECK(s->delivered == 1);
  auto got = rig.rx.received();
  REQUIRE(got.size() == 3);
  std::set<std::string> ts;
  for (const auto& r : got) {
    CHECK(r.headers.at("x-babysea-delivery-id") == got[0].headers.at("x-babysea-delivery-id"));
    CHECK(field(r.body, "webhook_delivery_id") == r.headers.at("x-babysea-delivery-id"));
    CHECK(field(r.body, "webhook_event") == "generation.completed");
    CHECK(r.headers.at("x-babysea-event") == "generation.completed");
    const std::string t = r.headers.at("x-babysea-timestamp");
    ts.insert(t);
    CHECK(r.headers.at("x-babysea-signature") == babysea_signature_header(ep.secret, std::stoll(t), r.body));
    CHECK(r.headers.at("x-babysea-signature").find(' ') == std::string::npos);
  }
  CHECK(ts.size() == 3);  // a fresh t on every attempt
  auto rows = rig.deliveries(ep.id);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == DeliveryState::delivered);
  CHECK(rows[0].attempts == 3);
  // Delivered rows are never sent again.
  rig.clock.advance(std::chrono::hours(20));
  REQUIRE(d2.run_once().ok());
  CHECK(rig.rx.received().size() == 3);
}

TEST_CASE("webhooks: 3xx is a failure (no redirect), 410 disables the endpoint, Retry-After is honored") {
  Rig rig;
  auto ep = rig.endpoint();
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  rig.rx.set_mode("redirect");
  rig.enqueue("generation.failed", kGenData);
  REQUIRE(d.run_once().ok());
  CHECK(rig.rx.received().size() == 1);  // the Location was not followed
  auto rows = rig.deliveries(ep.id);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].state == DeliveryState::pending);
  CHECK(rows[0].last_status == 302);
  CHECK(rows[0].next_attempt_ms == rig.clock.now_ms() + 5000);

  rig.rx.set_mode("busy");
  rig.clock.advance(std::chrono::seconds(5));
  REQUIRE(d.run_once().ok());
  rows = rig.deliveries(ep.id);
  CHECK(rows[0].last_status == 503);
  CHECK(rows[0].next_attempt_ms == rig.clock.now_ms() + 300'000);  // schedule (5 min) > Retry-After (120 s)
  rig.clock.advance(std::chrono::minutes(5));
  REQUIRE(d.run_once().ok());
  rows = rig.deliveries(ep.id);
  CHECK(rows[0].next_attempt_ms == rig.clock.now_ms() + 1'800'000);

  rig.rx.set_mode("gone");
  rig.clock.advance(std::chrono::minutes(30));
  REQUIRE(d.run_once().ok());
  rows = rig.deliveries(ep.id);
  CHECK(rows[0].state == DeliveryState::failed);
  CHECK(rows[0].last_status == 410);
  WebhookEndpoints eps(*rig.f.store, *rig.guard, rig.clock);
  auto now_ep = eps.get("acct_1", ep.id);
  REQUIRE(now_ep.ok());
  CHECK_FALSE(now_ep->enabled);
  CHECK(now_ep->disabled_reason == "gone");
  // A later event is not fanned out to the disabled endpoint.
  rig.enqueue("generation.completed", kGenData);
  auto s = d.run_once();
  REQUIRE(s.ok());
  CHECK(s->fanned_out == 0);
  CHECK(rig.rx.received().size() == 4);
}

TEST_CASE("webhooks: Retry-After above the schedule delays the retry") {
  Rig rig;
  rig.dopts.retry_schedule = {std::chrono::milliseconds(0), std::chrono::seconds(5), std::chrono::seconds(5)};
  auto ep = rig.endpoint();
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  rig.rx.set_mode("busy");
  rig.enqueue("generation.started", kGenData);
  REQUIRE(d.run_once().ok());
  auto rows = rig.deliveries(ep.id);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].next_attempt_ms == rig.clock.now_ms() + 120'000);
  // The schedule has 3 attempts: after the third failure it gives up.
  rig.clock.advance(std::chrono::seconds(120));
  REQUIRE(d.run_once().ok());
  rig.clock.advance(std::chrono::seconds(120));
  auto s = d.run_once();
  REQUIRE(s.ok());
  CHECK(s->gave_up == 1);
  rows = rig.deliveries(ep.id);
  CHECK(rows[0].state == DeliveryState::failed);
  CHECK(rows[0].attempts == 3);
}

TEST_CASE("webhooks: a hanging receiver times out and is retried; the guard is applied again at delivery") {
  Rig rig;
  auto ep = rig.endpoint();
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  rig.rx.set_mode("hang");
  rig.enqueue("generation.completed", kGenData);
  auto start = std::chrono::steady_clock::now();
  auto s = d.run_once();
  REQUIRE(s.ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK(s->retried == 1);
  auto rows = rig.deliveries(ep.id);
  CHECK(rows[0].last_error == "timeout");
  // DNS now points the name at a private address: refused, nothing sent.
  {
    std::lock_guard<std::mutex> lock(rig.dns.mu);
    rig.dns.answers["hooks.test"] = {IpAddress::v4(10, 0, 0, 7)};
  }
  rig.rx.set_mode("ok");
  rig.clock.advance(std::chrono::seconds(5));
  const auto before = rig.rx.received().size();
  REQUIRE(d.run_once().ok());
  CHECK(rig.rx.received().size() == before);
  rows = rig.deliveries(ep.id);
  CHECK(rows[0].state == DeliveryState::pending);
  CHECK(rows[0].last_error == "url_forbidden: private");
}

TEST_CASE("webhooks: registration checks the URL, filters events, and hides other accounts") {
  Rig rig;
  WebhookEndpoints eps(*rig.f.store, *rig.guard, rig.clock);
  WebhookEndpointSpec spec;
  spec.url = "http://10.0.0.1/hook";
  CHECK(eps.create("acct_1", spec).code() == Code::url_forbidden);
  spec.url = "http://user@hooks.test/hook";
  CHECK(eps.create("acct_1", spec).code() == Code::url_forbidden);
  spec.url = rig.url();
  spec.events = {"generation.exploded"};
  CHECK(eps.create("acct_1", spec).code() == Code::invalid_request);
  spec.events = {};
  spec.signing = WebhookSigning::standard_webhooks;
  spec.secret = "not base64 at all!!";
  CHECK(eps.create("acct_1", spec).code() == Code::invalid_request);
  // Only existing customer accounts get endpoints.
  spec.signing = WebhookSigning::babysea;
  spec.secret.clear();
  auto missing = eps.create("acct_nobody", spec);
  CHECK(missing.code() == Code::not_found);
  CHECK(eps.create("system:escrow", spec).code() == Code::not_found);
  std::vector<WebhookEndpointRow> nobody;
  REQUIRE(rig.f.store->read([&](UnitOfWork& u) { return u.webhook_endpoints().list_for_account("acct_nobody", nobody); }).ok());
  CHECK(nobody.empty());
  std::vector<WebhookEndpointRow> none;
  REQUIRE(rig.f.store->read([&](UnitOfWork& u) { return u.webhook_endpoints().list_for_account("acct_1", none); }).ok());
  CHECK(none.empty());  // refusals store nothing

  spec.secret.clear();
  spec.signing = WebhookSigning::babysea;
  spec.events = {"generation.completed"};
  auto ep = eps.create("acct_1", spec);
  REQUIRE(ep.ok());
  CHECK(eps.get("acct_2", ep->id).code() == Code::not_found);
  CHECK(eps.disable("acct_2", ep->id).code() == Code::not_found);
  CHECK(eps.send_test("acct_2", ep->id).code() == Code::not_found);

  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  rig.enqueue("generation.started", kGenData);  // filtered out
  auto s = d.run_once();
  REQUIRE(s.ok());
  CHECK(s->fanned_out == 0);
  auto test_id = eps.send_test("acct_1", ep->id);  // webhook.test bypasses the filter: it targets the endpoint
  REQUIRE(test_id.ok());
  s = d.run_once();
  REQUIRE(s.ok());
  CHECK(s->delivered == 1);
  auto got = rig.rx.received();
  REQUIRE(got.size() == 1);
  CHECK(field(got[0].body, "webhook_event") == "webhook.test");
  CHECK(got[0].headers.at("x-babysea-delivery-id") == *test_id);
}

TEST_CASE("webhooks: started is never sent after a terminal event of the same generation") {
  Rig rig;
  auto ep = rig.endpoint();
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  rig.rx.set_mode("fail");
  rig.enqueue("generation.started", R"({"generation_id":"gen_9","generation_status":"processing"})");
  REQUIRE(d.run_once().ok());  // started failed once
  rig.rx.set_mode("ok");
  rig.enqueue("generation.completed", R"({"generation_id":"gen_9","generation_status":"succeeded"})");
  REQUIRE(d.run_once().ok());  // completed delivered
  rig.clock.advance(std::chrono::seconds(5));
  auto s = d.run_once();
  REQUIRE(s.ok());
  CHECK(s->canceled == 1);
  auto got = rig.rx.received();
  REQUIRE(got.size() == 2);
  CHECK(field(got[1].body, "webhook_event") == "generation.completed");
}

TEST_CASE("webhooks: the ledger's low-balance row becomes the public payload") {
  Rig rig;
  auto ep = rig.endpoint();
  rig.enqueue("credits.low_balance",
              R"({"account_id":"acct_1","available_micros":1500000,"available_credits":"1.5","thresholds_crossed_micros":[2000000]})");
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  REQUIRE(d.run_once().ok());
  auto got = rig.rx.received();
  REQUIRE(got.size() == 1);
  auto padded = json::pad(got[0].body);
  simdjson::ondemand::document doc;
  REQUIRE(json::thread_parser().iterate(padded).get(doc) == simdjson::SUCCESS);
  double bal = 0;
  REQUIRE(doc["webhook_data"]["current_balance"].get_double().get(bal) == simdjson::SUCCESS);
  CHECK(bal == Approx(1.5));
  double th = 0;
  REQUIRE(doc["webhook_data"]["thresholds_crossed"].at(0)["threshold"].get_double().get(th) == simdjson::SUCCESS);
  CHECK(th == Approx(2.0));
}

TEST_CASE("webhooks: the standardwebhooks npm package verifies what we sign, with rotation", "[oracle]") {
  Rig rig;
  const std::string old_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  auto ep = rig.endpoint(WebhookSigning::standard_webhooks, old_secret);
  WebhookEndpoints eps(*rig.f.store, *rig.guard, rig.clock);
  auto rotated = eps.rotate_secret("acct_1", ep.id, "");
  REQUIRE(rotated.ok());
  const std::string new_secret = rotated->secret;
  rig.enqueue("generation.completed", kGenData);
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  REQUIRE(d.run_once().ok());
  auto got = rig.rx.received();
  REQUIRE(got.size() == 1);
  const auto& h = got[0].headers;
  CHECK(h.at("webhook-id") == field(got[0].body, "webhook_delivery_id"));
  CHECK(h.at("webhook-signature").find(' ') != std::string::npos);  // both signatures during rotation
  const std::string script = (source_dir() / "tests/oracle/outbound_webhook_verify.js").string();
  for (const auto& secret : {old_secret, new_secret}) {
    auto r = run_process({"node", script, secret, h.at("webhook-id"), h.at("webhook-timestamp"),
                          h.at("webhook-signature"), got[0].body});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "ok\n");
  }
  // Tampered body and a foreign secret are refused by the oracle.
  auto bad = run_process({"node", script, new_secret, h.at("webhook-id"), h.at("webhook-timestamp"),
                          h.at("webhook-signature"), got[0].body + " "});
  CHECK(bad.out.rfind("fail", 0) == 0);
  auto foreign = run_process({"node", script, "whsec_" + std::string("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="),
                              h.at("webhook-id"), h.at("webhook-timestamp"), h.at("webhook-signature"), got[0].body});
  CHECK(foreign.out.rfind("fail", 0) == 0);
  // After the rotation finishes only the new secret signs.
  REQUIRE(eps.finish_rotation("acct_1", ep.id).ok());
  rig.enqueue("generation.canceled", kGenData);
  REQUIRE(d.run_once().ok());
  got = rig.rx.received();
  REQUIRE(got.size() == 2);
  const auto& h2 = got[1].headers;
  CHECK(h2.at("webhook-signature").find(' ') == std::string::npos);
  auto r_new = run_process({"node", script, new_secret, h2.at("webhook-id"), h2.at("webhook-timestamp"),
                            h2.at("webhook-signature"), got[1].body});
  CHECK(r_new.out == "ok\n");
  auto r_old = run_process({"node", script, old_secret, h2.at("webhook-id"), h2.at("webhook-timestamp"),
                            h2.at("webhook-signature"), got[1].body});
  CHECK(r_old.out.rfind("fail", 0) == 0);
}

// Hidden: run by name on PostgreSQL only (webhook_delivery_test_postgres).
TEST_CASE("webhooks: dispatchers of several instances on one shared store send each delivery once", "[.postgres]") {
  REQUIRE(!test_postgres_conninfo().empty());
  Rig rig("postgres");
  REQUIRE(rig.f.store->shared());
  auto other = open_postgres_store(rig.f.pg_options);  // a second instance's store
  REQUIRE(other.ok());
  auto ep = rig.endpoint();
  rig.rx.set_mode("slow");  // each answer takes 100 ms: both passes overlap
  constexpr int kEvents = 40;
  for (int i = 0; i < kEvents; ++i) rig.enqueue("generation.completed", kGenData);
  WebhookDispatcherOptions o = rig.dopts;
  o.max_concurrency = 4;
  WebhookDispatcher d1(*rig.f.store, *rig.transport, *rig.guard, rig.clock, o);
  WebhookDispatcher d2(**other, *rig.transport, *rig.guard, rig.clock, o);
  std::atomic<std::size_t> delivered{0};
  // Both pass again and again until everything is delivered (bounded).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  auto pass = [&](WebhookDispatcher& d) {
    while (delivered < static_cast<std::size_t>(kEvents) && std::chrono::steady_clock::now() < until) {
      auto s = d.run_once();
      REQUIRE(s.ok());
      delivered += s->delivered;
    }
  };
  std::thread t1([&] { pass(d1); });
  std::thread t2([&] { pass(d2); });
  t1.join();
  t2.join();
  CHECK(delivered == kEvents);
  auto got = rig.rx.received();
  std::set<std::string> ids;
  for (const auto& r : got) ids.insert(r.headers.at("x-babysea-delivery-id"));
  CHECK(got.size() == static_cast<std::size_t>(kEvents));  // each sent once
  CHECK(ids.size() == static_cast<std::size_t>(kEvents));
  for (const auto& row : rig.deliveries(ep.id)) {
    CHECK(row.state == DeliveryState::delivered);
    CHECK(row.attempts == 1);
  }
}

// Hidden: run by name on PostgreSQL only (webhook_delivery_test_postgres).
TEST_CASE("webhooks: a claimed delivery whose dispatcher died is sent again after the lease", "[.postgres]") {
  REQUIRE(!test_postgres_conninfo().empty());
  Rig rig("postgres");
  auto ep = rig.endpoint();
  rig.enqueue("generation.completed", kGenData);
  WebhookDispatcher d(*rig.f.store, *rig.transport, *rig.guard, rig.clock, rig.dopts);
  REQUIRE(d.run_once().ok());  // fans out and delivers
  rig.rx.set_mode("fail");
  rig.enqueue("generation.completed", kGenData);
  auto s = d.run_once();  // fans the second event out and sends it (fails: retried later)
  REQUIRE(s.ok());
  CHECK(s->fanned_out == 1);
  std::vector<WebhookDeliveryRow> claimed;
  rig.clock.advance(std::chrono::seconds(5));
  REQUIRE(rig.f.store->transact([&](UnitOfWork& u) {
    return u.webhook_deliveries().claim_due(rig.clock.now_ms(), 10, rig.clock.now_ms() + 120'000, claimed);
  }).ok());
  REQUIRE(claimed.size() == 1);  // the claimer dies here
  rig.rx.set_mode("ok");
  rig.clock.advance(std::chrono::seconds(60));
  REQUIRE(d.run_once().ok());
  CHECK(rig.rx.received().size() == 2);  // not yet: the lease holds it
  rig.clock.advance(std::chrono::seconds(61));
  auto after = d.run_once();
  REQUIRE(after.ok());
  CHECK(after->delivered == 1);
  auto got = rig.rx.received();
  REQUIRE(got.size() == 3);
  CHECK(got[2].headers.at("x-babysea-delivery-id") == got[1].headers.at("x-babysea-delivery-id"));
  auto rows = rig.deliveries(ep.id);
  REQUIRE(rows.size() == 2);
  for (const auto& row : rows) CHECK(row.state == DeliveryState::delivered);
}
