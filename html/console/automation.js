// The bot, FAQ and rules parts of the console's Settings (admins; issue 15,
// docs/automation.md): forms over the settings document's `bot`, `faq`
// and `rules`, never raw JSON (a JSON view of the rules is an extra), and a
// "Try it" box that sends the unsaved rules and FAQ to
// POST <api>/sites/<site>/rules/try and /faq/try and shows what would fire
// and why.  Every input names its place in the document in data-field
// (`rules[3].if[0].op`), so an error from the server lands on the input it
// names.  Used by settings.js.

import { el, field } from './dom.js';

const I18N = {
  en: {
    bot: 'Bot', botOn: 'The bot answers new conversations first', botGroups: 'Groups',
    botGroupsHelp: 'Comma-separated; empty: every group', mode: 'Mode', mode_faq: 'FAQ bot (answers from the FAQ below)',
    mode_external: 'External bot (reads the event stream, answers over the API)', botName: 'Name',
    t_not_understood: 'When it did not understand', t_choose: 'When it offers choices', t_handoff: 'The "talk to a person" button',
    t_handed_off: 'When a person takes over', zh: 'Chinese', en: 'English',
    faq: 'FAQ', faqHelp: 'The bot answers when one entry clearly matches, offers the closest as buttons when unsure, and says so when nothing matches.',
    addFaq: 'Add an FAQ entry', id: 'Id', idHelp: 'Letters, digits and . _ @ -', question: 'Question', alts: 'Other ways to ask',
    altsHelp: 'One per line', keywords: 'Keywords', kwHelp: 'Comma-separated, Chinese and English', answer: 'Answer',
    buttons: 'Buttons', buttonsHelp: 'One per line: text, or text = what it sends', remove: 'Remove',
    rules: 'Rules', rulesHelp: 'When something happens, if every condition holds, the rule does all of its actions; each action is written into the conversation for agents.',
    addRule: 'Add a rule', ruleName: 'Name', enabled: 'Enabled', when: 'When', if: 'If (all of these)', then: 'Then',
    w_message: 'a visitor writes', w_conv_created: 'a conversation starts', w_event: 'a business event arrives',
    w_waiting: 'a conversation waits longer than', w_offline: 'a visitor writes outside business hours',
    eventName: 'Event name', seconds: 'Seconds', addIf: 'Add a condition', addThen: 'Add an action',
    c_keywords: 'the message contains one of', c_attr: "the visitor's attribute", c_data: "the event's data", c_page: 'the page starts with',
    c_hours: 'business hours', c_group: 'the group is', c_state: 'the conversation is',
    op_eq: 'equals', op_contains: 'contains', op_gt: 'is greater than', key: 'Key', value: 'Value',
    h_inside: 'inside', h_outside: 'outside', s_bot: 'with the bot', s_queued: 'queued', s_open: 'open',
    a_reply: 'reply as the bot', a_suggest: 'suggest a reply to the agent', a_route: 'route to the group', a_label: 'add the label',
    a_handoff: 'hand off to a person', a_event: 'post an event', data: 'Data (JSON object, optional)',
    noConds: 'No condition: the rule fires every time.', json: 'JSON view of the rules', badJson: 'not a JSON object',
    try: 'Try it', tryHelp: 'What would a message do with the rules and FAQ above (saved or not)?',
    tryText: "A visitor's message", tryLang: 'Language', tryGroup: 'Group', tryPage: 'Page URL', tryState: 'State',
    tryHours: 'Business hours', hoursNow: 'as now', tryAttrs: 'Visitor attributes (JSON)', tryData: 'Event data (JSON)',
    tryWaited: 'Seconds waited',
    tryWhen: 'Trigger', tryRun: 'Try it', tryNoApi: 'Trying needs the HTTP API (kefu_api), which this console cannot reach.',
    fires: 'fires', notFires: 'does not fire', because: 'because', failed: 'failed: {c}', actions: 'actions',
    decision_answer: 'The bot answers with', decision_choose: 'The bot is unsure and offers', decision_none: 'The bot did not understand: it says so',
    score: 'score {s}', noRules: 'No rules.', tryFailed: 'Not tried: {msg}', rulesOut: 'Rules', faqOut: 'FAQ bot',
  },
  zh: {
    bot: '机器人', botOn: '新会话先由机器人接待', botGroups: '技能组',
    botGroupsHelp: '用逗号分隔；留空为全部技能组', mode: '模式', mode_faq: 'FAQ 机器人（根据下方常见问题回答）',
    mode_external: '外部机器人（读取事件流，通过 API 回复）', botName: '名称',
    t_not_understood: '未能理解时', t_choose: '提供选项时', t_handoff: '“转人工”按钮',
    t_handed_off: '转接人工时', zh: '中文', en: 'English',
    faq: '常见问题', faqHelp: '明确匹配到一条时直接回答；不确定时给出最接近的几条供选择；都不匹配时如实告知。',
    addFaq: '添加常见问题', id: '编号', idHelp: '字母、数字及 . _ @ -', question: '问题', alts: '其他问法',
    altsHelp: '每行一个', keywords: '关键词', kwHelp: '用逗号分隔，中英文均可', answer: '答案',
    buttons: '按钮', buttonsHelp: '每行一个：按钮文字，或 按钮文字 = 发送内容', remove: '删除',
    rules: '规则', rulesHelp: '当事件发生且所有条件都满足时，规则执行全部动作；每个动作都会记录在会话中供客服查看。',
    addRule: '添加规则', ruleName: '名称', enabled: '启用', when: '当', if: '如果（全部满足）', then: '则',
    w_message: '访客发送消息', w_conv_created: '新会话开始', w_event: '收到业务事件',
    w_waiting: '会话等待超过', w_offline: '非营业时间访客发送消息',
    eventName: '事件名', seconds: '秒', addIf: '添加条件', addThen: '添加动作',
    c_keywords: '消息包含以下任一关键词', c_attr: '访客属性', c_data: '事件数据', c_page: '页面地址以此开头',
    c_hours: '营业时间', c_group: '技能组为', c_state: '会话状态为',
    op_eq: '等于', op_contains: '包含', op_gt: '大于', key: '键', value: '值',
    h_inside: '营业时间内', h_outside: '营业时间外', s_bot: '机器人接待', s_queued: '排队中', s_open: '进行中',
    a_reply: '以机器人身份回复', a_suggest: '向客服推荐回复', a_route: '分配到技能组', a_label: '添加标签',
    a_handoff: '转人工', a_event: '发布事件', data: '数据（JSON 对象，可选）',
    noConds: '没有条件：每次都会触发。', json: '规则的 JSON 视图', badJson: '不是 JSON 对象',
    try: '试一试', tryHelp: '一条消息在上面的规则和常见问题下（无论是否已保存）会怎样？',
    tryText: '访客消息', tryLang: '语言', tryGroup: '技能组', tryPage: '页面地址', tryState: '状态',
    tryHours: '营业时间', hoursNow: '按当前时间', tryAttrs: '访客属性（JSON）', tryData: '事件数据（JSON）',
    tryWaited: '已等待秒数',
    tryWhen: '触发', tryRun: '试一试', tryNoApi: '“试一试”需要 HTTP API（kefu_api），当前工作台无法访问。',
    fires: '触发', notFires: '不触发', because: '原因', failed: '未满足：{c}', actions: '动作',
    decision_answer: '机器人将回答', decision_choose: '机器人不确定，将提供选项', decision_none: '机器人未能理解，将如实告知',
    score: '得分 {s}', noRules: '没有规则。', tryFailed: '未能试运行：{msg}', rulesOut: '规则', faqOut: 'FAQ 机器人',
  },
};

const WHENS = ['message', 'conv_created', 'event', 'waiting', 'offline'];
const CONDS = ['keywords', 'attr', 'data', 'page', 'hours', 'group', 'state'];
const ACTS = ['reply', 'suggest', 'route', 'label', 'handoff', 'event'];
const TEXTS = ['not_understood', 'choose', 'handoff', 'handed_off'];

const words = (s) => String(s || '').split(/[,，、\n]+/).map((x) => x.trim()).filter(Boolean);
const lines = (s) => String(s || '').split('\n').map((x) => x.trim()).filter(Boolean);
// "text = value" lines into buttons, and back
function parseButtons(s) {
  return lines(s).map((l) => {
    const i = l.indexOf(' = ');
    return i > 0 ? { text: l.slice(0, i).trim(), value: l.slice(i + 3).trim() } : { text: l };
  });
}
const showButtons = (bs) => (bs || []).map((b) => (b.value ? b.text + ' = ' + b.value : b.text)).join('\n');
// str or {zh,en} into {zh,en}, and back (one language given: a string)
const both = (v) => (typeof v === 'string' ? { zh: v, en: v } : { zh: (v && v.zh) || '', en: (v && v.en) || '' });
function oneOrBoth(v) {
  const zh = (v.zh || '').trim(), en = (v.en || '').trim();
  if (zh && en && zh !== en) return { zh, en };
  return zh || en;
}
// a condition's value as typed: true/false and numbers keep their type
// (what the document held stays as it was while its text is unchanged)
function typed(text, orig, op) {
  if (orig !== undefined && String(orig) === text) return orig;
  const x = String(text).trim();
  if (x === 'true' || x === 'false') return x === 'true';
  if (x !== '' && !Number.isNaN(Number(x)) && (op === 'gt' || op === 'eq')) return Number(x);
  return text;
}

// automationFields(form, { lang, siteApi: () => url|null, token: () => jwt })
// → { fill(doc), collect(doc), setLang(l) }
export function automationFields(form, o) {
  let T = I18N[o.lang] || I18N.en;
  const t = (k, v) => String(T[k] ?? k).replace(/\{(\w+)\}/g, (_, x) => (v && v[x] !== undefined ? v[x] : ''));
  let bot = {}, faq = [], rules = [];
  // what the stored document had: a part is written back if it was there
  // or is in use now, not added to every document
  let had = {};

  const fb = el('fieldset', 'set-group auto-bot');
  const ff = el('fieldset', 'set-group auto-faq');
  const fr = el('fieldset', 'set-group auto-rules');
  const ft = el('fieldset', 'set-group auto-try');
  ft.id = 'auto-try';
  form.append(fb, ff, fr, ft);

  // an input bound to obj[key]; name is its place in the document
  function bind(tag, name, obj, key, opts = {}) {
    const i = el(tag, opts.type === 'checkbox' ? '' : 'field');
    if (tag === 'textarea') i.rows = opts.rows || 2;
    if (opts.type) i.type = opts.type;
    i.dataset.field = name;
    i.name = name;
    if (opts.ph) i.placeholder = opts.ph;
    if (opts.label) i.setAttribute('aria-label', opts.label);
    const get = opts.get || ((x) => (x == null ? '' : String(x)));
    const put = opts.put || ((x) => x);
    if (opts.type === 'checkbox') {
      i.checked = !!obj[key];
      i.addEventListener('change', () => { obj[key] = i.checked; });
    } else {
      i.value = get(obj[key]);
      i.addEventListener(tag === 'select' ? 'change' : 'input', () => { obj[key] = put(i.value); if (opts.then) opts.then(); });
    }
    return i;
  }
  function select(name, obj, key, values, label, then) {
    const s = el('select', 'field');
    s.dataset.field = name;
    s.name = name;
    if (label) s.setAttribute('aria-label', label);
    for (const [v, text] of values) {
      const op = el('option', '', text);
      op.value = v;
      s.appendChild(op);
    }
    s.value = obj[key] ?? values[0][0];
    s.addEventListener('change', () => { obj[key] = s.value; if (then) then(); });
    return s;
  }
  function check(label, input) {
    const w = el('label', 'set-check');
    w.append(input, el('span', '', label));
    return w;
  }
  function button(text, cls, on) {
    const b = el('button', cls || 'link', text);
    b.type = 'button';
    b.addEventListener('click', on);
    return b;
  }
  // a {zh,en} value edited as two inputs
  function bilingual(name, holder, key, label, tag) {
    holder[key] = both(holder[key]);
    const row = el('div', 'auto-two');
    for (const l of ['zh', 'en']) {
      row.appendChild(field(label + ' · ' + t(l), bind(tag || 'input', `${name}.${l}`, holder[key], l)));
    }
    return row;
  }

  // ---- the bot ----
  function renderBot() {
    fb.textContent = '';
    fb.appendChild(el('legend', '', t('bot')));
    fb.appendChild(check(t('botOn'), bind('input', 'bot.enabled', bot, 'enabled', { type: 'checkbox' })));
    bot.groupsText = bot.groupsText ?? (bot.groups || []).join(', ');
    fb.appendChild(field(t('botGroups'), bind('input', 'bot.groups', bot, 'groupsText'), t('botGroupsHelp')));
    fb.appendChild(field(t('mode'), select('bot.mode', bot, 'mode', [['faq', t('mode_faq')], ['external', t('mode_external')]])));
    fb.appendChild(bilingual('bot.name', bot, 'name', t('botName')));
    bot.texts = bot.texts || {};
    for (const l of ['zh', 'en']) bot.texts[l] = bot.texts[l] || {};
    const grid = el('div', 'auto-two');
    for (const l of ['zh', 'en']) {
      const col = el('div');
      for (const k of TEXTS) col.appendChild(field(t('t_' + k) + ' · ' + t(l), bind('input', `bot.texts.${l}.${k}`, bot.texts[l], k)));
      grid.appendChild(col);
    }
    fb.appendChild(grid);
  }

  // ---- the FAQ ----
  function renderFaq() {
    ff.textContent = '';
    ff.appendChild(el('legend', '', t('faq')));
    ff.appendChild(el('span', 'set-help', t('faqHelp')));
    const list = el('div', 'auto-list');
    list.id = 'faq-list';
    faq.forEach((f, i) => {
      const card = el('div', 'auto-card faq-entry');
      card.dataset.index = i;
      const top = el('div', 'auto-top');
      top.appendChild(field(t('id'), bind('input', `faq[${i}].id`, f, 'id'), t('idHelp')));
      top.appendChild(button(t('remove'), 'link danger', () => { faq.splice(i, 1); renderFaq(); }));
      card.appendChild(top);
      card.appendChild(bilingual(`faq[${i}].question`, f, 'question', t('question')));
      f.altsText = f.altsText ?? (f.alts || []).join('\n');
      card.appendChild(field(t('alts'), bind('textarea', `faq[${i}].alts`, f, 'altsText'), t('altsHelp')));
      f.kwText = f.kwText ?? (f.keywords || []).join(', ');
      card.appendChild(field(t('keywords'), bind('input', `faq[${i}].keywords`, f, 'kwText'), t('kwHelp')));
      card.appendChild(bilingual(`faq[${i}].answer`, f, 'answer', t('answer'), 'textarea'));
      f.btnText = f.btnText ?? showButtons(f.buttons);
      card.appendChild(field(t('buttons'), bind('textarea', `faq[${i}].buttons`, f, 'btnText'), t('buttonsHelp')));
      list.appendChild(card);
    });
    ff.appendChild(list);
    const add = button(t('addFaq'), 'btn', () => { faq.push({ id: '', question: { zh: '', en: '' } }); renderFaq(); focusLast(ff); });
    add.id = 'faq-add';
    ff.appendChild(add);
  }

  // ---- the rules ----
  // a condition's or an action's row: its kind (a new kind starts from
  // fresh(kind)), the kind's inputs (fill), a remove button
  function kindRow(cls, p, list, j, kinds, prefix, label, fresh, fill) {
    const row = el('div', 'auto-row ' + cls);
    const pick = { kind: kinds.find((k) => k in list[j]) || kinds[0] };
    row.appendChild(select(p + '.kind', pick, 'kind', kinds.map((k) => [k, t(prefix + k)]), label, () => {
      list[j] = fresh(pick.kind);
      renderRules();
    }));
    fill(row, pick.kind);
    row.appendChild(button('×', 'icon-btn auto-x', () => { list.splice(j, 1); renderRules(); }));
    row.lastChild.setAttribute('aria-label', t('remove'));
    return row;
  }
  function condRow(r, i, c, j) {
    const p = `rules[${i}].if[${j}]`;
    const fresh = (k) => (k === 'keywords' ? { keywords: [] } : k === 'hours' ? { hours: 'inside' }
      : k === 'state' ? { state: 'bot' } : k === 'attr' || k === 'data' ? { [k]: '', op: 'eq', value: '' }
      : { [k]: '' });
    return kindRow('cond', p, r.if, j, CONDS, 'c_', t('if'), fresh, (row, kind) => {
      if (kind === 'keywords') {
        c.kwText = c.kwText ?? (c.keywords || []).join(', ');
        row.appendChild(bind('input', p + '.keywords', c, 'kwText', { ph: t('kwHelp'), label: t('keywords') }));
      } else if (kind === 'attr' || kind === 'data') {
        if (!('orig' in c)) c.orig = c.value;
        row.appendChild(bind('input', p + '.' + kind, c, kind, { ph: t('key'), label: t('key') }));
        row.appendChild(select(p + '.op', c, 'op', ['eq', 'contains', 'gt'].map((x) => [x, t('op_' + x)]), 'op'));
        row.appendChild(bind('input', p + '.value', c, 'value', { ph: t('value'), label: t('value') }));
      } else if (kind === 'hours') {
        row.appendChild(select(p + '.hours', c, 'hours', [['inside', t('h_inside')], ['outside', t('h_outside')]], t('c_hours')));
      } else if (kind === 'state') {
        row.appendChild(select(p + '.state', c, 'state', ['bot', 'queued', 'open'].map((x) => [x, t('s_' + x)]), t('c_state')));
      } else {
        row.appendChild(bind('input', p + '.' + kind, c, kind, { label: t('c_' + kind) }));
      }
    });
  }
  function actRow(r, i, a, k) {
    const p = `rules[${i}].then[${k}]`;
    const fresh = (x) => (x === 'handoff' ? { handoff: true } : x === 'event' ? { event: { name: '' } }
      : x === 'reply' ? { reply: { zh: '', en: '' } } : { [x]: '' });
    return kindRow('act', p, r.then, k, ACTS, 'a_', t('then'), fresh, (row, kind) => {
      const box = el('div', 'auto-act-body');
      if (kind === 'reply') {
        box.appendChild(bilingual(p + '.reply', a, 'reply', t('a_reply'), 'textarea'));
        a.btnText = a.btnText ?? showButtons(a.buttons);
        box.appendChild(field(t('buttons'), bind('textarea', p + '.buttons', a, 'btnText'), t('buttonsHelp')));
      } else if (kind === 'event') {
        a.event = a.event || { name: '' };
        box.appendChild(field(t('eventName'), bind('input', p + '.event.name', a.event, 'name')));
        a.event.dataText = a.event.dataText ?? (a.event.data ? JSON.stringify(a.event.data) : '');
        box.appendChild(field(t('data'), bind('input', p + '.event.data', a.event, 'dataText', { ph: '{"flow": "refund"}' })));
      } else if (kind !== 'handoff') {
        box.appendChild(bind(kind === 'suggest' ? 'textarea' : 'input', p + '.' + kind, a, kind, { label: t('a_' + kind) }));
      }
      row.appendChild(box);
    });
  }
  function renderRules() {
    fr.textContent = '';
    fr.appendChild(el('legend', '', t('rules')));
    fr.appendChild(el('span', 'set-help', t('rulesHelp')));
    const list = el('div', 'auto-list');
    list.id = 'rules-list';
    rules.forEach((r, i) => {
      const card = el('div', 'auto-card rule');
      card.dataset.index = i;
      const top = el('div', 'auto-top');
      top.appendChild(field(t('id'), bind('input', `rules[${i}].id`, r, 'id'), t('idHelp')));
      top.appendChild(field(t('ruleName'), bind('input', `rules[${i}].name`, r, 'name')));
      if (r.enabled === undefined) r.enabled = true;
      top.appendChild(check(t('enabled'), bind('input', `rules[${i}].enabled`, r, 'enabled', { type: 'checkbox' })));
      top.appendChild(button(t('remove'), 'link danger', () => { rules.splice(i, 1); renderRules(); }));
      card.appendChild(top);
      r.when = r.when || { type: 'message' };
      const w = el('div', 'auto-row when');
      w.appendChild(el('span', 'auto-kw', t('when')));
      w.appendChild(select(`rules[${i}].when.type`, r.when, 'type', WHENS.map((x) => [x, t('w_' + x)]), t('when'), renderRules));
      if (r.when.type === 'event') w.appendChild(bind('input', `rules[${i}].when.name`, r.when, 'name', { ph: 'order.shipped', label: t('eventName') }));
      if (r.when.type === 'waiting') {
        w.appendChild(bind('input', `rules[${i}].when.seconds`, r.when, 'seconds', { type: 'number', label: t('seconds'), put: Number }));
        w.appendChild(el('span', 'muted', t('seconds')));
      }
      card.appendChild(w);
      r.if = r.if || [];
      card.appendChild(el('div', 'auto-kw', t('if')));
      if (!r.if.length) card.appendChild(el('div', 'set-help', t('noConds')));
      r.if.forEach((c, j) => card.appendChild(condRow(r, i, c, j)));
      card.appendChild(button('+ ' + t('addIf'), 'link auto-add-if', () => { r.if.push({ keywords: [] }); renderRules(); }));
      r.then = r.then || [];
      card.appendChild(el('div', 'auto-kw', t('then')));
      r.then.forEach((a, k) => card.appendChild(actRow(r, i, a, k)));
      card.appendChild(button('+ ' + t('addThen'), 'link auto-add-then', () => { r.then.push({ reply: { zh: '', en: '' } }); renderRules(); }));
      list.appendChild(card);
    });
    fr.appendChild(list);
    const add = button(t('addRule'), 'btn', () => {
      rules.push({ id: '', name: '', enabled: true, when: { type: 'message' }, if: [{ keywords: [] }], then: [{ reply: { zh: '', en: '' } }] });
      renderRules();
      focusLast(fr);
    });
    add.id = 'rules-add';
    fr.appendChild(add);
    // the rules as JSON: read, copy, or paste a whole set
    const det = el('details', 'auto-json');
    det.appendChild(el('summary', '', t('json')));
    const ta = el('textarea', 'field mono');
    ta.rows = 10;
    ta.id = 'rules-json';
    ta.spellcheck = false;
    det.addEventListener('toggle', () => { if (det.open) ta.value = JSON.stringify(cleanRules(), null, 2); });
    ta.addEventListener('change', () => {
      try {
        const v = JSON.parse(ta.value);
        if (!Array.isArray(v)) throw new Error();
        rules = v;
        renderRules();
      } catch (e) {
        ta.classList.add('invalid');
      }
    });
    det.appendChild(ta);
    fr.appendChild(det);
  }
  function focusLast(box) {
    const cards = box.querySelectorAll('.auto-card');
    const last = cards[cards.length - 1];
    const i = last && last.querySelector('input');
    if (i) i.focus();
  }

  // ---- the model back into the document ----
  function cleanRules() {
    return rules.map((r, i) => {
      const x = { id: (r.id || '').trim() };
      if (r.name && r.name.trim()) x.name = r.name.trim();
      if (r.enabled === false) x.enabled = false;
      x.when = { type: r.when.type };
      if (r.when.type === 'event') x.when.name = (r.when.name || '').trim();
      if (r.when.type === 'waiting') x.when.seconds = Number(r.when.seconds) || 0;
      const conds = r.if.map((c) => {
        if ('keywords' in c) return { keywords: c.kwText !== undefined ? words(c.kwText) : c.keywords || [] };
        if ('attr' in c || 'data' in c) {
          const k = 'attr' in c ? 'attr' : 'data';
          const v = typeof c.value === 'string' ? typed(c.value, c.orig, c.op) : c.value;
          return { [k]: (c[k] || '').trim(), op: c.op || 'eq', value: v };
        }
        const k = CONDS.find((n) => n in c);
        return { [k]: typeof c[k] === 'string' ? c[k].trim() : c[k] };
      });
      if (conds.length) x.if = conds;
      x.then = r.then.map((a, k) => {
        if ('reply' in a) {
          const y = { reply: oneOrBoth(both(a.reply)) };
          const bs = a.btnText !== undefined ? parseButtons(a.btnText) : a.buttons;
          if (bs && bs.length) y.buttons = bs;
          return y;
        }
        if ('handoff' in a) return { handoff: true };
        if ('event' in a) {
          const y = { event: { name: (a.event.name || '').trim() } };
          const d = a.event.dataText !== undefined ? a.event.dataText.trim() : a.event.data ? JSON.stringify(a.event.data) : '';
          if (d) {
            let v;
            try { v = JSON.parse(d); } catch (e) { v = null; }
            if (!v || typeof v !== 'object' || Array.isArray(v)) {
              throw { field: `rules[${i}].then[${k}].event.data`, msg: `rules[${i}].then[${k}].event.data: ${t('badJson')}` };
            }
            y.event.data = v;
          }
          return y;
        }
        const n = ACTS.find((m) => m in a);
        return { [n]: String(a[n] || '').trim() };
      });
      return x;
    });
  }
  function cleanFaq() {
    return faq.map((f) => {
      const x = { id: (f.id || '').trim(), question: oneOrBoth(both(f.question)) };
      const alts = f.altsText !== undefined ? lines(f.altsText) : f.alts || [];
      if (alts.length) x.alts = alts;
      const kw = f.kwText !== undefined ? words(f.kwText) : f.keywords || [];
      if (kw.length) x.keywords = kw;
      x.answer = oneOrBoth(both(f.answer));
      const bs = f.btnText !== undefined ? parseButtons(f.btnText) : f.buttons || [];
      if (bs.length) x.buttons = bs;
      return x;
    });
  }
  function cleanBot() {
    const x = { enabled: !!bot.enabled, mode: bot.mode || 'faq' };
    const g = bot.groupsText !== undefined ? words(bot.groupsText) : bot.groups || [];
    if (g.length) x.groups = g;
    const n = oneOrBoth(both(bot.name));
    if (n) x.name = n;
    const texts = {};
    for (const l of ['zh', 'en']) {
      for (const k of TEXTS) {
        const v = (bot.texts && bot.texts[l] && bot.texts[l][k] || '').trim();
        if (v) (texts[l] = texts[l] || {})[k] = v;
      }
    }
    if (Object.keys(texts).length) x.texts = texts;
    return x;
  }

  // ---- try it ----
  const tryState = { text: '', lang: o.lang === 'zh' ? 'zh' : 'en', group: '', page: '', state: '', when: 'message',
                     hours: '', attrs: '', event: '', data: '', seconds: '' };
  function renderTry() {
    ft.textContent = '';
    ft.appendChild(el('legend', '', t('try')));
    ft.appendChild(el('span', 'set-help', t('tryHelp')));
    const ta = bind('textarea', 'try.text', tryState, 'text');
    ta.id = 'try-text';
    ft.appendChild(field(t('tryText'), ta));
    const row = el('div', 'auto-row try-opts');
    row.appendChild(field(t('tryWhen'), select('try.when', tryState, 'when', WHENS.map((x) => [x, t('w_' + x)]), '', renderTry)));
    if (tryState.when === 'event') {
      row.appendChild(field(t('eventName'), bind('input', 'try.event', tryState, 'event', { ph: 'order.paid' })));
      row.appendChild(field(t('tryData'), bind('input', 'try.data', tryState, 'data', { ph: '{"amount": 1500}' })));
    }
    if (tryState.when === 'waiting') {
      row.appendChild(field(t('tryWaited'), bind('input', 'try.seconds', tryState, 'seconds', { type: 'number' })));
    }
    row.appendChild(field(t('tryLang'), select('try.lang', tryState, 'lang', [['zh', t('zh')], ['en', t('en')]])));
    row.appendChild(field(t('tryGroup'), bind('input', 'try.group', tryState, 'group', { ph: 'presales' })));
    row.appendChild(field(t('tryState'), select('try.state', tryState, 'state', [['', '—'], ...['bot', 'queued', 'open'].map((x) => [x, t('s_' + x)])])));
    row.appendChild(field(t('tryPage'), bind('input', 'try.page', tryState, 'page', { ph: 'https://shop.example/refund' })));
    row.appendChild(field(t('tryHours'), select('try.hours', tryState, 'hours', [['', t('hoursNow')], ['inside', t('h_inside')], ['outside', t('h_outside')]])));
    row.appendChild(field(t('tryAttrs'), bind('input', 'try.attrs', tryState, 'attrs', { ph: '{"vip": true}' })));
    ft.appendChild(row);
    const go = button(t('tryRun'), 'btn primary', run);
    go.id = 'try-run';
    ft.appendChild(go);
    const out = el('div', 'try-out');
    out.id = 'try-out';
    out.setAttribute('aria-live', 'polite');
    ft.appendChild(out);
    ta.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); run(); } });
  }
  async function post(path, body) {
    const r = await fetch(o.siteApi() + path, {
      method: 'POST', cache: 'no-store',
      headers: { Authorization: 'Bearer ' + o.token(), 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({}));
    const e = (j && j.error) || {};
    if (!r.ok) throw Object.assign(new Error(e.message || e.code || 'HTTP ' + r.status), { field: e.field });
    return j;
  }
  async function run() {
    const out = ft.querySelector('#try-out');
    out.textContent = '';
    out.dataset.state = 'running';
    if (!o.siteApi()) {
      out.appendChild(el('p', 'error', t('tryNoApi')));
      out.dataset.state = 'error';
      return;
    }
    let rs, fq;
    try {
      rs = cleanRules();
      fq = cleanFaq();
    } catch (e) {
      o.showError(e.field, e.msg);
      out.dataset.state = 'error';
      return;
    }
    const body = { text: tryState.text, lang: tryState.lang, when: { type: tryState.when }, rules: rs };
    // a JSON object typed in a field, or the field marked
    const obj = (name, text) => {
      let v;
      try { v = JSON.parse(text); } catch (e) { v = null; }
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw { field: name, msg: name + ': ' + t('badJson') };
      return v;
    };
    try {
      if (tryState.attrs.trim()) body.attrs = obj('try.attrs', tryState.attrs);
      if (tryState.when === 'event') {
        body.event = { name: tryState.event.trim() };
        if (tryState.data.trim()) body.event.data = obj('try.data', tryState.data);
      }
    } catch (e) {
      o.showError(e.field, e.msg);
      out.dataset.state = 'error';
      return;
    }
    if (tryState.when === 'waiting') body.when.seconds = Number(tryState.seconds) || 0;
    if (tryState.hours) body.hours = tryState.hours;
    if (tryState.group.trim()) body.group = tryState.group.trim();
    if (tryState.page.trim()) body.page = tryState.page.trim();
    if (tryState.state) body.state = tryState.state;
    try {
      const [a, b] = await Promise.all([post('/rules/try', body),
        post('/faq/try', { text: tryState.text, lang: tryState.lang, faq: fq })]);
      o.showError(null, '');
      showRules(out, a);
      showFaq(out, b);
      out.dataset.state = 'done';
      out.scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.field) o.showError(e.field, t('tryFailed', { msg: e.message }));
      out.appendChild(el('p', 'error', t('tryFailed', { msg: e.message })));
      out.dataset.state = 'error';
    }
  }
  function showRules(out, a) {
    out.appendChild(el('h4', '', t('rulesOut')));
    const ul = el('ul', 'try-rules');
    if (!(a.rules || []).length) ul.appendChild(el('li', 'muted', t('noRules')));
    // the rules that fire first, each part in the document's order
    const rs = (a.rules || []).filter((r) => r.fires).concat((a.rules || []).filter((r) => !r.fires));
    for (const r of rs) {
      const li = el('li', 'try-rule ' + (r.fires ? 'fires' : 'not'));
      li.dataset.rule = r.id;
      li.dataset.fires = r.fires ? 'true' : 'false';
      const h = el('div', 'try-head');
      h.appendChild(el('span', 'try-mark', r.fires ? '✓' : '–'));
      h.appendChild(el('b', '', r.name || r.id));
      h.appendChild(el('span', 'try-verdict', r.fires ? t('fires') : t('notFires')));
      li.appendChild(h);
      if (r.why && r.why.length) li.appendChild(el('div', 'try-why', t('because') + ': ' + r.why.join(' · ')));
      if (r.not) li.appendChild(el('div', 'try-not', t('failed', { c: r.not })));
      if (r.fires && r.actions && r.actions.length) {
        li.appendChild(el('div', 'try-acts', t('actions') + ': ' + r.actions.map(describe).join(' · ')));
      }
      ul.appendChild(li);
    }
    out.appendChild(ul);
  }
  function describe(a) {
    if (typeof a === 'string') return a;
    const k = ACTS.find((x) => x in a) || Object.keys(a)[0];
    const v = a[k];
    if (k === 'handoff') return t('a_handoff');
    if (k === 'event') return t('a_event') + ' ' + (v && v.name);
    if (k === 'reply') return t('a_reply') + ' “' + (typeof v === 'object' ? v[tryState.lang] || v.zh || v.en : v) + '”';
    return t('a_' + k) + ' ' + (typeof v === 'object' ? JSON.stringify(v) : v);
  }
  function showFaq(out, b) {
    out.appendChild(el('h4', '', t('faqOut')));
    const p = el('p', 'try-decision', t('decision_' + (b.decision || 'none')));
    p.dataset.decision = b.decision || 'none';
    out.appendChild(p);
    const ul = el('ul', 'try-faq');
    for (const e of b.entries || []) {
      const li = el('li', 'try-entry');
      li.dataset.faq = e.id;
      const q = typeof e.question === 'object' && e.question ? e.question[tryState.lang] || e.question.zh || e.question.en : e.question;
      li.appendChild(el('b', '', q || e.id));
      li.appendChild(el('span', 'muted', ' ' + e.id + ' · ' + t('score', { s: typeof e.score === 'number' ? Math.round(e.score * 100) / 100 : e.score })));
      if (e.why && e.why.length) li.appendChild(el('div', 'try-why', t('because') + ': ' + e.why.join(' · ')));
      ul.appendChild(li);
    }
    out.appendChild(ul);
  }

  function renderAll() { renderBot(); renderFaq(); renderRules(); renderTry(); }

  return {
    fill(d) {
      had = { bot: 'bot' in d, faq: 'faq' in d, rules: 'rules' in d };
      bot = JSON.parse(JSON.stringify(d.bot || {}));
      faq = JSON.parse(JSON.stringify(Array.isArray(d.faq) ? d.faq : []));
      rules = JSON.parse(JSON.stringify(Array.isArray(d.rules) ? d.rules : []));
      renderAll();
    },
    // into the document about to be saved (throws {field, msg} on a value it cannot read)
    collect(d) {
      const b = cleanBot();
      if (had.bot || b.enabled) d.bot = b;
      if (had.faq || faq.length) d.faq = cleanFaq();
      if (had.rules || rules.length) d.rules = cleanRules();
      return d;
    },
    setLang(l) { T = I18N[l] || I18N.en; renderAll(); },
  };
}
