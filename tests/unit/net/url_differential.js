// Differential test of the SSRF guard's URL parsing against WHATWG URL
// parsing (Node's `URL`): for every URL the guard accepts, the WHATWG parser
// must accept it too and see the same scheme, host and port, and re-parsing
// the guard's normalized URL must see them again. A URL the guard refuses
// needs no agreement. Inputs: the committed corpus (url_corpus.json) plus
// seeded mutations of it (BABYSEA_DIFF_SEED, BABYSEA_DIFF_CASES to override;
// the seed is printed on failure).
// Usage: node url_differential.js <guard_classify binary>
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const binary = process.argv[2];
if (!binary) {
  console.error('usage: node url_differential.js <guard_classify>');
  process.exit(2);
}
const seed = Number(process.env.BABYSEA_DIFF_SEED || 20261204);
const cases = Number(process.env.BABYSEA_DIFF_CASES || 40000);
const corpus = JSON.parse(fs.readFileSync(path.join(__dirname, 'url_corpus.json'), 'utf8'));

// mulberry32: a small seeded PRNG, so every run checks the same inputs.
function prng(a) {
  return () => {
    a |= 0; a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(seed);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const pieces = ['@', ':', '/', '//', '\\', '?', '#', '%', '%2e', '%40', '.', '..', '[', ']', '[::1]', '0', '1', '80',
  '8o', '0x', 'x', 'A', '-', '_', '~', ';', ',', '&', ' ', '\t', '\n', '\u0000', '\u3002', '\uff0e', '\u00e4',
  '127.0.0.1', '8.8.8.8', 'evil.test', 'localtest.me', ':443', ':0', ':65536', 'user@', '%25'];
function mutate(s) {
  let out = s;
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; ++i) {
    const at = Math.floor(rand() * (out.length + 1));
    const r = rand();
    if (r < 0.6) out = out.slice(0, at) + pick(pieces) + out.slice(at);
    else if (r < 0.85) out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + pick(pieces) + out.slice(at + 1 + Math.floor(rand() * 3));
  }
  return out;
}
const inputs = corpus.slice();
while (inputs.length < corpus.length + cases) inputs.push(mutate(pick(corpus)));

const run = spawnSync(binary, [], { input: inputs.map((u) => Buffer.from(u, 'utf8').toString('hex')).join('\n') + '\n',
  maxBuffer: 1 << 28 });
if (run.status !== 0) {
  console.error('guard_classify failed:', run.status, String(run.stderr));
  process.exit(1);
}
const results = String(run.stdout).trim().split('\n').map((l) => JSON.parse(l));
if (results.length !== inputs.length) {
  console.error(`expected ${inputs.length} results, got ${results.length}`);
  process.exit(1);
}

function whatwg(u) {
  try {
    const x = new URL(u);
    const scheme = x.protocol.replace(/:$/, '');
    const port = x.port ? Number(x.port) : scheme === 'https' ? 443 : scheme === 'http' ? 80 : 0;
    return { scheme, host: x.hostname, port };
  } catch {
    return null;
  }
}
// The guard prints IPv6 hosts without brackets: put them through WHATWG too,
// so both sides are in WHATWG's canonical text.
function canonicalHost(h) {
  if (!h.includes(':')) return h;
  try { return new URL(`http://[${h}]/`).hostname; } catch { return `<bad ipv6 ${h}>`; }
}

let accepted = 0;
const failures = [];
results.forEach((g, i) => {
  if (!g.ok) return;
  accepted++;
  const u = inputs[i];
  const w = whatwg(u);
  const again = whatwg(g.url);
  const mine = { scheme: g.scheme, host: canonicalHost(g.host), port: g.port };
  const same = (x) => x && x.scheme === mine.scheme && x.host === mine.host && x.port === mine.port;
  if (!same(w) || !same(again)) failures.push({ url: u, guard: mine, whatwg: w, normalized: g.url, reparsed: again });
});

console.log(JSON.stringify({ seed, inputs: inputs.length, accepted, refused: inputs.length - accepted,
  disagreements: failures.length }));
if (accepted < 50) {
  console.error('too few URLs accepted: the corpus no longer exercises the accepting path');
  process.exit(1);
}
if (failures.length) {
  for (const f of failures.slice(0, 20)) console.error('DISAGREE', JSON.stringify(f));
  console.error(`seed ${seed}: ${failures.length} URLs where the guard and WHATWG see different hosts`);
  process.exit(1);
}
console.log(`${inputs.length} passed, 0 failed`);
