//! ddclient's config (`/etc/ddclient.conf`) and cache (`/var/cache/ddclient/ddclient.cache`).
//!
//! The grammar is ddclient's own (3.10, `_read_config` and `parse_assignment`): `#` starts
//! a comment, a line ending in `\` continues on the next, a line is
//! `[opt=value, ...] [host[,host...] [login [password]]]`. Options on a line without hosts
//! are defaults for every later host; options on a line with hosts are for those hosts
//! only. A value ends at unquoted whitespace or a comma; `'…'` and `"…"` quote, `\`
//! escapes one character. A `password=` is read before comments are removed, so a `#` in
//! a password is part of it; a password in single quotes keeps everything between them.
//!
//! The cache holds one line per host, `key=value,key=value host`, after a first line
//! `## ddclient-VERSION`; a host whose `status` (or `status-ipv4`, `status-ipv6`) is `good`
//! had its `ip` (or `ipv4`, `ipv6`) accepted at `mtime`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{CachedAddress, Import, ImportedAccount, Mapping, Unmapped, new_account, unique_id};
use crate::config::{Family, Record, SettingValue};
use crate::detect::SourceSpec;
use crate::provider::{self, IpFamily};
use crate::secrets::Secret;
use crate::state::Timestamp;

/// Where ddclient reads its config unless told otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/ddclient.conf";
/// Where ddclient keeps its cache unless told otherwise.
pub const DEFAULT_CACHE: &str = "/var/cache/ddclient/ddclient.cache";

/// Lines beyond this many are not read (ddclient's own configs have a few hundred).
const MAX_LINES: usize = 100_000;
/// A logical line (continuations joined) longer than this is reported, not read.
const MAX_LINE_CHARS: usize = 16 * 1024;

/// ddclient's default `server` for dyndns2.
const DYNDNS2_SERVER: &str = "members.dyndns.org";

/// ddclient's built-in `web=` names and their URLs (ddclient 3.10 `%builtinweb`).
const BUILTIN_WEB: &[(&str, &str)] = &[
    ("dyndns", "http://checkip.dyndns.org/"),
    ("freedns", "https://freedns.afraid.org/dynamic/check.php"),
    ("he", "https://checkip.dns.he.net/"),
    ("ip4only.me", "https://ip4only.me/api/"),
    ("ip6only.me", "https://ip6only.me/api/"),
    ("ipify-ipv4", "https://api.ipify.org/"),
    ("ipify-ipv6", "https://api6.ipify.org/"),
    ("loopia", "https://dns.loopia.se/checkip/checkip.php"),
    ("myonlineportal", "https://myonlineportal.net/checkip"),
    ("noip-ipv4", "http://ip1.dynupdate.no-ip.com/"),
    ("noip-ipv6", "http://ip1.dynupdate6.no-ip.com/"),
    ("nsupdate.info-ipv4", "http://ipv4.nsupdate.info/myip"),
    ("nsupdate.info-ipv6", "http://ipv6.nsupdate.info/myip"),
    ("zoneedit", "https://dynamic.zoneedit.com/checkip.html"),
];

/// Options the import reads.
const USED: &[&str] = &[
    "protocol", "server", "login", "password", "host", "use", "usev4", "usev6", "web", "webv4",
    "webv6", "if", "ifv4", "ifv6", "cmd", "cmdv4", "cmdv6", "wildcard", "mx", "backupmx", "zone",
    "script", "ssl",
];

/// ddclient options Dyntray has no counterpart for, and what to do instead.
const NO_COUNTERPART: &[(&str, &str)] = &[
    ("daemon", "the check interval is [general] poll_interval"),
    (
        "syslog",
        "dyntrayd logs to stderr (the journal under systemd)",
    ),
    ("mail", "Dyntray sends no mail"),
    ("mail-failure", "Dyntray sends no mail"),
    ("pid", "not needed"),
    ("cache", "not needed"),
    ("file", "not needed"),
    ("foreground", "not needed"),
    ("proxy", "set HTTPS_PROXY in dyntrayd's environment"),
    ("postscript", "no hook to run after an update"),
    ("timeout", "Dyntray's timeouts are its own"),
    ("retry", "Dyntray retries with its own back-off"),
    ("force", "Dyntray never forces an update by itself"),
    ("min-interval", "Dyntray's back-off is its own"),
    (
        "max-interval",
        "the keep-alive is per provider (account keepalive)",
    ),
    ("min-error-interval", "Dyntray's back-off is its own"),
    (
        "web-skip",
        "Dyntray reads plain-text and checkip-style pages by itself",
    ),
    (
        "webv4-skip",
        "Dyntray reads plain-text and checkip-style pages by itself",
    ),
    (
        "webv6-skip",
        "Dyntray reads plain-text and checkip-style pages by itself",
    ),
    ("cmd-skip", "the command must print the address"),
    ("web-ssl-validate", "Dyntray always checks certificates"),
    ("fw-ssl-validate", "Dyntray always checks certificates"),
    ("ssl_ca_dir", "Dyntray uses the system's certificates"),
    ("ssl_ca_file", "Dyntray uses the system's certificates"),
    ("curl", "not needed"),
    ("facility", "not needed"),
    ("priority", "not needed"),
    ("max-warn", "not needed"),
    ("exec", "not needed"),
    ("debug", "set RUST_LOG=debug"),
    ("verbose", "set RUST_LOG=debug"),
    ("quiet", "set RUST_LOG=warn"),
    ("help", "not needed"),
    ("test", "use dyntrayd ip and --dry-run"),
    ("geturl", "not needed"),
    ("ttl", "the TTL is the provider's"),
    (
        "static",
        "DynDNS's static hosts are gone; the record is updated as a dynamic one",
    ),
    (
        "custom",
        "DynDNS's custom hosts are gone; the record is updated as a dynamic one",
    ),
    (
        "fw",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fwv4",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fwv6",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fw-skip",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fwv4-skip",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fwv6-skip",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fw-login",
        "router status pages are not an address source in Dyntray",
    ),
    (
        "fw-password",
        "router status pages are not an address source in Dyntray",
    ),
    ("ip", "a fixed address is not an address source in Dyntray"),
    (
        "ipv4",
        "a fixed address is not an address source in Dyntray",
    ),
    (
        "ipv6",
        "a fixed address is not an address source in Dyntray",
    ),
    ("dynurl", "ClouDNS is not a Dyntray provider"),
    ("quietreply", "Njalla is not a Dyntray provider"),
    ("atime", "cache data, not config"),
    ("mtime", "cache data, not config"),
    ("wtime", "cache data, not config"),
    ("status", "cache data, not config"),
    ("status-ipv4", "cache data, not config"),
    ("status-ipv6", "cache data, not config"),
];

/// The option under which another client's importer keeps what the mapping table shows
/// as the origin of an account (not a ddclient option: it has a character ddclient's
/// names cannot).
pub(super) const FROM: &str = "@from";

/// A value and the line it was set on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Value {
    pub(super) text: String,
    pub(super) line: usize,
}

pub(super) type Vars = BTreeMap<String, Value>;

/// One host as ddclient sees it: its name and every option in force for it.
#[derive(Debug, Clone)]
pub(super) struct HostEntry {
    pub(super) host: String,
    pub(super) line: usize,
    pub(super) vars: Vars,
}

/// What reading a ddclient file found.
#[derive(Debug, Default)]
struct Parsed {
    hosts: Vec<HostEntry>,
    /// Options set on lines without hosts, each with its line.
    globals: Vec<(String, Value)>,
    problems: Vec<Unmapped>,
}

/// Reads ddclient's config `text` (and its cache, when there is one) into accounts,
/// records, address sources and the addresses last accepted. `now` bounds the cache's
/// times.
pub fn import(config: &str, cache: Option<&str>, now: Timestamp) -> Import {
    let parsed = parse(config, "config");
    let mut out = Import {
        problems: parsed.problems,
        ..Import::default()
    };
    report_options(&parsed.globals, &parsed.hosts, &mut out);
    let originals = map_hosts(&parsed.hosts, &mut out);
    if let Some(cache) = cache {
        read_cache(cache, &originals, now, &mut out);
    }
    out.drop_invalid();
    out.problems.sort_by_key(|p| (p.file, p.line));
    out.problems.dedup();
    out
}

// ---- the grammar -------------------------------------------------------------------

/// Splits ddclient's file into host entries, as ddclient's `_read_config` does.
fn parse(text: &str, file: &'static str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut globals: Vars = Vars::new();
    // The logical line being assembled: each character with its physical line.
    let mut pending: Vec<(char, usize)> = Vec::new();
    let mut passwords: Vars = Vars::new();
    let mut lines = 0;
    for (index, raw) in text.split('\n').enumerate() {
        let lineno = index + 1;
        lines = lineno;
        if lineno > MAX_LINES {
            parsed.problems.push(Unmapped {
                file,
                line: lineno,
                reason: format!("the file has more than {MAX_LINES} lines; the rest is not read"),
            });
            break;
        }
        let raw = raw.trim_end_matches('\r');
        // Bounded before anything scans it: the password search looks back along the line.
        if raw.len() > MAX_LINE_CHARS {
            parsed.problems.push(Unmapped {
                file,
                line: lineno,
                reason: format!("a line longer than {MAX_LINE_CHARS} characters; not read"),
            });
            pending.clear();
            passwords.clear();
            continue;
        }
        let line = match take_password(raw) {
            Some((rewritten, key, value)) => {
                passwords.insert(
                    key,
                    Value {
                        text: value,
                        line: lineno,
                    },
                );
                rewritten
            }
            None => raw.to_owned(),
        };
        let line = match line.find('#') {
            Some(at) => &line[..at],
            None => &line[..],
        };
        if pending.len() + line.len() > MAX_LINE_CHARS {
            parsed.problems.push(Unmapped {
                file,
                line: lineno,
                reason: format!("a line longer than {MAX_LINE_CHARS} characters; not read"),
            });
            pending.clear();
            passwords.clear();
            continue;
        }
        pending.extend(line.chars().map(|c| (c, lineno)));
        if let Some(&('\\', _)) = pending.last() {
            pending.pop();
            continue;
        }
        let logical = canonical(&pending);
        pending.clear();
        if !logical.is_empty() {
            read_line(&logical, &mut passwords, &mut globals, &mut parsed, file);
        }
        passwords.clear();
    }
    if !pending.is_empty() {
        parsed.problems.push(Unmapped {
            file,
            line: lines,
            reason: "the file ends in a continuation (\\); its last line is not read".into(),
        });
    }
    parsed.globals = globals.into_iter().collect();
    parsed
}

/// ddclient's special reading of `…password…=value` before comments are removed: the
/// value runs to the next whitespace (so a `#` is part of it), or is everything between
/// the first and the last single quote. Returns the line with the value replaced, the key
/// and the value. A trailing comma of an unquoted value is the separator before the next
/// option, as in ddclient's own sample (`password=…, \`), not part of the password.
fn take_password(line: &str) -> Option<(String, String, String)> {
    let before_comment = line.find('#').unwrap_or(line.len());
    let mut search = 0;
    while let Some(found) = line[search..before_comment].find("password") {
        let at = search + found;
        search = at + "password".len();
        // The key starts after whitespace or a comma (or at the line's start).
        let key_start = line[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || *c == ',')
            .map_or(0, |(i, c)| i + c.len_utf8());
        let key_end = line[at..]
            .find(|c: char| c.is_whitespace() || c == '=')
            .map_or(line.len(), |i| at + i);
        let key = &line[key_start..key_end];
        if key.is_empty() || !is_name(key) {
            continue;
        }
        let after = line[key_end..].trim_start();
        let Some(after) = after.strip_prefix('=') else {
            continue;
        };
        let value_part = after.trim_start();
        let value_start = line.len() - value_part.len();
        let (value, value_end) = if let Some(quoted) = value_part.strip_prefix('\'') {
            match quoted.rfind('\'') {
                Some(close) => (quoted[..close].to_owned(), value_start + 1 + close + 1),
                None => continue,
            }
        } else {
            let end = value_part
                .find(char::is_whitespace)
                .unwrap_or(value_part.len());
            let mut value = &value_part[..end];
            let mut consumed = end;
            if let Some(v) = value.strip_suffix(',') {
                value = v;
                consumed -= 1;
            }
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) if value.len() >= 2 => inner,
                _ => value,
            };
            (value.to_owned(), value_start + consumed)
        };
        let rewritten = format!("{}{}=dummy{}", &line[..key_start], key, &line[value_end..]);
        return Some((rewritten, key.to_owned(), value));
    }
    None
}

/// Whether `s` is an option name: a letter, then letters, digits, `_` or `-`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Leading and trailing whitespace removed, runs of whitespace made one space.
fn canonical(chars: &[(char, usize)]) -> Vec<(char, usize)> {
    let mut out: Vec<(char, usize)> = Vec::with_capacity(chars.len());
    for &(c, line) in chars {
        if c.is_whitespace() {
            if out.last().is_some_and(|(p, _)| *p != ' ') {
                out.push((' ', line));
            }
        } else {
            out.push((c, line));
        }
    }
    if out.last().is_some_and(|(c, _)| *c == ' ') {
        out.pop();
    }
    out
}

/// One logical line: its options, then its hosts (and the old positional login and
/// password).
fn read_line(
    chars: &[(char, usize)],
    passwords: &mut Vars,
    globals: &mut Vars,
    parsed: &mut Parsed,
    file: &'static str,
) {
    let first_line = chars.first().map_or(0, |(_, l)| *l);
    let mut locals = Vars::new();
    let mut pos = 0;
    loop {
        let start = skip_separators(chars, pos);
        match assignment(chars, start) {
            Assignment::None => {
                pos = start;
                break;
            }
            Assignment::Bad { line, reason } => {
                parsed.problems.push(Unmapped { file, line, reason });
                return;
            }
            Assignment::Some {
                name,
                value,
                line,
                next,
            } => {
                let value = match passwords.remove(&name) {
                    Some(password) if value == "dummy" => password.text,
                    _ => value,
                };
                locals.insert(name, Value { text: value, line });
                pos = next;
            }
        }
    }
    let rest: String = chars[pos..].iter().map(|(c, _)| *c).collect();
    let rest = rest.replace(" ,", ",").replace(", ", ",");
    let mut args: Vec<String> = rest.split_whitespace().map(str::to_owned).collect();
    if let Some(host) = locals.get("host") {
        match args.first_mut() {
            Some(first) => {
                first.push(',');
                first.push_str(&host.text);
            }
            None => args.push(host.text.clone()),
        }
    }
    if args.is_empty() {
        for (k, v) in locals {
            globals.insert(k, v);
        }
        return;
    }
    if args.len() > 3 {
        parsed.problems.push(Unmapped {
            file,
            line: first_line,
            reason: format!(
                "`{}` after host, login and password: not ddclient's format; line not imported",
                args[3..].join(" ")
            ),
        });
        return;
    }
    let mut vars = globals.clone();
    for (k, v) in locals {
        vars.insert(k, v);
    }
    if let Some(login) = args.get(1) {
        vars.insert(
            "login".into(),
            Value {
                text: login.clone(),
                line: first_line,
            },
        );
    }
    if let Some(password) = args.get(2) {
        vars.insert(
            "password".into(),
            Value {
                text: password.clone(),
                line: first_line,
            },
        );
    }
    for host in args[0].split(',').filter(|h| !h.is_empty()) {
        if parsed.hosts.len() >= super::MAX_HOSTS {
            parsed.problems.push(Unmapped {
                file,
                line: first_line,
                reason: format!("more than {} hosts; the rest is not read", super::MAX_HOSTS),
            });
            return;
        }
        parsed.hosts.push(HostEntry {
            host: host.to_owned(),
            line: first_line,
            vars: vars.clone(),
        });
    }
}

fn skip_separators(chars: &[(char, usize)], mut pos: usize) -> usize {
    while chars
        .get(pos)
        .is_some_and(|(c, _)| *c == ',' || c.is_whitespace())
    {
        pos += 1;
    }
    pos
}

enum Assignment {
    None,
    Bad {
        line: usize,
        reason: String,
    },
    Some {
        name: String,
        value: String,
        line: usize,
        next: usize,
    },
}

/// ddclient's `parse_assignment` at `start`.
fn assignment(chars: &[(char, usize)], start: usize) -> Assignment {
    let mut pos = start;
    let Some(&(first, line)) = chars.get(pos) else {
        return Assignment::None;
    };
    if !first.is_ascii_alphabetic() {
        return Assignment::None;
    }
    while chars
        .get(pos)
        .is_some_and(|(c, _)| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
    {
        pos += 1;
    }
    if chars.get(pos).map(|(c, _)| *c) != Some('=') {
        return Assignment::None;
    }
    let name: String = chars[start..pos].iter().map(|(c, _)| *c).collect();
    pos += 1;
    let mut value = String::new();
    let mut escape = false;
    let mut quote: Option<char> = None;
    while let Some(&(c, _)) = chars.get(pos) {
        if escape {
            value.push(c);
            escape = false;
        } else if c == '\\' {
            escape = true;
        } else if quote == Some(c) {
            quote = None;
        } else if quote.is_none() && (c == '\'' || c == '"') {
            quote = Some(c);
        } else if quote.is_none() && (c.is_whitespace() || c == ',') {
            break;
        } else {
            value.push(c);
        }
        pos += 1;
    }
    if escape {
        return Assignment::Bad {
            line,
            reason: format!("`{name}=` ends with the escape character (\\); line not imported"),
        };
    }
    if let Some(q) = quote {
        return Assignment::Bad {
            line,
            reason: format!("`{name}=` has an unterminated quote ({q}); line not imported"),
        };
    }
    Assignment::Some {
        name,
        value,
        line,
        next: pos,
    }
}

// ---- options the import does not use -----------------------------------------------------

/// Lists every option that is set but not imported, once per line it is set on.
fn report_options(globals: &[(String, Value)], hosts: &[HostEntry], out: &mut Import) {
    let mut seen: BTreeSet<(usize, String)> = BTreeSet::new();
    let all = globals
        .iter()
        .map(|(k, v)| (k, v))
        .chain(hosts.iter().flat_map(|h| h.vars.iter()));
    for (key, value) in all {
        if USED.contains(&key.as_str()) || !seen.insert((value.line, key.clone())) {
            continue;
        }
        let reason = match NO_COUNTERPART.iter().find(|(k, _)| k == key) {
            Some((_, why)) => format!("`{key}`: no Dyntray counterpart ({why})"),
            None => format!("`{key}`: not a ddclient option (ddclient ignores it too)"),
        };
        out.problems.push(Unmapped {
            file: "config",
            line: value.line,
            reason,
        });
    }
    if hosts.is_empty() {
        out.problems.push(Unmapped {
            file: "config",
            line: 0,
            reason: "no host is configured (every host line is commented out?)".into(),
        });
    }
}

// ---- hosts to accounts and records ------------------------------------------------------

/// What a host's protocol and server become in Dyntray.
struct Target {
    provider: &'static str,
    server: Option<String>,
    username: String,
    settings: BTreeMap<String, SettingValue>,
    /// A different credential than ddclient's password is needed.
    secret_note: Option<String>,
    /// One account per host (a token per record).
    per_host: bool,
    /// The record's name at Dyntray, when not the host itself.
    name: Option<String>,
    /// What the mapping table says.
    describe: String,
}

fn var<'a>(vars: &'a Vars, key: &str) -> Option<&'a Value> {
    vars.get(key).filter(|v| !v.text.is_empty())
}

fn line_of(vars: &Vars, key: &str, fallback: usize) -> usize {
    vars.get(key).map_or(fallback, |v| v.line)
}

/// ddclient's yes/no words.
fn boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// The host part of ddclient's `server` (`host[:port]`, sometimes with a scheme or path).
fn server_host(server: &str) -> (String, Option<&str>) {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let s = s.split('/').next().unwrap_or(s);
    match s.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => {
            (host.to_ascii_lowercase(), Some(port))
        }
        _ => (s.to_ascii_lowercase(), None),
    }
}

/// The Dyntray dyndns2 provider whose own server is `host`.
fn dyndns2_provider(host: &str) -> Option<&'static str> {
    provider::REGISTRY
        .iter()
        .map(|p| p.descriptor())
        .filter(|d| d.protocol == "dyndns2" && d.id != "dyndns2")
        .find(|d| d.default_server.is_some_and(|s| server_host(s).0 == host))
        .map(|d| d.id)
}

fn target(entry: &HostEntry) -> Result<Target, Unmapped> {
    let vars = &entry.vars;
    let protocol = var(vars, "protocol").map_or("dyndns2", |v| v.text.as_str());
    let proto_line = line_of(vars, "protocol", entry.line);
    let unmapped = |line: usize, reason: String| Unmapped {
        file: "config",
        line,
        reason,
    };
    let login = var(vars, "login")
        .map(|v| v.text.clone())
        .unwrap_or_default();
    let server = var(vars, "server").map(|v| v.text.as_str());
    let plain = |provider: &'static str, default_host: &str| -> Result<Target, Unmapped> {
        if let Some(server) = server {
            let (host, port) = server_host(server);
            if host != default_host || port.is_some() {
                return Err(unmapped(
                    line_of(vars, "server", entry.line),
                    format!(
                        "protocol={protocol} with server={server}: Dyntray's {provider} \
                         talks to {default_host} only"
                    ),
                ));
            }
        }
        Ok(Target {
            provider,
            server: None,
            username: login.clone(),
            settings: BTreeMap::new(),
            secret_note: None,
            per_host: false,
            name: None,
            describe: format!("protocol={protocol}"),
        })
    };
    match protocol {
        "dyndns2" => {
            let server = server.unwrap_or(DYNDNS2_SERVER);
            if let Some(script) = var(vars, "script")
                && script.text != "/nic/update"
            {
                return Err(unmapped(
                    script.line,
                    format!(
                        "script={}: Dyntray's dyndns2 always updates at /nic/update",
                        script.text
                    ),
                ));
            }
            let (host, port) = server_host(server);
            let describe = format!("protocol=dyndns2, server={server}");
            if port.is_none()
                && let Some(id) = dyndns2_provider(&host)
            {
                return Ok(Target {
                    provider: id,
                    server: None,
                    username: login,
                    settings: BTreeMap::new(),
                    secret_note: None,
                    per_host: false,
                    name: None,
                    describe,
                });
            }
            // Dyntray sends credentials over HTTPS only, except to this machine (a local
            // server, a test), where it keeps ddclient's plain HTTP.
            let ssl = var(vars, "ssl")
                .and_then(|v| boolean(&v.text))
                .unwrap_or(false);
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            let scheme = if loopback && !ssl { "http" } else { "https" };
            let authority = match port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            Ok(Target {
                provider: "dyndns2",
                server: Some(format!("{scheme}://{authority}")),
                username: login,
                settings: BTreeMap::new(),
                secret_note: None,
                per_host: false,
                name: None,
                describe,
            })
        }
        "noip" => plain("noip", "dynupdate.no-ip.com"),
        "changeip" => plain("changeip", "nic.changeip.com"),
        "ovh" => plain("ovh", "dns.eu.ovhapis.com"),
        "cloudflare" => {
            if !login.is_empty() && login != "token" {
                return Err(unmapped(
                    line_of(vars, "login", proto_line),
                    format!(
                        "protocol=cloudflare with login={login}: a global API key with an \
                         e-mail login; Dyntray uses an API token (make one with Zone.DNS \
                         edit and add the account by hand)"
                    ),
                ));
            }
            let Some(zone) = var(vars, "zone") else {
                return Err(unmapped(
                    proto_line,
                    "protocol=cloudflare without zone=: Dyntray needs the zone".into(),
                ));
            };
            let mut settings = BTreeMap::new();
            settings.insert("zone".into(), SettingValue::Text(zone.text.clone()));
            let mut t = plain("cloudflare", "api.cloudflare.com")?;
            t.username = String::new();
            t.settings = settings;
            t.describe = format!("protocol=cloudflare, zone={}", zone.text);
            Ok(t)
        }
        "duckdns" => {
            let mut t = plain("duckdns", "www.duckdns.org")?;
            t.username = String::new();
            if !entry.host.contains('.') {
                t.name = Some(format!("{}.duckdns.org", entry.host));
            }
            Ok(t)
        }
        "namecheap" => {
            let mut t = plain("namecheap", "dynamicdns.park-your-domain.com")?;
            t.username = String::new();
            t.settings
                .insert("domain".into(), SettingValue::Text(login.clone()));
            t.describe = format!("protocol=namecheap, login={login}");
            Ok(t)
        }
        "freedns" => {
            let mut t = plain("freedns", "freedns.afraid.org")?;
            t.username = String::new();
            t.per_host = true;
            t.secret_note = Some(
                "FreeDNS in Dyntray takes the record's v2 update token, not a login and \
                 password: copy the token from freedns.afraid.org/dynamic/v2/"
                    .into(),
            );
            Ok(t)
        }
        "hetzner" => Err(unmapped(
            proto_line,
            "protocol=hetzner: ddclient uses the old DNS Console API (dns.hetzner.com) and its \
             token; Dyntray's hetzner provider uses the Cloud API and its token: add it by hand"
                .into(),
        )),
        "gandi" => Err(unmapped(
            proto_line,
            "protocol=gandi: ddclient's key may be an API key, which Dyntray's gandi provider \
             (personal access tokens) does not take: add it by hand"
                .into(),
        )),
        "nsupdate" => Err(unmapped(
            proto_line,
            "protocol=nsupdate: ddclient runs nsupdate with a key file; add an rfc2136 account \
             by hand with the key's name and secret"
                .into(),
        )),
        "googledomains" => Err(unmapped(
            proto_line,
            "protocol=googledomains: Google Domains is gone".into(),
        )),
        other => Err(unmapped(
            proto_line,
            format!("protocol={other}: Dyntray has no provider for it"),
        )),
    }
}

/// Whether `name` can be a DNS name (letters, digits, `-`, `_`, `.`, a leading `*.`).
fn host_name_ok(name: &str) -> bool {
    let body = name.strip_prefix("*.").unwrap_or(name);
    !body.is_empty()
        && name.len() <= 253
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !body.starts_with('.')
        && !body.contains("..")
}

/// The address sources of one host: (family, spec, line, what ddclient had).
type Source = (IpFamily, String, usize, String);

fn web_source(value: &str) -> Result<(String, bool), String> {
    if value == "googledomains" {
        return Err("web=googledomains: Google Domains' check-IP page is gone".into());
    }
    let url = BUILTIN_WEB
        .iter()
        .find(|(name, _)| *name == value)
        .map_or(value, |(_, url)| url);
    let (url, upgraded) = if let Some(rest) = url.strip_prefix("https://") {
        (format!("https://{rest}"), false)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (format!("https://{rest}"), true)
    } else {
        (format!("https://{url}"), true)
    };
    source_ok(&url)?;
    Ok((url, upgraded))
}

/// The sources a host's options name, or why they cannot be mapped.
fn sources(entry: &HostEntry) -> (Vec<Source>, Vec<Unmapped>) {
    let vars = &entry.vars;
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let unmapped = |line, reason| Unmapped {
        file: "config",
        line,
        reason,
    };
    // (family, the strategy key, its web/if/cmd/ip keys and defaults)
    let strategies: [(IpFamily, &str, [&str; 4], &str, &str); 3] = [
        (
            IpFamily::V4,
            "usev4",
            ["webv4", "ifv4", "cmdv4", "ipv4"],
            "webv4",
            "ifv4",
        ),
        (IpFamily::V4, "use", ["web", "if", "cmd", "ip"], "web", "if"),
        (
            IpFamily::V6,
            "usev6",
            ["webv6", "ifv6", "cmdv6", "ipv6"],
            "webv6",
            "ifv6",
        ),
    ];
    let mut have_v4 = false;
    for (family, key, [web, iface, cmd, ip], web_word, if_word) in strategies {
        let Some(strategy) = var(vars, key) else {
            continue;
        };
        if strategy.text == "disabled" || (family == IpFamily::V4 && have_v4) {
            continue;
        }
        let line = strategy.line;
        let result: Result<(String, String), String> = match strategy.text.as_str() {
            s if s == web_word => {
                // ddclient's defaults: `web=dyndns`, `webv4=googledomains`.
                let default = if key == "use" {
                    "dyndns"
                } else {
                    "googledomains"
                };
                let value = var(vars, web).map_or(default, |v| v.text.as_str());
                web_source(value).map(|(url, upgraded)| {
                    let from = format!("{key}={s}, {web}={value}");
                    let from = if upgraded {
                        format!("{from} (asked over HTTPS now)")
                    } else {
                        from
                    };
                    (url, from)
                })
            }
            s if s == if_word => {
                let default = if key == "use" { "ppp0" } else { "default" };
                let name = var(vars, iface).map_or(default, |v| v.text.as_str());
                let spec = if name == "default" {
                    "interface".to_owned()
                } else {
                    format!("interface:{name}")
                };
                source_ok(&spec).map(|()| (spec, format!("{key}={s}, {iface}={name}")))
            }
            s if s == cmd => match var(vars, cmd) {
                Some(c) => {
                    let spec = format!("command:{}", c.text);
                    source_ok(&spec).map(|()| (spec, format!("{key}={s}, {cmd}={}", c.text)))
                }
                None => Err(format!("{key}={s} without {cmd}=")),
            },
            s if s == ip => Err(format!(
                "{key}={s}: a fixed address is not an address source in Dyntray"
            )),
            other => Err(format!(
                "{key}={other}: reading the address from a router or firewall is not an \
                 address source in Dyntray (try \"upnp\" by hand)"
            )),
        };
        match result {
            Ok((spec, from)) => {
                if family == IpFamily::V4 {
                    have_v4 = true;
                }
                found.push((family, spec, line, from));
            }
            Err(reason) => problems.push(unmapped(line, reason)),
        }
    }
    (found, problems)
}

/// Whether `text` parses as an address source, as a hand edit would.
fn source_ok(text: &str) -> Result<(), String> {
    text.parse::<SourceSpec>().map(|_| ())
}

/// Accounts grouped by what their requests share.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct AccountKey {
    provider: &'static str,
    server: Option<String>,
    username: String,
    password: String,
    settings: Vec<(String, String)>,
    host: Option<String>,
}

/// Maps every host entry; returns, per imported record index, ddclient's host name.
pub(super) fn map_hosts(hosts: &[HostEntry], out: &mut Import) -> Vec<String> {
    let mut accounts: BTreeMap<AccountKey, usize> = BTreeMap::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut originals = Vec::new();
    let mut v4: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut v6: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut source_problems: Vec<Unmapped> = Vec::new();
    for entry in hosts {
        if !host_name_ok(&entry.host) {
            out.problems.push(Unmapped {
                file: "config",
                line: entry.line,
                reason: format!("`{}` is not a host name; not imported", entry.host),
            });
            continue;
        }
        let mut target = match target(entry) {
            Ok(t) => t,
            Err(mut problem) => {
                problem.reason = format!("{} (host {})", problem.reason, entry.host);
                out.problems.push(problem);
                continue;
            }
        };
        // Another client's importer says in its own words what the entry was.
        if let Some(from) = entry.vars.get(FROM) {
            target.describe = from.text.clone();
        }
        let Some(provider) = provider::lookup(target.provider) else {
            continue;
        };
        let descriptor = provider.descriptor();
        let needs_login = descriptor
            .account_fields
            .iter()
            .any(|f| f.key == "username" && f.required);
        if needs_login && target.username.is_empty() {
            out.problems.push(Unmapped {
                file: "config",
                line: entry.line,
                reason: format!(
                    "host {}: {} needs a login and the config has none for it; not imported",
                    entry.host, descriptor.name
                ),
            });
            continue;
        }
        let (found, problems) = sources(entry);
        source_problems.extend(problems);
        let wants_v4 =
            !found.iter().any(|s| s.0 == IpFamily::V6) || found.iter().any(|s| s.0 == IpFamily::V4);
        let wants_v6 = found.iter().any(|s| s.0 == IpFamily::V6);
        let can_v4 = descriptor.families.contains(&IpFamily::V4);
        let can_v6 = descriptor.families.contains(&IpFamily::V6);
        let family = match (wants_v4 && can_v4, wants_v6 && can_v6) {
            (true, true) => Family::Both,
            (true, false) => Family::A,
            (false, true) => Family::Aaaa,
            (false, false) => {
                out.problems.push(Unmapped {
                    file: "config",
                    line: entry.line,
                    reason: format!(
                        "host {}: {} does not update the address family the config asked for",
                        entry.host, descriptor.name
                    ),
                });
                continue;
            }
        };
        if wants_v6 && !can_v6 {
            out.problems.push(Unmapped {
                file: "config",
                line: line_of(&entry.vars, "usev6", entry.line),
                reason: format!(
                    "host {}: {} has no IPv6 updates; only its A record is imported",
                    entry.host, descriptor.name
                ),
            });
        }
        for (fam, spec, line, from) in found {
            if (fam == IpFamily::V4 && !can_v4) || (fam == IpFamily::V6 && !can_v6) {
                continue;
            }
            let map = if fam == IpFamily::V4 {
                &mut v4
            } else {
                &mut v6
            };
            map.entry(spec).or_insert((line, from));
        }

        let password = var(&entry.vars, "password").map(|v| v.text.clone());
        let key = AccountKey {
            provider: target.provider,
            server: target.server.clone(),
            username: target.username.clone(),
            password: password.clone().unwrap_or_default(),
            settings: target
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), format!("{v:?}")))
                .collect(),
            host: target.per_host.then(|| entry.host.clone()),
        };
        let index = match accounts.get(&key) {
            Some(&i) => i,
            None => {
                let id = unique_id(target.provider, &ids);
                ids.insert(id.clone());
                let mut account = new_account(id.clone(), target.provider, target.username.clone());
                account.server = target.server.clone();
                account.settings = target.settings.clone();
                let (secret, secret_note) = match (&target.secret_note, password) {
                    (Some(note), _) => (None, Some(note.clone())),
                    (None, Some(p)) => (Some(Secret::new(p)), None),
                    (None, None) => (None, Some("the config has no password for it".to_owned())),
                };
                let line = line_of(&entry.vars, "protocol", entry.line);
                let mut to = format!("account {id} (provider {})", target.provider);
                if let Some(server) = &target.server {
                    to.push_str(&format!(", server {server}"));
                }
                if !target.username.is_empty() {
                    to.push_str(&format!(", username {}", target.username));
                }
                out.mappings.push(Mapping {
                    line,
                    from: target.describe.clone(),
                    to,
                });
                out.accounts.push(ImportedAccount {
                    account,
                    secret,
                    secret_note,
                    line,
                });
                accounts.insert(key, out.accounts.len() - 1);
                out.accounts.len() - 1
            }
        };
        let account_id = out.accounts[index].account.id.clone();
        let name = target.name.clone().unwrap_or_else(|| entry.host.clone());
        if out
            .records
            .iter()
            .any(|r| r.account == account_id && r.name == name)
        {
            out.problems.push(Unmapped {
                file: "config",
                line: entry.line,
                reason: format!("host {} is listed twice; imported once", entry.host),
            });
            continue;
        }
        let mut record = Record {
            name: name.clone(),
            account: account_id.clone(),
            family,
            wildcard: None,
            mx: None,
            backup_mx: None,
            offline_address: None,
            offline_mode: false,
            allow_private: false,
            enabled: true,
            ipv6_suffix: None,
            group: false,
            create: false,
            line: 0,
            key_lines: Default::default(),
        };
        let supports = |key: &str| descriptor.record_fields.iter().any(|f| f.key == key);
        let mut options = Vec::new();
        for (ddkey, dykey) in [("wildcard", "wildcard"), ("backupmx", "backup_mx")] {
            if let Some(v) = var(&entry.vars, ddkey) {
                match boolean(&v.text) {
                    Some(b) if supports(dykey) => {
                        if dykey == "wildcard" {
                            record.wildcard = Some(b);
                        } else {
                            record.backup_mx = Some(b);
                        }
                        options.push(format!("{dykey} = {b}"));
                    }
                    // ddclient sends nothing for "no" to a provider without the option.
                    Some(false) => {}
                    Some(true) => out.problems.push(Unmapped {
                        file: "config",
                        line: v.line,
                        reason: format!(
                            "{ddkey}=yes for {}: {} has no such option",
                            entry.host, descriptor.name
                        ),
                    }),
                    None => out.problems.push(Unmapped {
                        file: "config",
                        line: v.line,
                        reason: format!("{ddkey}={}: not yes or no", v.text),
                    }),
                }
            }
        }
        if let Some(mx) = var(&entry.vars, "mx") {
            if supports("mx") && host_name_ok(&mx.text) {
                record.mx = Some(mx.text.clone());
                options.push(format!("mx = {}", mx.text));
            } else {
                out.problems.push(Unmapped {
                    file: "config",
                    line: mx.line,
                    reason: format!(
                        "mx={} for {}: {}",
                        mx.text,
                        entry.host,
                        if supports("mx") {
                            "not a host name".to_owned()
                        } else {
                            format!("{} has no MX option", descriptor.name)
                        }
                    ),
                });
            }
        }
        let family_text = match family {
            Family::A => "A",
            Family::Aaaa => "AAAA",
            Family::Both => "A and AAAA",
        };
        let mut to = format!("record {name} ({family_text}) of {account_id}");
        if !options.is_empty() {
            to.push_str(&format!(", {}", options.join(", ")));
        }
        out.mappings.push(Mapping {
            line: entry.line,
            from: format!("host {}", entry.host),
            to,
        });
        out.records.push(record);
        originals.push(entry.host.clone());
    }
    out.problems.extend(source_problems);
    for (family, map, slot) in [
        ("ipv4", v4, &mut out.ipv4_sources),
        ("ipv6", v6, &mut out.ipv6_sources),
    ] {
        match map.len() {
            0 => {}
            1 => {
                for (spec, (line, from)) in map {
                    out.mappings.push(Mapping {
                        line,
                        from,
                        to: format!("[detect] {family} = [\"{spec}\"]"),
                    });
                    *slot = Some(vec![spec]);
                }
            }
            _ => {
                for (spec, (line, from)) in map {
                    out.problems.push(Unmapped {
                        file: "config",
                        line,
                        reason: format!(
                            "{from}: hosts use different {family} address sources; Dyntray has \
                             one list for all records, so none is imported (would be \"{spec}\")"
                        ),
                    });
                }
            }
        }
    }
    originals
}

// ---- the cache ---------------------------------------------------------------------

/// Reads ddclient's cache: the address last accepted for each imported record.
fn read_cache(text: &str, originals: &[String], now: Timestamp, out: &mut Import) {
    let first = text.lines().next().unwrap_or("");
    if !first.trim_start_matches('#').trim().starts_with("ddclient") {
        out.problems.push(Unmapped {
            file: "cache",
            line: 1,
            reason: "not a ddclient cache (its first line is not `## ddclient-VERSION`); no \
                     address imported"
                .into(),
        });
        return;
    }
    let parsed = parse(text, "cache");
    out.problems.extend(parsed.problems);
    let by_host: BTreeMap<&str, &HostEntry> =
        parsed.hosts.iter().map(|h| (h.host.as_str(), h)).collect();
    for (record, host) in out.records.iter().zip(originals) {
        let Some(entry) = by_host.get(host.as_str()) else {
            continue;
        };
        let families: &[IpFamily] = match record.family {
            Family::A => &[IpFamily::V4],
            Family::Aaaa => &[IpFamily::V6],
            Family::Both => &[IpFamily::V4, IpFamily::V6],
        };
        let mtime = var(&entry.vars, "mtime").and_then(|v| v.text.parse::<Timestamp>().ok());
        for &family in families {
            let (ip_key, status_key) = match family {
                IpFamily::V4 => ("ipv4", "status-ipv4"),
                IpFamily::V6 => ("ipv6", "status-ipv6"),
            };
            // ddclient 3.10 keeps `ip` and `status`; later versions add the per-family keys.
            let candidates = [(ip_key, status_key), ("ip", "status")];
            let found = candidates.iter().find_map(|(ip, status)| {
                let address: IpAddr = var(&entry.vars, ip)?.text.parse().ok()?;
                (IpFamily::of(address) == family).then_some((address, *status))
            });
            let Some((address, status)) = found else {
                continue;
            };
            let status_text = var(&entry.vars, status).map_or("", |v| v.text.as_str());
            if status_text != "good" {
                out.problems.push(Unmapped {
                    file: "cache",
                    line: entry.line,
                    reason: format!(
                        "{host}: last update's status is `{status_text}`, not `good`; its \
                         address {address} is not taken as accepted"
                    ),
                });
                continue;
            }
            let Some(at) = mtime.filter(|t| *t > 0 && *t <= now.saturating_add(86_400)) else {
                out.problems.push(Unmapped {
                    file: "cache",
                    line: entry.line,
                    reason: format!("{host}: no valid mtime; its address is not imported"),
                });
                continue;
            };
            let key = crate::engine::record_key(&record.account, &record.name, family);
            out.mappings.push(Mapping {
                line: entry.line,
                from: format!("cache: {host} ip={address}, status=good"),
                to: format!("{key} last accepted {address}"),
            });
            out.cached.push(CachedAddress {
                key,
                address,
                at,
                line: entry.line,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_700_000_000;

    fn problems(import: &Import) -> Vec<(usize, String)> {
        import
            .problems
            .iter()
            .map(|p| (p.line, p.reason.clone()))
            .collect()
    }

    #[test]
    fn globals_apply_to_later_hosts_and_continuations_join() {
        let conf = "\
ssl=yes
use=web, web=checkip.dyndns.org/
protocol=dyndns2 \\
server=members.dyndns.org, \\
login=alice, password='s3cr#t' \\
home.example.org, office.example.org
";
        let import = super::import(conf, None, NOW);
        assert_eq!(import.accounts.len(), 1, "{:?}", import.problems);
        let account = &import.accounts[0];
        assert_eq!(account.account.id, "dyndns");
        assert_eq!(account.account.provider, "dyndns");
        assert_eq!(account.account.username, "alice");
        assert_eq!(account.secret.as_ref().map(Secret::expose), Some("s3cr#t"));
        let names: Vec<_> = import.records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["home.example.org", "office.example.org"]);
        assert_eq!(
            import.ipv4_sources,
            Some(vec!["https://checkip.dyndns.org/".to_owned()])
        );
        // `ssl` is read (it says nothing Dyntray needs); nothing else is left over.
        assert!(import.problems.is_empty(), "{:?}", problems(&import));
    }

    #[test]
    fn a_hash_in_a_password_is_part_of_it_quoted_or_not() {
        for (line, want) in [
            ("password=ab#cd", "ab#cd"),
            ("password='ab #cd'", "ab #cd"),
            ("password=\"ab#cd\"", "ab#cd"),
            ("password=ab#cd, login=bob", "ab#cd"),
        ] {
            let conf = format!("protocol=noip, login=bob, {line}\nhost.example.org\n");
            let import = super::import(&conf, None, NOW);
            assert_eq!(
                import.accounts[0].secret.as_ref().map(Secret::expose),
                Some(want),
                "{line}"
            );
            assert_eq!(import.accounts[0].account.username, "bob");
        }
    }

    #[test]
    fn servers_map_to_presets_or_the_custom_dyndns2_provider() {
        let conf = "\
protocol=dyndns2, server=dynupdate.no-ip.com, login=a, password=p a.example.org
protocol=dyndns2, server=dyn.example.net, login=b, password=p b.example.org
protocol=dyndns2, server=members.dyndns.org:8245, login=c, password=p c.example.org
protocol=dyndns2, server=dyndns.inwx.com, login=d, password=p d.example.org
";
        let import = super::import(conf, None, NOW);
        let got: Vec<_> = import
            .accounts
            .iter()
            .map(|a| (a.account.provider.as_str(), a.account.server.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("noip", None),
                ("dyndns2", Some("https://dyn.example.net")),
                ("dyndns2", Some("https://members.dyndns.org:8245")),
                ("inwx", None),
            ]
        );
    }

    #[test]
    fn hosts_sharing_a_login_share_an_account_and_others_get_their_own() {
        let conf = "\
protocol=dyndns2, login=alice, password=one
a.example.org
b.example.org, c.example.org
login=bob, password=two d.example.org
e.example.org bob two
";
        let import = super::import(conf, None, NOW);
        let ids: Vec<_> = import
            .accounts
            .iter()
            .map(|a| (a.account.id.as_str(), a.account.username.as_str()))
            .collect();
        assert_eq!(ids, [("dyndns", "alice"), ("dyndns-2", "bob")]);
        let records: Vec<_> = import
            .records
            .iter()
            .map(|r| (r.name.as_str(), r.account.as_str()))
            .collect();
        assert_eq!(
            records,
            [
                ("a.example.org", "dyndns"),
                ("b.example.org", "dyndns"),
                ("c.example.org", "dyndns"),
                ("d.example.org", "dyndns-2"),
                ("e.example.org", "dyndns-2"),
            ]
        );
    }

    #[test]
    fn unknown_protocols_and_options_are_reported_with_their_lines() {
        let conf = "\
daemon=300
protocol=zoneedit1, server=dynamic.zoneedit.com, login=z, password=p \\
zone.example.org
protocol=dyndns2, wildcard=yes, mx=mx.example.org, backupmx=no, bogus=1 \\
  login=w, password=p w.example.org
protocol=noip, wildcard=yes, login=n, password=p n.example.org
";
        let import = super::import(conf, None, NOW);
        let got = problems(&import);
        assert!(
            got.iter().any(|(l, r)| *l == 1 && r.contains("`daemon`")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|(l, r)| *l == 2
                && r.contains("protocol=zoneedit1")
                && r.contains("zone.example.org")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|(l, r)| *l == 4 && r.contains("`bogus`")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|(l, r)| *l == 6 && r.contains("wildcard=yes") && r.contains("No-IP")),
            "{got:?}"
        );
        let w = import
            .records
            .iter()
            .find(|r| r.name == "w.example.org")
            .unwrap();
        assert_eq!(w.wildcard, Some(true));
        assert_eq!(w.mx.as_deref(), Some("mx.example.org"));
        assert_eq!(w.backup_mx, Some(false));
        assert!(!import.records.iter().any(|r| r.name == "zone.example.org"));
    }

    #[test]
    fn address_sources_map_and_conflicts_are_not_guessed() {
        let conf = "use=if, if=eth0\nprotocol=noip, login=a, password=p a.example.org\n";
        let import = super::import(conf, None, NOW);
        assert_eq!(import.ipv4_sources, Some(vec!["interface:eth0".to_owned()]));

        let conf = "usev4=cmdv4, cmdv4='/usr/local/bin/myip --v4'\nusev6=ifv6, ifv6=eth1\n\
                    protocol=dyndns2, login=a, password=p a.example.org\n";
        let import = super::import(conf, None, NOW);
        assert_eq!(
            import.ipv4_sources,
            Some(vec!["command:/usr/local/bin/myip --v4".to_owned()])
        );
        assert_eq!(import.ipv6_sources, Some(vec!["interface:eth1".to_owned()]));
        assert_eq!(import.records[0].family, Family::Both);

        let conf = "use=if, if=eth0, protocol=noip, login=a, password=p a.example.org\n\
                    use=web, web=ipify-ipv4, protocol=noip, login=a, password=p b.example.org\n\
                    use=ip, ip=192.0.2.1, protocol=noip, login=a, password=p c.example.org\n";
        let import = super::import(conf, None, NOW);
        assert_eq!(import.ipv4_sources, None);
        let got = problems(&import);
        assert!(
            got.iter()
                .any(|(l, r)| *l == 1 && r.contains("different ipv4")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|(l, r)| *l == 2 && r.contains("different ipv4")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|(l, r)| *l == 3 && r.contains("fixed address")),
            "{got:?}"
        );
    }

    #[test]
    fn cloudflare_duckdns_and_freedns_map_with_their_own_shapes() {
        let conf = "\
protocol=cloudflare, zone=example.org, login=token, password=cftoken
a.example.org
protocol=cloudflare, zone=example.org, login=me@example.org, password=globalkey
b.example.org
protocol=duckdns, password=duck myhost
protocol=freedns, login=f, password=fp f1.example.org,f2.example.org
";
        let import = super::import(conf, None, NOW);
        let cf = &import.accounts[0];
        assert_eq!(cf.account.provider, "cloudflare");
        assert_eq!(
            cf.account.settings.get("zone"),
            Some(&SettingValue::Text("example.org".into()))
        );
        assert_eq!(cf.secret.as_ref().map(Secret::expose), Some("cftoken"));
        assert!(
            problems(&import)
                .iter()
                .any(|(l, r)| *l == 3 && r.contains("global API key")),
            "{:?}",
            problems(&import)
        );
        assert!(
            import
                .records
                .iter()
                .any(|r| r.name == "myhost.duckdns.org")
        );
        let freedns: Vec<_> = import
            .accounts
            .iter()
            .filter(|a| a.account.provider == "freedns")
            .collect();
        assert_eq!(freedns.len(), 2, "one account per FreeDNS record");
        assert!(
            freedns
                .iter()
                .all(|a| a.secret.is_none() && a.secret_note.is_some())
        );
    }

    #[test]
    fn an_account_dyntray_refuses_is_listed_and_the_rest_imported() {
        let conf = "\
protocol=noip, login=a, password=p a.example.org
protocol=dyndns2, server=bad%host.example.net, login=b, password=p b.example.org
";
        let import = super::import(conf, None, NOW);
        let ids: Vec<_> = import
            .accounts
            .iter()
            .map(|a| a.account.id.as_str())
            .collect();
        assert_eq!(ids, ["noip"]);
        assert_eq!(import.records.len(), 1);
        assert!(!import.mappings.iter().any(|m| m.to.contains("dyndns2")));
        let got = problems(&import);
        assert!(
            got.iter()
                .any(|(l, r)| *l == 2 && r.contains("account dyndns2 not imported")),
            "{got:?}"
        );
    }

    #[test]
    fn bad_input_is_reported_never_a_panic() {
        for conf in [
            "password='unterminated\nhost.example.org\n",
            "login=\"open quote host.example.org\n",
            "login=a\\",
            "a b c d e\n",
            "=\n,,,\n\\\n'\n\"\n#\n",
            "protocol=dyndns2 bad/host!name\n",
            "\u{0}\u{ffff}password=\u{1F600}\n",
        ] {
            let _ = super::import(conf, Some(conf), NOW);
        }
        let conf = "login=\"open quote host.example.org\n";
        let got = problems(&super::import(conf, None, NOW));
        assert!(
            got.iter()
                .any(|(l, r)| *l == 1 && r.contains("unterminated")),
            "{got:?}"
        );
        let many = "password".repeat(MAX_LINE_CHARS);
        let got = problems(&super::import(&many, None, NOW));
        assert!(
            got.iter().any(|(_, r)| r.contains("longer than")),
            "{got:?}"
        );
        let huge = "a".repeat(MAX_LINE_CHARS + 1);
        let got = problems(&super::import(&huge, None, NOW));
        assert!(
            got.iter().any(|(_, r)| r.contains("longer than")),
            "{got:?}"
        );
    }

    #[test]
    fn the_cache_gives_each_good_host_its_last_address() {
        let conf =
            "protocol=dyndns2, login=a, password=p a.example.org,b.example.org,c.example.org\n";
        let cache = "\
## ddclient-3.10.0
## last updated at Sun Dec  6 10:00:00 2026 (1700000000)
atime=0,backupmx=0,host=a.example.org,ip=81.2.69.160,mtime=1699990000,status=good,wtime=0 a.example.org
host=b.example.org,ip=81.2.69.161,mtime=1699990000,status=failed b.example.org
host=c.example.org,ip=81.2.69.162,status=good c.example.org
host=z.example.org,ip=81.2.69.163,mtime=1699990000,status=good z.example.org
";
        let import = super::import(conf, Some(cache), NOW);
        assert_eq!(
            import.cached,
            [CachedAddress {
                key: "dyndns/a.example.org/A".into(),
                address: "81.2.69.160".parse().unwrap(),
                at: 1_699_990_000,
                line: 3,
            }]
        );
        let got: Vec<_> = import
            .problems
            .iter()
            .filter(|p| p.file == "cache")
            .map(|p| (p.line, p.reason.clone()))
            .collect();
        assert!(
            got.iter().any(|(l, r)| *l == 4 && r.contains("`failed`")),
            "{got:?}"
        );
        assert!(
            got.iter().any(|(l, r)| *l == 5 && r.contains("mtime")),
            "{got:?}"
        );

        let import = super::import(conf, Some("ip=1.2.3.4 a.example.org\n"), NOW);
        assert!(import.cached.is_empty());
        assert!(
            import
                .problems
                .iter()
                .any(|p| p.file == "cache" && p.reason.contains("not a ddclient cache"))
        );
    }
}
