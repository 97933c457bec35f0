// A visitor on the demo shop writes through the widget; the agent console
// receives it, the agent replies; typing, read receipts both ways, private
// notes, text rendered as text, the phone layout.  Run by t/050-browser-chat.t.

import { launch, jwt, ok, is, plan, settled, shot, acceptAs, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

plan(27);
try {
  // ---- the visitor ----
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?group=${group}&site=${site}`);
  await v.waitForSelector(W.launcher, { state: 'visible' });
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf').getAttribute('data-conn') === 'online');
  ok(true, 'the widget is on the shop page and connected');
  is(await v.getAttribute(W.launcher, 'aria-label'), 'Chat with us', 'English from the browser language');
  await shot(v, '050-shop-closed');

  // keyboard: Tab to the launcher, Enter opens the panel with the input focused
  await v.focus(W.launcher);
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.panel, { state: 'visible' });
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.activeElement?.classList.contains('kf-input'));
  ok(true, 'Enter on the launcher opens the panel, the input has the focus');

  const hostile = 'Hello <b>is</b> the pu-erh in stock? <img src=x onerror="window.__xss=1"> & 你好';
  await v.keyboard.type(hostile);
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.mine + '[data-status="sent"]');
  const bubble = await v.$(W.mine + ' .kf-bubble');
  is(await bubble.textContent(), hostile, 'the message is shown as typed');
  is(await bubble.evaluate((e) => e.children.length), 0, 'as text: no element was made of it');
  const conv = await v.evaluate(() => window.KefuWidget.conversation());
  ok(/^\d+$/.test(conv || ''), 'the conversation has an id: ' + conv);
  await shot(v, '050-widget-sent');

  // ---- the agent: console signed in through the URL fragment ----
  const me = 'alice' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Alice', groups: [group] }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');
  ok(!a.url().includes(token), 'the token is taken out of the address bar');
  is(await a.textContent('#me-name'), 'Alice', "the agent's name from the token");

  // routing assigns it by itself; without routing, accept (harmless when it did)
  const r = await acceptAs(a, wsUrl, site, token, conv);
  ok(r.type === 'conv' && r.state === 'open', 'the conversation is the agent\'s', JSON.stringify(r));
  const item = `.conv-item[data-conv="${conv}"]`;
  await a.waitForSelector(item);
  ok(true, 'the console lists the conversation, live');
  await a.click(item);
  await a.waitForSelector(`#entries .entry.theirs .bubble >> text=${'pu-erh in stock'}`);
  is(await a.textContent('#entries .entry.theirs .bubble'), hostile, 'the console shows the visitor\'s text, as text');
  is(await a.evaluate(() => window.__xss), undefined, 'no script ran from message text, anywhere');
  is(await v.evaluate(() => window.__xss), undefined, 'nor in the widget');

  // the visitor sees the agent's name once assigned
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-title').textContent === 'Alice');
  ok(true, "the widget's header shows the agent's name");

  // the console has read the visitor's message: the visitor sees "Read"
  await v.waitForSelector(W.mine + '[data-status="read"]');
  ok(true, 'the visitor sees its message read');

  // typing, both ways
  await a.click('#input');
  await a.keyboard.type('Yes', { delay: 30 });
  await v.waitForSelector(W.typing + ':not([hidden])');
  is((await v.textContent(W.typing)).trim(), 'Alice is typing…', 'the visitor sees the agent typing');
  await a.keyboard.type('! We have 12 cakes of the 2016 harvest left.');
  await a.keyboard.press('Enter');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=12 cakes');
  ok(true, 'the visitor gets the reply');
  await v.waitForSelector(W.typing, { state: 'hidden' });
  ok(true, 'the typing indicator goes when the reply arrives');

  // the visitor has the panel open: the console sees "Seen"
  await a.waitForSelector('#entries .entry.mine[data-status="read"]');
  ok(true, 'the agent sees its reply read');

  await v.click(W.input);
  await v.keyboard.type('Great, I', { delay: 30 });
  await a.waitForSelector('#typing:not([hidden])');
  ok((await a.textContent('#typing-text')).includes('typing'), 'the agent sees the visitor typing');
  await v.keyboard.type("'ll take two. Can you ship to Hangzhou?");
  await v.keyboard.press('Enter');
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=Hangzhou');

  // a private note: the console shows it, the visitor never gets it
  await a.click('.mode[data-mode="note"]');
  await a.fill('#input', 'VIP customer: offer free shipping');
  await a.keyboard.press('Enter');
  await a.waitForSelector('#entries .entry.note .bubble >> text=VIP customer');
  await a.click('.mode[data-mode="reply"]');
  await a.fill('#input', 'Of course — shipping to Hangzhou is free for you. 😊');
  await a.keyboard.press('Enter');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=Hangzhou is free');
  const texts = await v.$$eval(W.list + ' .kf-bubble', (es) => es.map((e) => e.textContent));
  ok(!texts.some((x) => x.includes('VIP')), 'the private note never reaches the visitor', texts.join('\n'));
  is(texts.length, 4, 'the visitor has its two messages and the two replies, each once');
  await a.waitForSelector('#entries .entry.mine[data-status="read"] >> nth=1');
  await shot(v, '050-widget-conversation');
  await shot(a, '050-console-conversation');

  // Escape closes the panel and gives the focus back to the launcher
  await v.focus(W.input);
  await v.keyboard.press('Escape');
  await v.waitForSelector(W.panel, { state: 'hidden' });
  ok(await v.evaluate(() => document.activeElement?.id === 'kefu-widget' &&
      document.querySelector('#kefu-widget').shadowRoot.activeElement?.classList.contains('kf-launcher')),
     'Escape closes the panel, the launcher has the focus');
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.panel, { state: 'visible' });

  // the launcher shows what arrived while the panel was closed
  await v.click('#kefu-widget .kf-close');
  await a.fill('#input', 'Your order will leave our warehouse today.');
  await a.keyboard.press('Enter');
  await v.waitForSelector('#kefu-widget .kf-badge:not([hidden])');
  is((await v.textContent('#kefu-widget .kf-badge')).trim(), '1', 'an unread badge on the closed launcher');
  await shot(v, '050-shop-badge');
  await v.press(W.launcher, 'Enter');
  await v.waitForSelector('#kefu-widget .kf-badge', { state: 'hidden' });
  ok(true, 'opening the panel reads it');

  // the console's phone and tablet layouts
  await a.setViewportSize({ width: 390, height: 844 });
  await shot(a, '050-console-phone');
  await a.setViewportSize({ width: 1024, height: 768 });
  await shot(a, '050-console-tablet');

  // the widget on a phone: the panel takes the whole screen
  const pctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                         deviceScaleFactor: 2, locale: 'en-US' });
  const p = await pctx.newPage();
  watchErrors(p, 'phone', errors);
  await p.goto(`${base}/?group=${group}&site=${site}`);
  await p.waitForSelector(W.launcher, { state: 'visible' });
  await shot(p, '050-phone-shop');
  await p.tap(W.launcher);
  await p.waitForSelector(W.panel, { state: 'visible' });
  // the opening transition ends with the panel at its full size
  await p.waitForFunction((sel) => {
    const e = document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf-panel');
    const r = e.getBoundingClientRect();
    return Math.round(r.width) === innerWidth && Math.round(r.height) === innerHeight;
  }, W.panel, { timeout: 15000 }).catch(() => {});
  await settled(p);
  const box = await p.$eval(W.panel, (e) => { const r = e.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; });
  ok(box[0] === 390 && box[1] === 844, 'on a phone the panel fills the screen', JSON.stringify(box));
  await p.fill(W.input, 'Do you deliver on weekends?');
  await p.tap('#kefu-widget .kf-send');
  await p.waitForSelector(W.mine + '[data-status="sent"]');
  await shot(p, '050-phone-widget');

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
