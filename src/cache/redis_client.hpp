// Internal Redis client: the one place babysea talks to Redis (DESIGN.md §8,
// specs/router.md §3.6). Built on hiredis (Debian libhiredis-dev); nothing
// here writes or reads RESP by hand.
//
// URLs (parsed with Boost.URL):
//   redis://[[user]:password@]host[:port][/db]    TCP, port 6379 by default
//   redis+unix://[[user]:password@]/path/to.sock[?db=N]   Unix socket
//   unix://... (the same as redis+unix)
//   rediss://...  TLS. The hiredis this is built with (Debian bookworm's
//                 0.14) has no TLS support, so rediss is refused with
//                 Code::unsupported; it is never silently downgraded to
//                 plain TCP.
// "user:password" sends AUTH user password (Redis 6 ACL), ":password" sends
// AUTH password; a user without a password is refused. The db (0 by default)
// is selected with SELECT after connecting. Percent-escapes in user, password
// and socket path are decoded. Errors never echo the password
// (RedisConfig::redacted_url()).
//
// Errors (stable codes):
//   invalid_request  a malformed URL or argument
//   unsupported      rediss:// (no TLS in this hiredis)
//   unavailable      cannot connect, connection lost, I/O timeout, AUTH or
//                    SELECT refused, server LOADING/BUSY/MASTERDOWN, or still
//                    backing off after a failed connect (retryable)
//   storage_error    the server answered a command with an error reply (a
//                    script error, WRONGTYPE, ...): not retryable
//
// Reconnection: a connection error drops the connection; the next call
// reconnects at once, and if that fails, further attempts wait an
// exponential backoff (initial_backoff doubling to max_backoff) during which
// calls fail fast with unavailable. A command that failed on a broken
// connection is never re-sent by the client (it may have run): the caller
// decides.
//
// Thread safety: a RedisClient holds one connection under a mutex; every
// method may be called from any thread and calls are serialized (one
// round trip at a time). Use one client per thread for parallel round trips.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/status.hpp"

namespace babysea::cache {

struct RedisConfig {
  enum class Transport { tcp, unix_socket };
  Transport transport = Transport::tcp;
  bool tls = false;          // rediss:// (only ever true if TLS is supported)
  std::string host;          // tcp: a name or an IP literal without brackets
  std::uint16_t port = 6379;
  std::string socket_path;   // unix_socket
  std::string username;      // empty: AUTH <password> (when a password is set)
  std::string password;      // empty: no AUTH
  int db = 0;

  // The URL with the password replaced by "***", for logs and errors.
  std::string redacted_url() const;
};

// Parses a Redis URL (see the top). invalid_request for a malformed URL,
// unsupported for rediss:// without TLS support.
Result<RedisConfig> parse_redis_url(std::string_view url);

// Whether this build's hiredis can speak TLS (rediss://).
bool redis_tls_supported() noexcept;

struct RedisOptions {
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{500};  // per read/write of a reply
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
};

// A reply, copied out of hiredis.
struct RedisReply {
  enum class Type { nil, string, status, integer, array };
  Type type = Type::nil;
  std::string str;  // string and status
  std::int64_t integer = 0;
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::nil; }
};

// A Lua script with its SHA1, computed once.
class RedisScript {
 public:
  explicit RedisScript(std::string source);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }

 private:
  std::string source_;
  std::string sha1_;  // lower-case hex
};

class RedisClient {
 public:
  // Parses the URL; does not connect (the first call does). Fails only for a
  // bad URL.
  static Result<std::unique_ptr<RedisClient>> create(std::string_view url, RedisOptions options = {});
  RedisClient(RedisConfig config, RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  const RedisConfig& config() const { return config_; }

  // Connects now if not connected (subject to the backoff).
  Status connect();

  // One command, binary-safe arguments: {"SET", "k", "v", "PX", "1000"}.
  // An error reply is storage_error (unavailable for LOADING/BUSY/...).
  Result<RedisReply> command(const std::vector<std::string>& args);

  // PING, returning the round trip (reconnecting first if needed; the
  // connect time is not counted).
  Result<std::chrono::microseconds> ping();

  // EVALSHA with the script's SHA1; on NOSCRIPT (a fresh or restarted
  // server), SCRIPT LOAD and EVALSHA again. Atomic on the server.
  Result<RedisReply> eval(const RedisScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);

  // Whether a connection is currently held (it may still be dead).
  bool connected() const;

 private:
  struct Impl;
  RedisConfig config_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea::cache
