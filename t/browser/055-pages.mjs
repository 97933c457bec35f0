// The widget on real shop pages, in the browser: a GBK-encoded page (the
// script is ASCII, so no charset is needed anywhere), a token the server
// refuses (an error in the widget and the browser console, and no
// reconnect loop), and a frozen server noticed by the application ping.
// Run by t/055-browser-pages.t, which writes the GBK page and gives the
// server's pid.

import { launch, plan, jwt, ok, is, shot, rawClient, finish, diag, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const pid = Number(process.env.KEFU_NGINX_PID);
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

const K = '#kefu-widget ';
const conn = (page, state = 'online') => page.waitForFunction((s) => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === s, state, { timeout: 30000 });
const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
let stopped = false;


plan(16);
try {
  // ---- a shop page in GBK ----
  const gctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
  const g = await gctx.newPage();
  // script errors fail; the browser's own notes on the frozen server's
  // failed reconnects do not
  g.on('pageerror', (e) => errors.push(`gbk page: ${e.message}`));
  g.on('console', (c) => {
    if (c.type() === 'error' && !/WebSocket connection to .* failed/.test(c.text())) {
      errors.push(`gbk page: console: ${c.text()}`);
    }
  });
  const resp = await g.goto(`${base}/gbk/shop.html`);
  ok(/charset=gbk/i.test(resp.headers()['content-type'] || ''), 'the page is served as GBK', resp.headers()['content-type']);
  is(await g.textContent('h1'), '\u56fd\u8d27\u8336\u53f6\u65d7\u8230\u5e97', 'the page itself reads right (GBK)');
  await conn(g);
  is(await g.getAttribute(W.launcher, 'aria-label'), '\u8054\u7cfb\u5ba2\u670d', 'the widget reads right on it: 联系客服');
  await g.click(W.launcher);
  is((await g.textContent(W.title)).trim(), '\u5728\u7ebf\u5ba2\u670d', 'the header: 在线客服');
  const me = 'gbk' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: '\u674e\u96f7', groups: [group], capacity: 3 }, secret);
  const actx = await browser.newContext();
  const ap = await actx.newPage();
  await ap.goto(`${base}/widget/widget.css`);
  const agent = await rawClient(ap, wsUrl);
  await agent.send({ type: 'hello', role: 'agent', site, token, status: 'online' });
  await agent.next('welcome');
  await g.fill(W.input, '\u8bf7\u95ee\u4eca\u5929\u80fd\u53d1\u8d27\u5417\uff1f');
  await g.keyboard.press('Enter');
  let m;
  do { m = await agent.next('msg', 8000); } while (m.from.role !== 'visitor');
  is(m.text, '\u8bf7\u95ee\u4eca\u5929\u80fd\u53d1\u8d27\u5417\uff1f', 'what the visitor typed on the GBK page reaches the agent intact');
  await agent.send({ type: 'msg', conv: m.conv, cid: 'g1', text: '\u53ef\u4ee5\uff0c\u4eca\u5929\u53d1\u51fa\u3002' });
  await g.waitForSelector(W.theirs + ' .kf-bubble >> text=\u4eca\u5929\u53d1\u51fa');
  ok(true, "and the agent's answer shows right");
  await shot(g, '055-desktop-gbk-zh');

  // ---- a frozen server: the ping notices ----
  if (pid > 0) {
    const t0 = Date.now();
    process.kill(pid, 'SIGSTOP');
    stopped = true;
    await g.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
      .querySelector('.kf').getAttribute('data-conn') === 'offline', null, { timeout: 20000 });
    const secs = (Date.now() - t0) / 1000;
    diag(`frozen server noticed after ${secs.toFixed(1)} s`);
    ok(true, 'a frozen server is noticed: the widget says it is reconnecting');
    ok((await g.textContent(K + '.kf-head-sub')).includes('\u6b63\u5728\u91cd\u8fde'), 'in words: 正在重连');
    await shot(g, '055-desktop-frozen-zh');
    process.kill(pid, 'SIGCONT');
    stopped = false;
    await conn(g);
    ok(true, 'the server back: online again');
  } else {
    ok(false, 'the test gives the server pid (KEFU_NGINX_PID)');
  }
  await agent.close();

  // ---- a token the server refuses: desktop English, phone Chinese ----
  for (const [label, ctxo, lang, name] of [
    ['desktop', { viewport: { width: 1280, height: 800 }, locale: 'en-US' }, 'en', '055-desktop-refused-en'],
    ['phone', { ...phone, locale: 'zh-CN' }, 'zh', '055-phone-refused-zh'],
  ]) {
    const ctx = await browser.newContext(ctxo);
    const p = await ctx.newPage();
    const logged = [];
    p.on('console', (c) => { if (c.type() === 'error') logged.push(c.text()); });
    p.on('pageerror', (e) => errors.push(`${label}: ${e.message}`));
    let sockets = 0;
    p.on('websocket', () => { sockets++; });
    // a token without the "site" claim
    const bad = jwt({ sub: 'cust-42', role: 'visitor', name: 'Ann' }, secret);
    await p.goto(`${base}/widget/?site=${site}&lang=${lang}&token=${bad}`);
    await p.waitForSelector(W.banner + '[data-kind="error"]');
    const text = await p.textContent(W.banner);
    ok(text.includes('token has no "site" claim'), `${label}: the widget shows the server's reason`, text);
    ok(logged.some((l) => l.includes('[kefu]') && l.includes('token has no "site" claim') && l.includes('exp')),
       `${label}: the browser console explains it to the shop's developer`, logged.join('\n'));
    await shot(p, name);
    // a reconnect loop would have tried again several times by now (its
    // first retry comes within a second)
    await p.waitForTimeout(3000);
    is(sockets, 1, `${label}: one attempt, no reconnect loop`);
    await ctx.close();
  }

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
} finally {
  if (stopped) { process.kill(pid, 'SIGCONT'); }
}
await finish(close);
