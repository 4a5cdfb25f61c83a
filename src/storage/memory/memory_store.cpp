// The in-memory Store: native containers under one reader/writer lock; a unit
// of work runs inline on the caller's thread and keeps an undo log so an
// error rolls every one of its writes back.
#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "babysea/storage.hpp"
#include "storage/run_guarded.hpp"

namespace babysea {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <typename V>
using StrMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;
using StrSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

Status not_found(std::string_view what, std::string_view id) {
  return Status(Code::not_found, std::string(what) + " '" + std::string(id) + "' not found");
}
Status duplicate(std::string_view what, std::string_view id) {
  return Status(Code::idempotency_conflict, std::string(what) + " '" + std::string(id) + "' already exists");
}
Status read_only_write() { return Status(Code::internal, "write inside a read-only unit"); }

constexpr std::size_t kEntryKinds = 7;  // EntryKind values are 1..6

struct Data {
  StrMap<AccountRow> accounts;
  std::deque<EntryRow> entries;  // no reallocation: appends stay O(1)
  StrMap<std::size_t> entry_keys[kEntryKinds];  // idem key -> index in entries, per kind
  StrMap<HoldRow> holds;
  StrMap<std::string> hold_keys;
  std::set<std::pair<std::int64_t, std::string>> pending_by_deadline;
  StrMap<PaymentRow> payments;
  StrMap<ClawbackRow> clawbacks;
  StrSet seen;
  std::deque<OutboxRow> outbox;  // seq = index + 1
  StrSet attempt_ids;
  std::multimap<std::int64_t, AttemptStatRow> attempts_by_time;
  StrMap<ApiKeyRow> api_keys;
  StrMap<WebhookEndpointRow> webhook_endpoints;
  std::map<std::string, WebhookDeliveryRow, std::less<>> webhook_deliveries;  // by id
  StrSet webhook_delivery_keys;  // event_id + '\x1f' + endpoint_id
  StrMap<GenerationRow> generations;
  StrMap<std::set<std::pair<std::int64_t, std::string>>> generations_by_account;  // (created_ms, id)
  std::set<std::pair<std::int64_t, std::string>> generations_by_wake;             // (wake_ms, id), wake > 0
  std::int64_t generation_status_counts[5] = {0, 0, 0, 0, 0};
  StrMap<std::pair<std::string, std::string>> jobs;  // provider + '\x1f' + job id -> (generation, attempt)
  StrMap<IdempotencyRow> idempotency;                 // account + '\x1f' + key
  StrMap<std::multimap<std::int64_t, RequestLogRow>> request_log;  // account -> rows by time_ms
  std::map<std::string, InstanceRow, std::less<>> instances;       // by id
};

// The api_keys table of a memory unit (its own class: the method names
// collide with other tables').
class MemoryApiKeys final : public ApiKeyTable {
 public:
  MemoryApiKeys(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}
  Status insert(const ApiKeyRow& row) override {
    if (read_only_) return read_only_write();
    if (!d_.api_keys.emplace(row.id, row).second) return duplicate("api key", row.id);
    undo_.push_back([this, id = row.id] { d_.api_keys.erase(id); });
    return {};
  }
  Status get(std::string_view id, ApiKeyRow& out) override {
    auto it = d_.api_keys.find(id);
    if (it == d_.api_keys.end()) return not_found("api key", id);
    out = it->second;
    return {};
  }
  Status list_for_account(std::string_view account, std::vector<ApiKeyRow>& out) override {
    out.clear();
    for (auto& [k, v] : d_.api_keys)
      if (v.account == account) out.push_back(v);
    std::sort(out.begin(), out.end(), [](const ApiKeyRow& a, const ApiKeyRow& b) {
      return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
    });
    return {};
  }
  Status touch(std::string_view id, std::int64_t last_used_ms) override {
    if (read_only_) return read_only_write();
    auto it = d_.api_keys.find(id);
    if (it == d_.api_keys.end()) return not_found("api key", id);
    undo_.push_back([&k = it->second, old = it->second.last_used_ms] { k.last_used_ms = old; });
    it->second.last_used_ms = last_used_ms;
    return {};
  }
  Status revoke(std::string_view id, std::int64_t revoked_ms) override {
    if (read_only_) return read_only_write();
    auto it = d_.api_keys.find(id);
    if (it == d_.api_keys.end()) return not_found("api key", id);
    if (it->second.revoked_ms != 0) return {};
    undo_.push_back([&k = it->second] { k.revoked_ms = 0; });
    it->second.revoked_ms = revoked_ms;
    return {};
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

// The webhook_endpoints table of a memory unit.
class MemoryWebhookEndpoints final : public WebhookEndpointTable {
 public:
  MemoryWebhookEndpoints(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}
  Status insert(const WebhookEndpointRow& row) override {
    if (read_only_) return read_only_write();
    if (!d_.webhook_endpoints.emplace(row.id, row).second) return duplicate("webhook endpoint", row.id);
    undo_.push_back([this, id = row.id] { d_.webhook_endpoints.erase(id); });
    return {};
  }
  Status get(std::string_view id, WebhookEndpointRow& out) override {
    auto it = d_.webhook_endpoints.find(id);
    if (it == d_.webhook_endpoints.end()) return not_found("webhook endpoint", id);
    out = it->second;
    return {};
  }
  Status list_for_account(std::string_view account, std::vector<WebhookEndpointRow>& out) override {
    out.clear();
    for (auto& [k, v] : d_.webhook_endpoints)
      if (v.account == account) out.push_back(v);
    std::sort(out.begin(), out.end(), [](const WebhookEndpointRow& a, const WebhookEndpointRow& b) {
      return a.created_ms != b.created_ms ? a.created_ms < b.created_ms : a.id < b.id;
    });
    return {};
  }
  Status update(const WebhookEndpointRow& row) override {
    if (read_only_) return read_only_write();
    auto it = d_.webhook_endpoints.find(row.id);
    if (it == d_.webhook_endpoints.end()) return not_found("webhook endpoint", row.id);
    undo_.push_back([&e = it->second, old = it->second] { e = old; });
    WebhookEndpointRow next = row;
    next.account = it->second.account;
    next.created_ms = it->second.created_ms;
    it->second = std::move(next);
    return {};
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

// The webhook_deliveries table of a memory unit.
class MemoryWebhookDeliveries final : public WebhookDeliveryTable {
 public:
  MemoryWebhookDeliveries(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}
  Status insert(const WebhookDeliveryRow& row) override {
    if (read_only_) return read_only_write();
    std::string key = row.event_id + '\x1f' + row.endpoint_id;
    if (d_.webhook_delivery_keys.count(key) != 0) return duplicate("webhook delivery for event", row.event_id);
    if (!d_.webhook_deliveries.emplace(row.id, row).second) return duplicate("webhook delivery", row.id);
    d_.webhook_delivery_keys.insert(key);
    undo_.push_back([this, id = row.id, key] {
      d_.webhook_deliveries.erase(id);
      d_.webhook_delivery_keys.erase(key);
    });
    return {};
  }
  Status get(std::string_view id, WebhookDeliveryRow& out) override {
    auto it = d_.webhook_deliveries.find(id);
    if (it == d_.webhook_deliveries.end()) return not_found("webhook delivery", id);
    out = it->second;
    return {};
  }
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<WebhookDeliveryRow>& out) override {
    out.clear();
    for (auto& [k, v] : d_.webhook_deliveries)
      if (v.state == DeliveryState::pending && v.next_attempt_ms <= now_ms) out.push_back(v);
    std::sort(out.begin(), out.end(), [](const WebhookDeliveryRow& a, const WebhookDeliveryRow& b) {
      return a.next_attempt_ms != b.next_attempt_ms ? a.next_attempt_ms < b.next_attempt_ms : a.id < b.id;
    });
    if (out.size() > limit) out.resize(limit);
    return {};
  }
  // Units run one at a time under the store's lock: nothing to skip.
  Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                   std::vector<WebhookDeliveryRow>& out) override {
    if (read_only_) return read_only_write();
    BABYSEA_RETURN_IF_ERROR(due(now_ms, limit, out));
    for (const auto& row : out) {
      auto& r = d_.webhook_deliveries.find(row.id)->second;
      undo_.push_back([&r, old = r.next_attempt_ms] { r.next_attempt_ms = old; });
      r.next_attempt_ms = lease_until_ms;
    }
    return {};
  }
  Status list_for_endpoint(std::string_view endpoint_id, std::size_t limit,
                           std::vector<WebhookDeliveryRow>& out) override {
    out.clear();
    for (auto& [k, v] : d_.webhook_deliveries) {
      if (out.size() >= limit) break;
      if (v.endpoint_id == endpoint_id) out.push_back(v);
    }
    return {};
  }
  Status list_for_subject(std::string_view endpoint_id, std::string_view subject,
                          std::vector<WebhookDeliveryRow>& out) override {
    out.clear();
    for (auto& [k, v] : d_.webhook_deliveries)
      if (v.endpoint_id == endpoint_id && v.subject == subject) out.push_back(v);
    return {};
  }
  Status update(const WebhookDeliveryRow& row) override {
    if (read_only_) return read_only_write();
    auto it = d_.webhook_deliveries.find(row.id);
    if (it == d_.webhook_deliveries.end()) return not_found("webhook delivery", row.id);
    undo_.push_back([&r = it->second, old = it->second] { r = old; });
    auto& r = it->second;
    r.state = row.state;
    r.attempts = row.attempts;
    r.next_attempt_ms = row.next_attempt_ms;
    r.last_status = row.last_status;
    r.last_error = row.last_error;
    r.updated_ms = row.updated_ms;
    return {};
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

// The generations table of a memory unit.
class MemoryGenerations final : public GenerationTable {
 public:
  MemoryGenerations(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}

  Status insert(const GenerationRow& row) override {
    if (read_only_) return read_only_write();
    if (d_.generations.count(row.id) != 0) return duplicate("generation", row.id);
    index(row, +1);
    d_.generations.emplace(row.id, row);
    undo_.push_back([this, row] {
      index(row, -1);
      d_.generations.erase(row.id);
    });
    return {};
  }
  Status get(std::string_view id, GenerationRow& out) override {
    auto it = d_.generations.find(id);
    if (it == d_.generations.end()) return not_found("generation", id);
    out = it->second;
    return {};
  }
  Status update(const GenerationRow& row, std::int64_t expected_version) override {
    if (read_only_) return read_only_write();
    auto it = d_.generations.find(row.id);
    if (it == d_.generations.end()) return not_found("generation", row.id);
    if (it->second.version != expected_version)
      return Status(Code::invalid_state, "generation '" + row.id + "' changed concurrently");
    GenerationRow next = row;
    next.account = it->second.account;
    next.created_ms = it->second.created_ms;
    replace(it->second, std::move(next));
    return {};
  }
  Status list_for_account(std::string_view account, std::int64_t offset, std::int64_t limit,
                          std::vector<GenerationRow>& out, std::int64_t& total) override {
    out.clear();
    total = 0;
    auto it = d_.generations_by_account.find(account);
    if (it == d_.generations_by_account.end()) return {};
    total = static_cast<std::int64_t>(it->second.size());
    std::int64_t i = 0;
    for (auto r = it->second.rbegin(); r != it->second.rend(); ++r, ++i) {
      if (i < offset) continue;
      if (static_cast<std::int64_t>(out.size()) >= limit) break;
      out.push_back(d_.generations.find(r->second)->second);
    }
    return {};
  }
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<GenerationRow>& out) override {
    out.clear();
    for (const auto& [wake, id] : d_.generations_by_wake) {
      if (wake > now_ms || out.size() >= limit) break;
      out.push_back(d_.generations.find(id)->second);
    }
    return {};
  }
  // Units run one at a time under the store's lock: nothing to skip.
  Status claim_due(std::int64_t now_ms, std::size_t limit, std::int64_t lease_until_ms,
                   std::vector<GenerationRow>& out) override {
    if (read_only_) return read_only_write();
    BABYSEA_RETURN_IF_ERROR(due(now_ms, limit, out));
    for (const auto& row : out) {
      GenerationRow& stored = d_.generations.find(row.id)->second;
      GenerationRow next = stored;
      next.wake_ms = lease_until_ms;
      replace(stored, std::move(next));
    }
    return {};
  }
  Status unfinished(std::vector<std::string>& out) override {
    out.clear();
    for (const auto& [id, row] : d_.generations)
      if (row.status < 2 || row.wake_ms > 0) out.push_back(id);
    std::sort(out.begin(), out.end());
    return {};
  }
  Status unfinished_owned_by(std::string_view owner, std::vector<std::string>& out) override {
    out.clear();
    for (const auto& [id, row] : d_.generations)
      if ((row.status < 2 || row.wake_ms > 0) && row.owner == owner) out.push_back(id);
    std::sort(out.begin(), out.end());
    return {};
  }
  Status for_each_since(std::string_view account, std::int64_t since_ms,
                        const std::function<void(const GenerationRow&)>& fn) override {
    auto it = d_.generations_by_account.find(account);
    if (it == d_.generations_by_account.end()) return {};
    for (auto r = it->second.lower_bound({since_ms, std::string()}); r != it->second.end(); ++r)
      fn(d_.generations.find(r->second)->second);
    return {};
  }
  Status count_by_status(std::vector<std::int64_t>& out) override {
    out.assign(std::begin(d_.generation_status_counts), std::end(d_.generation_status_counts));
    return {};
  }
  Status put_job(std::string_view provider, std::string_view job_id, std::string_view generation_id,
                 std::string_view attempt_id) override {
    if (read_only_) return read_only_write();
    std::string key = std::string(provider) + '\x1f' + std::string(job_id);
    auto it = d_.jobs.find(key);
    if (it != d_.jobs.end()) {
      if (it->second.second == attempt_id) return {};
      return duplicate("provider job", job_id);
    }
    d_.jobs.emplace(key, std::make_pair(std::string(generation_id), std::string(attempt_id)));
    undo_.push_back([this, key] { d_.jobs.erase(key); });
    return {};
  }
  Status find_job(std::string_view provider, std::string_view job_id, std::string& generation_id,
                  std::string& attempt_id) override {
    auto it = d_.jobs.find(std::string(provider) + '\x1f' + std::string(job_id));
    if (it == d_.jobs.end()) return not_found("provider job", job_id);
    generation_id = it->second.first;
    attempt_id = it->second.second;
    return {};
  }
  Status get_idempotency(std::string_view account, std::string_view key, IdempotencyRow& out) override {
    auto it = d_.idempotency.find(std::string(account) + '\x1f' + std::string(key));
    if (it == d_.idempotency.end()) return not_found("idempotency key", key);
    out = it->second;
    return {};
  }
  Status put_idempotency(const IdempotencyRow& row) override {
    if (read_only_) return read_only_write();
    std::string k = row.account + '\x1f' + row.key;
    auto it = d_.idempotency.find(k);
    if (it == d_.idempotency.end()) {
      d_.idempotency.emplace(k, row);
      undo_.push_back([this, k] { d_.idempotency.erase(k); });
    } else {
      IdempotencyRow old = it->second;
      it->second = row;
      undo_.push_back([this, k, old] { d_.idempotency[k] = old; });
    }
    return {};
  }
  Result<bool> claim_idempotency(const IdempotencyRow& row, std::int64_t now_ms, IdempotencyRow& existing) override {
    if (read_only_) return read_only_write();
    std::string k = row.account + '\x1f' + row.key;
    auto [it, inserted] = d_.idempotency.try_emplace(k, row);
    if (inserted) {
      undo_.push_back([this, k = std::move(k)] { d_.idempotency.erase(k); });
      return true;
    }
    if (it->second.expires_ms > now_ms) {
      existing = it->second;
      return false;
    }
    IdempotencyRow old = std::exchange(it->second, row);
    undo_.push_back([this, k = std::move(k), old = std::move(old)] { d_.idempotency[k] = old; });
    return true;
  }
  Result<std::size_t> prune_idempotency(std::int64_t before_ms) override {
    if (read_only_) return read_only_write();
    std::size_t n = 0;
    for (auto it = d_.idempotency.begin(); it != d_.idempotency.end();) {
      if (it->second.expires_ms < before_ms) {
        undo_.push_back([this, k = it->first, row = it->second] { d_.idempotency.emplace(k, row); });
        it = d_.idempotency.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

 private:
  // Replaces a stored row (indexes kept), undone if the unit fails.
  void replace(GenerationRow& stored, GenerationRow next) {
    GenerationRow old = stored;
    index(old, -1);
    index(next, +1);
    stored = std::move(next);
    undo_.push_back([this, old] {
      auto jt = d_.generations.find(old.id);
      index(jt->second, -1);
      index(old, +1);
      jt->second = old;
    });
  }

  void index(const GenerationRow& row, int delta) {
    if (delta > 0) {
      d_.generations_by_account[row.account].emplace(row.created_ms, row.id);
      if (row.wake_ms > 0) d_.generations_by_wake.emplace(row.wake_ms, row.id);
    } else {
      auto it = d_.generations_by_account.find(row.account);
      if (it != d_.generations_by_account.end()) {
        it->second.erase({row.created_ms, row.id});
        if (it->second.empty()) d_.generations_by_account.erase(it);
      }
      if (row.wake_ms > 0) d_.generations_by_wake.erase({row.wake_ms, row.id});
    }
    if (row.status >= 0 && row.status < 5) d_.generation_status_counts[row.status] += delta;
  }

  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

// The request_log table of a memory unit.
class MemoryRequestLog final : public RequestLogTable {
 public:
  MemoryRequestLog(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}

  Status append(const std::vector<RequestLogRow>& rows) override {
    if (read_only_) return read_only_write();
    for (const auto& row : rows) {
      // Map nodes keep their address across rehashes; the undo erases an
      // equal row rather than this node, which a later prune may have taken.
      auto& by_time = d_.request_log[row.account];
      by_time.emplace(row.time_ms, row);
      undo_.push_back([&by_time, row] {
        auto [it, end] = by_time.equal_range(row.time_ms);
        while (it != end && !(it->second == row)) ++it;
        if (it != end) by_time.erase(it);
      });
    }
    return {};
  }
  Result<std::size_t> prune(std::int64_t before_ms) override {
    if (read_only_) return read_only_write();
    std::size_t n = 0;
    for (auto& [account, by_time] : d_.request_log) {
      auto end = by_time.lower_bound(before_ms);
      for (auto it = by_time.begin(); it != end; ++n) {
        undo_.push_back([&by_time = by_time, row = it->second] { by_time.emplace(row.time_ms, row); });
        it = by_time.erase(it);
      }
    }
    return n;
  }
  Status summarize(std::string_view account, std::int64_t since_ms, std::vector<RouteRequestCounts>& out) override {
    out.clear();
    auto it = d_.request_log.find(account);
    if (it == d_.request_log.end()) return {};
    for (auto r = it->second.lower_bound(since_ms); r != it->second.end(); ++r)
      add_request_counts(out, r->second.route, r->second.status / 100, r->second.error_code, 1);
    return {};
  }
  Status list_for_account(std::string_view account, std::int64_t since_ms, std::size_t limit,
                          std::vector<RequestLogRow>& out) override {
    out.clear();
    auto it = d_.request_log.find(account);
    if (it == d_.request_log.end()) return {};
    for (auto r = it->second.lower_bound(since_ms); r != it->second.end() && out.size() < limit; ++r)
      out.push_back(r->second);  // a multimap keeps equal keys in insertion order
    return {};
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

// The instances table of a memory unit.
class MemoryInstances final : public InstanceTable {
 public:
  MemoryInstances(Data& d, bool read_only, std::vector<std::function<void()>>& undo)
      : d_(d), read_only_(read_only), undo_(undo) {}

  Status upsert(const InstanceRow& row) override {
    if (read_only_) return read_only_write();
    auto it = d_.instances.find(row.id);
    if (it == d_.instances.end()) {
      d_.instances.emplace(row.id, row);
      undo_.push_back([this, id = row.id] { d_.instances.erase(id); });
    } else {
      undo_.push_back([this, old = it->second] { d_.instances.insert_or_assign(old.id, old); });
      it->second = row;
    }
    return {};
  }
  Status heartbeat(std::string_view id, std::int64_t now_ms) override {
    if (read_only_) return read_only_write();
    auto it = d_.instances.find(id);
    if (it == d_.instances.end()) return not_found("instance", id);
    undo_.push_back([this, old = it->second] { d_.instances.insert_or_assign(old.id, old); });
    it->second.heartbeat_ms = now_ms;
    return {};
  }
  Status list(std::vector<InstanceRow>& out) override {
    out.clear();
    for (const auto& [id, row] : d_.instances) out.push_back(row);
    return {};
  }
  Result<bool> remove_if_stale(std::string_view id, std::int64_t before_ms) override {
    if (read_only_) return read_only_write();
    auto it = d_.instances.find(id);
    if (it == d_.instances.end() || it->second.heartbeat_ms >= before_ms) return false;
    undo_.push_back([this, old = it->second] { d_.instances.insert_or_assign(old.id, old); });
    d_.instances.erase(it);
    return true;
  }
  Status remove(std::string_view id) override {
    if (read_only_) return read_only_write();
    auto it = d_.instances.find(id);
    if (it == d_.instances.end()) return {};
    undo_.push_back([this, old = it->second] { d_.instances.insert_or_assign(old.id, old); });
    d_.instances.erase(it);
    return {};
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>>& undo_;
};

class MemoryUnit final : public UnitOfWork,
                         LedgerTables,
                         SeenTable,
                         OutboxTable,
                         AttemptStatsTable {
 public:
  MemoryUnit(Data& d, bool read_only)
      : d_(d), read_only_(read_only), api_keys_(d, read_only, undo_), webhook_endpoints_(d, read_only, undo_),
        webhook_deliveries_(d, read_only, undo_), generations_(d, read_only, undo_),
        request_log_(d, read_only, undo_), instances_(d, read_only, undo_) {}

  LedgerTables& ledger() override { return *this; }
  SeenTable& seen() override { return *this; }
  OutboxTable& outbox() override { return *this; }
  AttemptStatsTable& attempt_stats() override { return *this; }
  ApiKeyTable& api_keys() override { return api_keys_; }
  WebhookEndpointTable& webhook_endpoints() override { return webhook_endpoints_; }
  WebhookDeliveryTable& webhook_deliveries() override { return webhook_deliveries_; }
  GenerationTable& generations() override { return generations_; }
  RequestLogTable& request_log() override { return request_log_; }
  InstanceTable& instances() override { return instances_; }
  bool read_only() const override { return read_only_; }

  void rollback() {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
    undo_.clear();
  }

  // ---- ledger
  Status get_account(std::string_view id, AccountRow& out) override {
    auto it = d_.accounts.find(id);
    if (it == d_.accounts.end()) return not_found("account", id);
    out = it->second;
    return {};
  }
  Status insert_account(const AccountRow& row) override {
    if (read_only_) return read_only_write();
    auto [it, inserted] = d_.accounts.emplace(row.id, row);
    if (!inserted) return duplicate("account", row.id);
    undo_.push_back([this, id = row.id] { d_.accounts.erase(id); });
    return {};
  }
  Status add_to_account(std::string_view id, Micros pd, Micros pc, Micros qd, Micros qc) override {
    if (read_only_) return read_only_write();
    auto it = d_.accounts.find(id);
    if (it == d_.accounts.end()) return not_found("account", id);
    AccountRow& a = it->second;
    Micros n[4];
    if (__builtin_add_overflow(a.posted_debits, pd, &n[0]) ||
        __builtin_add_overflow(a.posted_credits, pc, &n[1]) ||
        __builtin_add_overflow(a.pending_debits, qd, &n[2]) ||
        __builtin_add_overflow(a.pending_credits, qc, &n[3]))
      return Status(Code::invalid_amount, "account counter overflow");
    a.posted_debits = n[0];
    a.posted_credits = n[1];
    a.pending_debits = n[2];
    a.pending_credits = n[3];
    undo_.push_back([&a, pd, pc, qd, qc] {
      a.posted_debits -= pd;
      a.posted_credits -= pc;
      a.pending_debits -= qd;
      a.pending_credits -= qc;
    });
    return {};
  }
  Status set_thresholds(std::string_view id, const std::vector<BalanceThreshold>& t) override {
    if (read_only_) return read_only_write();
    auto it = d_.accounts.find(id);
    if (it == d_.accounts.end()) return not_found("account", id);
    undo_.push_back([&a = it->second, old = it->second.thresholds] { a.thresholds = old; });
    it->second.thresholds = t;
    return {};
  }
  Status for_each_account(const std::function<void(const AccountRow&)>& fn) override {
    std::vector<const AccountRow*> rows;
    rows.reserve(d_.accounts.size());
    for (auto& [k, v] : d_.accounts) rows.push_back(&v);
    std::sort(rows.begin(), rows.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (auto* r : rows) fn(*r);
    return {};
  }

  Status insert_entry(EntryRow& row) override {
    if (read_only_) return read_only_write();
    if (!row.idem_key.empty()) {
      auto& keys = d_.entry_keys[static_cast<std::size_t>(row.kind) % kEntryKinds];
      if (!keys.emplace(row.idem_key, d_.entries.size()).second) return duplicate("entry", row.idem_key);
      // Erase by key: set iterators do not survive a rehash.
      undo_.push_back([&keys, key = row.idem_key] { keys.erase(key); });
    }
    row.seq = static_cast<std::int64_t>(d_.entries.size()) + 1;
    d_.entries.push_back(row);
    undo_.push_back([this] { d_.entries.pop_back(); });
    return {};
  }
  Status find_entry(EntryKind kind, std::string_view idem_key, EntryRow& out) override {
    const auto& keys = d_.entry_keys[static_cast<std::size_t>(kind) % kEntryKinds];
    auto it = keys.find(idem_key);
    if (it == keys.end()) return not_found("entry", idem_key);
    out = d_.entries[it->second];
    return {};
  }
  Status for_each_entry(const std::function<void(const EntryRow&)>& fn) override {
    for (const auto& e : d_.entries) fn(e);
    return {};
  }
  Status journal_totals(std::vector<JournalTotals>& out) override {
    std::map<std::string, JournalTotals> t;
    for (const auto& e : d_.entries) {
      auto& d = t[e.debit_account];
      d.account = e.debit_account;
      d.posted_debits += e.amount;
      d.pending_debits += e.pending_delta;
      auto& c = t[e.credit_account];
      c.account = e.credit_account;
      c.posted_credits += e.amount;
      c.pending_credits += e.pending_delta;
    }
    out.clear();
    for (auto& [k, v] : t) out.push_back(v);
    return {};
  }

  Status insert_hold(const HoldRow& row) override {
    if (read_only_) return read_only_write();
    if (d_.holds.count(row.id)) return duplicate("hold", row.id);
    auto [kit, inserted] = d_.hold_keys.emplace(row.key, row.id);
    if (!inserted) return duplicate("hold key", row.key);
    d_.holds.emplace(row.id, row);
    if (row.state == HoldState::pending) d_.pending_by_deadline.emplace(row.deadline_ms, row.id);
    undo_.push_back([this, id = row.id, key = row.key, deadline = row.deadline_ms] {
      d_.holds.erase(id);
      d_.hold_keys.erase(key);
      d_.pending_by_deadline.erase({deadline, id});
    });
    return {};
  }
  Status get_hold(std::string_view id, HoldRow& out) override {
    auto it = d_.holds.find(id);
    if (it == d_.holds.end()) return not_found("hold", id);
    out = it->second;
    return {};
  }
  Status find_hold_by_key(std::string_view key, HoldRow& out) override {
    auto it = d_.hold_keys.find(key);
    if (it == d_.hold_keys.end()) return not_found("hold key", key);
    return get_hold(it->second, out);
  }
  Status resolve_hold(std::string_view id, HoldState state, Micros settled_amount,
                      std::int64_t resolved_ms) override {
    if (read_only_) return read_only_write();
    auto it = d_.holds.find(id);
    if (it == d_.holds.end()) return not_found("hold", id);
    HoldRow& h = it->second;
    if (h.state != HoldState::pending) return Status(Code::invalid_state, "hold already resolved");
    h.state = state;
    h.settled_amount = settled_amount;
    h.resolved_ms = resolved_ms;
    d_.pending_by_deadline.erase({h.deadline_ms, h.id});
    undo_.push_back([this, &h] {
      h.state = HoldState::pending;
      h.settled_amount = 0;
      h.resolved_ms = 0;
      d_.pending_by_deadline.emplace(h.deadline_ms, h.id);
    });
    return {};
  }
  Status due_holds(std::int64_t now_ms, std::size_t limit, std::vector<HoldRow>& out) override {
    out.clear();
    for (auto& [deadline, id] : d_.pending_by_deadline) {
      if (deadline > now_ms || out.size() >= limit) break;
      out.push_back(d_.holds.find(id)->second);
    }
    return {};
  }
  Status for_each_hold(const std::function<void(const HoldRow&)>& fn) override {
    for (auto& [k, v] : d_.holds) fn(v);
    return {};
  }

  Status insert_payment(const PaymentRow& row) override {
    if (read_only_) return read_only_write();
    if (!d_.payments.emplace(row.id, row).second) return duplicate("payment", row.id);
    undo_.push_back([this, id = row.id] { d_.payments.erase(id); });
    return {};
  }
  Status get_payment(std::string_view id, PaymentRow& out) override {
    auto it = d_.payments.find(id);
    if (it == d_.payments.end()) return not_found("payment", id);
    out = it->second;
    return {};
  }
  Status add_payment_clawed_back(std::string_view id, Micros delta) override {
    if (read_only_) return read_only_write();
    auto it = d_.payments.find(id);
    if (it == d_.payments.end()) return not_found("payment", id);
    it->second.clawed_back += delta;
    undo_.push_back([&p = it->second, delta] { p.clawed_back -= delta; });
    return {};
  }
  Status insert_clawback(const ClawbackRow& row) override {
    if (read_only_) return read_only_write();
    if (!d_.clawbacks.emplace(row.key, row).second) return duplicate("clawback", row.key);
    undo_.push_back([this, key = row.key] { d_.clawbacks.erase(key); });
    return {};
  }
  Status find_clawback(std::string_view key, ClawbackRow& out) override {
    auto it = d_.clawbacks.find(key);
    if (it == d_.clawbacks.end()) return not_found("clawback", key);
    out = it->second;
    return {};
  }

  // ---- seen
  Result<bool> insert_if_absent(std::string_view source, std::string_view id, std::int64_t) override {
    if (read_only_) return read_only_write();
    std::string k(source);
    k += '\x1f';
    k += id;
    bool inserted = d_.seen.insert(k).second;
    if (inserted) undo_.push_back([this, k = std::move(k)] { d_.seen.erase(k); });
    return inserted;
  }
  Result<bool> contains(std::string_view source, std::string_view id) override {
    std::string k(source);
    k += '\x1f';
    k += id;
    return d_.seen.count(k) > 0;
  }

  // ---- outbox
  Status append(OutboxRow& row) override {
    if (read_only_) return read_only_write();
    row.seq = static_cast<std::int64_t>(d_.outbox.size()) + 1;
    d_.outbox.push_back(row);
    undo_.push_back([this] { d_.outbox.pop_back(); });
    return {};
  }
  Status due(std::int64_t now_ms, std::size_t limit, std::vector<OutboxRow>& out) override {
    out.clear();
    for (const auto& r : d_.outbox) {
      if (out.size() >= limit) break;
      if (r.state == OutboxState::pending && r.next_attempt_ms <= now_ms) out.push_back(r);
    }
    return {};
  }
  Status count_pending(std::int64_t& out) override {
    out = std::count_if(d_.outbox.begin(), d_.outbox.end(),
                        [](const OutboxRow& r) { return r.state == OutboxState::pending; });
    return {};
  }
  Status list(std::int64_t after_seq, std::size_t limit, std::vector<OutboxRow>& out) override {
    out.clear();
    for (std::size_t i = static_cast<std::size_t>(std::max<std::int64_t>(after_seq, 0));
         i < d_.outbox.size() && out.size() < limit; ++i)
      out.push_back(d_.outbox[i]);
    return {};
  }
  Status update(std::int64_t seq, OutboxState state, int attempts, std::int64_t next_ms) override {
    if (read_only_) return read_only_write();
    if (seq < 1 || seq > static_cast<std::int64_t>(d_.outbox.size()))
      return not_found("outbox row", std::to_string(seq));
    OutboxRow& r = d_.outbox[static_cast<std::size_t>(seq - 1)];
    undo_.push_back([this, seq, old = r] { d_.outbox[static_cast<std::size_t>(seq - 1)] = old; });
    r.state = state;
    r.attempts = attempts;
    r.next_attempt_ms = next_ms;
    return {};
  }

  // ---- attempt stats
  Result<bool> record(const AttemptStatRow& row) override {
    if (read_only_) return read_only_write();
    if (!d_.attempt_ids.insert(row.attempt_id).second) return false;
    auto mit = d_.attempts_by_time.emplace(row.finished_ms, row);
    undo_.push_back([this, mit, id = row.attempt_id] {
      d_.attempts_by_time.erase(mit);
      d_.attempt_ids.erase(id);
    });
    return true;
  }
  Status since(std::int64_t since_ms, std::size_t limit, std::vector<AttemptStatRow>& out) override {
    out.clear();
    for (auto it = d_.attempts_by_time.lower_bound(since_ms);
         it != d_.attempts_by_time.end() && out.size() < limit; ++it)
      out.push_back(it->second);
    return {};
  }
  Result<std::size_t> prune(std::int64_t before_ms) override {
    if (read_only_) return read_only_write();
    std::size_t n = 0;
    auto end = d_.attempts_by_time.lower_bound(before_ms);
    for (auto it = d_.attempts_by_time.begin(); it != end;) {
      AttemptStatRow row = it->second;
      d_.attempt_ids.erase(row.attempt_id);
      it = d_.attempts_by_time.erase(it);
      undo_.push_back([this, row] {
        d_.attempt_ids.insert(row.attempt_id);
        d_.attempts_by_time.emplace(row.finished_ms, row);
      });
      ++n;
    }
    return n;
  }

 private:
  Data& d_;
  bool read_only_;
  std::vector<std::function<void()>> undo_;
  MemoryApiKeys api_keys_;
  MemoryWebhookEndpoints webhook_endpoints_;
  MemoryWebhookDeliveries webhook_deliveries_;
  MemoryGenerations generations_;
  MemoryRequestLog request_log_;
  MemoryInstances instances_;
};

class MemoryStore final : public Store {
 public:
  std::string_view name() const override { return "memory"; }

  Status transact(Work work) override {
    std::unique_lock lock(mu_);
    MemoryUnit unit(data_, false);
    Status s = storage_detail::run_guarded(work, unit);
    if (!s.ok()) unit.rollback();
    return s;
  }

  Status read(Work work) override {
    std::shared_lock lock(mu_);
    MemoryUnit unit(data_, true);
    return storage_detail::run_guarded(work, unit);
  }

 private:
  std::shared_mutex mu_;
  Data data_;
};

}  // namespace

std::unique_ptr<Store> open_memory_store() { return std::make_unique<MemoryStore>(); }

}  // namespace babysea
