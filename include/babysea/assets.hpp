// babysea/assets.hpp — where generated outputs live once a generation succeeds.
//
// A generation is `succeeded` only after its outputs are copied into the asset
// store: `store()` takes the provider outputs (URLs to fetch or inline bytes),
// copies every one and returns the public URLs under the deployment's
// configured base URL. `remove()` deletes a generation's files and says how
// many it removed. Both are idempotent: storing the same generation again
// replaces its files; removing twice removes 0 the second time.
//
// Assets are not public by default: a Runtime deployment hands out expiring
// signed URLs (`AssetUrlSigner` below) unless its config opts in with
// assets.public (runtime.hpp); a store built here without a signer hands out
// the plain URLs. Stored generations keep the plain URL that store()
// returned; `client_url()` turns it into the URL a client receives at a given
// time, and the engine renders every output a client sees through it
// (generation views on every get/list: fresh links each time; webhook
// payloads: signed when the event is rendered, so a receiver whose link has
// expired fetches the generation again for a fresh one).
//
// Errors (Status codes): url_forbidden (the SSRF guard refused an output URL),
// timeout, unavailable (fetch failed or the output URL expired / answered
// 4xx-5xx: the details say which), payload_too_large (over the size cap),
// unsupported_media_type (content type not allowed), storage_error.
//
// Thread safety: implementations are safe for concurrent use.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/provider.hpp"
#include "babysea/status.hpp"

namespace babysea {

// Expiring signed asset URLs: what lets a deployment serve its generated
// files only to whoever received a link, and only for a while.
//
// sign() appends two query parameters to a URL (an existing query is kept;
// earlier `expires` / `signature` parameters are replaced):
//   expires=<unix seconds>           now + lifetime
//   signature=<base64url, no padding> HMAC-SHA256 (libsodium) under the key of
//                                    "babysea-asset-url-v1\n" <path> "\n" <expires>
// where <path> is the URL's path exactly as encoded in it, i.e. exactly what
// the serving side sees in the request target. The query (other parameters)
// and the host are not covered. verify() recomputes the MAC for the path the
// server sees and compares it in constant time (crypto_auth_hmacsha256_verify).
//
// Ownership: keeps a copy of the 32-byte key (wiped on destruction); not
// copyable. Thread safety: immutable after construction, safe for concurrent
// use. Codes: sign() returns invalid_request for a string that is not a URI
// reference; verify() never fails, it classifies.
class AssetUrlSigner {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  static constexpr std::string_view kExpiresParam = "expires";
  static constexpr std::string_view kSignatureParam = "signature";
  static constexpr std::chrono::seconds kDefaultLifetime{3600};
  static constexpr std::chrono::seconds kMaxLifetime{366LL * 86'400};
  // Longest path verify() looks at (longer: invalid, before any MAC work).
  static constexpr std::size_t kMaxPathBytes = 4096;

  enum class Check {
    valid,    // signed by this key for this path, not yet expired
    invalid,  // missing, malformed, tampered, another path or another key
    expired,  // validly signed for this path, but the expiry has passed
  };

  // `lifetime` is clamped to 1 s .. kMaxLifetime.
  explicit AssetUrlSigner(std::span<const unsigned char, kKeyBytes> key,
                          std::chrono::seconds lifetime = kDefaultLifetime);
  ~AssetUrlSigner();
  AssetUrlSigner(const AssetUrlSigner&) = delete;
  AssetUrlSigner& operator=(const AssetUrlSigner&) = delete;

  std::chrono::seconds lifetime() const noexcept { return lifetime_; }

  // `url` (absolute or a relative reference) with `expires` = floor(now_ms /
  // 1000) + lifetime and its signature. invalid_request when `url` does not
  // parse as a URI reference.
  Result<std::string> sign(std::string_view url, std::int64_t now_ms) const;
  // The signature parameter for `path` (as encoded in the URL) and `expires_s`.
  std::string signature(std::string_view path, std::int64_t expires_s) const;

  // Checks the two parameters as presented for the exact `path` requested.
  // `expires` must be 1-12 decimal digits without a leading zero and
  // `signature` 43 base64url characters (32 bytes); anything else, a path over
  // kMaxPathBytes, or a MAC that does not match is invalid. Expired when
  // now_ms >= expires * 1000. The MAC is checked before the expiry, so only
  // a genuine link can be told apart as expired.
  Check verify(std::string_view path, std::string_view expires, std::string_view signature,
               std::int64_t now_ms) const;

 private:
  unsigned char key_[kKeyBytes];
  std::chrono::seconds lifetime_;
};

class AssetStore {
 public:
  virtual ~AssetStore() = default;
  // Copies `outputs` of `generation_id` and returns their public URLs, in order.
  virtual Result<std::vector<std::string>> store(std::string_view generation_id,
                                                 const std::vector<ProviderOutput>& outputs) = 0;
  // Deletes every file of `generation_id`; returns how many were removed.
  virtual Result<std::size_t> remove(std::string_view generation_id) = 0;
  // The URL a client receives at `now_ms` (unix ms) for `stored_url`, one
  // of the URLs store() returned: e.g. a signed, expiring URL. Called on
  // every rendering a client sees (never persisted). Default: unchanged.
  virtual std::string client_url(std::string_view stored_url, std::int64_t now_ms) const {
    (void)now_ms;
    return std::string(stored_url);
  }
};

class NetGuard;   // net_guard.hpp
class Transport;  // transport.hpp

// Options of the directory store. Plain values; defaults documented inline.
struct DirectoryAssetOptions {
  std::filesystem::path root;   // files go to root/<generation_id>/<index>.<ext>
  std::string public_base_url;  // e.g. "https://cdn.example.com/assets" (a trailing '/' is ignored)
  std::size_t max_bytes_per_file = std::size_t{64} << 20;  // 64 MiB
  std::chrono::milliseconds fetch_timeout{60'000};          // whole fetch of one output, redirects included
  // Media types an output may have (compared without parameters, case-insensitively).
  std::vector<std::string> allowed_content_types{"image/png", "image/jpeg", "image/webp", "image/gif",
                                                 "video/mp4", "video/webm", "video/quicktime"};
  int max_redirects = 3;  // per output URL, each hop re-checked by the guard (also capped by the guard)
  // Signs the URLs client_url() hands out (shared, immutable). Null: the
  // plain public URLs, unchanged (files are then public to anyone with the URL).
  std::shared_ptr<const AssetUrlSigner> url_signer;
};

// An AssetStore on a local directory (served by something else under
// public_base_url). store():
//  - refuses a generation id that is not a safe path component (1-128 of
//    [A-Za-z0-9_-]) with invalid_request;
//  - fetches each URL output with fetch_guarded() (SSRF guard, pinned
//    address, every redirect hop re-checked) under the size, time and
//    content-type caps: the type comes from the Content-Type header and must
//    be allowed (and agree with the bytes' signature when that is known); a
//    non-2xx answer is unavailable "output URL expired or failed (HTTP n)";
//  - takes inline data as is, its type from content_type or, when empty,
//    sniffed from magic bytes (png, jpeg, webp, gif, mp4, webm);
//  - names files <index>.<ext> (extension from the type), writes them into a
//    hidden staging directory under root and renames it into place, so
//    readers see all of a generation's files or none: any failure leaves no
//    file of the call behind (a previous store of the generation stays).
// remove() renames the directory away, deletes it and counts its files.
// client_url() signs the stored URL with options.url_signer when there is one
// (a URL that cannot be signed is returned unchanged: it will not verify).
// Errors never carry file-system paths. Borrows `guard` and `transport`,
// which must outlive the store.
std::unique_ptr<AssetStore> make_directory_asset_store(DirectoryAssetOptions options, const NetGuard& guard,
                                                       Transport& transport);

// Fetches the bytes of an output URL for the memory store (tests).
using AssetFetcher = std::function<Result<std::string>(std::string_view url)>;

// One file kept by the memory store.
struct StoredAsset {
  std::string content_type;
  std::string bytes;
};

// An AssetStore in memory, for tests: same id rules, caps and types (the
// DirectoryAssetOptions defaults), the same URLs and the same client_url()
// (signed with `url_signer` when given) as the directory store.
// URL outputs go through `fetcher` (none given: URL outputs are refused with
// unsupported); their type is the output's content_type or sniffed.
class MemoryAssetStore : public AssetStore {
 public:
  // The file behind a public URL this store returned, if it still has it.
  // A query or fragment (e.g. a signature) is ignored, not checked.
  virtual std::optional<StoredAsset> get(std::string_view public_url) const = 0;
  // Files currently kept, over all generations.
  virtual std::size_t file_count() const = 0;
};

std::unique_ptr<MemoryAssetStore> make_memory_asset_store(std::string public_base_url, AssetFetcher fetcher = {},
                                                         std::shared_ptr<const AssetUrlSigner> url_signer = {});

}  // namespace babysea
