// @ts-check
import { appInfo, knownRevision, onControlLost, onStatus, status } from "./ipc.js";
import { showAbout } from "./views/about.js";
import { loadEditor, reloadEditor } from "./views/editor.js";
import { loadGeneral } from "./views/general.js";
import { showHistory } from "./views/history.js";
import { showDetection } from "./views/detection.js";
import { showStatus } from "./views/records.js";

/**
 * Shows a status everywhere it appears.
 * @param {import("./ipc.js").Status} next
 */
function show(next) {
  showStatus(next);
  showDetection(next);
  showHistory(next);
  const known = knownRevision();
  if (known !== "" && next.config_revision && next.config_revision !== known) {
    // The file changed under the window: show what is there now.
    void reloadEditor()
      .then((reread) => (reread ? loadGeneral() : undefined))
      .catch(() => {});
  }
}

/**
 * Shows or hides the error banner.
 * @param {string | null} message
 */
function banner(message) {
  const section = /** @type {HTMLElement} */ (document.getElementById("banner"));
  const text = /** @type {HTMLElement} */ (document.getElementById("banner-text"));
  section.hidden = message === null;
  text.textContent = message ?? "";
}

/**
 * Sets the connection line in the top bar.
 * @param {string} text
 * @param {"ok" | "error" | "pending"} kind
 */
function connection(text, kind) {
  const line = /** @type {HTMLElement} */ (document.getElementById("connection"));
  line.textContent = text;
  line.dataset.kind = kind;
}

/** Loads everything the window shows from the tray process. */
async function load() {
  connection("Connecting…", "pending");
  try {
    const info = await appInfo();
    showAbout(info);
    show(await status());
    await loadEditor();
    await loadGeneral();
    connection(`Connected to Dyntray ${info.version}`, "ok");
    banner(null);
  } catch (error) {
    const e = /** @type {{message: string}} */ (error);
    connection("Not connected", "error");
    banner(e.message);
  }
}

document.getElementById("retry")?.addEventListener("click", () => void load());
document.getElementById("first-run-add")?.addEventListener("click", () =>
  document.getElementById("add-record")?.click(),
);
onControlLost((error) => {
  connection("Not connected", "error");
  banner(error.message);
}).catch(() => {});
onStatus(show).catch(() => {});
void load();
