//! Record state that outlives the process: recovery at start, switches, re-enabling.

use super::*;

impl Engine {
    /// Intents left by a run that died before recording their answers (see
    /// `docs/recovery.md`). One whose connection never opened never left the machine:
    /// it is sent at the first check, as if the run had not been interrupted. One whose
    /// connection opened may have reached the provider: it is sent once more at start
    /// (providers accept one unchanged update at a client's start), and its `nochg` is not
    /// counted; providers that can read the record read it first and write nothing when it
    /// already holds the address. Both are marked in history.
    pub(super) fn recover(&mut self) -> Result<(), EngineError> {
        for pending in self.store.take_pending()? {
            let mut state = self.store.record(&pending.record)?;
            let answer = if pending.sent {
                tracing::warn!(record = %pending.record, address = %pending.address,
                    "the last run stopped after sending an update, before its answer; \
                     sending it once more to settle it");
                state.interrupted();
                "Dyntray stopped after this update was sent, before the provider's answer \
                 was recorded; it is sent once more at start to be sure"
            } else {
                tracing::warn!(record = %pending.record, address = %pending.address,
                    "the last run stopped before an update left; sending it now");
                "Dyntray stopped before this update left the machine; it is sent at the \
                 next check"
            };
            let entry = HistoryEntry {
                at: self.clock.now(),
                record: pending.record.clone(),
                address: Some(pending.address.to_string()),
                answer: answer.into(),
                classification: if pending.sent {
                    "interrupted"
                } else {
                    "not-sent"
                }
                .into(),
            };
            self.store.finish(&state, &entry)?;
        }
        Ok(())
    }

    pub(super) fn load_flags(&mut self) {
        self.paused = self.store.paused();
        self.offline = self.store.offline();
    }

    pub(super) fn save_flags(&mut self) {
        if let Err(e) = self.store.set_switches(self.paused, self.offline) {
            tracing::error!(error = %e, "cannot save the paused/offline switches");
        }
    }

    pub(super) fn re_enable(&mut self, records: &[String]) -> Result<(), EngineError> {
        let keys = records
            .iter()
            .map(|record| {
                self.resolve_key(record)
                    .ok_or_else(|| EngineError::NotFound(format!("no record `{record}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for key in keys {
            self.store.re_enable(&key)?;
            tracing::info!(record = %key, "re-enabled by the user");
        }
        Ok(())
    }

    /// See [`EngineHandle::check_account`].
    pub(super) async fn check_account(
        &mut self,
        account: &str,
    ) -> Result<provider::CheckResult, EngineError> {
        let Some(acc) = self.accounts.iter().find(|a| a.id == account) else {
            return Err(EngineError::NotFound(format!("no account `{account}`")));
        };
        let provider = acc.provider;
        let (store, id, source) = (
            Arc::clone(&self.secrets),
            acc.id.clone(),
            acc.secret.clone(),
        );
        let secret =
            tokio::task::spawn_blocking(move || secrets::resolve(store.as_ref(), &id, &source))
                .await
                .map_err(|e| EngineError::Storage(format!("the keychain look-up failed: {e}")))?
                .map_err(|e| EngineError::Storage(e.to_string()))?;
        let request = UpdateRequest {
            server: acc.server.clone(),
            default_server: acc.default_server,
            username: acc.username.clone(),
            secret,
            publish: Publish::Offline,
            options: RecordOptions::default(),
            items: Vec::new(),
            allow_plain_http: acc.allow_plain_http,
            settings: acc.prepared.clone(),
            other_family: None,
            departure: crate::departure::Departure::default(),
            joint: None,
        };
        let Some(check) = provider.check(&self.http, &request) else {
            return Err(EngineError::Unsupported(format!(
                "{} has no way to check a login without an update",
                provider.descriptor().name
            )));
        };
        let mut result = check.await;
        result.message = crate::text::visible(&result.message);
        tracing::info!(account = %account, ok = result.ok, "account checked");
        Ok(result)
    }

    pub(super) fn set_secret(&mut self, account: &str, secret: &Secret) -> Result<(), EngineError> {
        let Some(index) = self.accounts.iter().position(|a| a.id == account) else {
            return Err(EngineError::NotFound(format!("no account `{account}`")));
        };
        secrets::store(
            self.secrets.as_ref(),
            account,
            &self.accounts[index].secret,
            secret,
        )
        .map_err(|e| EngineError::Storage(e.to_string()))?;
        // Records refused for bad credentials get another chance with the new secret.
        if let Some(config) = &self.config {
            credentials_changed(&mut self.store, config, account)?;
        }
        self.notes
            .retain(|_, note| !note.contains(&format!("`{account}`")));
        Ok(())
    }
}

/// The meta key of the fingerprint of an account's refused secret.
pub(super) fn secret_fingerprint_key(account: &str) -> String {
    format!("refused_secret/{account}")
}

/// After an account's secret changed: its records that the provider refused for bad
/// credentials may be sent again. Returns how many were re-enabled.
pub fn credentials_changed(
    store: &mut StateStore,
    config: &Config,
    account: &str,
) -> Result<usize, StateError> {
    let mut count = 0;
    let descriptor = config
        .accounts
        .iter()
        .find(|a| a.id == account)
        .and_then(|a| provider::lookup(&a.provider))
        .map(|p| p.descriptor());
    let Some(descriptor) = descriptor else {
        return Ok(0);
    };
    for record in config.records.iter().filter(|r| r.account == account) {
        for key in record_keys(record) {
            let mut state = store.record(&key)?;
            if state.credentials_changed(|d| descriptor.cure(&d.code) == provider::Cure::Secret) {
                store.save(&key, &state)?;
                count += 1;
            }
        }
    }
    Ok(count)
}
