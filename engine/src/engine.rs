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
    self, IpFamily, Outcome, Provider, Publish, RecordOptions, Scope, UpdateItem, UpdateRequest,
    Verdict,
};
use crate::secrets::{self, Secret, SecretSource, SecretStore};
use crate::state::{
    Disabled, HistoryEntry, RecordState, SentMarker, StateError, StateStore, Timestamp,
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
}

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

enum Command {
    CheckNow,
    RunOnce(oneshot::Sender<Result<PassReport, EngineError>>),
    UpdateNow(
        Option<String>,
        oneshot::Sender<Result<UpdateNowReport, EngineError>>,
    ),
    Pause(bool),
    Offline(bool, bool, oneshot::Sender<Result<(), EngineError>>),
    ReEnable(String, oneshot::Sender<Result<(), EngineError>>),
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
    NetworkChanged(String, Option<Duration>),
    ConfigFileChanged(String),
    AskSources(
        Option<IpFamily>,
        oneshot::Sender<Result<Vec<AddressStatus>, EngineError>>,
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
        self.ask(|tx| Command::ReEnable(record, tx)).await
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
    let http = update_client(&departure);
    let (commands, rx) = mpsc::channel(32);
    let (events, _) = broadcast::channel(64);
    let clock = Clock::new(options.clock_start);
    let mut engine = Engine {
        config_path: options.config_path,
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
        addresses: BTreeMap::new(),
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

/// How many event-triggered checks may run now: a token bucket of
/// [`EVENT_CHECK_BURST`] refilled one per [`EVENT_CHECK_GAP`].
struct EventBudget {
    /// Tokens left, in units of 1/1000.
    milli: u64,
    at: Instant,
    /// A deferred check is already scheduled at this time.
    deferred: Option<Instant>,
}

impl EventBudget {
    fn new() -> Self {
        Self {
            milli: u64::from(EVENT_CHECK_BURST) * 1000,
            at: Instant::now(),
            deferred: None,
        }
    }

    /// Takes a token, or tells when the deferred check runs.
    fn take(&mut self, now: Instant) -> Result<(), Instant> {
        let gap = EVENT_CHECK_GAP.as_millis() as u64;
        // `at` is in the future while a deferred check waits: nothing refills until then.
        if now > self.at {
            let refill = (now - self.at).as_millis() as u64 * 1000 / gap;
            self.milli = (self.milli + refill).min(u64::from(EVENT_CHECK_BURST) * 1000);
            self.at = now;
        }
        if let Some(at) = self.deferred.filter(|at| *at > now) {
            return Err(at);
        }
        self.deferred = None;
        if self.milli >= 1000 {
            self.milli -= 1000;
            return Ok(());
        }
        let wait = Duration::from_millis((1000 - self.milli) * gap / 1000);
        // The deferred check spends the token it waits for.
        self.milli = 0;
        self.at = now + wait;
        self.deferred = Some(now + wait);
        Err(now + wait)
    }
}

/// A source's identity, with a provider's check-IP the same as its URL.
fn source_identity(spec: &detect::SourceSpec) -> String {
    match spec {
        detect::SourceSpec::Provider { provider: id } => provider::lookup(id)
            .and_then(|p| p.descriptor().checkip)
            .map_or_else(|| spec.identity(), detect::spec::url_identity),
        other => other.identity(),
    }
}

/// `detected`'s /64 prefix with `suffix`'s interface part.
fn with_suffix(detected: Ipv6Addr, suffix: Ipv6Addr) -> Ipv6Addr {
    let prefix = u128::from(detected) & !u128::from(u64::MAX);
    Ipv6Addr::from(prefix | (u128::from(suffix) & u128::from(u64::MAX)))
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

/// The client every provider's update goes through: no redirects, a connect time-out,
/// a proxy only for HTTPS to a remote server (see [`update_proxy`]), one connection per
/// request, and `departure` fired when that connection is open.
pub fn update_client(departure: &Departure) -> reqwest::Client {
    update_client_with(departure, &ProxyEnv::from_env())
}

/// [`update_client`] with the proxy settings given (tests cannot set variables safely).
pub fn update_client_with(departure: &Departure, proxy_env: &ProxyEnv) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        // A pooled connection would carry a request without a new connection, so the
        // departure would not fire: updates are rare, each gets its own connection.
        .pool_max_idle_per_host(0)
        .connector_layer(departure.layer())
        .no_proxy();
    if let Some(proxy) = update_proxy(proxy_env) {
        builder = builder.proxy(proxy);
    }
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "HTTP client set-up failed; using defaults");
        reqwest::Client::new()
    })
}

/// The proxy settings in the environment, as read once when a client is made.
#[derive(Debug, Clone, Default)]
pub struct ProxyEnv {
    /// `HTTPS_PROXY`, else `ALL_PROXY` (either case).
    pub https: Option<String>,
    /// `NO_PROXY` (either case).
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// Reads the variables.
    pub fn from_env() -> Self {
        let var = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
        };
        Self {
            https: var(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]),
            no_proxy: var(&["NO_PROXY", "no_proxy"]),
        }
    }
}

/// Addresses that never go through a proxy, whatever `NO_PROXY` says.
const NEVER_PROXIED: &str = "localhost,127.0.0.0/8,::1";

/// The proxy for updates: the system's HTTPS proxy, for `https://` servers only, never
/// for loopback. Credentials go to a remote server only over HTTPS, which a proxy
/// tunnels (CONNECT) without seeing them; plain `http://` goes only to loopback, which
/// a proxy could only intercept, so it is always direct. `HTTP_PROXY` is not used.
pub fn update_proxy(env: &ProxyEnv) -> Option<reqwest::Proxy> {
    let url = env.https.as_deref()?;
    let no_proxy = match env.no_proxy.as_deref() {
        Some(list) => format!("{list},{NEVER_PROXIED}"),
        None => NEVER_PROXIED.to_owned(),
    };
    match reqwest::Proxy::https(url) {
        Ok(proxy) => Some(proxy.no_proxy(reqwest::NoProxy::from_string(&no_proxy))),
        Err(e) => {
            tracing::warn!(error = %e, "the HTTPS proxy in the environment is not usable; \
                updates go direct");
            None
        }
    }
}

/// A plain client (no redirects, a connect time-out), for the address sources' fallback.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| {
            // Building fails only when the TLS backend cannot initialise; a default
            // client still serves loopback tests and reports TLS errors per request.
            tracing::error!(error = %e, "HTTP client set-up failed; using defaults");
            reqwest::Client::new()
        })
}

/// Wall-clock seconds derived from Tokio's clock, so paused-time tests move both.
struct Clock {
    start_unix: Timestamp,
    start: Instant,
}

impl Clock {
    fn new(start_unix: Option<Timestamp>) -> Self {
        let start_unix = start_unix.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(secs)
                .unwrap_or(0)
        });
        Self {
            start_unix,
            start: Instant::now(),
        }
    }

    fn now(&self) -> Timestamp {
        self.start_unix.saturating_add(secs(self.start.elapsed()))
    }

    /// The Tokio instant of a wall-clock time (for timers); a time too far ahead to
    /// represent is a year away, which no timer here needs to reach.
    fn instant(&self, at: Timestamp) -> Instant {
        let delta = at.saturating_sub(self.now());
        let now = Instant::now();
        match u64::try_from(delta) {
            Ok(0) | Err(_) => now,
            Ok(delta) => {
                let delta = Duration::from_secs(delta).min(Duration::from_secs(366 * 86_400));
                now.checked_add(delta).unwrap_or(now)
            }
        }
    }
}

/// Jitter only needs to spread clients apart, not resist prediction: xorshift.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64)
            .unwrap_or(0);
        Self((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A fraction in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct AccountRt {
    id: String,
    provider: &'static dyn Provider,
    server: String,
    username: String,
    secret: SecretSource,
    keepalive: Option<Duration>,
    allow_plain_http: bool,
    /// Provider-specific settings (RFC 2136's zone, TTL, algorithm).
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
    addresses: BTreeMap<IpFamily, (Detection, Timestamp, String)>,
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

const FLAGS_KEY: &str = "__engine_flags";

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
                && let Some(until) = state.backoff_until
                && until > now
                && state.disabled.is_none()
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
            Command::ReEnable(record, reply) => {
                let result = self.re_enable(&record);
                self.publish_status();
                if result.is_ok() {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::Reload(reply) => {
                self.load_config();
                let result = match &self.config_error {
                    Some(e) => Err(EngineError::Config(e.clone())),
                    None => Ok(()),
                };
                self.publish_status();
                if result.is_ok() {
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
            Command::SetSecret(account, secret, reply) => {
                let result = self.set_secret(&account, &secret);
                self.publish_status();
                if result.is_ok() {
                    self.pass_logged().await;
                }
                let _ = reply.send(result);
            }
            Command::Shutdown(_) => {}
        }
    }

    // ---- config ----------------------------------------------------------------------

    /// See [`EngineHandle::config_file_changed`]; `true` when a new config was applied.
    fn config_file_changed(&mut self, why: &str) -> bool {
        let revision = match self.config_bytes() {
            Ok(bytes) => crate::config_edit::revision(bytes.as_deref()),
            Err(e) => e.to_string(),
        };
        if self.applied_revision.as_deref() == Some(revision.as_str()) {
            // The file we applied (or wrote ourselves): nothing new.
            return false;
        }
        let running = self.config.is_some();
        let (config, error) = self.read_checked();
        match (config, error) {
            (Some(config), _) => {
                tracing::info!(%why, path = %self.config_path.display(), "config file changed: applied");
                self.config_error = None;
                self.config_warning = None;
                self.applied_revision = Some(revision);
                self.apply_config(config);
                true
            }
            (None, Some(error)) if running => {
                let message = format!(
                    "Your edit of {} is not applied; the settings from before stay in force \
                     until it is fixed. {error}",
                    self.config_path.display()
                );
                tracing::error!(%why, error = %error, "config file changed but is not usable; \
                    the running config stays");
                if self.config_warning.as_deref() != Some(message.as_str()) {
                    let _ = self.events.send(EngineEvent::ConfigRejected {
                        message: message.clone(),
                    });
                }
                self.config_warning = Some(message);
                false
            }
            (None, _) => {
                self.load_config();
                self.config.is_some()
            }
        }
    }

    /// The config file read and checked: the config, or why it cannot be used.
    fn read_checked(&self) -> (Option<Config>, Option<String>) {
        let loaded = match Config::load(&self.config_path) {
            Ok(Some(config)) => Ok(config),
            Ok(None) => Ok(Config::default()),
            Err(e) => Err(e.to_string()),
        };
        match loaded.and_then(|c| {
            let problems = check_against_registry(&c);
            if problems.is_empty() {
                Ok(c)
            } else {
                Err(format_problems(&self.config_path, &problems))
            }
        }) {
            Ok(config) => (Some(config), None),
            Err(e) => (None, Some(e)),
        }
    }

    fn load_config(&mut self) {
        self.applied_revision = self
            .config_bytes()
            .ok()
            .map(|bytes| crate::config_edit::revision(bytes.as_deref()));
        self.config_warning = None;
        let loaded = match Config::load(&self.config_path) {
            Ok(Some(config)) => Ok(config),
            Ok(None) => Ok(Config::default()),
            Err(e) => Err(e.to_string()),
        };
        let config = match loaded.and_then(|c| {
            let problems = check_against_registry(&c);
            if problems.is_empty() {
                Ok(c)
            } else {
                Err(format_problems(&self.config_path, &problems))
            }
        }) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "config not usable; nothing is updated until it is fixed");
                self.config_error = Some(e);
                self.config = None;
                self.records.clear();
                self.accounts.clear();
                return;
            }
        };
        self.config_error = None;
        self.apply_config(config);
    }

    fn apply_config(&mut self, config: Config) {
        self.poll_interval = config.general.poll_interval;
        self.accounts = config
            .accounts
            .iter()
            .filter_map(|a| {
                let provider = provider::lookup(&a.provider)?;
                let server = a
                    .server
                    .clone()
                    .or_else(|| provider.descriptor().default_server.map(str::to_owned))?;
                Some(AccountRt {
                    id: a.id.clone(),
                    provider,
                    server,
                    username: a.username.clone(),
                    secret: match &a.secret {
                        SecretRef::Keychain => SecretSource::Keychain,
                        SecretRef::File(p) => SecretSource::File(p.clone()),
                        SecretRef::Env(v) => SecretSource::Env(v.clone()),
                    },
                    keepalive: match a.keepalive {
                        Some(Keepalive::Off) => None,
                        Some(Keepalive::Every(d)) => Some(d),
                        None => provider.descriptor().keepalive,
                    },
                    // Servers are https:// (or loopback): the config refuses anything else.
                    allow_plain_http: false,
                    extra: a.provider_options(),
                })
            })
            .collect();
        let mut records = Vec::new();
        let account_index: BTreeMap<&str, usize> = self
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        for r in &config.records {
            let Some(&account) = account_index.get(r.account.as_str()) else {
                continue;
            };
            let families: &[IpFamily] = match r.family {
                Family::A => &[IpFamily::V4],
                Family::Aaaa => &[IpFamily::V6],
                Family::Both => &[IpFamily::V4, IpFamily::V6],
            };
            let acc = &self.accounts[account];
            for &family in families {
                let options = RecordOptions {
                    wildcard: r.wildcard,
                    mx: r.mx.clone(),
                    backup_mx: r.backup_mx,
                };
                let offline_native = r.offline_mode && acc.provider.descriptor().native_offline;
                let mut fingerprint = format!(
                    "{}|{}|{}|{:?}|{:?}|{:?}|{:?}|{}",
                    acc.provider.descriptor().id,
                    acc.server,
                    acc.username,
                    options.wildcard,
                    options.mx,
                    options.backup_mx,
                    r.offline_address,
                    offline_native
                );
                // Provider settings count too; records without any keep the fingerprint
                // they had before such settings existed.
                if !acc.extra.is_empty() {
                    fingerprint.push_str(&format!("|{:?}", acc.extra));
                }
                let ipv6_suffix = r.ipv6_suffix.filter(|_| family == IpFamily::V6);
                if let Some(suffix) = ipv6_suffix {
                    fingerprint.push_str(&format!("|suffix {suffix}"));
                }
                records.push(RecordRt {
                    key: record_key(&r.account, &r.name, family),
                    name: r.name.clone(),
                    account,
                    family,
                    options,
                    offline_address: r.offline_address.filter(|a| IpFamily::of(*a) == family),
                    offline_native,
                    allow_private: r.allow_private,
                    enabled: r.enabled,
                    ipv6_suffix,
                    fingerprint,
                });
            }
        }
        // An edited record starts afresh: re-enabled, and its (new) settings sent. All in
        // one transaction: a file of thousands of records is one write, not thousands.
        let mut changed = Vec::new();
        for record in &records {
            let Ok(mut state) = self.store.record(&record.key) else {
                continue;
            };
            if state.fingerprint.as_deref() != Some(record.fingerprint.as_str()) {
                let known = state.fingerprint.is_some();
                state.fingerprint = Some(record.fingerprint.clone());
                if known {
                    tracing::info!(record = %record.key, "record settings changed: re-enabled and resent");
                    state.disabled = None;
                    state.backoff_until = None;
                    state.backoff_step = 0;
                    state.consecutive_nochg = 0;
                    state.last_address = None;
                    state.offline_active = false;
                }
                changed.push((record.key.clone(), state));
            }
        }
        if let Err(e) = self.store.save_all(&changed) {
            tracing::error!(error = %e, "cannot save record state");
        }
        self.records = records;
        let mut detector = match &self.fixed_sources {
            Some(sources) => Detector::new(sources.clone(), sources.clone(), config.detect.agree),
            None => {
                let http = &self.http;
                let clients: &detect::Clients = self
                    .clients
                    .get_or_insert_with(|| detect::Clients::new(http));
                let build = |specs: &[detect::SourceSpec]| -> Vec<Arc<dyn Source>> {
                    specs
                        .iter()
                        .filter_map(|spec| match detect::build(spec, clients) {
                            Ok(source) => Some(source),
                            // check_against_registry has refused such a config already.
                            Err(e) => {
                                tracing::error!(source = %spec, error = %e, "source left out");
                                None
                            }
                        })
                        .collect()
                };
                Detector::new(
                    build(&config.detect.ipv4),
                    build(&config.detect.ipv6),
                    config.detect.agree,
                )
            }
        };
        if let Some(old) = self.detector.take() {
            detector.inherit(old);
        }
        self.detector = Some(detector);
        self.config = Some(config);
        self.next_check = Instant::now();
    }

    /// The config file's bytes, `None` when there is none.
    fn config_bytes(&self) -> Result<Option<Vec<u8>>, EngineError> {
        match crate::files::read_regular(&self.config_path, crate::files::MAX_CONFIG_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::Config(format!(
                "cannot read {}: {e}",
                self.config_path.display()
            ))),
        }
    }

    fn read_config(&self) -> Result<ConfigRead, EngineError> {
        let bytes = self.config_bytes()?;
        let revision = crate::config_edit::revision(bytes.as_deref());
        let config = match &bytes {
            None => Config::default(),
            Some(_) => Config::load(&self.config_path)
                .map_err(|e| EngineError::Config(e.to_string()))?
                .unwrap_or_default(),
        };
        Ok(ConfigRead { config, revision })
    }

    fn edit_config(
        &mut self,
        revision: &str,
        edit: &crate::config_edit::ConfigEdit,
    ) -> Result<String, EngineError> {
        let bytes = self.config_bytes()?;
        if crate::config_edit::revision(bytes.as_deref()) != revision {
            return Err(EngineError::Stale(
                "The config changed since you opened this form (by hand, or in another \
                 window): it has been read again; make your change once more."
                    .into(),
            ));
        }
        let text = match &bytes {
            None => String::new(),
            Some(bytes) => String::from_utf8(bytes.clone()).map_err(|_| {
                EngineError::Config(format!(
                    "{} is not UTF-8 text; fix it by hand first, it is not overwritten",
                    self.config_path.display()
                ))
            })?,
        };
        let edited = crate::config_edit::apply(&text, edit).map_err(|e| match e {
            crate::config_edit::EditError::NotFound(m) => EngineError::NotFound(m),
            other => EngineError::Config(other.to_string()),
        })?;
        let config = Config::parse(&edited).map_err(EngineError::Invalid)?;
        let problems = check_against_registry(&config);
        if !problems.is_empty() {
            return Err(EngineError::Invalid(problems));
        }
        crate::config::write_text(&self.config_path, &edited)
            .map_err(|e| EngineError::Config(e.to_string()))?;
        tracing::info!(path = %self.config_path.display(), "config edited");
        self.load_config();
        if let Some(e) = &self.config_error {
            return Err(EngineError::Config(e.clone()));
        }
        Ok(crate::config_edit::revision(Some(edited.as_bytes())))
    }

    fn resolve_key(&self, record: &str) -> Option<String> {
        self.records
            .iter()
            .find(|r| r.key == record)
            .or_else(|| self.records.iter().find(|r| r.name == record))
            .map(|r| r.key.clone())
    }

    // ---- persistence -----------------------------------------------------------------

    /// Intents left by a run that died before recording their answers (see
    /// `docs/recovery.md`). One whose connection never opened never left the machine:
    /// it is sent at the first check, as if the run had not been interrupted. One whose
    /// connection opened may have reached the provider; none of the providers here can be
    /// read back, so it is sent once more at start (providers accept one unchanged update
    /// at a client's start), and its `nochg` is not counted. Both are marked in history.
    fn recover(&mut self) -> Result<(), EngineError> {
        for pending in self.store.take_pending()? {
            let mut state = self.store.record(&pending.record)?;
            let answer = if pending.sent {
                tracing::warn!(record = %pending.record, address = %pending.address,
                    "the last run stopped after sending an update, before its answer; \
                     sending it once more to settle it");
                state.unconfirmed = true;
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

    fn load_flags(&mut self) {
        if let Ok(state) = self.store.record(FLAGS_KEY) {
            self.paused = state.consecutive_nochg & 1 != 0;
            self.offline = state.consecutive_nochg & 2 != 0;
        }
    }

    fn save_flags(&mut self) {
        // The flags ride in a reserved row of the record table: two bits.
        let state = RecordState {
            consecutive_nochg: u32::from(self.paused) | (u32::from(self.offline) << 1),
            ..RecordState::default()
        };
        if let Err(e) = self.store.save(FLAGS_KEY, &state) {
            tracing::error!(error = %e, "cannot save the paused/offline flags");
        }
    }

    fn re_enable(&mut self, record: &str) -> Result<(), EngineError> {
        let key = self
            .resolve_key(record)
            .ok_or_else(|| EngineError::NotFound(format!("no record `{record}`")))?;
        self.store.re_enable(&key)?;
        tracing::info!(record = %key, "re-enabled by the user");
        Ok(())
    }

    fn set_secret(&mut self, account: &str, secret: &Secret) -> Result<(), EngineError> {
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

    // ---- the pass --------------------------------------------------------------------

    /// A pass whose failure (config, storage) is logged and shown in the status.
    async fn pass_logged(&mut self) {
        if let Err(e) = self.pass(None).await
            && !matches!(e, EngineError::Config(_))
        {
            tracing::error!(error = %e, "update pass failed");
        }
    }

    /// Checks addresses and sends what must be sent. `forced` lists records the user
    /// forced ("Update now").
    async fn pass(&mut self, forced: Option<&[String]>) -> Result<PassReport, EngineError> {
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
            if let Some(disabled) = &state.disabled {
                report
                    .failed
                    .push((record.key.clone(), format!("disabled: {}", disabled.answer)));
                continue;
            }
            if !is_forced && state.backoff_until.is_some_and(|t| t > now) {
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
            let unchanged = match publish {
                Publish::Address(a) => state.last_address == Some(a) && !state.offline_active,
                Publish::Offline => state.offline_active,
            };
            let reason = if is_forced {
                Reason::Forced
            } else if state.unconfirmed {
                Reason::Recovery
            } else if !unchanged {
                Reason::Change
            } else if self.keepalive_due(record, &state, now) {
                Reason::Touch
            } else {
                report.succeeded.push(record.key.clone());
                continue;
            };
            if !is_forced && let Some(until) = state.backoff_until {
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

        for ((account, _family, publish, options), members) in work {
            let max = self.accounts[account]
                .provider
                .descriptor()
                .max_batch
                .max(1);
            for chunk in members.chunks(max) {
                // An account-level refusal earlier in this pass stops the account's other
                // batches too.
                let mut live = Vec::with_capacity(chunk.len());
                for &(index, reason) in chunk {
                    if self
                        .store
                        .record(&self.records[index].key)?
                        .disabled
                        .is_none()
                    {
                        live.push((index, reason));
                    }
                }
                if live.is_empty() {
                    continue;
                }
                report.requests += 1;
                self.send(account, publish, &options, &live, &mut report)
                    .await?;
            }
        }
        self.remind(now);
        self.publish_status();
        Ok(report)
    }

    fn address_for(&self, record: &RecordRt) -> Result<IpAddr, String> {
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

    async fn ask_sources(
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
    fn families_in_use(&self) -> Vec<(IpFamily, bool)> {
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
    fn suspended_sources(&self) -> BTreeSet<String> {
        let mut refused = BTreeSet::new();
        for record in &self.records {
            let disabled = self
                .store
                .record(&record.key)
                .is_ok_and(|state| state.disabled.is_some());
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
    async fn secrets_fixed(&mut self) {
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
    fn families_that_can_act(&self, forced: Option<&[String]>) -> Vec<(IpFamily, bool)> {
        let now = self.clock.now();
        let mut families: Vec<(IpFamily, bool)> = Vec::new();
        for record in self.records.iter().filter(|r| r.enabled) {
            let is_forced = forced.is_some_and(|f| f.contains(&record.key));
            if !is_forced {
                let Ok(state) = self.store.record(&record.key) else {
                    continue;
                };
                if state.disabled.is_some() || state.backoff_until.is_some_and(|t| t > now) {
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

    async fn detect(&mut self, forced: Option<&[String]>) {
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

    fn keepalive_due(&self, record: &RecordRt, state: &RecordState, now: Timestamp) -> bool {
        let Some(period) = self.accounts[record.account].keepalive else {
            return false;
        };
        state
            .last_success_at
            .is_some_and(|t| now.saturating_sub(t) >= secs(period))
    }

    async fn send(
        &mut self,
        account: usize,
        publish: Publish,
        options: &RecordOptions,
        members: &[(usize, Reason)],
        report: &mut PassReport,
    ) -> Result<(), EngineError> {
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
                for &(index, _) in members {
                    let key = self.records[index].key.clone();
                    self.notes.insert(key.clone(), message.clone());
                    report.failed.push((key, message.clone()));
                }
                return Ok(());
            }
        };
        let request = UpdateRequest {
            server: acc.server.clone(),
            username: acc.username.clone(),
            secret,
            publish,
            options: options.clone(),
            items: members
                .iter()
                .map(|&(index, _)| UpdateItem {
                    record: self.records[index].key.clone(),
                    name: self.records[index].name.clone(),
                })
                .collect(),
            allow_plain_http: acc.allow_plain_http,
            extra: acc.extra.clone(),
            departure: self.departure.clone(),
        };
        let keys: Vec<&str> = request.items.iter().map(|i| i.record.as_str()).collect();
        let now = self.clock.now();
        if let Publish::Address(address) = publish {
            // The intent first; it is marked sent when the connection opens, before the
            // request can leave (docs/recovery.md).
            self.store.begin(&keys, address, now)?;
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
            publish = ?publish, "sending update");

        let mut outcomes = provider.update(&self.http, &request).await;
        self.departure.disarm();
        // A refused file or environment secret: remember which (by fingerprint), so that
        // the user fixing the file or variable is noticed (see `secrets_fixed`).
        let acc = &self.accounts[account];
        if !matches!(acc.secret, SecretSource::Keychain)
            && outcomes
                .iter()
                .any(|o| matches!(o.verdict, Verdict::Fatal { .. }) && is_credential_code(&o.code))
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
        self.apply(account, publish, members, &outcomes, report)
    }

    fn apply(
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
            let first_ever = state.last_attempt_at.is_none();
            state.last_attempt_at = Some(now);
            // One attempt settles an interrupted update, whatever its answer: a transient
            // failure is retried as an ordinary change, with the nochg rule back on.
            if reason == Reason::Recovery {
                state.unconfirmed = false;
            }
            state.last_answer = Some(outcome.answer.clone());
            self.notes.remove(&record.key);
            match &outcome.verdict {
                Verdict::Success | Verdict::NoChange => {
                    state.last_address = sent.or(state.last_address);
                    state.offline_active = sent.is_none();
                    state.last_success_at = Some(now);
                    state.backoff_until = None;
                    state.backoff_step = 0;
                    state.unconfirmed = false;
                    if reason == Reason::Forced {
                        state.last_forced_at = Some(now);
                    }
                    let counted = outcome.verdict == Verdict::NoChange
                        && reason == Reason::Change
                        && !first_ever;
                    if reason == Reason::Recovery {
                        tracing::info!(record = %record.key,
                            "the update interrupted by the last run is settled");
                    }
                    if outcome.verdict == Verdict::Success {
                        state.consecutive_nochg = 0;
                        updated.push(record.name.clone());
                        report.succeeded.push(record.key.clone());
                    } else if counted {
                        state.consecutive_nochg = state.consecutive_nochg.saturating_add(1);
                        if state.consecutive_nochg >= 2 {
                            let advice = "The provider answered nochg twice for an address it \
                                          already had; more would get the host blocked. Check \
                                          that nothing else updates this name, then re-enable it.";
                            state.disabled = Some(Disabled {
                                code: "repeated-nochg".into(),
                                answer: outcome.answer.clone(),
                                advice: advice.into(),
                                at: now,
                            });
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
                            report.succeeded.push(record.key.clone());
                        }
                    } else {
                        report.succeeded.push(record.key.clone());
                    }
                }
                Verdict::Transient {
                    retry_after,
                    reached,
                } => {
                    state.backoff_step = state.backoff_step.saturating_add(1);
                    let wait = backoff(&mut self.rng, state.backoff_step, *reached, *retry_after);
                    let until = now.saturating_add(secs(wait));
                    state.backoff_until = Some(until);
                    tracing::warn!(record = %record.key, code = %outcome.code,
                        answer = %outcome.answer, until = %crate::time::format_local(until),
                        "provider trouble: backing off");
                    report
                        .failed
                        .push((record.key.clone(), outcome.answer.clone()));
                }
                Verdict::Protocol => {
                    state.backoff_step = state.backoff_step.saturating_add(1);
                    let wait = backoff(&mut self.rng, state.backoff_step, true, None);
                    let until = now.saturating_add(secs(wait));
                    state.backoff_until = Some(until);
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
                    state.disabled = Some(Disabled {
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
            if matches!(outcome.verdict, Verdict::Success | Verdict::NoChange) {
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
                if state.disabled.is_none() {
                    state.disabled = Some(Disabled {
                        code: outcome.code.clone(),
                        answer: outcome.answer.clone(),
                        advice: outcome.advice.clone().unwrap_or_default(),
                        at: now,
                    });
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

    fn remind(&mut self, now: Timestamp) {
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
            let Some(since) = state.last_reminded_at.or(state.last_success_at) else {
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
                state.last_reminded_at = Some(now);
                if let Err(e) = self.store.save(&record.key, &state) {
                    tracing::error!(error = %e, "cannot save reminder time");
                }
            }
        }
    }

    async fn update_now(&mut self, record: Option<String>) -> Result<UpdateNowReport, EngineError> {
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
            if state.disabled.is_some() {
                warnings.push(format!("{shown} is disabled; re-enable it first"));
                continue;
            }
            if let Some(at) = state.last_forced_at {
                let next = at.saturating_add(secs(FORCE_INTERVAL));
                if next > now {
                    if record.is_some() {
                        return Err(EngineError::TooSoon(format!(
                            "{shown} was updated on request less than 10 minutes ago; \
                             allowed again at {}",
                            crate::time::format_local(next)
                        )));
                    }
                    warnings.push(format!(
                        "{shown}: allowed again at {}",
                        crate::time::format_local(next)
                    ));
                    continue;
                }
            }
            allowed.push(key);
        }
        self.detect(Some(&allowed)).await;
        for key in &allowed {
            if let Some(record) = self.records.iter().find(|r| &r.key == key)
                && let (Ok(address), Ok(state)) = (self.address_for(record), self.store.record(key))
                && state.last_address == Some(address)
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

    // ---- status ----------------------------------------------------------------------

    fn snapshot(&self) -> Status {
        let now = self.clock.now();
        let mut records = Vec::new();
        for record in &self.records {
            let state = self.store.record(&record.key).unwrap_or_default();
            let acc = &self.accounts[record.account];
            let note = self.notes.get(&record.key).cloned().or_else(|| {
                if state.unconfirmed {
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
            let phase = if !record.enabled {
                Phase::Off
            } else if self.updating.contains(&record.key) {
                Phase::Updating
            } else if state.disabled.is_some() {
                Phase::Disabled
            } else if self.notes.contains_key(&record.key) {
                Phase::Error
            } else if state.backoff_until.is_some_and(|t| t > now) {
                Phase::BackingOff
            } else if state.last_success_at.is_some() && !state.unconfirmed {
                Phase::Ok
            } else {
                Phase::Pending
            };
            records.push(RecordStatus {
                key: record.key.clone(),
                name: record.name.clone(),
                account: acc.id.clone(),
                provider: acc.provider.descriptor().id.into(),
                family: record.family.record_type().into(),
                phase,
                address: state.last_address,
                last_update_at: state.last_success_at,
                last_attempt_at: state.last_attempt_at,
                last_answer: state.last_answer.clone(),
                disabled: state.disabled.clone(),
                next_attempt_at: state.backoff_until.filter(|t| *t > now),
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
                    addresses.extend(self.store.meta(&last_check_key(family)));
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
            addresses,
            records,
            next_check_at,
            notify_success: self
                .config
                .as_ref()
                .is_none_or(|c| c.general.notify_success),
        }
    }

    fn publish_status(&self) {
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

/// The wait after the `step`-th failure in a row: from 30 minutes (5 for a first
/// network error that never reached the provider), doubling, at most a day, plus up
/// to 10% jitter; never shorter than a wait the provider asked for.
fn backoff(rng: &mut Rng, step: u32, reached: bool, asked: Option<Duration>) -> Duration {
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

/// Whole seconds of a duration as a timestamp difference, saturating.
fn secs(duration: Duration) -> Timestamp {
    Timestamp::try_from(duration.as_secs()).unwrap_or(Timestamp::MAX)
}

/// The meta key of the fingerprint of an account's refused secret.
fn secret_fingerprint_key(account: &str) -> String {
    format!("refused_secret/{account}")
}

/// The meta key of a family's last address check.
fn last_check_key(family: IpFamily) -> String {
    format!("last_check/{}", family.record_type())
}

fn record_key(account: &str, name: &str, family: IpFamily) -> String {
    format!("{account}/{name}/{}", family.record_type())
}

/// The state keys of a config record: one per address family.
pub fn record_keys(record: &crate::config::Record) -> Vec<String> {
    let families: &[IpFamily] = match record.family {
        Family::A => &[IpFamily::V4],
        Family::Aaaa => &[IpFamily::V6],
        Family::Both => &[IpFamily::V4, IpFamily::V6],
    };
    families
        .iter()
        .map(|&f| record_key(&record.account, &record.name, f))
        .collect()
}

/// After an account's secret changed: its records that the provider refused for bad
/// credentials may be sent again. Returns how many were re-enabled.
pub fn credentials_changed(
    store: &mut StateStore,
    config: &Config,
    account: &str,
) -> Result<usize, StateError> {
    let mut count = 0;
    for record in config.records.iter().filter(|r| r.account == account) {
        for key in record_keys(record) {
            let mut state = store.record(&key)?;
            if state
                .disabled
                .as_ref()
                .is_some_and(|d| is_credential_code(&d.code))
            {
                state.disabled = None;
                state.backoff_until = None;
                state.backoff_step = 0;
                store.save(&key, &state)?;
                count += 1;
            }
        }
    }
    Ok(count)
}

fn is_credential_code(code: &str) -> bool {
    // Answers a new secret can cure: dyndns2's and HTTP's bad credentials, GnuDIP's
    // invalid login (mapped to badauth), a TSIG key the server refused or could not read.
    matches!(
        code,
        "badauth" | "http-401" | "http-403" | "tsig-badsig" | "tsig-badkey" | "bad-secret"
    )
}

async fn sleep_until_opt(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Checks a parsed config against the provider registry: known provider ids, supported
/// families and options, a server where the provider has none. Problems carry lines.
pub fn check_against_registry(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let known: Vec<&str> = provider::REGISTRY
        .iter()
        .map(|p| p.descriptor().id)
        .collect();
    for (family, specs) in [("ipv4", &config.detect.ipv4), ("ipv6", &config.detect.ipv6)] {
        // A provider's check-IP written both ways is one service counted twice.
        let mut seen: Vec<String> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let identity = source_identity(spec);
            if seen.contains(&identity) {
                problems.push(Problem {
                    line: None,
                    key: format!("detect.{family}[{i}]"),
                    message: format!("`{spec}` is the same service as an earlier source"),
                });
            }
            seen.push(identity);
        }
        for (i, spec) in specs.iter().enumerate() {
            if let detect::SourceSpec::Provider { provider: id } = spec {
                let message = match provider::lookup(id) {
                    None => format!(
                        "unknown provider `{id}`; providers with a check-IP service: {}",
                        provider::REGISTRY
                            .iter()
                            .map(|p| p.descriptor())
                            .filter(|d| d.checkip.is_some())
                            .map(|d| d.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(p) if p.descriptor().checkip.is_none() => {
                        format!("{} has no check-IP service", p.descriptor().name)
                    }
                    Some(_) => continue,
                };
                problems.push(Problem {
                    line: None,
                    key: format!("detect.{family}[{i}]"),
                    message,
                });
            }
        }
    }
    for (i, account) in config.accounts.iter().enumerate() {
        let line = |key: &str| account.key_lines.get(key).copied().or(Some(account.line));
        let Some(provider) = provider::lookup(&account.provider) else {
            problems.push(Problem {
                line: line("provider"),
                key: format!("account[{i}].provider"),
                message: format!(
                    "unknown provider `{}`; known providers: {}",
                    account.provider,
                    known.join(", ")
                ),
            });
            continue;
        };
        let d = provider.descriptor();
        let rfc2136 = d.protocol == "rfc2136";
        if account.server.is_none() && d.default_server.is_none() && !rfc2136 {
            problems.push(Problem {
                line: line("server"),
                key: format!("account[{i}].server"),
                message: format!(
                    "{} needs the update server's URL (`server = \"https://…\"`)",
                    d.name
                ),
            });
        }
        // Account keys only some providers use (RFC 2136's zone, ttl, algorithm).
        let options = account.provider_options();
        for key in ["zone", "ttl", "algorithm"] {
            let field = d.account_fields.iter().find(|f| f.key == key);
            let message = match (field, options.contains_key(key)) {
                (None, true) => format!("{} does not use `{key}`", d.name),
                (Some(f), false) if f.required => format!("{} needs `{key}`", d.name),
                _ => continue,
            };
            problems.push(Problem {
                line: line(key),
                key: format!("account[{i}].{key}"),
                message,
            });
        }
        let dns_server = account
            .server
            .as_deref()
            .is_some_and(|s| s.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("dns://")));
        if dns_server != rfc2136 {
            problems.push(Problem {
                line: line("server"),
                key: format!("account[{i}].server"),
                message: if dns_server {
                    format!("dns:// servers are for RFC 2136 accounts, not {}", d.name)
                } else {
                    format!("{} needs `server = \"dns://host[:port]\"`", d.name)
                },
            });
        }
    }
    let accounts: BTreeMap<&str, &crate::config::Account> =
        config.accounts.iter().map(|a| (a.id.as_str(), a)).collect();
    for (i, record) in config.records.iter().enumerate() {
        let Some(account) = accounts.get(record.account.as_str()) else {
            continue;
        };
        let Some(provider) = provider::lookup(&account.provider) else {
            continue;
        };
        let d = provider.descriptor();
        let line = |key: &str| record.key_lines.get(key).copied().or(Some(record.line));
        let supports = |key: &str| d.record_fields.iter().any(|f| f.key == key);
        let mut unsupported = |key: &str, set: bool| {
            if set && !supports(key) {
                problems.push(Problem {
                    line: line(key),
                    key: format!("record[{i}].{key}"),
                    message: format!("{} does not support `{key}`", d.name),
                });
            }
        };
        unsupported("wildcard", record.wildcard.is_some());
        unsupported("mx", record.mx.is_some());
        unsupported("backup_mx", record.backup_mx.is_some());
        unsupported("group", record.group);
        if record.offline_mode && !d.native_offline {
            problems.push(Problem {
                line: line("offline_mode"),
                key: format!("record[{i}].offline_mode"),
                message: format!(
                    "{} has no offline mode of its own; set `offline_address` instead",
                    d.name
                ),
            });
        }
        let needs_v6 = matches!(record.family, Family::Aaaa | Family::Both);
        if needs_v6 && !d.families.contains(&IpFamily::V6) {
            problems.push(Problem {
                line: line("family"),
                key: format!("record[{i}].family"),
                message: format!("{} updates IPv4 (A) records only", d.name),
            });
        }
    }
    problems
}

fn format_problems(path: &std::path::Path, problems: &[Problem]) -> String {
    let mut text = format!(
        "{} has {} problem{}:",
        path.display(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for problem in problems {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    text
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
            addresses: Vec::new(),
            records: Vec::new(),
            next_check_at: None,
            notify_success: true,
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn rng_fraction_is_in_range() {
        let mut rng = Rng::seeded();
        for _ in 0..1000 {
            let f = rng.fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
