// playground.cpp — see playground.hpp.
#include "playground.hpp"

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

namespace babysea::server {
// The embedded files (babysea_embed in CMakeLists.txt).
extern const std::pair<std::string_view, std::string_view> kPlayground_files[];
extern const std::size_t kPlayground_files_count;

namespace {

constexpr std::string_view kPrefix = "/playground/";

// The Content-Type of a servable file name, or empty when its extension is
// not one the playground serves.
std::string_view content_type(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {};
  const std::string_view ext = name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  return {};
}

// A plain file name: [A-Za-z0-9_-]+ '.' extension, nothing else.
bool plain_name(std::string_view name) {
  const auto dot = name.find('.');
  if (dot == 0 || dot == std::string_view::npos || name.find('.', dot + 1) != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
  });
}

}  // namespace

Playground Playground::builtin() {
  Playground p;
  for (std::size_t i = 0; i < kPlayground_files_count; ++i)
    p.builtin_.emplace(std::string(kPlayground_files[i].first), kPlayground_files[i].second);
  return p;
}

Result<Playground> Playground::from_directory(std::string dir) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(dir) / "index.html", ec))
    return Status(Code::invalid_request, "server.playground_dir: no index.html in " + dir);
  Playground p;
  p.dir_ = std::move(dir);
  return p;
}

bool Playground::owns(std::string_view path) {
  return path == kPrefix.substr(0, kPrefix.size() - 1) || path.starts_with(kPrefix);
}

std::optional<std::string> Playground::read(std::string_view name) const {
  if (dir_.empty()) {
    auto it = builtin_.find(name);
    if (it == builtin_.end()) return std::nullopt;
    return std::string(it->second);
  }
  const std::filesystem::path file = std::filesystem::path(dir_) / std::string(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Playground::add_security_headers(HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "media-src 'self'; connect-src 'self'; font-src 'none'; object-src 'none'; "
                         "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; manifest-src 'none'; "
                         "worker-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  r.headers.emplace_back("Cache-Control", "no-cache");
}

std::optional<HttpResponse> Playground::serve(std::string_view path) const {
  HttpResponse r;
  if (!path.starts_with(kPrefix)) {  // "/playground": the page's relative links need the slash
    r.status = 308;
    r.headers.emplace_back("Location", std::string(kPrefix));
    add_security_headers(r);
    return r;
  }
  std::string_view name = path.substr(kPrefix.size());
  if (name.empty()) name = "index.html";
  const std::string_view type = content_type(name);
  if (!plain_name(name) || type.empty()) return std::nullopt;
  auto body = read(name);
  if (!body) return std::nullopt;
  r.headers.emplace_back("Content-Type", std::string(type));
  add_security_headers(r);
  r.body = std::move(*body);
  return r;
}

}  // namespace babysea::server
