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

#include <cstddef>
#include <memory>
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

}  // namespace babysea
