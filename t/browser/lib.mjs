// Shared by the browser tests (t/05x-*.t run t/browser/*.mjs): headless
// Debian Chromium through playwright-core, TAP output, HS256 tokens, and a
// raw WebSocket client running inside a browser page for what the tests do
// behind the UI's back (an agent's accept, a second participant).

import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');

// ---- TAP (the .t file turns these lines into its own tests) ----

let n = 0;
let failed = 0;
export function ok(cond, name, diag) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag !== undefined) console.log('# ' + String(diag).replace(/\n/g, '\n# '));
  return !!cond;
}
export function is(got, want, name) {
  return ok(got === want, name, `got: ${JSON.stringify(got)}\nwant: ${JSON.stringify(want)}`);
}
// the number of checks the script makes, said first: t/lib/Kefu/Browser.pm
// compares it with the checks that ran
export function plan(count) { console.log(`1..${count}`); }
export function diag(text) { console.log('# ' + text); }

// ---- tokens ----

const b64 = (x) => Buffer.from(x).toString('base64url');
export function jwt(claims, secret) {
  const body = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' })) + '.' +
               b64(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims }));
  return body + '.' + createHmac('sha256', secret).update(body).digest('base64url');
}

// ---- the browser ----

export async function launch() {
  // launch() gives Chromium a fresh profile (--user-data-dir) of its own
  // in a temporary directory it removes on close
  const browser = await chromium.launch({
    executablePath: process.env.KEFU_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--disable-dev-shm-usage'],
  });
  const close = async () => {
    await browser.close().catch(() => {});
  };
  return { browser, close };
}

export function screenshotDir() {
  const d = process.env.KEFU_SCREENSHOTS || join(root, 'build', 'screenshots');
  mkdirSync(d, { recursive: true });
  return d;
}

// resolves once cond() is true (polled), rejects after ms
export async function until(cond, what, ms = 15000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// waits for the page's finite animations and transitions (shadow trees
// included) to finish
export async function settled(page) {
  await page.evaluate(() => {
    const roots = [document, ...[...document.querySelectorAll('*')].map((e) => e.shadowRoot).filter(Boolean)];
    return Promise.all(roots.flatMap((r) => r.getAnimations())
      .filter((a) => a.effect && a.effect.getComputedTiming().endTime !== Infinity)
      .map((a) => a.finished.catch(() => {})));
  });
}

export async function shot(page, name) {
  await settled(page);     // let the entry animations settle
  const path = join(screenshotDir(), name + '.png');
  await page.screenshot({ path });
  diag('screenshot ' + path);
  return path;
}

// console errors and page crashes fail the test that collects them
export function watchErrors(page, label, list) {
  page.on('pageerror', (e) => list.push(`${label}: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') list.push(`${label}: console: ${m.text()}`); });
}

// a refusal the test asked for (an API answer of that status): the
// browser logs it as a console error; this takes exactly one out
export function expectRefused(list, status) {
  const i = list.findIndex((e) => e.includes(`status of ${status}`));
  ok(i >= 0, `the browser saw the ${status} the test asked for`);
  if (i >= 0) list.splice(i, 1);
}

// A raw kefu client inside a browser page: ws(page, url).hello({...}),
// .send({...}), .next(type, timeout) resolves with the next message of that
// type, .close().
export async function rawClient(page, url) {
  const id = 'c' + Math.random().toString(36).slice(2);
  await page.evaluate(([id, url]) => new Promise((res, rej) => {
    const ws = new WebSocket(url);
    const c = window.__kefu ||= {};
    c[id] = { ws, queue: [], waiters: [] };
    ws.onopen = () => res();
    ws.onerror = () => rej(new Error('websocket error'));
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      const s = c[id];
      const w = s.waiters.findIndex((x) => x.types.includes(m.type));
      if (w >= 0) s.waiters.splice(w, 1)[0].res(m); else s.queue.push(m);
    };
  }), [id, url]);
  return {
    send: (m) => page.evaluate(([id, m]) => window.__kefu[id].ws.send(JSON.stringify(m)), [id, m]),
    // the next message of that type (or of one of those types)
    next: (type, ms = 5000) => page.evaluate(([id, type, ms]) => new Promise((res, rej) => {
      const s = window.__kefu[id];
      const types = [].concat(type);
      const i = s.queue.findIndex((x) => types.includes(x.type));
      if (i >= 0) { res(s.queue.splice(i, 1)[0]); return; }
      const w = { types, res };
      s.waiters.push(w);
      setTimeout(() => { const j = s.waiters.indexOf(w); if (j >= 0) { s.waiters.splice(j, 1); rej(new Error('no ' + type + ' within ' + ms + ' ms')); } }, ms);
    }), [id, type, ms]),
    close: () => page.evaluate((id) => window.__kefu[id].ws.close(), id),
  };
}

// an agent's accept over its own connection (what routing will do by itself)
export async function acceptAs(page, url, site, token, conv) {
  const c = await rawClient(page, url);
  await c.send({ type: 'hello', role: 'agent', site, token });
  await c.next('welcome');
  await c.send({ type: 'accept', conv });
  const r = await c.next(['conv', 'error']);
  await c.close();
  return r;
}

export async function finish(close) {
  if (close) await close();
  process.exit(failed ? 1 : 0);
}

// the widget's shadow DOM is open: Playwright's CSS selectors pierce it
export const W = {
  launcher: '#kefu-widget .kf-launcher',
  panel: '#kefu-widget .kf-panel',
  input: '#kefu-widget .kf-input',
  list: '#kefu-widget .kf-list',
  mine: '#kefu-widget .kf-msg.kf-mine',
  theirs: '#kefu-widget .kf-msg.kf-theirs',
  banner: '#kefu-widget .kf-banner',
  typing: '#kefu-widget .kf-typing',
  title: '#kefu-widget .kf-head-title',
};
