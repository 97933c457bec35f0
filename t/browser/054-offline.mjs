// The visitor's side when nobody can answer, in the browser: the honest
// offline state (no green dot, no promise), the contact form, the
// conversation waiting until the only agent comes online, the answer and
// the rating request read on a later visit (badge and page title), the
// availability changing live as the agent goes away and back, URLs as
// safe links, names without bidi overrides.  Desktop in English, a phone
// in Chinese.  Run by t/054-browser-offline.t.

import { launch, plan, jwt, ok, is, shot, rawClient, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

const K = '#kefu-widget ';
const conn = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online');
const dot = (page) => page.getAttribute(K + '.kf-dot', 'class');
const sub = (page) => page.textContent(K + '.kf-head-sub');


plan(29);
try {
  // ---- desktop, English: nobody of the group is online ----
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  let v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(v);
  await v.click(W.launcher);
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-dot').classList.contains('kf-away'));
  ok(true, 'nobody online: no green dot');
  is((await sub(v)).trim(), 'Leave a message', 'the header says to leave a message');
  ok(!(await v.textContent(K + '.kf-panel')).includes('within a few minutes'), 'no promise of a quick answer');
  ok((await v.textContent(K + '.kf-greet')).includes('Nobody can answer right now'), "the site's offline text instead of a greeting");
  await shot(v, '054-desktop-offline-en');

  await v.fill(W.input, 'Where is my order 1234?');
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.mine + '[data-status="sent"]');
  await v.waitForSelector(W.banner + '[data-kind="leave"]');
  ok(!(await v.textContent(W.banner)).match(/number \d+ in line/), 'queued offline: no place in line');
  await v.waitForSelector(K + '.kf-contact input[name="email"]');
  ok(true, 'the contact form is shown once, offline');
  await shot(v, '054-desktop-contact-en');
  await v.click(K + '.kf-contact-send');
  ok((await v.textContent(K + '.kf-contact-err')).length > 0, 'an empty form is refused in the widget');
  await v.fill(K + '.kf-contact input[name="name"]', 'Ann Lee');
  await v.fill(K + '.kf-contact input[name="email"]', 'ann@example.com');
  await v.click(K + '.kf-contact-send');
  await v.waitForSelector(K + '.kf-contact-done');
  ok(true, 'the contact details are confirmed by the server');
  const conv1 = await v.evaluate(() => window.KefuWidget.conversation());
  await v.click(K + '.kf-close');   // the visitor minimises the chat
  await v.close();                  // and leaves the shop

  // ---- the only agent of the group comes online and answers ----
  const me = 'rtl' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Sam\u202eevil', groups: [group], capacity: 2 }, secret);
  const actx = await browser.newContext();
  const ap = await actx.newPage();
  await ap.goto(`${base}/widget/widget.css`);
  const agent = await rawClient(ap, wsUrl);
  await agent.send({ type: 'hello', role: 'agent', site, token, status: 'online' });
  await agent.next('welcome');
  let n;
  // its assignment, not the group's queue notice (which carries
  // "queued"): on a cluster that one comes first, published by the routing
  // step while the agent's own waits for the conversation's side
  do { n = await agent.next('conv', 8000); } while (n.conv !== conv1 || 'queued' in n);
  is(n.state, 'open', 'the waiting conversation goes to the agent coming online');
  is(n.visitor && n.visitor.contact && n.visitor.contact.email, 'ann@example.com', "the agent gets the visitor's contact details");
  await agent.send({ type: 'msg', conv: conv1, cid: 'a1',
                     text: 'It ships today. Track it at https://example.com/track?id=1234. Thanks!' });
  await agent.next('ack');
  await agent.send({ type: 'close', conv: conv1 });
  do { n = await agent.next('conv'); } while (n.conv !== conv1 || n.state !== 'closed');

  // ---- the visitor comes back later: the answer waits for it ----
  v = await vctx.newPage();
  watchErrors(v, 'visitor (return)', errors);
  await v.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(v);
  await v.waitForSelector(K + '.kf-badge:not([hidden])');
  ok(Number(await v.textContent(K + '.kf-badge')) >= 1, 'the launcher shows the unread answer');
  await v.waitForFunction(() => /^\(\d+\) New message/.test(document.title));
  ok(true, 'and so does the page title');
  await shot(v, '054-desktop-return-badge-en');
  await v.click(W.launcher);
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=It ships today');
  ok(true, 'the closed conversation is read: the answer is there');
  const link = await v.$(W.theirs + ' .kf-bubble a');
  is(await link.getAttribute('href'), 'https://example.com/track?id=1234', 'the URL is a link (without the full stop)');
  is(await link.getAttribute('rel'), 'noopener noreferrer', 'rel="noopener noreferrer"');
  is(await link.getAttribute('target'), '_blank', 'in a new tab');
  const who = await v.textContent(W.theirs + ' .kf-who');
  ok(!who.includes('\u202e'), 'a right-to-left override in the agent name is neutralised', JSON.stringify(who));
  await v.waitForSelector(K + '.kf-rate .kf-star');
  ok(true, 'the rating request waits too');
  await v.waitForFunction(() => !/^\(\d+\)/.test(document.title));
  ok(true, 'the page title is back once read');
  await shot(v, '054-desktop-return-answer-en');
  await v.click(K + '.kf-star[data-score="4"]');
  await v.click(K + '.kf-rate-send');
  await v.waitForSelector(K + '.kf-rate-title >> text=Thank you for your feedback');
  ok(true, 'rated from the later visit');

  // ---- availability changes live: the only agent goes away and back ----
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-dot').classList.contains('kf-on'));
  ok(true, 'the agent is online: the green dot');
  await agent.send({ type: 'status', state: 'away' });
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-dot').classList.contains('kf-away'));
  is((await sub(v)).trim(), 'Leave a message', 'it goes away: leave a message, at once');
  await agent.send({ type: 'status', state: 'online' });
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-dot').classList.contains('kf-on'));
  ok(true, 'it comes back: online again');

  // ---- a phone in Chinese, while the agent is away ----
  await agent.send({ type: 'status', state: 'away' });
  const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
  const pctx = await browser.newContext({ ...phone, locale: 'zh-CN' });
  const p = await pctx.newPage();
  watchErrors(p, 'phone', errors);
  await p.goto(`${base}/?group=${group}&site=${site}`);
  await conn(p);
  await p.tap(W.launcher);
  await p.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-dot').classList.contains('kf-away'));
  is((await sub(p)).trim(), '请留言', 'Chinese: leave a message');
  ok((await p.textContent(K + '.kf-greet')).includes('请留言'), 'the offline text in Chinese');
  await shot(p, '054-phone-offline-zh');
  await p.fill(W.input, '你好，我想退货');
  await p.tap(K + '.kf-send');
  await p.waitForSelector(K + '.kf-contact input[name="phone"]');
  ok(true, 'the contact form on the phone');
  await shot(p, '054-phone-contact-zh');
  await p.fill(K + '.kf-contact input[name="phone"]', '+86 138 0000 0000');
  await p.tap(K + '.kf-contact-send');
  await p.waitForSelector(K + '.kf-contact-done');
  ok((await p.textContent(K + '.kf-contact-done')).includes('谢谢'), 'thanked in Chinese');
  await agent.send({ type: 'status', state: 'online' });
  await p.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelector('.kf-head-title').textContent.startsWith('Sam'));
  ok(true, 'the agent coming online takes it: the phone shows the agent');
  await shot(p, '054-phone-assigned-zh');
  await agent.close();

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
