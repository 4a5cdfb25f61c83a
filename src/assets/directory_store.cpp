// The directory asset store: guarded fetches under size/time/type caps, files
// written into a hidden staging directory and renamed into place as a whole.
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <mutex>

#include "assets/media.hpp"
#include "babysea/assets.hpp"
#include "babysea/ids.hpp"
#include "babysea/net_guard.hpp"
#include "babysea/transport.hpp"

namespace babysea {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Bounds every exchange sent through it by one overall deadline, so a chain
// of redirects cannot take longer than the fetch timeout in all.
class DeadlineTransport final : public Transport {
 public:
  DeadlineTransport(Transport& inner, Clock::time_point deadline) : inner_(inner), deadline_(deadline) {}
  void async_send(HttpRequest request, ConnectTarget target, HttpCompletion done) override {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
    if (left <= std::chrono::milliseconds(0)) return done(Status(Code::timeout, "fetch: deadline passed"));
    request.total_timeout = std::min(request.total_timeout, left);
    request.headers_timeout = std::min(request.headers_timeout, left);
    request.connect_timeout = std::min(request.connect_timeout, left);
    inner_.async_send(std::move(request), target, std::move(done));
  }

 private:
  Transport& inner_;
  Clock::time_point deadline_;
};

// The same code and issues, with the output named in front of the message.
Status about_output(std::size_t index, const Status& s) {
  Status out(s.code(), assets::output_field(index) + ": " + std::string(s.message()), s.issues());
  out.set_retryable(s.retryable());
  return out;
}

Status storage_failure(const char* what) {
  return Status(Code::storage_error, std::string("asset store: ") + what);  // never a path (I13)
}

std::string random_suffix() {
  unsigned char b[8];
  random_bytes(b, sizeof b);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

bool write_file(const fs::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  return ::close(fd) == 0 && synced;
}

bool sync_dir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

std::size_t count_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec)) ++n;
  return n;
}

class DirectoryAssetStore final : public AssetStore {
 public:
  DirectoryAssetStore(DirectoryAssetOptions o, const NetGuard& guard, Transport& transport)
      : o_(std::move(o)), guard_(guard), transport_(transport) {
    limits_.max_bytes = o_.max_bytes_per_file;
    limits_.allowed = o_.allowed_content_types;
  }

  Result<std::vector<std::string>> store(std::string_view generation_id,
                                         const std::vector<ProviderOutput>& outputs) override {
    BABYSEA_RETURN_IF_ERROR(assets::check_generation_id(generation_id));
    std::error_code ec;
    fs::create_directories(o_.root, ec);
    if (ec) return storage_failure("cannot create the root directory");
    const fs::path staging = o_.root / (".staging-" + std::string(generation_id) + "-" + random_suffix());
    if (!fs::create_directory(staging, ec) || ec) return storage_failure("cannot create a staging directory");

    std::vector<std::string> urls;
    Status s = fill(staging, generation_id, outputs, urls);
    if (s.ok()) s = publish(staging, generation_id);
    if (!s.ok()) {
      fs::remove_all(staging, ec);
      return s;
    }
    return urls;
  }

  Result<std::size_t> remove(std::string_view generation_id) override {
    BABYSEA_RETURN_IF_ERROR(assets::check_generation_id(generation_id));
    const fs::path dir = o_.root / std::string(generation_id);
    const fs::path trash = o_.root / (".trash-" + std::string(generation_id) + "-" + random_suffix());
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (::rename(dir.c_str(), trash.c_str()) != 0) {
        if (errno == ENOENT) return std::size_t{0};
        return storage_failure("cannot remove the generation's files");
      }
    }
    const std::size_t n = count_files(trash);
    std::error_code ec;
    fs::remove_all(trash, ec);
    if (ec) return storage_failure("cannot delete the generation's files");
    return n;
  }

  std::string client_url(std::string_view stored_url, std::int64_t now_ms) const override {
    return assets::client_url(o_.url_signer.get(), stored_url, now_ms);
  }

 private:
  // Fetches or takes every output and writes it into `staging`.
  Status fill(const fs::path& staging, std::string_view generation_id, const std::vector<ProviderOutput>& outputs,
              std::vector<std::string>& urls) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const ProviderOutput& out = outputs[i];
      std::string fetched;
      std::string type;
      if (!out.url.empty()) {
        auto r = fetch(i, out.url);
        if (!r.ok()) return r.status();
        fetched = std::move(r->body);
        if (fetched.empty())
          return Status(Code::unavailable, assets::output_field(i) + ": output URL answered without content",
                        {FieldIssue{assets::output_field(i) + ".url", "empty", "no bytes"}});
        auto t = assets::classify(i, r->header("Content-Type").value_or(""), fetched, false, limits_);
        if (!t.ok()) return t.status();
        type = std::move(t).value();
      } else {
        auto t = assets::classify(i, out.content_type, out.data, true, limits_);
        if (!t.ok()) return t.status();
        type = std::move(t).value();
      }
      const std::string_view bytes = out.url.empty() ? std::string_view(out.data) : std::string_view(fetched);
      const std::string file = std::to_string(i) + "." + std::string(assets::extension_for(type));
      if (!write_file(staging / file, bytes)) return storage_failure("cannot write an output file");
      urls.push_back(assets::public_url(o_.public_base_url, generation_id, file));
    }
    if (!sync_dir(staging)) return storage_failure("cannot sync the staging directory");
    return Status();
  }

  Result<HttpResponse> fetch(std::size_t index, const std::string& url) {
    HttpRequest req;
    req.method = "GET";
    req.url = url;
    std::string accept;
    for (const auto& a : o_.allowed_content_types) accept += (accept.empty() ? "" : ", ") + assets::media_type(a);
    req.headers.push_back({"Accept", accept});
    req.headers.push_back({"Accept-Encoding", "identity"});
    req.connect_timeout = std::min(o_.fetch_timeout, std::chrono::milliseconds(10'000));
    req.headers_timeout = o_.fetch_timeout;
    req.total_timeout = o_.fetch_timeout;
    req.max_response_bytes = o_.max_bytes_per_file;
    DeadlineTransport bounded(transport_, Clock::now() + o_.fetch_timeout);
    auto r = fetch_guarded(guard_, bounded, std::move(req), o_.max_redirects);
    if (!r.ok()) {
      const Status& s = r.status();
      bool redirects = false;
      for (const auto& issue : s.issues()) redirects = redirects || issue.code == "too_many_redirects";
      if (redirects) {
        Status u(Code::unavailable, "output URL failed: too many redirects", s.issues());
        return about_output(index, u.set_retryable(false));
      }
      return about_output(index, s);
    }
    if (r->status < 200 || r->status > 299) {
      const bool expired = r->status == 403 || r->status == 404 || r->status == 410;
      const bool transient = r->status == 429 || r->status >= 500;
      Status s(Code::unavailable,
               assets::output_field(index) + ": output URL expired or failed (HTTP " + std::to_string(r->status) + ")",
               {FieldIssue{assets::output_field(index) + ".url", expired ? "expired" : "http_error",
                           "HTTP " + std::to_string(r->status)}});
      s.set_retryable(transient);
      return s;
    }
    return r;
  }

  // Moves the finished staging directory to root/<generation_id>, replacing
  // (atomically where the kernel can swap) what a previous store left there.
  Status publish(const fs::path& staging, std::string_view generation_id) {
    const fs::path dir = o_.root / std::string(generation_id);
    std::lock_guard<std::mutex> lock(mu_);
    if (::rename(staging.c_str(), dir.c_str()) != 0) {
      if (errno != EEXIST && errno != ENOTEMPTY) return storage_failure("cannot publish the generation's files");
      // A previous store: swap both in one step, then delete the old files
      // (now in `staging`, which the caller removes on success as well).
      if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_EXCHANGE) != 0) {
        if (errno != EINVAL && errno != ENOSYS) return storage_failure("cannot publish the generation's files");
        // No exchange on this file system: move the old files aside first.
        const fs::path old = o_.root / (".trash-" + std::string(generation_id) + "-" + random_suffix());
        if (::rename(dir.c_str(), old.c_str()) != 0) return storage_failure("cannot publish the generation's files");
        if (::rename(staging.c_str(), dir.c_str()) != 0) {
          (void)::rename(old.c_str(), dir.c_str());  // the previous files stay
          return storage_failure("cannot publish the generation's files");
        }
        std::error_code ec;
        fs::remove_all(old, ec);
      } else {
        std::error_code ec;
        fs::remove_all(staging, ec);
      }
    }
    if (!sync_dir(o_.root)) return storage_failure("cannot sync the root directory");
    return Status();
  }

  DirectoryAssetOptions o_;
  const NetGuard& guard_;
  Transport& transport_;
  assets::Limits limits_;
  std::mutex mu_;  // serializes the renames that publish and remove generations
};

}  // namespace

std::unique_ptr<AssetStore> make_directory_asset_store(DirectoryAssetOptions options, const NetGuard& guard,
                                                       Transport& transport) {
  return std::make_unique<DirectoryAssetStore>(std::move(options), guard, transport);
}

}  // namespace babysea
