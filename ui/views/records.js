// @ts-check
/**
 * The "Names" card: one line per name with a state symbol, the address the provider has,
 * when it was last updated, the provider's own words quoted once, and the one button that
 * fixes a refusal ("Change password", "Re-enable"). Built from the template, text only
 * (no HTML from data).
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").RecordStatus} RecordStatus
 */
import { reEnable, updateNow } from "../ipc.js";
import { timeElement } from "../time.js";
import { fixSecret, recordAction, secretLabel } from "./editor.js";

/** The last status shown, to tell whether an address is unchanged. */
let current = /** @type {Status | null} */ (null);

/**
 * A line under the list saying what an action did, or asking a question.
 * @param {string} text
 * @param {"ok" | "error" | "question"} kind
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
 * "Update now": when the address is unchanged, the first click only asks, because the
 * provider counts unchanged updates against the account.
 * @param {RecordStatus} record
 * @param {HTMLButtonElement} button
 */
async function onUpdateNow(record, button) {
  if (unchanged(record) && button.dataset.confirm !== "yes") {
    button.dataset.confirm = "yes";
    button.textContent = "Send anyway";
    button.setAttribute("aria-label", `Send anyway: ${record.name}`);
    message(
      `${record.name} already points at ${record.address}. ${providerName(record)} counts an unchanged update against your account. Send it anyway?`,
      "question",
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
    button.setAttribute("aria-label", `Update now: ${record.name}`);
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

/** Words and a symbol for each phase the engine reports. */
const PHASES = /** @type {Record<string, [string, string]>} */ ({
  ok: ["✓", "Up to date"],
  pending: ["…", "Waiting for its first update"],
  updating: ["⟳", "Updating…"],
  backing_off: ["⟳", "Provider busy: trying again later"],
  disabled: ["⚠", "Refused"],
  off: ["–", "Turned off"],
  error: ["⚠", "Needs attention"],
});

/**
 * The provider's name as people know it.
 * @param {RecordStatus} record
 * @returns {string}
 */
function providerName(record) {
  return record.provider_name || record.provider;
}

/**
 * One list item for a record.
 * @param {RecordStatus} record
 * @returns {DocumentFragment}
 */
function row(record) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("record-row"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  /** @param {string} selector @param {string} text */
  const set = (selector, text) => {
    const element = /** @type {HTMLElement | null} */ (fragment.querySelector(selector));
    if (element) {
      element.textContent = text;
      element.hidden = text === "";
    }
    return element;
  };
  const [symbol, words] = PHASES[record.phase] ?? ["", record.phase];
  const item = /** @type {HTMLElement} */ (fragment.querySelector(".record"));
  item.dataset.phase = record.phase;
  set(".symbol", symbol);
  set(".name", record.name);
  set(".family", record.family === "AAAA" ? "IPv6" : "");
  const phase = set(".phase", words);
  if (phase) {
    phase.dataset.phase = record.phase;
  }
  const address = set(".address", record.address ?? "no address yet");
  address?.classList.toggle("none", !record.address);
  /** @type {HTMLElement} */ (fragment.querySelector(".name")).title = record.name;
  const when = /** @type {HTMLElement} */ (fragment.querySelector(".when-slot"));
  when.append(
    record.last_update_at
      ? timeElement(record.last_update_at, (t) => ` · updated ${t}`)
      : document.createTextNode(" · not updated yet"),
  );
  const answer = record.disabled?.answer ?? record.last_answer;
  set(".said", answer ? `${providerName(record)} said “${answer}”` : "");
  const advice = /** @type {HTMLElement} */ (fragment.querySelector(".advice"));
  advice.hidden = true;
  if (record.disabled) {
    advice.textContent = record.disabled.advice;
    advice.dataset.kind = "error";
    advice.hidden = false;
  } else if (record.next_attempt_at) {
    advice.append(timeElement(record.next_attempt_at, (t) => `Next try ${t}.`));
    advice.hidden = false;
  } else if (record.note) {
    advice.textContent = record.note;
    advice.dataset.kind = "warning";
    advice.hidden = false;
  }

  const fix = /** @type {HTMLButtonElement} */ (fragment.querySelector(".fix"));
  if (record.phase === "disabled" && record.cure === "secret") {
    fix.hidden = false;
    fix.textContent = `Change ${secretLabel(record.provider)}`;
    fix.setAttribute("aria-label", `${fix.textContent} for ${record.name}`);
    fix.addEventListener("click", () => fixSecret(record.account));
  }
  const again = /** @type {HTMLButtonElement} */ (fragment.querySelector(".re-enable"));
  again.hidden = record.phase !== "disabled";
  again.setAttribute("aria-label", `Re-enable ${record.name}`);
  again.addEventListener("click", () => void onReEnable(record));
  const now = /** @type {HTMLButtonElement} */ (fragment.querySelector(".update-now"));
  now.hidden = record.phase === "disabled" || record.phase === "off";
  now.setAttribute("aria-label", `Update now: ${record.name}`);
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
 * Shows the engine's status: the list of names (the guided setup takes the place of an
 * empty list).
 * @param {Status} status
 */
export function showStatus(status) {
  current = status;
  const card = /** @type {HTMLElement} */ (document.getElementById("records-card"));
  const body = /** @type {HTMLElement} */ (document.getElementById("records"));
  const configError = /** @type {HTMLElement} */ (document.getElementById("config-error"));
  const addresses = /** @type {HTMLElement} */ (document.getElementById("addresses"));

  card.hidden = false;
  const configProblem = status.config_error ?? status.config_warning ?? null;
  configError.hidden = !configProblem;
  configError.textContent = configProblem ?? "";
  configError.dataset.kind = status.config_error ? "error" : "warning";
  body.replaceChildren(...status.records.map(row));
  if (status.records.length === 0) {
    const empty = document.createElement("li");
    empty.className = "muted empty";
    empty.textContent = "No names yet. “Add a name” sets one up in a few steps.";
    body.append(empty);
  }
  addresses.replaceChildren();
  if (status.paused) {
    addresses.textContent = "Updates are paused.";
  } else if (status.next_check_at) {
    addresses.append(timeElement(status.next_check_at, (t) => `Next check of the address ${t}.`));
  }
}
