// The widget through a refresh, a second tab and a cut connection: the
// history stays, every message arrives exactly once in both directions,
// what the visitor typed offline is sent when it is back.  Run by
// t/051-browser-resilience.t.

import { launch, jwt, ok, is, plan, shot, rawClient, acceptAs, finish, watchErrors, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();

const conn = (page, state) => page.waitForFunction((s) => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === s, state);
const bubbles = (page) => page.$$eval(W.list + ' .kf-bubble', (es) => es.map((e) => e.textContent));
const consoleTexts = (page) => page.$$eval('#entries .entry.msg .bubble', (es) => es.map((e) => e.textContent));
const once = (list, text) => list.filter((x) => x === text).length === 1;

async function agentSays(a, text) {
  await a.fill('#input', text);
  await a.keyboard.press('Enter');
  await a.waitForSelector(`#entries .entry.mine[data-seq] .bubble >> text=${text}`);
}

plan(31);
try {
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?group=${group}&site=${site}`);
  await conn(v, 'online');
  await v.click(W.launcher);
  await v.fill(W.input, 'm1: my order has not arrived');
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.mine + '[data-status="sent"]');
  const conv = await v.evaluate(() => window.KefuWidget.conversation());

  const me = 'bob' + Math.floor(Math.random() * 1e9);
  const token = jwt({ sub: me, role: 'agent', site, name: 'Bob', groups: [group] }, secret);
  const actx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
  const a = await actx.newPage();
  watchErrors(a, 'console', errors);
  await a.goto(`${base}/console/#token=${token}`);
  await a.waitForSelector('#conn[data-state="online"]');
  const r = await acceptAs(a, wsUrl, site, token, conv);
  ok(r.type === 'conv', 'the agent has the conversation', JSON.stringify(r));
  await a.click(`.conv-item[data-conv="${conv}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=m1');
  await agentSays(a, 'r1: let me check that for you');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=r1');

  // ---- a refresh: the same visitor, the same conversation, its history ----
  await v.reload();
  await conn(v, 'online');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=r1');
  is(await v.evaluate(() => window.KefuWidget.conversation()), conv, 'after a refresh: the same conversation');
  let b = await bubbles(v);
  ok(b.length === 2 && b[0].startsWith('m1') && b[1].startsWith('r1'), 'its history, in order, each once', b.join('\n'));
  ok(await v.isVisible(W.panel), 'the panel stays open across the refresh');
  ok((await v.textContent('#kefu-widget .kf-list')).includes('Bob joined the conversation'), 'with the assignment in the timeline');

  // ---- a second tab: the same conversation, live in both ----
  const v2 = await vctx.newPage();
  watchErrors(v2, 'second tab', errors);
  await v2.goto(`${base}/?group=${group}&site=${site}`);
  await conn(v2, 'online');
  await v2.waitForSelector(W.theirs + ' .kf-bubble >> text=r1');
  is(await v2.evaluate(() => window.KefuWidget.conversation()), conv, 'a new tab shows the same conversation');
  await v2.fill(W.input, 'm2: from the second tab');
  await v2.keyboard.press('Enter');
  await v.waitForSelector(W.mine + ' .kf-bubble >> text=m2');
  ok(true, 'what one tab sends, the other shows');
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=m2');
  await v2.close();

  // ---- offline for a moment ----
  await vctx.setOffline(true);
  await conn(v, 'offline');
  ok(true, 'the widget knows it is offline');
  await v.fill(W.input, 'o1: typed while offline');
  await v.keyboard.press('Enter');
  await v.fill(W.input, 'o2: also offline');
  await v.keyboard.press('Enter');
  await v.waitForSelector(W.mine + '[data-status="sending"] >> nth=1');
  ok(true, 'what is typed offline waits, marked as not sent yet');
  await agentSays(a, 'r2: found it');
  await agentSays(a, 'r3: it is at the depot');
  await agentSays(a, 'r4: arriving tomorrow');
  b = await bubbles(v);
  ok(!b.some((x) => x.startsWith('r2')), 'nothing arrives while offline', b.join('\n'));
  await shot(v, '051-widget-offline');

  await vctx.setOffline(false);
  await conn(v, 'online');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=r4');
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot
    .querySelectorAll('.kf-mine[data-status="sending"]').length === 0);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=o2');
  b = await bubbles(v);
  for (const x of ['m1', 'r1', 'm2', 'r2', 'r3', 'r4', 'o1', 'o2']) {
    ok(once(b.map((s) => s.slice(0, 2)), x), `visitor: ${x} exactly once`, b.join('\n'));
  }
  is(b.length, 8, 'visitor: nothing else');
  let c = await consoleTexts(a);
  for (const x of ['o1', 'o2']) ok(once(c.map((s) => s.slice(0, 2)), x), `agent: ${x} exactly once`, c.join('\n'));
  await shot(v, '051-widget-back-online');

  // ---- cut right after sending: the resend with the same cid is not doubled ----
  await v.fill(W.input, 'x1: sent as the line dropped');
  await v.keyboard.press('Enter');
  await vctx.setOffline(true);
  await conn(v, 'offline');
  await vctx.setOffline(false);
  await conn(v, 'online');
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=x1');
  // acknowledged: "sent", or already "read" when the agent's console read
  // it before this connection's welcome
  await v.waitForSelector(W.mine + ':is([data-status="sent"], [data-status="read"]) .kf-bubble >> text=x1');
  await agentSays(a, 'r5: noted');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=r5');
  c = await consoleTexts(a);
  ok(once(c.map((s) => s.slice(0, 2)), 'x1'), 'agent: x1 exactly once', c.join('\n'));
  b = await bubbles(v);
  ok(once(b.map((s) => s.slice(0, 2)), 'x1'), 'visitor: x1 exactly once', b.join('\n'));

  // ---- and after one more refresh, from the stored history ----
  await v.reload();
  await conn(v, 'online');
  await v.waitForSelector(W.theirs + ' .kf-bubble >> text=r5');
  b = (await bubbles(v)).map((s) => s.slice(0, 2));
  is(b.join(','), 'm1,r1,m2,r2,r3,r4,o1,o2,x1,r5', 'the stored history: every message once, in order');
  await a.reload();
  await a.waitForSelector('#conn[data-state="online"]');
  ok(!(await a.isVisible('#signin')), 'the console stays signed in across a reload');
  await a.click(`.conv-item[data-conv="${conv}"]`);
  await a.waitForSelector('#entries .entry.msg .bubble >> text=r5');
  c = (await consoleTexts(a)).map((s) => s.slice(0, 2));
  is(c.join(','), 'm1,r1,m2,r2,r3,r4,o1,o2,x1,r5', "the console's history after its reload: the same");

  // ---- a long conversation: the newest 50 first, older ones on demand ----
  const vtoken = await v.evaluate((site) => JSON.parse(localStorage.getItem(`kefu.${site}.token`)), site);
  const raw = await rawClient(v, wsUrl);
  await raw.send({ type: 'hello', role: 'visitor', site, token: vtoken });
  await raw.next('welcome');
  for (let i = 1; i <= 55; i++) {
    await raw.send({ type: 'msg', cid: 'long' + i, text: `n${i}` });
    await raw.next('ack');
  }
  await raw.close();
  await v.reload();
  await conn(v, 'online');
  await v.waitForSelector(W.mine + ' .kf-bubble >> text="n55"');
  is((await bubbles(v)).length, 50, 'after a refresh: the newest 50 entries');
  await v.click('#kefu-widget .kf-earlier');
  await v.waitForSelector(W.mine + ' .kf-bubble >> text=m1');
  b = (await bubbles(v)).map((s) => s.slice(0, 3));
  is(b.length, 65, 'then the rest: every message once');
  is(b.slice(0, 3).join(','), 'm1:,r1:,m2:', 'in order from the start');
  ok(await v.isHidden('#kefu-widget .kf-earlier'), 'and nothing more to load');

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
