//! Moving over from another client inside the running engine: finding its config, and
//! applying an import in the actor, which owns the config and the state, so that the
//! addresses the other client had accepted are the accepted ones before any pass runs.

use super::{Engine, EngineError, ImportAsk};
use crate::config::Config;
use crate::import::{self, Client, ImportError, ImportReport, Offer, SetByHand};
use crate::secrets::{self, SecretSource};

impl Engine {
    /// The config file's text ("" when there is none).
    fn config_text(&self) -> Result<String, EngineError> {
        match self.config_bytes()? {
            None => Ok(String::new()),
            Some(bytes) => String::from_utf8(bytes).map_err(|_| {
                EngineError::Config(format!(
                    "{} is not UTF-8 text; fix it by hand first, it is not overwritten",
                    self.config_path.display()
                ))
            }),
        }
    }

    /// Every other client's config found, with a preview or why it cannot be read.
    pub(super) fn find_imports(&self) -> Result<Vec<Offer>, EngineError> {
        let current = self.config_text().unwrap_or_default();
        let now = self.clock.now();
        Ok(Client::ALL
            .into_iter()
            .filter_map(|client| {
                Offer::find(client, &self.import_sources, now, |found| {
                    found
                        .merge_into(&current, false)
                        .err()
                        .map(|e| e.to_string())
                })
            })
            .collect())
    }

    /// Imports another client's files (see [`super::EngineHandle::apply_import`]).
    pub(super) fn apply_import(&mut self, ask: &ImportAsk) -> Result<ImportReport, EngineError> {
        let client = ask.client;
        let name = client.name();
        let file = ask
            .file
            .clone()
            .unwrap_or_else(|| self.import_sources.config(client));
        let cache = ask
            .cache
            .clone()
            .unwrap_or_else(|| self.import_sources.cache(client));
        // A cache that is not there (or cannot be read) means every name is sent once,
        // as the offer's preview said.
        let loaded = import::load(client, &file, &cache, false, self.clock.now())
            .map_err(|e| EngineError::NotFound(e.to_string()))?;
        let found = loaded.import;
        if found.accounts.is_empty() {
            return Err(EngineError::NotFound(format!(
                "{} names no host Dyntray can update; nothing was imported",
                file.display()
            )));
        }
        let bytes = self.config_bytes()?;
        if crate::config_edit::revision(bytes.as_deref()) != ask.revision {
            return Err(EngineError::Stale(
                "The config changed since this window read it (by hand, or in another \
                 window), so nothing was imported. It has been read again: look at it and \
                 import once more."
                    .into(),
            ));
        }
        let current = self.config_text()?;
        let merged = found
            .merge_into(&current, ask.replace)
            .map_err(|e| match e {
                ImportError::Invalid(problems) => EngineError::Config(problems.join("; ")),
                other => EngineError::Config(other.to_string()),
            })?;
        let config = Config::parse(&merged).map_err(EngineError::Invalid)?;

        // Secrets first, then the accepted addresses, then the config that names the
        // records: whatever fails part-way leaves nothing that can send.
        let mut set_by_hand = Vec::new();
        for account in &found.accounts {
            let id = &account.account.id;
            let provider_name = crate::provider::lookup(&account.account.provider)
                .map(|p| p.descriptor().name.to_owned())
                .unwrap_or_else(|| account.account.provider.clone());
            match (&account.secret, &account.secret_note) {
                (Some(secret), _) if !ask.no_secrets => {
                    secrets::store(self.secrets.as_ref(), id, &SecretSource::Keychain, secret)
                        .map_err(|e| {
                            EngineError::Storage(format!(
                                "storing the password of `{id}` failed, nothing was imported: {e}"
                            ))
                        })?;
                }
                (_, note) => set_by_hand.push(SetByHand {
                    account: id.clone(),
                    provider_name,
                    note: note
                        .clone()
                        .unwrap_or_else(|| format!("enter the password of `{id}` by hand")),
                }),
            }
        }
        let addresses = found
            .write_state(&mut self.store, name)
            .map_err(|e| EngineError::Storage(e.to_string()))?;
        crate::config::write_text(&self.config_path, &merged)
            .map_err(|e| EngineError::Config(e.to_string()))?;
        let revision = crate::config_edit::revision(Some(merged.as_bytes()));
        tracing::info!(
            client = name,
            accounts = found.accounts.len(),
            records = found.records.len(),
            addresses = addresses.len(),
            path = %self.config_path.display(),
            "imported"
        );
        self.use_config(revision.clone(), config);
        Ok(ImportReport {
            client,
            accounts: found
                .accounts
                .iter()
                .map(|a| a.account.id.clone())
                .collect(),
            names: found.records.iter().map(|r| r.name.clone()).collect(),
            addresses,
            set_by_hand,
            revision,
            stop_hint: import::stop_hint(client),
        })
    }
}
