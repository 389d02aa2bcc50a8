//! ChangeIP: dyndns2-like, with meaning in the HTTP status as well as the body, and
//! "sets" (`*1`, `*2`) that update a group of hosts.

use super::{
    BoxFuture, Descriptor, GROUP, IpFamily, OFFLINE_ADDRESS, Outcome, PASSWORD, Provider, SERVER,
    Scope, USERNAME, UpdateRequest, dyndns2,
};

/// ChangeIP.
pub(super) struct ChangeIp;

static DESCRIPTOR: Descriptor = Descriptor {
    id: "changeip",
    name: "ChangeIP",
    protocol: "dyndns2",
    docs_url: "https://www.changeip.com/accounts/knowledgebase.php",
    key_url: Some("https://www.changeip.com/"),
    families: &[IpFamily::V4],
    default_server: Some("https://nic.changeip.com"),
    account_fields: &[USERNAME, PASSWORD, SERVER],
    record_fields: &[GROUP, OFFLINE_ADDRESS],
    native_offline: false,
    // Multi-host requests are not documented: one name (or set) per request.
    max_batch: 1,
    keepalive: None,
    confirm_reminder: None,
    checkip: Some("http://ip.changeip.com/"),
    notes: "A record named *1 or *2 (marked as a group) updates that whole set of hosts.",
    refusals: dyndns2::REFUSALS,
};

const QUIRKS: dyndns2::Quirks = dyndns2::Quirks {
    address_param: "ip",
    status_codes: &[
        (
            402,
            dyndns2::StatusMeaning {
                code: "premium-required",
                scope: Scope::Record,
                advice: "ChangeIP requires premium DNS for this name. Upgrade it there, or \
                         remove the record.",
            },
        ),
        (
            422,
            dyndns2::StatusMeaning {
                code: "bad-hostname",
                scope: Scope::Record,
                advice: "ChangeIP does not know this name. Check its spelling in the record.",
            },
        ),
    ],
    ..dyndns2::STANDARD
};

impl Provider for ChangeIp {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn update<'a>(
        &'a self,
        http: &'a reqwest::Client,
        request: &'a UpdateRequest,
    ) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(async move {
            let mut outcomes = dyndns2::update(http, request, &QUIRKS).await;
            // ChangeIP answers a successful update with a sentence rather than `good`:
            // an HTTP 200 whose body has no dyndns2 word is a success.
            for outcome in &mut outcomes {
                if outcome.code == "protocol" && is_success_sentence(&outcome.answer) {
                    outcome.verdict = super::Verdict::Success;
                    outcome.code = "good".into();
                }
            }
            outcomes
        })
    }
}

/// ChangeIP's success text ("200 Successful Update"): the whole word "successful",
/// in any case.
fn is_success_sentence(answer: &str) -> bool {
    answer
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word.eq_ignore_ascii_case("successful"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_sentence_is_matched_as_a_word() {
        assert!(is_success_sentence("200 Successful Update"));
        assert!(is_success_sentence("successful"));
        assert!(!is_success_sentence("Unsuccessful update"));
        assert!(!is_success_sentence("success"));
    }
}
