/* The C ABI from C, against the installed shared library. */
#include <babysea.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  if (strcmp(babysea_version(), BABYSEA_VERSION_STRING) != 0) return 1;
  if (babysea_version_number() != BABYSEA_VERSION_NUMBER) return 1;
  if (strcmp(babysea_error_name(3), "insufficient_credits") != 0) return 1;
  babysea_free(NULL);
  printf("c consumer ok: %s\n", babysea_version());
  return 0;
}
