// @ts-check
/**
 * The one module that touches `window.__TAURI__`: every view talks to the tray process
 * through these functions, which call the settings process's commands.
 */

/**
 * @typedef {{ code: string, message: string, problems?: {line: number | null, key: string,
 *             message: string}[] }} ControlError
 * @typedef {{ version: string, host: string, pid: number, config_path: string,
 *             log_dir: string | null, socket_path: string,
 *             tray_hint?: string | null }} AppInfo
 */

/** @returns {any} */
function tauri() {
  // @ts-ignore: injected by Tauri (withGlobalTauri)
  const api = window.__TAURI__;
  if (!api) {
    throw { code: "failed", message: "This page must run inside the Dyntray settings window." };
  }
  return api;
}

/**
 * Normalises whatever a failed invoke throws into a ControlError.
 * @param {unknown} error
 * @returns {ControlError}
 */
export function asControlError(error) {
  if (error && typeof error === "object" && "message" in error) {
    const e = /** @type {{code?: string, message: unknown, problems?: any[]}} */ (error);
    return { code: e.code ?? "failed", message: String(e.message), problems: e.problems ?? [] };
  }
  return { code: "failed", message: String(error), problems: [] };
}

/**
 * Version and file locations reported by the running tray process.
 * @returns {Promise<AppInfo>}
 */
export async function appInfo() {
  try {
    return await tauri().core.invoke("app_info");
  } catch (error) {
    throw asControlError(error);
  }
}

/**
 * @typedef {{ code: string, answer: string, advice: string, at: number }} Disabled
 * @typedef {{ key: string, name: string, account: string, provider: string,
 *             provider_name?: string, family: string, phase: string,
 *             cure?: "secret" | "settings" | "provider", address: string | null, last_update_at: number | null,
 *             last_attempt_at: number | null, last_answer: string | null,
 *             disabled: Disabled | null, next_attempt_at: number | null,
 *             note: string | null, has_offline: boolean }} RecordStatus
 * @typedef {{ summary: string, paused: boolean, offline: boolean, config_path: string,
 *             config_error: string | null, config_warning?: string | null,
 *             config_revision?: string | null, records: RecordStatus[],
 *             addresses: AddressStatus[], next_check_at: number | null }} Status
 * @typedef {{ source: string, kind: string, state: string, address: string | null,
 *             error: string | null, asked_at: number | null, cached: boolean,
 *             benched_until: number | null }} SourceReport
 * @typedef {{ family: string, address: string | null, checked_at: number | null,
 *             error: string | null, agreed: string[], needed: number,
 *             sources: SourceReport[], trigger: string | null }} AddressStatus
 */

/**
 * The engine's status: every record and the detected addresses.
 * @returns {Promise<Status>}
 */
export async function status() {
  try {
    return await tauri().core.invoke("status");
  } catch (error) {
    throw asControlError(error);
  }
}

/**
 * Invokes a settings command, normalising its error.
 * @param {string} command
 * @param {Record<string, unknown>} [args]
 * @returns {Promise<any>}
 */
async function call(command, args) {
  try {
    return await tauri().core.invoke(command, args);
  } catch (error) {
    throw asControlError(error);
  }
}

/**
 * Re-enables a record the provider refused.
 * @param {string} record the record key
 * @returns {Promise<void>}
 */
export function reEnable(record) {
  return call("re_enable", { record });
}

/**
 * @typedef {{ sent: string[], warnings: string[] }} UpdateNowReport
 * @typedef {{ at: number, record: string, address: string | null, answer: string,
 *             classification: string }} HistoryEntry
 */

/**
 * Forces an update of one record now (the engine allows one per 10 minutes).
 * @param {string} record the record key
 * @returns {Promise<UpdateNowReport>}
 */
export function updateNow(record) {
  return call("update_now", { record });
}

/**
 * Update history, newest first.
 * @param {string | null} record a record key, or null for all
 * @returns {Promise<HistoryEntry[]>}
 */
export function history(record) {
  return call("history", { record });
}

/**
 * @typedef {{ key: string, label: string, kind: string, required: boolean, help: string,
 *             range?: [number, number], options?: string[], default?: string,
 *             advanced: boolean }} FieldSpec
 * @typedef {{ id: string, name: string, protocol: string, docs_url: string,
 *             key_url: string | null,
 *             families: string[], default_server: string | null,
 *             account_fields: FieldSpec[], record_fields: FieldSpec[],
 *             native_offline: boolean, checkip: string | null, notes: string }} Descriptor
 * @typedef {{ line: number | null, key: string, message: string }} Problem
 */

/**
 * Every provider's descriptor, to render the forms from.
 * @returns {Promise<Descriptor[]>}
 */
export function providers() {
  return call("providers");
}

/** The revision of the config file this window last read or wrote. */
let revision = "";

/**
 * The revision of the config this window last read or wrote ("" before the first read).
 * @returns {string}
 */
export function knownRevision() {
  return revision;
}

/**
 * The config as it is on disk (plain data; secrets are only references). Remembers its
 * revision: the window's next edit is based on it.
 * @returns {Promise<any>}
 */
export async function getConfig() {
  const read = /** @type {{config: any, revision: string}} */ (await call("read_config"));
  revision = read.revision;
  return read.config;
}

/**
 * Applies one edit to the config file, based on the revision this window last saw; a
 * change made since (by hand, in another window) makes it fail with code `stale`,
 * and nothing is overwritten. Other refusals carry every problem by key in `problems`.
 * The edits: `{op: "set_general", key, value}`, `{op: "upsert_account", id, account}`,
 * `{op: "remove_account", id}`, `{op: "upsert_record", id: {account, name} | null,
 * record}`, `{op: "remove_record", id: {account, name}}`,
 * `{op: "set_detect", ipv4: string[], ipv6: string[], agree: number}` (the address sources).
 * @param {any} edit
 * @returns {Promise<void>}
 */
export async function editConfig(edit) {
  revision = /** @type {string} */ (await call("edit_config", { revision, edit }));
}

/**
 * Stores a typed secret in the keychain. It is never sent back.
 * @param {string} account
 * @param {string} secret
 * @returns {Promise<void>}
 */
export function setSecret(account, secret) {
  return call("set_secret", { account, secret });
}

/**
 * Checks an account's login without changing anything at the provider, where its API
 * can; rejects with code `unsupported` where only an update would tell.
 * @param {string} account
 * @returns {Promise<{ok: boolean, message: string}>}
 */
export function checkAccount(account) {
  return call("check_account", { account });
}

/**
 * @typedef {{ line: number, from: string, to: string }} ImportMapping
 * @typedef {{ file: string, line: number, reason: string }} ImportProblem
 * @typedef {{ id: string, provider: string, provider_name: string, username: string,
 *             secret: boolean, secret_note?: string }} ImportAccount
 * @typedef {{ name: string, account: string, family: string, address?: string }} ImportRecord
 * @typedef {{ accounts: ImportAccount[], records: ImportRecord[], mappings: ImportMapping[],
 *             problems: ImportProblem[], refusal?: string }} ImportPreview
 * @typedef {{ client: "ddclient" | "inadyn", config: string, cache: string, readable: boolean,
 *             note?: string, command?: string, cache_read: boolean,
 *             preview?: ImportPreview }} ImportOffer
 * @typedef {{ client: string, accounts: string[], names: string[], addresses: string[],
 *             set_by_hand: {account: string, provider_name: string, note: string}[],
 *             revision: string, stop_hint: string }} ImportReport
 */

/**
 * Other dynamic DNS clients' configs on this machine (ddclient, inadyn): each with a
 * preview of what an import brings, or why it cannot be read and what to run instead.
 * @returns {Promise<ImportOffer[]>}
 */
export function findImports() {
  return call("find_imports");
}

/**
 * Imports another client's config into Dyntray, based on the config revision this window
 * last read (a change made since makes it fail with code `stale`, importing nothing).
 * @param {"ddclient" | "inadyn"} client
 * @returns {Promise<ImportReport>}
 */
export async function applyImport(client) {
  const report = /** @type {ImportReport} */ (await call("apply_import", { client, revision }));
  revision = report.revision;
  return report;
}

/**
 * Whether Dyntray starts at login.
 * @returns {Promise<boolean>}
 */
export function autostart() {
  return call("autostart");
}

/**
 * Turns starting at login on or off.
 * @param {boolean} enabled
 * @returns {Promise<void>}
 */
export function setAutostart(enabled) {
  return call("set_autostart", { enabled });
}

/**
 * Calls `handler` with every status change the engine reports.
 * @param {(status: Status) => void} handler
 * @returns {Promise<() => void>} a function that stops listening
 */
export async function onStatus(handler) {
  return tauri().event.listen("status", (/** @type {{payload: Status}} */ e) =>
    handler(e.payload),
  );
}

/**
 * Calls `handler` when the connection to the tray process is lost.
 * @param {(error: ControlError) => void} handler
 * @returns {Promise<() => void>} a function that stops listening
 */
export async function onControlLost(handler) {
  return tauri().event.listen("control-lost", (/** @type {{payload: ControlError}} */ e) =>
    handler(e.payload),
  );
}

/**
 * Tells the settings process that the first view is drawn, so the window is shown only
 * now (never blank). An older settings process without the command is ignored.
 * @returns {Promise<void>}
 */
export async function windowDrawn() {
  try {
    await tauri().core.invoke("window_drawn");
  } catch {
    // The window is shown anyway after a moment.
  }
}

/**
 * Opens the folder with Dyntray's logs in the desktop's file manager.
 * @returns {Promise<void>}
 */
export function openLogs() {
  return call("open_logs");
}

/**
 * Opens a provider's web page (only pages the provider descriptors name) in the browser.
 * @param {string} url
 * @returns {Promise<void>}
 */
export function openLink(url) {
  return call("open_link", { url });
}

/**
 * Asks `handler` before the window closes; it returns false to keep the window open.
 * @param {() => Promise<boolean>} handler
 * @returns {Promise<void>}
 */
export async function onCloseRequested(handler) {
  const window = tauri().window.getCurrentWindow();
  await window.onCloseRequested(async (/** @type {{preventDefault: () => void}} */ event) => {
    if (!(await handler())) {
      event.preventDefault();
    }
  });
}
