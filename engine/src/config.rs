//! Dyntray's config file: parsing, validation and atomic saving.
//!
//! The file is TOML (see [`EXAMPLE`]). [`Config::parse`] walks the document by hand instead of
//! deserializing it, so that it can report *every* problem at once, each with its 1-based line
//! number and a key path such as `record[2].mx` (array indices in key paths count from 0, like
//! the indices of [`Config::records`] and [`Config::accounts`]). Unknown keys are problems too, with a "did you
//! mean" hint for near misses. Secrets are never stored in the file and never echoed in a
//! message.
//!
//! [`Config::load`] and [`Config::save`] add the file handling: a missing file is not an error,
//! a file written by a newer Dyntray is refused, and a save never overwrites a file that does
//! not parse or that a newer Dyntray wrote.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use crate::detect::SourceSpec;

/// The config format version this build reads and writes.
pub const CURRENT_VERSION: u32 = 1;

/// A commented example config covering every key. It parses cleanly.
pub const EXAMPLE: &str = r#"# Dyntray configuration.
version = 1

[general]
poll_interval = "5m"        # how often the public address is checked; "30s" minimum, "24h" maximum, default "5m"
notify_success = true       # desktop notification after a successful update (default true)
offline_on_quit = false     # publish offline addresses when Dyntray quits (default false)

[detect]
# Address sources, tried in this order until `agree` of them name the same address:
#   "https://…"            an HTTP echo service (plain text, or a checkip-style HTML page)
#   "provider:dyndns"      a provider's own check-IP service (asked at most every 10 minutes)
#   "dns:opendns", "dns:google", "dns:cloudflare"   DNS services; add "@host:port" to ask another server
#   "interface", "interface:eth0"   this machine's addresses (a stable IPv6 address before a temporary one)
#   "upnp", "upnp@192.168.1.1:1900" the router's WAN address over UPnP IGD
#   "command:/usr/local/bin/myip"   a command whose output is the address
# An empty list turns detection of that family off.
ipv4 = ["https://api.ipify.org", "dns:opendns", "https://ipv4.icanhazip.com", "https://v4.ident.me"]
ipv6 = ["interface"]        # echo services would see a temporary (privacy) address; the default publishes the machine's stable one
agree = 2                   # how many sources must agree before a changed address is used (default 2; all of them when fewer are listed)
# plain http:// URLs are only accepted for loopback hosts unless allow_plain_http = true
allow_plain_http = false

[[account]]
id = "home"                 # your name for it; records refer to it
provider = "dyndns"         # a provider id (see `dyntrayd providers`)
username = "alice"
secret = "keychain"         # "keychain" (default), "file:/path/to/file" (mode 0600), or "env:VARIABLE"
# server = "https://members.dyndns.org"   # optional: override the provider's server (custom dyndns2 servers need it)
# keepalive = "28d"         # optional override of the provider's keep-alive period, 1h to 365d; "off" disables
# zone = "example.org"      # RFC 2136 only (required there): the zone the names live in; server = "dns://host[:port]", username = the TSIG key name
# ttl = 60                  # RFC 2136 only: the records' TTL in seconds, 1 to 86400 (default 60)
# algorithm = "hmac-sha256" # RFC 2136 only: the TSIG algorithm, "hmac-sha256" (default) or "hmac-sha512"

[[record]]
name = "home.example.org"
account = "home"
family = "A"                # "A", "AAAA" or "both" (default "A")
wildcard = true             # optional; unset = leave the provider's setting alone
mx = "mail.example.org"     # optional mail exchanger
backup_mx = false           # optional
offline_address = "192.0.2.1"   # optional; published on "Go offline" when the provider has no offline mode
offline_mode = false        # on "Go offline", use the provider's own offline mode (dyndns, No-IP) (default false)
allow_private = false       # allow private/LAN addresses for this record (default false)
# ipv6_suffix = "::1234"    # AAAA only: publish the detected /64 prefix with this interface part (a device behind this one)
enabled = true              # default true
# group = true              # `name` is a provider group or set (a No-IP group, a ChangeIP set like "*1"), not a host name (default false)
"#;

const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5 * 60);
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(30);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(24 * 3600);
const MIN_KEEPALIVE: Duration = Duration::from_secs(3600);
/// No provider lets a name lapse after less than a year without updates (DynDNS: 28 days).
const MAX_KEEPALIVE: Duration = Duration::from_secs(365 * 86_400);
const DEFAULT_IPV4: [&str; 4] = [
    "https://api.ipify.org",
    "dns:opendns",
    "https://ipv4.icanhazip.com",
    "https://v4.ident.me",
];
const DEFAULT_IPV6: [&str; 1] = ["interface"];
const MAX_AGREE: i64 = 5;

const TOP_KEYS: &[&str] = &["version", "general", "detect", "account", "record"];
const GENERAL_KEYS: &[&str] = &["poll_interval", "notify_success", "offline_on_quit"];
const DETECT_KEYS: &[&str] = &["ipv4", "ipv6", "agree", "allow_plain_http"];
const ACCOUNT_KEYS: &[&str] = &[
    "id",
    "provider",
    "username",
    "secret",
    "server",
    "keepalive",
];
const RECORD_KEYS: &[&str] = &[
    "name",
    "account",
    "family",
    "wildcard",
    "mx",
    "backup_mx",
    "offline_address",
    "offline_mode",
    "allow_private",
    "enabled",
    "group",
    "ipv6_suffix",
    "create",
];
/// Keys that would hold a literal secret; compared case-insensitively.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "token",
    "api_token",
    "api_key",
    "apikey",
    "key",
    "secret_value",
];
const SECRETS_NOT_HERE: &str = "secrets are not stored in the config file; use secret = \
     \"keychain\" (set it in Settings or with `dyntrayd secret set <account>`), \"file:…\" or \
     \"env:…\"";
const DURATION_FORMAT: &str = "a duration: a whole number and one unit of s, m, h or d, like \"30s\", \"5m\", \"1h\" or \"28d\"";

/// Dyntray's whole configuration.
///
/// `Config::default()` is the configuration used when no file exists: version
/// [`CURRENT_VERSION`], default [`General`] and [`Detect`] settings, no accounts or records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The format version (`version = 1`).
    pub version: u32,
    /// `[general]`.
    pub general: General,
    /// `[detect]`.
    pub detect: Detect,
    /// The `[[account]]` sections, in file order.
    #[serde(rename = "account")]
    pub accounts: Vec<Account>,
    /// The `[[record]]` sections, in file order.
    #[serde(rename = "record")]
    pub records: Vec<Record>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CURRENT_VERSION,
            general: General::default(),
            detect: Detect::default(),
            accounts: Vec::new(),
            records: Vec::new(),
        }
    }
}

/// `[general]`: how often to check, and notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct General {
    /// How often the public address is checked (30 s to 24 h; default 5 min).
    #[serde(with = "poll_interval_text")]
    pub poll_interval: Duration,
    /// Show a desktop notification after a successful update (default true).
    pub notify_success: bool,
    /// Publish offline addresses when Dyntray quits (default false).
    pub offline_on_quit: bool,
}

impl Default for General {
    fn default() -> Self {
        General {
            poll_interval: DEFAULT_POLL_INTERVAL,
            notify_success: true,
            offline_on_quit: false,
        }
    }
}

/// `[detect]`: where the public addresses are learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Detect {
    /// Sources of the IPv4 address, in order; empty turns IPv4 detection off.
    pub ipv4: Vec<SourceSpec>,
    /// Sources of the IPv6 address, in order; empty turns IPv6 detection off.
    pub ipv6: Vec<SourceSpec>,
    /// How many sources must agree (1 to 5; fewer configured sources lower it).
    pub agree: usize,
    /// Accept plain `http://` echo URLs for hosts other than loopback ones.
    pub allow_plain_http: bool,
}

impl Default for Detect {
    fn default() -> Self {
        Detect {
            ipv4: DEFAULT_IPV4.iter().filter_map(|s| s.parse().ok()).collect(),
            ipv6: DEFAULT_IPV6.iter().filter_map(|s| s.parse().ok()).collect(),
            agree: crate::detect::DEFAULT_AGREE,
            allow_plain_http: false,
        }
    }
}

/// An `[[account]]`: credentials at one provider.
///
/// Equality ignores [`line`](Account::line) and [`key_lines`](Account::key_lines).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Account {
    /// The user's name for the account; records refer to it. Unique, `[A-Za-z0-9_.-]{1,64}`.
    pub id: String,
    /// The provider id (whether it exists is checked by the engine, not here).
    pub provider: String,
    /// The user name at the provider; empty for providers that take a token alone.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Where the password or update key is kept.
    #[serde(default)]
    pub secret: SecretRef,
    /// An override of the provider's update server (an `https://` URL, or `http://` for loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// An override of the provider's keep-alive period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<Keepalive>,
    /// The provider's own settings (RFC 2136's `zone`, Cloudflare's `zone`, ...) as
    /// written; what they mean and whether they are valid is the provider's to say
    /// (`provider::settings`).
    #[serde(flatten)]
    pub settings: BTreeMap<String, SettingValue>,
    /// The line of the `[[account]]` header (1-based; 0 when not read from a file).
    #[serde(skip)]
    pub line: usize,
    /// The line of each key present in the file, by key name.
    #[serde(skip)]
    pub key_lines: BTreeMap<String, usize>,
}

impl PartialEq for Account {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.provider == other.provider
            && self.username == other.username
            && self.secret == other.secret
            && self.server == other.server
            && self.keepalive == other.keepalive
            && self.settings == other.settings
    }
}

impl Eq for Account {}

/// A provider setting as written in the file (or sent by the settings form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A string.
    Text(String),
}

impl SettingValue {
    fn to_toml(&self) -> Value {
        match self {
            Self::Bool(b) => Value::from(*b),
            Self::Integer(n) => Value::from(*n),
            Self::Text(text) => Value::from(text.as_str()),
        }
    }
}

/// An account's keep-alive override: updates are re-sent this often even when nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// `"off"`: never re-send an unchanged address.
    Off,
    /// Re-send after this long (at least one hour).
    Every(Duration),
}

impl fmt::Display for Keepalive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keepalive::Off => f.write_str("off"),
            Keepalive::Every(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Serialize for Keepalive {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Keepalive {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_keepalive(&text).map_err(serde::de::Error::custom)
    }
}

/// Where an account's secret (password or update key) is kept. The config file only says where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SecretRef {
    /// `"keychain"`: the system keychain, under the account id.
    #[default]
    Keychain,
    /// `"file:/absolute/path"`: the first line of a file that only its owner can read.
    File(PathBuf),
    /// `"env:VARIABLE"`: an environment variable.
    Env(String),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Keychain => f.write_str("keychain"),
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Env(name) => write!(f, "env:{name}"),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_secret(&text).map_err(serde::de::Error::custom)
    }
}

/// Which addresses a record publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    /// `"A"`: IPv4 only (the default).
    #[default]
    #[serde(rename = "A")]
    A,
    /// `"AAAA"`: IPv6 only.
    #[serde(rename = "AAAA")]
    Aaaa,
    /// `"both"`: IPv4 and IPv6.
    #[serde(rename = "both")]
    Both,
}

impl Family {
    /// The spelling used in the config file: `"A"`, `"AAAA"` or `"both"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::A => "A",
            Family::Aaaa => "AAAA",
            Family::Both => "both",
        }
    }

    fn overlaps(self, other: Family) -> bool {
        self == other || self == Family::Both || other == Family::Both
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `[[record]]`: one name kept up to date through one account.
///
/// Equality ignores [`line`](Record::line) and [`key_lines`](Record::key_lines).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The host name (lowercase, no trailing dot), or a provider group name when
    /// [`group`](Record::group) is set.
    pub name: String,
    /// The id of the [`Account`] that updates it.
    pub account: String,
    /// Which addresses it publishes.
    #[serde(default)]
    pub family: Family,
    /// The provider's wildcard option; `None` leaves the provider's setting alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard: Option<bool>,
    /// A mail exchanger host name (lowercase, no trailing dot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx: Option<String>,
    /// Whether the mail exchanger is a backup MX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_mx: Option<bool>,
    /// Published on "Go offline" when the provider has no offline mode of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_address: Option<IpAddr>,
    /// On "Go offline", use the provider's own offline mode (whether the provider has one is
    /// checked by the engine).
    #[serde(default)]
    pub offline_mode: bool,
    /// Allow publishing private/LAN addresses for this record.
    #[serde(default)]
    pub allow_private: bool,
    /// Whether the record is updated at all.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// AAAA only: publish the detected address's /64 prefix with this interface part
    /// (its upper 64 bits are zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_suffix: Option<Ipv6Addr>,
    /// `name` is a provider group or set (a No-IP group, a ChangeIP set like `*1`), not a host.
    #[serde(default)]
    pub group: bool,
    /// Create the record at the provider when it has none (APIs that can); off by default,
    /// so a misspelt name stops with an error instead of adding a record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create: bool,
    /// The line of the `[[record]]` header (1-based; 0 when not read from a file).
    #[serde(skip)]
    pub line: usize,
    /// The line of each key present in the file, by key name.
    #[serde(skip)]
    pub key_lines: BTreeMap<String, usize>,
}

fn default_true() -> bool {
    true
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.account == other.account
            && self.family == other.family
            && self.wildcard == other.wildcard
            && self.mx == other.mx
            && self.backup_mx == other.backup_mx
            && self.offline_address == other.offline_address
            && self.offline_mode == other.offline_mode
            && self.allow_private == other.allow_private
            && self.enabled == other.enabled
            && self.group == other.group
            && self.ipv6_suffix == other.ipv6_suffix
            && self.create == other.create
    }
}

impl Eq for Record {}

/// One thing wrong with a config file.
///
/// Displays as `line 12: record[2].mx: <message>`; the line or key part is left out when
/// there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The 1-based line, when the problem has one (a missing `version` has none).
    pub line: Option<usize>,
    /// Where: `general.poll_interval`, `record[2].mx` (indices count from 0, like
    /// `Config::records`), `detect.ipv4[0]`;
    /// empty for TOML syntax errors.
    pub key: String,
    /// What is wrong, for a person. Never contains a secret.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a config file could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file or its directory could not be read or written.
    #[error("config file {path}: {source}")]
    Io {
        /// The config file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// The file has problems (syntax, types, values). On save: the file on disk has them,
    /// so it was not overwritten.
    #[error("{}", problem_list(&format!("{} has", .path.display()), .problems))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found, in line order.
        problems: Vec<Problem>,
    },
    /// The file was written by a newer Dyntray; it was neither used nor overwritten.
    #[error(
        "{path} was written by a newer Dyntray (version {found}; this one reads up to \
         {supported}); not touched"
    )]
    TooNew {
        /// The config file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads ([`CURRENT_VERSION`]).
        supported: u32,
    },
    /// [`Config::save`] was given a config that would not load back (for example a poll
    /// interval under 30 s); the file was not touched. The problems have no line numbers.
    #[error("{}", problem_list(&format!("not saving {}: the new configuration has", .path.display()), .problems))]
    Rejected {
        /// The config file.
        path: PathBuf,
        /// What is wrong with the configuration being saved.
        problems: Vec<Problem>,
    },
}

fn problem_list(head: &str, problems: &[Problem]) -> String {
    let n = problems.len();
    let mut out = format!("{head} {n} problem{}:", if n == 1 { "" } else { "s" });
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// The 1-based line number of a byte offset in `text` (offsets past the end count as the end).
pub fn line_of(text: &str, byte_offset: usize) -> usize {
    line_of_bytes(text.as_bytes(), byte_offset)
}

fn line_of_bytes(bytes: &[u8], byte_offset: usize) -> usize {
    let end = byte_offset.min(bytes.len());
    bytes[..end].iter().filter(|b| **b == b'\n').count() + 1
}

/// Line numbers of byte offsets in one text, each found by binary search: the walker asks
/// for a line per key, and counting newlines from the start each time made a large file
/// quadratic to check.
struct LineIndex {
    /// The byte offset of each line break.
    breaks: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        Self {
            breaks: text
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// The 1-based line of `byte_offset` (as [`line_of`]).
    fn line(&self, byte_offset: usize) -> usize {
        self.breaks.partition_point(|&b| b < byte_offset) + 1
    }
}

impl Config {
    /// Parses and validates config text, returning every problem found (in line order).
    ///
    /// A version newer than [`CURRENT_VERSION`] is reported as a single problem with the key
    /// `version` (the rest is not checked: a newer format may have keys this build does not
    /// know). Never panics.
    pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        match parse_checked(text) {
            Parsed::Valid(config) => Ok(config),
            Parsed::Invalid(problems) => Err(problems),
            Parsed::TooNew { found, line } => Err(vec![Problem {
                line,
                key: "version".to_owned(),
                message: format!(
                    "written by a newer Dyntray (version {found}; this one reads up to \
                     {CURRENT_VERSION})"
                ),
            }]),
        }
    }

    /// Reads and validates the config file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
        match crate::files::read_regular(path, crate::files::MAX_CONFIG_BYTES) {
            Ok(bytes) => config_from_bytes(path, &bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// The config as TOML text that [`Config::parse`] turns back into an equal `Config`.
    ///
    /// Comments are not kept. Durations are written in the largest whole unit (sub-second
    /// parts are dropped); a non-UTF-8 secret file path is written lossily.
    pub fn to_toml(&self) -> String {
        let mut doc = DocumentMut::new();
        doc.insert("version", toml_edit::value(i64::from(self.version)));

        let mut general = Table::new();
        general.insert(
            "poll_interval",
            toml_edit::value(format_duration(self.general.poll_interval)),
        );
        general.insert(
            "notify_success",
            toml_edit::value(self.general.notify_success),
        );
        general.insert(
            "offline_on_quit",
            toml_edit::value(self.general.offline_on_quit),
        );
        doc.insert("general", spaced(general));

        let mut detect = Table::new();
        detect.insert("ipv4", toml_edit::value(spec_array(&self.detect.ipv4)));
        detect.insert("ipv6", toml_edit::value(spec_array(&self.detect.ipv6)));
        detect.insert(
            "agree",
            toml_edit::value(i64::try_from(self.detect.agree).unwrap_or(MAX_AGREE)),
        );
        detect.insert(
            "allow_plain_http",
            toml_edit::value(self.detect.allow_plain_http),
        );
        doc.insert("detect", spaced(detect));

        if !self.accounts.is_empty() {
            let mut accounts = ArrayOfTables::new();
            for a in &self.accounts {
                let mut t = account_table(a);
                t.decor_mut().set_prefix("\n");
                accounts.push(t);
            }
            doc.insert("account", Item::ArrayOfTables(accounts));
        }

        if !self.records.is_empty() {
            let mut records = ArrayOfTables::new();
            for r in &self.records {
                let mut t = record_table(r);
                t.decor_mut().set_prefix("\n");
                records.push(t);
            }
            doc.insert("record", Item::ArrayOfTables(records));
        }

        format!("# Dyntray configuration, written by Dyntray (comments are not kept).\n{doc}")
    }

    /// Writes the config atomically: a temporary file in the same directory (mode 0600),
    /// fsync, rename over `path`, fsync of the directory. A missing parent directory is
    /// created (mode 0700). A symlink at `path` is followed and its target replaced.
    ///
    /// Refuses, leaving the file untouched, when the file now at `path` does not parse
    /// ([`ConfigError::Invalid`]) or was written by a newer Dyntray ([`ConfigError::TooNew`]),
    /// and when `self` would not load back ([`ConfigError::Rejected`]).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = self.to_toml();
        if let Err(problems) = Config::parse(&text) {
            return Err(ConfigError::Rejected {
                path: path.to_owned(),
                problems: problems
                    .into_iter()
                    .map(|p| Problem { line: None, ..p })
                    .collect(),
            });
        }
        let io_err = |source| ConfigError::Io {
            path: path.to_owned(),
            source,
        };
        let target = resolve_symlink(path).map_err(io_err)?;
        match crate::files::read_regular(&target, crate::files::MAX_CONFIG_BYTES) {
            Ok(bytes) => {
                config_from_bytes(path, &bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(io_err(source)),
        }
        write_atomic(&target, text.as_bytes()).map_err(io_err)
    }
}

/// An account as a TOML table, keys in the order a person would write them.
pub(crate) fn account_table(a: &Account) -> Table {
    let mut t = Table::new();
    t.insert("id", toml_edit::value(a.id.as_str()));
    t.insert("provider", toml_edit::value(a.provider.as_str()));
    if !a.username.is_empty() {
        t.insert("username", toml_edit::value(a.username.as_str()));
    }
    t.insert("secret", toml_edit::value(secret_text(&a.secret)));
    if let Some(server) = &a.server {
        t.insert("server", toml_edit::value(server.as_str()));
    }
    if let Some(keepalive) = &a.keepalive {
        t.insert("keepalive", toml_edit::value(keepalive.to_string()));
    }
    for (key, value) in &a.settings {
        t.insert(key, Item::Value(value.to_toml()));
    }
    t
}

/// A record as a TOML table; keys left at their defaults are not written.
pub(crate) fn record_table(r: &Record) -> Table {
    let mut t = Table::new();
    t.insert("name", toml_edit::value(r.name.as_str()));
    if r.group {
        t.insert("group", toml_edit::value(true));
    }
    t.insert("account", toml_edit::value(r.account.as_str()));
    t.insert("family", toml_edit::value(r.family.as_str()));
    if let Some(wildcard) = r.wildcard {
        t.insert("wildcard", toml_edit::value(wildcard));
    }
    if let Some(mx) = &r.mx {
        t.insert("mx", toml_edit::value(mx.as_str()));
    }
    if let Some(backup_mx) = r.backup_mx {
        t.insert("backup_mx", toml_edit::value(backup_mx));
    }
    if let Some(address) = r.offline_address {
        t.insert("offline_address", toml_edit::value(address.to_string()));
    }
    if r.offline_mode {
        t.insert("offline_mode", toml_edit::value(true));
    }
    if r.allow_private {
        t.insert("allow_private", toml_edit::value(true));
    }
    if !r.enabled {
        t.insert("enabled", toml_edit::value(false));
    }
    if let Some(suffix) = r.ipv6_suffix {
        t.insert("ipv6_suffix", toml_edit::value(suffix.to_string()));
    }
    if r.create {
        t.insert("create", toml_edit::value(true));
    }
    t
}

/// Writes config text atomically at `path` (a symlink's target), creating the directory
/// owner-only when missing.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), ConfigError> {
    let io_err = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    let target = resolve_symlink(path).map_err(io_err)?;
    write_atomic(&target, text.as_bytes()).map_err(io_err)
}

fn spaced(mut table: Table) -> Item {
    table.decor_mut().set_prefix("\n");
    Item::Table(table)
}

fn spec_array(items: &[SourceSpec]) -> Array {
    items.iter().map(ToString::to_string).collect()
}

fn secret_text(secret: &SecretRef) -> String {
    match secret {
        SecretRef::File(path) => format!("file:{}", path.to_string_lossy()),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Loading and saving

/// Parses and validates config file bytes read from `path` (named in errors).
pub(crate) fn config_from_bytes(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: vec![Problem {
                    line: Some(line_of_bytes(bytes, e.valid_up_to())),
                    key: String::new(),
                    message: "the file is not UTF-8 text".to_owned(),
                }],
            });
        }
    };
    match parse_checked(text) {
        Parsed::Valid(config) => Ok(config),
        Parsed::Invalid(problems) => Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        }),
        Parsed::TooNew { found, .. } => Err(ConfigError::TooNew {
            path: path.to_owned(),
            found,
            supported: CURRENT_VERSION,
        }),
    }
}

/// `path`, or what it points to when it is a symlink (so a symlinked config stays a symlink).
fn resolve_symlink(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path),
        _ => Ok(path.to_owned()),
    }
}

fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the config path has no file name",
        )
    })?;
    create_private_dir(&dir)?;
    let (temp_path, file) = create_temp(&dir, &file_name.to_string_lossy())?;
    let result = fill_and_rename(file, bytes, &temp_path, target).and_then(|()| sync_dir(&dir));
    if result.is_err() {
        // Best effort: after a successful rename the temporary file no longer exists.
        let _ = fs::remove_file(&temp_path);
    }
    result
}

fn fill_and_rename(mut file: fs::File, bytes: &[u8], temp: &Path, target: &Path) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, target)
}

fn create_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, fs::File)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last_error = None;
    for _ in 0..64 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    file.set_permissions(fs::Permissions::from_mode(0o600))?;
                }
                return Ok((path, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("cannot create a temporary file")))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Values

fn parse_duration(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    n.checked_mul(scale).map(Duration::from_secs)
}

fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    for (unit, scale) in [('d', 86_400), ('h', 3600), ('m', 60)] {
        if secs.is_multiple_of(scale) {
            return format!("{}{unit}", secs / scale);
        }
    }
    format!("{secs}s")
}

fn parse_poll_interval(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text).ok_or_else(|| format!("expected {DURATION_FORMAT}"))?;
    if duration < MIN_POLL_INTERVAL || duration > MAX_POLL_INTERVAL {
        return Err(format!("must be between 30s and 24h, found \"{text}\""));
    }
    Ok(duration)
}

fn parse_keepalive(text: &str) -> Result<Keepalive, String> {
    if text == "off" {
        return Ok(Keepalive::Off);
    }
    let duration =
        parse_duration(text).ok_or_else(|| format!("expected \"off\" or {DURATION_FORMAT}"))?;
    if duration < MIN_KEEPALIVE {
        return Err(format!(
            "must be \"off\" or at least 1h (re-sending unchanged addresses more often is \
             abuse at most providers), found \"{text}\""
        ));
    }
    if duration > MAX_KEEPALIVE {
        return Err(format!(
            "must be \"off\" or at most 365d (no provider needs a touch less often than \
             yearly; \"off\" never sends one), found \"{text}\""
        ));
    }
    Ok(Keepalive::Every(duration))
}

/// Parses a `secret` value. Messages never contain the value: it may be a pasted password.
fn parse_secret(text: &str) -> Result<SecretRef, String> {
    if text == "keychain" {
        return Ok(SecretRef::Keychain);
    }
    if let Some(rest) = text.strip_prefix("file:") {
        if rest.starts_with('~') {
            return Err("the path after `file:` must be absolute (`~` is not expanded)".to_owned());
        }
        if rest.is_empty() || !Path::new(rest).is_absolute() {
            return Err("the path after `file:` must be absolute, like \
                        \"file:/home/alice/.config/dyntray/home.secret\""
                .to_owned());
        }
        return Ok(SecretRef::File(PathBuf::from(rest)));
    }
    if let Some(name) = text.strip_prefix("env:") {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(
                "the name after `env:` must be an environment variable name \
                 ([A-Za-z_][A-Za-z0-9_]*)"
                    .to_owned(),
            );
        }
        return Ok(SecretRef::Env(name.to_owned()));
    }
    Err(format!(
        "expected \"keychain\", \"file:/absolute/path\" or \"env:VARIABLE\" ({SECRETS_NOT_HERE})"
    ))
}

fn check_account_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if id.len() > 64 {
        return Err("must be at most 64 characters".to_owned());
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "`{id}` may only contain letters, digits, `_`, `.` and `-`"
        ));
    }
    Ok(())
}

/// Validates a host name and returns it lowercased without a trailing dot.
pub(crate) fn normalize_hostname(name: &str, group_hint: bool) -> Result<String, String> {
    if name.contains('*') {
        return Err(if group_hint {
            "`*` is not allowed in a host name; set `wildcard = true` for a wildcard record \
             (or `group = true` if this is a provider group or set)"
                .to_owned()
        } else {
            "`*` is not allowed in a host name".to_owned()
        });
    }
    if !name.is_ascii() {
        return Err(
            "use the ASCII (punycode, `xn--…`) form of an internationalized name".to_owned(),
        );
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return Err("is longer than 253 characters".to_owned());
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(format!("`{name}` has an empty label"));
        }
        if label.len() > 63 {
            return Err(format!("`{name}` has a label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(format!(
                "`{name}` may only contain letters, digits, `-` and dots"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{name}` has a label that starts or ends with `-`"));
        }
    }
    if labels.len() < 2 {
        return Err(if group_hint {
            format!(
                "`{name}` is not a fully qualified name like home.example.org (set \
                 `group = true` if it is a provider group or set)"
            )
        } else {
            format!("`{name}` is not a fully qualified name like mail.example.org")
        });
    }
    Ok(name.to_ascii_lowercase())
}

fn check_group_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("a group name must be 1 to 63 characters".to_owned());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '*' | '.' | '-'))
    {
        return Err(
            "a group name may only contain letters, digits, `_`, `*`, `.` and `-`".to_owned(),
        );
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UrlInfo {
    pub(crate) https: bool,
    pub(crate) loopback: bool,
}

/// A simple check of an `http(s)://host[:port][/…]` URL. Messages never contain the URL.
pub(crate) fn check_url(url: &str) -> Result<UrlInfo, String> {
    let lower_prefix = |prefix: &str| {
        url.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let (https, rest) = if lower_prefix("https://") {
        (true, &url[8..])
    } else if lower_prefix("http://") {
        (false, &url[7..])
    } else {
        return Err("expected a URL starting with https://".to_owned());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("a URL must not contain spaces or control characters".to_owned());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "a URL must not contain a user name or password ({SECRETS_NOT_HERE})"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Err("the URL has an unclosed `[` in its host".to_owned());
        };
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err("the URL has text after its `[…]` host".to_owned()),
            },
        };
        let Ok(address) = inside.parse::<Ipv6Addr>() else {
            return Err("the URL's `[…]` host is not an IPv6 address".to_owned());
        };
        check_port(port)?;
        return Ok(UrlInfo {
            https,
            loopback: address.is_loopback(),
        });
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err("the URL's host may only contain letters, digits, `.`, `-` and `_`".to_owned());
    }
    check_port(port)?;
    let bare = host.strip_suffix('.').unwrap_or(host);
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback());
    Ok(UrlInfo { https, loopback })
}

fn check_port(port: Option<&str>) -> Result<(), String> {
    match port {
        None => Ok(()),
        Some(p)
            if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0) =>
        {
            Ok(())
        }
        Some(_) => Err("the URL's port must be a number from 1 to 65535".to_owned()),
    }
}

/// Optimal-string-alignment distance (a transposition costs 1), for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

pub(crate) fn closest<'k>(unknown: &str, known: &[&'k str]) -> Option<&'k str> {
    let unknown = unknown.to_lowercase();
    if unknown.chars().count() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (edit_distance(&unknown, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn with_article(type_name: &str) -> String {
    let article = if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {type_name}")
}

// ---------------------------------------------------------------------------------------------
// The walk

enum Parsed {
    Valid(Config),
    Invalid(Vec<Problem>),
    TooNew { found: u32, line: Option<usize> },
}

/// A table being read: its contents, its key path and the line it starts on.
struct Section<'d> {
    table: &'d dyn TableLike,
    path: String,
    line: Option<usize>,
}

impl Section<'_> {
    fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }
}

/// A value that was present and of the right type.
struct Got<T> {
    value: T,
    line: Option<usize>,
    key: String,
}

struct Walker {
    lines: LineIndex,
    problems: Vec<Problem>,
}

fn parse_checked(text: &str) -> Parsed {
    // A byte-order mark has no newline, so stripping it keeps line numbers right.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc = match toml_edit::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let (line, column) = match e.span() {
                Some(span) => {
                    let start = span.start.min(text.len());
                    let line_start = text.as_bytes()[..start]
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(0, |i| i + 1);
                    let column = text
                        .get(line_start..start)
                        .map_or(1, |s| s.chars().count() + 1);
                    (Some(line_of(text, start)), Some(column))
                }
                None => (None, None),
            };
            let message = e.message().trim();
            let message = match column {
                Some(column) => format!("TOML syntax error at column {column}: {message}"),
                None => format!("TOML syntax error: {message}"),
            };
            return Parsed::Invalid(vec![Problem {
                line,
                key: String::new(),
                message,
            }]);
        }
    };
    let mut walker = Walker {
        lines: LineIndex::new(text),
        problems: Vec::new(),
    };
    let root = Section {
        table: doc.as_table(),
        path: String::new(),
        line: None,
    };
    let version = match walker.version(&root) {
        Ok(version) => version,
        Err((found, line)) => return Parsed::TooNew { found, line },
    };
    walker.unknown_keys(&root, TOP_KEYS);
    let general = walker.general(&root);
    let detect = walker.detect(&root);
    let accounts = walker.accounts(&root);
    let records = walker.records(&root, &accounts);

    let mut problems = walker.problems;
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Parsed::Invalid(problems);
    }
    Parsed::Valid(Config {
        version: version.unwrap_or(CURRENT_VERSION),
        general,
        detect,
        accounts: accounts.valid,
        records,
    })
}

/// The accounts read: the valid ones, and every id that was written (for record references).
struct Accounts {
    valid: Vec<Account>,
    ids: Vec<String>,
    /// The same ids, for look-ups: a record per account id check, not a scan.
    id_set: std::collections::HashSet<String>,
}

impl Walker {
    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| self.lines.line(s.start))
    }

    fn push(&mut self, line: Option<usize>, key: String, message: impl Into<String>) {
        self.problems.push(Problem {
            line,
            key,
            message: message.into(),
        });
    }

    /// The line of `name` in the section: its key, else its value, else the section's.
    fn entry_line(&self, section: &Section<'_>, name: &str) -> Option<usize> {
        match section.table.get_key_value(name) {
            Some((key, item)) => self
                .line(key.span().or_else(|| item.span()))
                .or(section.line),
            None => section.line,
        }
    }

    fn key_lines(&self, section: &Section<'_>, known: &[&str]) -> BTreeMap<String, usize> {
        known
            .iter()
            .filter(|k| section.table.contains_key(k))
            .filter_map(|k| Some(((*k).to_owned(), self.entry_line(section, k)?)))
            .collect()
    }

    fn unknown_keys(&mut self, section: &Section<'_>, known: &[&str]) {
        let unknown: Vec<&str> = section
            .table
            .iter()
            .map(|(name, _)| name)
            .filter(|name| !known.contains(name))
            .collect();
        for name in unknown {
            let line = self.entry_line(section, name);
            let message = if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                SECRETS_NOT_HERE.to_owned()
            } else if let Some(hint) = closest(name, known) {
                format!("unknown key `{name}`; did you mean `{hint}`?")
            } else {
                format!("unknown key `{name}`")
            };
            self.push(line, section.key(name), message);
        }
    }

    /// The value of `name` converted by `convert`; a type problem when it does not convert.
    fn value<'d, T>(
        &mut self,
        section: &Section<'d>,
        name: &str,
        expected: &str,
        convert: impl FnOnce(&'d Item) -> Option<T>,
    ) -> Option<Got<T>> {
        let (_, item) = section.table.get_key_value(name)?;
        let line = self.entry_line(section, name);
        let key = section.key(name);
        match convert(item) {
            Some(value) => Some(Got { value, line, key }),
            None => {
                let found = with_article(item.type_name());
                self.push(line, key, format!("expected {expected}, found {found}"));
                None
            }
        }
    }

    fn string<'d>(&mut self, section: &Section<'d>, name: &str) -> Option<Got<&'d str>> {
        self.value(section, name, "a string", Item::as_str)
    }

    fn boolean(&mut self, section: &Section<'_>, name: &str) -> Option<Got<bool>> {
        self.value(section, name, "a boolean (true or false)", Item::as_bool)
    }

    /// A string that must be present and non-empty.
    fn required_string<'d>(&mut self, section: &Section<'d>, name: &str) -> Option<Got<&'d str>> {
        if !section.table.contains_key(name) {
            self.push(section.line, section.key(name), format!("missing `{name}`"));
            return None;
        }
        let got = self.string(section, name)?;
        if got.value.is_empty() {
            self.push(got.line, got.key, "must not be empty");
            return None;
        }
        Some(got)
    }

    fn subsection<'d>(&mut self, parent: &Section<'d>, name: &str) -> Option<Section<'d>> {
        let got = self.value(parent, name, "a table", Item::as_table_like)?;
        let line = parent
            .table
            .get(name)
            .and_then(|item| self.line(item.span()))
            .or(got.line);
        Some(Section {
            table: got.value,
            path: got.key,
            line,
        })
    }

    /// The tables of an array of tables (`[[name]]`, or an array of inline tables).
    fn table_array<'d>(&mut self, parent: &Section<'d>, name: &str) -> Vec<Section<'d>> {
        let Some((_, item)) = parent.table.get_key_value(name) else {
            return Vec::new();
        };
        let line = self.entry_line(parent, name);
        let key = parent.key(name);
        match item {
            Item::ArrayOfTables(tables) => tables
                .iter()
                .enumerate()
                .map(|(i, table)| Section {
                    table: table as &dyn TableLike,
                    path: format!("{key}[{i}]"),
                    line: self.line(table.span()).or(line),
                })
                .collect(),
            Item::Value(Value::Array(array)) => {
                let mut sections = Vec::new();
                for (i, element) in array.iter().enumerate() {
                    let path = format!("{key}[{i}]");
                    let element_line = self.line(element.span()).or(line);
                    match element.as_inline_table() {
                        Some(table) => sections.push(Section {
                            table: table as &dyn TableLike,
                            path,
                            line: element_line,
                        }),
                        None => {
                            let found = with_article(element.type_name());
                            self.push(
                                element_line,
                                path,
                                format!("expected a table, found {found}"),
                            );
                        }
                    }
                }
                sections
            }
            other => {
                let found = with_article(other.type_name());
                self.push(
                    line,
                    key,
                    format!("expected an array of tables (`[[{name}]]` sections), found {found}"),
                );
                Vec::new()
            }
        }
    }

    /// `Ok(None)` when the version is missing or bad (a problem is recorded).
    /// `Err((found, line))` when the version is newer than this build reads.
    fn version(&mut self, root: &Section<'_>) -> Result<Option<u32>, (u32, Option<usize>)> {
        if !root.table.contains_key("version") {
            self.push(
                None,
                "version".to_owned(),
                format!("missing `version`; add `version = {CURRENT_VERSION}` as the first line"),
            );
            return Ok(None);
        }
        let Some(got) = self.value(root, "version", "an integer", Item::as_integer) else {
            return Ok(None);
        };
        if got.value < 1 {
            self.push(
                got.line,
                got.key,
                format!(
                    "unsupported version {}; this Dyntray reads version {CURRENT_VERSION}",
                    got.value
                ),
            );
            return Ok(None);
        }
        let Ok(version) = u32::try_from(got.value) else {
            self.push(
                got.line,
                got.key,
                format!("version {} is out of range", got.value),
            );
            return Ok(None);
        };
        if version > CURRENT_VERSION {
            return Err((version, got.line));
        }
        Ok(Some(version))
    }

    fn general(&mut self, root: &Section<'_>) -> General {
        let mut general = General::default();
        let Some(section) = self.subsection(root, "general") else {
            return general;
        };
        self.unknown_keys(&section, GENERAL_KEYS);
        if let Some(got) = self.string(&section, "poll_interval") {
            match parse_poll_interval(got.value) {
                Ok(d) => general.poll_interval = d,
                Err(message) => self.push(got.line, got.key, message),
            }
        }
        if let Some(got) = self.boolean(&section, "notify_success") {
            general.notify_success = got.value;
        }
        if let Some(got) = self.boolean(&section, "offline_on_quit") {
            general.offline_on_quit = got.value;
        }
        general
    }

    fn detect(&mut self, root: &Section<'_>) -> Detect {
        let mut detect = Detect::default();
        let Some(section) = self.subsection(root, "detect") else {
            return detect;
        };
        self.unknown_keys(&section, DETECT_KEYS);
        if let Some(got) = self.boolean(&section, "allow_plain_http") {
            detect.allow_plain_http = got.value;
        }
        if let Some(got) = self.value(&section, "agree", "an integer", Item::as_integer) {
            match usize::try_from(got.value) {
                Ok(n) if (1..=MAX_AGREE).contains(&got.value) => detect.agree = n,
                _ => self.push(
                    got.line,
                    got.key,
                    format!("expected 1 to {MAX_AGREE} sources, found {}", got.value),
                ),
            }
        }
        for family in ["ipv4", "ipv6"] {
            let Some(got) = self.value(&section, family, "an array of sources", Item::as_array)
            else {
                continue;
            };
            let mut urls = Vec::new();
            for (i, element) in got.value.iter().enumerate() {
                let key = format!("{}[{i}]", got.key);
                let line = self.line(element.span()).or(got.line);
                let Some(text) = element.as_str() else {
                    let found = with_article(element.type_name());
                    self.push(
                        line,
                        key,
                        format!("expected a source string, found {found}"),
                    );
                    continue;
                };
                let spec = match text.parse::<SourceSpec>() {
                    Ok(spec) => spec,
                    Err(message) => {
                        self.push(line, key, message);
                        continue;
                    }
                };
                if let SourceSpec::Http { url } = &spec {
                    match check_url(url) {
                        Err(message) => {
                            self.push(line, key, message);
                            continue;
                        }
                        Ok(info) if !info.https && !info.loopback && !detect.allow_plain_http => {
                            self.push(
                                line,
                                key,
                                "plain http:// is accepted only for loopback hosts; use \
                                 https:// or set `allow_plain_http = true` in [detect]",
                            );
                            continue;
                        }
                        Ok(_) => {}
                    }
                }
                if urls
                    .iter()
                    .any(|u: &SourceSpec| u.identity() == spec.identity())
                {
                    self.push(line, key, format!("`{spec}` is listed twice"));
                    continue;
                }
                if family == "ipv6" {
                    let why = match spec {
                        SourceSpec::Upnp { .. } => {
                            Some("a router tells only its IPv4 address over UPnP IGD")
                        }
                        SourceSpec::Provider { .. } => {
                            Some("the providers' check-IP services tell only IPv4 addresses")
                        }
                        _ => None,
                    };
                    if let Some(why) = why {
                        self.push(
                            line,
                            key,
                            format!("`{spec}` cannot be an IPv6 source: {why}"),
                        );
                        continue;
                    }
                }
                urls.push(spec);
            }
            if family == "ipv4" {
                detect.ipv4 = urls;
            } else {
                detect.ipv6 = urls;
            }
        }
        detect
    }

    fn accounts(&mut self, root: &Section<'_>) -> Accounts {
        let mut accounts = Accounts {
            valid: Vec::new(),
            ids: Vec::new(),
            id_set: std::collections::HashSet::new(),
        };
        let mut first_line: BTreeMap<String, Option<usize>> = BTreeMap::new();
        for section in self.table_array(root, "account") {
            if let Some(account) = self.account(&section, &mut first_line, &mut accounts) {
                accounts.valid.push(account);
            }
        }
        accounts
    }

    fn account(
        &mut self,
        section: &Section<'_>,
        first_line: &mut BTreeMap<String, Option<usize>>,
        accounts: &mut Accounts,
    ) -> Option<Account> {
        let before = self.problems.len();
        // Keys beyond the common ones belong to the provider, which checks them
        // (`provider::settings`); only a literal secret is refused here, whatever the key.
        let all_keys: Vec<&str> = section.table.iter().map(|(name, _)| name).collect();
        let key_lines = self.key_lines(section, &all_keys);
        let mut settings = BTreeMap::new();
        for name in all_keys.iter().filter(|k| !ACCOUNT_KEYS.contains(k)) {
            if SECRET_KEYS.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                let line = self.entry_line(section, name);
                self.push(line, section.key(name), SECRETS_NOT_HERE);
                continue;
            }
            let value =
                self.value(
                    section,
                    name,
                    "a string, a number or true/false",
                    |item| match item.as_value()? {
                        Value::String(s) => Some(SettingValue::Text(s.value().clone())),
                        Value::Integer(n) => Some(SettingValue::Integer(*n.value())),
                        Value::Boolean(b) => Some(SettingValue::Bool(*b.value())),
                        _ => None,
                    },
                );
            if let Some(got) = value {
                settings.insert((*name).to_owned(), got.value);
            }
        }

        let id = self.required_string(section, "id");
        if let Some(got) = &id {
            if let Err(message) = check_account_id(got.value) {
                self.push(got.line, got.key.clone(), message);
            } else if let Some(first) = first_line.get(got.value) {
                let whence = match first {
                    Some(line) => format!("line {line}"),
                    None => "earlier".to_owned(),
                };
                self.push(
                    got.line,
                    got.key.clone(),
                    format!(
                        "duplicate account id `{}` (first defined on {whence})",
                        got.value
                    ),
                );
            } else {
                first_line.insert(got.value.to_owned(), got.line);
            }
            if accounts.id_set.insert(got.value.to_owned()) {
                accounts.ids.push(got.value.to_owned());
            }
        }
        let provider = self.required_string(section, "provider");
        let username = self.string(section, "username");
        let mut secret = SecretRef::Keychain;
        if let Some(got) = self.string(section, "secret") {
            match parse_secret(got.value) {
                Ok(s) => secret = s,
                Err(message) => self.push(got.line, got.key, message),
            }
        }
        // What a server may be (https://, gnudip://, dns://) is the provider's to say.
        let server = self
            .string(section, "server")
            .map(|got| got.value.to_owned());
        let mut keepalive = None;
        if let Some(got) = self.string(section, "keepalive") {
            match parse_keepalive(got.value) {
                Ok(k) => keepalive = Some(k),
                Err(message) => self.push(got.line, got.key, message),
            }
        }
        if self.problems.len() > before {
            return None;
        }
        let (Some(id), Some(provider)) = (id, provider) else {
            return None;
        };
        Some(Account {
            id: id.value.to_owned(),
            provider: provider.value.to_owned(),
            username: username.map(|u| u.value.to_owned()).unwrap_or_default(),
            secret,
            server,
            keepalive,
            settings,
            line: section.line.unwrap_or(0),
            key_lines,
        })
    }

    fn records(&mut self, root: &Section<'_>, accounts: &Accounts) -> Vec<Record> {
        let mut records: Vec<Record> = Vec::new();
        // Earlier records by account and lower-cased name (a few at most share one).
        let mut by_name: std::collections::HashMap<(String, String), Vec<usize>> =
            std::collections::HashMap::new();
        for section in self.table_array(root, "record") {
            let Some(record) = self.record(&section, accounts) else {
                continue;
            };
            let name_key = (record.account.clone(), record.name.to_ascii_lowercase());
            let earlier = by_name.get(&name_key).and_then(|indices| {
                indices
                    .iter()
                    .map(|&i| &records[i])
                    .find(|r| r.family.overlaps(record.family))
            });
            if let Some(first) = earlier {
                let message = format!(
                    "duplicate record `{}` for account `{}`: the record on line {} has the \
                     same name and an overlapping family",
                    record.name, record.account, first.line
                );
                let line = record.key_lines.get("name").copied().or(section.line);
                self.push(line, section.key("name"), message);
                continue;
            }
            by_name.entry(name_key).or_default().push(records.len());
            records.push(record);
        }
        records
    }

    fn record(&mut self, section: &Section<'_>, accounts: &Accounts) -> Option<Record> {
        let before = self.problems.len();
        self.unknown_keys(section, RECORD_KEYS);
        let key_lines = self.key_lines(section, RECORD_KEYS);

        let group = self.boolean(section, "group").is_some_and(|g| g.value);
        let mut name = None;
        if let Some(got) = self.required_string(section, "name") {
            if group {
                match check_group_name(got.value) {
                    Ok(()) => name = Some(got.value.to_owned()),
                    Err(message) => self.push(got.line, got.key, message),
                }
            } else {
                match normalize_hostname(got.value, true) {
                    Ok(n) => name = Some(n),
                    Err(message) => self.push(got.line, got.key, message),
                }
            }
        }
        let mut account = None;
        if let Some(got) = self.required_string(section, "account") {
            if accounts.id_set.contains(got.value) {
                account = Some(got.value.to_owned());
            } else {
                let message = if accounts.ids.is_empty() {
                    format!("no account `{}`; no [[account]] is defined", got.value)
                } else {
                    let list: Vec<String> =
                        accounts.ids.iter().map(|id| format!("`{id}`")).collect();
                    format!(
                        "no account `{}`; accounts are: {}",
                        got.value,
                        list.join(", ")
                    )
                };
                self.push(got.line, got.key, message);
            }
        }
        let mut family = Family::A;
        if let Some(got) = self.string(section, "family") {
            match got.value.to_ascii_lowercase().as_str() {
                "a" => family = Family::A,
                "aaaa" => family = Family::Aaaa,
                "both" => family = Family::Both,
                _ => self.push(got.line, got.key, "expected \"A\", \"AAAA\" or \"both\""),
            }
        }
        let wildcard = self.boolean(section, "wildcard").map(|g| g.value);
        let mut mx = None;
        if let Some(got) = self.string(section, "mx") {
            match normalize_hostname(got.value, false) {
                Ok(n) => mx = Some(n),
                Err(message) => self.push(got.line, got.key, message),
            }
        }
        let backup_mx = self.boolean(section, "backup_mx").map(|g| g.value);
        let mut offline_address = None;
        if let Some(got) = self.string(section, "offline_address") {
            match got.value.parse::<IpAddr>() {
                Err(_) => self.push(
                    got.line,
                    got.key,
                    format!("`{}` is not an IP address", got.value),
                ),
                Ok(address) => {
                    let mismatch = match (address, family) {
                        (IpAddr::V6(_), Family::A) => Some("an IPv6 address but family = \"A\""),
                        (IpAddr::V4(_), Family::Aaaa) => {
                            Some("an IPv4 address but family = \"AAAA\"")
                        }
                        _ => None,
                    };
                    match mismatch {
                        Some(what) => {
                            self.push(got.line, got.key, format!("`{address}` is {what}"))
                        }
                        None => offline_address = Some(address),
                    }
                }
            }
        }
        let offline_mode = self
            .boolean(section, "offline_mode")
            .is_some_and(|g| g.value);
        let allow_private = self
            .boolean(section, "allow_private")
            .is_some_and(|g| g.value);
        let enabled = self.boolean(section, "enabled").is_none_or(|g| g.value);
        let mut ipv6_suffix = None;
        if let Some(got) = self.string(section, "ipv6_suffix") {
            match got.value.parse::<Ipv6Addr>() {
                Ok(suffix) if suffix.segments()[..4] != [0; 4] || suffix.is_unspecified() => {
                    self.push(
                        got.line,
                        got.key,
                        "expected an interface part like \"::1234\" or \"::a:b:c:d\" \
                         (the upper 64 bits zero, not all zero)",
                    );
                }
                Ok(_) if family == Family::A => self.push(
                    got.line,
                    got.key,
                    "ipv6_suffix needs family = \"AAAA\" or \"both\"",
                ),
                Ok(suffix) => ipv6_suffix = Some(suffix),
                Err(_) => self.push(
                    got.line,
                    got.key,
                    format!(
                        "`{}` is not an IPv6 interface part like \"::1234\"",
                        got.value
                    ),
                ),
            }
        }

        let create = self.boolean(section, "create").is_some_and(|g| g.value);

        if self.problems.len() > before {
            return None;
        }
        let (Some(name), Some(account)) = (name, account) else {
            return None;
        };
        Some(Record {
            name,
            account,
            family,
            wildcard,
            mx,
            backup_mx,
            offline_address,
            offline_mode,
            allow_private,
            enabled,
            group,
            ipv6_suffix,
            create,
            line: section.line.unwrap_or(0),
            key_lines,
        })
    }
}

mod poll_interval_text {
    use super::{format_duration, parse_poll_interval};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse_poll_interval(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines 1-6: a version and one valid account `home`.
    const BASE: &str =
        "version = 1\n\n[[account]]\nid = \"home\"\nprovider = \"dyndns\"\nusername = \"alice\"\n";

    /// BASE plus a `[[record]]` header on line 7; `body` starts on line 8.
    fn with_record(body: &str) -> String {
        format!("{BASE}[[record]]\n{body}")
    }

    /// BASE plus `key = value` at line 7 inside the account.
    fn with_account_key(line: &str) -> String {
        format!("{BASE}{line}\n")
    }

    /// BASE with another provider, plus `lines` from line 7 inside the account.
    fn with_provider(provider: &str, lines: &str) -> String {
        let base = BASE.replace("\"dyndns\"", &format!("\"{provider}\""));
        format!("{base}{lines}\n")
    }

    /// Parsed and checked against the provider registry, as the engine reads a file.
    fn checked(text: &str) -> Result<Config, Vec<Problem>> {
        let config = Config::parse(text)?;
        let problems = crate::engine::check_against_registry(&config);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    fn problems(text: &str) -> Vec<Problem> {
        match Config::parse(text) {
            Ok(config) => panic!("expected problems, got {config:#?}"),
            Err(problems) => problems,
        }
    }

    fn one(text: &str) -> Problem {
        let mut all = problems(text);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    #[track_caller]
    fn assert_problem(p: &Problem, line: Option<usize>, key: &str, contains: &str) {
        assert_eq!(p.line, line, "{p:?}");
        assert_eq!(p.key, key, "{p:?}");
        assert!(
            p.message.contains(contains),
            "{p:?} should mention {contains:?}"
        );
    }

    #[test]
    fn example_parses() {
        let config = Config::parse(EXAMPLE).unwrap();
        assert_eq!(config.version, 1);
        assert_eq!(config.general, General::default());
        assert_eq!(config.detect, Detect::default());
        assert_eq!(config.accounts.len(), 1);
        let a = &config.accounts[0];
        assert_eq!(
            (a.id.as_str(), a.provider.as_str(), a.username.as_str()),
            ("home", "dyndns", "alice")
        );
        assert_eq!(a.secret, SecretRef::Keychain);
        assert_eq!((a.server.clone(), a.keepalive), (None, None));
        assert_eq!(a.line, 24);
        assert_eq!(a.key_lines.get("username"), Some(&27));
        let r = &config.records[0];
        assert_eq!(r.name, "home.example.org");
        assert_eq!(r.account, "home");
        assert_eq!(r.family, Family::A);
        assert_eq!(r.wildcard, Some(true));
        assert_eq!(r.mx.as_deref(), Some("mail.example.org"));
        assert_eq!(r.backup_mx, Some(false));
        assert_eq!(r.offline_address, Some("192.0.2.1".parse().unwrap()));
        assert!(!r.allow_private && r.enabled && !r.group && !r.offline_mode);
        assert_eq!(r.line, 35);
        assert_eq!(r.key_lines.get("mx"), Some(&40));
    }

    #[test]
    fn commented_lines_of_the_example_are_valid_too() {
        // Uncomment `server`, `keepalive` and `group` (with a group-style name).
        let text = EXAMPLE
            .replace("# server =", "server =")
            .replace("# keepalive =", "keepalive =")
            .replace("# group = true", "group = true")
            .replace("# zone =", "zone =")
            .replace("# ttl =", "ttl =")
            .replace("# algorithm =", "algorithm =")
            .replace("name = \"home.example.org\"", "name = \"*1\"");
        let config = Config::parse(&text).unwrap();
        let a = &config.accounts[0];
        assert_eq!(
            (
                a.settings.get("zone"),
                a.settings.get("ttl"),
                a.settings.get("algorithm")
            ),
            (
                Some(&SettingValue::Text("example.org".into())),
                Some(&SettingValue::Integer(60)),
                Some(&SettingValue::Text("hmac-sha256".into()))
            )
        );
        assert_eq!(a.server.as_deref(), Some("https://members.dyndns.org"));
        assert_eq!(
            a.keepalive,
            Some(Keepalive::Every(Duration::from_secs(28 * 86_400)))
        );
        assert!(config.records[0].group);
        assert_eq!(config.records[0].name, "*1");
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.version, CURRENT_VERSION);
        assert_eq!(c.general.poll_interval, Duration::from_secs(300));
        assert!(c.general.notify_success && !c.general.offline_on_quit);
        assert_eq!(
            c.detect.ipv4,
            [
                "https://api.ipify.org",
                "dns:opendns",
                "https://ipv4.icanhazip.com",
                "https://v4.ident.me"
            ]
        );
        assert_eq!(c.detect.ipv6, ["interface"]);
        assert_eq!(c.detect.agree, 2);
        assert!(!c.detect.allow_plain_http);
        assert!(c.accounts.is_empty() && c.records.is_empty());
    }

    #[test]
    fn minimal_file_gets_defaults() {
        assert_eq!(Config::parse("version = 1\n").unwrap(), Config::default());
        // A record with only the required keys gets the record defaults.
        let c = Config::parse(&with_record(
            "name = \"a.example.org\"\naccount = \"home\"\n",
        ))
        .unwrap();
        let r = &c.records[0];
        assert_eq!(r.family, Family::A);
        assert_eq!((r.wildcard, r.mx.clone(), r.backup_mx), (None, None, None));
        assert!(r.enabled && !r.allow_private && !r.group && !r.offline_mode);
        assert_eq!(r.offline_address, None);
    }

    #[test]
    fn empty_file_is_missing_its_version() {
        for text in ["", "\n\n", "# just a comment\n", "\u{feff}"] {
            assert_problem(&one(text), None, "version", "missing `version`");
        }
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let p = one("version = 1\n\n[general]\nnotify_success = \n");
        assert_problem(&p, Some(4), "", "TOML syntax error at column 18");
        let p = one("version = 1\nversion = 1\n");
        assert_problem(&p, Some(2), "", "duplicate key");
        assert_eq!(
            p.to_string(),
            "line 2: TOML syntax error at column 1: duplicate key"
        );
    }

    #[test]
    fn version_rules() {
        assert_problem(
            &one("version = \"1\"\n"),
            Some(1),
            "version",
            "expected an integer, found a string",
        );
        assert_problem(&one("version = 1.0\n"), Some(1), "version", "found a float");
        assert_problem(
            &one("\nversion = 0\n"),
            Some(2),
            "version",
            "unsupported version 0",
        );
        assert_problem(
            &one("version = -3\n"),
            Some(1),
            "version",
            "unsupported version -3",
        );
        assert_problem(
            &one("version = 99999999999\n"),
            Some(1),
            "version",
            "out of range",
        );
        // Too new: one problem, the rest (unknown to this build) is not checked.
        let p = one("# x\nversion = 2\n[future]\nthing = 1\n");
        assert_problem(
            &p,
            Some(2),
            "version",
            "written by a newer Dyntray (version 2; this one reads up to 1)",
        );
    }

    #[test]
    fn unknown_keys_everywhere_with_hints() {
        let text = "version = 1\n\
                    colour = \"blue\"\n\
                    [genral]\n\
                    [general]\n\
                    poll_intervall = \"5m\"\n\
                    [detect]\n\
                    ipv5 = []\n\
                    [[account]]\n\
                    id = \"home\"\n\
                    provider = \"dyndns\"\n\
                    username = \"alice\"\n\
                    sever = \"https://x.example\"\n\
                    [[record]]\n\
                    name = \"a.example.org\"\n\
                    account = \"home\"\n\
                    wildcrad = true\n\
                    zzzzzz = 1\n";
        let all = problems(text);
        assert_eq!(all.len(), 6, "{all:#?}");
        assert_problem(&all[0], Some(2), "colour", "unknown key `colour`");
        assert!(!all[0].message.contains("did you mean"));
        assert_problem(&all[1], Some(3), "genral", "did you mean `general`?");
        assert_problem(
            &all[2],
            Some(5),
            "general.poll_intervall",
            "unknown key `poll_intervall`; did you mean `poll_interval`?",
        );
        assert_problem(&all[3], Some(7), "detect.ipv5", "did you mean `ipv4`?");
        assert_problem(
            &all[4],
            Some(16),
            "record[0].wildcrad",
            "did you mean `wildcard`?",
        );
        assert_problem(
            &all[5],
            Some(17),
            "record[0].zzzzzz",
            "unknown key `zzzzzz`",
        );
        assert!(!all[5].message.contains("did you mean"));
        // An account's other keys are its provider's to judge, with the same hints.
        let p = checked(&with_account_key("sever = \"https://x.example\""))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_problem(
            &p[0],
            Some(7),
            "account[0].sever",
            "DynDNS has no setting `sever`; did you mean `server`?",
        );
    }

    #[test]
    fn plural_section_names_get_a_hint() {
        let p = one("version = 1\n[[records]]\nname = \"x\"\n");
        assert_problem(&p, Some(2), "records", "did you mean `record`?");
    }

    #[test]
    fn wrong_types() {
        let text = "version = 1\n[general]\nnotify_success = \"yes\"\npoll_interval = 300\n\
                    [detect]\nipv4 = \"https://a.example\"\nipv6 = [\"https://b.example\", 6]\n";
        let all = problems(text);
        assert_eq!(all.len(), 4, "{all:#?}");
        assert_problem(
            &all[0],
            Some(3),
            "general.notify_success",
            "expected a boolean (true or false), found a string",
        );
        assert_problem(
            &all[1],
            Some(4),
            "general.poll_interval",
            "expected a string, found an integer",
        );
        assert_problem(
            &all[2],
            Some(6),
            "detect.ipv4",
            "expected an array of sources, found a string",
        );
        assert_problem(
            &all[3],
            Some(7),
            "detect.ipv6[1]",
            "expected a source string, found an integer",
        );

        assert_problem(
            &one("version = 1\ngeneral = 5\n"),
            Some(2),
            "general",
            "expected a table, found an integer",
        );
        assert_problem(
            &one("version = 1\n[account]\nid = \"x\"\n"),
            Some(2),
            "account",
            "expected an array of tables (`[[account]]` sections), found a table",
        );
        assert_problem(
            &one("version = 1\nrecord = [1]\n"),
            Some(2),
            "record[0]",
            "expected a table, found an integer",
        );
        assert_problem(
            &one(&with_record(
                "name = \"a.example.org\"\naccount = \"home\"\nenabled = 1\n",
            )),
            Some(10),
            "record[0].enabled",
            "found an integer",
        );
    }

    #[test]
    fn inline_tables_are_accepted() {
        let text = "version = 1\ngeneral = { poll_interval = \"1h\" }\n\
                    account = [{ id = \"a\", provider = \"p\", username = \"u\" },\n\
                    { id = \"b\", provider = \"p\", username = \"u\", secret = \"env:B\" }]\n";
        let c = Config::parse(text).unwrap();
        assert_eq!(c.general.poll_interval, Duration::from_secs(3600));
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(c.accounts[1].secret, SecretRef::Env("B".into()));
        assert_eq!(c.accounts[1].line, 4);
        let p = checked(
            "version = 1\naccount = [{ id = \"a\", provider = \"dyndns\", username = \"u\" },\n\
             { id = \"b\", provider = \"dyndns\" }]\n",
        )
        .map(|_| ())
        .unwrap_err();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_problem(
            &p[0],
            Some(3),
            "account[1].username",
            "DynDNS needs `username`",
        );
    }

    #[test]
    fn dotted_keys_work() {
        let c = Config::parse("version = 1\ngeneral.offline_on_quit = true\n").unwrap();
        assert!(c.general.offline_on_quit);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_duration("28d"),
            Some(Duration::from_secs(28 * 86_400))
        );
        for bad in [
            "", "s", "5", "5 m", " 5m", "5M", "1.5h", "-5m", "5mm", "+5m", "5ms", "٣m",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("99999999999999999999d"), None);
        assert_eq!(parse_duration("999999999999999999d"), None);
        for (d, text) in [
            (30, "30s"),
            (90, "90s"),
            (300, "5m"),
            (7200, "2h"),
            (86_400 * 28, "28d"),
            (0, "0s"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(d)), text);
            assert_eq!(parse_duration(text), Some(Duration::from_secs(d)));
        }
    }

    #[test]
    fn poll_interval_range() {
        let general =
            |value: &str| format!("version = 1\n[general]\npoll_interval = \"{value}\"\n");
        for ok in ["30s", "5m", "24h", "1d"] {
            assert!(Config::parse(&general(ok)).is_ok(), "{ok}");
        }
        for (bad, msg) in [
            ("29s", "between 30s and 24h"),
            ("0s", "between 30s and 24h"),
            ("25h", "between 30s and 24h"),
            ("2d", "between 30s and 24h"),
            ("5 minutes", "expected a duration"),
        ] {
            assert_problem(&one(&general(bad)), Some(3), "general.poll_interval", msg);
        }
    }

    #[test]
    fn keepalive_values() {
        let c = Config::parse(&with_account_key("keepalive = \"off\"")).unwrap();
        assert_eq!(c.accounts[0].keepalive, Some(Keepalive::Off));
        let c = Config::parse(&with_account_key("keepalive = \"1h\"")).unwrap();
        assert_eq!(
            c.accounts[0].keepalive,
            Some(Keepalive::Every(Duration::from_secs(3600)))
        );
        assert_problem(
            &one(&with_account_key("keepalive = \"59m\"")),
            Some(7),
            "account[0].keepalive",
            "at least 1h",
        );
        let c = Config::parse(&with_account_key("keepalive = \"365d\"")).unwrap();
        assert_eq!(
            c.accounts[0].keepalive,
            Some(Keepalive::Every(Duration::from_secs(365 * 86_400)))
        );
        // Huge values once passed and then compared as negative: a touch at every poll.
        for huge in ["366d", "9223372036854775807s", "106751991167300d"] {
            assert_problem(
                &one(&with_account_key(&format!("keepalive = \"{huge}\""))),
                Some(7),
                "account[0].keepalive",
                "at most 365d",
            );
        }
        assert_problem(
            &one(&with_account_key("keepalive = \"never\"")),
            Some(7),
            "account[0].keepalive",
            "expected \"off\" or a duration",
        );
        assert_problem(
            &one(&with_account_key("keepalive = false")),
            Some(7),
            "account[0].keepalive",
            "expected a string, found a boolean",
        );
    }

    #[test]
    fn record_names() {
        let parse_name = |name: &str| {
            Config::parse(&with_record(&format!(
                "name = \"{name}\"\naccount = \"home\"\n"
            )))
            .map(|c| c.records[0].name.clone())
        };
        assert_eq!(parse_name("Home.Example.ORG.").unwrap(), "home.example.org");
        assert_eq!(parse_name("a-b.x1.example").unwrap(), "a-b.x1.example");
        let long_label = "a".repeat(64);
        let long_name = format!("{}.org", ["abcdefghi"; 26].join("."));
        for (bad, msg) in [
            ("*.example.org", "set `wildcard = true`"),
            ("home", "not a fully qualified name"),
            ("-home.example.org", "starts or ends with `-`"),
            ("home-.example.org", "starts or ends with `-`"),
            ("home..example.org", "empty label"),
            (".example.org", "empty label"),
            ("", "must not be empty"),
            ("home_1.example.org", "may only contain"),
            ("bücher.example", "punycode"),
            (long_label.as_str(), "longer than 63"),
            (long_name.as_str(), "longer than 253"),
        ] {
            let err = parse_name(bad).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}: {err:?}");
            assert_problem(&err[0], Some(8), "record[0].name", msg);
        }
        assert!(parse_name(&format!("{}.example", "a".repeat(63))).is_ok());
    }

    #[test]
    fn group_names() {
        let parse_group = |name: &str| {
            Config::parse(&with_record(&format!(
                "name = \"{name}\"\naccount = \"home\"\ngroup = true\n"
            )))
        };
        for ok in ["*1", "*2", "MyGroup", "my_group.v2", "x"] {
            let c = parse_group(ok).unwrap();
            assert_eq!(c.records[0].name, ok);
            assert!(c.records[0].group);
        }
        let long = "g".repeat(64);
        for (bad, msg) in [
            ("", "must not be empty"),
            ("my group", "group name may only contain"),
            (long.as_str(), "1 to 63 characters"),
            ("a/b", "group name may only contain"),
        ] {
            let err = parse_group(bad).unwrap_err();
            assert_eq!(err.len(), 1, "{err:?}");
            assert_problem(&err[0], Some(8), "record[0].name", msg);
        }
        // A single-label name without group = true gets a hint about it.
        let p = one(&with_record("name = \"*1\"\naccount = \"home\"\n"));
        assert_problem(&p, Some(8), "record[0].name", "`group = true`");
    }

    #[test]
    fn mx_names() {
        let c = Config::parse(&with_record(
            "name = \"a.example.org\"\naccount = \"home\"\nmx = \"MAIL.example.org.\"\n",
        ))
        .unwrap();
        assert_eq!(c.records[0].mx.as_deref(), Some("mail.example.org"));
        for bad in [
            "mail",
            "*.example.org",
            "mail..example.org",
            "-x.example.org",
        ] {
            let p = one(&with_record(&format!(
                "name = \"a.example.org\"\naccount = \"home\"\nmx = \"{bad}\"\n"
            )));
            assert_problem(&p, Some(10), "record[0].mx", "");
            assert!(!p.message.contains("group"), "{p}");
        }
    }

    #[test]
    fn account_ids() {
        let account = |id: &str| {
            format!("version = 1\n[[account]]\nid = \"{id}\"\nprovider = \"p\"\nusername = \"u\"\n")
        };
        for ok in ["home", "a", "Work_2.backup-x", &"x".repeat(64)] {
            assert!(Config::parse(&account(ok)).is_ok(), "{ok}");
        }
        for (bad, msg) in [
            ("", "must not be empty"),
            ("my home", "may only contain"),
            ("ä", "may only contain"),
            (&"x".repeat(65), "at most 64"),
        ] {
            assert_problem(&one(&account(bad)), Some(3), "account[0].id", msg);
        }
        assert_problem(
            &one("version = 1\n[[account]]\nprovider = \"p\"\nusername = \"u\"\n"),
            Some(2),
            "account[0].id",
            "missing `id`",
        );
    }

    #[test]
    fn duplicate_account_ids_name_the_first_line() {
        let text =
            format!("{BASE}[[account]]\nid = \"home\"\nprovider = \"x\"\nusername = \"y\"\n");
        let p = one(&text);
        assert_problem(
            &p,
            Some(8),
            "account[1].id",
            "duplicate account id `home` (first defined on line 4)",
        );
    }

    #[test]
    fn provider_and_username_required() {
        let p = one("version = 1\n\n[[account]]\nid = \"a\"\nprovider = \"\"\n");
        assert_problem(&p, Some(5), "account[0].provider", "must not be empty");
        let p = one("version = 1\n[[account]]\nid = \"a\"\nusername = \"u\"\n");
        assert_problem(&p, Some(2), "account[0].provider", "missing `provider`");
        // Whether a username is needed is the provider's to say.
        for text in [
            "version = 1\n[[account]]\nid = \"a\"\nprovider = \"dyndns\"\nusername = \"\"\n",
            "version = 1\n[[account]]\nid = \"a\"\nprovider = \"dyndns\"\n",
        ] {
            let p = checked(text).map(|_| ()).unwrap_err();
            assert_eq!(p.len(), 1, "{p:#?}");
            assert_problem(
                &p[0],
                Some(if text.contains("username") { 5 } else { 2 }),
                "account[0].username",
                "DynDNS needs `username` (username)",
            );
        }
    }

    // Unix absolute paths in `file:` references (a Windows path starts with a drive).
    #[cfg(unix)]
    #[test]
    fn secret_references() {
        let secret = |value: &str| {
            Config::parse(&with_account_key(&format!("secret = \"{value}\"")))
                .map(|c| c.accounts[0].secret.clone())
        };
        assert_eq!(secret("keychain").unwrap(), SecretRef::Keychain);
        assert_eq!(
            secret("file:/home/alice/.dyn.secret").unwrap(),
            SecretRef::File(PathBuf::from("/home/alice/.dyn.secret"))
        );
        assert_eq!(
            secret("env:DYN_SECRET_1").unwrap(),
            SecretRef::Env("DYN_SECRET_1".into())
        );
        assert_eq!(secret("env:_x").unwrap(), SecretRef::Env("_x".into()));
        for (bad, msg) in [
            ("file:relative/path", "must be absolute"),
            ("file:", "must be absolute"),
            ("file:~/secret", "`~` is not expanded"),
            ("env:", "environment variable name"),
            ("env:1ABC", "environment variable name"),
            ("env:A-B", "environment variable name"),
            ("Keychain", "expected \"keychain\""),
        ] {
            let err = secret(bad).unwrap_err();
            assert_eq!(err.len(), 1);
            assert_problem(&err[0], Some(7), "account[0].secret", msg);
        }
    }

    #[test]
    fn literal_secret_in_secret_is_not_echoed() {
        let p = one(&with_account_key("secret = \"hunter2-Sup3rS3cret\""));
        assert_problem(
            &p,
            Some(7),
            "account[0].secret",
            "secrets are not stored in the config file",
        );
        assert!(!p.to_string().contains("hunter2"), "{p}");
    }

    #[test]
    fn secret_keys_are_refused_without_echo() {
        for key in [
            "password",
            "token",
            "key",
            "secret_value",
            "Password",
            "api_key",
        ] {
            let p = one(&with_account_key(&format!(
                "{key} = \"hunter2-Sup3rS3cret\""
            )));
            assert_problem(
                &p,
                Some(7),
                &format!("account[0].{key}"),
                "secrets are not stored in the config file; use secret = \"keychain\" (set it in \
                 Settings or with `dyntrayd secret set <account>`), \"file:…\" or \"env:…\"",
            );
            assert!(!p.to_string().contains("hunter2"), "{p}");
        }
        // Anywhere in the file, not only in accounts.
        let p = one("version = 1\n[general]\ntoken = \"hunter2\"\n");
        assert_problem(&p, Some(3), "general.token", "secrets are not stored");
        assert!(!p.message.contains("hunter2"));
    }

    #[test]
    fn server_urls() {
        let server = |url: &str| {
            checked(&with_account_key(&format!("server = \"{url}\"")))
                .map(|c| c.accounts[0].server.clone())
        };
        for ok in [
            "https://members.dyndns.org",
            "https://dyn.example.org:8443/nic/update",
            "HTTPS://x.example",
            "http://127.0.0.1:8080",
            "http://127.8.9.10/",
            "http://localhost:3000/nic/update",
            "http://[::1]:8245",
            "https://[2001:db8::1]/",
        ] {
            assert_eq!(server(ok).unwrap().as_deref(), Some(ok));
        }
        for (bad, msg) in [
            (
                "http://members.dyndns.org",
                "credentials travel only over HTTPS",
            ),
            ("http://192.168.1.1", "credentials travel only over HTTPS"),
            ("http://[2001:db8::1]", "credentials travel only over HTTPS"),
            (
                "http://localhost.example.org",
                "credentials travel only over HTTPS",
            ),
            ("ftp://x.example", "expected a URL starting with https://"),
            (
                "members.dyndns.org",
                "expected a URL starting with https://",
            ),
            ("https://", "no host"),
            ("https:///path", "no host"),
            ("https://host:0", "port"),
            ("https://host:70000", "port"),
            ("https://host:", "port"),
            ("https://ho st", "spaces"),
            ("https://[::1", "unclosed"),
            ("https://[nope]", "not an IPv6 address"),
            ("https://a$b.example", "host may only contain"),
            ("", "expected a URL"),
        ] {
            let err = server(bad).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}");
            assert_problem(&err[0], Some(7), "account[0].server", msg);
        }
    }

    #[test]
    fn gnudip_tcp_servers_are_the_one_non_https_server() {
        let server = |url: &str| {
            checked(&with_provider("gnudip", &format!("server = \"{url}\"")))
                .map(|c| c.accounts[0].server.clone())
        };
        for ok in [
            "gnudip://gnudip2.yi.org:3495",
            "gnudip://gnudip.dynu.com",
            "GNUDIP://gnudip.example.org/",
            "gnudip://[2001:db8::1]:3495",
        ] {
            assert_eq!(server(ok).unwrap().as_deref(), Some(ok));
        }
        for (bad, msg) in [
            ("gnudip://", "no host"),
            ("gnudip://host:0", "port"),
            ("gnudip://host/gnudip/cgi-bin", "no path"),
            ("gnudip://alice:hunter2@host", "user name or password"),
            ("gnudip://ho st", "spaces"),
            (
                "gnudips://host",
                "expected gnudip://host[:port] or an https:// URL",
            ),
        ] {
            let err = server(bad).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}");
            assert_problem(&err[0], Some(7), "account[0].server", msg);
            assert!(!err[0].to_string().contains("hunter2"), "{}", err[0]);
        }
    }

    #[test]
    fn rfc2136_servers_and_account_keys() {
        let server = |url: &str| {
            checked(&with_provider(
                "rfc2136",
                &format!("server = \"{url}\"\nzone = \"example.org\""),
            ))
            .map(|c| c.accounts[0].server.clone())
        };
        for ok in [
            "dns://127.0.0.1:5353",
            "dns://ns1.example.org",
            "DNS://ns1.example.org/",
            "dns://[2001:db8::1]:53",
        ] {
            assert_eq!(server(ok).unwrap().as_deref(), Some(ok));
        }
        for (bad, msg) in [
            ("dns://", "no host"),
            ("dns://ns1.example.org:0", "port"),
            ("dns://ns1.example.org/zone", "no path"),
            ("dns://key:hunter2@ns1.example.org", "user name or password"),
            ("dns://ns 1", "spaces"),
        ] {
            let err = server(bad).unwrap_err();
            assert_eq!(err.len(), 1, "{bad}");
            assert_problem(&err[0], Some(7), "account[0].server", msg);
            assert!(!err[0].to_string().contains("hunter2"), "{}", err[0]);
        }

        // The provider's keys are kept as written; the provider checks them.
        let rfc2136 = |line: &str| {
            with_provider(
                "rfc2136",
                &format!("{line}\nserver = \"dns://127.0.0.1:5353\""),
            )
        };
        let c = checked(&rfc2136(
            "zone = \"Example.TEST.\"\nttl = 300\nalgorithm = \"HMAC-SHA512\"",
        ))
        .unwrap();
        let a = &c.accounts[0];
        assert_eq!(
            a.settings.get("zone"),
            Some(&SettingValue::Text("Example.TEST.".into()))
        );
        assert_eq!(a.settings.get("ttl"), Some(&SettingValue::Integer(300)));
        let (settings, _) =
            crate::engine::setup::prepare_account(crate::provider::lookup("rfc2136").unwrap(), a)
                .unwrap();
        assert_eq!(
            settings.as_strings().into_iter().collect::<Vec<_>>(),
            [
                ("algorithm".to_owned(), "hmac-sha512".to_owned()),
                ("ttl".to_owned(), "300".to_owned()),
                ("zone".to_owned(), "example.test".to_owned()),
            ]
        );
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);

        for (line, key, msg) in [
            ("ttl = 0", "account[0].ttl", "from 1 to 86400"),
            ("ttl = 86401", "account[0].ttl", "from 1 to 86400"),
            ("ttl = \"60\"", "account[0].ttl", "expected a whole number"),
            (
                "algorithm = \"hmac-md5\"",
                "account[0].algorithm",
                "hmac-sha256, hmac-sha512",
            ),
            ("zone = \"example\"", "account[0].zone", "fully qualified"),
            (
                "zone = \"ex ample.org\"",
                "account[0].zone",
                "may only contain",
            ),
        ] {
            let zone = if line.starts_with("zone") {
                String::new()
            } else {
                "\nzone = \"example.org\"".to_owned()
            };
            let problems = checked(&rfc2136(&format!("{line}{zone}")))
                .map(|_| ())
                .unwrap_err();
            let found: Vec<&Problem> = problems.iter().filter(|p| p.key == key).collect();
            assert_eq!(found.len(), 1, "{line}: {problems:?}");
            assert_problem(found[0], Some(7), key, msg);
        }
    }

    #[test]
    fn credentials_in_server_url_are_not_echoed() {
        let p = checked(&with_account_key(
            "server = \"https://alice:hunter2@dyn.example.org/\"",
        ))
        .map(|_| ())
        .unwrap_err()
        .remove(0);
        assert_problem(&p, Some(7), "account[0].server", "user name or password");
        assert!(!p.to_string().contains("hunter2"), "{p}");
    }

    #[test]
    fn detect_urls_and_plain_http() {
        let detect = |extra: &str| {
            format!(
                "version = 1\n[detect]\nipv4 = [\n  \"https://a.example\",\n  \"http://checkip.example\",\n]\nipv6 = [\"http://[::1]:9000/ip\"]\n{extra}"
            )
        };
        let p = one(&detect(""));
        assert_problem(
            &p,
            Some(5),
            "detect.ipv4[1]",
            "plain http:// is accepted only for loopback hosts",
        );
        let c = Config::parse(&detect("allow_plain_http = true\n")).unwrap();
        assert_eq!(
            c.detect.ipv4,
            ["https://a.example", "http://checkip.example"]
        );
        assert_eq!(c.detect.ipv6, ["http://[::1]:9000/ip"]);
        assert!(c.detect.allow_plain_http);
        let p = one("version = 1\n[detect]\nipv6 = [\"nope\"]\n");
        assert_problem(
            &p,
            Some(3),
            "detect.ipv6[0]",
            "`nope` is not an address source; expected an https:// URL",
        );
        // An empty list turns detection of that family off.
        let c = Config::parse("version = 1\n[detect]\nipv6 = []\n").unwrap();
        assert!(c.detect.ipv6.is_empty());
        assert_eq!(c.detect.ipv4, Detect::default().ipv4);
    }

    #[test]
    fn detect_sources_agreement_and_suffixes() {
        let c = Config::parse(
            "version = 1\n[detect]\nipv4 = [\"upnp@127.0.0.1:1900\", \"dns:google@127.0.0.1:53\", \
             \"command:myip -4\", \"provider:noip\"]\nipv6 = [\"interface:eth0\"]\nagree = 3\n",
        )
        .unwrap();
        assert_eq!(
            c.detect.ipv4,
            [
                "upnp@127.0.0.1:1900",
                "dns:google@127.0.0.1:53",
                "command:myip -4",
                "provider:noip"
            ]
        );
        assert_eq!(c.detect.agree, 3);
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);

        let all = problems(
            "version = 1\n[detect]\nipv4 = [\"dns:quad9\",\n \"upnp@router\", \"upnp\", \"upnp\"]\n\
             agree = 0\n\n[[account]]\nid = \"a\"\nprovider = \"dyndns\"\nusername = \"u\"\n\n\
             [[record]]\nname = \"x.example.org\"\naccount = \"a\"\nipv6_suffix = \"::1\"\n\n\
             [[record]]\nname = \"y.example.org\"\naccount = \"a\"\nfamily = \"AAAA\"\n\
             ipv6_suffix = \"2a00::1\"\n",
        );
        assert_eq!(all.len(), 6, "{all:?}");
        assert_problem(
            &all[0],
            Some(3),
            "detect.ipv4[0]",
            "unknown DNS service `quad9`",
        );
        assert_problem(
            &all[1],
            Some(4),
            "detect.ipv4[1]",
            "not an address and port",
        );
        assert_problem(&all[2], Some(4), "detect.ipv4[3]", "`upnp` is listed twice");
        assert_problem(
            &all[3],
            Some(5),
            "detect.agree",
            "expected 1 to 5 sources, found 0",
        );
        assert_problem(&all[4], Some(15), "record[0].ipv6_suffix", "needs family");
        assert_problem(
            &all[5],
            Some(21),
            "record[1].ipv6_suffix",
            "upper 64 bits zero",
        );

        let all = problems(
            "version = 1\n[detect]\nipv4 = [\"https://api.ipify.org\", \"HTTPS://API.ipify.org/\"]\n\
             ipv6 = [\"upnp\", \"provider:dyndns\"]\n",
        );
        assert_eq!(all.len(), 3, "{all:?}");
        assert_problem(&all[0], Some(3), "detect.ipv4[1]", "is listed twice");
        assert_problem(&all[1], Some(4), "detect.ipv6[0]", "only its IPv4 address");
        assert_problem(&all[2], Some(4), "detect.ipv6[1]", "only IPv4 addresses");

        let c = Config::parse(
            "version = 1\n[[account]]\nid = \"a\"\nprovider = \"dyndns\"\nusername = \"u\"\n\
             [[record]]\nname = \"x.example.org\"\naccount = \"a\"\nfamily = \"both\"\n\
             ipv6_suffix = \"::a:b:c:d\"\n",
        )
        .unwrap();
        assert_eq!(c.records[0].ipv6_suffix, Some("::a:b:c:d".parse().unwrap()));
        assert_eq!(Config::parse(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn record_account_must_exist() {
        let text = format!(
            "{BASE}[[account]]\nid = \"work\"\nprovider = \"noip\"\nusername = \"bob\"\n\
             [[record]]\nname = \"a.example.org\"\naccount = \"hmoe\"\n"
        );
        let p = one(&text);
        assert_problem(
            &p,
            Some(13),
            "record[0].account",
            "no account `hmoe`; accounts are: `home`, `work`",
        );
        let p = one("version = 1\n[[record]]\nname = \"a.example.org\"\naccount = \"x\"\n");
        assert_problem(
            &p,
            Some(4),
            "record[0].account",
            "no account `x`; no [[account]] is defined",
        );
        let p = one("version = 1\n[[record]]\nname = \"a.example.org\"\n");
        assert_problem(&p, Some(2), "record[0].account", "missing `account`");
    }

    #[test]
    fn record_referring_to_a_broken_account_only_reports_the_account() {
        let p = one("version = 1\n[[account]]\nid = \"home\"\n\
             [[record]]\nname = \"a.example.org\"\naccount = \"home\"\n");
        assert_problem(&p, Some(2), "account[0].provider", "missing `provider`");
    }

    #[test]
    fn families_and_duplicates() {
        let rec = |name: &str, family: &str| {
            format!("[[record]]\nname = \"{name}\"\naccount = \"home\"\nfamily = \"{family}\"\n")
        };
        // A + AAAA of the same name is fine; adding "both" overlaps.
        let text = format!(
            "{BASE}{}{}",
            rec("a.example.org", "A"),
            rec("A.example.org.", "AAAA")
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.records[1].family, Family::Aaaa);
        let text = format!("{text}{}", rec("a.example.org", "both"));
        let p = one(&text);
        assert_problem(
            &p,
            Some(16),
            "record[2].name",
            "duplicate record `a.example.org` for account `home`: the record on line 7",
        );
        // Family spelling.
        let text = format!("{BASE}{}", rec("a.example.org", "aaaa"));
        assert_eq!(
            Config::parse(&text).unwrap().records[0].family,
            Family::Aaaa
        );
        let p = one(&format!("{BASE}{}", rec("a.example.org", "v4")));
        assert_problem(
            &p,
            Some(10),
            "record[0].family",
            "expected \"A\", \"AAAA\" or \"both\"",
        );
    }

    #[test]
    fn offline_address() {
        let rec = |family: &str, address: &str| {
            with_record(&format!(
                "name = \"a.example.org\"\naccount = \"home\"\nfamily = \"{family}\"\noffline_address = \"{address}\"\n"
            ))
        };
        let c = Config::parse(&rec("both", "2001:db8::1")).unwrap();
        assert_eq!(
            c.records[0].offline_address,
            Some("2001:db8::1".parse().unwrap())
        );
        assert!(Config::parse(&rec("A", "192.0.2.1")).is_ok());
        assert_problem(
            &one(&rec("A", "192.0.2.300")),
            Some(11),
            "record[0].offline_address",
            "not an IP address",
        );
        assert_problem(
            &one(&rec("A", "2001:db8::1")),
            Some(11),
            "record[0].offline_address",
            "an IPv6 address but family = \"A\"",
        );
        assert_problem(
            &one(&rec("AAAA", "192.0.2.1")),
            Some(11),
            "record[0].offline_address",
            "an IPv4 address but family = \"AAAA\"",
        );
    }

    #[test]
    fn offline_mode() {
        let c = Config::parse(&with_record(
            "name = \"a.example.org\"\naccount = \"home\"\noffline_mode = true\n",
        ))
        .unwrap();
        assert!(c.records[0].offline_mode);
        assert_eq!(c.records[0].key_lines.get("offline_mode"), Some(&10));
        let p = one(&with_record(
            "name = \"a.example.org\"\naccount = \"home\"\noffline_mode = \"yes\"\n",
        ));
        assert_problem(&p, Some(10), "record[0].offline_mode", "expected a boolean");
    }

    #[test]
    fn five_different_errors_are_all_reported() {
        let text = "version = 1\n\
                    [general]\n\
                    poll_interval = \"10s\"\n\
                    [detect]\n\
                    ipv4 = [\"http://checkip.example\"]\n\
                    [[account]]\n\
                    id = \"home\"\n\
                    provider = \"dyndns\"\n\
                    username = \"alice\"\n\
                    password = \"hunter2\"\n\
                    [[record]]\n\
                    name = \"*.example.org\"\n\
                    account = \"home\"\n\
                    wildcrad = true\n";
        let all = problems(text);
        let found: Vec<(Option<usize>, &str)> =
            all.iter().map(|p| (p.line, p.key.as_str())).collect();
        assert_eq!(
            found,
            [
                (Some(3), "general.poll_interval"),
                (Some(5), "detect.ipv4[0]"),
                (Some(10), "account[0].password"),
                (Some(12), "record[0].name"),
                (Some(14), "record[0].wildcrad"),
            ]
        );
        assert!(!all.iter().any(|p| p.message.contains("hunter2")));
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            line: Some(12),
            key: "record[1].mx".into(),
            message: "bad".into(),
        };
        assert_eq!(p.to_string(), "line 12: record[1].mx: bad");
        let p = Problem {
            line: None,
            key: "version".into(),
            message: "missing".into(),
        };
        assert_eq!(p.to_string(), "version: missing");
        let p = Problem {
            line: Some(3),
            key: String::new(),
            message: "oops".into(),
        };
        assert_eq!(p.to_string(), "line 3: oops");
    }

    #[test]
    fn error_display() {
        let e = ConfigError::Invalid {
            path: PathBuf::from("/c/config.toml"),
            problems: vec![
                Problem {
                    line: Some(3),
                    key: "general.poll_interval".into(),
                    message: "a".into(),
                },
                Problem {
                    line: None,
                    key: "version".into(),
                    message: "b".into(),
                },
            ],
        };
        assert_eq!(
            e.to_string(),
            "/c/config.toml has 2 problems:\n  line 3: general.poll_interval: a\n  version: b"
        );
        let e = ConfigError::Invalid {
            path: PathBuf::from("c.toml"),
            problems: vec![Problem {
                line: Some(1),
                key: String::new(),
                message: "x".into(),
            }],
        };
        assert_eq!(e.to_string(), "c.toml has 1 problem:\n  line 1: x");
        let e = ConfigError::TooNew {
            path: PathBuf::from("c.toml"),
            found: 3,
            supported: 1,
        };
        assert_eq!(
            e.to_string(),
            "c.toml was written by a newer Dyntray (version 3; this one reads up to 1); not touched"
        );
    }

    #[test]
    fn line_of_counts_lines() {
        let text = "a\nbc\r\n\nd";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 1), 1);
        assert_eq!(line_of(text, 2), 2);
        assert_eq!(line_of(text, 6), 3);
        assert_eq!(line_of(text, 7), 4);
        assert_eq!(line_of(text, 1000), 4);
        let index = LineIndex::new(text);
        for offset in [0, 1, 2, 5, 6, 7, 8, 1000] {
            assert_eq!(index.line(offset), line_of(text, offset), "offset {offset}");
        }
        assert_eq!(line_of("", 5), 1);
    }

    #[test]
    fn crlf_and_bom() {
        let text = format!("\u{feff}{}", EXAMPLE.replace('\n', "\r\n"));
        assert_eq!(
            Config::parse(&text).unwrap(),
            Config::parse(EXAMPLE).unwrap()
        );
        let p = one("\u{feff}version = 1\r\n[general]\r\nnotify_success = 1\r\n");
        assert_problem(&p, Some(3), "general.notify_success", "found an integer");
    }

    fn full_config() -> Config {
        let general = General {
            poll_interval: Duration::from_secs(90),
            notify_success: false,
            offline_on_quit: true,
        };
        let detect = Detect {
            ipv4: vec![
                "http://checkip.example/?a=\"b\"".parse().unwrap(),
                "dns:google@127.0.0.1:5353".parse().unwrap(),
                "command:echo \"81.2.69.160\"".parse().unwrap(),
            ],
            ipv6: vec![
                "interface:eth0".parse().unwrap(),
                "dns:cloudflare".parse().unwrap(),
            ],
            agree: 3,
            allow_plain_http: true,
        };
        let account = |id: &str, secret: SecretRef| Account {
            id: id.into(),
            provider: "dyndns".into(),
            username: "alice \"quoted\" \\ ünï".into(),
            secret,
            server: None,
            keepalive: None,
            settings: BTreeMap::new(),
            line: 0,
            key_lines: BTreeMap::new(),
        };
        let accounts = vec![
            account("home", SecretRef::Keychain),
            Account {
                server: Some("https://dyn.example.org:8443/nic/update".into()),
                keepalive: Some(Keepalive::Off),
                ..account("work", SecretRef::File("/etc/dyntray/work.secret".into()))
            },
            Account {
                keepalive: Some(Keepalive::Every(Duration::from_secs(7 * 86_400))),
                ..account("env", SecretRef::Env("DYN_PASS".into()))
            },
        ];
        let record = |name: &str, account: &str| Record {
            name: name.into(),
            account: account.into(),
            family: Family::A,
            wildcard: None,
            mx: None,
            backup_mx: None,
            offline_address: None,
            offline_mode: false,
            allow_private: false,
            enabled: true,
            group: false,
            ipv6_suffix: None,
            create: false,
            line: 0,
            key_lines: BTreeMap::new(),
        };
        let records = vec![
            record("home.example.org", "home"),
            Record {
                family: Family::Both,
                wildcard: Some(false),
                mx: Some("mail.example.org".into()),
                backup_mx: Some(true),
                offline_address: Some("2001:db8::1".parse().unwrap()),
                offline_mode: true,
                allow_private: true,
                enabled: false,
                ipv6_suffix: Some("::1:2:3:4".parse().unwrap()),
                ..record("work.example.org", "work")
            },
            Record {
                group: true,
                family: Family::Aaaa,
                ..record("*1", "env")
            },
        ];
        Config {
            version: 1,
            general,
            detect,
            accounts,
            records,
        }
    }

    // Unix absolute paths in `file:` references (a Windows path starts with a drive).
    #[cfg(unix)]
    #[test]
    fn to_toml_round_trips() {
        for config in [
            Config::default(),
            Config::parse(EXAMPLE).unwrap(),
            full_config(),
        ] {
            let text = config.to_toml();
            let back = Config::parse(&text).unwrap_or_else(|p| panic!("{text}\n{p:#?}"));
            assert_eq!(back, config, "{text}");
            // And the text is stable.
            assert_eq!(back.to_toml(), text);
        }
    }

    #[test]
    fn equality_ignores_lines() {
        let a = Config::parse(EXAMPLE).unwrap();
        let b = Config::parse(&format!("\n\n\n{EXAMPLE}")).unwrap();
        assert_ne!(a.accounts[0].line, b.accounts[0].line);
        assert_eq!(a, b);
    }

    #[test]
    fn serde_string_forms() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        let de = |s: &'static str| -> StrDeserializer<'static, Error> { s.into_deserializer() };
        assert_eq!(
            SecretRef::deserialize(de("env:X")).unwrap(),
            SecretRef::Env("X".into())
        );
        assert!(SecretRef::deserialize(de("hunter2")).is_err());
        assert_eq!(Keepalive::deserialize(de("off")).unwrap(), Keepalive::Off);
        assert!(Keepalive::deserialize(de("5m")).is_err());
        assert_eq!(Family::deserialize(de("AAAA")).unwrap(), Family::Aaaa);
        assert_eq!(Family::deserialize(de("both")).unwrap(), Family::Both);
        assert_eq!(
            poll_interval_text::deserialize(de("2h")).unwrap(),
            Duration::from_secs(7200)
        );
        assert!(poll_interval_text::deserialize(de("1s")).is_err());
        assert_eq!(SecretRef::File("/a b".into()).to_string(), "file:/a b");
        assert_eq!(
            Keepalive::Every(Duration::from_secs(3600)).to_string(),
            "1h"
        );
        assert_eq!(Family::Both.to_string(), "both");
    }

    #[test]
    fn every_prefix_of_the_example_parses_without_panicking() {
        for end in (0..=EXAMPLE.len()).filter(|i| EXAMPLE.is_char_boundary(*i)) {
            let _ = Config::parse(&EXAMPLE[..end]);
        }
        let full = full_config().to_toml();
        for end in (0..=full.len()).filter(|i| full.is_char_boundary(*i)) {
            let _ = Config::parse(&full[..end]);
        }
    }

    #[test]
    fn mutated_examples_parse_without_panicking() {
        // A small deterministic generator: replace, delete or insert one character.
        let alphabet: Vec<char> = "\"'[]{}=.,#\n \\0123456789abcdefxyzAZ*:-_/\u{0}\u{feff}é"
            .chars()
            .collect();
        let chars: Vec<char> = EXAMPLE.chars().collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..3000 {
            let mut c = chars.clone();
            for _ in 0..1 + next(3) {
                let at = next(c.len());
                match next(3) {
                    0 => c[at] = alphabet[next(alphabet.len())],
                    1 => {
                        c.remove(at);
                    }
                    _ => c.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let text: String = c.into_iter().collect();
            if let Err(problems) = Config::parse(&text) {
                assert!(!problems.is_empty());
            }
        }
    }

    // -- files ---------------------------------------------------------------------------------

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn load_of_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Config::load(&dir.path().join("nope.toml"))
                .unwrap()
                .is_none()
        );
        assert!(
            Config::load(&dir.path().join("no/such/dir/c.toml"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn load_reports_problems_too_new_and_io() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "version = 1\n[general]\nnotify_success = 2\n").unwrap();
        match Config::load(&path) {
            Err(ConfigError::Invalid { path: p, problems }) => {
                assert_eq!(p, path);
                assert_eq!(problems.len(), 1);
                assert_eq!(problems[0].line, Some(3));
            }
            other => panic!("{other:?}"),
        }
        fs::write(&path, "version = 7\n[whatever]\n").unwrap();
        match Config::load(&path) {
            Err(ConfigError::TooNew {
                found: 7,
                supported: 1,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        fs::write(&path, b"version = 1\n# \xff\xfe\n").unwrap();
        match Config::load(&path) {
            Err(ConfigError::Invalid { problems, .. }) => {
                assert_eq!(problems[0].line, Some(2));
                assert!(problems[0].message.contains("UTF-8"));
            }
            other => panic!("{other:?}"),
        }
        // A directory where the file should be.
        assert!(matches!(
            Config::load(dir.path()),
            Err(ConfigError::Io { .. })
        ));
        fs::write(&path, EXAMPLE).unwrap();
        assert_eq!(
            Config::load(&path).unwrap(),
            Some(Config::parse(EXAMPLE).unwrap())
        );
    }

    // Unix paths and file modes.
    #[cfg(unix)]
    #[test]
    fn save_creates_private_dir_and_file_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dyntray/config.toml");
        let config = full_config();
        config.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), Some(config.clone()));
        #[cfg(unix)]
        {
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // Saving again replaces the file and leaves no temporary files behind.
        let mut changed = config;
        changed.general.poll_interval = Duration::from_secs(600);
        changed.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), Some(changed));
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["config.toml"]);
    }

    #[cfg(unix)]
    #[test]
    fn save_tightens_mode_of_a_loose_existing_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "version = 1\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        Config::default().save(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn save_refuses_to_overwrite_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let corrupt = "version = 1\n[general\npoll_interval = \"5m\"\n";
        fs::write(&path, corrupt).unwrap();
        match Config::default().save(&path) {
            Err(ConfigError::Invalid { problems, .. }) => assert_eq!(problems[0].line, Some(2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), corrupt);
        // Valid TOML but an invalid config is refused too.
        let invalid = "version = 1\n[general]\npoll_interval = \"1s\"\n";
        fs::write(&path, invalid).unwrap();
        assert!(matches!(
            Config::default().save(&path),
            Err(ConfigError::Invalid { .. })
        ));
        assert_eq!(fs::read_to_string(&path).unwrap(), invalid);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn save_refuses_to_overwrite_a_newer_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let newer = "version = 2\n[shiny]\nnew = true\n";
        fs::write(&path, newer).unwrap();
        match Config::default().save(&path) {
            Err(ConfigError::TooNew {
                found: 2,
                supported: 1,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), newer);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn save_refuses_a_config_that_would_not_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        Config::default().save(&path).unwrap();
        let before = fs::read_to_string(&path).unwrap();
        let mut bad = Config::default();
        bad.general.poll_interval = Duration::from_secs(5);
        bad.records.push(Record {
            name: "x.example.org".into(),
            account: "nobody".into(),
            family: Family::A,
            wildcard: None,
            mx: None,
            backup_mx: None,
            offline_address: None,
            offline_mode: false,
            allow_private: false,
            enabled: true,
            group: false,
            ipv6_suffix: None,
            create: false,
            line: 0,
            key_lines: BTreeMap::new(),
        });
        match bad.save(&path) {
            Err(ConfigError::Rejected { problems, .. }) => {
                let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
                assert_eq!(keys, ["general.poll_interval", "record[0].account"]);
                assert!(problems.iter().all(|p| p.line.is_none()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), before);
    }

    #[cfg(unix)]
    #[test]
    fn save_through_a_symlink_keeps_the_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/dyntray.toml");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "version = 1\n").unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        full_config().save(&link).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(Config::load(&real).unwrap(), Some(full_config()));
    }

    #[test]
    fn save_to_a_relative_path() {
        // Only checks that a path without a directory part is handled; run in a temp dir.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.toml");
        Config::default().save(&path).unwrap();
        assert!(write_atomic(Path::new(""), b"x").is_err());
    }
}
