//! The router's WAN address over UPnP IGD (`GetExternalIPAddress`).
//!
//! Three steps, as every UPnP control point does: an SSDP M-SEARCH (HTTP over UDP) finds
//! the router and the URL of its device description; the description names the control
//! URL of its WANIPConnection (or WANPPPConnection) service; a SOAP call there answers
//! `NewExternalIPAddress`. The control URL is kept until a call fails. Plain HTTP is what
//! routers serve, on the LAN, and nothing secret travels.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use url::Url;

use super::{SOURCE_TIMEOUT, Source, SourceError, SourceKind};
use crate::provider::{BoxFuture, IpFamily};

/// The SSDP multicast group and port (UPnP Device Architecture 1.1, 1.3.2).
const SSDP_MULTICAST: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(239, 255, 255, 250)), 1900);

/// What is searched for: both generations of the gateway device.
const SEARCH_TARGETS: [&str; 2] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
];

/// Answers to these search targets are accepted (some routers answer with a service).
const ANSWER_TARGETS: [&str; 5] = [
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// The services that answer `GetExternalIPAddress`.
const WAN_SERVICES: [&str; 3] = [
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANIPConnection:2",
    "urn:schemas-upnp-org:service:WANPPPConnection:1",
];

/// How long M-SEARCH answers are waited for (routers answer within `MX`, 2 s).
const SEARCH_WAIT: Duration = Duration::from_millis(2500);

/// A description or a SOAP answer beyond this is not a router's.
const MAX_BODY: usize = 256 * 1024;

/// An Internet Gateway Device found by SSDP.
pub struct Igd {
    label: String,
    http: reqwest::Client,
    target: Option<SocketAddr>,
    /// The bound of one whole ask (shorter in tests).
    timeout: Duration,
    /// The M-SEARCH wait, within `timeout` (shorter in tests).
    search_wait: Duration,
    /// The control endpoint that last answered; never held across an await.
    control: Mutex<Option<Control>>,
}

/// Where `GetExternalIPAddress` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Control {
    url: Url,
    service_type: String,
}

/// Why an exchange with the router gave no address.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The router answered, and what it said stands.
    Answered(String),
    /// The endpoint did not answer as one should (gone, moved, restarted): worth a new
    /// discovery.
    Unreachable(String),
}

impl Failure {
    fn message(self) -> String {
        match self {
            Failure::Answered(message) | Failure::Unreachable(message) => message,
        }
    }
}

impl Igd {
    /// Discovers the router by multicast SSDP, or asks `target` by unicast M-SEARCH.
    pub fn new(http: reqwest::Client, label: String, target: Option<SocketAddr>) -> Self {
        Self {
            label,
            http,
            target,
            timeout: SOURCE_TIMEOUT,
            search_wait: SEARCH_WAIT,
            control: Mutex::new(None),
        }
    }

    async fn run(&self, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
        if family == IpFamily::V6 {
            return Err(SourceError::new(
                "UPnP IGD reports only the IPv4 WAN address",
            ));
        }
        match tokio::time::timeout(self.timeout, self.external()).await {
            Ok(Ok(address)) => Ok(vec![address]),
            Ok(Err(why)) => Err(SourceError::new(why)),
            Err(_) => {
                // Mid-exchange: the endpoint may be gone.
                self.remember(None);
                Err(SourceError::new(format!(
                    "the router did not answer within {}",
                    seconds(self.timeout)
                )))
            }
        }
    }

    fn cached(&self) -> Option<Control> {
        self.control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn remember(&self, control: Option<Control>) {
        *self.control.lock().unwrap_or_else(PoisonError::into_inner) = control;
    }

    async fn external(&self) -> Result<IpAddr, String> {
        if let Some(control) = self.cached() {
            match self.get_external(&control).await {
                Ok(address) => return Ok(address),
                Err(Failure::Answered(why)) => {
                    // Found again next time: the WAN connection may change with the link.
                    self.remember(None);
                    return Err(why);
                }
                // Moved or restarted: look for it again now.
                Err(Failure::Unreachable(_)) => self.remember(None),
            }
        }
        let location = self.search().await?;
        let description = self.description(&location).await?;
        let controls = wan_services(&description, &location)?;
        // A router may list several (a DSL router: WANIPConnection and WANPPPConnection);
        // the one for the link in use answers.
        let mut first_failure = None;
        for control in controls {
            match self.get_external(&control).await {
                Ok(address) => {
                    self.remember(Some(control));
                    return Ok(address);
                }
                Err(failure) => {
                    first_failure.get_or_insert(failure);
                }
            }
        }
        Err(first_failure.map_or_else(
            || "the router lists no WAN service".to_owned(),
            Failure::message,
        ))
    }

    /// The `LOCATION` of the first gateway that answers the M-SEARCH.
    async fn search(&self) -> Result<Url, String> {
        let (destination, local): (SocketAddr, SocketAddr) = match self.target {
            Some(target @ SocketAddr::V6(_)) => (target, (Ipv6Addr::UNSPECIFIED, 0).into()),
            Some(target) => (target, (Ipv4Addr::UNSPECIFIED, 0).into()),
            None => (SSDP_MULTICAST, (Ipv4Addr::UNSPECIFIED, 0).into()),
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
        if self.target.is_some() {
            // Only the target's answers arrive, and a closed port is reported.
            socket
                .connect(destination)
                .await
                .map_err(|e| format!("cannot reach {destination}: {e}"))?;
        } else {
            // UPnP Device Architecture 1.1, 1.1.2: multicast TTL 2.
            let _ = socket.set_multicast_ttl_v4(2);
        }
        send_searches(&socket, destination).await?;
        let deadline = tokio::time::Instant::now() + self.search_wait;
        // Datagrams get lost: a second search halfway through the wait.
        let mut resend = Some(tokio::time::Instant::now() + self.search_wait / 2);
        let mut skipped = None;
        let mut buffer = vec![0u8; 2048];
        loop {
            let wake = resend.map_or(deadline, |at| at.min(deadline));
            match tokio::time::timeout_at(wake, socket.recv_from(&mut buffer)).await {
                Ok(Ok((length, _))) => match ssdp_location(&buffer[..length]) {
                    Ok(location) => return Ok(location),
                    Err(why) => skipped = Some(why),
                },
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err(format!(
                        "nothing answers UPnP searches at {destination} (connection refused)"
                    ));
                }
                Ok(Err(e)) => return Err(format!("the UPnP search failed: {e}")),
                Err(_) if resend.is_some() && wake < deadline => {
                    resend = None;
                    send_searches(&socket, destination).await?;
                }
                Err(_) => break,
            }
        }
        let who = match self.target {
            Some(target) => format!("{target} did not answer the UPnP search"),
            None => "no UPnP router answered the search".to_owned(),
        };
        let within = seconds(self.search_wait);
        Err(match skipped {
            Some(why) => format!("{who} within {within} as a gateway ({why})"),
            None => format!("{who} within {within}"),
        })
    }

    /// The device description at `location`.
    async fn description(&self, location: &Url) -> Result<String, String> {
        let request = self.http.get(location.clone());
        let (status, body) = self
            .fetch(request)
            .await
            .map_err(|why| format!("cannot read the router's description at {location}: {why}"))?;
        if !status.is_success() {
            return Err(format!(
                "the router's description at {location} answered HTTP {status}"
            ));
        }
        Ok(body)
    }

    /// Asks `control` for the WAN address.
    async fn get_external(&self, control: &Control) -> Result<IpAddr, Failure> {
        let service = &control.service_type;
        // The form miniupnpc sends, which every router parses.
        let envelope = format!(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope \
             xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
             <u:GetExternalIPAddress xmlns:u=\"{service}\"></u:GetExternalIPAddress>\
             </s:Body></s:Envelope>\r\n"
        );
        let request = self
            .http
            .post(control.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=\"utf-8\"")
            .header("SOAPAction", format!("\"{service}#GetExternalIPAddress\""))
            .body(envelope);
        let (status, body) = self.fetch(request).await.map_err(|why| {
            Failure::Unreachable(format!("cannot ask the router at {}: {why}", control.url))
        })?;
        read_soap_answer(status, &body)
    }

    /// Sends `request`; the status and (bounded) body of the answer.
    async fn fetch(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, String), String> {
        let mut response = request.send().await.map_err(describe)?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("the answer is longer than {} KiB", MAX_BODY / 1024));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

/// An HTTP failure in words, without the URL (the caller names the endpoint).
fn describe(error: reqwest::Error) -> String {
    if error.is_connect() {
        return "cannot connect".into();
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// "2.5 s", "5 s", or "300 ms" for the short waits of tests.
fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else if millis < 1000 {
        format!("{millis} ms")
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// One M-SEARCH per gateway generation.
async fn send_searches(socket: &UdpSocket, destination: SocketAddr) -> Result<(), String> {
    for st in SEARCH_TARGETS {
        socket
            .send_to(m_search(destination, st).as_bytes(), destination)
            .await
            .map_err(|e| format!("cannot send the UPnP search to {destination}: {e}"))?;
    }
    Ok(())
}

/// One M-SEARCH (UPnP Device Architecture 1.1, 1.3.2).
fn m_search(destination: SocketAddr, st: &str) -> String {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: {destination}\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\n\
         ST: {st}\r\n\r\n"
    )
}

/// The description URL in an M-SEARCH answer from a gateway; why not, for anything else.
fn ssdp_location(datagram: &[u8]) -> Result<Url, String> {
    let text = String::from_utf8_lossy(datagram);
    let mut lines = text.split('\n').map(|line| line.trim_end_matches('\r'));
    let status = lines.next().unwrap_or_default();
    let mut words = status.split_ascii_whitespace();
    let version_ok = words
        .next()
        .is_some_and(|v| v == "HTTP/1.1" || v == "HTTP/1.0");
    if !version_ok || words.next() != Some("200") {
        return Err("an answer that is not an M-SEARCH answer".into());
    }
    let mut st = None;
    let mut location = None;
    for line in lines.take_while(|line| !line.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("ST") {
            st = Some(value.trim());
        } else if name.eq_ignore_ascii_case("LOCATION") {
            location = Some(value.trim());
        }
    }
    let st = st.ok_or("an answer without ST")?;
    if !ANSWER_TARGETS.contains(&st) {
        return Err(format!("an answer for {}", crate::provider::truncate(st)));
    }
    let location = location.ok_or("an answer without LOCATION")?;
    match Url::parse(location) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(format!(
            "an answer whose LOCATION \"{}\" is not an http:// URL",
            crate::provider::truncate(location)
        )),
    }
}

/// The WAN connection services a description lists, in document order, their control
/// URLs resolved against `<URLBase>` or, without one, the description's own URL.
fn wan_services(description: &str, location: &Url) -> Result<Vec<Control>, String> {
    let root = xml::parse(description)
        .map_err(|why| format!("the router's description is not XML ({why})"))?;
    let base = root
        .descendants("URLBase")
        .first()
        .map(|element| element.text())
        .filter(|text| !text.is_empty())
        .and_then(|text| Url::parse(text).ok())
        .unwrap_or_else(|| location.clone());
    let mut controls = Vec::new();
    for service in root.descendants("service") {
        let service_type = service.child_text("serviceType").unwrap_or_default();
        if !WAN_SERVICES.contains(&service_type) {
            continue;
        }
        let control_url = service.child_text("controlURL").unwrap_or_default();
        let url = match base.join(control_url) {
            Ok(url) if !control_url.is_empty() && matches!(url.scheme(), "http" | "https") => url,
            _ => {
                return Err(format!(
                    "the router's description gives {service_type} the control URL \"{}\"",
                    crate::provider::truncate(control_url)
                ));
            }
        };
        controls.push(Control {
            url,
            service_type: service_type.to_owned(),
        });
    }
    if controls.is_empty() {
        return Err(
            "the router's description lists no WANIPConnection or WANPPPConnection service".into(),
        );
    }
    Ok(controls)
}

/// The address in a `GetExternalIPAddress` answer.
fn read_soap_answer(status: reqwest::StatusCode, body: &str) -> Result<IpAddr, Failure> {
    let root = xml::parse(body).ok();
    let text_of = |name: &str| {
        root.as_ref()
            .and_then(|root| root.descendants(name).first().map(|e| e.text().to_owned()))
    };
    if !status.is_success() {
        // UPnP Device Architecture 1.1, 3.2.2: HTTP 500 with a SOAP fault.
        return Err(match text_of("errorCode") {
            Some(code) => {
                let description = text_of("errorDescription").unwrap_or_default();
                Failure::Answered(
                    format!(
                        "the router answered UPnP error {} {}",
                        crate::provider::truncate(&code),
                        crate::provider::truncate(&description)
                    )
                    .trim_end()
                    .to_owned(),
                )
            }
            None => Failure::Unreachable(format!("the router answered HTTP {status}")),
        });
    }
    let Some(address) = text_of("NewExternalIPAddress") else {
        return Err(Failure::Answered(
            "the router's answer holds no NewExternalIPAddress".into(),
        ));
    };
    // Routers answer an empty address, or 0.0.0.0, while the WAN link is down.
    if address.is_empty() || address == "0.0.0.0" {
        return Err(Failure::Answered(
            "the router has no WAN address (not connected?)".into(),
        ));
    }
    address.parse().map_err(|_| {
        Failure::Answered(format!(
            "the router answered \"{}\", not an address",
            crate::provider::truncate(&address)
        ))
    })
}

/// Just enough XML for device descriptions and SOAP answers, which are small and regular:
/// elements, text, entities, CDATA; comments, declarations and attributes skipped. Names
/// lose their namespace prefix (`u:NewExternalIPAddress` is `NewExternalIPAddress`), since
/// routers pick prefixes freely. Hand-written rather than a new XML crate for two lookups.
mod xml {
    /// An element: its local name, its own text, its children.
    #[derive(Debug, Default)]
    pub(super) struct Element {
        pub(super) name: String,
        text: String,
        pub(super) children: Vec<Element>,
    }

    impl Element {
        /// Its own text, trimmed.
        pub(super) fn text(&self) -> &str {
            self.text.trim()
        }

        /// The trimmed text of the first child named `name`.
        pub(super) fn child_text(&self, name: &str) -> Option<&str> {
            self.children
                .iter()
                .find(|child| child.name == name)
                .map(Element::text)
        }

        /// Every element below this one named `name`, in document order.
        pub(super) fn descendants(&self, name: &str) -> Vec<&Element> {
            let mut found = Vec::new();
            let mut stack: Vec<&Element> = self.children.iter().rev().collect();
            while let Some(element) = stack.pop() {
                if element.name == name {
                    found.push(element);
                }
                stack.extend(element.children.iter().rev());
            }
            found
        }
    }

    /// Deeper nesting is refused.
    const MAX_DEPTH: usize = 32;

    /// The document as an unnamed element holding the root element.
    pub(super) fn parse(text: &str) -> Result<Element, String> {
        let mut stack = vec![Element::default()];
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("<!--") {
                let end = after.find("-->").ok_or("an unclosed comment")?;
                rest = &after[end + 3..];
            } else if let Some(after) = rest.strip_prefix("<![CDATA[") {
                let end = after.find("]]>").ok_or("an unclosed CDATA section")?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&after[..end]);
                }
                rest = &after[end + 3..];
            } else if let Some(after) = rest.strip_prefix("<?") {
                let end = after.find("?>").ok_or("an unclosed declaration")?;
                rest = &after[end + 2..];
            } else if let Some(after) = rest.strip_prefix("<!") {
                let end = after.find('>').ok_or("an unclosed declaration")?;
                rest = &after[end + 1..];
            } else if let Some(after) = rest.strip_prefix('<') {
                let end = tag_end(after).ok_or("an unclosed tag")?;
                let tag = &after[..end];
                rest = &after[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    let name = local(name.trim());
                    let element = match stack.pop() {
                        Some(element) if element.name == name && !stack.is_empty() => element,
                        _ => return Err(format!("an unexpected </{name}>")),
                    };
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(element);
                    }
                } else {
                    let empty = tag.ends_with('/');
                    let tag = tag.strip_suffix('/').unwrap_or(tag);
                    let name = tag.split_ascii_whitespace().next().unwrap_or_default();
                    if name.is_empty() {
                        return Err("a tag without a name".into());
                    }
                    let element = Element {
                        name: local(name).to_owned(),
                        ..Element::default()
                    };
                    if empty {
                        if let Some(parent) = stack.last_mut() {
                            parent.children.push(element);
                        }
                    } else if stack.len() > MAX_DEPTH {
                        // Real descriptions nest a few levels; a LAN device sending
                        // thousands would only exhaust the stack when the tree is dropped.
                        return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                    } else {
                        stack.push(element);
                    }
                }
            } else {
                let end = rest.find('<').unwrap_or(rest.len());
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&unescape(&rest[..end]));
                }
                rest = &rest[end..];
            }
        }
        match stack.pop() {
            Some(document) if stack.is_empty() => {
                if document.children.is_empty() {
                    Err("no element".into())
                } else {
                    Ok(document)
                }
            }
            Some(open) => Err(format!("an unclosed <{}>", open.name)),
            None => Err("no element".into()),
        }
    }

    /// Where the tag starting after `<` ends (its `>`), quoted attribute values skipped.
    fn tag_end(tag: &str) -> Option<usize> {
        let mut quote = None;
        for (at, c) in tag.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return Some(at),
                _ => {}
            }
        }
        None
    }

    fn local(name: &str) -> &str {
        name.rsplit(':').next().unwrap_or(name)
    }

    /// Text with its entity and character references replaced.
    fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('&') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            let replaced = after.find(';').and_then(|end| {
                let entity = &after[..end];
                let c = match entity {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    _ => {
                        let number = entity.strip_prefix('#')?;
                        let code = match number.strip_prefix(['x', 'X']) {
                            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                            None => number.parse().ok()?,
                        };
                        char::from_u32(code)
                    }
                }?;
                Some((c, end))
            });
            match replaced {
                Some((c, end)) => {
                    out.push(c);
                    rest = &after[end + 1..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

impl Source for Igd {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Upnp
    }

    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        Box::pin(self.run(family))
    }
}

#[cfg(test)]
mod tests {
    use dyntray_tests::fake_igd::{self, FakeIgd};

    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    fn igd(router: &FakeIgd) -> Igd {
        let mut igd = Igd::new(client(), "t".into(), Some(router.ssdp_addr()));
        igd.search_wait = Duration::from_millis(600);
        igd
    }

    async fn ask(igd: &Igd) -> Result<Vec<IpAddr>, String> {
        igd.ask(IpFamily::V4).await.map_err(|e| e.0)
    }

    /// Discovery as on a real LAN: the search goes to 239.255.255.250:1900 by multicast
    /// and the router answers from there, inside a network namespace the test creates.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_router_is_found_by_multicast() {
        let ns = dyntray_tests::netns::NetNs::for_test("upnp");
        ns.add_veth("v0").unwrap();
        ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "v0"])
            .unwrap();
        ns.ip(&["route", "add", "224.0.0.0/4", "dev", "v0"])
            .unwrap();
        ns.enter_thread(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let router = FakeIgd::start_multicast("10.77.0.1".parse().unwrap()).await;
                router.set_external("81.2.69.160");
                let mut igd = Igd::new(client(), "upnp".into(), None);
                igd.search_wait = Duration::from_millis(1500);
                assert_eq!(ask(&igd).await, Ok(vec!["81.2.69.160".parse().unwrap()]));
                assert!(router.msearch_count() >= 1);
                assert_eq!(router.soap_count(), 1);
            });
        })
        .unwrap();
    }

    #[tokio::test]
    async fn the_router_tells_its_wan_address() {
        let router = FakeIgd::start().await;
        router.set_external("81.2.69.160");
        let igd = igd(&router);
        assert_eq!(ask(&igd).await, Ok(vec!["81.2.69.160".parse().unwrap()]));
        assert_eq!(
            router.search_targets(),
            [
                "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
                "urn:schemas-upnp-org:device:InternetGatewayDevice:2"
            ]
        );
        assert_eq!(
            router.soap_actions(),
            ["\"urn:schemas-upnp-org:service:WANIPConnection:1#GetExternalIPAddress\""]
        );
        // The control URL is kept: no second search, no second description.
        router.set_external("81.2.69.161");
        assert_eq!(ask(&igd).await, Ok(vec!["81.2.69.161".parse().unwrap()]));
        assert_eq!(router.msearch_count(), 2);
        assert_eq!(router.description_count(), 1);
        assert_eq!(router.soap_count(), 2);
    }

    #[tokio::test]
    async fn a_router_without_wan_says_so() {
        let router = FakeIgd::start().await;
        router.set_external("");
        assert_eq!(
            ask(&igd(&router)).await,
            Err("the router has no WAN address (not connected?)".into())
        );
    }

    #[tokio::test]
    async fn upnp_errors_are_named_and_the_router_is_found_again() {
        let router = FakeIgd::start().await;
        router.set_external("81.2.69.160");
        let igd = igd(&router);
        assert!(ask(&igd).await.is_ok());
        router.soap_error(501, "Action Failed");
        assert_eq!(
            ask(&igd).await,
            Err("the router answered UPnP error 501 Action Failed".into())
        );
        assert_eq!(
            router.msearch_count(),
            2,
            "the router answered: no new search"
        );
        router.set_external("81.2.69.160");
        assert!(ask(&igd).await.is_ok());
        assert_eq!(
            router.msearch_count(),
            4,
            "searched again after the failure"
        );
    }

    #[tokio::test]
    async fn no_answer_to_the_search() {
        let router = FakeIgd::start().await;
        router.ssdp_silent();
        let igd = igd(&router);
        assert_eq!(
            ask(&igd).await,
            Err(format!(
                "{} did not answer the UPnP search within 600 ms",
                router.ssdp_addr()
            ))
        );
        // Both searches, sent twice.
        assert_eq!(router.msearch_count(), 4);
        assert_eq!(router.soap_count(), 0);
    }

    #[tokio::test]
    async fn a_description_without_a_wan_service() {
        let router = FakeIgd::start().await;
        router.set_external("81.2.69.160");
        let description = fake_igd::miniupnpd_description(router.http_addr()).replace(
            fake_igd::SERVICE,
            "urn:schemas-upnp-org:service:WANEthernetLinkConfig:1",
        );
        router.description(&description);
        assert_eq!(
            ask(&igd(&router)).await,
            Err(
                "the router's description lists no WANIPConnection or WANPPPConnection service"
                    .into()
            )
        );
        assert_eq!(router.soap_count(), 0);
    }

    #[tokio::test]
    async fn ipv6_is_not_asked() {
        let router = FakeIgd::start().await;
        let err = igd(&router).ask(IpFamily::V6).await.unwrap_err();
        assert_eq!(err.0, "UPnP IGD reports only the IPv4 WAN address");
        assert_eq!(router.msearch_count(), 0);
    }

    #[tokio::test]
    async fn a_wrong_soap_action_is_refused() {
        let router = FakeIgd::start().await;
        router.set_external("81.2.69.160");
        let igd = igd(&router);
        let control = Control {
            url: Url::parse(&format!(
                "http://{}{}",
                router.http_addr(),
                fake_igd::CONTROL_PATH
            ))
            .unwrap(),
            service_type: "urn:schemas-upnp-org:service:WANIPConnection:2".into(),
        };
        assert_eq!(
            igd.get_external(&control).await,
            Err(Failure::Answered(
                "the router answered UPnP error 401 Invalid Action".into()
            ))
        );
    }

    #[test]
    fn search_answers_are_read_exactly() {
        let answer = |st: &str, location: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncache-control: max-age=1800\r\nst: {st}\r\n\
                 usn: uuid:x::{st}\r\nLocation:  {location} \r\next:\r\n\r\n"
            )
        };
        assert_eq!(
            ssdp_location(
                answer(
                    "urn:schemas-upnp-org:service:WANPPPConnection:1",
                    "http://192.168.178.1:49000/igddesc.xml"
                )
                .as_bytes()
            ),
            Ok(Url::parse("http://192.168.178.1:49000/igddesc.xml").unwrap())
        );
        assert_eq!(
            ssdp_location(
                answer("urn:dial-multiscreen-org:service:dial:1", "http://x/").as_bytes()
            ),
            Err("an answer for urn:dial-multiscreen-org:service:dial:1".into())
        );
        assert!(ssdp_location(answer(SEARCH_TARGETS[0], "file:///etc/passwd").as_bytes()).is_err());
        assert!(ssdp_location(b"NOTIFY * HTTP/1.1\r\nNT: upnp:rootdevice\r\n\r\n").is_err());
        assert!(ssdp_location(b"\xff\x00garbage").is_err());
    }

    #[test]
    fn control_urls_resolve_against_urlbase_and_any_prefix() {
        // A FRITZ!Box-like description: a URLBase, prefixes, a comment, both WAN services.
        let description = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- AVM -->
<d:root xmlns:d="urn:schemas-upnp-org:device-1-0">
 <d:URLBase>http://192.168.178.1:49000/</d:URLBase>
 <d:device><d:deviceList><d:device><d:deviceList><d:device>
  <d:serviceList>
   <d:service>
    <d:serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</d:serviceType>
    <d:controlURL>/igdupnp/control/WANIPConn1</d:controlURL>
   </d:service>
   <d:service>
    <d:serviceType> urn:schemas-upnp-org:service:WANPPPConnection:1 </d:serviceType>
    <d:controlURL>igdupnp/control/WANPPPConn1?a=1&amp;b=2</d:controlURL>
    <d:SCPDURL/>
   </d:service>
  </d:serviceList>
 </d:device></d:deviceList></d:device></d:deviceList></d:device>
</d:root>"#;
        let location = Url::parse("http://192.168.178.1:49000/igddesc.xml").unwrap();
        let controls = wan_services(description, &location).unwrap();
        let urls: Vec<&str> = controls.iter().map(|c| c.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://192.168.178.1:49000/igdupnp/control/WANIPConn1",
                "http://192.168.178.1:49000/igdupnp/control/WANPPPConn1?a=1&b=2"
            ]
        );
        assert_eq!(
            controls[1].service_type,
            "urn:schemas-upnp-org:service:WANPPPConnection:1"
        );
        assert!(
            wan_services("<root><device>", &location)
                .unwrap_err()
                .starts_with("the router's description is not XML")
        );
        assert!(wan_services("not xml at all", &location).is_err());
    }

    #[test]
    fn soap_answers_are_read_with_any_prefix() {
        let ok = reqwest::StatusCode::OK;
        let answer = |address: &str| {
            format!(
                "<?xml version=\"1.0\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"x\"><SOAP-ENV:Body>\
                 <m:GetExternalIPAddressResponse xmlns:m=\"y\"><m:NewExternalIPAddress>{address}\
                 </m:NewExternalIPAddress></m:GetExternalIPAddressResponse></SOAP-ENV:Body>\
                 </SOAP-ENV:Envelope>"
            )
        };
        assert_eq!(
            read_soap_answer(ok, &answer(" 81.2.69.160\n")),
            Ok("81.2.69.160".parse().unwrap())
        );
        let down = Err(Failure::Answered(
            "the router has no WAN address (not connected?)".into(),
        ));
        assert_eq!(read_soap_answer(ok, &answer("")), down);
        assert_eq!(read_soap_answer(ok, &answer("0.0.0.0")), down);
        assert_eq!(
            read_soap_answer(ok, &answer("pending")),
            Err(Failure::Answered(
                "the router answered \"pending\", not an address".into()
            ))
        );
        assert_eq!(
            read_soap_answer(reqwest::StatusCode::NOT_FOUND, "<html>Not Found</html>"),
            Err(Failure::Unreachable(
                "the router answered HTTP 404 Not Found".into()
            ))
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = format!("{}{}", "<a>".repeat(40_000), "</a>".repeat(40_000));
        let err = xml::parse(&deep).unwrap_err();
        assert!(err.contains("nested deeper than 32"), "{err}");
        let ok = format!("{}x{}", "<a>".repeat(10), "</a>".repeat(10));
        assert!(xml::parse(&ok).is_ok());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(seconds(SOURCE_TIMEOUT), "5 s");
        assert_eq!(seconds(SEARCH_WAIT), "2.5 s");
        assert_eq!(seconds(Duration::from_millis(600)), "600 ms");
    }
}
