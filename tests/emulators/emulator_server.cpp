// emulator_server.cpp — the Beast server behind every provider emulator.
// Asio and Beast are compiled once in the library (asio_impl.cpp); this file
// only includes their headers under *_SEPARATE_COMPILATION.
#include "emulator_server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace babysea::emu {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool prefix_matches(std::string_view prefix, std::string_view path) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  if (prefix.empty() || prefix.back() == '/' || path.size() == prefix.size()) return true;
  char next = path[prefix.size()];
  return next == '/' || next == '?';
}

struct Route {
  std::string method;
  std::string prefix;
  EmuHandler handler;
  std::chrono::milliseconds latency{0};
};

}  // namespace

std::optional<std::string> EmuRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::optional<std::string> EmuRequest::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    auto eq = part.find('=');
    std::string key = url_decode(part.substr(0, eq));
    if (key == name) return eq == std::string_view::npos ? std::string() : url_decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string url_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

EmuResponse EmuResponse::json(int status, std::string body) {
  EmuResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

EmuResponse EmuResponse::text(int status, std::string body, std::string content_type) {
  EmuResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", std::move(content_type));
  return r;
}

EmuResponse EmuResponse::hang() {
  EmuResponse r;
  r.action = Action::hang;
  return r;
}

EmuResponse EmuResponse::reset() {
  EmuResponse r;
  r.action = Action::reset;
  return r;
}

EmuResponse& EmuResponse::with_header(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

// --------------------------------------------------------------------- Impl

class Session;

struct EmulatorServer::Impl {
  EmulatorServer* owner = nullptr;
  EmulatorServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor{net::make_strand(ioc)};
  std::vector<std::thread> threads;
  std::atomic<int> threads_done{0};
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;

  std::mutex mu;  // routes and sessions
  std::vector<Route> routes;
  std::vector<std::weak_ptr<Session>> sessions;

  // Finds the handler and latency for a request; nullopt-like empty handler on no match.
  Route find(std::string_view method, std::string_view path) {
    std::lock_guard<std::mutex> lock(mu);
    const Route* best = nullptr;
    for (const auto& r : routes) {
      if (r.method != "*" && !iequals(r.method, method)) continue;
      if (!prefix_matches(r.prefix, path)) continue;
      if (best == nullptr || r.prefix.size() > best->prefix.size()) best = &r;
    }
    return best != nullptr ? *best : Route{};
  }

  void do_accept();
  void track(const std::shared_ptr<Session>& s) {
    std::lock_guard<std::mutex> lock(mu);
    std::erase_if(sessions, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions.push_back(s);
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(EmulatorServer::Impl& impl, tcp::socket socket)
      : impl_(impl), stream_(std::move(socket)), timer_(stream_.get_executor()) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // Runs on the session's strand.
  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    timer_.cancel();
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  net::any_io_executor executor() { return stream_.get_executor(); }

 private:
  void read() {
    if (closed_ || impl_.stopping) return close();
    parser_.emplace();
    parser_->body_limit(impl_.options.max_body_bytes);
    parser_->header_limit(64u << 10);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec || closed_) return close();
    auto req = parser_->release();
    impl_.owner->requests_.fetch_add(1);
    keep_alive_ = req.keep_alive();

    EmuRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    auto q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    for (const auto& f : req) r.headers.emplace_back(lower(f.name_string()), std::string(f.value()));
    r.body = std::move(req.body());

    Route route = impl_.find(r.method, r.path);
    EmuResponse out;
    if (!route.handler) {
      out = EmuResponse::json(404, R"({"error":"no route"})");
    } else {
      try {
        out = route.handler(r);
      } catch (const std::exception& e) {
        out = EmuResponse::text(500, std::string("emulator handler threw: ") + e.what());
      }
    }
    auto delay = route.latency + out.delay;
    pending_ = std::move(out);
    if (delay.count() > 0) {
      timer_.expires_after(delay);
      timer_.async_wait([self = shared_from_this()](beast::error_code tec) {
        if (tec || self->closed_) return;
        self->act();
      });
    } else {
      act();
    }
  }

  void act() {
    switch (pending_.action) {
      case EmuResponse::Action::hang:
        return hold();
      case EmuResponse::Action::reset: {
        beast::error_code ec;
        stream_.socket().set_option(net::socket_base::linger(true, 0), ec);
        closed_ = true;
        stream_.socket().close(ec);
        return;
      }
      case EmuResponse::Action::respond:
        break;
    }
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(pending_.status));
    for (auto& [n, v] : pending_.headers) res_.set(n, v);
    res_.set(http::field::server, "babysea-emulator");
    res_.body() = std::move(pending_.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      if (!self->keep_alive_) {
        beast::error_code sec;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, sec);
        return self->close();
      }
      self->read();
    });
  }

  // A silent hang: read (and drop) whatever the client sends until it closes
  // the connection or the server stops; never answer.
  void hold() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec || self->closed_) return self->close();
      self->hold();
    });
  }

  EmulatorServer::Impl& impl_;
  beast::tcp_stream stream_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  EmuResponse pending_;
  bool keep_alive_ = true;
  bool closed_ = false;
  char scratch_[1024] = {};
};

void EmulatorServer::Impl::do_accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec || stopping) return;
    owner->connections_.fetch_add(1);
    auto s = std::make_shared<Session>(*this, std::move(socket));
    track(s);
    s->start();
    do_accept();
  });
}

// ------------------------------------------------------------ EmulatorServer

EmulatorServer::EmulatorServer(EmulatorServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  if (options.threads < 1) options.threads = 1;
  impl_->options = std::move(options);
}

EmulatorServer::~EmulatorServer() { stop(); }

void EmulatorServer::route(std::string method, std::string path_prefix, EmuHandler handler,
                           std::chrono::milliseconds latency) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& r : impl_->routes) {
    if (r.method == method && r.prefix == path_prefix) {
      r.handler = std::move(handler);
      r.latency = latency;
      return;
    }
  }
  impl_->routes.push_back(Route{std::move(method), std::move(path_prefix), std::move(handler), latency});
}

bool EmulatorServer::set_route_latency(std::string_view method, std::string_view path_prefix,
                                       std::chrono::milliseconds latency) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& r : impl_->routes) {
    if (r.method == method && r.prefix == path_prefix) {
      r.latency = latency;
      return true;
    }
  }
  return false;
}

void EmulatorServer::start() {
  if (impl_->started) return;
  beast::error_code ec;
  auto addr = net::ip::make_address(impl_->options.address, ec);
  if (ec) throw std::runtime_error("emulator: bad address " + impl_->options.address);
  tcp::endpoint ep(addr, impl_->options.port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("emulator: cannot listen on " + impl_->options.address + ": " + ec.message());
  port_ = a.local_endpoint().port();
  impl_->started = true;
  impl_->do_accept();
  for (int i = 0; i < impl_->options.threads; ++i) {
    impl_->threads.emplace_back([this] {
      impl_->ioc.run();
      impl_->threads_done.fetch_add(1);
    });
  }
}

void EmulatorServer::stop() {
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping = true;
  net::post(impl_->acceptor.get_executor(), [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& w : impl_->sessions) {
      if (auto s = w.lock()) live.push_back(std::move(s));
    }
    impl_->sessions.clear();
  }
  for (auto& s : live) net::post(s->executor(), [s] { s->close(); });
  live.clear();
  // Graceful first: every operation is cancelled, so run() returns by itself.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (impl_->threads_done.load() < static_cast<int>(impl_->threads.size()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

std::string EmulatorServer::base_url() const {
  return "http://" + impl_->options.address + ":" + std::to_string(port_);
}

}  // namespace babysea::emu
