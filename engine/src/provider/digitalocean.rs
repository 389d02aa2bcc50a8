//! DigitalOcean: the domains of a DigitalOcean account, over its REST API (v2).
//!
//! With a personal access token (`Authorization: Bearer`), the provider finds the domain
//! holding a name (the account's `zone`, or the longest of the name's candidates that
//! `GET /domains/{name}` knows, remembered), lists that domain's records of the address's
//! type by their full name (`GET /domains/{d}/records?name=<FQDN>&type=A`), and changes
//! only a record whose data differs, with a `PATCH` of the data alone so its TTL stays.
//! A missing record is created (`POST /domains/{d}/records`, relative name, `@` for the
//! domain itself) only when the record says `create = true`; a name with several records
//! is never guessed at. The answer to a write must show the address sent. An account
//! check lists the domains the token can see (`GET /domains`) and changes nothing.

use std::net::IpAddr;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Answer, Api, Class, Failure, Stop};
use super::{
    AccountInput, BoxFuture, CREATE, CheckResult, Cure, Descriptor, FieldKind, FieldProblem,
    FieldSpec, IpFamily, OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem,
    UpdateRequest,
};

/// DigitalOcean.
pub(super) struct DigitalOcean;

const TOKEN: FieldSpec = FieldSpec::new(
    "secret",
    "Personal access token",
    FieldKind::Secret,
    "In the DigitalOcean control panel: API → Tokens → Generate New Token, with write scope \
     (or custom scopes domain:read and domain:update, plus domain:create to create records).",
)
.required();

const DOMAIN: FieldSpec = FieldSpec::new(
    "zone",
    "Domain",
    FieldKind::Hostname,
    "The domain as DigitalOcean's Networking → Domains lists it (example.org). Leave empty \
     to find it from each name.",
)
.advanced();

/// The TTL of a record Dyntray creates: DigitalOcean's minimum is 30 s [uncertain], and
/// 300 s is allowed under any minimum up to it.
const CREATE_TTL: u32 = 300;

/// The domains an account check lists in one page. Each comes with its whole zone file,
/// so the page stays well below the answer's size cap.
const CHECK_PAGE: usize = 50;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "digitalocean",
    name: "DigitalOcean",
    protocol: "HTTP API",
    docs_url: "https://docs.digitalocean.com/reference/api/",
    key_url: Some("https://cloud.digitalocean.com/account/api/tokens"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://api.digitalocean.com/v2"),
    account_fields: &[TOKEN, DOMAIN, SERVER],
    record_fields: &[CREATE, OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "For domains whose DNS DigitalOcean hosts. Only the record's address changes: its \
            TTL stays.",
    refusals: &[
        Refusal {
            code: "unauthorized",
            cure: Cure::Secret,
            advice: "DigitalOcean does not accept the token. Generate a new one (API → Tokens) \
                     and enter it in Settings.",
        },
        Refusal {
            code: "http-401",
            cure: Cure::Secret,
            advice: "DigitalOcean refused the token. Enter a valid one in Settings.",
        },
        Refusal {
            code: "forbidden",
            cure: Cure::Secret,
            advice: "The token may not do this. Give it write scope (or domain:read, \
                     domain:update and domain:create), or enter another token.",
        },
        Refusal {
            code: "http-403",
            cure: Cure::Secret,
            advice: "The token may not do this. Give it write scope (or domain:read, \
                     domain:update and domain:create), or enter another token.",
        },
        Refusal {
            code: "no-zone",
            cure: Cure::Settings,
            advice: "No domain of this DigitalOcean account holds this name. Check the name, \
                     add the domain under Networking → Domains, or set the account's domain.",
        },
        Refusal {
            code: "not_found",
            cure: Cure::Settings,
            advice: "DigitalOcean no longer has this domain or record. Check the account's \
                     domain and the name under Networking → Domains.",
        },
        Refusal {
            code: "outside-zone",
            cure: Cure::Settings,
            advice: "The name is not in the account's domain. Correct the name or the domain.",
        },
        Refusal {
            code: "no-record",
            cure: Cure::Settings,
            advice: "DigitalOcean has no record of this type for the name. Add it under \
                     Networking → Domains, or let Dyntray create it (\"Create it if missing\").",
        },
        Refusal {
            code: "several-records",
            cure: Cure::Provider,
            advice: "DigitalOcean has several records of this type for the name; Dyntray does \
                     not guess which one to change. Keep one under Networking → Domains, then \
                     re-enable the name.",
        },
        Refusal {
            code: "no-offline-mode",
            cure: Cure::Settings,
            advice: "DigitalOcean has no offline mode: give the record an off-line address \
                     instead.",
        },
    ],
};

/// The account as parsed once: an optional fixed domain, and what is known of candidates.
#[derive(Debug, Default)]
struct Account {
    domain: Option<String>,
    /// The domains found (the id is the domain's name).
    known: http::ZoneCache,
}

impl Provider for DigitalOcean {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        Ok(Prepared::new(Account {
            domain: account.settings.text("zone").map(str::to_owned),
            known: http::ZoneCache::default(),
        }))
    }

    fn check<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> Option<BoxFuture<'a, CheckResult>> {
        Some(Box::pin(check(Api::new(http, request))))
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(Api::new(http, request)))
    }
}

/// Checks the token without changing anything: the domains it can see
/// (`GET /domains`, the first page).
async fn check(api: Api<'_>) -> CheckResult {
    let failed = |message: String| CheckResult { ok: false, message };
    let listed = match api.url("/domains") {
        Ok(mut url) => {
            url.query_pairs_mut()
                .append_pair("per_page", &CHECK_PAGE.to_string());
            api.send(
                api.build(Method::GET, url)
                    .bearer_auth(api.request().secret.expose()),
            )
            .await
        }
        Err(f) => Err(f),
    };
    let answer = match listed {
        Ok(answer) => answer,
        Err(f) => return failed(format!("DigitalOcean could not be asked: {}", f.text())),
    };
    let domains = match read(&answer) {
        Ok(value) => serde_json::from_value::<DomainList>(value).ok(),
        Err(stop) if stop.class == Class::FatalAuth => {
            return failed(format!("DigitalOcean refused the token: {}", stop.answer));
        }
        Err(stop) => {
            return failed(format!(
                "DigitalOcean could not check the token: {}",
                stop.answer
            ));
        }
    };
    let Some(domains) = domains else {
        return failed(format!(
            "DigitalOcean could not check the token: {}",
            answer.shown()
        ));
    };
    let names: Vec<String> = domains.domains.into_iter().map(|d| d.name).collect();
    // Without a count, only a page that is not full is known to be all of them.
    let total = domains
        .meta
        .and_then(|m| m.total)
        .or((names.len() < CHECK_PAGE).then_some(names.len()));
    let fixed = api
        .request()
        .settings
        .get::<Account>()
        .and_then(|a| a.domain.as_deref());
    http::zones_seen(
        "DigitalOcean accepts the token",
        "domain",
        &names,
        total,
        fixed,
        "Add your domain under Networking → Domains, in the team this token belongs to.",
    )
}

/// DigitalOcean's error body.
#[derive(Debug, Deserialize)]
struct ApiError {
    id: String,
    #[serde(default)]
    message: String,
}

/// A page of the account's domains.
#[derive(Debug, Deserialize)]
struct DomainList {
    domains: Vec<Domain>,
    #[serde(default)]
    meta: Option<ListMeta>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ListMeta {
    /// How many there are in all pages.
    #[serde(default)]
    total: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Records {
    domain_records: Vec<DomainRecord>,
}

#[derive(Debug, Deserialize)]
struct DomainRecord {
    id: Value,
    #[serde(rename = "type")]
    kind: String,
    name: String,
    data: String,
}

#[derive(Debug, Deserialize)]
struct OneRecord {
    domain_record: DomainRecord,
}

/// Reads an answer: its JSON when it succeeded, else how it failed (body first, status
/// second).
fn read(answer: &Answer) -> Result<Value, Stop> {
    let status_code = format!("http-{}", answer.status);
    if answer.is_html() {
        return Err(Stop::new(
            Class::of_status(answer).not_fatal(),
            &status_code,
            format!("an HTML page instead of an API answer ({})", answer.shown()),
        ));
    }
    if answer.ok() {
        return answer
            .json::<Value>()
            .ok_or_else(|| Stop::new(Class::Protocol, "protocol", answer.shown()));
    }
    let Some(error) = answer.json::<ApiError>() else {
        return Err(Stop::new(
            Class::of_status(answer).not_fatal(),
            &status_code,
            answer.shown(),
        ));
    };
    let words = format!("{} ({})", error.message.trim(), error.id);
    let (class, code) = match error.id.as_str() {
        "unauthorized" => (Class::FatalAuth, "unauthorized"),
        "forbidden" => (Class::FatalAuth, "forbidden"),
        "not_found" => (Class::FatalRecord, "not_found"),
        "too_many_requests" => (Class::RateLimited(answer.retry_after), "too_many_requests"),
        "server_error" => (Class::Trouble(answer.retry_after), "server_error"),
        // An id not known here: the status decides (401/403 the token, 429, 5xx), and
        // anything else is shown and backed off from.
        _ => (Class::of_status(answer), status_code.as_str()),
    };
    Err(Stop::new(class, code, words))
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
            "DigitalOcean has no offline mode",
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

/// Sends `method` to `url` with the token, and `body` as JSON when given.
async fn call(
    api: &Api<'_>,
    item: &UpdateItem,
    method: Method,
    url: reqwest::Url,
    body: Option<&Value>,
) -> Result<Answer, Outcome> {
    let builder = api
        .build(method, url)
        .bearer_auth(api.request().secret.expose());
    let builder = match body {
        Some(body) => api.json(builder, body),
        None => builder,
    };
    api.send(builder).await.map_err(|f| failed(item, &f))
}

/// A record id as DigitalOcean gives it (a number), for a path.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

async fn one(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    address: IpAddr,
) -> Result<Outcome, Outcome> {
    let name = item.name.to_ascii_lowercase();
    let kind = IpFamily::of(address).record_type();
    let domain = find_domain(api, account, item, &name).await?;
    let relative = http::relative_name(&name, &domain).unwrap_or("@");

    let mut url = api
        .url(&format!("/domains/{domain}/records"))
        .map_err(|f| failed(item, &f))?;
    url.query_pairs_mut()
        .append_pair("name", &name)
        .append_pair("type", kind);
    let answer = call(api, item, Method::GET, url, None).await?;
    let listed = read(&answer).map_err(|s| stop(item, &s))?;
    let listed: Records = serde_json::from_value(listed).map_err(|_| {
        stop(
            item,
            &Stop::new(Class::Protocol, "protocol", answer.shown()),
        )
    })?;
    let matching: Vec<&DomainRecord> = listed
        .domain_records
        .iter()
        .filter(|r| r.kind.eq_ignore_ascii_case(kind))
        // DigitalOcean answers with the name relative to the domain; the full name is
        // accepted too.
        .filter(|r| r.name.eq_ignore_ascii_case(relative) || r.name.eq_ignore_ascii_case(&name))
        .collect();
    let content = address.to_string();
    let (method, path, body) = match matching.as_slice() {
        [] if api.request().options.create => (
            Method::POST,
            format!("/domains/{domain}/records"),
            json!({ "type": kind, "name": relative, "data": content, "ttl": CREATE_TTL }),
        ),
        [] => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "no-record",
                    format!("DigitalOcean has no {kind} record named {name}"),
                ),
            ));
        }
        [one] if one.data.trim().parse::<IpAddr>().ok() == Some(address) => {
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
            let Some(id) = id_text(&one.id) else {
                return Err(stop(
                    item,
                    &Stop::new(Class::Protocol, "protocol", answer.shown()),
                ));
            };
            (
                Method::PATCH,
                format!("/domains/{domain}/records/{id}"),
                // PATCH changes only what is sent: the TTL stays as the user set it.
                json!({ "data": content }),
            )
        }
        many => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "several-records",
                    format!(
                        "DigitalOcean has {} {kind} records named {name}",
                        many.len()
                    ),
                ),
            ));
        }
    };
    let url = api.url(&path).map_err(|f| failed(item, &f))?;
    let answer = call(api, item, method, url, Some(&body)).await?;
    let written = read(&answer).map_err(|s| stop(item, &s))?;
    let shown = serde_json::from_value::<OneRecord>(written)
        .ok()
        .and_then(|r| r.domain_record.data.trim().parse::<IpAddr>().ok());
    if shown != Some(address) {
        return Err(stop(
            item,
            &Stop::new(
                Class::Protocol,
                "wrong-answer",
                format!(
                    "DigitalOcean's answer does not show {address} ({})",
                    answer.shown()
                ),
            ),
        ));
    }
    Ok(http::outcome(
        &DESCRIPTOR,
        item,
        Class::Changed,
        "updated",
        &format!("{name} now points to {address}"),
        None,
    ))
}

/// The domain holding `name`: the account's, or the longest candidate the account has.
async fn find_domain(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    name: &str,
) -> Result<String, Outcome> {
    if let Some(domain) = &account.domain {
        if http::relative_name(name, domain).is_none() {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "outside-zone",
                    format!("{name} is not in the domain {domain}"),
                ),
            ));
        }
        return Ok(domain.clone());
    }
    if let Some((domain, _)) = account.known.cached(name) {
        return Ok(domain);
    }
    for candidate in http::zone_candidates(name) {
        let url = api
            .url(&format!("/domains/{candidate}"))
            .map_err(|f| failed(item, &f))?;
        let answer = call(api, item, Method::GET, url, None).await?;
        match read(&answer) {
            Ok(_) => {
                account
                    .known
                    .remember(candidate, Some(candidate.to_owned()));
                return Ok(candidate.to_owned());
            }
            // Not a domain of this account: the next candidate.
            Err(s) if s.code == "not_found" => account.known.remember(candidate, None),
            Err(s) => return Err(stop(item, &s)),
        }
    }
    Err(stop(
        item,
        &Stop::new(
            Class::FatalRecord,
            "no-zone",
            format!("no domain of this DigitalOcean account holds {name}"),
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
    fn error_ids_map_to_classes_and_codes() {
        let cases = [
            (
                401,
                "unauthorized",
                "Unable to authenticate you.",
                Class::FatalAuth,
            ),
            (
                403,
                "forbidden",
                "You are not authorized to perform this operation",
                Class::FatalAuth,
            ),
            (
                404,
                "not_found",
                "The resource you requested could not be found.",
                Class::FatalRecord,
            ),
            (
                429,
                "too_many_requests",
                "API rate limit exceeded.",
                Class::RateLimited(None),
            ),
            (
                500,
                "server_error",
                "Unexpected server-side error",
                Class::Trouble(None),
            ),
        ];
        for (status, id, message, class) in cases {
            let body = json!({ "id": id, "message": message }).to_string();
            let stop = read(&answer(status, &body)).unwrap_err();
            assert_eq!((stop.class, stop.code.as_str()), (class, id));
            assert_eq!(stop.answer, format!("{message} ({id})"));
        }
        // An id not known here: the status decides; a 422 never disables.
        let body = json!({ "id": "unprocessable_entity", "message": "Name invalid" }).to_string();
        let stop = read(&answer(422, &body)).unwrap_err();
        assert_eq!(
            (stop.class, stop.code.as_str()),
            (Class::Protocol, "http-422")
        );
        let stop = read(&answer(503, &body)).unwrap_err();
        assert_eq!(stop.class, Class::Trouble(None));
    }

    #[test]
    fn pages_and_text_never_disable() {
        let html = Answer {
            content_type: "text/html".into(),
            ..answer(401, "<html><body>Sign in</body></html>")
        };
        assert_eq!(read(&html).unwrap_err().class, Class::Protocol);
        assert_eq!(
            read(&answer(403, "denied")).unwrap_err().class,
            Class::Protocol
        );
        assert_eq!(
            read(&answer(200, "{\"domain_re")).unwrap_err().code,
            "protocol"
        );
        let limited = Answer {
            retry_after: Some(std::time::Duration::from_secs(60)),
            ..answer(429, "slow down")
        };
        assert_eq!(
            read(&limited).unwrap_err().class,
            Class::RateLimited(Some(std::time::Duration::from_secs(60)))
        );
    }

    #[test]
    fn record_ids_are_numbers_or_text() {
        assert_eq!(id_text(&json!(3352896)), Some("3352896".to_owned()));
        assert_eq!(id_text(&json!("abc")), Some("abc".to_owned()));
        assert_eq!(id_text(&json!(null)), None);
    }
}
