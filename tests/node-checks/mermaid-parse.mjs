// Parses every Mermaid block given on stdin (a JSON array of sources) with the official mermaid
// package and prints one JSON result per block. mermaid sanitises labels with DOMPurify, which
// needs a DOM: jsdom provides one, so no browser is needed.
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const src of JSON.parse(input)) {
  try {
    const r = await mermaid.parse(src);
    results.push({ ok: true, diagramType: r.diagramType });
  } catch (e) {
    results.push({ ok: false, error: String(e.message || e) });
  }
}
process.stdout.write(JSON.stringify(results));
