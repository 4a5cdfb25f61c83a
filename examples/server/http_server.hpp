// http_server.hpp — the reference server's HTTP/1.1 plumbing (Boost.Beast).
//
// `HttpServer` accepts connections on one address, reads requests with a
// Beast parser under header and body caps, refuses at the protocol level what
// specs/security.md asks (I12, I14, PROTO-01): malformed or conflicting
// framing (two Content-Length values, Content-Length with Transfer-Encoding,
// a Transfer-Encoding other than chunked), oversized headers (431) and bodies
// (413, judged from Content-Length before any byte of the body is read),
// TRACE/CONNECT and other unsupported methods (405), method-override headers,
// a missing or repeated Host, and request targets that are not origin-form.
// Every refusal answers JSON, then closes the connection so a pipelined
// request behind it is never processed.
//
// Accepted requests run on a separate handler pool (handlers may block on a
// durable commit); a handler answers through a `Respond` it may call later
// from another thread, so a request waiting on a generation pins no thread.
// Responses are written back on the connection's strand, in order, with
// keep-alive.
//
// Thread safety: start()/stop() from one thread; the handler is called
// concurrently from pool threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "babysea/status.hpp"

namespace babysea::server {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // origin-form: "/path?query"
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  std::string peer;  // remote address (for logs only; never for identity)

  // The value of the first header named `name` (case-insensitive), if any.
  const std::string* header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
  // Every value of the headers named `name` (case-insensitive), in order.
  std::vector<std::string_view> values(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after writing
};

// Answers one request: called exactly once per request, from any thread,
// during the handler or later (a response that waits on the engine).
using Respond = std::function<void(HttpResponse)>;
// Handles one request on a handler-pool thread; `request` stays valid only
// until the handler returns. The handler may block briefly (a durable
// commit) but hands long waits to `respond`, which holds no thread.
using HttpHandler = std::function<void(const HttpRequest& request, Respond respond)>;
// Builds the body of a protocol refusal (JSON), given status and message.
using RefusalBody = std::function<std::string(int status, std::string_view code, std::string_view message)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int io_threads = 2;
  int handler_threads = 8;
  std::size_t max_header_bytes = 16u << 10;
  std::size_t max_body_bytes = 1u << 20;
  std::int64_t request_timeout_ms = 30'000;  // reading one request (and idle keep-alive)
};

class HttpServer {
 public:
  // Binds and listens (the port is known after this); does not accept yet.
  static Result<std::unique_ptr<HttpServer>> bind(HttpServerOptions options);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  const std::string& host() const;
  // Limits and thread counts may be changed until start() (host/port are fixed).
  HttpServerOptions& options();
  // Starts accepting; `handler` answers every accepted request.
  void start(HttpHandler handler, RefusalBody refusal);
  // Stops accepting, lets running handlers finish, closes every connection.
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea::server
