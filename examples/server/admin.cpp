// babysea-admin --config <file.json> <command> [args...]
//
// Administration of a deployment's database (the same config as the
// server; no engine is started, so it is safe next to a running server on
// the same SQLite file). Every command prints one JSON document on stdout;
// failures print {"error":{code,message,issues}} and exit 1 (2 for usage).
//
//   account-create <account>
//   key-create <account> [--scopes <list|preset>] [--name <n>] [--expires-ms <unix ms>]
//                                      prints the key once ("key")
//   key-list <account>
//   key-revoke <account> <key id>
//   grant <account> <credits, decimal> [--key <idempotency key>] [--ref <text>]
//   balance <account>
//   statement <account> [--limit <n>]
//   audit
//   webhook-create <account> <url> [--secret <whsec_...>] [--events <a,b>]
//                                  [--signing babysea|standard_webhooks|both]
//   webhook-list <account>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "babysea/money.hpp"
#include "babysea/runtime.hpp"
#include "json/json.hpp"

using namespace babysea;
using json::JsonWriter;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: babysea-admin --config <file.json> <command> [args]\n"
               "commands: account-create, key-create, key-list, key-revoke, grant, balance, statement, audit,\n"
               "          webhook-create, webhook-list (see the header of examples/server/admin.cpp)\n");
  return 2;
}

int fail(const Status& s) {
  JsonWriter w;
  w.begin_object().key("error").begin_object();
  w.field("code", code_name(s.code()));
  w.field("message", s.message());
  w.key("issues").begin_array();
  for (const auto& i : s.issues())
    w.begin_object().field("field", i.field).field("code", i.code).field("message", i.message).end_object();
  w.end_array().end_object().end_object();
  std::cout << w.str() << std::endl;
  return 1;
}

int print(JsonWriter& w) {
  std::cout << w.str() << std::endl;
  return 0;
}

void key_info(JsonWriter& w, const ApiKeyInfo& k) {
  w.begin_object();
  w.field("id", k.id);
  w.field("account", k.account);
  w.field("scopes", format_scopes(k.scopes));
  w.field("region", k.region);
  w.field("name", k.name);
  w.field("prefix", k.prefix);
  w.field("created_ms", k.created_ms);
  w.field("expires_ms", k.expires_ms);
  w.field("last_used_ms", k.last_used_ms);
  w.field("revoked_ms", k.revoked_ms);
  w.end_object();
}

void balance_fields(JsonWriter& w, const Balance& b) {
  w.field("account", b.account);
  w.key("posted").raw(format_credits(b.posted()));
  w.key("pending").raw(format_credits(b.pending_debits));
  w.key("available").raw(format_credits(b.available()));
  w.field("available_micros", b.available());
}

void endpoint(JsonWriter& w, const WebhookEndpointRow& e, bool with_secret) {
  static const char* kSigning[] = {"babysea", "standard_webhooks", "both"};
  w.begin_object();
  w.field("id", e.id);
  w.field("account", e.account);
  w.field("url", e.url);
  if (with_secret) w.field("secret", e.secret);
  w.field("signing", kSigning[static_cast<int>(e.signing)]);
  w.field("events", e.events);
  w.field("enabled", e.enabled);
  w.end_object();
}

const char* entry_kind(EntryKind k) {
  switch (k) {
    case EntryKind::grant: return "grant";
    case EntryKind::hold: return "hold";
    case EntryKind::settle: return "settle";
    case EntryKind::release: return "release";
    case EntryKind::expire: return "expire";
    case EntryKind::clawback: return "clawback";
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      if (i + 1 >= argc) return usage();
      if (a == "--config") config_path = argv[++i];
      else flags[a.substr(2)] = argv[++i];
    } else {
      args.push_back(a);
    }
  }
  if (config_path.empty() || args.empty()) return usage();
  std::ifstream in(config_path, std::ios::binary);
  if (!in) return fail(Status(Code::invalid_request, "cannot read the config file"));
  std::stringstream ss;
  ss << in.rdbuf();
  RuntimeOpenOptions options;
  options.engine = false;
  auto opened = Runtime::open(ss.str(), options);
  if (!opened.ok()) return fail(opened.status());
  Runtime& rt = **opened;
  const std::string& cmd = args[0];
  auto need = [&](std::size_t n) { return args.size() == n + 1; };
  JsonWriter w;

  if (cmd == "account-create" && need(1)) {
    if (Status s = rt.create_account(args[1]); !s.ok()) return fail(s);
    w.begin_object().field("account", args[1]).field("created", true).end_object();
    return print(w);
  }
  if (cmd == "key-create" && need(1)) {
    auto scopes = parse_scopes(flags.count("scopes") ? flags["scopes"] : "full_access");
    if (!scopes.ok()) return fail(scopes.status());
    std::int64_t expires = 0;
    if (flags.count("expires-ms")) {
      try {
        expires = std::stoll(flags["expires-ms"]);
      } catch (...) {
        return fail(Status(Code::invalid_request, "--expires-ms: expected unix milliseconds"));
      }
    }
    auto k = rt.issue_api_key(args[1], *scopes, flags.count("name") ? flags["name"] : "", expires);
    if (!k.ok()) return fail(k.status());
    w.begin_object().field("key", k->key).key("info");
    key_info(w, k->info);
    w.end_object();
    return print(w);
  }
  if (cmd == "key-list" && need(1)) {
    auto keys = rt.list_api_keys(args[1]);
    if (!keys.ok()) return fail(keys.status());
    w.begin_object().key("keys").begin_array();
    for (const auto& k : *keys) key_info(w, k);
    w.end_array().end_object();
    return print(w);
  }
  if (cmd == "key-revoke" && need(2)) {
    if (Status s = rt.revoke_api_key(args[1], args[2]); !s.ok()) return fail(s);
    w.begin_object().field("id", args[2]).field("revoked", true).end_object();
    return print(w);
  }
  if (cmd == "grant" && need(2)) {
    auto amount = parse_credits(args[2]);
    if (!amount.ok()) return fail(amount.status());
    auto g = rt.grant_credits(args[1], *amount, flags.count("key") ? flags["key"] : "",
                              flags.count("ref") ? flags["ref"] : "");
    if (!g.ok()) return fail(g.status());
    auto b = rt.balance(args[1]);
    if (!b.ok()) return fail(b.status());
    w.begin_object();
    w.field("granted_micros", g->entry.amount);
    w.field("entry_seq", g->entry.seq);
    w.field("replayed", g->replayed);
    balance_fields(w, *b);
    w.end_object();
    return print(w);
  }
  if (cmd == "balance" && need(1)) {
    auto b = rt.balance(args[1]);
    if (!b.ok()) return fail(b.status());
    w.begin_object();
    balance_fields(w, *b);
    w.end_object();
    return print(w);
  }
  if (cmd == "statement" && need(1)) {
    std::size_t limit = 100;
    if (flags.count("limit")) {
      try {
        limit = static_cast<std::size_t>(std::stoul(flags["limit"]));
      } catch (...) {
        return fail(Status(Code::invalid_request, "--limit: expected a number"));
      }
    }
    auto st = rt.statement(args[1], limit);
    if (!st.ok()) return fail(st.status());
    w.begin_object().field("account", args[1]).key("entries").begin_array();
    for (const auto& e : *st) {
      w.begin_object();
      w.field("seq", e.entry.seq);
      w.field("kind", entry_kind(e.entry.kind));
      w.field("debit", e.entry.debit_account);
      w.field("credit", e.entry.credit_account);
      w.field("amount_micros", e.entry.amount);
      w.field("delta_micros", e.delta);
      w.field("pending_delta_micros", e.entry.pending_delta);
      w.field("hold_id", e.entry.hold_id);
      w.field("ref", e.entry.ref);
      w.field("created_ms", e.entry.created_ms);
      w.end_object();
    }
    w.end_array().end_object();
    return print(w);
  }
  if (cmd == "audit" && need(0)) {
    auto a = rt.audit();
    if (!a.ok()) return fail(a.status());
    w.begin_object();
    w.field("clean", a->clean());
    w.field("accounts", static_cast<std::int64_t>(a->accounts));
    w.field("entries", static_cast<std::int64_t>(a->entries));
    w.field("holds", static_cast<std::int64_t>(a->holds));
    w.field("pending_holds", static_cast<std::int64_t>(a->pending_holds));
    w.key("violations").begin_array();
    for (const auto& v : a->violations) w.value(v.to_string());
    w.end_array();
    w.end_object();
    std::cout << w.str() << std::endl;
    return a->clean() ? 0 : 1;
  }
  if (cmd == "webhook-create" && need(2)) {
    WebhookEndpointSpec spec;
    spec.url = args[2];
    if (flags.count("secret")) spec.secret = flags["secret"];
    if (flags.count("events")) {
      std::stringstream es(flags["events"]);
      std::string e;
      while (std::getline(es, e, ',')) spec.events.push_back(e);
    }
    if (flags.count("signing")) {
      const std::string& s = flags["signing"];
      if (s == "babysea") spec.signing = WebhookSigning::babysea;
      else if (s == "standard_webhooks") spec.signing = WebhookSigning::standard_webhooks;
      else if (s == "both") spec.signing = WebhookSigning::both;
      else return fail(Status(Code::invalid_request, "--signing: babysea, standard_webhooks or both"));
    }
    auto e = rt.webhook_endpoints().create(args[1], std::move(spec));
    if (!e.ok()) return fail(e.status());
    endpoint(w, *e, true);
    return print(w);
  }
  if (cmd == "webhook-list" && need(1)) {
    auto list = rt.webhook_endpoints().list(args[1]);
    if (!list.ok()) return fail(list.status());
    w.begin_object().key("endpoints").begin_array();
    for (const auto& e : *list) endpoint(w, e, false);
    w.end_array().end_object();
    return print(w);
  }
  return usage();
}
