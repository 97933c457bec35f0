// The Queue tab (contract v2, "Agents' view"): the queued conversations of
// the agent's groups.  The `queue` message gives the whole list after each
// welcome; `conv` notices with reason "queue" (queued true or false) keep it
// live as conversations enter and leave the queues.  Its second array,
// `bots`, lists the conversations of those groups the bot answers (state
// bot), shown in the Bot tab; `conv` notices with state bot keep it live.
// Used by console.js.

export function queueView({ st, conv, send, renderAll, cue }) {
  let asked = 0;
  let listed = false;       // a list came since the page loaded

  function ask() {
    if (send({ type: 'queue' })) asked = Date.now();
  }

  // one waiting conversation as the server describes it
  function take(q, bot) {
    const c = conv(q.conv);
    // a conversation of ours that is open stays as it is
    if (c.state !== 'open') c.state = bot || q.state === 'bot' ? 'bot' : 'queued';
    if (Array.isArray(q.labels)) c.labels = q.labels;
    if (q.group) c.group = q.group;
    if (typeof q.position === 'number') c.position = q.position;
    if (q.since) c.created = q.since;
    c.offline = !!q.offline;
    if (typeof q.last === 'string') c.preview = q.last;
    if (q.visitor && typeof q.visitor === 'object') c.visitor = Object.assign({}, c.visitor || {}, q.visitor);
    c.inQueue = true;
    c.handedOver = false;
    return c;
  }

  function onMessage(m) {
    if (m.type === 'welcome') {
      // after the console's own welcome handling
      setTimeout(ask, 0);
      return false;
    }
    if (m.type === 'queue') {
      const seen = new Set();
      let arrived = null;
      for (const q of m.convs || []) {
        const had = st.convs.has(q.conv) && st.convs.get(q.conv).state === 'queued';
        const c = take(q);
        seen.add(c.conv);
        if (!had) arrived = c;
      }
      // a conversation that came while we were reconnecting (its notice
      // went to nobody) is as new to the agent as a notice's: one cue for
      // the list, not one per item, and none for the page's first list
      if (arrived && listed) cue(arrived, null);
      listed = true;
      for (const q of m.bots || []) seen.add(take(q, true).conv);
      // what left the queues (or the bot) while we were away
      for (const c of [...st.convs.values()]) {
        if (c.inQueue && !seen.has(c.conv) && (c.state === 'queued' || c.state === 'bot')) forget(c);
      }
      st.queueMore = m.more || 0;
      renderAll();
      return true;
    }
    if (m.type === 'conv' && m.reason === 'queue') {
      if (m.queued) {
        const had = st.convs.has(m.conv) && st.convs.get(m.conv).state === 'queued';
        const c = take(m);
        if (!had) cue(c, null);
      } else {
        const c = st.convs.get(m.conv);
        if (c && (c.state === 'queued' || c.state === 'bot')) {
          const mine = m.agent && m.agent.id === st.me;
          if (mine) { c.state = m.state; c.agent = m.agent; c.inQueue = false; }
          else forget(c);
        }
      }
      renderAll();
      return true;
    }
    return false;
  }

  // a conversation someone else took (or that left our groups): not ours to show
  function forget(c) {
    if (c.loaded && c.entries.size && c.state !== 'queued' && c.state !== 'bot') return;
    if (st.selected === c.conv && c.state === 'bot') return;   // being read: left as it is
    st.convs.delete(c.conv);
    if (st.selected === c.conv) st.selected = null;
  }

  // the list is told again now and then: a notice lost in a reconnect of
  // the server's subscription is made good
  setInterval(() => { if (st.welcomed && Date.now() - asked > 60000) ask(); }, 15000);

  return { onMessage, ask };
}
