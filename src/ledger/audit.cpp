// Ledger::audit(): checks the invariants listed at AuditViolation (ledger.hpp)
// over one read snapshot, recomputing every balance from the journal.
#include <algorithm>
#include <map>
#include <sstream>

#include "babysea/ledger.hpp"

namespace babysea {
namespace {

__extension__ using i128 = __int128;

std::string num(i128 v) { return std::to_string(static_cast<long long>(v)); }

// Journal sums of one account.
struct Sums {
  i128 posted_debits = 0, posted_credits = 0, pending_debits = 0, pending_credits = 0;
  i128 posted() const { return posted_credits - posted_debits; }
};

// The legs of one hold, as the journal has them.
struct Legs {
  int hold_entries = 0;
  int resolutions = 0;              // settle post legs, releases, expiries
  EntryKind resolution = EntryKind::hold;  // kind of the (last) resolution
  Micros posted = 0;                // sum of settle post legs
  int revenue_legs = 0;
  Micros revenue = 0;
  std::vector<const EntryRow*> entries;
};

class Auditor {
 public:
  explicit Auditor(AuditReport& report) : report_(report) {}

  void violation(const char* invariant, std::string subject, std::string detail) {
    if (report_.violations.size() < 1000)
      report_.violations.push_back(AuditViolation{invariant, std::move(subject), std::move(detail)});
  }

  Status run(LedgerTables& t) {
    std::map<std::string, AccountRow> accounts;
    BABYSEA_RETURN_IF_ERROR(t.for_each_account([&](const AccountRow& a) { accounts.emplace(a.id, a); }));
    report_.accounts = accounts.size();
    BABYSEA_RETURN_IF_ERROR(t.for_each_entry([&](const EntryRow& e) { entries_.push_back(e); }));
    report_.entries = entries_.size();
    std::map<std::string, HoldRow> holds;
    BABYSEA_RETURN_IF_ERROR(t.for_each_hold([&](const HoldRow& h) { holds.emplace(h.id, h); }));
    report_.holds = holds.size();

    std::map<std::string, Sums> journal;
    std::map<std::string, Legs> legs;
    for (const EntryRow& e : entries_) {
      if (e.amount < 0) violation("L9", "entry " + std::to_string(e.seq), "negative amount " + std::to_string(e.amount));
      Sums& d = journal[e.debit_account];
      d.posted_debits += e.amount;
      d.pending_debits += e.pending_delta;
      Sums& c = journal[e.credit_account];
      c.posted_credits += e.amount;
      c.pending_credits += e.pending_delta;
      if (!e.hold_id.empty()) legs[e.hold_id].entries.push_back(&e);
    }

    check_accounts(accounts, journal);
    i128 pending_held = 0;
    for (const auto& [id, h] : holds) {
      if (h.state == HoldState::pending) {
        ++report_.pending_holds;
        pending_held += h.amount;
      }
      auto it = legs.find(id);
      check_hold(h, it == legs.end() ? Legs{} : it->second);
      if (it != legs.end()) legs.erase(it);
    }
    for (const auto& [id, l] : legs)
      violation("L5", "hold " + id, std::to_string(l.entries.size()) + " entries name this hold, which does not exist");

    // L11: escrow holds exactly the pending holds and nothing posted.
    const Sums escrow = journal.count(std::string(kEscrowAccount)) ? journal[std::string(kEscrowAccount)] : Sums{};
    if (escrow.posted() != 0)
      violation("L11", "account " + std::string(kEscrowAccount),
                "posted balance is " + num(escrow.posted()) + " (credits stuck in or missing from escrow)");
    if (escrow.pending_credits != pending_held)
      violation("L11", "account " + std::string(kEscrowAccount),
                "pending credits " + num(escrow.pending_credits) + " != pending holds " + num(pending_held));
    return {};
  }

 private:
  void check_accounts(const std::map<std::string, AccountRow>& accounts, std::map<std::string, Sums>& journal) {
    // L1 over the stored counters (the journal balances by construction: every
    // entry debits and credits the same amount).
    i128 net = 0, pending_d = 0, pending_c = 0;
    for (const auto& [id, a] : accounts) {
      net += static_cast<i128>(a.posted_credits) - a.posted_debits;
      pending_d += a.pending_debits;
      pending_c += a.pending_credits;
    }
    if (net != 0) violation("L1", "ledger", "account balances sum to " + num(net) + ", not 0");
    if (pending_d != pending_c)
      violation("L1", "ledger", "pending debits " + num(pending_d) + " != pending credits " + num(pending_c));

    for (const auto& [id, a] : accounts) {
      const Sums j = journal.count(id) ? journal[id] : Sums{};
      if (a.posted_debits < 0 || a.posted_credits < 0 || a.pending_debits < 0 || a.pending_credits < 0)
        violation("L7", "account " + id, "a counter is negative");
      if (j.posted_debits != a.posted_debits || j.posted_credits != a.posted_credits ||
          j.pending_debits != a.pending_debits || j.pending_credits != a.pending_credits)
        violation("L7", "account " + id,
                  "counters (" + std::to_string(a.posted_debits) + "," + std::to_string(a.posted_credits) + "," +
                      std::to_string(a.pending_debits) + "," + std::to_string(a.pending_credits) + ") != journal (" +
                      num(j.posted_debits) + "," + num(j.posted_credits) + "," + num(j.pending_debits) + "," +
                      num(j.pending_credits) + ")");
      // L2 from the journal: posted minus what pending holds take.
      const i128 available = j.posted() - j.pending_debits;
      if (a.kind == AccountKind::customer && available < 0)
        violation("L2", "account " + id, "available balance from the journal is " + num(available));
    }
    for (const auto& [id, j] : journal)
      if (!accounts.count(id)) violation("L7", "account " + id, "the journal names an account that does not exist");
  }

  void check_hold(const HoldRow& h, Legs l) {
    const std::string subject = "hold " + h.id;
    const std::string escrow(kEscrowAccount), revenue(kRevenueAccount);
    for (const EntryRow* e : l.entries) {
      const std::string at = " (entry " + std::to_string(e->seq) + ")";
      const bool own = e->debit_account == h.account && e->credit_account == escrow;
      switch (e->kind) {
        case EntryKind::hold:
          ++l.hold_entries;
          if (!own) violation("L12", subject, "hold entry moves " + e->debit_account + " -> " + e->credit_account + at);
          if (e->pending_delta != h.amount || e->amount != 0)
            violation("L13", subject, "hold entry holds " + std::to_string(e->pending_delta) + " and posts " +
                                          std::to_string(e->amount) + ", not the amount " + std::to_string(h.amount) + at);
          break;
        case EntryKind::settle:
          if (e->debit_account == escrow && e->credit_account == revenue) {
            ++l.revenue_legs;
            l.revenue += e->amount;
            if (e->pending_delta != 0) violation("L13", subject, "revenue leg changes pending amounts" + at);
            break;
          }
          [[fallthrough]];
        case EntryKind::release:
        case EntryKind::expire:
          ++l.resolutions;
          l.resolution = e->kind;
          if (e->kind == EntryKind::settle) l.posted += e->amount;
          if (!own)
            violation("L12", subject, "resolution moves " + e->debit_account + " -> " + e->credit_account + at);
          if (e->pending_delta != -h.amount)
            violation("L13", subject, "resolution clears " + std::to_string(-e->pending_delta) + " of the held " +
                                          std::to_string(h.amount) + at);
          if (e->kind != EntryKind::settle && e->amount != 0)
            violation("L13", subject, "a release or expiry posts " + std::to_string(e->amount) +
                                          " instead of returning the whole unsettled rest" + at);
          break;
        default:
          violation("L12", subject, "an entry of kind " + std::to_string(static_cast<int>(e->kind)) +
                                        " is bound to the hold" + at);
      }
    }
    // L4: one hold entry; one resolution of the state's kind once resolved.
    if (l.hold_entries != 1) violation("L4", subject, std::to_string(l.hold_entries) + " hold entries");
    const int expected = h.state == HoldState::pending ? 0 : 1;
    if (l.resolutions != expected)
      violation("L4", subject, "state " + std::to_string(static_cast<int>(h.state)) + " but " +
                                   std::to_string(l.resolutions) + " resolutions");
    else if (expected == 1) {
      const EntryKind want = h.state == HoldState::settled    ? EntryKind::settle
                             : h.state == HoldState::released ? EntryKind::release
                                                              : EntryKind::expire;
      if (l.resolution != want)
        violation("L4", subject, "resolved by an entry of kind " + std::to_string(static_cast<int>(l.resolution)) +
                                     " but its state is " + std::to_string(static_cast<int>(h.state)));
    }
    // L6: what was posted is the settled amount, within the hold.
    if (h.state == HoldState::settled) {
      if (h.settled_amount <= 0 || h.settled_amount > h.amount)
        violation("L6", subject, "settled " + std::to_string(h.settled_amount) + " of a hold of " +
                                     std::to_string(h.amount));
      if (l.posted != h.settled_amount)
        violation("L6", subject, "settled " + std::to_string(h.settled_amount) + " but posted " +
                                     std::to_string(l.posted));
    } else if (h.settled_amount != 0 || l.posted != 0) {
      violation("L6", subject, "posted " + std::to_string(l.posted) + " without being settled");
    }
    // L13: the revenue leg of a settle.
    const int want_revenue = h.state == HoldState::settled ? 1 : 0;
    if (l.revenue_legs != want_revenue || (want_revenue == 1 && l.revenue != h.settled_amount))
      violation("L13", subject, std::to_string(l.revenue_legs) + " revenue legs of " + std::to_string(l.revenue) +
                                    " for a settled amount of " + std::to_string(h.settled_amount));
  }

  AuditReport& report_;
  std::vector<EntryRow> entries_;
};

}  // namespace

std::vector<std::string> AuditReport::invariants() const {
  std::vector<std::string> out;
  for (const auto& v : violations)
    if (std::find(out.begin(), out.end(), v.invariant) == out.end()) out.push_back(v.invariant);
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return out;
}

std::string AuditReport::to_string() const {
  std::ostringstream out;
  out << (clean() ? "clean" : "VIOLATIONS") << ": " << accounts << " accounts, " << entries << " entries, "
      << holds << " holds (" << pending_holds << " pending)";
  for (const auto& v : violations) out << "\n  " << v.to_string();
  return out.str();
}

Result<AuditReport> Ledger::audit() {
  AuditReport report;
  Status s = store_.read([&](UnitOfWork& uow) -> Status {
    report = AuditReport{};  // a retried read starts over
    return Auditor(report).run(uow.ledger());
  });
  if (!s.ok()) return s;
  return report;
}

}  // namespace babysea
