// The Beast HTTP/1.1 client: a pinned address, per-phase deadlines, body and
// header caps, and a keep-alive pool keyed by (scheme, address, port, host).
#include <openssl/ssl.h>
#include <poll.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "babysea/transport.hpp"
#include "service/text.hpp"

namespace babysea {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

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

using text::iequals;

// Headers that describe the connection or the framing: the transport owns them.
bool transport_owned_header(std::string_view name) {
  for (std::string_view n : {"host", "content-length", "connection", "transfer-encoding", "keep-alive", "upgrade"})
    if (iequals(name, n)) return true;
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
  Status s(Code::unavailable, std::string(phase) + ": " + ec.message());
  // A refused certificate (unknown CA, wrong name, expired) will not get
  // better by retrying.
  if (ec.category() == asio::error::get_ssl_category()) s.set_retryable(false);
  return s;
}

asio::ip::address to_asio(const IpAddress& a) {
  if (!a.v6) return asio::ip::address_v4(asio::ip::address_v4::bytes_type{a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]});
  asio::ip::address_v6::bytes_type b;
  std::copy(a.bytes.begin(), a.bytes.end(), b.begin());
  return asio::ip::address_v6(b);
}

// Where a connection goes and for which name: a pooled connection is only
// reused for exactly the same key.
struct PoolKey {
  bool https = false;
  std::string address;
  std::uint16_t port = 0;
  std::string host;
  auto operator<=>(const PoolKey&) const = default;
};

// One open connection. Owned by a session while in use, by the pool while
// idle; never both (no async operation is pending on an idle connection).
struct Conn {
  virtual ~Conn() = default;
  virtual beast::tcp_stream& lowest() = 0;
  PoolKey key;
  Clock::time_point idle_since{};

  void close() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }
  // An idle HTTP connection has nothing to say: readable means the peer
  // closed it (EOF, reset) or sent something unasked; either way it is dead.
  bool looks_alive() {
    if (!lowest().socket().is_open()) return false;
    pollfd p{};
    p.fd = lowest().socket().native_handle();
    p.events = POLLIN;
    int n = ::poll(&p, 1, 0);
    return n == 0;
  }
};

template <typename Stream>
struct ConnOf final : Conn {
  template <typename... Args>
  explicit ConnOf(Args&&... args) : stream(std::forward<Args>(args)...) {}
  beast::tcp_stream& lowest() override { return beast::get_lowest_layer(stream); }
  Stream stream;
};

// Idle connections. Thread-safe (one mutex; nothing slow is done under it).
class Pool {
 public:
  Pool(std::size_t per_host, std::size_t total, std::chrono::milliseconds idle_timeout)
      : per_host_(per_host), total_cap_(total), idle_timeout_(idle_timeout) {}

  // The most recently used live connection for `key`, or null.
  std::shared_ptr<Conn> take(const PoolKey& key) {
    std::vector<std::shared_ptr<Conn>> dead;
    std::shared_ptr<Conn> found;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = idle_.find(key);
      if (it == idle_.end()) return nullptr;
      const auto now = Clock::now();
      auto& q = it->second;
      while (!q.empty()) {
        auto c = std::move(q.back());
        q.pop_back();
        --total_;
        if (now - c->idle_since <= idle_timeout_ && c->looks_alive()) {
          found = std::move(c);
          break;
        }
        dead.push_back(std::move(c));
      }
      if (q.empty()) idle_.erase(it);
    }
    for (auto& c : dead) c->close();
    return found;
  }

  // Keeps `c` for reuse (evicting the oldest idle connections over the caps).
  void put(std::shared_ptr<Conn> c) {
    std::vector<std::shared_ptr<Conn>> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (per_host_ == 0 || total_cap_ == 0 || closed_) {
        evicted.push_back(std::move(c));
      } else {
        c->idle_since = Clock::now();
        auto& q = idle_[c->key];
        if (q.size() >= per_host_) {
          evicted.push_back(std::move(q.front()));
          q.pop_front();
          --total_;
        }
        q.push_back(std::move(c));
        ++total_;
        while (total_ > total_cap_) {
          // The globally oldest idle connection goes first.
          auto oldest = idle_.end();
          for (auto it = idle_.begin(); it != idle_.end(); ++it)
            if (!it->second.empty() &&
                (oldest == idle_.end() || it->second.front()->idle_since < oldest->second.front()->idle_since))
              oldest = it;
          evicted.push_back(std::move(oldest->second.front()));
          oldest->second.pop_front();
          if (oldest->second.empty()) idle_.erase(oldest);
          --total_;
        }
      }
    }
    for (auto& e : evicted) e->close();
  }

  // Closes idle connections past the idle timeout or closed by the peer.
  void sweep() {
    std::vector<std::shared_ptr<Conn>> dead;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = Clock::now();
      for (auto it = idle_.begin(); it != idle_.end();) {
        auto& q = it->second;
        for (auto c = q.begin(); c != q.end();) {
          if (now - (*c)->idle_since > idle_timeout_ || !(*c)->looks_alive()) {
            dead.push_back(std::move(*c));
            c = q.erase(c);
            --total_;
          } else {
            ++c;
          }
        }
        it = q.empty() ? idle_.erase(it) : std::next(it);
      }
    }
    for (auto& c : dead) c->close();
  }

  // Closes everything and refuses further connections.
  void close_all() {
    std::map<PoolKey, std::deque<std::shared_ptr<Conn>>> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      all.swap(idle_);
      total_ = 0;
    }
    for (auto& [k, q] : all)
      for (auto& c : q) c->close();
  }

 private:
  const std::size_t per_host_, total_cap_;
  const std::chrono::milliseconds idle_timeout_;
  std::mutex mu_;
  std::map<PoolKey, std::deque<std::shared_ptr<Conn>>> idle_;  // back: most recently used
  std::size_t total_ = 0;
  bool closed_ = false;
};

// What sessions share with the transport (outlives every session: the
// transport joins its threads before it goes).
struct Core {
  asio::io_context& ioc;
  asio::ssl::context& tls;
  Pool& pool;
  bool pooling;
};

// One exchange; owns itself through shared_ptr while I/O is pending.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using ConnT = ConnOf<Stream>;

 public:
  Session(Core& core, HttpRequest req, Target t, PoolKey key, tcp::endpoint ep, HttpCompletion done)
      : core_(core), req_(std::move(req)), t_(std::move(t)), key_(std::move(key)), ep_(ep), done_(std::move(done)) {
    const auto now = Clock::now();
    total_deadline_ = now + req_.total_timeout;
    headers_deadline_ = std::min(total_deadline_, now + req_.headers_timeout);
    out_.version(11);
    out_.method_string(req_.method);
    out_.target(t_.target);
    out_.set(http::field::host, t_.host_header);
    if (!core_.pooling) out_.set(http::field::connection, "close");
    for (const auto& h : req_.headers)
      if (!transport_owned_header(h.name)) out_.insert(h.name, h.value);
    out_.body() = req_.body;
    if (!req_.body.empty() || req_.method == "POST" || req_.method == "PUT" || req_.method == "PATCH")
      out_.prepare_payload();
  }

  void start() {
    // Only idempotent requests ride a pooled connection: a POST/PATCH on a
    // connection that turns out dead could not be resent safely, so it always
    // gets a fresh one (and returns it to the pool afterwards).
    if (core_.pooling && idempotent_method(req_.method)) {
      if (auto c = core_.pool.take(key_)) {
        conn_ = std::static_pointer_cast<ConnT>(std::move(c));
        reused_ = true;
        // The connection's strand serializes us after anything its previous
        // session left behind.
        asio::dispatch(conn_->lowest().get_executor(),
                       beast::bind_front_handler(&Session::send_request, this->shared_from_this()));
        return;
      }
    }
    open_fresh();
  }

 private:
  void open_fresh() {
    reused_ = false;
    auto strand = asio::make_strand(core_.ioc);
    if constexpr (kTls) {
      conn_ = std::make_shared<ConnT>(strand, core_.tls);
      // SNI and certificate name come from the URL host, never the address.
      if (!t_.numeric_host) SSL_set_tlsext_host_name(conn_->stream.native_handle(), t_.host.c_str());
      conn_->stream.set_verify_callback(asio::ssl::host_name_verification(t_.host));
    } else {
      conn_ = std::make_shared<ConnT>(strand);
    }
    conn_->key = key_;
    const auto connect_deadline = std::min(headers_deadline_, Clock::now() + req_.connect_timeout);
    conn_->lowest().expires_at(connect_deadline);
    conn_->lowest().async_connect(ep_, beast::bind_front_handler(&Session::on_connect, this->shared_from_this()));
  }

  void fail(Status s) {
    if (conn_) {
      conn_->close();
      conn_.reset();
    }
    if (done_) std::exchange(done_, nullptr)(std::move(s));
  }

  // A reused connection died before it can have processed anything: once,
  // on a fresh connection, within the same deadlines. Only for idempotent
  // methods, or when not one byte of the request left us (a POST the peer
  // read before closing may have been acted on: sending it again could
  // create a second job; the caller gets the retryable transport error).
  void retry() {
    retried_ = true;
    conn_->close();
    conn_.reset();
    open_fresh();
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail(map_error(ec, "connect"));
    conn_->lowest().expires_at(headers_deadline_);
    if constexpr (kTls) {
      conn_->stream.async_handshake(asio::ssl::stream_base::client,
                                    beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
    } else {
      send_request();
    }
  }

  void on_handshake(beast::error_code ec) {
    if (ec) return fail(map_error(ec, "tls handshake"));
    send_request();
  }

  void send_request() {
    conn_->lowest().expires_at(headers_deadline_);
    buffer_.clear();
    parser_.emplace();
    parser_->body_limit(req_.max_response_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(req_.max_header_bytes, UINT32_MAX)));
    if (req_.method == "HEAD") parser_->skip(true);
    http::async_write(conn_->stream, out_, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  static bool is_deadline(const beast::error_code& ec) {
    return ec == beast::error::timeout || ec == asio::error::timed_out;
  }

  static bool idempotent_method(std::string_view m) {
    return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
  }

  // Only idempotent requests ride a reused connection (start()), so a
  // reused one that turns out dead may be resent.
  void on_write(beast::error_code ec, std::size_t) {
    if (ec) {
      if (reused_ && !retried_ && !is_deadline(ec) && ec != asio::error::operation_aborted) return retry();
      return fail(map_error(ec, "write"));
    }
    http::async_read_header(conn_->stream, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, this->shared_from_this()));
  }

  // The peer closed the connection before sending a single response byte.
  bool closed_before_response(const beast::error_code& ec) const {
    const bool closed = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                        ec == asio::ssl::error::stream_truncated;
    return closed && buffer_.size() == 0 && !parser_->got_some();
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) {
      // The whole request was written: the peer may have acted on it.
      if (reused_ && !retried_ && closed_before_response(ec)) return retry();
      return fail(map_error(ec, "read headers"));
    }
    conn_->lowest().expires_at(total_deadline_);
    http::async_read(conn_->stream, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_body, this->shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(map_error(ec, "read body"));
    const bool reusable = core_.pooling && parser_->keep_alive() && buffer_.size() == 0;
    auto msg = parser_->release();
    HttpResponse r;
    r.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
    r.body = std::move(msg.body());
    if (reusable) {
      conn_->lowest().expires_never();
      core_.pool.put(std::move(conn_));
    } else {
      conn_->close();
    }
    conn_.reset();
    if (done_) std::exchange(done_, nullptr)(std::move(r));
  }

  Core& core_;
  HttpRequest req_;
  Target t_;
  PoolKey key_;
  tcp::endpoint ep_;
  HttpCompletion done_;
  std::shared_ptr<ConnT> conn_;
  bool reused_ = false;
  bool retried_ = false;
  Clock::time_point headers_deadline_, total_deadline_;
  http::request<http::string_body> out_;
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::string_body>> parser_;
};

class BeastTransport final : public Transport {
 public:
  explicit BeastTransport(BeastTransportOptions options)
      : options_(std::move(options)),
        work_(asio::make_work_guard(ioc_)),
        tls_(asio::ssl::context::tls_client),
        pool_(options_.max_idle_per_host, options_.max_idle_total, options_.idle_timeout),
        core_{ioc_, tls_, pool_, options_.pool},
        sweep_(asio::make_strand(ioc_)) {
    tls_.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    tls_.set_default_verify_paths(ec);
    if (!options_.ca_file.empty()) tls_.load_verify_file(options_.ca_file, ec);
    tls_ok_ = !ec;
    tls_.set_verify_mode(options_.verify_peer ? asio::ssl::verify_peer : asio::ssl::verify_none);
    if (options_.pool) arm_sweep();
    for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { ioc_.run(); });
  }
  ~BeastTransport() override {
    asio::post(sweep_.get_executor(), [this] {
      stopping_ = true;
      sweep_.cancel();
    });
    work_.reset();  // pending exchanges finish (each is bounded by its deadlines)
    for (auto& t : threads_) t.join();
    pool_.close_all();
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
    PoolKey key{t->https, target.address.to_string(), target.port, t->host};
    if (!t->https) {
      std::make_shared<Session<PlainStream>>(core_, std::move(request), std::move(t).value(), std::move(key), ep,
                                             std::move(done))
          ->start();
      return;
    }
    if (!tls_ok_) return done(Status(Code::unavailable, "TLS trust store could not be loaded"));
    std::make_shared<Session<TlsStream>>(core_, std::move(request), std::move(t).value(), std::move(key), ep,
                                         std::move(done))
        ->start();
  }

 private:
  void arm_sweep() {
    const auto period = std::clamp<std::chrono::milliseconds>(options_.idle_timeout / 2, std::chrono::milliseconds(10),
                                                             std::chrono::milliseconds(1000));
    sweep_.expires_after(period);
    sweep_.async_wait([this](beast::error_code ec) {
      if (ec || stopping_) return;
      pool_.sweep();
      arm_sweep();
    });
  }

  BeastTransportOptions options_;
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::ssl::context tls_;
  bool tls_ok_ = true;
  Pool pool_;
  Core core_;
  asio::steady_timer sweep_;
  bool stopping_ = false;  // touched on the sweep strand only
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Transport> make_beast_transport(BeastTransportOptions options) {
  return std::make_unique<BeastTransport>(std::move(options));
}

}  // namespace babysea
