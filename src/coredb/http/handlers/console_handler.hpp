// GET /console: the admin console (console/ in the repository: plain TypeScript compiled by tsc,
// embedded into the binary at build time by cmake/embed_console.cmake; nothing is fetched at run
// time). The page and its assets are public like /openapi.json: they hold no data. Everything the
// page shows it asks the API for with the admin token the operator signs in with, so the console
// can do nothing that token could not. Every answer carries a strict Content-Security-Policy
// (scripts, styles and connections from this origin only; no inline script or style).
#pragma once

#include "coredb/http/router.hpp"

#include <span>
#include <string_view>

namespace coredb::http {

struct ConsoleAsset {
  std::string_view name;  // "index.html", "app.js"...
  std::string_view bytes;
};

// The embedded files (generated at build time).
std::span<const ConsoleAsset> ConsoleAssets();

// "text/html; charset=utf-8" etc. from the name's extension; "application/octet-stream" otherwise.
std::string_view ConsoleContentType(std::string_view name);

// GET /console (index.html) and GET /console/{asset}.
void RegisterConsoleRoutes(Router& router);

}  // namespace coredb::http
