// The agent console on its own: pasted sign-in, unread counts, live list,
// history paging, the title flash in a background tab, transfer, keyboard
// use, sign-out.  The visitors are raw WebSocket clients.  Run by
// t/053-browser-console.t.

import { launch, jwt, ok, is, plan, until, shot, rawClient, acceptAs, finish, watchErrors } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

async function visitor(page, name, texts) {
  const c = await rawClient(page, wsUrl);
  await c.send({ type: 'hello', role: 'visitor', site, name, group });
  const w = await c.next('welcome');
  let conv;
  for (const [i, text] of texts.entries()) {
    await c.send({ type: 'msg', cid: name + i, text });
    conv = (await c.next('ack')).conv;
  }
  return { c, conv, id: w.id };
}

plan(30);
try {
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  const sent = [];
  a.on('websocket', (ws) => ws.on('framesent', (f) => { try { sent.push(JSON.parse(f.payload)); } catch (e) { /* */ } }));

  // ---- sign in by pasting ----
  await a.goto(`${base}/console/`);
  await a.waitForSelector('#signin', { state: 'visible' });
  await shot(a, '053-console-signin');
  await a.fill('#signin-token', 'not a token');
  await a.click('#signin-form button[type=submit]');
  await a.waitForSelector('#signin-error:not([hidden])');
  ok(true, 'a bad token is refused on the spot');
  const vtoken = jwt({ sub: 'v1', role: 'visitor', site }, secret);
  await a.fill('#signin-token', vtoken);
  await a.click('#signin-form button[type=submit]');
  is(await a.textContent('#signin-error'), 'This is not an agent token.', "a visitor's token is not an agent's");
  const me = 'carol' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Carol', groups: [group, 'vip'] }, secret);
  await a.fill('#signin-token', token);
  await a.keyboard.press('Tab');
  await a.keyboard.press('Enter');
  await a.waitForSelector('#conn[data-state="online"]');
  is(await a.textContent('#me-groups'), `${group} · vip`, 'signed in: name and groups from the token');

  // ---- two visitors, both the agent's ----
  const vp = await (await browser.newContext()).newPage();
  await vp.goto(`${base}/widget/widget.css`);   // any page of the site: raw clients run in it
  const A = await visitor(vp, 'Li Lei', ['Hi, where is my order #1001?']);
  const B = await visitor(vp, 'Han Meimei', ['Hello!']);
  for (const x of [A, B]) {
    const r = await acceptAs(vp, wsUrl, site, token, x.conv);
    ok(r.type === 'conv', 'accepted ' + x.conv, JSON.stringify(r));
  }
  await a.waitForSelector(`.conv-item[data-conv="${A.conv}"]`);
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"]`);
  ok(true, 'both conversations are listed, live');
  is(await a.textContent(`.conv-item[data-conv="${A.conv}"] .ci-name`), 'Li Lei', "the visitor's name from its hello");
  await a.click(`.conv-item[data-conv="${A.conv}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=#1001');

  // messages for the other conversation count as unread there
  for (const [i, text] of ['Are you there?', 'I need help with sizes', 'Thanks'].entries()) {
    await B.c.send({ type: 'msg', cid: 'more' + i, text });
    await B.c.next('ack');
  }
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"] .unread >> text=4`);
  ok(true, 'the other conversation shows 4 unread (the first one and three more)');
  ok(!(await a.$(`.conv-item[data-conv="${A.conv}"] .unread`)), 'the open one shows none');
  ok((await a.textContent(`.conv-item[data-conv="${B.conv}"] .ci-text`)).includes('Thanks'), 'the list shows the last message');
  ok(/waiting/.test(await a.textContent(`.conv-item[data-conv="${B.conv}"] .ci-tags`)), 'and that the visitor waits for an answer');
  await shot(a, '053-console-unread');

  // keyboard: focus the list, move down, Enter opens it
  await a.focus(`.conv-item[data-conv="${A.conv}"]`);
  const order = await a.$$eval('.conv-item', (es) => es.map((e) => e.dataset.conv));
  await a.keyboard.press(order[0] === A.conv ? 'ArrowDown' : 'ArrowUp');
  await a.keyboard.press('Enter');
  await a.waitForSelector(`#conv[data-conv="${B.conv}"]`);
  ok(true, 'the keyboard moves through the list and opens a conversation');
  const rd = await B.c.next('read');
  is(rd.seq, 5, 'opening it sends a read receipt up to the last entry');
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"] .unread`, { state: 'detached' });
  ok(true, 'and clears its unread count');

  // ---- the title flashes while the tab is in the background ----
  await a.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    document.hasFocus = () => false;
  });
  await A.c.send({ type: 'msg', cid: 'bg', text: 'Hello? Anyone?' });
  await A.c.next('ack');
  await a.waitForFunction(() => document.title.startsWith('(1) New message'));
  ok(true, 'a new message in a background tab flashes the title');
  await a.evaluate(() => {
    delete document.visibilityState;
    document.hasFocus = () => true;
    window.dispatchEvent(new Event('focus'));
  });
  await a.waitForFunction(() => document.title === 'kefu · Agent console');
  ok(true, 'back in the foreground, the title is itself again');

  // ---- history paging ----
  const texts = Array.from({ length: 64 }, (_, i) => `line ${i + 1}`);
  const C = await visitor(vp, 'Zhang Wei', texts);
  await acceptAs(vp, wsUrl, site, token, C.conv);
  await a.waitForSelector(`.conv-item[data-conv="${C.conv}"]`);
  // accepting replays the whole conversation live; after a reload the
  // console reads it page by page
  await a.reload();
  await a.waitForSelector('#conn[data-state="online"]');
  await a.click(`.conv-item[data-conv="${C.conv}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=line 64');
  await a.waitForSelector('#earlier:not([hidden])');
  let seqs = await a.$$eval('#entries [data-seq]', (es) => es.map((e) => +e.dataset.seq));
  is(seqs.length, 50, 'the newest 50 first');
  await a.click('#earlier');
  await a.waitForSelector('#entries .entry.theirs .bubble >> text="line 1"');
  seqs = await a.$$eval('#entries [data-seq]', (es) => es.map((e) => +e.dataset.seq));
  is(seqs.join(','), Array.from({ length: 65 }, (_, i) => i + 1).join(','), 'then the older ones: every entry once, in order');
  ok(await a.isHidden('#earlier'), 'and nothing more to load');

  // ---- transfer: the picker sends it ----
  // Dave (of aftersales) signs in, away: the group is known, nobody free
  const dave = 'dave' + Math.floor(Math.random() * 1e9);
  const dtoken = jwt({ sub: dave, role: 'agent', site, name: 'Dave', groups: ['aftersales'] }, secret);
  const D = await rawClient(vp, wsUrl);
  await D.send({ type: 'hello', role: 'agent', site, token: dtoken, status: 'away' });
  await D.next('welcome');
  await a.click(`.conv-item[data-conv="${A.conv}"]`);
  await a.click('#transfer');
  await a.waitForSelector('#transfer-dialog[open] #transfer-groups .pick-btn[data-value="aftersales"]');
  await a.click('#transfer-groups .pick-btn[data-value="aftersales"]');
  await shot(a, '053-console-transfer');
  await a.click('#transfer-ok');
  await a.waitForFunction(() => !document.querySelector('#transfer-dialog').open);
  await until(() => sent.some((m) => m.type === 'transfer' && m.conv === A.conv), 'the transfer frame');
  const tr = sent.filter((m) => m.type === 'transfer').pop();
  ok(tr && tr.conv === A.conv && tr.group === 'aftersales', 'transfer to a group is sent', JSON.stringify(tr));

  // to another agent of the site, who is online: it is theirs, and leaves
  // this agent's list
  await D.send({ type: 'status', state: 'online' });
  await a.click(`.conv-item[data-conv="${B.conv}"]`);
  await a.click('#transfer');
  await a.waitForSelector(`#transfer-agents .pick-btn[data-value="${dave}"]:not([disabled])`);
  await a.click(`#transfer-agents .pick-btn[data-value="${dave}"]`);
  await a.click('#transfer-ok');
  // Dave first gets A (transferred to his group before he came online),
  // then B, transferred to him by name
  // (the queue notices of his group come too: contract v2 "Agents' view")
  const nextOpen = async (conv) => {
    for (;;) { const m = await D.next('conv', 15000); if (m.conv === conv && m.reason !== 'queue') return m; }
  };
  const fromA = await nextOpen(A.conv);
  ok(fromA.conv === A.conv && fromA.state === 'open' && fromA.agent && fromA.agent.id === dave,
     'the conversation sent to his group went to Dave when he came online', JSON.stringify(fromA));
  const fromB = await nextOpen(B.conv);
  ok(fromB.conv === B.conv && fromB.state === 'open' && fromB.agent && fromB.agent.id === dave,
     'transferred to the other agent', JSON.stringify(fromB));
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"]`, { state: 'detached' });
  ok(true, 'and gone from this agent\'s list');
  await a.click('.tab[data-tab="closed"]');
  await a.waitForSelector(`.conv-item[data-conv="${B.conv}"]`);
  ok(true, 'it is in the history tab');
  await a.click('.tab[data-tab="mine"]');

  // ---- a customer the shop signed in: the standalone chat page with its token ----
  const ctoken = jwt({ sub: 'cust-42', role: 'visitor', site, name: '李雷' }, secret);
  const wp = await (await browser.newContext({ viewport: { width: 420, height: 720 }, locale: 'zh-CN' })).newPage();
  watchErrors(wp, 'chat page', errors);
  await wp.goto(`${base}/widget/?site=${site}&group=${group}&token=${ctoken}`);
  await wp.waitForFunction(() => window.KefuWidget && window.KefuWidget.visitor() === 'cust-42');
  ok(true, "the chat page signs the visitor in with the shop's token");
  ok(await wp.evaluate((site) => localStorage.getItem(`kefu.${site}.token`), site) === null,
     "a shop's token is not kept: the shop hands it over each time");
  await wp.fill('#kefu-widget .kf-input', '订单 #2048 可以改地址吗？');
  await wp.keyboard.press('Enter');
  await wp.waitForSelector('#kefu-widget .kf-mine[data-status="sent"]');
  const conv4 = await wp.evaluate(() => window.KefuWidget.conversation());
  await acceptAs(vp, wsUrl, site, token, conv4);
  await a.waitForSelector(`.conv-item[data-conv="${conv4}"]`);
  await a.click(`.conv-item[data-conv="${conv4}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=#2048');
  is(await a.textContent('#conv-name'), '李雷', "the console shows the customer's name from the shop's token");
  is(await a.textContent('#info-id'), 'cust-42', "and the shop's own customer id");
  await shot(wp, '053-chat-page-signed-in');

  // ---- sign out ----
  await a.click('#signout');
  await a.waitForSelector('#signin', { state: 'visible' });
  is(await a.evaluate(() => sessionStorage.getItem('kefu.console.token')), null, 'signed out: the token is forgotten');

  ok(errors.length === 0, 'no script errors', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
