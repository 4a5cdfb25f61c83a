#include "wire/wire_stack.hpp"

#include <stdexcept>
#include <system_error>
#include <thread>

#include "babysea/catalog.hpp"
#include "babysea/ledger.hpp"
#include "babysea/providers.hpp"

namespace babysea::wire {

namespace {

template <typename T>
T take(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.status().to_string());
  return std::move(*r);
}

void must(const Status& s, const char* what) {
  if (!s.ok()) throw std::runtime_error(std::string(what) + ": " + s.to_string());
}

template <typename O>
void http(O& o, Transport* t, const StackOptions& so) {
  o.transport = t;
  o.connect_timeout = std::chrono::milliseconds(1'000);
  o.request_timeout = so.request_timeout;
  o.timing = so.timing;
}

// Forwards to the directory store and runs a hook after each successful store.
class HookedAssets final : public AssetStore {
 public:
  HookedAssets(std::unique_ptr<AssetStore> inner, std::function<void()> hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  Result<std::vector<std::string>> store(std::string_view generation_id,
                                         const std::vector<ProviderOutput>& outputs) override {
    auto r = inner_->store(generation_id, outputs);
    if (r.ok() && hook_) hook_();
    return r;
  }
  Result<std::size_t> remove(std::string_view generation_id) override {
    return inner_->remove(generation_id);
  }

 private:
  std::unique_ptr<AssetStore> inner_;
  std::function<void()> hook_;
};

}  // namespace

ProviderTiming fast_timing() {
  ProviderTiming t;
  t.poll_interval = std::chrono::milliseconds(150);
  // Equal to poll_interval: with no callback URL the engine still treats
  // webhook providers as webhook ones and polls them only at this interval.
  t.backup_poll_interval = std::chrono::milliseconds(150);
  t.min_poll_interval = std::chrono::milliseconds(100);
  t.submit_ack_timeout = std::chrono::milliseconds(3'000);
  t.start_timeout = std::chrono::milliseconds(3'000);
  t.finish_timeout = std::chrono::milliseconds(5'000);
  t.max_submit_retries = 2;
  t.max_poll_failures = 5;
  return t;
}

Stack::Stack(StackOptions o) : options_(std::move(o)) {
  if (options_.store == nullptr) {
    SqliteOptions so;
    so.path = options_.db_path;
    so.durability = Durability::full;
    owned_store_ = take(open_sqlite_store(so), "open sqlite");
  }
  store_ = options_.store != nullptr ? options_.store : owned_store_.get();
  resolver_ = make_system_resolver();
  NetGuardOptions go;
  go.allowed_ports.clear();
  for (int port = 1; port <= 65535; ++port)
    go.allowed_ports.push_back(static_cast<std::uint16_t>(port));
  go.allow_overrides.push_back(*IpNetwork::parse("127.0.0.0/8"));
  guard_ = std::make_unique<NetGuard>(*resolver_, go);
  url_policy_ = make_url_policy(*guard_);
  transport_ = make_beast_transport();
  auto catalog = take(Catalog::load_directory(options_.catalog_dir), "catalog");

  // Each configured provider: the shared HTTP options, its base URL and key
  // (under the option's own name), then what only it takes.
  auto add = [this](const ProviderEndpoint& ep, auto options, auto key, auto make, const char* name,
                    auto&& own) {
    if (ep.base_url.empty()) return;
    http(options, transport_.get(), options_);
    options.base_url = ep.base_url;
    options.*key = ep.api_key;
    own(options);
    providers_.push_back(take(make(std::move(options)), name));
  };
  auto nothing = [](auto&) {};
  add(options_.replicate, ReplicateProviderOptions{}, &ReplicateProviderOptions::api_token,
      make_replicate_provider, "replicate", [&](ReplicateProviderOptions& p) {
        if (!options_.replicate.secret.empty()) p.webhook_secrets = {options_.replicate.secret};
      });
  add(options_.fal, FalProviderOptions{}, &FalProviderOptions::api_key, make_fal_provider, "fal",
      [&](FalProviderOptions& p) {
        p.jwks_url = options_.fal.jwks_url;
        p.user_id = options_.fal.user_id;
      });
  add(options_.bfl, BflProviderOptions{}, &BflProviderOptions::api_key, make_bfl_provider, "bfl",
      [&](BflProviderOptions& p) { p.webhook_secret = options_.bfl.secret; });
  add(options_.openai, OpenAIImagesProviderOptions{}, &OpenAIImagesProviderOptions::api_key,
      make_openai_images_provider, "openai", nothing);
  add(options_.runway, RunwayProviderOptions{}, &RunwayProviderOptions::api_key,
      make_runway_provider, "runway", nothing);
  add(options_.alibabacloud, AlibabaCloudProviderOptions{}, &AlibabaCloudProviderOptions::api_key,
      make_alibabacloud_provider, "alibabacloud", nothing);
  add(options_.byteplus, BytePlusProviderOptions{}, &BytePlusProviderOptions::api_key,
      make_byteplus_provider, "byteplus", nothing);
  add(options_.cloudflare, CloudflareProviderOptions{}, &CloudflareProviderOptions::api_token,
      make_cloudflare_provider, "cloudflare",
      [&](CloudflareProviderOptions& p) { p.account_id = options_.cloudflare.account_id; });

  std::error_code ec;
  std::filesystem::create_directories(options_.assets_dir, ec);
  DirectoryAssetOptions ao;
  ao.root = options_.assets_dir;
  ao.public_base_url = "http://127.0.0.1:1/assets";
  ao.fetch_timeout = std::chrono::milliseconds(3'000);
  assets_ = make_directory_asset_store(std::move(ao), *guard_, *transport_);
  if (options_.after_asset_store)
    assets_ = std::make_unique<HookedAssets>(std::move(assets_), options_.after_asset_store);

  EngineConfig c;
  c.store = store_;
  c.catalog = catalog;
  c.providers = providers_;
  c.assets = assets_.get();
  c.options.api_key_pepper = "wire-pepper-0123456789abcdef0123456789abcdef";
  c.options.callback_base_url = options_.callback_base_url;
  c.options.threads = options_.threads;
  c.options.generation_deadline = options_.generation_deadline;
  c.options.hold_grace = std::chrono::milliseconds(60'000);
  c.options.tick = options_.tick;
  c.options.retry_delay = options_.retry_delay;
  c.options.max_asset_tries = options_.max_asset_tries;
  c.options.max_cancel_tries = 3;
  c.options.rate_limits.per_key.limit = 0;
  c.options.rate_limits.per_account.limit = 0;
  c.options.normalize.url_policy = url_policy_.get();
  engine_ = take(Engine::create(std::move(c)), "engine");
}

Stack::~Stack() {
  engine_.reset();
  assets_.reset();
  providers_.clear();
  transport_.reset();
  url_policy_.reset();
  guard_.reset();
  resolver_.reset();
  owned_store_.reset();
}

void Stack::login(const std::string& account, Micros grant) {
  must(engine_->ledger().create_account(account), "create account");
  if (grant > 0) take(engine_->ledger().grant(account, grant, "wire-grant-" + account), "grant");
  auto key = take(engine_->api_keys().issue(IssueKeyRequest{account, kFullAccess, "wire", 0}),
                  "issue key");
  principal_ = take(engine_->authenticate(key.key), "authenticate");
}

std::vector<GenerationView> Stack::all_generations() {
  std::vector<GenerationView> all;
  for (std::int64_t offset = 0;; offset += 100) {
    auto page = take(engine_->list(principal_, 100, offset), "list");
    for (auto& g : page.generations) all.push_back(std::move(g));
    if (offset + 100 >= page.total) break;
  }
  return all;
}

bool Stack::wait_terminal(const std::string& id, std::chrono::milliseconds timeout,
                          GenerationView* out) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto g = engine_->get(principal_, id);
    if (g.ok() && is_terminal(g->status)) {
      if (out) *out = *g;
      return true;
    }
    if (std::chrono::steady_clock::now() > until) {
      if (out && g.ok()) *out = *g;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool Stack::wait_all_terminal(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool all = true;
    for (const auto& g : all_generations()) all = all && is_terminal(g.status);
    if (all) return true;
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::size_t Stack::asset_files(const std::string& generation_id) const {
  std::error_code ec;
  const auto dir = options_.assets_dir / generation_id;
  if (!std::filesystem::is_directory(dir, ec)) return 0;
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.file_size() > 0) ++n;
  return n;
}

std::string Stack::check_invariants(bool allow_orphan_files) {
  engine_->drain();  // asset removals and cancels run after the terminal commit
  auto audit = engine_->ledger().audit();
  if (!audit.ok()) return "audit failed: " + audit.status().to_string();
  if (!audit->clean()) return "audit: " + audit->to_string();
  for (const auto& g : all_generations()) {
    HoldRow h;
    Status st = store_->read(
        [&](UnitOfWork& uow) { return uow.ledger().find_hold_by_key("gen:" + g.id, h); });
    if (!st.ok()) return "generation " + g.id + ": hold lookup: " + st.to_string();
    const bool terminal = is_terminal(g.status);
    std::string what = "generation " + g.id + " (" + std::string(generation_status_name(g.status)) +
                       ", " + g.error;
    for (const auto& a : g.attempts)
      what += " | #" + std::to_string(a.order) + " " + a.provider + " " + a.state + "/" +
              a.outcome + " " + a.error_kind + " submits=" + std::to_string(a.submits) +
              (a.resubmitted ? " resubmitted " : " ") + a.error_message;
    what += ")";
    if (!terminal && h.state != HoldState::pending) return what + " open but its hold is resolved";
    if (h.amount != g.held) return what + ": hold amount differs from held";
    if (g.status == GenerationStatus::succeeded) {
      if (h.state != HoldState::settled) return what + ": hold not settled";
      if (h.settled_amount != g.cost || g.cost <= 0 || g.cost > h.amount)
        return what + ": settled " + std::to_string(h.settled_amount) + " != cost " +
               std::to_string(g.cost);
      if (g.outputs.empty()) return what + ": no outputs";
      if (asset_files(g.id) != g.outputs.size())
        return what + ": " + std::to_string(asset_files(g.id)) +
               " files in the asset directory for " + std::to_string(g.outputs.size()) + " outputs";
      int used = 0;
      for (const auto& a : g.attempts)
        if (a.outcome == "used") {
          ++used;
          if (a.provider != g.provider_used)
            return what + ": used attempt's provider is not provider_used";
          if (a.state != "succeeded") return what + ": used attempt in state " + a.state;
        }
      if (used != 1) return what + ": " + std::to_string(used) + " used attempts";
    } else if (terminal) {
      if (h.state != HoldState::released && h.state != HoldState::expired)
        return what + ": hold state " + std::to_string(static_cast<int>(h.state));
      if (!g.credits_refunded) return what + ": not marked refunded";
      if (!g.provider_used.empty()) return what + ": provider_used set";
      for (const auto& a : g.attempts)
        if (a.outcome == "used") return what + ": has a used attempt";
      if (!allow_orphan_files && asset_files(g.id) != 0)
        return what + ": files left in the asset directory";
    }
  }
  return {};
}

}  // namespace babysea::wire
