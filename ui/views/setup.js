// @ts-check
/**
 * The guided setup, on first run and from "Add a name": the provider first (searchable,
 * popular free services first), then only the fields that provider needs with a link to
 * where its token is made, then the names, then a test that shows what the provider said,
 * then "start at login". One flow, back and forward; what was typed survives a change of
 * provider (a secret never goes to another provider); advanced options are folded away.
 * Forms come from the provider descriptors the engine returns.
 * @typedef {import("../ipc.js").Descriptor} Descriptor
 * @typedef {import("../ipc.js").FieldSpec} FieldSpec
 * @typedef {import("../ipc.js").Status} Status
 * @typedef {import("../ipc.js").RecordStatus} RecordStatus
 * @typedef {import("../ipc.js").ImportOffer} ImportOffer
 * @typedef {import("../ipc.js").ImportReport} ImportReport
 */
import { ask } from "../ask.js";
import { applyImport, editConfig, findImports, openLink, setAutostart, setSecret } from "../ipc.js";
import {
  accountLabel,
  control,
  field,
  fieldValue,
  folded,
  folds,
  forPeople,
  loaded,
  refreshEditor,
  secretInput,
  secretLabel,
  value,
} from "./editor.js";

/** Free services most people start with, in the order shown first. */
const POPULAR = ["duckdns", "desec", "dynv6", "freedns", "noip", "cloudflare", "dynu", "he"];

const STEPS = ["Provider", "Sign in", "Names", "Test", "Finish"];
/** The steps when moving over from another client instead. */
const IMPORT_STEPS = ["Provider", "What comes over", "Done"];

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Everything the flow holds; kept while it is open, whichever step is shown.
 * @typedef {{ step: number, provider: string, existing: string | null,
 *   typed: Record<string, string>, secrets: Record<string, string>, names: string[],
 *   family: string, recordTyped: Record<string, string>, savedAccount: string | null,
 *   saved: {account: string, name: string}[], dirty: boolean, search: string,
 *   autostart: boolean | null, offers: ImportOffer[],
 *   importing: {offer: ImportOffer, report: ImportReport | null} | null }} Flow
 */

/** @type {Flow | null} */
let flow = null;
/** @type {Descriptor[]} */
let registry = [];
/** @type {any} */
let config = null;
/** The last status the engine sent, for the test step. */
let latest = /** @type {Status | null} */ (null);

/**
 * @param {string} id
 * @returns {Descriptor | undefined}
 */
function descriptor(id) {
  return registry.find((d) => d.id === id);
}

/**
 * A paragraph of text.
 * @param {string} text
 * @param {string} [className]
 * @returns {HTMLParagraphElement}
 */
function para(text, className = "") {
  const p = document.createElement("p");
  p.textContent = text;
  if (className) {
    p.className = className;
  }
  return p;
}

/**
 * A heading for the step.
 * @param {string} text
 * @returns {HTMLHeadingElement}
 */
function heading(text) {
  const h = document.createElement("h3");
  h.textContent = text;
  h.tabIndex = -1;
  h.className = "step-title";
  return h;
}

/**
 * Opens the setup (first run, or "Add a name").
 * @param {ImportOffer[]} [offers] other clients' configs found (first run only)
 * @returns {Promise<void>}
 */
export async function openSetup(offers = []) {
  ({ registry, config } = await loaded());
  flow = {
    step: 0,
    provider: "",
    existing: null,
    typed: {},
    secrets: {},
    names: [""],
    family: "A",
    recordTyped: {},
    savedAccount: null,
    saved: [],
    dirty: false,
    search: "",
    autostart: null,
    offers,
    importing: null,
  };
  $("setup").hidden = false;
  $("setup").scrollIntoView({ block: "nearest" });
  render();
}

/**
 * Whether the setup holds something typed that closing the window would lose.
 * @returns {boolean}
 */
export function setupHasChanges() {
  return flow !== null && flow.dirty;
}

/**
 * Whether the setup is open: like an open form, it is not read again under the user when
 * the file changes; a save from it is refused as stale instead, and shows what is there.
 * @returns {boolean}
 */
export function setupIsOpen() {
  return flow !== null;
}

/** Closes the setup, and says so: the window then catches up with the file. */
function close() {
  flow = null;
  $("setup").hidden = true;
  $("setup-body").replaceChildren();
  document.dispatchEvent(new Event("setup-closed"));
}

/** Keeps what the shown step's fields hold in the flow (called before leaving it). */
function keep() {
  if (!flow) {
    return;
  }
  const body = $("setup-body");
  for (const element of body.querySelectorAll("input[name], select[name]")) {
    const input = /** @type {HTMLInputElement} */ (element);
    const v = input.type === "checkbox" ? String(input.checked) : input.value;
    if (input.name === "secret") {
      flow.secrets[flow.provider] = v;
    } else if (input.name === "name" || input.name.startsWith("name-")) {
      const index = input.name === "name" ? 0 : Number(input.name.slice(5));
      flow.names[index] = v.trim();
    } else if (input.name === "family") {
      flow.family = v;
    } else if (flow.step === 1) {
      flow.typed[input.name] = v;
    } else if (flow.step === 2) {
      flow.recordTyped[input.name] = v;
    }
  }
}

/** Draws the current step. */
function render() {
  if (!flow) {
    return;
  }
  const importing = flow.importing;
  // Moving over: the provider step, then the preview, then what came over.
  const at = importing ? (importing.report ? 2 : 1) : flow.step;
  const steps = (importing ? IMPORT_STEPS : STEPS).map((label, i) => {
    const li = document.createElement("li");
    li.textContent = label;
    if (i === at) {
      li.setAttribute("aria-current", "step");
    } else if (i < at) {
      li.dataset.done = "yes";
    }
    return li;
  });
  $("setup-steps").replaceChildren(...steps);
  $("setup-error").textContent = "";
  const back = /** @type {HTMLButtonElement} */ ($("setup-back"));
  const next = /** @type {HTMLButtonElement} */ ($("setup-next"));
  back.hidden = at === 0 || Boolean(importing?.report);
  // Once imported there is nothing left to cancel.
  $("setup-cancel").hidden = Boolean(importing?.report);
  next.hidden = at === 0;
  next.disabled = false;
  if (importing) {
    next.textContent = importing.report ? "Done" : "Import";
    next.disabled = !importing.report && Boolean(importing.offer.preview?.refusal);
    $("setup-body").replaceChildren(...(importing.report ? importedStep(importing.report) : importStep(importing.offer)));
    /** @type {HTMLElement | null} */ ($("setup-body").querySelector(".step-title"))?.focus();
    return;
  }
  next.textContent = ["Next", "Next", "Save and test", "Next", "Finish"][flow.step];
  const views = [providerStep, signInStep, namesStep, testStep, finishStep];
  $("setup-body").replaceChildren(...views[flow.step]());
  const title = $("setup-body").querySelector(".step-title");
  const first = $("setup-body").querySelector("input:not([type=checkbox]), select");
  if (first instanceof HTMLElement && flow.step !== 3) {
    first.focus();
  } else if (title instanceof HTMLElement) {
    title.focus();
  }
}

/**
 * A button choosing one provider.
 * @param {Descriptor} d
 * @returns {HTMLLIElement}
 */
function providerChoice(d) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "choice";
  button.dataset.provider = d.id;
  const name = document.createElement("strong");
  name.textContent = d.name;
  const note = document.createElement("span");
  note.className = "muted";
  note.textContent = d.notes.split(/(?<=\.)\s/)[0] ?? "";
  button.append(name, note);
  button.addEventListener("click", () => chooseProvider(d.id));
  li.append(button);
  return li;
}

/**
 * Step 1: which provider (or an account already set up).
 * @returns {HTMLElement[]}
 */
function providerStep() {
  const out = [heading("Where is your name hosted?")];
  const accounts = config?.account ?? [];
  const moves = importChoices();
  if (moves.length > 0) {
    out.push(...moves);
  } else if (accounts.length > 0) {
    out.push(para("Use an account you already set up:"));
    const list = document.createElement("ul");
    list.className = "choices";
    for (const account of accounts) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "choice";
      button.dataset.account = account.id;
      const name = document.createElement("strong");
      name.textContent = accountLabel(account);
      button.append(name);
      button.addEventListener("click", () => chooseAccount(account));
      li.append(button);
      list.append(li);
    }
    out.push(list, para("Or a new account at:"));
  } else {
    out.push(para("Choose the service that hosts your DNS name. Not sure? DuckDNS and deSEC are free and need only a token."));
  }
  const search = document.createElement("input");
  search.type = "search";
  search.id = "setup-search";
  search.className = "picker-search";
  search.placeholder = "Search providers…";
  search.setAttribute("aria-label", "Search providers");
  search.value = flow?.search ?? "";
  const list = document.createElement("ul");
  list.className = "choices";
  list.id = "setup-providers";
  list.setAttribute("aria-label", "Providers");
  const fill = () => {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    if (flow) {
      flow.search = search.value;
    }
    const matching = registry.filter((d) => {
      const text = `${d.name} ${d.id} ${d.protocol} ${d.notes}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    // No search: popular free services first. A search: names that match first.
    const rank = (/** @type {Descriptor} */ d) => {
      if (words.length === 0) {
        const at = POPULAR.indexOf(d.id);
        return at < 0 ? POPULAR.length : at;
      }
      const name = `${d.name} ${d.id}`.toLowerCase();
      return words.every((w) => name.includes(w)) ? 0 : 1;
    };
    const sorted = matching.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
    const items = sorted.map(providerChoice);
    if (items.length === 0) {
      items.push(
        /** @type {HTMLLIElement} */ (
          Object.assign(document.createElement("li"), {
            className: "muted",
            textContent: "No provider matches. A provider that speaks dyndns2 works as “Other dyndns2-compatible server”.",
          })
        ),
      );
    }
    list.replaceChildren(...items);
  };
  search.addEventListener("input", fill);
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      const first = list.querySelector("button");
      if (first instanceof HTMLButtonElement) {
        first.click();
      }
    }
  });
  fill();
  out.push(search, list);
  return out;
}

/**
 * What the first step says about other clients found on this machine: a choice to move
 * over from each one whose config could be read, and for one that could not, why and the
 * command line that does it instead. Empty when none was found.
 * @returns {HTMLElement[]}
 */
function importChoices() {
  const offers = flow?.offers ?? [];
  const movable = offers.filter((o) => o.readable && (o.preview?.accounts.length ?? 0) > 0);
  const out = [];
  if (movable.length > 0) {
    const list = document.createElement("ul");
    list.className = "choices";
    list.setAttribute("aria-label", "Move over");
    for (const offer of movable) {
      const names = offer.preview?.records.length ?? 0;
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "choice";
      button.dataset.import = offer.client;
      const title = document.createElement("strong");
      title.textContent = `Move over from ${offer.client}`;
      const note = document.createElement("span");
      note.className = "muted";
      note.textContent = `${names === 1 ? "1 name" : `${names} names`}, with the passwords and the addresses ${offer.client} last sent.`;
      button.append(title, note);
      button.addEventListener("click", () => chooseImport(offer));
      li.append(button);
      list.append(li);
    }
    out.push(para(`${movable.map((o) => o.client).join(" and ")} ${movable.length === 1 ? "is" : "are"} set up on this machine. Bring its names over, or start fresh below.`), list);
  }
  for (const offer of offers.filter((o) => !o.readable && o.command)) {
    const box = document.createElement("div");
    box.className = "import-note";
    const code = document.createElement("code");
    code.className = "command";
    code.textContent = offer.command ?? "";
    box.append(para(offer.note ?? ""), code);
    out.push(box);
  }
  if (out.length > 0) {
    out.push(para("Or start fresh: choose the service that hosts your DNS name."));
  }
  return out;
}

/**
 * "Move over from …" was chosen: on to what would come over.
 * @param {ImportOffer} offer
 */
function chooseImport(offer) {
  if (!flow) {
    return;
  }
  flow.importing = { offer, report: null };
  render();
}

/**
 * A small heading inside a step.
 * @param {string} text
 * @returns {HTMLHeadingElement}
 */
function subheading(text) {
  const h = document.createElement("h4");
  h.className = "sub-title";
  h.textContent = text;
  return h;
}

/**
 * A list of plain lines.
 * @param {string} label the list's accessible name
 * @param {(string | Node)[][]} items each line's parts
 * @param {string} [id]
 * @returns {HTMLUListElement}
 */
function lines(label, items, id = "") {
  const list = document.createElement("ul");
  list.className = "import-lines";
  list.setAttribute("aria-label", label);
  if (id) {
    list.id = id;
  }
  for (const parts of items) {
    const li = document.createElement("li");
    li.append(...parts);
    list.append(li);
  }
  return list;
}

/**
 * "Line 12" for a line number, or the file as a whole for 0.
 * @param {string} file `config` or `cache`
 * @param {number} line
 * @param {string} client
 * @returns {HTMLElement}
 */
function lineRef(file, line, client) {
  const span = document.createElement("span");
  span.className = "line-ref";
  const what = file === "cache" ? `${client}'s cache` : "";
  span.textContent = line === 0 ? (what || "The file") : `${what ? `${what}, line` : "Line"} ${line}`;
  return span;
}

/**
 * Moving over, step 2: what comes over and what does not, line by line.
 * @param {ImportOffer} offer
 * @returns {HTMLElement[]}
 */
function importStep(offer) {
  const preview = offer.preview;
  const client = offer.client;
  const out = [heading(`Move over from ${client}`)];
  if (!preview) {
    return out;
  }
  out.push(para(`From ${offer.config}. Nothing changes at your provider now: where ${client} already sent this machine's address, Dyntray sends it only when it changes.`));
  if (!offer.cache_read) {
    out.push(para(offer.note ?? `${client}'s record of what it last sent is not there, so each name is sent once after the move.`, "warning-text"));
  }
  out.push(subheading("Names"));
  out.push(lines("Names", preview.records.map((r) => {
    const account = preview.accounts.find((a) => a.id === r.account);
    const name = document.createElement("strong");
    name.textContent = r.name;
    const where = ` at ${account?.provider_name ?? r.account}`;
    const address = document.createElement("span");
    address.className = "muted";
    address.textContent = r.address ? ` — ${client} last sent ${r.address}` : ` — ${client} sent nothing yet: sent once`;
    return [name, where, address];
  }), "import-names"));
  out.push(subheading("Accounts"));
  out.push(lines("Accounts", preview.accounts.map((a) => {
    const name = document.createElement("strong");
    name.textContent = a.provider_name;
    const who = a.username ? ` (${a.username})` : "";
    const secret = document.createElement("span");
    secret.className = a.secret ? "muted" : "warning-text";
    secret.textContent = a.secret
      ? " — the password comes along, into the system keychain"
      : ` — enter it yourself afterwards: ${a.secret_note ?? "the password does not come along"}`;
    return [name, who, secret];
  })));
  if (preview.problems.length > 0) {
    const details = document.createElement("details");
    details.className = "more";
    details.open = preview.problems.length <= 6;
    const summary = document.createElement("summary");
    summary.textContent = `Not brought over (${preview.problems.length})`;
    details.append(summary, lines("Not brought over", preview.problems.map((p) => [lineRef(p.file, p.line, client), `: ${forPeople(p.reason)}`]), "import-problems"));
    out.push(details);
  }
  if (preview.mappings.length > 0) {
    const details = document.createElement("details");
    details.className = "more";
    const summary = document.createElement("summary");
    summary.textContent = `What each line became (${preview.mappings.length})`;
    details.append(summary, lines("What each line became", preview.mappings.map((m) => {
      const from = document.createElement("code");
      from.textContent = m.from;
      return [lineRef("config", m.line, client), ": ", from, ` → ${m.to}`];
    }), "import-mappings"));
    out.push(details);
  }
  if (preview.refusal) {
    out.push(para(forPeople(preview.refusal), "error-text"));
  }
  return out;
}

/**
 * Moving over, step 3: what came over, and what is left for the user to do.
 * @param {ImportReport} report
 * @returns {HTMLElement[]}
 */
function importedStep(report) {
  const out = [heading(`Moved over from ${report.client}`)];
  out.push(para(`Dyntray now keeps ${report.names.join(", ")} pointing at this machine.`));
  if (report.addresses.length > 0) {
    out.push(para(`${report.addresses.length === 1 ? "One name keeps" : `${report.addresses.length} names keep`} the address ${report.client} last sent: nothing is sent for it until the address changes.`));
  }
  if (report.set_by_hand.length > 0) {
    out.push(subheading("Still to do"));
    out.push(lines("Passwords to enter", report.set_by_hand.map((s) => {
      const name = document.createElement("strong");
      name.textContent = `${s.provider_name} (${s.account})`;
      return [name, `: ${s.note}. Open it under Accounts below and enter it there.`];
    }), "import-to-do"));
  }
  const hint = report.stop_hint.split(": ");
  const stop = para(`${hint[0]}:`);
  const code = document.createElement("code");
  code.className = "command";
  code.textContent = hint.slice(1).join(": ");
  out.push(stop, code);
  return out;
}

/**
 * Imports the chosen offer; on success shows what came over.
 * @returns {Promise<void>}
 */
async function importChosen() {
  const importing = flow?.importing;
  if (!flow || !importing) {
    return;
  }
  const button = /** @type {HTMLButtonElement} */ ($("setup-next"));
  button.disabled = true;
  $("setup-error").textContent = "Importing…";
  try {
    importing.report = await applyImport(importing.offer.client);
  } catch (error) {
    const e = /** @type {{code: string, message: string}} */ (error);
    button.disabled = false;
    if (e.code === "stale") {
      await refreshEditor();
      ({ config } = await loaded());
    }
    $("setup-error").textContent = forPeople(e.message);
    return;
  }
  await refreshEditor();
  ({ config } = await loaded());
  render();
}

/**
 * A provider was chosen: on to its sign-in fields.
 * @param {string} id
 */
function chooseProvider(id) {
  if (!flow) {
    return;
  }
  if (flow.savedAccount && flow.provider !== id) {
    // The account saved in this flow stays as it is; a new provider means a new account.
    flow.savedAccount = null;
    flow.saved = [];
  }
  flow.provider = id;
  flow.existing = null;
  flow.dirty = true;
  flow.step = 1;
  render();
}

/**
 * An account already set up was chosen: straight to the names.
 * @param {any} account
 */
function chooseAccount(account) {
  if (!flow) {
    return;
  }
  flow.provider = account.provider;
  flow.existing = account.id;
  flow.dirty = true;
  flow.step = 2;
  render();
}

/**
 * A free account id for this provider: the provider's id, numbered if taken.
 * @param {string} provider
 * @returns {string}
 */
function freeAccountId(provider) {
  const taken = new Set((config?.account ?? []).map((/** @type {any} */ a) => a.id));
  if (flow?.savedAccount) {
    taken.delete(flow.savedAccount);
  }
  let id = provider;
  for (let n = 2; taken.has(id); n += 1) {
    id = `${provider}-${n}`;
  }
  return id;
}

/**
 * Step 2: the fields this provider needs, its help, and where its token is made.
 * @returns {HTMLElement[]}
 */
function signInStep() {
  const d = /** @type {Descriptor} */ (descriptor(flow?.provider ?? ""));
  const typed = flow?.typed ?? {};
  const out = [heading(`Your ${d.name} account`)];
  if (d.notes) {
    out.push(para(d.notes, "muted"));
  }
  if (d.key_url) {
    const where = document.createElement("p");
    const link = document.createElement("a");
    link.href = d.key_url;
    link.textContent = d.key_url.replace(/^https:\/\//, "").replace(/\/$/, "");
    link.className = "provider-link";
    link.addEventListener("click", (event) => {
      event.preventDefault();
      openLink(d.key_url ?? "").catch((/** @type {{message: string}} */ e) => {
        $("setup-error").textContent = e.message;
      });
    });
    where.append(`Where to find your ${secretLabel(d.id)}: `, link, " (opens in your browser)");
    out.push(where);
  }
  const main = [];
  const more = [field("id", "Account label", Object.assign(document.createElement("input"), {
    type: "text",
    value: typed.id || freeAccountId(d.id),
  }), "A short label of your own, to tell your accounts apart.")];
  for (const spec of d.account_fields) {
    if (spec.kind === "secret") {
      const box = secretInput("");
      const input = /** @type {HTMLInputElement} */ (box.querySelector("input"));
      input.value = flow?.secrets[d.id] ?? "";
      if (flow?.savedAccount && input.value === "") {
        input.placeholder = "stored safely; type to replace";
      }
      main.push(field("secret", spec.label, box, spec.help));
    } else {
      const current = spec.key in typed ? typed[spec.key] : undefined;
      const help = spec.key === "server" && d.default_server ? `${spec.help} Default: ${d.default_server}` : spec.help;
      (folds(spec) ? more : main).push(field(spec.key, spec.label, control(spec, current), help));
    }
  }
  out.push(...main, ...folded(more));
  return out;
}

/**
 * Step 3: the names to keep up to date.
 * @returns {HTMLElement[]}
 */
function namesStep() {
  const d = /** @type {Descriptor} */ (descriptor(flow?.provider ?? ""));
  const out = [heading("Which names should point at this machine?")];
  const names = flow?.names ?? [""];
  names.forEach((name, i) => {
    const input = Object.assign(document.createElement("input"), { type: "text", value: name });
    input.autocapitalize = "off";
    input.spellcheck = false;
    const key = i === 0 ? "name" : `name-${i}`;
    out.push(
      field(key, i === 0 ? "Name" : `Name ${i + 1}`, input, i === 0 ? "The full name, like home.example.org." : ""),
    );
  });
  const another = document.createElement("button");
  another.type = "button";
  another.id = "setup-another";
  another.textContent = "Add another name";
  another.addEventListener("click", () => {
    keep();
    flow?.names.push("");
    render();
    const inputs = $("setup-body").querySelectorAll("input[name^=name]");
    /** @type {HTMLElement} */ (inputs[inputs.length - 1])?.focus();
  });
  const row = document.createElement("div");
  row.className = "buttons";
  row.append(another);
  out.push(row);
  const more = [];
  if (d.families.includes("AAAA")) {
    const family = document.createElement("select");
    family.append(
      new Option("IPv4 (an A record)", "A"),
      new Option("IPv6 (an AAAA record)", "AAAA"),
      new Option("Both", "both"),
    );
    family.value = flow?.family ?? "A";
    more.push(field("family", "Addresses", family, "Which of this machine's addresses the names get."));
  }
  const typed = flow?.recordTyped ?? {};
  for (const spec of d.record_fields) {
    const current = spec.key in typed ? typed[spec.key] : undefined;
    more.push(field(spec.key, spec.label, control(spec, current === "false" && spec.kind === "bool" ? false : current === "true" ? true : current), spec.help));
  }
  out.push(...folded(more));
  return out;
}

/**
 * Shows the engine's problems at their fields; returns the ones that fit no field.
 * @param {{key: string, message: string}[]} problems
 * @returns {string[]}
 */
function showProblems(problems) {
  const rest = [];
  for (const problem of problems) {
    let key = problem.key.replace(/^(account|record)\[\d+\]\./, "");
    const record = /^record\[(\d+)\]\.name$/.exec(problem.key);
    if (record && flow) {
      const first = (config?.record ?? []).length - flow.saved.length;
      const index = Math.max(0, Number(record[1]) - first);
      key = index === 0 ? "name" : `name-${index}`;
    }
    const slot = $("setup-body").querySelector(`.field[data-key="${key}"] .problem`);
    if (slot) {
      slot.textContent = forPeople(problem.message);
      const details = slot.closest("details");
      if (details) {
        details.open = true;
      }
    } else {
      rest.push(forPeople(problem.message));
    }
  }
  return rest;
}

/**
 * Clears the problems shown at fields.
 */
function clearProblems() {
  for (const slot of $("setup-body").querySelectorAll(".problem")) {
    slot.textContent = "";
  }
  $("setup-error").textContent = "";
}

/**
 * Step 2 → 3: a secret is needed for a new account; the engine checks the rest on save.
 * @returns {boolean}
 */
function signInReady() {
  const d = /** @type {Descriptor} */ (descriptor(flow?.provider ?? ""));
  let ready = true;
  for (const spec of d.account_fields) {
    const key = spec.kind === "secret" ? "secret" : spec.key;
    const v = value(key, $("setup-body"));
    const needed = spec.kind === "secret" ? !flow?.savedAccount : spec.required && !spec.default;
    if (needed && v === "") {
      const slot = $("setup-body").querySelector(`.field[data-key="${key}"] .problem`);
      if (slot) {
        slot.textContent = spec.kind === "secret"
          ? `Type or paste the ${secretLabel(d.id)}. It is kept in the system keychain.`
          : "This is needed.";
      }
      ready = false;
    }
  }
  return ready;
}

/**
 * Saves the account (new or changed) and the names; on a refusal goes back to the step
 * whose fields the engine named, with the problems shown there.
 * @returns {Promise<boolean>}
 */
async function saveAll() {
  if (!flow) {
    return false;
  }
  const d = /** @type {Descriptor} */ (descriptor(flow.provider));
  let accountId = flow.existing;
  if (!accountId) {
    const account = { id: flow.typed.id || freeAccountId(d.id), provider: d.id, secret: "keychain" };
    flow.step = 1;
    render();
    for (const spec of d.account_fields) {
      if (spec.kind !== "secret") {
        const v = fieldValue(spec, $("setup-body"));
        if (v !== undefined) {
          account[spec.key] = v;
        }
      }
    }
    try {
      await editConfig({ op: "upsert_account", id: flow.savedAccount, account });
      flow.savedAccount = account.id;
      const secret = flow.secrets[d.id] ?? "";
      if (secret !== "") {
        await setSecret(account.id, secret);
      }
    } catch (error) {
      return refused(error);
    }
    accountId = account.id;
  }
  flow.step = 2;
  render();
  const names = flow.names.map((n) => n.trim()).filter((n) => n !== "");
  if (names.length === 0) {
    const slot = $("setup-body").querySelector('.field[data-key="name"] .problem');
    if (slot) {
      slot.textContent = "Type the name to keep up to date, like home.example.org.";
    }
    return false;
  }
  try {
    for (const gone of flow.saved.filter((s) => !names.includes(s.name) || s.account !== accountId)) {
      await editConfig({ op: "remove_record", id: gone });
    }
    flow.saved = flow.saved.filter((s) => names.includes(s.name) && s.account === accountId);
    for (const name of names) {
      const record = { account: accountId, name, family: d.families.includes("AAAA") ? flow.family : "A" };
      for (const spec of d.record_fields) {
        const v = fieldValue(spec, $("setup-body"));
        if (v !== undefined) {
          record[spec.key] = v;
        }
      }
      const before = flow.saved.find((s) => s.name === name) ?? null;
      await editConfig({ op: "upsert_record", id: before, record });
      if (!before) {
        flow.saved.push({ account: accountId, name });
      }
    }
  } catch (error) {
    return refused(error);
  }
  await refreshEditor();
  ({ config } = await loaded());
  flow.dirty = false;
  return true;
}

/**
 * Shows a refused save where it belongs.
 * @param {unknown} error
 * @returns {Promise<boolean>} always false
 */
async function refused(error) {
  const e = /** @type {{code: string, message: string, problems?: {key: string, message: string}[]}} */ (error);
  if (e.code === "stale") {
    await refreshEditor();
    ({ config } = await loaded());
  }
  const rest = e.problems && e.problems.length > 0 ? showProblems(e.problems) : [forPeople(e.message)];
  $("setup-error").textContent = rest.length > 0 ? rest.join("\n") : "Not saved yet: see the fields marked above.";
  return false;
}

/**
 * One name's line in the test step, from the engine's status.
 * @param {string} name
 * @returns {HTMLElement}
 */
function testLine(name) {
  const account = flow?.existing ?? flow?.savedAccount;
  const provider = descriptor(flow?.provider ?? "")?.name ?? "the provider";
  const records = (latest?.records ?? []).filter((r) => r.account === account && r.name === name);
  const line = document.createElement("li");
  line.className = "test-line";
  const say = (/** @type {string} */ symbol, /** @type {string} */ text, /** @type {string} */ kind) => {
    const mark = document.createElement("span");
    mark.className = "symbol";
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = symbol;
    line.dataset.kind = kind;
    line.append(mark, ` ${text}`);
  };
  const record = records.find((r) => r.phase === "disabled") ?? records.find((r) => r.phase !== "ok") ?? records[0];
  if (!record) {
    say("⟳", `${name}: waiting for Dyntray to pick it up…`, "pending");
    return line;
  }
  const detected = latest?.addresses.find((a) => a.family === record.family);
  switch (record.phase) {
    case "ok":
      say("✓", `${name} points at ${record.address}. ${provider} said “${record.last_answer ?? "OK"}”.`, "ok");
      break;
    case "disabled":
      say("⚠", `${provider} refused ${name}: “${record.disabled?.answer ?? ""}”. ${record.disabled?.advice ?? ""}`, "error");
      break;
    case "backing_off":
      say("⟳", `${provider} is busy (“${record.last_answer ?? ""}”); Dyntray tries again later by itself.`, "warning");
      break;
    case "error":
      say("⚠", `${name}: ${record.note ?? "something here needs attention"}.`, "warning");
      break;
    default:
      say(
        "⟳",
        detected?.address
          ? `Sending ${detected.address} to ${provider} for ${name}…`
          : `${name}: finding this machine's public address…`,
        "pending",
      );
  }
  return line;
}

/**
 * Step 4: what the provider said about each name.
 * @returns {HTMLElement[]}
 */
function testStep() {
  const names = (flow?.names ?? []).filter((n) => n.trim() !== "");
  const list = document.createElement("ul");
  list.className = "test-lines";
  list.id = "setup-test";
  list.setAttribute("aria-live", "polite");
  list.replaceChildren(...names.map(testLine));
  const out = [heading("Testing with your provider"), list];
  const refusedSecret = (latest?.records ?? []).some(
    (r) => r.account === (flow?.existing ?? flow?.savedAccount) && r.phase === "disabled" && r.cure === "secret",
  );
  if (refusedSecret && !flow?.existing) {
    const fix = document.createElement("button");
    fix.type = "button";
    fix.id = "setup-fix";
    fix.className = "primary";
    fix.textContent = "Change what I typed";
    fix.addEventListener("click", () => {
      if (flow) {
        flow.secrets[flow.provider] = "";
        flow.step = 1;
        render();
      }
    });
    const row = document.createElement("div");
    row.className = "buttons";
    row.append(fix);
    out.push(row);
  }
  return out;
}

/**
 * Step 5: start at login (ticked), then done.
 * @returns {HTMLElement[]}
 */
function finishStep() {
  const names = (flow?.names ?? []).filter((n) => n.trim() !== "");
  const out = [
    heading("All set"),
    para(`Dyntray keeps ${names.join(", ")} pointing at this machine, and tells you when the provider says no.`),
  ];
  const box = Object.assign(document.createElement("input"), { type: "checkbox", id: "setup-autostart" });
  box.checked = flow?.autostart ?? true;
  box.addEventListener("change", () => {
    if (flow) {
      flow.autostart = box.checked;
    }
  });
  const label = document.createElement("label");
  label.className = "check";
  label.append(box, " Start Dyntray when I log in");
  out.push(label, para("Without it, names are kept up to date only while Dyntray runs.", "muted"));
  return out;
}

/** "Next": leaves the step forward, saving at the names step. */
async function next() {
  if (!flow) {
    return;
  }
  if (flow.importing) {
    if (flow.importing.report) {
      close();
    } else {
      await importChosen();
    }
    return;
  }
  keep();
  clearProblems();
  const button = /** @type {HTMLButtonElement} */ ($("setup-next"));
  if (flow.step === 1) {
    if (!signInReady()) {
      return;
    }
    flow.step = 2;
    render();
  } else if (flow.step === 2) {
    button.disabled = true;
    $("setup-error").textContent = "Saving…";
    const ok = await saveAll();
    button.disabled = false;
    if (ok && flow) {
      flow.step = 3;
      render();
    }
  } else if (flow.step === 3) {
    // Ticked unless the user unticked it in this flow.
    flow.autostart ??= true;
    flow.step = 4;
    render();
  } else if (flow.step === 4) {
    try {
      await setAutostart(flow.autostart ?? true);
      const general = document.getElementById("start-at-login");
      if (general instanceof HTMLInputElement) {
        general.checked = flow.autostart ?? true;
      }
    } catch (error) {
      $("setup-error").textContent = /** @type {{message: string}} */ (error).message;
      return;
    }
    close();
  }
}

/** "Back": one step back, keeping what was typed. */
function back() {
  if (flow?.importing && !flow.importing.report) {
    flow.importing = null;
    render();
    return;
  }
  if (!flow || flow.step === 0) {
    return;
  }
  keep();
  flow.step = flow.step === 2 && flow.existing ? 0 : flow.step - 1;
  render();
}

/** "Cancel": asks first when something typed would be lost. */
async function cancel() {
  if (flow?.dirty) {
    const sure = await ask({
      title: "Stop setting up?",
      text: flow.saved.length > 0
        ? "What you changed since the last save is lost. The names saved before stay."
        : "What you typed is lost; nothing was saved yet.",
      yes: "Stop",
      no: "Keep going",
    });
    if (!sure) {
      return;
    }
  }
  close();
}

/**
 * The engine's status, for the test step (redrawn while it is shown).
 * @param {Status} status
 */
export function setupSawStatus(status) {
  latest = status;
  if (flow?.step === 3) {
    const list = document.getElementById("setup-test");
    if (list) {
      const names = flow.names.filter((n) => n.trim() !== "");
      list.replaceChildren(...names.map(testLine));
      const hasFix = document.getElementById("setup-fix") !== null;
      const needsFix = (status.records ?? []).some(
        (r) => r.account === (flow?.existing ?? flow?.savedAccount) && r.phase === "disabled" && r.cure === "secret",
      );
      if (hasFix !== needsFix && !flow.existing) {
        render();
      }
    }
  }
}

/**
 * Opens the setup by itself on a first run: no names, no accounts, no config problem.
 * When ddclient or inadyn is set up on this machine, the setup offers to move over.
 * @param {Status} status
 */
export function firstRun(status) {
  if (flow || status.records.length > 0 || status.config_error) {
    return;
  }
  void loaded().then(async ({ config: read }) => {
    if (flow || (read?.account ?? []).length > 0) {
      return;
    }
    // An engine without the request, or a failure looking, is a setup without the offer.
    const offers = await findImports().catch(() => []);
    if (!flow) {
      void openSetup(offers);
    }
  });
}

$("setup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  void next();
});
$("setup-form").addEventListener("input", () => {
  if (flow) {
    flow.dirty = true;
  }
});
$("setup-back").addEventListener("click", back);
$("setup-cancel").addEventListener("click", () => void cancel());
$("add-record").addEventListener("click", () => void openSetup());
