// The in-memory asset store for tests: the directory store's id rules, caps,
// types and URLs, with the bytes kept in a map.
#include <map>
#include <mutex>

#include "assets/media.hpp"
#include "babysea/assets.hpp"

namespace babysea {
namespace {

class MemoryStore final : public MemoryAssetStore {
 public:
  MemoryStore(std::string base, AssetFetcher fetcher, std::shared_ptr<const AssetUrlSigner> signer)
      : base_(std::move(base)), fetcher_(std::move(fetcher)), signer_(std::move(signer)) {
    const DirectoryAssetOptions defaults;
    limits_.max_bytes = defaults.max_bytes_per_file;
    limits_.allowed = defaults.allowed_content_types;
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  Result<std::vector<std::string>> store(std::string_view generation_id,
                                         const std::vector<ProviderOutput>& outputs) override {
    BABYSEA_RETURN_IF_ERROR(assets::check_generation_id(generation_id));
    // Everything is prepared before anything is kept: all or nothing.
    std::map<std::string, StoredAsset> files;
    std::vector<std::string> urls;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      const ProviderOutput& out = outputs[i];
      StoredAsset a;
      if (!out.url.empty()) {
        if (!fetcher_) return Status(Code::unsupported, assets::output_field(i) + ": this store cannot fetch URLs");
        auto r = fetcher_(out.url);
        if (!r.ok()) return r.status();
        a.bytes = std::move(r).value();
      } else {
        a.bytes = out.data;
      }
      auto type = assets::classify(i, out.content_type, a.bytes, true, limits_);
      if (!type.ok()) return type.status();
      a.content_type = std::move(type).value();
      std::string file = std::to_string(i) + "." + std::string(assets::extension_for(a.content_type));
      urls.push_back(assets::public_url(base_, generation_id, file));
      files.emplace(std::move(file), std::move(a));
    }
    std::lock_guard<std::mutex> lock(mu_);
    gens_[std::string(generation_id)] = std::move(files);
    return urls;
  }

  Result<std::size_t> remove(std::string_view generation_id) override {
    BABYSEA_RETURN_IF_ERROR(assets::check_generation_id(generation_id));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = gens_.find(std::string(generation_id));
    if (it == gens_.end()) return std::size_t{0};
    const std::size_t n = it->second.size();
    gens_.erase(it);
    return n;
  }

  std::string client_url(std::string_view stored_url, std::int64_t now_ms) const override {
    return assets::client_url(signer_.get(), stored_url, now_ms);
  }

  std::optional<StoredAsset> get(std::string_view url) const override {
    url = assets::without_query(url);
    if (url.size() <= base_.size() + 1 || url.substr(0, base_.size()) != base_ || url[base_.size()] != '/')
      return std::nullopt;
    url.remove_prefix(base_.size() + 1);
    const auto slash = url.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::lock_guard<std::mutex> lock(mu_);
    auto g = gens_.find(std::string(url.substr(0, slash)));
    if (g == gens_.end()) return std::nullopt;
    auto f = g->second.find(std::string(url.substr(slash + 1)));
    if (f == g->second.end()) return std::nullopt;
    return f->second;
  }

  std::size_t file_count() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::size_t n = 0;
    for (const auto& [g, files] : gens_) n += files.size();
    return n;
  }

 private:
  std::string base_;
  AssetFetcher fetcher_;
  std::shared_ptr<const AssetUrlSigner> signer_;
  assets::Limits limits_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, StoredAsset>> gens_;
};

}  // namespace

std::unique_ptr<MemoryAssetStore> make_memory_asset_store(std::string public_base_url, AssetFetcher fetcher,
                                                         std::shared_ptr<const AssetUrlSigner> url_signer) {
  return std::make_unique<MemoryStore>(std::move(public_base_url), std::move(fetcher), std::move(url_signer));
}

}  // namespace babysea
