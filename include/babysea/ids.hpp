// babysea/ids.hpp — time-ordered random identifiers.
//
// Ids are UUIDv7 (RFC 9562): 48 bits of unix milliseconds, version and variant
// bits, and randomness from libsodium. Within one generator, ids are strictly
// increasing even when several are made in the same millisecond (a 12-bit
// counter seeded at random, per RFC 9562 §6.2 method 1), so they sort in
// creation order as text. Format: 36 lowercase characters, 8-4-4-4-12.
//
// Thread safety: IdGenerator is safe for concurrent use.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

namespace babysea {

class IdGenerator {
 public:
  IdGenerator() = default;
  // A new id for the given unix millisecond time.
  std::string next(std::int64_t unix_ms);

 private:
  std::mutex mu_;
  std::int64_t last_ms_ = -1;
  std::uint32_t counter_ = 0;  // 12 bits used
};

// A fresh UUIDv7 from a process-wide generator.
std::string new_id(std::int64_t unix_ms);

// Whether text is a well-formed lowercase UUIDv7.
bool is_uuid_v7(std::string_view text) noexcept;

// Unix milliseconds encoded in a UUIDv7 (precondition: is_uuid_v7(text)).
std::int64_t uuid_v7_time_ms(std::string_view text) noexcept;

// Random bytes from libsodium (initialises it on first use).
void random_bytes(void* out, std::size_t size);

// Caller-chosen identifiers: 1-255 characters of [A-Za-z0-9_.:-] for an
// Idempotency-Key, 1-64 for an engine instance id (ClusterOptions).
bool valid_idempotency_key(std::string_view key) noexcept;
bool valid_instance_id(std::string_view id) noexcept;

}  // namespace babysea
