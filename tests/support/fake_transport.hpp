// A scripted Transport and Resolver for adapter tests.
//
// FakeTransport records every request (with its connect target) and answers
// from a FIFO script: each scripted step is an HTTP response or a transport
// error (Code::timeout, Code::unavailable, ...). A request that finds the
// script empty gets Code::internal ("no scripted answer"), so a test that
// sends more than it scripted fails visibly. The completion runs inline.
//
// FakeResolver answers from a host -> addresses table (or a scripted
// failure) and counts lookups.
//
// Thread safety: both are safe for concurrent use (one mutex each).
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/net_guard.hpp"
#include "babysea/transport.hpp"

namespace babysea::testing {

struct RecordedRequest {
  HttpRequest request;
  ConnectTarget target;
  // First header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

class FakeTransport final : public Transport {
 public:
  // Appends one answer to the script.
  FakeTransport& respond(int status, std::string body, std::vector<HttpHeader> headers = {});
  FakeTransport& json(int status, std::string body);  // with Content-Type: application/json
  FakeTransport& fail(Code code, std::string message = "scripted transport failure");

  void async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) override;

  std::vector<RecordedRequest> requests() const;
  std::size_t count() const;
  RecordedRequest last() const;      // REQUIRES: count() > 0
  std::size_t pending() const;       // scripted answers not used yet
  void clear();                      // forget the script and the recording

 private:
  struct Step {
    std::optional<HttpResponse> response;
    Status error;
  };
  mutable std::mutex mu_;
  std::deque<Step> script_;
  std::vector<RecordedRequest> recorded_;
};

class FakeResolver final : public Resolver {
 public:
  void set(std::string host, std::vector<IpAddress> addresses);
  void fail_next(int n);  // the next n lookups fail with Code::unavailable
  Result<std::vector<IpAddress>> resolve(std::string_view host) override;
  int lookups() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<IpAddress>, std::less<>> table_;
  int fail_ = 0;
  int lookups_ = 0;
};

}  // namespace babysea::testing
