// playground_test.js — the browser playground in a real browser: Debian's
// chromium driven by puppeteer-core.
//
// Starts the provider emulators and babysea-server (SQLite in a temp dir, BFL
// configured on a dead port so a model whose stack starts with BFL fails
// over), creates an account, a key and credits with babysea-admin, opens
// /playground/ and, through the page only:
//   - pastes the key; the page's account and balance agree with the API;
//   - generates bfl/flux-dev (BFL is down: fails over to Replicate) and
//     bfl/flux-schnell (succeeds at once); the timeline, output and status the
//     page shows agree with GET /v1/content/{id};
//   - generates on a provider that keeps the job queued and cancels it: the
//     page shows canceled and the refund, the balance agrees with the API;
//   - deletes the files of one generation; history, usage and provider health
//     agree with the API; a refused request shows its BSE code and message.
// The page's answers carry the CSP and the other security headers. Any
// console error, page error, CSP violation or failed request the test did
// not provoke fails the test.
//
// Environment: BABYSEA_SERVER_BIN, BABYSEA_ADMIN_BIN, BABYSEA_EMULATORS_BIN,
// BABYSEA_PUPPETEER (the puppeteer-core package directory), BABYSEA_CHROMIUM
// (default /usr/bin/chromium), BABYSEA_PLAYGROUND_DIR (optional: serve the
// page from this directory, server.playground_dir, not the built-in copies).
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const puppeteer = require(process.env.BABYSEA_PUPPETEER);
const CHROMIUM = process.env.BABYSEA_CHROMIUM || '/usr/bin/chromium';
const ACCOUNT = 'acct_playground';
const procs = [];
let failures = 0;

function check(ok, what) {
  console.log((ok ? '  ok    ' : '  FAIL  ') + what);
  if (!ok) failures++;
  return ok;
}

// Starts `bin --config <file>` and resolves with the JSON line it prints once ready.
function start(bin, config, dir, name) {
  const file = path.join(dir, name + '.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const p = spawn(bin, ['--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let stderr = '';
  p.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-32768); });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: p.stdout });
    lines.once('line', (line) => resolve({ ready: JSON.parse(line), file }));
    p.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${stderr}`)));
  });
}

function admin(configFile, ...args) {
  const out = execFileSync(process.env.BABYSEA_ADMIN_BIN, ['--config', configFile, ...args], { encoding: 'utf8' });
  return JSON.parse(out).data;
}

function closedPort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'babysea-playground-'));
  let browser;
  try {
    // Replicate answers within a second; fal keeps its jobs queued for a
    // minute (the cancel); BFL is a closed port (the failover).
    const { ready: emu } = await start(process.env.BABYSEA_EMULATORS_BIN, {
      replicate: { api_key: 'r8_play', queued_ms: 200, running_ms: 600 },
      fal: { api_key: 'fal_play', queued_ms: 60000, running_ms: 1000 },
      openai: { api_key: 'sk-play', latency_ms: 200 },
    }, tmp, 'emulators');
    const serverConfig = {
      region: 'us',
      api_key_pepper: 'playground-pepper-0123456789abcdef0123456789',
      callback_base_url: 'http://127.0.0.1:{port}/v1/callbacks',
      database: { engine: 'sqlite', path: path.join(tmp, 'babysea.db') },
      assets: { directory: path.join(tmp, 'assets'), public_base_url: 'http://127.0.0.1:{port}/assets' },
      providers: {
        replicate: { base_url: emu.replicate, api_token: 'r8_play', webhook_secrets: [emu.replicate_webhook_secret] },
        fal: { base_url: emu.fal, api_key: 'fal_play', jwks_url: emu.fal_jwks_url, user_id: emu.fal_user_id },
        openai: { base_url: emu.openai, api_key: 'sk-play' },
        bfl: { base_url: `http://127.0.0.1:${await closedPort()}`, api_key: 'bfl_play' },
      },
      net_guard: { allow_loopback: true, allow_any_port: true },
      engine: { threads: 4, tick_ms: 100, retry_delay_ms: 300 },
      server: { host: '127.0.0.1', port: 0, create_wait_ms: 3000 },
    };
    // The files from a directory instead of the built-in copies.
    if (process.env.BABYSEA_PLAYGROUND_DIR) serverConfig.server.playground_dir = process.env.BABYSEA_PLAYGROUND_DIR;
    const { ready: srv, file: serverFile } = await start(process.env.BABYSEA_SERVER_BIN, serverConfig, tmp, 'server');
    const base = srv.base_url;
    serverConfig.server.port = srv.port;  // the admin CLI reads the same file
    fs.writeFileSync(serverFile, JSON.stringify(serverConfig, null, 2));
    admin(serverFile, 'account-create', ACCOUNT);
    const key = admin(serverFile, 'key-create', ACCOUNT, '--name', 'playground').key;
    admin(serverFile, 'grant', ACCOUNT, '5', '--key', 'playground-grant');
    console.log(`server ${base}, account ${ACCOUNT}`);

    const api = async (method, p) => {
      const r = await fetch(base + p, { method, headers: { Authorization: `Bearer ${key}` } });
      return { status: r.status, doc: await r.json() };
    };

    // ---- the page's own answers: security headers, and no playground without its files
    const head = await fetch(base + '/playground/');
    const csp = head.headers.get('content-security-policy') || '';
    check(head.status === 200 && (head.headers.get('content-type') || '').startsWith('text/html'),
      'GET /playground/ serves the page');
    // The browser enforces the policy it is given: the page under test must be given the strict one.
    // (Names, types, the redirect and refused paths: server_test.)
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'",
      "require-trusted-types-for 'script'", "connect-src 'self'"])
      check(csp.includes(d), `CSP has ${d}`);
    check(!csp.includes('unsafe'), 'the CSP allows nothing unsafe');

    // ---- the browser
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    });
    const page = await browser.newPage();
    const problems = [];
    const expectedFailures = new Set();  // URLs the test makes fail on purpose
    page.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      const url = (m.location() && m.location().url) || '';
      if (m.type() === 'error' && m.text().startsWith('Failed to load resource') && [...expectedFailures].some((u) => url.startsWith(u))) return;
      if (m.type() === 'error' || /Content.Security.Policy|Trusted Type/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()} (${url})`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    await page.evaluateOnNewDocument(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__violations = window.__violations || [];
        window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    const attr = (sel, name) => page.$eval(sel, (el, n) => el.getAttribute(n), name);
    const text = (sel) => page.$eval(sel, (el) => el.textContent);
    const waitAttr = (sel, name, value, timeout = 30000) => page.waitForFunction(
      (s, n, v) => { const el = document.querySelector(s); return el && el.getAttribute(n) === v; },
      { timeout, polling: 100 }, sel, name, value);

    await page.goto(base + '/playground', { waitUntil: 'networkidle0' });
    check(page.url() === base + '/playground/', 'the browser landed on /playground/');

    // ---- the key
    await page.type('#key-input', key);
    await page.click('#key-save');
    await waitAttr('#key-status', 'data-account', ACCOUNT).catch(() => {});
    check(await attr('#key-status', 'data-account') === ACCOUNT, `key accepted: the page says ${(await text('#key-status')).trim()}`);
    check(!page.url().includes(key) && !(await page.content()).includes(key), 'the key is in no URL and not in the DOM');
    await page.waitForFunction(() => document.querySelector('#balance').getAttribute('data-value') !== null, { polling: 100 });
    const balance = async () => (await api('GET', '/v1/user/billing')).doc.data.billing_credit_balance;
    const b0 = await balance();
    check(await attr('#balance', 'data-value') === String(b0), `balance ${await attr('#balance', 'data-value')} = API billing_credit_balance ${b0}`);

    // ---- models and the generated form
    const models = (await api('GET', '/v1/library/models')).doc.data;
    const modelList = models.models || models;
    const options = await page.$$eval('#model-select option', (os) => os.map((o) => o.value).filter(Boolean));
    check(options.length === modelList.length, `the model list has all ${modelList.length} models`);

    // Fills the form for `model` and clicks Generate; resolves with the generation id the page follows.
    const generate = async (model, prompt, order) => {
      const before = await attr('#generation', 'data-generation-id');
      await page.select('#model-select', model);
      await page.waitForSelector('#gen-form textarea[name=generation_prompt]');
      const spec = modelList.find((m) => m.model_identifier === model);
      for (const field of ['generation_ratio', 'generation_output_format']) {
        const choices = await page.$$eval(`#gen-form select[name=${field}] option`, (os) => os.map((o) => o.value).filter(Boolean));
        check(JSON.stringify(choices) === JSON.stringify(spec.schema[field]), `${model}: ${field} choices are the schema's`);
      }
      await page.$eval('#gen-form textarea[name=generation_prompt]', (el) => { el.value = ''; });
      await page.type('#gen-form textarea[name=generation_prompt]', prompt);
      await page.$eval('#gen-form input[name=generation_provider_order]', (el) => { el.value = ''; });
      if (order) await page.type('#gen-form input[name=generation_provider_order]', order);
      await page.waitForFunction(() => document.querySelector('#estimate').getAttribute('data-value') !== null, { polling: 100 });
      const est = (await api('GET', `/v1/estimate/${model}`)).doc.data;
      await page.waitForFunction((v) => document.querySelector('#estimate').getAttribute('data-value') === v, { polling: 100, timeout: 5000 }, String(est.cost_total_consumed))
        .then(() => check(true, `${model}: estimate ${est.cost_total_consumed} = API`), () => check(false, `${model}: estimate on the page = API ${est.cost_total_consumed}`));
      await page.click('#generate');
      await page.waitForFunction((b) => { const id = document.querySelector('#generation').getAttribute('data-generation-id'); return id && id !== b; },
        { polling: 100, timeout: 15000 }, before);
      return attr('#generation', 'data-generation-id');
    };
    const terminal = (id, status, timeout = 60000) => page.waitForFunction(
      (i, s) => { const g = document.querySelector('#generation'); return g.getAttribute('data-generation-id') === i && g.getAttribute('data-status') === s; },
      { polling: 100, timeout }, id, status);
    // What the timeline shows, as the test reads it.
    const timeline = () => page.$$eval('#timeline li', (lis) => lis.map((li) => ({
      event: li.getAttribute('data-event'), provider: li.getAttribute('data-provider'),
      state: li.getAttribute('data-state'), status: li.getAttribute('data-status'), text: li.textContent })));
    const compareTimeline = async (label, g) => {
      const t = await timeline();
      check(t.length > 0 && t[0].event === 'accepted', `${label}: the timeline starts with accepted`);
      const attempts = t.filter((e) => e.event === 'attempt');
      check(JSON.stringify(attempts.map((a) => [a.provider, a.state])) ===
        JSON.stringify(g.generation_attempts.map((a) => [a.provider, a.state])),
      `${label}: attempts on the page = API (${g.generation_attempts.map((a) => a.provider + ':' + a.state).join(', ')})`);
      const last = t[t.length - 1];
      check(last.event === 'terminal' && last.status === g.generation_status, `${label}: the timeline ends ${g.generation_status}`);
      return t;
    };

    // ---- 1. fails over: BFL is down, Replicate serves
    const failover = await generate('bfl/flux-dev', 'a lighthouse at dawn');
    await terminal(failover, 'succeeded');
    const g1 = (await api('GET', `/v1/content/${failover}`)).doc.data;
    check(g1.generation_status === 'succeeded' && g1.generation_provider_used === 'replicate', `failover: API says succeeded on ${g1.generation_provider_used}`);
    check(g1.generation_attempts.length === 2 && g1.generation_attempts[0].provider === 'bfl' && g1.generation_attempts[0].state === 'failed',
      'failover: the API records the failed BFL attempt first');
    const t1 = await compareTimeline('failover', g1);
    check(t1[t1.length - 1].text.includes('replicate'), 'failover: the terminal line names the provider used');
    const imgs = await page.$$eval('#output img', (is) => is.map((i) => ({ src: i.getAttribute('src'), w: i.naturalWidth })));
    // Signed links differ per read (expiry, signature): compare the files' paths.
    const filePath = (u) => new URL(u, base).pathname;
    check(JSON.stringify(imgs.map((i) => filePath(i.src))) === JSON.stringify(g1.generation_output_file.map(filePath)),
      `failover: the page shows the API output file (${g1.generation_output_file.map(filePath).join(', ')})`);
    await page.waitForFunction(() => [...document.querySelectorAll('#output img')].every((i) => i.complete && i.naturalWidth > 0), { polling: 100, timeout: 10000 })
      .then(() => check(true, 'failover: the image loaded in the page'), () => check(false, 'failover: the image loaded in the page'));
    await page.waitForFunction((v) => document.querySelector('#balance').getAttribute('data-value') === v, { polling: 100, timeout: 10000 },
      String(5 - 0.025)).then(() => check(true, 'balance after the failover: 4.975'), async () => check(false, `balance after the failover: page ${await attr('#balance', 'data-value')}`));

    // ---- 2. succeeds on the first provider
    const direct = await generate('bfl/flux-schnell', 'a red kite over the dunes');
    await terminal(direct, 'succeeded');
    const g2 = (await api('GET', `/v1/content/${direct}`)).doc.data;
    check(g2.generation_attempts.length === 1 && g2.generation_provider_used === 'replicate', 'direct: one attempt, on replicate');
    await compareTimeline('direct', g2);

    // ---- 3. cancel while fal keeps the job queued
    const queued = await generate('bfl/flux-schnell', 'a slow boat', 'fal');
    await page.waitForFunction(() => !document.querySelector('#cancel').disabled, { polling: 100, timeout: 15000 });
    await page.click('#cancel');
    await terminal(queued, 'canceled');
    const g3 = (await api('GET', `/v1/content/${queued}`)).doc.data;
    check(g3.generation_status === 'canceled' && g3.credits_refunded === true, 'cancel: API says canceled and refunded');
    const t3 = await compareTimeline('cancel', g3);
    check(/refund/i.test(t3[t3.length - 1].text), 'cancel: the page shows the refund');
    const afterCancel = await balance();
    await page.waitForFunction((v) => document.querySelector('#balance').getAttribute('data-value') === v, { polling: 100, timeout: 10000 }, String(afterCancel))
      .then(() => check(true, `balance after the cancel = API (${afterCancel})`), async () => check(false, `balance after the cancel: page ${await attr('#balance', 'data-value')}, API ${afterCancel}`));

    // ---- 4. history: open the failover generation from its row, delete its files
    await page.click('#history-refresh');
    const list = await api('GET', '/v1/content/list?limit=10&offset=0');
    const listed = list.doc.data.generations;
    await page.waitForFunction((n) => document.querySelectorAll('#history tbody tr[data-generation-id]').length === n, { polling: 100, timeout: 10000 }, listed.length);
    const rows = await page.$$eval('#history tbody tr[data-generation-id]', (rs) => rs.map((r) => [r.getAttribute('data-generation-id'), r.getAttribute('data-status')]));
    check(JSON.stringify(rows) === JSON.stringify(listed.map((g) => [g.generation_id, g.generation_status])), `history rows = API list (${rows.length} of ${list.doc.total})`);
    await page.click(`#history tbody tr[data-generation-id="${failover}"]`);
    await terminal(failover, 'succeeded', 10000);
    await page.waitForFunction(() => !document.querySelector('#delete').disabled, { polling: 100, timeout: 10000 });
    await page.click('#delete');
    await page.waitForFunction(() => /\d/.test(document.querySelector('#delete-result').textContent), { polling: 100, timeout: 10000 });
    const g1after = (await api('GET', `/v1/content/${failover}`)).doc.data;
    check(g1after.generation_removed === true && g1after.generation_output_file === null, 'delete: the API says the files are removed');
    check((await text('#delete-result')).includes('1'), `delete: the page says ${(await text('#delete-result')).trim()}`);

    // ---- 5. usage and provider health = API
    await page.click('#usage-refresh');
    const usage = (await api('GET', '/v1/usage?days=30')).doc.data;
    await page.waitForFunction((n) => document.querySelectorAll('#usage-providers tbody tr[data-provider]').length === n, { polling: 100, timeout: 10000 }, usage.usage_providers.length)
      .catch(() => {});
    const uProviders = await page.$$eval('#usage-providers tbody tr[data-provider]', (rs) => rs.map((r) => r.getAttribute('data-provider')).sort());
    check(JSON.stringify(uProviders) === JSON.stringify(usage.usage_providers.map((p) => p.provider).sort()), `usage providers = API (${uProviders.join(', ')})`);
    const uModels = await page.$$eval('#usage-models tbody tr[data-model]', (rs) => rs.map((r) => r.getAttribute('data-model')).sort());
    check(JSON.stringify(uModels) === JSON.stringify(usage.usage_models.map((m) => m.model_identifier).sort()), `usage models = API (${uModels.join(', ')})`);
    await page.click('#health-refresh');
    const health = (await api('GET', '/v1/health/inference/providers')).doc.data;
    const healthRows = JSON.stringify(health.providers.map((p) => [p.provider, p.status]).sort());
    const pageHealthRows = () => JSON.stringify([...document.querySelectorAll('#health-providers tbody tr[data-provider]')]
      .map((r) => [r.getAttribute('data-provider'), r.getAttribute('data-status')]).sort());
    await page.waitForFunction(`(${pageHealthRows})() === ${JSON.stringify(healthRows)}`, { polling: 100, timeout: 10000 }).catch(() => {});
    const hRows = await page.$$eval('#health-providers tbody tr[data-provider]', (rs) => rs.map((r) => [r.getAttribute('data-provider'), r.getAttribute('data-status')]).sort());
    check(JSON.stringify(hRows) === healthRows, `health rows = API (${hRows.map((r) => r.join(':')).join(', ')})`);
    const replicate = health.providers.find((p) => p.provider === 'replicate');
    check(replicate && replicate.window.successes >= 2 && replicate.window.latency_p95_ms > 0 && replicate.window.series.length === 12,
      'the API health window has successes, a p95 latency and 12 slices for replicate');
    check(await page.$$eval('#health-chart *', (els) => els.length) > 5, 'the health chart is drawn');

    // ---- 6. a refused request shows its BSE code and message
    expectedFailures.add(`${base}/v1/generate/`);
    await page.select('#model-select', 'bfl/flux-schnell');
    await page.waitForSelector('#gen-form input[name=generation_provider_order]');
    await page.type('#gen-form textarea[name=generation_prompt]', 'x');
    await page.type('#gen-form input[name=generation_provider_order]', 'nosuchprovider');
    const wrong = await fetch(`${base}/v1/generate/image/bfl/flux-schnell`, {
      method: 'POST', headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ generation_prompt: 'x', generation_provider_order: 'nosuchprovider' }) });
    const wrongDoc = await wrong.json();
    await page.click('#generate');
    await page.waitForFunction(() => document.querySelector('#error').getAttribute('data-code'), { polling: 100, timeout: 10000 });
    check(await attr('#error', 'data-code') === wrongDoc.error.code && (await text('#error')).includes(wrongDoc.error.message),
      `a refused generate shows ${wrongDoc.error.code}: ${wrongDoc.error.message}`);

    // ---- 7. nothing breaks on a 429 or a 5xx: the page shows the code and keeps working
    await page.setRequestInterception(true);
    let injected = null;  // {path, status, code, retryAfter}: the next request to `path` gets this answer
    page.on('request', (r) => {
      if (!injected || !r.url().startsWith(`${base}${injected.path}`)) return r.continue();
      const { status, code, retryAfter } = injected;
      injected = null;
      expectedFailures.add(r.url());
      const headers = { 'Content-Type': 'application/json' };
      if (retryAfter) headers['Retry-After'] = String(retryAfter);
      r.respond({ status, headers, body: JSON.stringify({ status: 'error', request_id: 'req_injected', message: 'injected',
        timestamp: new Date().toISOString(), error: { code, type: status === 429 ? 'rate_limited' : 'internal_error',
          message: `injected ${status}`, retryable: true } }) });
    });
    for (const [status, code, button, path] of [[503, 'BSE5000', '#health-refresh', '/v1/health/inference/providers'],
      [429, 'BSE1003', '#usage-refresh', '/v1/usage']]) {
      injected = { path, status, code, retryAfter: status === 429 ? 7 : 0 };
      await page.click(button);
      await page.waitForFunction((c) => document.querySelector('#error').getAttribute('data-code') === c, { polling: 100, timeout: 10000 }, code)
        .then(() => check(true, `an injected ${status} shows ${code}`), () => check(false, `an injected ${status} shows ${code}`));
      if (status === 429) check(/7/.test(await text('#error')), `the 429 shows its Retry-After (${(await text('#error')).trim()})`);
    }
    const recovered = await generate('bfl/flux-schnell', 'after the storm');
    await terminal(recovered, 'succeeded');
    check(await attr('#error', 'data-code') === null, 'after the errors the page generates again and clears the error');

    const violations = await page.evaluate(() => window.__violations || []);
    check(violations.length === 0, `no CSP violation${violations.length ? ': ' + violations.join('; ') : ''}`);
    check(problems.length === 0, `no console error, page error or failed request${problems.length ? ':\n    ' + problems.join('\n    ') : ''}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode !== null ? null : new Promise((r) => p.once('exit', r)))));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(failures ? `FAIL: ${failures} check(s) failed` : 'playground: every check passed');
  process.exit(failures ? 1 : 0);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  for (const p of procs) p.kill('SIGKILL');
  process.exit(1);
});
