//! DuckDNS: free names under duckdns.org, one account token, one GET per update.
//!
//! `GET /update?domains=a,b&token=…&ip=…[&ipv6=…]&verbose=true`. The names are the parts
//! before `.duckdns.org`, comma-separated, and all get the same addresses. An update of the
//! IPv6 address also carries the IPv4 address in force when a record of the account
//! publishes one: without `ip`, DuckDNS would set the A record to the connection's
//! address. The answer is `OK` or `KO`; with `verbose=true` also the addresses and
//! `UPDATED` or `NOCHANGE`.

use std::net::IpAddr;

use reqwest::Method;

use super::http::{self, Api, Class};
use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem, UpdateRequest,
};

/// DuckDNS.
pub(super) struct DuckDns;

/// The domain every DuckDNS name lives under.
const SUFFIX: &str = ".duckdns.org";

static DESCRIPTOR: Descriptor = Descriptor {
    id: "duckdns",
    name: "DuckDNS",
    protocol: "HTTP API",
    docs_url: "https://www.duckdns.org/spec.jsp",
    key_url: Some("https://www.duckdns.org/"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://www.duckdns.org"),
    account_fields: &[
        FieldSpec::new(
            "secret",
            "Token",
            FieldKind::Secret,
            "The token shown at the top of duckdns.org once you are signed in.",
        )
        .required(),
        SERVER,
    ],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    // All names get the same addresses; a long list keeps one request per change.
    max_batch: 100,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Free. Write a name in full (myhome.duckdns.org); names are made on \
            duckdns.org, not here.",
    refusals: &[
        Refusal {
            code: "KO",
            cure: Cure::Secret,
            advice: "The token is wrong, or a name is not in this \
                     account. Check the token (top of duckdns.org once signed in) and the \
                     names' spelling.",
        },
        Refusal {
            code: "not-duckdns",
            cure: Cure::Settings,
            advice: "DuckDNS only updates names under duckdns.org. Correct the name.",
        },
    ],
};

impl Provider for DuckDns {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        Ok(Prepared::none())
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(update(Api::new(http, request)))
    }
}

/// The DuckDNS sub-name of a record name (`myhome` for `myhome.duckdns.org` or `myhome`).
fn sub_name(name: &str) -> Option<&str> {
    let lower = name.len().checked_sub(SUFFIX.len());
    let sub = match lower {
        Some(cut) if name[cut..].eq_ignore_ascii_case(SUFFIX) => &name[..cut],
        _ => name,
    };
    (!sub.is_empty() && !sub.contains('.')).then_some(sub)
}

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let Some(address) = http::address(request) else {
        return http::for_all(
            &DESCRIPTOR,
            &request.items,
            Class::FatalRecord,
            "no-offline-mode",
            "DuckDNS has no offline mode",
        );
    };
    let mut outcomes: Vec<Option<Outcome>> = vec![None; request.items.len()];
    let mut names = Vec::new();
    let mut asked: Vec<&UpdateItem> = Vec::new();
    for (i, item) in request.items.iter().enumerate() {
        match sub_name(&item.name) {
            Some(sub) => {
                names.push(sub.to_ascii_lowercase());
                asked.push(item);
            }
            None => {
                outcomes[i] = Some(http::outcome(
                    &DESCRIPTOR,
                    item,
                    Class::FatalRecord,
                    "not-duckdns",
                    &format!("{} is not a duckdns.org name", item.name),
                    None,
                ));
            }
        }
    }
    if !asked.is_empty() {
        let answered = send(&api, &names, &asked, address).await;
        let mut answered = answered.into_iter();
        for slot in outcomes.iter_mut().filter(|o| o.is_none()) {
            *slot = answered.next();
        }
    }
    request
        .items
        .iter()
        .zip(outcomes)
        .map(|(item, outcome)| {
            outcome.unwrap_or_else(|| {
                http::outcome(
                    &DESCRIPTOR,
                    item,
                    Class::Protocol,
                    "protocol",
                    "no answer",
                    None,
                )
            })
        })
        .collect()
}

async fn send(
    api: &Api<'_>,
    names: &[String],
    asked: &[&UpdateItem],
    address: IpAddr,
) -> Vec<Outcome> {
    let request = api.request();
    let owned: Vec<UpdateItem> = asked.iter().map(|i| (*i).clone()).collect();
    let mut url = match api.url("/update") {
        Ok(url) => url,
        Err(f) => return http::failed(&DESCRIPTOR, &owned, &f),
    };
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("domains", &names.join(","));
        query.append_pair("token", request.secret.expose());
        match address {
            IpAddr::V4(v4) => {
                query.append_pair("ip", &v4.to_string());
            }
            IpAddr::V6(v6) => {
                if let Some(IpAddr::V4(v4)) = request.other_family {
                    query.append_pair("ip", &v4.to_string());
                }
                query.append_pair("ipv6", &v6.to_string());
            }
        }
        query.append_pair("verbose", "true");
    }
    let answer = match api.send(api.build(Method::GET, url)).await {
        Ok(answer) => answer,
        Err(f) => return http::failed(&DESCRIPTOR, &owned, &f),
    };
    let words: Vec<&str> = answer.body.split_whitespace().collect();
    let (class, code, shown) = match (answer.status, words.first().copied()) {
        (200, Some("OK")) => {
            let echoed: Vec<IpAddr> = words.iter().filter_map(|w| w.parse().ok()).collect();
            let same_family = echoed
                .iter()
                .filter(|a| IpFamily::of(**a) == IpFamily::of(address));
            let wrong = same_family.clone().any(|a| *a != address);
            let status = words.iter().find(|w| matches!(**w, "UPDATED" | "NOCHANGE"));
            let shown = words.join(" ");
            match status {
                _ if wrong => (
                    Class::Protocol,
                    "wrong-address",
                    format!("{shown} (sent {address})"),
                ),
                Some(&"UPDATED") => (Class::Changed, "UPDATED", shown),
                // DuckDNS does not count an unchanged update against anyone.
                Some(_) => (Class::Current, "NOCHANGE", shown),
                // Plain `OK` (a server that ignores `verbose`): taken as updated.
                None if words.len() == 1 => (Class::Changed, "OK", shown),
                None => (Class::Protocol, "protocol", shown),
            }
        }
        (200, Some("KO")) => (Class::FatalAuth, "KO", "KO".to_owned()),
        _ if answer.is_html() => (
            Class::of_status(&answer).not_fatal(),
            "html",
            answer.shown(),
        ),
        (status, _) => {
            let class = match Class::of_status(&answer) {
                Class::FatalAuth => Class::FatalAuth,
                other => other.not_fatal(),
            };
            let code = format!("http-{status}");
            return http::for_all(&DESCRIPTOR, &owned, class, &code, &answer.shown());
        }
    };
    http::for_all(&DESCRIPTOR, &owned, class, code, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_part_before_duckdns_org() {
        assert_eq!(sub_name("myhome.duckdns.org"), Some("myhome"));
        assert_eq!(sub_name("MyHome.DuckDNS.org"), Some("MyHome"));
        assert_eq!(sub_name("myhome"), Some("myhome"));
        assert_eq!(sub_name("a.b.duckdns.org"), None);
        assert_eq!(sub_name("home.example.org"), None);
        assert_eq!(sub_name(".duckdns.org"), None);
    }
}
