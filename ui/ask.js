// @ts-check
/**
 * One modal question at a time, in the window's own style (not the browser's `confirm`):
 * a title, a sentence, and two buttons named for what they do.
 */

/**
 * Asks a question; resolves true when the user picks `yes`, false otherwise (also on
 * Escape).
 * @param {{title: string, text: string, yes: string, no: string}} question
 * @returns {Promise<boolean>}
 */
export function ask({ title, text, yes, no }) {
  const dialog = /** @type {HTMLDialogElement} */ (document.getElementById("ask"));
  /** @type {HTMLElement} */ (document.getElementById("ask-title")).textContent = title;
  /** @type {HTMLElement} */ (document.getElementById("ask-text")).textContent = text;
  /** @type {HTMLElement} */ (document.getElementById("ask-yes")).textContent = yes;
  /** @type {HTMLElement} */ (document.getElementById("ask-no")).textContent = no;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.showModal();
    /** @type {HTMLElement} */ (document.getElementById("ask-no")).focus();
  });
}
