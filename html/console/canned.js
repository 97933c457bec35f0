// Canned replies in the console (docs/console.md, "Canned replies").
// In the composer, "/" and the start of a shortcut suggest the site's
// replies (its settings' "canned") and the agent's own (GET <api>/canned);
// arrow keys choose, Enter or Tab inserts, Escape leaves it.  Variables are
// filled in from what the console knows of the conversation:
// {{visitor.name}}, {{agent.name}}, {{attrs.<key>}}, each with a fallback
// after "|" ({{visitor.name|there}}); one with no value and no fallback is
// left out.  The agent's own replies are managed in a dialog (PUT and
// DELETE <api>/canned/<key>); the site's by admins in Settings
// (siteCannedFields below, used by settings.js).

import { el } from './dom.js';

const I18N = {
  en: {
    none: 'No canned reply starts with “/{p}”', manage: 'My canned replies…', title: 'My canned replies',
    key: 'Shortcut', zh: 'Chinese', en: 'English', save: 'Save', del: 'Delete', close: 'Close', add: 'New reply',
    saved: 'Saved “/{k}”', deleted: 'Deleted “/{k}”', failed: 'Not saved: {msg}', mine: 'mine', site: 'site',
    keyHelp: 'Letters, digits and . _ - @ (typed after “/”)', empty: 'No canned replies of your own yet.',
    siteTitle: 'Canned replies', siteHelp: 'Shortcut, then the text in Chinese and English. Variables: {{visitor.name|there}}, {{agent.name}}, {{attrs.order_id}}', remove: 'Remove',
  },
  zh: {
    none: '没有以“/{p}”开头的快捷回复', manage: '我的快捷回复…', title: '我的快捷回复',
    key: '快捷键', zh: '中文', en: 'English', save: '保存', del: '删除', close: '关闭', add: '新建回复',
    saved: '已保存“/{k}”', deleted: '已删除“/{k}”', failed: '未保存：{msg}', mine: '我的', site: '全站',
    keyHelp: '字母、数字及 . _ - @（在“/”后输入）', empty: '还没有个人快捷回复。',
    siteTitle: '快捷回复', siteHelp: '快捷键，以及中文和英文内容。变量：{{visitor.name|您}}、{{agent.name}}、{{attrs.order_id}}', remove: '移除',
  },
};

// a reply's text (or title) in the language, else the other one
export function pickText(v, lang) {
  if (v == null) return '';
  if (typeof v === 'string') return v;
  return v[lang] || v[lang === 'zh' ? 'en' : 'zh'] || '';
}

// {{visitor.name|fallback}}, {{agent.name}}, {{attrs.key}}: ctx is
// { visitor: {name, attrs}, agent: {name} }
export function fill(text, ctx) {
  return text.replace(/\{\{\s*([a-z]+)\.([A-Za-z0-9_.-]+)\s*(?:\|([^}]*))?\}\}/g, (all, ns, key, fb) => {
    let v;
    if (ns === 'visitor' && key === 'name') v = ctx.visitor && ctx.visitor.name;
    else if (ns === 'agent' && key === 'name') v = ctx.agent && ctx.agent.name;
    else if (ns === 'attrs') v = ctx.visitor && ctx.visitor.attrs && ctx.visitor.attrs[key];
    else return all;              // not a variable of ours: as written
    if (v !== undefined && v !== null && String(v) !== '') return String(v);
    return fb !== undefined ? fb : '';
  });
}

// mountCanned({ input, composer, token: () => jwt, lang, context: () => ctx,
// siteReplies: () => [..], toast }): returns ready(apiUrl), setLang(lang),
// reload()
export function mountCanned(o) {
  let T = I18N[o.lang] || I18N.en;
  let lang = o.lang;
  let api = null, mine = [], site = [], items = [], at = 0, prefix = null;
  const t = (k, v) => String(T[k]).replace(/\{(\w+)\}/g, (_, x) => (v && v[x] !== undefined ? v[x] : ''));

  const pop = el('div', 'canned-pop');
  pop.id = 'canned-pop';
  pop.hidden = true;
  pop.setAttribute('role', 'listbox');
  o.composer.appendChild(pop);

  async function call(method, path, body) {
    const r = await fetch(api + '/canned' + path, {
      method, headers: Object.assign({ Authorization: 'Bearer ' + o.token() },
                                     body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    let j = null;
    try { j = await r.json(); } catch (e) { /* no body */ }
    return { ok: r.ok, status: r.status, j };
  }

  async function reload() {
    if (!api) return;
    try {
      const r = await call('GET', '');
      if (r.ok) { site = r.j.site || []; mine = r.j.personal || []; }
    } catch (e) { /* kept as they were */ }
    if (!dlg.hidden && !dlg.querySelector('.invalid')) renderDialog();
  }

  function all() {
    const s = (o.siteReplies && o.siteReplies()) || site;
    return mine.map((x) => Object.assign({ mine: true }, x))
      .concat(s.filter((x) => !mine.some((m) => m.key === x.key)));
  }

  // "/" and a prefix at the start of the composer: the suggestions
  function update() {
    const m = /^\/([A-Za-z0-9._@-]*)$/.exec(o.input.value);
    if (!m) { hide(); return; }
    // opening: read them again (an admin may have changed the site's)
    if (pop.hidden) reload().then(() => { if (!pop.hidden) update(); });
    prefix = m[1];
    const p = prefix.toLowerCase();
    items = all().filter((x) => x.key.toLowerCase().startsWith(p)).sort((a, b) => a.key.localeCompare(b.key));
    at = Math.min(at, Math.max(0, items.length - 1));
    render();
  }

  function render() {
    pop.textContent = '';
    pop.hidden = false;
    if (!items.length) pop.appendChild(el('div', 'canned-none muted', t('none', { p: prefix })));
    items.forEach((x, i) => {
      const row = el('div', 'canned-item');
      row.setAttribute('role', 'option');
      row.dataset.key = x.key;
      row.setAttribute('aria-selected', i === at ? 'true' : 'false');
      const head = el('div', 'canned-head');
      head.appendChild(el('b', 'canned-key', '/' + x.key));
      if (x.title) head.appendChild(el('span', 'canned-title', pickText(x.title, lang)));
      head.appendChild(el('span', 'tag', x.mine ? t('mine') : t('site')));
      row.append(head, el('div', 'canned-text muted', fill(pickText(x.text, lang), o.context())));
      row.addEventListener('mousedown', (ev) => { ev.preventDefault(); at = i; insert(); });
      pop.appendChild(row);
    });
    const manage = el('button', 'link canned-manage', t('manage'));
    manage.type = 'button';
    manage.addEventListener('mousedown', (ev) => { ev.preventDefault(); hide(); openDialog(); });
    pop.appendChild(manage);
    const sel = pop.querySelector('[aria-selected="true"]');
    if (sel && sel.scrollIntoView) sel.scrollIntoView({ block: 'nearest' });
  }

  function hide() { pop.hidden = true; prefix = null; at = 0; }

  function insert() {
    const x = items[at];
    if (!x) return;
    o.input.value = fill(pickText(x.text, lang), o.context());
    hide();
    o.input.dispatchEvent(new Event('input'));
    o.input.focus();
    o.input.setSelectionRange(o.input.value.length, o.input.value.length);
  }

  // before the composer's own keys (Enter sends): the capture phase
  o.composer.addEventListener('keydown', (ev) => {
    if (ev.target !== o.input || pop.hidden || ev.isComposing) return;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      if (items.length) at = (at + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
      render();
    } else if ((ev.key === 'Enter' && !ev.shiftKey) || ev.key === 'Tab') {
      if (!items.length) { if (ev.key === 'Tab') return; hide(); return; }
      ev.preventDefault();
      ev.stopImmediatePropagation();
      insert();
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      hide();
    }
  }, true);
  o.input.addEventListener('input', update);
  // leaving the composer closes them, unless focus came straight back
  o.input.addEventListener('blur', () => setTimeout(() => {
    if (document.activeElement !== o.input) hide();
  }, 150));

  // ---- the agent's own replies ----
  const dlg = el('dialog', 'dialog canned-dialog');
  dlg.id = 'canned-dialog';
  dlg.hidden = true;
  document.body.appendChild(dlg);

  function openDialog() {
    dlg.hidden = false;
    renderDialog();
    if (dlg.showModal && !dlg.open) dlg.showModal();
    reload();
  }

  function renderDialog(edit) {
    dlg.textContent = '';
    dlg.appendChild(el('h2', '', t('title')));
    const ul = el('ul', 'canned-mine');
    if (!mine.length) ul.appendChild(el('li', 'muted', t('empty')));
    for (const x of mine) {
      const li = el('li', 'canned-row');
      li.dataset.key = x.key;
      li.append(el('b', 'canned-key', '/' + x.key), el('span', 'canned-text muted', pickText(x.text, lang)));
      const ed = el('button', 'link', '✎');
      ed.type = 'button';
      ed.onclick = () => renderDialog(x);
      const del = el('button', 'link danger canned-del', t('del'));
      del.type = 'button';
      del.onclick = async () => {
        const r = await call('DELETE', '/' + encodeURIComponent(x.key));
        if (r.ok || r.status === 404) { mine = mine.filter((m) => m.key !== x.key); o.toast(t('deleted', { k: x.key })); renderDialog(); }
      };
      li.append(ed, del);
      ul.appendChild(li);
    }
    dlg.appendChild(ul);
    const f = el('form', 'canned-form');
    f.id = 'canned-form';
    f.noValidate = true;
    const field = (label, node, help) => {
      const w = el('label', 'set-field');
      w.append(el('span', 'set-label', label), node);
      if (help) w.appendChild(el('span', 'set-help', help));
      return w;
    };
    const key = el('input', 'field');
    key.name = 'key';
    key.dataset.field = 'key';
    key.value = edit ? edit.key : '';
    const zh = el('textarea', 'field');
    zh.name = 'zh';
    zh.dataset.field = 'text.zh';
    zh.rows = 2;
    zh.value = edit && edit.text ? (typeof edit.text === 'string' ? '' : edit.text.zh || '') : '';
    const en = el('textarea', 'field');
    en.name = 'en';
    en.dataset.field = 'text.en';
    en.rows = 2;
    en.value = edit && edit.text ? (typeof edit.text === 'string' ? edit.text : edit.text.en || '') : '';
    const err = el('p', 'error');
    err.id = 'canned-error';
    err.hidden = true;
    const save = el('button', 'btn primary', t('save'));
    save.type = 'submit';
    save.id = 'canned-save';
    const close = el('button', 'btn', t('close'));
    close.type = 'button';
    close.onclick = () => { dlg.hidden = true; if (dlg.open) dlg.close(); o.input.focus(); };
    const actions = el('div', 'dialog-actions');
    actions.append(close, save);
    f.append(field(t('key'), key, t('keyHelp')), field(t('zh'), zh), field(t('en'), en), err, actions);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = {};
      if (zh.value.trim()) text.zh = zh.value.trim();
      if (en.value.trim()) text.en = en.value.trim();
      const k = key.value.trim().replace(/^\//, '');
      for (const x of f.querySelectorAll('.invalid')) x.classList.remove('invalid');
      let r;
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(k)) {
        // not even a path segment: said here, as the server would
        r = { ok: false, j: { error: { field: 'key', message: 'key: ' + t('keyHelp') } } };
      } else {
        try {
          r = await call('PUT', '/' + encodeURIComponent(k), { text });
        } catch (e) {
          r = { ok: false, j: { error: { message: String(e) } } };
        }
      }
      if (!r.ok) {
        const e = (r.j && r.j.error) || {};
        err.hidden = false;
        err.textContent = t('failed', { msg: e.message || r.status });
        const bad = f.querySelector(`[data-field="${e.field}"]`) || (e.field === 'text' ? en : null);
        if (bad) { bad.classList.add('invalid'); bad.focus(); }
        return;
      }
      mine = mine.filter((m) => m.key !== r.j.key).concat([r.j]).sort((a, b) => a.key.localeCompare(b.key));
      o.toast(t('saved', { k: r.j.key }));
      renderDialog();
    });
    const addB = el('button', 'link', t('add'));
    addB.type = 'button';
    addB.onclick = () => renderDialog();
    dlg.append(f);
    if (edit) dlg.append(addB);
  }

  function setLang(l) { lang = l; T = I18N[l] || I18N.en; if (!pop.hidden) update(); if (!dlg.hidden) renderDialog(); }

  return {
    ready(url) { api = url || null; reload(); },
    setLang,
    reload,
    open: openDialog,
  };
}

// Settings (admins): the site's replies as rows of shortcut, zh and en
// text; inputs are named as the API names fields ("canned[2].text.zh"), so
// an error from the server marks the right one.  Titles are kept as they
// were.
export function siteCannedFields(fieldset, lang) {
  const T2 = I18N[lang] || I18N.en;
  const rows = el('div', 'canned-site');
  rows.id = 'canned-site';
  fieldset.appendChild(el('legend', '', T2.siteTitle));
  fieldset.appendChild(el('span', 'set-help', T2.siteHelp));
  fieldset.appendChild(rows);
  const add = el('button', 'link', T2.add);
  add.type = 'button';
  add.id = 'canned-site-add';
  fieldset.appendChild(add);
  let titles = {};

  function row(x) {
    const i = rows.children.length;
    const r = el('div', 'canned-site-row');
    const mk = (tag, name, ph, val) => {
      const n = el(tag, 'field');
      n.dataset.field = `canned[${i}].${name}`;
      n.placeholder = ph;
      n.value = val || '';
      if (tag === 'textarea') n.rows = 2;
      return n;
    };
    const rm = el('button', 'link danger', T2.remove);
    rm.type = 'button';
    rm.onclick = () => { r.remove(); renumber(); };
    r.append(mk('input', 'key', T2.key, x && x.key),
             mk('textarea', 'text.zh', T2.zh, x && (typeof x.text === 'string' ? '' : x.text && x.text.zh)),
             mk('textarea', 'text.en', T2.en, x && (typeof x.text === 'string' ? x.text : x.text && x.text.en)), rm);
    rows.appendChild(r);
  }
  function renumber() {
    [...rows.children].forEach((r, i) => {
      for (const n of r.querySelectorAll('[data-field]')) n.dataset.field = n.dataset.field.replace(/^canned\[\d+\]/, `canned[${i}]`);
    });
  }
  add.onclick = () => row(null);

  return {
    fill(list) {
      rows.textContent = '';
      titles = {};
      for (const x of list || []) { if (x.title) titles[x.key] = x.title; row(x); }
    },
    collect() {
      const out = [];
      for (const r of rows.children) {
        const [k, zh, en] = r.querySelectorAll('[data-field]');
        const key = k.value.trim().replace(/^\//, '');
        if (!key && !zh.value.trim() && !en.value.trim()) continue;
        const x = { key, text: {} };
        if (zh.value.trim()) x.text.zh = zh.value.trim();
        if (en.value.trim()) x.text.en = en.value.trim();
        if (titles[key]) x.title = titles[key];
        out.push(x);
      }
      return out;
    },
  };
}
