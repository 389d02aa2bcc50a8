//! `dyntrayd`: the Dyntray engine without a desktop.
// A command-line tool: standard output is where its answers go.
#![allow(clippy::print_stdout)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use dyntray_engine::config::Config;
use dyntray_engine::control::{
    AppInfo, BindError, ControlClient, ControlError, ControlHandler, ControlServer, ErrorCode,
    Event, Request, engine_request, forward_engine,
};
use dyntray_engine::detect;
use dyntray_engine::engine::{
    self, AddressStatus, ConfigRead, EngineError, EngineExit, EngineHandle, EngineOptions,
    KEYCHAIN_SERVICE, PassReport, RecordStatus, Status,
};
use dyntray_engine::provider::{IpFamily, REGISTRY};
use dyntray_engine::secrets::{KeychainStore, Secret, SecretSource, SecretStore};
use dyntray_engine::state::{HistoryEntry, StateLock, StateStore};
use dyntray_engine::text::visible;
use dyntray_engine::{import, logging, paths, time};
use tokio::sync::{Notify, broadcast};

const HELP: &str = "\
dyntrayd - the Dyntray dynamic DNS engine, headless

USAGE:
    dyntrayd [OPTIONS] <COMMAND>

COMMANDS:
    run                     Run the engine in the foreground, serving the control API
    once                    One pass: check the address, update what changed, exit
                            (exit 0: all ok; 1: some record failed; 2: config error)
    status                  Show each record's state
    history [RECORD]        Show the update history (newest first)
    providers [--markdown]  List the providers and their fields
    check-config            Validate the config file and report every problem
    ip [-4|-6]              Ask every address source now: each one's answer, which agree,
                            and the address that would be published (exit 1: none)
    secret set ACCOUNT      Store ACCOUNT's secret in the keychain (read from stdin)
    secret delete ACCOUNT|--all
                            Remove ACCOUNT's secret from the keychain (--all: the
                            secret of every account in the config kept there)
    enable RECORD|--all     Send a record the provider refused again, once you have fixed
                            what it said (a name, or its key such as home/a.example.org/A)
    info                    Version and file locations of the running instance
    import ddclient|inadyn [FILE]
                            Move over from ddclient (FILE default /etc/ddclient.conf) or
                            inadyn (/etc/inadyn.conf): add its hosts as accounts and
                            records, its passwords to the keychain, and the addresses in
                            its cache as last accepted, so an unchanged address is not
                            sent again. A running Dyntray does the import itself. Run
                            it as yourself: copy root-only files first, never sudo.
                              --dry-run      print the TOML and what mapped to what; change
                                             nothing
                              --cache PATH   ddclient's cache file (default
                                             /var/cache/ddclient/ddclient.cache) or
                                             inadyn's cache directory (/var/cache/inadyn)
                              --no-secrets   store no password; set each with `secret set`
                              --replace      replace accounts of the same id (refused
                                             otherwise)
    reload                  Ask the running instance to read its config file again (as
                            SIGHUP does; a hand edit is noticed by itself too)
    stop                    Ask the running instance to exit

status, history and enable ask the running instance when there is one, else use the
state store directly. A changed `file:` or `env:` secret is noticed by itself: records
refused for bad credentials are sent again at the next check.

OPTIONS:
    --config PATH       Config file (default: $XDG_CONFIG_HOME/dyntray/config.toml;
                        on Windows %APPDATA%\\dyntray\\config.toml)
    --state-dir PATH    State directory (default: $XDG_DATA_HOME/dyntray; on Windows
                        %LOCALAPPDATA%\\dyntray)
    --socket PATH       Control socket (default: $XDG_RUNTIME_DIR/dyntray/control.sock;
                        on Windows the named pipe \\\\.\\pipe\\dyntray-<your SID>)
    --json              status, history and ip: one line of JSON,
                        {\"version\": 1, \"status\"|\"history\"|\"addresses\": ...}
    -h, --help          Print this help
    -V, --version       Print the version

Logs go to stderr; RUST_LOG sets the level (default info).

EXAMPLES:
    dyntrayd check-config
    dyntrayd ip -4
    printf '%s' \"$PASSWORD\" | dyntrayd secret set home
    dyntrayd once
    dyntrayd run
    dyntrayd history home.example.org
";

struct Args {
    command: Command,
    config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    socket: Option<PathBuf>,
    /// `status`, `history` and `ip` print JSON (see [`JSON_VERSION`]).
    json: bool,
}

/// The version of the `--json` output's shape: `{"version": 1, "status" | "history" |
/// "addresses": …}`, each the control API's answer. Within a version, fields are added,
/// never renamed or removed.
const JSON_VERSION: u32 = 1;

enum Command {
    Run,
    Once,
    Status,
    History(Option<String>),
    Providers {
        markdown: bool,
    },
    CheckConfig,
    Ip(Option<IpFamily>),
    SecretSet(String),
    SecretDelete(String),
    /// Every keychain secret of the config's accounts (before the config goes).
    SecretDeleteAll,
    Enable(Option<String>),
    Import(ImportArgs),
    Info,
    Reload,
    Stop,
    Help,
    Version,
}

/// The clients `dyntrayd import` reads.
#[derive(Clone, Copy)]
enum Client {
    Ddclient,
    Inadyn,
}

/// `dyntrayd import ddclient|inadyn [FILE] [--cache PATH] [--dry-run] [--no-secrets]
/// [--replace]`.
struct ImportArgs {
    client: Client,
    file: Option<PathBuf>,
    cache: Option<PathBuf>,
    dry_run: bool,
    no_secrets: bool,
    replace: bool,
}

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_env();
    let mut words: Vec<String> = Vec::new();
    let mut args = Args {
        command: Command::Help,
        config: None,
        state_dir: None,
        socket: None,
        json: false,
    };
    let mut flag_command = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => args.config = Some(parser.value()?.into()),
            Long("state-dir") => args.state_dir = Some(parser.value()?.into()),
            Long("socket") => args.socket = Some(parser.value()?.into()),
            Long("json") => args.json = true,
            Short('h') | Long("help") => flag_command = Some(Command::Help),
            Short('V') | Long("version") => flag_command = Some(Command::Version),
            Long("markdown") => words.push("--markdown".into()),
            Long("all") => words.push("--all".into()),
            Long("dry-run") => words.push("--dry-run".into()),
            Long("no-secrets") => words.push("--no-secrets".into()),
            Long("replace") => words.push("--replace".into()),
            Long("cache") => {
                words.push("--cache".into());
                words.push(parser.value()?.string()?);
            }
            Short('4') => words.push("-4".into()),
            Short('6') => words.push("-6".into()),
            Value(word) => words.push(word.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let bad = |msg: String| lexopt::Error::Custom(msg.into());
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    args.command = match (flag_command, words.as_slice()) {
        (Some(command), _) => command,
        (None, []) => Command::Help,
        (None, ["run"]) => Command::Run,
        (None, ["once"]) => Command::Once,
        (None, ["status"]) => Command::Status,
        (None, ["history"]) => Command::History(None),
        (None, ["history", record]) => Command::History(Some((*record).to_owned())),
        (None, ["providers"]) => Command::Providers { markdown: false },
        (None, ["providers", "--markdown"]) => Command::Providers { markdown: true },
        (None, ["check-config"]) => Command::CheckConfig,
        (None, ["ip"]) => Command::Ip(None),
        (None, ["ip", "-4"]) => Command::Ip(Some(IpFamily::V4)),
        (None, ["ip", "-6"]) => Command::Ip(Some(IpFamily::V6)),
        (None, ["secret", "set", account]) => Command::SecretSet((*account).to_owned()),
        (None, ["secret", "delete", "--all"]) => Command::SecretDeleteAll,
        (None, ["secret", "delete", account]) if !account.starts_with('-') => {
            Command::SecretDelete((*account).to_owned())
        }
        (None, ["secret", ..]) => {
            return Err(bad(
                "usage: dyntrayd secret set ACCOUNT | secret delete ACCOUNT|--all".into(),
            ));
        }
        (None, ["enable", "--all"]) => Command::Enable(None),
        (None, ["enable", record]) if !record.starts_with('-') => {
            Command::Enable(Some((*record).to_owned()))
        }
        (None, ["enable", ..]) => {
            return Err(bad("usage: dyntrayd enable RECORD|--all".into()));
        }
        (None, ["import", client @ ("ddclient" | "inadyn"), rest @ ..]) => {
            let mut import = ImportArgs {
                client: if *client == "ddclient" {
                    Client::Ddclient
                } else {
                    Client::Inadyn
                },
                file: None,
                cache: None,
                dry_run: false,
                no_secrets: false,
                replace: false,
            };
            let mut rest = rest.iter();
            while let Some(word) = rest.next() {
                match *word {
                    "--dry-run" => import.dry_run = true,
                    "--no-secrets" => import.no_secrets = true,
                    "--replace" => import.replace = true,
                    "--cache" => import.cache = rest.next().map(PathBuf::from),
                    file if import.file.is_none() && !file.starts_with('-') => {
                        import.file = Some(file.into());
                    }
                    other => return Err(bad(format!("import: unexpected `{other}`"))),
                }
            }
            Command::Import(import)
        }
        (None, ["import", ..]) => {
            return Err(bad(
                "usage: dyntrayd import ddclient|inadyn [FILE] [--cache PATH] [--dry-run] \
                 [--no-secrets] [--replace]"
                    .into(),
            ));
        }
        (None, ["info"]) => Command::Info,
        (None, ["stop"]) => Command::Stop,
        (None, ["reload"]) => Command::Reload,
        (None, [word, ..]) => {
            return Err(bad(format!(
                "unknown command or argument `{word}` (try --help)"
            )));
        }
    };
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("dyntrayd: {e}");
            return ExitCode::from(2);
        }
    };
    // `ip` prints every source's answer; the same failures as log lines are noise.
    let level = if matches!(args.command, Command::Ip(_)) {
        "warn"
    } else {
        "info"
    };
    let _log = logging::init_at("dyntrayd", None, level);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dyntrayd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dyntrayd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Paths {
    config: PathBuf,
    state_dir: PathBuf,
    socket: PathBuf,
}

fn resolve_paths(args: &Args) -> Result<Paths> {
    Ok(Paths {
        config: match &args.config {
            Some(path) => path.clone(),
            None => paths::config_file()?,
        },
        state_dir: match &args.state_dir {
            Some(path) => path.clone(),
            None => paths::state_dir()?,
        },
        socket: args.socket.clone().unwrap_or_else(paths::control_socket),
    })
}

async fn dispatch(args: Args) -> Result<ExitCode> {
    let paths = resolve_paths(&args)?;
    let json = args.json;
    if json
        && !matches!(
            args.command,
            Command::Status | Command::History(_) | Command::Ip(_)
        )
    {
        bail!("--json is for status, history and ip");
    }
    match args.command {
        Command::Help => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("dyntrayd {}", dyntray_engine::VERSION);
            Ok(ExitCode::SUCCESS)
        }
        Command::Info => {
            let info = connect(&paths.socket).await?.app_info().await?;
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Reload => {
            connect(&paths.socket)
                .await?
                .call::<()>(Request::Reload)
                .await?;
            println!(
                "Dyntray read {} again and applied it",
                paths.config.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Stop => {
            connect(&paths.socket)
                .await?
                .call::<()>(Request::Quit)
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Providers { markdown } => {
            if markdown {
                print!("{}", dyntray_engine::provider::markdown_table());
            } else {
                print_providers();
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => check_config(&paths.config),
        Command::Ip(family) => show_addresses(&paths, family, json).await,
        Command::Status => {
            let status = match running(&paths.socket).await? {
                Some(client) => client.call::<Status>(Request::Status).await?,
                None => offline_status(&paths).await?,
            };
            if json {
                print_json("status", &status)?;
            } else {
                print_status(&status);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Enable(record) => enable(&paths, record.as_deref()).await,
        Command::Import(import) => import_from(&paths, &import).await,
        Command::History(record) => {
            let entries: Vec<HistoryEntry> = match running(&paths.socket).await? {
                Some(client) => {
                    client
                        .call(Request::History {
                            record,
                            limit: Some(50),
                        })
                        .await?
                }
                None => offline_history(&paths, record.as_deref())?,
            };
            if json {
                print_json("history", &entries)?;
            } else {
                print_history(&entries);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::SecretSet(account) => secret_set(&paths, &account).await,
        Command::SecretDelete(account) => {
            let source = account_source(&paths.config, &account)?;
            if source != SecretSource::Keychain {
                bail!("the secret of `{account}` comes from {source}; change it there");
            }
            KeychainStore::new(KEYCHAIN_SERVICE).delete(&account)?;
            println!("removed the secret of `{account}` from the keychain");
            Ok(ExitCode::SUCCESS)
        }
        Command::SecretDeleteAll => secret_delete_all(&paths.config),
        Command::Once => once(&paths).await,
        Command::Run => run(&paths).await,
    }
}

async fn connect(socket: &Path) -> Result<ControlClient> {
    Ok(ControlClient::connect(socket).await?)
}

/// The running instance, `None` when there is none. Something at the socket that is not
/// this user's own is an error, never silently passed over.
async fn running(socket: &Path) -> Result<Option<ControlClient>> {
    match ControlClient::connect(socket).await {
        Ok(client) => Ok(Some(client)),
        Err(e) if e.code == ErrorCode::NotRunning => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `dyntrayd enable RECORD|--all`: records the provider refused may be sent again.
async fn enable(paths: &Paths, record: Option<&str>) -> Result<ExitCode> {
    let client = running(&paths.socket).await?;
    let status = match &client {
        Some(client) => client.call::<Status>(Request::Status).await?,
        None => offline_status(paths).await?,
    };
    let chosen: Vec<&RecordStatus> = status
        .records
        .iter()
        .filter(|r| match record {
            Some(wanted) => r.key == wanted || r.name == wanted,
            None => r.disabled.is_some() || r.next_attempt_at.is_some(),
        })
        .collect();
    if chosen.is_empty() {
        match record {
            Some(wanted) => bail!("no record `{wanted}` (dyntrayd status lists them)"),
            None => {
                println!("no record is disabled or waiting");
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    let keys: Vec<String> = chosen.iter().map(|r| r.key.clone()).collect();
    match client {
        Some(client) => {
            // One request: the instance re-enables them all, then checks once.
            let (first, more) = keys.split_first().map_or_else(
                || (String::new(), Vec::new()),
                |(first, more)| (first.clone(), more.to_vec()),
            );
            client
                .call::<()>(Request::ReEnable {
                    record: first,
                    more,
                })
                .await?;
            for key in &keys {
                println!("enabled {key}; the running instance sends it now if it must");
            }
        }
        None => {
            let _lock = StateLock::acquire(&paths.state_dir)?;
            let mut store = StateStore::open(&paths.state_dir)?;
            for key in &keys {
                store.re_enable(key)?;
                println!("enabled {key}; it is sent at the next check");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dyntrayd ip`: every source of each family asked now, benched ones too. A running
/// instance answers itself, so a provider's check-IP is still asked at most every 10
/// minutes and not while that provider refuses the account; without one, a detector
/// built from the config asks.
/// Prints `{"version": JSON_VERSION, "<key>": value}` on one line.
fn print_json<T: serde::Serialize>(key: &str, value: &T) -> Result<()> {
    let mut object = serde_json::Map::new();
    object.insert("version".into(), JSON_VERSION.into());
    object.insert(key.into(), serde_json::to_value(value)?);
    println!("{}", serde_json::Value::Object(object));
    Ok(())
}

async fn show_addresses(paths: &Paths, only: Option<IpFamily>, json: bool) -> Result<ExitCode> {
    let reports = match running(&paths.socket).await? {
        Some(client) => {
            client
                .call::<Vec<AddressStatus>>(Request::AskSources { family: only })
                .await?
        }
        None => match ask_here(paths, only).await? {
            Ok(reports) => reports,
            Err(code) => return Ok(code),
        },
    };
    if json {
        print_json("addresses", &reports)?;
    } else if reports.is_empty() {
        println!(
            "no address sources are configured ([detect] in {})",
            paths.config.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    for report in reports.iter().filter(|_| !json) {
        print_detection(report);
    }
    if reports.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(if reports.iter().all(|r| r.address.is_some()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Without a running instance: the engine, started on the config without its timers,
/// asks the sources (its state store tells which accounts a provider refuses).
async fn ask_here(
    paths: &Paths,
    only: Option<IpFamily>,
) -> Result<Result<Vec<AddressStatus>, ExitCode>> {
    let _lock = StateLock::acquire(&paths.state_dir)?;
    let engine = start_engine(paths, false)?;
    let result = engine.ask_sources(only).await;
    engine.shutdown().await;
    match result {
        Ok(reports) => Ok(Ok(reports)),
        Err(EngineError::Config(problems)) => {
            eprintln!("{problems}");
            Ok(Err(ExitCode::from(2)))
        }
        Err(e) => Err(e.into()),
    }
}

fn print_detection(found: &AddressStatus) {
    let name = if found.family == "AAAA" {
        "IPv6"
    } else {
        "IPv4"
    };
    let count = found.sources.len();
    let rule = match (count, found.needed) {
        (0, _) => "no sources".to_owned(),
        (1, _) => "1 source".to_owned(),
        (n, 1) => format!("{n} sources, the first valid answer counts"),
        (n, k) => format!("{n} sources, {k} must agree"),
    };
    println!("{name} ({rule})");
    let width = found
        .sources
        .iter()
        .map(|s| s.source.chars().count())
        .max()
        .unwrap_or(0);
    for source in &found.sources {
        let answer = match (&source.address, &source.error, source.state) {
            (_, _, detect::SourceState::Suspended) => {
                "not asked while its provider refuses the account".to_owned()
            }
            (_, _, detect::SourceState::Resting) => {
                "not asked: asked too recently, and the network changed since".to_owned()
            }
            (_, _, detect::SourceState::Skipped) => "not asked: the check took too long".to_owned(),
            // A LAN device's or a command's words: shown as text.
            (_, Some(error), _) => format!("failed: {}", visible(error)),
            (Some(address), None, _) if source.cached => {
                format!("{address} (remembered: asked at most every 10 minutes)")
            }
            (Some(address), None, _) => address.to_string(),
            (None, None, _) => "not asked".to_owned(),
        };
        let mark = if source.state == detect::SourceState::Agreed {
            "  (agrees)"
        } else {
            ""
        };
        println!("  {:<width$}  {answer}{mark}", source.source);
    }
    match (&found.address, &found.error) {
        (Some(address), _) => println!("  => {address} would be published"),
        (None, why) => println!(
            "  => no address: {}",
            visible(why.as_deref().unwrap_or("no source answered"))
        ),
    }
}

fn check_config(path: &Path) -> Result<ExitCode> {
    match Config::load(path) {
        Ok(None) => {
            println!("{}: no config file yet (nothing to update)", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Ok(Some(config)) => {
            let problems = engine::check_against_registry(&config);
            if problems.is_empty() {
                println!(
                    "{}: ok ({} account(s), {} record(s))",
                    path.display(),
                    config.accounts.len(),
                    config.records.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} has {} problem(s):", path.display(), problems.len());
                for problem in problems {
                    eprintln!("  {problem}");
                }
                Ok(ExitCode::from(2))
            }
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
    }
}

fn account_source(config: &Path, account: &str) -> Result<SecretSource> {
    let config =
        Config::load(config)?.with_context(|| format!("no config file at {}", config.display()))?;
    let found = config
        .accounts
        .iter()
        .find(|a| a.id == account)
        .with_context(|| {
            let ids: Vec<&str> = config.accounts.iter().map(|a| a.id.as_str()).collect();
            format!(
                "no account `{account}` in the config (accounts: {})",
                ids.join(", ")
            )
        })?;
    Ok(match &found.secret {
        dyntray_engine::config::SecretRef::Keychain => SecretSource::Keychain,
        dyntray_engine::config::SecretRef::File(p) => SecretSource::File(p.clone()),
        dyntray_engine::config::SecretRef::Env(v) => SecretSource::Env(v.clone()),
    })
}

/// Removes from the keychain the secret of every account whose secret is kept there
/// (the uninstaller's "remove my data"); secrets from a file or the environment are the
/// user's own and stay.
fn secret_delete_all(config: &Path) -> Result<ExitCode> {
    let Some(config) = Config::load(config)? else {
        println!(
            "no config file at {}: no secrets to remove",
            config.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let keychain = KeychainStore::new(KEYCHAIN_SERVICE);
    let mut removed = Vec::new();
    for account in &config.accounts {
        if matches!(account.secret, dyntray_engine::config::SecretRef::Keychain) {
            keychain.delete(&account.id)?;
            removed.push(account.id.as_str());
        }
    }
    if removed.is_empty() {
        println!("no account keeps its secret in the keychain");
    } else {
        println!(
            "removed from the keychain the secrets of: {}",
            removed.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a file another client wrote, bounded in size.
async fn import_from(paths: &Paths, args: &ImportArgs) -> Result<ExitCode> {
    let client = match args.client {
        Client::Ddclient => import::Client::Ddclient,
        Client::Inadyn => import::Client::Inadyn,
    };
    let name = client.name();
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from(client.default_config()));
    let cache_path = args
        .cache
        .clone()
        .unwrap_or_else(|| PathBuf::from(client.default_cache()));
    // An explicit cache must be there; the default one may not be.
    let loaded = import::load(
        client,
        &file,
        &cache_path,
        args.cache.is_some(),
        time::now(),
    )?;
    if let Some(problem) = &loaded.cache_problem {
        bail!(
            "{problem}: without {name}'s cache every record sends its first update; \
             copy it where you can read it and pass --cache"
        );
    }
    if !loaded.cache_read {
        println!(
            "no {name} cache at {}: every record sends its first update",
            cache_path.display()
        );
    }
    let result = loaded.import;
    let current = match dyntray_engine::files::read_regular(
        &paths.config,
        dyntray_engine::files::MAX_CONFIG_BYTES,
    ) {
        Ok(bytes) => String::from_utf8(bytes).context("the Dyntray config is not UTF-8")?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context(format!("reading {}", paths.config.display())),
    };
    if args.dry_run {
        print!("{}", result.table());
        println!(
            "\n# The accounts and records that would be added to {}:",
            paths.config.display()
        );
        print!("{}", result.to_toml()?);
        // Refusals (a taken id, an invalid result) show in a dry run too.
        result.merge_into(&current, args.replace)?;
        return Ok(ExitCode::SUCCESS);
    }
    if result.accounts.is_empty() {
        print!("{}", result.table());
        bail!("nothing to import from {}", file.display());
    }
    let merged = result.merge_into(&current, args.replace)?;
    // A running engine owns the config and the state: it imports, so that the cached
    // addresses are the accepted ones before its next pass.
    if let Some(running) = running(&paths.socket).await? {
        let read: ConfigRead = running.call(Request::ReadConfig).await?;
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let report: import::ImportReport = running
            .call(Request::ApplyImport(engine::ImportAsk {
                client,
                revision: read.revision,
                file: Some(absolute(&file)),
                // The cache the CLI looked at, there or not: never another one.
                cache: Some(absolute(&cache_path)),
                replace: args.replace,
                no_secrets: args.no_secrets,
            }))
            .await?;
        print!("{}", result.table());
        println!(
            "added {} account(s) and {} record(s) to {} (through the running Dyntray); \
             {} last address(es) from {name}'s cache",
            report.accounts.len(),
            report.names.len(),
            paths.config.display(),
            report.addresses.len()
        );
        if !report.set_by_hand.is_empty() {
            println!("set these secrets with `dyntrayd secret set ID` (read from stdin):");
            for account in &report.set_by_hand {
                println!("  {}: {}", account.account, account.note);
            }
        }
        println!("stop {name} (sudo systemctl disable --now {name})");
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = StateLock::acquire(&paths.state_dir)
        .context("another Dyntray owns the state and does not answer on its control socket")?;
    let mut to_set = Vec::new();
    let keychain = KeychainStore::new(KEYCHAIN_SERVICE);
    for account in &result.accounts {
        let id = &account.account.id;
        match (&account.secret, &account.secret_note) {
            (Some(secret), _) if !args.no_secrets => {
                dyntray_engine::secrets::store(&keychain, id, &SecretSource::Keychain, secret)
                    .with_context(|| format!("storing the password of `{id}` in the keychain"))?;
            }
            (_, Some(note)) => to_set.push(format!("{id}: {note}")),
            _ => to_set.push(id.clone()),
        }
    }
    let mut store = StateStore::open(&paths.state_dir)?;
    let written = result.write_state(&mut store, name)?;
    import::write_config(&paths.config, &merged)?;
    print!("{}", result.table());
    println!(
        "added {} account(s) and {} record(s) to {}; {} last address(es) from {name}'s cache",
        result.accounts.len(),
        result.records.len(),
        paths.config.display(),
        written.len()
    );
    if !to_set.is_empty() {
        println!("set these secrets with `dyntrayd secret set ID` (read from stdin):");
        for line in &to_set {
            println!("  {line}");
        }
    }
    println!("stop {name} (systemctl disable --now {name}) before starting dyntrayd");
    Ok(ExitCode::SUCCESS)
}

async fn secret_set(paths: &Paths, account: &str) -> Result<ExitCode> {
    let source = account_source(&paths.config, account)?;
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the secret from standard input")?;
    let secret = Secret::new(input.strip_suffix('\n').unwrap_or(&input));
    drop(input);
    // A running engine stores it and re-enables records refused for bad credentials.
    if let Some(client) = running(&paths.socket).await? {
        client
            .call::<()>(Request::SetSecret {
                account: account.to_owned(),
                secret,
            })
            .await?;
    } else {
        if source != SecretSource::Keychain {
            bail!("the secret of `{account}` comes from {source}; change it there");
        }
        dyntray_engine::secrets::store(
            &KeychainStore::new(KEYCHAIN_SERVICE),
            account,
            &source,
            &secret,
        )?;
        // Records refused for bad credentials may go out again at the next run; nothing is
        // sent now.
        let _lock = StateLock::acquire(&paths.state_dir)?;
        if let Some(config) = Config::load(&paths.config)? {
            let mut store = StateStore::open(&paths.state_dir)?;
            let count = engine::credentials_changed(&mut store, &config, account)?;
            if count > 0 {
                println!("re-enabled {count} record(s) refused for bad credentials");
            }
        }
    }
    println!("stored the secret of `{account}` in the keychain");
    Ok(ExitCode::SUCCESS)
}

fn start_engine(paths: &Paths, scheduled: bool) -> Result<EngineHandle> {
    Ok(engine::spawn(EngineOptions {
        config_path: paths.config.clone(),
        state_dir: paths.state_dir.clone(),
        secrets: Arc::new(KeychainStore::new(KEYCHAIN_SERVICE)),
        sources: None,
        scheduled,
        watch_network: scheduled,
        watch_config: scheduled,
        clock_start: None,
        import_sources: paths::import_sources(),
    })?)
}

async fn offline_status(paths: &Paths) -> Result<Status> {
    let _lock = StateLock::acquire(&paths.state_dir)?;
    let handle = start_engine(paths, false)?;
    let status = handle.status();
    handle.shutdown().await;
    Ok(status)
}

/// History straight from the state store; a record may be named by its name (all its
/// families) or its key.
fn offline_history(paths: &Paths, record: Option<&str>) -> Result<Vec<HistoryEntry>> {
    let store = StateStore::open(&paths.state_dir)?;
    let Some(record) = record else {
        return Ok(store.history(None, 50)?);
    };
    let mut keys: Vec<String> = Config::load(&paths.config)
        .ok()
        .flatten()
        .map(|config| {
            config
                .records
                .iter()
                .filter(|r| r.name == record)
                .flat_map(engine::record_keys)
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() {
        keys.push(record.to_owned());
    }
    let mut entries = Vec::new();
    for key in &keys {
        entries.extend(store.history(Some(key), 50)?);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.at));
    entries.truncate(50);
    Ok(entries)
}

async fn once(paths: &Paths) -> Result<ExitCode> {
    let _lock = StateLock::acquire(&paths.state_dir)?;
    let handle = start_engine(paths, false)?;
    let status = handle.status();
    if let Some(error) = status.config_error {
        eprintln!("{error}");
        return Ok(ExitCode::from(2));
    }
    let report: PassReport = handle.run_once().await?;
    handle.shutdown().await;
    for key in &report.succeeded {
        println!("ok      {key}");
    }
    for (key, why) in &report.failed {
        println!("FAILED  {key}: {}", visible(why));
    }
    println!("{} request(s) sent", report.requests);
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

struct Daemon {
    info: AppInfo,
    engine: EngineHandle,
    events: broadcast::Sender<Event>,
    quit: Notify,
}

impl ControlHandler for Daemon {
    async fn handle(&self, request: Request) -> Result<serde_json::Value, ControlError> {
        if let Some(result) = engine_request(&self.engine, request.clone()).await {
            return result;
        }
        match request {
            Request::AppInfo => serde_json::to_value(&self.info)
                .map_err(|e| ControlError::new(ErrorCode::Failed, e.to_string())),
            Request::Quit => {
                self.quit.notify_one();
                Ok(serde_json::Value::Null)
            }
            _ => Err(ControlError::new(
                ErrorCode::Unsupported,
                "dyntrayd runs without a desktop: there is no settings window to open",
            )),
        }
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

async fn run(paths: &Paths) -> Result<ExitCode> {
    let server = match ControlServer::bind(&paths.socket) {
        Ok(server) => server,
        Err(BindError::AlreadyRunning(path)) => bail!(
            "another Dyntray instance already serves {}; stop it first (dyntrayd stop)",
            path.display()
        ),
        Err(e) => return Err(e).context("starting the control API"),
    };
    let _lock = StateLock::acquire(&paths.state_dir)?;
    let engine = start_engine(paths, true)?;
    if let Some(error) = engine.status().config_error {
        tracing::error!("{error}");
    }
    let (events, _) = broadcast::channel(64);
    tokio::spawn(forward_engine(engine.clone(), events.clone()));
    let daemon = Arc::new(Daemon {
        info: AppInfo {
            version: dyntray_engine::VERSION.into(),
            host: "dyntrayd".into(),
            pid: std::process::id(),
            config_path: paths.config.clone(),
            log_dir: None,
            socket_path: paths.socket.clone(),
            tray_hint: None,
        },
        engine: engine.clone(),
        events,
        quit: Notify::new(),
    });
    tracing::info!(socket = %paths.socket.display(), "dyntrayd running");
    // An engine that ended by itself must end the process with an error, so that a
    // service manager restarts it; it must not linger answering "stopped".
    let crashed: Arc<std::sync::OnceLock<String>> = Arc::default();
    let stop = {
        let (daemon, engine, crashed) = (Arc::clone(&daemon), engine.clone(), crashed.clone());
        async move {
            tokio::select! {
                () = daemon.quit.notified() => {}
                () = dyntray_engine::signals::terminated() => {}
                exit = engine.exited() => {
                    if let EngineExit::Crashed(message) = exit {
                        let _ = crashed.set(message);
                    }
                }
            }
        }
    };
    server.serve(Arc::clone(&daemon), stop).await;
    if let Some(message) = crashed.get() {
        let _ = daemon.events.send(Event::Shutdown);
        bail!("the engine stopped unexpectedly ({message}); exiting so that it can be restarted");
    }
    // The request in flight finishes and is persisted before the engine stops.
    engine.shutdown().await;
    let _ = daemon.events.send(Event::Shutdown);
    tracing::info!("dyntrayd stopped");
    Ok(ExitCode::SUCCESS)
}

fn print_providers() {
    for provider in REGISTRY {
        let d = provider.descriptor();
        println!("{:<10} {} ({})", d.id, d.name, d.protocol);
        if let Some(server) = d.default_server {
            println!("           server: {server}");
        }
        let fields: Vec<String> = d
            .account_fields
            .iter()
            .map(|f| {
                if f.required {
                    f.key.to_owned()
                } else {
                    format!("[{}]", f.key)
                }
            })
            .collect();
        println!("           account: {}", fields.join(", "));
        let options: Vec<&str> = d.record_fields.iter().map(|f| f.key).collect();
        println!("           record options: {}", options.join(", "));
    }
}

fn print_status(status: &Status) {
    if let Some(error) = &status.config_error {
        println!("config: {error}");
    }
    if let Some(warning) = &status.config_warning {
        println!("config: {warning}");
    }
    if status.paused {
        println!("updates are paused");
    }
    if status.offline {
        println!("offline mode is on");
    }
    for address in &status.addresses {
        let when = address
            .checked_at
            .map(|t| format!(" (checked {})", time::format_local(t)))
            .unwrap_or_default();
        match (&address.address, &address.error) {
            (Some(a), _) => println!("address {}: {a}{when}", address.family),
            (None, Some(e)) => println!("address {}: none{when}: {}", address.family, visible(e)),
            _ => {}
        }
    }
    if status.records.is_empty() {
        println!("no records configured");
    }
    for record in &status.records {
        let address = record
            .address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let when = record
            .last_update_at
            .map(time::format_local)
            .unwrap_or_else(|| "never".into());
        println!(
            "{:<40} {:<5} {:<12} {:<16} updated {when}",
            record.name,
            record.family,
            format!("{:?}", record.phase).to_lowercase(),
            address
        );
        // Stored text is shown as text, whatever an older version let into the store.
        if let Some(disabled) = &record.disabled {
            println!(
                "    refused: {} ({})",
                visible(&disabled.answer),
                visible(&disabled.code)
            );
            println!("    {}", visible(&disabled.advice));
            let cure = dyntray_engine::provider::lookup(&record.provider)
                .map(|p| p.descriptor().cure(&disabled.code));
            if cure == Some(dyntray_engine::provider::Cure::Secret) {
                // The advice speaks of Settings; here the secret is set from the shell.
                println!("    a new secret: dyntrayd secret set {}", record.account);
            }
            println!("    after fixing it: dyntrayd enable {}", record.key);
        } else {
            if let (Some(answer), Some(at)) = (&record.last_answer, record.last_attempt_at) {
                println!(
                    "    last answer: {} ({})",
                    visible(answer),
                    time::format_local(at)
                );
            }
            if let Some(note) = &record.note {
                println!("    {}", visible(note));
            }
        }
        if let Some(next) = record.next_attempt_at {
            println!("    next attempt not before {}", time::format_local(next));
        }
    }
}

fn print_history(entries: &[HistoryEntry]) {
    if entries.is_empty() {
        println!("no history yet");
    }
    for entry in entries {
        println!(
            "{}  {:<10} {:<40} {:<16} {}",
            time::format_local(entry.at),
            entry.classification,
            entry.record,
            entry.address.as_deref().unwrap_or("-"),
            visible(&entry.answer)
        );
    }
}
