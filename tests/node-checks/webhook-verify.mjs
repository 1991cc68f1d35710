// Verifies one Standard Webhooks delivery with the official `standardwebhooks` package.
// stdin: {"secret": "whsec_…", "body": "<raw body>", "headers": {"webhook-id": …, …}}
// stdout: {"ok": true, "payload": …} or {"ok": false, "error": "…"}
import { Webhook } from 'standardwebhooks';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const { secret, body, headers } = JSON.parse(input);
try {
  const payload = new Webhook(secret).verify(body, headers);
  process.stdout.write(JSON.stringify({ ok: true, payload }));
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e) }));
}
