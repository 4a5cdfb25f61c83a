/*
 * babysea playground: the script behind /playground/index.html.
 *
 * It runs under a strict CSP (script-src 'self', style-src 'self', connect-src 'self',
 * require-trusted-types-for 'script' with trusted-types 'none'): no inline code or styles,
 * no innerHTML, no eval. Every element is built with createElement/createElementNS,
 * textContent and setAttribute; visibility uses the `hidden` attribute and CSS classes.
 * It talks only to the same-origin babysea REST API (/v1/...). The API key lives in
 * memory and sessionStorage ('babysea.key'), is sent only as `Authorization: Bearer`,
 * and is never put in a URL nor logged.
 */
'use strict';

const KEY_STORAGE = 'babysea.key';
const POLL_MS = 1000;
const SETTLE_READS = 5;        // extra reads of a terminal generation whose attempts are still open
const HISTORY_LIMIT = 10;
const ESTIMATE_DEBOUNCE_MS = 300;
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);
const ACTIVE = new Set(['pending', 'processing']);
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Everything the page remembers between events. */
const state = {
  key: '',
  models: new Map(),          // model_identifier -> model document
  estimateTimer: null,
  estimateSeq: 0,
  retry: null,                // {fingerprint, idempotencyKey} kept after a retryable generate failure
  history: { offset: 0, total: 0, shown: 0 },
  gen: null,                  // the current generation (see openGeneration)
  genToken: 0,                // bumps whenever the current generation is replaced
};

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ formatting

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** Credits with up to 6 decimals; '—' when the value is missing. */
function fmtCredits(n) {
  if (!isNum(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: 6 });
}

function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

const fmtMs = (v) => (isNum(v) ? `${Math.round(v)} ms` : '—');
const fmtPercent = (v) => (isNum(v) ? `${(v * 100).toFixed(1)} %` : '—');
const num = (v) => (isNum(v) ? v : 0);
const text = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));

/** Creates an element with optional class name and text. */
function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined && content !== null) node.textContent = String(content);
  return node;
}

/** Creates an SVG element and sets its (presentation) attributes. */
function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function svgTitle(parent, label) {
  parent.appendChild(svg('title')).textContent = label;
}

// ------------------------------------------------------------------ API

/**
 * One request to the same-origin API. Never throws: answers {ok, status, doc, retryAfter}.
 * A transport failure answers status 0 and an error document with code "network".
 */
async function api(method, path, { body, idempotencyKey } = {}) {
  const key = state.key;
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  let res;
  try {
    res = await fetch(path, {
      method, headers, cache: 'no-store', credentials: 'omit',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    const message = (e && e.message) || 'network error';
    return { ok: false, status: 0, retryAfter: null, doc: { status: 'error', error: { code: 'network', message, retryable: true } } };
  }
  let doc = null;
  try { doc = await res.json(); } catch (_) { doc = null; }
  if (state.key !== key) {
    // The key was saved anew or forgotten meanwhile: this answer belongs to nobody now.
    return { ok: false, status: res.status, retryAfter: null, doc: { status: 'error', error: { code: 'stale', message: 'key changed', retryable: false } } };
  }
  const ok = res.ok && !!doc && doc.status !== 'error';
  if (!ok && !(doc && doc.error && typeof doc.error === 'object')) {
    // A non-JSON or malformed error body: synthesize one the way the SDK does.
    doc = { status: 'error', error: { code: `HTTP_${res.status}`, message: `HTTP ${res.status} ${res.statusText}`.trim(), retryable: res.status === 429 || res.status >= 500 } };
  }
  return { ok, status: res.status, doc, retryAfter: res.headers.get('Retry-After') };
}

const dataOf = (r) => (r.doc && r.doc.data) || {};

/** Whether a failed answer may be repeated (network, 429, 5xx or a retryable code). */
function isRetryable(r) {
  const e = r.doc && r.doc.error;
  if (e && typeof e.retryable === 'boolean') return e.retryable;
  return r.status === 0 || r.status === 429 || r.status >= 500;
}

/** "<code>: <message>" for a failed answer, plus the Retry-After hint. */
function describeError(r) {
  const e = (r.doc && r.doc.error) || {};
  const code = e.code || `HTTP_${r.status}`;
  let msg = `${code}: ${e.message || r.doc.message || 'request failed'}`;
  if (r.retryAfter) msg += ` (retry after ${r.retryAfter} s)`;
  return { code, msg };
}

// ------------------------------------------------------------------ error banner

function showError(r) {
  const { code, msg } = describeError(r);
  if (code === 'stale') return; // an answer for a key that is no longer in use
  const box = $('error');
  box.textContent = msg;
  box.setAttribute('data-code', code);
}

function clearError() {
  $('error').textContent = '';
  $('error').removeAttribute('data-code');
}

// ------------------------------------------------------------------ key

async function saveKey() {
  const key = $('key-input').value.trim();
  if (!key) { setKeyStatus('enter an API key first', null); return; }
  state.key = key;
  try { sessionStorage.setItem(KEY_STORAGE, key); } catch (_) { /* storage disabled: memory only */ }
  $('key-input').value = '';
  await connect(true);
}

function forgetKey() {
  state.key = '';
  try { sessionStorage.removeItem(KEY_STORAGE); } catch (_) { /* ignore */ }
  $('key-input').value = '';
  setKeyStatus('not connected', null);
  closeGeneration();
  resetModels();
  setBalance(null);
  for (const id of ['history', 'usage-models', 'usage-providers', 'health-providers']) clearRows(id);
  clearChart();
  state.history = { offset: 0, total: 0, shown: 0 };
  renderPager();
  for (const id of ['usage-totals', 'health-summary']) $(id).textContent = '';
  clearError();
}

function setKeyStatus(message, accountId) {
  const s = $('key-status');
  s.textContent = message;
  if (accountId) s.setAttribute('data-account', accountId);
  else s.removeAttribute('data-account');
  s.classList.toggle('connected', !!accountId);
}

/** Checks the key on /v1/user/account, then loads every panel. */
async function connect(userAction) {
  setKeyStatus('connecting…', null);
  const r = await api('GET', '/v1/user/account');
  if (!r.ok) {
    if (describeError(r).code === 'stale') return;
    setKeyStatus(`error: ${describeError(r).msg}`, null);
    showError(r);
    if (r.status === 401 || r.status === 0) return; // a bad key or no server: nothing else can load
  } else {
    const id = dataOf(r).account_id;
    setKeyStatus(`connected as ${text(id)}`, id ? String(id) : null);
    if (userAction) clearError();
  }
  await Promise.all([refreshBalance(), loadModels(), loadHistory(), loadUsage(), loadHealth()]);
}

// ------------------------------------------------------------------ balance

function setBalance(value) {
  const b = $('balance');
  if (typeof value === 'number' && Number.isFinite(value)) {
    b.textContent = `${fmtCredits(value)} credits`;
    b.setAttribute('data-value', String(value));
  } else {
    b.textContent = '—';
    b.removeAttribute('data-value');
  }
}

/** Reads the balance from /v1/user/billing (api.md §7.3). */
async function refreshBalance() {
  if (!state.key) return;
  const r = await api('GET', '/v1/user/billing');
  if (!r.ok) { showError(r); return; }
  setBalance(dataOf(r).billing_credit_balance);
}

// ------------------------------------------------------------------ models and the form

function resetModels() {
  state.models.clear();
  const sel = $('model-select');
  sel.replaceChildren(new Option('(save a key to load models)', ''));
  sel.disabled = true;
  $('gen-fields').replaceChildren();
  setEstimate(null, '—');
}

async function loadModels() {
  const r = await api('GET', '/v1/library/models');
  if (!r.ok) { showError(r); return; }
  const list = Array.isArray(dataOf(r).models) ? dataOf(r).models : [];
  const sel = $('model-select');
  const previous = sel.value;
  state.models.clear();
  const groups = new Map();
  for (const m of list) {
    if (!m || !m.model_identifier) continue;
    state.models.set(m.model_identifier, m);
    const type = m.model_type || 'other';
    if (!groups.has(type)) {
      const g = document.createElement('optgroup');
      g.label = type;
      groups.set(type, g);
    }
    const label = m.model_name && m.model_name !== m.model_identifier ? `${m.model_identifier} — ${m.model_name}` : m.model_identifier;
    groups.get(type).appendChild(new Option(label, m.model_identifier));
  }
  sel.replaceChildren(...groups.values());
  sel.disabled = state.models.size === 0;
  if (state.models.has(previous)) sel.value = previous;
  onModelChange();
}

const currentModel = () => state.models.get($('model-select').value) || null;

/** A labelled form control appended to the field container. */
function addField(container, label, control, hint) {
  const wrap = el('label', 'field');
  wrap.appendChild(el('span', null, label));
  wrap.appendChild(control);
  if (hint) wrap.appendChild(el('small', 'hint', hint));
  container.appendChild(wrap);
  return control;
}

function makeSelect(name, values) {
  const s = document.createElement('select');
  s.name = name;
  for (const v of values) s.appendChild(new Option(String(v), String(v)));
  return s;
}

function makeInput(name, type, placeholder) {
  const i = document.createElement('input');
  i.name = name;
  i.type = type;
  if (placeholder) i.placeholder = placeholder;
  return i;
}

/** Rebuilds #gen-form's fields from the selected model's schema. */
function buildForm(model) {
  const box = $('gen-fields');
  box.replaceChildren();
  if (!model) return;
  const s = model.schema || {};
  const prompt = document.createElement('textarea');
  prompt.name = 'generation_prompt';
  prompt.rows = 3;
  prompt.required = true;
  prompt.placeholder = 'Describe what to generate';
  addField(box, 'Prompt', prompt);
  if (Array.isArray(s.generation_ratio) && s.generation_ratio.length) addField(box, 'Ratio', makeSelect('generation_ratio', s.generation_ratio));
  if (Array.isArray(s.generation_output_format) && s.generation_output_format.length) addField(box, 'Output format', makeSelect('generation_output_format', s.generation_output_format));
  if (typeof s.generation_output_number === 'number') {
    // api.md decisions: the schema's number is a maximum (1..N); start at 1, like the estimate's default count.
    const n = makeInput('generation_output_number', 'number');
    n.value = '1';
    n.min = '1';
    n.max = String(s.generation_output_number);
    n.step = '1';
    n.readOnly = s.generation_output_number <= 1;
    addField(box, `Outputs (max ${s.generation_output_number})`, n);
  }
  if (Array.isArray(s.generation_duration) && s.generation_duration.length) addField(box, 'Duration (s)', makeSelect('generation_duration', s.generation_duration));
  if (Array.isArray(s.generation_resolution) && s.generation_resolution.length) addField(box, 'Resolution', makeSelect('generation_resolution', s.generation_resolution));
  if (s.generation_generate_audio === true) {
    const a = makeInput('generation_generate_audio', 'checkbox');
    addField(box, 'Generate audio', a);
  }
  if (s.generation_input_file === true) addField(box, 'Input files', makeInput('generation_input_file', 'text', 'https://… , https://…'), 'comma-separated URLs');
  const orders = Array.isArray(model.model_provider_orders) && model.model_provider_orders.length
    ? model.model_provider_orders
    : ['fastest', (model.model_supported_provider || []).join(', ')].filter(Boolean);
  addField(box, 'Provider order', makeInput('generation_provider_order', 'text', orders.join(' | ')),
    `providers: ${(model.model_supported_provider || []).join(', ') || '—'}; or "fastest"`);
  for (const name of Array.isArray(model.specific_schema) ? model.specific_schema : []) {
    addField(box, name.replace(/^generation_/, '').replace(/_/g, ' '), makeInput(name, 'text', 'optional'));
  }
}

function onModelChange() {
  const model = currentModel();
  buildForm(model);
  scheduleEstimate();
}

/** Turns a free-text value into a number, boolean or string (specific_schema fields). */
function coerce(raw) {
  const v = raw.trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  const n = Number(v);
  return v !== '' && Number.isFinite(n) ? n : v;
}

/** The generate body from the form: only non-empty fields. */
function readForm(model) {
  const form = $('gen-form');
  const body = {};
  const value = (name) => {
    const c = form.elements.namedItem(name);
    return c && typeof c.value === 'string' ? c.value.trim() : '';
  };
  const s = (model && model.schema) || {};
  if (value('generation_prompt')) body.generation_prompt = value('generation_prompt');
  for (const name of ['generation_ratio', 'generation_output_format', 'generation_resolution', 'generation_provider_order']) {
    if (value(name)) body[name] = value(name);
  }
  if (value('generation_output_number')) body.generation_output_number = Number(value('generation_output_number'));
  if (value('generation_duration')) body.generation_duration = Number(value('generation_duration'));
  if (s.generation_generate_audio === true) {
    const a = form.elements.namedItem('generation_generate_audio');
    if (a && a.checked) body.generation_generate_audio = true;
  }
  if (value('generation_input_file')) {
    const files = value('generation_input_file').split(',').map((u) => u.trim()).filter(Boolean);
    if (files.length) body.generation_input_file = files;
  }
  for (const name of Array.isArray(model && model.specific_schema) ? model.specific_schema : []) {
    if (value(name)) body[name] = coerce(value(name));
  }
  return body;
}

// ------------------------------------------------------------------ estimate

function setEstimate(value, message) {
  const e = $('estimate');
  e.textContent = message;
  if (value === null || value === undefined) e.removeAttribute('data-value');
  else e.setAttribute('data-value', String(value));
}

function scheduleEstimate() {
  clearTimeout(state.estimateTimer);
  state.estimateTimer = setTimeout(refreshEstimate, ESTIMATE_DEBOUNCE_MS);
}

async function refreshEstimate() {
  state.estimateTimer = null;
  const model = currentModel();
  if (!model || !state.key) { setEstimate(null, '—'); return; }
  const body = readForm(model);
  const q = new URLSearchParams();
  q.set('count', String(body.generation_output_number || 1));
  if (body.generation_duration) q.set('duration', String(body.generation_duration));
  if (body.generation_resolution) q.set('resolution', body.generation_resolution);
  if (model.schema && model.schema.generation_generate_audio === true) q.set('audio', body.generation_generate_audio ? 'true' : 'false');
  const seq = ++state.estimateSeq;
  const r = await api('GET', `/v1/estimate/${model.model_identifier}?${q}`);
  if (seq !== state.estimateSeq) return; // a newer estimate is on its way
  if (!r.ok) { setEstimate(null, `unavailable (${describeError(r).msg})`); return; }
  const d = dataOf(r);
  let msg = `${fmtCredits(d.cost_total_consumed)} credits`;
  if (d.credit_balance_can_afford === false) msg += ' — not affordable';
  else if (d.credit_balance_can_afford === true) msg += ' — affordable';
  setEstimate(typeof d.cost_total_consumed === 'number' ? d.cost_total_consumed : null, msg);
}

// ------------------------------------------------------------------ generate

async function generate() {
  const model = currentModel();
  const btn = $('generate');
  if (!model || btn.disabled) return;
  const body = readForm(model);
  const route = model.model_type === 'video' ? 'video' : 'image';
  const path = `/v1/generate/${route}/${model.model_identifier}`;
  const fingerprint = `${path}\n${JSON.stringify(body)}`;
  // A retry of the very same submission after a transient failure keeps its key.
  const idempotencyKey = state.retry && state.retry.fingerprint === fingerprint ? state.retry.idempotencyKey : crypto.randomUUID();
  btn.disabled = true;
  try {
    const r = await api('POST', path, { body, idempotencyKey });
    if (!r.ok) {
      state.retry = isRetryable(r) ? { fingerprint, idempotencyKey } : null;
      showError(r);
      return;
    }
    state.retry = null;
    clearError();
    const d = dataOf(r);
    openGeneration(d.generation_id, { accepted: d, follow: true });
    refreshBalance();
  } finally {
    btn.disabled = false;
  }
}

// ------------------------------------------------------------------ current generation

/** Makes `id` the current generation and starts reading it (polling while non-terminal). */
function openGeneration(id, { accepted = null, follow = false, status = null } = {}) {
  if (!id) return;
  stopPolling();
  state.genToken += 1;
  state.gen = { id, token: state.genToken, status: status || (accepted && accepted.generation_status) || 'pending', record: null,
    accepted, follow, timer: null, inFlight: false, settleReads: 0, removed: false, outputKey: '', nodes: new Map() };
  const panel = $('generation');
  panel.setAttribute('data-generation-id', id);
  panel.setAttribute('data-status', state.gen.status);
  resetPanel(`Generation ${id}`);
  renderTimeline();
  updateButtons();
  pollNow();
}

function closeGeneration() {
  stopPolling();
  state.genToken += 1;
  state.gen = null;
  $('generation').removeAttribute('data-generation-id');
  $('generation').removeAttribute('data-status');
  resetPanel('No generation yet.');
  updateButtons();
}

/** Empties the generation panel (timeline, output, results) and sets its summary line. */
function resetPanel(summary) {
  $('timeline').replaceChildren();
  clearOutput();
  $('cancel-result').textContent = '';
  $('delete-result').textContent = '';
  $('gen-summary').textContent = summary;
}

function stopPolling() {
  if (state.gen && state.gen.timer) clearTimeout(state.gen.timer);
  if (state.gen) state.gen.timer = null;
}

/** Reads the record now unless a read is already under way. */
function pollNow() {
  const g = state.gen;
  if (!g || g.inFlight) return;
  stopPolling();
  poll(g);
}

async function poll(g) {
  g.inFlight = true;
  const r = await api('GET', `/v1/content/${encodeURIComponent(g.id)}`);
  g.inFlight = false;
  if (g.token !== state.genToken) return; // replaced meanwhile
  if (!r.ok) {
    showError(r);
    if (isRetryable(r)) schedulePoll(g, Math.max(POLL_MS, (Number(r.retryAfter) || 0) * 1000));
    return;
  }
  const record = dataOf(r);
  const wasTerminal = TERMINAL.has(g.status) && g.record !== null;
  renderRecord(g, record);
  if (!TERMINAL.has(g.status)) {
    g.follow = true;
    schedulePoll(g, POLL_MS);
  } else {
    if (g.follow && !wasTerminal) {
      g.follow = false;
      refreshBalance();
      loadHistory();
    }
    // An attempt may still settle (e.g. the provider acknowledges a cancel): read a few more times.
    if (hasOpenAttempt(record) && g.settleReads < SETTLE_READS) {
      g.settleReads += 1;
      schedulePoll(g, POLL_MS);
    }
  }
}

function hasOpenAttempt(rec) {
  return Array.isArray(rec.generation_attempts) && rec.generation_attempts.some((a) => a && (a.outcome === null || a.outcome === undefined));
}

function schedulePoll(g, delay) {
  if (g.timer) clearTimeout(g.timer);
  g.timer = setTimeout(() => { g.timer = null; if (g.token === state.genToken) poll(g); }, delay);
}

function renderRecord(g, rec) {
  g.record = rec;
  g.status = rec.generation_status || g.status;
  g.removed = g.removed || rec.generation_removed === true;
  $('generation').setAttribute('data-status', g.status);
  const parts = [`${text(rec.model_identifier)}`, `status ${g.status}`, `created ${fmtTime(rec.generation_created_at)}`];
  if (typeof rec.generation_metrics_total_time === 'number') parts.push(`total ${rec.generation_metrics_total_time.toFixed(2)} s`);
  $('gen-summary').textContent = `${g.id} — ${parts.join(' · ')}`;
  renderTimeline();
  renderOutput(g);
  updateButtons();
}

/** The <li> for one timeline event, created on first use and then updated in place. */
function timelineItem(g, key, event) {
  let li = g.nodes.get(key);
  if (!li) {
    li = el('li', `event ${event}`);
    li.setAttribute('data-event', event);
    g.nodes.set(key, li);
  }
  return li;
}

function setOptionalAttr(node, name, value) {
  if (value === null || value === undefined || value === '') node.removeAttribute(name);
  else node.setAttribute(name, String(value));
}

/** accepted, then one item per generation_attempts element, then terminal. */
function renderTimeline() {
  const g = state.gen;
  if (!g) return;
  const rec = g.record || {};
  const order = Array.isArray(rec.generation_provider_order) && rec.generation_provider_order.length
    ? rec.generation_provider_order
    : (g.accepted && Array.isArray(g.accepted.generation_provider_order) ? g.accepted.generation_provider_order : []);
  const items = [];
  const accepted = timelineItem(g, 'accepted', 'accepted');
  accepted.textContent = `accepted — provider order: ${order.length ? order.join(' → ') : '—'}`;
  items.push(accepted);
  const attempts = Array.isArray(rec.generation_attempts) ? rec.generation_attempts : [];
  attempts.forEach((a, i) => {
    const n = a && a.attempt ? a.attempt : i + 1;
    const li = timelineItem(g, `attempt:${n}`, 'attempt');
    setOptionalAttr(li, 'data-provider', a.provider);
    setOptionalAttr(li, 'data-state', a.state);
    setOptionalAttr(li, 'data-outcome', a.outcome);
    let line = `attempt ${n} on ${text(a.provider)}: ${text(a.state)}`;
    if (a.outcome && a.outcome !== a.state) line += ` [${a.outcome}]`;
    if (a.error_kind || a.error) line += ` (${[a.error_kind, a.error].filter(Boolean).join(': ')})`;
    li.textContent = line;
    items.push(li);
  });
  if (TERMINAL.has(g.status) && g.record) {
    const li = timelineItem(g, 'terminal', 'terminal');
    li.setAttribute('data-status', g.status);
    li.textContent = terminalText(rec);
    items.push(li);
  }
  $('timeline').replaceChildren(...items); // existing nodes are moved, so items update in place
}

function terminalText(rec) {
  const refunded = `credits refunded: ${rec.credits_refunded === true ? 'yes' : rec.credits_refunded === false ? 'no' : '—'}`;
  switch (rec.generation_status) {
    case 'succeeded': return `succeeded on ${text(rec.generation_provider_used)}`;
    case 'failed': return `failed: ${text(rec.generation_error_code)}: ${text(rec.generation_error)} — ${refunded}`;
    default: return `canceled — ${refunded}`;
  }
}

function isVideo(rec, url) {
  const m = state.models.get(rec.model_identifier);
  if (m && m.model_type) return m.model_type === 'video';
  return /\.(mp4|webm|mov)(\?|$)/i.test(url) || rec.generation_output_format === 'mp4';
}

/** One <img> or <video> per output file of a succeeded generation. */
function renderOutput(g) {
  const rec = g.record || {};
  const files = Array.isArray(rec.generation_output_file) ? rec.generation_output_file.filter((u) => typeof u === 'string') : [];
  const key = g.removed ? 'removed' : (g.status === 'succeeded' ? files.join('\n') : '');
  if (key === g.outputKey) return;
  g.outputKey = key;
  const out = $('output');
  clearOutput();
  if (g.removed) { out.appendChild(el('p', 'note', 'Output files were deleted.')); return; }
  files.forEach((url, i) => {
    let media;
    if (isVideo(rec, url)) {
      media = document.createElement('video');
      media.controls = true;
      media.preload = 'metadata';
    } else {
      media = document.createElement('img');
      media.alt = `output ${i + 1} of ${files.length}${rec.generation_prompt ? `: ${rec.generation_prompt}` : ''}`;
    }
    media.setAttribute('src', url);
    out.appendChild(media);
  });
}

/**
 * Empties #output. A picture or video still loading is parked, hidden, until its load ends:
 * dropping it mid-load would abort the request (a failed request in the console).
 */
function clearOutput() {
  const parking = $('media-parking');
  for (const node of [...$('output').children]) {
    const loading = node instanceof HTMLImageElement ? !node.complete
      : node instanceof HTMLMediaElement ? node.networkState === HTMLMediaElement.NETWORK_LOADING && node.readyState < 1 : false;
    if (!loading) { node.remove(); continue; }
    const done = () => node.remove();
    for (const ev of ['load', 'error', 'loadedmetadata', 'abort']) node.addEventListener(ev, done, { once: true });
    parking.appendChild(node);
  }
}

function updateButtons() {
  const g = state.gen;
  $('cancel').disabled = !g || !ACTIVE.has(g.status);
  $('delete').disabled = !g || !g.record || !TERMINAL.has(g.status) || g.removed;
}

async function cancelCurrent() {
  const g = state.gen;
  if (!g) return;
  $('cancel').disabled = true;
  const r = await api('POST', `/v1/content/generation/cancel/${encodeURIComponent(g.id)}`);
  if (g.token !== state.genToken) return;
  if (!r.ok) {
    showError(r);
  } else {
    clearError();
    const d = dataOf(r);
    $('cancel-result').textContent = `cancel: ${text(d.generation_status)}; provider cancel sent: ${d.provider_cancel_sent ? 'yes' : 'no'}; credits refunded: ${d.credits_refunded ? 'yes' : 'no'}`;
    g.follow = true;
    refreshBalance();
  }
  updateButtons();
  pollNow(); // continue to the terminal state
}

async function deleteCurrent() {
  const g = state.gen;
  if (!g) return;
  $('delete').disabled = true;
  const r = await api('DELETE', `/v1/content/${encodeURIComponent(g.id)}`);
  if (g.token !== state.genToken) return;
  if (!r.ok) {
    showError(r);
    updateButtons();
    return;
  }
  clearError();
  const n = num(dataOf(r).files_deleted);
  $('delete-result').textContent = `${n} ${n === 1 ? 'file' : 'files'} deleted`;
  g.removed = true;
  renderOutput(g);
  updateButtons();
  loadHistory();
}

// ------------------------------------------------------------------ tables

function clearRows(tableId) {
  const body = $(tableId).tBodies[0];
  if (body) body.replaceChildren();
}

/** Replaces a table's rows: attrs(item) gives data-* attributes, cells(item) the cell texts. */
function fillRows(tableId, items, attrs, cells, emptyText) {
  const body = $(tableId).tBodies[0];
  const rows = items.map((item) => {
    const tr = document.createElement('tr');
    for (const [k, v] of Object.entries(attrs(item))) setOptionalAttr(tr, k, v);
    for (const c of cells(item)) tr.appendChild(el('td', null, c));
    return tr;
  });
  if (!rows.length) {
    const tr = el('tr', 'empty');
    const td = el('td', null, emptyText);
    td.colSpan = $(tableId).tHead ? $(tableId).tHead.rows[0].cells.length : 1;
    tr.appendChild(td);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  return rows;
}

// ------------------------------------------------------------------ history

async function loadHistory() {
  if (!state.key) return;
  const r = await api('GET', `/v1/content/list?limit=${HISTORY_LIMIT}&offset=${state.history.offset}`);
  if (!r.ok) { showError(r); return false; }
  const list = Array.isArray(dataOf(r).generations) ? dataOf(r).generations : [];
  state.history.total = typeof r.doc.total === 'number' ? r.doc.total : list.length;
  if (typeof r.doc.offset === 'number') state.history.offset = r.doc.offset;
  const rows = fillRows('history', list,
    (g) => ({ 'data-generation-id': g.generation_id, 'data-status': g.generation_status }),
    (g) => [fmtTime(g.generation_created_at), text(g.model_identifier), text(g.generation_status), text(g.generation_provider_used)],
    'No generations yet.');
  for (const tr of rows) {
    const id = tr.getAttribute('data-generation-id');
    if (!id) continue;
    const open = () => { clearError(); openGeneration(id, { status: tr.getAttribute('data-status') }); };
    tr.tabIndex = 0;
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  }
  state.history.shown = list.length;
  renderPager();
  return true;
}

function renderPager() {
  const { offset, total } = state.history;
  const shown = state.history.shown || 0;
  $('history-page').textContent = shown ? `${offset + 1}–${offset + shown} of ${total}` : `0–0 of ${total}`;
  $('history-prev').disabled = offset <= 0;
  $('history-next').disabled = offset + shown >= total;
}

async function pageHistory(delta) {
  state.history.offset = Math.max(0, state.history.offset + delta * HISTORY_LIMIT);
  if (await loadHistory()) clearError();
}

// ------------------------------------------------------------------ usage

async function loadUsage() {
  if (!state.key) return false;
  const r = await api('GET', '/v1/usage?days=30');
  if (!r.ok) { showError(r); return false; }
  const d = dataOf(r);
  const totals = [`generations ${num(d.usage_total_generations)}`, `provider submissions ${num(d.usage_total_provider_submissions)}`];
  if (typeof d.usage_total_credits_used === 'number') totals.push(`credits used ${fmtCredits(d.usage_total_credits_used)}`);
  if (typeof d.usage_total_estimated_cost === 'number') totals.push(`est. provider cost ${fmtCredits(d.usage_total_estimated_cost)}`);
  $('usage-totals').textContent = totals.join(' · ');
  fillRows('usage-models', Array.isArray(d.usage_models) ? d.usage_models : [],
    (m) => ({ 'data-model': m.model_identifier }),
    (m) => [text(m.model_identifier), num(m.total_requests), num(m.success_count), num(m.failed_count), num(m.cancelled_count), fmtCredits(m.credits_used)],
    'No usage.');
  fillRows('usage-providers', Array.isArray(d.usage_providers) ? d.usage_providers : [],
    (p) => ({ 'data-provider': p.provider }),
    (p) => [text(p.provider), num(p.total_submissions), num(p.used_count), num(p.cancelled_count), num(p.discarded_count), num(p.failed_count),
      fmtCredits(p.total_estimated_cost), fmtCredits(p.wasted_estimated_cost)],
    'No submissions.');
  return true;
}

// ------------------------------------------------------------------ health

async function loadHealth() {
  if (!state.key) return false;
  const r = await api('GET', '/v1/health/inference/providers');
  if (!r.ok) { showError(r); return false; }
  const d = dataOf(r);
  const providers = Array.isArray(d.providers) ? d.providers.filter((p) => p && p.provider) : [];
  $('health-summary').textContent = `${d.healthy === false ? 'unhealthy' : 'healthy'} · ${num(d.providers_total) || providers.length} providers`;
  fillRows('health-providers', providers,
    (p) => ({ 'data-provider': p.provider, 'data-status': p.status }),
    (p) => {
      const w = p.window || {};
      return [p.provider, text(p.status), text(p.breaker_state), fmtPercent(p.failure_rate),
        `${num(w.total_attempts)} (${num(w.successes)}/${num(w.failures)})`, fmtMs(w.latency_p50_ms), fmtMs(w.latency_p95_ms)];
    },
    'No providers.');
  drawChart(providers);
  return true;
}

function clearChart() {
  const chart = $('health-chart');
  for (const node of [...chart.childNodes]) if (node.nodeName !== 'title') node.remove();
}

/** One small panel per provider: success/failure bars per bucket and a p95 latency polyline. */
function drawChart(providers) {
  const chart = $('health-chart');
  clearChart();
  const W = 600, PANEL = 90, GAP = 14, PAD = 4, LABEL = 16;
  const height = Math.max(40, providers.length * (PANEL + GAP));
  chart.setAttribute('viewBox', `0 0 ${W} ${height}`);
  chart.setAttribute('height', String(height));
  if (!providers.length) {
    chart.appendChild(svg('text', { x: 8, y: 24, class: 'chart-label' })).textContent = 'no provider data';
    return;
  }
  providers.forEach((p, index) => {
    const g = svg('g', { transform: `translate(0 ${index * (PANEL + GAP)})`, class: 'chart-panel' });
    const series = Array.isArray(p.window && p.window.series) ? p.window.series : [];
    svgTitle(g, `${p.provider}: ${series.length} buckets`);
    g.appendChild(svg('rect', { x: 0, y: 0, width: W, height: PANEL, fill: '#f7f8fa', class: 'chart-bg' }));
    g.appendChild(svg('text', { x: PAD, y: 12, class: 'chart-label', fill: '#333' })).textContent = `${p.provider} (${text(p.status)})`;
    const top = LABEL, plotH = PANEL - LABEL - PAD, slot = (W - 2 * PAD) / series.length;
    const maxCount = Math.max(1, ...series.map((b) => Math.max(num(b.successes), num(b.failures))));
    const maxLat = Math.max(1, ...series.map((b) => num(b.latency_p95_ms)));
    const barW = Math.max(1, slot / 2 - 1);
    const points = [];
    series.forEach((b, i) => {
      const x0 = PAD + i * slot;
      const when = fmtTime(b.start);
      for (const [kind, value, dx, fill] of [['successes', num(b.successes), 0, '#3a9d5d'], ['failures', num(b.failures), barW, '#d0453a']]) {
        const h = (value / maxCount) * plotH;
        const bar = svg('rect', { x: (x0 + dx).toFixed(1), y: (top + plotH - h).toFixed(1), width: barW.toFixed(1), height: h.toFixed(1), fill, class: `bar ${kind}` });
        svgTitle(bar, `${p.provider} ${when}: ${value} ${kind}`);
        g.appendChild(bar);
      }
      if (typeof b.latency_p95_ms === 'number') points.push(`${(x0 + slot / 2).toFixed(1)},${(top + plotH - (b.latency_p95_ms / maxLat) * plotH).toFixed(1)}`);
    });
    if (points.length) {
      const line = svg('polyline', { points: points.join(' '), fill: 'none', stroke: '#3b5bdb', 'stroke-width': 2, class: 'latency' });
      svgTitle(line, `${p.provider} p95 latency (max ${Math.round(maxLat)} ms)`);
      g.appendChild(line);
    }
    chart.appendChild(g);
  });
}

// ------------------------------------------------------------------ wiring

/** Runs a user-initiated refresh and clears the error banner when it succeeds. */
async function userRefresh(load) {
  if (await load()) clearError();
}

function wire() {
  $('key-form').addEventListener('submit', (e) => { e.preventDefault(); saveKey(); });
  $('key-save').addEventListener('click', saveKey);
  $('key-forget').addEventListener('click', forgetKey);
  $('model-select').addEventListener('change', onModelChange);
  const form = $('gen-form');
  form.addEventListener('submit', (e) => { e.preventDefault(); generate(); });
  form.addEventListener('input', (e) => {
    if (e.target && e.target.name === 'generation_output_number') scheduleEstimate();
  });
  form.addEventListener('change', (e) => {
    const name = e.target && e.target.name;
    if (['generation_duration', 'generation_resolution', 'generation_generate_audio', 'generation_output_number'].includes(name)) scheduleEstimate();
  });
  $('generate').addEventListener('click', generate);
  $('cancel').addEventListener('click', cancelCurrent);
  $('delete').addEventListener('click', deleteCurrent);
  $('history-prev').addEventListener('click', () => pageHistory(-1));
  $('history-next').addEventListener('click', () => pageHistory(1));
  $('history-refresh').addEventListener('click', () => userRefresh(loadHistory));
  $('usage-refresh').addEventListener('click', () => userRefresh(loadUsage));
  $('health-refresh').addEventListener('click', () => userRefresh(loadHealth));
}

function start() {
  wire();
  let saved = '';
  try { saved = sessionStorage.getItem(KEY_STORAGE) || ''; } catch (_) { /* storage disabled */ }
  if (saved) {
    state.key = saved;
    connect(false);
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
