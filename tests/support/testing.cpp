#include "support/testing.hpp"

#include <cstdlib>
#include <stdexcept>

#include "babysea/ids.hpp"

namespace babysea::testing {

TempDir::TempDir() {
  unsigned char r[8];
  random_bytes(r, sizeof r);
  std::string name = "babysea-test-";
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char c : r) {
    name += kHex[c >> 4];
    name += kHex[c & 0xF];
  }
  path_ = std::filesystem::temp_directory_path() / name;
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  if (std::getenv("BABYSEA_KEEP_TEMP")) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

static std::filesystem::path env_path(const char* var) {
  const char* v = std::getenv(var);
  if (!v) throw std::runtime_error(std::string(var) + " is not set (run the tests through ctest)");
  return v;
}

std::filesystem::path source_dir() { return env_path("BABYSEA_SOURCE_DIR"); }
std::filesystem::path binary_dir() { return env_path("BABYSEA_BINARY_DIR"); }

}  // namespace babysea::testing
