// @ts-check
/**
 * The History card: every attempt, newest first, filterable by name.
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").HistoryEntry} HistoryEntry
 */
import { history } from "../ipc.js";
import { formatTime } from "./records.js";

/** Words for the engine's classifications. */
const RESULTS = /** @type {Record<string, string>} */ ({
  success: "Updated",
  nochg: "Already set",
  transient: "Provider busy",
  fatal: "Refused",
  protocol: "Unexpected answer",
  unconfirmed: "Unconfirmed",
  interrupted: "Interrupted, sent again",
  "not-sent": "Interrupted before sending",
});

/** Names by record key, from the last status. */
const names = new Map();

/**
 * One table row.
 * @param {HistoryEntry} entry
 * @returns {DocumentFragment}
 */
function row(entry) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("history-row"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  /** @param {string} selector @param {string} text */
  const set = (selector, text) => {
    const element = fragment.querySelector(selector);
    if (element) {
      element.textContent = text;
    }
  };
  set(".when", formatTime(entry.at));
  set(".name", names.get(entry.record) ?? entry.record);
  set(".address", entry.address ?? "—");
  set(".classification", RESULTS[entry.classification] ?? entry.classification);
  set(".answer", entry.answer);
  return fragment;
}

/** Reloads the table for the chosen filter. */
export async function refreshHistory() {
  const select = /** @type {HTMLSelectElement} */ (document.getElementById("history-filter"));
  const body = /** @type {HTMLElement} */ (document.getElementById("history"));
  const empty = /** @type {HTMLElement} */ (document.getElementById("history-empty"));
  try {
    const entries = await history(select.value === "" ? null : select.value);
    body.replaceChildren(...entries.map(row));
    empty.hidden = entries.length > 0;
  } catch {
    // The connection banner already says what is wrong.
  }
}

/**
 * Keeps the filter's choices in step with the records, and the table fresh.
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
