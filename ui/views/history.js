// @ts-check
/**
 * The History card: a timeline (the address published over time, and each name's updates
 * as marks, coloured by result) above the list of attempts, newest first, in words.
 * Filterable by name. Drawn as SVG from the history the engine keeps; text only, no HTML
 * from data.
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").HistoryEntry} HistoryEntry
 */
import { history } from "../ipc.js";
import { exact, relative, timeElement } from "../time.js";

/** Words and a symbol for the engine's classifications. */
const RESULTS = /** @type {Record<string, [string, string, string]>} */ ({
  success: ["✓", "Updated", "ok"],
  nochg: ["=", "Already set", "quiet"],
  transient: ["⟳", "Provider busy", "warning"],
  fatal: ["⚠", "Refused", "error"],
  protocol: ["?", "Unexpected answer", "warning"],
  unconfirmed: ["?", "Not confirmed", "warning"],
  interrupted: ["⟳", "Interrupted, sent again", "warning"],
  "not-sent": ["–", "Interrupted before sending", "quiet"],
  imported: ["↧", "Taken over from the previous client", "quiet"],
});

/** Names by record key, from the last status. */
const names = new Map();
/** The entries last drawn, to redraw the timeline when the window is resized. */
let shown = /** @type {HistoryEntry[]} */ ([]);

const SVG = "http://www.w3.org/2000/svg";

/**
 * An SVG element with attributes.
 * @param {string} tag
 * @param {Record<string, string | number>} attributes
 * @returns {SVGElement}
 */
function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, v] of Object.entries(attributes)) {
    element.setAttribute(key, String(v));
  }
  return element;
}

/**
 * A hover text for an SVG mark.
 * @param {SVGElement} element
 * @param {string} text
 * @returns {SVGElement}
 */
function titled(element, text) {
  const title = document.createElementNS(SVG, "title");
  title.textContent = text;
  element.append(title);
  return element;
}

/**
 * One list item.
 * @param {HistoryEntry} entry
 * @returns {DocumentFragment}
 */
function row(entry) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("history-row"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  /** @param {string} selector @param {string} text */
  const set = (selector, text) => {
    const element = /** @type {HTMLElement | null} */ (fragment.querySelector(selector));
    if (element) {
      element.textContent = text;
    }
    return element;
  };
  const [symbol, words, kind] = RESULTS[entry.classification] ?? ["?", entry.classification, "warning"];
  set(".symbol", symbol);
  const result = set(".classification", words);
  if (result) {
    result.dataset.kind = kind;
  }
  set(".name", names.get(entry.record) ?? entry.record.split("/")[1] ?? entry.record);
  set(".address", entry.address ? `→ ${entry.address}` : "");
  set(".said", entry.answer ? `The provider said “${entry.answer}”` : "");
  fragment.querySelector(".item-when")?.append(timeElement(entry.at));
  return fragment;
}

/**
 * Draws the timeline of `entries` into the card.
 * @param {HistoryEntry[]} entries newest first
 */
function drawTimeline(entries) {
  const holder = /** @type {HTMLElement} */ (document.getElementById("timeline"));
  const caption = /** @type {HTMLElement} */ (document.getElementById("timeline-caption"));
  const figure = /** @type {HTMLElement} */ (document.getElementById("timeline-figure"));
  figure.hidden = entries.length === 0;
  if (entries.length === 0) {
    holder.replaceChildren();
    return;
  }
  const now = Date.now() / 1000;
  const oldest = Math.min(...entries.map((e) => e.at));
  // At least an hour wide, so a first update is not drawn at the very edge.
  const start = Math.min(oldest - 60, now - 3600);
  const span = now - start;
  const records = [...new Set(entries.map((e) => e.record))];
  const width = Math.max(320, holder.clientWidth || 480);
  const label = Math.min(150, Math.round(width * 0.28));
  const lane = 26;
  const top = 6;
  const height = top + lane * (records.length + 1) + 22;
  const x = (/** @type {number} */ t) => label + ((t - start) / span) * (width - label - 8);
  const root = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-labelledby": "timeline-caption",
  });

  // The address published over time: one band per address, from its first acceptance.
  const accepted = entries
    .filter((e) => e.classification === "success" && e.address)
    .sort((a, b) => a.at - b.at);
  /** @type {{address: string, from: number}[]} */
  const periods = [];
  for (const e of accepted) {
    if (periods.length === 0 || periods[periods.length - 1].address !== e.address) {
      periods.push({ address: /** @type {string} */ (e.address), from: e.at });
    }
  }
  const laneLabel = (/** @type {string} */ text, /** @type {number} */ y) => {
    const t = svg("text", { x: 0, y: y + 16, class: "tl-label" });
    t.textContent = text.length > 22 ? `${text.slice(0, 21)}…` : text;
    root.append(titled(t, text));
  };
  laneLabel("Address published", top);
  periods.forEach((period, i) => {
    const from = x(period.from);
    const to = i + 1 < periods.length ? x(periods[i + 1].from) : x(now);
    const band = svg("rect", {
      x: from,
      y: top + 4,
      width: Math.max(2, to - from),
      height: lane - 8,
      rx: 3,
      class: `tl-band tl-band-${i % 2}`,
    });
    root.append(titled(band, `${period.address} since ${exact(period.from)}`));
    if (to - from > period.address.length * 7 + 8) {
      const t = svg("text", { x: from + 4, y: top + 17, class: "tl-band-text" });
      t.textContent = period.address;
      root.append(t);
    }
  });

  records.forEach((record, i) => {
    const y = top + lane * (i + 1);
    root.append(svg("line", { x1: label, x2: width - 4, y1: y + lane / 2, y2: y + lane / 2, class: "tl-rule" }));
    laneLabel(names.get(record) ?? record.split("/")[1] ?? record, y);
    for (const e of entries.filter((entry) => entry.record === record)) {
      const [, words, kind] = RESULTS[e.classification] ?? ["?", e.classification, "warning"];
      const mark = svg("circle", { cx: x(e.at), cy: y + lane / 2, r: 5, class: `tl-mark tl-${kind}` });
      root.append(titled(mark, `${words}${e.address ? ` to ${e.address}` : ""}, ${relative(e.at)} (${exact(e.at)})`));
    }
  });

  // The time axis: four marks, in words.
  const axis = top + lane * (records.length + 1) + 14;
  for (let i = 0; i <= 3; i += 1) {
    const t = start + (span * i) / 3;
    const text = svg("text", {
      x: x(t),
      y: axis,
      class: "tl-axis",
      "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle",
    });
    text.textContent = i === 3 ? "now" : relative(t);
    root.append(text);
  }
  holder.replaceChildren(root);
  const changes = Math.max(0, periods.length - 1);
  caption.textContent =
    `Since ${relative(oldest)}: ${entries.length} ${entries.length === 1 ? "attempt" : "attempts"}` +
    `, the address changed ${changes === 1 ? "once" : `${changes} times`}.`;
}

/** Reloads the timeline and the list for the chosen filter. */
export async function refreshHistory() {
  const select = /** @type {HTMLSelectElement} */ (document.getElementById("history-filter"));
  const body = /** @type {HTMLElement} */ (document.getElementById("history"));
  const empty = /** @type {HTMLElement} */ (document.getElementById("history-empty"));
  try {
    const entries = await history(select.value === "" ? null : select.value);
    shown = entries;
    drawTimeline(entries);
    body.replaceChildren(...entries.slice(0, 50).map(row));
    empty.hidden = entries.length > 0;
  } catch {
    // The connection banner already says what is wrong.
  }
}

/**
 * Keeps the filter's choices in step with the records, and the card fresh.
 * @param {Status} status
 */
export function showHistory(status) {
  const card = /** @type {HTMLElement} */ (document.getElementById("history-card"));
  const select = /** @type {HTMLSelectElement} */ (document.getElementById("history-filter"));
  card.hidden = status.records.length === 0;
  names.clear();
  for (const record of status.records) {
    const family = record.family === "AAAA" ? " (IPv6)" : "";
    names.set(record.key, `${record.name}${family}`);
  }
  const chosen = select.value;
  const options = [new Option("every name", "")];
  for (const [key, name] of names) {
    options.push(new Option(name, key));
  }
  select.replaceChildren(...options);
  select.value = names.has(chosen) ? chosen : "";
  void refreshHistory();
}

document.getElementById("history-filter")?.addEventListener("change", () => void refreshHistory());
/** The width the timeline was last drawn at: only a change of width redraws it. */
let drawnWidth = 0;
new ResizeObserver((changes) => {
  const width = Math.round(changes[0]?.contentRect.width ?? 0);
  if (width !== drawnWidth) {
    drawnWidth = width;
    drawTimeline(shown);
  }
}).observe(/** @type {HTMLElement} */ (document.getElementById("history-card")));
