// Ledger::audit(): checks the invariants of specs/ledger.md over a snapshot.
#include <map>
#include <sstream>

#include "babysea/ledger.hpp"

namespace babysea {
namespace {
__extension__ using i128 = __int128;
}  // namespace

std::string AuditReport::to_string() const {
  std::ostringstream out;
  out << (clean() ? "clean" : "VIOLATIONS") << ": " << accounts << " accounts, " << entries << " entries, "
      << holds << " holds (" << pending_holds << " pending)";
  for (const auto& v : violations) out << "\n  " << v;
  return out.str();
}

Result<AuditReport> Ledger::audit() {
  AuditReport report;
  auto violation = [&](std::string text) {
    if (report.violations.size() < 1000) report.violations.push_back(std::move(text));
  };
  Status s = store_.read([&](UnitOfWork& uow) -> Status {
    LedgerTables& t = uow.ledger();
    std::map<std::string, AccountRow> accounts;
    BABYSEA_RETURN_IF_ERROR(t.for_each_account([&](const AccountRow& a) { accounts.emplace(a.id, a); }));
    report.accounts = accounts.size();

    // L1: double entry.
    i128 net = 0, pending_d = 0, pending_c = 0;
    for (const auto& [id, a] : accounts) {
      net += static_cast<i128>(a.posted_credits) - a.posted_debits;
      pending_d += a.pending_debits;
      pending_c += a.pending_credits;
      if (a.posted_debits < 0 || a.posted_credits < 0 || a.pending_debits < 0 || a.pending_credits < 0)
        violation("L7 account " + id + " has a negative counter");
      // L2: no customer below zero.
      if (a.kind == AccountKind::customer && a.posted_credits - a.posted_debits - a.pending_debits < 0)
        violation("L2 account " + id + " available balance is " +
                  std::to_string(a.posted_credits - a.posted_debits - a.pending_debits));
    }
    if (net != 0) violation("L1 posted balances sum to " + std::to_string(static_cast<long long>(net)) + ", not 0");
    if (pending_d != pending_c)
      violation("L1 pending debits " + std::to_string(static_cast<long long>(pending_d)) +
                " != pending credits " + std::to_string(static_cast<long long>(pending_c)));

    // L7: counters equal the journal.
    std::vector<JournalTotals> totals;
    BABYSEA_RETURN_IF_ERROR(t.journal_totals(totals));
    std::map<std::string, JournalTotals> by_account;
    for (auto& jt : totals) by_account.emplace(jt.account, jt);
    for (const auto& [id, a] : accounts) {
      JournalTotals jt;
      if (auto it = by_account.find(id); it != by_account.end()) jt = it->second;
      if (jt.posted_debits != a.posted_debits || jt.posted_credits != a.posted_credits ||
          jt.pending_debits != a.pending_debits || jt.pending_credits != a.pending_credits)
        violation("L7 account " + id + " counters (" + std::to_string(a.posted_debits) + "," +
                  std::to_string(a.posted_credits) + "," + std::to_string(a.pending_debits) + "," +
                  std::to_string(a.pending_credits) + ") != journal (" + std::to_string(jt.posted_debits) +
                  "," + std::to_string(jt.posted_credits) + "," + std::to_string(jt.pending_debits) + "," +
                  std::to_string(jt.pending_credits) + ")");
      by_account.erase(id);
    }
    for (const auto& [id, jt] : by_account) violation("L7 journal names unknown account " + id);

    // L4 / L6: each hold resolves at most once, within its amount.
    struct HoldEntries {
      int holds = 0;
      int resolutions = 0;
      Micros posted = 0;
      Micros pending = 0;
    };
    std::map<std::string, HoldEntries> per_hold;
    BABYSEA_RETURN_IF_ERROR(t.for_each_entry([&](const EntryRow& e) {
      ++report.entries;
      if (e.amount < 0) violation("L9 entry " + std::to_string(e.seq) + " has a negative amount");
      if (e.hold_id.empty()) return;
      HoldEntries& he = per_hold[e.hold_id];
      if (e.kind == EntryKind::hold) ++he.holds;
      if (e.pending_delta < 0) ++he.resolutions;
      if (e.kind == EntryKind::settle && e.pending_delta < 0) he.posted += e.amount;
      he.pending += e.pending_delta;
    }));
    BABYSEA_RETURN_IF_ERROR(t.for_each_hold([&](const HoldRow& h) {
      ++report.holds;
      if (h.state == HoldState::pending) ++report.pending_holds;
      HoldEntries he;
      if (auto it = per_hold.find(h.id); it != per_hold.end()) {
        he = it->second;
        per_hold.erase(it);
      }
      if (he.holds != 1) violation("L4 hold " + h.id + " has " + std::to_string(he.holds) + " hold entries");
      const int expected = h.state == HoldState::pending ? 0 : 1;
      if (he.resolutions != expected)
        violation("L4 hold " + h.id + " (state " + std::to_string(static_cast<int>(h.state)) + ") has " +
                  std::to_string(he.resolutions) + " resolutions");
      if (h.settled_amount > h.amount) violation("L6 hold " + h.id + " settled above its amount");
      if (h.state == HoldState::settled && (h.settled_amount <= 0 || he.posted != h.settled_amount))
        violation("L6 hold " + h.id + " settled " + std::to_string(h.settled_amount) + " but posted " +
                  std::to_string(he.posted));
      if (h.state != HoldState::settled && he.posted != 0)
        violation("L6 hold " + h.id + " posted without being settled");
      const Micros expect_pending = h.state == HoldState::pending ? h.amount : 0;
      if (he.pending != expect_pending)
        violation("L4 hold " + h.id + " leaves " + std::to_string(he.pending) + " pending, expected " +
                  std::to_string(expect_pending));
    }));
    for (const auto& [id, he] : per_hold) violation("L5 entries reference unknown hold " + id);
    return {};
  });
  if (!s.ok()) return s;
  return report;
}

}  // namespace babysea
