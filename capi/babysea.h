/* babysea.h — the C ABI of babysea.
 *
 * This header is the only stable binary surface of libbabysea.so. It is valid
 * C11 and C++. Conventions: every function is prefixed babysea_; handles are
 * opaque; library-owned strings are released with babysea_free; error codes
 * are the pinned numbers of babysea::Code (0 = ok) and never renumbered.
 *
 * Thread safety: the functions declared here are safe to call from any thread.
 */
#ifndef BABYSEA_H_
#define BABYSEA_H_

#include "babysea/version.hpp"

#if defined(BABYSEA_BUILDING_LIBRARY)
#define BABYSEA_CAPI __attribute__((visibility("default")))
#else
#define BABYSEA_CAPI
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Run-time version, e.g. "0.1.0"; compare with BABYSEA_VERSION_STRING to catch
 * a header/library mismatch. The string is static: do not free it. */
BABYSEA_CAPI const char* babysea_version(void);

/* Run-time version number, (major * 10000 + minor * 100 + patch). */
BABYSEA_CAPI int babysea_version_number(void);

/* Stable snake_case name of an error code ("insufficient_credits"), or
 * "unknown" for a number babysea does not define. Static: do not free. */
BABYSEA_CAPI const char* babysea_error_name(int code);

/* Releases memory that babysea returned to the caller. NULL is a no-op. */
BABYSEA_CAPI void babysea_free(void* ptr);

#ifdef __cplusplus
}
#endif

#endif /* BABYSEA_H_ */
