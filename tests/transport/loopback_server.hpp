// A small HTTP/1.1 server on 127.0.0.1:0 for transport and asset tests:
// plain or TLS, keep-alive, one thread per connection, and a handler that
// decides every answer (respond, hang, drip, close without answering, close
// after part of the response). Counts accepted connections and requests.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace babysea::testing {

struct ServerRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
  std::string sni;           // TLS server name the client sent (empty: none / plain)
  int connection = 0;        // 1-based index of the accepted connection
  int request_on_conn = 0;   // 1-based index of the request on its connection
};

struct Reply {
  enum class Action {
    respond,             // send the response (after `delay`)
    hang,                // never answer (until the server stops, at most 20 s)
    close_silently,      // close the connection without a response byte
    partial_then_close,  // send the status line and part of the headers, then close
    drip,                // send the headers, then the body one byte per `drip_interval`
  };
  Action action = Action::respond;
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // answer with Connection: close and close afterwards
  bool drop_after = false;  // close after answering, without announcing it
  std::chrono::milliseconds delay{0};
  std::chrono::milliseconds drip_interval{50};
};

using Handler = std::function<Reply(const ServerRequest&)>;

struct TlsFiles {
  std::string cert_chain;  // PEM: server certificate (then intermediates)
  std::string key;         // PEM private key
};

class LoopbackServer {
 public:
  explicit LoopbackServer(Handler handler, std::optional<TlsFiles> tls = std::nullopt);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  std::uint16_t port() const;
  int connections() const;   // accepted TCP connections
  int requests() const;      // requests read
  int tls_failures() const;  // TLS handshakes that failed (server side)
  std::vector<ServerRequest> received() const;
  void set_handler(Handler h);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A CA and a server certificate made with the openssl CLI in `dir`:
// ca.pem/ca.key (the trusted CA), server.pem/server.key (signed by it, for
// `names`: DNS names and IP addresses), other_ca.pem (an unrelated CA).
struct TestPki {
  std::string ca_pem, server_pem, server_key, other_ca_pem;
};
// Returns nullopt (and the openssl output in `log`) when openssl failed.
std::optional<TestPki> make_test_pki(const std::string& dir, const std::vector<std::string>& dns_names,
                                     const std::vector<std::string>& ip_names, std::string& log);

}  // namespace babysea::testing
