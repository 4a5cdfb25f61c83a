// What every backend shares about the request log (storage.hpp): folding
// grouped counts into per-route summaries, and the UnitOfWork default for
// stores that keep no log (and no instance registry).
#include <algorithm>

#include "babysea/storage.hpp"

namespace babysea {

void add_request_counts(std::vector<RouteRequestCounts>& out, std::string_view route, int status_class,
                        std::string_view error_code, std::int64_t count) {
  auto it = std::lower_bound(out.begin(), out.end(), route,
                             [](const RouteRequestCounts& r, std::string_view name) { return r.route < name; });
  if (it == out.end() || it->route != route) {
    it = out.insert(it, RouteRequestCounts{});
    it->route = std::string(route);
  }
  it->total += count;
  if (status_class >= 5) it->server_errors += count;
  else if (status_class == 4) it->client_errors += count;
  else it->success += count;
  if (error_code.empty()) return;
  auto& codes = it->error_codes;
  auto c = std::lower_bound(codes.begin(), codes.end(), error_code,
                            [](const auto& e, std::string_view code) { return e.first < code; });
  if (c == codes.end() || c->first != error_code) c = codes.emplace(c, std::string(error_code), 0);
  c->second += count;
}

namespace {

// The request log of a store that keeps none.
class NoRequestLog final : public RequestLogTable {
 public:
  Status append(const std::vector<RequestLogRow>&) override {
    return Status(Code::unsupported, "this store keeps no request log");
  }
  Result<std::size_t> prune(std::int64_t) override { return std::size_t{0}; }
  Status summarize(std::string_view, std::int64_t, std::vector<RouteRequestCounts>& out) override {
    out.clear();
    return {};
  }
  Status list_for_account(std::string_view, std::int64_t, std::size_t, std::vector<RequestLogRow>& out) override {
    out.clear();
    return {};
  }
};

// The instance registry of a store that keeps none.
class NoInstances final : public InstanceTable {
 public:
  Status upsert(const InstanceRow&) override { return unsupported(); }
  Status heartbeat(std::string_view, std::int64_t) override { return unsupported(); }
  Status list(std::vector<InstanceRow>& out) override {
    out.clear();
    return unsupported();
  }
  Result<bool> remove_if_stale(std::string_view, std::int64_t) override { return unsupported(); }
  Status remove(std::string_view) override { return unsupported(); }

 private:
  static Status unsupported() { return Status(Code::unsupported, "this store keeps no instance registry"); }
};

}  // namespace

RequestLogTable& UnitOfWork::request_log() {
  static NoRequestLog none;  // stateless: safe to share between threads
  return none;
}

InstanceTable& UnitOfWork::instances() {
  static NoInstances none;  // stateless: safe to share between threads
  return none;
}

}  // namespace babysea
