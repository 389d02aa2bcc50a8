// @ts-check
/**
 * The "Names" card: every record with its state, address, last update and the provider's
 * exact last answer. Built from the template, text only (no HTML from data).
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").RecordStatus} RecordStatus
 */

/** Words for each phase the engine reports. */
const PHASES = /** @type {Record<string, string>} */ ({
  ok: "Up to date",
  pending: "Waiting for the first update",
  updating: "Updating…",
  backing_off: "Provider busy: retrying later",
  disabled: "Refused",
  off: "Turned off",
  error: "Problem",
});

/**
 * A time for people, in the user's locale.
 * @param {number | null} seconds since the epoch
 * @returns {string}
 */
export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) {
    return "never";
  }
  return new Date(seconds * 1000).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

/**
 * One table row for a record.
 * @param {RecordStatus} record
 * @returns {DocumentFragment}
 */
function row(record) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("record-row"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  /** @param {string} selector @param {string} text */
  const set = (selector, text) => {
    const element = fragment.querySelector(selector);
    if (element) {
      element.textContent = text;
    }
  };
  set(".name", record.name);
  set(".family", record.family === "AAAA" ? "(IPv6)" : "");
  set(".phase", PHASES[record.phase] ?? record.phase);
  const phase = fragment.querySelector(".phase");
  if (phase instanceof HTMLElement) {
    phase.dataset.phase = record.phase;
  }
  let advice = "";
  if (record.disabled) {
    advice = `${record.disabled.code}: ${record.disabled.advice}`;
  } else if (record.next_attempt_at) {
    advice = `Next attempt ${formatTime(record.next_attempt_at)}`;
  } else if (record.note) {
    advice = record.note;
  }
  set(".advice", advice);
  set(".address", record.address ?? "—");
  set(".when", formatTime(record.last_update_at));
  set(".answer", record.disabled?.answer ?? record.last_answer ?? "—");
  return fragment;
}

/**
 * Shows the engine's status: the records table, or the first-run card when there is none.
 * @param {Status} status
 */
export function showStatus(status) {
  const firstRun = /** @type {HTMLElement} */ (document.getElementById("first-run"));
  const card = /** @type {HTMLElement} */ (document.getElementById("records-card"));
  const body = /** @type {HTMLElement} */ (document.getElementById("records"));
  const configError = /** @type {HTMLElement} */ (document.getElementById("config-error"));
  const addresses = /** @type {HTMLElement} */ (document.getElementById("addresses"));

  const empty = status.records.length === 0 && !status.config_error;
  firstRun.hidden = !empty;
  card.hidden = empty;
  configError.hidden = !status.config_error;
  configError.textContent = status.config_error ?? "";
  body.replaceChildren(...status.records.map(row));
  addresses.textContent = status.addresses
    .map((a) => `Public ${a.family === "AAAA" ? "IPv6" : "IPv4"} address: ${a.address ?? `none (${a.error})`}`)
    .join(" · ");
}
