// Transfer that cannot go wrong: the dialog lists the site's groups and
// agents (from the HTTP API with the console's token: presence and load)
// to pick from; nothing can be typed, so an unknown target cannot be sent.
// A group comes from the site's settings, an agent's groups or the
// agent's own token.  Used by console.js.

export function transferPicker({ st, api, t, el, $, act }) {
  let choice = null;

  function groupLabel(g) {
    const lang = document.documentElement.lang.startsWith('zh') ? 'zh' : 'en';
    return (g.label && (g.label[lang] || g.label.zh || g.label.en)) || g.name;
  }

  function option(kind, value, title, sub, disabled) {
    const li = el('li', 'pick' + (disabled ? ' disabled' : ''));
    const b = el('button', 'pick-btn');
    b.type = 'button';
    b.dataset.kind = kind;
    b.dataset.value = value;
    b.setAttribute('role', 'radio');
    b.setAttribute('aria-checked', 'false');
    b.disabled = !!disabled;
    b.appendChild(el('span', 'pick-title', title));
    if (sub) b.appendChild(el('span', 'pick-sub muted', sub));
    li.appendChild(b);
    return li;
  }

  function stateText(a) {
    const s = t('pres_' + (a.state || 'offline'));
    return typeof a.capacity === 'number' ? `${s} · ${t('loadOf', { n: a.load || 0, m: a.capacity })}` : `${s} · ${t('loadN', { n: a.load || 0 })}`;
  }

  async function open() {
    choice = null;
    $('transfer-ok').disabled = true;
    const gl = $('transfer-groups'), al = $('transfer-agents');
    gl.textContent = '';
    al.textContent = '';
    gl.appendChild(el('li', 'muted', t('loading')));
    $('transfer-dialog').showModal();
    let agents = [], groups = new Map();
    for (const g of st.claims.groups || []) groups.set(g, { name: g });
    try {
      const [a, s] = await Promise.all([api.get('/agents'), api.get('/settings').catch(() => null)]);
      agents = a.agents || [];
      const doc = s && (s.settings || s.doc || s);
      for (const g of (doc && doc.groups) || []) if (g && g.name) groups.set(g.name, g);
      for (const x of agents) for (const g of x.groups || []) if (!groups.has(g)) groups.set(g, { name: g });
    } catch (e) {
      // without the API: the groups of the token, and no agents to pick
      $('transfer-note').textContent = t('pickerPartial');
    }
    gl.textContent = '';
    const c = st.convs.get(st.selected);
    for (const g of [...groups.values()].sort((x, y) => x.name.localeCompare(y.name))) {
      const members = agents.filter((a) => (a.groups || []).includes(g.name));
      const online = members.filter((a) => a.state === 'online');
      const free = online.filter((a) => typeof a.capacity !== 'number' || (a.load || 0) < a.capacity);
      const sub = t('groupSub', { on: online.length, free: free.length }) + (c && c.group === g.name ? ' · ' + t('current') : '');
      gl.appendChild(option('group', g.name, groupLabel(g), sub, false));
    }
    if (!groups.size) gl.appendChild(el('li', 'muted', t('none')));
    const others = agents.filter((a) => a.id !== st.me)
      .sort((x, y) => (x.state === 'online' ? 0 : x.state === 'away' ? 1 : 2) - (y.state === 'online' ? 0 : y.state === 'away' ? 1 : 2)
                      || (x.load || 0) - (y.load || 0) || x.id.localeCompare(y.id));
    for (const a of others) {
      // the server takes an agent who is online or away, never offline
      al.appendChild(option('agent', a.id, a.name ? `${a.name} (${a.id})` : a.id, stateText(a), a.state === 'offline'));
    }
    if (!others.length) al.appendChild(el('li', 'muted', t('none')));
  }

  $('transfer-dialog').addEventListener('click', (ev) => {
    const b = ev.target.closest('.pick-btn');
    if (!b || b.disabled) return;
    for (const x of document.querySelectorAll('#transfer-dialog .pick-btn')) x.setAttribute('aria-checked', x === b ? 'true' : 'false');
    choice = { kind: b.dataset.kind, value: b.dataset.value };
    $('transfer-ok').disabled = false;
  });
  $('transfer-cancel').addEventListener('click', () => $('transfer-dialog').close());
  $('transfer-form').addEventListener('submit', (ev) => {
    if (!choice) { ev.preventDefault(); return; }
    act('transfer', { conv: st.selected, [choice.kind]: choice.value });
  });

  return { open };
}
