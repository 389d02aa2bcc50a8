// @ts-check
/**
 * The "Public address" card: per family, the address the sources agreed on (or why there
 * is none), when and why it was last checked, and every source with its latest answer and
 * health; below, where the address comes from: per family the sources in the order they
 * are asked (chosen from presets, moved, removed, or turned off) and how many must agree,
 * saved with one `set_detect` edit. Built from templates, text only.
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").AddressStatus} AddressStatus
 * @typedef {import("../ipc.js").SourceReport} SourceReport
 * @typedef {"ipv4" | "ipv6"} Family
 * @typedef {"web" | "dns" | "interface" | "upnp" | "provider" | "command" | "url" | "other"} Kind
 * @typedef {{ kind: Kind, text: string }} Row one source: its kind and what it names
 *   (a URL, a DNS source as written, an interface name, a provider id, a command line)
 * @typedef {{ ipv4: Row[], ipv6: Row[], agree: number }} Sources
 * @typedef {{ id: string, name: string }} CheckService a provider's check-IP service
 */
import { editConfig, getConfig, knownRevision, providers } from "../ipc.js";
import { timeElement } from "../time.js";
import { forPeople } from "./editor.js";

/**
 * Clones a template's first element.
 * @param {string} id
 * @returns {HTMLElement}
 */
function clone(id) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById(id));
  return /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
}

/**
 * Sets the text of the first element matching `selector` inside `root`.
 * @param {HTMLElement} root
 * @param {string} selector
 * @param {string} text
 * @returns {HTMLElement | null}
 */
function set(root, selector, text) {
  const element = /** @type {HTMLElement | null} */ (root.querySelector(selector));
  if (element) {
    element.textContent = text;
  }
  return element;
}

/**
 * The element with this id.
 * @param {string} id
 * @returns {HTMLElement}
 */
function byId(id) {
  return /** @type {HTMLElement} */ (document.getElementById(id));
}

/** Words for each source state. */
const STATES = /** @type {Record<string, string>} */ ({
  agreed: "agrees",
  answered: "answered",
  failed: "failed",
  benched: "resting after failures",
  resting: "asked too recently",
  not_asked: "not needed",
  skipped: "not asked: the check took too long",
  suspended: "not used while its provider refuses the account",
});

/**
 * What made a check happen, in words.
 * @param {string | null} trigger
 * @returns {string}
 */
function triggerText(trigger) {
  if (!trigger || trigger === "poll") {
    return "";
  }
  if (trigger === "start") {
    return " at start";
  }
  return ` after a change (${trigger})`;
}

/**
 * One source's row.
 * @param {SourceReport} source
 * @param {number} needed how many sources had to agree
 * @returns {HTMLElement}
 */
function sourceRow(source, needed) {
  const row = clone("detection-source");
  set(row, ".source-name", source.source);
  let answer = source.error ? source.error : (source.address ?? "—");
  if (source.cached && source.address) {
    answer = `${source.address} (remembered)`;
  } else if (!["agreed", "answered", "failed"].includes(source.state) && answer !== "—") {
    // Not asked in this check: what it said last time, marked as such.
    answer = `${answer} (earlier)`;
  }
  const answerCell = set(row, ".source-answer", answer);
  if (answerCell && !source.error) {
    // An address (or a dash): never broken across lines.
    answerCell.dataset.address = "";
  }
  const cell = /** @type {HTMLElement | null} */ (row.querySelector(".source-state"));
  if (cell) {
    cell.dataset.state = source.state;
    let state = STATES[source.state] ?? source.state;
    if (source.state === "agreed" && needed === 1) {
      state = "used";
    }
    if (source.benched_until && (source.state === "benched" || source.state === "failed")) {
      const first = source.state === "failed" ? "failed; asked again" : "resting; asked again";
      cell.replaceChildren(timeElement(source.benched_until, (when) => `${first} ${when}`));
    } else {
      cell.textContent = state;
    }
  }
  return row;
}

/**
 * One family's block.
 * @param {AddressStatus} family
 * @returns {HTMLElement}
 */
function familyBlock(family) {
  const block = clone("detection-family");
  set(block, ".family-name", family.family === "AAAA" ? "IPv6" : "IPv4");
  const address = set(block, ".family-address", family.address ?? "no address");
  if (address) {
    address.dataset.kind = family.address ? "ok" : "error";
  }
  let why;
  if (family.address) {
    const agreed = family.agreed.length;
    why =
      agreed > 1
        ? `— ${agreed} sources agree`
        : `— from ${family.agreed[0] ?? "its only source"}`;
  } else {
    why = `— ${family.error ?? "not checked yet"}; nothing is sent until sources agree`;
  }
  const whyElement = /** @type {HTMLElement | null} */ (block.querySelector(".family-why"));
  if (whyElement && family.checked_at === null) {
    whyElement.textContent = why;
  } else if (whyElement) {
    whyElement.replaceChildren(
      `${why} · `,
      timeElement(family.checked_at, (when) => `checked ${when}`),
      triggerText(family.trigger),
    );
  }
  block
    .querySelector("tbody")
    ?.replaceChildren(...family.sources.map((s) => sourceRow(s, family.needed)));
  return block;
}

/* ---------------------------------------------------------------------------------- */
/* Where the address comes from                                                        */
/* ---------------------------------------------------------------------------------- */

/** The web services the "Web services" preset adds, per family (the engine's defaults). */
const WEB = /** @type {Record<Family, string[]>} */ ({
  ipv4: ["https://api.ipify.org", "https://ipv4.icanhazip.com", "https://v4.ident.me"],
  ipv6: ["https://api6.ipify.org", "https://ipv6.icanhazip.com", "https://v6.ident.me"],
});

/** The DNS services the "DNS services" preset adds. */
const DNS = ["dns:opendns", "dns:google", "dns:cloudflare"];

/** The DNS services by the names people know them. */
const DNS_NAMES = /** @type {Record<string, string>} */ ({
  opendns: "OpenDNS",
  google: "Google",
  cloudflare: "Cloudflare",
});

/**
 * The presets a source can be added from, each with its meaning in a user's words.
 * @type {{ id: Kind, label: string, meaning: string, meaning6?: string, families: Family[] }[]}
 */
const PRESETS = [
  {
    id: "web",
    label: "Web services",
    meaning: "Well-known websites that reply with the address your connection comes from.",
    families: ["ipv4", "ipv6"],
  },
  {
    id: "dns",
    label: "DNS services",
    meaning: "Public name servers that reply with the address your question came from.",
    families: ["ipv4", "ipv6"],
  },
  {
    id: "interface",
    label: "This machine's address",
    meaning: "The address of this computer's own network connection, public only when no router stands in between.",
    meaning6: "The lasting address of this computer's own network connection, with IPv6 usually the public one.",
    families: ["ipv4", "ipv6"],
  },
  {
    id: "upnp",
    label: "The router (UPnP)",
    meaning: "Your router tells its internet address, if UPnP is turned on in it.",
    families: ["ipv4"],
  },
  {
    id: "provider",
    label: "My provider's check service",
    meaning: "A page your DNS provider runs to show your address, asked at most every 10 minutes.",
    families: ["ipv4"],
  },
  {
    id: "command",
    label: "A command",
    meaning: "A program of yours that prints the address.",
    families: ["ipv4", "ipv6"],
  },
  {
    id: "url",
    label: "A web address",
    meaning: "A page of your choice that shows only your address, over a secure (https) link.",
    families: ["ipv4", "ipv6"],
  },
];

/** What one source of each kind is called in its row, and what it means. */
const KINDS = /** @type {Record<Kind, {label: string, meaning: string}>} */ ({
  web: {
    label: "Web service",
    meaning: "A well-known website that replies with the address your connection comes from.",
  },
  dns: {
    label: "DNS service",
    meaning: "A public name server that replies with the address your question came from.",
  },
  interface: { label: "This machine's address", meaning: PRESETS[2].meaning },
  upnp: { label: "The router (UPnP)", meaning: PRESETS[3].meaning },
  provider: { label: "Provider's check service", meaning: PRESETS[4].meaning },
  command: { label: "A command", meaning: PRESETS[5].meaning },
  url: { label: "A web address", meaning: PRESETS[6].meaning },
  other: { label: "Written by hand", meaning: "A source from the config file, kept as it is." },
});

/**
 * What a source of this kind means for a family (this machine's address differs).
 * @param {Kind} kind
 * @param {Family} family
 * @returns {string}
 */
function meaningOf(kind, family) {
  return (family === "ipv6" && kind === "interface" && PRESETS[2].meaning6) || KINDS[kind].meaning;
}

/** The families, in the order shown. */
const FAMILIES = /** @type {Family[]} */ (["ipv4", "ipv6"]);

/** The most sources the engine lets agree. */
const MAX_AGREE = 5;

/** The sources as the config file has them (the last read or save). @type {Sources | null} */
let saved = null;
/** The sources as the user is choosing them. @type {Sources} */
let draft = { ipv4: [], ipv6: [], agree: 1 };
/** The rows of a family turned off, given back when it is turned on before saving. */
let parked = /** @type {Record<Family, Row[]>} */ ({ ipv4: [], ipv6: [] });
/** The config revision `saved` was read at. @type {string | null} */
let loadedRevision = null;
/** The status revision at which the config could not be read. @type {string | null} */
let failedRevision = null;
/** A read of the config is under way. */
let loading = false;
/** The providers that run a check-IP service. @type {CheckService[]} */
let checkServices = [];

/**
 * The row for a source as the config writes it.
 * @param {string} spec
 * @returns {Row}
 */
function fromSpec(spec) {
  const lower = spec.toLowerCase();
  if (lower.startsWith("https://") || lower.startsWith("http://")) {
    const known = WEB.ipv4.includes(spec) || WEB.ipv6.includes(spec);
    return { kind: known ? "web" : "url", text: spec };
  }
  if (spec.startsWith("dns:")) {
    return { kind: "dns", text: spec };
  }
  if (spec === "interface") {
    return { kind: "interface", text: "" };
  }
  if (spec.startsWith("interface:")) {
    return { kind: "interface", text: spec.slice("interface:".length) };
  }
  if (spec === "upnp" || spec.startsWith("upnp@")) {
    return { kind: "upnp", text: spec };
  }
  if (spec.startsWith("provider:")) {
    return { kind: "provider", text: spec.slice("provider:".length) };
  }
  if (spec.startsWith("command:")) {
    return { kind: "command", text: spec.slice("command:".length) };
  }
  return { kind: "other", text: spec };
}

/**
 * The source as the config writes it.
 * @param {Row} row
 * @returns {string}
 */
function toSpec(row) {
  switch (row.kind) {
    case "interface":
      return row.text.trim() ? `interface:${row.text.trim()}` : "interface";
    case "provider":
      return `provider:${row.text}`;
    case "command":
      return `command:${row.text.trim()}`;
    case "url":
      return row.text.trim();
    default:
      return row.text;
  }
}

/**
 * What a row stands for, for a button's accessible name ("Web service api.ipify.org").
 * @param {Row} row
 * @returns {string}
 */
function describe(row) {
  const label = KINDS[row.kind].label;
  switch (row.kind) {
    case "web":
    case "url":
    case "command":
    case "other":
      return row.text.trim() ? `${label} ${row.text.trim()}` : label;
    case "dns":
      return `${label} ${dnsName(row.text)}`;
    case "interface":
      return row.text.trim() ? `${label} on ${row.text.trim()}` : label;
    case "provider":
      return `${label} of ${providerName(row.text)}`;
    default:
      return label;
  }
}

/**
 * A DNS source's name: "OpenDNS", or "OpenDNS at 127.0.0.1:5353" for another server.
 * @param {string} spec `dns:service` or `dns:service@host:port`
 * @returns {string}
 */
function dnsName(spec) {
  const rest = spec.slice("dns:".length);
  const at = rest.indexOf("@");
  const service = at < 0 ? rest : rest.slice(0, at);
  const name = DNS_NAMES[service] ?? service;
  return at < 0 ? name : `${name} at ${rest.slice(at + 1)}`;
}

/**
 * A provider's name by its id (the id itself for one the engine does not know).
 * @param {string} id
 * @returns {string}
 */
function providerName(id) {
  return checkServices.find((s) => s.id === id)?.name ?? id;
}

/**
 * A deep copy of a set of sources.
 * @param {Sources} sources
 * @returns {Sources}
 */
function copy(sources) {
  return {
    ipv4: sources.ipv4.map((r) => ({ ...r })),
    ipv6: sources.ipv6.map((r) => ({ ...r })),
    agree: sources.agree,
  };
}

/**
 * Whether the draft differs from what the file has.
 * @returns {boolean}
 */
function dirty() {
  if (!saved) {
    return false;
  }
  return !same({ ...draft, agree: agreeToSend() }, saved);
}

/**
 * The largest number of sources that can be asked to agree.
 * @returns {number}
 */
function maxAgree() {
  return Math.max(1, Math.min(MAX_AGREE, Math.max(draft.ipv4.length, draft.ipv6.length)));
}

/**
 * The agreement to save: the chosen one, within what the sources allow.
 * @returns {number}
 */
function agreeToSend() {
  return Math.max(1, Math.min(draft.agree, maxAgree()));
}

/**
 * Shows a line under the sources.
 * @param {string} text
 * @param {"ok" | "error" | ""} kind
 */
function message(text, kind) {
  const line = byId("sources-message");
  line.textContent = text;
  line.dataset.kind = kind;
}

/** Notes that the user changed something: the save button says so. */
function changed() {
  message(dirty() ? "Not saved yet." : "", "");
}

/**
 * The default sources of a family turned on again with nothing to give back.
 * @param {Family} family
 * @returns {Row[]}
 */
function defaults(family) {
  if (family === "ipv4") {
    return [WEB.ipv4[0], "dns:opendns", WEB.ipv4[1], WEB.ipv4[2]].map(fromSpec);
  }
  return [fromSpec("interface")];
}

/**
 * The rows a preset adds to a family: sources it already has are not added twice.
 * @param {Kind} preset
 * @param {Family} family
 * @returns {Row[]}
 */
function presetRows(preset, family) {
  const have = draft[family].map(toSpec);
  /** @type {(specs: string[]) => Row[]} */
  const fresh = (specs) => specs.filter((s) => !have.includes(s)).map(fromSpec);
  switch (preset) {
    case "web":
      return fresh(WEB[family]);
    case "dns":
      return fresh(DNS);
    case "provider": {
      const unused = checkServices.find((s) => !have.includes(`provider:${s.id}`));
      return unused ? [{ kind: "provider", text: unused.id }] : [];
    }
    case "interface":
      return draft[family].some((r) => r.kind === "interface") ? [] : [{ kind: "interface", text: "" }];
    case "upnp":
      return draft[family].some((r) => r.kind === "upnp") ? [] : [{ kind: "upnp", text: "upnp" }];
    default:
      return [{ kind: preset, text: "" }];
  }
}

/**
 * The input or text that shows what a row names.
 * @param {Row} row
 * @param {Family} family
 * @returns {HTMLElement}
 */
function detail(row, family) {
  /**
   * A text input bound to the row.
   * @param {string} label
   * @param {string} placeholder
   * @returns {HTMLInputElement}
   */
  const input = (label, placeholder) => {
    const field = document.createElement("input");
    field.type = "text";
    field.className = "sources-input";
    field.value = row.text;
    field.placeholder = placeholder;
    field.spellcheck = false;
    field.autocomplete = "off";
    field.setAttribute("aria-label", `${label} (${family === "ipv4" ? "IPv4" : "IPv6"})`);
    field.addEventListener("input", () => {
      row.text = field.value;
      changed();
    });
    return field;
  };
  /**
   * Text that names the source, on one line.
   * @param {string} text
   * @returns {HTMLElement}
   */
  const text = (text) => {
    const span = document.createElement("span");
    span.className = "sources-address";
    span.textContent = text;
    return span;
  };
  switch (row.kind) {
    case "web":
    case "other":
      return text(row.text);
    case "dns":
      return text(dnsName(row.text));
    case "upnp":
      return text(row.text === "upnp" ? "found on the network" : `at ${row.text.slice("upnp@".length)}`);
    case "url": {
      const field = input("Web address", "https://");
      field.inputMode = "url";
      return field;
    }
    case "command":
      return input("Command", "/usr/local/bin/myip");
    case "interface":
      return input("Network connection, empty for any", "any connection, or e.g. eth0");
    case "provider": {
      const select = document.createElement("select");
      select.className = "sources-input";
      select.setAttribute("aria-label", `Provider (${family === "ipv4" ? "IPv4" : "IPv6"})`);
      const known = checkServices.some((s) => s.id === row.text);
      for (const service of known ? checkServices : [...checkServices, { id: row.text, name: row.text }]) {
        select.append(new Option(service.name, service.id));
      }
      select.value = row.text;
      select.addEventListener("change", () => {
        row.text = select.value;
        changed();
      });
      return select;
    }
  }
}

/**
 * One source's item in a family's list, with its buttons.
 * @param {Family} family
 * @param {number} index
 * @returns {HTMLElement}
 */
function sourceItem(family, index) {
  const rows = draft[family];
  const row = rows[index];
  const item = clone("sources-item");
  item.dataset.kind = row.kind;
  item.dataset.spec = toSpec(row);
  set(item, ".sources-kind", KINDS[row.kind].label);
  item.querySelector(".sources-detail")?.replaceChildren(detail(row, family));
  set(item, ".sources-meaning", meaningOf(row.kind, family));
  const name = describe(row);
  const up = /** @type {HTMLButtonElement} */ (item.querySelector(".sources-up"));
  const down = /** @type {HTMLButtonElement} */ (item.querySelector(".sources-down"));
  const remove = /** @type {HTMLButtonElement} */ (item.querySelector(".sources-remove"));
  // The visible words first, then which source (the name must contain what is seen).
  up.setAttribute("aria-label", `Move up: ${name}`);
  down.setAttribute("aria-label", `Move down: ${name}`);
  remove.setAttribute("aria-label", `Remove: ${name}`);
  up.disabled = index === 0;
  down.disabled = index === rows.length - 1;
  up.addEventListener("click", () => move(family, index, -1));
  down.addEventListener("click", () => move(family, index, 1));
  remove.addEventListener("click", () => {
    rows.splice(index, 1);
    renderSources();
    changed();
    focusIn(family, Math.min(index, rows.length - 1), ".sources-remove");
  });
  return item;
}

/**
 * Moves a source one place up (-1) or down (1); the focus stays on the button pressed.
 * @param {Family} family
 * @param {number} index
 * @param {number} by
 */
function move(family, index, by) {
  const rows = draft[family];
  const to = index + by;
  if (to < 0 || to >= rows.length) {
    return;
  }
  [rows[index], rows[to]] = [rows[to], rows[index]];
  renderSources();
  changed();
  // The same button, unless the source reached the end it moved towards.
  const same = by < 0 ? ".sources-up" : ".sources-down";
  const other = by < 0 ? ".sources-down" : ".sources-up";
  const atEnd = by < 0 ? to === 0 : to === rows.length - 1;
  focusIn(family, to, atEnd ? other : same);
}

/**
 * Focuses a control of one item of a family's list (or the family's on/off switch when
 * the list is empty).
 * @param {Family} family
 * @param {number} index
 * @param {string} selector
 */
function focusIn(family, index, selector) {
  const fieldset = byId(`sources-${family}`);
  const item = fieldset.querySelectorAll(".sources-item")[index];
  const target = /** @type {HTMLElement | null} */ (
    item?.querySelector(selector) ?? fieldset.querySelector(".sources-enabled")
  );
  target?.focus();
}

/**
 * One family's fieldset: on or off, its sources in order, and the presets to add from.
 * @param {Family} family
 * @returns {HTMLElement}
 */
function familyFieldset(family) {
  const title = family === "ipv4" ? "IPv4" : "IPv6";
  const fieldset = clone("sources-family");
  fieldset.id = `sources-${family}`;
  fieldset.dataset.family = family;
  set(fieldset, ".sources-legend", `${title} address`);
  set(fieldset, ".sources-on-text", `Look up the ${title} address`);
  const on = /** @type {HTMLInputElement} */ (fieldset.querySelector(".sources-enabled"));
  const rows = draft[family];
  on.checked = rows.length > 0;
  on.addEventListener("change", () => {
    if (on.checked) {
      draft[family] = parked[family].length > 0 ? parked[family] : defaults(family);
      parked[family] = [];
    } else {
      parked[family] = draft[family];
      draft[family] = [];
    }
    renderSources();
    changed();
    /** @type {HTMLElement | null} */ (byId(`sources-${family}`).querySelector(".sources-enabled"))?.focus();
  });
  const off = set(
    fieldset,
    ".sources-off",
    `Off: no ${title} address is looked up, so names with ${title} records are not updated.`,
  );
  if (off) {
    off.hidden = rows.length > 0;
  }
  const list = /** @type {HTMLElement} */ (fieldset.querySelector(".sources-list"));
  list.setAttribute("aria-label", `${title} sources, in the order they are asked`);
  list.hidden = rows.length === 0;
  list.replaceChildren(...rows.map((_, i) => sourceItem(family, i)));
  const add = /** @type {HTMLDetailsElement} */ (fieldset.querySelector(".sources-add"));
  add.hidden = rows.length === 0;
  set(add, "summary", `Add an ${title} source`);
  const presets = PRESETS.filter(
    (p) => p.families.includes(family) && (p.id !== "provider" || checkServices.length > 0),
  );
  add.querySelector(".sources-presets")?.replaceChildren(
    ...presets.map((preset) => {
      const entry = clone("sources-preset");
      const button = /** @type {HTMLButtonElement} */ (entry.querySelector("button"));
      button.textContent = preset.label;
      button.dataset.preset = preset.id;
      const meaning = set(entry, ".sources-meaning", (family === "ipv6" && preset.meaning6) || preset.meaning);
      if (meaning) {
        meaning.id = `sources-${family}-${preset.id}-meaning`;
        button.setAttribute("aria-describedby", meaning.id);
      }
      const fresh = presetRows(preset.id, family);
      button.disabled = fresh.length === 0;
      if (button.disabled) {
        button.title = "Already in the list";
      }
      button.addEventListener("click", () => {
        const start = draft[family].length;
        draft[family].push(...presetRows(preset.id, family));
        renderSources();
        changed();
        // Where something is to be typed or picked, there; else on the first one added.
        focusIn(family, start, ".sources-input, .sources-remove");
      });
      return entry;
    }),
  );
  return fieldset;
}

/** Draws the families and the agreement from the draft. */
function renderSources() {
  const open = FAMILIES.filter((f) => document.querySelector(`#sources-${f} .sources-add`)?.hasAttribute("open"));
  byId("sources-families").replaceChildren(...FAMILIES.map(familyFieldset));
  for (const family of open) {
    document.querySelector(`#sources-${family} .sources-add`)?.setAttribute("open", "");
  }
  const agree = /** @type {HTMLSelectElement} */ (byId("sources-agree"));
  const max = maxAgree();
  agree.replaceChildren(
    ...Array.from({ length: max }, (_, i) => new Option(i === 0 ? "1 (any one)" : String(i + 1), String(i + 1))),
  );
  agree.value = String(agreeToSend());
  agree.disabled = max === 1;
}

/** Clears every problem shown. */
function clearProblems() {
  for (const slot of byId("address-sources").querySelectorAll(".sources-problem")) {
    slot.textContent = "";
  }
  for (const field of byId("address-sources").querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
  }
}

/**
 * Shows a problem next to the source it concerns (`detect.ipv4[2]`), or next to the
 * agreement; returns false when it concerns neither.
 * @param {string} key
 * @param {string} message the engine's words
 * @returns {boolean}
 */
function showProblem(key, message) {
  const text = forPeople(message);
  if (key === "detect.agree") {
    byId("sources-agree-problem").textContent = text;
    return true;
  }
  const match = /^detect\.(ipv4|ipv6)\[(\d+)\]$/.exec(key);
  if (!match) {
    return false;
  }
  const item = byId(`sources-${match[1]}`).querySelectorAll(".sources-item")[Number(match[2])];
  const slot = item?.querySelector(".sources-problem");
  if (!item || !slot) {
    return false;
  }
  slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
  item.querySelector(".sources-input")?.setAttribute("aria-invalid", "true");
  return true;
}

/**
 * Problems found before asking the engine: a web address or command left empty.
 * @returns {boolean} whether there were any
 */
function checkEmpty() {
  let found = false;
  for (const family of FAMILIES) {
    draft[family].forEach((row, i) => {
      if (row.text.trim() === "" && (row.kind === "url" || row.kind === "command")) {
        showProblem(
          `detect.${family}[${i}]`,
          row.kind === "url" ? "Type the page's web address." : "Type the command to run.",
        );
        found = true;
      }
    });
  }
  return found;
}

/**
 * Saves the sources with one edit. The engine checks them as it checks a hand edit;
 * its problems are shown next to the sources they concern, and nothing is saved.
 */
async function save() {
  clearProblems();
  if (checkEmpty()) {
    message("Nothing was saved: fill in the fields marked above.", "error");
    return;
  }
  const edit = {
    op: "set_detect",
    ipv4: draft.ipv4.map(toSpec),
    ipv6: draft.ipv6.map(toSpec),
    agree: agreeToSend(),
  };
  const button = /** @type {HTMLButtonElement} */ (byId("sources-save"));
  button.disabled = true;
  try {
    if (knownRevision() !== loadedRevision) {
      // The window read the file again since the sources were (another view did, after
      // a change on disk): the engine would not see that these are stale, so look here.
      if (!saved || !same(sourcesOf(await getConfig()), saved)) {
        await loadSources();
        message(
          "The sources changed in the config file since this window read them, so nothing " +
            "was saved. They have been read again: make your change once more.",
          "error",
        );
        return;
      }
      loadedRevision = knownRevision();
    }
    await editConfig(edit);
    loadedRevision = knownRevision();
    draft.agree = edit.agree;
    saved = copy(draft);
    parked = { ipv4: [], ipv6: [] };
    renderSources();
    message("Saved. The address is checked again with these sources.", "ok");
  } catch (error) {
    const e = /** @type {import("../ipc.js").ControlError} */ (error);
    if (e.code === "stale") {
      await loadSources();
      message(e.message, "error");
      return;
    }
    const rest = (e.problems ?? []).filter((p) => !showProblem(p.key, p.message));
    const other = rest.map((p) => forPeople(p.message)).join(" ");
    message(
      e.problems && e.problems.length > 0
        ? `Nothing was saved. ${other || "See the problems marked above."}`
        : e.message,
      "error",
    );
  } finally {
    button.disabled = false;
  }
}

/**
 * The sources a config holds, the agreement within what they allow (as the engine
 * counts it).
 * @param {any} config as `getConfig` returns it
 * @returns {Sources}
 */
function sourcesOf(config) {
  const detect = config.detect ?? {};
  const ipv4 = (detect.ipv4 ?? []).map(fromSpec);
  const ipv6 = (detect.ipv6 ?? []).map(fromSpec);
  const max = Math.max(1, Math.min(MAX_AGREE, Math.max(ipv4.length, ipv6.length)));
  return { ipv4, ipv6, agree: Math.max(1, Math.min(Number(detect.agree ?? 2), max)) };
}

/**
 * Whether two sets of sources say the same.
 * @param {Sources} a
 * @param {Sources} b
 * @returns {boolean}
 */
function same(a, b) {
  const specs = (/** @type {Sources} */ s) => JSON.stringify([s.ipv4.map(toSpec), s.ipv6.map(toSpec), s.agree]);
  return specs(a) === specs(b);
}

/**
 * Reads the sources from the config file and draws them.
 * @returns {Promise<boolean>} whether they could be read
 */
async function loadSources() {
  loading = true;
  try {
    if (checkServices.length === 0) {
      const registry = /** @type {{id: string, name: string, checkip?: string | null}[]} */ (
        await providers()
      );
      checkServices = registry.filter((d) => d.checkip).map((d) => ({ id: d.id, name: d.name }));
    }
    saved = sourcesOf(await getConfig());
    loadedRevision = knownRevision();
    draft = copy(saved);
    parked = { ipv4: [], ipv6: [] };
    clearProblems();
    renderSources();
    message("", "");
    byId("address-sources").hidden = false;
    byId("detection-card").hidden = false;
    return true;
  } catch (error) {
    message(/** @type {{message: string}} */ (error).message, "error");
    return false;
  } finally {
    loading = false;
  }
}

byId("address-sources").addEventListener("submit", (event) => {
  event.preventDefault();
  void save();
});
byId("sources-undo").addEventListener("click", () => {
  if (saved) {
    draft = copy(saved);
    parked = { ipv4: [], ipv6: [] };
    clearProblems();
    renderSources();
    message("", "");
  }
});
byId("sources-agree").addEventListener("change", (event) => {
  draft.agree = Number(/** @type {HTMLSelectElement} */ (event.target).value);
  changed();
});

/**
 * Shows the detected addresses, and reads the sources again when the config file
 * changed under the window (unless the user is changing them, or a form or the setup is
 * open: their saves are refused as stale and read it again).
 * @param {Status} status
 */
export function showDetection(status) {
  const card = byId("detection-card");
  const body = byId("detection");
  card.hidden = status.addresses.length === 0 && saved === null;
  body.replaceChildren(...status.addresses.map(familyBlock));
  const formOpen =
    document.getElementById("editor")?.hidden === false ||
    document.getElementById("setup")?.hidden === false;
  const revision = status.config_revision ?? "";
  const changedOnDisk =
    loadedRevision === null || (revision !== "" && revision !== loadedRevision);
  // A file that could not be read is tried again when it changes, not on every status.
  if (!loading && changedOnDisk && revision !== failedRevision && !dirty() && !formOpen) {
    void loadSources().then((ok) => {
      failedRevision = ok ? null : revision;
    });
  }
}
