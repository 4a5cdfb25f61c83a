// server_app.cpp — see server_app.hpp.
#include "server_app.hpp"

#include <algorithm>

#include "api.hpp"
#include "http_server.hpp"
#include "babysea/service.hpp"

namespace babysea::server {

struct ServerApp::Impl {
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<Api> api;
  bool stopped = false;
};

ServerApp::ServerApp(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ServerApp::~ServerApp() { stop(); }

Result<std::unique_ptr<ServerApp>> ServerApp::start(std::string_view config_json) {
  // The server section is read first to bind the socket (the Runtime
  // validates the whole document again, including this section).
  BABYSEA_ASSIGN_OR_RETURN(const ListenAddress listen, Runtime::listen_address(config_json));
  HttpServerOptions ho;
  ho.host = listen.host;
  ho.port = listen.port;
  BABYSEA_ASSIGN_OR_RETURN(auto http, HttpServer::bind(ho));
  std::string text(config_json);
  const std::string port = std::to_string(http->port());
  for (auto at = text.find("{port}"); at != std::string::npos; at = text.find("{port}", at + port.size()))
    text.replace(at, 6, port);

  auto impl = std::make_unique<Impl>();
  RuntimeOpenOptions ro;
  ro.listen_host = http->host();
  ro.listen_port = http->port();
  BABYSEA_ASSIGN_OR_RETURN(impl->runtime, Runtime::open(text, ro));
  const ServerSettings& s = impl->runtime->server_settings();
  // The validated limits apply to the listener bound above.
  HttpServerOptions& o = http->options();
  o.io_threads = s.threads;
  o.handler_threads = s.handler_threads;
  o.max_header_bytes = s.max_header_bytes;
  o.max_body_bytes = s.max_body_bytes;
  o.request_timeout_ms = s.request_timeout_ms;
  std::optional<Playground> playground;
  if (s.playground && s.playground_dir.empty()) playground = Playground::builtin();
  if (s.playground && !s.playground_dir.empty()) {
    BABYSEA_ASSIGN_OR_RETURN(Playground from_dir, Playground::from_directory(s.playground_dir));
    playground = std::move(from_dir);
  }
  impl->http = std::move(http);
  impl->api = std::make_unique<Api>(*impl->runtime, std::move(playground));
  Api* api = impl->api.get();
  impl->http->start([api](const HttpRequest& r, Respond respond) { api->handle(r, std::move(respond)); },
                    &Api::refusal_body);
  return std::unique_ptr<ServerApp>(new ServerApp(std::move(impl)));
}

std::uint16_t ServerApp::port() const { return impl_->http->port(); }

std::string ServerApp::base_url() const {
  std::string host = impl_->http->host();
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port());
}

Runtime& ServerApp::runtime() { return *impl_->runtime; }

std::string ServerApp::listening_json() const {
  return Service::listening_document(impl_->http->host(), port(), base_url());
}

void ServerApp::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->api->close();  // calls waiting on generations are answered while connections are open
  impl_->http->stop();
  impl_->http.reset();
  impl_->api.reset();
  impl_->runtime.reset();
}

}  // namespace babysea::server
