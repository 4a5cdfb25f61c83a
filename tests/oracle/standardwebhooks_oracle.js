// Interop oracle: the official `standardwebhooks` package (the Standard
// Webhooks reference library for JavaScript) signs deliveries for babysea's
// verifier, and verifies the signatures babysea produces.
//
//   node standardwebhooks_oracle.js sign <new_secret> <old_secret> <now_unix>
//     prints one JSON object per line:
//     {name, id, timestamp, signature, body, verifier, expect}
//     verifier: "both" (keyed with new and old) or "new" (new only);
//     expect: "accept", "reject" or "too_large".
//   node standardwebhooks_oracle.js verify <secret> <id> <timestamp> <signature> <body> <now_unix>
//     prints "ok" if Webhook.verify accepts, else "error: ...".
'use strict';
const { Webhook } = require('standardwebhooks');

const [mode, ...rest] = process.argv.slice(2);

function withNow(nowUnix, fn) {
  const realNow = Date.now;
  Date.now = () => Number(nowUnix) * 1000;
  try {
    return fn();
  } finally {
    Date.now = realNow;
  }
}

if (mode === 'sign') {
  const [newSecret, oldSecret, nowText] = rest;
  const now = Number(nowText);
  const whNew = new Webhook(newSecret);
  const whOld = new Webhook(oldSecret);
  const whOther = new Webhook('whsec_' + Buffer.alloc(32, 7).toString('base64'));
  const sig = (wh, id, t, body) => wh.sign(id, new Date(t * 1000), body);
  const body = (id) => JSON.stringify({ id, status: 'succeeded', output: ['https://replicate.delivery/x.png'],
    metrics: { predict_time: 1.25 }, note: 'caf\u00e9 \u2603 \ud83d\ude80' });
  const out = [];
  const add = (name, id, t, signature, b, verifier, expect) =>
    out.push({ name, id, timestamp: String(t), signature, body: b, verifier, expect });

  const b1 = body('pred_1');
  add('valid', 'msg_1', now, sig(whNew, 'msg_1', now, b1), b1, 'both', 'accept');
  add('valid, new key only', 'msg_1', now, sig(whNew, 'msg_1', now, b1), b1, 'new', 'accept');
  add('rotation: old key, both configured', 'msg_2', now, sig(whOld, 'msg_2', now, b1), b1, 'both', 'accept');
  add('rotation: old key, old removed', 'msg_2', now, sig(whOld, 'msg_2', now, b1), b1, 'new', 'reject');
  add('rotation: both signatures sent', 'msg_3', now,
    `${sig(whOld, 'msg_3', now, b1)} ${sig(whNew, 'msg_3', now, b1)}`, b1, 'new', 'accept');
  add('boundary: 300 s old', 'msg_4', now - 300, sig(whNew, 'msg_4', now - 300, b1), b1, 'both', 'accept');
  add('boundary: 300 s ahead', 'msg_5', now + 300, sig(whNew, 'msg_5', now + 300, b1), b1, 'both', 'accept');
  add('stale: 301 s old', 'msg_6', now - 301, sig(whNew, 'msg_6', now - 301, b1), b1, 'both', 'reject');
  add('future: 301 s ahead', 'msg_7', now + 301, sig(whNew, 'msg_7', now + 301, b1), b1, 'both', 'reject');
  add('tampered body', 'msg_8', now, sig(whNew, 'msg_8', now, b1), b1.replace('1.25', '9.25'), 'both', 'reject');
  add('re-serialized body', 'msg_9', now, sig(whNew, 'msg_9', now, b1),
    JSON.stringify(JSON.parse(b1), null, 1), 'both', 'reject');
  add('wrong version v2', 'msg_10', now, sig(whNew, 'msg_10', now, b1).replace(/^v1,/, 'v2,'), b1, 'both', 'reject');
  add('signed by someone else', 'msg_11', now, sig(whOther, 'msg_11', now, b1), b1, 'both', 'reject');
  add('id swapped after signing', 'msg_13', now, sig(whNew, 'msg_12', now, b1), b1, 'both', 'reject');
  const big = JSON.stringify({ id: 'pred_big', pad: 'x'.repeat(1 << 20) });
  add('oversized', 'msg_14', now, sig(whNew, 'msg_14', now, big), big, 'both', 'too_large');
  const b2 = body('pred_2');
  add('valid second message', 'msg_15', now, sig(whNew, 'msg_15', now, b2), b2, 'both', 'accept');
  for (const o of out) console.log(JSON.stringify(o));
} else if (mode === 'verify') {
  const [secret, id, timestamp, signature, body, now] = rest;
  try {
    withNow(now, () => new Webhook(secret).verify(body, {
      'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature,
    }));
    console.log('ok');
  } catch (e) {
    console.log('error: ' + e.message);
  }
} else {
  console.error('usage: standardwebhooks_oracle.js sign|verify ...');
  process.exit(2);
}
