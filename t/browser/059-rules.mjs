// Rules and the FAQ in the console's Settings (issue 15): an admin sees
// the stored bot and FAQ, adds a rule with the forms (not JSON), sees a
// server error land on the field it names, tries the unsaved rule and the
// FAQ ("Try it": what fires, why, what it would do; the FAQ bot's
// decision), saves, and the stored rule is what the forms said.
// Run by t/059-browser-rules.t.

import { launch, plan, jwt, ok, is, shot, finish, watchErrors } from './lib.mjs';

const base = process.env.KEFU_BASE, site = process.env.KEFU_SITE, secret = process.env.KEFU_SECRET;
const group = process.env.KEFU_GROUP;
const API = `${base}/kefu/api/sites/${site}`;
const errors = [];
const { browser, close } = await launch();

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
};

plan(13);
try {
  await api('PUT', '/settings', SETTINGS);

  // ---- an admin adds a rule in Settings and tries it ----
  const sctx = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'en-US' });
  const s = await sctx.newPage();
  watchErrors(s, 'admin console', errors);
  await s.goto(`${base}/console/#token=${adminTok}`);
  await s.waitForSelector('#conn[data-state="online"]');
  await s.click('#settings-open');
  await s.waitForFunction(() => document.querySelector('#settings').dataset.version !== undefined);
  is(await s.inputValue('[data-field="faq[0].id"]'), 'shipping', 'Settings shows the stored FAQ');
  ok(await s.isChecked('[data-field="bot.enabled"]'), 'and the bot on');
  await s.click('#rules-add');
  await s.fill('[data-field="rules[0].id"]', 'refund-route');
  await s.fill('[data-field="rules[0].name"]', '退款转售后');
  await s.fill('[data-field="rules[0].if[0].keywords"]', '退款, refund');
  await s.selectOption('[data-field="rules[0].then[0].kind"]', 'route');
  await s.fill('[data-field="rules[0].then[0].route"]', 'aftersales');
  await s.click('.rule .auto-add-then');
  await s.selectOption('[data-field="rules[0].then[1].kind"]', 'label');
  await s.fill('[data-field="rules[0].then[1].label"]', 'refund');
  // a condition the server refuses: the error lands on its field
  await s.click('.rule .auto-add-if');
  await s.selectOption('[data-field="rules[0].if[1].kind"]', 'attr');
  await s.fill('[data-field="rules[0].if[1].attr"]', 'vip');
  await s.selectOption('[data-field="rules[0].if[1].op"]', 'gt');
  await s.fill('[data-field="rules[0].if[1].value"]', 'gold');
  await s.click('#settings-save');
  await s.waitForSelector('#settings-error:not([hidden])');
  const bad = await s.getAttribute('#settings-error', 'data-field');
  ok(/^rules\[0\]\.if\[1\]/.test(bad), 'a bad condition is refused, naming it: ' + bad);
  ok(await s.$eval('[data-field="rules[0].if[1].value"], [data-field="rules[0].if[1].op"]',
                   (e) => !!e.closest('.cond').querySelector('.invalid')), 'and the field is marked');
  await shot(s, '059-desktop-settings-rule-error-en');
  await s.click('[data-field="rules[0].if[1].kind"] ~ .auto-x');
  ok(!(await s.$('[data-field="rules[0].if[1].kind"]')), 'the condition removed');

  // try it, unsaved
  await s.fill('#try-text', 'I want a refund for my tea');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"]');
  is(await s.getAttribute('#try-out .try-rule[data-rule="refund-route"]', 'data-fires'), 'true', 'Try it: the unsaved rule fires');
  ok((await s.textContent('#try-out .try-rule[data-rule="refund-route"] .try-why')).includes('refund'), 'naming the keyword why');
  ok((await s.textContent('#try-out .try-rule[data-rule="refund-route"] .try-acts')).includes('aftersales'), 'and what it would do');
  await s.fill('#try-text', 'When do you ship?');
  await s.click('#try-run');
  await s.waitForSelector('#try-out[data-state="done"] .try-decision');
  is(await s.getAttribute('#try-out .try-rule[data-rule="refund-route"]', 'data-fires'), 'false', 'another message: the rule does not fire');
  is(await s.getAttribute('#try-out .try-decision', 'data-decision'), 'answer', 'and the FAQ bot would answer');
  ok(!!(await s.$('#try-out .try-entry[data-faq="shipping"]')), 'with the shipping entry');
  await shot(s, '059-desktop-settings-try-en');

  await s.click('#settings-save');
  await s.waitForSelector('.toast >> text=Saved');
  const stored = await api('GET', '/settings');
  const doc = stored.settings || stored;
  is(JSON.stringify(doc.rules[0].then), JSON.stringify([{ route: 'aftersales' }, { label: 'refund' }]), 'saved: the rule as the forms said');

  ok(errors.length === 0, 'no script errors in any page', errors.join('\n'));
} catch (e) {
  ok(false, 'the scenario ran: ' + e.message, e.stack + '\n' + errors.join('\n'));
}
await finish(close);
