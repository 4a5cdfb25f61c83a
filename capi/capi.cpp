// Implementation of the C ABI: thin wrappers, no exception crosses the boundary.
#include "babysea.h"

#include <cstdlib>

#include "babysea/status.hpp"

extern "C" {

const char* babysea_version(void) { return BABYSEA_VERSION_STRING; }

int babysea_version_number(void) { return BABYSEA_VERSION_NUMBER; }

const char* babysea_error_name(int code) {
  // code_name returns views of string literals, so data() is NUL-terminated.
  return babysea::code_name(static_cast<babysea::Code>(code)).data();
}

void babysea_free(void* ptr) { std::free(ptr); }

}  // extern "C"
