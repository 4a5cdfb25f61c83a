// Media-type and id helpers of the asset stores (see media.hpp).
#include "assets/media.hpp"

#include <array>

namespace babysea::assets {

bool safe_component(std::string_view id) noexcept {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status check_generation_id(std::string_view id) {
  if (safe_component(id)) return Status();
  return Status(Code::invalid_request, "generation id is not a safe path component",
                {FieldIssue{"generation_id", "unsafe_path", "1-128 characters of A-Z, a-z, 0-9, '_' and '-'"}});
}

std::string media_type(std::string_view v) {
  if (auto semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  std::string out(v);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool type_allowed(const std::vector<std::string>& allowed, std::string_view type) {
  if (type.empty()) return false;
  for (const auto& a : allowed)
    if (media_type(a) == type) return true;
  return false;
}

namespace {

bool starts(std::string_view bytes, std::string_view magic) noexcept {
  return bytes.size() >= magic.size() && bytes.substr(0, magic.size()) == magic;
}

bool iso_bmff(std::string_view type) noexcept { return type == "video/mp4" || type == "video/quicktime"; }

}  // namespace

std::string_view sniff(std::string_view b) noexcept {
  using namespace std::string_view_literals;
  if (starts(b, "\x89PNG\r\n\x1a\n"sv)) return "image/png";
  if (starts(b, "\xff\xd8\xff"sv)) return "image/jpeg";
  if (b.size() >= 12 && starts(b, "RIFF"sv) && b.substr(8, 4) == "WEBP"sv) return "image/webp";
  if (starts(b, "GIF87a"sv) || starts(b, "GIF89a"sv)) return "image/gif";
  if (b.size() >= 12 && b.substr(4, 4) == "ftyp"sv) return b.substr(8, 4) == "qt  "sv ? "video/quicktime" : "video/mp4";
  if (starts(b, "\x1a\x45\xdf\xa3"sv)) return "video/webm";
  return "";
}

bool matches_signature(std::string_view type, std::string_view bytes) noexcept {
  static constexpr std::array<std::string_view, 7> kKnown{"image/png", "image/jpeg", "image/webp", "image/gif",
                                                          "video/mp4", "video/quicktime", "video/webm"};
  bool known = false;
  for (auto k : kKnown) known = known || k == type;
  if (!known) return true;
  const std::string_view seen = sniff(bytes);
  return seen == type || (iso_bmff(seen) && iso_bmff(type));
}

std::string_view extension_for(std::string_view type) noexcept {
  struct Ext {
    std::string_view type, ext;
  };
  static constexpr std::array<Ext, 12> kExt{{{"image/png", "png"},
                                             {"image/jpeg", "jpg"},
                                             {"image/webp", "webp"},
                                             {"image/gif", "gif"},
                                             {"image/avif", "avif"},
                                             {"video/mp4", "mp4"},
                                             {"video/quicktime", "mov"},
                                             {"video/webm", "webm"},
                                             {"audio/mpeg", "mp3"},
                                             {"audio/wav", "wav"},
                                             {"model/gltf-binary", "glb"},
                                             {"application/json", "json"}}};
  for (const auto& e : kExt)
    if (e.type == type) return e.ext;
  return "bin";
}

namespace {

// A remote-supplied type, fit for an error message: printable ASCII, short.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::string output_field(std::size_t index) { return "outputs[" + std::to_string(index) + "]"; }

Result<std::string> classify(std::size_t index, std::string_view declared, std::string_view bytes, bool may_sniff,
                             const Limits& limits) {
  const std::string field = output_field(index);
  if (bytes.empty())
    return Status(Code::invalid_request, field + " is empty", {FieldIssue{field, "empty", "no bytes to store"}});
  if (bytes.size() > limits.max_bytes)
    return Status(Code::payload_too_large, field + " is above the size cap",
                  {FieldIssue{field, "too_large", "more than " + std::to_string(limits.max_bytes) + " bytes"}});
  std::string type = media_type(declared);
  if (type.empty() && may_sniff) type = std::string(sniff(bytes));
  if (type.empty())
    return Status(Code::unsupported_media_type, field + " has no recognizable content type",
                  {FieldIssue{field, "unknown_type", "no content type given and none recognized"}});
  if (!type_allowed(limits.allowed, type))
    return Status(Code::unsupported_media_type, field + " has a content type that is not allowed",
                  {FieldIssue{field, "type_not_allowed", printable(type)}});
  if (!matches_signature(type, bytes))
    return Status(Code::unsupported_media_type, field + " does not look like its content type",
                  {FieldIssue{field, "type_mismatch", printable(type)}});
  return type;
}

std::string public_url(std::string_view base, std::string_view generation, std::string_view file) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  std::string out(base);
  out += '/';
  out += generation;
  out += '/';
  out += file;
  return out;
}

std::string client_url(const AssetUrlSigner* signer, std::string_view url, std::int64_t now_ms) {
  if (signer == nullptr) return std::string(url);
  auto signed_url = signer->sign(url, now_ms);
  return signed_url.ok() ? std::move(signed_url).value() : std::string(url);
}

std::string_view without_query(std::string_view url) noexcept { return url.substr(0, url.find_first_of("?#")); }

}  // namespace babysea::assets
