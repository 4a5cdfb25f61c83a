// babysea-admin --config <file.json> <command> [args...]
//
// Administration of a deployment's database (the same config as the
// server; no engine is started, so it is safe next to a running server on
// the same SQLite file). A table of commands over the service layer's
// operator calls (babysea/service.hpp): every command prints the service's
// document on stdout, the same the C ABI answers — {"status":"success",
// ...,"data":{...}} — and exits 0; a failure prints the error envelope and
// exits 1 (an audit that finds violations also exits 1); bad usage exits 2.
//
//   account-create <account>
//   key-create <account> [--scopes <list|preset>] [--name <n>] [--expires-ms <unix ms>]
//                                      prints the key once (data.key)
//   key-list <account>
//   key-revoke <account> <key id>
//   grant <account> <credits, decimal> [--key <idempotency key>] [--ref <text>]
//   balance <account>
//   statement <account> [--limit <n>]
//   audit
//   webhook-create <account> <url> [--secret <whsec_...>] [--events <a,b>]
//                                  [--signing babysea|standard_webhooks|both]
//   webhook-list <account>
#include <charconv>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "babysea/runtime.hpp"
#include "babysea/service.hpp"

using namespace babysea;

namespace {

using Flags = std::map<std::string, std::string>;
using Args = std::vector<std::string>;

std::string flag(const Flags& f, const std::string& name, std::string fallback = {}) {
  auto it = f.find(name);
  return it == f.end() ? fallback : it->second;
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// An integer flag, or an invalid_request reply naming it.
bool int_flag(const Flags& f, const std::string& name, std::int64_t& out) {
  const std::string v = flag(f, name);
  if (v.empty()) return true;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

struct Command {
  const char* name;
  std::size_t args;  // positional arguments after the command
  std::function<Reply(Service&, const Args&, const Flags&)> run;
};

Reply bad_flag(Service& s, const std::string& name, const char* expected) {
  return s.error(Status(Code::invalid_request, "--" + name + ": expected " + expected,
                        {FieldIssue{name, "type", std::string("expected ") + expected}}));
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"account-create", 1, [](Service& s, const Args& a, const Flags&) { return s.account_create(a[0]); }},
      {"key-create", 1,
       [](Service& s, const Args& a, const Flags& f) {
         ApiKeyArgs key;
         key.scopes = flag(f, "scopes", key.scopes);
         key.name = flag(f, "name");
         if (!int_flag(f, "expires-ms", key.expires_ms)) return bad_flag(s, "expires-ms", "unix milliseconds");
         return s.api_key_issue(a[0], key);
       }},
      {"key-list", 1, [](Service& s, const Args& a, const Flags&) { return s.api_key_list(a[0]); }},
      {"key-revoke", 2, [](Service& s, const Args& a, const Flags&) { return s.api_key_revoke(a[0], a[1]); }},
      {"grant", 2,
       [](Service& s, const Args& a, const Flags& f) {
         return s.credits_grant(a[0], a[1], flag(f, "key"), flag(f, "ref"));
       }},
      {"balance", 1, [](Service& s, const Args& a, const Flags&) { return s.credits_balance(a[0]); }},
      {"statement", 1,
       [](Service& s, const Args& a, const Flags& f) {
         std::int64_t limit = 100;
         if (!int_flag(f, "limit", limit)) return bad_flag(s, "limit", "a number");
         return s.credits_statement(a[0], limit);
       }},
      {"audit", 0, [](Service& s, const Args&, const Flags&) { return s.ledger_audit(); }},
      {"webhook-create", 2,
       [](Service& s, const Args& a, const Flags& f) {
         WebhookEndpointArgs spec;
         spec.url = a[1];
         spec.secret = flag(f, "secret");
         spec.signing = flag(f, "signing");
         if (f.count("events")) spec.events = split(flag(f, "events"));
         return s.webhook_endpoint_create(a[0], spec);
       }},
      {"webhook-list", 1, [](Service& s, const Args& a, const Flags&) { return s.webhook_endpoint_list(a[0]); }},
  };
  return table;
}

int usage() {
  std::string names;
  for (const auto& c : commands()) names += (names.empty() ? "" : ", ") + std::string(c.name);
  std::fprintf(stderr,
               "usage: babysea-admin --config <file.json> <command> [args]\n"
               "commands: %s (see the header of examples/server/admin.cpp)\n",
               names.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  Args args;
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) return usage();
      if (a == "--config")
        config_path = argv[++i];
      else
        flags[a.substr(2)] = argv[++i];
    } else {
      args.push_back(a);
    }
  }
  if (config_path.empty() || args.empty()) return usage();
  const Command* cmd = nullptr;
  for (const auto& c : commands())
    if (args[0] == c.name && args.size() == c.args + 1) cmd = &c;
  if (cmd == nullptr) return usage();

  std::ifstream in(config_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  RuntimeOpenOptions options;
  options.engine = false;
  auto opened = Runtime::open(in ? text.str() : std::string(), options);
  if (!opened.ok()) {
    const Status s = in ? opened.status() : Status(Code::invalid_request, "cannot read the config file");
    std::cout << Service::refusal_body(400, code_name(s.code()), s.message()) << std::endl;
    return 1;
  }
  Service service(**opened);
  const Reply r = cmd->run(service, Args(args.begin() + 1, args.end()), flags);
  std::cout << r.body << std::endl;
  if (!r.ok()) return 1;
  return std::string_view(cmd->name) == "audit" && r.body.find("\"clean\":false") != std::string::npos ? 1 : 0;
}
