// The Beast HTTP/1.1 client: one connection per request, to a pinned address,
// with per-phase deadlines and a response body cap.
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <thread>

#include "babysea/transport.hpp"

namespace babysea {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What the transport needs from the request URL.
struct Target {
  bool https = false;
  std::string host;         // for SNI / verification (no brackets)
  std::string host_header;  // host[:port]
  std::string target;       // origin-form
  bool numeric_host = false;
};

bool bad_header_text(std::string_view s) {
  for (char c : s)
    if (c == '\r' || c == '\n' || c == '\0') return true;
  return false;
}

Result<Target> parse_target(std::string_view url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status(Code::invalid_request, "request URL is not an absolute URI");
  boost::urls::url_view u = *parsed;
  Target t;
  auto id = u.scheme_id();
  if (id == boost::urls::scheme::https) {
    t.https = true;
  } else if (id != boost::urls::scheme::http) {
    return Status(Code::unsupported, "only http and https are supported");
  }
  if (!u.has_authority() || u.encoded_host_address().empty())
    return Status(Code::invalid_request, "request URL has no host");
  if (u.has_userinfo()) return Status(Code::invalid_request, "request URL carries user information");
  t.host = u.encoded_host_address();
  t.numeric_host = u.host_type() == boost::urls::host_type::ipv4 || u.host_type() == boost::urls::host_type::ipv6;
  t.host_header = u.encoded_host();  // includes brackets for IPv6
  if (u.has_port() && !u.port().empty()) {
    std::uint16_t def = t.https ? 443 : 80;
    if (u.port_number() != def) {
      t.host_header += ':';
      t.host_header += u.port();
    }
  }
  std::string_view tg = u.encoded_target();
  t.target = tg.empty() ? "/" : std::string(tg);
  if (t.target.front() != '/') t.target.insert(t.target.begin(), '/');
  if (bad_header_text(t.host_header) || bad_header_text(t.target))
    return Status(Code::invalid_request, "request URL contains CR, LF or NUL");
  return t;
}

Status map_error(const beast::error_code& ec, std::string_view phase) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out)
    return Status(Code::timeout, std::string(phase) + ": deadline passed");
  if (ec == http::error::body_limit) return Status(Code::payload_too_large, "response body above the cap");
  if (ec == http::error::header_limit) return Status(Code::payload_too_large, "response headers above the cap");
  if (ec == asio::error::operation_aborted) return Status(Code::canceled, std::string(phase) + ": canceled");
  return Status(Code::unavailable, std::string(phase) + ": " + ec.message());
}

asio::ip::address to_asio(const IpAddress& a) {
  if (!a.v6) return asio::ip::address_v4(asio::ip::address_v4::bytes_type{a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]});
  asio::ip::address_v6::bytes_type b;
  std::copy(a.bytes.begin(), a.bytes.end(), b.begin());
  return asio::ip::address_v6(b);
}

// One exchange; owns itself through shared_ptr while I/O is pending.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <typename... Args>
  Session(HttpRequest req, Target t, HttpCompletion done, Args&&... stream_args)
      : stream_(std::forward<Args>(stream_args)...), req_(std::move(req)), t_(std::move(t)), done_(std::move(done)) {
    const auto now = Clock::now();
    total_deadline_ = now + req_.total_timeout;
    headers_deadline_ = std::min(total_deadline_, now + req_.headers_timeout);
    connect_deadline_ = std::min(headers_deadline_, now + req_.connect_timeout);
    parser_.body_limit(req_.max_response_bytes);
    parser_.header_limit(static_cast<std::uint32_t>(req_.max_header_bytes));
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      // SNI and certificate name come from the URL host, never the address.
      if (!t_.numeric_host) SSL_set_tlsext_host_name(stream_.native_handle(), t_.host.c_str());
      stream_.set_verify_callback(asio::ssl::host_name_verification(t_.host));
    }
  }

  void start(const tcp::endpoint& ep) {
    out_.version(11);
    out_.method_string(req_.method);
    out_.target(t_.target);
    out_.set(http::field::host, t_.host_header);
    out_.set(http::field::connection, "close");
    for (const auto& h : req_.headers) out_.insert(h.name, h.value);
    out_.body() = req_.body;
    if (!req_.body.empty() || req_.method == "POST" || req_.method == "PUT" || req_.method == "PATCH")
      out_.prepare_payload();
    lowest().expires_at(connect_deadline_);
    lowest().async_connect(ep, beast::bind_front_handler(&Session::on_connect, this->shared_from_this()));
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void fail(Status s) {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    if (done_) std::exchange(done_, nullptr)(std::move(s));
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail(map_error(ec, "connect"));
    lowest().expires_at(headers_deadline_);
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      stream_.async_handshake(asio::ssl::stream_base::client,
                              beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
    } else {
      on_handshake({});
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail(map_error(ec, "tls handshake"));
    http::async_write(stream_, out_, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return fail(map_error(ec, "write"));
    http::async_read_header(stream_, buffer_, parser_,
                            beast::bind_front_handler(&Session::on_header, this->shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return fail(map_error(ec, "read headers"));
    lowest().expires_at(total_deadline_);
    http::async_read(stream_, buffer_, parser_, beast::bind_front_handler(&Session::on_body, this->shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(map_error(ec, "read body"));
    auto msg = parser_.release();
    HttpResponse r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    r.body = std::move(msg.body());
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
    if (done_) std::exchange(done_, nullptr)(std::move(r));
  }

  Stream stream_;
  HttpRequest req_;
  Target t_;
  HttpCompletion done_;
  Clock::time_point connect_deadline_, headers_deadline_, total_deadline_;
  http::request<http::string_body> out_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

class BeastTransport final : public Transport {
 public:
  explicit BeastTransport(BeastTransportOptions options)
      : options_(std::move(options)), work_(asio::make_work_guard(ioc_)), tls_(asio::ssl::context::tls_client) {
    tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    tls_.set_default_verify_paths(ec);
    if (!options_.ca_file.empty()) tls_.load_verify_file(options_.ca_file, ec);
    tls_ok_ = !ec;
    tls_.set_verify_mode(options_.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~BeastTransport() override {
    work_.reset();  // pending exchanges finish (each is bounded by its deadlines)
    for (auto& t : threads_) t.join();
  }

  void async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) override {
    for (const auto& h : request.headers)
      if (h.name.empty() || bad_header_text(h.name) || bad_header_text(h.value))
        return done(Status(Code::invalid_request, "header name or value contains CR, LF or NUL"));
    if (bad_header_text(request.method) || request.method.empty())
      return done(Status(Code::invalid_request, "bad request method"));
    auto t = parse_target(request.url);
    if (!t.ok()) return done(t.status());
    tcp::endpoint ep(to_asio(target.address), target.port);
    if (!t->https) {
      auto s = std::make_shared<Session<beast::tcp_stream>>(std::move(request), std::move(t).value(), std::move(done),
                                                            asio::make_strand(ioc_));
      s->start(ep);
      return;
    }
    if (!tls_ok_) return done(Status(Code::unavailable, "TLS trust store could not be loaded"));
    using TlsStream = beast::ssl_stream<beast::tcp_stream>;
    auto s = std::make_shared<Session<TlsStream>>(std::move(request), *t, std::move(done), asio::make_strand(ioc_), tls_);
    s->start(ep);
  }

 private:
  BeastTransportOptions options_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::ssl::context tls_;
  bool tls_ok_ = true;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Transport> make_beast_transport(BeastTransportOptions options) {
  return std::make_unique<BeastTransport>(std::move(options));
}

}  // namespace babysea
