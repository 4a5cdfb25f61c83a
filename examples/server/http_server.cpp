// http_server.cpp — Beast HTTP/1.1 server with protocol-level refusals.
// Asio and Beast are compiled once inside babysea (asio_impl.cpp); this file
// only includes their headers under *_SEPARATE_COMPILATION.
#include "http_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>

namespace babysea::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

using beast::iequals;

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

std::vector<std::string_view> HttpRequest::values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) out.emplace_back(v);
  return out;
}

std::size_t HttpRequest::header_count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& h : headers)
    if (iequals(h.first, name)) ++n;
  return n;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::optional<net::thread_pool> pool;
  std::vector<std::thread> threads;
  HttpHandler handler;
  RefusalBody refusal;
  std::atomic<bool> stopping{false};
  std::atomic<int> in_flight{0};
  std::uint16_t port = 0;
  bool started = false;
  bool stopped = false;

  void accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server) : stream_(std::move(socket)), server_(server) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string();
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    if (server_.stopping.load()) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset)
      return close();
    if (ec == http::error::header_limit) return refuse(431, "header_too_large", "request headers too large");
    if (ec == http::error::body_limit) return refuse(413, "payload_too_large", "request body too large");
    if (ec) return refuse(400, "bad_request", "malformed HTTP request");
    auto& req = parser_->get();
    // Methods: TRACE/CONNECT and anything we do not serve.
    switch (req.method()) {
      case http::verb::get:
      case http::verb::head:
      case http::verb::post:
      case http::verb::delete_:
      case http::verb::options:
        break;
      default:
        return refuse(405, "method_not_allowed", "method not allowed");
    }
    // Origin-form targets only.
    auto target = req.target();
    if (target.empty() || target.front() != '/')
      return refuse(400, "bad_request", "request target must be origin-form");
    // Host: exactly one for HTTP/1.1.
    std::size_t hosts = 0;
    for (const auto& f : req)
      if (f.name() == http::field::host) ++hosts;
    if (hosts > 1 || (hosts == 0 && req.version() >= 11))
      return refuse(400, "bad_request", "exactly one Host header is required");
    // Method overrides never change routing (I12): refuse them outright.
    for (const auto& f : req) {
      auto n = f.name_string();
      if (iequals(n, "X-HTTP-Method-Override") || iequals(n, "X-HTTP-Method") || iequals(n, "X-Method-Override"))
        return refuse(400, "bad_request", "method override headers are not accepted");
    }
    // Transfer-Encoding: chunked only (Beast already refuses it next to a
    // Content-Length, and conflicting Content-Length values).
    for (const auto& f : req) {
      if (f.name() == http::field::transfer_encoding && !iequals(f.value(), "chunked"))
        return refuse(400, "bad_request", "unsupported Transfer-Encoding");
    }
    if (parser_->content_length() && *parser_->content_length() > server_.options.max_body_bytes)
      return refuse(413, "payload_too_large", "request body too large");

    auto expect = req[http::field::expect];
    if (!expect.empty()) {
      if (!iequals(expect, "100-continue")) return refuse(417, "expectation_failed", "unsupported Expect");
      if (!parser_->is_done()) {
        auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, req.version());
        return http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
          if (wec) return self->close();
          self->read_body();
        });
      }
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_body({}, 0);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) return refuse(413, "payload_too_large", "request body too large");
    if (ec == beast::error::timeout || ec == net::error::eof || ec == http::error::end_of_stream ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted)
      return close();
    if (ec) return refuse(400, "bad_request", "malformed HTTP request body");
    stream_.expires_never();
    auto req = parser_->release();
    auto in = std::make_shared<HttpRequest>();
    in->method = std::string(req.method_string());
    in->target = std::string(req.target());
    for (const auto& f : req) in->headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    in->body = std::move(req.body());
    in->peer = peer_;
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    if (server_.stopping.load()) return refuse(503, "unavailable", "server is stopping");
    server_.in_flight.fetch_add(1);
    net::post(*server_.pool, [self = shared_from_this(), in] {
      // Exactly one response per request, whichever thread answers.
      auto answered = std::make_shared<std::atomic<bool>>(false);
      Respond respond = [self, answered](HttpResponse out) {
        if (answered->exchange(true)) return;
        net::post(self->stream_.get_executor(), [self, out = std::move(out)]() mutable {
          self->server_.in_flight.fetch_sub(1);
          self->write(std::move(out));
        });
      };
      try {
        self->server_.handler(*in, respond);
      } catch (...) {
        HttpResponse out;
        out.status = 500;
        out.headers = {{"Content-Type", "application/json"}};
        out.body = self->server_.refusal(500, "internal", "internal error");
        respond(std::move(out));
      }
    });
  }

  void write(HttpResponse out) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(out.status));
    for (auto& [k, v] : out.headers) res->insert(k, v);
    res->body() = std::move(out.body);
    res->prepare_payload();
    if (head_) res->body().clear();
    const bool close_after = out.close || !keep_alive_ || server_.stopping.load();
    res->keep_alive(!close_after);
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));  // slow readers
    http::async_write(stream_, *res, [self = shared_from_this(), res, close_after](beast::error_code ec, std::size_t) {
      if (ec || close_after) return self->close();
      self->read_header();
    });
  }

  // Answers a protocol refusal and closes the connection: nothing behind it
  // on this connection is read.
  void refuse(int status, std::string_view code, std::string_view message) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(11);
    res->result(static_cast<unsigned>(status));
    res->set(http::field::content_type, "application/json");
    // A method this server serves nowhere: Allow names the ones it serves at all.
    if (status == 405) res->set(http::field::allow, "GET, HEAD, POST, DELETE, OPTIONS");
    res->body() = server_.refusal(status, code, message);
    res->keep_alive(false);
    res->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, std::size_t) { self->close(); });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpServer::Impl& server_;
  std::string peer_;
  bool keep_alive_ = true;
  bool head_ = false;
  unsigned version_ = 11;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor.is_open() || stopping.load()) return;
    } else {
      std::make_shared<Session>(std::move(socket), *this)->run();
    }
    accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::bind(HttpServerOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  beast::error_code ec;
  auto address = net::ip::make_address(impl->options.host, ec);
  if (ec) return Status(Code::invalid_request, "server.host: not an IP address");
  tcp::endpoint ep(address, impl->options.port);
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status(Code::unavailable, "cannot listen on " + impl->options.host + ":" +
                                               std::to_string(impl->options.port) + ": " + ec.message());
  impl->port = impl->acceptor.local_endpoint().port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::uint16_t HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->options.host; }
HttpServerOptions& HttpServer::options() { return impl_->options; }

void HttpServer::start(HttpHandler handler, RefusalBody refusal) {
  if (impl_->started) return;
  impl_->started = true;
  impl_->handler = std::move(handler);
  impl_->refusal = std::move(refusal);
  impl_->pool.emplace(static_cast<std::size_t>(std::max(1, impl_->options.handler_threads)));
  impl_->accept();
  for (int i = 0; i < std::max(1, impl_->options.io_threads); ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

void HttpServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping.store(true);
  net::post(impl_->ioc, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  if (impl_->pool) impl_->pool->join();  // running handlers finish
  // Let the last responses go out (bounded), then stop the loop.
  for (int i = 0; i < 200 && impl_->in_flight.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace babysea::server
