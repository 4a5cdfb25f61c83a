// emulator_server.hpp — a tiny HTTP/1.1 server for provider emulators.
//
// EmulatorServer listens on a loopback address (port 0 by default: the OS
// picks one), runs its own io_context on 1-2 threads, keeps connections alive
// (HTTP/1.1 keep-alive, `Connection: close` honoured) and routes every request
// by method + path prefix to a Handler. The handler sees the parsed request
// and returns a Response that says what to do:
//   - respond: write status/headers/body (after `delay`, if any);
//   - hang:    never answer; hold the connection open until the client gives
//              up or the server stops;
//   - reset:   close the socket without answering (a TCP RST when possible).
// Every route may carry a fixed latency, added before its answer.
//
// Usage:
//   EmulatorServer server;                       // 127.0.0.1:0, 2 threads
//   server.route("GET", "/v1/tasks/", [](const EmuRequest& r) {
//     return EmuResponse::json(200, R"({"ok":true})");
//   });
//   server.start();                              // listening when it returns
//   std::string base = server.base_url();        // "http://127.0.0.1:41234"
//   ...
//   server.stop();                               // or the destructor
//
// Routing: the longest matching prefix wins; method "*" matches any method;
// a request no route matches gets 404 {"error":"no route"}. A path prefix
// ending in '/' matches everything below it; one without matches the path
// exactly or with a following '/' or '?'.
//
// Handlers run on the server's I/O threads and must not block (no sleeps, no
// waiting on other requests): use Response::delay / hang instead. They may be
// called concurrently for different connections. Never call stop() from a
// handler.
//
// Thread safety: route()/set_route_latency() may be called at any time from
// any thread; start()/stop() from one controlling thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace babysea::emu {

// One parsed request, as the handler sees it.
struct EmuRequest {
  std::string method;  // "GET", "POST", ... (upper case as sent)
  std::string target;  // raw request target, e.g. "/v1/get_result?id=abc"
  std::string path;    // target up to '?'
  std::string query;   // after '?', raw (may be empty)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  // First header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  // First query parameter with this name, percent-decoded ('+' is a space).
  std::optional<std::string> query_param(std::string_view name) const;
};

struct EmuResponse {
  enum class Action { respond, hang, reset };

  Action action = Action::respond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // extra wait before answering (or resetting)

  static EmuResponse json(int status, std::string body);
  static EmuResponse text(int status, std::string body, std::string content_type = "text/plain");
  static EmuResponse hang();
  static EmuResponse reset();
  EmuResponse& with_header(std::string name, std::string value);
};

using EmuHandler = std::function<EmuResponse(const EmuRequest&)>;

class Session;  // internal

// Percent-decodes `s` ('+' becomes a space when `plus_is_space`).
std::string url_decode(std::string_view s, bool plus_is_space = true);
// Percent-encodes everything outside RFC 3986 unreserved characters.
std::string url_encode(std::string_view s);

struct EmulatorServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port
  int threads = 2;         // 1 or 2 is plenty
  std::size_t max_body_bytes = 16u << 20;
};

class EmulatorServer {
 public:
  explicit EmulatorServer(EmulatorServerOptions options = {});
  ~EmulatorServer();  // stop()
  EmulatorServer(const EmulatorServer&) = delete;
  EmulatorServer& operator=(const EmulatorServer&) = delete;

  // Adds (or replaces) the route for (method, prefix). `latency` is added
  // before every answer of this route.
  void route(std::string method, std::string path_prefix, EmuHandler handler,
             std::chrono::milliseconds latency = std::chrono::milliseconds{0});
  // Changes the latency of an existing route; false when there is none.
  bool set_route_latency(std::string_view method, std::string_view path_prefix, std::chrono::milliseconds latency);

  // Binds, listens and starts the I/O threads. Throws std::runtime_error when
  // the address cannot be bound. Idempotent.
  void start();
  // Stops accepting, closes every connection (hung ones included) and joins
  // the threads. Idempotent. The server cannot be started again.
  void stop();

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string base_url() const;
  // Requests parsed so far (all routes) and connections accepted so far.
  std::uint64_t requests() const { return requests_.load(); }
  std::uint64_t connections() const { return connections_.load(); }

 private:
  struct Impl;
  friend struct Impl;
  friend class Session;
  std::unique_ptr<Impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> connections_{0};
};

}  // namespace babysea::emu
