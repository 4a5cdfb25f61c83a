// The loopback test server (see loopback_server.hpp): blocking Beast, one
// thread per connection; stopping shuts every open connection down.
#include "transport/loopback_server.hpp"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace babysea::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

struct LoopbackServer::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<asio::ssl::context> tls;
  std::uint16_t port = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};
  std::atomic<int> tls_failures{0};
  mutable std::mutex mu;
  Handler handler;
  std::vector<ServerRequest> received;
  std::set<int> open_fds;  // accepted sockets still owned by a serving thread
  std::thread accept_thread;
  std::vector<std::thread> conns;

  void pause(std::chrono::milliseconds d) const {
    const auto end = std::chrono::steady_clock::now() + d;
    while (!stop && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  void accept_loop() {
    for (int index = 1;; ++index) {
      tcp::socket sock(ioc);
      beast::error_code ec;
      acceptor.accept(sock, ec);
      if (ec) return;
      std::lock_guard<std::mutex> lock(mu);
      if (stop) return;
      ++connections;
      open_fds.insert(sock.native_handle());
      conns.emplace_back([this, index, s = std::move(sock)]() mutable { serve(index, std::move(s)); });
    }
  }

  void serve(int index, tcp::socket sock) {
    const int fd = sock.native_handle();
    if (!tls) {
      exchange(sock, index, "");
    } else {
      asio::ssl::stream<tcp::socket&> stream(sock, *tls);
      beast::error_code ec;
      stream.handshake(asio::ssl::stream_base::server, ec);
      if (ec) {
        ++tls_failures;
      } else {
        const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
        exchange(stream, index, sni ? sni : "");
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    open_fds.erase(fd);  // before the socket closes: the fd number may be reused
    beast::error_code ignored;
    sock.close(ignored);
  }

  template <typename Stream>
  void exchange(Stream& stream, int index, const std::string& sni) {
    beast::flat_buffer buf;
    for (int n = 1; !stop; ++n) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64u << 20);
      beast::error_code ec;
      http::read(stream, buf, parser, ec);
      if (ec) return;
      auto req = parser.release();
      ++requests;
      ServerRequest sr;
      sr.method = std::string(req.method_string());
      sr.target = std::string(req.target());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        sr.headers[name] = std::string(f.value());
      }
      sr.body = req.body();
      sr.sni = sni;
      sr.connection = index;
      sr.request_on_conn = n;
      Handler h;
      {
        std::lock_guard<std::mutex> lock(mu);
        received.push_back(sr);
        h = handler;
      }
      const Reply rep = h(sr);
      switch (rep.action) {
        case Reply::Action::hang:
          pause(std::chrono::seconds(20));
          return;
        case Reply::Action::close_silently:
          return;
        case Reply::Action::partial_then_close: {
          static const std::string partial = "HTTP/1.1 200 OK\r\nContent-Le";
          asio::write(stream, asio::buffer(partial), ec);
          pause(std::chrono::milliseconds(20));
          return;
        }
        case Reply::Action::drip:
        case Reply::Action::respond:
          break;
      }
      pause(rep.delay);
      http::response<http::string_body> res;
      res.version(11);
      res.result(static_cast<unsigned>(rep.status));
      for (const auto& [k, v] : rep.headers) res.insert(k, v);
      if (rep.close) res.set(http::field::connection, "close");
      res.body() = rep.body;
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();  // the length of what GET would send
      if (rep.action == Reply::Action::drip) {
        http::response_serializer<http::string_body> sr2(res);
        http::write_header(stream, sr2, ec);
        for (char c : rep.body) {
          if (ec || stop) return;
          pause(rep.drip_interval);
          asio::write(stream, asio::buffer(&c, 1), ec);
        }
        return;
      }
      http::write(stream, res, ec);
      if (ec || rep.close || rep.drop_after) return;
    }
  }
};

LoopbackServer::LoopbackServer(Handler handler, std::optional<TlsFiles> tls) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  if (tls) {
    impl_->tls.emplace(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(tls->cert_chain);
    impl_->tls->use_private_key_file(tls->key, asio::ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] { impl_->accept_loop(); });
}

LoopbackServer::~LoopbackServer() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
    for (int fd : impl_->open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  ::shutdown(impl_->acceptor.native_handle(), SHUT_RDWR);  // wakes accept()
  impl_->accept_thread.join();
  for (auto& t : impl_->conns) t.join();
}

std::uint16_t LoopbackServer::port() const { return impl_->port; }
int LoopbackServer::connections() const { return impl_->connections.load(); }
int LoopbackServer::requests() const { return impl_->requests.load(); }
int LoopbackServer::tls_failures() const { return impl_->tls_failures.load(); }

std::vector<ServerRequest> LoopbackServer::received() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->received;
}

void LoopbackServer::set_handler(Handler h) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->handler = std::move(h);
}

namespace {

bool run(const std::string& dir, const std::string& cmd, std::string& log) {
  const std::string full = "cd '" + dir + "' && " + cmd + " >>openssl.log 2>&1";
  const int rc = std::system(full.c_str());
  if (rc != 0) {
    std::ifstream in(dir + "/openssl.log");
    std::stringstream ss;
    ss << in.rdbuf();
    log = "failed: " + cmd + "\n" + ss.str();
    return false;
  }
  return true;
}

}  // namespace

std::optional<TestPki> make_test_pki(const std::string& dir, const std::vector<std::string>& dns_names,
                                     const std::vector<std::string>& ip_names, std::string& log) {
  const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::string san = "subjectAltName=";
  bool first = true;
  for (const auto& n : dns_names) {
    san += (first ? "DNS:" : ",DNS:") + n;
    first = false;
  }
  for (const auto& n : ip_names) {
    san += (first ? "IP:" : ",IP:") + n;
    first = false;
  }
  {
    std::ofstream ext(dir + "/server.ext");
    ext << san << "\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        << "extendedKeyUsage=serverAuth\n";
  }
  const std::string ca_ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
  if (!run(dir, "openssl req -x509 " + ec_key + " -keyout ca.key -out ca.pem -days 2 -subj '/CN=babysea test CA' " + ca_ext, log))
    return std::nullopt;
  if (!run(dir, "openssl req -x509 " + ec_key + " -keyout other_ca.key -out other_ca.pem -days 2 -subj '/CN=babysea other CA' " + ca_ext, log))
    return std::nullopt;
  if (!run(dir, "openssl req " + ec_key + " -keyout server.key -out server.csr -subj '/CN=babysea test server'", log))
    return std::nullopt;
  if (!run(dir, "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 -out server.pem -extfile server.ext", log))
    return std::nullopt;
  return TestPki{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key", dir + "/other_ca.pem"};
}

}  // namespace babysea::testing
