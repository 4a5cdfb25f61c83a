'use strict';
// babysea for Node.js: the C ABI of libbabysea.so through koffi.
//
// Every engine call runs on a koffi worker thread (`fn.async`) and returns a
// promise, so the JS thread never blocks on storage or providers. Lifecycle
// events are pulled from the engine's queue (babysea_events_next) by a worker
// call and emitted on the JS thread as 'event' — no native thread ever calls
// into JS. close() stops the pump, waits for calls in flight, then destroys
// the engine off the JS thread; it is idempotent.

const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');

// ------------------------------------------------------------------ loading

// $BABYSEA_LIBRARY, else the copy the package ships (npm pack of a tree
// holding libbabysea.so), else the newest build tree of this checkout, else
// the system loader (a `cmake --install`ed library).
function findLibrary() {
  if (process.env.BABYSEA_LIBRARY) return process.env.BABYSEA_LIBRARY;
  const shipped = path.join(__dirname, 'libbabysea.so');
  if (fs.existsSync(shipped)) return shipped;
  const repo = path.resolve(__dirname, '..', '..');
  const found = [];
  for (const dir of fs.readdirSync(repo)) {
    if (!dir.startsWith('build')) continue;
    const p = path.join(repo, dir, 'libbabysea.so');
    try {
      found.push({ p, t: fs.statSync(p).mtimeMs });
    } catch {
      // no library in this build tree
    }
  }
  found.sort((a, b) => b.t - a.t);
  if (found.length) return found[0].p;
  return 'libbabysea.so';
}

const libraryPath = findLibrary();
const lib = koffi.load(libraryPath);

const C = {
  version: lib.func('const char* babysea_version(void)'),
  versionNumber: lib.func('int babysea_version_number(void)'),
  errorName: lib.func('const char* babysea_error_name(int code)'),
  free: lib.func('void babysea_free(void* ptr)'),
  open: lib.func('int babysea_engine_open(const char* config, _Out_ void** engine, _Out_ void** out)'),
  destroy: lib.func('void babysea_engine_destroy(void* engine)'),
  subscribe: lib.func('int babysea_events_subscribe(void* engine, size_t capacity)'),
  next: lib.func('int babysea_events_next(void* engine, int64_t timeout_ms, _Out_ void** out)'),
  unsubscribe: lib.func('int babysea_events_unsubscribe(void* engine)'),
  authenticate: lib.func('int babysea_authenticate(void* engine, const char* key, _Out_ void** out)'),
  submit: lib.func('int babysea_generation_submit(void* engine, const char* key, const char* model, ' +
    'const char* params, const char* idem, const char* options, _Out_ void** out)'),
  get: lib.func('int babysea_generation_get(void* engine, const char* key, const char* id, _Out_ void** out)'),
  list: lib.func('int babysea_generation_list(void* engine, const char* key, int64_t limit, int64_t offset, ' +
    '_Out_ void** out)'),
  cancel: lib.func('int babysea_generation_cancel(void* engine, const char* key, const char* id, _Out_ void** out)'),
  delete: lib.func('int babysea_generation_delete(void* engine, const char* key, const char* id, _Out_ void** out)'),
  estimate: lib.func('int babysea_estimate(void* engine, const char* key, const char* model, const char* params, ' +
    '_Out_ void** out)'),
  usage: lib.func('int babysea_usage(void* engine, const char* key, int64_t days, _Out_ void** out)'),
  apiCall: lib.func('int babysea_api_call(void* engine, const char* key, const char* operation, ' +
    'const char* args, _Out_ void** out)'),
  providerCallback: lib.func('int babysea_provider_callback(void* engine, const char* provider, ' +
    'const char* headers, const void* body, size_t len, _Out_ void** out)'),
  stripeEvent: lib.func('int babysea_stripe_event(void* engine, const char* signature, const void* body, ' +
    'size_t len, _Out_ void** out)'),
  accountCreate: lib.func('int babysea_account_create(void* engine, const char* account, _Out_ void** out)'),
  keyIssue: lib.func('int babysea_api_key_issue(void* engine, const char* account, const char* request, ' +
    '_Out_ void** out)'),
  keyList: lib.func('int babysea_api_key_list(void* engine, const char* account, _Out_ void** out)'),
  keyRevoke: lib.func('int babysea_api_key_revoke(void* engine, const char* account, const char* key_id, ' +
    '_Out_ void** out)'),
  grant: lib.func('int babysea_credits_grant(void* engine, const char* account, const char* amount, ' +
    'const char* key, _Out_ void** out)'),
  balance: lib.func('int babysea_credits_balance(void* engine, const char* account, _Out_ void** out)'),
  statement: lib.func('int babysea_credits_statement(void* engine, const char* account, int64_t limit, ' +
    '_Out_ void** out)'),
  audit: lib.func('int babysea_ledger_audit(void* engine, _Out_ void** out)'),
  hookCreate: lib.func('int babysea_webhook_endpoint_create(void* engine, const char* account, const char* spec, ' +
    '_Out_ void** out)'),
  hookList: lib.func('int babysea_webhook_endpoint_list(void* engine, const char* account, _Out_ void** out)'),
  hookEnable: lib.func('int babysea_webhook_endpoint_set_enabled(void* engine, const char* account, ' +
    'const char* id, int enabled, _Out_ void** out)'),
  hookTest: lib.func('int babysea_webhook_endpoint_test(void* engine, const char* account, const char* id, ' +
    '_Out_ void** out)'),
  health: lib.func('int babysea_health(void* engine, _Out_ void** out)'),
  metrics: lib.func('int babysea_metrics_text(void* engine, _Out_ void** out)'),
  runDue: lib.func('int babysea_engine_run_due(void* engine, _Out_ int64_t* steps)'),
  drain: lib.func('int babysea_engine_drain(void* engine)'),
};

// ------------------------------------------------------------------- errors

class BabyseaError extends Error {
  constructor(message, { code = -1, type = 'unknown', retryable = false, issues = [] } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.type = type;
    this.retryable = retryable;
    this.issues = issues;
  }
}

const CODE_NAMES = [
  [1, 'InvalidRequest'], [2, 'NotFound'], [3, 'InsufficientCredits'], [4, 'IdempotencyConflict'],
  [5, 'IdempotencyInProgress'], [6, 'InvalidState'], [7, 'Unauthenticated'], [8, 'Forbidden'],
  [9, 'RateLimited'], [10, 'ModelNotFound'], [11, 'PayloadTooLarge'], [12, 'UnsupportedMediaType'],
  [13, 'UrlForbidden'], [14, 'InvalidSignature'], [15, 'ProvidersFailed'], [16, 'ProviderTimeout'],
  [17, 'Unavailable'], [18, 'StorageError'], [19, 'Corruption'], [20, 'Internal'], [21, 'InvalidAmount'],
  [22, 'Canceled'], [23, 'Timeout'], [24, 'Unsupported'],
];

const errors = { BabyseaError };
const byCode = new Map();
for (const [code, name] of CODE_NAMES) {
  // A named class per code, so `instanceof errors.NotFound` works.
  const cls = { [name]: class extends BabyseaError {} }[name];
  cls.code = code;
  errors[name] = cls;
  byCode.set(code, cls);
}

class EngineClosed extends errors.Unavailable {}
errors.EngineClosed = EngineClosed;

function errorFrom(code, docText, fallback) {
  let err = {};
  if (docText) {
    try {
      err = JSON.parse(docText).error || {};
    } catch {
      err = {};
    }
  }
  const cls = byCode.get(code) || BabyseaError;
  return new cls(err.message || fallback || `error ${code}`, {
    code, type: err.type || String(C.errorName(code)), retryable: !!err.retryable,
    issues: (err.details && err.details.issues) || [],
  });
}

// ------------------------------------------------------------------ helpers

function takeString(ptr) {
  if (!ptr) return null;
  try {
    return koffi.decode(ptr, 'char', -1);
  } finally {
    C.free(ptr);
  }
}

function callAsync(fn, args) {
  return new Promise((resolve, reject) => {
    fn.async(...args, (err, rc) => (err ? reject(err) : resolve(rc)));
  });
}

function jsonArg(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return JSON.stringify(v);
}

function credits(amount) {
  if (typeof amount === 'string') return amount;
  if (typeof amount === 'bigint') return amount.toString();
  if (typeof amount === 'number' && Number.isInteger(amount)) return String(amount);
  throw new TypeError('credit amounts are decimal strings, integers or bigints (never fractional numbers)');
}

function toBuffer(body) {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('body must be a Buffer, Uint8Array or string');
}

// ------------------------------------------------------------------- engine

class Engine extends EventEmitter {
  // Use Engine.open(config): construction runs off the JS thread.
  constructor(handle) {
    super();
    if (!handle) throw new TypeError('use Engine.open(config)');
    this._handle = handle;
    this._closed = false;
    this._closing = null;
    this._inflight = 0;
    this._idle = [];
    this._pump = null;
    this.on('newListener', (name) => {
      if (name === 'event') setImmediate(() => this._startPump());
    });
  }

  static async open(config) {
    const text = typeof config === 'string' ? config : JSON.stringify(config);
    const handle = [null];
    const out = [null];
    const rc = await callAsync(C.open, [text, handle, out]);
    const doc = takeString(out[0]);
    if (rc !== 0) throw errorFrom(rc, doc);
    return new Engine(handle[0]);
  }

  get closed() {
    return this._closed;
  }

  _enter() {
    if (this._closed) throw new EngineClosed('the engine is closed', { code: 17, type: 'unavailable' });
    this._inflight++;
    return this._handle;
  }

  _leave() {
    this._inflight--;
    if (this._inflight === 0) {
      const waiters = this._idle;
      this._idle = [];
      for (const w of waiters) w();
    }
  }

  async _raw(fn, ...args) {
    const handle = this._enter();
    let rc;
    let text;
    try {
      const out = [null];
      rc = await callAsync(fn, [handle, ...args, out]);
      text = takeString(out[0]);
    } finally {
      this._leave();
    }
    if (rc !== 0) throw errorFrom(rc, text);
    return text;
  }

  async _json(fn, ...args) {
    const text = await this._raw(fn, ...args);
    return text ? JSON.parse(text) : null;
  }

  // The `data` of a service document ({"status":"success",...,"data":{...}}).
  async _data(fn, ...args) {
    const doc = await this._json(fn, ...args);
    return doc ? doc.data : null;
  }

  async _status(fn, ...args) {
    const handle = this._enter();
    let rc;
    try {
      rc = await callAsync(fn, [handle, ...args]);
    } finally {
      this._leave();
    }
    if (rc !== 0) throw errorFrom(rc, null, `${C.errorName(rc)}`);
  }

  // --- events ----------------------------------------------------------------

  // Pulls queued events on a worker thread and emits them here, while there
  // are 'event' listeners and the engine is open.
  _startPump() {
    if (this._pump || this._closed || this.listenerCount('event') === 0) return;
    if (C.subscribe(this._handle, 4096) !== 0) return;
    this._pump = (async () => {
      while (!this._closed && this.listenerCount('event') > 0) {
        let batch;
        try {
          batch = await this._json(C.next, 1000);
        } catch (e) {
          if (!(e instanceof errors.Unavailable)) this.emit('error', e);
          break;
        }
        for (const ev of batch.events) {
          try {
            this.emit('event', ev);
          } catch (e) {
            // A throwing listener must not stop the pump; report it asynchronously.
            process.nextTick(() => { throw e; });
          }
        }
        if (batch.dropped) this.emit('dropped', batch.dropped);
      }
    })();
    this._pump.finally(() => {
      this._pump = null;
      if (!this._closed && this._handle) {
        C.unsubscribe(this._handle);
        this._startPump(); // a listener may have come back meanwhile
      }
    });
  }

  // Convenience: one callback for every lifecycle event (replaces the previous).
  setEventCallback(fn) {
    if (this._eventCallback) this.off('event', this._eventCallback);
    this._eventCallback = fn || null;
    if (fn) this.on('event', fn);
  }

  // --- lifetime --------------------------------------------------------------

  close() {
    if (this._closing) return this._closing;
    this._closing = (async () => {
      this._closed = true;
      const handle = this._handle;
      C.unsubscribe(handle); // wakes the pump's waiting call
      if (this._inflight > 0) await new Promise((resolve) => this._idle.push(resolve));
      if (this._pump) await this._pump.catch(() => {});
      this._handle = null;
      await callAsync(C.destroy, [handle]);
    })();
    return this._closing;
  }

  // --- customer calls (API key) ------------------------------------------------

  authenticate(apiKey) { return this._data(C.authenticate, apiKey); }

  async submit(apiKey, model, params, { idempotencyKey = null, type = undefined, waitForAckMs = undefined } = {}) {
    const options = {};
    if (type !== undefined) options.type = type;
    if (waitForAckMs !== undefined) options.wait_for_ack_ms = waitForAckMs;
    const doc = await this._json(C.submit, apiKey, model, jsonArg(params), idempotencyKey,
      Object.keys(options).length ? JSON.stringify(options) : null);
    // A replay is told by the document's message (the HTTP door's Idempotency-Replayed).
    return { replayed: doc.message === 'Generation replayed', data: doc.data };
  }

  get(apiKey, generationId) { return this._data(C.get, apiKey, generationId); }

  async list(apiKey, { limit = 50, offset = 0 } = {}) {
    const doc = await this._json(C.list, apiKey, limit, offset);
    return { ...doc.data, total: doc.total, limit: doc.limit, offset: doc.offset };
  }

  // Any API operation by name (babysea_api_call): the whole document.
  call(apiKey, operation, args = null) { return this._json(C.apiCall, apiKey, operation, jsonArg(args)); }

  cancel(apiKey, generationId) { return this._data(C.cancel, apiKey, generationId); }

  delete(apiKey, generationId) { return this._data(C.delete, apiKey, generationId); }

  estimate(apiKey, model, params = null) { return this._data(C.estimate, apiKey, model, jsonArg(params)); }

  usage(apiKey, days = 30) { return this._data(C.usage, apiKey, days); }

  // --- inbound deliveries ------------------------------------------------------

  providerCallback(provider, headers, body) {
    const buf = toBuffer(body);
    return this._data(C.providerCallback, provider, jsonArg(headers || {}), buf, buf.length);
  }

  stripeEvent(signatureHeader, body) {
    const buf = toBuffer(body);
    return this._data(C.stripeEvent, signatureHeader, buf, buf.length);
  }

  // --- administration (host only) -------------------------------------------------

  createAccount(account) { return this._data(C.accountCreate, account); }

  issueApiKey(account, { scopes = 'full_access', name = '', expiresMs = 0 } = {}) {
    return this._data(C.keyIssue, account, JSON.stringify({ scopes, name, expires_ms: expiresMs }));
  }

  async listApiKeys(account) { return (await this._data(C.keyList, account)).keys; }

  revokeApiKey(account, keyId) { return this._data(C.keyRevoke, account, keyId); }

  grantCredits(account, amount, key = null) { return this._data(C.grant, account, credits(amount), key); }

  balance(account) { return this._data(C.balance, account); }

  statement(account, limit = 100) { return this._data(C.statement, account, limit); }

  audit() { return this._data(C.audit); }

  createWebhookEndpoint(account, url, { secret = '', signing = 'babysea', events = [] } = {}) {
    return this._data(C.hookCreate, account, JSON.stringify({ url, secret, signing, events }));
  }

  async listWebhookEndpoints(account) { return (await this._data(C.hookList, account)).endpoints; }

  setWebhookEndpointEnabled(account, endpointId, enabled) {
    return this._data(C.hookEnable, account, endpointId, enabled ? 1 : 0);
  }

  testWebhookEndpoint(account, endpointId) { return this._data(C.hookTest, account, endpointId); }

  // --- operations ------------------------------------------------------------------

  health() { return this._data(C.health); }

  async metricsText() { return (await this._raw(C.metrics)) || ''; }

  async runDue() {
    const steps = [0];
    await this._status(C.runDue, steps);
    return Number(steps[0]);
  }

  drain() { return this._status(C.drain); }
}

module.exports = {
  Engine,
  errors,
  BabyseaError,
  EngineClosed,
  version: () => C.version(),
  versionNumber: () => C.versionNumber(),
  errorName: (code) => C.errorName(code),
  libraryPath,
  ...errors,
};
