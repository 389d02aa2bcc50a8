//! Namecheap Dynamic DNS: the hosts of one domain, with that domain's own password.
//!
//! `GET /update?host=<sub|@>&domain=<domain>&password=…&ip=<ipv4>`, one host per request
//! and IPv4 only. The password belongs to the domain (switched on under Advanced DNS), so
//! an account is one domain: its `domain` setting, and every name must lie in it.
//!
//! The answer is a small XML document, `<interface-response>`, whose declaration says
//! `utf-16` although the bytes are single-byte text; a strict XML reader gives up on it,
//! so it is read here by hand, element by exact element. `<ErrCount>0</ErrCount>` with the
//! `<IP>` set is a success; otherwise `<Err1>` says why. `<Done>true</Done>` is there on
//! failure too, so it means nothing. Namecheap never says "unchanged".

use std::net::{IpAddr, Ipv4Addr};

use reqwest::Method;

use super::http::{self, Answer, Api, Class};
use super::{
    AccountInput, BoxFuture, Cure, Descriptor, FieldKind, FieldProblem, FieldSpec, IpFamily,
    OFFLINE_ADDRESS, Outcome, Prepared, Provider, Refusal, SERVER, UpdateItem, UpdateRequest,
};

/// Namecheap.
pub(super) struct Namecheap;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "namecheap",
    name: "Namecheap",
    protocol: "HTTP API",
    docs_url: "https://www.namecheap.com/support/knowledgebase/article.aspx/29/11/how-to-dynamically-update-the-hosts-ip-with-an-https-request/",
    key_url: Some("https://ap.www.namecheap.com/domains/list/"),
    families: &[IpFamily::V4],
    default_server: Some("https://dynamicdns.park-your-domain.com"),
    account_fields: &[
        FieldSpec::new(
            "secret",
            "Dynamic DNS password",
            FieldKind::Secret,
            "Namecheap → Domain List → Manage → Advanced DNS → Dynamic DNS: switch it on and \
             copy the password shown there. It belongs to this domain; it is not your \
             Namecheap login password.",
        )
        .required(),
        FieldSpec::new(
            "domain",
            "Domain",
            FieldKind::Hostname,
            "The domain registered at Namecheap (example.org). Its Dynamic DNS password \
             works for this domain only: use one account per domain.",
        )
        .required(),
        SERVER,
    ],
    record_fields: &[OFFLINE_ADDRESS],
    native_offline: false,
    // One host per request.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: None,
    notes: "IPv4 only. One account per domain, with the domain's Dynamic DNS password; \
            each name must already have an A record in Advanced DNS.",
    refusals: &[
        Refusal {
            code: "bad-password",
            cure: Cure::Secret,
            advice: "Namecheap refused the Dynamic DNS password. Copy it again from \
                     Advanced DNS → Dynamic DNS for this domain (it is not your login \
                     password) and enter it in Settings.",
        },
        Refusal {
            code: "unknown-host",
            cure: Cure::Provider,
            advice: "Namecheap has no A record for this name. Add it under Advanced DNS \
                     (or correct the name here), then re-enable the name.",
        },
        Refusal {
            code: "unknown-domain",
            cure: Cure::Settings,
            advice: "Namecheap does not know this domain for this password. Check the \
                     account's domain and that Dynamic DNS is switched on for it.",
        },
        Refusal {
            code: "outside-domain",
            cure: Cure::Settings,
            advice: "The name is not in the account's domain. Correct the name, or put it \
                     in an account for its own domain.",
        },
        Refusal {
            code: "no-ipv6",
            cure: Cure::Settings,
            advice: "Namecheap's Dynamic DNS updates IPv4 (A) records only. Set the record's \
                     family to A.",
        },
    ],
};

/// The account as parsed once.
#[derive(Debug)]
struct Account {
    /// The registered domain, lowercase.
    domain: String,
}

impl Provider for Namecheap {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn prepare(&self, account: &AccountInput<'_>) -> Result<Prepared, Vec<FieldProblem>> {
        http::check_server(account.server)?;
        let Some(domain) = account.settings.text("domain") else {
            return Err(vec![FieldProblem::new(
                "domain",
                "Namecheap needs `domain` (the domain whose Dynamic DNS password this is)",
            )]);
        };
        Ok(Prepared::new(Account {
            domain: domain.to_ascii_lowercase(),
        }))
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
    let items = &request.items;
    let Some(address) = http::address(request) else {
        // Not a refusal: without an offline mode of its own, the engine publishes the
        // record's offline address instead and never asks for this.
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::Protocol,
            "no-offline-mode",
            "Namecheap has no offline mode",
        );
    };
    let IpAddr::V4(v4) = address else {
        // The config refuses AAAA records for Namecheap; this is the last guard.
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::FatalRecord,
            "no-ipv6",
            "Namecheap's Dynamic DNS takes IPv4 addresses only",
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
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        outcomes.extend(send(&api, account, item, v4).await);
    }
    outcomes
}

/// Updates one host: its one outcome.
async fn send(
    api: &Api<'_>,
    account: &Account,
    item: &UpdateItem,
    address: Ipv4Addr,
) -> Vec<Outcome> {
    let request = api.request();
    let items = std::slice::from_ref(item);
    let name = item.name.to_ascii_lowercase();
    let Some(host) = http::relative_name(&name, &account.domain) else {
        return http::for_all(
            &DESCRIPTOR,
            items,
            Class::FatalRecord,
            "outside-domain",
            &format!("{name} is not in the domain {}", account.domain),
        );
    };
    let mut url = match api.url("/update") {
        Ok(url) => url,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    url.query_pairs_mut()
        .append_pair("host", host)
        .append_pair("domain", &account.domain)
        .append_pair("password", request.secret.expose())
        .append_pair("ip", &address.to_string());
    let answer = match api.send(api.build(Method::GET, url)).await {
        Ok(answer) => answer,
        Err(f) => return http::failed(&DESCRIPTOR, items, &f),
    };
    let (class, code, shown) = classify(&answer, address);
    http::for_all(&DESCRIPTOR, items, class, &code, &shown)
}

/// What a Namecheap answer says: its class, code and the words to show.
fn classify(answer: &Answer, sent: Ipv4Addr) -> (Class, String, String) {
    let Some(reply) = Reply::parse(&answer.body) else {
        // Not Namecheap's XML (a proxy's page, a 429, a 5xx): the status says what it can,
        // and a page that is not the API's own never disables.
        let code = if answer.is_html() { "html" } else { "protocol" };
        let class = Class::of_status(answer).not_fatal();
        let code = match class {
            Class::Protocol => code.to_owned(),
            _ => format!("http-{}", answer.status),
        };
        return (class, code, answer.shown());
    };
    match reply.errors {
        Some(0) => match reply.ip.as_deref().map(str::parse::<IpAddr>) {
            Some(Ok(ip)) if ip == IpAddr::V4(sent) => {
                (Class::Changed, "ok".to_owned(), format!("updated to {ip}"))
            }
            Some(Ok(ip)) => (
                Class::Protocol,
                "wrong-address".to_owned(),
                format!("Namecheap answered with {ip} (sent {sent})"),
            ),
            Some(Err(_)) | None => (
                Class::Protocol,
                "protocol".to_owned(),
                format!(
                    "no errors, but no address in the answer ({})",
                    reply.ip.as_deref().unwrap_or("no <IP>")
                ),
            ),
        },
        Some(_) => {
            let words = reply
                .error
                .unwrap_or_else(|| "an error without a description".to_owned());
            let (class, code) = classify_error(&words);
            (class, code.to_owned(), words)
        }
        None => (
            Class::Protocol,
            "protocol".to_owned(),
            "an answer without <ErrCount>".to_owned(),
        ),
    }
}

/// The class of a Namecheap error text, by its words: a password error is the
/// credential's, a host or domain it cannot find is the record's; anything else is not
/// understood and disables nothing.
fn classify_error(text: &str) -> (Class, &'static str) {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let has = |word: &str| words.iter().any(|w| w == word);
    let not_found = has("not") && has("found");
    if has("password") || has("passwords") {
        // `Passwords do not match` (ResponseNumber 304156).
        (Class::FatalAuth, "bad-password")
    } else if not_found && (has("record") || has("host")) {
        // The texts of host and domain errors are not documented; these are as seen.
        // `No Records updated. A record not Found;` (ResponseNumber 380091).
        (Class::FatalRecord, "unknown-host")
    } else if not_found && has("domain") {
        // `Domain name not found`.
        (Class::FatalRecord, "unknown-domain")
    } else {
        (Class::Protocol, "namecheap-error")
    }
}

/// The parts of an `<interface-response>` that matter.
#[derive(Debug, Default, PartialEq, Eq)]
struct Reply {
    /// `<ErrCount>`, when it is a number.
    errors: Option<u32>,
    /// The first error: `<Err1>`, else the first response's `<Description>`.
    error: Option<String>,
    /// `<IP>`.
    ip: Option<String>,
}

impl Reply {
    /// Reads an answer, whatever its declaration (or its `Content-Type`) claims; `None`
    /// when it is not an `<interface-response>`.
    fn parse(body: &str) -> Option<Self> {
        // The declaration says utf-16 while the bytes are single-byte. Should a server ever
        // send real UTF-16, its ASCII tags read alike once the zero bytes are gone.
        let body: String = body.chars().filter(|&c| c != '\0').collect();
        let root = element(&body, "interface-response")?;
        let text = |name: &str| element(root, name).map(|t| unescape(t.trim()));
        Some(Self {
            errors: text("ErrCount").and_then(|n| n.parse().ok()),
            error: text("Err1")
                .or_else(|| text("Description"))
                .filter(|e| !e.is_empty()),
            ip: text("IP").filter(|ip| !ip.is_empty()),
        })
    }
}

/// The content of the first element named exactly `name` (`<IP>` is not `<IPv6>`), without
/// attributes, up to its closing tag; `None` when absent or self-closing (`<errors />`).
fn element<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let length = text[start..].find(&close)?;
    Some(&text[start..start + length])
}

/// XML's five predefined entities, as Namecheap's texts may carry them.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: Ipv4Addr = Ipv4Addr::new(81, 2, 69, 160);

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: "text/html".to_owned(),
            retry_after: None,
            body: body.to_owned(),
        }
    }

    const SUCCESS: &str = r#"<?xml version="1.0" encoding="utf-16"?>
<interface-response>
  <Command>SETDNSHOST</Command>
  <Language>eng</Language>
  <IP>81.2.69.160</IP>
  <ErrCount>0</ErrCount>
  <errors />
  <ResponseCount>0</ResponseCount>
  <responses />
  <Done>true</Done>
  <debug><![CDATA[]]></debug>
</interface-response>"#;

    const BAD_PASSWORD: &str = r#"<?xml version="1.0" encoding="utf-16"?>
<interface-response>
  <Command>SETDNSHOST</Command>
  <Language>eng</Language>
  <ErrCount>1</ErrCount>
  <errors>
    <Err1>Passwords do not match</Err1>
  </errors>
  <ResponseCount>1</ResponseCount>
  <responses>
    <response>
      <Description>Passwords do not match</Description>
      <ResponseNumber>304156</ResponseNumber>
      <ResponseString>Validation error; invalid ; password</ResponseString>
    </response>
  </responses>
  <Done>true</Done>
  <debug><![CDATA[]]></debug>
</interface-response>"#;

    #[test]
    fn the_utf16_declared_success_is_read_as_the_single_byte_text_it_is() {
        let reply = Reply::parse(SUCCESS).unwrap();
        assert_eq!(
            reply,
            Reply {
                errors: Some(0),
                error: None,
                ip: Some("81.2.69.160".to_owned())
            }
        );
        let (class, code, shown) = classify(&answer(200, SUCCESS), SENT);
        assert_eq!((class, code.as_str()), (Class::Changed, "ok"));
        assert_eq!(shown, "updated to 81.2.69.160");
        // The same text as real UTF-16 (little-endian, with its byte-order mark).
        let wide: String = std::iter::once('\u{fffd}')
            .chain(SUCCESS.chars().flat_map(|c| [c, '\0']))
            .collect();
        assert_eq!(classify(&answer(200, &wide), SENT).0, Class::Changed);
    }

    #[test]
    fn a_password_error_is_the_credentials_although_done_is_true() {
        let reply = Reply::parse(BAD_PASSWORD).unwrap();
        assert_eq!(reply.errors, Some(1));
        assert_eq!(reply.error.as_deref(), Some("Passwords do not match"));
        let (class, code, shown) = classify(&answer(200, BAD_PASSWORD), SENT);
        assert_eq!((class, code.as_str()), (Class::FatalAuth, "bad-password"));
        assert_eq!(shown, "Passwords do not match");
    }

    #[test]
    fn errors_are_classified_by_their_words() {
        assert_eq!(
            classify_error("No Records updated. A record not Found;"),
            (Class::FatalRecord, "unknown-host")
        );
        assert_eq!(
            classify_error("Domain name not found"),
            (Class::FatalRecord, "unknown-domain")
        );
        assert_eq!(
            classify_error("Invalid IP"),
            (Class::Protocol, "namecheap-error")
        );
        // Whole words: a "passwordless" text is not about the password.
        assert_eq!(
            classify_error("passwordless mode"),
            (Class::Protocol, "namecheap-error")
        );
    }

    #[test]
    fn elements_are_matched_exactly_and_other_answers_never_disable() {
        assert_eq!(element("<IPv6>x</IPv6><IP>y</IP>", "IP"), Some("y"));
        assert_eq!(element("<errors />", "errors"), None);
        let other = SUCCESS.replace("81.2.69.160", "81.2.69.99");
        let (class, code, _) = classify(&answer(200, &other), SENT);
        assert_eq!((class, code.as_str()), (Class::Protocol, "wrong-address"));
        let page = answer(401, "<html><body>Unauthorized</body></html>");
        assert_eq!(classify(&page, SENT).0, Class::Protocol);
        let busy = answer(503, "Service Unavailable");
        assert_eq!(classify(&busy, SENT).0, Class::Trouble(None));
        let many = answer(429, "Too Many Requests");
        assert_eq!(classify(&many, SENT).0, Class::RateLimited(None));
        let no_count = "<interface-response><IP>81.2.69.160</IP></interface-response>";
        assert_eq!(classify(&answer(200, no_count), SENT).0, Class::Protocol);
        assert_eq!(
            unescape("a &amp;lt; b &lt; c"),
            "a &lt; b < c",
            "entities are decoded once"
        );
    }
}
