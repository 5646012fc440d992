// Small DOM helpers shared by the views.

export const $ = (selector) => document.querySelector(selector);
export const $$ = (selector) => Array.from(document.querySelectorAll(selector));

/** Set the text of every element matching `selector`. */
export function setText(selector, text) {
  $$(selector).forEach((el) => { el.textContent = text; });
}

/** Show a time of day in a <time> element (and its machine-readable value). */
export function setTime(el, date, format) {
  el.textContent = format(date);
  el.dateTime = date.toISOString();
}

/** A new element with a class and text (both optional). */
export function element(tag, { className, text } = {}) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}
