//! deSEC: free, DNSSEC-signed names (dedyn.io) and your own domains, with a token.
//!
//! Its dynDNS endpoint: `GET /?hostname=a,b&myipv4=…&myipv6=…` with
//! `Authorization: Token …`. Every request carries both families: when a name's A and
//! AAAA are both due they go in one request (the engine joins them), otherwise the one
//! being updated and `preserve` for the other, because deSEC deletes a family the
//! request leaves out.
//! Names of one request must share a domain, so the request's names are grouped: by the
//! account's `domain` when a name lies in it, else by the name's own domain (its last
//! three labels under dedyn.io, its last two elsewhere). deSEC has no "unchanged" answer
//! and allows two updates per domain every two minutes: it is sent nothing that did not
//! change.

use std::collections::BTreeMap;
use std::net::IpAddr;

use reqwest::Method;

use super::http::{self, Api, Class};
use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem, UpdateRequest,
};

/// deSEC.
pub(super) struct Desec;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "desec",
    name: "deSEC",
    protocol: "HTTP API",
    docs_url: "https://desec.readthedocs.io/en/latest/dyndns/update-api.html",
    key_url: Some("https://desec.io/tokens"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://update.dedyn.io"),
    account_fields: &[
        FieldSpec::new(
            "secret",
            "Token",
            FieldKind::Secret,
            "The token shown when you registered the name, or a new one from desec.io → \
             Token Management.",
        )
        .required(),
        FieldSpec::new(
            "domain",
            "Domain",
            FieldKind::Hostname,
            "The domain registered at deSEC (example.dedyn.io), when your names are below \
             it and it has more labels than Dyntray can guess.",
        )
        .advanced(),
        SERVER,
    ],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    // deSEC allows two updates per domain every two minutes: a domain's names go in one
    // request, however many (a hundred names make a URL of a few kilobytes).
    max_batch: 100,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Free dedyn.io names, DNSSEC-signed. The other address family is kept as it is \
            (`preserve`). deSEC allows two updates per domain every two minutes; Dyntray \
            sends only changes.",
    refusals: &[
        Refusal {
            code: "badauth",
            cure: Cure::Secret,
            advice: "deSEC refused the token. Enter it again in Settings (desec.io → Token \
                     Management makes a new one).",
        },
        Refusal {
            code: "bad-secret",
            cure: Cure::Secret,
            advice: "The token has characters a deSEC token never has. Enter it again in \
                     Settings.",
        },
        Refusal {
            code: "nohost",
            cure: Cure::Settings,
            advice: "deSEC has no such domain in this account. Check the name's spelling.",
        },
        Refusal {
            code: "http-400",
            cure: Cure::Settings,
            advice: "deSEC refused the request for this name (its words are above). Check \
                     the name and the account's domain.",
        },
    ],
};

/// The account as parsed once.
#[derive(Debug, Default)]
struct Account {
    domain: Option<String>,
}

impl Provider for Desec {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        Ok(Prepared::new(Account {
            domain: account.settings.text("domain").map(str::to_owned),
        }))
    }

    fn joint_families(&self) -> bool {
        true
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(Api::new(http, request)))
    }
}

/// The deSEC domain a name belongs to.
fn domain_of(name: &str, configured: Option<&str>) -> String {
    let name = name.to_ascii_lowercase();
    if let Some(domain) = configured
        && http::relative_name(&name, domain).is_some()
    {
        return domain.to_owned();
    }
    let labels: Vec<&str> = name.split('.').collect();
    let keep = if name.ends_with(".dedyn.io") { 3 } else { 2 };
    labels[labels.len().saturating_sub(keep)..].join(".")
}

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let joint = request.joint.as_ref();
    let mut all: Vec<UpdateItem> = request.items.clone();
    all.extend(joint.iter().flat_map(|j| j.items.iter().cloned()));
    // Both families of the request: the joint part carries the other one.
    let mut v4 = None;
    let mut v6 = None;
    for publish in std::iter::once(request.publish).chain(joint.map(|j| j.publish)) {
        match publish {
            super::Publish::Address(address @ IpAddr::V4(_)) => v4 = Some(address),
            super::Publish::Address(address @ IpAddr::V6(_)) => v6 = Some(address),
            super::Publish::Offline => {}
        }
    }
    if v4.is_none() && v6.is_none() {
        return http::for_all(
            &DESCRIPTOR,
            &all,
            Class::FatalRecord,
            "no-offline-mode",
            "deSEC has no offline mode",
        );
    }
    let configured = request
        .settings
        .get::<Account>()
        .and_then(|a| a.domain.as_deref());
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, item) in request.items.iter().enumerate() {
        groups
            .entry(domain_of(&item.name, configured))
            .or_default()
            .push(i);
    }
    let first = request.items.len();
    let mut outcomes: Vec<Option<Outcome>> = vec![None; all.len()];
    for members in groups.values() {
        // A joint item stands at the same place in its list as the item of its name.
        let indices: Vec<usize> = members
            .iter()
            .copied()
            .chain(
                members
                    .iter()
                    .map(|&i| first + i)
                    .filter(|&i| i < all.len()),
            )
            .collect();
        let items: Vec<UpdateItem> = indices.iter().map(|&i| all[i].clone()).collect();
        let names: Vec<String> = members
            .iter()
            .map(|&i| request.items[i].name.to_ascii_lowercase())
            .collect();
        for (&i, outcome) in indices.iter().zip(send(&api, &names, &items, v4, v6).await) {
            outcomes[i] = Some(outcome);
        }
    }
    outcomes.into_iter().flatten().collect()
}

/// One request for `names` (of one domain): each family's address, or `preserve` for a
/// family the request does not update.
async fn send(
    api: &Api<'_>,
    names: &[String],
    items: &[UpdateItem],
    v4: Option<IpAddr>,
    v6: Option<IpAddr>,
) -> Vec<Outcome> {
    let request = api.request();
    let mut url = match api.url("/") {
        Ok(url) => url,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("hostname", &names.join(","));
        // Left out, a family would be deleted (or set to the connection's address).
        let value =
            |address: Option<IpAddr>| address.map_or("preserve".to_owned(), |a| a.to_string());
        query.append_pair("myipv4", &value(v4));
        query.append_pair("myipv6", &value(v6));
    }
    // Marked sensitive, as reqwest marks its own auth headers: never in a debug print.
    let Ok(mut token) =
        reqwest::header::HeaderValue::from_str(&format!("Token {}", request.secret.expose()))
    else {
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::FatalAuth,
            "bad-secret",
            "the token has characters an HTTP header cannot carry",
        );
    };
    token.set_sensitive(true);
    let builder = api
        .build(Method::GET, url)
        .header(reqwest::header::AUTHORIZATION, token);
    let answer = match api.send(builder).await {
        Ok(answer) => answer,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    let first = answer.body.split_whitespace().next().unwrap_or_default();
    let (class, code) = match (answer.status, first) {
        (200, "good") => (Class::Changed, "good".to_owned()),
        (401, _) | (403, _) => (Class::FatalAuth, "badauth".to_owned()),
        (404, _) => (Class::FatalRecord, "nohost".to_owned()),
        (400, _) if !answer.is_html() => (Class::FatalRecord, "http-400".to_owned()),
        (status, _) => (
            Class::of_status(&answer).not_fatal(),
            format!("http-{status}"),
        ),
    };
    let shown = if class == Class::Changed {
        super::first_line(&answer.body)
    } else {
        answer.shown()
    };
    http::for_all(&DESCRIPTOR, items, class, &code, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_grouped_by_their_domain() {
        assert_eq!(domain_of("home.example.dedyn.io", None), "example.dedyn.io");
        assert_eq!(domain_of("example.dedyn.io", None), "example.dedyn.io");
        assert_eq!(domain_of("a.b.example.org", None), "example.org");
        assert_eq!(
            domain_of("a.b.example.co.uk", Some("example.co.uk")),
            "example.co.uk"
        );
        assert_eq!(domain_of("x.other.org", Some("example.co.uk")), "other.org");
    }
}
