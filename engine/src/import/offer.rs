//! Offering the move to a running engine: where the other clients keep their files, which
//! of them are there and readable, what an import of them would bring (a preview without
//! secrets), and what an import brought.
//!
//! The engine actor applies an import itself (it owns the config and the state): the
//! addresses from the other client's cache become the accepted ones before the config
//! that names the records is in force, so no pass can send for an unchanged address.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Import, MAX_FILE_BYTES, Mapping, Unmapped, ddclient, inadyn};
use crate::state::Timestamp;

/// Another dynamic DNS client Dyntray can move over from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Client {
    /// ddclient (`/etc/ddclient.conf`).
    Ddclient,
    /// inadyn (`/etc/inadyn.conf`).
    Inadyn,
}

impl Client {
    /// Every client, in the order offers are listed.
    pub const ALL: [Client; 2] = [Client::Ddclient, Client::Inadyn];

    /// The client's name, as its users write it.
    pub fn name(self) -> &'static str {
        match self {
            Client::Ddclient => "ddclient",
            Client::Inadyn => "inadyn",
        }
    }

    /// Where the client reads its config unless told otherwise.
    pub fn default_config(self) -> &'static str {
        match self {
            Client::Ddclient => ddclient::DEFAULT_CONFIG,
            Client::Inadyn => inadyn::DEFAULT_CONFIG,
        }
    }

    /// Where the client keeps what it last sent (a file for ddclient, a directory of one
    /// file per host for inadyn).
    pub fn default_cache(self) -> &'static str {
        match self {
            Client::Ddclient => ddclient::DEFAULT_CACHE,
            Client::Inadyn => inadyn::DEFAULT_CACHE_DIR,
        }
    }
}

/// Where the other clients' files are looked for: their default paths under a root
/// directory, `/` but in tests (`DYNTRAY_IMPORT_ROOT`, read by the hosts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    root: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Self::system()
    }
}

impl Sources {
    /// The clients' own default paths.
    pub fn system() -> Self {
        Self {
            root: PathBuf::from("/"),
        }
    }

    /// The default paths under `root` (`root/etc/ddclient.conf`, ...).
    pub fn under(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The client's config file.
    pub fn config(&self, client: Client) -> PathBuf {
        self.root
            .join(client.default_config().trim_start_matches('/'))
    }

    /// The client's cache (file or directory).
    pub fn cache(&self, client: Client) -> PathBuf {
        self.root
            .join(client.default_cache().trim_start_matches('/'))
    }
}

/// Why another client's files could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file is not UTF-8 text.
    #[error("{} is not UTF-8 text", .0.display())]
    NotText(PathBuf),
    /// A cache that was named explicitly is not there.
    #[error("no such cache: {}", .0.display())]
    NoCache(PathBuf),
}

impl LoadError {
    /// Whether the file is there but the user may not read it.
    pub fn is_permission(&self) -> bool {
        matches!(self, LoadError::Read { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// What reading another client's files gave.
#[derive(Debug)]
pub struct Loaded {
    /// The import.
    pub import: Import,
    /// Whether the cache was there and read (without it every record sends once).
    pub cache_read: bool,
    /// Why the cache was not read, when it is there but could not be.
    pub cache_problem: Option<String>,
}

/// Reads a file from another client: a regular file of at most [`MAX_FILE_BYTES`], UTF-8.
pub fn read_foreign(path: &Path) -> Result<String, LoadError> {
    let bytes =
        crate::files::read_regular(path, MAX_FILE_BYTES).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|_| LoadError::NotText(path.to_owned()))
}

/// inadyn's cache file of `host` in `dir`: the address and when it was written.
fn inadyn_cache(dir: &Path, host: &str) -> Option<(String, Timestamp)> {
    // A host name never holds a path separator; one that does is not looked up.
    if host.contains(['/', '\\']) || host.starts_with('.') {
        return None;
    }
    let path = dir.join(format!("{host}.cache"));
    let (file, meta) = crate::files::open_regular(&path).ok()?;
    drop(file);
    if meta.len() > 1024 {
        return None;
    }
    let text = read_foreign(&path).ok()?;
    let at = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some((text, Timestamp::try_from(at).ok()?))
}

/// Reads `client`'s config at `config` and its cache at `cache`. A cache that is not
/// there is no error unless `cache_required` (the user named it); one that is there but
/// cannot be read is reported in [`Loaded::cache_problem`].
pub fn load(
    client: Client,
    config: &Path,
    cache: &Path,
    cache_required: bool,
    now: Timestamp,
) -> Result<Loaded, LoadError> {
    let text = read_foreign(config)?;
    let there = std::fs::symlink_metadata(cache).is_ok();
    if !there && cache_required {
        return Err(LoadError::NoCache(cache.to_owned()));
    }
    let (import, cache_read, cache_problem) = match client {
        Client::Ddclient => {
            let cache_text = if there {
                match read_foreign(cache) {
                    Ok(text) => Some(text),
                    Err(e) if cache_required => return Err(e),
                    Err(e) => {
                        let problem = e.to_string();
                        return Ok(Loaded {
                            import: ddclient::import(&text, None, now),
                            cache_read: false,
                            cache_problem: Some(problem),
                        });
                    }
                }
            } else {
                None
            };
            let read = cache_text.is_some();
            (
                ddclient::import(&text, cache_text.as_deref(), now),
                read,
                None,
            )
        }
        Client::Inadyn => {
            let problem = match std::fs::read_dir(cache) {
                Ok(_) => None,
                Err(e) if there => Some(format!("cannot read {}: {e}", cache.display())),
                Err(_) => None,
            };
            if let (Some(problem), true) = (&problem, cache_required) {
                return Err(LoadError::Read {
                    path: cache.to_owned(),
                    source: io::Error::other(problem.clone()),
                });
            }
            let import = inadyn::import(&text, &|host| inadyn_cache(cache, host), now);
            (import, there && problem.is_none(), problem)
        }
    };
    Ok(Loaded {
        import,
        cache_read,
        cache_problem,
    })
}

/// An account an import would add, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewAccount {
    /// The account id it gets.
    pub id: String,
    /// The provider id.
    pub provider: String,
    /// The provider's display name.
    pub provider_name: String,
    /// The user name (may be empty where the provider has none).
    pub username: String,
    /// Whether the other client's password comes along (into the keychain).
    pub secret: bool,
    /// Why the secret must be typed in by hand, when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_note: Option<String>,
}

/// A name an import would add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRecord {
    /// The DNS name.
    pub name: String,
    /// The account id.
    pub account: String,
    /// `A`, `AAAA` or `both`.
    pub family: crate::config::Family,
    /// The address the other client last had accepted for it, when its cache says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What an import would bring, for the user to look at first. Holds no secret.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The accounts.
    pub accounts: Vec<PreviewAccount>,
    /// The names.
    pub records: Vec<PreviewRecord>,
    /// Each line of the other client's config and what it became.
    pub mappings: Vec<Mapping>,
    /// Each line not imported, and why.
    pub problems: Vec<Unmapped>,
    /// Why the import would be refused as things stand (an account id already in the
    /// config), when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl Preview {
    /// The preview of `import`; `refusal` says why it could not be applied now.
    pub fn of(import: &Import, refusal: Option<String>) -> Self {
        let name = |id: &str| {
            crate::provider::lookup(id)
                .map(|p| p.descriptor().name.to_owned())
                .unwrap_or_else(|| id.to_owned())
        };
        Self {
            accounts: import
                .accounts
                .iter()
                .map(|a| PreviewAccount {
                    id: a.account.id.clone(),
                    provider: a.account.provider.clone(),
                    provider_name: name(&a.account.provider),
                    username: a.account.username.clone(),
                    secret: a.secret.is_some(),
                    secret_note: a.secret_note.clone(),
                })
                .collect(),
            records: import
                .records
                .iter()
                .map(|r| {
                    let keys = crate::engine::record_keys(r);
                    let address = import
                        .cached
                        .iter()
                        .filter(|c| keys.contains(&c.key))
                        .map(|c| c.address.to_string())
                        .collect::<Vec<_>>();
                    PreviewRecord {
                        name: r.name.clone(),
                        account: r.account.clone(),
                        family: r.family,
                        address: (!address.is_empty()).then(|| address.join(", ")),
                    }
                })
                .collect(),
            mappings: import.mappings.clone(),
            problems: import.problems.clone(),
            refusal,
        }
    }
}

/// Another client's config found on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    /// Which client.
    pub client: Client,
    /// Its config file.
    pub config: PathBuf,
    /// Its cache.
    pub cache: PathBuf,
    /// Whether the config could be read (then [`Offer::preview`] is there).
    pub readable: bool,
    /// Why the config or the cache could not be read, in a user's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The command line that imports it instead (a copy the user can read, imported
    /// into their own Dyntray), when the window cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Whether the addresses the client last sent were read (without them every name
    /// is sent once).
    pub cache_read: bool,
    /// What an import would bring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Preview>,
}

impl Offer {
    /// Looks at `client`'s files under `sources`: `None` when its config is not there.
    /// `refusal` tells whether an import could be merged into the current config.
    pub fn find(
        client: Client,
        sources: &Sources,
        now: Timestamp,
        refusal: impl FnOnce(&Import) -> Option<String>,
    ) -> Option<Offer> {
        let config = sources.config(client);
        let cache = sources.cache(client);
        std::fs::symlink_metadata(&config).ok()?;
        let mut offer = Offer {
            client,
            config: config.clone(),
            cache: cache.clone(),
            readable: false,
            note: None,
            command: None,
            cache_read: false,
            preview: None,
        };
        match load(client, &config, &cache, false, now) {
            Ok(loaded) => {
                offer.readable = true;
                offer.cache_read = loaded.cache_read;
                if let Some(problem) = loaded.cache_problem {
                    offer.note = Some(format!(
                        "{}'s record of what it last sent cannot be read here ({problem}), so \
                         every name would be sent once. To keep that from happening, import \
                         from the command line instead.",
                        client.name()
                    ));
                    offer.command = Some(command(client, &config, &cache));
                }
                let refused = refusal(&loaded.import);
                offer.preview = Some(Preview::of(&loaded.import, refused));
            }
            Err(e) if e.is_permission() => {
                offer.note = Some(format!(
                    "{}'s settings are in {}, which only the system administrator (root) \
                     can read. Copy it where you can read it and import the copy from a \
                     terminal; Dyntray stores the passwords in your keychain:",
                    client.name(),
                    config.display()
                ));
                offer.command = Some(command(client, &config, &cache));
            }
            Err(e) => {
                offer.note = Some(format!("{} cannot be imported: {e}", client.name()));
            }
        }
        Some(offer)
    }
}

/// What an import brought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Which client.
    pub client: Client,
    /// The accounts added.
    pub accounts: Vec<String>,
    /// The names added.
    pub names: Vec<String>,
    /// The record keys whose address came from the other client's cache (sent only when
    /// the address changes).
    pub addresses: Vec<String>,
    /// Accounts whose secret must be typed in by hand, with why.
    pub set_by_hand: Vec<SetByHand>,
    /// The config's revision after the import.
    pub revision: String,
    /// What to do next about the other client, in a user's words.
    pub stop_hint: String,
}

/// An account whose secret the import did not bring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetByHand {
    /// The account id.
    pub account: String,
    /// The provider's display name.
    pub provider_name: String,
    /// Why, and what to enter.
    pub note: String,
}

/// What to tell the user about the other client once its settings are in Dyntray.
pub fn stop_hint(client: Client) -> String {
    let name = client.name();
    format!(
        "Stop {name} now, so that two clients do not update the same names: \
         sudo systemctl disable --now {name}"
    )
}

/// A shell word for `path` (quoted when it holds anything but plain characters).
fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The command line that imports `client`'s files when only root can read them: a copy
/// in a private temporary directory, owned by the user, imported by `dyntrayd import`
/// (into the running Dyntray, as this user: `sudo dyntrayd import` would fill root's
/// config and keychain instead), then removed.
pub fn command(client: Client, config: &Path, cache: &Path) -> String {
    let name = client.name();
    let file = config
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("{name}.conf"));
    // A cache that is certainly not there is left out; one that cannot be seen is copied.
    let has_cache = !matches!(
        std::fs::symlink_metadata(cache),
        Err(e) if e.kind() == io::ErrorKind::NotFound
    );
    let mut line = format!(
        "d=$(mktemp -d) && sudo install -m 600 -o \"$USER\" {} \"$d/{file}\"",
        quoted(config)
    );
    let mut import = format!("dyntrayd import {name} \"$d/{file}\"");
    if has_cache {
        match client {
            Client::Ddclient => {
                line.push_str(&format!(
                    " && sudo install -m 600 -o \"$USER\" {} \"$d/cache\"",
                    quoted(cache)
                ));
            }
            Client::Inadyn => {
                // inadyn's cache files tell when by their time: copied with it (-p).
                line.push_str(&format!(
                    " && sudo cp -rp {} \"$d/cache\" && sudo chown -R \"$USER\" \"$d/cache\"",
                    quoted(cache)
                ));
            }
        }
        import.push_str(" --cache \"$d/cache\"");
    }
    format!("{line} && {import}; rm -rf \"$d\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_re_root_the_default_paths() {
        let sources = Sources::under("/tmp/x");
        assert_eq!(
            sources.config(Client::Ddclient),
            Path::new("/tmp/x/etc/ddclient.conf")
        );
        assert_eq!(
            sources.cache(Client::Inadyn),
            Path::new("/tmp/x/var/cache/inadyn")
        );
        assert_eq!(
            Sources::system().config(Client::Ddclient),
            Path::new(ddclient::DEFAULT_CONFIG)
        );
    }

    #[test]
    fn the_command_copies_as_the_user_and_imports_as_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("ddclient.cache");
        std::fs::write(&cache, "").unwrap();
        let line = command(Client::Ddclient, Path::new("/etc/ddclient.conf"), &cache);
        assert!(line.starts_with("d=$(mktemp -d) && sudo install -m 600 -o \"$USER\" /etc/ddclient.conf \"$d/ddclient.conf\""), "{line}");
        assert!(line.contains(" && dyntrayd import ddclient \"$d/ddclient.conf\" --cache \"$d/cache\"; rm -rf \"$d\""), "{line}");
        assert!(!line.contains("sudo dyntrayd"), "{line}");
        let line = command(
            Client::Ddclient,
            Path::new("/etc/ddclient.conf"),
            &dir.path().join("absent"),
        );
        assert!(!line.contains("--cache"), "{line}");
        let line = command(Client::Inadyn, Path::new("/etc/my inadyn.conf"), dir.path());
        assert!(line.contains("'/etc/my inadyn.conf'"), "{line}");
        assert!(line.contains("sudo cp -rp"), "{line}");
    }

    #[cfg(unix)]
    #[test]
    fn an_unreadable_config_is_offered_as_a_command() {
        use std::os::unix::fs::PermissionsExt;
        if rustix::process::geteuid().is_root() {
            // root reads everything: nothing to test.
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources::under(dir.path());
        let config = sources.config(Client::Ddclient);
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(
            &config,
            "protocol=noip, login=a, password=b x.example.org\n",
        )
        .unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o000)).unwrap();
        let offer = Offer::find(Client::Ddclient, &sources, 0, |_| None).unwrap();
        assert!(!offer.readable);
        assert!(offer.preview.is_none());
        assert!(offer.note.unwrap().contains("root"));
        assert!(offer.command.unwrap().contains("dyntrayd import ddclient"));
        assert!(Offer::find(Client::Inadyn, &sources, 0, |_| None).is_none());
    }
}
