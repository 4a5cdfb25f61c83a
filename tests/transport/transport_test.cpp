// The Beast transport against real loopback servers: keep-alive pooling
// (reuse counted by the server's accepted connections, limits, idle timeout,
// dead pooled connections and the one-retry rule), deadlines, caps, no
// redirects, and TLS with a CA made at test time by the openssl CLI.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <thread>

#include "babysea/transport.hpp"
#include "support/testing.hpp"
#include "transport/loopback_server.hpp"

using namespace babysea;
using namespace babysea::testing;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

ConnectTarget loopback(std::uint16_t port) { return ConnectTarget{IpAddress::v4(127, 0, 0, 1), port}; }

HttpRequest get(std::uint16_t port, const std::string& host = "pool.test", const std::string& path = "/") {
  HttpRequest r;
  r.url = "http://" + host + ":" + std::to_string(port) + path;
  r.connect_timeout = 2s;
  r.headers_timeout = 3s;
  r.total_timeout = 5s;
  return r;
}

Reply ok_reply(std::string body = "hello") {
  Reply r;
  r.body = std::move(body);
  r.headers = {{"Content-Type", "text/plain"}};
  return r;
}

// Sends every request at once and waits for all answers.
std::vector<Result<HttpResponse>> send_all(Transport& t, const std::vector<HttpRequest>& reqs, ConnectTarget to) {
  std::vector<std::promise<Result<HttpResponse>>> ps(reqs.size());
  std::vector<std::future<Result<HttpResponse>>> fs;
  for (auto& p : ps) fs.push_back(p.get_future());
  for (std::size_t i = 0; i < reqs.size(); ++i)
    t.async_send(reqs[i], to, [&ps, i](Result<HttpResponse> r) { ps[i].set_value(std::move(r)); });
  std::vector<Result<HttpResponse>> out;
  for (auto& f : fs) out.push_back(f.get());
  return out;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

TEST_CASE("pool: sequential requests share one connection per (address, port, host)") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  auto t = make_beast_transport();
  for (int i = 0; i < 5; ++i) {
    auto r = t->send(get(server.port()), loopback(server.port()));
    REQUIRE(r.ok());
    CHECK(r->status == 200);
    CHECK(r->body == "hello");
  }
  CHECK(server.requests() == 5);
  CHECK(server.connections() == 1);
  for (const auto& req : server.received()) {
    CHECK(req.headers.count("connection") == 0);  // HTTP/1.1 keep-alive by default
    CHECK(req.headers.at("host") == "pool.test:" + std::to_string(server.port()));
  }

  // Another host name on the same address and port gets its own connection.
  REQUIRE(t->send(get(server.port(), "other.test"), loopback(server.port())).ok());
  REQUIRE(t->send(get(server.port(), "other.test"), loopback(server.port())).ok());
  CHECK(server.connections() == 2);
  auto got = server.received();
  REQUIRE(got.size() == 7);
  CHECK(got[5].connection == 2);
  CHECK(got[6].connection == 2);
  CHECK(got[6].request_on_conn == 2);
}

TEST_CASE("pool: disabled means one connection per request with Connection: close") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  BeastTransportOptions o;
  o.pool = false;
  auto t = make_beast_transport(o);
  for (int i = 0; i < 3; ++i) REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  CHECK(server.connections() == 3);
  for (const auto& req : server.received()) CHECK(req.headers.at("connection") == "close");
}

TEST_CASE("pool: a caller's Connection/Host/Content-Length headers do not override the transport's") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  auto t = make_beast_transport();
  auto req = get(server.port());
  req.method = "PUT";  // idempotent: rides the pool
  req.body = "abc";
  req.headers = {{"Connection", "close"}, {"Host", "evil.test"}, {"Content-Length", "99"}, {"X-Ok", "1"}};
  REQUIRE(t->send(req, loopback(server.port())).ok());
  REQUIRE(t->send(req, loopback(server.port())).ok());
  CHECK(server.connections() == 1);
  auto got = server.received();
  REQUIRE(got.size() == 2);
  CHECK(got[0].headers.at("host") == "pool.test:" + std::to_string(server.port()));
  CHECK(got[0].headers.at("content-length") == "3");
  CHECK(got[0].headers.at("x-ok") == "1");
  CHECK(got[1].body == "abc");
}

TEST_CASE("pool: the server's Connection: close is honored") {
  LoopbackServer server([](const ServerRequest&) {
    auto r = ok_reply();
    r.close = true;
    return r;
  });
  auto t = make_beast_transport();
  for (int i = 0; i < 3; ++i) REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  CHECK(server.connections() == 3);
  CHECK(server.requests() == 3);
}

TEST_CASE("pool: idle connections past idle_timeout are closed, not reused") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  BeastTransportOptions o;
  o.idle_timeout = 100ms;
  auto t = make_beast_transport(o);
  REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  CHECK(server.connections() == 1);
  std::this_thread::sleep_for(300ms);
  REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  CHECK(server.connections() == 2);
  CHECK(server.requests() == 3);
}

TEST_CASE("pool: max_idle_per_host and max_idle_total bound what is kept") {
  LoopbackServer server([](const ServerRequest&) {
    auto r = ok_reply();
    r.delay = 150ms;  // keeps every request of a batch on its own connection
    return r;
  });
  SECTION("per host") {
    BeastTransportOptions o;
    o.max_idle_per_host = 2;
    auto t = make_beast_transport(o);
    std::vector<HttpRequest> batch(4, get(server.port()));
    for (auto& r : send_all(*t, batch, loopback(server.port()))) REQUIRE(r.ok());
    CHECK(server.connections() == 4);
    for (auto& r : send_all(*t, batch, loopback(server.port()))) REQUIRE(r.ok());
    CHECK(server.connections() == 6);  // two kept, two new
  }
  SECTION("in total, across hosts") {
    BeastTransportOptions o;
    o.max_idle_total = 1;
    auto t = make_beast_transport(o);
    std::vector<HttpRequest> batch{get(server.port(), "a.test"), get(server.port(), "b.test"),
                                   get(server.port(), "c.test")};
    for (auto& r : send_all(*t, batch, loopback(server.port()))) REQUIRE(r.ok());
    CHECK(server.connections() == 3);
    for (auto& r : send_all(*t, batch, loopback(server.port()))) REQUIRE(r.ok());
    CHECK(server.connections() == 5);  // one kept, two new
  }
}

TEST_CASE("pool: a pooled connection the server closed while idle is dropped, not used") {
  LoopbackServer server([](const ServerRequest&) {
    auto r = ok_reply();
    r.drop_after = true;  // keep-alive in the headers, then the server closes anyway
    return r;
  });
  auto t = make_beast_transport();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
    std::this_thread::sleep_for(50ms);  // the FIN arrives while the connection is idle
  }
  CHECK(server.connections() == 3);
  CHECK(server.requests() == 3);  // nothing was sent into a dead connection
}

TEST_CASE("pool: a reused connection closed before any response byte is retried once on a fresh one (GET)") {
  // The second request on any connection is read and the connection dropped
  // without a byte of answer (a server closing an idle connection as the
  // request arrives).
  LoopbackServer server([](const ServerRequest& req) {
    if (req.request_on_conn >= 2) {
      Reply r;
      r.action = Reply::Action::close_silently;
      return r;
    }
    return ok_reply("fresh " + std::to_string(req.connection));
  });
  auto t = make_beast_transport();
  auto req = get(server.port());
  const std::string method = GENERATE(as<std::string>{}, "GET", "PUT", "DELETE");
  req.method = method;
  if (method == "PUT") req.body = "payload";
  auto first = t->send(req, loopback(server.port()));
  REQUIRE(first.ok());
  CHECK(first->body == "fresh 1");
  auto second = t->send(req, loopback(server.port()));
  REQUIRE(second.ok());
  CHECK(second->body == "fresh 2");
  CHECK(server.connections() == 2);
  auto got = server.received();
  REQUIRE(got.size() == 3);
  CHECK(got[1].connection == 1);
  CHECK(got[1].request_on_conn == 2);
  CHECK(got[2].connection == 2);
  CHECK(got[2].method == method);
  if (method == "PUT") CHECK(got[2].body == "payload");

  // Only once: when the fresh connection dies too, the caller hears about it.
  server.set_handler([](const ServerRequest&) {
    Reply r;
    r.action = Reply::Action::close_silently;
    return r;
  });
  auto third = t->send(req, loopback(server.port()));
  CHECK(third.code() == Code::unavailable);
  CHECK(server.requests() == 5);  // the reused connection, then one fresh one
  CHECK(server.connections() == 3);
}

TEST_CASE("pool: a POST/PATCH never rides a reused connection, and is sent exactly once") {
  // The server closes, without answering, any request that is not the first
  // on its connection: a reused connection would have lost a POST it may
  // have acted on (a job created, the answer lost).
  LoopbackServer server([](const ServerRequest& req) {
    if (req.request_on_conn >= 2) {
      Reply r;
      r.action = Reply::Action::close_silently;
      return r;
    }
    return ok_reply("fresh " + std::to_string(req.connection));
  });
  auto t = make_beast_transport();
  const std::string method = GENERATE(as<std::string>{}, "POST", "PATCH");
  auto req = get(server.port());
  req.method = method;
  req.body = R"({"submit":1})";
  for (int i = 1; i <= 3; ++i) {
    auto r = t->send(req, loopback(server.port()));
    REQUIRE(r.ok());
    CHECK(r->body == "fresh " + std::to_string(i));
  }
  CHECK(server.requests() == 3);     // each sent exactly once
  CHECK(server.connections() == 3);  // each on a fresh connection
  for (const auto& got : server.received()) {
    CHECK(got.method == method);
    CHECK(got.request_on_conn == 1);
  }
}

TEST_CASE("pool: a POST the server read and then dropped is reported, never resent") {
  LoopbackServer server([](const ServerRequest&) {
    Reply r;
    r.action = Reply::Action::close_silently;
    return r;
  });
  auto t = make_beast_transport();
  auto req = get(server.port());
  req.method = "POST";
  req.body = R"({"submit":1})";
  auto r = t->send(req, loopback(server.port()));
  CHECK_FALSE(r.ok());
  CHECK(r.code() == Code::unavailable);
  CHECK(r.status().retryable());
  CHECK(server.requests() == 1);
}

TEST_CASE("pool: never retried once the server may have processed the request") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  auto t = make_beast_transport();
  REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
  REQUIRE(server.connections() == 1);

  SECTION("part of a response, then close") {
    server.set_handler([](const ServerRequest& req) {
      if (req.request_on_conn < 2) return ok_reply();
      Reply r;
      r.action = Reply::Action::partial_then_close;
      return r;
    });
    auto r = t->send(get(server.port()), loopback(server.port()));
    CHECK(r.code() == Code::unavailable);
    CHECK(server.requests() == 2);
    CHECK(server.connections() == 1);
  }
  SECTION("a deadline on a reused connection") {
    server.set_handler([](const ServerRequest& req) {
      if (req.request_on_conn < 2) return ok_reply();
      Reply r;
      r.action = Reply::Action::hang;
      return r;
    });
    auto req = get(server.port());
    req.headers_timeout = 200ms;
    const auto start = Clock::now();
    auto r = t->send(req, loopback(server.port()));
    CHECK(r.code() == Code::timeout);
    CHECK(ms_since(start) >= 190);
    CHECK(ms_since(start) < 1500);
    CHECK(server.requests() == 2);
    CHECK(server.connections() == 1);
  }
  SECTION("a fresh connection closing before the response") {
    server.set_handler([](const ServerRequest&) {
      Reply r;
      r.action = Reply::Action::close_silently;
      return r;
    });
    auto req = get(server.port(), "fresh.test");  // a new key: no pooled connection
    CHECK(t->send(req, loopback(server.port())).code() == Code::unavailable);
    CHECK(server.requests() == 2);
    CHECK(server.connections() == 2);
  }
}

TEST_CASE("deadlines: headers, total and connect, each within bounds") {
  SECTION("no answer: headers deadline") {
    LoopbackServer server([](const ServerRequest&) {
      Reply r;
      r.action = Reply::Action::hang;
      return r;
    });
    auto t = make_beast_transport();
    auto req = get(server.port());
    req.headers_timeout = 250ms;
    const auto start = Clock::now();
    auto r = t->send(req, loopback(server.port()));
    CHECK(r.code() == Code::timeout);
    CHECK(ms_since(start) >= 240);
    CHECK(ms_since(start) < 1500);
  }
  SECTION("slow body: total deadline") {
    LoopbackServer server([](const ServerRequest&) {
      auto r = ok_reply(std::string(40, 'x'));
      r.action = Reply::Action::drip;
      r.drip_interval = 50ms;  // 2 s for the whole body
      return r;
    });
    auto t = make_beast_transport();
    auto req = get(server.port());
    req.total_timeout = 400ms;
    const auto start = Clock::now();
    auto r = t->send(req, loopback(server.port()));
    CHECK(r.code() == Code::timeout);
    CHECK(ms_since(start) >= 390);
    CHECK(ms_since(start) < 1500);
  }
  SECTION("a slow answer inside the deadlines succeeds") {
    LoopbackServer server([](const ServerRequest&) {
      auto r = ok_reply("late");
      r.delay = 150ms;
      return r;
    });
    auto t = make_beast_transport();
    auto req = get(server.port());
    req.headers_timeout = 1s;
    auto r = t->send(req, loopback(server.port()));
    REQUIRE(r.ok());
    CHECK(r->body == "late");
  }
  SECTION("a listener that never completes the handshake: connect deadline") {
    // A backlog-0 listener whose queue is already full drops further SYNs.
    const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(lfd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(lfd, 0) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const std::uint16_t port = ntohs(addr.sin_port);
    std::vector<int> fillers;
    for (int i = 0; i < 8; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
      (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);
    auto t = make_beast_transport();
    auto req = get(port);
    req.connect_timeout = 300ms;
    const auto start = Clock::now();
    auto r = t->send(req, loopback(port));
    const double took = ms_since(start);
    for (int fd : fillers) ::close(fd);
    ::close(lfd);
    CHECK(r.code() == Code::timeout);
    CHECK(took >= 290);
    CHECK(took < 1500);
  }
}

TEST_CASE("caps: body and header limits; a refused response does not poison the pool") {
  LoopbackServer server([](const ServerRequest& req) {
    if (req.target == "/big") return ok_reply(std::string(4096, 'b'));
    if (req.target == "/exact") return ok_reply(std::string(1024, 'e'));
    if (req.target == "/bighead") {
      auto r = ok_reply();
      r.headers.push_back({"X-Large", std::string(8192, 'h')});
      return r;
    }
    return ok_reply();
  });
  auto t = make_beast_transport();
  auto req = get(server.port(), "pool.test", "/big");
  req.max_response_bytes = 1024;
  CHECK(t->send(req, loopback(server.port())).code() == Code::payload_too_large);
  req = get(server.port(), "pool.test", "/exact");
  req.max_response_bytes = 1024;
  auto exact = t->send(req, loopback(server.port()));
  REQUIRE(exact.ok());
  CHECK(exact->body.size() == 1024);
  req = get(server.port(), "pool.test", "/bighead");
  req.max_header_bytes = 4096;
  CHECK(t->send(req, loopback(server.port())).code() == Code::payload_too_large);
  auto after = t->send(get(server.port()), loopback(server.port()));
  REQUIRE(after.ok());
  CHECK(after->body == "hello");
  CHECK(server.requests() == 4);
  CHECK(server.connections() == 3);  // the two refused answers closed their connections
}

TEST_CASE("redirects are returned, never followed; HEAD needs no body") {
  LoopbackServer server([](const ServerRequest& req) {
    Reply r;
    if (req.target == "/moved") {
      r.status = 302;
      r.headers = {{"Location", "http://169.254.169.254/latest/meta-data/"}};
    } else {
      r.body = "hello";
    }
    return r;
  });
  auto t = make_beast_transport();
  auto r = t->send(get(server.port(), "pool.test", "/moved"), loopback(server.port()));
  REQUIRE(r.ok());
  CHECK(r->status == 302);
  CHECK(r->header("location").value() == "http://169.254.169.254/latest/meta-data/");
  CHECK(server.requests() == 1);

  auto head = get(server.port(), "pool.test", "/page");
  head.method = "HEAD";
  head.total_timeout = 1s;
  auto h = t->send(head, loopback(server.port()));
  REQUIRE(h.ok());
  CHECK(h->status == 200);
  CHECK(h->header("content-length").value() == "5");
  CHECK(h->body.empty());
  auto after = t->send(get(server.port(), "pool.test", "/page"), loopback(server.port()));
  REQUIRE(after.ok());
  CHECK(after->body == "hello");
  CHECK(server.connections() == 1);
}

TEST_CASE("tls: verified against a CA made at test time; unknown CA and wrong name refused") {
  TempDir dir;
  std::string log;
  auto pki = make_test_pki(dir.path().string(), {"tls.test"}, {"127.0.0.1"}, log);
  INFO(log);
  REQUIRE(pki);
  LoopbackServer server([](const ServerRequest& req) { return ok_reply("secure " + req.sni); },
                        TlsFiles{pki->server_pem, pki->server_key});
  const auto to = loopback(server.port());
  auto https = [&](const std::string& host) {
    HttpRequest r = get(server.port(), host);
    r.url = "https://" + host + ":" + std::to_string(server.port()) + "/x";
    return r;
  };

  SECTION("trusted CA: success, SNI and Host from the URL, pooled") {
    BeastTransportOptions o;
    o.ca_file = pki->ca_pem;
    auto t = make_beast_transport(o);
    for (int i = 0; i < 3; ++i) {
      auto r = t->send(https("tls.test"), to);
      REQUIRE(r.ok());
      CHECK(r->body == "secure tls.test");
    }
    CHECK(server.connections() == 1);
    auto got = server.received();
    REQUIRE(got.size() == 3);
    CHECK(got[0].sni == "tls.test");
    CHECK(got[0].headers.at("host") == "tls.test:" + std::to_string(server.port()));

    // A name the certificate does not cover, on the same pinned address: a
    // new connection whose verification fails (the pooled one is not used).
    auto wrong = t->send(https("wrong.test"), to);
    CHECK(wrong.code() == Code::unavailable);
    CHECK_FALSE(wrong.status().retryable());
    CHECK(std::string(wrong.status().message()).find("tls handshake") != std::string::npos);
    CHECK(server.requests() == 3);
    CHECK(server.connections() == 2);

    // An IP literal URL is verified against the certificate's IP SAN (no SNI).
    HttpRequest by_ip = https("tls.test");
    by_ip.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/x";
    auto ip = t->send(by_ip, to);
    REQUIRE(ip.ok());
    CHECK(ip->body == "secure ");
  }
  SECTION("an unknown CA is refused before anything is sent") {
    BeastTransportOptions o;
    o.ca_file = pki->other_ca_pem;
    auto t = make_beast_transport(o);
    auto r = t->send(https("tls.test"), to);
    CHECK(r.code() == Code::unavailable);
    CHECK_FALSE(r.status().retryable());
    CHECK(server.requests() == 0);
    auto d = make_beast_transport();  // system trust store only
    CHECK(d->send(https("tls.test"), to).code() == Code::unavailable);
    CHECK(server.requests() == 0);
  }
  SECTION("verify_peer = false accepts the unknown CA (explicit opt-out)") {
    BeastTransportOptions o;
    o.ca_file = pki->other_ca_pem;
    o.verify_peer = false;
    auto t = make_beast_transport(o);
    auto r = t->send(https("tls.test"), to);
    REQUIRE(r.ok());
    CHECK(server.requests() == 1);
  }
}

TEST_CASE("loopback latency: pooled vs one connection per request", "[.bench]") {
  LoopbackServer server([](const ServerRequest&) { return ok_reply(); });
  for (bool pool : {false, true}) {
    BeastTransportOptions o;
    o.pool = pool;
    auto t = make_beast_transport(o);
    REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());  // warm up
    const int n = 500;
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) REQUIRE(t->send(get(server.port()), loopback(server.port())).ok());
    std::printf("{\"pool\": %s, \"requests\": %d, \"mean_us\": %.1f}\n", pool ? "true" : "false", n,
                ms_since(start) * 1000.0 / n);
  }
}
