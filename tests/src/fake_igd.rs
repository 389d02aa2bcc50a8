//! A UPnP Internet Gateway Device on 127.0.0.1 for tests, shaped after miniupnpd (IGD:1):
//! an SSDP responder on a UDP port answering M-SEARCH for the IGD:1 device and its
//! services, and an HTTP/1.1 server with the device description (nested WANDevice and
//! WANConnectionDevice) and the WANIPConnection control endpoint, which checks the
//! SOAPAction header and answers `GetExternalIPAddress` from a script.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// The service the fake router controls.
pub const SERVICE: &str = "urn:schemas-upnp-org:service:WANIPConnection:1";

/// The path of the description; [`FakeIgd::location`] is its URL.
pub const DESCRIPTION_PATH: &str = "/rootDesc.xml";

/// The path of the WANIPConnection control endpoint.
pub const CONTROL_PATH: &str = "/ctl/IPConn";

/// The search targets an IGD:1 router answers (and `ssdp:all`).
const ANSWERED: &[&str] = &[
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:device:WANDevice:1",
    "urn:schemas-upnp-org:device:WANConnectionDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "upnp:rootdevice",
];

#[derive(Default)]
struct Shared {
    /// `NewExternalIPAddress`; empty: the WAN is down.
    external: String,
    /// Answer SOAP calls with this UPnP error instead.
    soap_error: Option<(u16, String)>,
    /// Count M-SEARCHes but never answer them.
    ssdp_silent: bool,
    /// Served instead of the miniupnpd-like description.
    description: Option<String>,
    search_targets: Vec<String>,
    descriptions: usize,
    soap_actions: Vec<String>,
}

/// The running router; it stops with the test's runtime.
#[derive(Clone)]
pub struct FakeIgd {
    ssdp: SocketAddr,
    http: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeIgd {
    /// Starts the SSDP responder and the HTTP server, each on a free port of 127.0.0.1.
    /// The router has no WAN address until [`FakeIgd::set_external`].
    pub async fn start() -> Self {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        Self::serve(udp).await
    }

    /// Starts the router answering SSDP where real ones do: 239.255.255.250:1900, joined
    /// on the interface holding `interface` (in a network namespace of the test's: the
    /// port and the group are the namespace's own). The HTTP server stays on 127.0.0.1.
    pub async fn start_multicast(interface: Ipv4Addr) -> Self {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 1900))
            .await
            .unwrap();
        udp.join_multicast_v4(Ipv4Addr::new(239, 255, 255, 250), interface)
            .unwrap();
        Self::serve(udp).await
    }

    async fn serve(udp: UdpSocket) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let ssdp = udp.local_addr().unwrap();
        let http = listener.local_addr().unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let igd = Self {
            ssdp,
            http,
            shared: Arc::clone(&shared),
        };
        let location = igd.location();
        let ssdp_shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 2048];
            loop {
                let Ok((length, peer)) = udp.recv_from(&mut buffer).await else {
                    break;
                };
                let request = String::from_utf8_lossy(&buffer[..length]).into_owned();
                let answer = ssdp_answer(&ssdp_shared, &request, &location);
                if let Some(answer) = answer {
                    let _ = udp.send_to(answer.as_bytes(), peer).await;
                }
            }
        });
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    break;
                };
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Some((head, body)) = read_request(&mut stream).await else {
                        return;
                    };
                    let (status, body) = http_answer(&shared, &head, &body, http);
                    let reason = match status {
                        200 => "OK",
                        404 => "Not Found",
                        _ => "Internal Server Error",
                    };
                    let response = format!(
                        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n\
                         Connection: close\r\nContent-Length: {}\r\n\
                         Server: OpenWRT/23.05 UPnP/1.1 MiniUPnPd/2.3.3\r\nExt:\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        igd
    }

    /// Where the SSDP responder listens (the `upnp@` target).
    pub fn ssdp_addr(&self) -> SocketAddr {
        self.ssdp
    }

    /// Where the HTTP server listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// The description's URL, as the SSDP answers give it in `LOCATION`.
    pub fn location(&self) -> String {
        format!("http://{}{DESCRIPTION_PATH}", self.http)
    }

    /// The WAN address `GetExternalIPAddress` answers from now on (`""`: the WAN is down,
    /// answered as miniupnpd does, with an empty `NewExternalIPAddress`); clears
    /// [`FakeIgd::soap_error`].
    pub fn set_external(&self, address: &str) {
        let mut shared = self.shared.lock().unwrap();
        shared.external = address.to_owned();
        shared.soap_error = None;
    }

    /// Answers SOAP calls from now on with HTTP 500 and UPnP error `code` `description`.
    pub fn soap_error(&self, code: u16, description: &str) {
        self.shared.lock().unwrap().soap_error = Some((code, description.to_owned()));
    }

    /// Counts M-SEARCHes from now on but answers none.
    pub fn ssdp_silent(&self) {
        self.shared.lock().unwrap().ssdp_silent = true;
    }

    /// Serves `xml` as the device description from now on.
    pub fn description(&self, xml: &str) {
        self.shared.lock().unwrap().description = Some(xml.to_owned());
    }

    /// How many M-SEARCHes arrived, answered or not.
    pub fn msearch_count(&self) -> usize {
        self.shared.lock().unwrap().search_targets.len()
    }

    /// The `ST` of every M-SEARCH, in order.
    pub fn search_targets(&self) -> Vec<String> {
        self.shared.lock().unwrap().search_targets.clone()
    }

    /// How many times the description was fetched.
    pub fn description_count(&self) -> usize {
        self.shared.lock().unwrap().descriptions
    }

    /// How many SOAP calls arrived, well formed or not.
    pub fn soap_count(&self) -> usize {
        self.shared.lock().unwrap().soap_actions.len()
    }

    /// The `SOAPAction` header of every SOAP call, in order (empty when missing).
    pub fn soap_actions(&self) -> Vec<String> {
        self.shared.lock().unwrap().soap_actions.clone()
    }
}

/// A header's value from HTTP-style `lines`, by case-insensitive name.
fn header<'a>(lines: &'a str, name: &str) -> Option<&'a str> {
    lines
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim())
}

/// The answer to an M-SEARCH, as miniupnpd words it; `None` for anything else.
fn ssdp_answer(shared: &Mutex<Shared>, request: &str, location: &str) -> Option<String> {
    if !request.starts_with("M-SEARCH * HTTP/1.1\r\n") {
        return None;
    }
    let st = header(request, "ST").unwrap_or_default().to_owned();
    let man = header(request, "MAN").unwrap_or_default();
    let mut shared = shared.lock().unwrap();
    shared.search_targets.push(st.clone());
    if shared.ssdp_silent || man != "\"ssdp:discover\"" {
        return None;
    }
    // ssdp:all gets the root device's answer only: enough for a test.
    let st = if st == "ssdp:all" {
        ANSWERED[0]
    } else if ANSWERED.contains(&st.as_str()) {
        st.as_str()
    } else {
        return None;
    };
    Some(format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: {st}\r\n\
         USN: uuid:7a3e05b2-1c4d-4e6f-9a8b-0c1d2e3f4a5b::{st}\r\nEXT:\r\n\
         SERVER: OpenWRT/23.05 UPnP/1.1 MiniUPnPd/2.3.3\r\nLOCATION: {location}\r\n\
         OPT: \"http://schemas.upnp.org/upnp/1/0/\"; ns=01\r\n01-NLS: 1\r\n\
         BOOTID.UPNP.ORG: 1\r\nCONFIGID.UPNP.ORG: 1337\r\n\r\n"
    ))
}

/// The request's head and body (by `Content-Length`).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<(String, String)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = header(&head, "Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buffer[head_end..head_end + length]).into_owned();
    Some((head, body))
}

/// Status and body for one HTTP request.
fn http_answer(shared: &Mutex<Shared>, head: &str, body: &str, http: SocketAddr) -> (u16, String) {
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default();
    let path = request_line.next().unwrap_or_default();
    let mut shared = shared.lock().unwrap();
    match (method, path) {
        ("GET", DESCRIPTION_PATH) => {
            shared.descriptions += 1;
            let description = shared
                .description
                .clone()
                .unwrap_or_else(|| miniupnpd_description(http));
            (200, description)
        }
        ("POST", CONTROL_PATH) => {
            let action = header(head, "SOAPAction").unwrap_or_default().to_owned();
            shared.soap_actions.push(action.clone());
            let expected = format!("\"{SERVICE}#GetExternalIPAddress\"");
            let content_type = header(head, "Content-Type").unwrap_or_default();
            let element = format!("<u:GetExternalIPAddress xmlns:u=\"{SERVICE}\"");
            if action != expected
                || !content_type.starts_with("text/xml")
                || !body.contains(&element)
                || !body.contains("schemas.xmlsoap.org/soap/envelope/")
            {
                return (500, soap_fault(401, "Invalid Action"));
            }
            if let Some((code, description)) = &shared.soap_error {
                return (500, soap_fault(*code, description));
            }
            (
                200,
                format!(
                    "<?xml version=\"1.0\"?>\r\n<s:Envelope \
                     xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
                     s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
                     <u:GetExternalIPAddressResponse xmlns:u=\"{SERVICE}\">\
                     <NewExternalIPAddress>{}</NewExternalIPAddress>\
                     </u:GetExternalIPAddressResponse></s:Body></s:Envelope>\r\n",
                    shared.external
                ),
            )
        }
        _ => (404, String::new()),
    }
}

/// A UPnP error as routers send it (UPnP Device Architecture 1.1, 3.2.2).
fn soap_fault(code: u16, description: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>\
         <faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>\
         <UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>{code}</errorCode>\
         <errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault>\
         </s:Body></s:Envelope>\r\n"
    )
}

/// A description as miniupnpd serves it: the IGD with Layer3Forwarding, a WANDevice with
/// WANCommonInterfaceConfig, and in it a WANConnectionDevice with WANIPConnection.
pub fn miniupnpd_description(http: SocketAddr) -> String {
    format!(
        r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337"><specVersion><major>1</major><minor>1</minor></specVersion><device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>OpenWrt router</friendlyName><manufacturer>OpenWrt</manufacturer><manufacturerURL>https://openwrt.org/</manufacturerURL><modelDescription>OpenWrt router</modelDescription><modelName>OpenWrt router</modelName><modelNumber>23.05</modelNumber><modelURL>https://openwrt.org/</modelURL><serialNumber>00000000</serialNumber><UDN>uuid:7a3e05b2-1c4d-4e6f-9a8b-0c1d2e3f4a5b</UDN><serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><SCPDURL>/L3F.xml</SCPDURL><controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL></service></serviceList><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><friendlyName>WANDevice</friendlyName><manufacturer>MiniUPnP</manufacturer><manufacturerURL>http://miniupnp.free.fr/</manufacturerURL><modelDescription>WAN Device</modelDescription><modelName>WAN Device</modelName><modelNumber>20230511</modelNumber><modelURL>http://miniupnp.free.fr/</modelURL><serialNumber>00000000</serialNumber><UDN>uuid:7a3e05b2-1c4d-4e6f-9a8b-0c1d2e3f4a5c</UDN><UPC>000000000000</UPC><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId><SCPDURL>/WANCfg.xml</SCPDURL><controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL></service></serviceList><deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><friendlyName>WANConnectionDevice</friendlyName><manufacturer>MiniUPnP</manufacturer><manufacturerURL>http://miniupnp.free.fr/</manufacturerURL><modelDescription>MiniUPnP daemon</modelDescription><modelName>MiniUPnPd</modelName><modelNumber>20230511</modelNumber><modelURL>http://miniupnp.free.fr/</modelURL><serialNumber>00000000</serialNumber><UDN>uuid:7a3e05b2-1c4d-4e6f-9a8b-0c1d2e3f4a5d</UDN><UPC>000000000000</UPC><serviceList><service><serviceType>{SERVICE}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><SCPDURL>/WANIPCn.xml</SCPDURL><controlURL>{CONTROL_PATH}</controlURL><eventSubURL>/evt/IPConn</eventSubURL></service></serviceList></device></deviceList></device></deviceList><presentationURL>http://{ip}/</presentationURL></device></root>
"#,
        ip = http.ip()
    )
}
