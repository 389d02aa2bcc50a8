//! Porkbun: a registrar whose JSON API (v3) edits the DNS records of its domains.
//!
//! Every call is a `POST` whose JSON body carries the two account keys (`apikey` and
//! `secretapikey`), and the API answers `{"status":"SUCCESS",…}` or
//! `{"status":"ERROR","message":"…"}`. Paths take the registered domain and the name below
//! it, empty for the domain itself. The provider reads the record first
//! (`/dns/retrieveByNameType/{domain}/{type}/{sub}`) and writes only when its content
//! differs (`/dns/editByNameType/…` with the content and the listed TTL, so the user's TTL
//! stays); a missing record is created (`/dns/create/{domain}`) only when the record says
//! `create = true`, and a name with several records is never guessed at. Without the
//! account's `zone`, the retrieve call itself finds the registered domain (so the search
//! costs no request of its own once the domain is found): the name's candidates are
//! tried longest first, `Invalid domain.` meaning "not this one", and the answers are
//! remembered. An account check pings the API with the keys (`POST /ping`) and changes
//! nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Answer, Api, Class, Failure, Stop};
use super::{
    AccountInput, BoxFuture, CREATE, CheckResult, Cure, Descriptor, FieldKind, FieldProblem,
    FieldSpec, IpFamily, OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem,
    UpdateRequest,
};

/// Porkbun.
pub(super) struct Porkbun;

const API_KEY: FieldSpec = FieldSpec::new(
    "username",
    "API key",
    FieldKind::Text,
    "Porkbun needs two keys. This is the API key (it starts with pk1_), made at porkbun.com → \
     Account → API Access; the secret API key (sk1_…) goes in the field below. Switch on \
     API ACCESS for each domain too (Domain Management → the domain → Details).",
)
.required();

const SECRET_KEY: FieldSpec = FieldSpec::new(
    "secret",
    "Secret API key",
    FieldKind::Secret,
    "The secret API key (it starts with sk1_) shown once when you made the API key at \
     porkbun.com → Account → API Access.",
)
.required();

const DOMAIN: FieldSpec = FieldSpec::new(
    "zone",
    "Domain",
    FieldKind::Hostname,
    "The domain as registered at Porkbun (example.org). Leave empty to find it from each name.",
)
.advanced();

/// The TTL of a record Dyntray creates. Porkbun's minimum is 600 s by its current
/// documentation and 300 s by older libraries [uncertain]: 600 is valid under both.
const CREATE_TTL: &str = "600";

static DESCRIPTOR: Descriptor = Descriptor {
    id: "porkbun",
    name: "Porkbun",
    protocol: "HTTP API",
    docs_url: "https://porkbun.com/api/json/v3/documentation",
    key_url: Some("https://porkbun.com/account/api"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://api.porkbun.com/api/json/v3"),
    account_fields: &[API_KEY, SECRET_KEY, DOMAIN, SERVER],
    record_fields: &[CREATE, OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Needs the API key and the secret API key, and API ACCESS switched on for the \
            domain at Porkbun. Only the address changes: the record's TTL and notes stay.",
    refusals: &[
        Refusal {
            code: "invalid-api-key",
            cure: Cure::Secret,
            advice: "Porkbun does not accept the API keys. Make a new pair at porkbun.com → \
                     Account → API Access, and enter the API key (pk1_…) and the secret API \
                     key (sk1_…) in Settings.",
        },
        Refusal {
            code: "not-opted-in",
            cure: Cure::Provider,
            advice: "API access is off for this domain. At porkbun.com open Domain Management, \
                     the domain's Details, and switch on API ACCESS; then re-enable the name.",
        },
        Refusal {
            code: "invalid-domain",
            cure: Cure::Settings,
            advice: "Porkbun has no such domain in this account. Check the name, or set the \
                     account's domain to the domain as registered (example.org).",
        },
        Refusal {
            code: "outside-zone",
            cure: Cure::Settings,
            advice: "The name is not in the account's domain. Correct the name or the domain.",
        },
        Refusal {
            code: "no-record",
            cure: Cure::Settings,
            advice: "Porkbun has no record of this type for the name. Add it in Porkbun's DNS \
                     editor, or let Dyntray create it (\"Create it if missing\").",
        },
        Refusal {
            code: "several-records",
            cure: Cure::Provider,
            advice: "Porkbun has several records of this type for the name; Dyntray does not \
                     guess which one to change. Keep one in Porkbun's DNS editor, then \
                     re-enable the name.",
        },
        Refusal {
            code: "no-offline-mode",
            cure: Cure::Settings,
            advice: "Porkbun has no offline mode: give the record an off-line address instead.",
        },
    ],
};

/// The account as parsed once: an optional fixed domain, and what is known of candidates.
#[derive(Debug, Default)]
struct Account {
    domain: Option<String>,
    /// Candidate domain → whether Porkbun has it in this account (`false`: it answered
    /// `Invalid domain.`).
    known: Mutex<HashMap<String, bool>>,
}

impl Account {
    /// The candidates to try for `name`, longest first: those not yet known, then the
    /// first known domain; known non-domains are left out. With no known domain among
    /// them, every candidate is asked again (the user may have added the domain since).
    fn plan(&self, name: &str) -> Vec<String> {
        let known = self.known.lock().map(|k| k.clone()).unwrap_or_default();
        let candidates = http::zone_candidates(name);
        if !candidates.iter().any(|c| known.get(*c) == Some(&true)) {
            return candidates.into_iter().map(str::to_owned).collect();
        }
        let mut plan = Vec::new();
        for candidate in candidates {
            match known.get(candidate) {
                Some(false) => {}
                Some(true) => {
                    plan.push(candidate.to_owned());
                    break;
                }
                None => plan.push(candidate.to_owned()),
            }
        }
        plan
    }

    fn remember(&self, candidate: &str, is_domain: bool) {
        if let Ok(mut known) = self.known.lock() {
            known.insert(candidate.to_owned(), is_domain);
        }
    }
}

impl Provider for Porkbun {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        Ok(Prepared::new(Account {
            domain: account.settings.text("zone").map(str::to_owned),
            known: Mutex::default(),
        }))
    }

    fn check<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> Option<BoxFuture<'a, CheckResult>> {
        Some(Box::pin(check(
            Api::new(http, request).with_secret_username(),
        )))
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(Api::new(http, request).with_secret_username()))
    }
}

/// Checks the keys without changing anything: Porkbun's `POST /ping`. Whether a domain
/// has API ACCESS switched on is not asked: that shows when one of its names is updated.
async fn check(api: Api<'_>) -> CheckResult {
    let failed = |message: String| CheckResult { ok: false, message };
    let pinged = match api.url("/ping") {
        Ok(url) => {
            api.send(api.json(
                api.build(Method::POST, url),
                &keyed(api.request(), json!({})),
            ))
            .await
        }
        Err(f) => Err(f),
    };
    let answer = match pinged {
        Ok(answer) => answer,
        Err(f) => return failed(format!("Porkbun could not be asked: {}", f.text())),
    };
    match read(&answer) {
        Ok(_) => CheckResult {
            ok: true,
            message: "Porkbun accepts the API keys. Whether a domain has API ACCESS switched \
                      on shows at its first update."
                .to_owned(),
        },
        Err(stop) if stop.class == Class::FatalAuth => {
            failed(format!("Porkbun refused the API keys: {}", stop.answer))
        }
        Err(stop) => failed(format!(
            "Porkbun could not check the API keys: {}",
            stop.answer
        )),
    }
}

/// Porkbun's answer envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Clone, Deserialize)]
struct Record {
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    kind: String,
    content: String,
    #[serde(default)]
    ttl: Option<Value>,
    #[serde(default)]
    notes: Option<Value>,
}

/// A message without its trailing reference number: `Invalid API key.` for
/// `Invalid API key. (002)`.
fn message_words(message: &str) -> &str {
    let message = message.trim();
    if let Some(open) = message.rfind(" (")
        && let Some(number) = message[open + 2..].strip_suffix(')')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        return &message[..open];
    }
    message
}

/// Reads an answer: the envelope when it succeeded, else how it failed (body first,
/// status second).
fn read(answer: &Answer) -> Result<Envelope, Stop> {
    let status_code = format!("http-{}", answer.status);
    if answer.is_html() {
        return Err(Stop::new(
            Class::of_status(answer).not_fatal(),
            &status_code,
            format!("an HTML page instead of an API answer ({})", answer.shown()),
        ));
    }
    let Some(envelope) = answer.json::<Envelope>() else {
        return Err(Stop::new(
            Class::of_status(answer).not_fatal(),
            &status_code,
            answer.shown(),
        ));
    };
    if envelope.status == "SUCCESS" && answer.ok() {
        return Ok(envelope);
    }
    let message = envelope.message.unwrap_or_default();
    let shown = if message.trim().is_empty() {
        answer.shown()
    } else {
        message.trim().to_owned()
    };
    let (class, code) = match message_words(&message) {
        "Invalid API key." => (Class::FatalAuth, "invalid-api-key"),
        "Domain is not opted in to API access." => (Class::FatalRecord, "not-opted-in"),
        "Invalid domain." => (Class::FatalRecord, "invalid-domain"),
        // Words not known here: the status decides; a 400 is shown and backed off from.
        _ => (Class::of_status(answer), status_code.as_str()),
    };
    Err(Stop::new(class, code, shown))
}

fn stop(item: &UpdateItem, stop: &Stop) -> Outcome {
    stop.outcome(&DESCRIPTOR, item)
}

fn failed(item: &UpdateItem, failure: &Failure) -> Outcome {
    http::failed_one(&DESCRIPTOR, item, failure)
}

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let Some(address) = http::address(request) else {
        return http::for_all(
            &DESCRIPTOR,
            &request.items,
            Class::FatalRecord,
            "no-offline-mode",
            "Porkbun has no offline mode",
        );
    };
    let Some(account) = request.settings.get::<Account>() else {
        return http::for_all(
            &DESCRIPTOR,
            &request.items,
            Class::Protocol,
            "bad-settings",
            "the account's settings were not read",
        );
    };
    // One name per request (max_batch 1); several would be handled one after another.
    let mut outcomes = Vec::with_capacity(request.items.len());
    for item in &request.items {
        let outcome = match one(&api, account, item, address).await {
            Ok(outcome) | Err(outcome) => outcome,
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// The name below `domain` as Porkbun's paths take it: empty for the domain itself.
fn sub_name<'n>(name: &'n str, domain: &str) -> Option<&'n str> {
    http::relative_name(name, domain).map(|sub| if sub == "@" { "" } else { sub })
}

/// A POST to `path` with the keys and `fields` in the body.
async fn post(
    api: &Api<'_>,
    item: &UpdateItem,
    path: &str,
    fields: Value,
) -> Result<Answer, Outcome> {
    let url = api.url(path).map_err(|f| failed(item, &f))?;
    let body = keyed(api.request(), fields);
    api.send(api.json(api.build(Method::POST, url), &body))
        .await
        .map_err(|f| failed(item, &f))
}

/// A call's JSON body: the two keys, then `fields`.
fn keyed(request: &UpdateRequest, fields: Value) -> Value {
    let mut body = json!({
        "apikey": request.username,
        "secretapikey": request.secret.expose(),
    });
    if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
        body.extend(fields);
    }
    body
}

async fn one(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    address: IpAddr,
) -> Result<Outcome, Outcome> {
    let name = item.name.to_ascii_lowercase();
    let kind = IpFamily::of(address).record_type();
    let (domain, records) = find(api, account, item, &name, kind).await?;
    let sub = sub_name(&name, &domain).unwrap_or_default();
    let matching: Vec<&Record> = records
        .iter()
        .filter(|r| r.kind.eq_ignore_ascii_case(kind))
        .filter(|r| {
            // Porkbun lists the full name; the name below the domain is accepted too.
            r.name.eq_ignore_ascii_case(&name) || r.name.eq_ignore_ascii_case(sub)
        })
        .collect();
    let content = address.to_string();
    let (path, fields) = match matching.as_slice() {
        [] if api.request().options.create => (
            format!("/dns/create/{domain}"),
            json!({ "name": sub, "type": kind, "content": content, "ttl": CREATE_TTL }),
        ),
        [] => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "no-record",
                    format!("Porkbun has no {kind} record named {name}"),
                ),
            ));
        }
        [one] if one.content.trim().parse::<IpAddr>().ok() == Some(address) => {
            return Ok(http::outcome(
                &DESCRIPTOR,
                item,
                Class::Current,
                "current",
                &format!("{name} already points to {address}; nothing was written"),
                None,
            ));
        }
        [one] => {
            // Sent back as listed: left out, Porkbun would reset the TTL to its default.
            let mut fields = json!({ "content": content });
            if let (Some(map), Some(ttl)) = (fields.as_object_mut(), &one.ttl) {
                map.insert("ttl".into(), ttl.clone());
            }
            if let (Some(map), Some(Value::String(notes))) = (fields.as_object_mut(), &one.notes)
                && !notes.is_empty()
            {
                map.insert("notes".into(), Value::String(notes.clone()));
            }
            (format!("/dns/editByNameType/{domain}/{kind}/{sub}"), fields)
        }
        many => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "several-records",
                    format!("Porkbun has {} {kind} records named {name}", many.len()),
                ),
            ));
        }
    };
    let answer = post(api, item, &path, fields).await?;
    // Porkbun's answer to a write carries no record, so there is no address to compare.
    read(&answer).map_err(|s| stop(item, &s))?;
    Ok(http::outcome(
        &DESCRIPTOR,
        item,
        Class::Changed,
        "updated",
        &format!("{name} now points to {address}"),
        None,
    ))
}

/// The registered domain holding `name`, and the records of `kind` Porkbun lists for it.
async fn find(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    name: &str,
    kind: &str,
) -> Result<(String, Vec<Record>), Outcome> {
    let plan = match &account.domain {
        Some(domain) if http::relative_name(name, domain).is_none() => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "outside-zone",
                    format!("{name} is not in the domain {domain}"),
                ),
            ));
        }
        Some(domain) => vec![domain.clone()],
        None => account.plan(name),
    };
    for candidate in plan {
        let sub = sub_name(name, &candidate).unwrap_or_default();
        let path = format!("/dns/retrieveByNameType/{candidate}/{kind}/{sub}");
        let answer = post(api, item, &path, json!({})).await?;
        match read(&answer) {
            Ok(envelope) => {
                account.remember(&candidate, true);
                return Ok((candidate, envelope.records));
            }
            // Not a domain of this account (a name below one, most likely): the next.
            Err(s) if s.code == "invalid-domain" && account.domain.is_none() => {
                account.remember(&candidate, false);
            }
            Err(s) => return Err(stop(item, &s)),
        }
    }
    Err(stop(
        item,
        &Stop::new(
            Class::FatalRecord,
            "invalid-domain",
            format!(
                "Invalid domain. (Porkbun has none of {} in this account)",
                http::zone_candidates(name).join(", ")
            ),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "application/json".into(),
            retry_after: None,
            body: body.into(),
        }
    }

    #[test]
    fn errors_map_to_classes_and_codes() {
        let error = |message: &str| {
            let body = json!({ "status": "ERROR", "message": message }).to_string();
            read(&answer(400, &body)).unwrap_err()
        };
        let key = error("Invalid API key. (002)");
        assert_eq!(
            (key.class, key.code.as_str()),
            (Class::FatalAuth, "invalid-api-key")
        );
        assert_eq!(key.answer, "Invalid API key. (002)");
        let opted = error("Domain is not opted in to API access.");
        assert_eq!(
            (opted.class, opted.code.as_str()),
            (Class::FatalRecord, "not-opted-in")
        );
        let domain = error("Invalid domain.");
        assert_eq!(
            (domain.class, domain.code.as_str()),
            (Class::FatalRecord, "invalid-domain")
        );
        // Words not known here never disable on a 400.
        let other = error("Something else went wrong.");
        assert_eq!(
            (other.class, other.code.as_str()),
            (Class::Protocol, "http-400")
        );
    }

    #[test]
    fn status_decides_when_the_body_says_nothing() {
        let limited = read(&answer(429, "Too Many Requests")).unwrap_err();
        assert_eq!(limited.class, Class::RateLimited(None));
        let trouble = read(&answer(503, "{\"status\":\"ERROR\"}")).unwrap_err();
        assert_eq!(trouble.class, Class::Trouble(None));
        // Not the API's own answer: never disables, even on 401.
        let html = Answer {
            content_type: "text/html".into(),
            ..answer(401, "<html><body>Login</body></html>")
        };
        assert_eq!(read(&html).unwrap_err().class, Class::Protocol);
        assert_eq!(
            read(&answer(403, "denied")).unwrap_err().class,
            Class::Protocol
        );
        let ok = read(&answer(200, r#"{"status":"SUCCESS","records":[]}"#)).unwrap();
        assert!(ok.records.is_empty());
    }

    #[test]
    fn reference_numbers_are_cut_from_messages() {
        assert_eq!(message_words("Invalid API key. (002)"), "Invalid API key.");
        assert_eq!(message_words(" Invalid domain. "), "Invalid domain.");
        assert_eq!(message_words("Odd (words)"), "Odd (words)");
        assert_eq!(message_words("Empty ()"), "Empty ()");
    }

    #[test]
    fn sub_names_are_empty_for_the_domain_itself() {
        assert_eq!(sub_name("example.org", "example.org"), Some(""));
        assert_eq!(sub_name("a.b.example.org", "example.org"), Some("a.b"));
        assert_eq!(sub_name("example.net", "example.org"), None);
    }

    #[test]
    fn known_candidates_shorten_the_search() {
        let account = Account::default();
        assert_eq!(
            account.plan("a.b.example.org"),
            ["a.b.example.org", "b.example.org", "example.org"]
        );
        account.remember("a.b.example.org", false);
        account.remember("b.example.org", false);
        account.remember("example.org", true);
        assert_eq!(account.plan("a.b.example.org"), ["example.org"]);
        assert_eq!(
            account.plan("c.example.org"),
            ["c.example.org", "example.org"]
        );
        // Nothing known to be a domain: every candidate is asked again.
        account.remember("example.net", false);
        assert_eq!(account.plan("example.net"), ["example.net"]);
    }
}
