// babysea/request_log.hpp — the usage log's writer: one row per authenticated
// API request (specs/security.md I13), written off the request path.
//
// `RequestLog::record(row)` only enqueues: it never waits on storage. The
// queue is bounded (`max_queue` rows); when it is full, or the log is closing,
// the row is dropped and counted. A background thread takes what is queued
// every `flush_interval` (sooner once `max_batch` rows wait), escapes the text
// fields (escape_log_field), and writes each batch of at most `max_batch`
// rows in one `Store::transact`. A batch the store refuses is counted as
// failed, not retried. Every `prune_interval` (on the injected Clock) it
// deletes rows older than `retention`. The destructor writes everything still
// queued before it returns.
//
// Ownership: borrows the Store and the Clock, which must outlive it; owns its
// thread.
//
// Thread safety: every method is safe to call concurrently.
//
// Codes: flush() returns the first error of the batches and prunes it waited
// for (the store's codes), or unavailable once the log is closing.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "babysea/clock.hpp"
#include "babysea/status.hpp"
#include "babysea/storage.hpp"

namespace babysea {

struct RequestLogOptions {
  std::chrono::milliseconds flush_interval{200};  // longest wait before queued rows are written
  std::size_t max_queue = 65'536;                 // rows waiting to be written; more are dropped
  std::size_t max_batch = 1'024;                  // rows per unit of work
  std::chrono::milliseconds retention{90LL * 86'400'000};        // rows older than this are pruned
  std::chrono::milliseconds prune_interval{3'600'000};           // how often (Clock time) to prune
};

// What the log has done since it was created.
struct RequestLogCounters {
  std::uint64_t written = 0;         // rows committed
  std::uint64_t dropped = 0;         // rows refused by record(): queue full or closing
  std::uint64_t failed = 0;          // rows whose batch the store refused
  std::uint64_t pruned = 0;          // rows deleted past the retention
  std::uint64_t queued = 0;          // rows waiting now
};

// A text field made safe for logs: printable ASCII and valid UTF-8 pass;
// backslash, control characters (C0, DEL, C1, so ANSI escapes too), bidi
// controls (U+061C, U+200E-200F, U+202A-202E, U+2066-2069) and invalid UTF-8
// bytes become `\\`, `\xNN` or `\u{NNNN}`.
std::string escape_log_field(std::string_view text);

class RequestLog {
 public:
  RequestLog(Store& store, const Clock& clock, RequestLogOptions options = {});
  // Writes everything queued, then stops the thread.
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Enqueues one row; never blocks on storage. False (counted as dropped)
  // when the queue is full or the log is closing.
  bool record(RequestLogRow row);
  // Waits until every row recorded before this call is written (or failed)
  // and any prune that is due has run.
  Status flush();

  RequestLogCounters counters() const;
  // The counters as Prometheus text (babysea_request_log_*).
  std::string metrics_text() const;

 private:
  void run();
  Status write(std::deque<RequestLogRow>& rows);
  Status prune_if_due();

  Store& store_;
  const Clock& clock_;
  const RequestLogOptions options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // the writer: a full batch, a flush, or closing
  std::condition_variable done_;  // flush(): a pass finished
  std::deque<RequestLogRow> queue_;
  bool closing_ = false;
  bool stopped_ = false;               // the writer has exited
  std::uint64_t flush_requested_ = 0;  // the latest flush() ticket
  std::uint64_t flushed_ = 0;          // every ticket up to this one is written
  Status pass_status_;                 // first error of the last finished pass

  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> pruned_{0};
  std::int64_t next_prune_ms_ = 0;  // writer thread only
  std::thread thread_;
};

}  // namespace babysea
