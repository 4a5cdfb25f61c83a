// playground.hpp — the browser playground's static files, served at
// /playground/ by the reference server.
//
// The files are examples/server/playground/*, built into the server
// (cmake/BabyseaEmbed.cmake) or, with server.playground_dir, read from a
// directory on each request (edit and reload). Only plain file names are
// served (letters, digits, '-', '_' and one extension of a known type), so a
// request path can never leave the directory.
//
// Every answer carries the page's security headers: a Content-Security-Policy
// that allows only same-origin scripts, styles, images, media and API calls
// (no inline script or style, Trusted Types enforced, no framing, no form
// posts), X-Content-Type-Options: nosniff, X-Frame-Options: DENY,
// Referrer-Policy: no-referrer and same-origin opener and resource policies.
//
// Thread safety: serve() is safe to call concurrently.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "babysea/status.hpp"
#include "http_server.hpp"

namespace babysea::server {

class Playground {
 public:
  // The copies built into the server.
  static Playground builtin();
  // The files of directory `dir` (which must exist and hold index.html),
  // read on each request.
  static Result<Playground> from_directory(std::string dir);

  // Whether `path` is the playground's: "/playground" or under "/playground/".
  static bool owns(std::string_view path);
  // The answer to GET/HEAD `path` (REQUIRES: owns(path)); nullopt when there
  // is no such file (the caller answers 404).
  std::optional<HttpResponse> serve(std::string_view path) const;

  // The headers every playground answer carries.
  static void add_security_headers(HttpResponse& r);

 private:
  Playground() = default;
  std::optional<std::string> read(std::string_view name) const;

  std::map<std::string, std::string_view, std::less<>> builtin_;  // name -> bytes
  std::string dir_;  // non-empty: read from here
};

}  // namespace babysea::server
