// server_app.hpp — the reference server assembled: config → listening socket
// → Runtime → Api → HttpServer. Used by babysea-server and by in-process tests.
//
// The config text may use the placeholder `{port}` (e.g. in callback_base_url
// or assets.public_base_url): it is replaced by the port actually bound, so
// `"server": {"port": 0}` works with callbacks and asset URLs pointing back at
// this server.
//
// Thread safety: start/stop from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "babysea/runtime.hpp"
#include "babysea/status.hpp"

namespace babysea::server {

class ServerApp {
 public:
  static Result<std::unique_ptr<ServerApp>> start(std::string_view config_json);
  ~ServerApp();  // stop()
  ServerApp(const ServerApp&) = delete;
  ServerApp& operator=(const ServerApp&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;  // "http://host:port"
  Runtime& runtime();
  // The bound address as one JSON line (what babysea-server prints).
  std::string listening_json() const;
  // Graceful: stop accepting, finish running requests, then close the runtime.
  void stop();

  struct Impl;

 private:
  explicit ServerApp(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace babysea::server
