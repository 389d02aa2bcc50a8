//! The contract every registry entry honours, run over every provider against the local
//! server; then each provider's own quirks.

use std::time::Duration;

use dyntray_engine::engine::{EngineEvent, Phase};
use dyntray_engine::provider::REGISTRY;
use dyntray_tests::fake_provider::{Reply, Seen, basic_auth};

use crate::engine::{Rig, records};

const V4: &str = "81.2.69.160";

fn address_param(seen: &Seen) -> Option<&str> {
    seen.param("myip").or_else(|| seen.param("ip"))
}

/// (answer, expected phase, expected code in the disabled reason if any)
const CASES: &[(u16, &str, Phase, Option<&str>)] = &[
    (200, "good 81.2.69.160", Phase::Ok, None),
    (200, "nochg 81.2.69.160", Phase::Ok, None),
    (200, "badauth", Phase::Disabled, Some("badauth")),
    (200, "nohost", Phase::Disabled, Some("nohost")),
    (200, "abuse", Phase::Disabled, Some("abuse")),
    (200, "!donator", Phase::Disabled, Some("!donator")),
    (200, "notfqdn", Phase::Disabled, Some("notfqdn")),
    (200, "numhost", Phase::Disabled, Some("numhost")),
    (200, "badagent", Phase::Disabled, Some("badagent")),
    (200, "badsys", Phase::Disabled, Some("badsys")),
    (200, "!yours", Phase::Disabled, Some("!yours")),
    (200, "!active", Phase::Disabled, Some("!active")),
    (200, "w5m", Phase::BackingOff, None),
    (200, "good 81.2.69.99", Phase::BackingOff, None),
    (200, "911", Phase::BackingOff, None),
    (200, "dnserr", Phase::BackingOff, None),
    (
        200,
        "<html><body>Maintenance</body></html>",
        Phase::BackingOff,
        None,
    ),
    (200, "", Phase::BackingOff, None),
    (401, "Unauthorized", Phase::Disabled, Some("http-401")),
    (403, "Forbidden", Phase::Disabled, Some("http-403")),
    (503, "Service Unavailable", Phase::BackingOff, None),
];

#[tokio::test(start_paused = true)]
async fn every_provider_speaks_and_classifies_the_same_way() {
    // These cases are dyndns2 answers; other families have their own suites.
    for provider in REGISTRY
        .iter()
        .filter(|p| p.descriptor().protocol == "dyndns2")
    {
        let id = provider.descriptor().id;
        for &(status, body, phase, code) in CASES {
            let rig = Rig::new().await;
            rig.config(id, &records(&["a.example.org"]));
            rig.provider.script([Reply::status(status, body)]);
            let engine = rig.engine();
            engine.run_once().await.unwrap();

            let seen = rig.provider.seen();
            assert_eq!(seen.len(), 1, "{id} {body:?}");
            let request = &seen[0];
            assert_eq!(request.method, "GET", "{id}");
            // The documented paths of servers that differ (providers-api.md §0.2).
            let path = match id {
                "loopia" => "/XDynDNSServer/XDynDNS.php",
                "3322" => "/dyndns/update",
                _ => "/nic/update",
            };
            assert_eq!(request.path, path, "{id}");
            assert_eq!(request.hostnames(), ["a.example.org"], "{id}");
            assert_eq!(address_param(request), Some(V4), "{id}");
            assert_eq!(
                basic_auth(request),
                Some(("alice".into(), "s3cr3t-p@ss#word".into())),
                "{id}"
            );
            assert!(
                request
                    .header("user-agent")
                    .is_some_and(|ua| ua.starts_with("Dyntray dyntray/")),
                "{id}"
            );

            let status = engine.status();
            let record = &status.records[0];
            assert_eq!(record.phase, phase, "{id} answering {status:?} {body:?}");
            assert_eq!(
                record.disabled.as_ref().map(|d| d.code.as_str()),
                code,
                "{id} {body:?}"
            );
            if let Some(disabled) = &record.disabled {
                assert!(!disabled.advice.is_empty(), "{id} {body:?}: advice");
            }
            engine.shutdown().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn changeip_reads_http_status_and_its_success_sentence() {
    for (status, body, phase, code) in [
        (200, "200 Successful Update", Phase::Ok, None),
        (
            402,
            "Premium DNS required",
            Phase::Disabled,
            Some("premium-required"),
        ),
        (422, "Unprocessable", Phase::Disabled, Some("bad-hostname")),
    ] {
        let rig = Rig::new().await;
        rig.config("changeip", &records(&["a.example.org"]));
        rig.provider.script([Reply::status(status, body)]);
        let engine = rig.engine();
        engine.run_once().await.unwrap();
        let record = &engine.status().records[0];
        assert_eq!(record.phase, phase, "{body}");
        assert_eq!(record.disabled.as_ref().map(|d| d.code.as_str()), code);
        assert_eq!(rig.provider.seen()[0].param("ip"), Some(V4));
    }
}

#[tokio::test(start_paused = true)]
async fn changeip_sets_go_one_per_request() {
    let rig = Rig::new().await;
    rig.config(
        "changeip",
        "[[record]]\nname = \"*1\"\naccount = \"home\"\ngroup = true\n\n\
         [[record]]\nname = \"a.example.org\"\naccount = \"home\"\n",
    );
    rig.provider.always(Reply::ok("200 Successful Update"));
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 2);
    let seen = rig.provider.seen();
    let mut sent: Vec<&str> = seen.iter().map(|s| s.param("hostname").unwrap()).collect();
    sent.sort_unstable();
    assert_eq!(sent, ["*1", "a.example.org"]);
}

#[tokio::test(start_paused = true)]
async fn noip_sends_groups_next_to_hosts_and_reminds_to_confirm() {
    let rig = Rig::new().await;
    rig.config(
        "noip",
        "[[record]]\nname = \"home.ddns.net\"\naccount = \"home\"\n\n\
         [[record]]\nname = \"office_group\"\naccount = \"home\"\ngroup = true\n",
    );
    rig.provider
        .always(Reply::ok(&format!("good {V4}\ngood {V4}")));
    let engine = rig.engine();
    let mut events = engine.subscribe();
    engine.run_once().await.unwrap();
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].hostnames(), ["home.ddns.net", "office_group"]);
    assert!(matches!(events.try_recv(), Ok(EngineEvent::Updated { .. })));

    // No reminder before 25 days; one after, then not again at once.
    tokio::time::advance(Duration::from_secs(24 * 24 * 3600)).await;
    engine.run_once().await.unwrap();
    assert!(events.try_recv().is_err());
    tokio::time::advance(Duration::from_secs(2 * 24 * 3600)).await;
    engine.run_once().await.unwrap();
    let mut reminded = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EngineEvent::Reminder { name, message } = event {
            assert!(message.contains("30 days"));
            reminded.push(name);
        }
    }
    reminded.sort();
    assert_eq!(reminded, ["home.ddns.net", "office_group"]);
    engine.run_once().await.unwrap();
    assert!(events.try_recv().is_err(), "reminded once, not every pass");
    assert_eq!(rig.provider.count(), 1, "reminders never fake an update");
}

#[tokio::test(start_paused = true)]
async fn options_the_provider_lacks_are_config_errors_naming_the_line() {
    let rig = Rig::new().await;
    rig.config(
        "noip",
        "[[record]]\nname = \"home.ddns.net\"\naccount = \"home\"\nwildcard = true\n",
    );
    let engine = rig.engine();
    let error = engine.status().config_error.unwrap();
    assert!(
        error.contains("No-IP does not support `wildcard`"),
        "{error}"
    );
    assert!(error.contains("line 20: record[0].wildcard"), "{error}");
    assert!(engine.run_once().await.is_err());
    assert_eq!(rig.provider.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn presets_keep_their_servers_quirks() {
    const V6: &str = "2a00:1450:4001:81b::200e";
    let both = "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\nfamily = \"both\"\n";

    // INWX loses the family a request leaves out: both travel in every request.
    let rig = Rig::new().await;
    rig.source.set(V6);
    rig.config("inwx", both);
    rig.provider.echo_good();
    rig.provider
        .route("/nic/update", Reply::ok(&format!("good {V4}")));
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for request in &seen {
        assert_eq!(request.param("myip"), Some(V4), "{request:?}");
        assert_eq!(request.param("myipv6"), Some(V6), "{request:?}");
    }
    engine.shutdown().await;

    // Dynu: an IPv6 update leaves the IPv4 address alone with myip=no.
    let rig = Rig::new().await;
    rig.source.set(V6);
    rig.config(
        "dynu",
        "[[record]]\nname = \"home.example.org\"\naccount = \"home\"\nfamily = \"AAAA\"\n",
    );
    rig.provider.always(Reply::ok(&format!("good {V6}")));
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let seen = rig.provider.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].param("myip"), Some("no"));
    assert_eq!(seen[0].param("myipv6"), Some(V6));
    assert_eq!(seen[0].param("wildcard"), None, "no record options sent");
    assert_eq!(engine.status().records[0].phase, Phase::Ok);
    engine.shutdown().await;

    // Hurricane Electric: one request per name; `interval` (too often, in HTTP 200) is
    // waited out for at least half an hour and never disables.
    let rig = Rig::new().await;
    rig.config("he", &records(&["a.example.org", "b.example.org"]));
    rig.provider.always(Reply::ok("interval"));
    let engine = rig.engine();
    let report = engine.run_once().await.unwrap();
    assert_eq!(report.requests, 2);
    for record in engine.status().records {
        assert_eq!(record.phase, Phase::BackingOff, "{record:?}");
        assert!(record.next_attempt_at.unwrap() >= 1_800_000_000 + 30 * 60);
    }
    engine.shutdown().await;

    // Infomaniak answers refusals as HTTP 400 with the dyndns2 word.
    let rig = Rig::new().await;
    rig.config("infomaniak", &records(&["a.example.org"]));
    rig.provider.always(Reply::status(400, "nohost"));
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::Disabled);
    assert_eq!(record.disabled.as_ref().unwrap().code, "nohost");
}

#[tokio::test(start_paused = true)]
async fn dy_fi_names_are_refreshed_before_they_expire() {
    let rig = Rig::new().await;
    rig.config("dyfi", &records(&["home.dy.fi"]));
    rig.provider.echo_good();
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(rig.provider.count(), 1);
    tokio::time::advance(Duration::from_secs(4 * 24 * 3600)).await;
    engine.run_once().await.unwrap();
    assert_eq!(rig.provider.count(), 1, "nothing before five days");
    tokio::time::advance(Duration::from_secs(24 * 3600 + 60)).await;
    engine.run_once().await.unwrap();
    assert_eq!(rig.provider.count(), 2, "refreshed after five days");
}

#[tokio::test(start_paused = true)]
async fn dyndns2_too_many_requests_waits_as_asked_and_never_disables() {
    use dyntray_tests::fake_api::{FakeApi, Reply as ApiReply};
    let rig = Rig::new().await;
    let api = FakeApi::start().await;
    api.route(
        "GET",
        "/nic/update",
        ApiReply::text(429, "Too Many Requests").header("Retry-After", "7200"),
    );
    let text = std::fs::read_to_string({
        rig.config("dyndns", &records(&["a.example.org"]));
        rig.config_path()
    })
    .unwrap()
    .replace(&rig.provider.url(), &api.url());
    std::fs::write(rig.config_path(), text).unwrap();
    let engine = rig.engine();
    engine.run_once().await.unwrap();
    assert_eq!(api.count(), 1);
    let record = &engine.status().records[0];
    assert_eq!(record.phase, Phase::BackingOff);
    assert!(record.disabled.is_none());
    // The two hours asked for, not the half hour a protocol error would wait.
    assert!(record.next_attempt_at.unwrap() >= 1_800_000_000 + 7200);
}
