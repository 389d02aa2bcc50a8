//! Edits to the config file, applied to its TOML document in place.
//!
//! The settings window once saved a whole copy of the config it had read when it
//! opened: a change made since then (in another view, in another window, or by hand) was
//! reverted, and every save dropped the comments and layout of a hand-edited file. Now a
//! client sends one edit (a `[general]` key, the address sources, one account, one record)
//! together with the
//! revision of the file it was based on. An edit based on an older revision is refused,
//! never merged blindly; an edit that applies changes only the table it names, keeping
//! comments, key order and formatting everywhere else byte for byte.

use serde::{Deserialize, Serialize};
use sha2::Digest;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

use crate::config::{Account, Record, account_table, record_table};

/// The revision of a config file: a digest of its bytes (`"none"` when there is no file).
pub fn revision(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "none".to_owned(),
        Some(bytes) => {
            let digest = sha2::Sha256::digest(bytes);
            data_encoding::HEXLOWER.encode(&digest[..12])
        }
    }
}

/// Which record an edit is about: records are named by account and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordId {
    /// The record's account id.
    pub account: String,
    /// The record's name.
    pub name: String,
}

/// One change to the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConfigEdit {
    /// Sets one `[general]` key (`poll_interval`, `notify_success`, `offline_on_quit`).
    SetGeneral {
        /// The key.
        key: String,
        /// Its new value (a string or a boolean).
        value: serde_json::Value,
    },
    /// Adds an account (`id: None`) or replaces the one with this id; a new id renames
    /// it, and its records follow.
    UpsertAccount {
        /// The account's id before this edit.
        id: Option<String>,
        /// The account as it should be.
        account: Box<Account>,
    },
    /// Removes an account.
    RemoveAccount {
        /// Its id.
        id: String,
    },
    /// Adds a record (`id: None`) or replaces the one named.
    UpsertRecord {
        /// The record before this edit.
        id: Option<RecordId>,
        /// The record as it should be.
        record: Box<Record>,
    },
    /// Removes a record.
    RemoveRecord {
        /// The record.
        id: RecordId,
    },
    /// Sets where the public addresses come from: `[detect]`'s `ipv4` and `ipv6` source
    /// lists (an empty list turns that family off) and `agree`. Every other key of
    /// `[detect]` (`allow_plain_http`) stays as the file has it. The sources are the
    /// strings a user would write by hand, checked as a hand edit is: a bad one is named
    /// by its key (`detect.ipv4[2]`).
    SetDetect {
        /// The IPv4 sources, in the order they are asked.
        ipv4: Vec<String>,
        /// The IPv6 sources, in the order they are asked.
        ipv6: Vec<String>,
        /// How many sources must agree (1 to 5).
        agree: u32,
    },
}

/// Why an edit could not be applied to the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// The file is not TOML; it is kept as it is.
    #[error("the config file does not parse ({0}); fix it by hand first, it is not overwritten")]
    Unreadable(String),
    /// The edit names something the file does not have.
    #[error("{0}")]
    NotFound(String),
    /// The edit itself is not allowed.
    #[error("{0}")]
    Invalid(String),
}

/// The keys of `[general]` an edit may set, with the kind of value each takes.
const GENERAL_KEYS: &[(&str, GeneralKind)] = &[
    ("poll_interval", GeneralKind::Text),
    ("notify_success", GeneralKind::Bool),
    ("offline_on_quit", GeneralKind::Bool),
];

#[derive(Clone, Copy)]
enum GeneralKind {
    Text,
    Bool,
}

/// Applies `edit` to config `text` (empty for a file that does not exist yet) and
/// returns the new text. Only the table the edit names changes. The result is not
/// validated here: the caller checks it as it checks any config file.
pub fn apply(text: &str, edit: &ConfigEdit) -> Result<String, EditError> {
    let source = if text.trim().is_empty() {
        "version = 1\n"
    } else {
        text
    };
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Unreadable(e.message().trim().to_owned()))?;
    match edit {
        ConfigEdit::SetGeneral { key, value } => set_general(&mut doc, key, value)?,
        ConfigEdit::UpsertAccount { id, account } => {
            let table = account_table(&from_form(account));
            let index = match id {
                Some(old) => Some(
                    find(&doc, "account", |t| text_of(t, "id") == Some(old)).ok_or_else(|| {
                        EditError::NotFound(format!("no account `{old}` in the file"))
                    })?,
                ),
                None => None,
            };
            upsert(&mut doc, "account", index, table);
            if let Some(old) = id.as_deref().filter(|old| *old != account.id) {
                rename_account(&mut doc, old, &account.id);
            }
        }
        ConfigEdit::RemoveAccount { id } => {
            let index = find(&doc, "account", |t| text_of(t, "id") == Some(id))
                .ok_or_else(|| EditError::NotFound(format!("no account `{id}` in the file")))?;
            remove(&mut doc, "account", index);
        }
        ConfigEdit::UpsertRecord { id, record } => {
            let index = match id {
                Some(old) => Some(find_record(&doc, old)?),
                None => None,
            };
            upsert(&mut doc, "record", index, record_table(record));
        }
        ConfigEdit::RemoveRecord { id } => {
            let index = find_record(&doc, id)?;
            remove(&mut doc, "record", index);
        }
        ConfigEdit::SetDetect { ipv4, ipv6, agree } => set_detect(&mut doc, ipv4, ipv6, *agree)?,
    }
    Ok(doc.to_string())
}

/// The account with its provider settings in the kinds the file holds: the settings form
/// sends every input as text (a TTL of `"60"`), the file wants `ttl = 60`.
fn from_form(account: &Account) -> Account {
    let Some(provider) = crate::provider::lookup(&account.provider) else {
        return account.clone();
    };
    let mut account = account.clone();
    for (key, value) in account.settings.iter_mut() {
        *value = crate::provider::settings::from_form(provider.descriptor(), key, value);
    }
    account
}

fn set_general(
    doc: &mut DocumentMut,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), EditError> {
    let Some((_, kind)) = GENERAL_KEYS.iter().find(|(k, _)| *k == key) else {
        let known: Vec<&str> = GENERAL_KEYS.iter().map(|(k, _)| *k).collect();
        return Err(EditError::Invalid(format!(
            "`general.{key}` cannot be set here; the keys are {}",
            known.join(", ")
        )));
    };
    let new = match (kind, value) {
        (GeneralKind::Text, serde_json::Value::String(s)) => Value::from(s.as_str()),
        (GeneralKind::Bool, serde_json::Value::Bool(b)) => Value::from(*b),
        (GeneralKind::Text, _) => {
            return Err(EditError::Invalid(format!(
                "`general.{key}` takes a string"
            )));
        }
        (GeneralKind::Bool, _) => {
            return Err(EditError::Invalid(format!(
                "`general.{key}` takes true or false"
            )));
        }
    };
    if !doc.contains_key("general") {
        let mut general = Table::new();
        general.decor_mut().set_prefix("\n");
        doc.insert("general", Item::Table(general));
    }
    let Some(general) = doc.get_mut("general").and_then(Item::as_table_like_mut) else {
        return Err(EditError::Invalid(
            "`general` is not a table in the file".into(),
        ));
    };
    set_value(general, key, new);
    Ok(())
}

fn set_detect(
    doc: &mut DocumentMut,
    ipv4: &[String],
    ipv6: &[String],
    agree: u32,
) -> Result<(), EditError> {
    if !doc.contains_key("detect") {
        let mut detect = Table::new();
        detect.decor_mut().set_prefix("\n");
        doc.insert("detect", Item::Table(detect));
    }
    let Some(detect) = doc.get_mut("detect").and_then(Item::as_table_like_mut) else {
        return Err(EditError::Invalid(
            "`detect` is not a table in the file".into(),
        ));
    };
    set_sources(detect, "ipv4", ipv4);
    set_sources(detect, "ipv6", ipv6);
    set_value(detect, "agree", Value::from(i64::from(agree)));
    Ok(())
}

/// Sets a list of sources. A list the user spread over lines stays spread: each source
/// that was there keeps its own comments and moves with them, a new one gets the
/// list's indentation. A one-line list is written afresh on one line.
fn set_sources(table: &mut dyn toml_edit::TableLike, key: &str, sources: &[String]) {
    let old = table.get(key).and_then(Item::as_array);
    let prefix = |value: &Value| {
        value
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let multiline = old.is_some_and(|old| {
        old.iter().any(|v| prefix(v).contains('\n'))
            || old.trailing().as_str().is_some_and(|t| t.contains('\n'))
    });
    let mut array = Array::new();
    match old {
        Some(old) if multiline && !sources.is_empty() => {
            // The indentation of the last source: what follows its last line break.
            let indent = old
                .iter()
                .last()
                .map(prefix)
                .and_then(|p| p.rsplit_once('\n').map(|(_, tail)| format!("\n{tail}")))
                .unwrap_or_else(|| "\n  ".to_owned());
            for source in sources {
                let mut value = Value::from(source.as_str());
                match old.iter().find(|v| v.as_str() == Some(source.as_str())) {
                    Some(kept) => *value.decor_mut() = kept.decor().clone(),
                    None => value.decor_mut().set_prefix(indent.as_str()),
                }
                array.push_formatted(value);
            }
            array.set_trailing(old.trailing().clone());
            array.set_trailing_comma(old.trailing_comma());
        }
        _ => {
            array.extend(sources.iter().map(String::as_str));
            array.fmt();
        }
    }
    set_value(table, key, Value::Array(array));
}

/// Sets `key` to `new`, keeping the key's place and the comments around its old value.
fn set_value(table: &mut dyn toml_edit::TableLike, key: &str, mut new: Value) {
    match table.get_mut(key) {
        Some(item) => {
            if let Some(old) = item.as_value() {
                *new.decor_mut() = old.decor().clone();
            }
            *item = Item::Value(new);
        }
        None => {
            table.insert(key, Item::Value(new));
        }
    }
}

fn text_of<'t>(table: &'t Table, key: &str) -> Option<&'t str> {
    table.get(key).and_then(Item::as_str)
}

fn tables<'d>(doc: &'d DocumentMut, name: &str) -> Option<&'d ArrayOfTables> {
    doc.get(name).and_then(Item::as_array_of_tables)
}

fn find(doc: &DocumentMut, name: &str, matches: impl Fn(&Table) -> bool) -> Option<usize> {
    tables(doc, name)?.iter().position(matches)
}

fn find_record(doc: &DocumentMut, id: &RecordId) -> Result<usize, EditError> {
    find(doc, "record", |t| {
        text_of(t, "account") == Some(id.account.as_str())
            && text_of(t, "name").is_some_and(|n| n.eq_ignore_ascii_case(&id.name))
    })
    .ok_or_else(|| {
        EditError::NotFound(format!(
            "no record `{}` of account `{}` in the file",
            id.name, id.account
        ))
    })
}

/// Replaces the table at `index` key by key (keeping its header's comments and each
/// kept key's comments), or appends `new` as the last table of the array.
fn upsert(doc: &mut DocumentMut, name: &str, index: Option<usize>, new: Table) {
    if !doc.contains_key(name) {
        doc.insert(name, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let Some(array) = doc.get_mut(name).and_then(Item::as_array_of_tables_mut) else {
        return;
    };
    match index.and_then(|i| array.get_mut(i)) {
        Some(existing) => {
            let gone: Vec<String> = existing
                .iter()
                .map(|(k, _)| k.to_owned())
                .filter(|k| !new.contains_key(k))
                .collect();
            for key in gone {
                existing.remove(&key);
            }
            for (key, item) in new.iter() {
                if let Some(value) = item.as_value() {
                    set_value(existing, key, value.clone());
                }
            }
        }
        None => {
            let mut new = new;
            new.decor_mut().set_prefix("\n");
            array.push(new);
        }
    }
}

fn remove(doc: &mut DocumentMut, name: &str, index: usize) {
    let empty = match doc.get_mut(name).and_then(Item::as_array_of_tables_mut) {
        Some(array) => {
            array.remove(index);
            array.is_empty()
        }
        None => false,
    };
    if empty {
        doc.remove(name);
    }
}

/// The records of a renamed account follow it.
fn rename_account(doc: &mut DocumentMut, old: &str, new: &str) {
    let Some(records) = doc.get_mut("record").and_then(Item::as_array_of_tables_mut) else {
        return;
    };
    for record in records.iter_mut() {
        if text_of(record, "account") == Some(old) {
            set_value(record, "account", Value::from(new));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const HAND_WRITTEN: &str = "\
# My DDNS setup. Do not lose this comment.
version = 1

[general]
poll_interval = \"5m\"   # checked every five minutes
notify_success = false

# The home line.
[[account]]
id = \"home\"
provider = \"dyndns\"
username = \"alice\"      # my login
secret = \"keychain\"

[[record]]
name = \"a.example.org\"  # the main name
account = \"home\"

# An old name, kept on purpose.
[[record]]
name = \"b.example.org\"
account = \"home\"
wildcard = true
";

    fn config() -> Config {
        Config::parse(HAND_WRITTEN).unwrap()
    }

    #[test]
    fn setting_a_general_key_keeps_everything_else_byte_for_byte() {
        let edit = ConfigEdit::SetGeneral {
            key: "poll_interval".into(),
            value: "10m".into(),
        };
        let out = apply(HAND_WRITTEN, &edit).unwrap();
        assert_eq!(
            out,
            HAND_WRITTEN.replace("poll_interval = \"5m\"", "poll_interval = \"10m\"")
        );
        let edit = ConfigEdit::SetGeneral {
            key: "offline_on_quit".into(),
            value: true.into(),
        };
        let out = apply(&out, &edit).unwrap();
        assert!(
            out.contains("notify_success = false\noffline_on_quit = true\n"),
            "{out}"
        );
        assert!(out.starts_with("# My DDNS setup. Do not lose this comment.\n"));
        assert_eq!(
            Config::parse(&out).unwrap().general.poll_interval.as_secs(),
            600
        );
    }

    #[test]
    fn editing_one_record_changes_only_its_table() {
        let mut record = config().records[1].clone();
        record.wildcard = Some(false);
        record.mx = Some("mail.example.org".into());
        let edit = ConfigEdit::UpsertRecord {
            id: Some(RecordId {
                account: "home".into(),
                name: "b.example.org".into(),
            }),
            record: Box::new(record),
        };
        let out = apply(HAND_WRITTEN, &edit).unwrap();
        let (before, _) = HAND_WRITTEN.split_at(HAND_WRITTEN.find("wildcard = true").unwrap());
        assert!(out.starts_with(before), "{out}");
        assert!(out.contains("# An old name, kept on purpose.\n[[record]]\n"));
        assert!(out.contains("wildcard = false\n"), "{out}");
        assert!(out.contains("mx = \"mail.example.org\""), "{out}");
        let parsed = Config::parse(&out).unwrap();
        assert_eq!(parsed.records[1].mx.as_deref(), Some("mail.example.org"));
        assert_eq!(parsed.records.len(), 2);
    }

    #[test]
    fn accounts_are_added_renamed_and_removed_in_place() {
        let mut account = config().accounts[0].clone();
        account.id = "office".into();
        let added = apply(
            HAND_WRITTEN,
            &ConfigEdit::UpsertAccount {
                id: None,
                account: Box::new(account.clone()),
            },
        )
        .unwrap();
        // The new table goes after the last account; nothing else moves.
        let block = "\n[[account]]\nid = \"office\"\nprovider = \"dyndns\"\nusername = \"alice\"\n\
                     secret = \"keychain\"\n";
        assert!(
            added.contains(&format!("secret = \"keychain\"\n{block}\n[[record]]")),
            "{added}"
        );
        assert_eq!(added.replacen(block, "", 1), HAND_WRITTEN);
        assert_eq!(Config::parse(&added).unwrap().accounts.len(), 2);

        // Renaming keeps the key's comment, and the records follow.
        let renamed = apply(
            HAND_WRITTEN,
            &ConfigEdit::UpsertAccount {
                id: Some("home".into()),
                account: Box::new(account),
            },
        )
        .unwrap();
        assert!(
            renamed.contains("username = \"alice\"      # my login"),
            "{renamed}"
        );
        assert!(renamed.contains("# The home line.\n[[account]]\nid = \"office\""));
        let parsed = Config::parse(&renamed).unwrap();
        assert!(parsed.records.iter().all(|r| r.account == "office"));

        let removed = apply(
            HAND_WRITTEN,
            &ConfigEdit::RemoveRecord {
                id: RecordId {
                    account: "home".into(),
                    name: "A.EXAMPLE.ORG".into(),
                },
            },
        )
        .unwrap();
        assert!(!removed.contains("a.example.org"), "{removed}");
        assert!(removed.contains("# An old name, kept on purpose."));
        assert_eq!(Config::parse(&removed).unwrap().records.len(), 1);
    }

    #[test]
    fn edits_that_cannot_apply_say_why_and_change_nothing() {
        let missing = apply(
            HAND_WRITTEN,
            &ConfigEdit::RemoveAccount { id: "nope".into() },
        );
        assert_eq!(
            missing,
            Err(EditError::NotFound("no account `nope` in the file".into()))
        );
        let bad = apply(
            HAND_WRITTEN,
            &ConfigEdit::SetGeneral {
                key: "secret".into(),
                value: "x".into(),
            },
        );
        assert!(matches!(bad, Err(EditError::Invalid(m)) if m.contains("cannot be set")));
        let wrong_type = apply(
            HAND_WRITTEN,
            &ConfigEdit::SetGeneral {
                key: "notify_success".into(),
                value: "yes".into(),
            },
        );
        assert!(matches!(wrong_type, Err(EditError::Invalid(m)) if m.contains("true or false")));
        let broken = apply(
            "version = 1\n[general\n",
            &ConfigEdit::RemoveAccount { id: "a".into() },
        );
        assert!(
            matches!(broken, Err(EditError::Unreadable(_))),
            "{broken:?}"
        );
    }

    #[test]
    fn a_first_edit_makes_a_file() {
        let out = apply(
            "",
            &ConfigEdit::UpsertAccount {
                id: None,
                account: Box::new(config().accounts[0].clone()),
            },
        )
        .unwrap();
        let parsed = Config::parse(&out).unwrap();
        assert_eq!(parsed.accounts[0].id, "home");
        assert_eq!(revision(None), "none");
        assert_ne!(revision(Some(b"a")), revision(Some(b"b")));
    }

    fn set_detect(ipv4: &[&str], ipv6: &[&str], agree: u32) -> ConfigEdit {
        ConfigEdit::SetDetect {
            ipv4: ipv4.iter().map(|s| (*s).to_owned()).collect(),
            ipv6: ipv6.iter().map(|s| (*s).to_owned()).collect(),
            agree,
        }
    }

    /// The problems' keys and messages of a config that does not parse.
    fn problems(text: &str) -> Vec<(String, String)> {
        Config::parse(text)
            .unwrap_err()
            .into_iter()
            .map(|p| (p.key, p.message))
            .collect()
    }

    #[test]
    fn setting_the_sources_changes_only_those_keys_and_keeps_comments() {
        let example = crate::config::EXAMPLE;
        let edit = set_detect(&["dns:opendns", "https://api.ipify.org", "upnp"], &[], 1);
        let out = apply(example, &edit).unwrap();
        // Everything before the lists and after `agree` is the user's, byte for byte.
        let head = &example[..example.find("ipv4 = [").unwrap()];
        let tail = &example[example.find("# plain http:// URLs").unwrap()..];
        assert!(out.starts_with(head), "{out}");
        assert!(out.ends_with(tail), "{out}");
        assert!(out.contains("# Address sources, tried in this order"));
        assert!(
            out.contains("ipv4 = [\"dns:opendns\", \"https://api.ipify.org\", \"upnp\"]\n"),
            "{out}"
        );
        // The comment after a value stays with its key.
        assert!(
            out.contains("ipv6 = []        # echo services would see"),
            "{out}"
        );
        assert!(
            out.contains("agree = 1                   # how many"),
            "{out}"
        );
        let parsed = Config::parse(&out).unwrap().detect;
        assert_eq!(parsed.ipv4.len(), 3);
        assert!(parsed.ipv4[2] == "upnp");
        assert!(parsed.ipv6.is_empty());
        assert_eq!(parsed.agree, 1);
        assert!(!parsed.allow_plain_http);
    }

    #[test]
    fn a_list_spread_over_lines_keeps_each_sources_comment() {
        let text = "version = 1\n\n[detect]\nipv4 = [\n  \"https://api.ipify.org\",\n  \
                    # my router, asked last\n  \"upnp\",\n]\nallow_plain_http = true\n";
        let out = apply(
            text,
            &set_detect(
                &["upnp", "https://api.ipify.org", "interface:eth0"],
                &["interface"],
                2,
            ),
        )
        .unwrap();
        assert_eq!(
            out,
            "version = 1\n\n[detect]\nipv4 = [\n  # my router, asked last\n  \"upnp\",\n  \
             \"https://api.ipify.org\",\n  \"interface:eth0\",\n]\nallow_plain_http = true\n\
             ipv6 = [\"interface\"]\nagree = 2\n"
        );
        assert!(Config::parse(&out).unwrap().detect.allow_plain_http);
    }

    #[test]
    fn a_file_without_detect_gets_one() {
        let out = apply(HAND_WRITTEN, &set_detect(&["interface"], &["interface"], 1)).unwrap();
        assert!(out.starts_with(HAND_WRITTEN), "{out}");
        assert!(
            out.ends_with(
                "\n[detect]\nipv4 = [\"interface\"]\nipv6 = [\"interface\"]\nagree = 1\n"
            ),
            "{out}"
        );
        assert_eq!(Config::parse(&out).unwrap().detect.agree, 1);
    }

    #[test]
    fn bad_sources_are_named_by_their_key_as_in_a_hand_edit() {
        let out = apply(
            HAND_WRITTEN,
            &set_detect(
                &[
                    "https://api.ipify.org",
                    "dns:opendns",
                    "http://checkip.example/",
                    "",
                ],
                &["interface", "upnp"],
                2,
            ),
        )
        .unwrap();
        let found = problems(&out);
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["detect.ipv4[2]", "detect.ipv4[3]", "detect.ipv6[1]"],
            "{found:?}"
        );
        assert!(found[0].1.contains("plain http://"), "{found:?}");
        assert!(found[2].1.contains("cannot be an IPv6 source"), "{found:?}");
    }

    #[test]
    fn agree_is_one_to_five() {
        for (agree, ok) in [
            (0, false),
            (1, true),
            (5, true),
            (6, false),
            (u32::MAX, false),
        ] {
            let out = apply(HAND_WRITTEN, &set_detect(&["dns:opendns"], &[], agree)).unwrap();
            if ok {
                assert_eq!(Config::parse(&out).unwrap().detect.agree, agree as usize);
            } else {
                let found = problems(&out);
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].0, "detect.agree", "{found:?}");
                assert!(found[0].1.contains("1 to 5"), "{found:?}");
            }
        }
    }

    #[test]
    fn the_edit_travels_as_json_with_its_op() {
        let edit: ConfigEdit = serde_json::from_str(
            r#"{"op": "set_detect", "ipv4": ["dns:google"], "ipv6": [], "agree": 1}"#,
        )
        .unwrap();
        assert_eq!(edit, set_detect(&["dns:google"], &[], 1));
        assert!(
            serde_json::from_str::<ConfigEdit>(
                r#"{"op": "set_detect", "ipv4": [], "ipv6": [], "agree": -1}"#
            )
            .is_err()
        );
    }
}
