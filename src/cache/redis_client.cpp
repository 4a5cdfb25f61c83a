// Redis client over hiredis (redis_client.hpp).
#include "cache/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <ctime>

namespace babysea::cache {
namespace {

constexpr int kMaxDb = 1 << 20;

Status bad_url(std::string_view why) { return Status(Code::invalid_request, "invalid redis URL: " + std::string(why)); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A non-negative decimal integer no larger than `max`, digits only.
bool parse_uint(std::string_view s, long max, long* out) {
  if (s.empty() || s.size() > 9) return false;
  long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0 || v > max) return false;
  *out = v;
  return true;
}

timeval to_timeval(std::chrono::milliseconds ms) {
  const auto c = std::max<std::int64_t>(ms.count(), 1);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(c / 1000);
  tv.tv_usec = static_cast<suseconds_t>((c % 1000) * 1000);
  return tv;
}

// hiredis writes with write(2): a peer that is gone would raise SIGPIPE and
// kill the process. Like libpq, block SIGPIPE on this thread for the call and
// swallow one that became pending because of it.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe_set;
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        const timespec zero{0, 0};
        const int saved = errno;
        while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
        }
        errno = saved;
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_{};
  bool was_pending_ = false;
};

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = RedisReply::Type::nil;
      break;
  }
  return out;
}

// Error replies that mean "the server cannot serve now" rather than "this
// command is wrong".
bool transient_error_reply(std::string_view msg) {
  for (std::string_view p : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY"})
    if (msg.substr(0, p.size()) == p) return true;
  return false;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

}  // namespace

bool redis_tls_supported() noexcept {
  return false;  // hiredis < 1.0 (Debian bookworm ships 0.14) has no hiredis_ssl
}

std::string RedisConfig::redacted_url() const {
  std::string scheme = transport == Transport::unix_socket ? "redis+unix" : (tls ? "rediss" : "redis");
  std::string auth;
  if (!password.empty()) auth = username + ":***@";
  if (transport == Transport::unix_socket)
    return scheme + "://" + auth + socket_path + (db ? "?db=" + std::to_string(db) : "");
  const bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + auth + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<RedisConfig> parse_redis_url(std::string_view text) {
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return bad_url("not an absolute URL");
  const boost::urls::url_view u = *parsed;
  const std::string scheme = lower(u.scheme());
  RedisConfig c;
  if (scheme == "rediss") {
    if (!redis_tls_supported())
      return Status(Code::unsupported,
                    "rediss:// (TLS) is not supported by this build's hiredis; use redis:// over a trusted network "
                    "or a TLS tunnel");
    c.tls = true;
  } else if (scheme == "redis+unix" || scheme == "unix") {
    c.transport = RedisConfig::Transport::unix_socket;
  } else if (scheme != "redis") {
    return bad_url("scheme must be redis, rediss, redis+unix or unix");
  }
  if (!u.has_authority()) return bad_url("missing //authority");
  if (u.has_fragment()) return bad_url("fragment not allowed");

  if (u.has_userinfo()) {
    c.username = u.user();
    if (u.has_password()) c.password = u.password();
    if (!c.username.empty() && c.password.empty()) return bad_url("user name without a password");
  }

  if (c.transport == RedisConfig::Transport::unix_socket) {
    if (!u.encoded_host().empty() || u.has_port()) return bad_url("a unix socket URL has no host or port");
    c.socket_path = u.path();
    if (c.socket_path.size() < 2 || c.socket_path.front() != '/') return bad_url("missing absolute socket path");
    if (c.socket_path.find('\0') != std::string::npos) return bad_url("NUL in socket path");
    for (auto param : u.params()) {
      if (param.key != "db") return bad_url("unknown query parameter");
      long db = 0;
      if (!param.has_value || !parse_uint(param.value, kMaxDb, &db)) return bad_url("db must be a non-negative integer");
      c.db = static_cast<int>(db);
    }
    return c;
  }

  if (u.has_query()) return bad_url("query not allowed (put the db in the path)");
  switch (u.host_type()) {
    case boost::urls::host_type::name:
      c.host = u.host_name();
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      c.host = u.host_address();
      break;
    default:
      return bad_url("unsupported host");
  }
  if (c.host.empty()) return bad_url("missing host");
  if (c.host.find('\0') != std::string::npos) return bad_url("NUL in host");
  if (u.has_port()) {
    long port = 0;
    if (!parse_uint(u.port(), 65535, &port) || port == 0) return bad_url("port must be 1..65535");
    c.port = static_cast<std::uint16_t>(port);
  }
  const std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    long db = 0;
    if (path.front() != '/' || !parse_uint(path.substr(1), kMaxDb, &db)) return bad_url("path must be /<db number>");
    c.db = static_cast<int>(db);
  }
  return c;
}

RedisScript::RedisScript(std::string source) : source_(std::move(source)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(source_.data(), source_.size(), md, &len, EVP_sha1(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  sha1_.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    sha1_.push_back(kHex[md[i] >> 4]);
    sha1_.push_back(kHex[md[i] & 15]);
  }
}

struct RedisClient::Impl {
  using SteadyClock = std::chrono::steady_clock;
  RedisOptions options;
  mutable std::mutex mu;
  redisContext* ctx = nullptr;
  SteadyClock::time_point next_attempt{};
  std::chrono::milliseconds backoff{};
  std::string last_error;

  ~Impl() { drop(); }

  void drop() {
    if (ctx) redisFree(ctx);
    ctx = nullptr;
  }

  // A connection failure: remember why; the next call may reconnect at once.
  Status lost(const RedisConfig& config, std::string why) {
    drop();
    last_error = std::move(why);
    next_attempt = SteadyClock::now();
    return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error);
  }

  Result<ReplyPtr> raw(const RedisConfig& config, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    SigpipeGuard guard;
    ReplyPtr r(static_cast<redisReply*>(redisCommandArgv(ctx, static_cast<int>(argv.size()), argv.data(), lens.data())));
    if (!r) {
      std::string why = ctx->errstr[0] ? ctx->errstr : "connection error";
      if (ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) why = "command timed out";
      return lost(config, std::move(why));
    }
    return r;
  }

  static Status error_reply(const redisReply* r, std::string_view what) {
    const std::string msg(r->str, r->len);
    if (transient_error_reply(msg)) return Status(Code::unavailable, "redis " + std::string(what) + ": " + msg);
    return Status(Code::storage_error, "redis " + std::string(what) + ": " + msg);
  }

  Status ensure(const RedisConfig& config) {
    if (ctx) return {};
    const auto now = SteadyClock::now();
    if (now < next_attempt) {
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt - now).count();
      return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error + " (reconnecting in " +
                                           std::to_string(wait) + " ms)");
    }
    Status s = open(config);
    if (s.ok()) {
      backoff = options.initial_backoff;
      next_attempt = {};
      return s;
    }
    drop();
    if (backoff.count() <= 0) backoff = options.initial_backoff;
    next_attempt = SteadyClock::now() + backoff;
    backoff = std::min(backoff * 2, options.max_backoff);
    return s;
  }

  Status open(const RedisConfig& config) {
    const timeval ctv = to_timeval(options.connect_timeout);
    {
      SigpipeGuard guard;
      ctx = config.transport == RedisConfig::Transport::unix_socket
                ? redisConnectUnixWithTimeout(config.socket_path.c_str(), ctv)
                : redisConnectWithTimeout(config.host.c_str(), config.port, ctv);
    }
    if (!ctx) {
      last_error = "cannot allocate a connection";
      return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error);
    }
    if (ctx->err) {
      last_error = std::string("connect: ") + ctx->errstr;
      drop();
      return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error);
    }
    if (redisSetTimeout(ctx, to_timeval(options.command_timeout)) != REDIS_OK) {
      last_error = "cannot set the command timeout";
      drop();
      return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error);
    }
    auto setup = [&](std::vector<std::string> args, std::string_view what) -> Status {
      auto r = raw(config, args);
      if (!r.ok()) return r.status();
      if (r.value()->type == REDIS_REPLY_ERROR) {
        last_error = std::string(what) + " refused: " + std::string(r.value()->str, r.value()->len);
        drop();
        return Status(Code::unavailable, "redis " + config.redacted_url() + ": " + last_error);
      }
      return {};
    };
    if (!config.password.empty()) {
      Status s = config.username.empty() ? setup({"AUTH", config.password}, "AUTH")
                                         : setup({"AUTH", config.username, config.password}, "AUTH");
      if (!s.ok()) return s;
    }
    if (config.db != 0) {
      Status s = setup({"SELECT", std::to_string(config.db)}, "SELECT");
      if (!s.ok()) return s;
    }
    return {};
  }

  Result<RedisReply> run(const RedisConfig& config, const std::vector<std::string>& args) {
    if (args.empty()) return Status(Code::invalid_request, "redis: empty command");
    if (Status s = ensure(config); !s.ok()) return s;
    auto r = raw(config, args);
    if (!r.ok()) return r.status();
    if (r.value()->type == REDIS_REPLY_ERROR) return error_reply(r.value().get(), args[0]);
    return convert(r.value().get());
  }
};

Result<std::unique_ptr<RedisClient>> RedisClient::create(std::string_view url, RedisOptions options) {
  auto config = parse_redis_url(url);
  if (!config.ok()) return config.status();
  return std::make_unique<RedisClient>(std::move(config).value(), options);
}

RedisClient::RedisClient(RedisConfig config, RedisOptions options)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->backoff = options.initial_backoff;
}

RedisClient::~RedisClient() = default;

Status RedisClient::connect() {
  std::lock_guard lock(impl_->mu);
  return impl_->ensure(config_);
}

bool RedisClient::connected() const {
  std::lock_guard lock(impl_->mu);
  return impl_->ctx != nullptr;
}

Result<RedisReply> RedisClient::command(const std::vector<std::string>& args) {
  std::lock_guard lock(impl_->mu);
  return impl_->run(config_, args);
}

Result<std::chrono::microseconds> RedisClient::ping() {
  std::lock_guard lock(impl_->mu);
  if (Status s = impl_->ensure(config_); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  auto r = impl_->run(config_, {"PING"});
  if (!r.ok()) return r.status();
  if (r.value().type != RedisReply::Type::status || r.value().str != "PONG")
    return Status(Code::storage_error, "redis PING: unexpected reply");
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
}

Result<RedisReply> RedisClient::eval(const RedisScript& script, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.push_back("EVALSHA");
  argv.push_back(script.sha1());
  argv.push_back(std::to_string(keys.size()));
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());

  std::lock_guard lock(impl_->mu);
  auto r = impl_->run(config_, argv);
  if (r.ok() || r.code() != Code::storage_error || r.status().message().find(": NOSCRIPT") == std::string_view::npos)
    return r;
  // Not in the server's script cache (a new or restarted server): load it
  // and try once more, on the same connection, under the same lock.
  auto loaded = impl_->run(config_, {"SCRIPT", "LOAD", script.source()});
  if (!loaded.ok()) return loaded.status();
  if (loaded.value().str != script.sha1()) return Status(Code::internal, "redis SCRIPT LOAD returned another SHA1");
  return impl_->run(config_, argv);
}

}  // namespace babysea::cache
