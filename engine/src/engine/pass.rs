//! A pass: check the address, decide per record, send, and apply the answers.

use super::*;
use crate::record::{Acceptance, Standing};

/// `detected`'s /64 prefix with `suffix`'s interface part.
pub(super) fn with_suffix(detected: Ipv6Addr, suffix: Ipv6Addr) -> Ipv6Addr {
    let prefix = u128::from(detected) & !u128::from(u64::MAX);
    Ipv6Addr::from(prefix | (u128::from(suffix) & u128::from(u64::MAX)))
}

impl Engine {
    /// A pass whose failure (config, storage) is logged and shown in the status.
    pub(super) async fn pass_logged(&mut self) {
        if let Err(e) = self.pass(None).await
            && !matches!(e, EngineError::Config(_))
        {
            tracing::error!(error = %e, "update pass failed");
        }
    }

    /// Checks addresses and sends what must be sent. `forced` lists records the user
    /// forced ("Update now").
    pub(super) async fn pass(
        &mut self,
        forced: Option<&[String]>,
    ) -> Result<PassReport, EngineError> {
        let mut report = PassReport::default();
        self.next_check = Instant::now() + self.poll_interval;
        if self.config.is_none() {
            self.publish_status();
            return Err(EngineError::Config(
                self.config_error.clone().unwrap_or_default(),
            ));
        }
        if self.paused && forced.is_none() {
            self.publish_status();
            return Ok(report);
        }
        self.secrets_fixed().await;
        self.detect(forced).await;
        let now = self.clock.now();

        // Decide, per record, what to publish and why.
        let mut work: BTreeMap<BatchKey, Vec<(usize, Reason)>> = BTreeMap::new();
        for (index, record) in self.records.iter().enumerate() {
            let state = self.store.record(&record.key)?;
            let is_forced = forced.is_some_and(|f| f.contains(&record.key));
            if !record.enabled {
                continue;
            }
            if let Some(disabled) = state.disabled() {
                report
                    .failed
                    .push((record.key.clone(), format!("disabled: {}", disabled.answer)));
                continue;
            }
            if !is_forced && matches!(state.standing(now), Standing::BackingOff { .. }) {
                continue;
            }

            let publish = if self.offline && record.has_offline() {
                if record.offline_native {
                    Publish::Offline
                } else {
                    match record.offline_address {
                        Some(address) => Publish::Address(address),
                        None => continue,
                    }
                }
            } else {
                match self.address_for(record) {
                    Ok(address) => Publish::Address(address),
                    Err(e) => {
                        report.failed.push((record.key.clone(), e));
                        continue;
                    }
                }
            };
            let unchanged = state.shows(match publish {
                Publish::Address(a) => Some(a),
                Publish::Offline => None,
            });
            let reason = if is_forced {
                Reason::Forced
            } else if state.unconfirmed() {
                Reason::Recovery
            } else if !unchanged {
                Reason::Change
            } else if self.keepalive_due(record, &state, now) {
                Reason::Touch
            } else {
                report.succeeded.push(record.key.clone());
                continue;
            };
            if !is_forced && let Some(until) = state.backoff_until() {
                tracing::info!(record = %record.key, since = %crate::time::format_local(until),
                    "back-off over: trying again");
            }
            work.entry((
                record.account,
                record.family,
                publish,
                record.options.clone(),
            ))
            .or_default()
            .push((index, reason));
        }

        for (account, options, parts) in self.joined(work) {
            let max = self.accounts[account]
                .provider
                .descriptor()
                .max_batch
                .max(1);
            // Joined parts hold the same names in the same order: chunked in step.
            let chunks = parts[0].2.len().div_ceil(max);
            for c in 0..chunks {
                // An account-level refusal earlier in this pass stops the account's other
                // batches too.
                let mut live_parts = Vec::with_capacity(parts.len());
                for (family, publish, members) in &parts {
                    let chunk = members.chunks(max).nth(c).unwrap_or_default();
                    let mut live = Vec::with_capacity(chunk.len());
                    for &(index, reason) in chunk {
                        if self
                            .store
                            .record(&self.records[index].key)?
                            .disabled()
                            .is_none()
                        {
                            live.push((index, reason));
                        }
                    }
                    if !live.is_empty() {
                        live_parts.push((*family, *publish, live));
                    }
                }
                let joinable = live_parts.len() == 2
                    && self.names(&live_parts[0].2) == self.names(&live_parts[1].2);
                if joinable {
                    report.requests += 1;
                    self.send(account, &options, &live_parts, &mut report)
                        .await?;
                } else {
                    for part in live_parts {
                        report.requests += 1;
                        self.send(account, &options, std::slice::from_ref(&part), &mut report)
                            .await?;
                    }
                }
            }
        }
        self.remind(now);
        self.publish_status();
        Ok(report)
    }

    /// The pass's batches as requests: one family each, except that a provider taking
    /// both families in one request (deSEC) gets a name's A and AAAA updates together
    /// when both are due for the same names.
    fn joined(&self, work: BTreeMap<BatchKey, Vec<(usize, Reason)>>) -> Vec<Planned> {
        let mut requests: Vec<Planned> = Vec::new();
        let mut waiting: Vec<(BatchKey, Vec<(usize, Reason)>)> = Vec::new();
        for ((account, family, publish, options), mut members) in work {
            let joint = self.accounts[account].provider.joint_families();
            if !joint {
                requests.push((account, options, vec![(family, publish, members)]));
                continue;
            }
            members.sort_by(|a, b| self.records[a.0].name.cmp(&self.records[b.0].name));
            let partner = waiting.iter().position(|((a, f, _, o), m)| {
                *a == account
                    && *f != family
                    && *o == options
                    && self.names(m) == self.names(&members)
            });
            match partner {
                Some(at) => {
                    let ((_, other_family, other_publish, _), other) = waiting.remove(at);
                    let mut parts = vec![
                        (other_family, other_publish, other),
                        (family, publish, members),
                    ];
                    parts.sort_by_key(|(f, _, _)| *f);
                    requests.push((account, options, parts));
                }
                None => waiting.push(((account, family, publish, options), members)),
            }
        }
        requests.extend(waiting.into_iter().map(
            |((account, family, publish, options), members)| {
                (account, options, vec![(family, publish, members)])
            },
        ));
        requests
    }

    /// The names of a batch's members, in order.
    fn names(&self, members: &[(usize, Reason)]) -> Vec<&str> {
        members
            .iter()
            .map(|&(index, _)| self.records[index].name.as_str())
            .collect()
    }

    pub(super) fn address_for(&self, record: &RecordRt) -> Result<IpAddr, String> {
        let address = match self.addresses.get(&record.family) {
            Some((detection, _, _)) => detection.address.clone()?,
            None => return Err("no address checked yet".into()),
        };
        let address = match (address, record.ipv6_suffix) {
            (IpAddr::V6(detected), Some(suffix)) => IpAddr::V6(with_suffix(detected, suffix)),
            (address, _) => address,
        };
        crate::detect::validate(address, record.family, record.allow_private)
    }

    pub(super) async fn ask_sources(
        &mut self,
        only: Option<IpFamily>,
    ) -> Result<Vec<AddressStatus>, EngineError> {
        if self.config.is_none() {
            return Err(EngineError::Config(
                self.config_error.clone().unwrap_or_default(),
            ));
        }
        let in_use = self.families_in_use();
        let suspended = self.suspended_sources();
        let Some(mut detector) = self.detector.take() else {
            return Ok(Vec::new());
        };
        detector.set_suspended(suspended);
        let private = |family: IpFamily| in_use.iter().any(|&(f, p)| f == family && p);
        let families: Vec<IpFamily> = match only {
            Some(family) => vec![family],
            None if in_use.is_empty() => [IpFamily::V4, IpFamily::V6]
                .into_iter()
                .filter(|f| detector.has_sources(*f))
                .collect(),
            None => in_use.iter().map(|&(family, _)| family).collect(),
        };
        let now = self.clock.now();
        let mut reports = Vec::new();
        for family in families {
            let found = detector.ask_all(family, private(family), now).await;
            reports.push(AddressStatus::new(family, &found, now, "dyntrayd ip"));
        }
        self.detector = Some(detector);
        Ok(reports)
    }

    /// The families enabled records use, each with whether one of them allows private
    /// addresses.
    pub(super) fn families_in_use(&self) -> Vec<(IpFamily, bool)> {
        let mut families: Vec<(IpFamily, bool)> = Vec::new();
        for record in self.records.iter().filter(|r| r.enabled) {
            match families.iter_mut().find(|(f, _)| *f == record.family) {
                Some((_, private)) => *private |= record.allow_private,
                None => families.push((record.family, record.allow_private)),
            }
        }
        families
    }

    /// Sources of a provider's check-IP are not asked while that provider refuses one of
    /// its accounts (No-IP's rule: after an error, stop using its IP check too), however
    /// they are written (`provider:noip` or the URL).
    pub(super) fn suspended_sources(&self) -> BTreeSet<String> {
        let mut refused = BTreeSet::new();
        for record in &self.records {
            let disabled = self
                .store
                .record(&record.key)
                .is_ok_and(|state| state.disabled().is_some());
            if !disabled {
                continue;
            }
            let descriptor = self.accounts[record.account].provider.descriptor();
            if let Some(url) = descriptor.checkip {
                refused.insert(detect::spec::url_identity(url));
            }
        }
        let Some(config) = &self.config else {
            return BTreeSet::new();
        };
        config
            .detect
            .ipv4
            .iter()
            .chain(&config.detect.ipv6)
            .filter(|spec| refused.contains(&source_identity(spec)))
            .map(ToString::to_string)
            .collect()
    }

    /// Accounts whose file or environment secret was refused: when the secret there is
    /// no longer the one refused (its fingerprint differs), the user has fixed it, and
    /// the records refused for bad credentials are sent again. The keychain needs no
    /// such check: a new secret reaches it only through `set_secret`, which re-enables.
    pub(super) async fn secrets_fixed(&mut self) {
        let Some(config) = self.config.clone() else {
            return;
        };
        for index in 0..self.accounts.len() {
            let acc = &self.accounts[index];
            if matches!(acc.secret, SecretSource::Keychain) {
                continue;
            }
            let key = secret_fingerprint_key(&acc.id);
            let Some(refused) = self.store.meta::<String>(&key) else {
                continue;
            };
            let (id, source) = (acc.id.clone(), acc.secret.clone());
            let store = Arc::clone(&self.secrets);
            let read =
                tokio::task::spawn_blocking(move || secrets::resolve(store.as_ref(), &id, &source))
                    .await;
            let Ok(Ok(secret)) = read else {
                // Missing or unreadable: the send will say why; nothing to compare.
                continue;
            };
            let Ok(now) = self.store.fingerprint(&secret) else {
                continue;
            };
            if now == refused {
                continue;
            }
            let id = self.accounts[index].id.clone();
            match credentials_changed(&mut self.store, &config, &id) {
                Ok(count) => {
                    tracing::info!(account = %id, source = %self.accounts[index].secret,
                        records = count, "the refused secret was changed: sending again");
                    let _ = self.store.remove_meta(&key);
                    self.notes
                        .retain(|_, note| !note.contains(&format!("`{id}`")));
                }
                Err(e) => tracing::error!(error = %e, "cannot re-enable after a secret change"),
            }
        }
    }

    /// The families with a record that could be sent now (or is forced), each with
    /// whether one of them allows private addresses. A family whose every record is
    /// disabled or backing off is not checked: asking its sources would be for nothing.
    /// The end of a back-off wakes the engine, and re-enabling runs a pass, so the check
    /// comes back the moment a record can act.
    pub(super) fn families_that_can_act(&self, forced: Option<&[String]>) -> Vec<(IpFamily, bool)> {
        let now = self.clock.now();
        let mut families: Vec<(IpFamily, bool)> = Vec::new();
        for record in self.records.iter().filter(|r| r.enabled) {
            let is_forced = forced.is_some_and(|f| f.contains(&record.key));
            if !is_forced {
                let Ok(state) = self.store.record(&record.key) else {
                    continue;
                };
                if matches!(
                    state.standing(now),
                    Standing::Disabled { .. } | Standing::BackingOff { .. }
                ) {
                    continue;
                }
            }
            match families.iter_mut().find(|(f, _)| *f == record.family) {
                Some((_, private)) => *private |= record.allow_private,
                None => families.push((record.family, record.allow_private)),
            }
        }
        families
    }

    pub(super) async fn detect(&mut self, forced: Option<&[String]>) {
        let suspended = self.suspended_sources();
        let families = self.families_that_can_act(forced);
        let Some(mut detector) = self.detector.take() else {
            return;
        };
        detector.set_suspended(suspended);
        let now = self.clock.now();
        let trigger = std::mem::replace(&mut self.trigger, "poll".into());
        let mut failures = Vec::new();
        let checked = families.len();
        for (family, allow_private) in families {
            let detection = detector.check(family, allow_private, now).await;
            if let Some(wait) = detection.retry_after {
                // A source asked just before a network change may not be asked yet: look
                // again as soon as it may.
                self.next_check = self.next_check.min(Instant::now() + wait);
            }
            match &detection.address {
                Ok(address) => tracing::debug!(family = family.record_type(), %address,
                    agreed = ?detection.agreed, "address checked"),
                Err(e) => {
                    tracing::warn!(family = family.record_type(), error = %e,
                        "no address: nothing is updated");
                    failures.push(format!("{}: {e}", family.record_type()));
                }
            }
            let shown = AddressStatus::new(family, &detection, now, &trigger);
            if let Err(e) = self.store.set_meta(&last_check_key(family), &shown) {
                tracing::warn!(error = %e, "cannot save the address check");
            }
            self.addresses
                .insert(family, (detection, now, trigger.clone()));
        }
        self.detector = Some(detector);
        if checked == 0 {
            // Nothing was asked (every record waits): no news either way.
        } else if failures.is_empty() {
            self.no_address_since = None;
        } else {
            let since = *self.no_address_since.get_or_insert(now);
            // Tell the user once the problem has lasted a while, not on every blip.
            let lasted = now.saturating_sub(since);
            let notice = secs(NO_ADDRESS_NOTICE);
            if lasted >= notice && lasted < notice.saturating_add(secs(self.poll_interval)) {
                let _ = self.events.send(EngineEvent::NoAddress {
                    reason: failures.join("; "),
                });
            }
        }
    }

    pub(super) fn keepalive_due(
        &self,
        record: &RecordRt,
        state: &RecordState,
        now: Timestamp,
    ) -> bool {
        let Some(period) = self.accounts[record.account].keepalive else {
            return false;
        };
        state
            .last_success_at()
            .is_some_and(|t| now.saturating_sub(t) >= secs(period))
    }

    /// The address in force for the family other than `family`, when a record of the
    /// same account publishes it: for protocols that lose what a request leaves out.
    pub(super) fn other_family_address(&self, account: usize, family: IpFamily) -> Option<IpAddr> {
        let other = match family {
            IpFamily::V4 => IpFamily::V6,
            IpFamily::V6 => IpFamily::V4,
        };
        self.records
            .iter()
            .filter(|r| r.account == account && r.family == other && r.enabled)
            .find_map(|r| self.address_for(r).ok())
    }

    /// Sends one request: `parts` holds one family's batch, or (for a provider that takes
    /// both families at once) the A and the AAAA batches of the same names.
    pub(super) async fn send(
        &mut self,
        account: usize,
        options: &RecordOptions,
        parts: &[Part],
        report: &mut PassReport,
    ) -> Result<(), EngineError> {
        let (family, publish, _) = parts[0];
        let acc = &self.accounts[account];
        let provider = acc.provider;
        // The keychain answers over D-Bus and may prompt: off the engine's task.
        let lookup = {
            let (store, id, source) = (
                Arc::clone(&self.secrets),
                acc.id.clone(),
                acc.secret.clone(),
            );
            tokio::task::spawn_blocking(move || secrets::resolve(store.as_ref(), &id, &source))
        };
        let resolved = match lookup.await {
            Ok(resolved) => resolved,
            Err(e) => Err(secrets::SecretError::KeychainUnavailable {
                account: acc.id.clone(),
                reason: format!("the keychain look-up failed: {e}"),
            }),
        };
        let acc = &self.accounts[account];
        let secret = match resolved {
            Ok(secret) => secret,
            Err(e) => {
                let message = e.to_string();
                tracing::error!(account = %acc.id, error = %message, "no secret; nothing sent");
                for &(index, _) in parts.iter().flat_map(|(_, _, members)| members) {
                    let key = self.records[index].key.clone();
                    self.notes.insert(key.clone(), message.clone());
                    report.failed.push((key, message.clone()));
                }
                return Ok(());
            }
        };
        let request = UpdateRequest {
            server: acc.server.clone(),
            default_server: acc.default_server,
            username: acc.username.clone(),
            secret,
            publish,
            options: options.clone(),
            items: self.items(&parts[0].2),
            allow_plain_http: acc.allow_plain_http,
            settings: acc.prepared.clone(),
            other_family: self.other_family_address(account, family),
            departure: self.departure.clone(),
            joint: parts.get(1).map(|(_, publish, members)| provider::Joint {
                publish: *publish,
                items: self.items(members),
            }),
        };
        let all_items: Vec<&UpdateItem> = request
            .items
            .iter()
            .chain(request.joint.iter().flat_map(|j| &j.items))
            .collect();
        let keys: Vec<&str> = all_items.iter().map(|i| i.record.as_str()).collect();
        let now = self.clock.now();
        let mut intended = false;
        for (_, part_publish, members) in parts {
            if let Publish::Address(address) = part_publish {
                // The intent first; it is marked sent when the connection opens, before
                // the request can leave (docs/recovery.md).
                let part_keys: Vec<&str> = members
                    .iter()
                    .map(|&(index, _)| self.records[index].key.as_str())
                    .collect();
                self.store.begin(&part_keys, *address, now)?;
                intended = true;
            }
        }
        if intended {
            let (marker, records) = (
                Arc::clone(&self.marker),
                keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
            );
            self.departure.arm(move || {
                marker.mark_sent(&records).map_err(|e| {
                    tracing::error!(error = %e, "cannot mark an update as sent; not sending it");
                    format!("its departure could not be recorded ({e})")
                })
            });
        }
        self.updating = keys.iter().map(|k| (*k).to_owned()).collect();
        self.publish_status();
        tracing::info!(provider = provider.descriptor().id, account = %acc.id,
            names = ?request.items.iter().map(|i| &i.name).collect::<Vec<_>>(),
            publish = ?publish, also = ?request.joint.as_ref().map(|j| j.publish),
            "sending update");

        let mut outcomes = provider.update(&self.http, &request).await;
        self.departure.disarm();
        // A refused file or environment secret: remember which (by fingerprint), so that
        // the user fixing the file or variable is noticed (see `secrets_fixed`).
        let acc = &self.accounts[account];
        if !matches!(acc.secret, SecretSource::Keychain)
            && outcomes.iter().any(|o| {
                matches!(o.verdict, Verdict::Fatal { .. })
                    && provider.descriptor().cure(&o.code) == provider::Cure::Secret
            })
        {
            let key = secret_fingerprint_key(&acc.id);
            match self.store.fingerprint(&request.secret) {
                Ok(fp) => {
                    if let Err(e) = self.store.set_meta(&key, &fp) {
                        tracing::warn!(error = %e, "cannot save the refused secret's fingerprint");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot fingerprint the refused secret"),
            }
        }
        self.updating.clear();
        // The provider's words are shown in terminals and notifications: as text.
        for outcome in &mut outcomes {
            outcome.answer = crate::text::visible(&outcome.answer);
            outcome.code = crate::text::visible(&outcome.code);
            outcome.advice = outcome.advice.as_deref().map(crate::text::visible);
        }
        // A joint request answers for its first part's items, then its second's.
        let mut rest = outcomes.as_slice();
        for (_, part_publish, members) in parts {
            let (these, later) = rest.split_at(members.len().min(rest.len()));
            self.apply(account, *part_publish, members, these, report)?;
            rest = later;
        }
        Ok(())
    }

    /// The request items of a batch's members.
    fn items(&self, members: &[(usize, Reason)]) -> Vec<UpdateItem> {
        members
            .iter()
            .map(|&(index, _)| UpdateItem {
                record: self.records[index].key.clone(),
                name: self.records[index].name.clone(),
            })
            .collect()
    }

    pub(super) fn apply(
        &mut self,
        account: usize,
        publish: Publish,
        members: &[(usize, Reason)],
        outcomes: &[Outcome],
        report: &mut PassReport,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let provider_id = self.accounts[account].provider.descriptor().id;
        let sent = match publish {
            Publish::Address(a) => Some(a),
            Publish::Offline => None,
        };
        let mut updated = Vec::new();
        let mut refused: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        let mut account_fatal: Option<Outcome> = None;

        for (&(index, reason), outcome) in members.iter().zip(outcomes) {
            let record = &self.records[index];
            let mut state = self.store.record(&record.key)?;
            let first_ever = state.last_attempt_at().is_none();
            state.answered(now, &outcome.answer);
            // One attempt settles an interrupted update, whatever its answer: a transient
            // failure is retried as an ordinary change, with the nochg rule back on.
            if reason == Reason::Recovery {
                state.settled();
            }
            self.notes.remove(&record.key);
            match &outcome.verdict {
                Verdict::Success | Verdict::NoChange | Verdict::Current => {
                    let how = if outcome.verdict == Verdict::Success {
                        Acceptance::Updated
                    } else if outcome.verdict == Verdict::NoChange
                        && reason == Reason::Change
                        && !first_ever
                    {
                        Acceptance::UnchangedCounted
                    } else {
                        Acceptance::Unchanged
                    };
                    if reason == Reason::Recovery {
                        tracing::info!(record = %record.key,
                            "the update interrupted by the last run is settled");
                    }
                    let advice = "The provider answered nochg twice for an address it \
                                  already had; more would get the host blocked. Check \
                                  that nothing else updates this name, then re-enable it.";
                    let disabled =
                        state.accepted(sent, now, reason == Reason::Forced, how, || Disabled {
                            code: "repeated-nochg".into(),
                            answer: outcome.answer.clone(),
                            advice: advice.into(),
                            at: now,
                        });
                    if disabled.is_some() {
                        refused
                            .entry((
                                "repeated-nochg".into(),
                                outcome.answer.clone(),
                                advice.into(),
                            ))
                            .or_default()
                            .push(record.name.clone());
                        report
                            .failed
                            .push((record.key.clone(), outcome.answer.clone()));
                    } else {
                        if how == Acceptance::Updated {
                            updated.push(record.name.clone());
                        }
                        report.succeeded.push(record.key.clone());
                    }
                }
                Verdict::Transient {
                    retry_after,
                    reached,
                } => {
                    let rng = &mut self.rng;
                    let until =
                        state.backing_off(now, |step| backoff(rng, step, *reached, *retry_after));
                    tracing::warn!(record = %record.key, code = %outcome.code,
                        answer = %outcome.answer, until = %crate::time::format_local(until),
                        "provider trouble: backing off");
                    report
                        .failed
                        .push((record.key.clone(), outcome.answer.clone()));
                }
                Verdict::Protocol => {
                    let rng = &mut self.rng;
                    let until = state.backing_off(now, |step| backoff(rng, step, true, None));
                    tracing::warn!(record = %record.key, answer = %outcome.answer,
                        until = %crate::time::format_local(until),
                        "an answer the protocol does not allow: backing off");
                    report
                        .failed
                        .push((record.key.clone(), outcome.answer.clone()));
                }
                Verdict::Fatal { scope } => {
                    let advice = outcome.advice.clone().unwrap_or_else(|| {
                        "Check the record and the account, then re-enable it.".into()
                    });
                    state.refused(Disabled {
                        code: outcome.code.clone(),
                        answer: outcome.answer.clone(),
                        advice: advice.clone(),
                        at: now,
                    });
                    tracing::error!(record = %record.key, code = %outcome.code,
                        answer = %outcome.answer, %advice,
                        "the provider refused: nothing more is sent until you act");
                    if *scope == Scope::Account {
                        account_fatal = Some(outcome.clone());
                    }
                    refused
                        .entry((outcome.code.clone(), outcome.answer.clone(), advice))
                        .or_default()
                        .push(record.name.clone());
                    report
                        .failed
                        .push((record.key.clone(), outcome.answer.clone()));
                }
            }
            let entry = HistoryEntry {
                at: now,
                record: record.key.clone(),
                address: sent.map(|a| a.to_string()).or(Some("offline".into())),
                answer: outcome.answer.clone(),
                classification: outcome.verdict.label().into(),
            };
            // Persisted before anything else happens (invariant 1).
            self.store.finish(&state, &entry)?;
            if matches!(
                outcome.verdict,
                Verdict::Success | Verdict::NoChange | Verdict::Current
            ) {
                tracing::info!(record = %record.key, verdict = outcome.verdict.label(),
                    code = %outcome.code, answer = %outcome.answer, "provider answered");
            }
        }

        // An account-level refusal stops every record of the account.
        if let Some(outcome) = account_fatal {
            let in_batch: Vec<usize> = members.iter().map(|&(i, _)| i).collect();
            for (index, record) in self.records.iter().enumerate() {
                if record.account != account || in_batch.contains(&index) {
                    continue;
                }
                let mut state = self.store.record(&record.key)?;
                if state.refused_with_account(Disabled {
                    code: outcome.code.clone(),
                    answer: outcome.answer.clone(),
                    advice: outcome.advice.clone().unwrap_or_default(),
                    at: now,
                }) {
                    self.store.save(&record.key, &state)?;
                }
            }
        }

        if !updated.is_empty() {
            let _ = self.events.send(EngineEvent::Updated {
                names: updated,
                address: sent,
                provider: provider_id.into(),
            });
        }
        for ((code, answer, advice), names) in refused {
            let _ = self.events.send(EngineEvent::Refused {
                names,
                provider: provider_id.into(),
                code,
                answer,
                advice,
            });
        }
        Ok(())
    }

    pub(super) fn remind(&mut self, now: Timestamp) {
        for record in &self.records {
            let Some(period) = self.accounts[record.account]
                .provider
                .descriptor()
                .confirm_reminder
            else {
                continue;
            };
            let Ok(mut state) = self.store.record(&record.key) else {
                continue;
            };
            let Some(since) = state.last_reminded_at().or(state.last_success_at()) else {
                continue;
            };
            if now.saturating_sub(since) >= secs(period) {
                let name = self.accounts[record.account].provider.descriptor().name;
                let _ = self.events.send(EngineEvent::Reminder {
                    name: record.name.clone(),
                    message: format!(
                        "{name} needs you to confirm {} on its website every 30 days, or the \
                         name expires. Updates do not renew it.",
                        record.name
                    ),
                });
                state.reminded(now);
                if let Err(e) = self.store.save(&record.key, &state) {
                    tracing::error!(error = %e, "cannot save reminder time");
                }
            }
        }
    }

    pub(super) async fn update_now(
        &mut self,
        record: Option<String>,
    ) -> Result<UpdateNowReport, EngineError> {
        if self.config.is_none() {
            return Err(EngineError::Config(
                self.config_error.clone().unwrap_or_default(),
            ));
        }
        let keys: Vec<String> = match &record {
            Some(r) => vec![
                self.resolve_key(r)
                    .ok_or_else(|| EngineError::NotFound(format!("no record `{r}`")))?,
            ],
            None => self
                .records
                .iter()
                .filter(|r| r.enabled)
                .map(|r| r.key.clone())
                .collect(),
        };
        let now = self.clock.now();
        let mut allowed = Vec::new();
        let mut warnings = Vec::new();
        for key in keys {
            let state = self.store.record(&key)?;
            // People know the record by its name (and family), not by its key.
            let shown = self
                .records
                .iter()
                .find(|r| r.key == key)
                .map(|r| match r.family {
                    IpFamily::V4 => r.name.clone(),
                    IpFamily::V6 => format!("{} (IPv6)", r.name),
                })
                .unwrap_or_else(|| key.clone());
            if state.disabled().is_some() {
                warnings.push(format!("{shown} is disabled; re-enable it first"));
                continue;
            }
            if let Some(at) = state.last_forced_at() {
                let next = at.saturating_add(secs(FORCE_INTERVAL));
                if next > now {
                    // In minutes from now, which reads the same in the window, the tray
                    // and a terminal, in any time zone.
                    let minutes = (next.saturating_sub(now).saturating_add(59) / 60).max(1);
                    let wait = if minutes == 1 {
                        "1 minute".to_owned()
                    } else {
                        format!("{minutes} minutes")
                    };
                    if record.is_some() {
                        return Err(EngineError::TooSoon(format!(
                            "{shown} was updated on request less than 10 minutes ago; \
                             try again in {wait}."
                        )));
                    }
                    warnings.push(format!("{shown}: try again in {wait}."));
                    continue;
                }
            }
            allowed.push(key);
        }
        self.detect(Some(&allowed)).await;
        for key in &allowed {
            if let Some(record) = self.records.iter().find(|r| &r.key == key)
                && let (Ok(address), Ok(state)) = (self.address_for(record), self.store.record(key))
                && state.last_address() == Some(address)
            {
                warnings.push(format!(
                    "{}: the address {address} is unchanged; an unchanged update counts \
                     against the account at the provider",
                    record.name
                ));
            }
        }
        if !allowed.is_empty() {
            self.pass(Some(&allowed)).await?;
        }
        Ok(UpdateNowReport {
            sent: allowed,
            warnings,
        })
    }
}

/// The wait after the `step`-th failure in a row: from 30 minutes (5 for a first
/// network error that never reached the provider), doubling, at most a day, plus up
/// to 10% jitter; never shorter than a wait the provider asked for.
pub(super) fn backoff(
    rng: &mut Rng,
    step: u32,
    reached: bool,
    asked: Option<Duration>,
) -> Duration {
    let base = if !reached && step == 1 {
        NETWORK_FIRST_RETRY
    } else {
        let doublings = step.saturating_sub(1).min(10);
        MIN_PROVIDER_BACKOFF
            .saturating_mul(1 << doublings)
            .min(MAX_BACKOFF)
    };
    // A provider's ask is honoured up to a week: a longer one is an error or hostile.
    let base = base.max(asked.unwrap_or_default().min(MAX_PROVIDER_WAIT));
    let jitter = Duration::from_secs_f64(base.as_secs_f64() * 0.1 * rng.fraction());
    base.saturating_add(jitter)
}

/// The meta key of a family's last address check.
pub(super) fn last_check_key(family: IpFamily) -> String {
    format!("last_check/{}", family.record_type())
}
