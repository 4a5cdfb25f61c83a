// Helpers shared by babysea's tests.
#pragma once

#include <filesystem>
#include <string>

namespace babysea::testing {

// A fresh directory under the system temp dir, removed with its contents on
// destruction (kept when BABYSEA_KEEP_TEMP is set, for post-mortems).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The repository root (from BABYSEA_SOURCE_DIR, set by ctest).
std::filesystem::path source_dir();
// The build root (from BABYSEA_BINARY_DIR, set by ctest).
std::filesystem::path binary_dir();

}  // namespace babysea::testing
