// The agents' view in the console (issue 13): the queue seen live with
// several visitors and accepted in one click, the visitor panel filled from
// what a shop-signed visitor sent, a business event, the returning
// visitor's previous conversation opened (who closed it, the rating), the
// transfer picker, sound and cue, system lines not unread, shortcuts.
// Visitors and a second agent are raw WebSocket clients.  Run by
// t/058-browser-agents.t.

import { launch, jwt, ok, is, plan, until, shot, rawClient, finish, watchErrors } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1';
const r = Math.floor(Math.random() * 1e9);

async function anon(page, text) {
  const c = await rawClient(page, wsUrl);
  await c.send({ type: 'hello', role: 'visitor', site, group });
  await c.next('welcome');
  await c.send({ type: 'msg', cid: 'm' + Math.random(), text });
  return { c, conv: (await c.next('ack')).conv };
}
const played = (p) => p.evaluate(() => +document.getElementById('alert-sound').dataset.played);
const item = (conv) => `.conv-item[data-conv="${conv}"]`;

plan(49);
try {
  const me = 'carol' + r;
  const token = jwt({ sub: me, role: 'agent', site, name: 'Carol', groups: [group], capacity: 0 }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');
  await a.click('.tab[data-tab="queue"]');
  await a.waitForSelector('#convs .convs-empty');
  ok(true, 'signed in; the queue is empty');

  // ---- the queue, live ----
  const vctx = await browser.newContext({ userAgent: IPHONE });
  const vp = await vctx.newPage();
  await vp.goto(`${base}/widget/widget.css`);
  const ltoken = jwt({ sub: 'lily' + r, role: 'visitor', site, name: 'Lily' }, secret);
  const L = await rawClient(vp, wsUrl);
  await L.send({ type: 'hello', role: 'visitor', site, token: ltoken, name: 'Lily', group,
                 attrs: { order_id: 9007199254740991, tier: 'gold' },
                 page: { url: `https://shop.example/cart?token=secret1&x=1`, title: 'Cart' } });
  await L.next('welcome');
  await L.send({ type: 'page', url: 'https://shop.example/checkout', title: 'Checkout' });
  await L.send({ type: 'contact', email: 'lily@example.com', cid: 'c1' });
  await L.next('contact');
  await L.send({ type: 'msg', cid: 'l1', text: 'Where is my parcel?' });
  const l1 = (await L.next('ack')).conv;
  await a.waitForSelector(item(l1));
  is(await a.textContent(`${item(l1)} .ci-name`), 'Lily', 'a visitor who writes appears in the queue at once, by name');
  is(await a.textContent(`${item(l1)} .ci-text`), 'Where is my parcel?', 'with the last message');
  const tags = await a.textContent(`${item(l1)} .ci-tags`);
  ok(tags.includes(group) && /waiting/.test(tags), 'its group and how long it waits', tags);
  await a.waitForSelector('#cue:not([hidden])');
  ok((await a.textContent('#cue')).includes('Lily'), 'a visible cue names the new conversation, the console in front');
  await until(async () => (await played(a)) >= 1, 'the alert sound');
  ok(true, 'and the alert sound was played');

  const V2 = await anon(vp, '你好，有人吗？');
  const V3 = await anon(vp, 'Do you ship to Canada?');
  await a.waitForSelector(item(V2.conv));
  await a.waitForSelector(item(V3.conv));
  is(await a.textContent('#count-queue'), '3', 'three waiting, counted on the tab');
  is(await a.textContent(`${item(V2.conv)} .ci-text`), '你好，有人吗？', 'Chinese previews');
  await shot(a, '058-queue');

  // another agent of the group takes one: it leaves this queue, live
  const dave = 'dave' + r;
  const dtoken = jwt({ sub: dave, role: 'agent', site, name: 'Dave', groups: [group, 'vip' + r], capacity: 0 }, secret);
  const D = await rawClient(vp, wsUrl);
  await D.send({ type: 'hello', role: 'agent', site, token: dtoken, status: 'online' });
  await D.next('welcome');
  await D.send({ type: 'accept', conv: V2.conv });
  await D.next('conv', 10000);
  await a.waitForSelector(item(V2.conv), { state: 'detached' });
  ok(true, 'taken by another agent: gone from the queue');

  // ---- one click accepts; the visitor panel ----
  await a.click(`[data-accept="${l1}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=Where is my parcel?');
  await a.click('.tab[data-tab="mine"]');
  await a.waitForSelector(item(l1));
  ok(true, 'one click accepted it: it is mine, its messages shown');
  is(await a.textContent('#info-name'), 'Lily', 'the panel names the visitor');
  const attrs = await a.textContent('#info-attrs');
  ok(attrs.includes('9007199254740991') && attrs.includes('gold'), 'its attributes as the shop sent them', attrs);
  ok(attrs.includes('lily@example.com'), 'its contact', attrs);
  is((await a.textContent('#info-page .page-title')).trim(), 'Checkout', 'its current page');
  await a.waitForSelector('#info-trail .page-title >> text=Cart');
  const trail = await a.textContent('#info-trail');
  ok(!trail.includes('secret1'), 'the page trail, without the token of a page address', trail);
  const dev = await a.textContent('#info-device');
  ok(dev.includes('Safari 17') && dev.includes('iOS 17') && dev.includes('phone'), 'browser and device from the User-Agent', dev);

  const stoken = jwt({ sub: 'backend', role: 'service', site }, secret);
  const res = await fetch(`${base}/kefu/api/sites/${site}/convs/${l1}/events`, {
    method: 'POST', headers: { Authorization: 'Bearer ' + stoken, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'order.paid', data: { order: '1001', amount: '99.00' } }),
  });
  is(res.status, 201, 'the shop posts a business event');
  await a.waitForSelector('#info-events .ev-name >> text=order.paid');
  ok(true, 'the panel lists it');
  await shot(a, '058-visitor-panel');

  // ---- system lines are not unread: a conversation handed over ----
  await D.send({ type: 'transfer', conv: V2.conv, agent: me });
  await a.waitForSelector(`${item(V2.conv)} .unread`);
  await a.waitForSelector('#entries [data-seq]');
  await until(async () => {
    const n = await a.$$eval('.conv-item', (xs) => xs.length);
    return n >= 2;
  }, 'two conversations of mine');
  is(await a.textContent(`${item(V2.conv)} .unread`), '1', 'the visitor\'s one message is unread, the system lines are not');

  // ---- transfer: a picker, nothing to type ----
  await a.click('.tab[data-tab="queue"]');
  await a.click(`[data-accept="${V3.conv}"]`);
  await a.waitForSelector('#entries .bubble >> text=Do you ship to Canada?');
  await a.click('#transfer');
  await a.waitForSelector('#transfer-dialog[open] #transfer-agents .pick-btn');
  ok(!(await a.$('#transfer-dialog input[type=text], #transfer-dialog input:not([type])')), 'no field to type a target in');
  const groups = await a.$$eval('#transfer-groups .pick-btn', (bs) => bs.map((b) => b.dataset.value));
  ok(groups.includes(group) && groups.includes('vip' + r), 'the groups: the agent\'s and the other agents\'', groups.join());
  const dsub = await a.textContent(`#transfer-agents .pick-btn[data-value="${dave}"]`);
  ok(/Dave/.test(dsub) && /online/.test(dsub) && /open/.test(dsub), 'the agents with presence and load', dsub);
  ok(await a.isDisabled('#transfer-ok'), 'nothing chosen: nothing to send');
  await a.click(`#transfer-groups .pick-btn[data-value="vip${r}"]`);
  await shot(a, '058-transfer-picker');
  await a.click('#transfer-ok');
  let dq;
  await until(async () => { dq = await D.next('conv', 10000); return dq.conv === V3.conv && dq.group === 'vip' + r; }, 'the queue notice');
  ok(dq.conv === V3.conv && dq.state === 'queued' && dq.group === 'vip' + r, 'transferred to the group picked', JSON.stringify(dq));
  await a.click('.tab[data-tab="mine"]');
  await a.waitForSelector(item(V3.conv), { state: 'detached' });
  ok(true, 'and it left my list');
  await a.click('.tab[data-tab="queue"]');
  ok(!(await a.$(item(V3.conv))), 'not in my queue either (not my group\'s)');
  await a.click('.tab[data-tab="closed"]');
  await a.waitForSelector(item(V3.conv));
  ok(true, 'but in my history');

  // ---- closed with a rating; the returning visitor's previous conversation ----
  await a.click('.tab[data-tab="mine"]');
  await a.click(item(l1));
  await a.waitForSelector(`#conv[data-conv="${l1}"]`);
  await a.click('#close');
  await a.click('#close');
  await until(async () => (await L.next('conv', 10000)).state === 'closed', 'the close');
  await L.send({ type: 'rate', conv: l1, score: 4, comment: 'Quick and kind' });
  await L.next('conv', 10000);
  const n0 = await played(a);
  await L.send({ type: 'msg', cid: 'l2', text: 'Me again: one more question' });
  const l2 = (await L.next('ack')).conv;
  ok(l2 !== l1, 'the returning visitor opens a new conversation');
  await a.click('.tab[data-tab="queue"]');
  await a.waitForSelector(item(l2));
  await until(async () => (await played(a)) > n0, 'the sound again');
  ok(true, 'queued again: sound');
  await a.click(`[data-accept="${l2}"]`);
  await a.waitForSelector(`#conv[data-conv="${l2}"]`);
  await a.waitForSelector(`#info-prev .prev-conv[data-conv="${l1}"]`);
  ok(true, 'the panel lists the visitor\'s previous conversation');
  await a.click(`#info-prev .prev-conv[data-conv="${l1}"]`);
  await a.waitForSelector(`#conv[data-conv="${l1}"] #entries .bubble >> text=Where is my parcel?`);
  ok(await a.isDisabled('#input'), 'opened read-only');
  await a.waitForSelector('#info-closed .rating-comment');
  is(await a.textContent('#info-closed .closed-by'), 'Carol', 'who closed it');
  ok((await a.textContent('#info-closed .rating')).includes('4/5'), 'the rating');
  is(await a.textContent('#info-closed .rating-comment'), 'Quick and kind', 'and the comment');
  ok((await a.textContent('#entries')).includes('Conversation closed by Carol'), 'the timeline says who closed it');
  await shot(a, '058-previous-closed');

  // ---- shortcuts ----
  await a.click(item(l2)).catch(() => {});
  await a.click('.tab[data-tab="mine"]');
  await a.click(item(l2));
  await a.waitForSelector(`#conv[data-conv="${l2}"]`);
  await a.focus('#timeline');
  await a.keyboard.press('?');
  await a.waitForSelector('#keys-dialog[open]');
  ok((await a.textContent('#keys-list')).includes('Next unread conversation'), '? lists the shortcuts');
  await shot(a, '058-shortcuts');
  await a.keyboard.press('Escape');
  await a.waitForSelector('#keys-dialog:not([open])', { state: 'attached' });
  await a.keyboard.press('Alt+KeyN');
  ok(await a.$eval('#composer', (f) => f.classList.contains('note')), 'Alt+N: note mode');
  ok(await a.evaluate(() => document.activeElement.id === 'input'), '... with the composer focused');
  await a.keyboard.press('Alt+KeyN');
  ok(!(await a.$eval('#composer', (f) => f.classList.contains('note'))), 'Alt+N again: reply');
  await a.focus('#timeline');
  await a.keyboard.press('KeyR');
  ok(await a.evaluate(() => document.activeElement.id === 'input'), 'r: write a reply');
  await a.focus('#timeline');
  await a.keyboard.press('KeyJ');
  await a.waitForSelector(`#conv[data-conv="${V2.conv}"]`);
  ok(true, 'j: the next unread conversation');
  await a.keyboard.press('Alt+KeyT');
  await a.waitForSelector('#transfer-dialog[open]');
  ok(true, 'Alt+T: transfer');
  await a.click('#transfer-cancel');
  await a.keyboard.press('Alt+KeyE');
  is(await a.textContent('#close'), 'Click again to close', 'Alt+E: close, to be confirmed');

  // ---- a visitor who wrote while the console was offline: sound on return ----
  await a.click('.tab[data-tab="queue"]');
  const p0 = await played(a);
  await actx.setOffline(true);
  await a.waitForSelector('#conn:not([data-state="online"])');
  const V5 = await anon(vp, 'Hello, anyone there?');
  await actx.setOffline(false);
  await a.waitForSelector('#conn[data-state="online"]');
  await a.waitForSelector(item(V5.conv));
  await until(async () => (await played(a)) > p0, 'the sound for what came while offline');
  ok(true, 'a conversation that came while the console was offline: sound when it is back');

  // ---- sound off, remembered; the cue stays ----
  await a.click('#sound-toggle');
  is(await a.getAttribute('#sound-toggle', 'aria-pressed'), 'false', 'the sound turned off');
  await a.reload();
  await a.waitForSelector('#conn[data-state="online"]');
  is(await a.getAttribute('#sound-toggle', 'aria-pressed'), 'false', 'still off after a reload');
  await a.click(item(l2));
  await a.waitForSelector('#info-device .dev-browser >> text=Safari 17');
  ok(true, 'after a reload the panel still knows the visitor\'s browser (from the API)');
  await a.click('.tab[data-tab="queue"]');
  const V4 = await anon(vp, 'Anyone?');
  await a.waitForSelector(item(V4.conv));
  await a.waitForSelector('#cue:not([hidden])');
  is(await played(a), 0, 'the cue without the sound');

  is(errors.join('\n'), '', 'no console errors');
} catch (e) {
  ok(false, 'the run: ' + e.message);
  console.log('# ' + (e.stack || e).toString().replace(/\n/g, '\n# '));
} finally {
  await finish(close);
}
