// @ts-check
/**
 * Times, one way everywhere: relative words ("3 min ago", "in 2 min") with the exact time
 * in the user's locale on hover and for screen readers. Shown times are refreshed every
 * 30 seconds, so "just now" does not stay "just now".
 */

/** Seconds in each unit, largest first. */
const UNITS = /** @type {[Intl.RelativeTimeFormatUnit, number][]} */ ([
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
]);

const words = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "long" });

/**
 * "3 min ago", "in 5 min", "just now", "yesterday"; "never" for no time.
 * @param {number | null | undefined} seconds since the epoch
 * @param {number} [now] milliseconds since the epoch (for tests)
 * @returns {string}
 */
export function relative(seconds, now = Date.now()) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return "never";
  }
  const delta = seconds - now / 1000;
  if (Math.abs(delta) < 45) {
    return delta > 0 ? "in a moment" : "just now";
  }
  for (const [unit, size] of UNITS) {
    if (Math.abs(delta) >= size || unit === "minute") {
      return words.format(Math.round(delta / size), unit);
    }
  }
  return "just now";
}

/**
 * The exact time, with seconds, in the user's locale: "7 Dec 2026, 01:07:12".
 * @param {number | null | undefined} seconds since the epoch
 * @returns {string}
 */
export function exact(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return "never";
  }
  return new Date(seconds * 1000).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
  });
}

/**
 * A `<time>` element showing `relative(seconds)`, exact on hover, kept fresh.
 * @param {number | null | undefined} seconds since the epoch
 * @param {(text: string) => string} [wrap] words around the relative time ("updated %")
 * @returns {HTMLTimeElement}
 */
export function timeElement(seconds, wrap = (text) => text) {
  const element = document.createElement("time");
  element.className = "when";
  if (seconds !== null && seconds !== undefined && Number.isFinite(seconds)) {
    element.dateTime = new Date(seconds * 1000).toISOString();
    element.title = exact(seconds);
    element.dataset.at = String(seconds);
    element.dataset.wrap = wrap("\u0000");
  }
  element.textContent = wrap(relative(seconds));
  return element;
}

/** Brings every shown relative time up to date. */
export function refreshTimes() {
  for (const element of document.querySelectorAll("time[data-at]")) {
    const time = /** @type {HTMLTimeElement} */ (element);
    const text = relative(Number(time.dataset.at));
    time.textContent = (time.dataset.wrap ?? "\u0000").replace("\u0000", text);
  }
}

setInterval(refreshTimes, 30_000);
