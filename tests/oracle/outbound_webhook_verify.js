// Verifies one outbound babysea delivery signed in Standard Webhooks mode with
// the official `standardwebhooks` package.
// usage: node outbound_webhook_verify.js <secret> <webhook-id> <webhook-timestamp> <webhook-signature> <body>
// prints "ok" or "fail: <reason>"
'use strict';
const { Webhook } = require('standardwebhooks');
const [secret, id, ts, sig, body] = process.argv.slice(2);
try {
  const payload = new Webhook(secret).verify(body, {
    'webhook-id': id,
    'webhook-timestamp': ts,
    'webhook-signature': sig,
  });
  if (typeof payload !== 'object' || payload === null) throw new Error('payload is not an object');
  console.log('ok');
} catch (e) {
  console.log('fail: ' + e.message);
}
