// The contract file of this test binary, loaded once.
#pragma once

#include <cstdlib>
#include <string>

#include "contract_checker.hpp"

namespace babysea::contract {

inline const Contract& api_contract() {
  static const Contract c = [] {
#ifdef BABYSEA_CONTRACT_FILE
    std::string path = BABYSEA_CONTRACT_FILE;
#else
    std::string path;
#endif
    if (const char* src = std::getenv("BABYSEA_SOURCE_DIR"); path.empty() && src && *src)
      path = std::string(src) + "/tests/contract/api_contract.json";
    return Contract::load(path);
  }();
  return c;
}

}  // namespace babysea::contract
