//! Provider credentials: where they live, how they are read, and how they are kept out of
//! everything else (design invariant 6).
//!
//! A secret lives in exactly one place, chosen per account ([`SecretSource`]):
//!
//! - the OS keychain (on Linux the Secret Service, e.g. gnome-keyring or KWallet), as the
//!   entry (service, account), e.g. `("dyntray", "home")`, through a [`SecretStore`];
//! - on headless machines, a file that only its owner can read (mode 0600);
//! - or an environment variable the user names.
//!
//! In memory a secret sits in a [`Secret`], whose `Debug` and `Display` print `[redacted]`.
//! No error of this module contains a secret value. Anything that came back from a provider
//! goes through [`scrub`] or [`scrub_basic`] before it is logged, stored or shown.
//!
//! The keychain calls block (synchronous D-Bus on Linux): call them from a blocking thread
//! (e.g. `tokio::task::spawn_blocking`), never from an async task directly.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What every redacted value is replaced with.
const REDACTED: &str = "[redacted]";

/// How [`SecretError::NotFound`] describes the keychain.
const KEYCHAIN_DESC: &str = "the keychain";

/// Secret files larger than this are refused (a password or token is far shorter).
const MAX_FILE_LEN: u64 = 64 * 1024;

/// Secrets shorter than this (in characters) are not scrubbed: replacing every "ab" in a text
/// would mangle it without protecting anything.
const MIN_SCRUB_CHARS: usize = 3;

/// A secret value (a password or an API token).
///
/// `Debug` prints `Secret([redacted])` and `Display` prints `[redacted]`; the value is only
/// reachable through [`Secret::expose`], so it cannot end up in a log line by accident.
///
/// On drop the buffer (its whole capacity) is overwritten with zeros, best effort and without
/// `unsafe`: copies the program made elsewhere (a `String` built from [`Secret::expose`], an
/// HTTP request buffer, a reallocation before the value got here) are not covered.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value. Validity (not empty, no line break) is checked where secrets enter
    /// Dyntray: [`resolve`] and [`store`].
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value itself, for the one place that needs it (building the provider request).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        wipe(std::mem::take(&mut self.0).into_bytes());
    }
}

/// Overwrites a buffer's whole capacity with zeros before freeing it.
fn wipe(mut bytes: Vec<u8>) {
    let capacity = bytes.capacity();
    bytes.clear();
    // Within capacity: writes zeros in place, never reallocates.
    bytes.resize(capacity, 0);
    // Keeps the compiler from dropping the writes as dead stores.
    std::hint::black_box(&bytes);
}

/// Where an account's secret lives, as configured by the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretSource {
    /// The OS keychain, entry (service, account); set through Settings or `dyntrayd secret set`.
    Keychain,
    /// A file holding only the secret (one trailing newline allowed), owned by the user
    /// Dyntray runs as and not accessible to group or others. For headless machines.
    File(PathBuf),
    /// An environment variable of the Dyntray process, by name. For headless machines.
    Env(String),
}

impl fmt::Display for SecretSource {
    /// A description for messages: "the keychain", "file /x", "environment variable X".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keychain => f.write_str(KEYCHAIN_DESC),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// Why a secret could not be read or stored. No variant ever holds the secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The keychain has no entry for the account.
    #[error(
        "no secret for account `{account}` in {source_desc}; \
         set it in Settings or with `dyntrayd secret set {account}`"
    )]
    NotFound {
        /// The account.
        account: String,
        /// Where it was looked for ("the keychain").
        source_desc: String,
    },
    /// The keychain could not be reached or refused access (no Secret Service on the session
    /// bus, a locked collection, no keychain support in this build). Never answered by
    /// falling back to a plaintext store.
    #[error(
        "the keychain ({keychain}) is not available for account `{account}`: {reason}; \
         on a headless machine set secret = \"file:/path/to/file\" (mode 0600) or \
         secret = \"env:VARIABLE\" for this account instead",
        keychain = KEYCHAIN_KIND
    )]
    KeychainUnavailable {
        /// The account.
        account: String,
        /// What the keychain said.
        reason: String,
    },
    /// The secret file can be read or written by group or others.
    #[error(
        "the secret file {path} for account `{account}` is accessible to group or others \
         (mode {mode:04o}); run `chmod 600 {quoted}`",
        quoted = Quoted(.path)
    )]
    FileUnsafe {
        /// The account.
        account: String,
        /// The file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o7777`).
        mode: u32,
    },
    /// The secret file's access list lets someone else read it, or it is not this
    /// user's (Windows).
    #[error(
        "the secret file {path} for account `{account}` {why}; make it readable by you alone: \
         icacls \"{path}\" /inheritance:r /grant:r \"%USERNAME%:R\""
    )]
    FileShared {
        /// The account.
        account: String,
        /// The file.
        path: PathBuf,
        /// Who else may read it, or whose it is.
        why: String,
    },
    /// The secret file belongs to another user.
    #[error(
        "the secret file {path} for account `{account}` belongs to another user; \
         it must be owned by the user Dyntray runs as (and have mode 0600)"
    )]
    FileNotOwned {
        /// The account.
        account: String,
        /// The file.
        path: PathBuf,
    },
    /// The secret file could not be opened or read, or is not a regular file.
    #[error("cannot read the secret file {path} for account `{account}`: {source}")]
    Io {
        /// The account.
        account: String,
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The environment variable named for the account is not set.
    #[error(
        "environment variable {var} (the secret for account `{account}`) is not set \
         in Dyntray's environment"
    )]
    EnvMissing {
        /// The account.
        account: String,
        /// The variable's name.
        var: String,
    },
    /// A change was asked for a secret that Dyntray only reads (a file or a variable).
    #[error(
        "the secret for account `{account}` comes from {source_desc}, which Dyntray only \
         reads; change it there instead"
    )]
    ReadOnly {
        /// The account.
        account: String,
        /// Where the secret comes from ("file /x", "environment variable X").
        source_desc: String,
    },
    /// The secret is unusable: empty, contains a line break or NUL, is not UTF-8, ...
    #[error("the secret for account `{account}` is unusable: {reason}")]
    Invalid {
        /// The account.
        account: String,
        /// What is wrong with it (never the value itself).
        reason: String,
    },
}

/// The keychain this build talks to, for messages.
#[cfg(target_os = "macos")]
const KEYCHAIN_KIND: &str = "macOS Keychain";
/// The keychain this build talks to, for messages.
#[cfg(target_os = "windows")]
const KEYCHAIN_KIND: &str = "Windows Credential Manager";
/// The keychain this build talks to, for messages.
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const KEYCHAIN_KIND: &str = "Secret Service";

/// Displays a path for a shell command line, single-quoted when it needs to be.
struct Quoted<'a>(&'a Path);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string_lossy();
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c));
        if plain {
            f.write_str(&text)
        } else {
            write!(f, "'{}'", text.replace('\'', r"'\''"))
        }
    }
}

/// Where secrets are kept. Implementations: [`KeychainStore`] (the OS keychain) and
/// [`MemoryStore`] (tests).
pub trait SecretStore: Send + Sync {
    /// The secret of `account`; [`SecretError::NotFound`] when there is none.
    fn get(&self, account: &str) -> Result<Secret, SecretError>;
    /// Creates or replaces the secret of `account`.
    fn set(&self, account: &str, secret: &Secret) -> Result<(), SecretError>;
    /// Removes the secret of `account`; removing a missing one is `Ok`.
    fn delete(&self, account: &str) -> Result<(), SecretError>;
}

/// The OS keychain, through the `keyring` crate: on Linux the Secret Service over the
/// session D-Bus, entries keyed by the attributes `service` and `username`.
///
/// Every call blocks until the keychain answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeychainStore {
    service: String,
}

impl KeychainStore {
    /// A store whose entries are (`service`, account), e.g. ("dyntray", "home").
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
        }
    }

    /// The service name entries are stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The keychain entry of `account`, refusing builds whose keychain backend would not
    /// keep the secret (keyring's in-memory mock, which it uses on platforms whose native
    /// feature is not enabled, or the kernel keyring, which forgets at reboot).
    fn entry(&self, account: &str) -> Result<keyring::Entry, SecretError> {
        let persistent = matches!(
            keyring::default::default_credential_builder().persistence(),
            keyring::credential::CredentialPersistence::UntilDelete
        );
        if !persistent {
            return Err(SecretError::KeychainUnavailable {
                account: account.to_owned(),
                reason: "this build of Dyntray has no persistent keychain backend for this \
                         operating system"
                    .to_owned(),
            });
        }
        keyring::Entry::new(&self.service, account)
            .map_err(|err| keychain_error(account, &self.service, err, None))
    }
}

impl SecretStore for KeychainStore {
    fn get(&self, account: &str) -> Result<Secret, SecretError> {
        let entry = self.entry(account)?;
        entry
            .get_password()
            .map(Secret::new)
            .map_err(|err| keychain_error(account, &self.service, err, None))
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), SecretError> {
        let entry = self.entry(account)?;
        entry
            .set_password(secret.expose())
            .map_err(|err| keychain_error(account, &self.service, err, Some(secret)))
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        let entry = self.entry(account)?;
        match entry.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(keychain_error(account, &self.service, err, None)),
        }
    }
}

/// Maps a keyring error to ours. `secret`, when given, is scrubbed from the platform's text
/// (defence in depth: no known backend echoes it).
fn keychain_error(
    account: &str,
    service: &str,
    err: keyring::Error,
    secret: Option<&Secret>,
) -> SecretError {
    let clean = |text: String| match secret {
        Some(secret) => scrub(&text, &[secret]),
        None => text,
    };
    let account = account.to_owned();
    match err {
        keyring::Error::NoEntry => SecretError::NotFound {
            account,
            source_desc: KEYCHAIN_DESC.to_owned(),
        },
        keyring::Error::NoStorageAccess(inner) => SecretError::KeychainUnavailable {
            account,
            reason: clean(format!(
                "{inner} (it is locked, or has no default collection)"
            )),
        },
        keyring::Error::PlatformFailure(inner) => SecretError::KeychainUnavailable {
            account,
            reason: clean(inner.to_string()),
        },
        keyring::Error::BadEncoding(bytes) => {
            wipe(bytes);
            SecretError::Invalid {
                account,
                reason: "the keychain entry is not UTF-8 text".to_owned(),
            }
        }
        keyring::Error::TooLong(attribute, limit) => SecretError::Invalid {
            account,
            reason: clean(format!(
                "the keychain allows at most {limit} characters for the {attribute}"
            )),
        },
        keyring::Error::Invalid(attribute, why) => SecretError::Invalid {
            account,
            reason: clean(format!("the keychain refused the {attribute}: {why}")),
        },
        keyring::Error::Ambiguous(items) => SecretError::Invalid {
            account,
            reason: format!(
                "{} keychain entries match service `{service}`; remove the extra ones with \
                 the keychain manager (e.g. Seahorse)",
                items.len()
            ),
        },
        other => SecretError::KeychainUnavailable {
            account,
            reason: clean(other.to_string()),
        },
    }
}

/// Secrets in memory, for tests of code that needs a [`SecretStore`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Secret>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Secret>> {
        // A panic elsewhere while holding the lock leaves the map itself intact.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl SecretStore for MemoryStore {
    fn get(&self, account: &str) -> Result<Secret, SecretError> {
        self.entries()
            .get(account)
            .cloned()
            .ok_or_else(|| SecretError::NotFound {
                account: account.to_owned(),
                source_desc: KEYCHAIN_DESC.to_owned(),
            })
    }

    fn set(&self, account: &str, secret: &Secret) -> Result<(), SecretError> {
        self.entries().insert(account.to_owned(), secret.clone());
        Ok(())
    }

    fn delete(&self, account: &str) -> Result<(), SecretError> {
        self.entries().remove(account);
        Ok(())
    }
}

/// Resolves an account's secret from its configured source:
///
/// - from the keychain ([`SecretSource::Keychain`]) through `store.get(account)`;
/// - from a file ([`SecretSource::File`]), which must be a regular file (symlinks are
///   followed) owned by the user Dyntray runs as, with no group or other permission bits;
///   its content, less ONE trailing newline (`\n` or `\r\n`), is the secret;
/// - from an environment variable ([`SecretSource::Env`]), which must be set.
///
/// Whatever the source, the secret must be UTF-8, non-empty and free of line breaks and NUL
/// ([`SecretError::Invalid`] otherwise). Spaces are kept: they may be part of a password.
pub fn resolve(
    store: &dyn SecretStore,
    account: &str,
    source: &SecretSource,
) -> Result<Secret, SecretError> {
    resolve_with_env(store, account, source, |var| std::env::var_os(var))
}

/// [`resolve`] with the environment lookup passed in (tests cannot set variables safely).
fn resolve_with_env(
    store: &dyn SecretStore,
    account: &str,
    source: &SecretSource,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Secret, SecretError> {
    let secret = match source {
        SecretSource::Keychain => store.get(account)?,
        SecretSource::File(path) => read_secret_file(account, path)?,
        SecretSource::Env(var) => {
            let value = env(var).ok_or_else(|| SecretError::EnvMissing {
                account: account.to_owned(),
                var: var.clone(),
            })?;
            let value = value.into_string().map_err(|raw| {
                wipe(raw.into_encoded_bytes());
                SecretError::Invalid {
                    account: account.to_owned(),
                    reason: format!("environment variable {var} is not UTF-8 text"),
                }
            })?;
            let secret = Secret::new(value);
            if secret.is_empty() {
                return Err(SecretError::Invalid {
                    account: account.to_owned(),
                    reason: format!("environment variable {var} is set but empty"),
                });
            }
            secret
        }
    };
    check(account, source, &secret)?;
    Ok(secret)
}

/// A secret file must be the user's own and readable by nobody else (mode 0600 or
/// stricter).
#[cfg(unix)]
fn check_owner_only(
    account: &str,
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(), SecretError> {
    use std::os::unix::fs::MetadataExt;
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(SecretError::FileNotOwned {
            account: account.to_owned(),
            path: path.to_owned(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::FileUnsafe {
            account: account.to_owned(),
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// On Windows who may read a file is its access list: the file must be this user's,
/// and nobody but this user, the system and the administrators may read it.
#[cfg(windows)]
fn check_owner_only(account: &str, path: &Path, file: &std::fs::File) -> Result<(), SecretError> {
    let shared = |why: String| SecretError::FileShared {
        account: account.to_owned(),
        path: path.to_owned(),
        why,
    };
    let sddl = dyntray_os::pipe::file_security(file).map_err(|e| SecretError::Io {
        account: account.to_owned(),
        path: path.to_owned(),
        source: e,
    })?;
    let me = crate::control::pipe::me().map_err(|e| shared(e.to_string()))?;
    match others_who_may_read(&sddl, me, path) {
        Ok(others) if others.is_empty() => Ok(()),
        Ok(others) => Err(shared(format!("can be read by {}", others.join(", ")))),
        Err(why) => Err(shared(why)),
    }
}

/// Who besides `me`, the system and the administrators may read a file, from its owner
/// and access list in SDDL (as Windows writes them); or why the file is not `me`'s.
#[cfg(any(windows, test))]
fn others_who_may_read(sddl: &str, me: &str, path: &Path) -> Result<Vec<String>, String> {
    // The owner runs to the next part: "G:", "D:" or "S:" (a SID has no colon).
    let owner = sddl
        .strip_prefix("O:")
        .map(|rest| {
            let end = ["G:", "D:", "S:"]
                .iter()
                .filter_map(|part| rest.find(part))
                .min()
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .unwrap_or("");
    // SDDL writes the machine's built-in Administrator account (RID 500) as "LA", not as
    // its SID: when that account is this user, "LA" is this user.
    let is_me = |sid: &str| {
        sid == me || (sid == "LA" && me.starts_with("S-1-5-21-") && me.ends_with("-500"))
    };
    // An owner may change the access list: it must be this user.
    if !is_me(owner) {
        return Err(format!(
            "belongs to {} (you are {me}); take it over first: takeown /f \"{}\"",
            who(owner),
            path.display()
        ));
    }
    let Some(dacl) = sddl.split_once("D:").map(|(_, dacl)| dacl) else {
        return Err("has no access list, so anyone may read it".into());
    };
    let dacl = dacl.split("S:").next().unwrap_or(dacl);
    if dacl.starts_with("NO_ACCESS_CONTROL") {
        return Err("has no access list, so anyone may read it".into());
    }
    let mut others = Vec::new();
    for ace in dacl.split('(').skip(1) {
        let fields: Vec<&str> = ace.trim_end_matches(')').split(';').collect();
        let [kind, flags, rights, _, _, sid] = fields[..] else {
            return Err(format!(
                "has an access list entry Dyntray cannot read ({ace})"
            ));
        };
        // Deny entries take nothing away from the question; inherit-only ones do not
        // apply to the file itself.
        let allows = matches!(kind, "A" | "OA" | "XA" | "ZA");
        let applies = !flags.contains("IO");
        // The built-in Administrator ("LA") is one of the administrators.
        let trusted =
            is_me(sid) || matches!(sid, "SY" | "BA" | "LA" | "OW" | "S-1-5-18" | "S-1-5-32-544");
        if allows && applies && !trusted && reads(rights) {
            let name = who(sid);
            if !others.contains(&name) {
                others.push(name);
            }
        }
    }
    Ok(others)
}

/// Whether SDDL access rights include reading a file's contents.
#[cfg(any(windows, test))]
fn reads(rights: &str) -> bool {
    // FILE_READ_DATA, GENERIC_ALL, GENERIC_READ.
    const READING: u32 = 0x1 | 0x1000_0000 | 0x8000_0000;
    if let Some(hex) = rights
        .strip_prefix("0x")
        .or_else(|| rights.strip_prefix("0X"))
    {
        return u32::from_str_radix(hex, 16).map_or(true, |mask| mask & READING != 0);
    }
    // Two letters per right; "CC" is bit 0 (FILE_READ_DATA) in directory-service terms.
    rights
        .as_bytes()
        .chunks(2)
        .any(|right| matches!(right, b"GA" | b"GR" | b"FA" | b"FR" | b"CC"))
}

/// A SID as people know it.
#[cfg(any(windows, test))]
fn who(sid: &str) -> String {
    match sid {
        "WD" | "S-1-1-0" => "Everyone".into(),
        "AU" | "S-1-5-11" => "Authenticated Users".into(),
        "BU" | "S-1-5-32-545" => "Users".into(),
        "AN" | "S-1-5-7" => "Anonymous".into(),
        "IU" | "S-1-5-4" => "Interactive users".into(),
        "BG" | "S-1-5-32-546" => "Guests".into(),
        "LA" => "the built-in Administrator".into(),
        other => other.to_owned(),
    }
}

/// Reads and checks a secret file. Opens first and checks the opened file (no race between
/// the check and the read); `O_NONBLOCK` keeps a FIFO from hanging the open.
fn read_secret_file(account: &str, path: &Path) -> Result<Secret, SecretError> {
    let io_err = |source| SecretError::Io {
        account: account.to_owned(),
        path: path.to_owned(),
        source,
    };
    let (file, meta) = crate::files::open_regular(path).map_err(io_err)?;
    #[cfg(unix)]
    check_owner_only(account, path, &meta)?;
    #[cfg(windows)]
    check_owner_only(account, path, &file)?;
    if meta.len() > MAX_FILE_LEN {
        return Err(SecretError::Invalid {
            account: account.to_owned(),
            reason: format!(
                "the file {} is larger than {} KiB",
                path.display(),
                MAX_FILE_LEN / 1024
            ),
        });
    }
    let mut bytes = Vec::new();
    // Bounded even if the file grows after the check.
    let read = file
        .take(MAX_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err);
    if let Err(err) = read {
        wipe(bytes);
        return Err(err);
    }
    if bytes.len() as u64 > MAX_FILE_LEN {
        wipe(bytes);
        return Err(SecretError::Invalid {
            account: account.to_owned(),
            reason: format!(
                "the file {} is larger than {} KiB",
                path.display(),
                MAX_FILE_LEN / 1024
            ),
        });
    }
    let mut text = String::from_utf8(bytes).map_err(|err| {
        wipe(err.into_bytes());
        SecretError::Invalid {
            account: account.to_owned(),
            reason: format!("the file {} is not UTF-8 text", path.display()),
        }
    })?;
    if text.ends_with("\r\n") {
        text.truncate(text.len() - 2);
    } else if text.ends_with('\n') {
        text.truncate(text.len() - 1);
    }
    Ok(Secret::new(text))
}

/// The rules every secret obeys, wherever it comes from.
fn check(account: &str, source: &SecretSource, secret: &Secret) -> Result<(), SecretError> {
    let value = secret.expose();
    let problem = if value.is_empty() {
        Some("it is empty")
    } else if value.contains(['\n', '\r']) {
        Some("it contains a line break")
    } else if value.contains('\0') {
        Some("it contains a NUL character")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(SecretError::Invalid {
            account: account.to_owned(),
            reason: match source {
                SecretSource::Keychain => problem.to_owned(),
                // A file may end with ONE newline; say so, since that is the usual cause.
                SecretSource::File(_) => {
                    format!("{problem} (in {source}: only one trailing newline is removed)")
                }
                SecretSource::Env(_) => format!("{problem} (in {source})"),
            },
        }),
    }
}

/// Stores a secret typed by the user. Only for [`SecretSource::Keychain`] sources (files and
/// variables are the user's to edit: [`SecretError::ReadOnly`]). Refuses an empty value and
/// one containing a line break or NUL ([`SecretError::Invalid`]).
pub fn store(
    store: &dyn SecretStore,
    account: &str,
    source: &SecretSource,
    secret: &Secret,
) -> Result<(), SecretError> {
    if *source != SecretSource::Keychain {
        return Err(SecretError::ReadOnly {
            account: account.to_owned(),
            source_desc: source.to_string(),
        });
    }
    check(account, source, secret)?;
    store.set(account, secret)
}

/// Replaces every occurrence of every given secret in `text` with `[redacted]`, in the forms
/// a secret takes in provider answers, URLs and errors: as is, percent-encoded (RFC 3986,
/// upper- and lower-case hex, `+` or `%20` for spaces, also `encodeURIComponent` style),
/// JSON-escaped, and base64 (standard with and without padding, URL-safe).
///
/// Secrets shorter than 3 characters are ignored (replacing them would mangle the text).
/// Overlapping matches become one `[redacted]`. The base64 of `user:secret` (HTTP Basic
/// auth) is only caught by [`scrub_basic`].
pub fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut patterns = Vec::new();
    for secret in secrets {
        secret_patterns(secret.expose(), &mut patterns);
    }
    redact(text, patterns)
}

/// [`scrub`] for a secret used in HTTP Basic auth as `user`: also removes the base64 of
/// `user:secret` (the `Authorization` header), in the same base64 variants and
/// percent-encoded. That credential form is removed even when the secret alone is too short
/// to scrub.
pub fn scrub_basic(text: &str, user: &str, secret: &Secret) -> String {
    let mut patterns = Vec::new();
    secret_patterns(secret.expose(), &mut patterns);
    if !secret.is_empty() {
        let credentials = Secret::new(format!("{user}:{}", secret.expose()));
        base64_patterns(credentials.expose().as_bytes(), &mut patterns);
    }
    redact(text, patterns)
}

/// The forms of one secret that [`scrub`] looks for.
fn secret_patterns(value: &str, out: &mut Vec<String>) {
    if value.chars().count() < MIN_SCRUB_CHARS {
        return;
    }
    out.push(value.to_owned());
    for upper in [true, false] {
        for keep in [RFC3986_UNRESERVED, URI_COMPONENT] {
            for plus_for_space in [false, true] {
                out.push(percent_encode(value, keep, upper, plus_for_space));
            }
        }
    }
    out.push(json_escape(value, false));
    out.push(json_escape(value, true));
    base64_patterns(value.as_bytes(), out);
}

/// The base64 forms of some bytes, and the percent-encoded padded one (as in a URL).
fn base64_patterns(bytes: &[u8], out: &mut Vec<String>) {
    let padded = base64(bytes, STANDARD_ALPHABET, true);
    out.push(percent_encode(&padded, RFC3986_UNRESERVED, true, false));
    out.push(percent_encode(&padded, RFC3986_UNRESERVED, false, false));
    out.push(padded);
    out.push(base64(bytes, STANDARD_ALPHABET, false));
    out.push(base64(bytes, URL_SAFE_ALPHABET, true));
    out.push(base64(bytes, URL_SAFE_ALPHABET, false));
}

/// Replaces all (possibly overlapping) occurrences of the patterns, merging overlaps:
/// as written, as hex in any case, and in the text as decoded (see [`decoded_matches`]).
fn redact(text: &str, mut patterns: Vec<String>) -> String {
    patterns.retain(|p| !p.is_empty());
    patterns.sort_unstable();
    patterns.dedup();
    let mut ranges = Vec::new();
    // Hex of the raw value (a provider echoing a digest input, a debug dump), any case.
    // ASCII lower-casing keeps byte offsets.
    let lower = text.to_ascii_lowercase();
    for pattern in &patterns {
        let hex = hex_lower(pattern.as_bytes());
        let mut from = 0;
        while let Some(found) = lower.get(from..).and_then(|rest| rest.find(hex.as_str())) {
            let start = from + found;
            ranges.push((start, start + hex.len()));
            from = start + 1;
        }
        wipe(hex.into_bytes());
        ranges.extend(decoded_matches(text, pattern.as_bytes()));
    }
    drop(lower);
    for pattern in &patterns {
        let mut from = 0;
        while let Some(found) = text
            .get(from..)
            .and_then(|rest| rest.find(pattern.as_str()))
        {
            let start = from + found;
            ranges.push((start, start + pattern.len()));
            // Next char boundary after `start`, so overlapping occurrences are found too.
            from = start + text[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    wipe_patterns(patterns);
    if ranges.is_empty() {
        return text.to_owned();
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in ranges {
        match current {
            Some((cs, ce)) if start <= ce => current = Some((cs, ce.max(end))),
            Some((cs, ce)) => {
                out.push_str(&text[copied..cs]);
                out.push_str(REDACTED);
                copied = ce;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((cs, ce)) = current {
        out.push_str(&text[copied..cs]);
        out.push_str(REDACTED);
        copied = ce;
    }
    out.push_str(&text[copied..]);
    out
}

fn hex_lower(bytes: &[u8]) -> String {
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &byte in bytes {
        out.push(char::from(LOWER[usize::from(byte >> 4)]));
        out.push(char::from(LOWER[usize::from(byte & 0x0f)]));
    }
    out
}

/// One piece of text as a reader of it would decode it: the bytes it stands for, and a
/// second reading where one exists (`+` is a space in a form, itself elsewhere).
struct Unit {
    end: usize,
    bytes: [u8; 4],
    len: usize,
    alternative: Option<u8>,
}

/// Where `needle` appears in `text` once escapes are decoded, whatever mix of them a
/// server used: percent-encoding in any case (`%2f`, `%2F`, `+`), HTML character
/// references (`&#64;`, `&#x40;`, `&commat;`), and JSON or JavaScript escapes (`\u0040`,
/// a surrogate pair, `\x40`, `\/`). Returns byte ranges of `text`.
fn decoded_matches(text: &str, needle: &[u8]) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut units: Vec<(usize, Unit)> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let unit = decode_at(bytes, i);
        let next = unit.end;
        units.push((i, unit));
        i = next;
    }
    let mut found = Vec::new();
    'start: for first in 0..units.len() {
        let mut k = 0;
        let mut u = first;
        // Whether some unit was read as other than itself (`%40`, or `+` as a space).
        let mut decoded_any = false;
        while k < needle.len() {
            let Some((start, unit)) = units.get(u) else {
                continue 'start;
            };
            let decoded = &unit.bytes[..unit.len];
            let rest = &needle[k..];
            if rest.starts_with(decoded) {
                k += decoded.len();
                decoded_any |= bytes.get(*start..unit.end) != Some(decoded);
            } else if unit.alternative.is_some_and(|b| rest.first() == Some(&b)) {
                k += 1;
            } else {
                continue 'start;
            }
            u += 1;
        }
        // Only a match that decoded something is new: the plain one is found already.
        let end = units[u - 1].1.end;
        if decoded_any {
            found.push((units[first].0, end));
        }
    }
    found
}

fn hex_value(digits: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

fn char_unit(end: usize, c: char) -> Unit {
    let mut bytes = [0; 4];
    let len = c.encode_utf8(&mut bytes).len();
    Unit {
        end,
        bytes,
        len,
        alternative: None,
    }
}

fn byte_unit(end: usize, byte: u8, alternative: Option<u8>) -> Unit {
    Unit {
        end,
        bytes: [byte, 0, 0, 0],
        len: 1,
        alternative,
    }
}

/// HTML's names for the ASCII punctuation a password may hold.
const ENTITIES: &[(&str, char)] = &[
    ("excl", '!'),
    ("quot", '"'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("amp", '&'),
    ("apos", '\''),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("midast", '*'),
    ("plus", '+'),
    ("comma", ','),
    ("period", '.'),
    ("sol", '/'),
    ("colon", ':'),
    ("semi", ';'),
    ("lt", '<'),
    ("equals", '='),
    ("gt", '>'),
    ("quest", '?'),
    ("commat", '@'),
    ("lsqb", '['),
    ("lbrack", '['),
    ("bsol", '\\'),
    ("rsqb", ']'),
    ("rbrack", ']'),
    ("Hat", '^'),
    ("lowbar", '_'),
    ("grave", '`'),
    ("lcub", '{'),
    ("lbrace", '{'),
    ("verbar", '|'),
    ("vert", '|'),
    ("rcub", '}'),
    ("rbrace", '}'),
    ("tilde", '~'),
    ("nbsp", '\u{a0}'),
];

/// The unit of text that starts at `i`.
fn decode_at(bytes: &[u8], i: usize) -> Unit {
    let at = |j: usize| bytes.get(j).copied();
    match bytes[i] {
        b'%' => {
            if let Some(value) = bytes.get(i + 1..i + 3).and_then(hex_value) {
                return byte_unit(i + 3, value as u8, None);
            }
        }
        b'+' => return byte_unit(i + 1, b' ', Some(b'+')),
        b'&' if at(i + 1) == Some(b'#') => {
            let (start, radix) = match at(i + 2) {
                Some(b'x' | b'X') => (i + 3, 16),
                _ => (i + 2, 10),
            };
            let mut end = start;
            while end < bytes.len() && end - start < 8 && (bytes[end] as char).is_digit(radix) {
                end += 1;
            }
            let value = std::str::from_utf8(&bytes[start..end])
                .ok()
                .and_then(|d| u32::from_str_radix(d, radix).ok())
                .and_then(char::from_u32);
            if let Some(c) = value.filter(|_| end > start) {
                let end = if at(end) == Some(b';') { end + 1 } else { end };
                return char_unit(end, c);
            }
        }
        b'&' => {
            for (name, c) in ENTITIES {
                let end = i + 1 + name.len();
                if bytes.get(i + 1..end) == Some(name.as_bytes()) && at(end) == Some(b';') {
                    return char_unit(end + 1, *c);
                }
            }
        }
        b'\\' => match at(i + 1) {
            Some(b'u') => {
                if let Some(high) = bytes.get(i + 2..i + 6).and_then(hex_value) {
                    if (0xd800..0xdc00).contains(&high)
                        && at(i + 6) == Some(b'\\')
                        && at(i + 7) == Some(b'u')
                        && let Some(low) = bytes.get(i + 8..i + 12).and_then(hex_value)
                        && (0xdc00..0xe000).contains(&low)
                        && let Some(c) =
                            char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
                    {
                        return char_unit(i + 12, c);
                    }
                    if let Some(c) = char::from_u32(high) {
                        return char_unit(i + 6, c);
                    }
                }
            }
            Some(b'x') => {
                if let Some(value) = bytes.get(i + 2..i + 4).and_then(hex_value) {
                    return byte_unit(i + 4, value as u8, None);
                }
            }
            Some(c @ (b'/' | b'\\' | b'"' | b'\'')) => return byte_unit(i + 2, c, None),
            Some(b't') => return byte_unit(i + 2, b'\t', None),
            _ => {}
        },
        _ => {}
    }
    byte_unit(i + 1, bytes[i], None)
}

/// The patterns are secrets too.
fn wipe_patterns(patterns: Vec<String>) {
    for pattern in patterns {
        wipe(pattern.into_bytes());
    }
}

/// Bytes percent-encoding leaves alone under RFC 3986 (besides ASCII letters and digits).
const RFC3986_UNRESERVED: &str = "-._~";
/// ... and under JavaScript's `encodeURIComponent`.
const URI_COMPONENT: &str = "-._~!'()*";

/// Percent-encodes every byte but ASCII letters, digits and `keep`.
fn percent_encode(value: &str, keep: &str, upper: bool, plus_for_space: bool) -> String {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let hex = if upper { UPPER } else { LOWER };
    let mut out = String::with_capacity(value.len() * 3);
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || keep.as_bytes().contains(&byte) {
            out.push(char::from(byte));
        } else if byte == b' ' && plus_for_space {
            out.push('+');
        } else {
            out.push('%');
            out.push(char::from(hex[usize::from(byte >> 4)]));
            out.push(char::from(hex[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// The value as it appears inside a JSON string (`\/` for `/` if `escape_slash`).
fn json_escape(value: &str, escape_slash: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape_slash => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// The base64 alphabet of RFC 4648 section 4.
const STANDARD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// The URL- and filename-safe base64 alphabet of RFC 4648 section 5.
const URL_SAFE_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64-encodes `bytes` (RFC 4648), with `=` padding if `pad`.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let group = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        // A chunk of n bytes gives n + 1 significant characters.
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (group >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(alphabet[index as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Secrets cross the control API only inward (the settings window sending what the user
/// typed); they are never part of a reply or an event.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

// Built on file modes, owners and `secret-tool`: Unix only, like the checks they test
// (Windows refuses secret files until their access lists are checked).
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;

    /// Windows' own words for who may read a file, read the way the Windows check does.
    mod access_lists {
        use super::super::{others_who_may_read, reads};
        use std::path::Path;

        const ME: &str = "S-1-5-21-1-2-3-1001";

        fn others(sddl: &str) -> Result<Vec<String>, String> {
            others_who_may_read(&sddl.replace("ME", ME), ME, Path::new(r"C:\Users\me\pass"))
        }

        #[test]
        fn a_profile_file_is_private_and_a_shared_one_names_who_reads_it() {
            // What a file in the user's profile inherits on Windows.
            assert_eq!(
                others("O:MED:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;ME)"),
                Ok(vec![])
            );
            // What Wine gives a file whose Unix mode is 0644.
            assert_eq!(
                others("O:MED:(A;;FA;;;SY)(A;;FA;;;ME)(A;;0x1200a9;;;WD)"),
                Ok(vec!["Everyone".to_owned()])
            );
            assert_eq!(
                others("O:MED:(A;ID;FR;;;BU)(A;ID;0x1200a9;;;BU)(A;ID;GR;;;S-1-5-21-9-9-9-1002)"),
                Ok(vec!["Users".to_owned(), "S-1-5-21-9-9-9-1002".to_owned()])
            );
            // Inherit-only entries do not apply to the file; rights that read nothing
            // (synchronize, read the access list) are no reading.
            assert_eq!(
                others("O:MED:P(A;OICIIO;GA;;;CO)(A;;0x100000;;;WD)(A;;RC;;;AU)(A;;FA;;;ME)"),
                Ok(vec![])
            );
        }

        #[test]
        fn the_built_in_administrator_is_known_by_its_sddl_alias() {
            // Windows writes that account as "LA", whether it owns the file or is listed.
            let admin = "S-1-5-21-1-2-3-500";
            let sddl = "O:LAD:(A;;FA;;;SY)(A;;FA;;;LA)";
            assert_eq!(
                others_who_may_read(sddl, admin, Path::new(r"C:\Users\Administrator\pass")),
                Ok(vec![])
            );
            // To anyone else it is another owner; as a reader it is an administrator.
            let error = others(sddl).unwrap_err();
            assert!(
                error.contains("belongs to the built-in Administrator"),
                "{error}"
            );
            assert_eq!(others("O:MED:(A;;FA;;;LA)(A;;FA;;;ME)"), Ok(vec![]));
        }

        #[test]
        fn another_owner_or_no_access_list_is_refused_with_the_cure() {
            let error = others("O:S-1-5-21-9-9-9-1002D:(A;;FA;;;ME)").unwrap_err();
            assert!(error.contains("belongs to S-1-5-21-9-9-9-1002"), "{error}");
            assert!(
                error.contains(r#"takeown /f "C:\Users\me\pass""#),
                "{error}"
            );
            assert!(
                others("O:MED:NO_ACCESS_CONTROL")
                    .unwrap_err()
                    .contains("anyone")
            );
            assert!(others("O:ME").unwrap_err().contains("anyone"));
            assert!(
                others("O:MED:(A;;FA;ME)")
                    .unwrap_err()
                    .contains("cannot read")
            );
        }

        #[test]
        fn reading_rights_are_told_from_letters_and_masks() {
            for right in [
                "FA",
                "FR",
                "GA",
                "GR",
                "CCDCLCSWRPWPDTLOCRSDRCWDWO",
                "0x1200a9",
                "0x80000000",
                "0xzz",
            ] {
                assert!(reads(right), "{right}");
            }
            for right in ["FW", "FX", "RC", "WDWO", "0x100000", "0x2"] {
                assert!(!reads(right), "{right}");
            }
        }
    }
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    const VALUE: &str = "hunter2-Sup3r/s3cret+pw";

    fn write_file(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn file(path: &Path) -> SecretSource {
        SecretSource::File(path.to_owned())
    }

    fn resolve_file(path: &Path) -> Result<Secret, SecretError> {
        resolve(&MemoryStore::new(), "home", &file(path))
    }

    /// Asserts that neither the error's Display nor its Debug output holds `value`.
    fn assert_clean(err: &SecretError, value: &str) {
        let shown = err.to_string();
        let debug = format!("{err:?}");
        assert!(!shown.contains(value), "secret in Display: {shown}");
        assert!(!debug.contains(value), "secret in Debug: {debug}");
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = Secret::new(VALUE);
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:#?}"), "Secret([redacted])");
        let nested = Some(vec![secret.clone()]);
        assert!(!format!("{nested:?}").contains(VALUE));
        assert_eq!(secret.expose(), VALUE);
        assert!(!secret.is_empty());
        assert!(Secret::new("").is_empty());
        assert_eq!(secret, Secret::new(VALUE.to_owned()));
        let store = MemoryStore::new();
        store.set("home", &secret).unwrap();
        assert!(!format!("{store:?}").contains(VALUE));
    }

    #[test]
    fn file_with_mode_0600_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "s", VALUE.as_bytes(), 0o600);
        assert_eq!(resolve_file(&path).unwrap().expose(), VALUE);
        let path = write_file(dir.path(), "r", VALUE.as_bytes(), 0o400);
        assert_eq!(resolve_file(&path).unwrap().expose(), VALUE);
    }

    #[test]
    fn file_open_to_others_is_refused_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        for (mode, shown) in [(0o644, "0644"), (0o640, "0640"), (0o602, "0602")] {
            let path = write_file(dir.path(), "s", VALUE.as_bytes(), mode);
            let err = resolve_file(&path).unwrap_err();
            let SecretError::FileUnsafe {
                account,
                path: p,
                mode: m,
            } = &err
            else {
                panic!("expected FileUnsafe, got {err:?}");
            };
            assert_eq!((account.as_str(), p, *m), ("home", &path, mode));
            let msg = err.to_string();
            assert!(msg.contains(&format!("mode {shown}")), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert_clean(&err, VALUE);
        }
    }

    #[test]
    fn chmod_hint_quotes_odd_paths() {
        let err = SecretError::FileUnsafe {
            account: "home".into(),
            path: PathBuf::from("/tmp/my secret's"),
            mode: 0o644,
        };
        assert!(
            err.to_string()
                .ends_with(r"run `chmod 600 '/tmp/my secret'\''s'`"),
            "{err}"
        );
    }

    #[test]
    fn file_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = if rustix::process::geteuid().is_root() {
            let path = write_file(dir.path(), "s", VALUE.as_bytes(), 0o600);
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
            path
        } else {
            PathBuf::from("/etc/passwd")
        };
        let err = resolve_file(&path).unwrap_err();
        assert!(
            matches!(&err, SecretError::FileNotOwned { path: p, .. } if *p == path),
            "{err:?}"
        );
        assert!(err.to_string().contains("belongs to another user"));
        assert_clean(&err, VALUE);
    }

    #[test]
    fn missing_file_is_io_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope");
        let err = resolve_file(&path).unwrap_err();
        let SecretError::Io {
            path: p, source, ..
        } = &err
        else {
            panic!("expected Io, got {err:?}");
        };
        assert_eq!(p, &path);
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn directories_and_fifos_are_not_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        fs::create_dir(&sub).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o700)).unwrap();
        let fifo = dir.path().join("f");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for path in [sub, fifo] {
            // A FIFO without writer must not hang the open.
            let err = resolve_file(&path).unwrap_err();
            assert!(
                matches!(&err, SecretError::Io { source, .. } if source.to_string().starts_with("not a regular file")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn symlink_to_a_private_file_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = write_file(dir.path(), "s", VALUE.as_bytes(), 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(resolve_file(&link).unwrap().expose(), VALUE);
    }

    #[test]
    fn one_trailing_newline_is_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        for content in [format!("{VALUE}\n"), format!("{VALUE}\r\n")] {
            let path = write_file(dir.path(), "s", content.as_bytes(), 0o600);
            assert_eq!(resolve_file(&path).unwrap().expose(), VALUE);
        }
        // Spaces belong to the secret.
        let path = write_file(dir.path(), "s", b" pass word \n", 0o600);
        assert_eq!(resolve_file(&path).unwrap().expose(), " pass word ");
        // Only one newline goes; a second one makes the secret unusable.
        for content in [format!("{VALUE}\n\n"), format!("{VALUE}\n\r\n")] {
            let path = write_file(dir.path(), "s", content.as_bytes(), 0o600);
            let err = resolve_file(&path).unwrap_err();
            assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
            assert!(err.to_string().contains("line break"), "{err}");
            assert!(
                err.to_string().contains("only one trailing newline"),
                "{err}"
            );
            assert_clean(&err, VALUE);
        }
    }

    #[test]
    fn empty_or_odd_files_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        for (content, why) in [
            (&b""[..], "empty"),
            (b"\n", "empty"),
            (b"\r\n", "empty"),
            (b"a\0bcd", "NUL"),
            (b"ab\xffcd", "UTF-8"),
        ] {
            let path = write_file(dir.path(), "s", content, 0o600);
            let err = resolve_file(&path).unwrap_err();
            assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
            assert!(err.to_string().contains(why), "{err}");
        }
        let big = vec![b'x'; usize::try_from(MAX_FILE_LEN).unwrap() + 1];
        let path = write_file(dir.path(), "big", &big, 0o600);
        let err = resolve_file(&path).unwrap_err();
        assert!(err.to_string().contains("larger than 64 KiB"), "{err}");
        let path = write_file(dir.path(), "max", &big[1..], 0o600);
        assert_eq!(resolve_file(&path).unwrap().expose().len(), big.len() - 1);
    }

    fn env_with(var: &'static str, value: Option<OsString>) -> impl Fn(&str) -> Option<OsString> {
        move |name| if name == var { value.clone() } else { None }
    }

    #[test]
    fn env_source_set_missing_empty() {
        let store = MemoryStore::new();
        let source = SecretSource::Env("DYNTRAY_SECRET_HOME".into());
        let got = resolve_with_env(
            &store,
            "home",
            &source,
            env_with("DYNTRAY_SECRET_HOME", Some(VALUE.into())),
        )
        .unwrap();
        assert_eq!(got.expose(), VALUE);

        let err = resolve_with_env(
            &store,
            "home",
            &source,
            env_with("OTHER", Some(VALUE.into())),
        )
        .unwrap_err();
        assert!(
            matches!(&err, SecretError::EnvMissing { account, var }
                if account == "home" && var == "DYNTRAY_SECRET_HOME"),
            "{err:?}"
        );
        assert!(err.to_string().contains("DYNTRAY_SECRET_HOME"));

        let err = resolve_with_env(
            &store,
            "home",
            &source,
            env_with("DYNTRAY_SECRET_HOME", Some("".into())),
        )
        .unwrap_err();
        assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains("set but empty"), "{err}");

        for bad in [format!("{VALUE}\n"), format!("{VALUE}\0")] {
            let err = resolve_with_env(
                &store,
                "home",
                &source,
                env_with("DYNTRAY_SECRET_HOME", Some(bad.into())),
            )
            .unwrap_err();
            assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
            assert!(err.to_string().contains("DYNTRAY_SECRET_HOME"), "{err}");
            assert_clean(&err, VALUE);
        }

        use std::os::unix::ffi::OsStringExt;
        let raw = OsString::from_vec(b"abc\xffdef".to_vec());
        let err = resolve_with_env(
            &store,
            "home",
            &source,
            env_with("DYNTRAY_SECRET_HOME", Some(raw)),
        )
        .unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn env_source_reads_the_real_environment() {
        let store = MemoryStore::new();
        // PATH is set for every test run; only reading is safe (set_var is unsafe).
        let path = std::env::var("PATH").unwrap();
        let got = resolve(&store, "home", &SecretSource::Env("PATH".into())).unwrap();
        assert_eq!(got.expose(), path);
        let var = format!("DYNTRAY_TEST_UNSET_{}", std::process::id());
        let err = resolve(&store, "home", &SecretSource::Env(var.clone())).unwrap_err();
        assert!(matches!(&err, SecretError::EnvMissing { var: v, .. } if *v == var));
    }

    #[test]
    fn memory_store_round_trip() {
        let store = MemoryStore::default();
        let err = store.get("home").unwrap_err();
        assert!(matches!(&err, SecretError::NotFound { account, .. } if account == "home"));
        assert_eq!(
            err.to_string(),
            "no secret for account `home` in the keychain; \
             set it in Settings or with `dyntrayd secret set home`"
        );
        store.set("home", &Secret::new("first")).unwrap();
        store.set("home", &Secret::new(VALUE)).unwrap();
        store.set("work", &Secret::new("other")).unwrap();
        assert_eq!(store.get("home").unwrap().expose(), VALUE);
        assert_eq!(
            resolve(&store, "home", &SecretSource::Keychain)
                .unwrap()
                .expose(),
            VALUE
        );
        store.delete("home").unwrap();
        store.delete("home").unwrap();
        assert!(matches!(
            store.get("home"),
            Err(SecretError::NotFound { .. })
        ));
        assert_eq!(store.get("work").unwrap().expose(), "other");
    }

    #[test]
    fn store_writes_keychain_sources_only() {
        let store = MemoryStore::new();
        let secret = Secret::new(VALUE);
        super::store(&store, "home", &SecretSource::Keychain, &secret).unwrap();
        assert_eq!(store.get("home").unwrap(), secret);

        for (source, desc) in [
            (
                SecretSource::File("/etc/dyntray/home.secret".into()),
                "file /etc/dyntray/home.secret",
            ),
            (
                SecretSource::Env("HOME_SECRET".into()),
                "environment variable HOME_SECRET",
            ),
        ] {
            let err = super::store(&store, "work", &source, &secret).unwrap_err();
            let SecretError::ReadOnly {
                account,
                source_desc,
            } = &err
            else {
                panic!("expected ReadOnly, got {err:?}");
            };
            assert_eq!((account.as_str(), source_desc.as_str()), ("work", desc));
            assert!(err.to_string().contains(desc), "{err}");
            assert_clean(&err, VALUE);
        }
        assert!(store.get("work").is_err());
    }

    #[test]
    fn store_refuses_bad_values() {
        let store = MemoryStore::new();
        for (bad, why) in [
            (String::new(), "empty"),
            (format!("{VALUE}\n"), "line break"),
            (format!("\r{VALUE}"), "line break"),
            (format!("{VALUE}\0x"), "NUL"),
        ] {
            let err = super::store(
                &store,
                "home",
                &SecretSource::Keychain,
                &Secret::new(bad.clone()),
            )
            .unwrap_err();
            assert!(matches!(err, SecretError::Invalid { .. }), "{err:?}");
            assert!(err.to_string().contains(why), "{err}");
            assert_clean(&err, VALUE);
        }
        assert!(store.get("home").is_err());
    }

    #[test]
    fn keychain_errors_never_carry_the_secret() {
        let secret = Secret::new(VALUE);
        let errors = [
            keyring::Error::NoEntry,
            keyring::Error::BadEncoding(VALUE.as_bytes().to_vec()),
            keyring::Error::PlatformFailure(Box::new(std::io::Error::other(format!(
                "backend echoed {VALUE}"
            )))),
            keyring::Error::NoStorageAccess(Box::new(std::io::Error::other(format!(
                "locked; value {VALUE}"
            )))),
            keyring::Error::Invalid("password".into(), format!("bad: {VALUE}")),
            keyring::Error::TooLong(VALUE.into(), 255),
        ];
        for err in errors {
            let ours = keychain_error("home", "dyntray", err, Some(&secret));
            assert_clean(&ours, VALUE);
        }
        let unavailable = keychain_error(
            "home",
            "dyntray",
            keyring::Error::PlatformFailure(Box::new(std::io::Error::other("no bus"))),
            None,
        );
        let msg = unavailable.to_string();
        assert!(msg.contains("no bus"), "{msg}");
        assert!(msg.contains("secret = \"file:"), "{msg}");
        assert!(msg.contains("\"env:"), "{msg}");
        assert!(matches!(
            keychain_error("home", "dyntray", keyring::Error::NoEntry, None),
            SecretError::NotFound { .. }
        ));
    }

    #[test]
    fn hand_built_errors_show_their_context() {
        let cases = [
            SecretError::KeychainUnavailable {
                account: "home".into(),
                reason: "no D-Bus session".into(),
            },
            SecretError::EnvMissing {
                account: "home".into(),
                var: "X".into(),
            },
            SecretError::Invalid {
                account: "home".into(),
                reason: "it is empty".into(),
            },
        ];
        for err in cases {
            assert!(err.to_string().contains("`home`"), "{err}");
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes(), STANDARD_ALPHABET, true), output);
            assert_eq!(
                base64(input.as_bytes(), STANDARD_ALPHABET, false),
                output.trim_end_matches('=')
            );
        }
        assert_eq!(base64(&[0xfb, 0xff], STANDARD_ALPHABET, true), "+/8=");
        assert_eq!(base64(&[0xfb, 0xff], URL_SAFE_ALPHABET, false), "-_8");
        // RFC 7617's example.
        assert_eq!(
            base64(b"Aladdin:open sesame", STANDARD_ALPHABET, true),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn percent_encoding_keeps_the_unreserved_set() {
        assert_eq!(
            percent_encode("aZ09-._~ !*/:@é", RFC3986_UNRESERVED, true, false),
            "aZ09-._~%20%21%2A%2F%3A%40%C3%A9"
        );
        assert_eq!(
            percent_encode("a b!/", URI_COMPONENT, false, true),
            "a+b!%2f"
        );
    }

    #[test]
    fn scrub_removes_every_encoding_a_provider_may_echo() {
        let secret = Secret::new("p@ss w/rd+\u{e9}1");
        // One row per encoding: how a server may have written the secret back.
        let table: &[(&str, &str)] = &[
            ("plain", "p@ss w/rd+\u{e9}1"),
            ("percent, upper", "p%40ss%20w%2Frd%2B%C3%A91"),
            ("percent, lower", "p%40ss%20w%2frd%2b%c3%a91"),
            ("percent, mixed case", "p%40ss%20w%2frd%2B%C3%a91"),
            ("percent, form spaces", "p%40ss+w%2Frd%2B%C3%A91"),
            ("+ for the space, the rest as is", "p@ss+w/rd+\u{e9}1"),
            (
                "percent, every byte",
                "%70%40%73%73%20%77%2F%72%64%2B%C3%A9%31",
            ),
            ("html decimal", "p&#64;ss w&#47;rd&#43;&#233;1"),
            ("html hex", "p&#x40;ss w&#X2F;rd&#x2b;&#xE9;1"),
            ("html named", "p&commat;ss w&sol;rd&plus;\u{e9}1"),
            ("html without semicolons", "p&#64ss w&#47rd&#43&#233;1"),
            ("json \\u", "p\\u0040ss w\\/rd\\u002b\\u00e91"),
            (
                "json \\u, upper",
                "p\\u0040ss\\u0020w\\u002Frd\\u002B\\u00E91",
            ),
            ("js \\x", "p\\x40ss w\\x2frd\\x2b\\u00e91"),
            ("hex, lower", "7040737320772f72642bc3a931"),
            ("hex, upper", "7040737320772F72642BC3A931"),
            ("hex, mixed case", "7040737320772f72642BC3a931"),
            (
                "base64",
                &base64(secret.expose().as_bytes(), STANDARD_ALPHABET, true),
            ),
            (
                "base64, url-safe",
                &base64(secret.expose().as_bytes(), URL_SAFE_ALPHABET, false),
            ),
        ];
        for (encoding, written) in table {
            let text = format!("error: bad password '{written}' for alice");
            assert_eq!(
                scrub(&text, &[&secret]),
                "error: bad password '[redacted]' for alice",
                "{encoding}: {text}"
            );
        }
        // A tab, JSON-escaped.
        let tabbed = Secret::new("tab\there");
        assert_eq!(scrub("pw=tab\\there;", &[&tabbed]), "pw=[redacted];");
        // A secret beyond the Basic Multilingual Plane, as a JSON surrogate pair.
        let emoji = Secret::new("key\u{1f511}pass");
        assert_eq!(
            scrub("{\"pw\":\"key\\ud83d\\udd11pass\"}", &[&emoji]),
            "{\"pw\":\"[redacted]\"}"
        );
        // Text that only looks like an escape is left alone.
        assert_eq!(
            scrub("100%zz &#; &bogus; \\u12 \\q", &[&secret]),
            "100%zz &#; &bogus; \\u12 \\q"
        );
    }

    #[test]
    fn scrub_removes_plain_percent_encoded_and_base64_forms() {
        let secret = Secret::new("p@ss w/rd+1");
        let text = format!(
            "plain={} url=https://api.example/?pw=p%40ss%20w%2Frd%2B1 \
             lower=p%40ss%20w%2frd%2b1 form=p%40ss+w%2Frd%2B1 b64={} \
             json={{\"pw\":\"p@ss w\\/rd+1\"}} end",
            secret.expose(),
            base64(secret.expose().as_bytes(), STANDARD_ALPHABET, true)
        );
        let out = scrub(&text, &[&secret]);
        assert_eq!(
            out,
            "plain=[redacted] url=https://api.example/?pw=[redacted] lower=[redacted] \
             form=[redacted] b64=[redacted] json={\"pw\":\"[redacted]\"} end"
        );
        // Several secrets, repeated and overlapping occurrences.
        let a = Secret::new("abcabc");
        let b = Secret::new("cab");
        assert_eq!(
            scrub("x abcabcabc y cab", &[&a, &b]),
            "x [redacted] y [redacted]"
        );
        assert_eq!(scrub("nothing here", &[&a]), "nothing here");
        assert_eq!(scrub("abcabc", &[]), "abcabc");
    }

    #[test]
    fn scrub_leaves_short_secrets_alone() {
        let text = "a bad answer: ab, 911";
        assert_eq!(
            scrub(
                text,
                &[&Secret::new("ab"), &Secret::new("a"), &Secret::new("")]
            ),
            text
        );
        assert_eq!(
            scrub("code 911 x", &[&Secret::new("911")]),
            "code [redacted] x"
        );
        // Three characters, not three bytes.
        assert_eq!(scrub("é", &[&Secret::new("é")]), "é");
    }

    #[test]
    fn scrub_basic_removes_the_authorization_header() {
        let secret = Secret::new("open sesame");
        let text = "GET /nic/update Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== \
                    url: https://Aladdin:open%20sesame@members.example/ \
                    b: QWxhZGRpbjpvcGVuIHNlc2FtZQ%3D%3D";
        let out = scrub_basic(text, "Aladdin", &secret);
        assert_eq!(
            out,
            "GET /nic/update Authorization: Basic [redacted] \
             url: https://Aladdin:[redacted]@members.example/ b: [redacted]"
        );
        // The plain scrub does not know the user, so it cannot catch the header.
        assert!(scrub(text, &[&secret]).contains("QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        // A short secret is not scrubbed alone, but its credential form is.
        let short = Secret::new("pw");
        let header = base64(b"user:pw", STANDARD_ALPHABET, true);
        assert_eq!(
            scrub_basic(&format!("Basic {header} pw"), "user", &short),
            "Basic [redacted] pw"
        );
    }

    #[test]
    fn scrub_never_panics_on_unicode() {
        let secrets = [
            Secret::new("pässwörd"),
            Secret::new("🔑🔑🔑"),
            Secret::new("日本語"),
            Secret::new("ab"),
        ];
        let refs: Vec<&Secret> = secrets.iter().collect();
        let text = "é🔑🔑🔑🔑 x pässwörd y p%C3%A4ssw%C3%B6rd 日本語日本 ab€";
        let out = scrub(text, &refs);
        assert_eq!(
            out,
            "é[redacted] x [redacted] y [redacted] [redacted]日本 ab€"
        );
        let b64 = base64("日本語".as_bytes(), STANDARD_ALPHABET, true);
        assert_eq!(scrub(&format!("→{b64}←"), &refs), "→[redacted]←");
        for text in ["", "🔑", "🔑🔑", "ä", "\u{0}\u{10ffff}"] {
            let _ = scrub(text, &refs);
            let _ = scrub_basic(text, "ü", &secrets[0]);
        }
    }

    /// Runs `secret-tool ARGS` in the test session: (success, stdout, stderr). Fails clearly
    /// if the tool is missing.
    fn secret_tool(args: &[&str]) -> (bool, String, String) {
        let out = Command::new("secret-tool")
            .args(args)
            .output()
            .unwrap_or_else(|err| {
                panic!("cannot run secret-tool ({err}); install libsecret-tools (make test-deps)")
            });
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// What `secret-tool search --all service SERVICE` lists (it prints the label and secret
    /// on stdout, the attributes on stderr), without the secret lines.
    fn search_listing(service: &str) -> String {
        let (_, stdout, stderr) = secret_tool(&["search", "--all", "service", service]);
        format!("{stdout}{stderr}")
            .lines()
            .filter(|line| !line.starts_with("secret = "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Deletes the test entry even when an assertion fails halfway.
    struct Cleanup<'a>(&'a KeychainStore, &'a str);

    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.delete(self.1);
        }
    }

    #[test]
    fn keychain_round_trip_on_the_session_keyring() {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "DBUS_SESSION_BUS_ADDRESS is not set: this test needs the Secret Service of a \
             private session; run it under `make test` (scripts/headless-session.sh)"
        );
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let service = format!("dyntray-test-{}-{nanos}", std::process::id());
        let account = "home";
        let keychain = KeychainStore::new(&service);
        assert_eq!(keychain.service(), service);
        let _cleanup = Cleanup(&keychain, account);

        let err = keychain.get(account).unwrap_err();
        assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");

        let value = format!("s3cr3t {nanos} ü");
        super::store(
            &keychain,
            account,
            &SecretSource::Keychain,
            &Secret::new("first"),
        )
        .unwrap();
        super::store(
            &keychain,
            account,
            &SecretSource::Keychain,
            &Secret::new(value.clone()),
        )
        .unwrap();
        assert_eq!(keychain.get(account).unwrap().expose(), value);
        assert_eq!(
            resolve(&keychain, account, &SecretSource::Keychain)
                .unwrap()
                .expose(),
            value
        );

        // Really in gnome-keyring, once, under the attributes service and username.
        let listing = search_listing(&service);
        assert!(
            listing.contains(&format!("attribute.service = {service}")),
            "secret-tool search does not list the item: {listing}"
        );
        assert!(listing.contains("attribute.username = home"), "{listing}");
        assert_eq!(
            listing.matches("attribute.service = ").count(),
            1,
            "{listing}"
        );
        let (ok, looked_up, _) = secret_tool(&["lookup", "service", &service, "username", account]);
        assert!(
            ok && looked_up == value,
            "secret-tool lookup gave another value"
        );

        keychain.delete(account).unwrap();
        let err = keychain.get(account).unwrap_err();
        assert!(matches!(err, SecretError::NotFound { .. }), "{err:?}");
        let listing = search_listing(&service);
        assert!(
            !listing.contains("attribute."),
            "still in the keyring: {listing}"
        );
        let (found, _, _) = secret_tool(&["lookup", "service", &service, "username", account]);
        assert!(!found, "secret-tool lookup still finds the item");
        // Deleting a missing entry is fine.
        keychain.delete(account).unwrap();
    }
}
