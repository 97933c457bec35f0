// Buttons in the browser (issue 15): a bot's and an agent's messages sent
// over the HTTP API with buttons show in the widget as quick replies; a
// click (by keyboard) sends the button's value and puts them away, typing
// instead puts them away too, only the latest message's are shown, and the
// handoff button stays hidden while no bot has the conversation.  The
// agent's console shows the bot's message tagged, with the buttons the
// visitor was offered, and lets the agent offer quick replies of its own.
// A live rule: its reply is the bot's with its buttons, its actions cards
// in the console naming it, its suggestion one click into the composer,
// and none of it reaches the visitor.  Run by t/059-browser-buttons.t.

import { launch, plan, jwt, ok, is, shot, finish, watchErrors, W, acceptAs } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const API = `${base}/kefu/api/sites/${site}`;
const wsUrl = base.replace(/^http/, 'ws') + '/chat';
const errors = [];
const { browser, close } = await launch();
const K = '#kefu-widget ';
const svc = jwt({ sub: 'shop', role: 'service', site }, secret);
async function post(path, body) {
  const r = await fetch(API + path, { method: 'POST', body: JSON.stringify(body),
    headers: { Authorization: 'Bearer ' + svc, 'Content-Type': 'application/json' } });
  const j = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}
const quick = (page) => page.$$eval('#kefu-widget', (h) => [...h[0].shadowRoot.querySelectorAll('.kf-quick:not([hidden]) .kf-qr')]
  .map((n) => n.textContent.trim()));

plan(23);
try {
  const me = 'alice' + Math.floor(Math.random() * 1e9);
  const atok = jwt({ sub: me, role: 'agent', site, name: 'Alice', groups: [group] }, secret);
  const a = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' })).newPage();
  watchErrors(a, 'agent console', errors);
  await a.goto(`${base}/console/#token=${atok}`);
  await a.waitForSelector('#conn[data-state="online"]');

  const v = await (await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US' })).newPage();
  watchErrors(v, 'visitor', errors);
  await v.goto(`${base}/?lang=en&group=${group}&site=${site}`);
  await v.waitForFunction(() => document.querySelector('#kefu-widget')?.shadowRoot?.querySelector('.kf')
    ?.getAttribute('data-conn') === 'online');
  await v.click(W.launcher);
  await v.fill(W.input, 'When do you ship?');
  await v.press(W.input, 'Enter');
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  const conv = await v.$eval('#kefu-widget', (h) => h.shadowRoot.querySelector('.kf-panel').getAttribute('data-conv'));
  const r = await acceptAs(a, wsUrl, site, atok, conv);
  is(r.type, 'conv', 'the agent has the conversation');

  // a bot's message with buttons: quick replies
  await post(`/convs/${conv}/messages`, { cid: 'b1', text: 'We ship within 24 hours of payment.',
    from: { role: 'bot', id: 'bot', name: 'Tea bot' },
    buttons: [{ text: 'Track my order', value: 'track my order' }, { text: 'Talk to a person', value: '__handoff__' }] });
  await v.waitForSelector(K + '.kf-quick:not([hidden]) .kf-qr');
  ok((await v.textContent(K + '.kf-msg.kf-bot .kf-who')).includes('Tea bot'), "the bot's message under its name");
  ok((await v.textContent(K + '.kf-msg.kf-bot .kf-bot-tag')) === 'Bot', 'tagged as a bot');
  is(JSON.stringify(await quick(v)), JSON.stringify(['Track my order']),
     'its buttons as quick replies; no handoff button while no bot has the conversation');
  is(await v.$eval(K + '.kf-quick', (q) => q.getAttribute('role') + ' ' + q.getAttribute('aria-label')), 'group Quick replies',
     'a labelled group');
  is(await v.$eval(K + '.kf-qr', (b) => b.tagName + ' ' + b.type), 'BUTTON button', 'of buttons');
  await shot(v, '059-desktop-visitor-quick-en');

  // by keyboard: the value is sent, the buttons go
  await v.focus(K + '.kf-qr');
  await v.keyboard.press('Enter');
  await v.waitForSelector(K + '.kf-msg.kf-mine .kf-bubble >> text=track my order');
  ok(true, "Enter on a quick reply sends the button's value");
  await v.waitForSelector(K + '.kf-quick[hidden]', { state: 'attached' });
  ok(true, 'and the buttons go');
  await a.click(`.conv-item[data-conv="${conv}"]`);
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=track my order');
  ok(true, 'the agent receives it as the visitor\'s message');

  // an agent's buttons, then the visitor types instead
  await post(`/convs/${conv}/messages`, { cid: 'a1', text: 'Is it order #1001?',
    from: { role: 'agent', id: me, name: 'Alice' }, buttons: [{ text: 'Yes' }, { text: 'No, another one' }] });
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('.kf-quick:not([hidden]) .kf-qr').length === 2);
  is(JSON.stringify(await quick(v)), JSON.stringify(['Yes', 'No, another one']), "an agent's buttons: only the latest message's");
  await v.fill(W.input, 'It is #1002');
  await v.press(W.input, 'Enter');
  await v.waitForSelector(K + '.kf-quick[hidden]', { state: 'attached' });
  ok(true, 'typing instead puts them away');
  await v.waitForSelector(K + '.kf-msg.kf-mine[data-seq] .kf-bubble >> text=It is #1002');
  is((await quick(v)).length, 0, 'and they stay away once the message is stored');

  // the console: the bot tagged, the buttons offered shown
  await a.waitForSelector('#entries .entry.msg.bot .bot-tag');
  ok(true, "the console tags the bot's message");
  is(JSON.stringify(await a.$$eval('#entries .entry.msg.bot .msg-button', (x) => x.map((n) => n.textContent))),
     JSON.stringify(['Track my order', 'Talk to a person']), 'and shows the buttons it offered');
  await shot(a, '059-desktop-console-buttons-en');

  // the agent offers quick replies from the console
  await a.click('#buttons-toggle');
  await a.fill('#buttons-input', 'Green tea, Black tea, Oolong');
  await a.fill('#input', 'Which tea would you like?');
  await a.press('#input', 'Enter');
  await v.waitForFunction(() => document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('.kf-quick:not([hidden]) .kf-qr').length === 3);
  is(JSON.stringify(await quick(v)), JSON.stringify(['Green tea', 'Black tea', 'Oolong']), "the agent's quick replies from the console reach the visitor");
  ok(await a.isHidden('#buttons-input'), 'and the console puts its button field away');
  await a.waitForSelector('#entries .entry.msg.mine .msg-button >> text=Oolong');
  await v.click(K + '.kf-qr >> text=Oolong');
  await a.waitForSelector('#entries .entry.theirs .bubble >> text=Oolong');
  ok(true, 'the visitor taps one: the agent gets its text');
  await shot(v, '059-desktop-visitor-agent-quick-en');

  // a rule at work: its reply is the bot's (its buttons as quick replies),
  // its actions cards in the console naming it, its suggestion one click
  // into the composer
  const admin = jwt({ sub: 'boss', role: 'admin', site, name: 'Boss' }, secret);
  const put = await fetch(`${API}/settings`, { method: 'PUT',
    headers: { Authorization: 'Bearer ' + admin, 'Content-Type': 'application/json' },
    body: JSON.stringify({ rules: [{ id: 'refund-reply', name: 'Refunds', when: { type: 'message' },
      if: [{ keywords: ['refund', '退款'] }],
      then: [{ reply: { zh: '退款 3 天内到账。', en: 'Refunds take 3 days.' }, buttons: [{ text: 'Order status', value: 'order status' }] },
             { suggest: 'Offer a 10% coupon for the next order.' }] }] }) });
  is(put.status, 200, 'a rule stored');
  await v.fill(W.input, 'Can I get a refund?');
  await v.press(W.input, 'Enter');
  await v.waitForSelector(K + '.kf-msg.kf-bot .kf-bubble >> text=Refunds take 3 days.');
  await v.waitForFunction(() => [...document.querySelector('#kefu-widget').shadowRoot.querySelectorAll('.kf-quick:not([hidden]) .kf-qr')]
    .map((n) => n.textContent).join('|') === 'Order status');
  ok(true, "the rule's reply, its button as a quick reply (no handoff button: a person has the conversation)");
  await a.waitForSelector('#entries .entry.rule[data-action="suggest"] .rule-name >> text=Refunds');
  ok((await a.textContent('#entries .entry.rule[data-action="reply"] .rule-name')) === 'Refunds', 'the console shows each action as a card naming the rule');
  await a.click('#entries .entry.rule[data-action="suggest"] [data-suggest]');
  is(await a.inputValue('#input'), 'Offer a 10% coupon for the next order.', 'the suggestion one click into the composer');
  // the agent sends it; once it reaches the visitor, everything stored
  // before it has too: no rule entry among it
  await a.press('#input', 'Enter');
  await v.waitForSelector(K + '.kf-msg.kf-theirs .kf-bubble >> text=Offer a 10% coupon');
  is(await v.$$eval('#kefu-widget', (h) => [...h[0].shadowRoot.querySelectorAll('.kf-list > li')]
    .filter((n) => /Refunds|refund-reply|suggest/.test(n.textContent) && !n.querySelector('.kf-bubble')).length), 0,
     'the visitor got no rule entry before the suggestion the agent sent');
  await shot(a, '059-desktop-console-rule-en');
  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
