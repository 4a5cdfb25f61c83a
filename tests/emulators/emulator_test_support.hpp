// Helpers shared by the emulator tests: a loopback HTTP client over babysea's
// Beast transport, JSON reading, polling and base64 decoding.
#pragma once

#include <sodium.h>

#include <catch2/catch.hpp>

#include <boost/json.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "babysea/transport.hpp"
#include "emulator_base.hpp"

namespace babysea::emu::testing {

namespace json = boost::json;
using std::chrono::milliseconds;

// The test client. No keep-alive pool by default: the pooled Beast transport
// retries a request once when a reused connection closes before any answer,
// which would hide the emulators' reset faults.
struct Http {
  explicit Http(bool pool = false, std::size_t max_bytes = HttpRequest{}.max_response_bytes)
      : max_response_bytes(max_bytes) {
    BeastTransportOptions o;
    o.pool = pool;
    transport = make_beast_transport(o);
  }
  std::unique_ptr<Transport> transport;
  std::size_t max_response_bytes;

  // Sends to the host and port of `url`; a non-empty body gets a JSON
  // Content-Type unless `headers` name one. `timeout` bounds every phase.
  Result<HttpResponse> send(std::string method, std::string url, std::vector<HttpHeader> headers = {},
                            std::string body = {}, milliseconds timeout = milliseconds(3000)) {
    HttpRequest r;
    r.method = std::move(method);
    r.url = std::move(url);
    r.headers = std::move(headers);
    bool typed = false;
    for (const auto& h : r.headers) typed = typed || h.name == "Content-Type";
    if (!body.empty() && !typed) r.headers.push_back({"Content-Type", "application/json"});
    r.body = std::move(body);
    r.connect_timeout = r.headers_timeout = r.total_timeout = timeout;
    r.max_response_bytes = max_response_bytes;
    auto target = parse_http_url(r.url);
    REQUIRE(target);
    return transport->send(std::move(r), ConnectTarget{*IpAddress::parse(target->host), target->port});
  }
  // send() that must get an answer (any status).
  HttpResponse ok(std::string method, std::string url, std::vector<HttpHeader> headers = {}, std::string body = {}) {
    auto r = send(std::move(method), std::move(url), std::move(headers), std::move(body));
    INFO((r.ok() ? std::string() : r.status().message()));
    REQUIRE(r.ok());
    return r.value();
  }
};

inline json::object parse_obj(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  INFO(body);
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  return v.as_object();
}

// The string member `key` of `o`, or "" when absent or not a string.
inline std::string str(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

// Polls `fn` until it returns true or `timeout` passes.
inline bool eventually(const std::function<bool()>& fn,
                       milliseconds timeout = milliseconds(5000),
                       milliseconds step = milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(step);
  }
  return fn();
}

// Decodes standard (padded) base64.
inline std::string unbase64(std::string_view b64) {
  std::string raw(b64.size(), '\0');
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), b64.data(), b64.size(), nullptr,
                            &len, nullptr, sodium_base64_VARIANT_ORIGINAL) == 0);
  raw.resize(len);
  return raw;
}

// Job timing: `queued_ms` in the queue, then `running_ms` running.
inline void fast(EmulatorBase& e, int queued_ms = 50, int running_ms = 100) {
  e.faults().set_job_timing(JobTiming{milliseconds(queued_ms), milliseconds(running_ms)});
}

}  // namespace babysea::emu::testing
