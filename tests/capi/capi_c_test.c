/* The C ABI from C (C11): a whole lifecycle against the provider emulators,
 * run as a child process (babysea-emulators), through libbabysea.so only.
 *
 *   capi_c_test            (BABYSEA_EMULATORS_BIN names the emulator binary)
 *
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#define _POSIX_C_SOURCE 200809L

#include <babysea.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int g_passed = 0;
static int g_failed = 0;
static pid_t g_emulators = -1;
static char g_tmp[256];
static char g_replicate_url[256];

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (cond) {                                                                   \
      ++g_passed;                                                                 \
    } else {                                                                      \
      ++g_failed;                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
    }                                                                             \
  } while (0)

static void cleanup(void) {
  if (g_emulators > 0) {
    kill(g_emulators, SIGTERM);
    waitpid(g_emulators, NULL, 0);
    g_emulators = -1;
  }
  if (g_tmp[0] != '\0') {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    g_tmp[0] = '\0';
  }
}

/* Evaluates `cond` once; on failure stops the test (after cleaning up). */
#define REQUIRE(cond)                                                             \
  do {                                                                            \
    int require_ok_ = (cond) ? 1 : 0;                                             \
    CHECK(require_ok_ && #cond);                                                  \
    if (!require_ok_) {                                                           \
      fprintf(stderr, "fatal; %d passed, %d failed\n", g_passed, g_failed);       \
      cleanup();                                                                  \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

/* Copies the string value of the first "key":"..." in `doc` into `buf`. */
static int json_str(const char* doc, const char* key, char* buf, size_t n) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char* p = doc ? strstr(doc, pat) : NULL;
  if (p == NULL || n == 0) return 0;
  p += strlen(pat);
  size_t i = 0;
  while (*p != '\0' && *p != '"' && i + 1 < n) buf[i++] = *p++;
  buf[i] = '\0';
  return 1;
}

static int contains(const char* doc, const char* needle) { return doc != NULL && strstr(doc, needle) != NULL; }

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  if (f == NULL) return 0;
  fputs(text, f);
  return fclose(f) == 0;
}

/* Starts babysea-emulators and reads its one JSON line into `line`. */
static int start_emulators(const char* bin, char* line, size_t n) {
  char config_path[300];
  snprintf(config_path, sizeof config_path, "%s/emulators.json", g_tmp);
  if (!write_file(config_path,
                  "{\"replicate\":{\"api_key\":\"r8_ctest\",\"queued_ms\":100,\"running_ms\":1500},"
                  "\"fal\":{\"api_key\":\"fal_ctest\",\"queued_ms\":100,\"running_ms\":1500}}")) {
    return 0;
  }
  int fds[2];
  if (pipe(fds) != 0) return 0;
  pid_t pid = fork();
  if (pid < 0) return 0;
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(bin, bin, "--config", config_path, (char*)NULL);
    _exit(127);
  }
  close(fds[1]);
  g_emulators = pid;
  FILE* f = fdopen(fds[0], "r");
  if (f == NULL) return 0;
  int ok = fgets(line, (int)n, f) != NULL && line[0] == '{';
  /* The child keeps writing nothing more; keep the pipe open until it ends. */
  return ok;
}

/* --- events ------------------------------------------------------------ */

static atomic_int g_completed = 0;
static atomic_int g_canceled = 0;
static atomic_int g_destroyed = 0;

static void on_event(const char* event_json, void* user_data) {
  int* tag = (int*)user_data;
  if (tag == NULL || *tag != 42) return;
  if (contains(event_json, "\"type\":\"generation.completed\"")) atomic_fetch_add(&g_completed, 1);
  if (contains(event_json, "\"type\":\"generation.canceled\"")) atomic_fetch_add(&g_canceled, 1);
}

static void on_destroy(void* user_data) {
  int* tag = (int*)user_data;
  if (tag != NULL && *tag == 42) atomic_fetch_add(&g_destroyed, 1);
}

/* --- checks without an engine ---------------------------------------- */

static void test_static(void) {
  CHECK(strcmp(babysea_version(), BABYSEA_VERSION_STRING) == 0);
  CHECK(babysea_version_number() == BABYSEA_VERSION_NUMBER);
  CHECK(strcmp(babysea_error_name(BABYSEA_OK), "ok") == 0);
  CHECK(strcmp(babysea_error_name(BABYSEA_INVALID_REQUEST), "invalid_request") == 0);
  CHECK(strcmp(babysea_error_name(BABYSEA_INSUFFICIENT_CREDITS), "insufficient_credits") == 0);
  CHECK(strcmp(babysea_error_name(BABYSEA_IDEMPOTENCY_CONFLICT), "idempotency_conflict") == 0);
  CHECK(strcmp(babysea_error_name(BABYSEA_UNSUPPORTED), "unsupported") == 0);
  CHECK(strcmp(babysea_error_name(999), "unknown") == 0);
  CHECK(strcmp(babysea_error_name(-1), "unknown") == 0);
  babysea_free(NULL);
  babysea_engine_destroy(NULL);
}

static void test_null_arguments(void) {
  babysea_engine_t* e = (babysea_engine_t*)1;
  CHECK(babysea_engine_create(NULL, &e) == BABYSEA_INVALID_REQUEST);
  CHECK(e == NULL);
  CHECK(contains(babysea_engine_last_error(NULL), "config_json"));
  CHECK(babysea_engine_last_error_code(NULL) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_engine_create("{}", NULL) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_engine_create("not json", &e) == BABYSEA_INVALID_REQUEST);
  CHECK(e == NULL);
  CHECK(babysea_engine_last_error(NULL)[0] != '\0');
  /* An unknown configuration key: the issue names its path. */
  CHECK(babysea_engine_create("{\"api_key_pepper\":\"0123456789abcdef0123456789abcdef\","
                              "\"database\":{\"engine\":\"memory\"},"
                              "\"assets\":{\"directory\":\"/tmp/babysea-capi-unused\",\"public_base_url\":\"https://a.b/f\"},"
                              "\"bogus_key\":1}",
                              &e) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(babysea_engine_last_error_json(NULL), "\"issues\":[{"));
  CHECK(contains(babysea_engine_last_error_json(NULL), "bogus_key"));

  char* out = (char*)1;
  CHECK(babysea_generation_get(NULL, "k", "g", &out) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(out, "\"type\":\"invalid_request\""));
  babysea_free(out);
  CHECK(babysea_health(NULL, NULL) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_engine_drain(NULL) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_engine_run_due(NULL, NULL) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_events_subscribe(NULL, 4) == BABYSEA_INVALID_REQUEST);
  /* A failed set_event_callback still calls destroy exactly once. */
  static int tag = 42;
  int before = atomic_load(&g_destroyed);
  CHECK(babysea_engine_set_event_callback(NULL, on_event, &tag, on_destroy) == BABYSEA_INVALID_REQUEST);
  CHECK(atomic_load(&g_destroyed) == before + 1);
}

/* PostgreSQL that cannot be reached (nothing listens on port 1), or a url
 * libpq cannot parse: both fail the open with an issue naming database.url,
 * never showing the password. */
static void test_postgres_config_errors(void) {
  static const char* const head =
      "{\"api_key_pepper\":\"0123456789abcdef0123456789abcdef\","
      "\"assets\":{\"directory\":\"/tmp/babysea-capi-unused\",\"public_base_url\":\"https://a.b/f\"},"
      "\"engine\":{\"start_workers\":false},\"webhooks\":{\"enabled\":false},";
  char config[1024];
  babysea_engine_t* e = (babysea_engine_t*)1;

  snprintf(config, sizeof config,
           "%s\"database\":{\"engine\":\"postgres\","
           "\"url\":\"postgresql://babysea:s3cret-pw@127.0.0.1:1/x?connect_timeout=2\",\"pool_size\":2}}",
           head);
  CHECK(babysea_engine_create(config, &e) == BABYSEA_UNAVAILABLE);
  CHECK(e == NULL);
  CHECK(babysea_engine_last_error_code(NULL) == BABYSEA_UNAVAILABLE);
  CHECK(contains(babysea_engine_last_error(NULL), "database.url"));
  CHECK(contains(babysea_engine_last_error_json(NULL), "\"field\":\"database.url\""));
  CHECK(!contains(babysea_engine_last_error_json(NULL), "s3cret-pw"));

  /* babysea_engine_open reports the same through its out document. */
  char* out = NULL;
  e = (babysea_engine_t*)1;
  CHECK(babysea_engine_open(config, &e, &out) == BABYSEA_UNAVAILABLE);
  CHECK(e == NULL);
  CHECK(contains(out, "\"field\":\"database.url\""));
  CHECK(contains(out, "\"type\":\"unavailable\""));
  babysea_free(out);

  snprintf(config, sizeof config,
           "%s\"database\":{\"engine\":\"postgres\",\"url\":\"postgresql://u:s3cret-pw@[::1/x\"}}", head);
  CHECK(babysea_engine_create(config, &e) == BABYSEA_INVALID_REQUEST);
  CHECK(e == NULL);
  CHECK(contains(babysea_engine_last_error_json(NULL), "\"field\":\"database.url\""));
  CHECK(!contains(babysea_engine_last_error_json(NULL), "s3cret-pw"));

  snprintf(config, sizeof config,
           "%s\"database\":{\"engine\":\"postgres\",\"url\":\"host=h\",\"schema\":\"no-dashes\"}}", head);
  CHECK(babysea_engine_create(config, &e) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(babysea_engine_last_error_json(NULL), "\"field\":\"database.schema\""));

  snprintf(config, sizeof config,
           "%s\"database\":{\"engine\":\"postgres\",\"url\":\"host=h\",\"pool_size\":0}}", head);
  CHECK(babysea_engine_create(config, &e) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(babysea_engine_last_error_json(NULL), "\"field\":\"database.pool_size\""));
}

/* --- the lifecycle ----------------------------------------------------- */

static char* wait_for_status(babysea_engine_t* e, const char* key, const char* id, const char* status,
                             double timeout_s) {
  char want[64];
  snprintf(want, sizeof want, "\"generation_status\":\"%s\"", status);
  double deadline = now_s() + timeout_s;
  for (;;) {
    char* out = NULL;
    int rc = babysea_generation_get(e, key, id, &out);
    if (rc == 0 && contains(out, want)) return out;
    if (now_s() > deadline) {
      fprintf(stderr, "timed out waiting for %s; last: %s\n", status, out ? out : "(null)");
      babysea_free(out);
      return NULL;
    }
    babysea_free(out);
    sleep_ms(100);
  }
}

static void test_lifecycle(babysea_engine_t* e) {
  char* out = NULL;
  char key[256] = {0}, key_id[64] = {0}, gen[64] = {0}, gen2[64] = {0};

  /* Accounts, keys, credits. */
  CHECK(babysea_account_create(e, "acct_c", &out) == 0);
  CHECK(contains(out, "\"account\":\"acct_c\""));
  babysea_free(out);
  REQUIRE(babysea_api_key_issue(e, "acct_c", "{\"scopes\":\"full_access\",\"name\":\"c test\"}", &out) == 0);
  REQUIRE(json_str(out, "key", key, sizeof key) && strncmp(key, "bye_", 4) == 0);
  REQUIRE(json_str(out, "id", key_id, sizeof key_id));
  babysea_free(out);
  CHECK(babysea_api_key_issue(e, "acct_c", "{\"scopes\":\"no_such_scope\"}", &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_credits_grant(e, "acct_c", "10", "c-grant-1", &out) == 0);
  CHECK(contains(out, "\"replayed\":false"));
  babysea_free(out);
  CHECK(babysea_credits_grant(e, "acct_c", "10", "c-grant-1", &out) == 0);
  CHECK(contains(out, "\"replayed\":true"));
  babysea_free(out);
  CHECK(babysea_credits_grant(e, "acct_c", "11", "c-grant-1", &out) == BABYSEA_IDEMPOTENCY_CONFLICT);
  babysea_free(out);
  CHECK(babysea_credits_grant(e, "acct_c", "1.0000001", "c-grant-2", &out) == BABYSEA_INVALID_AMOUNT);
  babysea_free(out);
  CHECK(babysea_credits_balance(e, "acct_c", &out) == 0);
  CHECK(contains(out, "\"available\":\"10\""));
  babysea_free(out);

  CHECK(babysea_authenticate(e, key, &out) == 0);
  CHECK(contains(out, "\"account\":\"acct_c\""));
  babysea_free(out);
  CHECK(babysea_authenticate(e, "bye_not_a_key", &out) == BABYSEA_UNAUTHENTICATED);
  CHECK(contains(out, "\"type\":\"unauthenticated\""));
  babysea_free(out);

  CHECK(babysea_estimate(e, key, "bfl/flux-schnell", "{\"count\":2}", &out) == 0);
  CHECK(contains(out, "bfl/flux-schnell"));
  babysea_free(out);
  CHECK(babysea_estimate(e, key, "bfl/flux-schnell", "{\"count\":\"two\"}", &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_estimate(e, key, "no/such-model", NULL, &out) == BABYSEA_MODEL_NOT_FOUND);
  babysea_free(out);
  /* Text arguments must be UTF-8 (so every output stays valid JSON). */
  CHECK(babysea_estimate(e, key, "bfl/\xff\xfe", NULL, &out) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(out, "valid UTF-8"));
  babysea_free(out);

  /* Submit, replay, conflict. */
  const char* params = "{\"generation_prompt\":\"a lighthouse at dawn\"}";
  REQUIRE(babysea_generation_submit(e, key, "bfl/flux-schnell", params, "c-idem-1", "{\"type\":\"image\"}", &out) ==
          0);
  REQUIRE(json_str(out, "generation_id", gen, sizeof gen));
  CHECK(contains(out, "\"status\":\"success\""));
  CHECK(!contains(out, "\"message\":\"Generation replayed\""));
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell", params, "c-idem-1", NULL, &out) == 0);
  CHECK(contains(out, "\"message\":\"Generation replayed\""));
  CHECK(contains(out, gen));
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell", "{\"generation_prompt\":\"another\"}", "c-idem-1",
                                  NULL, &out) == BABYSEA_IDEMPOTENCY_CONFLICT);
  CHECK(contains(out, "\"type\":\"idempotency_conflict\""));
  babysea_free(out);
  /* Validation: the issues name the field, in the output and the last error. */
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell",
                                  "{\"generation_prompt\":\"x\",\"generation_ratio\":\"7:3\"}", NULL, NULL,
                                  &out) == BABYSEA_INVALID_REQUEST);
  CHECK(contains(out, "generation_ratio"));
  CHECK(contains(babysea_engine_last_error_json(e), "generation_ratio"));
  CHECK(babysea_engine_last_error_code(e) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_engine_last_error(e)[0] != '\0');
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell", "{not json", NULL, NULL, &out) ==
        BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell", params, NULL, "{\"type\":\"video\"}", &out) != 0);
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, NULL, params, NULL, NULL, &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key, "bfl/flux-schnell", params, NULL, NULL, NULL) == BABYSEA_INVALID_REQUEST);
  /* A successful call clears this thread's last error for the engine. */
  CHECK(babysea_credits_balance(e, "acct_c", &out) == 0);
  babysea_free(out);
  CHECK(babysea_engine_last_error(e)[0] == '\0');
  CHECK(babysea_engine_last_error_code(e) == 0);

  /* A second one, canceled while it runs. */
  REQUIRE(babysea_generation_submit(e, key, "bfl/flux-schnell", "{\"generation_prompt\":\"a storm\"}", NULL, NULL,
                                    &out) == 0);
  REQUIRE(json_str(out, "generation_id", gen2, sizeof gen2));
  babysea_free(out);
  CHECK(babysea_generation_cancel(e, key, gen2, &out) == 0);
  CHECK(contains(out, "\"generation_status\":\"canceled\""));
  CHECK(contains(out, "\"credits_refunded\":true"));
  babysea_free(out);
  CHECK(babysea_generation_cancel(e, key, gen2, &out) == BABYSEA_INVALID_STATE);
  babysea_free(out);

  /* The first one completes. */
  out = wait_for_status(e, key, gen, "succeeded", 60.0);
  CHECK(out != NULL);
  CHECK(contains(out, "generation_output_file"));
  babysea_free(out);

  CHECK(babysea_generation_list(e, key, 10, 0, &out) == 0);
  CHECK(contains(out, gen));
  CHECK(contains(out, gen2));
  CHECK(contains(out, "\"total\":2"));
  babysea_free(out);
  CHECK(babysea_generation_list(e, key, 0, 0, &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);

  CHECK(babysea_generation_delete(e, key, gen, &out) == 0);
  CHECK(contains(out, "\"files_deleted\":"));
  babysea_free(out);
  CHECK(babysea_generation_get(e, key, gen, &out) == 0);
  CHECK(contains(out, "\"generation_removed\":true"));
  babysea_free(out);
  CHECK(babysea_generation_get(e, key, "00000000-0000-7000-8000-000000000000", &out) == BABYSEA_NOT_FOUND);
  babysea_free(out);
  CHECK(babysea_generation_get(e, "bye_wrong", gen, &out) == BABYSEA_UNAUTHENTICATED);
  babysea_free(out);

  CHECK(babysea_usage(e, key, 30, &out) == 0);
  CHECK(contains(out, "usage"));
  babysea_free(out);
  CHECK(babysea_credits_statement(e, "acct_c", 100, &out) == 0);
  CHECK(contains(out, "\"kind\":\"grant\""));
  CHECK(contains(out, "\"kind\":\"settle\""));
  babysea_free(out);
  CHECK(babysea_ledger_audit(e, &out) == 0);
  CHECK(contains(out, "\"clean\":true"));
  babysea_free(out);
  CHECK(babysea_health(e, &out) == 0);
  CHECK(contains(out, "\"healthy\":"));
  babysea_free(out);
  CHECK(babysea_metrics_text(e, &out) == 0);
  CHECK(out != NULL && strlen(out) > 0);
  babysea_free(out);
  CHECK(babysea_engine_drain(e) == 0);

  /* Another account's generation is not found; an empty account cannot pay. */
  char key2[256] = {0};
  REQUIRE(babysea_api_key_issue(e, "acct_poor", "{\"scopes\":[\"generation:write\",\"generation:read\"]}", &out) ==
          0);
  REQUIRE(json_str(out, "key", key2, sizeof key2));
  babysea_free(out);
  CHECK(babysea_generation_get(e, key2, gen2, &out) == BABYSEA_NOT_FOUND);
  babysea_free(out);
  CHECK(babysea_generation_submit(e, key2, "bfl/flux-schnell", params, NULL, NULL, &out) ==
        BABYSEA_INSUFFICIENT_CREDITS);
  CHECK(contains(out, "\"type\":\"insufficient_credits\""));
  babysea_free(out);
  CHECK(babysea_usage(e, key2, 30, &out) == BABYSEA_FORBIDDEN); /* no account:read */
  babysea_free(out);

  /* Inbound deliveries that do not verify. */
  CHECK(babysea_stripe_event(e, "t=1,v1=00", "{}", 2, &out) == BABYSEA_INVALID_SIGNATURE);
  babysea_free(out);
  CHECK(babysea_stripe_event(e, "t=1,v1=00", NULL, 5, &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_provider_callback(e, "replicate", "{\"webhook-id\":\"x\"}", "{}", 2, &out) != 0);
  babysea_free(out);
  CHECK(babysea_provider_callback(e, "replicate", "[\"bad\"]", "{}", 2, &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);

  /* Customer webhook endpoints. */
  char endpoint[64] = {0};
  char hook_url[320];
  snprintf(hook_url, sizeof hook_url, "{\"url\":\"%s/hook\",\"events\":[\"generation.completed\"]}", g_replicate_url);
  CHECK(babysea_webhook_endpoint_create(e, "acct_c", hook_url, &out) == 0);
  CHECK(json_str(out, "id", endpoint, sizeof endpoint));
  CHECK(contains(out, "\"secret\":\""));
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_create(e, "acct_nobody", hook_url, &out) == BABYSEA_NOT_FOUND);
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_list(e, "acct_nobody", &out) == 0);
  CHECK(!contains(out, "\"id\""));
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_create(e, "acct_c", "{\"url\":\"ftp://x\"}", &out) != 0);
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_create(e, "acct_c", "{\"secret\":\"s\"}", &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_list(e, "acct_c", &out) == 0);
  CHECK(contains(out, endpoint));
  CHECK(!contains(out, "\"secret\""));
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_test(e, "acct_c", endpoint, &out) == 0);
  CHECK(contains(out, "delivery_id"));
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_set_enabled(e, "acct_c", endpoint, 0, &out) == 0);
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_list(e, "acct_c", &out) == 0);
  CHECK(contains(out, "\"enabled\":false"));
  babysea_free(out);
  CHECK(babysea_webhook_endpoint_set_enabled(e, "acct_poor", endpoint, 1, &out) == BABYSEA_NOT_FOUND);
  babysea_free(out);

  /* Revocation. */
  CHECK(babysea_api_key_revoke(e, "acct_c", key_id, &out) == 0);
  babysea_free(out);
  CHECK(babysea_generation_get(e, key, gen, &out) == BABYSEA_UNAUTHENTICATED);
  babysea_free(out);
  CHECK(babysea_api_key_list(e, "acct_c", &out) == 0);
  CHECK(contains(out, key_id));
  CHECK(!contains(out, "\"revoked_ms\":0"));
  babysea_free(out);
  CHECK(babysea_api_key_revoke(e, "acct_c", "no_such_key", &out) == BABYSEA_NOT_FOUND);
  babysea_free(out);
}

static void test_events_queue(babysea_engine_t* e) {
  char* out = NULL;
  CHECK(babysea_events_next(e, 0, &out) == BABYSEA_UNAVAILABLE); /* not subscribed */
  babysea_free(out);
  CHECK(babysea_events_subscribe(e, 0) == BABYSEA_INVALID_REQUEST);
  CHECK(babysea_events_subscribe(e, 64) == 0);
  CHECK(babysea_events_next(e, 0, &out) == 0);
  CHECK(contains(out, "\"events\":[]"));
  babysea_free(out);
  CHECK(babysea_events_next(e, -1, &out) == BABYSEA_INVALID_REQUEST);
  babysea_free(out);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  const char* bin = getenv("BABYSEA_EMULATORS_BIN");
  if (bin == NULL || *bin == '\0') {
    fprintf(stderr, "BABYSEA_EMULATORS_BIN is not set\n");
    return 1;
  }
  snprintf(g_tmp, sizeof g_tmp, "/tmp/babysea-capi-XXXXXX");
  if (mkdtemp(g_tmp) == NULL) {
    g_tmp[0] = '\0';
    return 1;
  }

  test_static();
  test_null_arguments();
  test_postgres_config_errors();

  char line[4096];
  REQUIRE(start_emulators(bin, line, sizeof line));
  char replicate[256], fal[256], secret[256], jwks[256], fal_user[128];
  REQUIRE(json_str(line, "replicate", replicate, sizeof replicate));
  snprintf(g_replicate_url, sizeof g_replicate_url, "%s", replicate);
  REQUIRE(json_str(line, "fal", fal, sizeof fal));
  REQUIRE(json_str(line, "replicate_webhook_secret", secret, sizeof secret));
  REQUIRE(json_str(line, "fal_jwks_url", jwks, sizeof jwks));
  REQUIRE(json_str(line, "fal_user_id", fal_user, sizeof fal_user));

  static char config[8192];
  snprintf(config, sizeof config,
           "{\"region\":\"us\",\"api_key_pepper\":\"c-test-pepper-0123456789abcdef0123456789\","
           "\"database\":{\"engine\":\"sqlite\",\"path\":\"%s/babysea.db\",\"synchronous\":\"normal\"},"
           "\"assets\":{\"directory\":\"%s/assets\",\"public_base_url\":\"https://app.us.babysea.ai/files\"},"
           "\"providers\":{\"replicate\":{\"base_url\":\"%s\",\"api_token\":\"r8_ctest\",\"webhook_secrets\":[\"%s\"]},"
           "\"fal\":{\"base_url\":\"%s\",\"api_key\":\"fal_ctest\",\"jwks_url\":\"%s\",\"user_id\":\"%s\"}},"
           "\"stripe\":{\"endpoint_secrets\":[\"whsec_ctest\"],\"packs\":[{\"price_id\":\"price_10\",\"credits\":\"10\"}]},"
           "\"net_guard\":{\"allow_loopback\":true,\"allow_any_port\":true,\"allow_private\":true},"
           "\"engine\":{\"threads\":2,\"tick_ms\":50,\"retry_delay_ms\":200},"
           "\"webhooks\":{\"enabled\":false}}",
           g_tmp, g_tmp, replicate, secret, fal, jwks, fal_user);

  babysea_engine_t* e = NULL;
  int rc = babysea_engine_create(config, &e);
  if (rc != 0) fprintf(stderr, "engine_create: %s\n%s\n", babysea_engine_last_error(NULL), babysea_engine_last_error_json(NULL));
  REQUIRE(rc == 0 && e != NULL);

  static int tag = 42;
  int destroyed_before = atomic_load(&g_destroyed);
  CHECK(babysea_engine_set_event_callback(e, on_event, &tag, on_destroy) == 0);
  test_events_queue(e);
  test_lifecycle(e);

  /* Events: completed and canceled were both delivered (to the callback and the queue). */
  double deadline = now_s() + 10.0;
  while ((atomic_load(&g_completed) < 1 || atomic_load(&g_canceled) < 1) && now_s() < deadline) sleep_ms(50);
  CHECK(atomic_load(&g_completed) >= 1);
  CHECK(atomic_load(&g_canceled) >= 1);
  char* out = NULL;
  CHECK(babysea_events_next(e, 1000, &out) == 0);
  CHECK(contains(out, "generation.completed"));
  babysea_free(out);
  CHECK(babysea_events_unsubscribe(e) == 0);
  CHECK(babysea_events_next(e, 0, &out) == BABYSEA_UNAVAILABLE);
  babysea_free(out);

  /* Replacing the callback destroys the old user data once; destroy the rest. */
  CHECK(babysea_engine_set_event_callback(e, on_event, &tag, on_destroy) == 0);
  CHECK(atomic_load(&g_destroyed) == destroyed_before + 1);
  babysea_engine_destroy(e);
  CHECK(atomic_load(&g_destroyed) == destroyed_before + 2);

  /* Durable: a new engine on the same store sees the account and its ledger. */
  e = NULL;
  REQUIRE(babysea_engine_create(config, &e) == 0);
  CHECK(babysea_credits_balance(e, "acct_c", &out) == 0);
  CHECK(contains(out, "\"account\":\"acct_c\""));
  babysea_free(out);
  CHECK(babysea_ledger_audit(e, &out) == 0);
  CHECK(contains(out, "\"clean\":true"));
  babysea_free(out);
  babysea_engine_destroy(e);

  cleanup();
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
