#include "babysea/ledger.hpp"

#include <algorithm>

#include "babysea/ids.hpp"
#include "json/json.hpp"

namespace babysea {
namespace {

bool is_system(std::string_view account) { return account.starts_with("system:"); }

Micros available_of(const AccountRow& a) { return a.posted_credits - a.posted_debits - a.pending_debits; }

Status check_account_id(std::string_view account) {
  if (account.empty()) return Status(Code::invalid_request, "account id is empty");
  if (account.size() > 256) return Status(Code::invalid_request, "account id is longer than 256 bytes");
  if (is_system(account))
    return Status(Code::invalid_request, "account id '" + std::string(account) + "' is reserved");
  return {};
}

Status check_key(std::string_view key, const char* what) {
  if (key.empty()) return Status(Code::invalid_request, std::string(what) + " is empty");
  if (key.size() > 512) return Status(Code::invalid_request, std::string(what) + " is longer than 512 bytes");
  return {};
}

const char* state_name(HoldState s) {
  switch (s) {
    case HoldState::pending: return "pending";
    case HoldState::settled: return "settled";
    case HoldState::released: return "released";
    case HoldState::expired: return "expired";
  }
  return "unknown";
}

// Runs `fn(uow)` in its own unit of work, returning its result after commit.
template <typename T, typename Fn>
Result<T> in_unit(Store& store, Fn&& fn) {
  Result<T> out = Status(Code::internal, "unit of work did not run");
  Status s = store.transact([&](UnitOfWork& uow) -> Status {
    out = fn(uow);
    return out.status();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace

Ledger::Ledger(Store& store, const Clock& clock, LedgerOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {}

Status Ledger::init() {
  const std::int64_t now = clock_.now_ms();
  return store_.transact([&](UnitOfWork& uow) -> Status {
    for (std::string_view id : {kEscrowAccount, kRevenueAccount, kGrantsAccount, kRefundsAccount}) {
      AccountRow existing;
      Status s = uow.ledger().get_account(id, existing);
      if (s.ok()) continue;
      if (s.code() != Code::not_found) return s;
      AccountRow row;
      row.id = std::string(id);
      row.kind = AccountKind::system;
      row.created_ms = now;
      BABYSEA_RETURN_IF_ERROR(uow.ledger().insert_account(row));
    }
    return {};
  });
}

Status Ledger::check_amount(Micros amount) const {
  if (amount <= 0) return Status(Code::invalid_amount, "amount must be a positive number of micro-credits");
  if (amount > options_.max_amount)
    return Status(Code::invalid_amount, "amount " + std::to_string(amount) + " exceeds the maximum of " +
                                            std::to_string(options_.max_amount) + " micro-credits");
  return {};
}

Status Ledger::create_account(std::string_view account) {
  return store_.transact([&](UnitOfWork& uow) { return create_account(uow, account); });
}

Status Ledger::create_account(UnitOfWork& uow, std::string_view account) {
  BABYSEA_RETURN_IF_ERROR(check_account_id(account));
  AccountRow existing;
  Status s = uow.ledger().get_account(account, existing);
  if (s.ok()) return {};
  if (s.code() != Code::not_found) return s;
  AccountRow row;
  row.id = std::string(account);
  row.kind = AccountKind::customer;
  row.created_ms = clock_.now_ms();
  return uow.ledger().insert_account(row);
}

Result<Balance> Ledger::balance(std::string_view account) {
  Balance out;
  Status s = store_.read([&](UnitOfWork& uow) -> Status {
    AccountRow a;
    BABYSEA_RETURN_IF_ERROR(uow.ledger().get_account(account, a));
    out = {a.id, a.posted_debits, a.posted_credits, a.pending_debits, a.pending_credits};
    return {};
  });
  if (!s.ok()) return s;
  return out;
}

Result<HoldRow> Ledger::hold(std::string_view hold_id) {
  HoldRow out;
  Status s = store_.read([&](UnitOfWork& uow) { return uow.ledger().get_hold(hold_id, out); });
  if (!s.ok()) return s;
  return out;
}

Status Ledger::check_low_balance(UnitOfWork& uow, const AccountRow& account, Micros available,
                                 std::vector<LowBalanceAlert>* alerts) {
  if (account.thresholds.empty()) return {};
  std::vector<BalanceThreshold> next = account.thresholds;
  std::vector<Micros> crossed;
  bool changed = false;
  for (auto& t : next) {
    if (t.armed && available < t.threshold) {
      t.armed = false;
      crossed.push_back(t.threshold);
      changed = true;
    } else if (!t.armed && available >= t.threshold) {
      t.armed = true;  // recovered: may fire again on the next crossing
      changed = true;
    }
  }
  if (!changed) return {};
  BABYSEA_RETURN_IF_ERROR(uow.ledger().set_thresholds(account.id, next));
  if (crossed.empty()) return {};
  const std::int64_t now = clock_.now_ms();
  json::JsonWriter w;
  w.begin_object()
      .field("account_id", account.id)
      .field("available_micros", available)
      .field("available_credits", format_credits(available))
      .key("thresholds_crossed_micros")
      .begin_array();
  for (Micros t : crossed) w.value(t);
  w.end_array().end_object();
  OutboxRow row;
  row.id = new_id(now);
  row.topic = options_.low_balance_topic;
  row.account = account.id;
  row.payload = std::move(w).take();
  row.next_attempt_ms = now;
  row.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(uow.outbox().append(row));
  if (alerts) alerts->push_back({account.id, available, std::move(crossed)});
  return {};
}

// ------------------------------------------------------------------ reserve

namespace {
Status check_reserve(std::string_view account, std::string_view hold_key) {
  BABYSEA_RETURN_IF_ERROR(check_account_id(account));
  return check_key(hold_key, "hold key");
}
}  // namespace

Result<HoldResult> Ledger::reserve(std::string_view account, Micros amount, std::string_view hold_key,
                                   std::int64_t deadline_ms, std::string_view ref) {
  return in_unit<HoldResult>(store_, [&](UnitOfWork& uow) {
    return reserve(uow, account, amount, hold_key, deadline_ms, ref);
  });
}

Result<HoldResult> Ledger::reserve(UnitOfWork& uow, std::string_view account, Micros amount,
                                   std::string_view hold_key, std::int64_t deadline_ms,
                                   std::string_view ref) {
  BABYSEA_RETURN_IF_ERROR(check_reserve(account, hold_key));
  BABYSEA_RETURN_IF_ERROR(check_amount(amount));
  LedgerTables& t = uow.ledger();
  HoldResult out;
  Status found = t.find_hold_by_key(hold_key, out.hold);
  if (found.ok()) {  // L3: one hold per key
    if (out.hold.account != account || out.hold.amount != amount)
      return Status(Code::idempotency_conflict,
                    "hold key '" + std::string(hold_key) + "' was used for a different account or amount");
    out.replayed = true;
    return out;
  }
  if (found.code() != Code::not_found) return found;

  AccountRow a;
  BABYSEA_RETURN_IF_ERROR(t.get_account(account, a));
  return place_hold(uow, a, amount, hold_key, deadline_ms, ref);
}

Result<HoldResult> Ledger::reserve_new(UnitOfWork& uow, std::string_view account, Micros amount,
                                       std::string_view hold_key, std::int64_t deadline_ms,
                                       std::string_view ref) {
  BABYSEA_RETURN_IF_ERROR(check_reserve(account, hold_key));
  BABYSEA_RETURN_IF_ERROR(check_amount(amount));
  AccountRow a;
  Status s = uow.ledger().get_account(account, a);
  if (s.code() == Code::not_found) a.id = std::string(account);  // empty: place_hold refuses, writing nothing
  else if (!s.ok()) return s;
  return place_hold(uow, a, amount, hold_key, deadline_ms, ref);
}

// The hold itself, once the account is read: L2 (balance covers it, checked
// atomically with the insert), the hold row, its entry and both balances.
Result<HoldResult> Ledger::place_hold(UnitOfWork& uow, const AccountRow& a, Micros amount,
                                      std::string_view hold_key, std::int64_t deadline_ms, std::string_view ref) {
  LedgerTables& t = uow.ledger();
  HoldResult out;
  const Micros available = available_of(a);
  if (available < amount)
    return Status(Code::insufficient_credits, "available balance " + format_credits(available) +
                                                  " credits cannot cover " + format_credits(amount));
  const std::int64_t now = clock_.now_ms();
  HoldRow& h = out.hold;
  h.id = new_id(now);
  h.key = std::string(hold_key);
  h.account = a.id;
  h.amount = amount;
  h.state = HoldState::pending;
  h.deadline_ms = deadline_ms;
  h.created_ms = now;
  h.ref = std::string(ref);
  BABYSEA_RETURN_IF_ERROR(t.insert_hold(h));
  EntryRow e;
  e.kind = EntryKind::hold;
  e.debit_account = h.account;
  e.credit_account = std::string(kEscrowAccount);
  e.pending_delta = amount;
  e.hold_id = h.id;
  e.ref = h.ref;
  e.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(t.append_entry(e));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(h.account, 0, 0, amount, 0));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(kEscrowAccount, 0, 0, 0, amount));
  BABYSEA_RETURN_IF_ERROR(check_low_balance(uow, a, available - amount, &out.alerts));
  return out;
}

// ------------------------------------------------------------------- settle

Result<HoldResult> Ledger::settle(std::string_view hold_id, Micros actual) {
  return in_unit<HoldResult>(store_, [&](UnitOfWork& uow) { return settle(uow, hold_id, actual); });
}

Result<HoldResult> Ledger::settle(UnitOfWork& uow, std::string_view hold_id, Micros actual) {
  LedgerTables& t = uow.ledger();
  HoldResult out;
  BABYSEA_RETURN_IF_ERROR(t.get_hold(hold_id, out.hold));  // L5: no hold, no settle
  HoldRow& h = out.hold;
  if (h.state != HoldState::pending) {  // L4
    if (h.state == HoldState::settled && h.settled_amount == actual) {
      out.replayed = true;
      return out;
    }
    return Status(Code::invalid_state, "hold " + h.id + " is already " + state_name(h.state) +
                                           (h.state == HoldState::settled
                                                ? " for " + std::to_string(h.settled_amount) + " micro-credits"
                                                : std::string()));
  }
  if (actual <= 0) return Status(Code::invalid_amount, "settle amount must be positive (release the hold instead)");
  if (actual > h.amount)  // L6
    return Status(Code::invalid_amount, "settle amount " + std::to_string(actual) +
                                            " exceeds the held " + std::to_string(h.amount));
  const std::int64_t now = clock_.now_ms();
  BABYSEA_RETURN_IF_ERROR(t.resolve_hold(h.id, HoldState::settled, actual, now));
  h.state = HoldState::settled;
  h.settled_amount = actual;
  h.resolved_ms = now;

  // Post the pending transfer (customer -> escrow) for `actual`, clearing the
  // whole pending amount (partial post), then recognise it as revenue.
  EntryRow post;
  post.kind = EntryKind::settle;
  post.debit_account = h.account;
  post.credit_account = std::string(kEscrowAccount);
  post.amount = actual;
  post.pending_delta = -h.amount;
  post.hold_id = h.id;
  post.ref = h.ref;
  post.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(t.append_entry(post));
  EntryRow revenue = post;
  revenue.debit_account = std::string(kEscrowAccount);
  revenue.credit_account = std::string(kRevenueAccount);
  revenue.pending_delta = 0;
  BABYSEA_RETURN_IF_ERROR(t.append_entry(revenue));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(h.account, actual, 0, -h.amount, 0));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(kEscrowAccount, actual, actual, 0, -h.amount));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(kRevenueAccount, 0, actual, 0, 0));
  AccountRow a;
  BABYSEA_RETURN_IF_ERROR(t.get_account(h.account, a));
  BABYSEA_RETURN_IF_ERROR(check_low_balance(uow, a, available_of(a), &out.alerts));
  return out;
}

// ---------------------------------------------------------- release, expire

Result<HoldResult> Ledger::release(std::string_view hold_id) {
  return in_unit<HoldResult>(store_, [&](UnitOfWork& uow) { return release(uow, hold_id); });
}

Result<HoldResult> Ledger::release(UnitOfWork& uow, std::string_view hold_id) {
  return void_hold(uow, hold_id, HoldState::released, EntryKind::release);
}

Result<HoldResult> Ledger::void_hold(UnitOfWork& uow, std::string_view hold_id, HoldState state,
                                     EntryKind kind) {
  LedgerTables& t = uow.ledger();
  HoldResult out;
  BABYSEA_RETURN_IF_ERROR(t.get_hold(hold_id, out.hold));  // L5
  HoldRow& h = out.hold;
  if (h.state != HoldState::pending) {  // L4
    if (h.state == state) {
      out.replayed = true;
      return out;
    }
    return Status(Code::invalid_state, "hold " + h.id + " is already " + state_name(h.state));
  }
  const std::int64_t now = clock_.now_ms();
  BABYSEA_RETURN_IF_ERROR(t.resolve_hold(h.id, state, 0, now));  // L10: compare-and-set
  h.state = state;
  h.resolved_ms = now;
  EntryRow e;
  e.kind = kind;
  e.debit_account = h.account;
  e.credit_account = std::string(kEscrowAccount);
  e.pending_delta = -h.amount;
  e.hold_id = h.id;
  e.ref = h.ref;
  e.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(t.append_entry(e));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(h.account, 0, 0, -h.amount, 0));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(kEscrowAccount, 0, 0, 0, -h.amount));
  AccountRow a;
  BABYSEA_RETURN_IF_ERROR(t.get_account(h.account, a));
  BABYSEA_RETURN_IF_ERROR(check_low_balance(uow, a, available_of(a), &out.alerts));
  return out;
}

Result<std::size_t> Ledger::expire_due(std::int64_t now_ms, std::size_t limit) {
  return in_unit<std::size_t>(store_, [&](UnitOfWork& uow) -> Result<std::size_t> {
    std::vector<HoldRow> due;
    BABYSEA_RETURN_IF_ERROR(uow.ledger().due_holds(now_ms, limit, due));
    std::size_t expired = 0;
    for (const HoldRow& h : due) {
      auto r = void_hold(uow, h.id, HoldState::expired, EntryKind::expire);
      if (r.ok()) {
        if (!r->replayed) ++expired;
      } else if (r.code() != Code::invalid_state) {
        return std::move(r).take_status();  // resolved meanwhile by someone else: skip
      }
    }
    return expired;
  });
}

// ------------------------------------------------------- grants, clawbacks

Result<GrantResult> Ledger::grant(std::string_view account, Micros amount, std::string_view key,
                                  std::string_view ref) {
  return in_unit<GrantResult>(store_, [&](UnitOfWork& uow) { return grant(uow, account, amount, key, ref); });
}

Result<GrantResult> Ledger::grant(UnitOfWork& uow, std::string_view account, Micros amount,
                                  std::string_view key, std::string_view ref) {
  BABYSEA_RETURN_IF_ERROR(check_account_id(account));
  BABYSEA_RETURN_IF_ERROR(check_key(key, "grant key"));
  BABYSEA_RETURN_IF_ERROR(check_amount(amount));
  LedgerTables& t = uow.ledger();
  GrantResult out;
  Status found = t.find_entry(EntryKind::grant, key, out.entry);
  if (found.ok()) {  // L8: one grant per business object
    if (out.entry.credit_account != account || out.entry.amount != amount)
      return Status(Code::idempotency_conflict,
                    "grant key '" + std::string(key) + "' was used for a different account or amount");
    out.replayed = true;
    return out;
  }
  if (found.code() != Code::not_found) return found;
  AccountRow a;
  BABYSEA_RETURN_IF_ERROR(t.get_account(account, a));
  const std::int64_t now = clock_.now_ms();
  EntryRow& e = out.entry;
  e.kind = EntryKind::grant;
  e.debit_account = std::string(kGrantsAccount);
  e.credit_account = std::string(account);
  e.amount = amount;
  e.idem_key = std::string(key);
  e.ref = std::string(ref);
  e.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(t.insert_entry(e));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(kGrantsAccount, amount, 0, 0, 0));
  BABYSEA_RETURN_IF_ERROR(t.add_to_account(account, 0, amount, 0, 0));
  BABYSEA_ASSIGN_OR_RETURN(Micros after, checked_add(available_of(a), amount));
  BABYSEA_RETURN_IF_ERROR(check_low_balance(uow, a, after, nullptr));
  return out;
}

Result<ClawbackResult> Ledger::clawback(std::string_view account, Micros amount, std::string_view key,
                                        std::string_view ref) {
  return in_unit<ClawbackResult>(store_,
                                 [&](UnitOfWork& uow) { return clawback(uow, account, amount, key, ref); });
}

Result<ClawbackResult> Ledger::clawback(UnitOfWork& uow, std::string_view account, Micros amount,
                                        std::string_view key, std::string_view ref) {
  BABYSEA_RETURN_IF_ERROR(check_account_id(account));
  BABYSEA_RETURN_IF_ERROR(check_key(key, "clawback key"));
  BABYSEA_RETURN_IF_ERROR(check_amount(amount));
  LedgerTables& t = uow.ledger();
  ClawbackResult out;
  Status found = t.find_clawback(key, out.clawback);
  if (found.ok()) {
    if (out.clawback.account != account || out.clawback.requested != amount)
      return Status(Code::idempotency_conflict,
                    "clawback key '" + std::string(key) + "' was used for a different account or amount");
    out.replayed = true;
    return out;
  }
  if (found.code() != Code::not_found) return found;
  AccountRow a;
  BABYSEA_RETURN_IF_ERROR(t.get_account(account, a));
  const Micros available = std::max<Micros>(0, available_of(a));
  const Micros applied = std::min(amount, available);
  const std::int64_t now = clock_.now_ms();
  ClawbackRow& c = out.clawback;
  c.key = std::string(key);
  c.account = std::string(account);
  c.requested = amount;
  c.applied = applied;
  c.shortfall = amount - applied;
  c.ref = std::string(ref);
  c.created_ms = now;
  BABYSEA_RETURN_IF_ERROR(t.insert_clawback(c));
  if (applied > 0) {
    EntryRow e;
      e.kind = EntryKind::clawback;
    e.debit_account = std::string(account);
    e.credit_account = std::string(kRefundsAccount);
    e.amount = applied;
    e.idem_key = c.key;
    e.ref = c.ref;
    e.created_ms = now;
    BABYSEA_RETURN_IF_ERROR(t.insert_entry(e));
    BABYSEA_RETURN_IF_ERROR(t.add_to_account(account, applied, 0, 0, 0));
    BABYSEA_RETURN_IF_ERROR(t.add_to_account(kRefundsAccount, 0, applied, 0, 0));
  }
  BABYSEA_RETURN_IF_ERROR(check_low_balance(uow, a, available_of(a) - applied, &out.alerts));
  return out;
}

Status Ledger::set_low_balance_thresholds(std::string_view account, std::vector<Micros> thresholds) {
  BABYSEA_RETURN_IF_ERROR(check_account_id(account));
  for (Micros m : thresholds) BABYSEA_RETURN_IF_ERROR(check_amount(m));
  std::sort(thresholds.begin(), thresholds.end(), std::greater<>());
  thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
  return store_.transact([&](UnitOfWork& uow) -> Status {
    AccountRow a;
    BABYSEA_RETURN_IF_ERROR(uow.ledger().get_account(account, a));
    std::vector<BalanceThreshold> rows;
    for (Micros m : thresholds) rows.push_back({m, available_of(a) >= m});
    return uow.ledger().set_thresholds(account, rows);
  });
}

}  // namespace babysea
