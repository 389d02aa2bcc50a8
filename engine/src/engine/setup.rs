//! The config: loading, checking against the registry, applying, edits and hand edits.

use super::*;

/// What a record's settings fingerprint is made of.
pub(super) struct SettingsParts<'a> {
    pub(super) provider: &'a str,
    pub(super) server: &'a str,
    pub(super) username: &'a str,
    pub(super) options: &'a RecordOptions,
    pub(super) offline_address: Option<IpAddr>,
    pub(super) offline_native: bool,
    pub(super) extra: &'a BTreeMap<String, String>,
    pub(super) ipv6_suffix: Option<Ipv6Addr>,
}

/// The fingerprint of a record's settings, stored with its state: when it differs, the
/// record was edited and starts afresh (and is sent again). It must stay the same for
/// the same settings across versions, or every record would be re-sent after an
/// upgrade; so it is written out here field by field, in the exact form the first
/// versions stored (which was Rust's `Debug` output of the values, a form the standard
/// library does not promise to keep), and a test pins it.
pub(super) fn settings_fingerprint(parts: &SettingsParts<'_>) -> String {
    fn optional<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
        value.map_or_else(|| "None".to_owned(), |v| format!("Some({})", show(v)))
    }
    fn quoted(text: &str) -> String {
        // As `Debug` quotes a string (which leaves single quotes alone).
        let mut out = String::from("\"");
        for c in text.chars() {
            if c == '\'' {
                out.push(c);
            } else {
                out.extend(c.escape_debug());
            }
        }
        out.push('"');
        out
    }
    let mut fingerprint = format!(
        "{}|{}|{}|{}|{}|{}|{}|{}",
        parts.provider,
        parts.server,
        parts.username,
        optional(parts.options.wildcard, |b| b.to_string()),
        optional(parts.options.mx.as_deref(), quoted),
        optional(parts.options.backup_mx, |b| b.to_string()),
        optional(parts.offline_address, |a| a.to_string()),
        parts.offline_native
    );
    // Options added later are written only when set, so that records without them keep
    // the fingerprint they had.
    if parts.options.create {
        fingerprint.push_str("|create");
    }
    // Provider settings count too; records without any keep the fingerprint they had
    // before such settings existed.
    if !parts.extra.is_empty() {
        let pairs: Vec<String> = parts
            .extra
            .iter()
            .map(|(k, v)| format!("{}: {}", quoted(k), quoted(v)))
            .collect();
        fingerprint.push_str(&format!("|{{{}}}", pairs.join(", ")));
    }
    if let Some(suffix) = parts.ipv6_suffix {
        fingerprint.push_str(&format!("|suffix {suffix}"));
    }
    fingerprint
}

/// A source's identity, with a provider's check-IP the same as its URL.
pub(super) fn source_identity(spec: &detect::SourceSpec) -> String {
    match spec {
        detect::SourceSpec::Provider { provider: id } => provider::lookup(id)
            .and_then(|p| p.descriptor().checkip)
            .map_or_else(|| spec.identity(), detect::spec::url_identity),
        other => other.identity(),
    }
}

impl Engine {
    /// See [`EngineHandle::config_file_changed`]; `true` when a new config was applied.
    pub(super) fn config_file_changed(&mut self, why: &str) -> bool {
        let (revision, checked) = self.read_file();
        if self.applied_revision.as_deref() == Some(revision.as_str()) {
            // The file we applied (or wrote ourselves): nothing new, unless an edit was
            // refused meanwhile and has now been undone.
            if self.config_warning.take().is_some() {
                tracing::info!(%why, "config file back as applied: the refused edit is gone");
                self.rejected_revision = None;
            }
            return false;
        }
        if self.rejected_revision.as_deref() == Some(revision.as_str()) {
            // The edit already refused, read again unchanged (a directory watch tells of
            // every file beside it): judged once.
            return false;
        }
        match checked {
            Ok(config) => {
                tracing::info!(%why, path = %self.config_path.display(), "config file changed: applied");
                self.use_config(revision, config);
                true
            }
            Err(error) if self.config.is_some() => {
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
                self.rejected_revision = Some(revision);
                false
            }
            Err(error) => {
                self.no_config(revision, error);
                false
            }
        }
    }

    /// The config file, read once: its revision, and the config or why it cannot be used.
    fn read_file(&self) -> (String, Result<Config, String>) {
        let bytes = match self.config_bytes() {
            Ok(bytes) => bytes,
            Err(e) => return (format!("unreadable: {e}"), Err(e.to_string())),
        };
        let revision = crate::config_edit::revision(bytes.as_deref());
        let parsed = match &bytes {
            None => Ok(Config::default()),
            Some(bytes) => crate::config::config_from_bytes(&self.config_path, bytes)
                .map_err(|e| e.to_string()),
        };
        let checked = parsed.and_then(|c| {
            let problems = check_against_registry(&c);
            if problems.is_empty() {
                Ok(c)
            } else {
                Err(format_problems(&self.config_path, &problems))
            }
        });
        (revision, checked)
    }

    /// Reads the config file and uses it, or stops updating and says why.
    pub(super) fn load_config(&mut self) {
        match self.read_file() {
            (revision, Ok(config)) => self.use_config(revision, config),
            (revision, Err(error)) => self.no_config(revision, error),
        }
    }

    /// The config from the file at `revision` is the one in force.
    pub(super) fn use_config(&mut self, revision: String, config: Config) {
        self.applied_revision = Some(revision);
        self.rejected_revision = None;
        self.config_error = None;
        self.config_warning = None;
        self.apply_config(config);
    }

    /// The file at `revision` cannot be used and no other config runs: nothing is updated.
    fn no_config(&mut self, revision: String, error: String) {
        tracing::error!(error = %error, "config not usable; nothing is updated until it is fixed");
        self.applied_revision = Some(revision);
        self.rejected_revision = None;
        self.config_error = Some(error);
        self.config_warning = None;
        self.config = None;
        self.records.clear();
        self.accounts.clear();
    }

    pub(super) fn apply_config(&mut self, config: Config) {
        self.poll_interval = config.general.poll_interval;
        self.accounts = config
            .accounts
            .iter()
            .filter_map(|a| {
                let provider = provider::lookup(&a.provider)?;
                let server = a
                    .server
                    .clone()
                    .or_else(|| provider.descriptor().default_server.map(str::to_owned))
                    .unwrap_or_default();
                // check_against_registry has refused a config where this fails.
                let (settings, prepared) = prepare_account(provider, a)
                    .map_err(|problems| {
                        tracing::error!(account = %a.id, ?problems, "account left out");
                    })
                    .ok()?;
                Some(AccountRt {
                    id: a.id.clone(),
                    provider,
                    server,
                    default_server: a.server.is_none(),
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
                    prepared,
                    extra: settings.as_strings(),
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
                    create: r.create,
                };
                let offline_native = r.offline_mode && acc.provider.descriptor().native_offline;
                let ipv6_suffix = r.ipv6_suffix.filter(|_| family == IpFamily::V6);
                let fingerprint = settings_fingerprint(&SettingsParts {
                    provider: acc.provider.descriptor().id,
                    server: &acc.server,
                    username: &acc.username,
                    options: &options,
                    offline_address: r.offline_address,
                    offline_native,
                    extra: &acc.extra,
                    ipv6_suffix,
                });
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
            match state.settings(&record.fingerprint) {
                crate::record::Settings::Same => {}
                crate::record::Settings::First => changed.push((record.key.clone(), state)),
                crate::record::Settings::Edited => {
                    tracing::info!(record = %record.key, "record settings changed: re-enabled and resent");
                    changed.push((record.key.clone(), state));
                }
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
    pub(super) fn config_bytes(&self) -> Result<Option<Vec<u8>>, EngineError> {
        match crate::files::read_regular(&self.config_path, crate::files::MAX_CONFIG_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::Config(format!(
                "cannot read {}: {e}",
                self.config_path.display()
            ))),
        }
    }

    pub(super) fn read_config(&self) -> Result<ConfigRead, EngineError> {
        let bytes = self.config_bytes()?;
        let revision = crate::config_edit::revision(bytes.as_deref());
        let config = match &bytes {
            None => Config::default(),
            Some(bytes) => crate::config::config_from_bytes(&self.config_path, bytes)
                .map_err(|e| EngineError::Config(e.to_string()))?,
        };
        Ok(ConfigRead { config, revision })
    }

    pub(super) fn edit_config(
        &mut self,
        revision: &str,
        edit: &crate::config_edit::ConfigEdit,
    ) -> Result<String, EngineError> {
        let bytes = self.config_bytes()?;
        if crate::config_edit::revision(bytes.as_deref()) != revision {
            return Err(EngineError::Stale(
                "The config changed since you opened this form (by hand, or in another \
                 window), so nothing was saved. It has been read again: check your change and \
                 save it once more."
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
        // Applied from what was written and checked: no second read.
        let revision = crate::config_edit::revision(Some(edited.as_bytes()));
        self.use_config(revision.clone(), config);
        Ok(revision)
    }

    pub(super) fn resolve_key(&self, record: &str) -> Option<String> {
        self.records
            .iter()
            .find(|r| r.key == record)
            .or_else(|| self.records.iter().find(|r| r.name == record))
            .map(|r| r.key.clone())
    }
}

/// The state key of one record: `account/name/A` (or `AAAA`).
pub fn record_key(account: &str, name: &str, family: IpFamily) -> String {
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
        let username = d.account_fields.iter().find(|f| f.key == "username");
        match username {
            Some(field) if field.required && account.username.trim().is_empty() => {
                problems.push(Problem {
                    line: line("username"),
                    key: format!("account[{i}].username"),
                    message: format!(
                        "{} needs `username` ({})",
                        d.name,
                        field.label.to_lowercase()
                    ),
                });
            }
            None if !account.username.is_empty() => problems.push(Problem {
                line: line("username"),
                key: format!("account[{i}].username"),
                message: format!(
                    "{} takes no `username`: its token or key alone is the login",
                    d.name
                ),
            }),
            _ => {}
        }
        if let Err(found) = prepare_account(provider, account) {
            for problem in found {
                problems.push(Problem {
                    line: line(&problem.key),
                    key: format!("account[{i}].{}", problem.key),
                    message: problem.message,
                });
            }
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
        unsupported("create", record.create);
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

/// An account's provider settings, checked against the descriptor and parsed by the
/// provider: the checked values and the provider's own form of them.
pub(crate) fn prepare_account(
    provider: &'static dyn Provider,
    account: &crate::config::Account,
) -> Result<(provider::settings::Settings, provider::Prepared), Vec<provider::FieldProblem>> {
    let d = provider.descriptor();
    let settings = provider::settings::check(d, &account.settings)?;
    let input = provider::AccountInput {
        server: account.server.as_deref().or(d.default_server),
        username: &account.username,
        settings: &settings,
    };
    let prepared = provider.prepare(&input)?;
    Ok((settings, prepared))
}

pub(super) fn format_problems(path: &std::path::Path, problems: &[Problem]) -> String {
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
