//! The dyndns2 protocol family (DynDNS's "Members NIC Update API"), written once.
//!
//! `GET <server>/nic/update?hostname=a,b&myip=1.2.3.4` with HTTP Basic auth and the
//! client's User-Agent; the answer is one line per host, in request order (`good <ip>`,
//! `nochg <ip>`, or a code), or one account-level line for the whole request.

use std::net::IpAddr;
use std::time::Duration;

use super::http::Failure;
use super::{
    Cure, Outcome, Publish, Refusal, Scope, UpdateItem, UpdateRequest, Verdict, first_line,
    truncate,
};

/// The most bytes of an answer that are read; a longer answer is a protocol error.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What differs between servers of the family.
#[derive(Debug, Clone, Copy)]
pub struct Quirks {
    /// The query parameter carrying the address (`myip`; ChangeIP documents `ip`).
    pub address_param: &'static str,
    /// The HTTP status carries meaning of its own (ChangeIP: 402, 422).
    pub status_codes: &'static [(u16, StatusMeaning)],
    /// The update path below the server (`/nic/update`).
    pub path: &'static str,
    /// Fixed query parameters the server wants (OVH: `system=dyndns`).
    pub query: &'static [(&'static str, &'static str)],
    /// How an IPv6 address travels.
    pub ipv6: Ipv6Style,
    /// The server for IPv6 updates when the family is chosen by the server's name
    /// (nsupdate.info, ipv64): used when the account keeps the provider's own server.
    pub ipv6_server: Option<&'static str>,
    /// Whether the record options (`wildcard`, `mx`, `backmx`) are sent at all.
    pub options: bool,
    /// Answer words that mean "too often" (HE's `interval`): waited out, never disabling.
    pub too_often: &'static [&'static str],
    /// The server answers errors with a 4xx status and a dyndns2 word in the body
    /// (Infomaniak: HTTP 400 `nohost`); the word decides.
    pub words_on_client_errors: bool,
}

/// How a server takes an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Style {
    /// In the address parameter, like IPv4.
    Same,
    /// In a parameter of its own (`myipv6`); what the IPv4 parameter says meanwhile.
    Own {
        /// The parameter (`myipv6`).
        param: &'static str,
        /// The IPv4 parameter on an IPv6 update.
        ipv4: OtherFamily,
    },
}

/// What an update of one family says about the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherFamily {
    /// Nothing.
    Omit,
    /// This word (Dynu: `myip=no` leaves the IPv4 address alone).
    Word(&'static str),
    /// The address in force: the server would overwrite or delete a family left out
    /// (INWX). Both parameters are sent on every update.
    Both,
}

/// The standard dyndns2 behaviour.
pub const STANDARD: Quirks = Quirks {
    address_param: "myip",
    status_codes: &[],
    path: "/nic/update",
    query: &[],
    ipv6: Ipv6Style::Same,
    ipv6_server: None,
    options: true,
    too_often: &[],
    words_on_client_errors: false,
};

/// What a provider-specific HTTP status means.
#[derive(Debug, Clone, Copy)]
pub struct StatusMeaning {
    /// The code shown and stored.
    pub code: &'static str,
    /// Who it applies to.
    pub scope: Scope,
    /// What the user should do.
    pub advice: &'static str,
}

/// Builds the update URL (without credentials: those go in the Authorization header).
pub fn update_url(request: &UpdateRequest, quirks: &Quirks) -> Result<reqwest::Url, String> {
    let v6 = matches!(request.publish, Publish::Address(IpAddr::V6(_)));
    let server = match quirks.ipv6_server {
        Some(v6_server) if v6 && request.default_server => v6_server,
        _ => request.server.as_str(),
    };
    let base = server.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}{}", quirks.path))
        .map_err(|e| format!("bad server URL {:?}: {e}", request.server))?;
    let names: Vec<&str> = request.items.iter().map(|i| i.name.as_str()).collect();
    {
        let mut query = url.query_pairs_mut();
        for (key, value) in quirks.query {
            query.append_pair(key, value);
        }
        query.append_pair("hostname", &names.join(","));
        match (request.publish, quirks.ipv6) {
            (Publish::Address(IpAddr::V6(v6)), Ipv6Style::Own { param, ipv4 }) => {
                match (ipv4, request.other_family) {
                    (OtherFamily::Word(word), _) => {
                        query.append_pair(quirks.address_param, word);
                    }
                    (OtherFamily::Both, Some(v4 @ IpAddr::V4(_))) => {
                        query.append_pair(quirks.address_param, &v4.to_string());
                    }
                    (OtherFamily::Both, _) => {
                        return Err(MISSING_IPV4.to_owned());
                    }
                    (OtherFamily::Omit, _) => {}
                }
                query.append_pair(param, &v6.to_string());
            }
            (Publish::Address(address), ipv6) => {
                query.append_pair(quirks.address_param, &address.to_string());
                // A server that loses the family left out gets the one in force too.
                if let Ipv6Style::Own {
                    param,
                    ipv4: OtherFamily::Both,
                } = ipv6
                    && let Some(v6 @ IpAddr::V6(_)) = request.other_family
                {
                    query.append_pair(param, &v6.to_string());
                }
            }
            (Publish::Offline, _) => {
                query.append_pair("offline", "YES");
            }
        }
        if !quirks.options {
            drop(query);
            return Ok(url);
        }
        let wildcard = match request.options.wildcard {
            Some(true) => "ON",
            Some(false) => "OFF",
            None => "NOCHG",
        };
        query.append_pair("wildcard", wildcard);
        query.append_pair("mx", request.options.mx.as_deref().unwrap_or("NOCHG"));
        if let Some(backup) = request.options.backup_mx {
            query.append_pair("backmx", if backup { "YES" } else { "NO" });
        }
    }
    Ok(url)
}

pub use super::http::transport_allowed;

/// Why an IPv6 update to a server that needs both families cannot go yet.
const MISSING_IPV4: &str = "this provider needs the IPv4 address in the same request as the \
                            IPv6 one, and none is known yet";

/// Sends the request and classifies the answer for each item.
pub async fn update(
    http: &reqwest::Client,
    request: &UpdateRequest,
    quirks: &Quirks,
) -> Vec<Outcome> {
    let items = &request.items;
    let url = match update_url(request, quirks) {
        Ok(url) => url,
        Err(e) if e == MISSING_IPV4 => {
            // Nothing left the machine: tried again at the next check, when the IPv4
            // address may be known.
            return Outcome::for_all(
                items,
                Verdict::Transient {
                    retry_after: None,
                    reached: false,
                },
                "needs-ipv4",
                &e,
                None,
            );
        }
        Err(e) => {
            return Outcome::for_all(
                items,
                Verdict::Fatal {
                    scope: Scope::Account,
                },
                "bad-server",
                &e,
                Some("Fix the account's update server URL."),
            );
        }
    };
    if !transport_allowed(&url, request.allow_plain_http) {
        return Outcome::for_all(
            items,
            Verdict::Fatal {
                scope: Scope::Account,
            },
            "insecure-server",
            &format!("refusing to send credentials over {}", url.scheme()),
            Some("Use an https:// server URL: credentials travel only over HTTPS."),
        );
    }
    let sent = match request.publish {
        Publish::Address(address) => Some(address),
        Publish::Offline => None,
    };
    // The kit: User-Agent, time-out, the answer capped and scrubbed of the credentials.
    let api = super::http::Api::new(http, request);
    let builder = api
        .build(reqwest::Method::GET, url)
        .basic_auth(&request.username, Some(request.secret.expose()));
    let answer = match api.send_capped(builder, MAX_ANSWER_BYTES).await {
        Ok(answer) => answer,
        Err(Failure::TooLarge(status)) => {
            return Outcome::for_all(
                items,
                Verdict::Protocol,
                "too-large",
                &format!("answer longer than {MAX_ANSWER_BYTES} bytes (HTTP {status})"),
                None,
            );
        }
        Err(Failure::Network {
            code,
            reached,
            text,
        }) => {
            return Outcome::for_all(
                items,
                Verdict::Transient {
                    retry_after: None,
                    reached,
                },
                code,
                &text,
                None,
            );
        }
        Err(other) => {
            return Outcome::for_all(items, Verdict::Protocol, "protocol", &other.text(), None);
        }
    };
    if answer.status == 429 {
        // Too many requests: the longer of its Retry-After and half an hour; never fatal.
        return Outcome::for_all(
            items,
            super::http::Class::RateLimited(answer.retry_after).verdict(),
            "http-429",
            &answer.shown(),
            None,
        );
    }
    classify(items, answer.status, &answer.body, sent, quirks)
}

/// Classifies an answer (status and body) for the request's items, in order.
pub fn classify(
    items: &[UpdateItem],
    status: u16,
    body: &str,
    sent: Option<IpAddr>,
    quirks: &Quirks,
) -> Vec<Outcome> {
    let first_line = first_line(body);
    if let Some((_, meaning)) = quirks.status_codes.iter().find(|(code, _)| *code == status) {
        return Outcome::for_all(
            items,
            Verdict::Fatal {
                scope: meaning.scope,
            },
            meaning.code,
            &format!("HTTP {status}: {first_line}"),
            Some(meaning.advice),
        );
    }
    // Some servers answer a refusal with a 4xx status and the dyndns2 word in the body.
    let word_in_body = quirks.words_on_client_errors
        && (400..500).contains(&status)
        && body
            .split_whitespace()
            .next()
            .is_some_and(|w| REFUSALS.iter().any(|r| r.code == w) || w == "911");
    let status = if word_in_body { 200 } else { status };
    match status {
        401 | 403 => {
            return Outcome::for_all(
                items,
                Verdict::Fatal {
                    scope: Scope::Account,
                },
                &format!("http-{status}"),
                &format!("HTTP {status}: {first_line}"),
                Some(advice("badauth").unwrap_or_default()),
            );
        }
        500..=599 => {
            return Outcome::for_all(
                items,
                Verdict::Transient {
                    retry_after: None,
                    reached: true,
                },
                &format!("http-{status}"),
                &format!("HTTP {status}: {first_line}"),
                None,
            );
        }
        200..=299 => {}
        _ => {
            return Outcome::for_all(
                items,
                Verdict::Protocol,
                &format!("http-{status}"),
                &format!("HTTP {status}: {first_line}"),
                None,
            );
        }
    }

    let lines: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() == items.len() {
        return items
            .iter()
            .zip(&lines)
            .map(|(item, line)| classify_line(item, line, sent, quirks))
            .collect();
    }
    // One line for a multi-host request: an account- or system-level answer applies to
    // every host.
    if lines.len() == 1 {
        let word = lines[0].split_whitespace().next().unwrap_or_default();
        if ACCOUNT_WIDE.contains(&word) || items.len() == 1 {
            return items
                .iter()
                .map(|item| classify_line(item, lines[0], sent, quirks))
                .collect();
        }
    }
    let shown = if lines.is_empty() {
        "(empty answer)".to_owned()
    } else {
        format!(
            "{} answer line(s) for {} name(s): {first_line}",
            lines.len(),
            items.len()
        )
    };
    Outcome::for_all(items, Verdict::Protocol, "protocol", &shown, None)
}

/// Codes a server may send once for the whole request.
const ACCOUNT_WIDE: &[&str] = &[
    "badauth", "!donator", "badagent", "abuse", "911", "dnserr", "badsys",
];

/// Classifies one answer line for one item. Words are matched whole, never by substring.
fn classify_line(item: &UpdateItem, line: &str, sent: Option<IpAddr>, quirks: &Quirks) -> Outcome {
    let mut words = line.split_whitespace();
    let word = words.next().unwrap_or_default();
    let rest: Vec<&str> = words.collect();
    let outcome = |verdict: Verdict, code: &str| Outcome {
        record: item.record.clone(),
        verdict,
        code: code.to_owned(),
        answer: truncate(line),
        advice: advice(code).map(str::to_owned),
    };
    let fatal = |scope| Verdict::Fatal { scope };
    if quirks.too_often.contains(&word) {
        // Too frequent: waited out (at least the engine's half hour), never disabling.
        return outcome(
            Verdict::Transient {
                retry_after: Some(super::http::MIN_RATE_LIMIT_WAIT),
                reached: true,
            },
            word,
        );
    }
    match word {
        "good" | "nochg" => {
            // The echo may name both families, comma-joined (`good 1.2.3.4,2001:db8::1`);
            // only one of the sent address's family must match it.
            let echoed = rest.first().map(|list| {
                list.split(',')
                    .map(str::parse::<IpAddr>)
                    .collect::<Result<Vec<IpAddr>, _>>()
            });
            let wrong = |echoed: &[IpAddr], sent: IpAddr| {
                let same: Vec<&IpAddr> = echoed
                    .iter()
                    .filter(|a| a.is_ipv4() == sent.is_ipv4())
                    .collect();
                !same.is_empty() && !same.contains(&&sent)
            };
            match (echoed, sent) {
                (Some(Err(_)), _) => outcome(Verdict::Protocol, "protocol"),
                (Some(Ok(echoed)), Some(sent)) if wrong(&echoed, sent) => Outcome {
                    advice: None,
                    answer: format!("{} (sent {sent})", truncate(line)),
                    ..outcome(Verdict::Protocol, "wrong-address")
                },
                _ if word == "good" => outcome(Verdict::Success, "good"),
                _ => outcome(Verdict::NoChange, "nochg"),
            }
        }
        "badauth" | "badagent" | "badsys" => outcome(fatal(Scope::Account), word),
        "!donator" | "notfqdn" | "nohost" | "numhost" | "abuse" | "!yours" | "!active" => {
            outcome(fatal(Scope::Record), word)
        }
        "dnserr" | "911" => outcome(
            Verdict::Transient {
                retry_after: None,
                reached: true,
            },
            word,
        ),
        _ => match parse_wait(word) {
            Some(wait) => outcome(
                Verdict::Transient {
                    retry_after: Some(wait),
                    reached: true,
                },
                "wait",
            ),
            None => outcome(Verdict::Protocol, "protocol"),
        },
    }
}

/// The legacy `wNNN[s|m|h]` "wait this long" answer.
fn parse_wait(word: &str) -> Option<Duration> {
    let digits = word.strip_prefix('w')?;
    let (number, unit) = match digits.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => digits.split_at(i),
        None => (digits, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" | "" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

/// The dyndns2 family's refusals: what each means for the user and what cures it.
pub const REFUSALS: &[Refusal] = &[
    Refusal {
        code: "badauth",
        cure: Cure::Secret,
        advice: "The provider rejected the username or password (or update key). Enter them \
                 again in Settings.",
    },
    Refusal {
        code: "http-401",
        cure: Cure::Secret,
        advice: "The provider rejected the username or password (or update key). Enter them \
                 again in Settings.",
    },
    Refusal {
        code: "http-403",
        cure: Cure::Secret,
        advice: "The provider rejected the username or password (or update key). Enter them \
                 again in Settings.",
    },
    Refusal {
        code: "!donator",
        cure: Cure::Settings,
        advice: "This option needs a paid account at the provider. Remove it from the record \
                 (for example the offline mode) or upgrade the account.",
    },
    Refusal {
        code: "notfqdn",
        cure: Cure::Settings,
        advice: "The name is not a fully qualified domain name. Correct it in the record.",
    },
    Refusal {
        code: "nohost",
        cure: Cure::Provider,
        advice: "This name does not exist in the account. Check its spelling, or create it at \
                 the provider first.",
    },
    Refusal {
        code: "numhost",
        cure: Cure::Provider,
        advice: "Too many names in one request, or a round-robin name the protocol cannot \
                 update. Check the name at the provider.",
    },
    Refusal {
        code: "abuse",
        cure: Cure::Provider,
        advice: "The provider blocked this name for abuse. Unblock it on the provider's \
                 website, then re-enable the record here.",
    },
    Refusal {
        code: "badagent",
        cure: Cure::Provider,
        advice: "The provider refused this client. Update Dyntray; if it persists, report it.",
    },
    Refusal {
        code: "badsys",
        cure: Cure::Provider,
        advice: "The provider refused this client. Update Dyntray; if it persists, report it.",
    },
    Refusal {
        code: "!yours",
        cure: Cure::Settings,
        advice: "This name belongs to another account at the provider.",
    },
    Refusal {
        code: "!active",
        cure: Cure::Provider,
        advice: "The provider's service for this name is not active. Activate it there.",
    },
];

/// What the user should do about a dyndns2 refusal.
pub fn advice(code: &str) -> Option<&'static str> {
    REFUSALS.iter().find(|r| r.code == code).map(|r| r.advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<UpdateItem> {
        (0..n)
            .map(|i| UpdateItem {
                record: format!("r{i}"),
                name: format!("h{i}.example.org"),
            })
            .collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn one(status: u16, body: &str) -> Outcome {
        classify(&items(1), status, body, ip("203.0.113.7"), &STANDARD).remove(0)
    }

    #[test]
    fn every_dyndns2_answer_is_classified() {
        let fatal_record = Verdict::Fatal {
            scope: Scope::Record,
        };
        let fatal_account = Verdict::Fatal {
            scope: Scope::Account,
        };
        let transient = Verdict::Transient {
            retry_after: None,
            reached: true,
        };
        let cases = [
            ("good 203.0.113.7", Verdict::Success, "good"),
            ("good", Verdict::Success, "good"),
            ("nochg 203.0.113.7", Verdict::NoChange, "nochg"),
            ("good 198.51.100.1", Verdict::Protocol, "wrong-address"),
            ("good banana", Verdict::Protocol, "protocol"),
            ("badauth", fatal_account.clone(), "badauth"),
            ("!donator", fatal_record.clone(), "!donator"),
            ("notfqdn", fatal_record.clone(), "notfqdn"),
            ("nohost", fatal_record.clone(), "nohost"),
            ("numhost", fatal_record.clone(), "numhost"),
            ("abuse", fatal_record.clone(), "abuse"),
            ("badagent", fatal_account.clone(), "badagent"),
            ("badsys", fatal_account.clone(), "badsys"),
            ("!yours", fatal_record.clone(), "!yours"),
            ("!active", fatal_record.clone(), "!active"),
            ("dnserr", transient.clone(), "dnserr"),
            ("911", transient.clone(), "911"),
            (
                "<html><body>Welcome</body></html>",
                Verdict::Protocol,
                "protocol",
            ),
            ("", Verdict::Protocol, "protocol"),
            ("goodish 203.0.113.7", Verdict::Protocol, "protocol"),
            ("nochgx", Verdict::Protocol, "protocol"),
        ];
        for (body, verdict, code) in cases {
            let outcome = one(200, body);
            assert_eq!(outcome.verdict, verdict, "{body:?}");
            assert_eq!(outcome.code, code, "{body:?}");
        }
    }

    #[test]
    fn wait_answers_are_honoured() {
        let outcome = one(200, "w5m");
        assert_eq!(
            outcome.verdict,
            Verdict::Transient {
                retry_after: Some(Duration::from_secs(300)),
                reached: true
            }
        );
        assert_eq!(parse_wait("w30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("w2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_wait("wx"), None);
        assert_eq!(parse_wait("w99999999999999999999h"), None);
    }

    #[test]
    fn http_status_classes() {
        assert_eq!(
            one(401, "Unauthorized").verdict,
            Verdict::Fatal {
                scope: Scope::Account
            }
        );
        assert_eq!(one(403, "").code, "http-403");
        assert!(matches!(
            one(503, "down").verdict,
            Verdict::Transient { reached: true, .. }
        ));
        assert_eq!(one(302, "").verdict, Verdict::Protocol);
        assert_eq!(one(404, "not found").answer, "HTTP 404: not found");
    }

    #[test]
    fn one_line_per_host_in_order_and_account_wide_lines() {
        let out = classify(
            &items(3),
            200,
            "good 203.0.113.7\nnohost\nnochg 203.0.113.7\n",
            ip("203.0.113.7"),
            &STANDARD,
        );
        let codes: Vec<&str> = out.iter().map(|o| o.code.as_str()).collect();
        assert_eq!(codes, ["good", "nohost", "nochg"]);
        assert_eq!(out[1].record, "r1");

        let out = classify(&items(3), 200, "badauth\n", ip("203.0.113.7"), &STANDARD);
        assert!(out.iter().all(|o| o.code == "badauth"));

        // One "good" for three names is not an answer the protocol allows.
        let out = classify(
            &items(3),
            200,
            "good 203.0.113.7",
            ip("203.0.113.7"),
            &STANDARD,
        );
        assert!(out.iter().all(|o| o.verdict == Verdict::Protocol));
    }

    #[test]
    fn long_answers_are_cut_for_display() {
        let body = "x".repeat(1000);
        let outcome = one(200, &body);
        assert!(outcome.answer.chars().count() <= 201);
    }

    #[test]
    fn an_echo_of_both_families_is_read_whole() {
        let one = items(1);
        let v4: IpAddr = "81.2.69.160".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let body = "good 81.2.69.160,2001:db8::1";
        for sent in [v4, v6] {
            let out = classify(&one, 200, body, Some(sent), &STANDARD);
            assert_eq!(out[0].verdict, Verdict::Success, "{sent}");
        }
        let out = classify(
            &one,
            200,
            "good 81.2.69.161,2001:db8::1",
            Some(v4),
            &STANDARD,
        );
        assert_eq!(out[0].code, "wrong-address");
        let out = classify(&one, 200, "good 81.2.69.160,nonsense", Some(v4), &STANDARD);
        assert_eq!(out[0].code, "protocol");
        // An echo of the other family only says nothing about this one.
        let out = classify(&one, 200, "good 81.2.69.160", Some(v6), &STANDARD);
        assert_eq!(out[0].verdict, Verdict::Success);
    }

    #[test]
    fn url_carries_options_exactly() {
        let request = UpdateRequest {
            server: "https://members.example.org/".into(),
            default_server: true,
            username: "u".into(),
            secret: crate::secrets::Secret::new("p@ss word"),
            publish: Publish::Address("203.0.113.7".parse().unwrap()),
            options: Default::default(),
            items: items(2),
            allow_plain_http: false,
            settings: super::super::Prepared::none(),
            other_family: None,
            departure: Default::default(),
            joint: None,
        };
        let url = update_url(&request, &STANDARD).unwrap();
        assert_eq!(
            url.as_str(),
            "https://members.example.org/nic/update?hostname=h0.example.org%2Ch1.example.org\
             &myip=203.0.113.7&wildcard=NOCHG&mx=NOCHG"
        );
        let offline = UpdateRequest {
            publish: Publish::Offline,
            options: super::super::RecordOptions {
                wildcard: Some(true),
                mx: Some("mx.example.org".into()),
                backup_mx: Some(false),
                create: false,
            },
            ..request
        };
        let url = update_url(&offline, &STANDARD).unwrap();
        assert!(
            url.as_str()
                .ends_with("&offline=YES&wildcard=ON&mx=mx.example.org&backmx=NO")
        );
        assert!(!url.as_str().contains("pass"));
    }

    #[test]
    fn credentials_only_over_https_or_loopback() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(transport_allowed(&url("https://a.example/"), false));
        assert!(transport_allowed(&url("http://127.0.0.1:8080/"), false));
        assert!(transport_allowed(&url("http://[::1]/"), false));
        assert!(transport_allowed(&url("http://localhost/"), false));
        assert!(!transport_allowed(&url("http://a.example/"), false));
        assert!(transport_allowed(&url("http://a.example/"), true));
        assert!(!transport_allowed(&url("ftp://a.example/"), true));
    }
}
