//! Hetzner: DNS zones in the Hetzner Console, over the Cloud API (`api.hetzner.cloud/v1`).
//!
//! Hetzner moved DNS into its Cloud API; the old DNS API (`dns.hetzner.com`) was shut down
//! in May 2026 and its tokens do not work here, so only the Cloud API is spoken, and an
//! old token (answered `unauthorized`) or endpoint (`deprecated_api_endpoint`) is
//! explained. With a project API token (`Authorization: Bearer`), the provider finds the
//! zone (the account's `zone`, or the longest of the name's candidates that
//! `GET /zones?name=` knows, its id remembered), reads the record set
//! (`GET /zones/{id}/rrsets/{name}/{type}`, the name relative, `@` for the zone itself)
//! and writes only when its one value differs, with the `set_records` action. Changes
//! are asynchronous: the API answers with an action that is `running`, and the provider
//! polls `GET /zones/actions/{id}` until it is `success` or `error`, a bounded number of
//! times; a write is never taken as done while its action runs. A set with several
//! values or protected against change is refused; a missing set is created
//! (`POST /zones/{id}/rrsets`) only when the record says `create = true`. An account
//! check lists the zones of the token's project (`GET /zones`) and changes nothing.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, Answer, Api, Class, Failure, Stop};
use super::{
    AccountInput, BoxFuture, CREATE, CheckResult, Cure, Descriptor, FieldKind, FieldProblem,
    FieldSpec, IpFamily, OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem,
    UpdateRequest,
};

/// Hetzner.
pub(super) struct Hetzner;

const TOKEN: FieldSpec = FieldSpec::new(
    "secret",
    "API token",
    FieldKind::Secret,
    "In the Hetzner Console: your project → Security → API tokens → Generate API token, \
     with Read & Write. Tokens of the old DNS Console (dns.hetzner.com) no longer work.",
)
.required();

const ZONE: FieldSpec = FieldSpec::new(
    "zone",
    "Zone",
    FieldKind::Hostname,
    "The zone as the Hetzner Console lists it under DNS (example.org). Leave empty to find \
     it from each name.",
)
.advanced();

/// The wait before each look at a running action. Hetzner's actions have been seen to
/// take about 20 seconds.
const POLL_EVERY: Duration = Duration::from_secs(2);

/// The most looks at a running action (a minute in all); then the update is left to the
/// next attempt, which reads the record first.
const MAX_POLLS: u32 = 30;

/// The zones an account check lists in one page (the Cloud API's largest page).
const CHECK_PAGE: usize = 50;

/// The advice for a token Hetzner refuses: most often one of the old DNS Console.
const OLD_TOKEN: &str = "Hetzner refused the token. A token of the old DNS Console \
                         (dns.hetzner.com) no longer works: that API was shut down in May \
                         2026. In the Hetzner Console, open the project holding your zone, \
                         generate an API token with Read & Write (Security → API tokens) and \
                         enter it in Settings.";

static DESCRIPTOR: Descriptor = Descriptor {
    id: "hetzner",
    name: "Hetzner",
    protocol: "HTTP API",
    docs_url: "https://docs.hetzner.cloud/reference/cloud#dns",
    key_url: Some("https://console.hetzner.cloud/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://api.hetzner.cloud/v1"),
    account_fields: &[TOKEN, ZONE, SERVER],
    record_fields: &[CREATE, OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Zones in the Hetzner Console, with a Cloud project API token (Read & Write). The \
            old DNS Console API and its tokens were shut down in May 2026.",
    refusals: &[
        Refusal {
            code: "unauthorized",
            cure: Cure::Secret,
            advice: OLD_TOKEN,
        },
        Refusal {
            code: "http-401",
            cure: Cure::Secret,
            advice: OLD_TOKEN,
        },
        Refusal {
            code: "deprecated_api_endpoint",
            cure: Cure::Secret,
            advice: "Hetzner says this API is retired. Its old DNS API (dns.hetzner.com) was \
                     shut down in May 2026: make sure the zone is in the Hetzner Console, \
                     generate a project API token with Read & Write there (Security → API \
                     tokens), enter it in Settings, and leave the update server empty.",
        },
        Refusal {
            code: "token_readonly",
            cure: Cure::Secret,
            advice: "The token can only read. Generate a project API token with Read & Write \
                     in the Hetzner Console (Security → API tokens) and enter it in Settings.",
        },
        Refusal {
            code: "forbidden",
            cure: Cure::Secret,
            advice: "Hetzner does not let this token change the zone. Use a Read & Write token \
                     of the project that holds the zone.",
        },
        Refusal {
            code: "http-403",
            cure: Cure::Secret,
            advice: "Hetzner does not let this token change the zone. Use a Read & Write token \
                     of the project that holds the zone.",
        },
        Refusal {
            code: "no-zone",
            cure: Cure::Settings,
            advice: "No zone of this token's project holds the name. Check the name, that the \
                     zone is in the Hetzner Console (zones of the old DNS Console had to be \
                     migrated), and that the token belongs to its project.",
        },
        Refusal {
            code: "outside-zone",
            cure: Cure::Settings,
            advice: "The name is not in the account's zone. Correct the name or the zone.",
        },
        Refusal {
            code: "not_found",
            cure: Cure::Settings,
            advice: "Hetzner no longer has this zone or record. Check the name and the zone in \
                     the Hetzner Console.",
        },
        Refusal {
            code: "invalid_input",
            cure: Cure::Settings,
            advice: "Hetzner refused the record as given (its words are above). Check the name.",
        },
        Refusal {
            code: "protected",
            cure: Cure::Provider,
            advice: "The record is protected against changes in the Hetzner Console. Remove \
                     the protection there if Dyntray may change it, then re-enable the name.",
        },
        Refusal {
            code: "no-record",
            cure: Cure::Settings,
            advice: "Hetzner has no record of this type for the name. Add it in the Hetzner \
                     Console, or let Dyntray create it (\"Create it if missing\").",
        },
        Refusal {
            code: "several-records",
            cure: Cure::Provider,
            advice: "Hetzner holds several addresses for this name and type. Dyntray would \
                     have to replace them all, so it changes nothing: keep one in the Hetzner \
                     Console, then re-enable the name.",
        },
        Refusal {
            code: "no-offline-mode",
            cure: Cure::Settings,
            advice: "Hetzner has no offline mode: give the record an off-line address instead.",
        },
    ],
};

/// The account as parsed once: an optional fixed zone, and what is known of candidates.
#[derive(Debug, Default)]
struct Account {
    zone: Option<String>,
    /// The zones found, with their ids.
    zones: http::ZoneCache,
}

impl Provider for Hetzner {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        let old = account
            .server
            .and_then(|s| reqwest::Url::parse(s).ok())
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.eq_ignore_ascii_case("dns.hetzner.com"))
            });
        if old == Some(true) {
            return Err(vec![FieldProblem::new(
                "server",
                "Hetzner's old DNS API (dns.hetzner.com) was shut down in May 2026; leave the \
                 server empty to use the Cloud API with a project token (Read & Write)",
            )]);
        }
        Ok(Prepared::new(Account {
            zone: account.settings.text("zone").map(str::to_owned),
            zones: http::ZoneCache::default(),
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

/// Checks the token without changing anything: the zones of its project
/// (`GET /zones`, the first page). A refused token is most often one of the old DNS
/// Console, and is explained as such.
async fn check(api: Api<'_>) -> CheckResult {
    let failed = |message: String| CheckResult { ok: false, message };
    let listed = match api.url("/zones") {
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
        Err(f) => return failed(format!("Hetzner could not be asked: {}", f.text())),
    };
    let zones = match read(&answer) {
        Ok(value) => serde_json::from_value::<Zones>(value).ok(),
        Err(stop)
            if stop.class == Class::FatalAuth
                && matches!(stop.code.as_str(), "unauthorized" | "http-401") =>
        {
            return failed(format!("{OLD_TOKEN} Hetzner's answer: {}.", stop.answer));
        }
        Err(stop) if stop.class == Class::FatalAuth => {
            return failed(format!("Hetzner refused the token: {}", stop.answer));
        }
        Err(stop) => {
            return failed(format!(
                "Hetzner could not check the token: {}",
                stop.answer
            ));
        }
    };
    let Some(zones) = zones else {
        return failed(format!(
            "Hetzner could not check the token: {}",
            answer.shown()
        ));
    };
    let names: Vec<String> = zones.zones.into_iter().map(|z| z.name).collect();
    // Without a count, only a page that is not full is known to be all of them.
    let total = zones
        .meta
        .and_then(|m| m.pagination)
        .and_then(|p| p.total_entries)
        .or((names.len() < CHECK_PAGE).then_some(names.len()));
    let fixed = api
        .request()
        .settings
        .get::<Account>()
        .and_then(|a| a.zone.as_deref());
    http::zones_seen(
        "Hetzner accepts the token",
        "zone",
        &names,
        total,
        fixed,
        "Check that your zone is in the Hetzner Console (zones of the old DNS Console had to \
         be migrated) and that the token belongs to its project.",
    )
}

/// Hetzner's error envelope.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct Zones {
    zones: Vec<Zone>,
    #[serde(default)]
    meta: Option<ListMeta>,
}

#[derive(Debug, Deserialize)]
struct ListMeta {
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    /// How many there are in all pages.
    #[serde(default)]
    total_entries: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct Zone {
    id: Value,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RrsetBody {
    rrset: Rrset,
}

#[derive(Debug, Deserialize)]
struct Rrset {
    #[serde(default)]
    records: Vec<RecordValue>,
    #[serde(default)]
    protection: Protection,
}

#[derive(Debug, Deserialize)]
struct RecordValue {
    value: String,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Protection {
    #[serde(default)]
    change: bool,
}

#[derive(Debug, Deserialize)]
struct ActionBody {
    action: Action,
}

#[derive(Debug, Deserialize)]
struct Action {
    id: Value,
    status: String,
    #[serde(default)]
    error: Option<ApiError>,
}

/// The class of one of Hetzner's error codes, when it is one known here.
fn class_of(code: &str, retry_after: Option<Duration>) -> Option<Class> {
    Some(match code {
        "unauthorized" | "forbidden" | "token_readonly" => Class::FatalAuth,
        "not_found" | "invalid_input" | "protected" => Class::FatalRecord,
        "rate_limit_exceeded" => Class::RateLimited(retry_after),
        "locked" | "conflict" | "maintenance" | "server_error" | "timeout" | "bad_gateway" => {
            Class::Trouble(retry_after)
        }
        "deprecated_api_endpoint" => Class::FatalPolicy,
        _ => return None,
    })
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
    if let Some(ErrorBody { error }) = answer.json::<ErrorBody>() {
        let words = format!("{} ({})", error.message.trim(), error.code);
        return Err(match class_of(&error.code, answer.retry_after) {
            Some(class) => Stop::new(class, &error.code, words),
            // A code not known here: the status decides; a 4xx is shown and backed off from.
            None => Stop::new(Class::of_status(answer), &status_code, words),
        });
    }
    if answer.ok() {
        return answer
            .json::<Value>()
            .ok_or_else(|| Stop::new(Class::Protocol, "protocol", answer.shown()));
    }
    Err(Stop::new(
        Class::of_status(answer).not_fatal(),
        &status_code,
        answer.shown(),
    ))
}

/// An id as Hetzner gives it (a number; text accepted too), for a path.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn stop(item: &UpdateItem, stop: &Stop) -> Outcome {
    stop.outcome(&DESCRIPTOR, item)
}

fn protocol(item: &UpdateItem, answer: &Answer) -> Outcome {
    stop(
        item,
        &Stop::new(Class::Protocol, "protocol", answer.shown()),
    )
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
            "Hetzner has no offline mode",
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

/// `call` on the account's server at `path`.
async fn call_path(
    api: &Api<'_>,
    item: &UpdateItem,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, Outcome> {
    let url = api.url(path).map_err(|f| failed(item, &f))?;
    call(api, item, method, url, body).await
}

async fn one(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    address: IpAddr,
) -> Result<Outcome, Outcome> {
    let name = item.name.to_ascii_lowercase();
    let kind = IpFamily::of(address).record_type();
    let (zone, zone_id) = find_zone(api, account, item, &name).await?;
    let relative = http::relative_name(&name, &zone).unwrap_or("@");
    let path = format!("/zones/{zone_id}/rrsets/{relative}/{kind}");

    let answer = call_path(api, item, Method::GET, &path, None).await?;
    let rrset = match read(&answer) {
        Ok(value) => Some(
            serde_json::from_value::<RrsetBody>(value)
                .map_err(|_| protocol(item, &answer))?
                .rrset,
        ),
        Err(s) if s.code == "not_found" => None,
        Err(s) => return Err(stop(item, &s)),
    };
    let content = address.to_string();
    let records = rrset.as_ref().map_or(&[][..], |r| r.records.as_slice());
    let action = match records {
        [] if api.request().options.create => {
            // TTL left out: the zone's default applies.
            let body = json!({ "name": relative, "type": kind, "records": [{ "value": content }] });
            let answer = call_path(
                api,
                item,
                Method::POST,
                &format!("/zones/{zone_id}/rrsets"),
                Some(&body),
            )
            .await?;
            let created = read(&answer).map_err(|s| stop(item, &s))?;
            let shows = created
                .get("rrset")
                .and_then(|r| serde_json::from_value::<Rrset>(r.clone()).ok())
                .is_some_and(|r| {
                    r.records
                        .iter()
                        .any(|v| v.value.trim().parse::<IpAddr>().ok() == Some(address))
                });
            if !shows {
                return Err(stop(
                    item,
                    &Stop::new(
                        Class::Protocol,
                        "wrong-answer",
                        format!(
                            "Hetzner's answer does not show {address} ({})",
                            answer.shown()
                        ),
                    ),
                ));
            }
            action_of(&created).ok_or_else(|| protocol(item, &answer))?
        }
        [] => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "no-record",
                    format!("Hetzner has no {kind} record named {name}"),
                ),
            ));
        }
        [one] if one.value.trim().parse::<IpAddr>().ok() == Some(address) => {
            return Ok(http::outcome(
                &DESCRIPTOR,
                item,
                Class::Current,
                "current",
                &format!("{name} already points to {address}; nothing was written"),
                None,
            ));
        }
        [_] if rrset.as_ref().is_some_and(|r| r.protection.change) => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "protected",
                    format!("the {kind} record {name} is protected against changes"),
                ),
            ));
        }
        [one] => {
            // set_records replaces the values: the record's comment goes back with it.
            let mut value = json!({ "value": content });
            if let (Some(map), Some(comment)) = (value.as_object_mut(), &one.comment)
                && !comment.is_empty()
            {
                map.insert("comment".into(), Value::String(comment.clone()));
            }
            let body = json!({ "records": [value] });
            let answer = call_path(
                api,
                item,
                Method::POST,
                &format!("{path}/actions/set_records"),
                Some(&body),
            )
            .await?;
            let written = read(&answer).map_err(|s| stop(item, &s))?;
            action_of(&written).ok_or_else(|| protocol(item, &answer))?
        }
        many => {
            let values: Vec<&str> = many.iter().map(|v| v.value.as_str()).collect();
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "several-records",
                    format!(
                        "Hetzner has {} values for the {kind} record {name}: {}",
                        values.len(),
                        values.join(", ")
                    ),
                ),
            ));
        }
    };
    wait(api, item, action).await?;
    Ok(http::outcome(
        &DESCRIPTOR,
        item,
        Class::Changed,
        "updated",
        &format!("{name} now points to {address}"),
        None,
    ))
}

/// The action in an answer, when there is one.
fn action_of(value: &Value) -> Option<Action> {
    serde_json::from_value::<ActionBody>(value.clone())
        .ok()
        .map(|b| b.action)
}

/// What a finished action means: `Ok` for `success`, how it failed for `error`, `None`
/// while it still runs.
fn settled(action: &Action) -> Option<Result<(), Stop>> {
    match action.status.as_str() {
        "running" => None,
        "success" => Some(Ok(())),
        "error" => {
            let (code, message) = action
                .error
                .as_ref()
                .map_or(("", ""), |e| (e.code.as_str(), e.message.trim()));
            let words = format!("Hetzner's change failed: {message} ({code})");
            Some(Err(match class_of(code, None) {
                Some(class) => Stop::new(class, code, words),
                None => Stop::new(Class::Protocol, "action-error", words),
            }))
        }
        other => Some(Err(Stop::new(
            Class::Protocol,
            "protocol",
            format!("Hetzner's change is in an unknown state: {other}"),
        ))),
    }
}

/// Waits until `action` is done: looks again every [`POLL_EVERY`], at most
/// [`MAX_POLLS`] times. Still running then is trouble, not success: the next attempt
/// reads the record before writing anything.
async fn wait(api: &Api<'_>, item: &UpdateItem, mut action: Action) -> Result<(), Outcome> {
    // The action started by the write is the one looked at, whatever a later answer says.
    let id = id_text(&action.id);
    let mut polls = 0;
    loop {
        if let Some(done) = settled(&action) {
            return done.map_err(|s| stop(item, &s));
        }
        if polls >= MAX_POLLS {
            return Err(stop(
                item,
                &Stop::new(
                    Class::Trouble(None),
                    "action-running",
                    format!(
                        "Hetzner's change was still running after {} seconds",
                        POLL_EVERY.as_secs() * u64::from(MAX_POLLS)
                    ),
                ),
            ));
        }
        let Some(id) = &id else {
            return Err(stop(
                item,
                &Stop::new(Class::Protocol, "protocol", "Hetzner's action has no id"),
            ));
        };
        tokio::time::sleep(POLL_EVERY).await;
        polls += 1;
        let answer = call_path(
            api,
            item,
            Method::GET,
            &format!("/zones/actions/{id}"),
            None,
        )
        .await?;
        let value = read(&answer).map_err(|s| stop(item, &s))?;
        action = action_of(&value).ok_or_else(|| protocol(item, &answer))?;
    }
}

/// The zone holding `name` and its id: the account's, or the longest candidate the
/// project has (`GET /zones?name=`), each asked once and remembered.
async fn find_zone(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    name: &str,
) -> Result<(String, String), Outcome> {
    let candidates: Vec<&str> = match &account.zone {
        Some(zone) if http::relative_name(name, zone).is_none() => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "outside-zone",
                    format!("{name} is not in the zone {zone}"),
                ),
            ));
        }
        Some(zone) => vec![zone.as_str()],
        None => http::zone_candidates(name),
    };
    let cached = match &account.zone {
        Some(zone) => account.zones.cached(zone).filter(|(z, _)| z == zone),
        None => account.zones.cached(name),
    };
    if let Some(found) = cached {
        return Ok(found);
    }
    for candidate in candidates {
        let mut url = api.url("/zones").map_err(|f| failed(item, &f))?;
        url.query_pairs_mut().append_pair("name", candidate);
        let answer = call(api, item, Method::GET, url, None).await?;
        let value = read(&answer).map_err(|s| stop(item, &s))?;
        let zones: Zones = serde_json::from_value(value).map_err(|_| protocol(item, &answer))?;
        let id = zones
            .zones
            .iter()
            .find(|z| z.name.eq_ignore_ascii_case(candidate))
            .and_then(|z| id_text(&z.id));
        account.zones.remember(candidate, id.clone());
        if let Some(id) = id {
            return Ok((candidate.to_owned(), id));
        }
    }
    Err(stop(
        item,
        &Stop::new(
            Class::FatalRecord,
            "no-zone",
            format!("no zone of this token's Hetzner project holds {name}"),
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

    fn error(status: u16, code: &str) -> Stop {
        let body = json!({ "error": { "code": code, "message": "words", "details": {} } });
        read(&answer(status, &body.to_string())).unwrap_err()
    }

    #[test]
    fn error_codes_map_to_classes() {
        let cases = [
            (401, "unauthorized", Class::FatalAuth),
            (403, "forbidden", Class::FatalAuth),
            (403, "token_readonly", Class::FatalAuth),
            (404, "not_found", Class::FatalRecord),
            (422, "invalid_input", Class::FatalRecord),
            (423, "protected", Class::FatalRecord),
            (429, "rate_limit_exceeded", Class::RateLimited(None)),
            (423, "locked", Class::Trouble(None)),
            (409, "conflict", Class::Trouble(None)),
            (503, "maintenance", Class::Trouble(None)),
            (500, "server_error", Class::Trouble(None)),
            (504, "timeout", Class::Trouble(None)),
            (502, "bad_gateway", Class::Trouble(None)),
            (410, "deprecated_api_endpoint", Class::FatalPolicy),
        ];
        for (status, code, class) in cases {
            let stop = error(status, code);
            assert_eq!((stop.class, stop.code.as_str()), (class, code));
            assert_eq!(stop.answer, format!("words ({code})"));
        }
        // A code not known here: the status decides; a 4xx never disables.
        let other = error(422, "uniqueness_error");
        assert_eq!(
            (other.class, other.code.as_str()),
            (Class::Protocol, "http-422")
        );
        assert_eq!(error(401, "mystery").class, Class::FatalAuth);
    }

    #[test]
    fn pages_and_text_never_disable() {
        let page = Answer {
            content_type: "text/html".into(),
            ..answer(401, "<html>sign in</html>")
        };
        assert_eq!(read(&page).unwrap_err().class, Class::Protocol);
        assert_eq!(read(&answer(401, "no")).unwrap_err().class, Class::Protocol);
        assert_eq!(
            read(&answer(503, "")).unwrap_err().class,
            Class::Trouble(None)
        );
        assert_eq!(read(&answer(200, "{\"rrs")).unwrap_err().code, "protocol");
    }

    #[test]
    fn actions_are_done_only_on_success_or_error() {
        let action = |status: &str, error: Value| {
            serde_json::from_value::<Action>(json!({ "id": 13, "status": status, "error": error }))
                .unwrap()
        };
        assert_eq!(settled(&action("running", Value::Null)), None);
        assert_eq!(settled(&action("success", Value::Null)), Some(Ok(())));
        let failed = settled(&action(
            "error",
            json!({ "code": "action_failed", "message": "Action failed" }),
        ));
        let Some(Err(stop)) = failed else {
            panic!("{failed:?}")
        };
        assert_eq!(
            (stop.class, stop.code.as_str()),
            (Class::Protocol, "action-error")
        );
        assert!(stop.answer.contains("Action failed (action_failed)"));
        let known = settled(&action(
            "error",
            json!({ "code": "invalid_input", "message": "bad" }),
        ));
        assert!(matches!(
            known,
            Some(Err(Stop {
                class: Class::FatalRecord,
                ..
            }))
        ));
        let odd = settled(&action("paused", Value::Null));
        assert!(matches!(
            odd,
            Some(Err(Stop {
                class: Class::Protocol,
                ..
            }))
        ));
    }

    #[test]
    fn the_old_dns_api_is_refused_as_a_server() {
        let settings = crate::provider::settings::Settings::default();
        let input = |server| AccountInput {
            server: Some(server),
            username: "",
            settings: &settings,
        };
        let problems = Hetzner
            .prepare(&input("https://dns.hetzner.com/api/v1"))
            .unwrap_err();
        assert_eq!(problems[0].key, "server");
        assert!(problems[0].message.contains("May 2026"));
        assert!(
            Hetzner
                .prepare(&input("https://api.hetzner.cloud/v1"))
                .is_ok()
        );
    }
}
