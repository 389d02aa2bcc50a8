// @ts-check
/**
 * The "Names" card: every record with its state, address, last update and the provider's
 * exact last answer, with Re-enable and Update now. Built from the template, text only
 * (no HTML from data).
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").RecordStatus} RecordStatus
 */
import { reEnable, updateNow } from "../ipc.js";
import { recordAction } from "./editor.js";

/** The last status shown, to tell whether an address is unchanged. */
let current = /** @type {Status | null} */ (null);

/**
 * A line under the table saying what an action did.
 * @param {string} text
 * @param {"ok" | "error"} kind
 */
function message(text, kind) {
  const line = document.getElementById("record-message");
  if (line) {
    line.textContent = text;
    line.dataset.kind = kind;
  }
}

/**
 * Whether the address the provider has is the one detected now.
 * @param {RecordStatus} record
 * @returns {boolean}
 */
function unchanged(record) {
  const detected = current?.addresses.find((a) => a.family === record.family)?.address;
  return record.address !== null && record.address === detected;
}

/**
 * "Update now": when the address is unchanged, the first click only asks for
 * confirmation, because the provider counts unchanged updates against the account.
 * @param {RecordStatus} record
 * @param {HTMLButtonElement} button
 */
async function onUpdateNow(record, button) {
  if (unchanged(record) && button.dataset.confirm !== "yes") {
    button.dataset.confirm = "yes";
    button.textContent = "Send anyway";
    message(
      `${record.name} already points at ${record.address}. An unchanged update counts against your account at the provider; click "Send anyway" to send it.`,
      "error",
    );
    return;
  }
  button.disabled = true;
  try {
    const report = await updateNow(record.key);
    message(
      report.warnings.length > 0 ? report.warnings.join(" ") : `Update sent for ${record.name}.`,
      "ok",
    );
  } catch (error) {
    message(/** @type {{message: string}} */ (error).message, "error");
  } finally {
    button.disabled = false;
    delete button.dataset.confirm;
    button.textContent = "Update now";
  }
}

/**
 * "Re-enable": lets a refused record send again.
 * @param {RecordStatus} record
 */
async function onReEnable(record) {
  try {
    await reEnable(record.key);
    message(`${record.name} is enabled again.`, "ok");
  } catch (error) {
    message(/** @type {{message: string}} */ (error).message, "error");
  }
}

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

  const again = /** @type {HTMLButtonElement} */ (fragment.querySelector(".re-enable"));
  again.hidden = record.phase !== "disabled";
  again.setAttribute("aria-label", `Re-enable ${record.name}`);
  again.addEventListener("click", () => void onReEnable(record));
  const now = /** @type {HTMLButtonElement} */ (fragment.querySelector(".update-now"));
  now.hidden = record.phase === "disabled" || record.phase === "off";
  now.setAttribute("aria-label", `Update ${record.name} now`);
  now.addEventListener("click", () => void onUpdateNow(record, now));
  const edit = /** @type {HTMLButtonElement} */ (fragment.querySelector(".edit"));
  edit.setAttribute("aria-label", `Edit ${record.name}`);
  edit.addEventListener("click", () => recordAction(record.name, record.account, "edit"));
  const drop = /** @type {HTMLButtonElement} */ (fragment.querySelector(".remove"));
  drop.setAttribute("aria-label", `Remove ${record.name}`);
  drop.addEventListener("click", () => recordAction(record.name, record.account, "remove"));
  return fragment;
}

/**
 * Shows the engine's status: the records table, or the first-run card when there is none.
 * @param {Status} status
 */
export function showStatus(status) {
  current = status;
  const firstRun = /** @type {HTMLElement} */ (document.getElementById("first-run"));
  const card = /** @type {HTMLElement} */ (document.getElementById("records-card"));
  const body = /** @type {HTMLElement} */ (document.getElementById("records"));
  const configError = /** @type {HTMLElement} */ (document.getElementById("config-error"));
  const addresses = /** @type {HTMLElement} */ (document.getElementById("addresses"));

  const empty = status.records.length === 0 && !status.config_error;
  firstRun.hidden = !empty;
  card.hidden = empty;
  const configProblem = status.config_error ?? status.config_warning ?? null;
  configError.hidden = !configProblem;
  configError.textContent = configProblem ?? "";
  body.replaceChildren(...status.records.map(row));
  /** @type {string[]} */
  const parts = [];
  if (status.paused) {
    parts.push("Updates are paused");
  } else if (status.next_check_at) {
    parts.push(`Next check ${formatTime(status.next_check_at)}`);
  }
  addresses.textContent = parts.join(" · ");
}
