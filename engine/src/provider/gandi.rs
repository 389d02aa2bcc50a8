//! Gandi LiveDNS: the DNS of domains on Gandi's LiveDNS name servers, over its v5 API.
//!
//! LiveDNS keeps records as sets: one name and type, a TTL and a list of values. With a
//! personal access token (`Authorization: Bearer`), the provider finds the domain (the
//! account's `zone`, or the longest of the name's candidates that `GET /domains/{fqdn}`
//! knows, remembered), reads the set (`GET /domains/{d}/records/{name}/{type}`, the name
//! relative, `@` for the domain itself) and writes only when its one value differs: a
//! `PUT` of the same path replaces the whole set, so it carries the new value and the TTL
//! the set already had. A set with several values is refused, never cut down to one; a
//! missing set is created by the same `PUT` only when the record says `create = true`.
//! Gandi's answer to a write carries no values to compare. An account check lists the
//! LiveDNS domains the token can see (`GET /domains`) and changes nothing.

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

/// Gandi LiveDNS.
pub(super) struct Gandi;

const TOKEN: FieldSpec = FieldSpec::new(
    "secret",
    "Personal access token",
    FieldKind::Secret,
    "At admin.gandi.net: your user settings → Authentication options → Personal Access \
     Token (PAT) → Create a token, for the organisation owning the domain, with the \
     permission \"Manage domain name technical configurations\".",
)
.required();

const DOMAIN: FieldSpec = FieldSpec::new(
    "zone",
    "Domain",
    FieldKind::Hostname,
    "The domain as Gandi lists it (example.org). Leave empty to find it from each name.",
)
.advanced();

/// The TTL of a set Dyntray creates. LiveDNS's minimum is 300 s [uncertain]: 300 is the
/// shortest allowed whether or not that is so.
const CREATE_TTL: u32 = 300;

/// The domains an account check lists in one page (LiveDNS pages its lists; 100 a page
/// is allowed [uncertain]). The count of all of them is in a header the kit does not
/// read, so a full page may not be all.
const CHECK_PAGE: usize = 100;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "gandi",
    name: "Gandi LiveDNS",
    protocol: "HTTP API",
    docs_url: "https://api.gandi.net/docs/livedns/",
    key_url: Some("https://account.gandi.net/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://api.gandi.net/v5/livedns"),
    account_fields: &[TOKEN, DOMAIN, SERVER],
    record_fields: &[CREATE, OFFLINE_ADDRESS],
    native_offline: false,
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "For domains on Gandi's LiveDNS name servers, with a personal access token (the \
            old API key is deprecated). A name with several addresses is left alone.",
    refusals: &[
        Refusal {
            code: "http-401",
            cure: Cure::Secret,
            advice: "Gandi does not accept the token (it may have expired). Create a new \
                     personal access token at admin.gandi.net and enter it in Settings.",
        },
        Refusal {
            code: "http-403",
            cure: Cure::Secret,
            advice: "Gandi refused the token for this domain. Give it the permission to \
                     manage the domain's technical configuration, for the organisation that \
                     owns the domain, or enter another token.",
        },
        Refusal {
            code: "no-zone",
            cure: Cure::Settings,
            advice: "No domain on Gandi's LiveDNS that this token can see holds this name. \
                     Check the name and that the domain uses LiveDNS name servers, or set \
                     the account's domain.",
        },
        Refusal {
            code: "outside-zone",
            cure: Cure::Settings,
            advice: "The name is not in the account's domain. Correct the name or the domain.",
        },
        Refusal {
            code: "no-record",
            cure: Cure::Settings,
            advice: "Gandi has no record of this type for the name. Add it in Gandi's DNS \
                     records page, or let Dyntray create it (\"Create it if missing\").",
        },
        Refusal {
            code: "several-records",
            cure: Cure::Provider,
            advice: "Gandi holds several addresses for this name and type. Dyntray would \
                     have to replace them all, so it changes nothing: keep one address at \
                     Gandi, then re-enable the name.",
        },
        Refusal {
            code: "no-offline-mode",
            cure: Cure::Settings,
            advice: "Gandi has no offline mode: give the record an off-line address instead.",
        },
    ],
};

/// The account as parsed once: an optional fixed domain, and what is known of candidates.
#[derive(Debug, Default)]
struct Account {
    domain: Option<String>,
    /// The domains LiveDNS has for this token (the id is the domain's name).
    known: http::ZoneCache,
}

impl Provider for Gandi {
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

/// Checks the token without changing anything: the LiveDNS domains it can see
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
        Err(f) => return failed(format!("Gandi could not be asked: {}", f.text())),
    };
    match read(&answer) {
        Ok(()) => {}
        Err(stop) if stop.class == Class::FatalAuth => {
            return failed(format!("Gandi refused the token: {}", stop.answer));
        }
        Err(stop) => return failed(format!("Gandi could not check the token: {}", stop.answer)),
    }
    let Some(domains) = answer.json::<Vec<LiveDomain>>() else {
        return failed(format!(
            "Gandi could not check the token: {}",
            answer.shown()
        ));
    };
    let names: Vec<String> = domains.into_iter().map(|d| d.fqdn).collect();
    let total = (names.len() < CHECK_PAGE).then_some(names.len());
    let fixed = api
        .request()
        .settings
        .get::<Account>()
        .and_then(|a| a.domain.as_deref());
    http::zones_seen(
        "Gandi accepts the token",
        "domain",
        &names,
        total,
        fixed,
        "Check that your domain uses Gandi's LiveDNS name servers and that the token is for \
         the organisation that owns it.",
    )
}

/// A domain on LiveDNS, as its list gives it.
#[derive(Debug, Deserialize)]
struct LiveDomain {
    fqdn: String,
}

/// One record set.
#[derive(Debug, Deserialize)]
struct Rrset {
    #[serde(default)]
    rrset_type: Option<String>,
    #[serde(default)]
    rrset_values: Vec<String>,
}

/// Whether an answer is a 404 from the API itself (not a page from something in front).
fn not_found(answer: &Answer) -> bool {
    answer.status == 404 && !answer.is_html()
}

/// Reads an answer: fine when it succeeded, else how it failed. Gandi's error body is
/// `{"code","message","object","cause"}` [uncertain]: its message is shown when it is
/// there, the status classifies either way.
fn read(answer: &Answer) -> Result<(), Stop> {
    let status_code = format!("http-{}", answer.status);
    if answer.is_html() {
        return Err(Stop::new(
            Class::of_status(answer).not_fatal(),
            &status_code,
            format!("an HTML page instead of an API answer ({})", answer.shown()),
        ));
    }
    if answer.ok() {
        return Ok(());
    }
    let message = answer
        .json::<Value>()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .filter(|m| !m.trim().is_empty());
    let shown = match message {
        Some(message) => format!("HTTP {}: {}", answer.status, message.trim()),
        None => answer.shown(),
    };
    // 401/403 refuse the token whatever the body looks like (its shape is not certain);
    // 429 waits, 5xx backs off, anything else is shown and backed off from.
    Err(Stop::new(Class::of_status(answer), &status_code, shown))
}

fn stop(item: &UpdateItem, stop: &Stop) -> Outcome {
    stop.outcome(&DESCRIPTOR, item)
}

fn failed(item: &UpdateItem, failure: &Failure) -> Outcome {
    http::failed_one(&DESCRIPTOR, item, failure)
}

/// The values of the set of `kind` in a read answer. The body is one set object
/// [uncertain]; a list of sets is read too, keeping those of `kind`. `None` when the
/// body is neither.
fn values(body: &str, kind: &str) -> Option<Vec<Vec<String>>> {
    let sets: Vec<Rrset> = match serde_json::from_str::<Value>(body).ok()? {
        object @ Value::Object(_) => vec![serde_json::from_value(object).ok()?],
        list @ Value::Array(_) => serde_json::from_value(list).ok()?,
        _ => return None,
    };
    Some(
        sets.into_iter()
            .filter(|s| {
                s.rrset_type
                    .as_deref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(kind))
            })
            .map(|s| s.rrset_values)
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// The TTL of the set in a read answer, to be sent back unchanged.
fn ttl(body: &str) -> Option<Value> {
    match serde_json::from_str::<Value>(body).ok()? {
        Value::Object(map) => map.get("rrset_ttl").filter(|t| t.is_number()).cloned(),
        _ => None,
    }
}

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let Some(address) = http::address(request) else {
        return http::for_all(
            &DESCRIPTOR,
            &request.items,
            Class::FatalRecord,
            "no-offline-mode",
            "Gandi has no offline mode",
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

/// Sends `method` to `path` with the token, and `body` as JSON when given.
async fn call(
    api: &Api<'_>,
    item: &UpdateItem,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, Outcome> {
    let url = api.url(path).map_err(|f| failed(item, &f))?;
    let builder = api
        .build(method, url)
        .bearer_auth(api.request().secret.expose());
    let builder = match body {
        Some(body) => api.json(builder, body),
        None => builder,
    };
    api.send(builder).await.map_err(|f| failed(item, &f))
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
    let path = format!("/domains/{domain}/records/{relative}/{kind}");

    let answer = call(api, item, Method::GET, &path, None).await?;
    let sets = if not_found(&answer) {
        Vec::new()
    } else {
        read(&answer).map_err(|s| stop(item, &s))?;
        values(&answer.body, kind).ok_or_else(|| {
            stop(
                item,
                &Stop::new(Class::Protocol, "protocol", answer.shown()),
            )
        })?
    };
    let content = address.to_string();
    let body = match sets.as_slice() {
        [] if api.request().options.create => {
            json!({ "rrset_values": [content], "rrset_ttl": CREATE_TTL })
        }
        [] => {
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "no-record",
                    format!("Gandi has no {kind} record named {name}"),
                ),
            ));
        }
        [one] if one.len() == 1 && one[0].trim().parse::<IpAddr>().ok() == Some(address) => {
            return Ok(http::outcome(
                &DESCRIPTOR,
                item,
                Class::Current,
                "current",
                &format!("{name} already points to {address}; nothing was written"),
                None,
            ));
        }
        [one] if one.len() == 1 => {
            // The PUT replaces the set: its TTL goes back as it was.
            let mut body = json!({ "rrset_values": [content] });
            if let (Some(map), Some(ttl)) = (body.as_object_mut(), ttl(&answer.body)) {
                map.insert("rrset_ttl".into(), ttl);
            }
            body
        }
        sets => {
            let values: Vec<&str> = sets.iter().flatten().map(String::as_str).collect();
            return Err(stop(
                item,
                &Stop::new(
                    Class::FatalRecord,
                    "several-records",
                    format!(
                        "Gandi has {} values for the {kind} record {name}: {}",
                        values.len(),
                        values.join(", ")
                    ),
                ),
            ));
        }
    };
    let answer = call(api, item, Method::PUT, &path, Some(&body)).await?;
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

/// The domain holding `name`: the account's or the longest candidate LiveDNS has, each
/// asked once (`GET /domains/{fqdn}`) and remembered.
async fn find_domain(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    name: &str,
) -> Result<String, Outcome> {
    let candidates: Vec<&str> = match &account.domain {
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
        Some(domain) => vec![domain.as_str()],
        None => http::zone_candidates(name),
    };
    let cached = match &account.domain {
        Some(domain) => account.known.cached(domain).filter(|(d, _)| d == domain),
        None => account.known.cached(name),
    };
    if let Some((domain, _)) = cached {
        return Ok(domain);
    }
    for candidate in candidates {
        let answer = call(
            api,
            item,
            Method::GET,
            &format!("/domains/{candidate}"),
            None,
        )
        .await?;
        if not_found(&answer) {
            account.known.remember(candidate, None);
            continue;
        }
        read(&answer).map_err(|s| stop(item, &s))?;
        account
            .known
            .remember(candidate, Some(candidate.to_owned()));
        return Ok(candidate.to_owned());
    }
    Err(stop(
        item,
        &Stop::new(
            Class::FatalRecord,
            "no-zone",
            format!("no domain on Gandi's LiveDNS that this token can see holds {name}"),
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
    fn statuses_map_to_classes_and_codes() {
        let unauthorized = r#"{"code":401,"message":"The server could not verify that you authorized to access the document you requested.","object":"HTTPUnauthorized","cause":"Unauthorized"}"#;
        let stop = read(&answer(401, unauthorized)).unwrap_err();
        assert_eq!(
            (stop.class, stop.code.as_str()),
            (Class::FatalAuth, "http-401")
        );
        assert!(
            stop.answer
                .starts_with("HTTP 401: The server could not verify")
        );
        // Either body shape: plain text refuses the token alike.
        let stop = read(&answer(403, "Forbidden")).unwrap_err();
        assert_eq!(
            (stop.class, stop.code.as_str()),
            (Class::FatalAuth, "http-403")
        );
        assert_eq!(
            read(&answer(429, "")).unwrap_err().class,
            Class::RateLimited(None)
        );
        assert_eq!(
            read(&answer(503, "")).unwrap_err().class,
            Class::Trouble(None)
        );
        assert_eq!(read(&answer(409, "{}")).unwrap_err().class, Class::Protocol);
        assert!(read(&answer(201, r#"{"message":"DNS Record Created"}"#)).is_ok());
        let page = Answer {
            content_type: "text/html".into(),
            ..answer(401, "<html>sign in</html>")
        };
        assert_eq!(read(&page).unwrap_err().class, Class::Protocol);
        assert!(!not_found(&Answer {
            content_type: "text/html".into(),
            ..answer(404, "<html>nothing</html>")
        }));
        assert!(not_found(&answer(404, "")));
    }

    #[test]
    fn sets_are_read_as_an_object_or_a_list() {
        let one = r#"{"rrset_name":"home","rrset_type":"A","rrset_ttl":1800,"rrset_values":["81.2.69.1"]}"#;
        assert_eq!(values(one, "A"), Some(vec![vec!["81.2.69.1".to_owned()]]));
        assert_eq!(ttl(one), Some(json!(1800)));
        let list = r#"[{"rrset_type":"AAAA","rrset_values":["2001:db8::1"]},
                       {"rrset_type":"A","rrset_values":["81.2.69.1","81.2.69.2"]}]"#;
        assert_eq!(
            values(list, "A"),
            Some(vec![vec!["81.2.69.1".to_owned(), "81.2.69.2".to_owned()]])
        );
        assert_eq!(values(r#"{"rrset_values":[]}"#, "A"), Some(vec![]));
        assert_eq!(values("\"text\"", "A"), None);
        assert_eq!(values("{\"rrset_val", "A"), None);
    }
}
