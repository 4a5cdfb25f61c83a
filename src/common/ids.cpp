#include "babysea/ids.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace babysea {
namespace {

void ensure_sodium() {
  static const bool ok = [] { return sodium_init() >= 0; }();
  if (!ok) std::abort();  // libsodium cannot give us randomness: nothing is safe
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

void random_bytes(void* out, std::size_t size) {
  ensure_sodium();
  // libsodium's generator costs a getrandom() system call per request; ids
  // need a few bytes each, so each thread fills 4 KiB at a time and hands
  // them out, each byte used once. A fill is the ChaCha20 stream of a fresh
  // 32-byte key from the OS (randombytes_buf_deterministic): a 4 KiB
  // getrandom() costs ~30 us on some virtual machines, a 32-byte one ~1 us.
  struct Pool {
    unsigned char bytes[4096];
    std::size_t used = sizeof bytes;
    ~Pool() { sodium_memzero(bytes, sizeof bytes); }
  };
  thread_local Pool pool;
  auto* dst = static_cast<unsigned char*>(out);
  if (size > sizeof pool.bytes / 4) {
    randombytes_buf(dst, size);
    return;
  }
  if (sizeof pool.bytes - pool.used < size) {
    unsigned char seed[randombytes_SEEDBYTES];
    randombytes_buf(seed, sizeof seed);
    randombytes_buf_deterministic(pool.bytes, sizeof pool.bytes, seed);
    sodium_memzero(seed, sizeof seed);
    pool.used = 0;
  }
  std::memcpy(dst, pool.bytes + pool.used, size);
  sodium_memzero(pool.bytes + pool.used, size);
  pool.used += size;
}

std::string IdGenerator::next(std::int64_t unix_ms) {
  unsigned char b[16];
  random_bytes(b, sizeof b);
  std::uint64_t ms;
  std::uint32_t counter;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (unix_ms > last_ms_) {
      last_ms_ = unix_ms;
      counter_ = (static_cast<std::uint32_t>(b[6]) << 4 | (b[7] >> 4)) & 0x7FF;  // leave headroom
    } else {
      // Same (or earlier) millisecond: keep order by bumping the counter, and
      // borrow the next millisecond when it runs out.
      if (++counter_ > 0xFFF) {
        ++last_ms_;
        counter_ = 0;
      }
    }
    ms = static_cast<std::uint64_t>(last_ms_);
    counter = counter_;
  }
  b[0] = static_cast<unsigned char>(ms >> 40);
  b[1] = static_cast<unsigned char>(ms >> 32);
  b[2] = static_cast<unsigned char>(ms >> 24);
  b[3] = static_cast<unsigned char>(ms >> 16);
  b[4] = static_cast<unsigned char>(ms >> 8);
  b[5] = static_cast<unsigned char>(ms);
  b[6] = static_cast<unsigned char>(0x70 | ((counter >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(counter & 0xFF);
  b[8] = static_cast<unsigned char>(0x80 | (b[8] & 0x3F));
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xF];
  }
  return out;
}

std::string new_id(std::int64_t unix_ms) {
  static IdGenerator generator;
  return generator.next(unix_ms);
}

bool is_uuid_v7(std::string_view t) noexcept {
  if (t.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    char c = t[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  if (t[14] != '7') return false;
  char v = t[19];
  return v == '8' || v == '9' || v == 'a' || v == 'b';
}

std::int64_t uuid_v7_time_ms(std::string_view t) noexcept {
  std::int64_t ms = 0;
  for (std::size_t i = 0; i < 13; ++i) {
    if (i == 8) continue;
    char c = t[i];
    ms = ms * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return ms;
}

namespace {

bool valid_token(std::string_view s, std::size_t max) noexcept {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == ':' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool valid_idempotency_key(std::string_view key) noexcept { return valid_token(key, 255); }
bool valid_instance_id(std::string_view id) noexcept { return valid_token(id, 64); }

}  // namespace babysea
