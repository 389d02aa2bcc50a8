//! FreeDNS (afraid.org): one record per update token, through the v2 token URLs.
//!
//! `GET <server>/u/<token>/?address=<ip>`. The token is the whole credential and names one
//! record, so an account here is one record's token and a request carries one name (the
//! name itself is not sent: it is for the user's eyes). A record's type is fixed at
//! FreeDNS: IPv4 goes to the account's `server` (`https://sync.afraid.org`), IPv6 to its
//! `server_v6` (`https://v6.sync.afraid.org`); two settings rather than a rule on host
//! names, so that a test or a proxy can stand in for either.
//!
//! Answers are one line of text: `Updated …` (changed), `No IP change detected …` (the
//! record already had it; FreeDNS does not hold that against anyone), `ERROR: …`. The
//! token travels in the URL's path: the kit removes it from every answer, and network
//! errors leave the URL out.

use std::net::IpAddr;

use reqwest::Method;

use super::http::{self, Answer, Api, Class, Failure};
use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, UpdateItem, UpdateRequest,
};

/// FreeDNS.
pub(super) struct FreeDns;

/// Where IPv6 (AAAA) records are updated unless the account says otherwise.
const V6_SERVER: &str = "https://v6.sync.afraid.org";

static DESCRIPTOR: Descriptor = Descriptor {
    id: "freedns",
    name: "FreeDNS (afraid.org)",
    protocol: "HTTP API",
    docs_url: "https://freedns.afraid.org/dynamic/v2/",
    key_url: Some("https://freedns.afraid.org/dynamic/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://sync.afraid.org"),
    account_fields: &[
        FieldSpec::new(
            "secret",
            "Update token",
            FieldKind::Secret,
            "On freedns.afraid.org → Dynamic DNS → the v2 interface (freedns.afraid.org/\
             dynamic/v2/), enable the record: its update URL is https://sync.afraid.org/u/\
             <token>/. The token belongs to that one record: one account per record.",
        )
        .required(),
        FieldSpec::new(
            "server",
            "IPv4 update server",
            FieldKind::Url,
            "Where A records are updated. Leave empty for https://sync.afraid.org.",
        )
        .advanced(),
        FieldSpec::new(
            "server_v6",
            "IPv6 update server",
            FieldKind::Url,
            "Where AAAA records are updated; not derived from the IPv4 server.",
        )
        .default(V6_SERVER)
        .advanced(),
    ],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    // One token, one record.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Each record has its own update token: make one account per record, A and AAAA \
            records included (AAAA records are sent to v6.sync.afraid.org).",
    refusals: &[
        Refusal {
            code: "no-record",
            cure: Cure::Secret,
            advice: "FreeDNS cannot find the record of this update token. Copy the token \
                     again from the record's update URL (freedns.afraid.org → Dynamic DNS, \
                     v2 interface) and enter it in Settings; a record deleted and made again \
                     has a new token.",
        },
        Refusal {
            code: "bad-token",
            cure: Cure::Secret,
            advice: "FreeDNS refused the update token. Copy it again from the record's \
                     update URL (freedns.afraid.org → Dynamic DNS, v2 interface) and enter \
                     it in Settings.",
        },
    ],
};

/// The account as parsed once.
#[derive(Debug)]
struct Account {
    /// Where AAAA records go.
    server_v6: String,
}

impl Provider for FreeDns {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        let server_v6 = account.settings.text("server_v6").unwrap_or(V6_SERVER);
        let mut problems = http::check_server(account.server).err().unwrap_or_default();
        if let Err(found) = http::check_server(Some(server_v6)) {
            problems.extend(found.into_iter().map(|p| FieldProblem {
                key: "server_v6".to_owned(),
                ..p
            }));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Prepared::new(Account {
            server_v6: server_v6.to_owned(),
        }))
    }

    fn update<'a>(
        &'a self,
        client: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(client, request))
    }
}

async fn update(client: &reqwest::Client, request: &UpdateRequest) -> Vec<Outcome> {
    let items = &request.items;
    let Some(address) = http::address(request) else {
        // Not a refusal: without an offline mode of its own, the engine publishes the
        // record's offline address instead and never asks for this.
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::Protocol,
            "no-offline-mode",
            "FreeDNS has no offline mode",
        );
    };
    let Some(account) = request.settings.get::<Account>() else {
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::Protocol,
            "bad-settings",
            "the account's settings were not read",
        );
    };
    // The family picks the server; everything else about the request stays.
    let routed = match address {
        IpAddr::V4(_) => request.clone(),
        IpAddr::V6(_) => UpdateRequest {
            server: account.server_v6.clone(),
            ..request.clone()
        },
    };
    let api = Api::new(client, &routed);
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        outcomes.extend(send(&api, item, address).await);
    }
    outcomes
}

/// Sends the token's update: one outcome.
async fn send(api: &Api<'_>, item: &UpdateItem, address: IpAddr) -> Vec<Outcome> {
    let items = std::slice::from_ref(item);
    let mut url = match api.url("/u") {
        Ok(url) => url,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    // As a path segment the token is percent-encoded where it must be (`#`, `/`, `?`).
    match url.path_segments_mut() {
        Ok(mut segments) => {
            segments.push(api.request().secret.expose()).push("");
        }
        Err(()) => {
            let failure = Failure::BadUrl("the update server's URL takes no path".to_owned());
            return http::failed(&DESCRIPTOR, items, &failure);
        }
    }
    // Always sent: without it FreeDNS would take the connection's address.
    url.query_pairs_mut()
        .append_pair("address", &address.to_string());
    let answer = match api.send(api.build(Method::GET, url)).await {
        Ok(answer) => answer,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    let (class, code, shown) = classify(&answer, address);
    http::for_all(&DESCRIPTOR, items, class, &code, &shown)
}

/// What a FreeDNS answer says: its class, code and the words to show.
fn classify(answer: &Answer, sent: IpAddr) -> (Class, String, String) {
    let line = super::first_line(&answer.body);
    let words: Vec<&str> = line.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_ascii_lowercase()).collect();
    let starts = |phrase: &[&str]| {
        lower.len() >= phrase.len() && lower.iter().zip(phrase).all(|(w, p)| w == p)
    };
    if answer.is_html() {
        let class = Class::of_status(answer).not_fatal();
        return (class, format!("http-{}", answer.status), answer.shown());
    }
    if starts(&["updated"]) {
        // The exact sentence is not documented; an address in it must be the one sent.
        let other = words
            .iter()
            .filter_map(|w| w.trim_matches(|c: char| c == ',' || c == '.').parse().ok())
            .find(|a: &IpAddr| IpFamily::of(*a) == IpFamily::of(sent) && *a != sent);
        if let Some(other) = other {
            let shown = format!("{line} (sent {sent}, not {other})");
            return (Class::Protocol, "wrong-address".to_owned(), shown);
        }
        return (Class::Changed, "updated".to_owned(), line);
    }
    if starts(&["no", "ip", "change", "detected"]) {
        // The rest of the sentence is not documented either: only these words are read.
        // FreeDNS skips the update and holds nothing against the client: not counted.
        return (Class::Current, "no-change".to_owned(), line);
    }
    if let Some(first) = lower.first()
        && (first == "error:" || (first == "error" && lower.get(1).is_some_and(|w| w == ":")))
    {
        let (class, code) = classify_error(&line);
        return (class, code.to_owned(), line);
    }
    let class = Class::of_status(answer).not_fatal();
    let code = match class {
        Class::Protocol => "protocol".to_owned(),
        _ => format!("http-{}", answer.status),
    };
    (class, code, answer.shown())
}

/// The class of an `ERROR: …` line, by its words.
///
/// The v2 URL finds the record by its token, so a wrong or stale token is answered like a
/// record that is gone (`Unable to locate this record`): that is `FatalRecord`, cured by
/// a new token (one account is one record). Only an error that names the credential
/// itself is `FatalAuth`; words not known here disable nothing.
fn classify_error(line: &str) -> (Class, &'static str) {
    let words: Vec<String> = line
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |word: &str| words.iter().any(|w| w == word);
    // Checked first: its advice mentions passwords and would read as a credential error.
    if has("unable") && has("locate") && has("record") {
        (Class::FatalRecord, "no-record")
    } else if ["token", "key", "password", "authentication", "unauthorized"]
        .iter()
        .any(|w| has(w))
    {
        (Class::FatalAuth, "bad-token")
    } else {
        (Class::Protocol, "freedns-error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "81.2.69.160";

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer {
            status,
            content_type: content_type.to_owned(),
            retry_after: None,
            body: body.to_owned(),
        }
    }

    fn class_of(status: u16, body: &str) -> (Class, String) {
        let (class, code, _) = classify(&answer(status, "text/plain", body), SENT.parse().unwrap());
        (class, code)
    }

    #[test]
    fn each_answer_form_has_its_class() {
        let updated = "Updated 1 host(s) home.mooo.com to 81.2.69.160 in 0.1 seconds";
        assert_eq!(class_of(200, updated), (Class::Changed, "updated".into()));
        assert_eq!(class_of(200, "Updated 1 host(s)").0, Class::Changed);
        let other = "Updated 1 host(s) home.mooo.com to 81.2.69.99 in 0.1 seconds";
        assert_eq!(class_of(200, other).1, "wrong-address");
        let same = "No IP change detected for home.mooo.com with IP 81.2.69.160, skipping update";
        assert_eq!(class_of(200, same), (Class::Current, "no-change".into()));
        let gone = "ERROR: Unable to locate this record (changed password recently? deleted \
                    and re-created this dns entry?) (double check username/password are correct)";
        assert_eq!(
            class_of(200, gone),
            (Class::FatalRecord, "no-record".into())
        );
        let token = "ERROR: Invalid update token";
        assert_eq!(class_of(200, token), (Class::FatalAuth, "bad-token".into()));
        assert_eq!(
            class_of(200, "ERROR: something else"),
            (Class::Protocol, "freedns-error".into())
        );
        assert_eq!(class_of(200, "Maybe").0, Class::Protocol);
        assert_eq!(class_of(200, "").0, Class::Protocol);
        // Whole words: "Updatedness" is not "Updated".
        assert_eq!(class_of(200, "Updatedness 1").0, Class::Protocol);
    }

    #[test]
    fn pages_and_statuses_never_disable() {
        let page = answer(200, "text/html", "<html><body>ERROR: oops</body></html>");
        assert_eq!(classify(&page, SENT.parse().unwrap()).0, Class::Protocol);
        assert_eq!(
            class_of(429, "Too Many Requests").0,
            Class::RateLimited(None)
        );
        assert_eq!(class_of(502, "Bad Gateway").0, Class::Trouble(None));
        assert_eq!(class_of(401, "Unauthorized").0, Class::Protocol);
    }
}
