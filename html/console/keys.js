// Keyboard shortcuts for the common moves, listed in the console with `?`.
// Alt+key works anywhere (in the composer too); the plain key works when
// no text field has the focus.  Used by console.js.

export const SHORTCUTS = [
  { code: 'KeyJ', key: 'j', what: 'kNext' },
  { code: 'KeyR', key: 'r', what: 'kCompose' },
  { code: 'KeyN', key: 'n', what: 'kNote' },
  { code: 'KeyT', key: 't', what: 'kTransfer' },
  { code: 'KeyE', key: 'e', what: 'kClose' },
  { code: 'KeyQ', key: 'q', what: 'kQueue' },
];

export function keyboard({ t, el, $, actions }) {
  const dlg = $('keys-dialog');

  function renderHelp() {
    const dl = $('keys-list');
    dl.textContent = '';
    for (const s of SHORTCUTS) {
      const dt = el('dt');
      dt.append(el('kbd', '', s.key), ' / ', el('kbd', '', 'Alt+' + s.key.toUpperCase()));
      dl.append(dt, el('dd', '', t(s.what)));
    }
    const dt = el('dt');
    dt.append(el('kbd', '', '?'));
    dl.append(dt, el('dd', '', t('kHelp')));
  }

  function inField(target) {
    return target && (target.tagName === 'TEXTAREA' || target.tagName === 'INPUT' || target.isContentEditable);
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.defaultPrevented || ev.isComposing || ev.ctrlKey || ev.metaKey) return;
    if (document.querySelector('dialog[open]:not(#keys-dialog)')) return;
    if ($('app').dataset.view !== 'console') return;
    const field = inField(ev.target);
    if (!ev.altKey && ev.key === '?' && !field) {
      ev.preventDefault();
      if (dlg.open) dlg.close(); else { renderHelp(); dlg.showModal(); }
      return;
    }
    if (!ev.altKey && (field || ev.shiftKey)) return;
    const s = SHORTCUTS.find((x) => x.code === ev.code);
    if (!s) return;
    ev.preventDefault();
    if (dlg.open) dlg.close();
    actions[s.what]();
  });
  $('keys-help').addEventListener('click', () => { renderHelp(); dlg.showModal(); });
  $('keys-close').addEventListener('click', () => dlg.close());

  return { renderHelp };
}
