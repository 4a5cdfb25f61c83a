// The generic emulator server: routing, keep-alive, latency, hang, reset.
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <future>
#include <thread>

#include "babysea/transport.hpp"
#include "emulator_server.hpp"

using namespace babysea;
using namespace babysea::emu;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

ConnectTarget loopback(std::uint16_t port) { return ConnectTarget{IpAddress::v4(127, 0, 0, 1), port}; }

HttpRequest make(std::string method, std::string url, std::string body = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.connect_timeout = std::chrono::milliseconds(2000);
  r.headers_timeout = std::chrono::milliseconds(2000);
  r.total_timeout = std::chrono::milliseconds(3000);
  return r;
}

}  // namespace

TEST_CASE("emulator server routes by method and longest prefix", "[emulators][server]") {
  EmulatorServer server;
  server.route("GET", "/v1/", [](const EmuRequest&) { return EmuResponse::json(200, R"({"r":"v1"})"); });
  server.route("GET", "/v1/tasks/", [](const EmuRequest& r) {
    return EmuResponse::json(200, "{\"r\":\"tasks\",\"path\":\"" + r.path + "\",\"q\":\"" +
                                      r.query_param("id").value_or("-") + "\"}");
  });
  server.route("POST", "/v1/tasks", [](const EmuRequest& r) {
    return EmuResponse::json(201, r.body).with_header("X-Echo", r.header("x-custom").value_or(""));
  });
  server.start();
  REQUIRE(server.port() != 0);
  auto transport = make_beast_transport();

  auto a = transport->send(make("GET", server.base_url() + "/v1/tasks/abc?id=a%20b+c"), loopback(server.port()));
  REQUIRE(a.ok());
  CHECK(a.value().status == 200);
  CHECK(a.value().body == R"({"r":"tasks","path":"/v1/tasks/abc","q":"a b c"})");

  auto b = transport->send(make("GET", server.base_url() + "/v1/other"), loopback(server.port()));
  REQUIRE(b.ok());
  CHECK(b.value().body == R"({"r":"v1"})");

  auto req = make("POST", server.base_url() + "/v1/tasks", R"({"x":1})");
  req.headers.push_back({"X-Custom", "yes"});
  auto c = transport->send(req, loopback(server.port()));
  REQUIRE(c.ok());
  CHECK(c.value().status == 201);
  CHECK(c.value().body == R"({"x":1})");
  CHECK(c.value().header("x-echo").value_or("") == "yes");

  // "/v1/tasks" without a slash does not match "/v1/tasksX"; no route at all is 404.
  auto d = transport->send(make("POST", server.base_url() + "/v1/tasksX"), loopback(server.port()));
  REQUIRE(d.ok());
  CHECK(d.value().status == 404);
  auto e = transport->send(make("DELETE", server.base_url() + "/nothing"), loopback(server.port()));
  REQUIRE(e.ok());
  CHECK(e.value().status == 404);
  CHECK(server.requests() == 5);
}

TEST_CASE("emulator server keeps connections alive", "[emulators][server]") {
  EmulatorServer server;
  int calls = 0;
  server.route("GET", "/n", [&calls](const EmuRequest&) { return EmuResponse::text(200, std::to_string(++calls)); });
  server.start();

  boost::asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), server.port()));
  beast::flat_buffer buf;
  for (int i = 1; i <= 3; ++i) {
    http::request<http::string_body> req{http::verb::get, "/n", 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    http::write(sock, req);
    http::response<http::string_body> res;
    http::read(sock, buf, res);
    CHECK(res.body() == std::to_string(i));
    CHECK(res.keep_alive());
  }
  CHECK(server.connections() == 1);
  CHECK(server.requests() == 3);
}

TEST_CASE("emulator server latency, hang and reset", "[emulators][server]") {
  EmulatorServer server;
  server.route("GET", "/slow", [](const EmuRequest&) { return EmuResponse::text(200, "late"); },
               std::chrono::milliseconds(800));
  server.route("GET", "/hang", [](const EmuRequest&) { return EmuResponse::hang(); });
  server.route("GET", "/reset", [](const EmuRequest&) { return EmuResponse::reset(); });
  server.route("GET", "/delay", [](const EmuRequest&) {
    auto r = EmuResponse::text(200, "d");
    r.delay = std::chrono::milliseconds(200);
    return r;
  });
  server.start();
  auto transport = make_beast_transport();

  auto t0 = std::chrono::steady_clock::now();
  auto slow = transport->send(make("GET", server.base_url() + "/slow"), loopback(server.port()));
  auto slow_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(slow.ok());
  CHECK(slow.value().body == "late");
  CHECK(slow_ms >= 790);

  t0 = std::chrono::steady_clock::now();
  auto delayed = transport->send(make("GET", server.base_url() + "/delay"), loopback(server.port()));
  REQUIRE(delayed.ok());
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(190));

  // Latency is changeable at run time.
  REQUIRE(server.set_route_latency("GET", "/slow", std::chrono::milliseconds(0)));
  CHECK_FALSE(server.set_route_latency("GET", "/none", std::chrono::milliseconds(0)));
  t0 = std::chrono::steady_clock::now();
  REQUIRE(transport->send(make("GET", server.base_url() + "/slow"), loopback(server.port())).ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(600));

  auto hang_req = make("GET", server.base_url() + "/hang");
  hang_req.headers_timeout = std::chrono::milliseconds(300);
  hang_req.total_timeout = std::chrono::milliseconds(400);
  auto hung = transport->send(hang_req, loopback(server.port()));
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.status().code() == Code::timeout);

  auto reset = transport->send(make("GET", server.base_url() + "/reset"), loopback(server.port()));
  REQUIRE_FALSE(reset.ok());
  CHECK(reset.status().code() == Code::unavailable);
}

TEST_CASE("emulator server stop releases a hung connection", "[emulators][server]") {
  auto server = std::make_unique<EmulatorServer>();
  server->route("GET", "/hang", [](const EmuRequest&) { return EmuResponse::hang(); });
  server->start();
  auto transport = make_beast_transport();
  auto req = make("GET", server->base_url() + "/hang");
  req.headers_timeout = std::chrono::milliseconds(5000);
  req.total_timeout = std::chrono::milliseconds(5000);
  std::promise<Result<HttpResponse>> p;
  auto f = p.get_future();
  transport->async_send(req, loopback(server->port()),
                        [&p](Result<HttpResponse> r) { p.set_value(std::move(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  server->stop();
  auto r = f.get();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK_FALSE(r.ok());
}

TEST_CASE("url helpers", "[emulators][server]") {
  CHECK(url_decode("a%2Fb+c%zz") == "a/b c%zz");
  CHECK(url_decode("a+b", false) == "a+b");
  CHECK(url_encode("http://x/y?z=1") == "http%3A%2F%2Fx%2Fy%3Fz%3D1");
  CHECK(url_decode(url_encode("ä ö/?&=")) == "ä ö/?&=");
}
