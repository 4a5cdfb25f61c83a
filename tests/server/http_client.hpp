// A small HTTP/1.1 test client over Beast (every call bounded by a timeout),
// plus a raw-bytes exchange for protocol tests.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <array>
#include <cctype>
#include <chrono>
#include <functional>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace babysea::testing::http_client {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool ok = false;  // the exchange completed

  const std::string* header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
  boost::json::value json() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) throw std::runtime_error("response is not JSON: " + body.substr(0, 300));
    return v;
  }
};

using Headers = std::vector<std::pair<std::string, std::string>>;

inline Response request(std::uint16_t port, const std::string& method, const std::string& target,
                        const Headers& headers = {}, const std::string& body = {},
                        std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  Response out;
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.insert(k, v);
  if (!body.empty() || method == "POST") {
    req.body() = body;
    req.prepare_payload();
  }
  req.keep_alive(false);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{64} << 20);
  if (method == "HEAD") parser.skip(true);
  net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  stream.expires_after(timeout);
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code wec, std::size_t) {
      if (wec) return;
      http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
        if (rec) return;
        out.ok = true;
      });
    });
  });
  ioc.run();
  if (out.ok) {
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(f.value());
    }
    out.body = std::move(res.body());
  }
  return out;
}

// Sends `bytes` and returns everything received until the peer closes or
// `timeout` passes; `closed` says whether the peer closed.
struct RawResult {
  std::string data;
  bool closed = false;
};

inline RawResult raw_exchange(std::uint16_t port, const std::string& bytes,
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) {
  namespace net = boost::asio;
  namespace beast = boost::beast;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  RawResult out;
  std::array<char, 4096> buf{};
  std::function<void()> read_more = [&] {
    sock.async_read_some(net::buffer(buf), [&](beast::error_code ec, std::size_t n) {
      out.data.append(buf.data(), n);
      if (ec) {
        out.closed = true;
        return;
      }
      read_more();
    });
  };
  net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  sock.async_connect(ep, [&](beast::error_code ec) {
    if (ec) return;
    net::async_write(sock, net::buffer(bytes), [&](beast::error_code wec, std::size_t) {
      if (wec) return;
      read_more();
    });
  });
  ioc.run_for(timeout);
  return out;
}

}  // namespace babysea::testing::http_client
