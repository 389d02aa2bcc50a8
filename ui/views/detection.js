// @ts-check
/**
 * The "Public address" card: per family, the address the sources agreed on (or why there
 * is none), when and why it was last checked, and every source with its latest answer and
 * health. Built from templates, text only.
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").AddressStatus} AddressStatus
 * @typedef {import("../ipc.js").SourceReport} SourceReport
 */
import { exact as formatTime } from "../time.js";

/**
 * Clones a template's first element.
 * @param {string} id
 * @returns {HTMLElement}
 */
function clone(id) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById(id));
  return /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
}

/**
 * Sets the text of the first element matching `selector` inside `root`.
 * @param {HTMLElement} root
 * @param {string} selector
 * @param {string} text
 * @returns {HTMLElement | null}
 */
function set(root, selector, text) {
  const element = /** @type {HTMLElement | null} */ (root.querySelector(selector));
  if (element) {
    element.textContent = text;
  }
  return element;
}

/** Words for each source state. */
const STATES = /** @type {Record<string, string>} */ ({
  agreed: "agrees",
  answered: "answered",
  failed: "failed",
  benched: "resting after failures",
  resting: "asked too recently",
  not_asked: "not needed",
  skipped: "not asked: the check took too long",
  suspended: "not used while its provider refuses the account",
});

/**
 * What made a check happen, in words.
 * @param {string | null} trigger
 * @returns {string}
 */
function triggerText(trigger) {
  if (!trigger || trigger === "poll") {
    return "";
  }
  if (trigger === "start") {
    return " at start";
  }
  return ` after a change (${trigger})`;
}

/**
 * One source's row.
 * @param {SourceReport} source
 * @param {number} needed how many sources had to agree
 * @returns {HTMLElement}
 */
function sourceRow(source, needed) {
  const row = clone("detection-source");
  set(row, ".source-name", source.source);
  let answer = source.error ? source.error : (source.address ?? "—");
  if (source.cached && source.address) {
    answer = `${source.address} (remembered)`;
  } else if (!["agreed", "answered", "failed"].includes(source.state) && answer !== "—") {
    // Not asked in this check: what it said last time, marked as such.
    answer = `${answer} (earlier)`;
  }
  set(row, ".source-answer", answer);
  let state = STATES[source.state] ?? source.state;
  if (source.state === "agreed" && needed === 1) {
    state = "used";
  }
  if (source.state === "benched" && source.benched_until) {
    state = `resting until ${formatTime(source.benched_until)}`;
  } else if (source.state === "failed" && source.benched_until) {
    state = `failed; resting until ${formatTime(source.benched_until)}`;
  }
  const cell = set(row, ".source-state", state);
  if (cell) {
    cell.dataset.state = source.state;
  }
  return row;
}

/**
 * One family's block.
 * @param {AddressStatus} family
 * @returns {HTMLElement}
 */
function familyBlock(family) {
  const block = clone("detection-family");
  set(block, ".family-name", family.family === "AAAA" ? "IPv6" : "IPv4");
  const address = set(block, ".family-address", family.address ?? "no address");
  if (address) {
    address.dataset.kind = family.address ? "ok" : "error";
  }
  let why;
  if (family.address) {
    const agreed = family.agreed.length;
    why =
      agreed > 1
        ? `— ${agreed} sources agree`
        : `— from ${family.agreed[0] ?? "its only source"}`;
  } else {
    why = `— ${family.error ?? "not checked yet"}; nothing is sent until sources agree`;
  }
  why += ` · checked ${formatTime(family.checked_at)}${triggerText(family.trigger)}`;
  set(block, ".family-why", why);
  block.querySelector("tbody")?.replaceChildren(...family.sources.map((s) => sourceRow(s, family.needed)));
  return block;
}

/**
 * Shows the detected addresses.
 * @param {Status} status
 */
export function showDetection(status) {
  const card = /** @type {HTMLElement} */ (document.getElementById("detection-card"));
  const body = /** @type {HTMLElement} */ (document.getElementById("detection"));
  card.hidden = status.addresses.length === 0;
  body.replaceChildren(...status.addresses.map(familyBlock));
}
