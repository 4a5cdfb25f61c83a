// The usage log's batched writer (request_log.hpp).
#include "babysea/request_log.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace babysea {
namespace {

bool bidi_control(std::uint32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

void append_escape(std::string& out, const char* format, unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

// The length of the well-formed UTF-8 sequence at s[i] (2-4) and its code
// point, or 0 when the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char lead = byte(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
    cp = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {  // no overlong form (E0), no surrogate (ED)
    n = 3;
    cp = lead & 0x0Fu;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {  // no overlong form (F0), nothing past U+10FFFF (F4)
    n = 4;
    cp = lead & 0x07u;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const unsigned char b = byte(k);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  return n;
}

// At least one row per batch and one millisecond between passes.
RequestLogOptions sane(RequestLogOptions o) {
  o.max_batch = std::max<std::size_t>(o.max_batch, 1);
  o.flush_interval = std::max(o.flush_interval, std::chrono::milliseconds(1));
  return o;
}

}  // namespace

std::string escape_log_field(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (c == '\\') out += "\\\\";
      else if (c < 0x20 || c == 0x7F) append_escape(out, "\\x%02X", c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t n = utf8_sequence(text, i, cp);
    if (n == 0) {
      append_escape(out, "\\x%02X", c);
      ++i;
    } else if (cp <= 0x9F || bidi_control(cp)) {  // C1 controls are U+0080..U+009F
      append_escape(out, "\\u{%04X}", cp);
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

RequestLog::RequestLog(Store& store, const Clock& clock, RequestLogOptions options)
    : store_(store), clock_(clock), options_(sane(std::move(options))) {
  thread_ = std::thread([this] { run(); });
}

RequestLog::~RequestLog() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool RequestLog::record(RequestLogRow row) {
  std::size_t queued = 0;
  {
    std::lock_guard lock(mu_);
    if (closing_ || queue_.size() >= options_.max_queue) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(row));
    queued = queue_.size();
  }
  if (queued == options_.max_batch) wake_.notify_one();
  return true;
}

Status RequestLog::flush() {
  std::unique_lock lock(mu_);
  if (closing_) return Status(Code::unavailable, "the request log is closing");
  const std::uint64_t ticket = ++flush_requested_;
  wake_.notify_one();
  done_.wait(lock, [&] { return flushed_ >= ticket || stopped_; });
  if (flushed_ < ticket) return Status(Code::unavailable, "the request log is closing");
  return pass_status_;
}

void RequestLog::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait_for(lock, options_.flush_interval, [&] {
      return closing_ || flush_requested_ > flushed_ || queue_.size() >= options_.max_batch;
    });
    std::deque<RequestLogRow> rows;
    rows.swap(queue_);
    const std::uint64_t ticket = flush_requested_;
    const bool last = closing_;
    lock.unlock();
    Status s = write(rows);
    Status p = prune_if_due();
    lock.lock();
    pass_status_ = s.ok() ? std::move(p) : std::move(s);
    flushed_ = ticket;
    done_.notify_all();
    if (last && queue_.empty()) break;  // record() refuses once closing: nothing more comes
  }
  stopped_ = true;
  done_.notify_all();
}

Status RequestLog::write(std::deque<RequestLogRow>& rows) {
  Status first;
  std::vector<RequestLogRow> batch;
  while (!rows.empty()) {
    batch.clear();
    while (!rows.empty() && batch.size() < options_.max_batch) {
      RequestLogRow& r = batch.emplace_back(std::move(rows.front()));
      rows.pop_front();
      for (std::string* field : {&r.account, &r.key_id, &r.method, &r.route, &r.error_code})
        *field = escape_log_field(*field);
    }
    Status s = store_.transact([&](UnitOfWork& u) { return u.request_log().append(batch); });
    if (s.ok()) {
      written_.fetch_add(batch.size(), std::memory_order_relaxed);
    } else {
      failed_.fetch_add(batch.size(), std::memory_order_relaxed);
      if (first.ok()) first = std::move(s);
    }
  }
  return first;
}

Status RequestLog::prune_if_due() {
  const std::int64_t now = clock_.now_ms();
  if (now < next_prune_ms_) return {};
  next_prune_ms_ = now + options_.prune_interval.count();
  Result<std::size_t> pruned = std::size_t{0};
  Status s = store_.transact([&](UnitOfWork& u) {
    pruned = u.request_log().prune(now - options_.retention.count());
    return pruned.status();
  });
  if (s.ok()) pruned_.fetch_add(*pruned, std::memory_order_relaxed);
  return s;
}

RequestLogCounters RequestLog::counters() const {
  RequestLogCounters c;
  c.written = written_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed);
  c.failed = failed_.load(std::memory_order_relaxed);
  c.pruned = pruned_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  c.queued = queue_.size();
  return c;
}

std::string RequestLog::metrics_text() const {
  const RequestLogCounters c = counters();
  std::string out;
  out += "# HELP babysea_request_log_written_total Usage-log rows written.\n"
         "# TYPE babysea_request_log_written_total counter\n";
  out += "babysea_request_log_written_total " + std::to_string(c.written) + "\n";
  out += "# HELP babysea_request_log_dropped_total Usage-log rows lost: the queue was full (or closing), or the "
         "store refused their batch.\n# TYPE babysea_request_log_dropped_total counter\n";
  out += "babysea_request_log_dropped_total{reason=\"queue_full\"} " + std::to_string(c.dropped) + "\n";
  out += "babysea_request_log_dropped_total{reason=\"write_failed\"} " + std::to_string(c.failed) + "\n";
  out += "# HELP babysea_request_log_queued Usage-log rows waiting to be written.\n"
         "# TYPE babysea_request_log_queued gauge\n";
  out += "babysea_request_log_queued " + std::to_string(c.queued) + "\n";
  out += "# HELP babysea_request_log_pruned_total Usage-log rows deleted past the retention.\n"
         "# TYPE babysea_request_log_pruned_total counter\n";
  out += "babysea_request_log_pruned_total " + std::to_string(c.pruned) + "\n";
  return out;
}

}  // namespace babysea
