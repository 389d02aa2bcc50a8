//! Cloudflare: DNS records over its REST API (v4), with an API token.
//!
//! A request's names are grouped by zone. The zone is the account's `zone`, or found from
//! each name (`GET /zones?name=`, longest candidate first) and remembered. Per zone, the
//! records of the address's type are read (one request: by name for a single name, the
//! zone's list for several), and only those whose content differs are written: one `PATCH`
//! of the content alone (so the user's proxy, TTL and comment stay) for one name, one
//! `/dns_records/batch` request for several. A name with no record stops with advice
//! unless the record says `create = true`; a name with several records (round robin) is
//! never guessed at.

use std::collections::BTreeMap;
use std::net::IpAddr;

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, Answer, Api, Class, Failure};
use super::{
    AccountInput, BoxFuture, CREATE, CheckResult, Cure, Descriptor, FieldKind, FieldProblem,
    FieldSpec, IpFamily, OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem,
    UpdateRequest,
};

/// Cloudflare.
pub(super) struct Cloudflare;

const TOKEN: FieldSpec = FieldSpec::new(
    "secret",
    "API token",
    FieldKind::Secret,
    "In the Cloudflare dashboard: My Profile → API Tokens → Create Token → \"Edit zone DNS\", \
     for the zone of your names (add Zone → Zone → Read to let Dyntray find the zone itself).",
)
.required();

const ZONE: FieldSpec = FieldSpec::new(
    "zone",
    "Zone",
    FieldKind::Hostname,
    "The domain as Cloudflare lists it (example.org). Leave empty to find it from each name \
     (the token then also needs Zone → Zone → Read).",
)
.advanced();

static DESCRIPTOR: Descriptor = Descriptor {
    id: "cloudflare",
    name: "Cloudflare",
    protocol: "HTTP API",
    docs_url: "https://developers.cloudflare.com/api/resources/dns/subresources/records/",
    key_url: Some("https://dash.cloudflare.com/profile/api-tokens"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://api.cloudflare.com/client/v4"),
    account_fields: &[TOKEN, ZONE, SERVER],
    record_fields: &[CREATE, OFFLINE_ADDRESS],
    native_offline: false,
    // One batch request carries at most 200 changes on the free plan.
    max_batch: 200,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "An API token made from the \"Edit zone DNS\" template is all it needs. Only the \
            address of an existing record changes: its proxy status, TTL and comment stay. \
            Names of one zone are read in one request and written in one batch.",
    refusals: &[
        Refusal {
            code: "cf-9109",
            cure: Cure::Secret,
            advice: "Cloudflare does not accept the API token. Create a new one (template \
                     \"Edit zone DNS\") and enter it in Settings.",
        },
        Refusal {
            code: "cf-10000",
            cure: Cure::Secret,
            advice: "Cloudflare refused the API token for this request. Check that the token \
                     has the permission DNS Edit for this zone, or enter a new one.",
        },
        Refusal {
            code: "http-401",
            cure: Cure::Secret,
            advice: "Cloudflare refused the API token. Enter a valid one in Settings.",
        },
        Refusal {
            code: "http-403",
            cure: Cure::Secret,
            advice: "Cloudflare refused the API token for this zone. Give it the permission \
                     DNS Edit for the zone, or enter another token.",
        },
        Refusal {
            code: "no-zone",
            cure: Cure::Settings,
            advice: "No Cloudflare zone this token can see holds this name. Check the name, \
                     set the account's zone, or give the token Zone → Zone → Read.",
        },
        Refusal {
            code: "cf-7003",
            cure: Cure::Settings,
            advice: "Cloudflare has no such zone. Check the account's zone (the domain name, \
                     like example.org).",
        },
        Refusal {
            code: "outside-zone",
            cure: Cure::Settings,
            advice: "The name is not in the account's zone. Correct the name or the zone.",
        },
        Refusal {
            code: "no-record",
            cure: Cure::Settings,
            advice: "Cloudflare has no record of this type for the name. Create it in the \
                     Cloudflare dashboard, or let Dyntray create it (\"Create it if missing\").",
        },
        Refusal {
            code: "several-records",
            cure: Cure::Provider,
            advice: "Cloudflare has several records of this type for the name (round robin); \
                     Dyntray does not guess which one to change. Keep one in the dashboard, \
                     then re-enable the name.",
        },
        Refusal {
            code: "cf-81057",
            cure: Cure::Provider,
            advice: "Cloudflare already has such a record. Check the name in the dashboard, \
                     then re-enable it.",
        },
        Refusal {
            code: "cf-1038",
            cure: Cure::Provider,
            advice: "Cloudflare does not allow API changes for this top-level domain (.cf, \
                     .ga, .gq, .ml, .tk). Change the record in the dashboard.",
        },
    ],
};

/// The account as parsed once: an optional fixed zone, and the zones found so far.
#[derive(Debug, Default)]
struct Account {
    zone: Option<String>,
    /// Zone names and ids found with the token.
    zones: http::ZoneCache,
}

impl Provider for Cloudflare {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
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

/// Checks the token without changing anything: Cloudflare's token check, then the zones
/// it can see.
async fn check(api: Api<'_>) -> CheckResult {
    let failed = |message: String| CheckResult { ok: false, message };
    let get = |path: &str| -> Result<reqwest::RequestBuilder, Failure> {
        let url = api.url(path)?;
        Ok(api
            .build(Method::GET, url)
            .bearer_auth(api.request().secret.expose()))
    };
    let verify = match get("/user/tokens/verify") {
        Ok(request) => api.send(request).await,
        Err(f) => Err(f),
    };
    let answer = match verify {
        Ok(answer) => answer,
        Err(f) => return failed(format!("Cloudflare could not be asked: {}", f.text())),
    };
    let envelope = match read(&answer) {
        Ok(envelope) => envelope,
        Err(refused) => return failed(format!("Cloudflare refused the token: {}", refused.answer)),
    };
    let status = envelope.result["status"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    if status != "active" {
        return failed(format!(
            "Cloudflare says the token is {status}, not active."
        ));
    }
    let zones = match get("/zones?per_page=50") {
        Ok(request) => api.send(request).await.ok(),
        Err(_) => None,
    };
    let listed = zones
        .as_ref()
        .and_then(|answer| read(answer).ok())
        .and_then(|envelope| {
            let total = envelope.result_info.as_ref().and_then(|i| i.total_count);
            let zones = serde_json::from_value::<Vec<Zone>>(envelope.result).ok()?;
            Some((zones.into_iter().map(|z| z.name).collect::<Vec<_>>(), total))
        });
    let (names, total) = listed.unwrap_or_default();
    let fixed = api
        .request()
        .settings
        .get::<Account>()
        .and_then(|a| a.zone.clone());
    http::zones_seen(
        "Cloudflare accepts the token",
        "zone",
        &names,
        // Without a count, a full page of 50 may go on.
        total.or_else(|| (names.len() < 50).then_some(names.len())),
        fixed.as_deref(),
        "Give it Zone → Zone → Read, or check that it covers your zone.",
    )
}

/// Cloudflare's answer envelope.
#[derive(Debug, Deserialize)]
struct Envelope {
    success: bool,
    #[serde(default)]
    errors: Vec<ApiError>,
    #[serde(default)]
    result: serde_json::Value,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct ResultInfo {
    #[serde(default)]
    total_pages: Option<u64>,
    #[serde(default)]
    total_count: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
struct DnsRecord {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    content: String,
}

#[derive(Debug, Deserialize)]
struct Zone {
    id: String,
    name: String,
}

/// A classified failure for the whole of a step.
struct Refused {
    class: Class,
    code: String,
    answer: String,
}

/// Reads an answer: the envelope's result when it succeeded, else how it failed.
fn read(answer: &Answer) -> Result<Envelope, Refused> {
    let refused = |class, code: &str, answer: String| Refused {
        class,
        code: code.to_owned(),
        answer,
    };
    if answer.is_html() {
        return Err(refused(
            Class::of_status(answer).not_fatal(),
            &format!("http-{}", answer.status),
            format!("an HTML page instead of an API answer ({})", answer.shown()),
        ));
    }
    let Some(envelope) = answer.json::<Envelope>() else {
        let class = match Class::of_status(answer) {
            Class::FatalAuth => Class::FatalAuth,
            other => other.not_fatal(),
        };
        return Err(refused(
            class,
            &format!("http-{}", answer.status),
            answer.shown(),
        ));
    };
    if envelope.success && answer.ok() {
        return Ok(envelope);
    }
    let Some(first) = envelope.errors.first() else {
        return Err(refused(
            Class::of_status(answer),
            &format!("http-{}", answer.status),
            answer.shown(),
        ));
    };
    let words: Vec<String> = envelope
        .errors
        .iter()
        .map(|e| format!("{} (code {})", e.message.trim(), e.code))
        .collect();
    let class = match first.code {
        // Invalid token, authentication error, malformed Authorization header, unknown key.
        9109 | 10000 | 6003 | 6111 | 9103 => Class::FatalAuth,
        // No route (a zone that is not there), record gone, duplicate record.
        7003 | 7000 | 81044 | 81057 | 81058 => Class::FatalRecord,
        // The API refuses changes to some free top-level domains.
        1038 => Class::FatalPolicy,
        // "Please wait and consider throttling your request speed."
        971 => Class::RateLimited(answer.retry_after),
        _ => match Class::of_status(answer) {
            // 400 or 404 with a code not known here: show it, back off, do not disable.
            Class::Protocol => Class::Protocol,
            other => other,
        },
    };
    let code = match first.code {
        7000 => "cf-7003".to_owned(),
        81058 => "cf-81057".to_owned(),
        code => format!("cf-{code}"),
    };
    Err(refused(class, &code, words.join("; ")))
}

/// One name of the request and what happens to it.
struct Work<'i> {
    item: &'i UpdateItem,
    outcome: Option<Outcome>,
}

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let items = &request.items;
    let Some(address) = http::address(request) else {
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::FatalRecord,
            "no-offline-mode",
            "Cloudflare has no offline mode",
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
    let kind = IpFamily::of(address).record_type();
    let mut work: Vec<Work<'_>> = items
        .iter()
        .map(|item| Work {
            item,
            outcome: None,
        })
        .collect();

    // Names by zone id, in request order.
    let mut zones: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for index in 0..work.len() {
        let name = work[index].item.name.to_ascii_lowercase();
        let found = match &account.zone {
            Some(zone) => match http::relative_name(&name, zone) {
                None => Err(Refused {
                    class: Class::FatalRecord,
                    code: "outside-zone".into(),
                    answer: format!("{name} is not in the zone {zone}"),
                }),
                Some(_) => zone_id(&api, account, zone).await,
            },
            None => find_zone(&api, account, &name).await,
        };
        match found {
            Ok(id) => zones.entry(id).or_default().push(index),
            Err(refused) => {
                let fatal_for_all = refused.class != Class::FatalRecord;
                let outcome = finish(work[index].item, &refused);
                work[index].outcome = Some(outcome);
                if fatal_for_all {
                    // The credential or the service failed: the rest would fail alike.
                    return fill(work, &refused);
                }
            }
        }
    }

    for (zone_id, members) in zones {
        let listed = match list(&api, &zone_id, kind, &members, &work).await {
            Ok(listed) => listed,
            Err(refused) => {
                for &i in &members {
                    work[i].outcome = Some(finish(work[i].item, &refused));
                }
                continue;
            }
        };
        let mut patches = Vec::new();
        let mut posts = Vec::new();
        for &i in &members {
            let name = work[i].item.name.to_ascii_lowercase();
            let matching: Vec<&DnsRecord> = listed
                .iter()
                .filter(|r| r.kind == kind && r.name.eq_ignore_ascii_case(&name))
                .collect();
            match matching.as_slice() {
                [] if request.options.create => posts.push(i),
                [] => {
                    work[i].outcome = Some(finish(
                        work[i].item,
                        &Refused {
                            class: Class::FatalRecord,
                            code: "no-record".into(),
                            answer: format!("Cloudflare has no {kind} record named {name}"),
                        },
                    ));
                }
                [one] if one.content.parse::<IpAddr>().ok() == Some(address) => {
                    work[i].outcome = Some(http::outcome(
                        &DESCRIPTOR,
                        work[i].item,
                        Class::Current,
                        "current",
                        &format!("{name} already points to {address}; nothing was written"),
                        None,
                    ));
                }
                [one] => patches.push((i, one.id.clone())),
                many => {
                    work[i].outcome = Some(finish(
                        work[i].item,
                        &Refused {
                            class: Class::FatalRecord,
                            code: "several-records".into(),
                            answer: format!(
                                "Cloudflare has {} {kind} records named {name}",
                                many.len()
                            ),
                        },
                    ));
                }
            }
        }
        if patches.is_empty() && posts.is_empty() {
            continue;
        }
        let written = write(&api, &zone_id, kind, address, &patches, &posts, &work).await;
        for (i, result) in written {
            work[i].outcome = Some(match result {
                Ok(()) => http::outcome(
                    &DESCRIPTOR,
                    work[i].item,
                    Class::Changed,
                    "updated",
                    &format!("{} now points to {address}", work[i].item.name),
                    None,
                ),
                Err(refused) => finish(work[i].item, &refused),
            });
        }
    }
    work.into_iter()
        .map(|w| {
            w.outcome.unwrap_or_else(|| {
                http::outcome(
                    &DESCRIPTOR,
                    w.item,
                    Class::Protocol,
                    "protocol",
                    "no answer was read for this name",
                    None,
                )
            })
        })
        .collect()
}

fn finish(item: &UpdateItem, refused: &Refused) -> Outcome {
    http::outcome(
        &DESCRIPTOR,
        item,
        refused.class,
        &refused.code,
        &refused.answer,
        None,
    )
}

/// Every name still without an outcome gets `refused`.
fn fill(work: Vec<Work<'_>>, refused: &Refused) -> Vec<Outcome> {
    work.into_iter()
        .map(|w| w.outcome.unwrap_or_else(|| finish(w.item, refused)))
        .collect()
}

fn failure(failure: &Failure, items: &[&UpdateItem]) -> Refused {
    let outcome = http::failed(&DESCRIPTOR, &[items[0].clone()], failure).remove(0);
    let class = match outcome.verdict {
        super::Verdict::Transient { retry_after, .. } => Class::Trouble(retry_after),
        super::Verdict::Fatal { .. } => Class::FatalAuth,
        _ => Class::Protocol,
    };
    Refused {
        class,
        code: outcome.code,
        answer: outcome.answer,
    }
}

/// The id of the zone named `zone`.
async fn zone_id(api: &Api<'_>, account: &Account, zone: &str) -> Result<String, Refused> {
    if let Some((_, id)) = account.zones.cached(zone).filter(|(name, _)| name == zone) {
        return Ok(id);
    }
    match lookup_zone(api, zone).await? {
        Some(id) => {
            account.zones.remember(zone, Some(id.clone()));
            Ok(id)
        }
        None => Err(Refused {
            class: Class::FatalRecord,
            code: "no-zone".into(),
            answer: format!("Cloudflare has no zone {zone} that this token can see"),
        }),
    }
}

/// The zone holding `name`: the longest candidate Cloudflare knows.
async fn find_zone(api: &Api<'_>, account: &Account, name: &str) -> Result<String, Refused> {
    if let Some((_, id)) = account.zones.cached(name) {
        return Ok(id);
    }
    for candidate in http::zone_candidates(name) {
        let id = lookup_zone(api, candidate).await?;
        account.zones.remember(candidate, id.clone());
        if let Some(id) = id {
            return Ok(id);
        }
    }
    Err(Refused {
        class: Class::FatalRecord,
        code: "no-zone".into(),
        answer: format!("no Cloudflare zone that this token can see holds {name}"),
    })
}

async fn lookup_zone(api: &Api<'_>, zone: &str) -> Result<Option<String>, Refused> {
    let item = &api.request().items[0];
    let mut url = api.url("/zones").map_err(|f| failure(&f, &[item]))?;
    url.query_pairs_mut().append_pair("name", zone);
    let answer = api
        .send(
            api.build(Method::GET, url)
                .bearer_auth(api.request().secret.expose()),
        )
        .await
        .map_err(|f| failure(&f, &[item]))?;
    let envelope = read(&answer)?;
    let zones: Vec<Zone> = serde_json::from_value(envelope.result).map_err(|_| Refused {
        class: Class::Protocol,
        code: "protocol".into(),
        answer: answer.shown(),
    })?;
    Ok(zones
        .into_iter()
        .find(|z| z.name.eq_ignore_ascii_case(zone))
        .map(|z| z.id))
}

/// The records of `kind` for the members' names: by name for one, the zone's whole list
/// of that type (page by page) for several.
async fn list(
    api: &Api<'_>,
    zone_id: &str,
    kind: &str,
    members: &[usize],
    work: &[Work<'_>],
) -> Result<Vec<DnsRecord>, Refused> {
    const PER_PAGE: u64 = 1000;
    const MAX_PAGES: u64 = 50;
    let items: Vec<&UpdateItem> = members.iter().map(|&i| work[i].item).collect();
    let mut records = Vec::new();
    let mut page = 1;
    loop {
        let mut url = api
            .url(&format!("/zones/{zone_id}/dns_records"))
            .map_err(|f| failure(&f, &items))?;
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("type", kind);
            if let [only] = items.as_slice() {
                query.append_pair("name", &only.name.to_ascii_lowercase());
            } else {
                query.append_pair("per_page", &PER_PAGE.to_string());
                query.append_pair("page", &page.to_string());
            }
        }
        let answer = api
            .send(
                api.build(Method::GET, url)
                    .bearer_auth(api.request().secret.expose()),
            )
            .await
            .map_err(|f| failure(&f, &items))?;
        let envelope = read(&answer)?;
        let found: Vec<DnsRecord> =
            serde_json::from_value(envelope.result).map_err(|_| Refused {
                class: Class::Protocol,
                code: "protocol".into(),
                answer: answer.shown(),
            })?;
        records.extend(found);
        let pages = envelope
            .result_info
            .and_then(|info| info.total_pages)
            .unwrap_or(1);
        if items.len() == 1 || page >= pages || page >= MAX_PAGES {
            return Ok(records);
        }
        page += 1;
    }
}

/// Writes the changes of one zone: one `PATCH` (or `POST`) for one name, one batch for
/// several. Returns each member's result.
async fn write(
    api: &Api<'_>,
    zone_id: &str,
    kind: &str,
    address: IpAddr,
    patches: &[(usize, String)],
    posts: &[usize],
    work: &[Work<'_>],
) -> Vec<(usize, Result<(), Refused>)> {
    let content = address.to_string();
    let members: Vec<usize> = patches
        .iter()
        .map(|(i, _)| *i)
        .chain(posts.iter().copied())
        .collect();
    let items: Vec<&UpdateItem> = members.iter().map(|&i| work[i].item).collect();
    let new_record = |i: usize| {
        json!({
            "type": kind,
            "name": work[i].item.name.to_ascii_lowercase(),
            "content": content,
            // Automatic TTL, not proxied: proxying a name that serves more than the web
            // would break it. Existing records keep whatever the user chose.
            "ttl": 1,
            "proxied": false,
        })
    };
    let (method, path, body) = match (patches, posts) {
        ([(_, id)], []) => (
            Method::PATCH,
            format!("/zones/{zone_id}/dns_records/{id}"),
            json!({ "content": content }),
        ),
        ([], [i]) => (
            Method::POST,
            format!("/zones/{zone_id}/dns_records"),
            new_record(*i),
        ),
        _ => {
            let patches: Vec<serde_json::Value> = patches
                .iter()
                .map(|(_, id)| json!({ "id": id, "content": content }))
                .collect();
            let posts: Vec<serde_json::Value> = posts.iter().map(|&i| new_record(i)).collect();
            let mut body = serde_json::Map::new();
            if !patches.is_empty() {
                body.insert("patches".into(), patches.into());
            }
            if !posts.is_empty() {
                body.insert("posts".into(), posts.into());
            }
            (
                Method::POST,
                format!("/zones/{zone_id}/dns_records/batch"),
                serde_json::Value::Object(body),
            )
        }
    };
    let all = |result: Result<(), Refused>| -> Vec<(usize, Result<(), Refused>)> {
        members
            .iter()
            .map(|&i| {
                (
                    i,
                    match &result {
                        Ok(()) => Ok(()),
                        Err(r) => Err(Refused {
                            class: r.class,
                            code: r.code.clone(),
                            answer: r.answer.clone(),
                        }),
                    },
                )
            })
            .collect()
    };
    let url = match api.url(&path) {
        Ok(url) => url,
        Err(f) => return all(Err(failure(&f, &items))),
    };
    let answer = match api
        .send(
            api.json(
                api.build(method, url)
                    .bearer_auth(api.request().secret.expose()),
                &body,
            ),
        )
        .await
    {
        Ok(answer) => answer,
        Err(f) => return all(Err(failure(&f, &items))),
    };
    let envelope = match read(&answer) {
        Ok(envelope) => envelope,
        Err(refused) => return all(Err(refused)),
    };
    // The answer must show the new content: for one record its result, for a batch each
    // result of its lists (the batch is one transaction: all or nothing).
    let results: Vec<serde_json::Value> = match envelope.result {
        serde_json::Value::Object(mut map) if map.contains_key("id") => {
            vec![serde_json::Value::Object(std::mem::take(&mut map))]
        }
        serde_json::Value::Object(map) => ["patches", "posts"]
            .iter()
            .filter_map(|k| map.get(*k)?.as_array().cloned())
            .flatten()
            .collect(),
        _ => Vec::new(),
    };
    let shows_address = |v: &serde_json::Value| {
        v.get("content")
            .and_then(serde_json::Value::as_str)
            .and_then(|c| c.parse::<IpAddr>().ok())
            == Some(address)
    };
    if results.len() != members.len() || !results.iter().all(shows_address) {
        return all(Err(Refused {
            class: Class::Protocol,
            code: "wrong-answer".into(),
            answer: format!(
                "Cloudflare's answer does not show {address} for every name ({})",
                answer.shown()
            ),
        }));
    }
    all(Ok(()))
}
