//! Providers: one interface, one registry.
//!
//! A provider is a type implementing [`Provider`] plus a static [`Descriptor`], listed once
//! in [`REGISTRY`]. The descriptor is the single source of truth for the provider's
//! metadata: validation, the settings form and the README table are derived from it.
//! Protocol families (`dyndns2`, ...) are written once; a provider on a family is its
//! descriptor plus its quirks.

mod changeip;
mod cloudflare;
mod custom;
mod desec;
mod digitalocean;
mod duckdns;
mod dyndns;
pub mod dyndns2;
mod dynv6;
mod freedns;
mod gandi;
pub mod gnudip;
mod gnudip_custom;
mod hetzner;
pub mod http;
mod namecheap;
mod noip;
mod porkbun;
mod presets;
pub mod rfc2136;
pub mod settings;
mod yiorg;

use std::any::Any;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

/// Every provider Dyntray knows, in the order the settings form lists them.
pub static REGISTRY: &[&dyn Provider] = &[
    &dyndns::DynDns,
    &noip::NoIp,
    &changeip::ChangeIp,
    &yiorg::YiOrg,
    &custom::CustomDyndns2,
    &gnudip_custom::CustomGnuDip,
    &rfc2136::Rfc2136,
    &cloudflare::Cloudflare,
    &duckdns::DuckDns,
    &desec::Desec,
    &porkbun::Porkbun,
    &digitalocean::DigitalOcean,
    &gandi::Gandi,
    &hetzner::Hetzner,
    &namecheap::Namecheap,
    &freedns::FreeDns,
    &dynv6::Dynv6,
    &presets::HE,
    &presets::DYNU,
    &presets::OVH,
    &presets::NSUPDATE,
    &presets::DNSOMATIC,
    &presets::INWX,
    &presets::INFOMANIAK,
    &presets::STRATO,
    &presets::SELFHOST,
    &presets::LOOPIA,
    &presets::SPDYN,
    &presets::DYFI,
    &presets::JOKER,
    &presets::IPV64,
    &presets::SIMPLY,
    &presets::QDNS,
];

/// The provider with this id.
pub fn lookup(id: &str) -> Option<&'static dyn Provider> {
    REGISTRY.iter().copied().find(|p| p.descriptor().id == id)
}

/// The README's provider table, derived from the registry (a test keeps them equal;
/// `dyntrayd providers --markdown` prints it).
pub fn markdown_table() -> String {
    let mut table = String::from(
        "| id | provider | protocol | account | families | record options | offline | notes |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for provider in REGISTRY {
        let d = provider.descriptor();
        let families: Vec<&str> = d.families.iter().map(|f| f.record_type()).collect();
        let options: Vec<&str> = d
            .record_fields
            .iter()
            .filter(|f| f.key != "offline_address" && f.key != "offline_mode")
            .map(|f| f.key)
            .collect();
        // What the account asks for: the login, and the provider's own settings by key.
        let account: Vec<String> = d
            .account_fields
            .iter()
            .filter(|f| f.key != "server")
            .map(|f| match f.key {
                "username" | "secret" => f.label.to_owned(),
                key if f.required => format!("`{key}`"),
                key => format!("`{key}` (optional)"),
            })
            .collect();
        let offline = if d.native_offline {
            "provider's mode or an address"
        } else {
            "an address"
        };
        table.push_str(&format!(
            "| `{}` | [{}]({}) | {} | {} | {} | {} | {} | {} |\n",
            d.id,
            d.name,
            d.docs_url,
            d.protocol,
            account.join(", "),
            families.join(", "),
            if options.is_empty() {
                "-".to_owned()
            } else {
                options.join(", ")
            },
            offline,
            d.notes
        ));
    }
    table
}

/// A boxed future, so providers stay usable as trait objects in the registry.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One DDNS provider.
pub trait Provider: Send + Sync + 'static {
    /// What the provider is and what it needs.
    fn descriptor(&self) -> &'static Descriptor;

    /// Parses the account's settings once, into the provider's own typed settings that
    /// every [`UpdateRequest`] then carries. The default takes an HTTPS update server (plain
    /// HTTP only to this machine) and nothing else. Problems name their config key.
    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        Ok(Prepared::none())
    }

    /// Whether one request carries both address families (deSEC): the engine then sends a
    /// name's A and AAAA updates together in [`UpdateRequest::joint`] when both are due,
    /// and the outcomes come back for `items`, then for the joint items.
    fn joint_families(&self) -> bool {
        false
    }

    /// Checks the account's credential without changing anything at the provider, where
    /// its API can (a token check, a zone list); `None` where only an update would tell.
    /// `request` has no items and publishes nothing.
    fn check<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _request: &'a UpdateRequest,
    ) -> Option<BoxFuture<'a, CheckResult>> {
        None
    }

    /// Sends one request for `request.items` (all on the same account, server, address
    /// and options) and classifies the answer for each item, in order.
    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>>;
}

/// What an account check found: whether the credential works, and in the user's words
/// what it may do (the zones a token can see) or the provider's refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The credential works.
    pub ok: bool,
    /// What the provider said, for the user.
    pub message: String,
}

/// An account as [`Provider::prepare`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct AccountInput<'a> {
    /// The update server: the account's own, else the provider's default.
    pub server: Option<&'a str>,
    /// The user name (empty for token-only providers).
    pub username: &'a str,
    /// The provider's settings, checked against its field kinds.
    pub settings: &'a settings::Settings,
}

/// A problem with one of an account's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The config key (`server`, `zone`, ...).
    pub key: String,
    /// What is wrong, in the user's words.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `key`.
    pub fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// A provider's parsed settings for one account, made once by [`Provider::prepare`] and
/// read back (by the same provider) with [`Prepared::get`].
#[derive(Clone)]
pub struct Prepared(Arc<dyn Any + Send + Sync>);

impl Prepared {
    /// For a provider with nothing to keep.
    pub fn none() -> Self {
        Self(Arc::new(()))
    }

    /// Keeps `settings`.
    pub fn new<T: Any + Send + Sync>(settings: T) -> Self {
        Self(Arc::new(settings))
    }

    /// The settings, when they are of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared")
    }
}

/// Address families a provider can update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpFamily {
    /// IPv4, A records.
    #[serde(rename = "A")]
    V4,
    /// IPv6, AAAA records.
    #[serde(rename = "AAAA")]
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// `A` or `AAAA`.
    pub fn record_type(self) -> &'static str {
        match self {
            Self::V4 => "A",
            Self::V6 => "AAAA",
        }
    }
}

/// What kind of value a field holds (drives validation and the settings form's input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// A secret: typed into a password field, stored in the keychain, never shown again.
    Secret,
    /// On/off.
    Bool,
    /// Leave alone / on / off: unset leaves the provider's own setting as it is.
    Tristate,
    /// A whole number within [`FieldSpec::range`].
    Number,
    /// One of [`FieldSpec::options`].
    Choice,
    /// An http(s) URL.
    Url,
    /// A host name.
    Hostname,
    /// An IP address.
    Address,
}

/// One input of an account or record form, and the rule its value follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    /// The config key.
    pub key: &'static str,
    /// The form label.
    pub label: &'static str,
    /// The input kind.
    pub kind: FieldKind,
    /// Whether it must be given.
    pub required: bool,
    /// One sentence of help under the input.
    pub help: &'static str,
    /// [`FieldKind::Number`]: the smallest and the largest value allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<(i64, i64)>,
    /// [`FieldKind::Choice`]: the values allowed, as written in the config.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub options: &'static [&'static str],
    /// What applies when the field is left out, as the form shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
    /// Rarely needed: the form folds it away under "Advanced".
    pub advanced: bool,
}

impl FieldSpec {
    /// An optional field of `kind`.
    pub const fn new(
        key: &'static str,
        label: &'static str,
        kind: FieldKind,
        help: &'static str,
    ) -> Self {
        Self {
            key,
            label,
            kind,
            required: false,
            help,
            range: None,
            options: &[],
            default: None,
            advanced: false,
        }
    }

    /// The field must be given.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// A number field's bounds.
    pub const fn range(mut self, min: i64, max: i64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// A choice field's values.
    pub const fn options(mut self, options: &'static [&'static str]) -> Self {
        self.options = options;
        self
    }

    /// What applies when the field is left out.
    pub const fn default(mut self, default: &'static str) -> Self {
        self.default = Some(default);
        self
    }

    /// Folded away in the form.
    pub const fn advanced(mut self) -> Self {
        self.advanced = true;
        self
    }
}

/// What lifts a refusal: who must act before the record is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cure {
    /// A new password, key or token (stored in Settings, or a fixed secret file or variable).
    Secret,
    /// A change to the account or record settings here.
    Settings,
    /// Something only the user can do on the provider's website; then re-enable.
    Provider,
}

/// A refusal a provider may answer: what cures it and what the user should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The code stored and shown (`badauth`, `cf-9109`, ...).
    pub code: &'static str,
    /// What lifts it.
    pub cure: Cure,
    /// What to do, in the user's words.
    pub advice: &'static str,
}

/// Everything about a provider except how it talks.
#[derive(Debug, Serialize)]
pub struct Descriptor {
    /// The id used in config files (`provider = "dyndns"`).
    pub id: &'static str,
    /// The name people know it by.
    pub name: &'static str,
    /// The protocol family.
    pub protocol: &'static str,
    /// Where its documentation lives.
    pub docs_url: &'static str,
    /// The page where the user makes or finds the password, key or token, when the
    /// provider has one (the guided setup links to it).
    pub key_url: Option<&'static str>,
    /// Address families it can update.
    pub families: &'static [IpFamily],
    /// Its update server, unless the user must give one.
    pub default_server: Option<&'static str>,
    /// Account inputs (username, secret, server, ...).
    pub account_fields: &'static [FieldSpec],
    /// Record inputs beyond the name and family (wildcard, MX, ...).
    pub record_fields: &'static [FieldSpec],
    /// The provider has an offline mode of its own (`offline=YES`).
    pub native_offline: bool,
    /// The longest list of names one request may carry.
    pub max_batch: usize,
    /// How often an unchanged record must be touched to stay alive, if ever.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub keepalive: Option<Duration>,
    /// How often to remind the user to confirm the host on the provider's site, if ever.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub confirm_reminder: Option<Duration>,
    /// The provider's own check-IP service.
    pub checkip: Option<&'static str>,
    /// Notes shown with the provider in the form and the README.
    pub notes: &'static str,
    /// The refusals it answers, each with its cure and advice.
    pub refusals: &'static [Refusal],
}

impl Descriptor {
    /// The declared refusal with this code.
    pub fn refusal(&self, code: &str) -> Option<&'static Refusal> {
        self.refusals.iter().find(|r| r.code == code)
    }

    /// What lifts a refusal with this code. Undeclared codes need a settings change or a
    /// re-enable: a new secret alone does not send them again.
    pub fn cure(&self, code: &str) -> Cure {
        self.refusal(code).map_or(Cure::Settings, |r| r.cure)
    }

    /// Whether a username is part of the account (token-only providers have none).
    pub fn uses_username(&self) -> bool {
        self.account_fields.iter().any(|f| f.key == "username")
    }
}

fn serialize_opt_duration<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => serializer.serialize_some(&d.as_secs()),
        None => serializer.serialize_none(),
    }
}

/// Standard account fields shared by the dyndns2-style providers.
pub const USERNAME: FieldSpec = FieldSpec::new(
    "username",
    "Username",
    FieldKind::Text,
    "The account's user name.",
)
.required();
/// The account's password or update key.
pub const PASSWORD: FieldSpec = FieldSpec::new(
    "secret",
    "Password or update key",
    FieldKind::Secret,
    "Stored in the system keychain, never in the config file.",
)
.required();
/// A server override.
pub const SERVER: FieldSpec = FieldSpec::new(
    "server",
    "Update server",
    FieldKind::Url,
    "Leave empty for the provider's own server.",
)
.advanced();
/// dyndns2's wildcard option.
pub const WILDCARD: FieldSpec = FieldSpec::new(
    "wildcard",
    "Wildcard",
    FieldKind::Tristate,
    "*.name resolves to the same address. Unset leaves the provider's setting alone.",
);
/// dyndns2's mail exchanger option.
pub const MX: FieldSpec = FieldSpec::new(
    "mx",
    "Mail exchanger",
    FieldKind::Hostname,
    "Host that receives mail for this name (an MX record).",
)
.advanced();
/// dyndns2's backup MX option.
pub const BACKUP_MX: FieldSpec = FieldSpec::new(
    "backup_mx",
    "Backup MX",
    FieldKind::Tristate,
    "The mail exchanger is a backup MX.",
)
.advanced();
/// The offline address.
pub const OFFLINE_ADDRESS: FieldSpec = FieldSpec::new(
    "offline_address",
    "Off-line address",
    FieldKind::Address,
    "Published when you choose \"Go offline\" (when the provider has no offline mode).",
)
.advanced();
/// Use the provider's own offline mode on "Go offline".
pub const OFFLINE_MODE: FieldSpec = FieldSpec::new(
    "offline_mode",
    "Use the provider's offline mode",
    FieldKind::Bool,
    "On \"Go offline\", ask the provider to show its offline page (a paid feature).",
)
.advanced();
/// A name that is a provider group or set rather than a host.
pub const GROUP: FieldSpec = FieldSpec::new(
    "group",
    "Group name",
    FieldKind::Bool,
    "The name is a group of hosts at the provider, updated with one request.",
)
.advanced();
/// Create the record at the provider when it does not exist yet.
pub const CREATE: FieldSpec = FieldSpec::new(
    "create",
    "Create it if missing",
    FieldKind::Bool,
    "When the provider has no such record, create it instead of stopping with an error.",
)
.advanced();

/// The per-record options a request carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordOptions {
    /// `wildcard=ON|OFF`; `None` sends `NOCHG`.
    pub wildcard: Option<bool>,
    /// `mx=host`; `None` sends `NOCHG`.
    pub mx: Option<String>,
    /// `backmx=YES|NO`; `None` omits it.
    pub backup_mx: Option<bool>,
    /// Create the record when the provider has none (APIs that can).
    pub create: bool,
}

/// What to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Publish {
    /// This address.
    Address(IpAddr),
    /// The provider's own offline mode (`offline=YES`).
    Offline,
}

/// One name in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateItem {
    /// The record key (for the outcome).
    pub record: String,
    /// The name (or group/set) as the provider knows it.
    pub name: String,
}

/// One request's worth of work.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The update server's base URL (`https://members.dyndns.org`).
    pub server: String,
    /// Whether `server` is the provider's own default (not one the account names).
    pub default_server: bool,
    /// Account user name.
    pub username: String,
    /// Account password or key.
    pub secret: Secret,
    /// What to publish for every item.
    pub publish: Publish,
    /// Options shared by every item.
    pub options: RecordOptions,
    /// The names.
    pub items: Vec<UpdateItem>,
    /// Whether plain http:// is allowed to this server (loopback, or the user opted in).
    pub allow_plain_http: bool,
    /// The account's settings as the provider parsed them in [`Provider::prepare`].
    pub settings: Prepared,
    /// The address of the other family now in force, for protocols that must carry both
    /// families in every request (or lose the one left out); `None` when not known.
    pub other_family: Option<IpAddr>,
    /// The other family's batch of the same names, sent in the same request, for a provider
    /// whose [`Provider::joint_families`] says so.
    pub joint: Option<Joint>,
    /// Fired by a provider that opens its own connection, just before the update's first
    /// byte is written to it (HTTP providers need not: the engine's client fires it).
    pub departure: crate::departure::Departure,
}

/// The second family of a request that carries both.
#[derive(Debug, Clone)]
pub struct Joint {
    /// What to publish for the joint items.
    pub publish: Publish,
    /// The same names as the request's items, as records of the other family.
    pub items: Vec<UpdateItem>,
}

/// Who a fatal answer applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This record.
    Record,
    /// Every record of the account.
    Account,
}

/// How the engine must treat an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Updated.
    Success,
    /// The provider said it already had this address (a counted no-op: dyndns2's `nochg`).
    NoChange,
    /// Read before writing: the record already holds this address, so nothing was written.
    Current,
    /// Try again later: no sooner than `retry_after` when the provider said so.
    Transient {
        /// A wait the provider asked for.
        #[serde(skip)]
        retry_after: Option<Duration>,
        /// Whether the request reached the provider (a connection error did not).
        reached: bool,
    },
    /// Do not send again until the user acts.
    Fatal {
        /// The record or the whole account.
        scope: Scope,
    },
    /// An answer the protocol does not allow: not a success; back off.
    Protocol,
}

impl Verdict {
    /// The word stored in history.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::NoChange => "nochg",
            Self::Current => "current",
            Self::Transient { .. } => "transient",
            Self::Fatal { .. } => "fatal",
            Self::Protocol => "protocol",
        }
    }
}

/// A classified answer for one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The record key.
    pub record: String,
    /// What to do.
    pub verdict: Verdict,
    /// The provider's code (`good`, `badauth`, `http-503`, `timeout`, ...).
    pub code: String,
    /// The provider's exact words for this record (first lines, secrets removed).
    pub answer: String,
    /// What the user should do, when the user must act.
    pub advice: Option<String>,
}

impl Outcome {
    /// The same verdict for every item of a request.
    pub fn for_all(
        items: &[UpdateItem],
        verdict: Verdict,
        code: &str,
        answer: &str,
        advice: Option<&str>,
    ) -> Vec<Self> {
        items
            .iter()
            .map(|item| Self {
                record: item.record.clone(),
                verdict: verdict.clone(),
                code: code.to_owned(),
                answer: answer.to_owned(),
                advice: advice.map(str::to_owned),
            })
            .collect()
    }
}

/// How an HTTP request that got no answer failed: its code, whether it may have reached
/// the provider (a connection that never opened did not; a timeout or a reset may have),
/// and the error with its causes, the request URL left out (it may carry a login hash).
pub(crate) fn http_failure(error: &reqwest::Error) -> (&'static str, bool, String) {
    let (code, reached) = if error.is_timeout() {
        ("timeout", true)
    } else if error.is_connect() {
        ("connect", false)
    } else {
        ("network", true)
    };
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "(the update URL)");
    }
    (code, reached, text)
}

/// The first non-empty line of an answer, shortened for display.
pub(crate) fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty answer)");
    truncate(line)
}

/// Provider words are shown verbatim, but only so much of them.
pub(crate) fn truncate(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The User-Agent every request carries, in the form providers require:
/// `<Company> <Program>/<OS>-<version> <contact>`.
pub fn user_agent() -> String {
    format!(
        "Dyntray dyntray/{}-{} {}",
        std::env::consts::OS,
        crate::VERSION,
        CONTACT
    )
}

/// Where providers can reach the people behind this client.
pub const CONTACT: &str = "https://github.com/dyntray/dyntray";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_are_unique_and_lowercase() {
        let mut ids: Vec<&str> = REGISTRY.iter().map(|p| p.descriptor().id).collect();
        for id in &ids {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{id}"
            );
        }
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }

    #[test]
    fn every_descriptor_is_complete() {
        for provider in REGISTRY {
            let d = provider.descriptor();
            assert!(!d.name.is_empty() && !d.families.is_empty(), "{}", d.id);
            assert!(d.max_batch >= 1, "{}", d.id);
            assert!(d.docs_url.starts_with("https://"), "{}", d.id);
            // The guided setup opens it in the browser: only ever an https page.
            assert!(
                d.key_url.is_none_or(|url| url.starts_with("https://")),
                "{}",
                d.id
            );
            assert!(
                d.default_server.is_some()
                    || d.account_fields
                        .iter()
                        .any(|f| f.key == "server" && f.required),
                "{} needs a server from somewhere",
                d.id
            );
            assert!(d.account_fields.iter().any(|f| f.kind == FieldKind::Secret));
        }
    }

    #[test]
    fn user_agent_has_the_required_shape() {
        let ua = user_agent();
        let parts: Vec<&str> = ua.split(' ').collect();
        assert_eq!(parts[0], "Dyntray");
        assert!(parts[1].starts_with("dyntray/"));
        assert!(parts[1].contains(crate::VERSION));
        assert_eq!(parts.len(), 3);
    }
}
