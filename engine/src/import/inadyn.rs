//! inadyn's config (`/etc/inadyn.conf`, libConfuse syntax) and cache
//! (`/var/cache/inadyn/<hostname>.cache`).
//!
//! The config is `key = value` settings, lists `key = { "a", "b" }`, and sections
//! `provider NAME[:ID] { … }` and `custom NAME { … }`; `#` and `//` comment to the end of
//! the line, `/* … */` comments a span; values are bare words or quoted strings (`"…"` with
//! `\` escapes, `'…'` as written). Each section becomes one ddclient-like host entry per
//! host name and goes through the same mapping as ddclient's (so both clients' providers
//! map the same way), in inadyn's own words in the table.
//!
//! inadyn writes one cache file per host name after a successful update: the address it
//! sent, and the file's modification time says when.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::ddclient::{FROM, HostEntry, Value, Vars, map_hosts};
use super::{CachedAddress, Import, Mapping, Unmapped};
use crate::config::Family;
use crate::provider::IpFamily;
use crate::state::Timestamp;

/// Where inadyn reads its config unless told otherwise.
pub const DEFAULT_CONFIG: &str = "/etc/inadyn.conf";
/// Where inadyn keeps its cache files unless told otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/inadyn";

/// Tokens beyond this many are not read.
const MAX_TOKENS: usize = 200_000;

/// inadyn's provider names (`default@NAME`, or `NAME` alone) and what each is in ddclient's
/// words: `(protocol, server)`.
const PROVIDERS: &[(&str, &str, &str)] = &[
    ("dyndns.org", "dyndns2", "members.dyndns.org"),
    ("no-ip.com", "noip", ""),
    ("noip.com", "noip", ""),
    ("changeip.com", "changeip", ""),
    ("cloudflare.com", "cloudflare", ""),
    ("duckdns.org", "duckdns", ""),
    ("freedns.afraid.org", "freedns", ""),
    ("ovh.com", "ovh", ""),
    ("dynu.com", "dyndns2", "api.dynu.com"),
    ("selfhost.de", "dyndns2", "carol.selfhost.de"),
    ("spdyn.de", "dyndns2", "update.spdyn.de"),
    ("strato.com", "dyndns2", "dyndns.strato.com"),
    ("loopia.com", "dyndns2", "dns.loopia.se"),
    ("loopia", "dyndns2", "dns.loopia.se"),
    ("dnsomatic.com", "dyndns2", "updates.dnsomatic.com"),
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    LBrace,
    RBrace,
    Eq,
    Comma,
    Other(char),
}

/// Splits the text into tokens with their lines; a problem stops the reading.
fn tokens(text: &str, problems: &mut Vec<Unmapped>) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let bad = |line, reason: &str| Unmapped {
        file: "config",
        line,
        reason: format!("{reason}; the rest of the file is not read"),
    };
    while i < chars.len() {
        if out.len() >= MAX_TOKENS {
            problems.push(bad(line, "too many words"));
            break;
        }
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => {
                            problems.push(bad(start, "a /* comment is never closed"));
                            return out;
                        }
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some('\n') => {
                            line += 1;
                            i += 1;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            '{' | '}' | '=' | ',' | '(' | ')' | '+' => {
                let token = match c {
                    '{' => Token::LBrace,
                    '}' => Token::RBrace,
                    '=' => Token::Eq,
                    ',' => Token::Comma,
                    other => Token::Other(other),
                };
                out.push((token, line));
                i += 1;
            }
            '"' | '\'' => {
                let start = line;
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            problems.push(bad(start, "a quoted value is never closed"));
                            return out;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some('\\') if c == '"' => {
                            if let Some(&next) = chars.get(i + 1) {
                                value.push(match next {
                                    'n' => '\n',
                                    't' => '\t',
                                    other => other,
                                });
                            }
                            i += 2;
                        }
                        Some(&other) => {
                            if other == '\n' {
                                line += 1;
                            }
                            value.push(other);
                            i += 1;
                        }
                    }
                }
                out.push((Token::Word(value), start));
            }
            _ => {
                let mut value = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || "{}=,()+#\"'".contains(ch) {
                        break;
                    }
                    value.push(ch);
                    i += 1;
                }
                out.push((Token::Word(value), line));
            }
        }
    }
    out
}

/// A setting's value: one word, or a list.
#[derive(Debug, Clone)]
enum Setting {
    One(String),
    List(Vec<String>),
}

/// One `provider` or `custom` section.
#[derive(Debug)]
struct Section {
    kind: String,
    title: String,
    line: usize,
    settings: Vec<(String, Setting, usize)>,
}

/// The file: its top-level settings and its sections.
#[derive(Debug, Default)]
struct File {
    globals: Vec<(String, Setting, usize)>,
    sections: Vec<Section>,
}

/// Reads `key = value`, `key = { … }` at `pos`; `None` when the tokens are not one.
fn setting(toks: &[(Token, usize)], pos: &mut usize) -> Result<(String, Setting, usize), usize> {
    let (Some((Token::Word(key), line)), Some((Token::Eq, _))) =
        (toks.get(*pos), toks.get(*pos + 1))
    else {
        return Err(toks.get(*pos).map_or(0, |t| t.1));
    };
    *pos += 2;
    match toks.get(*pos) {
        Some((Token::Word(value), _)) => {
            *pos += 1;
            Ok((key.clone(), Setting::One(value.clone()), *line))
        }
        Some((Token::LBrace, _)) => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                match toks.get(*pos) {
                    Some((Token::Word(v), _)) => items.push(v.clone()),
                    Some((Token::Comma, _)) => {}
                    Some((Token::RBrace, _)) => {
                        *pos += 1;
                        return Ok((key.clone(), Setting::List(items), *line));
                    }
                    _ => return Err(*line),
                }
                *pos += 1;
            }
        }
        _ => Err(*line),
    }
}

fn parse(text: &str, problems: &mut Vec<Unmapped>) -> File {
    let toks = tokens(text, problems);
    let mut file = File::default();
    let mut pos = 0;
    let stop = |problems: &mut Vec<Unmapped>, line: usize| {
        problems.push(Unmapped {
            file: "config",
            line,
            reason: "not inadyn's syntax here; the rest of the file is not read".into(),
        });
    };
    while pos < toks.len() {
        match (toks.get(pos), toks.get(pos + 1), toks.get(pos + 2)) {
            (
                Some((Token::Word(kind), line)),
                Some((Token::Word(title), _)),
                Some((Token::LBrace, _)),
            ) => {
                let mut section = Section {
                    kind: kind.clone(),
                    title: title.clone(),
                    line: *line,
                    settings: Vec::new(),
                };
                pos += 3;
                loop {
                    match toks.get(pos) {
                        Some((Token::RBrace, _)) => {
                            pos += 1;
                            break;
                        }
                        None => {
                            stop(problems, *line);
                            file.sections.push(section);
                            return file;
                        }
                        Some(_) => match setting(&toks, &mut pos) {
                            Ok(s) => section.settings.push(s),
                            Err(at) => {
                                stop(problems, at);
                                file.sections.push(section);
                                return file;
                            }
                        },
                    }
                }
                file.sections.push(section);
            }
            (Some((Token::Word(word), line)), Some((Token::Other('('), _)), _) => {
                problems.push(Unmapped {
                    file: "config",
                    line: *line,
                    reason: format!(
                        "`{word}(…)`: included files are not read; import each one by itself"
                    ),
                });
                // Skip to the closing parenthesis.
                while pos < toks.len() && toks[pos].0 != Token::Other(')') {
                    pos += 1;
                }
                pos += 1;
            }
            _ => match setting(&toks, &mut pos) {
                Ok(s) => file.globals.push(s),
                Err(at) => {
                    stop(problems, at);
                    return file;
                }
            },
        }
    }
    file
}

fn one(vars: &mut Vars, key: &str, text: impl Into<String>, line: usize) {
    vars.insert(
        key.to_owned(),
        Value {
            text: text.into(),
            line,
        },
    );
}

/// The address source a section's (or the file's) settings name, in ddclient's words.
fn source(settings: &[(String, Setting, usize)], vars: &mut Vars) {
    let get = |key: &str| {
        settings.iter().find_map(|(k, v, l)| match v {
            Setting::One(v) if k == key => Some((v.clone(), *l)),
            _ => None,
        })
    };
    if let Some((cmd, line)) = get("checkip-command") {
        one(vars, "use", "cmd", line);
        one(vars, "cmd", cmd, line);
    } else if let Some((server, line)) = get("checkip-server") {
        let path = get("checkip-path").map_or_else(|| "/".to_owned(), |(p, _)| p);
        one(vars, "use", "web", line);
        one(vars, "web", format!("https://{server}{path}"), line);
    } else if let Some((iface, line)) = get("iface") {
        one(vars, "use", "if", line);
        one(vars, "if", iface, line);
    }
}

/// Settings read into the mapping; every other one is listed as not imported.
const USED: &[&str] = &[
    "username",
    "password",
    "hostname",
    "wildcard",
    "ssl",
    "checkip-command",
    "checkip-server",
    "checkip-path",
    "checkip-ssl",
    "iface",
    "ddns-server",
    "ddns-path",
];

/// Reads inadyn's config `text`. `cache` gives, for a host name, the contents of its cache
/// file and that file's modification time. `now` bounds the cache's times.
pub fn import(
    text: &str,
    cache: &dyn Fn(&str) -> Option<(String, Timestamp)>,
    now: Timestamp,
) -> Import {
    let mut out = Import::default();
    let file = parse(text, &mut out.problems);
    let mut globals = Vars::new();
    source(&file.globals, &mut globals);
    for (key, _, line) in &file.globals {
        if key != "iface" && !key.starts_with("checkip-") {
            out.problems.push(Unmapped {
                file: "config",
                line: *line,
                reason: format!("`{key}`: no Dyntray counterpart; not imported"),
            });
        }
    }
    let mut hosts: Vec<HostEntry> = Vec::new();
    for section in &file.sections {
        let Some(vars) = section_vars(section, &globals, &mut out.problems) else {
            continue;
        };
        let names: Vec<String> = section
            .settings
            .iter()
            .filter(|(k, _, _)| k == "hostname")
            .flat_map(|(_, v, _)| match v {
                Setting::One(v) => vec![v.clone()],
                Setting::List(vs) => vs.clone(),
            })
            .collect();
        if names.is_empty() {
            out.problems.push(Unmapped {
                file: "config",
                line: section.line,
                reason: format!(
                    "{} {}: no hostname; not imported",
                    section.kind, section.title
                ),
            });
        }
        for name in names {
            if hosts.len() >= super::MAX_HOSTS {
                out.problems.push(Unmapped {
                    file: "config",
                    line: section.line,
                    reason: format!("more than {} hosts; the rest is not read", super::MAX_HOSTS),
                });
                break;
            }
            hosts.push(HostEntry {
                host: name,
                line: section.line,
                vars: vars.clone(),
            });
        }
    }
    let originals = map_hosts(&hosts, &mut out);
    read_cache(cache, &originals, now, &mut out);
    out.drop_invalid();
    out.problems.sort_by_key(|p| (p.file, p.line));
    out.problems.dedup();
    out
}

/// A section in ddclient's words, or `None` (with the reason listed) when Dyntray has no
/// provider for it.
fn section_vars(section: &Section, globals: &Vars, problems: &mut Vec<Unmapped>) -> Option<Vars> {
    let mut vars = globals.clone();
    let line = section.line;
    let get = |key: &str| {
        section.settings.iter().find_map(|(k, v, l)| match v {
            Setting::One(v) if k == key => Some((v.clone(), *l)),
            _ => None,
        })
    };
    for (key, _, at) in &section.settings {
        if !USED.contains(&key.as_str()) {
            problems.push(Unmapped {
                file: "config",
                line: *at,
                reason: format!("`{key}`: no Dyntray counterpart; not imported"),
            });
        }
    }
    source(&section.settings, &mut vars);
    let (username, password) = (get("username"), get("password"));
    match section.kind.as_str() {
        "provider" => {
            let name = section.title.split(':').next().unwrap_or("");
            let name = name.rsplit('@').next().unwrap_or(name).to_ascii_lowercase();
            let Some(&(_, protocol, server)) = PROVIDERS.iter().find(|(n, _, _)| *n == name) else {
                problems.push(Unmapped {
                    file: "config",
                    line,
                    reason: format!(
                        "provider {}: Dyntray has no provider for it (or inadyn knows it under \
                         another name)",
                        section.title
                    ),
                });
                return None;
            };
            one(&mut vars, "protocol", protocol, line);
            if !server.is_empty() {
                one(&mut vars, "server", server, line);
                one(&mut vars, "ssl", "yes", line);
            }
            match protocol {
                // inadyn: username = the zone, password = the API token.
                "cloudflare" => {
                    if let Some((zone, at)) = &username {
                        one(&mut vars, "zone", zone.clone(), *at);
                    }
                    one(&mut vars, "login", "token", line);
                    if let Some((token, at)) = &password {
                        one(&mut vars, "password", token.clone(), *at);
                    }
                }
                // inadyn: username = the token, the password unused.
                "duckdns" => {
                    if let Some((token, at)) = &username {
                        one(&mut vars, "password", token.clone(), *at);
                    }
                }
                _ => {
                    if let Some((login, at)) = &username {
                        one(&mut vars, "login", login.clone(), *at);
                    }
                    if let Some((password, at)) = &password {
                        one(&mut vars, "password", password.clone(), *at);
                    }
                }
            }
        }
        "custom" => {
            let Some((server, at)) = get("ddns-server") else {
                problems.push(Unmapped {
                    file: "config",
                    line,
                    reason: format!("custom {}: no ddns-server; not imported", section.title),
                });
                return None;
            };
            let path = get("ddns-path").map(|(p, _)| p).unwrap_or_default();
            if !path.starts_with("/nic/update") {
                problems.push(Unmapped {
                    file: "config",
                    line: get("ddns-path").map_or(at, |(_, l)| l),
                    reason: format!(
                        "custom {}: ddns-path `{path}` is not a dyndns2 update (/nic/update); \
                         Dyntray's custom provider speaks dyndns2 only",
                        section.title
                    ),
                });
                return None;
            }
            one(&mut vars, "protocol", "dyndns2", line);
            one(&mut vars, "server", server, at);
            if let Some((login, at)) = &username {
                one(&mut vars, "login", login.clone(), *at);
            }
            if let Some((password, at)) = &password {
                one(&mut vars, "password", password.clone(), *at);
            }
        }
        other => {
            problems.push(Unmapped {
                file: "config",
                line,
                reason: format!("`{other} {}`: not an inadyn section", section.title),
            });
            return None;
        }
    }
    if let Some((wildcard, at)) = get("wildcard") {
        one(&mut vars, "wildcard", wildcard, at);
    }
    if let Some((ssl, at)) = get("ssl") {
        one(&mut vars, "ssl", ssl, at);
    }
    one(
        &mut vars,
        FROM,
        format!("{} {}", section.kind, section.title),
        line,
    );
    Some(vars)
}

fn read_cache(
    cache: &dyn Fn(&str) -> Option<(String, Timestamp)>,
    originals: &[String],
    now: Timestamp,
    out: &mut Import,
) {
    let mut found: BTreeMap<String, (IpAddr, Timestamp)> = BTreeMap::new();
    for host in originals {
        let Some((text, at)) = cache(host) else {
            continue;
        };
        match text.trim().parse::<IpAddr>() {
            Ok(address) if at > 0 && at <= now.saturating_add(86_400) => {
                found.insert(host.clone(), (address, at));
            }
            Ok(_) => out.problems.push(Unmapped {
                file: "cache",
                line: 0,
                reason: format!("{host}.cache: its time is not plausible; not imported"),
            }),
            Err(_) => out.problems.push(Unmapped {
                file: "cache",
                line: 0,
                reason: format!("{host}.cache: not an address; not imported"),
            }),
        }
    }
    for (record, host) in out.records.iter().zip(originals) {
        let Some(&(address, at)) = found.get(host) else {
            continue;
        };
        let family = IpFamily::of(address);
        let fits = match record.family {
            Family::A => family == IpFamily::V4,
            Family::Aaaa => family == IpFamily::V6,
            Family::Both => true,
        };
        if !fits {
            continue;
        }
        let key = crate::engine::record_key(&record.account, &record.name, family);
        out.mappings.push(Mapping {
            line: 0,
            from: format!("cache: {host}.cache {address}"),
            to: format!("{key} last accepted {address}"),
        });
        out.cached.push(CachedAddress {
            key,
            address,
            at,
            line: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SettingValue;
    use crate::secrets::Secret;

    const NOW: Timestamp = 1_800_000_000;

    fn no_cache(_: &str) -> Option<(String, Timestamp)> {
        None
    }

    #[test]
    fn providers_lists_comments_and_quotes() {
        let conf = r#"
# global
period = 300
iface = eth0
/* a block
   comment */
provider default@dyndns.org {
    username = alice   // trailing comment
    password = "p#ss \"w\""
    hostname = { "a.example.org", b.example.org }
    wildcard = true
}
provider no-ip.com:2 {
    username = bob
    password = 'x#y'
    hostname = c.example.org
}
provider cloudflare.com {
    username = example.org
    password = cf-token
    hostname = d.example.org
}
provider duckdns.org {
    username = duck-token
    password = noPasswordForDuckdns
    hostname = e.duckdns.org
}
provider zoneedit.com { username = z password = p hostname = z.example.org }
custom mine {
    username = u
    password = p
    ddns-server = dyn.example.net
    ddns-path = "/nic/update?hostname=%h"
    hostname = f.example.org
}
custom other { ddns-server = x.example.net ddns-path = "/update?h=%h" hostname = g.example.org }
"#;
        let import = import(conf, &no_cache, NOW);
        let accounts: Vec<_> = import
            .accounts
            .iter()
            .map(|a| {
                (
                    a.account.provider.as_str(),
                    a.account.username.as_str(),
                    a.secret.as_ref().map(Secret::expose),
                )
            })
            .collect();
        assert_eq!(
            accounts,
            [
                ("dyndns", "alice", Some("p#ss \"w\"")),
                ("noip", "bob", Some("x#y")),
                ("cloudflare", "", Some("cf-token")),
                ("duckdns", "", Some("duck-token")),
                ("dyndns2", "u", Some("p")),
            ]
        );
        assert_eq!(
            import.accounts[2].account.settings.get("zone"),
            Some(&SettingValue::Text("example.org".into()))
        );
        assert_eq!(
            import.accounts[4].account.server.as_deref(),
            Some("https://dyn.example.net")
        );
        let names: Vec<_> = import.records.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.example.org",
                "b.example.org",
                "c.example.org",
                "d.example.org",
                "e.duckdns.org",
                "f.example.org"
            ]
        );
        assert_eq!(import.records[0].wildcard, Some(true));
        assert_eq!(import.ipv4_sources, Some(vec!["interface:eth0".to_owned()]));
        let problems: Vec<_> = import
            .problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        assert!(
            problems
                .iter()
                .any(|(l, r)| *l == 3 && r.contains("`period`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(l, r)| *l == 28 && r.contains("provider zoneedit.com")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(l, r)| *l == 36 && r.contains("not a dyndns2 update")),
            "{problems:?}"
        );
    }

    #[test]
    fn the_cache_files_give_the_last_addresses() {
        let conf = "provider dyndns.org { username = a password = p hostname = { h1.example.org, h2.example.org } }";
        let cache = |host: &str| match host {
            "h1.example.org" => Some(("81.2.69.160\n".to_owned(), NOW - 60)),
            "h2.example.org" => Some(("garbage".to_owned(), NOW - 60)),
            _ => None,
        };
        let import = import(conf, &cache, NOW);
        assert_eq!(import.cached.len(), 1);
        assert_eq!(import.cached[0].key, "dyndns/h1.example.org/A");
        assert!(
            import
                .problems
                .iter()
                .any(|p| p.reason.contains("h2.example.org.cache"))
        );
    }

    #[test]
    fn bad_input_is_reported_never_a_panic() {
        for conf in [
            "provider x {",
            "provider dyndns.org { username = ",
            "a = \"open",
            "/* open",
            "= = = { } } {",
            "include(\"/etc/other.conf\")\nprovider",
            "\u{0}\u{ffff}'",
        ] {
            let import = import(conf, &no_cache, NOW);
            assert!(!import.problems.is_empty(), "{conf}");
        }
    }
}
