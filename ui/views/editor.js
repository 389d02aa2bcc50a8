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
function field(key, label, control, help) {
  const template = /** @type {HTMLTemplateElement} */ (document.getElementById("field"));
  const fragment = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  const root = /** @type {HTMLElement} */ (fragment.querySelector(".field"));
  root.dataset.key = key;
  /** @type {HTMLElement} */ (root.querySelector(".label")).textContent = label;
  /** @type {HTMLElement} */ (root.querySelector(".control")).append(control);
  /** @type {HTMLElement} */ (root.querySelector(".help")).textContent = help;
  control.setAttribute("name", key);
  return root;
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
function control(spec, current) {
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
 * @returns {string | number | boolean | undefined}
 */
function fieldValue(spec) {
  const v = value(spec.key);
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
 * @returns {string}
 */
function value(key) {
  const control = /** @type {HTMLInputElement | HTMLSelectElement | null} */ (
    $("editor-fields").querySelector(`[name="${key}"]`)
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
      slot.textContent = problem.message;
    } else {
      rest.push(problem.message);
    }
  }
  return rest;
}

/** Closes the form. */
function closeEditor() {
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
  const form = /** @type {HTMLFormElement} */ ($("editor"));
  form.onsubmit = (event) => {
    event.preventDefault();
    void onSave();
  };
  const first = fields[0]?.querySelector("input, select");
  if (first instanceof HTMLElement) {
    first.focus();
  }
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
    const rest = e.problems && e.problems.length > 0 ? showProblems(e.problems, prefix) : [e.message];
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
    const fields = [
      field("id", "Account name", input(typed.id ?? existing?.id ?? ""), "Your name for this account; names refer to it."),
    ];
    for (const spec of d.account_fields) {
      if (spec.kind === "secret") {
        const secret = input("", "password");
        secret.autocomplete = "new-password";
        if (existing && existing.provider === id) {
          secret.placeholder = "stored in the keychain; type to replace";
        }
        fields.push(field("secret", spec.label, secret, spec.help));
      } else {
        const current = spec.key in typed ? typed[spec.key] : existing?.[spec.key];
        const help = spec.key === "server" && d.default_server
          ? `${spec.help} Default: ${d.default_server}`
          : spec.help;
        fields.push(field(spec.key, spec.label, control(spec, current), help));
      }
    }
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
      openEditor(existing ? `Edit account ${existing.id}` : "Add an account", [providerField, ...fields], onSave);
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
      accounts.map((/** @type {any} */ a) => [a.id, `${a.id} (${descriptor(a.provider)?.name ?? a.provider})`]),
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
    for (const spec of d?.record_fields ?? []) {
      fields.push(field(spec.key, spec.label, control(spec, existing?.[spec.key]), spec.help));
    }
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
      ? `The account ${item.id} has ${names.length === 1 ? "a name" : `${names.length} names`} ` +
        `(${names.map((/** @type {any} */ r) => r.name).join(", ")}); remove ${names.length === 1 ? "it" : "them"} first.`
      : `The account ${item.id} is removed from Dyntray. Nothing changes at the provider.`;
  } else {
    what.textContent = `${item.name} is no longer kept up to date. Its record at the provider ` +
      "stays as it is, and its history stays here.";
  }
  openEditor(kind === "account" ? `Remove the account ${item.id}?` : `Remove ${item.name}?`, [what], async () => {
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
    /** @type {HTMLElement} */ (fragment.querySelector(".what")).textContent =
      `${account.id}: ${descriptor(account.provider)?.name ?? account.provider}` +
      (account.username ? `, ${account.username}` : "") +
      (names.length > 0 ? ` (${names.join(", ")})` : "");
    /** @type {HTMLElement} */ (fragment.querySelector(".secret")).textContent =
      account.secret === "keychain" ? "password stored in the keychain" : `password from ${account.secret}`;
    const test = /** @type {HTMLButtonElement} */ (fragment.querySelector(".test"));
    const result = /** @type {HTMLElement} */ (fragment.querySelector(".test-result"));
    test.setAttribute("aria-label", `Test account ${account.id}`);
    test.addEventListener("click", () => void testAccount(account, test, result));
    const edit = /** @type {HTMLButtonElement} */ (fragment.querySelector(".edit"));
    edit.setAttribute("aria-label", `Edit account ${account.id}`);
    edit.addEventListener("click", () => editAccount(index));
    const drop = /** @type {HTMLButtonElement} */ (fragment.querySelector(".remove"));
    drop.setAttribute("aria-label", `Remove account ${account.id}`);
    drop.addEventListener("click", () => confirmRemove("account", index));
    items.push(fragment);
  }
  $("accounts").replaceChildren(...items);
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
  $("setup-card").hidden = false;
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

$("add-account").addEventListener("click", () => void whenLoaded(() => editAccount(-1)));
$("add-record").addEventListener("click", () => void whenLoaded(() => editRecord(-1)));
$("editor-cancel").addEventListener("click", closeEditor);
