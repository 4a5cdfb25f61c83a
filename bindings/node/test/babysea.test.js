'use strict';
// The Node binding against the provider emulators (babysea-emulators run as a
// child process; BABYSEA_EMULATORS_BIN names it, BABYSEA_LIBRARY the library).

const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

// The package under test: this checkout, or an installed copy (pack_test.sh).
const babysea = require(process.env.BABYSEA_NODE_PACKAGE || '..');

const MODEL = 'bfl/flux-schnell';
const PROMPT = { generation_prompt: 'a lighthouse at dawn' };
const STRIPE_SECRET = 'whsec_nodetest';

function startEmulators(tmp) {
  const bin = process.env.BABYSEA_EMULATORS_BIN;
  if (!bin) throw new Error('BABYSEA_EMULATORS_BIN is not set');
  const config = path.join(tmp, 'emulators.json');
  fs.writeFileSync(config, JSON.stringify({
    replicate: { api_key: 'r8_nodetest', queued_ms: 100, running_ms: 1500 },
    fal: { api_key: 'fal_nodetest', queued_ms: 100, running_ms: 1500 },
  }));
  const child = spawn(bin, ['--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.once('line', (line) => {
      try {
        resolve({ child, urls: JSON.parse(line) });
      } catch (e) {
        child.kill();
        reject(new Error(`babysea-emulators printed ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`babysea-emulators exited with ${code}`)));
  });
}

function engineConfig(tmp, urls) {
  return {
    region: 'us',
    api_key_pepper: 'node-test-pepper-0123456789abcdef012345',
    database: { engine: 'sqlite', path: path.join(tmp, 'babysea.db'), synchronous: 'normal' },
    assets: { directory: path.join(tmp, 'assets'), public_base_url: 'https://app.us.babysea.ai/files' },
    providers: {
      replicate: { base_url: urls.replicate, api_token: 'r8_nodetest', webhook_secrets: [urls.replicate_webhook_secret] },
      fal: { base_url: urls.fal, api_key: 'fal_nodetest', jwks_url: urls.fal_jwks_url, user_id: urls.fal_user_id },
    },
    stripe: { endpoint_secrets: [STRIPE_SECRET], packs: [{ price_id: 'price_10', credits: '10' }] },
    net_guard: { allow_loopback: true, allow_any_port: true, allow_private: true },
    engine: { threads: 2, tick_ms: 50, retry_delay_ms: 200 },
    webhooks: { enabled: false },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(engine, key, id, status, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const g = await engine.get(key, id);
    if (g.generation_status === status) return g;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${status}: ${JSON.stringify(g)}`);
    await sleep(100);
  }
}

test('version and error names', () => {
  assert.match(babysea.version(), /^\d+\.\d+\.\d+$/);
  const [ma, mi, pa] = babysea.version().split('.').map(Number);
  assert.equal(babysea.versionNumber(), ma * 10000 + mi * 100 + pa);
  assert.equal(babysea.errorName(3), 'insufficient_credits');
  assert.equal(babysea.errorName(999), 'unknown');
  assert.ok(new babysea.InsufficientCredits('x') instanceof babysea.BabyseaError);
  assert.ok(new babysea.EngineClosed('x') instanceof babysea.Unavailable);
});

test('a bad configuration is an InvalidRequest with issues', async () => {
  const bad = {
    api_key_pepper: '0123456789abcdef0123456789abcdef', database: { engine: 'memory' },
    assets: { directory: '/tmp/babysea-node-unused', public_base_url: 'https://a.b/f' }, bogus_key: 1,
  };
  await assert.rejects(babysea.Engine.open(bad), (e) => {
    assert.ok(e instanceof babysea.InvalidRequest, String(e));
    assert.equal(e.code, 1);
    assert.ok(e.issues.some((i) => `${i.field} ${i.message}`.includes('bogus_key')), JSON.stringify(e.issues));
    return true;
  });
  await assert.rejects(babysea.Engine.open('not json'), babysea.InvalidRequest);
});

function postgresConfig(tmp, database) {
  return {
    api_key_pepper: 'node-test-pepper-0123456789abcdef012345',
    database: { engine: 'postgres', ...database },
    assets: { directory: path.join(tmp, 'assets'), public_base_url: 'https://a.example/f' },
    engine: { threads: 1, start_workers: false },
    webhooks: { enabled: false },
  };
}

// The error names `field` first and never shows the password.
function namesField(e, field) {
  assert.ok(e.issues.length > 0, String(e));
  assert.equal(e.issues[0].field, field, JSON.stringify(e.issues));
  assert.ok(e.message.includes(field), e.message);
  assert.ok(!`${e} ${e.message} ${JSON.stringify(e.issues)}`.includes('s3cret-pw'), e.message);
  return true;
}

describe('postgres configuration', () => {
  let tmp;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'babysea-node-pg-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('an unreachable server is Unavailable naming database.url', async () => {
    for (const url of ['postgresql://babysea:s3cret-pw@127.0.0.1:1/x?connect_timeout=2',
      'host=127.0.0.1 port=1 dbname=x password=s3cret-pw connect_timeout=2']) {
      await assert.rejects(babysea.Engine.open(postgresConfig(tmp, { url })), (e) => {
        assert.ok(e instanceof babysea.Unavailable, String(e));
        assert.equal(e.code, 17);
        return namesField(e, 'database.url');
      });
    }
  });

  test('bad keys are InvalidRequest naming them', async () => {
    const url = 'postgresql://babysea@127.0.0.1:1/x';
    const cases = [
      [{ url: 'postgresql://u:s3cret-pw@[::1/x' }, 'database.url'],
      [{ url: 'host=h s3cret-pw' }, 'database.url'],
      [{}, 'database.url'],
      [{ url, schema: 'no-dashes' }, 'database.schema'],
      [{ url, pool_size: 0 }, 'database.pool_size'],
      [{ url, pool_size: 257 }, 'database.pool_size'],
      [{ url, synchronous_commit: 'yes' }, 'database.synchronous_commit'],
      [{ url, max_retries: -1 }, 'database.max_retries'],
      [{ url, path: 'x.db' }, 'database.path'],
    ];
    for (const [database, field] of cases) {
      await assert.rejects(babysea.Engine.open(postgresConfig(tmp, database)), (e) => {
        assert.ok(e instanceof babysea.InvalidRequest, `${field}: ${e}`);
        return namesField(e, field);
      });
    }
  });

  // Runs where BABYSEA_TEST_PG names a server (capi_node_test_postgres).
  test('an engine on PostgreSQL grants, reads the balance and reopens', { skip: !process.env.BABYSEA_TEST_PG }, async () => {
    const config = postgresConfig(tmp, { url: process.env.BABYSEA_TEST_PG, schema: `node_${process.pid}`, pool_size: 2 });
    let engine = await babysea.Engine.open(config);
    let key;
    try {
      key = (await engine.issueApiKey('acct_pg')).key;
      await engine.grantCredits('acct_pg', '2.5', 'node-pg-grant');
      await engine.grantCredits('acct_pg', '2.5', 'node-pg-grant'); // replayed
      assert.equal((await engine.balance('acct_pg')).available, '2.5');
    } finally {
      await engine.close();
    }
    engine = await babysea.Engine.open(JSON.stringify(config));
    try {
      assert.equal((await engine.balance('acct_pg')).available, '2.5');
      assert.equal((await engine.authenticate(key)).account, 'acct_pg');
      assert.equal((await engine.audit()).clean, true);
    } finally {
      await engine.close();
    }
  });
});

describe('lifecycle against the emulators', () => {
  let tmp;
  let emu;
  let engine;
  let key;
  let keyId;
  const events = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'babysea-node-'));
    emu = await startEmulators(tmp);
    engine = await babysea.Engine.open(engineConfig(tmp, emu.urls));
    engine.on('event', (e) => events.push(e));
    await engine.createAccount('acct_node');
    const issued = await engine.issueApiKey('acct_node', { scopes: 'full_access', name: 'node test' });
    key = issued.key;
    keyId = issued.id;
    await engine.grantCredits('acct_node', '5', 'node-grant-1');
  });

  after(async () => {
    if (engine) {
      await engine.close();
      await engine.close(); // idempotent
    }
    if (emu) {
      emu.child.kill('SIGTERM');
      await new Promise((r) => (emu.child.exitCode !== null ? r() : emu.child.once('exit', r)));
    }
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('identity, keys and balance', async () => {
    const who = await engine.authenticate(key);
    assert.equal(who.account, 'acct_node');
    assert.ok(who.scopes.includes('generation:write'));
    assert.equal((await engine.balance('acct_node')).available, '5');
    assert.ok((await engine.listApiKeys('acct_node')).some((k) => k.id === keyId));
    await assert.rejects(engine.authenticate('bye_nope'), babysea.Unauthenticated);
  });

  test('any operation by name', async () => {
    const doc = await engine.call(key, 'status');
    assert.equal(doc.status, 'success');
    assert.equal(doc.data.account_id, 'acct_node');
    const models = (await engine.call(key, 'library.models')).data;
    assert.equal(models.models_total, models.models.length);
    const est = (await engine.call(key, 'estimate', { path_param: MODEL, query: { count: 2 } })).data;
    assert.equal(est.assets_count, 2);
    await assert.rejects(engine.call(key, 'content.list', { query: { limit: 'abc' } }), (e) => {
      assert.ok(e instanceof babysea.InvalidRequest);
      assert.equal(e.issues[0].field, 'limit');
      return true;
    });
    await assert.rejects(engine.call(key, 'no.such.operation'), babysea.InvalidRequest);
  });

  test('submit, replay, succeed, list, delete, completed event', async () => {
    const r = await engine.submit(key, MODEL, PROMPT, { idempotencyKey: 'node-idem-1', type: 'image' });
    assert.equal(r.replayed, false);
    const id = r.data.generation_id;
    const again = await engine.submit(key, MODEL, PROMPT, { idempotencyKey: 'node-idem-1' });
    assert.equal(again.replayed, true);
    assert.equal(again.data.generation_id, id);
    await assert.rejects(engine.submit(key, MODEL, { generation_prompt: 'other' }, { idempotencyKey: 'node-idem-1' }),
      babysea.IdempotencyConflict);
    const g = await waitFor(engine, key, id, 'succeeded');
    assert.ok(g.generation_output_file.length > 0);
    const page = await engine.list(key, { limit: 10 });
    assert.ok(page.generations.some((x) => x.generation_id === id));
    const d = await engine.delete(key, id);
    assert.equal(d.generation_id, id);
    assert.equal((await engine.get(key, id)).generation_removed, true);
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline && !events.some((e) => e.type === 'generation.completed' && e.generation_id === id)) {
      await sleep(50);
    }
    assert.ok(events.some((e) => e.type === 'generation.completed' && e.generation_id === id), JSON.stringify(events));
  });

  test('cancel refunds once', async () => {
    const before = (await engine.balance('acct_node')).available_micros;
    const id = (await engine.submit(key, MODEL, { generation_prompt: 'a storm' })).data.generation_id;
    const c = await engine.cancel(key, id);
    assert.equal(c.generation_status, 'canceled');
    assert.equal(c.credits_refunded, true);
    assert.equal((await engine.balance('acct_node')).available_micros, before);
    await assert.rejects(engine.cancel(key, id), babysea.InvalidState);
  });

  test('errors map to classes', async () => {
    await assert.rejects(engine.submit(key, MODEL, { generation_prompt: 'x', generation_ratio: '7:3' }), (e) => {
      assert.ok(e instanceof babysea.InvalidRequest);
      assert.ok(e.issues.some((i) => i.field === 'generation_ratio'), JSON.stringify(e.issues));
      assert.equal(e.retryable, false);
      return true;
    });
    await assert.rejects(engine.estimate(key, 'no/such-model'), babysea.ModelNotFound);
    await assert.rejects(engine.get(key, '00000000-0000-7000-8000-000000000000'), babysea.NotFound);
    await assert.rejects(engine.list(key, { limit: 0 }), babysea.InvalidRequest);
    const poor = (await engine.issueApiKey('acct_node_poor', { scopes: ['generation:write', 'generation:read'] })).key;
    await assert.rejects(engine.submit(poor, MODEL, PROMPT), (e) => e instanceof babysea.InsufficientCredits &&
      e.type === 'insufficient_credits');
    await assert.rejects(engine.usage(poor), babysea.Forbidden);
    await assert.rejects(engine.grantCredits('acct_node', '1.0000001', 'node-bad'), babysea.InvalidAmount);
    assert.throws(() => engine.grantCredits('acct_node', 1.5), TypeError);
    await assert.rejects(engine.stripeEvent('t=1,v1=00', '{}'), babysea.InvalidSignature);
    await assert.rejects(engine.providerCallback('replicate', { 'webhook-id': 'x' }, '{}'), babysea.BabyseaError);
  });

  test('estimate, usage, health, metrics, statement, audit', async () => {
    assert.equal((await engine.estimate(key, MODEL, { count: 2 })).model_identifier, MODEL);
    assert.equal(typeof (await engine.usage(key, 30)), 'object');
    assert.ok('healthy' in (await engine.health()));
    assert.equal(typeof (await engine.metricsText()), 'string');
    const s = await engine.statement('acct_node');
    assert.ok(s.entries.some((e) => e.kind === 'grant'));
    await engine.drain();
    assert.equal((await engine.audit()).clean, true);
  });

  test('stripe top-up grants once', async () => {
    const body = JSON.stringify({
      id: 'evt_node_1', type: 'checkout.session.completed',
      data: { object: { id: 'cs_node_1', payment_status: 'paid', mode: 'payment', client_reference_id: 'acct_node',
        amount_total: 1000, metadata: { price_id: 'price_10' } } },
    });
    const t = Math.floor(Date.now() / 1000);
    const sig = crypto.createHmac('sha256', STRIPE_SECRET).update(`${t}.${body}`).digest('hex');
    const before = (await engine.balance('acct_node')).available_micros;
    assert.equal((await engine.stripeEvent(`t=${t},v1=${sig}`, Buffer.from(body))).effect, 'granted');
    assert.equal((await engine.balance('acct_node')).available_micros, before + 10000000);
    assert.equal((await engine.stripeEvent(`t=${t},v1=${sig}`, body)).effect, 'duplicate');
  });

  test('concurrent calls run off the JS thread', async () => {
    const calls = [];
    for (let i = 0; i < 20; i++) calls.push(engine.balance('acct_node'), engine.list(key, { limit: 5 }));
    const results = await Promise.all(calls);
    assert.equal(results.length, 40);
  });

  test('webhook endpoints', async () => {
    const ep = await engine.createWebhookEndpoint('acct_node', `${emu.urls.replicate}/hook`,
      { events: ['generation.completed'] });
    assert.ok(ep.secret);
    assert.deepEqual(ep.events, ['generation.completed']);
    assert.ok((await engine.listWebhookEndpoints('acct_node')).some((x) => x.id === ep.id));
    assert.ok((await engine.testWebhookEndpoint('acct_node', ep.id)).delivery_id);
    await engine.setWebhookEndpointEnabled('acct_node', ep.id, false);
    const listed = (await engine.listWebhookEndpoints('acct_node')).find((x) => x.id === ep.id);
    assert.equal(listed.enabled, false);
    await assert.rejects(engine.createWebhookEndpoint('acct_node', ''), babysea.InvalidRequest);
    await assert.rejects(engine.setWebhookEndpointEnabled('acct_other', ep.id, true), babysea.NotFound);
  });

  test('revoked keys stop working', async () => {
    const extra = await engine.issueApiKey('acct_node', { scopes: 'read_only' });
    await engine.revokeApiKey('acct_node', extra.id);
    await assert.rejects(engine.get(extra.key, 'x'), babysea.Unauthenticated);
    await assert.rejects(engine.revokeApiKey('acct_node', 'no_such_key'), babysea.NotFound);
  });
});

describe('closing', () => {
  let tmp;
  const config = () => ({
    api_key_pepper: 'node-test-pepper-0123456789abcdef012345',
    database: { engine: 'memory' },
    assets: { directory: path.join(tmp, 'assets'), public_base_url: 'https://a.example/f' },
    webhooks: { enabled: false },
  });
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'babysea-node-close-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('close twice, use after close', async () => {
    const engine = await babysea.Engine.open(config());
    engine.setEventCallback(() => {});
    const p1 = engine.close();
    const p2 = engine.close();
    assert.equal(p1, p2);
    await p1;
    assert.equal(engine.closed, true);
    await assert.rejects(engine.balance('acct'), babysea.EngineClosed);
    await assert.rejects(engine.health(), babysea.Unavailable);
  });

  test('close waits for calls in flight and stops the event pump', async () => {
    const engine = await babysea.Engine.open(JSON.stringify(config()));
    engine.on('event', () => {});
    await sleep(50); // the pump is waiting in babysea_events_next
    const pending = engine.health();
    const started = Date.now();
    await engine.close();
    assert.ok(Date.now() - started < 10000);
    assert.equal(typeof (await pending), 'object');
  });
});
