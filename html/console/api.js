// The HTTP API with the console's own token (contract v2: an agent sees
// there exactly what it sees over WebSocket).  Where it lives: `#api=` or
// `?api=` in the console's URL, else what welcome's "api" says (the
// server's kefu_api location); without either the console does without.

export function apiClient({ st }) {
  const params = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const given = params.get('api') || query.get('api');

  function base() {
    const b = given || (st.api && st.api.url);
    return b ? new URL(b, location.href).href.replace(/\/+$/, '') : null;
  }

  async function get(path) {
    const b = base();
    if (!b) throw new Error('no API');
    const r = await fetch(`${b}/sites/${encodeURIComponent(st.site)}${path}`, {
      headers: { Authorization: 'Bearer ' + st.token },
      cache: 'no-store',
    });
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  }

  return { get, available: () => !!base() };
}
