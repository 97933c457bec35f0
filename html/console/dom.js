// Small DOM builders the console's modules share.

// an element with a class and a text (text, never HTML)
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

// a settings form's field: its label, the input, an optional help line
export function field(label, input, help) {
  const w = el('label', 'set-field');
  w.appendChild(el('span', 'set-label', label));
  w.appendChild(input);
  if (help) w.appendChild(el('span', 'set-help', help));
  return w;
}
