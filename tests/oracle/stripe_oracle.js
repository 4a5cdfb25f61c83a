// Interop oracle: the official `stripe` package signs and verifies webhook
// payloads so babysea's verifier is checked against Stripe's own code.
//
//   node stripe_oracle.js sign <secret> <now_unix>
//     prints one JSON object per line: {name, header, body, expect}
//     where expect is "accept" or "reject" for a verifier keyed with <secret>.
//   node stripe_oracle.js verify <secret> <header> <body> <now_unix>
//     prints "ok" if stripe.webhooks.constructEvent accepts, else "error: ...".
'use strict';
const Stripe = require('stripe');
const stripe = Stripe('sk_test_oracle_not_a_real_key');

const [mode, secret, ...rest] = process.argv.slice(2);

function header(payload, timestamp, opts = {}) {
  return stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret || secret, timestamp, scheme: opts.scheme });
}

if (mode === 'sign') {
  const now = Number(rest[0]);
  const event = (id) => JSON.stringify({
    id, object: 'event', api_version: '2024-06-20', created: now, type: 'checkout.session.completed',
    data: { object: { id: 'cs_oracle_' + id, object: 'checkout.session', mode: 'payment', payment_status: 'paid',
      payment_intent: 'pi_oracle_' + id, amount_total: 1000, currency: 'usd', client_reference_id: 'alice',
      metadata: { price_id: 'price_pack10' } } },
  });
  const out = [];
  const b1 = event('evt_oracle_1');
  out.push({ name: 'valid', header: header(b1, now), body: b1, expect: 'accept' });
  out.push({ name: 'valid, 299 s old', header: header(b1, now - 299), body: b1, expect: 'accept' });
  out.push({ name: 'tampered body', header: header(b1, now), body: b1.replace('1000', '9000'), expect: 'reject' });
  out.push({ name: 'stale', header: header(b1, now - 301), body: b1, expect: 'reject' });
  out.push({ name: 'future', header: header(b1, now + 301), body: b1, expect: 'reject' });
  out.push({ name: 'v0 only', header: header(b1, now, { scheme: 'v0' }), body: b1, expect: 'reject' });
  out.push({ name: 'other secret', header: header(b1, now, { secret: 'whsec_someone_else' }), body: b1, expect: 'reject' });
  const valid = header(b1, now);
  const other = header(b1, now, { secret: 'whsec_someone_else' });
  const otherV1 = other.split(',').find((p) => p.startsWith('v1='));
  out.push({ name: 'two v1, second valid', header: `t=${now},${otherV1},${valid.split(',').find((p) => p.startsWith('v1='))}`, body: b1, expect: 'accept' });
  const b2 = event('evt_oracle_2');
  out.push({ name: 'valid second event', header: header(b2, now), body: b2, expect: 'accept' });
  for (const o of out) console.log(JSON.stringify(o));
} else if (mode === 'verify') {
  const [hdr, body, now] = rest;
  try {
    // constructEvent checks against the current time; babysea passes its own.
    const realNow = Date.now;
    Date.now = () => Number(now) * 1000;
    try {
      stripe.webhooks.constructEvent(body, hdr, secret, 300);
    } finally {
      Date.now = realNow;
    }
    console.log('ok');
  } catch (e) {
    console.log('error: ' + e.message);
  }
} else {
  console.error('usage: stripe_oracle.js sign|verify ...');
  process.exit(2);
}
