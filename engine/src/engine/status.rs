//! What the engine shows: the status snapshot, its parts, and the events.

use super::*;

/// The engine's overall state, for the tray icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    /// No records configured.
    NotConfigured,
    /// Every record is up to date.
    Ok,
    /// A request is under way.
    Updating,
    /// Something needs the user: a disabled record, a config error, no address.
    Attention,
    /// Updates are paused.
    Paused,
    /// "Go offline" is in effect.
    Offline,
}

/// Where one record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The provider has the current address.
    Ok,
    /// Waiting for its first update (or for an address).
    Pending,
    /// A request is under way.
    Updating,
    /// Waiting after a transient failure.
    BackingOff,
    /// Disabled by a fatal answer: the user must act.
    Disabled,
    /// Turned off in the config.
    Off,
    /// Something local is wrong (missing secret, no address).
    Error,
}

/// One record, as the tray and the settings window show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStatus {
    /// The record key (`account/name/A`).
    pub key: String,
    /// The name.
    pub name: String,
    /// The account id.
    pub account: String,
    /// The provider id.
    pub provider: String,
    /// The provider's name as people know it ("Cloudflare").
    #[serde(default)]
    pub provider_name: String,
    /// `A` or `AAAA`.
    pub family: String,
    /// Where it stands.
    pub phase: Phase,
    /// The address the provider last accepted.
    pub address: Option<IpAddr>,
    /// When the provider last accepted an update.
    pub last_update_at: Option<Timestamp>,
    /// When the last request went out.
    pub last_attempt_at: Option<Timestamp>,
    /// The provider's words on the last attempt.
    pub last_answer: Option<String>,
    /// Why it is disabled.
    pub disabled: Option<Disabled>,
    /// What lifts the refusal (a new secret, a settings edit, the provider's website),
    /// so that the window can offer the one button that fixes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cure: Option<Cure>,
    /// No request before this time.
    pub next_attempt_at: Option<Timestamp>,
    /// A local problem or note.
    pub note: Option<String>,
    /// Whether "Go offline" affects this record.
    pub has_offline: bool,
}

/// The detected address of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressStatus {
    /// `A` or `AAAA`.
    pub family: String,
    /// The address, when one was found.
    pub address: Option<IpAddr>,
    /// When it was last checked.
    pub checked_at: Option<Timestamp>,
    /// Why none was found.
    pub error: Option<String>,
    /// The sources whose answers agreed on `address`.
    #[serde(default)]
    pub agreed: Vec<String>,
    /// How many sources had to agree.
    #[serde(default)]
    pub needed: usize,
    /// Every source of the family, in order, with its health.
    #[serde(default)]
    pub sources: Vec<SourceReport>,
    /// What made the last check happen (the poll timer, a network change, a wake-up).
    #[serde(default)]
    pub trigger: Option<String>,
}

impl AddressStatus {
    /// The status of one family's check.
    pub fn new(family: IpFamily, detection: &Detection, at: Timestamp, trigger: &str) -> Self {
        Self {
            family: family.record_type().into(),
            address: detection.address.as_ref().ok().copied(),
            checked_at: Some(at),
            error: detection.address.as_ref().err().cloned(),
            agreed: detection.agreed.clone(),
            needed: detection.needed,
            sources: detection.sources.clone(),
            trigger: Some(trigger.to_owned()),
        }
    }
}

/// A snapshot of everything the engine shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Overall state.
    pub summary: Summary,
    /// Updates paused by the user.
    pub paused: bool,
    /// "Go offline" in effect.
    pub offline: bool,
    /// The config file.
    pub config_path: PathBuf,
    /// The config's problems, if it could not be used.
    pub config_error: Option<String>,
    /// A hand edit that is not applied (the running config stays), and why.
    #[serde(default)]
    pub config_warning: Option<String>,
    /// The revision of the config file in force: a window that read another one reads
    /// the file again (a hand edit, another window's save).
    #[serde(default)]
    pub config_revision: Option<String>,
    /// Detected addresses.
    pub addresses: Vec<AddressStatus>,
    /// Every record.
    pub records: Vec<RecordStatus>,
    /// When the next address check is due.
    pub next_check_at: Option<Timestamp>,
    /// Whether the user wants a notification after each successful update.
    pub notify_success: bool,
}

/// Something the user may want to hear about (notifications).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EngineEvent {
    /// A request succeeded for these names.
    Updated {
        /// The names.
        names: Vec<String>,
        /// The published address (`None`: the provider's offline mode).
        address: Option<IpAddr>,
        /// The provider id.
        provider: String,
    },
    /// A provider refused; the records are disabled until the user acts.
    Refused {
        /// The names.
        names: Vec<String>,
        /// The provider id.
        provider: String,
        /// The provider's code.
        code: String,
        /// The provider's exact words.
        answer: String,
        /// What to do.
        advice: String,
    },
    /// A hand edit of the config file was not applied; the running config stays.
    ConfigRejected {
        /// What is wrong, and where.
        message: String,
    },
    /// No valid address could be found.
    NoAddress {
        /// Why.
        reason: String,
    },
    /// A free host must be confirmed at the provider.
    Reminder {
        /// The name.
        name: String,
        /// What to do.
        message: String,
    },
}

/// The config with the revision of the file it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigRead {
    /// The config (defaults when there is no file).
    pub config: Config,
    /// The file's revision: what an edit based on this read must name.
    pub revision: String,
}

/// What "Update now" did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateNowReport {
    /// Records a request went out for.
    pub sent: Vec<String>,
    /// Warnings for the user (an unchanged address counts against the account).
    pub warnings: Vec<String>,
}

/// What one pass did (for `dyntrayd once`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassReport {
    /// Requests sent.
    pub requests: usize,
    /// Records whose last answer was a success or nochg in this pass.
    pub succeeded: Vec<String>,
    /// Records that failed (this pass or disabled), with the reason.
    pub failed: Vec<(String, String)>,
}

impl Engine {
    pub(super) fn snapshot(&self) -> Status {
        let now = self.clock.now();
        let mut records = Vec::new();
        for record in &self.records {
            let state = self.store.record(&record.key).unwrap_or_default();
            let acc = &self.accounts[record.account];
            let note = self.notes.get(&record.key).cloned().or_else(|| {
                if state.unconfirmed() {
                    Some(
                        "Dyntray stopped while an update was under way; it is sent once \
                         more to be sure"
                            .into(),
                    )
                } else if self.addresses.contains_key(&record.family) {
                    self.address_for(record).err()
                } else {
                    // Not checked by this process (dyntrayd status without a running
                    // instance): no news is not a problem.
                    None
                }
            });
            let standing = state.standing(now);
            let phase = if !record.enabled {
                Phase::Off
            } else if self.updating.contains(&record.key) {
                Phase::Updating
            } else if matches!(standing, Standing::Disabled { .. }) {
                Phase::Disabled
            } else if self.notes.contains_key(&record.key) {
                Phase::Error
            } else {
                match standing {
                    Standing::BackingOff { .. } => Phase::BackingOff,
                    Standing::Accepted => Phase::Ok,
                    Standing::Idle | Standing::Interrupted | Standing::Disabled { .. } => {
                        Phase::Pending
                    }
                }
            };
            records.push(RecordStatus {
                key: record.key.clone(),
                name: record.name.clone(),
                account: acc.id.clone(),
                provider: acc.provider.descriptor().id.into(),
                provider_name: acc.provider.descriptor().name.into(),
                family: record.family.record_type().into(),
                phase,
                address: state.last_address(),
                last_update_at: state.last_success_at(),
                last_attempt_at: state.last_attempt_at(),
                last_answer: state.last_answer().map(str::to_owned),
                disabled: state.disabled().cloned(),
                cure: state
                    .disabled()
                    .map(|d| acc.provider.descriptor().cure(&d.code)),
                next_attempt_at: state.backoff_until().filter(|t| *t > now),
                note,
                has_offline: record.has_offline(),
            });
        }
        // This process's checks; a family it has not checked yet shows the last stored.
        let mut addresses: Vec<AddressStatus> = Vec::new();
        for family in [IpFamily::V4, IpFamily::V6] {
            match self.addresses.get(&family) {
                Some((detection, at, trigger)) => {
                    addresses.push(AddressStatus::new(family, detection, *at, trigger));
                }
                None if self.records.iter().any(|r| r.family == family) => {
                    addresses.extend(self.stored_checks.get(&family).cloned());
                }
                None => {}
            }
        }
        let summary = if self.config_error.is_some() || self.config_warning.is_some() {
            Summary::Attention
        } else if self.paused {
            Summary::Paused
        } else if records.is_empty() {
            Summary::NotConfigured
        } else if !self.updating.is_empty() {
            Summary::Updating
        } else if records
            .iter()
            .any(|r| matches!(r.phase, Phase::Disabled | Phase::Error))
        {
            Summary::Attention
        } else if self.offline {
            Summary::Offline
        } else {
            Summary::Ok
        };
        let next_check_at = (self.scheduled && self.config.is_some()).then(|| {
            now.saturating_add(secs(
                self.next_check.saturating_duration_since(Instant::now()),
            ))
        });
        Status {
            summary,
            paused: self.paused,
            offline: self.offline,
            config_path: self.config_path.clone(),
            config_error: self.config_error.clone(),
            config_warning: self.config_warning.clone(),
            config_revision: self.applied_revision.clone(),
            addresses,
            records,
            next_check_at,
            notify_success: self
                .config
                .as_ref()
                .is_none_or(|c| c.general.notify_success),
        }
    }

    pub(super) fn publish_status(&self) {
        if let Some(tx) = &self.status_tx {
            let status = self.snapshot();
            tx.send_if_modified(|current| {
                if *current == status {
                    false
                } else {
                    *current = status;
                    true
                }
            });
        }
    }
}

impl Default for Status {
    fn default() -> Self {
        Self {
            summary: Summary::NotConfigured,
            paused: false,
            offline: false,
            config_path: PathBuf::new(),
            config_error: None,
            config_warning: None,
            config_revision: None,
            addresses: Vec::new(),
            records: Vec::new(),
            next_check_at: None,
            notify_success: true,
        }
    }
}
