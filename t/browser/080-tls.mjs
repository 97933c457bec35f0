// The TLS recipe in a real browser (run by t/080-deploy-tls.t): Chromium
// trusts only the test's self-signed certificate (by its key's hash); the
// demo shop with the widget and the agent console load over HTTPS and
// HTTP/2, and both open their WebSocket as wss:// on the same port.

import { chromium } from 'playwright-core';
import { jwt, ok, is, finish, watchErrors, plan } from './lib.mjs';

const base = process.env.KEFU_TLS_BASE, site = process.env.KEFU_SITE;
const secret = process.env.KEFU_SECRET, group = process.env.KEFU_GROUP;
const errors = [];

const browser = await chromium.launch({
  executablePath: process.env.KEFU_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage',
         `--ignore-certificate-errors-spki-list=${process.env.KEFU_SPKI}`],
});
const close = () => browser.close().catch(() => {});

// the protocol a page and its scripts came over, and the page's sockets
async function visit(url, label) {
  const ctx = await browser.newContext({ locale: 'en-US' });
  const page = await ctx.newPage();
  watchErrors(page, label, errors);
  const sockets = [];
  page.on('websocket', (ws) => {
    const s = { url: ws.url(), welcome: false };
    ws.on('framereceived', (f) => { if (String(f.payload).includes('"welcome"')) s.welcome = true; });
    sockets.push(s);
  });
  const resp = await page.goto(url);
  is(resp.status(), 200, `${label}: the page loads over HTTPS`);
  ok(resp.url().startsWith('https://'), `${label}: https://`);
  return { page, sockets };
}

async function protocols(page) {
  return page.evaluate(() => [
    performance.getEntriesByType('navigation')[0].nextHopProtocol,
    ...performance.getEntriesByType('resource')
      .filter((r) => /\.(js|css)(\?|$)/.test(r.name)).map((r) => r.nextHopProtocol),
  ]);
}

async function welcomed(sockets, ms = 10000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (sockets.some((s) => s.welcome)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}


plan(13);
try {
  // the visitor, on the demo shop
  const v = await visit(`${base}/?site=${site}&group=${group}`, 'shop');
  await v.page.waitForFunction(() => {
    const w = document.querySelector('#kefu-widget');
    return w && w.shadowRoot && w.shadowRoot.querySelector('.kf')
      && w.shadowRoot.querySelector('.kf').getAttribute('data-conn') === 'online';
  }, null, { timeout: 15000 });
  ok(true, 'shop: the widget is connected');
  const vp = await protocols(v.page);
  ok(vp.length >= 2 && vp.every((p) => p === 'h2'), 'shop: the page, the widget script and style came over HTTP/2', vp.join(' '));
  ok(await welcomed(v.sockets), 'shop: the widget was welcomed over its WebSocket');
  const wsUrl = base.replace(/^https/, 'wss') + '/chat';
  ok(v.sockets.length > 0 && v.sockets.every((s) => s.url === wsUrl),
     `shop: the widget's WebSocket is ${wsUrl}`, v.sockets.map((s) => s.url).join(' '));

  // the agent, in the console
  const token = jwt({ sub: 'tls-agent', role: 'agent', site, name: 'Tess', groups: [group] }, secret);
  const a = await visit(`${base}/console/#token=${token}`, 'console');
  await a.page.waitForSelector('#conn[data-state="online"]', { timeout: 15000 });
  ok(true, 'console: signed in and connected');
  const ap = await protocols(a.page);
  ok(ap.every((p) => p === 'h2'), 'console: its page and files came over HTTP/2', ap.join(' '));
  ok(await welcomed(a.sockets), 'console: welcomed over its WebSocket');
  ok(a.sockets.length > 0 && a.sockets.every((s) => s.url === wsUrl),
     `console: its WebSocket is ${wsUrl}`, a.sockets.map((s) => s.url).join(' '));

  is(errors.length, 0, 'no page errors', errors.join('\n'));
} catch (e) {
  ok(false, 'the browser run', e.stack);
}
await finish(close);
