//! A DNS server on 127.0.0.1 for tests, over UDP and TCP on the same port: answers from
//! scripted records by (name, type, class), or by a per-name behaviour (an RCODE, garbage,
//! silence, a truncated UDP answer). Names it was not told about get NXDOMAIN; a known name
//! asked with another type or class gets an empty NOERROR answer. Every query is recorded.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// A query as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenQuery {
    /// The message id.
    pub id: u16,
    /// The name asked for, lowercase, with its final dot.
    pub name: String,
    /// QTYPE.
    pub record_type: RecordType,
    /// QCLASS.
    pub class: DNSClass,
    /// The RD bit.
    pub recursion_desired: bool,
    /// Whether it came over TCP.
    pub tcp: bool,
}

/// What the server does for every question about a name.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Rcode(ResponseCode),
    Garbage,
    Silent,
    /// UDP: an empty answer with the TC bit; TCP: the records.
    Truncate,
}

#[derive(Default)]
struct Shared {
    records: HashMap<(String, RecordType, DNSClass), Vec<Record>>,
    behaviours: HashMap<String, Behaviour>,
    seen: Vec<SeenQuery>,
}

/// The running server; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeDns {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

/// `name` as the server keys it: lowercase, with the final dot.
fn key(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else {
        format!("{name}.")
    }
}

impl FakeDns {
    /// Serves on 127.0.0.1, UDP and TCP on one free port (see [`FakeDns::addr`]).
    pub async fn start() -> Self {
        // The UDP port is free; the same TCP port almost always is too.
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
            let addr = udp.local_addr().unwrap();
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let udp_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 65535];
            loop {
                let Ok((length, peer)) = udp.recv_from(&mut buffer).await else {
                    break;
                };
                if let Some(answer) = respond(&udp_shared, &buffer[..length], false) {
                    let _ = udp.send_to(&answer, peer).await;
                }
            }
        });
        let tcp_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = tcp.accept().await else {
                    break;
                };
                let shared = Arc::clone(&tcp_shared);
                tokio::spawn(async move {
                    loop {
                        let mut prefix = [0u8; 2];
                        if stream.read_exact(&mut prefix).await.is_err() {
                            return;
                        }
                        let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
                        if stream.read_exact(&mut query).await.is_err() {
                            return;
                        }
                        let Some(answer) = respond(&shared, &query, true) else {
                            // Silent: keep the connection open, answer nothing.
                            std::future::pending::<()>().await;
                            return;
                        };
                        let mut framed =
                            u16::try_from(answer.len()).unwrap().to_be_bytes().to_vec();
                        framed.extend_from_slice(&answer);
                        if stream.write_all(&framed).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, shared }
    }

    /// Where it listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds an A record for `name` (IN) with `address` (IPv4).
    pub fn answer_a(&self, name: &str, address: &str) {
        let address: Ipv4Addr = address.parse().unwrap();
        let record = Record::from_rdata(
            Name::from_ascii(key(name)).unwrap(),
            60,
            RData::A(A(address)),
        );
        self.add(name, RecordType::A, DNSClass::IN, record);
    }

    /// Adds an AAAA record for `name` (IN) with `address` (IPv6).
    pub fn answer_aaaa(&self, name: &str, address: &str) {
        let address = address.parse().unwrap();
        let record = Record::from_rdata(
            Name::from_ascii(key(name)).unwrap(),
            60,
            RData::AAAA(AAAA(address)),
        );
        self.add(name, RecordType::AAAA, DNSClass::IN, record);
    }

    /// Adds one TXT record for `name`, class CH or IN, holding `strings`.
    pub fn answer_txt(&self, name: &str, class_ch: bool, strings: &[&str]) {
        let class = if class_ch { DNSClass::CH } else { DNSClass::IN };
        let txt = TXT::new(strings.iter().map(|s| (*s).to_owned()).collect());
        let mut record =
            Record::from_rdata(Name::from_ascii(key(name)).unwrap(), 0, RData::TXT(txt));
        record.dns_class = class;
        self.add(name, RecordType::TXT, class, record);
    }

    /// Answers a question (`name`, `record_type`, `class`) with `records` as they are
    /// (wrong types and owners included), after those already scripted for it.
    pub fn answer_records(
        &self,
        name: &str,
        record_type: RecordType,
        class: DNSClass,
        records: Vec<Record>,
    ) {
        for record in records {
            self.add(name, record_type, class, record);
        }
    }

    fn add(&self, name: &str, record_type: RecordType, class: DNSClass, record: Record) {
        self.shared
            .lock()
            .unwrap()
            .records
            .entry((key(name), record_type, class))
            .or_default()
            .push(record);
    }

    /// Answers every question about `name` with `code` and no records.
    pub fn rcode(&self, name: &str, code: ResponseCode) {
        self.behave(name, Behaviour::Rcode(code));
    }

    /// Answers every question about `name` with bytes that are not a DNS message.
    pub fn garbage(&self, name: &str) {
        self.behave(name, Behaviour::Garbage);
    }

    /// Never answers questions about `name`.
    pub fn silent(&self, name: &str) {
        self.behave(name, Behaviour::Silent);
    }

    /// Over UDP, answers questions about `name` with an empty, truncated (TC) answer; over
    /// TCP with the records.
    pub fn truncate(&self, name: &str) {
        self.behave(name, Behaviour::Truncate);
    }

    fn behave(&self, name: &str, behaviour: Behaviour) {
        self.shared
            .lock()
            .unwrap()
            .behaviours
            .insert(key(name), behaviour);
    }

    /// How many queries arrived (UDP and TCP).
    pub fn count(&self) -> usize {
        self.shared.lock().unwrap().seen.len()
    }

    /// The queries that arrived, in order.
    pub fn seen(&self) -> Vec<SeenQuery> {
        self.shared.lock().unwrap().seen.clone()
    }
}

/// The answer to the datagram (or TCP message) `bytes`, or `None` for no answer.
fn respond(shared: &Mutex<Shared>, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut answer = Message::response(query.metadata.id, OpCode::Query);
    answer.metadata.recursion_desired = query.metadata.recursion_desired;
    let Some(question) = query.queries.first() else {
        answer.metadata.response_code = ResponseCode::FormErr;
        return answer.to_vec().ok();
    };
    answer.add_query(question.clone());
    let name = key(&question.name().to_ascii());
    let mut shared = shared.lock().unwrap();
    shared.seen.push(SeenQuery {
        id: query.metadata.id,
        name: name.clone(),
        record_type: question.query_type(),
        class: question.query_class(),
        recursion_desired: query.metadata.recursion_desired,
        tcp,
    });
    match shared.behaviours.get(&name) {
        Some(Behaviour::Silent) => return None,
        Some(Behaviour::Garbage) => return Some(b"this is not a DNS message".to_vec()),
        Some(Behaviour::Rcode(code)) => {
            answer.metadata.response_code = *code;
            return answer.to_vec().ok();
        }
        Some(Behaviour::Truncate) if !tcp => {
            answer.metadata.truncation = true;
            return answer.to_vec().ok();
        }
        Some(Behaviour::Truncate) | None => {}
    }
    answer.metadata.authoritative = true;
    let asked = (name.clone(), question.query_type(), question.query_class());
    if let Some(records) = shared.records.get(&asked) {
        answer.add_answers(records.iter().cloned());
    } else if !shared.records.keys().any(|(n, _, _)| *n == name) {
        answer.metadata.response_code = ResponseCode::NXDomain;
    }
    answer.to_vec().ok()
}
