// The console's Settings area, for admins only (agents' consoles never
// build it): the site's settings document (docs/api.md, "Site settings")
// read and written with the `settings` message.  Business hours, the
// texts visitors see, skill groups' display names, the widget's look, the
// contact form.  A change reaches every visitor within a round trip.

import { siteCannedFields } from './canned.js';
import { automationFields } from './automation.js';
import { el, field } from './dom.js';

const I18N = {
  en: {
    open: 'Settings', title: 'Site settings', close: 'Back to conversations', save: 'Save',
    saved: 'Saved (version {v}): visitors see it now.', loading: 'Loading…',
    hours: 'Business hours', always: 'Always open (no business hours)', tz: 'Time zone',
    tzHelp: 'An IANA name, e.g. Asia/Shanghai', dayHelp: 'e.g. 09:00-12:00, 13:00-18:00 (empty: closed)',
    exceptions: 'Holidays and exceptions', excHelp: 'One per line: 2026-10-01 closed, or 2026-12-24 09:00-12:00',
    texts: 'Texts', welcome: 'Greeting', offline: 'When nobody can answer',
    groups: 'Skill groups', groupsHelp: 'One per line: name = 中文名 / English name, e.g. presales = 售前 / Pre-sales',
    widget: 'Widget', color: 'Colour', wtitle: 'Title', hide: 'Hide the chat button outside business hours',
    contact: 'Contact details', ask: 'Ask visitors for contact details when nobody can answer',
    required: 'Required (name and an e-mail or phone)', zh: 'Chinese', en: 'English',
    convs: 'Conversations', idle: 'Close a conversation after this many minutes without a message',
    idleHelp: '0: never. 1 minute to 30 days (43200); a day (1440) unless set. Queued conversations are never closed.',
    badIdle: 'Not saved: the minutes must be a number, 0 or more',
    bad: 'Not saved: {msg}', badLine: 'Not saved: cannot read line {n} of {what}',
    days: { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' },
  },
  zh: {
    open: '设置', title: '站点设置', close: '返回会话', save: '保存',
    saved: '已保存（版本 {v}），访客即时生效。', loading: '正在加载…',
    hours: '营业时间', always: '全天候服务（不设营业时间）', tz: '时区',
    tzHelp: 'IANA 时区名称，例如 Asia/Shanghai', dayHelp: '例如 09:00-12:00, 13:00-18:00（留空为休息）',
    exceptions: '节假日与例外', excHelp: '每行一条：2026-10-01 closed，或 2026-12-24 09:00-12:00',
    texts: '文案', welcome: '欢迎语', offline: '无人接待时的提示',
    groups: '技能组', groupsHelp: '每行一个：名称 = 中文名 / English name，例如 presales = 售前 / Pre-sales',
    widget: '访客窗口', color: '主题色', wtitle: '标题', hide: '非营业时间隐藏客服按钮',
    contact: '联系方式', ask: '无人接待时请访客留下联系方式',
    required: '必填（称呼，以及邮箱或手机号）', zh: '中文', en: 'English',
    convs: '会话', idle: '会话无新消息多少分钟后自动结束',
    idleHelp: '0 为从不；1 分钟至 30 天（43200）；未设置时为一天（1440）。排队中的会话不会被关闭。',
    badIdle: '未保存：分钟数须为 0 或更大的数字',
    bad: '未保存：{msg}', badLine: '未保存：无法识别{what}的第 {n} 行',
    days: { mon: '星期一', tue: '星期二', wed: '星期三', thu: '星期四', fri: '星期五', sat: '星期六', sun: '星期日' },
  },
};

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const ZONES = ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Singapore', 'Asia/Tokyo',
  'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'UTC'];

// mountSettings({ send, toast, lang }): builds the area; returns what the
// console calls: onMessage(m) (true when it was for the settings),
// setLang(lang).
export function mountSettings(o) {
  let T = I18N[o.lang] || I18N.en;
  let lastCid = '';
  let doc = null;
  let canned = null;
  let auto = null;
  const t = (k, v) => String(T[k]).replace(/\{(\w+)\}/g, (_, x) => (v && v[x] !== undefined ? v[x] : ''));

  const btn = el('button', 'link settings-open', '');
  btn.type = 'button';
  btn.id = 'settings-open';
  document.querySelector('.side-foot').prepend(btn);

  const box = el('section', 'settings');
  box.id = 'settings';
  box.hidden = true;
  box.setAttribute('aria-labelledby', 'settings-title');
  document.body.appendChild(box);

  function input(name, type) {
    const i = el(type === 'textarea' ? 'textarea' : 'input', 'field');
    if (type && type !== 'textarea') i.type = type;
    if (type === 'textarea') i.rows = 2;
    i.name = name;
    i.dataset.field = name;
    return i;
  }

  function build() {
    box.textContent = '';
    const head = el('header', 'set-head');
    const h = el('h2', '', t('title'));
    h.id = 'settings-title';
    const back = el('button', 'btn', t('close'));
    back.type = 'button';
    back.id = 'settings-close';
    back.onclick = () => show(false);
    head.appendChild(h);
    head.appendChild(back);
    box.appendChild(head);

    const form = el('form', 'set-form');
    form.id = 'settings-form';
    form.noValidate = true;

    // business hours
    const fh = el('fieldset', 'set-group');
    fh.appendChild(el('legend', '', t('hours')));
    const always = input('always', 'checkbox');
    const al = el('label', 'set-check');
    al.appendChild(always);
    al.appendChild(el('span', '', t('always')));
    fh.appendChild(al);
    const tz = input('hours.timezone', 'text');
    tz.setAttribute('list', 'set-zones');
    const dl = el('datalist');
    dl.id = 'set-zones';
    for (const z of ZONES) { const op = el('option'); op.value = z; dl.appendChild(op); }
    fh.appendChild(dl);
    fh.appendChild(field(t('tz'), tz, t('tzHelp')));
    const week = el('div', 'set-week');
    for (const d of DAYS) week.appendChild(field(T.days[d], input('hours.weekly.' + d, 'text')));
    fh.appendChild(week);
    fh.appendChild(el('span', 'set-help', t('dayHelp')));
    fh.appendChild(field(t('exceptions'), input('hours.exceptions', 'textarea'), t('excHelp')));
    form.appendChild(fh);

    // texts
    const ft = el('fieldset', 'set-group');
    ft.appendChild(el('legend', '', t('texts')));
    for (const l of ['zh', 'en']) {
      ft.appendChild(field(t('welcome') + ' · ' + t(l), input(`texts.${l}.welcome`, 'textarea')));
      ft.appendChild(field(t('offline') + ' · ' + t(l), input(`texts.${l}.offline`, 'textarea')));
    }
    form.appendChild(ft);

    // groups
    const fg = el('fieldset', 'set-group');
    fg.appendChild(el('legend', '', t('groups')));
    fg.appendChild(field(t('groups'), input('groups', 'textarea'), t('groupsHelp')));
    form.appendChild(fg);

    // widget
    const fw = el('fieldset', 'set-group');
    fw.appendChild(el('legend', '', t('widget')));
    fw.appendChild(field(t('color'), input('widget.color', 'color')));
    fw.appendChild(field(t('wtitle') + ' · ' + t('zh'), input('widget.title.zh', 'text')));
    fw.appendChild(field(t('wtitle') + ' · ' + t('en'), input('widget.title.en', 'text')));
    const hide = el('label', 'set-check');
    hide.appendChild(input('widget.hide_outside_hours', 'checkbox'));
    hide.appendChild(el('span', '', t('hide')));
    fw.appendChild(hide);
    form.appendChild(fw);

    // contact
    const fc = el('fieldset', 'set-group');
    fc.appendChild(el('legend', '', t('contact')));
    for (const k of ['ask', 'required']) {
      const c = el('label', 'set-check');
      c.appendChild(input('contact.' + k, 'checkbox'));
      c.appendChild(el('span', '', t(k)));
      fc.appendChild(c);
    }
    form.appendChild(fc);

    // conversations: idle_close, edited in minutes (stored in seconds)
    const fi = el('fieldset', 'set-group');
    fi.appendChild(el('legend', '', t('convs')));
    const idle = input('idle_close', 'number');
    idle.min = '0';
    idle.step = 'any';
    idle.inputMode = 'decimal';
    fi.appendChild(field(t('idle'), idle, t('idleHelp')));
    form.appendChild(fi);

    // canned replies (canned.js)
    const fk = el('fieldset', 'set-group');
    canned = siteCannedFields(fk, o.lang && T === I18N.zh ? 'zh' : 'en');
    form.appendChild(fk);

    // the bot, the FAQ, the rules and "Try it" (automation.js)
    auto = automationFields(form, { lang: T === I18N.zh ? 'zh' : 'en', siteApi: o.siteApi, token: o.token,
                                    showError: (f, msg) => showError(f, msg) });

    const foot = el('div', 'set-foot');
    const err = el('p', 'error set-error');
    err.id = 'settings-error';
    err.setAttribute('role', 'alert');
    err.hidden = true;
    const save = el('button', 'btn primary', t('save'));
    save.type = 'submit';
    save.id = 'settings-save';
    foot.appendChild(err);
    foot.appendChild(save);
    form.appendChild(foot);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
    always.addEventListener('change', () => { fh.classList.toggle('off', always.checked); });
    box.appendChild(form);
    if (doc) fill(doc);
  }

  const $f = (name) => box.querySelector(`[data-field="${name}"]`);

  function fill(d) {
    doc = d;
    const h = d.hours;
    $f('always').checked = !h;
    box.querySelector('.set-group').classList.toggle('off', !h);
    $f('hours.timezone').value = (h && h.timezone) || 'Asia/Shanghai';
    for (const day of DAYS) $f('hours.weekly.' + day).value = ((h && h.weekly && h.weekly[day]) || []).join(', ');
    $f('hours.exceptions').value = ((h && h.exceptions) || [])
      .map((e) => e.date + ' ' + (e.hours && e.hours.length ? e.hours.join(', ') : 'closed')).join('\n');
    for (const l of ['zh', 'en']) {
      for (const k of ['welcome', 'offline']) $f(`texts.${l}.${k}`).value = (d.texts && d.texts[l] && d.texts[l][k]) || '';
    }
    $f('groups').value = (d.groups || []).map((g) => g.name +
      (g.label ? ' = ' + (g.label.zh || '') + ' / ' + (g.label.en || '') : '')).join('\n');
    const w = d.widget || {};
    $f('widget.color').value = /^#[0-9a-f]{6}$/i.test(w.color || '') ? w.color : '#1677ff';
    $f('widget.title.zh').value = (w.title && w.title.zh) || '';
    $f('widget.title.en').value = (w.title && w.title.en) || '';
    $f('widget.hide_outside_hours').checked = !!w.hide_outside_hours;
    const c = d.contact || {};
    $f('contact.ask').checked = c.ask !== false;
    $f('contact.required').checked = !!c.required;
    // 90 s shows as 1.5 and is saved back as 90
    $f('idle_close').value = typeof d.idle_close === 'number' ? String(d.idle_close / 60) : '1440';
    canned.fill(d.canned);
    auto.fill(d);
  }

  // the form back into a document; a line it cannot read names itself
  function collect() {
    const d = {};
    if (!$f('always').checked) {
      const weekly = {};
      for (const day of DAYS) {
        const v = $f('hours.weekly.' + day).value.trim();
        weekly[day] = v ? v.split(/[,，\s]+/).filter(Boolean) : [];
      }
      const exceptions = [];
      const lines = $f('hours.exceptions').value.split('\n').map((x) => x.trim()).filter(Boolean);
      lines.forEach((line, i) => {
        const m = /^(\d{4}-\d{2}-\d{2})\s*:?\s*(.*)$/.exec(line);
        if (!m) throw { field: 'hours.exceptions', msg: t('badLine', { n: i + 1, what: t('exceptions') }) };
        const rest = m[2].trim();
        exceptions.push({ date: m[1], hours: !rest || /^(closed|休息|关闭)$/i.test(rest) ? [] : rest.split(/[,，\s]+/).filter(Boolean) });
      });
      d.hours = { timezone: $f('hours.timezone').value.trim(), weekly, exceptions };
    } else {
      d.hours = null;
    }
    d.texts = { zh: {}, en: {} };
    for (const l of ['zh', 'en']) {
      for (const k of ['welcome', 'offline']) d.texts[l][k] = $f(`texts.${l}.${k}`).value.trim();
    }
    d.groups = [];
    $f('groups').value.split('\n').map((x) => x.trim()).filter(Boolean).forEach((line, i) => {
      const m = /^([^=\s]+)\s*(?:=\s*([^/]*?)\s*(?:\/\s*(.*?))?)?\s*$/.exec(line);
      if (!m) throw { field: 'groups', msg: t('badLine', { n: i + 1, what: t('groups') }) };
      const g = { name: m[1] };
      if (m[2] || m[3]) {
        g.label = {};
        if (m[2]) g.label.zh = m[2];
        if (m[3]) g.label.en = m[3];
      }
      d.groups.push(g);
    });
    d.widget = { color: $f('widget.color').value, title: {},
                 hide_outside_hours: $f('widget.hide_outside_hours').checked };
    if ($f('widget.title.zh').value.trim()) d.widget.title.zh = $f('widget.title.zh').value.trim();
    if ($f('widget.title.en').value.trim()) d.widget.title.en = $f('widget.title.en').value.trim();
    d.contact = { ask: $f('contact.ask').checked, required: $f('contact.required').checked };
    const idle = $f('idle_close').value.trim();
    if (idle !== '') {
      const m = Number(idle);
      if (!Number.isFinite(m) || m < 0) throw { field: 'idle_close', msg: t('badIdle') };
      d.idle_close = Math.round(m * 60);
    }
    d.canned = canned.collect();
    auto.collect(d);
    return d;
  }

  function showError(field, msg) {
    const err = box.querySelector('#settings-error');
    for (const x of box.querySelectorAll('.invalid')) x.classList.remove('invalid');
    err.hidden = !msg;
    err.textContent = msg || '';
    if (!field) return;
    // "hours.weekly.mon", "groups[2]", "hours.exceptions[0]",
    // "rules[3].if[0].op", "faq[1].alts[4]": the input, else the nearest
    // one above it
    // ("faq[0].question": its first language's input)
    let name = field, input = null;
    while (name && !(input = $f(name) || box.querySelector(`[data-field^="${name}."], [data-field^="${name}["]`))) {
      const cut = name.replace(/(\[\d+\]|\.[^.[\]]+)$/, '');
      if (cut === name) break;
      name = cut;
    }
    if (input) {
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      input.scrollIntoView({ block: 'center' });
    }
    err.dataset.field = field;
  }

  function submit() {
    let d;
    try {
      d = collect();
    } catch (e) {
      showError(e.field, e.msg);
      return;
    }
    showError(null, '');
    lastCid = 'set' + Date.now().toString(36);
    // over the API where there is one: a document may be 256 KB there,
    // while a WebSocket message stops at kefu_max_message_size (64k)
    if (o.siteApi && o.siteApi()) {
      putApi(lastCid, d);
      return;
    }
    o.send({ type: 'settings', cid: lastCid, settings: d });
  }

  async function putApi(cid, d) {
    let r, j;
    try {
      r = await fetch(o.siteApi() + '/settings', {
        method: 'PUT', cache: 'no-store',
        headers: { Authorization: 'Bearer ' + o.token(), 'Content-Type': 'application/json' },
        body: JSON.stringify(d),
      });
      j = await r.json().catch(() => ({}));
    } catch (e) {
      if (cid === lastCid) showError(null, t('bad', { msg: e.message }));
      return;
    }
    if (cid !== lastCid) return;
    if (!r.ok) {
      const e = (j && j.error) || {};
      showError(e.field, t('bad', { msg: e.message || e.code || 'HTTP ' + r.status }));
      return;
    }
    handle({ type: 'settings', cid, version: j.version, settings: j.settings });
  }

  function show(on) {
    box.hidden = !on;
    document.getElementById('app').classList.toggle('settings-shown', on);
    if (on) {
      lastCid = 'get' + Date.now().toString(36);
      o.send({ type: 'settings', cid: lastCid });
    } else {
      btn.focus();
    }
  }
  btn.addEventListener('click', () => show(box.hidden));

  function setLang(l) {
    T = I18N[l] || I18N.en;
    btn.textContent = t('open');
    build();
  }
  setLang(o.lang);

  function handle(m) {
    if (m.type === 'settings') {
      fill(m.settings);
      if (m.cid && m.cid.startsWith('set')) {
        o.toast(t('saved', { v: m.version }));
        box.querySelector('#settings-form').dataset.version = m.version;
      }
      box.dataset.version = m.version;
      return true;
    }
    if (m.type === 'error' && m.cid && m.cid === lastCid) {
      showError(m.field, t('bad', { msg: m.message || m.code }));
      return true;
    }
    return false;
  }

  return { setLang, onMessage: handle };
}
