// Attachments in the browser: a visitor pastes an image into the widget,
// the agent sees the thumbnail in the console and opens it full size; the
// agent sends a PDF, the visitor downloads it; the widget's errors (too
// large, a type not allowed, the hourly quota).  Run by
// t/057-browser-attachments.t (site: 300 KB limit, quota 2 files an hour).

import { readFileSync } from 'node:fs';
import { launch, plan, jwt, ok, is, shot, acceptAs, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');


plan(21);
try {
  // ---- the agent, online in the visitor's group ----
  const me = 'dora' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Dora', groups: [group] }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');

  // ---- the visitor pastes an image ----
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US', acceptDownloads: true });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?group=${group}&site=${site}`);
  await v.waitForSelector(W.launcher, { state: 'visible' });
  await v.click(W.launcher);
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf').getAttribute('data-conn') === 'online');
  ok(await v.isVisible('#kefu-widget .kf-attach'), 'the widget has a file button');

  // a picture of a broken teapot, made in the page and pasted into the input
  await v.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 480; c.height = 320;
    const g = c.getContext('2d');
    const grad = g.createLinearGradient(0, 0, 480, 320);
    grad.addColorStop(0, '#fde68a'); grad.addColorStop(1, '#f97316');
    g.fillStyle = grad; g.fillRect(0, 0, 480, 320);
    g.fillStyle = '#7c2d12'; g.beginPath(); g.ellipse(240, 180, 110, 80, 0, 0, Math.PI * 2); g.fill();
    g.strokeStyle = '#fff'; g.lineWidth = 6; g.beginPath(); g.moveTo(200, 120); g.lineTo(250, 190); g.lineTo(225, 250); g.stroke();
    g.fillStyle = '#111'; g.font = 'bold 28px sans-serif'; g.fillText('teapot, broken', 130, 60);
    const blob = await new Promise((r) => c.toBlob(r, 'image/png'));
    const dt = new DataTransfer();
    dt.items.add(new File([blob], 'image.png', { type: 'image/png' }));
    const input = document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf-input');
    input.focus();
    input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  const done = ':is([data-status="sent"], [data-status="read"])';
  await v.waitForSelector(W.mine + done + ' .kf-att-img img');
  ok(true, 'the pasted image is uploaded and sent (acknowledged)');
  const thumb = await v.$eval(W.mine + ' .kf-att-img img', (i) => ({ src: i.src.slice(0, 22), w: i.naturalWidth }));
  is(thumb.src, 'data:image/png;base64,', "the visitor's thumbnail is made in the browser");
  ok(thumb.w > 0 && thumb.w <= 440, 'and it is small: ' + thumb.w + ' px');
  await shot(v, '054-widget-image-sent');
  const conv = await v.evaluate(() => window.KefuWidget.conversation());

  // ---- the agent sees the thumbnail and opens it ----
  const r = await acceptAs(a, wsUrl, site, token, conv);
  ok(r.type === 'conv', "the conversation is the agent's", JSON.stringify(r));
  await a.waitForSelector(`.conv-item[data-conv="${conv}"]`);
  ok((await a.textContent(`.conv-item[data-conv="${conv}"] .ci-text`)).includes('image.png'), 'the list shows the file name');
  await a.click(`.conv-item[data-conv="${conv}"]`);
  await a.waitForFunction(() => {
    const i = document.querySelector('#entries .entry.theirs .att-img img');
    return i && i.complete && i.naturalWidth > 0;
  });
  const src = await a.$eval('#entries .entry.theirs .att-img img', (i) => i.getAttribute('src'));
  ok(/\/files\/[^/]+\/\d+\/[0-9a-f]{64}\.png\?e=\d+&n=image\.png&s=/.test(src), 'the thumbnail loads through an expiring link: ' + src);
  const box = await a.$eval('#entries .entry.theirs .att-img img', (i) => i.getBoundingClientRect().width);
  ok(box <= 260, 'shown as a thumbnail (' + Math.round(box) + ' px wide)');
  await shot(a, '054-console-thumbnail');
  await a.click('#entries .entry.theirs .att-img');
  await a.waitForFunction(() => {
    const i = document.querySelector('.lightbox:not([hidden]) img');
    return i && i.complete && i.naturalWidth === 480 && i.naturalHeight === 320;
  });
  ok(true, 'a click opens it full size (480 × 320)');
  await shot(a, '054-console-full-size');
  await a.click('.lightbox');
  await a.waitForSelector('.lightbox', { state: 'hidden' });

  // ---- the agent sends a PDF; the visitor downloads it ----
  await a.setInputFiles('#file-input', { name: 'invoice-1001.pdf', mimeType: 'application/pdf', buffer: PDF });
  await a.waitForSelector('#entries .entry.mine:is([data-status="sent"], [data-status="read"]) a.att-file[href]');
  ok(true, 'the agent sent a PDF');
  is(await a.textContent('#entries .entry.mine .att-file .att-name'), 'invoice-1001.pdf', 'the file card names it');
  const card = `${W.theirs} .kf-att-file`;
  await v.waitForSelector(card);
  is(await v.textContent(`${card} .kf-att-name`), 'invoice-1001.pdf', 'the visitor gets a file card with the name');
  is(await v.textContent(`${card} .kf-att-icon`), 'PDF', 'the type');
  ok(/\d+ B$/.test(await v.textContent(`${card} .kf-att-size`)), 'and the size');
  await shot(v, '054-widget-pdf-card');
  const [dl] = await Promise.all([v.waitForEvent('download'), v.click(card)]);
  is(dl.suggestedFilename(), 'invoice-1001.pdf', 'a click downloads it under its name');
  const path = await dl.path();
  ok(path && readFileSync(path).equals(PDF), 'the same bytes');

  // ---- errors, shown clearly ----
  const big = Buffer.alloc(400 * 1024, 1);
  await v.setInputFiles('#kefu-widget .kf-file', { name: 'holiday.jpg', mimeType: 'image/jpeg', buffer: big });
  await v.waitForSelector(`${W.mine} .kf-att-error >> text=too large`);
  ok(/files up to 300 KB/.test(await v.textContent(`${W.mine} .kf-att-error >> text=too large`)), 'too large: says the limit');
  await v.setInputFiles('#kefu-widget .kf-file', { name: 'cute-cat.png', mimeType: 'image/png',
                                                   buffer: Buffer.from('<!doctype html><script>alert(1)</script>') });
  await v.waitForSelector(`${W.mine} .kf-att-error >> text=cannot be sent`);
  ok(/HTML page/.test(await v.textContent(`${W.mine} .kf-att-error >> text=cannot be sent`)), 'a type not allowed: says what it is');
  const png = await v.evaluate(async () => {
    const c = document.createElement('canvas'); c.width = 40; c.height = 30;
    const g = c.getContext('2d'); g.fillStyle = '#2563eb'; g.fillRect(0, 0, 40, 30);
    return Array.from(new Uint8Array(await (await new Promise((r) => c.toBlob(r, 'image/png'))).arrayBuffer()));
  });
  await v.setInputFiles('#kefu-widget .kf-file', { name: 'second.png', mimeType: 'image/png', buffer: Buffer.from(png) });
  await v.waitForSelector(`${W.mine}${done} .kf-att-img img[alt="second.png"]`);
  ok(true, 'the second file of the hour goes through');
  const third = Buffer.from(png);
  third[third.length - 5] ^= 1;        // other bytes: not the same file
  await v.setInputFiles('#kefu-widget .kf-file', { name: 'third.png', mimeType: 'image/png', buffer: third });
  await v.waitForSelector(`${W.mine} .kf-att-error >> text=Too many files`);
  ok(true, 'the third is over the quota: said so');
  await shot(v, '054-widget-errors');

  // the refused uploads' answers (415, 429) are logged by Chromium as failed loads
  const others = errors.filter((x) => !/Failed to load resource: the server responded with a status of (415|429)/.test(x));
  is(others.length, 0, 'no other errors in the pages: ' + others.join(' | '));
} catch (e) {
  ok(false, 'the browser test ran to its end', e.stack);
}
await finish(close);
