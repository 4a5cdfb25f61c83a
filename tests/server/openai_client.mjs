// Drives babysea's OpenAI-compatible route with the official `openai` npm
// package. Usage: node openai_client.mjs <server base URL> <babysea API key>
// Prints one JSON line of string fields; exits non-zero on the first failure.
import OpenAI from 'openai';

const [base, apiKey] = process.argv.slice(2);
const fail = (what) => { console.error(`openai_client: ${what}`); process.exit(1); };
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

const byUrl = await client.images.generate({ model: 'bfl/flux-schnell', prompt: 'a red fox in snow', n: 1, size: '1024x1024' });
if (!Array.isArray(byUrl.data) || byUrl.data.length < 1) fail('no data');
if (typeof byUrl.created !== 'number') fail('no created');
if (!byUrl.data[0].url || !byUrl.data[0].url.startsWith(base)) fail(`unexpected url ${byUrl.data[0].url}`);
const file = await fetch(byUrl.data[0].url);
if (file.status !== 200 || (await file.arrayBuffer()).byteLength === 0) fail('output not served');

const b64 = await client.images.generate({ model: 'bfl/flux-schnell', prompt: 'a red fox', response_format: 'b64_json' });
if (!b64.data[0].b64_json || Buffer.from(b64.data[0].b64_json, 'base64').length === 0) fail('no b64_json');

const expectError = async (fn, cls, status, what) => {
  try { await fn(); } catch (e) {
    if (!(e instanceof cls) || e.status !== status) fail(`${what}: got ${e?.constructor?.name} ${e?.status} ${e?.message}`);
    return e;
  }
  fail(`${what}: no error`);
};
const bad = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'bye_not_a_real_key', maxRetries: 0 });
await expectError(() => bad.images.generate({ model: 'bfl/flux-schnell', prompt: 'x' }), OpenAI.AuthenticationError, 401, 'bad key');
await expectError(() => client.images.generate({ model: 'dall-e-9', prompt: 'x' }), OpenAI.NotFoundError, 404, 'unknown model');
const sizeError = await expectError(() => client.images.generate({ model: 'bfl/flux-schnell', prompt: 'x', size: '1000x7' }),
  OpenAI.BadRequestError, 400, 'bad size');
if (sizeError.param !== 'size') fail(`param ${sizeError.param}`);

console.log(JSON.stringify({ ok: 'true', url: byUrl.data[0].url, images: String(byUrl.data.length) }));
