// babysea/assets.hpp — where generated outputs live once a generation succeeds.
//
// A generation is `succeeded` only after its outputs are copied into the asset
// store: `store()` takes the provider outputs (URLs to fetch or inline bytes),
// copies every one and returns the public URLs under the deployment's
// configured base URL. `remove()` deletes a generation's files and says how
// many it removed. Both are idempotent: storing the same generation again
// replaces its files; removing twice removes 0 the second time.
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
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "babysea/provider.hpp"
#include "babysea/status.hpp"

namespace babysea {

class AssetStore {
 public:
  virtual ~AssetStore() = default;
  // Copies `outputs` of `generation_id` and returns their public URLs, in order.
  virtual Result<std::vector<std::string>> store(std::string_view generation_id,
                                                 const std::vector<ProviderOutput>& outputs) = 0;
  // Deletes every file of `generation_id`; returns how many were removed.
  virtual Result<std::size_t> remove(std::string_view generation_id) = 0;
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
// DirectoryAssetOptions defaults) and the same URLs as the directory store.
// URL outputs go through `fetcher` (none given: URL outputs are refused with
// unsupported); their type is the output's content_type or sniffed.
class MemoryAssetStore : public AssetStore {
 public:
  // The file behind a public URL this store returned, if it still has it.
  virtual std::optional<StoredAsset> get(std::string_view public_url) const = 0;
  // Files currently kept, over all generations.
  virtual std::size_t file_count() const = 0;
};

std::unique_ptr<MemoryAssetStore> make_memory_asset_store(std::string public_base_url, AssetFetcher fetcher = {});

}  // namespace babysea
