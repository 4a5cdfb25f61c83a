// emulator_base.cpp — jobs, files, scheduler and callback delivery shared by
// the provider emulators.
#include "emulator_base.hpp"

#include <sodium.h>

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>

#include "babysea/net_guard.hpp"
#include "babysea/transport.hpp"

namespace babysea::emu {

namespace {

using std::chrono::milliseconds;

std::optional<std::string> json_string_at(const boost::json::value& v, std::initializer_list<std::string_view> path) {
  const boost::json::value* cur = &v;
  for (auto key : path) {
    const auto* obj = cur->if_object();
    if (obj == nullptr) return std::nullopt;
    auto it = obj->find(key);
    if (it == obj->end()) return std::nullopt;
    cur = &it->value();
  }
  if (const auto* s = cur->if_string()) return std::string(*s);
  return std::nullopt;
}

}  // namespace

// ------------------------------------------------------------------- EmuJob

EmuJob::Phase EmuJob::phase(SteadyTime now) const {
  if (deleted) return Phase::lost;
  if (outcome == JobOutcome::lose && now >= start_at) return Phase::lost;
  if ((canceled || aborted) && now >= canceled_at) return Phase::canceled;
  if (now < start_at) return Phase::queued;
  if (now < finish_at) return Phase::running;
  switch (outcome) {
    case JobOutcome::succeed: return Phase::succeeded;
    case JobOutcome::fail: return Phase::failed;
    case JobOutcome::moderate:
    case JobOutcome::moderate_input: return Phase::moderated;
    case JobOutcome::lose: return Phase::lost;
  }
  return Phase::failed;
}

bool EmuJob::is_final(SteadyTime now) const {
  auto p = phase(now);
  return p != Phase::queued && p != Phase::running;
}

double EmuJob::progress(SteadyTime now) const {
  if (now <= start_at) return 0.0;
  if (now >= finish_at || finish_at <= start_at) return 1.0;
  return std::chrono::duration<double>(now - start_at).count() /
         std::chrono::duration<double>(finish_at - start_at).count();
}

std::string_view phase_name(EmuJob::Phase p) {
  switch (p) {
    case EmuJob::Phase::queued: return "queued";
    case EmuJob::Phase::running: return "running";
    case EmuJob::Phase::succeeded: return "succeeded";
    case EmuJob::Phase::failed: return "failed";
    case EmuJob::Phase::moderated: return "moderated";
    case EmuJob::Phase::canceled: return "canceled";
    case EmuJob::Phase::lost: return "lost";
  }
  return "?";
}

// ------------------------------------------------------------------ helpers

std::optional<UrlTarget> parse_http_url(std::string_view url) {
  UrlTarget t;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    t.https = true;
  } else {
    return std::nullopt;
  }
  auto end = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, end);
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return std::nullopt;
      port = authority.substr(close + 2);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return std::nullopt;
  t.host = host == "localhost" ? "127.0.0.1" : std::string(host);
  if (port.empty()) {
    t.port = t.https ? 443 : 80;
  } else {
    unsigned v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
      if (v > 65535) return std::nullopt;
    }
    t.port = static_cast<std::uint16_t>(v);
  }
  return t;
}

std::string EmulatorBase::random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  hex.resize(bytes * 2);
  return hex;
}

std::int64_t EmulatorBase::unix_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string EmulatorBase::iso8601(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms % 1000));
  return out;
}

const std::string& EmulatorBase::png_bytes() {
  static const std::string bytes = [] {
    // A 1x1 transparent PNG.
    static constexpr char kB64[] =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
    std::string out(sizeof kB64, '\0');
    std::size_t len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), kB64, sizeof kB64 - 1, nullptr,
                          &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
      return std::string("PNG");
    }
    out.resize(len);
    return out;
  }();
  return bytes;
}

// ------------------------------------------------------------- EmulatorBase

EmulatorBase::EmulatorBase(std::string provider, EmulatorOptions options)
    : provider_(std::move(provider)),
      options_(std::move(options)),
      server_(EmulatorServerOptions{options_.address, options_.port, options_.threads, 16u << 20}) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium init failed");
  BeastTransportOptions topts;
  topts.threads = 1;
  topts.pool = false;  // one connection per delivery: counts stay exact
  transport_ = make_beast_transport(topts);
  sched_thread_ = std::thread([this] { scheduler_loop(); });
}

EmulatorBase::~EmulatorBase() { stop(); }

void EmulatorBase::start() {
  if (!routes_installed_) {
    routes_installed_ = true;
    server_.route("GET", "/files/", guarded(Op::file, [this](const EmuRequest& r) {
                    std::string name = url_decode(std::string_view(r.path).substr(7), false);
                    auto now = std::chrono::steady_clock::now();
                    std::lock_guard<std::mutex> lock(files_mu_);
                    auto it = files_.find(name);
                    if (it == files_.end() || now < it->second.from) return error_response(404, "file not found");
                    if (it->second.until && now >= *it->second.until) {
                      return error_response(expired_status_, "file expired");
                    }
                    return EmuResponse::text(200, it->second.bytes, it->second.content_type);
                  }));
    install_routes();
  }
  server_.start();
}

void EmulatorBase::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_.stop();
  {
    std::lock_guard<std::mutex> lock(sched_mu_);
    sched_stop_ = true;
  }
  sched_cv_.notify_all();
  if (sched_thread_.joinable()) sched_thread_.join();
  transport_.reset();
}

std::optional<EmuJob> EmulatorBase::job(const std::string& id) const {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  return *it->second;
}

std::vector<std::string> EmulatorBase::job_ids() const {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  std::vector<std::string> ids;
  for (const auto& [id, j] : jobs_) ids.push_back(id);
  return ids;
}

std::vector<CallbackRecord> EmulatorBase::callbacks() const {
  std::lock_guard<std::mutex> lock(cb_mu_);
  return records_;
}

bool EmulatorBase::wait_callbacks(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(cb_mu_);
  return cb_cv_.wait_for(lock, timeout, [&] { return records_.size() >= n; });
}

void EmulatorBase::set_tag_extractor(TagExtractor fn) {
  std::lock_guard<std::mutex> lock(tag_mu_);
  tag_extractor_ = std::move(fn);
}

std::string EmulatorBase::extract_tag(const EmuRequest& r, std::string_view callback_url) const {
  {
    std::lock_guard<std::mutex> lock(tag_mu_);
    if (tag_extractor_) return tag_extractor_(r, callback_url);
  }
  if (auto h = r.header("x-babysea-attempt-id")) return *h;
  for (auto name : {"attempt_id", "attempt"}) {
    if (auto q = r.query_param(name)) return *q;
  }
  if (auto q = callback_url.find('?'); q != std::string_view::npos) {
    EmuRequest cb;
    cb.query = std::string(callback_url.substr(q + 1));
    for (auto name : {"attempt_id", "attempt"}) {
      if (auto v = cb.query_param(name)) return *v;
    }
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  if (!ec) {
    if (auto s = json_string_at(v, {"attempt_id"})) return *s;
    if (auto s = json_string_at(v, {"metadata", "attempt_id"})) return *s;
    if (auto s = json_string_at(v, {"input", "attempt_id"})) return *s;
  }
  return {};
}

std::string EmulatorBase::publish_file(const std::string& name, std::string bytes, std::string content_type,
                                       SteadyTime from, std::optional<SteadyTime> until) {
  std::lock_guard<std::mutex> lock(files_mu_);
  files_[name] = FileEntry{std::move(bytes), std::move(content_type), from, until};
  return base_url() + "/files/" + url_encode(name);
}

void EmulatorBase::set_expired_status(int status) {
  std::lock_guard<std::mutex> lock(files_mu_);
  expired_status_ = status;
}

EmuHandler EmulatorBase::guarded(Op op, GuardedHandler handler) {
  return [this, op, handler = std::move(handler)](const EmuRequest& r) {
    faults_.count(op);
    auto fault = faults_.take(op);
    EmuResponse res;
    if (fault && !(op == Op::submit && fault->after_accept)) {
      res = fault_response(*fault);
    } else {
      res = handler(r);
      if (fault) res = fault_response(*fault);
    }
    res.delay += faults_.latency();
    return res;
  };
}

EmuResponse EmulatorBase::fault_response(const RequestFault& fault) {
  switch (fault.kind) {
    case RequestFault::Kind::rate_limit: {
      auto r = error_response(429, "Request was throttled (emulated rate limit).");
      r.with_header("Retry-After", std::to_string(fault.retry_after_s));
      return r;
    }
    case RequestFault::Kind::http_error: {
      auto r = error_response(fault.status, "Emulated provider error.");
      if (fault.retry_after_s > 0) r.with_header("Retry-After", std::to_string(fault.retry_after_s));
      return r;
    }
    case RequestFault::Kind::reset: return EmuResponse::reset();
    case RequestFault::Kind::hang: return EmuResponse::hang();
    case RequestFault::Kind::malformed_json: return EmuResponse::json(200, R"({"id": "emulated-trunc", "status": "succ)");
  }
  return error_response(500, "unknown fault");
}

std::shared_ptr<EmuJob> EmulatorBase::create_job(std::string id, std::string model, const EmuRequest& request,
                                                 std::string callback_url, int n_outputs) {
  auto job = std::make_shared<EmuJob>();
  auto timing = faults_.job_timing();
  auto now = std::chrono::steady_clock::now();
  job->id = std::move(id);
  job->model = std::move(model);
  job->body = request.body;
  job->callback_url = std::move(callback_url);
  job->created = now;
  job->created_unix_ms = unix_ms();
  job->start_at = now + timing.queued;
  job->finish_at = job->start_at + timing.running;
  job->outcome = faults_.take_outcome();
  if (job->outcome == JobOutcome::moderate_input) job->finish_at = job->start_at;
  job->callbacks = faults_.take_callback_plan();
  job->tag = extract_tag(request, job->callback_url);
  if (job->outcome == JobOutcome::succeed) {
    auto ttl = faults_.output_ttl();
    std::optional<SteadyTime> until;
    if (ttl.count() > 0) until = job->finish_at + ttl;
    for (int i = 0; i < n_outputs; ++i) {
      std::string name = job->id + "-" + std::to_string(i) + ".png";
      job->files.push_back(name);
      job->outputs.push_back(publish_file(name, png_bytes(), "image/png", job->finish_at, until));
    }
  }
  faults_.count_submit(job->tag);
  std::lock_guard<std::mutex> lock(jobs_mu_);
  jobs_[job->id] = job;
  return job;
}

std::optional<EmuJob::Phase> EmulatorBase::cancel_job(const std::string& id) {
  std::lock_guard<std::mutex> lock(jobs_mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return std::nullopt;
  auto& j = *it->second;
  auto now = std::chrono::steady_clock::now();
  auto before = j.phase(now);
  if (before == EmuJob::Phase::queued || before == EmuJob::Phase::running) {
    j.canceled = true;
    j.canceled_at = now;
    ++j.version;
  }
  return before;
}

// ---------------------------------------------------------------- scheduler

namespace {
struct Later {
  template <typename T>
  bool operator()(const T& a, const T& b) const {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
};
}  // namespace

void EmulatorBase::schedule(SteadyTime at, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(sched_mu_);
    if (sched_stop_) return;
    timed_.push_back(Timed{at, seq_++, std::move(fn)});
    std::push_heap(timed_.begin(), timed_.end(), Later{});
  }
  sched_cv_.notify_all();
}

void EmulatorBase::scheduler_loop() {
  std::unique_lock<std::mutex> lock(sched_mu_);
  while (!sched_stop_) {
    if (timed_.empty()) {
      sched_cv_.wait(lock);
      continue;
    }
    auto at = timed_.front().at;
    if (std::chrono::steady_clock::now() < at) {
      sched_cv_.wait_until(lock, at);
      continue;
    }
    std::pop_heap(timed_.begin(), timed_.end(), Later{});
    auto fn = std::move(timed_.back().fn);
    timed_.pop_back();
    lock.unlock();
    fn();
    lock.lock();
  }
}

void EmulatorBase::schedule_callback(const std::string& job_id, SteadyTime at, bool terminal,
                                     std::function<std::optional<Outgoing>(const EmuJob&)> build) {
  std::uint64_t version = 0;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    version = it->second->version;
  }
  schedule(at, [this, job_id, version, terminal, build = std::move(build)] {
    std::optional<EmuJob> copy;
    {
      std::lock_guard<std::mutex> lock(jobs_mu_);
      auto it = jobs_.find(job_id);
      if (it == jobs_.end() || it->second->version != version) return;
      copy = *it->second;
    }
    dispatch_callback(job_id, terminal, build(*copy));
  });
}

void EmulatorBase::dispatch_callback(const std::string& job_id, bool terminal, std::optional<Outgoing> out) {
  if (!out) return;
  CallbackPlan plan;
  std::vector<Outgoing> held;
  {
    std::lock_guard<std::mutex> lock(jobs_mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    plan = it->second->callbacks;
    if (plan.out_of_order) {
      if (!terminal) {
        held_[job_id].push_back(std::move(*out));
        return;
      }
      held = std::move(held_[job_id]);
      held_.erase(job_id);
    }
  }
  if (plan.drop) {
    faults_.count_callback_dropped();
    return;
  }
  out->terminal = terminal;
  auto now = std::chrono::steady_clock::now();
  deliver(*out, terminal ? options_.callback_retries : 0);
  int copies = terminal ? plan.duplicates : 0;
  for (int i = 0; i < copies; ++i) {
    Outgoing copy = *out;
    schedule(now + milliseconds(40 * (i + 1)), [this, copy] { deliver(copy, 0); });
  }
  // Out of order: the earlier events arrive after the terminal one.
  int k = copies;
  for (auto& h : held) {
    ++k;
    schedule(now + milliseconds(40 * k), [this, h] { deliver(h, 0); });
  }
}

void EmulatorBase::deliver(Outgoing out, int attempts_left) {
  std::int64_t now_s = unix_ms() / 1000;
  HttpRequest req;
  req.method = "POST";
  req.url = out.url;
  req.body = out.body;
  req.headers.push_back({"Content-Type", "application/json"});
  req.headers.push_back({"User-Agent", "babysea-emulator/" + provider_});
  for (auto& [n, v] : out.headers) req.headers.push_back({n, v});
  for (auto& [n, v] : sign_callback(out, now_s)) req.headers.push_back({n, v});
  req.connect_timeout = options_.callback_timeout;
  req.headers_timeout = options_.callback_timeout;
  req.total_timeout = options_.callback_timeout;

  CallbackRecord rec;
  rec.url = out.url;
  rec.message_id = out.message_id;
  rec.body = out.body;
  rec.terminal = out.terminal;
  for (auto& h : req.headers) rec.headers.emplace_back(h.name, h.value);

  auto finish = [this](CallbackRecord r, Outgoing o, int left) {
    bool ok = r.status >= 200 && r.status < 300;
    if (ok) faults_.count_callback_delivered();
    {
      std::lock_guard<std::mutex> lock(cb_mu_);
      records_.push_back(std::move(r));
    }
    cb_cv_.notify_all();
    if (!ok && o.terminal && left > 0) {
      schedule(std::chrono::steady_clock::now() + options_.callback_retry_delay,
               [this, o, left] { deliver(o, left - 1); });
    }
  };

  faults_.count_callback_sent();
  auto target = parse_http_url(out.url);
  std::optional<IpAddress> addr;
  if (target) addr = IpAddress::parse(target->host);
  if (!target || !addr || !transport_) {
    finish(std::move(rec), std::move(out), 0);
    return;
  }
  transport_->async_send(std::move(req), ConnectTarget{*addr, target->port},
                         [finish, rec = std::move(rec), out = std::move(out), attempts_left](
                             Result<HttpResponse> res) mutable {
                           rec.status = res.ok() ? res.value().status : 0;
                           finish(std::move(rec), std::move(out), attempts_left);
                         });
}

}  // namespace babysea::emu
