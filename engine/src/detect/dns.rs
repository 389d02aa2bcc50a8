//! DNS sources: services that answer a DNS question with the asker's address.
//!
//! | service | question | default server (IPv4 / IPv6) |
//! |---|---|---|
//! | OpenDNS | `myip.opendns.com.` A or AAAA, class IN | resolver1.opendns.com |
//! | Google | `o-o.myaddr.l.google.com.` TXT, class IN | ns1.google.com |
//! | Cloudflare | `whoami.cloudflare.` TXT, class CH | 1.1.1.1 |
//!
//! These servers answer with the address the question came from, so the server's address
//! decides the family: an IPv6 server for IPv6. The question goes over UDP, and again over
//! TCP when the answer comes back truncated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::spec::DnsService;
use super::{SOURCE_TIMEOUT, Source, SourceError, SourceKind};
use crate::provider::{BoxFuture, IpFamily};

/// Room for any UDP answer (one without EDNS is at most 512 bytes).
const UDP_BUFFER: usize = 4096;

/// Google adds this TXT string when the question carries an EDNS client subnet.
const CLIENT_SUBNET: &str = "edns0-client-subnet";

/// A DNS "what is my address" service.
pub struct DnsSource {
    label: String,
    service: DnsService,
    server: Option<SocketAddr>,
    /// The bound of one whole ask (shorter in tests).
    timeout: Duration,
}

impl DnsSource {
    /// `service`, asked at `server` (or at the service's own server for the family).
    pub fn new(label: String, service: DnsService, server: Option<SocketAddr>) -> Self {
        Self {
            label,
            service,
            server,
            timeout: SOURCE_TIMEOUT,
        }
    }

    async fn run(&self, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
        let server = self
            .server
            .unwrap_or_else(|| default_server(self.service, family));
        let query = question(self.service, family)?;
        // A random id (hickory draws it), checked in the answer with the question.
        let mut message = Message::query();
        // OpenDNS's resolvers are recursive resolvers that answer this name themselves,
        // asked as `dig` asks them; Google's name server and Cloudflare's CH name are
        // answered by the server asked, nothing to recurse for.
        // Only at OpenDNS's own: a resolver given with `@` that is not one might answer
        // the name with its own way out instead.
        message.metadata.recursion_desired =
            self.service == DnsService::OpenDns && self.server.is_none();
        message.add_query(query.clone());
        let bytes = message
            .to_vec()
            .map_err(|e| SourceError::new(format!("cannot build the DNS question: {e}")))?;
        let id = message.metadata.id;

        // Datagrams that are not the answer are skipped, as resolvers do (they may be
        // spoofed); the last one is named if no answer comes.
        let mut skipped = None;
        let exchange = async {
            let answer = exchange_udp(server, &bytes, id, &query, &mut skipped).await?;
            if answer.metadata.truncation {
                exchange_tcp(server, &bytes, id, &query).await
            } else {
                Ok(answer)
            }
        };
        // Bound first, so that the exchange (and its borrow of `skipped`) is gone below.
        let result = tokio::time::timeout(self.timeout, exchange).await;
        let answer = match result {
            Ok(Ok(answer)) => answer,
            Ok(Err(why)) => return Err(SourceError::new(why)),
            Err(_) => {
                let within = within(self.timeout);
                return Err(SourceError::new(match skipped {
                    Some(why) => format!("no valid answer within {within} ({why})"),
                    None => format!("no answer within {within}"),
                }));
            }
        };
        read_answer(&answer, &query)
            .map(|address| vec![address])
            .map_err(SourceError::new)
    }
}

/// The service's own server for `family`.
/// Whether `server` is one of `service`'s own servers (either family).
pub fn is_default_server(service: DnsService, server: SocketAddr) -> bool {
    [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .any(|family| default_server(service, family) == server)
}

fn default_server(service: DnsService, family: IpFamily) -> SocketAddr {
    let address: IpAddr = match (service, family) {
        // resolver1.opendns.com
        (DnsService::OpenDns, IpFamily::V4) => Ipv4Addr::new(208, 67, 222, 222).into(),
        (DnsService::OpenDns, IpFamily::V6) => {
            Ipv6Addr::new(0x2620, 0x119, 0x35, 0, 0, 0, 0, 0x35).into()
        }
        // ns1.google.com
        (DnsService::Google, IpFamily::V4) => Ipv4Addr::new(216, 239, 32, 10).into(),
        (DnsService::Google, IpFamily::V6) => {
            Ipv6Addr::new(0x2001, 0x4860, 0x4802, 0x32, 0, 0, 0, 0xa).into()
        }
        (DnsService::Cloudflare, IpFamily::V4) => Ipv4Addr::new(1, 1, 1, 1).into(),
        (DnsService::Cloudflare, IpFamily::V6) => {
            Ipv6Addr::new(0x2606, 0x4700, 0x4700, 0, 0, 0, 0, 0x1111).into()
        }
    };
    SocketAddr::new(address, 53)
}

/// The question the service answers with the asker's address.
fn question(service: DnsService, family: IpFamily) -> Result<Query, SourceError> {
    let (name, record_type, class) = match service {
        DnsService::OpenDns => (
            "myip.opendns.com.",
            match family {
                IpFamily::V4 => RecordType::A,
                IpFamily::V6 => RecordType::AAAA,
            },
            DNSClass::IN,
        ),
        DnsService::Google => ("o-o.myaddr.l.google.com.", RecordType::TXT, DNSClass::IN),
        DnsService::Cloudflare => ("whoami.cloudflare.", RecordType::TXT, DNSClass::CH),
    };
    let name = Name::from_ascii(name)
        .map_err(|e| SourceError::new(format!("cannot build the DNS question: {e}")))?;
    let mut query = Query::query(name, record_type);
    query.set_query_class(class);
    Ok(query)
}

/// "5 s", or "300 ms" for the short bounds of tests.
fn within(timeout: Duration) -> String {
    if timeout.subsec_millis() == 0 {
        format!("{} s", timeout.as_secs())
    } else {
        format!("{} ms", timeout.as_millis())
    }
}

fn network_error(server: SocketAddr, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => {
            format!("nothing answers DNS at {server} (connection refused)")
        }
        _ => format!("cannot reach {server}: {error}"),
    }
}

/// Why `bytes` is not the answer to the question `query` sent with `id`, if it is not.
fn check_answer(bytes: &[u8], id: u16, query: &Query) -> Result<Message, String> {
    let message =
        Message::from_vec(bytes).map_err(|e| format!("the answer is not a DNS message: {e}"))?;
    let metadata = &message.metadata;
    if metadata.id != id {
        return Err(format!("an answer with id {} instead of {id}", metadata.id));
    }
    if metadata.message_type != MessageType::Response || metadata.op_code != OpCode::Query {
        return Err("a DNS message that is not an answer".into());
    }
    let same_question = match message.queries.as_slice() {
        [asked] => asked == query,
        // Servers may leave the question out of an error (FORMERR, REFUSED).
        [] => metadata.response_code != ResponseCode::NoError,
        _ => false,
    };
    if !same_question {
        return Err("an answer to another question".into());
    }
    Ok(message)
}

async fn exchange_udp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    query: &Query,
    skipped: &mut Option<String>,
) -> Result<Message, String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // Connected: only the server's datagrams arrive, and a closed port is reported (ICMP)
    // instead of waited out.
    socket
        .connect(server)
        .await
        .map_err(|e| network_error(server, &e))?;
    socket
        .send(bytes)
        .await
        .map_err(|e| network_error(server, &e))?;
    let mut buffer = vec![0; UDP_BUFFER];
    loop {
        let length = socket
            .recv(&mut buffer)
            .await
            .map_err(|e| network_error(server, &e))?;
        match check_answer(&buffer[..length], id, query) {
            Ok(message) => return Ok(message),
            Err(why) => *skipped = Some(why),
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    bytes: &[u8],
    id: u16,
    query: &Query,
) -> Result<Message, String> {
    let tcp = |e: std::io::Error| {
        format!(
            "the UDP answer was truncated; over TCP: {}",
            network_error(server, &e)
        )
    };
    let length =
        u16::try_from(bytes.len()).map_err(|_| "the DNS question is too long".to_owned())?;
    let mut stream = TcpStream::connect(server).await.map_err(tcp)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.map_err(tcp)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.map_err(tcp)?;
    let mut answer = vec![0; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut answer).await.map_err(tcp)?;
    let message = check_answer(&answer, id, query)
        .map_err(|why| format!("the UDP answer was truncated; over TCP: {why}"))?;
    if message.metadata.truncation {
        return Err("the answer is truncated even over TCP".into());
    }
    Ok(message)
}

/// The RCODE's mnemonic as DNS people write it.
fn rcode_name(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::NotAuth => "NOTAUTH",
        other => return format!("RCODE {}", u16::from(other)),
    };
    name.to_owned()
}

/// The one address in the answer to `query`.
fn read_answer(message: &Message, query: &Query) -> Result<IpAddr, String> {
    let rcode = message.metadata.response_code;
    if rcode != ResponseCode::NoError {
        return Err(format!("the server answered {}", rcode_name(rcode)));
    }
    let mut found: Vec<IpAddr> = Vec::new();
    let mut add = |address: IpAddr| {
        if !found.contains(&address) {
            found.push(address);
        }
    };
    for record in &message.answers {
        if record.name != *query.name() || record.dns_class != query.query_class() {
            return Err(format!(
                "the answer holds a record for {} {}",
                record.name, record.dns_class
            ));
        }
        match (&record.data, query.query_type()) {
            (RData::A(a), RecordType::A) => add(a.0.into()),
            (RData::AAAA(aaaa), RecordType::AAAA) => add(aaaa.0.into()),
            (RData::TXT(txt), RecordType::TXT) => {
                for string in &txt.txt_data {
                    let Ok(text) = std::str::from_utf8(string) else {
                        return Err("the TXT answer is not text".into());
                    };
                    if text.starts_with(CLIENT_SUBNET) {
                        continue;
                    }
                    match text.parse() {
                        Ok(address) => add(address),
                        Err(_) => {
                            return Err(format!(
                                "the TXT answer \"{}\" is not an address",
                                crate::provider::truncate(text)
                            ));
                        }
                    }
                }
            }
            (data, asked) => {
                return Err(format!(
                    "the answer holds a {} record instead of {asked}",
                    data.record_type()
                ));
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] if message.answers.is_empty() => Err("the server answered without a record".into()),
        [] => Err("the answer holds no address".into()),
        _ => Err(format!("the answer holds {} addresses", found.len())),
    }
}

impl Source for DnsSource {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Dns
    }

    fn min_interval(&self) -> Duration {
        // Public resolvers answer millions; the engine spaces event-triggered checks.
        Duration::ZERO
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        Box::pin(self.run(family))
    }
}

#[cfg(test)]
mod tests {
    use dyntray_tests::fake_dns::FakeDns;
    use hickory_proto::rr::rdata::TXT;
    use hickory_proto::rr::{Record, RecordType};

    use super::*;

    const OPENDNS: &str = "myip.opendns.com.";
    const GOOGLE: &str = "o-o.myaddr.l.google.com.";
    const CLOUDFLARE: &str = "whoami.cloudflare.";

    fn source(service: DnsService, server: &FakeDns) -> DnsSource {
        let mut source = DnsSource::new("t".into(), service, Some(server.addr()));
        // Short enough for the silent cases, long enough for a loaded machine's loopback.
        source.timeout = Duration::from_millis(700);
        source
    }

    async fn ask(
        service: DnsService,
        server: &FakeDns,
        family: IpFamily,
    ) -> Result<IpAddr, String> {
        let addresses = source(service, server).ask(family).await.map_err(|e| e.0)?;
        assert_eq!(addresses.len(), 1, "{addresses:?}");
        Ok(addresses[0])
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn opendns_answers_a_and_aaaa_without_recursion() {
        let server = FakeDns::start().await;
        server.answer_a(OPENDNS, "81.2.69.160");
        server.answer_aaaa(OPENDNS, "2a00:1450:4001:81b::200e");
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Ok(ip("81.2.69.160"))
        );
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V6).await,
            Ok(ip("2a00:1450:4001:81b::200e"))
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].name, OPENDNS);
        assert_eq!(
            (seen[0].record_type, seen[0].class),
            (RecordType::A, DNSClass::IN)
        );
        assert_eq!(seen[1].record_type, RecordType::AAAA);
        // A server given with `@` is not OpenDNS's own: no recursion asked of it.
        assert!(seen.iter().all(|q| !q.recursion_desired && !q.tcp));
        assert_ne!(seen[0].id, seen[1].id, "query ids are random");
    }

    #[tokio::test]
    async fn google_answers_txt_and_its_client_subnet_note_is_ignored() {
        let server = FakeDns::start().await;
        server.answer_txt(GOOGLE, false, &["2a00:1450:4001:81b::200e"]);
        server.answer_txt(GOOGLE, false, &["edns0-client-subnet 81.2.69.0/24"]);
        // Its TXT answer is the same for both families: the server's family decides.
        for family in [IpFamily::V4, IpFamily::V6] {
            assert_eq!(
                ask(DnsService::Google, &server, family).await,
                Ok(ip("2a00:1450:4001:81b::200e"))
            );
        }
        let seen = server.seen();
        assert!(
            seen.iter()
                .all(|q| q.record_type == RecordType::TXT && q.class == DNSClass::IN)
        );
    }

    #[tokio::test]
    async fn cloudflare_is_asked_in_class_chaos() {
        let server = FakeDns::start().await;
        // Scripted for CH only: a question in IN would get NXDOMAIN.
        server.answer_txt(CLOUDFLARE, true, &["81.2.69.160"]);
        assert_eq!(
            ask(DnsService::Cloudflare, &server, IpFamily::V4).await,
            Ok(ip("81.2.69.160"))
        );
        let seen = server.seen();
        assert_eq!(
            (seen[0].name.as_str(), seen[0].record_type, seen[0].class),
            (CLOUDFLARE, RecordType::TXT, DNSClass::CH)
        );
    }

    #[tokio::test]
    async fn error_codes_are_named() {
        let server = FakeDns::start().await;
        // Not scripted at all: the server says NXDOMAIN.
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Err("the server answered NXDOMAIN".into())
        );
        server.rcode(GOOGLE, ResponseCode::ServFail);
        assert_eq!(
            ask(DnsService::Google, &server, IpFamily::V4).await,
            Err("the server answered SERVFAIL".into())
        );
        server.rcode(CLOUDFLARE, ResponseCode::Refused);
        assert_eq!(
            ask(DnsService::Cloudflare, &server, IpFamily::V4).await,
            Err("the server answered REFUSED".into())
        );
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let server = FakeDns::start().await;
        server.silent(OPENDNS);
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Err("no answer within 700 ms".into())
        );
        assert_eq!(server.count(), 1);
    }

    #[tokio::test]
    async fn garbage_is_skipped_and_named() {
        let server = FakeDns::start().await;
        server.garbage(OPENDNS);
        let err = ask(DnsService::OpenDns, &server, IpFamily::V4)
            .await
            .unwrap_err();
        assert!(
            err.starts_with("no valid answer within 700 ms (the answer is not a DNS message"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn one_address_only() {
        let server = FakeDns::start().await;
        server.answer_a(OPENDNS, "81.2.69.160");
        server.answer_a(OPENDNS, "81.2.69.161");
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Err("the answer holds 2 addresses".into())
        );
        server.answer_txt(GOOGLE, false, &["81.2.69.160"]);
        server.answer_txt(GOOGLE, false, &["81.2.69.160"]);
        assert_eq!(
            ask(DnsService::Google, &server, IpFamily::V4).await,
            Ok(ip("81.2.69.160")),
            "the same address twice is one address"
        );
        server.answer_txt(
            CLOUDFLARE,
            true,
            &["81.2.69.160", "2a00:1450:4001:81b::200e"],
        );
        assert_eq!(
            ask(DnsService::Cloudflare, &server, IpFamily::V4).await,
            Err("the answer holds 2 addresses".into())
        );
    }

    #[tokio::test]
    async fn malformed_answers_are_failures() {
        let server = FakeDns::start().await;
        let name = Name::from_ascii(OPENDNS).unwrap();
        let txt = RData::TXT(TXT::new(vec!["81.2.69.160".into()]));
        server.answer_records(
            OPENDNS,
            RecordType::A,
            DNSClass::IN,
            vec![Record::from_rdata(name, 0, txt)],
        );
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Err("the answer holds a TXT record instead of A".into())
        );
        server.answer_txt(GOOGLE, false, &["busy, try later"]);
        assert_eq!(
            ask(DnsService::Google, &server, IpFamily::V4).await,
            Err("the TXT answer \"busy, try later\" is not an address".into())
        );
        let other = Name::from_ascii("example.org.").unwrap();
        let a = RData::A(hickory_proto::rr::rdata::A("81.2.69.160".parse().unwrap()));
        server.answer_records(
            OPENDNS,
            RecordType::AAAA,
            DNSClass::IN,
            vec![Record::from_rdata(other, 0, a)],
        );
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V6).await,
            Err("the answer holds a record for example.org. IN".into())
        );
        // A known name without the asked type: NOERROR with no records.
        server.answer_a(CLOUDFLARE, "81.2.69.160");
        assert_eq!(
            ask(DnsService::Cloudflare, &server, IpFamily::V4).await,
            Err("the server answered without a record".into())
        );
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        let server = FakeDns::start().await;
        server.truncate(OPENDNS);
        server.answer_a(OPENDNS, "81.2.69.160");
        assert_eq!(
            ask(DnsService::OpenDns, &server, IpFamily::V4).await,
            Ok(ip("81.2.69.160"))
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert!(!seen[0].tcp && seen[1].tcp);
        assert_eq!(seen[0].id, seen[1].id);
    }

    // Wine does not report ICMP port unreachable on UDP; real Windows is unverified.
    #[cfg(not(windows))]
    #[tokio::test]
    async fn a_closed_port_is_reported_at_once() {
        // Bound, then dropped: nothing listens there any more.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        drop(socket);
        let source = DnsSource::new("t".into(), DnsService::OpenDns, Some(addr));
        let started = std::time::Instant::now();
        let err = source.ask(IpFamily::V4).await.unwrap_err().0;
        assert_eq!(
            err,
            format!("nothing answers DNS at {addr} (connection refused)")
        );
        assert!(started.elapsed() < SOURCE_TIMEOUT);
    }

    #[test]
    fn default_servers_follow_the_family() {
        assert_eq!(
            default_server(DnsService::OpenDns, IpFamily::V4).to_string(),
            "208.67.222.222:53"
        );
        assert_eq!(
            default_server(DnsService::OpenDns, IpFamily::V6).to_string(),
            "[2620:119:35::35]:53"
        );
        assert_eq!(
            default_server(DnsService::Google, IpFamily::V4).to_string(),
            "216.239.32.10:53"
        );
        assert_eq!(
            default_server(DnsService::Google, IpFamily::V6).to_string(),
            "[2001:4860:4802:32::a]:53"
        );
        assert_eq!(
            default_server(DnsService::Cloudflare, IpFamily::V4).to_string(),
            "1.1.1.1:53"
        );
        assert_eq!(
            default_server(DnsService::Cloudflare, IpFamily::V6).to_string(),
            "[2606:4700:4700::1111]:53"
        );
    }

    #[test]
    fn answers_to_other_questions_are_not_taken() {
        let query = question(DnsService::OpenDns, IpFamily::V4).unwrap();
        let mut answer = Message::response(7, OpCode::Query);
        answer.add_query(query.clone());
        let bytes = answer.to_vec().unwrap();
        assert!(check_answer(&bytes, 7, &query).is_ok());
        assert_eq!(
            check_answer(&bytes, 8, &query).unwrap_err(),
            "an answer with id 7 instead of 8"
        );
        let other = question(DnsService::OpenDns, IpFamily::V6).unwrap();
        assert_eq!(
            check_answer(&bytes, 7, &other).unwrap_err(),
            "an answer to another question"
        );
        let mut not_an_answer = Message::query();
        not_an_answer.metadata.id = 7;
        not_an_answer.add_query(query.clone());
        assert_eq!(
            check_answer(&not_an_answer.to_vec().unwrap(), 7, &query).unwrap_err(),
            "a DNS message that is not an answer"
        );
    }
}
