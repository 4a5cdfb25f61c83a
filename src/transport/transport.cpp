// Transport helpers: header lookup, the blocking form, guarded fetches.
#include <boost/url.hpp>
#include <future>

#include "babysea/transport.hpp"
#include "service/text.hpp"

namespace babysea {
namespace {

using text::iequals;

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

Result<HttpResponse> Transport::send(HttpRequest request, ConnectTarget target) {
  std::promise<Result<HttpResponse>> p;
  auto f = p.get_future();
  async_send(std::move(request), target, [&p](Result<HttpResponse> r) { p.set_value(std::move(r)); });
  return f.get();
}

Result<HttpResponse> fetch_guarded(const NetGuard& guard, Transport& transport, HttpRequest request,
                                   int max_redirects) {
  const int cap = std::max(0, std::min(max_redirects, guard.options().max_redirects));
  for (int hop = 0;; ++hop) {
    BABYSEA_ASSIGN_OR_RETURN(GuardedUrl g, guard.check(request.url));
    request.url = g.url;  // the checked form: what we dial is what we classified
    BABYSEA_ASSIGN_OR_RETURN(HttpResponse r, transport.send(request, ConnectTarget{g.address, g.port}));
    if (cap == 0 || !is_redirect(r.status)) return r;
    if (hop >= cap)
      return Status(Code::invalid_request, "too many redirects",
                    {FieldIssue{"url", "too_many_redirects", "more than " + std::to_string(cap) + " redirects"}});
    auto loc = r.header("Location");
    if (!loc || loc->empty()) return r;  // a redirect without a target is just a response
    auto base = boost::urls::parse_uri(request.url);
    auto ref = boost::urls::parse_uri_reference(*loc);
    if (!base || !ref)
      return Status(Code::url_forbidden, "redirect Location is not a valid URL",
                    {FieldIssue{"url", "unparsable", "redirect Location is not a valid URL"}});
    boost::urls::url next;
    auto rr = boost::urls::resolve(*base, *ref, next);
    if (!rr)
      return Status(Code::url_forbidden, "redirect Location cannot be resolved",
                    {FieldIssue{"url", "unparsable", "redirect Location cannot be resolved"}});
    next.remove_fragment();
    request.url = std::string(next.buffer());
    if (r.status == 303 || ((r.status == 301 || r.status == 302) && request.method == "POST")) {
      request.method = "GET";
      request.body.clear();
    }
  }
}

}  // namespace babysea
