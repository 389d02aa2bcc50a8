// @ts-check
/**
 * Adding, editing and removing accounts and names. The forms are rendered from the
 * provider descriptors the engine returns (no provider metadata lives here); the engine
 * validates and saves, and its problems are shown next to their fields. A typed secret
 * goes straight to the keychain and is never shown again.
 * @typedef {import("../ipc.js").Descriptor} Descriptor
 * @typedef {import("../ipc.js").FieldSpec} FieldSpec
 */
import { checkAccount, editConfig, getConfig, providers, setSecret, status, updateNow } from "../ipc.js";

/** @type {Descriptor[]} */
let registry = [];
/** @type {any} */
let config = null;

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} id
 * @returns {Descriptor | undefined}
 */
function descriptor(id) {
  return registry.find((d) => d.id === id);
}

/**
 * A labelled field from the template, holding `control`.
 * @param {string} key the config key (problems are matched on it)
 * @param {string} label
 * @param {HTMLElement} control
 * @param {string} help
 * @returns {HTMLElement}
 */
export function field(key, label, control, help) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("field"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  const root = /** @type {HTMLElement} */ (fragment.querySelector(".field"));
  root.dataset.key = key;
  /** @type {HTMLElement} */ (root.querySelector(".label")).textContent = label;
  /** @type {HTMLElement} */ (root.querySelector(".control")).append(control);
  /** @type {HTMLElement} */ (root.querySelector(".help")).textContent = help;
  const named = control.matches("input, select") ? control : control.querySelector("input, select");
  named?.setAttribute("name", key);
  const helpId = `help-${key}-${++fieldCount}`;
  /** @type {HTMLElement} */ (root.querySelector(".help")).id = helpId;
  const problemId = `problem-${key}-${fieldCount}`;
  /** @type {HTMLElement} */ (root.querySelector(".problem")).id = problemId;
  named?.setAttribute("aria-describedby", `${helpId} ${problemId}`);
  return root;
}

/**
 * Whether a field goes under "More options": advanced, and not one that must be filled.
 * @param {FieldSpec} spec
 * @returns {boolean}
 */
export function folds(spec) {
  return spec.advanced && !(spec.required && !spec.default);
}

/** Makes each field's help and problem ids unique. */
let fieldCount = 0;

/**
 * Folds advanced fields away under "More options".
 * @param {HTMLElement[]} fields
 * @returns {HTMLElement[]} the fields, or a `<details>` holding them (none when empty)
 */
export function folded(fields) {
  if (fields.length === 0) {
    return [];
  }
  const details = document.createElement("details");
  details.className = "more";
  const summary = document.createElement("summary");
  summary.textContent = "More options";
  details.append(summary, ...fields);
  return [details];
}

/**
 * A password input with a "Show" button beside it, so that a pasted token can be checked.
 * @param {string} placeholder
 * @returns {HTMLElement} a wrapper holding the input (named by `field`) and the button
 */
export function secretInput(placeholder) {
  const box = document.createElement("span");
  box.className = "secret-box";
  const secret = input("", "password");
  secret.autocomplete = "new-password";
  secret.spellcheck = false;
  secret.placeholder = placeholder;
  const show = document.createElement("button");
  show.type = "button";
  show.className = "show-secret";
  show.textContent = "Show";
  show.setAttribute("aria-pressed", "false");
  show.addEventListener("click", () => {
    const shown = secret.type === "password";
    secret.type = shown ? "text" : "password";
    show.textContent = shown ? "Hide" : "Show";
    show.setAttribute("aria-pressed", String(shown));
  });
  box.append(secret, show);
  return box;
}

/**
 * Engine words made for the window: no backticks around names, no "missing `key`".
 * @param {string} text
 * @returns {string}
 */
export function forPeople(text) {
  if (/^missing `[a-z_]+`$/.test(text) || /^.* needs `[a-z_]+`( \(.*\))?$/.test(text)) {
    return "This is needed.";
  }
  return text.replace(/`([^`]*)`/g, "“$1”");
}

/**
 * @param {string} value
 * @param {string} [type]
 * @returns {HTMLInputElement}
 */
function input(value, type = "text") {
  const element = document.createElement("input");
  element.type = type;
  element.value = value;
  return element;
}

/**
 * @param {[string, string][]} options value/label pairs
 * @param {string} value
 * @returns {HTMLSelectElement}
 */
function select(options, value) {
  const element = document.createElement("select");
  element.replaceChildren(...options.map(([v, label]) => new Option(label, v)));
  element.value = value;
  return element;
}

/**
 * The input for one descriptor field, showing `current` (a config value).
 * @param {FieldSpec} spec
 * @param {any} current
 * @returns {HTMLElement}
 */
export function control(spec, current) {
  switch (spec.kind) {
    case "bool": {
      const box = input("", "checkbox");
      box.checked = current === true;
      return box;
    }
    case "tristate":
      return select(
        [["", "Leave as the provider has it"], ["true", "On"], ["false", "Off"]],
        current === undefined || current === null ? "" : String(current),
      );
    case "choice": {
      /** @type {[string, string][]} */
      const options = (spec.options ?? []).map((o) => [o, o === spec.default ? `${o} (default)` : o]);
      if (!spec.required && !spec.default) {
        options.unshift(["", "—"]);
      }
      return select(options, current ?? spec.default ?? "");
    }
    case "number": {
      const number = input(current === undefined || current === null ? "" : String(current), "number");
      if (spec.range) {
        number.min = String(spec.range[0]);
        number.max = String(spec.range[1]);
      }
      number.step = "1";
      number.placeholder = spec.default ?? "";
      return number;
    }
    default: {
      const text = input(current === undefined || current === null ? "" : String(current));
      text.placeholder = spec.default ?? "";
      return text;
    }
  }
}

/**
 * The value to save for a descriptor field, or `undefined` to leave it out.
 * @param {FieldSpec} spec
 * @param {HTMLElement} [root] the form holding the field
 * @returns {string | number | boolean | undefined}
 */
export function fieldValue(spec, root = $("editor-fields")) {
  const v = value(spec.key, root);
  switch (spec.kind) {
    case "bool":
      return v === "true" ? true : undefined;
    case "tristate":
      return v === "" ? undefined : v === "true";
    case "number":
      // Sent as a number; text that is not one is sent as typed, for the engine to name.
      return v === "" ? undefined : /^-?\d+$/.test(v) ? Number(v) : v;
    default:
      return v === "" ? undefined : v;
  }
}

/**
 * The value of a form field, by key.
 * @param {string} key
 * @param {HTMLElement} [root] the form holding the field
 * @returns {string}
 */
export function value(key, root = $("editor-fields")) {
  const control = /** @type {HTMLInputElement | HTMLSelectElement | null} */ (
    root.querySelector(`[name="${key}"]`)
  );
  if (!control) {
    return "";
  }
  if (control instanceof HTMLInputElement && control.type === "checkbox") {
    return control.checked ? "true" : "false";
  }
  return control.value.trim();
}

/**
 * Shows the engine's problems next to their fields (`record[2].mx` → field `mx`).
 * @param {{key: string, message: string}[]} problems
 * @param {string} prefix `account[N]` or `record[N]` of the item being edited
 * @returns {string[]} problems that belong to no field
 */
function showProblems(problems, prefix) {
  const rest = [];
  for (const problem of problems) {
    const key = problem.key.startsWith(`${prefix}.`) ? problem.key.slice(prefix.length + 1) : "";
    const slot = key ? $("editor-fields").querySelector(`.field[data-key="${key}"] .problem`) : null;
    if (slot) {
      slot.textContent = forPeople(problem.message);
    } else {
      rest.push(forPeople(problem.message));
    }
  }
  return rest;
}

/** Closes the form. */
function closeEditor() {
  editorDirty = false;
  $("editor").hidden = true;
  $("editor-fields").replaceChildren();
  $("editor-error").textContent = "";
}

/**
 * Opens the form with these fields.
 * @param {string} title
 * @param {HTMLElement[]} fields
 * @param {() => Promise<void>} onSave
 */
function openEditor(title, fields, onSave) {
  const save = /** @type {HTMLButtonElement} */ ($("editor-save"));
  save.textContent = "Save";
  save.hidden = false;
  save.classList.remove("danger");
  $("editor-title").textContent = title;
  $("editor-fields").replaceChildren(...fields);
  $("editor-error").textContent = "";
  $("editor").hidden = false;
  editorDirty = false;
  const form = /** @type {HTMLFormElement} */ ($("editor"));
  form.oninput = () => {
    editorDirty = true;
  };
  form.onsubmit = (event) => {
    event.preventDefault();
    void onSave();
  };
  form.scrollIntoView({ block: "nearest" });
  const first = fields[0]?.querySelector("input, select");
  if (first instanceof HTMLElement) {
    first.focus();
  }
}

/** Whether the open form has changes not saved yet. */
let editorDirty = false;

/**
 * Whether a form holds typed changes that closing the window would lose.
 * @returns {boolean}
 */
export function editorHasChanges() {
  return !$("editor").hidden && editorDirty;
}

/**
 * Sends one edit, and on success takes `next` as the config; on refusal shows the
 * problems and keeps the form as typed. When the file changed since it was read (by
 * hand, in another window), the config is read again and the lists redrawn: the user
 * sees what is there now and makes the change once more; nothing was overwritten.
 * @param {any} edit
 * @param {any} next
 * @param {string} prefix
 * @returns {Promise<boolean>}
 */
async function save(edit, next, prefix) {
  for (const slot of $("editor-fields").querySelectorAll(".problem")) {
    slot.textContent = "";
  }
  try {
    await editConfig(edit);
    config = next;
    return true;
  } catch (error) {
    const e = /** @type {{code: string, message: string, problems?: any[]}} */ (error);
    if (e.code === "stale") {
      config = await getConfig();
      renderAccounts();
      $("editor-error").textContent = e.message;
      return false;
    }
    const rest = e.problems && e.problems.length > 0 ? showProblems(e.problems, prefix) : [forPeople(e.message)];
    $("editor-error").textContent =
      rest.length > 0 ? rest.join("\n") : "Not saved: see the fields marked above.";
    return false;
  }
}

/**
 * The provider picker: a search box over a list, so that thirty providers stay easy to
 * find. Typing filters by name, id and notes; choosing one calls `onChoose`.
 * @param {string} current
 * @param {(id: string) => void} onChoose
 * @returns {HTMLElement}
 */
function providerPicker(current, onChoose) {
  const box = document.createElement("div");
  box.className = "picker";
  const search = input("", "search");
  search.placeholder = "Search providers…";
  search.setAttribute("aria-label", "Search providers");
  search.className = "picker-search";
  const list = document.createElement("select");
  list.className = "picker-list";
  list.setAttribute("name", "provider");
  list.setAttribute("aria-label", "Provider");
  const fill = () => {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = registry.filter((d) => {
      const text = `${d.name} ${d.id} ${d.protocol} ${d.notes}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    list.replaceChildren(...shown.map((d) => new Option(`${d.name} (${d.protocol})`, d.id)));
    list.size = Math.max(2, Math.min(8, shown.length));
    list.value = shown.some((d) => d.id === current) ? current : "";
  };
  search.addEventListener("input", () => {
    fill();
    if (list.options.length === 1) {
      list.value = list.options[0].value;
      onChoose(list.value);
    }
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" && list.options.length > 0) {
      event.preventDefault();
      list.focus();
    }
  });
  list.addEventListener("change", () => {
    current = list.value;
    onChoose(list.value);
  });
  fill();
  box.append(search, list);
  return box;
}

/**
 * The account form, for a new account (`index` = -1) or an existing one. Its fields come
 * from the chosen provider's descriptor; values typed survive a change of provider where
 * the new one has a field of the same key.
 * @param {number} index
 */
function editAccount(index) {
  const existing = index >= 0 ? config.account[index] : null;
  const providerId = existing?.provider ?? registry[0]?.id ?? "";
  /** @type {Record<string, string>} */
  const typed = {};
  // The picker stays in place while the provider changes: typing in its search box is
  // never interrupted by the form being redrawn.
  const picker = providerPicker(providerId, (chosen) => render(chosen));
  const providerField = field("provider", "Provider", picker, "");
  let opened = false;
  const render = (/** @type {string} */ id) => {
    const d = descriptor(id);
    if (!d) {
      return;
    }
    // Keep what was typed so far (but never carry a secret to another provider).
    for (const input of opened ? $("editor-fields").querySelectorAll("input[name], select[name]") : []) {
      const element = /** @type {HTMLInputElement} */ (input);
      if (element.name !== "provider" && element.name !== "secret" && element.type !== "checkbox") {
        typed[element.name] = element.value;
      }
    }
    /** @type {HTMLElement} */ (providerField.querySelector(".help")).textContent =
      [d.notes, d.docs_url].filter(Boolean).join(" ");
    const fields = [];
    const more = [
      field("id", "Account label", input(typed.id ?? existing?.id ?? ""), "A short label of your own, to tell your accounts apart."),
    ];
    for (const spec of d.account_fields) {
      if (spec.kind === "secret") {
        const stored = existing && existing.provider === id ? "stored safely; type to replace" : "";
        fields.push(field("secret", spec.label, secretInput(stored), spec.help));
      } else {
        const current = spec.key in typed ? typed[spec.key] : existing?.[spec.key];
        const help = spec.key === "server" && d.default_server
          ? `${spec.help} Default: ${d.default_server}`
          : spec.help;
        (folds(spec) ? more : fields).push(field(spec.key, spec.label, control(spec, current), help));
      }
    }
    fields.push(...folded(more));
    const onSave = async () => {
      // Only the keys this provider has: another provider's settings are not carried over.
      const account = { id: value("id"), provider: d.id, secret: existing?.secret ?? "keychain" };
      for (const spec of d.account_fields) {
        if (spec.kind === "secret") {
          continue;
        }
        const v = fieldValue(spec);
        if (v !== undefined) {
          account[spec.key] = v;
        }
      }
      const typedSecret = value("secret");
      const switched = existing && existing.provider !== d.id;
      if ((!existing || switched) && typedSecret === "" && account.secret === "keychain") {
        const slot = $("editor-fields").querySelector('.field[data-key="secret"] .problem');
        if (slot) {
          const label = d.account_fields.find((f) => f.kind === "secret")?.label ?? "password";
          slot.textContent = `Type the ${label.toLowerCase()}: it goes to the system keychain.`;
        }
        return;
      }
      const next = structuredClone(config);
      next.account = next.account ?? [];
      const at = index >= 0 ? index : next.account.length;
      if (index >= 0) {
        const renamed = existing.id !== account.id;
        next.account[index] = account;
        if (renamed) {
          for (const record of next.record ?? []) {
            if (record.account === existing.id) {
              record.account = account.id;
            }
          }
        }
      } else {
        next.account.push(account);
      }
      const edit = { op: "upsert_account", id: existing?.id ?? null, account };
      if (!(await save(edit, next, `account[${at}]`))) {
        return;
      }
      if (typedSecret !== "") {
        try {
          await setSecret(account.id, typedSecret);
        } catch (error) {
          $("editor-error").textContent = /** @type {{message: string}} */ (error).message;
          return;
        }
      }
      closeEditor();
      renderAccounts();
    };
    if (!opened) {
      opened = true;
      openEditor(existing ? `Edit the ${d.name} account` : "Add an account", [providerField, ...fields], onSave);
    } else {
      while (providerField.nextSibling) {
        providerField.nextSibling.remove();
      }
      providerField.after(...fields);
      const form = /** @type {HTMLFormElement} */ ($("editor"));
      form.onsubmit = (event) => {
        event.preventDefault();
        void onSave();
      };
    }
  };
  render(providerId);
}

/**
 * The name (record) form, for a new record (`index` = -1) or an existing one.
 * @param {number} index
 */
function editRecord(index) {
  const accounts = config.account ?? [];
  if (accounts.length === 0) {
    editAccount(-1);
    return;
  }
  const existing = index >= 0 ? config.record[index] : null;
  const render = (/** @type {string} */ accountId) => {
    const account = accounts.find((/** @type {any} */ a) => a.id === accountId) ?? accounts[0];
    const d = descriptor(account.provider);
    const chooseAccount = select(
      accounts.map((/** @type {any} */ a) => [a.id, accountLabel(a)]),
      account.id,
    );
    chooseAccount.addEventListener("change", () => render(chooseAccount.value));
    const families = d?.families ?? ["A"];
    /** @type {[string, string][]} */
    const familyOptions = [["A", "IPv4 (A)"]];
    if (families.includes("AAAA")) {
      familyOptions.push(["AAAA", "IPv6 (AAAA)"], ["both", "Both"]);
    }
    const fields = [
      field("account", "Account", chooseAccount, ""),
      field("name", "Name", input(existing?.name ?? ""), "The host name to keep up to date, e.g. home.example.org."),
      field("family", "Addresses", select(familyOptions, existing?.family ?? "A"), ""),
    ];
    const more = [];
    for (const spec of d?.record_fields ?? []) {
      (folds(spec) ? more : fields).push(field(spec.key, spec.label, control(spec, existing?.[spec.key]), spec.help));
    }
    fields.push(...folded(more));
    openEditor(existing ? `Edit ${existing.name}` : "Add a name", fields, async () => {
      const record = { ...(existing ?? {}), account: value("account"), name: value("name"), family: value("family") };
      for (const spec of d?.record_fields ?? []) {
        const v = fieldValue(spec);
        if (v === undefined) {
          delete record[spec.key];
        } else {
          record[spec.key] = v;
        }
      }
      const next = structuredClone(config);
      next.record = next.record ?? [];
      const at = index >= 0 ? index : next.record.length;
      if (index >= 0) {
        next.record[index] = record;
      } else {
        next.record.push(record);
      }
      const id = existing ? { account: existing.account, name: existing.name } : null;
      if (await save({ op: "upsert_record", id, record }, next, `record[${at}]`)) {
        closeEditor();
        renderAccounts();
      }
    });
  };
  render(existing?.account ?? accounts[0].id);
}

/**
 * Asks before removing an account or a name: the form says what goes and what stays,
 * and only its Remove button removes.
 * @param {"account" | "record"} kind
 * @param {number} index
 */
function confirmRemove(kind, index) {
  const item = config[kind]?.[index];
  if (!item) {
    return;
  }
  const what = document.createElement("p");
  what.className = "confirm-text";
  if (kind === "account") {
    const names = (config.record ?? []).filter((/** @type {any} */ r) => r.account === item.id);
    what.textContent = names.length > 0
      ? `The ${accountLabel(item)} account has ${names.length === 1 ? "a name" : `${names.length} names`} ` +
        `(${names.map((/** @type {any} */ r) => r.name).join(", ")}); remove ${names.length === 1 ? "it" : "them"} first.`
      : `The ${accountLabel(item)} account is removed from Dyntray. Nothing changes at the provider.`;
  } else {
    what.textContent = `${item.name} is no longer kept up to date. Its record at the provider ` +
      "stays as it is, and its history stays here.";
  }
  openEditor(kind === "account" ? `Remove the ${accountLabel(item)} account?` : `Remove ${item.name}?`, [what], async () => {
    await remove(kind, index);
  });
  const save = /** @type {HTMLButtonElement} */ ($("editor-save"));
  const blocked = kind === "account" && (config.record ?? []).some((/** @type {any} */ r) => r.account === item.id);
  save.hidden = blocked;
  save.textContent = "Remove";
  save.classList.add("danger");
  (blocked ? /** @type {HTMLElement} */ ($("editor-cancel")) : save).focus();
}

/**
 * Removes an account, or a record, after the engine accepts the new config.
 * @param {"account" | "record"} kind
 * @param {number} index
 */
async function remove(kind, index) {
  const next = structuredClone(config);
  const [gone] = next[kind].splice(index, 1);
  const edit = kind === "account"
    ? { op: "remove_account", id: gone.id }
    : { op: "remove_record", id: { account: gone.account, name: gone.name } };
  try {
    await editConfig(edit);
    config = next;
    closeEditor();
    renderAccounts();
  } catch (error) {
    if (/** @type {{code: string}} */ (error).code === "stale") {
      config = await getConfig();
      renderAccounts();
    }
    $("editor").hidden = false;
    $("editor-title").textContent = "Not removed";
    $("editor-fields").replaceChildren();
    $("editor-error").textContent = /** @type {{message: string}} */ (error).message;
  }
}

/**
 * "Test": where the provider's API can check a login without changing anything (a token
 * check, a zone list), that is all it does, and it says what the login may do. Other
 * providers have no way to check a login without an update, so the least abusive test
 * is one update of a name with the address the provider already has (answered
 * "nochg"), at most once per 10 minutes. The first click says exactly that; the second
 * sends it and shows the provider's words.
 * @param {any} account
 * @param {HTMLButtonElement} button
 * @param {HTMLElement} result
 */
async function testAccount(account, button, result) {
  /** @param {string} text @param {"ok" | "error"} kind */
  const say = (text, kind) => {
    result.textContent = text;
    result.dataset.kind = kind;
  };
  if (button.dataset.confirm !== "yes") {
    button.disabled = true;
    try {
      const checked = await checkAccount(account.id);
      say(checked.message, checked.ok ? "ok" : "error");
      return;
    } catch (error) {
      const e = /** @type {{code: string, message: string}} */ (error);
      if (e.code !== "unsupported") {
        say(e.message, "error");
        return;
      }
    } finally {
      button.disabled = false;
    }
  }
  const now = await status();
  const record = now.records.find((r) => r.account === account.id && r.phase !== "off");
  if (!record) {
    say("Add a name to this account first: the provider checks a login only with an update of one of its names.", "error");
    return;
  }
  const provider = descriptor(account.provider)?.name ?? account.provider;
  const address = now.addresses.find((a) => a.family === record.family)?.address ?? record.address;
  if (button.dataset.confirm !== "yes") {
    button.dataset.confirm = "yes";
    button.textContent = "Send test";
    say(
      `The test sends one update of ${record.name} with ${address ?? "the current address"} to ${provider}. ` +
        "If the provider already has that address it answers \"nochg\", which counts like an update against the account, " +
        'so it is allowed once per 10 minutes. Click "Send test" to send it.',
      "error",
    );
    return;
  }
  delete button.dataset.confirm;
  button.textContent = "Test";
  button.disabled = true;
  try {
    await updateNow(record.key);
    const after = (await status()).records.find((r) => r.key === record.key);
    if (after?.disabled) {
      say(`${provider} refused: "${after.disabled.answer}". ${after.disabled.advice}`, "error");
    } else if (after?.phase === "ok") {
      say(`The login works: ${provider} answered "${after.last_answer ?? ""}".`, "ok");
    } else {
      say(`${provider} answered "${after?.last_answer ?? "nothing"}"; ${after?.note ?? "see the Names table."}`, "error");
    }
  } catch (error) {
    say(/** @type {{message: string}} */ (error).message, "error");
  } finally {
    button.disabled = false;
  }
}

/** The list of accounts with their names. */
function renderAccounts() {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("account-item"));
  const items = [];
  for (const [index, account] of (config.account ?? []).entries()) {
    const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
    const names = (config.record ?? [])
      .filter((/** @type {any} */ r) => r.account === account.id)
      .map((/** @type {any} */ r) => r.name);
    /** @type {HTMLElement} */ (fragment.querySelector(".what")).textContent = accountLabel(account);
    /** @type {HTMLElement} */ (fragment.querySelector(".names")).textContent =
      names.length > 0 ? `Keeps ${names.join(", ")} up to date.` : "No names yet.";
    const word = secretLabel(account.provider);
    /** @type {HTMLElement} */ (fragment.querySelector(".secret")).textContent =
      account.secret === "keychain"
        ? `The ${word} is kept in the system keychain.`
        : `The ${word} is read from ${account.secret.replace(/^file:/, "the file ").replace(/^env:/, "the variable ")}.`;
    const test = /** @type {HTMLButtonElement} */ (fragment.querySelector(".test"));
    const result = /** @type {HTMLElement} */ (fragment.querySelector(".test-result"));
    test.setAttribute("aria-label", `Test the ${accountLabel(account)} account`);
    test.addEventListener("click", () => void testAccount(account, test, result));
    const edit = /** @type {HTMLButtonElement} */ (fragment.querySelector(".edit"));
    edit.setAttribute("aria-label", `Edit the ${accountLabel(account)} account`);
    edit.addEventListener("click", () => editAccount(index));
    const drop = /** @type {HTMLButtonElement} */ (fragment.querySelector(".remove"));
    drop.setAttribute("aria-label", `Remove the ${accountLabel(account)} account`);
    drop.addEventListener("click", () => confirmRemove("account", index));
    items.push(fragment);
  }
  $("accounts").replaceChildren(...items);
  $("setup-card").hidden = items.length === 0 && $("editor").hidden;
}

/**
 * Edits or removes the record with this config index (called from the Names table).
 * @param {string} name
 * @param {string} account
 * @param {"edit" | "remove"} action
 */
export function recordAction(name, account, action) {
  const index = (config?.record ?? []).findIndex(
    (/** @type {any} */ r) => r.name === name && r.account === account,
  );
  if (index < 0) {
    return;
  }
  if (action === "edit") {
    editRecord(index);
  } else {
    confirmRemove("record", index);
  }
}

/**
 * The config file changed under the window (a hand edit, another window): read it again
 * and redraw the lists, unless a form is open (its save is refused as stale, and then
 * reads it again).
 * @returns {Promise<boolean>} whether it was read again
 */
export async function reloadEditor() {
  if (!$("editor").hidden) {
    return false;
  }
  config = await getConfig();
  renderAccounts();
  return true;
}

/** @type {Promise<void> | null} */
let loading = null;

/** Loads the registry and the config, and shows the card. */
export async function loadEditor() {
  loading = (async () => {
    registry = await providers();
    config = await getConfig();
  })();
  await loading;
  renderAccounts();
}

/**
 * Runs `open` once the registry and the config are in: a click that comes before them
 * (the first-run button is shown as soon as the status arrives) still opens its form.
 * @param {() => void} open
 */
async function whenLoaded(open) {
  if (loading) {
    await loading.catch(() => {});
  }
  if (registry.length > 0 && config) {
    open();
  }
}

/**
 * What the provider calls its secret, in lower case ("password", "API token").
 * @param {string} providerId
 * @returns {string}
 */
export function secretLabel(providerId) {
  const label = descriptor(providerId)?.account_fields.find((f) => f.kind === "secret")?.label;
  return (label ?? "password").split(" or ")[0].replace(/^(\w)(\w)/, (all, a, b) => (b === b.toUpperCase() ? all : a.toLowerCase() + b));
}

/**
 * How an account is named in lists: "DuckDNS" or, with a username, "DynDNS (alice)";
 * the label is added where the provider alone does not tell accounts apart.
 * @param {any} account
 * @returns {string}
 */
export function accountLabel(account) {
  const provider = descriptor(account.provider)?.name ?? account.provider;
  const who = account.username ? ` (${account.username})` : "";
  const same = (config?.account ?? []).filter((/** @type {any} */ a) => a.provider === account.provider && (a.username ?? "") === (account.username ?? ""));
  return same.length > 1 ? `${provider}${who}, ${account.id}` : `${provider}${who}`;
}

/**
 * "Change password" next to a refusal: the account's form, its secret field in focus.
 * @param {string} accountId
 */
export function fixSecret(accountId) {
  void whenLoaded(() => {
    const index = (config.account ?? []).findIndex((/** @type {any} */ a) => a.id === accountId);
    if (index < 0) {
      return;
    }
    editAccount(index);
    const secret = $("editor-fields").querySelector('input[name="secret"]');
    if (secret instanceof HTMLElement) {
      secret.focus();
    }
  });
}

/**
 * The registry and the config as the editor last read them, for the guided setup.
 * @returns {Promise<{registry: Descriptor[], config: any}>}
 */
export async function loaded() {
  if (loading) {
    await loading;
  }
  return { registry, config };
}

/**
 * Reads the config again after the guided setup saved, and redraws the accounts.
 * @returns {Promise<void>}
 */
export async function refreshEditor() {
  config = await getConfig();
  renderAccounts();
}

$("editor-cancel").addEventListener("click", closeEditor);
