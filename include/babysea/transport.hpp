// babysea/transport.hpp — outbound HTTP, behind one interface.
//
// `Transport` sends one HTTP/1.1 request to an address chosen by the caller
// (normally the pinned address of a NetGuard check) while the Host header and
// TLS SNI come from the request URL. It never resolves names, never follows
// redirects (a 3xx is returned as a response) and bounds everything: connect,
// response-headers and total deadlines per request, and a response body cap.
//
// Codes (of the Result passed to the completion / returned by send):
//   timeout           a deadline passed (connect, headers or total)
//   unavailable       connection refused/reset/closed early (retryable)
//   payload_too_large response body or headers above the cap
//   invalid_request   malformed URL, CR/LF or NUL in a header name or value
//   unsupported       a scheme this transport cannot speak
// Any HTTP status (including 4xx/5xx/3xx) is a successful Result.
//
// Implementations: make_beast_transport() (Boost.Beast over its own
// io_context and threads; https through OpenSSL with SNI and certificate
// verification against the URL host). Tests use their own fakes.
//
// Ownership: requests are taken by value; the completion is called exactly
// once, on a transport thread (or inline on error before any I/O).
// Thread safety: a Transport is safe for concurrent use.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/net_guard.hpp"
#include "babysea/status.hpp"

namespace babysea {

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute http(s) URL: scheme, Host header, SNI and target
  std::vector<HttpHeader> headers;  // Host, Content-Length and Connection are set by the transport
  std::string body;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds headers_timeout{10'000};  // from connect until the response headers
  std::chrono::milliseconds total_timeout{30'000};    // the whole exchange
  std::size_t max_response_bytes = 1u << 20;          // body cap
  std::size_t max_header_bytes = 16u << 10;           // response header cap
};

struct HttpResponse {
  int status = 0;
  std::vector<HttpHeader> headers;
  std::string body;
  // First header with this name (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
};

// Where to connect: an address and port (never a name).
struct ConnectTarget {
  IpAddress address;
  std::uint16_t port = 0;
};

using HttpCompletion = std::function<void(Result<HttpResponse>)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts the exchange; `done` runs once with the outcome.
  virtual void async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) = 0;
  // Blocking form: async_send and wait. Never call it from a transport thread.
  Result<HttpResponse> send(HttpRequest request, ConnectTarget target);
};

struct BeastTransportOptions {
  int threads = 1;  // I/O threads of the transport's own io_context
  // https: verify the peer certificate chain and host name (default paths).
  bool verify_peer = true;
  std::string ca_file;  // extra CA bundle (PEM); empty = system default paths

  // Keep-alive connection pool, keyed by (scheme, pinned address, port, URL
  // host): a connection is only ever reused for the same host name it was
  // opened (and, for https, verified) for. false: one connection per request
  // with `Connection: close`.
  bool pool = true;
  std::size_t max_idle_per_host = 8;    // idle connections kept per key (0: none)
  std::size_t max_idle_total = 64;      // idle connections kept in all (oldest evicted first)
  std::chrono::milliseconds idle_timeout{30'000};  // an idle connection older than this is closed
};

// A Beast HTTP/1.1 client with a keep-alive pool (see BeastTransportOptions).
// Only idempotent methods take a pooled connection; POST/PATCH always open a
// fresh one (a dead reused connection could not be retried safely). A pooled
// connection is checked before reuse (closed or readable: dropped).
// If a reused connection still turns out dead, the request is retried once on
// a fresh connection, and only when resending cannot do harm: the method is
// idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) and the write failed or
// the connection closed before any response byte. A POST/PATCH is never
// resent, not even after a failed first write (a byte count is no proof the
// peer saw nothing): the caller gets the (retryable) unavailable error. A
// timeout, or a close after part of the response, is never retried. Deadlines
// cover the retry too (they run from the call). Destroying the transport
// waits for the I/O threads, i.e. for pending exchanges to end (each bounded
// by its deadlines), and closes the idle connections.
std::unique_ptr<Transport> make_beast_transport(BeastTransportOptions options = {});

// Fetches `request.url` through `guard`: checks the URL, connects to the
// pinned address, and follows up to `max_redirects` redirects (capped by the
// guard's max_redirects), re-checking every hop (relative Locations resolve
// against the current URL; 303 turns into GET without body). Past the cap:
// invalid_request with issue code "too_many_redirects". A refused hop is
// url_forbidden and nothing is sent to it. max_redirects = 0 returns any 3xx
// as the response.
Result<HttpResponse> fetch_guarded(const NetGuard& guard, Transport& transport, HttpRequest request,
                                   int max_redirects);

}  // namespace babysea
