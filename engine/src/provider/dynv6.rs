//! dynv6: free zones (dynv6.net, v6.rocks, …) updated through its own update API.
//!
//! `GET /api/update?hostname=<zone>&token=<token>&ipv4=<ip>` (or `&ipv6=<ip>`), one zone
//! per request, with one of the account's HTTP tokens in the query (the kit removes it
//! from every answer). The answer is a short text: `updated` when the address changed,
//! `unchanged` when the zone already had it (dynv6 does not count that against anyone);
//! read word by word, so `notupdated` is neither. Refusals come as HTTP statuses: 401 for
//! the token, 404 for the zone.

use std::net::IpAddr;

use reqwest::Method;

use super::http::{self, Answer, Api, Class};
use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem, UpdateRequest,
};

/// dynv6.
pub(super) struct Dynv6;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "dynv6",
    name: "dynv6",
    protocol: "HTTP API",
    docs_url: "https://dynv6.com/docs/apis",
    key_url: Some("https://dynv6.com/keys"),
    families: &[IpFamily::V4, IpFamily::V6],
    default_server: Some("https://dynv6.com"),
    account_fields: &[
        FieldSpec::new(
            "secret",
            "HTTP token",
            FieldKind::Secret,
            "Signed in at dynv6.com: Keys → HTTP Tokens (the zone's page shows it in its \
             update URLs too).",
        )
        .required(),
        SERVER,
    ],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    // The update API takes one zone per request.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "Write each zone's name in full (myhome.dynv6.net); the update sets the zone's \
            own address. One token serves every zone of the account.",
    refusals: &[
        Refusal {
            code: "bad-token",
            cure: Cure::Secret,
            advice: "dynv6 refused the HTTP token. Copy it again from dynv6.com → Keys → HTTP \
                     Tokens and enter it in Settings.",
        },
        Refusal {
            code: "no-zone",
            cure: Cure::Settings,
            advice: "dynv6 has no such zone for this token. Check the name's spelling (the \
                     zone's full name, like myhome.dynv6.net) and that the token may update \
                     this zone.",
        },
    ],
};

impl Provider for Dynv6 {
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

async fn update(api: Api<'_>) -> Vec<Outcome> {
    let request = api.request();
    let Some(address) = http::address(request) else {
        // Not a refusal: without an offline mode of its own, the engine publishes the
        // record's offline address instead and never asks for this.
        return http::for_all(
            &DESCRIPTOR,
            &request.items,
            Class::Protocol,
            "no-offline-mode",
            "dynv6 has no offline mode",
        );
    };
    let mut outcomes = Vec::with_capacity(request.items.len());
    for item in &request.items {
        outcomes.extend(send(&api, item, address).await);
    }
    outcomes
}

/// Updates one zone: its one outcome.
async fn send(api: &Api<'_>, item: &UpdateItem, address: IpAddr) -> Vec<Outcome> {
    let items = std::slice::from_ref(item);
    let mut url = match api.url("/api/update") {
        Ok(url) => url,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    {
        // Sent as the user wrote it: the docs speak of the zone's name; whether a name
        // below a zone is taken too is not known (dynv6 answers 404 when it is not).
        let mut query = url.query_pairs_mut();
        // `hostname`, as dynv6's own examples have it (some clients send `zone`).
        query.append_pair("hostname", &item.name.to_ascii_lowercase());
        query.append_pair("token", api.request().secret.expose());
        // One family per request: the other is left as it is.
        let family = match address {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        };
        query.append_pair(family, &address.to_string());
    }
    let answer = match api.send(api.build(Method::GET, url)).await {
        Ok(answer) => answer,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    let (class, code) = classify(&answer);
    let shown = if matches!(class, Class::Changed | Class::Current) {
        super::first_line(&answer.body)
    } else {
        answer.shown()
    };
    http::for_all(&DESCRIPTOR, items, class, &code, &shown)
}

/// What a dynv6 answer says: its class and code. The body first (its words, on a 2xx
/// answer), then the status.
fn classify(answer: &Answer) -> (Class, String) {
    if answer.is_html() {
        let class = Class::of_status(answer).not_fatal();
        return (class, format!("http-{}", answer.status));
    }
    if answer.ok() {
        match (
            said(&answer.body, "updated"),
            said(&answer.body, "unchanged"),
        ) {
            (true, false) => return (Class::Changed, "updated".to_owned()),
            // dynv6 holds nothing against an unchanged update: not counted.
            (false, true) => return (Class::Current, "unchanged".to_owned()),
            _ => {}
        }
    }
    // The bodies of 401 and 404 are not documented: the status alone decides.
    match answer.status {
        401 => (Class::FatalAuth, "bad-token".to_owned()),
        404 => (Class::FatalRecord, "no-zone".to_owned()),
        429 => (
            Class::RateLimited(answer.retry_after),
            "http-429".to_owned(),
        ),
        500..=599 => (
            Class::Trouble(answer.retry_after),
            format!("http-{}", answer.status),
        ),
        _ if answer.ok() => (Class::Protocol, "protocol".to_owned()),
        status => (Class::Protocol, format!("http-{status}")),
    }
}

/// Whether `body` says `word`: as a whole word (case aside), and not after "not" or "no".
fn said(body: &str, word: &str) -> bool {
    let words: Vec<String> = body
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        w == word
            && !i
                .checked_sub(1)
                .and_then(|before| words.get(before))
                .is_some_and(|b| b == "not" || b == "no")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/plain".to_owned(),
            retry_after: None,
            body: body.to_owned(),
        }
    }

    fn class_of(status: u16, body: &str) -> (Class, String) {
        classify(&answer(status, body))
    }

    #[test]
    fn words_not_substrings() {
        assert_eq!(
            class_of(200, "addresses updated"),
            (Class::Changed, "updated".into())
        );
        assert_eq!(
            class_of(200, "addresses unchanged"),
            (Class::Current, "unchanged".into())
        );
        assert_eq!(class_of(200, "Updated.").0, Class::Changed);
        assert_eq!(class_of(200, "notupdated").0, Class::Protocol);
        assert_eq!(class_of(200, "outdated").0, Class::Protocol);
        assert_eq!(class_of(200, "unchangedness").0, Class::Protocol);
        assert_eq!(class_of(200, "zone not updated").0, Class::Protocol);
        assert_eq!(class_of(200, "updated, or unchanged?").0, Class::Protocol);
        assert_eq!(class_of(200, "").0, Class::Protocol);
    }

    #[test]
    fn statuses_after_the_body() {
        assert_eq!(
            class_of(401, "invalid authentication token"),
            (Class::FatalAuth, "bad-token".into())
        );
        assert_eq!(
            class_of(404, "zone not found"),
            (Class::FatalRecord, "no-zone".into())
        );
        assert_eq!(class_of(429, "slow down").0, Class::RateLimited(None));
        assert_eq!(class_of(503, "unavailable").0, Class::Trouble(None));
        assert_eq!(class_of(400, "bad request").0, Class::Protocol);
        // A failure is not a success whatever its words.
        assert_eq!(class_of(500, "updated").0, Class::Trouble(None));
        let page = Answer {
            content_type: "text/html".to_owned(),
            ..answer(401, "<html><body>Unauthorized</body></html>")
        };
        assert_eq!(classify(&page).0, Class::Protocol);
    }
}
