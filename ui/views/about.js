// @ts-check
/**
 * The "About this instance" card.
 * @typedef {import("../ipc.js").AppInfo} AppInfo
 */

/**
 * Fills one fact; an empty value reads as a dash.
 * @param {string} id
 * @param {string | null | undefined} value
 */
function fact(id, value) {
  const element = document.getElementById(id);
  if (element) {
    element.textContent = value ? value : "—";
  }
}

/**
 * Shows what the running instance reported.
 * @param {AppInfo} info
 */
export function showAbout(info) {
  fact("fact-version", info.version);
  fact("fact-host", `${info.host} (process ${info.pid})`);
  fact("fact-config", info.config_path);
  fact("fact-logs", info.log_dir ?? "logging to the terminal only");
  fact("fact-socket", info.socket_path);
}
