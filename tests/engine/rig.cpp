#include "engine/rig.hpp"

#include <catch2/catch.hpp>

#include "babysea/ledger.hpp"

namespace babysea::testing {

Rig::Rig(RigOptions o) : options(std::move(o)) {
  SqliteOptions so;
  so.durability = options.durability;
  fixture_ = std::make_unique<StoreFixture>(options.store, so);
  fixture_->store = count_units(std::move(fixture_->store), units_);
  auto cat = Catalog::load_directory(source_dir() / "data");
  REQUIRE(cat.ok());
  catalog_ = *cat;
  first_ = std::make_shared<ScriptedProvider>("replicate", options.first_mode, true, options.timing);
  second_ = std::make_shared<ScriptedProvider>("fal", options.second_mode, true, options.timing);
  assets_ = make_memory_asset_store("https://assets.babysea.test", [](std::string_view url) -> Result<std::string> {
    if (url.find("expired") != std::string_view::npos)
      return Status(Code::unavailable, "output URL expired", {FieldIssue{"outputs[0].url", "expired", "HTTP 410"}});
    return tiny_png();
  }, options.url_signer);
  start();
  auto key = engine_->api_keys().issue(IssueKeyRequest{"acct_rig", kFullAccess, "rig", 0});
  REQUIRE(key.ok());
  auto p = engine_->authenticate(key->key);
  REQUIRE(p.ok());
  principal_ = *p;
  REQUIRE(ledger().create_account(principal_.account).ok());
  if (options.grant > 0) REQUIRE(ledger().grant(principal_.account, options.grant, "rig-grant").ok());
}

Rig::~Rig() { stop(); }

EngineConfig Rig::config(std::string_view instance_id) {
  EngineConfig c;
  c.store = fixture_->store.get();
  c.clock = options.workers ? nullptr : &clock_;
  c.catalog = catalog_;
  c.providers = {first_, second_};
  c.assets = assets_.get();
  c.options.api_key_pepper = std::string(kRigPepper);
  c.options.callback_base_url = "https://babysea.test/v1/providers/callback";
  c.options.start_workers = options.workers;
  c.executor = options.executor;
  c.options.threads = options.threads;
  c.options.retry_delay = std::chrono::milliseconds(1'000);
  c.options.rate_limits.per_key.limit = 0;
  c.options.rate_limits.per_account.limit = 0;
  c.options.cluster.instance_id = std::string(instance_id);
  return c;
}

void Rig::start() {
  auto e = Engine::create(config(options.instance_id));
  if (!e.ok()) FAIL("engine create: " << e.status().to_string());
  engine_ = std::move(*e);
}

std::unique_ptr<Engine> Rig::spawn(std::string_view instance_id) {
  auto e = Engine::create(config(instance_id));
  if (!e.ok()) FAIL("engine create: " << e.status().to_string());
  return std::move(*e);
}

void Rig::stop() { engine_.reset(); }

Result<SubmitOutcome> Rig::submit(std::string_view key, std::string_view prompt, std::string_view order) {
  std::string body = "{\"generation_prompt\":\"" + std::string(prompt) + "\"";
  if (!order.empty()) body += ",\"generation_provider_order\":\"" + std::string(order) + "\"";
  body += "}";
  return engine_->submit(principal_, kRigModel, body, key);
}

GenerationView Rig::get(const std::string& id) {
  auto g = engine_->get(principal_, id);
  REQUIRE(g.ok());
  return *g;
}

void Rig::run(std::int64_t advance_ms) {
  if (advance_ms > 0) clock_.advance(std::chrono::milliseconds(advance_ms));
  auto r = engine_->run_due();
  REQUIRE(r.ok());
}

Result<CallbackResult> Rig::callback(std::string_view provider, const std::string& body) {
  auto headers = ScriptedProvider::signed_headers();
  return engine_->handle_provider_callback(provider, headers, body);
}

Micros Rig::available() {
  auto b = ledger().balance(principal_.account);
  REQUIRE(b.ok());
  return b->available();
}

std::string Rig::check_invariants() {
  auto audit = ledger().audit();
  if (!audit.ok()) return "audit failed: " + audit.status().to_string();
  if (!audit->clean()) return "audit: " + audit->to_string();
  Principal reader = principal_;
  for (std::int64_t offset = 0;; offset += 100) {
    auto page = engine_->list(reader, 100, offset);
    if (!page.ok()) return "list: " + page.status().to_string();
    for (const auto& g : page->generations) {
      std::vector<HoldRow> holds;
      // The hold of a generation is keyed "gen:<id>"; find it through the ledger's hold lookup by ref.
      Status st = store().read([&](UnitOfWork& uow) {
        HoldRow h;
        Status s = uow.ledger().find_hold_by_key("gen:" + g.id, h);
        if (s.ok()) holds.push_back(h);
        return s;
      });
      if (!st.ok()) return "generation " + g.id + ": hold lookup: " + st.to_string();
      const HoldRow& h = holds.front();
      const bool terminal = is_terminal(g.status);
      if (!terminal && h.state != HoldState::pending) return "generation " + g.id + " open but its hold is resolved";
      if (h.amount != g.held) return "generation " + g.id + " hold amount differs from held";
      if (g.status == GenerationStatus::succeeded) {
        if (h.state != HoldState::settled) return "generation " + g.id + " succeeded but hold not settled";
        if (h.settled_amount != g.cost || g.cost <= 0 || g.cost > h.amount)
          return "generation " + g.id + " settled " + std::to_string(h.settled_amount) + " != cost " +
                 std::to_string(g.cost);
        if (g.outputs.empty() && !g.removed) return "generation " + g.id + " succeeded without stored outputs";
        for (const auto& url : g.outputs)
          if (!g.removed && !assets_->get(url)) return "generation " + g.id + " output not in the asset store";
        int used = 0;
        for (const auto& a : g.attempts)
          if (a.outcome == "used") {
            ++used;
            if (a.provider != g.provider_used) return "generation " + g.id + " provider_used mismatch";
          }
        if (used != 1) return "generation " + g.id + " has " + std::to_string(used) + " used attempts";
      } else if (terminal) {
        if (h.state != HoldState::released && h.state != HoldState::expired)
          return "generation " + g.id + " " + std::string(generation_status_name(g.status)) + " but hold " +
                 std::to_string(static_cast<int>(h.state));
        if (!g.credits_refunded) return "generation " + g.id + " not marked refunded";
        for (const auto& a : g.attempts)
          if (a.outcome == "used") return "generation " + g.id + " has a used attempt but did not succeed";
      }
    }
    if (offset + 100 >= page->total) break;
  }
  return {};
}

}  // namespace babysea::testing
