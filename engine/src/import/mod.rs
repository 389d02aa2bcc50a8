//! Moving over from another dynamic DNS client: its config becomes Dyntray accounts and
//! records, and what it last sent becomes the address last accepted for each record, so
//! that the first pass after the switch sends nothing when the address did not change.
//!
//! One module per client ([`ddclient`], [`inadyn`]). A parser never guesses: what it cannot map is
//! listed with its line number and the reason ([`Import::problems`]), and what it did map
//! is listed line by line ([`Import::mappings`]). Passwords never go into the config: each
//! imported account keeps its password here, for the caller to put in the keychain.

pub mod ddclient;
pub mod inadyn;
mod offer;

pub use offer::{
    Client, ImportReport, LoadError, Loaded, Offer, Preview, PreviewAccount, PreviewRecord,
    SetByHand, Sources, command, load, read_foreign, stop_hint,
};

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use crate::config::{Account, Config, Record, SecretRef};
use crate::config_edit::{self, ConfigEdit, EditError, RecordId};
use crate::record::RecordState;
use crate::secrets::Secret;
use crate::state::{HistoryEntry, StateError, StateStore, Timestamp};

/// The largest config or cache file read (ddclient's own files are a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The most host entries one import takes; more are reported, not imported.
pub const MAX_HOSTS: usize = 1000;

/// An imported account: a Dyntray account plus the password the other client had.
#[derive(Debug, Clone)]
pub struct ImportedAccount {
    /// The account as it goes into the config (secret = keychain).
    pub account: Account,
    /// The password to store in the keychain under the account id, when the other client's
    /// password is the credential Dyntray needs.
    pub secret: Option<Secret>,
    /// Why the user must set the secret by hand (`dyntrayd secret set ID`), when so.
    pub secret_note: Option<String>,
    /// The line of the other client's config the account comes from.
    pub line: usize,
}

/// An address the other client last had accepted for a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAddress {
    /// The record's state key (`account/name/A`).
    pub key: String,
    /// The address.
    pub address: IpAddr,
    /// When the provider accepted it (seconds since the epoch).
    pub at: Timestamp,
    /// The line of the cache file.
    pub line: usize,
}

/// One line of the other client's config and what it became.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mapping {
    /// The line (1-based).
    pub line: usize,
    /// What the other client had.
    pub from: String,
    /// What Dyntray has now.
    pub to: String,
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unmapped {
    /// Which file (`config` or `cache`).
    pub file: &'static str,
    /// The line (1-based; 0 for the file as a whole).
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The result of reading another client's files.
#[derive(Debug, Clone, Default)]
pub struct Import {
    /// The accounts, in the order of the other client's config.
    pub accounts: Vec<ImportedAccount>,
    /// The records.
    pub records: Vec<Record>,
    /// The IPv4 address sources all imported hosts share, when the config named them.
    pub ipv4_sources: Option<Vec<String>>,
    /// The IPv6 address sources, likewise.
    pub ipv6_sources: Option<Vec<String>>,
    /// The addresses last accepted, from the other client's cache.
    pub cached: Vec<CachedAddress>,
    /// What mapped to what.
    pub mappings: Vec<Mapping>,
    /// What was not imported.
    pub problems: Vec<Unmapped>,
}

/// Why an import cannot be merged into the config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The config already has accounts with these ids.
    #[error(
        "the Dyntray config already has account(s) {}: pass --replace to replace them, or remove them first",
        .0.join(", ")
    )]
    Exists(Vec<String>),
    /// The config file could not be edited.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The result does not pass Dyntray's own checks (nothing was written).
    #[error("the imported config would not be valid:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
}

impl Import {
    /// The accounts and records (and address sources) alone, as a config file of their own:
    /// what `--dry-run` shows.
    pub fn to_toml(&self) -> Result<String, ImportError> {
        self.merge_into("", false)
    }

    /// Merges the import into config `text` through the config edits (comments and layout
    /// of the rest of the file kept). Refuses ([`ImportError::Exists`]) when an account id
    /// is taken, unless `replace`: then those accounts and their same-named records are
    /// replaced. The result is checked as any config is; nothing is returned that does
    /// not pass.
    pub fn merge_into(&self, text: &str, replace: bool) -> Result<String, ImportError> {
        let existing = if text.trim().is_empty() {
            Config::default()
        } else {
            Config::parse(text).map_err(|problems| {
                ImportError::Invalid(
                    problems
                        .iter()
                        .map(|p| format!("the current config: {p}"))
                        .collect(),
                )
            })?
        };
        let taken: Vec<String> = self
            .accounts
            .iter()
            .filter(|a| existing.accounts.iter().any(|e| e.id == a.account.id))
            .map(|a| a.account.id.clone())
            .collect();
        if !taken.is_empty() && !replace {
            return Err(ImportError::Exists(taken));
        }
        let mut text = if text.trim().is_empty() {
            format!("version = {}\n", crate::config::CURRENT_VERSION)
        } else {
            text.to_owned()
        };
        for imported in &self.accounts {
            let id = taken
                .contains(&imported.account.id)
                .then(|| imported.account.id.clone());
            text = config_edit::apply(
                &text,
                &ConfigEdit::UpsertAccount {
                    id,
                    account: Box::new(imported.account.clone()),
                },
            )?;
        }
        for record in &self.records {
            let present = existing
                .records
                .iter()
                .any(|r| r.account == record.account && r.name == record.name);
            let id = present.then(|| RecordId {
                account: record.account.clone(),
                name: record.name.clone(),
            });
            text = config_edit::apply(
                &text,
                &ConfigEdit::UpsertRecord {
                    id,
                    record: Box::new(record.clone()),
                },
            )?;
        }
        if self.ipv4_sources.is_some() || self.ipv6_sources.is_some() {
            let ipv4 = self
                .ipv4_sources
                .clone()
                .unwrap_or_else(|| spec_strings(&existing.detect.ipv4));
            let ipv6 = self
                .ipv6_sources
                .clone()
                .unwrap_or_else(|| spec_strings(&existing.detect.ipv6));
            text = config_edit::apply(
                &text,
                &ConfigEdit::SetDetect {
                    ipv4,
                    ipv6,
                    agree: u32::try_from(existing.detect.agree).unwrap_or(u32::MAX),
                },
            )?;
        }
        match Config::parse(&text) {
            Ok(config) => {
                let problems = crate::engine::check_against_registry(&config);
                if !problems.is_empty() {
                    return Err(ImportError::Invalid(
                        problems.iter().map(ToString::to_string).collect(),
                    ));
                }
            }
            Err(problems) => {
                return Err(ImportError::Invalid(
                    problems.iter().map(ToString::to_string).collect(),
                ));
            }
        }
        Ok(text)
    }

    /// Moves every account (with its records and cached addresses) that Dyntray's own
    /// checks refuse into [`Import::problems`], with the checks' words, so that one odd
    /// value does not stop the rest from being imported.
    pub fn drop_invalid(&mut self) {
        let mut index = 0;
        while index < self.accounts.len() {
            let id = self.accounts[index].account.id.clone();
            let alone = Import {
                accounts: vec![self.accounts[index].clone()],
                records: self
                    .records
                    .iter()
                    .filter(|r| r.account == id)
                    .cloned()
                    .collect(),
                ..Import::default()
            };
            match alone.to_toml() {
                Ok(_) => index += 1,
                Err(e) => {
                    let line = self.accounts[index].line;
                    // Lines of the generated text mean nothing to the user: left out.
                    let why = match &e {
                        ImportError::Invalid(problems) => problems
                            .iter()
                            .map(|p| match p.split_once(": ") {
                                Some((head, rest)) if head.starts_with("line ") => rest,
                                _ => p.as_str(),
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    };
                    self.problems.push(Unmapped {
                        file: "config",
                        line,
                        reason: format!("account {id} not imported, Dyntray refuses it: {why}"),
                    });
                    self.accounts.remove(index);
                    self.records.retain(|r| r.account != id);
                    let of = format!(" of {id}");
                    let account = format!("account {id} ");
                    self.mappings
                        .retain(|m| !m.to.starts_with(&account) && !m.to.contains(&of));
                    let prefix = format!("{id}/");
                    self.cached.retain(|c| !c.key.starts_with(&prefix));
                }
            }
        }
    }

    /// Records each cached address as the one last accepted for its record, with a history
    /// entry classified `imported`. A record the store already knows (it has an accepted
    /// address or any attempt) is left alone. Returns the keys written.
    pub fn write_state(
        &self,
        store: &mut StateStore,
        from: &str,
    ) -> Result<Vec<String>, ImportError> {
        let mut written = Vec::new();
        for cached in &self.cached {
            let mut state: RecordState = store.record(&cached.key)?;
            if state.last_address().is_some() || state.last_attempt_at().is_some() {
                continue;
            }
            state.imported(cached.address, cached.at);
            store.finish(
                &state,
                &HistoryEntry {
                    at: cached.at,
                    record: cached.key.clone(),
                    address: Some(cached.address.to_string()),
                    answer: format!("imported from {from}'s cache"),
                    classification: "imported".to_owned(),
                },
            )?;
            written.push(cached.key.clone());
        }
        Ok(written)
    }

    /// A plain-text table: each mapped line, then each line not imported.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = self
            .mappings
            .iter()
            .map(|m| m.from.chars().count())
            .max()
            .unwrap_or(0)
            .min(60);
        if !self.mappings.is_empty() {
            let _ = writeln!(out, "Imported:");
        }
        for m in &self.mappings {
            let line = if m.line == 0 {
                " ".repeat(9)
            } else {
                format!("line {:>4}", m.line)
            };
            let _ = writeln!(out, "  {line}  {:<width$}  ->  {}", m.from, m.to);
        }
        if !self.problems.is_empty() {
            let _ = writeln!(out, "Not imported:");
        }
        for p in &self.problems {
            if p.line == 0 {
                let _ = writeln!(out, "  {}: {}", p.file, p.reason);
            } else {
                let _ = writeln!(out, "  {} line {:>4}: {}", p.file, p.line, p.reason);
            }
        }
        out
    }
}

/// Writes merged config text atomically (owner-only), as every config save does.
pub fn write_config(path: &std::path::Path, text: &str) -> Result<(), crate::config::ConfigError> {
    crate::config::write_text(path, text)
}

fn spec_strings(specs: &[crate::detect::SourceSpec]) -> Vec<String> {
    specs.iter().map(ToString::to_string).collect()
}

/// A fresh account id for `base` that none of `taken` has: `base`, `base-2`, `base-3`...
pub(crate) fn unique_id(base: &str, taken: &BTreeSet<String>) -> String {
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(56)
        .collect();
    let clean = if clean.is_empty() {
        "imported".to_owned()
    } else {
        clean
    };
    if !taken.contains(&clean) {
        return clean;
    }
    (2..)
        .map(|n| format!("{clean}-{n}"))
        .find(|id| !taken.contains(id))
        .unwrap_or(clean)
}

/// An account with the keychain as its secret and no provider settings.
pub(crate) fn new_account(id: String, provider: &str, username: String) -> Account {
    Account {
        id,
        provider: provider.to_owned(),
        username,
        secret: SecretRef::Keychain,
        server: None,
        keepalive: None,
        settings: Default::default(),
        line: 0,
        key_lines: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_ids_count_up_and_stay_valid() {
        let mut taken = BTreeSet::new();
        assert_eq!(unique_id("dyndns", &taken), "dyndns");
        taken.insert("dyndns".to_owned());
        assert_eq!(unique_id("dyndns", &taken), "dyndns-2");
        taken.insert("dyndns-2".to_owned());
        assert_eq!(unique_id("dyndns", &taken), "dyndns-3");
        assert_eq!(unique_id("a b@c", &taken), "a-b-c");
        assert_eq!(unique_id("", &taken), "imported");
    }
}
