// @ts-check
import { ask } from "./ask.js";
import {
  appInfo,
  knownRevision,
  onCloseRequested,
  onControlLost,
  onStatus,
  status,
  windowDrawn,
} from "./ipc.js";
import { showAbout } from "./views/about.js";
import { editorHasChanges, loadEditor, reloadEditor } from "./views/editor.js";
import { loadGeneral } from "./views/general.js";
import { showHistory } from "./views/history.js";
import { showDetection } from "./views/detection.js";
import { showStatus } from "./views/records.js";
import { firstRun, setupHasChanges, setupIsOpen, setupSawStatus } from "./views/setup.js";

/** @type {import("./ipc.js").Status | null} */
let latest = null;

/**
 * Shows a status everywhere it appears. When the file changed under the window, the
 * views read it again, except where a form (the editor's or the setup's) is open: that
 * keeps what the user sees until it is saved or closed; a save from it is refused as
 * stale, and then shows the file.
 * @param {import("./ipc.js").Status} next
 */
function show(next) {
  latest = next;
  showStatus(next);
  showDetection(next);
  showHistory(next);
  setupSawStatus(next);
  const known = knownRevision();
  if (known !== "" && next.config_revision && next.config_revision !== known && !setupIsOpen()) {
    void reloadEditor()
      .then((reread) => (reread ? loadGeneral() : undefined))
      .catch(() => {});
  }
}

// What changed on disk while the setup was open is shown once it closes.
document.addEventListener("setup-closed", () => {
  if (latest) {
    show(latest);
  }
});

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

/**
 * Says how to get a tray icon, when the desktop shows none.
 * @param {string | null | undefined} hint
 */
function trayHint(hint) {
  /** @type {HTMLElement} */ (document.getElementById("tray-hint")).hidden = !hint;
  /** @type {HTMLElement} */ (document.getElementById("tray-hint-text")).textContent = hint ?? "";
}

/** Loads everything the window shows from the tray process. */
async function load() {
  connection("Connecting…", "pending");
  try {
    const [info, first] = await Promise.all([appInfo(), status()]);
    showAbout(info);
    trayHint(info.tray_hint);
    show(first);
    // The names are in the page: the window may show now, and the forms fill in behind.
    // Not from requestAnimationFrame: WebKitGTK runs no frames for a hidden window.
    setTimeout(() => void windowDrawn(), 0);
    await loadEditor();
    await loadGeneral();
    firstRun(first);
    connection(`Connected to Dyntray ${info.version}`, "ok");
    banner(null);
  } catch (error) {
    const e = /** @type {{message: string}} */ (error);
    connection("Not connected", "error");
    banner(e.message);
    void windowDrawn();
  }
}

document.getElementById("retry")?.addEventListener("click", () => void load());
onControlLost((error) => {
  connection("Not connected", "error");
  banner(error.message);
}).catch(() => {});
onStatus(show).catch(() => {});
onCloseRequested(async () => {
  if (!editorHasChanges() && !setupHasChanges()) {
    return true;
  }
  return ask({
    title: "Close without saving?",
    text: "What you typed in the open form is not saved yet.",
    yes: "Close without saving",
    no: "Keep editing",
  });
}).catch(() => {});
void load();
