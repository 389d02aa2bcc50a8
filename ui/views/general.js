// @ts-check
/**
 * The General card: poll interval, success notifications, offline on quit, start at
 * login. Each change is saved at once (through the engine, which validates it).
 */
import { autostart, editConfig, getConfig, setAutostart } from "../ipc.js";

/** @param {string} id */
const $ = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * @param {string} text
 * @param {"ok" | "error"} kind
 */
function message(text, kind) {
  const line = document.getElementById("general-message");
  if (line) {
    line.textContent = text;
    line.dataset.kind = kind;
    clearTimeout(fading);
    if (kind === "ok") {
      // A "Saved." that stays would soon describe an older change.
      fading = setTimeout(() => {
        line.textContent = "";
      }, 4000);
    }
  }
}

/** The timer that clears a success message. */
let fading = 0;

/**
 * Saves one change to `[general]`: that key only, in the file as it is (comments kept).
 * When the file changed since this window read it, the window reads it again and the
 * user is asked to make the change once more.
 * @param {string} key
 * @param {unknown} value
 */
async function saveGeneral(key, value) {
  try {
    await editConfig({ op: "set_general", key, value });
    message("Saved.", "ok");
  } catch (error) {
    const e = /** @type {{code: string, message: string}} */ (error);
    if (e.code === "stale") {
      await loadGeneral();
    }
    message(e.message, "error");
  }
}

/** Loads the current values and wires the controls. */
export async function loadGeneral() {
  const config = await getConfig();
  const general = config.general ?? {};
  const poll = /** @type {HTMLSelectElement} */ (/** @type {unknown} */ ($("poll-interval")));
  const interval = general.poll_interval ?? "5m";
  if (![...poll.options].some((o) => o.value === interval)) {
    poll.append(new Option(interval, interval));
  }
  poll.value = interval;
  $("notify-success").checked = general.notify_success ?? true;
  $("offline-on-quit").checked = general.offline_on_quit ?? false;
  try {
    $("start-at-login").checked = await autostart();
  } catch (error) {
    $("start-at-login").disabled = true;
    message(/** @type {{message: string}} */ (error).message, "error");
  }
  /** @type {HTMLElement} */ (document.getElementById("general-card")).hidden = false;
}

document.getElementById("poll-interval")?.addEventListener("change", (event) => {
  void saveGeneral("poll_interval", /** @type {HTMLSelectElement} */ (event.target).value);
});
$("notify-success").addEventListener("change", () => {
  void saveGeneral("notify_success", $("notify-success").checked);
});
$("offline-on-quit").addEventListener("change", () => {
  void saveGeneral("offline_on_quit", $("offline-on-quit").checked);
});
$("start-at-login").addEventListener("change", async () => {
  try {
    await setAutostart($("start-at-login").checked);
    message($("start-at-login").checked ? "Dyntray will start at login." : "Dyntray will not start at login.", "ok");
  } catch (error) {
    message(/** @type {{message: string}} */ (error).message, "error");
  }
});
