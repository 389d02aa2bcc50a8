// @ts-check
/**
 * The "About Dyntray" card: version, where the settings and logs are, and "Open logs".
 * @typedef {import("../ipc.js").AppInfo} AppInfo
 */
import { openLogs } from "../ipc.js";

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
  fact(
    "fact-host",
    info.host === "dyntrayd" ? "the background service (dyntrayd)" : "the tray app",
  );
  fact("fact-config", info.config_path);
  fact("fact-logs", info.log_dir ?? "not written to a file (the terminal only)");
  const open = /** @type {HTMLButtonElement} */ (document.getElementById("open-logs"));
  open.hidden = !info.log_dir;
}

document.getElementById("open-logs")?.addEventListener("click", async () => {
  const line = /** @type {HTMLElement} */ (document.getElementById("about-message"));
  try {
    await openLogs();
    line.textContent = "";
  } catch (error) {
    line.textContent = /** @type {{message: string}} */ (error).message;
    line.dataset.kind = "error";
  }
});
