//! The engine actor: one task owns the config, the state store, the timers and the
//! providers; callers hold an [`EngineHandle`] (commands in over `mpsc`, status out over
//! `watch`, events over `broadcast`). No lock is shared and none is held across `.await`.
//!
//! The per-record state machine follows the providers' rules (docs/architecture.md, rules 1-5):
//! an update only when the detected address differs from the one the provider last
//! accepted, that address persisted before anything else happens, every answer
//! classified, fatal answers disabling the record (or the account) until the user acts,
//! transient ones backing off from 30 minutes with jitter.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::{Config, Family, Keepalive, Problem, SecretRef};
use crate::departure::Departure;
use crate::detect::{self, Detection, Detector, Source, SourceReport};
use crate::provider::{
    self, Cure, IpFamily, Outcome, Provider, Publish, RecordOptions, Scope, UpdateItem,
    UpdateRequest, Verdict,
};
use crate::record::Standing;
use crate::secrets::{self, Secret, SecretSource, SecretStore};
use crate::state::{
    Disabled, HistoryEntry, RecordState, SentMarker, StateError, StateStore, Timestamp,
};

mod client;
mod clock;
mod imports;
mod pass;
mod records;
pub(crate) mod setup;
mod status;

pub use client::{
    ProxyEnv, build_client, http_client, update_client, update_client_with, update_proxy,
};
use clock::{Clock, EventBudget, Rng, secs, sleep_until_opt};
use pass::last_check_key;
pub use records::credentials_changed;
use records::secret_fingerprint_key;
use setup::source_identity;
pub use setup::{check_against_registry, record_key, record_keys};
pub use status::{
    AddressStatus, ConfigRead, EngineEvent, PassReport, Phase, RecordStatus, Status, Summary,
    UpdateNowReport,
};

/// The shortest wait after a provider-side failure (dyndns2 `911`, `dnserr`, HTTP 5xx).
pub const MIN_PROVIDER_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// The first wait after a network error that never reached the provider.
pub const NETWORK_FIRST_RETRY: Duration = Duration::from_secs(5 * 60);
/// The longest back-off the engine chooses.
pub const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);
/// The longest wait a provider may ask for (`wNNN`, `Retry-After`): longer asks are cut to
/// this, so that a hostile or broken answer cannot park a record for years.
pub const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// "Update now" is allowed once per this period per record.
pub const FORCE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// Checks triggered by network events: a burst of this many is checked at once (a link
/// coming up, its address, its temporary address)...
pub const EVENT_CHECK_BURST: u32 = 3;
/// ...and after that one per this period (a flapping link); events in between fold into
/// one check when the next is allowed.
pub const EVENT_CHECK_GAP: Duration = Duration::from_secs(10);
/// How long no address may be found before the user is told (once): a blip is not news.
pub const NO_ADDRESS_NOTICE: Duration = Duration::from_secs(15 * 60);
/// The keychain service name.
pub const KEYCHAIN_SERVICE: &str = "dyntray";

/// Errors the engine reports to callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EngineError {
    /// The config has problems; each is listed with its line.
    #[error("{0}")]
    Config(String),
    /// No record or account by that name.
    #[error("{0}")]
    NotFound(String),
    /// Not allowed yet (rate limit).
    #[error("{0}")]
    TooSoon(String),
    /// A configuration edit was refused; every problem is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    /// The state store or the keychain failed.
    #[error("{0}")]
    Storage(String),
    /// An edit was based on an older revision of the config than the file's.
    #[error("{0}")]
    Stale(String),
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
    /// The provider cannot do that (check a login without an update).
    #[error("{0}")]
    Unsupported(String),
}

impl From<StateError> for EngineError {
    fn from(e: StateError) -> Self {
        Self::Storage(e.to_string())
    }
}

/// What the engine needs to start.
pub struct EngineOptions {
    /// The config file.
    pub config_path: PathBuf,
    /// The state directory (SQLite store).
    pub state_dir: PathBuf,
    /// Where keychain secrets live.
    pub secrets: Arc<dyn SecretStore>,
    /// Address sources used for both families instead of the config's (tests); `None`
    /// uses the config's `[detect]` sources.
    pub sources: Option<Vec<Arc<dyn Source>>>,
    /// Run passes on the timer (`false` for `dyntrayd once`: passes only on request).
    pub scheduled: bool,
    /// Check the address when the network changes or the machine wakes up (only with
    /// `scheduled`).
    pub watch_network: bool,
    /// Read the config file again when it changes or on SIGHUP (hand edits reach the
    /// running engine; only with `scheduled`).
    pub watch_config: bool,
    /// The wall-clock time the engine's clock starts at (tests); `None` = now.
    pub clock_start: Option<Timestamp>,
    /// Where other clients' configs are looked for, to offer moving over from them
    /// ([`crate::paths::import_sources`] in the hosts).
    pub import_sources: crate::import::Sources,
}

/// An import asked for over the control API: which client, and the config revision it
/// is based on (a stale one is refused, as any edit is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportAsk {
    /// The other client.
    pub client: crate::import::Client,
    /// The revision of the Dyntray config the import is based on.
    pub revision: String,
    /// The other client's config file; its default place when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Its cache; its default place when absent (and then it may be missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    /// Replace accounts with the same ids instead of refusing.
    #[serde(default)]
    pub replace: bool,
    /// Leave the passwords out of the keychain (the user sets them by hand).
    #[serde(default)]
    pub no_secrets: bool,
}

enum Command {
    CheckNow,
    RunOnce(oneshot::Sender<Result<PassReport, EngineError>>),
    UpdateNow(
        Option<String>,
        oneshot::Sender<Result<UpdateNowReport, EngineError>>,
    ),
    Pause(bool),
    Offline(bool, bool, oneshot::Sender<Result<(), EngineError>>),
    ReEnable(Vec<String>, oneshot::Sender<Result<(), EngineError>>),
    Reload(oneshot::Sender<Result<(), EngineError>>),
    GetConfig(oneshot::Sender<Result<Config, EngineError>>),
    ReadConfig(oneshot::Sender<Result<ConfigRead, EngineError>>),
    EditConfig(
        String,
        Box<crate::config_edit::ConfigEdit>,
        oneshot::Sender<Result<String, EngineError>>,
    ),
    History(
        Option<String>,
        u32,
        oneshot::Sender<Result<Vec<HistoryEntry>, EngineError>>,
    ),
    SetSecret(String, Secret, oneshot::Sender<Result<(), EngineError>>),
    CheckAccount(
        String,
        oneshot::Sender<Result<provider::CheckResult, EngineError>>,
    ),
    NetworkChanged(String, Option<Duration>),
    ConfigFileChanged(String),
    AskSources(
        Option<IpFamily>,
        oneshot::Sender<Result<Vec<AddressStatus>, EngineError>>,
    ),
    FindImports(oneshot::Sender<Result<Vec<crate::import::Offer>, EngineError>>),
    ApplyImport(
        Box<ImportAsk>,
        oneshot::Sender<Result<crate::import::ImportReport, EngineError>>,
    ),
    Shutdown(oneshot::Sender<()>),
}

/// A cheap handle on the running engine.
#[derive(Clone)]
pub struct EngineHandle {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<Status>,
    events: broadcast::Sender<EngineEvent>,
    exit: watch::Receiver<Option<EngineExit>>,
}

/// How the engine's task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineExit {
    /// It was asked to stop, or every handle was dropped.
    Stopped,
    /// It ended by itself (a bug): the host must not go on as if it were running.
    Crashed(String),
}

impl EngineHandle {
    /// The current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.status.clone()
    }

    /// A receiver of events.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Command,
    ) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Checks the address now (and updates what changed).
    pub async fn check_now(&self) -> Result<(), EngineError> {
        self.commands
            .send(Command::CheckNow)
            .await
            .map_err(|_| EngineError::Stopped)
    }

    /// One pass, waiting for its result.
    pub async fn run_once(&self) -> Result<PassReport, EngineError> {
        self.ask(Command::RunOnce).await
    }

    /// Forces an update of one record (by key or name) or of all, rate-limited.
    pub async fn update_now(&self, record: Option<String>) -> Result<UpdateNowReport, EngineError> {
        self.ask(|tx| Command::UpdateNow(record, tx)).await
    }

    /// Pauses or resumes updates.
    pub async fn pause(&self, paused: bool) -> Result<(), EngineError> {
        self.commands
            .send(Command::Pause(paused))
            .await
            .map_err(|_| EngineError::Stopped)
    }

    /// Goes offline (publishing offline addresses) or back online.
    pub async fn set_offline(&self, offline: bool) -> Result<(), EngineError> {
        self.ask(|tx| Command::Offline(offline, true, tx)).await
    }

    /// Publishes the offline addresses because the app is quitting ("offline on quit"):
    /// like [`set_offline`](Self::set_offline), but the next start is online again.
    pub async fn offline_for_quit(&self) -> Result<(), EngineError> {
        self.ask(|tx| Command::Offline(true, false, tx)).await
    }

    /// Re-enables a record disabled by a fatal answer.
    pub async fn re_enable(&self, record: String) -> Result<(), EngineError> {
        self.re_enable_all(vec![record]).await
    }

    /// Re-enables several records, then checks once for all of them. Nothing is
    /// re-enabled when one of them does not exist.
    pub async fn re_enable_all(&self, records: Vec<String>) -> Result<(), EngineError> {
        self.ask(|tx| Command::ReEnable(records, tx)).await
    }

    /// Reads the config file again.
    pub async fn reload(&self) -> Result<(), EngineError> {
        self.ask(Command::Reload).await
    }

    /// The config as it is on disk (defaults when there is no file).
    pub async fn config(&self) -> Result<Config, EngineError> {
        self.ask(Command::GetConfig).await
    }

    /// The config as it is on disk, with the revision an edit must be based on.
    pub async fn read_config(&self) -> Result<ConfigRead, EngineError> {
        self.ask(Command::ReadConfig).await
    }

    /// Applies one edit to the config file in place and then the config, if the file is
    /// still at `revision`; answers the file's new revision. Refused with
    /// [`EngineError::Stale`] when the file changed since `revision` was read, and with
    /// [`EngineError::Invalid`] listing every problem when the result is not valid: the
    /// file is untouched either way.
    pub async fn edit_config(
        &self,
        revision: String,
        edit: crate::config_edit::ConfigEdit,
    ) -> Result<String, EngineError> {
        self.ask(|tx| Command::EditConfig(revision, Box::new(edit), tx))
            .await
    }

    /// History entries, newest first.
    pub async fn history(
        &self,
        record: Option<String>,
        limit: u32,
    ) -> Result<Vec<HistoryEntry>, EngineError> {
        self.ask(|tx| Command::History(record, limit, tx)).await
    }

    /// Stores an account's secret in the keychain; records the provider refused for bad
    /// credentials are re-enabled.
    pub async fn set_secret(&self, account: String, secret: Secret) -> Result<(), EngineError> {
        self.ask(|tx| Command::SetSecret(account, secret, tx)).await
    }

    /// Checks an account's credential without changing anything at the provider, where
    /// its API can; [`EngineError::Unsupported`] where only an update would tell.
    pub async fn check_account(
        &self,
        account: String,
    ) -> Result<provider::CheckResult, EngineError> {
        self.ask(|tx| Command::CheckAccount(account, tx)).await
    }

    /// The network changed or the machine woke up (`reason` says how): the address is
    /// checked now, with remembered answers set aside. This never sends an update by
    /// itself; one follows only if the checked address differs from the published one.
    pub async fn network_changed(&self, reason: String) {
        let _ = self
            .commands
            .send(Command::NetworkChanged(reason, None))
            .await;
    }

    /// The config file may have changed (`why`: the watcher, SIGHUP). A file that is the
    /// one applied is nothing; a valid new one is applied; an invalid one is reported
    /// (status, event, log) while the running config stays in force.
    pub async fn config_file_changed(&self, why: String) {
        let _ = self.commands.send(Command::ConfigFileChanged(why)).await;
    }

    /// Asks every address source of `family` (or of each family in use) now, whatever
    /// its bench; minimum intervals and suspensions hold (`dyntrayd ip`).
    pub async fn ask_sources(
        &self,
        family: Option<IpFamily>,
    ) -> Result<Vec<AddressStatus>, EngineError> {
        self.ask(|tx| Command::AskSources(family, tx)).await
    }

    /// The machine woke up after about `slept` asleep: the engine's wall clock (which
    /// stood still with the monotonic clock) moves on, and the address is checked as
    /// after a network change.
    pub async fn woke_up(&self, slept: Duration) {
        let reason = format!("woke up (about {} s asleep)", slept.as_secs());
        let _ = self
            .commands
            .send(Command::NetworkChanged(reason, Some(slept)))
            .await;
    }

    /// Waits until the engine has stopped.
    pub async fn stopped(&self) {
        self.commands.closed().await;
    }

    /// Waits until the engine's task has ended, and says how. A host watches this: an
    /// engine that crashed leaves a process that answers "the engine has stopped" to
    /// everything, which must exit with an error instead.
    pub async fn exited(&self) -> EngineExit {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(value) => value.clone().unwrap_or(EngineExit::Stopped),
            // The supervisor is gone without a word: it cannot tell, so say crashed.
            Err(_) => EngineExit::Crashed("the engine's supervisor ended".into()),
        }
    }

    /// The other clients' configs found on this machine, each readable or with why not
    /// and the command line to use instead, with a preview of what an import brings.
    pub async fn find_imports(&self) -> Result<Vec<crate::import::Offer>, EngineError> {
        self.ask(Command::FindImports).await
    }

    /// Imports another client's config: its cached addresses become the accepted ones,
    /// its passwords go into the secret store, and the config is edited in place, before
    /// any pass can send. Refused when `ask.revision` is not the config's any more.
    pub async fn apply_import(
        &self,
        ask: ImportAsk,
    ) -> Result<crate::import::ImportReport, EngineError> {
        self.ask(|tx| Command::ApplyImport(Box::new(ask), tx)).await
    }

    /// Stops the engine after the request in flight, if any.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the engine on the current Tokio runtime.
pub fn spawn(options: EngineOptions) -> Result<EngineHandle, EngineError> {
    let store = StateStore::open(&options.state_dir)?;
    let marker = Arc::new(store.sent_marker()?);
    let departure = Departure::default();
    let http = update_client(&departure)?;
    let (commands, rx) = mpsc::channel(32);
    let (events, _) = broadcast::channel(64);
    let clock = Clock::new(options.clock_start);
    let stored_checks = [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .filter_map(|family| Some((family, store.meta(&last_check_key(family))?)))
        .collect();
    let mut engine = Engine {
        config_path: options.config_path,
        import_sources: options.import_sources,
        secrets: options.secrets,
        fixed_sources: options.sources,
        detector: None,
        clients: None,
        trigger: "start".into(),
        scheduled: options.scheduled,
        http,
        departure,
        marker,
        store,
        clock,
        rng: Rng::seeded(),
        records: Vec::new(),
        accounts: Vec::new(),
        config: None,
        config_error: None,
        config_warning: None,
        applied_revision: None,
        rejected_revision: None,
        addresses: BTreeMap::new(),
        stored_checks,
        notes: BTreeMap::new(),
        updating: Vec::new(),
        paused: false,
        offline: false,
        poll_interval: Duration::from_secs(300),
        next_check: Instant::now(),
        event_checks: EventBudget::new(),
        no_address_since: None,
        events: events.clone(),
        status_tx: None,
    };
    engine.recover()?;
    engine.load_flags();
    engine.load_config();
    let (status_tx, status_rx) = watch::channel(engine.snapshot());
    engine.status_tx = Some(status_tx);
    let watch_network = options.watch_network && engine.scheduled;
    let watch_config = options.watch_config && engine.scheduled;
    let config_path = engine.config_path.clone();
    let exit = supervise(engine.run(rx));
    let handle = EngineHandle {
        commands,
        status: status_rx,
        events,
        exit,
    };
    if watch_network {
        crate::triggers::spawn(handle.clone());
    }
    if watch_config {
        crate::confwatch::spawn(config_path, handle.clone());
    }
    Ok(handle)
}

/// The HTTP client for providers and address sources: no redirects (a redirect could
/// carry credentials elsewhere), bounded connect time, rustls.
/// Runs `task` and reports how it ended: [`EngineExit::Crashed`] with the panic's
/// message when it panicked.
pub fn supervise(
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> watch::Receiver<Option<EngineExit>> {
    let (tx, rx) = watch::channel(None);
    let running = tokio::spawn(task);
    tokio::spawn(async move {
        let exit = match running.await {
            Ok(()) => EngineExit::Stopped,
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                tracing::error!(error = %message, "the engine crashed");
                EngineExit::Crashed(message)
            }
            // Cancelled: the runtime is shutting down with the process.
            Err(_) => EngineExit::Stopped,
        };
        let _ = tx.send(Some(exit));
    });
    rx
}

struct AccountRt {
    id: String,
    provider: &'static dyn Provider,
    server: String,
    /// Whether `server` is the provider's default.
    default_server: bool,
    username: String,
    secret: SecretSource,
    keepalive: Option<Duration>,
    allow_plain_http: bool,
    /// The provider's settings as it parsed them, for every request.
    prepared: provider::Prepared,
    /// The same settings as text, for the records' settings fingerprints.
    extra: BTreeMap<String, String>,
}

struct RecordRt {
    key: String,
    name: String,
    account: usize,
    family: IpFamily,
    options: RecordOptions,
    offline_address: Option<IpAddr>,
    offline_native: bool,
    allow_private: bool,
    enabled: bool,
    ipv6_suffix: Option<Ipv6Addr>,
    fingerprint: String,
}

impl RecordRt {
    fn has_offline(&self) -> bool {
        self.offline_native || self.offline_address.is_some()
    }
}

/// Records that can share one request: same account, family, published value and options.
type BatchKey = (usize, IpFamily, Publish, RecordOptions);
/// One family's batch in a request: the family, what to publish, the records.
type Part = (IpFamily, Publish, Vec<(usize, Reason)>);
/// A request to send: the account, the options, one part (or two, both families).
type Planned = (usize, RecordOptions, Vec<Part>);

/// Why a request is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    /// The address changed.
    Change,
    /// The keep-alive period passed.
    Touch,
    /// The user asked.
    Forced,
    /// The last run stopped after this record's request may have reached the provider:
    /// sent once at start to settle it (a `nochg` to it is expected, not counted).
    Recovery,
}

struct Engine {
    config_path: PathBuf,
    /// Where other clients' configs are looked for.
    import_sources: crate::import::Sources,
    secrets: Arc<dyn SecretStore>,
    fixed_sources: Option<Vec<Arc<dyn Source>>>,
    detector: Option<Detector>,
    /// The address sources' HTTP clients, made with the first config that needs them.
    clients: Option<detect::Clients>,
    /// What asked for the next check (shown in the status).
    trigger: String,
    scheduled: bool,
    http: reqwest::Client,
    /// Fired by `http`'s connector (or a provider's own socket) when an update may leave.
    departure: Departure,
    /// Marks the current update as sent when `departure` fires.
    marker: Arc<SentMarker>,
    store: StateStore,
    clock: Clock,
    rng: Rng,
    records: Vec<RecordRt>,
    accounts: Vec<AccountRt>,
    config: Option<Config>,
    config_error: Option<String>,
    /// A hand edit that could not be applied: the running config stays in force.
    config_warning: Option<String>,
    /// The revision of the file the running config came from.
    applied_revision: Option<String>,
    /// The revision of the hand edit `config_warning` is about: read again unchanged (a
    /// directory watch tells of any file beside it), it is not judged again.
    rejected_revision: Option<String>,
    addresses: BTreeMap<IpFamily, (Detection, Timestamp, String)>,
    /// The last address checks of an earlier run, read once at start: what the status
    /// shows for a family this process has not checked yet.
    stored_checks: BTreeMap<IpFamily, AddressStatus>,
    notes: BTreeMap<String, String>,
    updating: Vec<String>,
    paused: bool,
    offline: bool,
    poll_interval: Duration,
    next_check: Instant,
    event_checks: EventBudget,
    no_address_since: Option<Timestamp>,
    events: broadcast::Sender<EngineEvent>,
    status_tx: Option<watch::Sender<Status>>,
}

impl Engine {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.handle(command).await,
                },
                () = sleep_until_opt(wake) => self.pass_logged().await,
            }
        }
        tracing::debug!("engine stopped");
    }

    fn next_wake(&self) -> Option<Instant> {
        if !self.scheduled || self.config.is_none() || self.records.is_empty() {
            return None;
        }
        let mut wake = self.next_check;
        let now = self.clock.now();
        for record in &self.records {
            if let Ok(state) = self.store.record(&record.key)
                && let Standing::BackingOff { until } = state.standing(now)
            {
                wake = wake.min(self.clock.instant(until));
            }
        }
        Some(wake)
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::CheckNow => self.pass_logged().await,
            Command::RunOnce(reply) => {
                let report = self.pass(None).await;
                let _ = reply.send(report);
            }
            Command::UpdateNow(record, reply) => {
                let result = self.update_now(record).await;
                let _ = reply.send(result);
            }
            Command::Pause(paused) => {
                self.paused = paused;
                self.save_flags();
                tracing::info!(paused, "updates paused");
                self.publish_status();
                if !paused {
                    self.pass_logged().await;
                }
            }
            Command::Offline(offline, persist, reply) => {
                let result = if self.records.iter().any(RecordRt::has_offline) {
                    self.offline = offline;
                    if persist {
                        self.save_flags();
                    }
                    self.pass_logged().await;
                    Ok(())
                } else {
                    Err(EngineError::NotFound(
                        "no record has an off-line address or uses the provider's offline mode"
                            .into(),
                    ))
                };
                let _ = reply.send(result);
            }
            Command::ReEnable(records, reply) => {
                let result = self.re_enable(&records);
                self.publish_status();
                if result.is_ok() {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::Reload(reply) => {
                // As a hand edit is taken: a file that cannot be used leaves the running
                // config in force, and the caller hears why.
                let applied = self.config_file_changed("asked to reload");
                let result = match (&self.config_error, &self.config_warning) {
                    (Some(e), _) | (None, Some(e)) => Err(EngineError::Config(e.clone())),
                    (None, None) => Ok(()),
                };
                self.publish_status();
                if applied {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::GetConfig(reply) => {
                let result = match Config::load(&self.config_path) {
                    Ok(config) => Ok(config.unwrap_or_default()),
                    Err(e) => Err(EngineError::Config(e.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::ReadConfig(reply) => {
                let _ = reply.send(self.read_config());
            }
            Command::EditConfig(revision, edit, reply) => {
                let result = self.edit_config(&revision, &edit);
                self.publish_status();
                if result.is_ok() {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::History(record, limit, reply) => {
                let key = record.map(|r| self.resolve_key(&r).unwrap_or(r));
                let result = self
                    .store
                    .history(key.as_deref(), limit)
                    .map_err(EngineError::from);
                let _ = reply.send(result);
            }
            Command::AskSources(family, reply) => {
                let result = self.ask_sources(family).await;
                let _ = reply.send(result);
            }
            Command::NetworkChanged(reason, slept) => {
                if let Some(slept) = slept {
                    self.clock.start_unix = self.clock.start_unix.saturating_add(secs(slept));
                }
                tracing::info!(%reason, "network change: checking the address");
                if let Some(detector) = &mut self.detector {
                    detector.network_changed();
                }
                self.trigger = reason;
                match self.event_checks.take(Instant::now()) {
                    Ok(()) => self.pass_logged().await,
                    Err(at) => {
                        // Too many lately: check when the next is allowed; further events
                        // fold into that check.
                        self.next_check = self.next_check.min(at);
                        self.publish_status();
                    }
                }
            }
            Command::ConfigFileChanged(why) => {
                if self.config_file_changed(&why) {
                    self.publish_status();
                    self.pass_logged().await;
                } else {
                    self.publish_status();
                }
            }
            Command::CheckAccount(account, reply) => {
                let _ = reply.send(self.check_account(&account).await);
            }
            Command::SetSecret(account, secret, reply) => {
                let result = self.set_secret(&account, &secret);
                self.publish_status();
                if result.is_ok() {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::FindImports(reply) => {
                let _ = reply.send(self.find_imports());
            }
            Command::ApplyImport(ask, reply) => {
                let result = self.apply_import(&ask);
                self.publish_status();
                if result.is_ok() {
                    // The imported addresses are the accepted ones already: this pass
                    // sends only for a name whose address changed.
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pass::{backoff, with_suffix};
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn event_checks_burst_then_one_per_gap() {
        let mut budget = EventBudget::new();
        let start = Instant::now();
        let mut ran = Vec::new();
        // An event every second for a minute: checks run (or are scheduled) when allowed.
        let mut pending: Option<Instant> = None;
        for second in 0..60u64 {
            let now = start + Duration::from_secs(second);
            if pending.is_some_and(|at| at <= now) {
                ran.push(pending.take().map(|at| (at - start).as_secs()));
            }
            match budget.take(now) {
                Ok(()) => ran.push(Some(second)),
                Err(at) => pending = Some(at),
            }
        }
        let ran: Vec<u64> = ran.into_iter().flatten().collect();
        // Three at once, then one per ten seconds: no more, and no fewer.
        assert_eq!(ran, [0, 1, 2, 10, 20, 30, 40, 50]);
    }

    #[test]
    fn suffixes_replace_the_interface_part() {
        let detected: Ipv6Addr = "2a00:1:2:3:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let suffix: Ipv6Addr = "::1234".parse().unwrap();
        assert_eq!(
            with_suffix(detected, suffix),
            "2a00:1:2:3::1234".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_is_reported_as_crashed() {
        let mut exit = supervise(async { panic!("the back-off overflowed") });
        let ended = exit.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(
            ended,
            Some(EngineExit::Crashed("the back-off overflowed".into()))
        );
        let mut exit = supervise(async {});
        let ended = exit.wait_for(Option::is_some).await.unwrap().clone();
        assert_eq!(ended, Some(EngineExit::Stopped));
    }

    #[test]
    fn waits_from_outside_are_bounded() {
        let mut rng = Rng(12345);
        for asked in [
            Duration::MAX,
            Duration::from_secs(u64::MAX),
            MAX_PROVIDER_WAIT * 3,
        ] {
            let wait = backoff(&mut rng, u32::MAX, true, Some(asked));
            assert!(wait >= MAX_PROVIDER_WAIT, "{wait:?}");
            assert!(wait <= MAX_PROVIDER_WAIT.mul_f64(1.1), "{wait:?}");
        }
        assert_eq!(secs(Duration::MAX), Timestamp::MAX);
        let clock = Clock::new(Some(Timestamp::MAX - 5));
        assert_eq!(clock.now(), Timestamp::MAX - 5);
        // A time far beyond anything representable is not a panic.
        let _ = clock.instant(Timestamp::MAX);
        let _ = clock.instant(Timestamp::MIN);
    }

    #[test]
    fn settings_fingerprints_stay_as_earlier_versions_stored_them() {
        use super::setup::{SettingsParts, settings_fingerprint};
        let none = BTreeMap::new();
        let mut extra = BTreeMap::new();
        let options = RecordOptions {
            wildcard: Some(true),
            mx: Some("mail.example.org".into()),
            backup_mx: None,
            create: false,
        };
        let parts = SettingsParts {
            provider: "dyndns",
            server: "https://members.dyndns.org",
            username: "alice",
            options: &options,
            offline_address: Some("81.2.69.1".parse().unwrap()),
            offline_native: false,
            extra: &none,
            ipv6_suffix: None,
        };
        // Pinned: a change here re-sends every user's records after an upgrade.
        let pinned = "dyndns|https://members.dyndns.org|alice|Some(true)|Some(\"mail.example.org\")|None|Some(81.2.69.1)|false";
        assert_eq!(settings_fingerprint(&parts), pinned);
        // The same as the Debug output it was first made from.
        let debug = format!(
            "dyndns|https://members.dyndns.org|alice|{:?}|{:?}|{:?}|{:?}|false",
            options.wildcard,
            options.mx,
            options.backup_mx,
            Some("81.2.69.1".parse::<IpAddr>().unwrap())
        );
        assert_eq!(pinned, debug);
        extra.insert("ttl".to_owned(), "60".to_owned());
        extra.insert("zone".to_owned(), "example.org".to_owned());
        let parts = SettingsParts {
            extra: &extra,
            ipv6_suffix: Some("::1234".parse().unwrap()),
            options: &RecordOptions::default(),
            offline_address: None,
            ..parts
        };
        assert_eq!(
            settings_fingerprint(&parts),
            format!(
                "dyndns|https://members.dyndns.org|alice|None|None|None|None|false|{extra:?}|suffix ::1234"
            )
        );
        assert_eq!(
            settings_fingerprint(&parts),
            "dyndns|https://members.dyndns.org|alice|None|None|None|None|false|\
             {\"ttl\": \"60\", \"zone\": \"example.org\"}|suffix ::1234"
        );
        // Quotes and backslashes are written as Debug wrote them.
        let mut odd = BTreeMap::new();
        odd.insert("k".to_owned(), "it's \"x\"\\y".to_owned());
        let parts = SettingsParts {
            extra: &odd,
            ..parts
        };
        assert!(settings_fingerprint(&parts).contains(&format!("{odd:?}")));
    }

    #[test]
    fn rng_fraction_is_in_range() {
        let mut rng = Rng::seeded();
        for _ in 0..1000 {
            let f = rng.fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
