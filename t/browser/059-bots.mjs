// Bots in the browser (issue 15): a visitor asks an FAQ question, gets the
// bot's answer with buttons, uses one (the value is sent, the buttons go),
// then clicks "talk to a person"; the agent sees the conversation in the
// Bot tab while the bot answers, read-only, and then with everything the
// bot said once it is handed over, and a rule's suggestion as a card
// naming the rule that the visitor never sees.  A second visitor (Chinese,
// on a phone) is taken over from the Bot tab.  Run by t/059-browser-bots.t.

import { request } from 'node:http';
import { launch, plan, jwt, ok, is, shot, finish, watchErrors, until, rawClient, W } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const API = `${base}/kefu/api/sites/${site}`;
const errors = [];
const { browser, close } = await launch();
const K = '#kefu-widget ';

const adminTok = jwt({ sub: 'boss', role: 'admin', site, name: 'Boss' }, secret);
async function api(method, path, body) {
  const r = await fetch(API + path, {
    method, headers: { Authorization: 'Bearer ' + adminTok, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
// the stored rules as one worker runs them: each request on a connection of
// its own, so that either worker may answer
function tryRules() {
  return new Promise((res, rej) => {
    const body = JSON.stringify({ text: 'x' });
    const r = request(API + '/rules/try', { method: 'POST', agent: false, headers: {
      Authorization: 'Bearer ' + adminTok, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
    (rs) => { let d = ''; rs.setEncoding('utf8'); rs.on('data', (x) => { d += x; });
              rs.on('end', () => { try { res(JSON.parse(d)); } catch (e) { res(null); } }); });
    r.on('error', rej);
    r.end(body);
  });
}
// the settings reach the workers by a notice after the PUT answered: wait
// until answers in a row (from both workers) know the rule
async function settingsRun(id) {
  let agree = 0;
  await until(async () => {
    const j = await tryRules();
    agree = j && (j.rules || []).some((r) => r.id === id) ? agree + 1 : 0;
    return agree >= 8;
  }, 'the settings on every worker');
}
const conn = (page) => page.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot
  ?.querySelector('.kf')?.getAttribute('data-conn') === 'online');
const wtext = (page, sel) => page.$$eval('#kefu-widget', (h, sel) => [...h[0].shadowRoot.querySelectorAll(sel)]
  .map((n) => n.textContent.trim()), sel);

const SETTINGS = {
  bot: { enabled: true, groups: [group], mode: 'faq', name: { zh: '小茶', en: 'Tea bot' } },
  faq: [
    { id: 'shipping', question: { zh: '多久发货？', en: 'When do you ship?' },
      alts: ['什么时候发货', 'how long is delivery'], keywords: ['发货', 'shipping', 'ship'],
      answer: { zh: '付款后 24 小时内从杭州发货。', en: 'We ship from Hangzhou within 24 hours of payment.' },
      buttons: [{ text: 'Track my order', value: 'track my order' }] },
    { id: 'track', question: { zh: '怎么查物流？', en: 'How do I track my order?' },
      alts: ['查订单', 'track my order'], keywords: ['物流', 'track'],
      answer: { zh: '在“我的订单”里点“查看物流”。', en: 'Open My orders and choose Track.' } },
  ],
  rules: [
    { id: 'ship-suggest', name: 'Shipping questions', when: { type: 'message' },
      if: [{ keywords: ['ship', '发货'] }],
      then: [{ suggest: 'Your parcel leaves Hangzhou within a day; shall I look up its tracking number?' }] },
    { id: 'complaints', name: 'Complaints to a person', when: { type: 'message' },
      if: [{ keywords: ['complain', '投诉'] }], then: [{ handoff: true }] },
  ],
};

plan(50);
try {
  await api('PUT', '/settings', SETTINGS);
  await settingsRun('ship-suggest');

  // ---- the agent's console, signed in before anyone writes ----
  const me = 'alice' + Math.floor(Math.random() * 1e9);
  const agentTok = jwt({ sub: me, role: 'agent', site, name: 'Alice', groups: [group] }, secret);
  const actx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
  const a = await actx.newPage();
  watchErrors(a, 'agent console', errors);
  await a.goto(`${base}/console/#token=${agentTok}`);
  await a.waitForSelector('#conn[data-state="online"]');
  await a.click('.tab[data-tab="bot"]');
  await a.waitForSelector('#convs .convs-empty');
  ok(true, 'the agent has a Bot tab, empty');

  // ---- a visitor asks an FAQ question ----
  const vctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  const v = await vctx.newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(v);
  await v.click(W.launcher);
  await v.fill(W.input, 'When do you ship?');
  await v.press(W.input, 'Enter');
  await v.waitForSelector(K + '.kf-msg.kf-bot >> text=within 24 hours');
  ok(true, 'the bot answers from the FAQ');
  ok((await v.textContent(K + '.kf-msg.kf-bot .kf-who')).includes('Tea bot'), "under the bot's name in English");
  ok((await v.textContent(K + '.kf-bot-tag')).includes('Bot'), 'tagged as a bot');
  await v.waitForSelector(K + '.kf-banner[data-kind="bot"]');
  ok((await v.textContent(W.banner)).includes('a person is one click away'), 'the banner says a person is one click away');
  ok((await v.textContent(K + '.kf-head-sub')).includes('Our assistant is answering'), 'the header says the assistant answers');
  await v.waitForSelector(K + '.kf-quick:not([hidden]) .kf-qr');
  const qr = await wtext(v, '.kf-quick .kf-qr');
  is(qr[0], 'Track my order', "the answer's button as a quick reply");
  ok(!!(await v.$(K + '.kf-quick .kf-qr[data-handoff]')), 'and the handoff button last');
  is(await v.$eval(K + '.kf-quick .kf-qr:last-child', (b) => b.hasAttribute('data-handoff')), true, '... as the last one');
  is(await v.$eval(K + '.kf-quick .kf-qr', (b) => b.tagName), 'BUTTON', 'quick replies are buttons');
  await shot(v, '059-desktop-visitor-bot-answer-en');

  // the agent sees it in the Bot tab, live, and reads it without replying
  const conv = await v.$eval('#kefu-widget', (h) => h.shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  await a.waitForSelector(`#convs .conv-item[data-conv="${conv}"][data-state="bot"]`);
  ok(true, 'the bot conversation appears in the Bot tab');
  is((await a.textContent('#count-bot')).trim(), '1', 'counted on the tab');
  const item = `#convs .conv-item[data-conv="${conv}"]`;
  ok(/When do you ship\?|within 24 hours/.test(await a.textContent(item + ' .ci-text')), "with the conversation's last words",
     await a.textContent(item + ' .ci-text'));
  ok((await a.textContent(item + ' .wait')).includes('with the bot'), 'and how long the bot has had it');
  await a.click(`#convs .conv-item[data-conv="${conv}"]`);
  await a.waitForSelector('#entries .entry.msg.bot .bubble >> text=within 24 hours');
  ok(true, "the agent reads the bot's answer");
  ok((await a.textContent('#entries .entry.msg.bot .meta')).includes('FAQ shipping'), 'naming the FAQ entry it came from');
  await a.waitForSelector('#entries .entry.rule[data-action="suggest"] .rule-name >> text=Shipping questions');
  ok(true, "a rule's action is a card of its own, naming the rule");
  ok((await a.textContent('#entries .entry.rule[data-action="suggest"] .suggest-text')).includes('tracking number'),
     'with its suggestion');
  is(await a.$$eval('#entries .entry.msg.bot .rule-card, #entries .entry.rule .bubble', (x) => x.length), 0,
     'not a message: the bot\'s answers and the rule cards are apart');
  ok(await a.isDisabled('#input'), 'read-only: the composer is off');
  ok(await a.isVisible('#bot-note'), 'saying why');
  is((await a.textContent('#accept')).trim(), 'Take over', 'with a Take over button');
  await shot(a, '059-desktop-console-bot-tab-en');

  // a quick reply by keyboard: its value is sent, the buttons go
  await v.focus(K + '.kf-quick .kf-qr');
  await v.keyboard.press('Enter');
  await v.waitForSelector(K + '.kf-msg.kf-mine .kf-bubble >> text=track my order');
  ok(true, "a quick reply by keyboard sends the button's value");
  await v.waitForSelector(K + '.kf-msg.kf-bot >> text=Open My orders');
  ok(true, 'the bot answers it');
  // the new answer has only the handoff button; the old ones are gone
  await v.waitForSelector(K + '.kf-quick:not([hidden]) .kf-qr[data-handoff]');
  is((await wtext(v, '.kf-quick .kf-qr')).length, 1, "only the latest answer's buttons are shown");

  // typing instead puts the buttons away
  await v.fill(W.input, 'hmm');
  await v.press(W.input, 'Enter');
  await v.waitForSelector(K + '.kf-msg.kf-mine .kf-bubble >> text=hmm');
  await v.waitForSelector(K + '.kf-msg.kf-bot >> nth=2');
  await shot(v, '059-desktop-visitor-bot-miss-en');

  // ---- talk to a person ----
  await v.click(K + '.kf-quick .kf-qr[data-handoff]');
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf')
    .getAttribute('data-conv-state') !== 'bot');
  ok(true, 'the visitor clicks "talk to a person": the conversation leaves the bot');
  ok(await v.isHidden(K + '.kf-quick'), 'the buttons are gone');
  await v.waitForSelector(K + '.kf-sys >> text=Connecting you to a person');
  ok(true, 'the visitor is told');

  // the agent: the conversation is routed like a new one (to Alice, or her queue)
  await a.waitForFunction((c) => ['open', 'queued'].includes(document.querySelector(`#conv`).dataset.state), conv);
  if ((await a.getAttribute('#conv', 'data-state')) === 'queued') await a.click('#accept');
  await a.waitForSelector('#conv[data-state="open"]');
  ok(true, 'the agent has it');
  ok(await a.isEnabled('#input'), 'and may reply');
  is(await a.$$eval('#entries .entry.msg.bot', (x) => x.length) >= 3, true, 'seeing everything the bot said');
  ok((await a.textContent('#entries')).includes('Handed to a person'), 'and the handoff');
  await a.fill('#input', 'Hi, Alice here. Let me check your parcel.');
  await a.press('#input', 'Enter');
  await v.waitForSelector(K + '.kf-msg.kf-theirs .kf-bubble >> text=Alice here');
  ok(true, 'the visitor gets the person');
  is(await v.$$eval('#kefu-widget', (h) => [...h[0].shadowRoot.querySelectorAll('.kf-list > li')]
    .filter((n) => /Shipping questions|ship-suggest|tracking number/.test(n.textContent)).length), 0,
     'the visitor never got the rule\'s entry (all stored before the reply has arrived)');
  await shot(a, '059-desktop-console-handed-en');
  await shot(v, '059-desktop-visitor-person-en');

  // ---- a second visitor (Chinese, phone), taken over from the Bot tab ----
  const pctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                          deviceScaleFactor: 2, locale: 'zh-CN' });
  const p = await pctx.newPage();
  watchErrors(p, 'phone', errors);
  await p.goto(`${base}/?group=${group}&site=${site}`);
  await conn(p);
  await p.tap(W.launcher);
  await p.fill(W.input, '什么时候发货');
  await p.press(W.input, 'Enter');
  await p.waitForSelector(K + '.kf-msg.kf-bot >> text=24 小时内');
  ok((await p.textContent(K + '.kf-msg.kf-bot .kf-who')).includes('小茶'), 'Chinese: the bot answers under its Chinese name');
  ok((await p.textContent(W.banner)).includes('转人工'), 'the banner offers a person');
  await shot(p, '059-phone-visitor-bot-zh');
  const conv2 = await p.$eval('#kefu-widget', (h) => h.shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  await a.click('.tab[data-tab="bot"]');
  await a.click(`#convs .conv-item[data-conv="${conv2}"]`);
  await a.waitForSelector('#entries .entry.msg.bot .bubble >> text=24 小时内');
  await a.click('#accept');
  await a.waitForSelector(`#conv[data-conv="${conv2}"][data-state="open"]`);
  ok(true, 'the agent takes it over from the Bot tab');
  await p.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf')
    .getAttribute('data-conv-state') === 'open');
  await p.waitForSelector(K + '.kf-sys >> text=Alice');
  ok(await p.isHidden(K + '.kf-quick'), "the visitor: a person joined, the bot's buttons (handoff and all) put away");
  await shot(p, '059-phone-visitor-taken-zh');

  // ---- a rule hands a third visitor to a person while Alice is away ----
  await a.click('.presence .seg[data-status="away"]');
  const tctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  const q = await tctx.newPage();
  watchErrors(q, 'third visitor', errors);
  await q.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(q);
  await q.click(W.launcher);
  // the server has Alice away once a visitor of the group hears that
  // nobody is online (the widget itself shows the bot instead)
  const probe = await rawClient(q, base.replace(/^http/, 'ws') + '/chat');
  await probe.send({ type: 'hello', role: 'visitor', site, group });
  let av = (await probe.next('welcome')).availability;
  while (av.online) av = await probe.next('availability', 15000);
  await probe.close();
  await q.fill(W.input, 'I want to complain about my parcel');
  await q.press(W.input, 'Enter');
  await q.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf')
    .getAttribute('data-conv-state') === 'queued');
  await q.waitForSelector(K + '.kf-sys >> text=Connecting you to a person');
  ok(true, 'a rule hands the conversation to a person: it waits in the queue, and the visitor is told');
  ok(await q.isHidden(K + '.kf-handoff'), 'no "talk to a person" left to click');
  const conv3 = await q.$eval('#kefu-widget', (h) => h.shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  await a.click('.tab[data-tab="queue"]');
  await a.waitForSelector(`#convs .conv-item[data-conv="${conv3}"][data-state="queued"]`);
  ok(true, "the agent finds it in the queue");
  await a.click(`#convs .conv-item[data-conv="${conv3}"] [data-accept]`);
  await a.waitForSelector(`#conv[data-conv="${conv3}"][data-state="open"]`);
  await a.waitForSelector('#entries .entry.rule[data-action="handoff"] .rule-name >> text=Complaints to a person');
  ok(true, "accepted, the rule's handoff is a card naming the rule");
  ok((await a.textContent('#entries')).includes('Handed to a person (asked by a rule)'), 'and the handoff line says a rule asked');
  await shot(a, '059-desktop-console-rule-handoff-en');
  await shot(q, '059-desktop-visitor-rule-handoff-en');

  // ---- a bot unsure, then the conversation closed while the bot has it ----
  const fctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' });
  const f = await fctx.newPage();
  watchErrors(f, 'fourth visitor', errors);
  await f.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await conn(f);
  await f.click(W.launcher);
  // Alice is still away, but the bot answers this group: no "leave a message"
  is((await f.textContent(K + '.kf-head-sub')).trim(), 'Our assistant answers at once',
     'nobody online but the bot: the widget says the assistant answers');
  ok(!(await f.textContent(K + '.kf-greet')).includes('Nobody can answer'), "and greets as usual, not with the offline text");
  // a question the bot is unsure of: it offers the closest ones
  await f.fill(W.input, 'track or ship');
  await f.press(W.input, 'Enter');
  await f.waitForSelector(K + '.kf-msg.kf-bot >> text=Did you mean one of these?');
  await f.waitForSelector(K + '.kf-quick:not([hidden]) .kf-qr[data-handoff]');
  const choices = await wtext(f, '.kf-quick .kf-qr');
  ok(choices.includes('When do you ship?') && choices.includes('How do I track my order?'),
     'unsure, the bot offers the closest questions as quick replies', JSON.stringify(choices));
  await shot(f, '059-desktop-visitor-bot-choose-en');
  await f.click(K + '.kf-quick .kf-qr >> text=When do you ship?');
  await f.waitForSelector(K + '.kf-msg.kf-bot >> text=within 24 hours');
  ok(true, 'one chosen, the bot answers it');
  const conv4 = await f.$eval('#kefu-widget', (h) => h.shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  await a.click('.tab[data-tab="bot"]');
  await a.waitForSelector(`#convs .conv-item[data-conv="${conv4}"][data-state="bot"]`);
  await api('POST', `/convs/${conv4}/close`, {});
  await a.waitForSelector(`#convs .conv-item[data-conv="${conv4}"]`, { state: 'detached' });
  ok(true, 'closed while the bot had it: it leaves the Bot tab');
  await a.click('.tab[data-tab="closed"]');
  is(await a.$$eval(`#convs .conv-item[data-conv="${conv4}"]`, (x) => x.length), 0, "and is not in the agent's History");

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
