//! The machine's own addresses, read from the kernel (Linux netlink).
//!
//! For a directly connected host, and for IPv6 where every host has its own global address,
//! the interfaces know the public address without asking anyone. A host usually has several:
//! [`rank`] puts the one a DNS name should point at first (one on the interface that carries
//! the default route, and there a stable address before a temporary privacy address, which
//! changes daily), and the caller validates them in order. Only interfaces that are up and
//! connected (carrier) are read: an unplugged cable leaves stale addresses behind.

use std::net::IpAddr;
use std::time::Duration;

use super::{Source, SourceError, SourceKind};
use crate::provider::{BoxFuture, IpFamily};

/// The addresses on this machine's interfaces.
pub struct Interfaces {
    label: String,
    name: Option<String>,
}

impl Interfaces {
    /// All interfaces, or only `name`.
    pub fn new(label: String, name: Option<String>) -> Self {
        Self { label, name }
    }
}

impl Source for Interfaces {
    fn label(&self) -> &str {
        &self.label
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Interface
    }

    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    fn ask(&self, family: IpFamily) -> BoxFuture<'_, Result<Vec<IpAddr>, SourceError>> {
        #[cfg(any(target_os = "linux", windows))]
        {
            Box::pin(read(self.name.as_deref(), family))
        }
        #[cfg(not(any(target_os = "linux", windows)))]
        {
            let _ = (&self.name, family);
            Box::pin(async {
                Err(SourceError::new(
                    "reading interface addresses is supported on Linux and Windows only",
                ))
            })
        }
    }
}

/// One address on an interface, as the kernel describes it: what [`rank`] orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address itself.
    pub address: IpAddr,
    /// The index of its interface.
    pub ifindex: u32,
    /// The kernel's `IFA_F_*` flags (see the associated constants).
    pub flags: u32,
    /// Seconds the address stays preferred; `u32::MAX` is forever, 0 is deprecated.
    pub preferred_lft: u32,
    /// Whether its interface carries this machine's default route for the family (the
    /// one the kernel uses, in the main routing table): where traffic to the internet
    /// leaves, so where an answer to it comes back. Set by whoever knows the routes; the
    /// kernel's address message alone says nothing about it.
    pub default_route: bool,
}

impl AddrInfo {
    /// `IFA_F_TEMPORARY`: an IPv6 privacy address (RFC 8981), replaced about daily.
    pub const TEMPORARY: u32 = 0x01;
    /// `IFA_F_OPTIMISTIC`: usable while duplicate address detection runs (RFC 4429).
    pub const OPTIMISTIC: u32 = 0x04;
    /// `IFA_F_DADFAILED`: another host has this address.
    pub const DADFAILED: u32 = 0x08;
    /// `IFA_F_DEPRECATED`: its preferred lifetime is over; it is being phased out.
    pub const DEPRECATED: u32 = 0x20;
    /// `IFA_F_TENTATIVE`: duplicate address detection has not finished yet.
    pub const TENTATIVE: u32 = 0x40;
    /// `IFA_F_PERMANENT`: set by hand or by configuration, not learned from the network.
    pub const PERMANENT: u32 = 0x80;

    fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Whether it can be used at all: not a duplicate, and past duplicate address
    /// detection unless optimistic.
    pub(crate) fn usable(&self) -> bool {
        !self.has(Self::DADFAILED) && (!self.has(Self::TENTATIVE) || self.has(Self::OPTIMISTIC))
    }

    /// Whether it is being phased out.
    pub(crate) fn deprecated(&self) -> bool {
        self.has(Self::DEPRECATED) || self.preferred_lft == 0
    }
}

/// Orders the addresses of one interface dump best first, dropping the unusable ones
/// (duplicates, and tentative ones unless optimistic).
///
/// First, for both families, addresses on a default-route interface before the others
/// (a VPN's or a container bridge's address is not where the internet reaches this
/// machine, however stable; the others stay as a fallback, e.g. for a host without a
/// default route). Then IPv6, by these rules in turn: not deprecated; not temporary (a
/// DNS name should point at the stable address, so privacy addresses come last, used
/// only when nothing else is there); global before unique local (`fc00::/7`); settled
/// before optimistic; permanent before learned; longer preferred lifetime; lower address.
/// IPv4: public before private and carrier-grade NAT; not deprecated; lower interface
/// index; lower address. An address on several interfaces is listed once.
pub fn rank(addrs: Vec<AddrInfo>) -> Vec<IpAddr> {
    let mut addrs: Vec<AddrInfo> = addrs.into_iter().filter(AddrInfo::usable).collect();
    addrs.sort_by_key(|a| match a.address {
        IpAddr::V4(ip) => (
            u8::from(!a.default_route),
            u8::from(is_private_v4(ip)),
            u8::from(a.deprecated()),
            0,
            0,
            0,
            std::cmp::Reverse(0),
            a.ifindex,
            a.address,
        ),
        IpAddr::V6(ip) => (
            u8::from(!a.default_route),
            u8::from(a.deprecated()),
            u8::from(a.has(AddrInfo::TEMPORARY)),
            u8::from((ip.segments()[0] & 0xfe00) == 0xfc00),
            u8::from(a.has(AddrInfo::TENTATIVE)),
            u8::from(!a.has(AddrInfo::PERMANENT)),
            std::cmp::Reverse(a.preferred_lft),
            0,
            a.address,
        ),
    });
    let mut ranked: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !ranked.contains(&a.address) {
            ranked.push(a.address);
        }
    }
    ranked
}

/// Private (RFC 1918), carrier-grade NAT, loopback or link-local: never what the rest of
/// the internet sees.
fn is_private_v4(ip: std::net::Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

/// If `best` is a temporary address, the stable address still being checked for duplicates
/// next to it: on the same interface, where the kernel made the two together (a tentative
/// address elsewhere, say on an interface that just came up, is no sibling of it).
#[cfg(any(target_os = "linux", windows, test))]
fn tentative_sibling(candidates: &[AddrInfo], best: IpAddr) -> Option<&AddrInfo> {
    let interfaces: Vec<u32> = candidates
        .iter()
        .filter(|c| c.address == best && c.has(AddrInfo::TEMPORARY))
        .map(|c| c.ifindex)
        .collect();
    candidates.iter().find(|c| {
        interfaces.contains(&c.ifindex)
            && c.has(AddrInfo::TENTATIVE)
            && !c.has(AddrInfo::TEMPORARY)
            && !c.has(AddrInfo::DADFAILED)
    })
}

/// The interfaces, among `usable`, whose default route the kernel would take: those of
/// the lowest metric (a laptop's wired link before its wireless one). Empty when there is
/// no default route through a usable interface.
#[cfg(any(target_os = "linux", windows))]
fn default_route_interfaces(
    routes: &[kernel::DefaultRoute],
    usable: &std::collections::HashSet<u32>,
) -> Vec<u32> {
    let routes = routes.iter().filter(|r| usable.contains(&r.ifindex));
    let Some(best) = routes.clone().map(|r| r.metric).min() else {
        return Vec::new();
    };
    routes
        .filter(|r| r.metric == best)
        .map(|r| r.ifindex)
        .collect()
}

#[cfg(any(target_os = "linux", windows))]
async fn read(name: Option<&str>, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
    let snapshot = tokio::time::timeout(super::SOURCE_TIMEOUT, kernel::snapshot(family))
        .await
        .map_err(|_| SourceError::new("the kernel did not list the interface addresses in time"))?
        .map_err(|e| SourceError::new(format!("reading interface addresses failed: {e}")))?;
    choose(snapshot, name, family)
}

/// The addresses of `family` to publish from what the OS listed, best first, or why
/// there are none.
#[cfg(any(target_os = "linux", windows))]
fn choose(
    snapshot: kernel::Snapshot,
    name: Option<&str>,
    family: IpFamily,
) -> Result<Vec<IpAddr>, SourceError> {
    use std::collections::HashSet;

    let family_name = match family {
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "global IPv6",
    };
    let wanted = match name {
        Some(name) => {
            let Some(link) = snapshot.links.iter().find(|l| l.name == name) else {
                return Err(SourceError::new(format!("no interface named {name}")));
            };
            if !link.up {
                return Err(SourceError::new(format!("{name} is down")));
            }
            if !link.running {
                return Err(SourceError::new(format!(
                    "{name} has no carrier (cable unplugged?)"
                )));
            }
            Some(link.index)
        }
        None => None,
    };
    // Up is not enough: an interface whose cable is unplugged (or whose Wi-Fi is not
    // associated) stays up and keeps its addresses for a while, unreachable.
    let usable: HashSet<u32> = snapshot
        .links
        .iter()
        .filter(|l| l.running && !l.loopback && wanted.is_none_or(|w| w == l.index))
        .map(|l| l.index)
        .collect();
    let exits = default_route_interfaces(&snapshot.default_routes, &usable);
    // With a default route, its interface is the way out and the only answer: another
    // interface's address (a VPN's, a bridge's) is not where the Internet sees this host,
    // and falling back to it while the way out has no address yet (duplicate address
    // detection after a link comes up) would publish it for a moment.
    let only_exits = name.is_none() && !exits.is_empty();
    let candidates: Vec<AddrInfo> = snapshot
        .addresses
        .into_iter()
        .filter(|a| a.global && usable.contains(&a.info.ifindex))
        .filter(|a| !only_exits || exits.contains(&a.info.ifindex))
        .map(|a| AddrInfo {
            default_route: exits.contains(&a.info.ifindex),
            ..a.info
        })
        .filter(|a| IpFamily::of(a.address) == family && !a.address.is_loopback())
        .collect();
    let exit_names: Vec<&str> = snapshot
        .links
        .iter()
        .filter(|l| only_exits && exits.contains(&l.index))
        .map(|l| l.name.as_str())
        .collect();
    let place = match name {
        Some(name) => name.to_owned(),
        None if only_exits => format!("{} (the default route's)", exit_names.join(", ")),
        None => "any interface".to_owned(),
    };
    let ranked = rank(candidates.clone());
    // The kernel makes a stable address and its temporary one together, and whichever
    // passes duplicate address detection first is usable first: while the stable one is
    // still being checked, publishing the temporary one would only cause a second update
    // a moment later.
    if let Some(best) = ranked.first()
        && let Some(pending) = tentative_sibling(&candidates, *best)
    {
        return Err(SourceError::new(format!(
            "{} on {place} is still being checked for duplicates (tentative); its temporary \
             address is not used meanwhile",
            pending.address
        )));
    }
    if !ranked.is_empty() {
        return Ok(ranked);
    }
    // Say why when the only addresses there are not usable (yet).
    Err(SourceError::new(match candidates.first() {
        Some(a) if a.has(AddrInfo::DADFAILED) => format!(
            "{} on {place} failed duplicate address detection",
            a.address
        ),
        Some(a) => format!(
            "{} on {place} is still being checked for duplicates (tentative)",
            a.address
        ),
        None => format!("no {family_name} address on {place}"),
    }))
}

/// An interface, as the OS lists it.
#[cfg(any(target_os = "linux", windows))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) index: u32,
    /// Its name (`eth0`; on Windows the one people see, "Ethernet" or "Wi-Fi"), which
    /// `interface:NAME` gives.
    pub(crate) name: String,
    /// Administratively up (`IFF_UP`; Windows has one state for both: operationally up).
    pub(crate) up: bool,
    /// Up and able to pass traffic (`IFF_UP` and `IFF_RUNNING`).
    pub(crate) running: bool,
    pub(crate) loopback: bool,
}

/// An address on an interface.
#[cfg(any(target_os = "linux", windows))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Address {
    pub(crate) info: AddrInfo,
    /// Reachable beyond its link (Linux's scope global, `RT_SCOPE_UNIVERSE`): not
    /// loopback, link-local or host-only (on Windows, not site-local or Teredo either).
    pub(crate) global: bool,
}

/// One way out of a default route: an interface it sends through.
#[cfg(any(target_os = "linux", windows))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DefaultRoute {
    pub(crate) ifindex: u32,
    /// The next router, if the route has one (a point-to-point link needs none).
    pub(crate) gateway: Option<IpAddr>,
    /// The lowest is taken: the route's metric (`RTA_PRIORITY`) on Linux; on Windows the
    /// adapter's interface metric, which Windows adds to the route's own (the same, 0,
    /// for gateways learned by DHCP or router advertisements). Where Windows' route
    /// lookup answers, only its choice is listed (`kernel::keep_exit`).
    pub(crate) metric: u32,
}

/// What the OS lists: the interfaces, the addresses of a family and its default routes
/// (in the main table on Linux; none if it has none).
#[cfg(any(target_os = "linux", windows))]
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) links: Vec<Link>,
    pub(crate) addresses: Vec<Address>,
    pub(crate) default_routes: Vec<DefaultRoute>,
}

/// The adapters from Windows' IP Helper API (`GetAdaptersAddresses`), in the shapes the
/// Linux reader below uses, so that choosing among them is the same code.
#[cfg(windows)]
pub(crate) mod kernel {
    use std::io;
    use std::net::IpAddr;

    use dyntray_os::adapters::{self, Adapter, Dad};

    use super::AddrInfo;
    use crate::provider::IpFamily;

    pub(crate) use super::{Address, DefaultRoute, Link, Snapshot};

    /// The adapters, their addresses of `family` and the way out.
    pub(crate) async fn snapshot(family: IpFamily) -> io::Result<Snapshot> {
        let (adapters, exit) = tokio::task::spawn_blocking(move || {
            let adapters = adapters::list()?;
            let exit = adapters::internet_interface(family == IpFamily::V6).unwrap_or_else(|e| {
                tracing::debug!(error = %e, ?family, "no route lookup: ranking gateways by metric");
                None
            });
            Ok::<_, io::Error>((adapters, exit))
        })
        .await
        .map_err(io::Error::other)??;
        let mut snapshot = from_adapters(&adapters, family);
        if let Some(exit) = exit {
            keep_exit(&mut snapshot, &adapters, family, exit);
        }
        Ok(snapshot)
    }

    /// Windows' own choice of the way out (its route lookup, [`adapters::internet_interface`])
    /// replaces the guess from the gateways' interface metrics: it adds the routes' own
    /// metrics, and sees a VPN that takes the traffic with split routes and no gateway.
    /// `exit` is the family's interface index.
    pub(crate) fn keep_exit(
        snapshot: &mut Snapshot,
        adapters: &[Adapter],
        family: IpFamily,
        exit: u32,
    ) {
        let Some(adapter) = adapters.iter().find(|a| match family {
            IpFamily::V4 => a.index == exit,
            IpFamily::V6 => a.ipv6_index == exit,
        }) else {
            return;
        };
        let index = if adapter.index != 0 {
            adapter.index
        } else {
            adapter.ipv6_index
        };
        snapshot.default_routes.retain(|r| r.ifindex == index);
        if snapshot.default_routes.is_empty() {
            snapshot.default_routes.push(DefaultRoute {
                ifindex: index,
                gateway: None,
                metric: 0,
            });
        }
    }

    /// The snapshot in what `GetAdaptersAddresses` said.
    pub(crate) fn from_adapters(adapters: &[Adapter], family: IpFamily) -> Snapshot {
        let mut snapshot = Snapshot {
            links: Vec::new(),
            addresses: Vec::new(),
            default_routes: Vec::new(),
        };
        for adapter in adapters {
            let index = if adapter.index != 0 {
                adapter.index
            } else {
                adapter.ipv6_index
            };
            snapshot.links.push(Link {
                index,
                name: adapter.name.clone(),
                up: adapter.up,
                running: adapter.up,
                loopback: adapter.loopback,
            });
            for address in &adapter.addresses {
                if IpFamily::of(address.address) != family {
                    continue;
                }
                let mut flags = 0;
                flags |= match address.dad {
                    Dad::Tentative => AddrInfo::TENTATIVE,
                    Dad::Deprecated => AddrInfo::DEPRECATED,
                    // Invalid is as unusable as a duplicate.
                    Dad::Duplicate | Dad::Invalid => AddrInfo::DADFAILED,
                    Dad::Preferred => 0,
                };
                if address.temporary {
                    flags |= AddrInfo::TEMPORARY;
                }
                if address.manual {
                    flags |= AddrInfo::PERMANENT;
                }
                snapshot.addresses.push(Address {
                    info: AddrInfo {
                        address: address.address,
                        ifindex: index,
                        flags,
                        preferred_lft: address.preferred_lifetime,
                        default_route: false,
                    },
                    global: global(address.address),
                });
            }
            let metric = match family {
                IpFamily::V4 => adapter.ipv4_metric,
                IpFamily::V6 => adapter.ipv6_metric,
            };
            if let Some(gateway) = adapter
                .gateways
                .iter()
                .find(|g| IpFamily::of(**g) == family)
            {
                snapshot.default_routes.push(DefaultRoute {
                    ifindex: index,
                    gateway: Some(*gateway),
                    metric,
                });
            }
        }
        snapshot
    }

    /// Whether an address reaches beyond its link (what Linux calls scope global).
    fn global(address: IpAddr) -> bool {
        match address {
            IpAddr::V4(ip) => !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified(),
            IpAddr::V6(ip) => {
                let first = ip.segments()[0];
                !ip.is_loopback()
                    && !ip.is_unspecified()
                    // fe80::/10 link-local, fec0::/10 the old site-local.
                    && (first & 0xffc0) != 0xfe80
                    && (first & 0xffc0) != 0xfec0
                    // 2001::/32: Teredo, a tunnel's address, never this host's own.
                    && !(first == 0x2001 && ip.segments()[1] == 0)
            }
        }
    }
}

/// Talking to the kernel over a netlink route socket: also used by the network change
/// watcher (`crate::netwatch`).
#[cfg(target_os = "linux")]
pub(crate) mod kernel {
    use std::io;
    use std::net::IpAddr;

    use netlink_packet_core::{
        NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    };
    use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
    use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
    use netlink_packet_route::route::{
        RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
        RouteType, RouteVia,
    };
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use netlink_sys::protocols::NETLINK_ROUTE;
    use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};

    use super::AddrInfo;
    use crate::provider::IpFamily;

    pub(crate) use super::{Address, DefaultRoute, Link, Snapshot};

    impl Link {
        /// The interface in a link message; its name is empty when the message has none.
        pub(crate) fn from_message(message: &LinkMessage) -> Self {
            let flags = message.header.flags;
            let up = flags.contains(LinkFlags::Up);
            Self {
                index: message.header.index,
                name: message
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        LinkAttribute::IfName(name) => Some(name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
                up,
                running: up && flags.contains(LinkFlags::Running),
                loopback: flags.contains(LinkFlags::Loopback),
            }
        }
    }

    impl Address {
        /// The address in an address message, if it has one.
        pub(crate) fn from_message(message: &AddressMessage) -> Option<Self> {
            let mut local = None;
            let mut address = None;
            let mut flags = None;
            let mut preferred_lft = u32::MAX;
            for attribute in &message.attributes {
                match attribute {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    AddressAttribute::Flags(f) => flags = Some(f.bits()),
                    AddressAttribute::CacheInfo(info) => preferred_lft = info.ifa_preferred,
                    _ => {}
                }
            }
            // IPv4 puts the local address in IFA_LOCAL (IFA_ADDRESS is the peer on
            // point-to-point links); IPv6 has IFA_ADDRESS only, unless point-to-point.
            let address: IpAddr = local.or(address)?;
            Some(Self {
                info: AddrInfo {
                    address,
                    ifindex: message.header.index,
                    // IFA_FLAGS holds all 32 bits; the header's byte only the first eight.
                    flags: flags.unwrap_or(u32::from(message.header.flags.bits())),
                    preferred_lft,
                    default_route: false,
                },
                global: message.header.scope == AddressScope::Universe,
            })
        }
    }

    fn gateway(attributes: &[RouteAttribute]) -> Option<IpAddr> {
        attributes.iter().find_map(|a| match a {
            RouteAttribute::Gateway(RouteAddress::Inet(ip))
            | RouteAttribute::Via(RouteVia::Inet(ip)) => Some(IpAddr::V4(*ip)),
            RouteAttribute::Gateway(RouteAddress::Inet6(ip))
            | RouteAttribute::Via(RouteVia::Inet6(ip)) => Some(IpAddr::V6(*ip)),
            _ => None,
        })
    }

    impl DefaultRoute {
        /// The ways out of a route message if it is a working default route of the main
        /// table (a unicast route to `/0`): its output interface, or those of its next hops
        /// when it has several (multipath), leaving out the ones the kernel marks dead or
        /// without carrier. Nothing for any other route.
        pub(crate) fn from_message(message: &RouteMessage) -> Vec<Self> {
            let header = &message.header;
            let table = message
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Table(table) => Some(*table),
                    _ => None,
                })
                .unwrap_or(u32::from(header.table));
            if header.destination_prefix_length != 0
                || header.kind != RouteType::Unicast
                || table != u32::from(RouteHeader::RT_TABLE_MAIN)
            {
                return Vec::new();
            }
            let metric = message
                .attributes
                .iter()
                .find_map(|a| match a {
                    RouteAttribute::Priority(metric) => Some(*metric),
                    _ => None,
                })
                .unwrap_or(0);
            let mut ways = Vec::new();
            for attribute in &message.attributes {
                match attribute {
                    RouteAttribute::Oif(ifindex)
                        if !header
                            .flags
                            .intersects(RouteFlags::Dead | RouteFlags::Linkdown) =>
                    {
                        ways.push(Self {
                            ifindex: *ifindex,
                            gateway: gateway(&message.attributes),
                            metric,
                        });
                    }
                    RouteAttribute::MultiPath(hops) => ways.extend(
                        hops.iter()
                            .filter(|hop| {
                                !hop.flags.intersects(
                                    RouteNextHopFlags::Dead | RouteNextHopFlags::Linkdown,
                                )
                            })
                            .map(|hop| Self {
                                ifindex: hop.interface_index,
                                gateway: gateway(&hop.attributes),
                                metric,
                            }),
                    ),
                    _ => {}
                }
            }
            ways
        }
    }

    /// The interfaces, the addresses of `family` and its default routes, in one
    /// consistent view.
    pub(crate) async fn snapshot(family: IpFamily) -> io::Result<Snapshot> {
        let mut attempts = 0;
        loop {
            match try_snapshot(Some(family)).await {
                // The kernel says a dump was interrupted by a change: ask again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted && attempts < 3 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    /// The interfaces and the addresses of both families, for a baseline.
    pub(crate) async fn snapshot_all() -> io::Result<(Vec<Link>, Vec<Address>)> {
        let snapshot = try_snapshot(None).await?;
        Ok((snapshot.links, snapshot.addresses))
    }

    /// Reads the default routes only for one family (`Some`).
    async fn try_snapshot(family: Option<IpFamily>) -> io::Result<Snapshot> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind_auto()?;
        socket.socket_mut().connect(&SocketAddr::new(0, 0))?;

        let links = dump(
            &socket,
            1,
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
        )
        .await?
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(Link::from_message(link)),
            _ => None,
        })
        .collect();

        let address_family = match family {
            Some(IpFamily::V4) => AddressFamily::Inet,
            Some(IpFamily::V6) => AddressFamily::Inet6,
            None => AddressFamily::Unspec,
        };
        let mut request = AddressMessage::default();
        request.header.family = address_family;
        let addresses = dump(&socket, 2, RouteNetlinkMessage::GetAddress(request))
            .await?
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(address) => Address::from_message(address),
                _ => None,
            })
            .collect();

        let mut default_routes = Vec::new();
        if family.is_some() {
            let mut request = RouteMessage::default();
            request.header.address_family = address_family;
            for message in dump(&socket, 3, RouteNetlinkMessage::GetRoute(request)).await? {
                if let RouteNetlinkMessage::NewRoute(route) = message {
                    default_routes.extend(DefaultRoute::from_message(&route));
                }
            }
        }
        Ok(Snapshot {
            links,
            addresses,
            default_routes,
        })
    }

    /// Sends a dump request and collects the answers until the kernel says it is done.
    pub(crate) async fn dump(
        socket: &TokioSocket,
        sequence: u32,
        request: RouteNetlinkMessage,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(request));
        packet.header.flags = NLM_F_DUMP | NLM_F_REQUEST;
        packet.header.sequence_number = sequence;
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        socket.send(&buffer).await?;

        let mut answers = Vec::new();
        let mut interrupted = false;
        loop {
            let (datagram, _) = socket.recv_from_full().await?;
            for raw in messages(&datagram) {
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                if message.header.sequence_number != sequence {
                    continue;
                }
                interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
                match message.payload {
                    NetlinkPayload::Done(_) if interrupted => {
                        return Err(io::Error::new(
                            io::ErrorKind::Interrupted,
                            "the kernel's list changed while it was read",
                        ));
                    }
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::Error(e) if e.code.is_some() => return Err(e.to_io()),
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    _ => {}
                }
            }
        }
    }

    /// The netlink messages in one datagram, each whole (header included).
    pub(crate) fn messages(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
        const HEADER_LEN: usize = 16;
        let mut offset = 0;
        std::iter::from_fn(move || {
            let header = datagram.get(offset..offset + HEADER_LEN)?;
            let length = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
            if length < HEADER_LEN {
                return None;
            }
            let message = datagram.get(offset..offset + length)?;
            // Messages are aligned to 4 bytes (NLMSG_ALIGN).
            offset += length.div_ceil(4) * 4;
            Some(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(address: &str, flags: u32, preferred_lft: u32) -> AddrInfo {
        AddrInfo {
            address: address.parse().unwrap(),
            ifindex: 2,
            flags,
            preferred_lft,
            default_route: false,
        }
    }

    /// `addr` on interface `ifindex`, which carries the default route or not.
    fn on(ifindex: u32, default_route: bool, address: AddrInfo) -> AddrInfo {
        AddrInfo {
            ifindex,
            default_route,
            ..address
        }
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const FOREVER: u32 = u32::MAX;

    #[test]
    fn stable_ipv6_comes_before_temporary() {
        let ranked = rank(vec![
            addr("2a00:1:2:3:a1b2:c3d4:e5f6:1", AddrInfo::TEMPORARY, 3600),
            addr("2a00:1:2:3::5", 0, 7200),
        ]);
        assert_eq!(
            ranked,
            ips(&["2a00:1:2:3::5", "2a00:1:2:3:a1b2:c3d4:e5f6:1"])
        );
    }

    #[test]
    fn deprecated_comes_after_temporary() {
        let ranked = rank(vec![
            addr("2a00:1:2:3::5", AddrInfo::DEPRECATED, 0),
            addr("2a00:1:2:4::5", 0, 0),
            addr("2a00:1:2:3:a1b2:c3d4:e5f6:1", AddrInfo::TEMPORARY, 3600),
        ]);
        assert_eq!(
            ranked,
            ips(&[
                "2a00:1:2:3:a1b2:c3d4:e5f6:1",
                "2a00:1:2:3::5",
                "2a00:1:2:4::5"
            ])
        );
    }

    #[test]
    fn global_before_ula_then_permanent_then_lifetime_then_address() {
        let ranked = rank(vec![
            addr("fd00::1", AddrInfo::PERMANENT, FOREVER),
            addr("2a00:1:2:3::9", 0, 600),
            addr("2a00:1:2:3::8", 0, 3600),
            addr("2a00:1:2:3::7", AddrInfo::PERMANENT, FOREVER),
            addr("2a00:1:2:3::6", AddrInfo::PERMANENT, FOREVER),
        ]);
        assert_eq!(
            ranked,
            ips(&[
                "2a00:1:2:3::6",
                "2a00:1:2:3::7",
                "2a00:1:2:3::8",
                "2a00:1:2:3::9",
                "fd00::1",
            ])
        );
        // A stable unique local address still beats a global temporary one: a record that
        // allows private addresses wants it, the others skip it when validating.
        let ranked = rank(vec![
            addr("2a00:1:2:3:a1b2:c3d4:e5f6:1", AddrInfo::TEMPORARY, 3600),
            addr("fd00::1", 0, 3600),
        ]);
        assert_eq!(ranked, ips(&["fd00::1", "2a00:1:2:3:a1b2:c3d4:e5f6:1"]));
    }

    #[test]
    fn tentative_and_duplicate_addresses_are_dropped_optimistic_ones_kept_last() {
        let ranked = rank(vec![
            addr("2a00:1:2:3::1", AddrInfo::TENTATIVE, FOREVER),
            addr(
                "2a00:1:2:3::2",
                AddrInfo::DADFAILED | AddrInfo::TENTATIVE,
                FOREVER,
            ),
            addr(
                "2a00:1:2:3::3",
                AddrInfo::TENTATIVE | AddrInfo::OPTIMISTIC,
                FOREVER,
            ),
            addr("2a00:1:2:3::4", 0, 3600),
        ]);
        assert_eq!(ranked, ips(&["2a00:1:2:3::4", "2a00:1:2:3::3"]));
        assert!(rank(vec![addr("2a00:1:2:3::1", AddrInfo::TENTATIVE, FOREVER)]).is_empty());
    }

    #[test]
    fn public_ipv4_first_then_interface_and_address() {
        let v4 = |address: &str, ifindex| AddrInfo {
            ifindex,
            ..addr(address, AddrInfo::PERMANENT, FOREVER)
        };
        let ranked = rank(vec![
            v4("10.0.0.2", 2),
            v4("100.64.1.2", 2),
            v4("81.2.69.170", 3),
            v4("192.168.1.5", 1),
            v4("81.2.69.180", 2),
            v4("81.2.69.160", 3),
        ]);
        assert_eq!(
            ranked,
            ips(&[
                "81.2.69.180",
                "81.2.69.160",
                "81.2.69.170",
                "192.168.1.5",
                "10.0.0.2",
                "100.64.1.2",
            ])
        );
    }

    #[test]
    fn an_address_on_two_interfaces_is_listed_once() {
        let mut second = addr("2a00:1:2:3::5", 0, 3600);
        second.ifindex = 7;
        let ranked = rank(vec![addr("2a00:1:2:3::5", 0, 3600), second]);
        assert_eq!(ranked, ips(&["2a00:1:2:3::5"]));
    }

    #[test]
    fn the_default_route_interface_comes_first_whatever_the_flags() {
        // wg0 (3) has a static /128, permanent and forever; eth0 (2) carries the default
        // route and has a SLAAC address and its temporary one.
        let wg0 = on(3, false, addr("2a00:9::1", AddrInfo::PERMANENT, FOREVER));
        let eth0 = on(2, true, addr("2a00:1:2:3::5", 0, 3600));
        let eth0_temporary = on(
            2,
            true,
            addr("2a00:1:2:3:a1b2:c3d4:e5f6:1", AddrInfo::TEMPORARY, 3600),
        );
        assert_eq!(
            rank(vec![wg0, eth0_temporary, eth0]),
            ips(&["2a00:1:2:3::5", "2a00:1:2:3:a1b2:c3d4:e5f6:1", "2a00:9::1"])
        );
        // Even a deprecated address there beats the other interface's: the other one is
        // a fallback, for when the default route's interface has nothing usable.
        let eth0_old = on(2, true, addr("2a00:1:2:3::6", AddrInfo::DEPRECATED, 0));
        assert_eq!(
            rank(vec![wg0, eth0_old]),
            ips(&["2a00:1:2:3::6", "2a00:9::1"])
        );
        assert_eq!(rank(vec![wg0]), ips(&["2a00:9::1"]));

        // IPv4: the default route's interface before public before private.
        let v4 = |ifindex, default_route, address: &str| {
            on(
                ifindex,
                default_route,
                addr(address, AddrInfo::PERMANENT, FOREVER),
            )
        };
        assert_eq!(
            rank(vec![
                v4(1, false, "81.2.69.170"),
                v4(3, true, "192.168.1.5"),
                v4(3, true, "81.2.69.180"),
            ]),
            ips(&["81.2.69.180", "192.168.1.5", "81.2.69.170"])
        );
    }

    #[test]
    fn a_tentative_stable_address_holds_back_its_temporary_one_on_its_own_interface_only() {
        let temporary = on(
            2,
            true,
            addr("2a00:1:2:3:a1b2:c3d4:e5f6:1", AddrInfo::TEMPORARY, 3600),
        );
        let best = temporary.address;
        let tentative_here = on(2, true, addr("2a00:1:2:3::5", AddrInfo::TENTATIVE, 3600));
        let tentative_elsewhere = on(4, false, addr("2a00:7::5", AddrInfo::TENTATIVE, 3600));
        assert_eq!(
            tentative_sibling(&[temporary, tentative_here], best),
            Some(&tentative_here)
        );
        assert_eq!(
            tentative_sibling(&[temporary, tentative_elsewhere], best),
            None
        );
        // A stable best address is never held back, and a duplicate is no sibling.
        let stable = on(2, true, addr("2a00:1:2:3::6", 0, 3600));
        assert_eq!(
            tentative_sibling(&[stable, tentative_here], stable.address),
            None
        );
        let duplicate = on(
            2,
            true,
            addr(
                "2a00:1:2:3::5",
                AddrInfo::TENTATIVE | AddrInfo::DADFAILED,
                3600,
            ),
        );
        assert_eq!(tentative_sibling(&[temporary, duplicate], best), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_route_with_the_lowest_metric_on_a_usable_interface_wins() {
        use std::collections::HashSet;

        use super::kernel::DefaultRoute;

        let route = |ifindex, metric| DefaultRoute {
            ifindex,
            gateway: None,
            metric,
        };
        let usable: HashSet<u32> = [2, 3, 4].into();
        let routes = [route(9, 10), route(3, 600), route(2, 100), route(4, 100)];
        assert_eq!(default_route_interfaces(&routes, &usable), vec![2, 4]);
        assert_eq!(
            default_route_interfaces(&routes, &[3].into()),
            vec![3],
            "the wired link is unplugged: the wireless one's route is taken"
        );
        assert!(default_route_interfaces(&routes, &[5].into()).is_empty());
        assert!(default_route_interfaces(&[], &usable).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn default_routes_are_read_from_the_main_table_only() {
        use netlink_packet_route::route::{
            RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags,
            RouteType,
        };

        use super::kernel::DefaultRoute;

        let route = |prefix_length, table: u8, kind, attributes| {
            let mut message = RouteMessage::default();
            message.header.destination_prefix_length = prefix_length;
            message.header.table = table;
            message.header.kind = kind;
            message.attributes = attributes;
            message
        };
        let main = RouteHeader::RT_TABLE_MAIN;
        let default = route(
            0,
            main,
            RouteType::Unicast,
            vec![RouteAttribute::Oif(2), RouteAttribute::Priority(100)],
        );
        assert_eq!(
            DefaultRoute::from_message(&default),
            vec![DefaultRoute {
                ifindex: 2,
                gateway: None,
                metric: 100
            }]
        );
        let hop = |ifindex, flags| {
            let mut hop = RouteNextHop::default();
            hop.interface_index = ifindex;
            hop.flags = flags;
            hop
        };
        let multipath = route(
            0,
            main,
            RouteType::Unicast,
            vec![RouteAttribute::MultiPath(vec![
                hop(2, RouteNextHopFlags::empty()),
                hop(3, RouteNextHopFlags::Linkdown),
                hop(4, RouteNextHopFlags::Onlink),
            ])],
        );
        assert_eq!(
            DefaultRoute::from_message(&multipath),
            vec![
                DefaultRoute {
                    ifindex: 2,
                    gateway: None,
                    metric: 0
                },
                DefaultRoute {
                    ifindex: 4,
                    gateway: None,
                    metric: 0
                }
            ]
        );
        let mut dead = default.clone();
        dead.header.flags = RouteFlags::Linkdown;
        let mut big_table = default.clone();
        big_table.header.table = 0;
        big_table.attributes.push(RouteAttribute::Table(51820));
        for ignored in [
            route(64, main, RouteType::Unicast, vec![RouteAttribute::Oif(2)]),
            route(0, 255, RouteType::Unicast, vec![RouteAttribute::Oif(2)]),
            route(
                0,
                main,
                RouteType::Unreachable,
                vec![RouteAttribute::Oif(1)],
            ),
            dead,
            big_table,
        ] {
            assert_eq!(DefaultRoute::from_message(&ignored), vec![], "{ignored:?}");
        }
    }

    #[cfg(target_os = "linux")]
    mod kernel {
        use std::time::{Duration, Instant};

        use dyntray_tests::netns::NetNs;

        use super::super::*;

        /// Asks `source` inside `ns`, on a runtime whose sockets live there.
        fn ask_in(
            ns: &NetNs,
            source: &Interfaces,
            family: IpFamily,
        ) -> Result<Vec<IpAddr>, SourceError> {
            ns.enter_thread(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(source.ask(family))
            })
            .unwrap()
        }

        /// Asks until `done` holds for the answer (the kernel works asynchronously).
        fn ask_until(
            ns: &NetNs,
            source: &Interfaces,
            family: IpFamily,
            done: impl Fn(&Result<Vec<IpAddr>, SourceError>) -> bool,
        ) -> Result<Vec<IpAddr>, SourceError> {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let answer = ask_in(ns, source, family);
                if done(&answer) || Instant::now() > deadline {
                    return answer;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }

        fn all() -> Interfaces {
            Interfaces::new("interface".into(), None)
        }

        fn ip(s: &str) -> IpAddr {
            s.parse().unwrap()
        }

        #[test]
        fn stable_ipv6_comes_before_its_temporary_address() {
            let ns = NetNs::for_test("iface-temp");
            ns.add_veth("v0").unwrap();
            ns.sysctl("net.ipv6.conf.v0.use_tempaddr", "2").unwrap();
            ns.ip(&[
                "-6",
                "addr",
                "add",
                "2a00:1:2:3::5/64",
                "dev",
                "v0",
                "mngtmpaddr",
            ])
            .unwrap();
            let answer = ask_until(&ns, &all(), IpFamily::V6, |a| {
                a.as_ref().is_ok_and(|list| list.len() >= 2)
            })
            .unwrap();
            let stable = ip("2a00:1:2:3::5");
            assert_eq!(answer[0], stable, "{answer:?}");
            let temporary = answer[1];
            let IpAddr::V6(t) = temporary else {
                panic!("{answer:?}")
            };
            assert_eq!(t.segments()[..4], [0x2a00, 1, 2, 3], "{answer:?}");
            assert_ne!(temporary, stable);

            // Deleting the stable address: the temporary one is what is left, chosen
            // alone. Recent kernels (6.18 here) delete the temporary addresses of a
            // mngtmpaddr address along with it, so then there is nothing left at all.
            // (Temporary-only ranking is covered by the unit tests above.)
            ns.ip(&["-6", "addr", "del", "2a00:1:2:3::5/64", "dev", "v0"])
                .unwrap();
            let answer = ask_until(&ns, &all(), IpFamily::V6, |a| {
                a.as_ref().is_err() || a.as_ref().is_ok_and(|l| !l.contains(&stable))
            });
            match answer {
                Ok(list) => assert_eq!(list, vec![temporary]),
                Err(e) => assert_eq!(e.0, "no global IPv6 address on any interface"),
            }
        }

        #[test]
        fn deprecated_ipv6_comes_last() {
            let ns = NetNs::for_test("iface-depr");
            ns.add_veth("v0").unwrap();
            for address in ["2a00:1:2:3::5/64", "2a00:1:2:4::5/64"] {
                ns.ip(&["-6", "addr", "add", address, "dev", "v0", "nodad"])
                    .unwrap();
            }
            ns.ip(&[
                "-6",
                "addr",
                "change",
                "2a00:1:2:3::5/64",
                "dev",
                "v0",
                "preferred_lft",
                "0",
            ])
            .unwrap();
            let answer = ask_until(&ns, &all(), IpFamily::V6, |a| {
                a.as_ref()
                    .is_ok_and(|l| l.len() == 2 && l[0] == ip("2a00:1:2:4::5"))
            });
            assert_eq!(answer, Ok(vec![ip("2a00:1:2:4::5"), ip("2a00:1:2:3::5")]));
        }

        #[test]
        fn global_ipv6_before_unique_local() {
            let ns = NetNs::for_test("iface-ula");
            ns.add_veth("v0").unwrap();
            for address in ["fd00:1::5/64", "2a00:1:2:4::5/64"] {
                ns.ip(&["-6", "addr", "add", address, "dev", "v0", "nodad"])
                    .unwrap();
            }
            let answer = ask_in(&ns, &all(), IpFamily::V6);
            assert_eq!(answer, Ok(vec![ip("2a00:1:2:4::5"), ip("fd00:1::5")]));
        }

        #[test]
        fn public_ipv4_first_and_down_interfaces_skipped() {
            let ns = NetNs::for_test("iface-v4");
            ns.add_veth("v0").unwrap();
            ns.add_veth("v1").unwrap();
            ns.ip(&["addr", "add", "10.0.0.2/24", "dev", "v0"]).unwrap();
            ns.ip(&["addr", "add", "81.2.69.160/24", "dev", "v0"])
                .unwrap();
            ns.ip(&["addr", "add", "81.2.69.170/24", "dev", "v1"])
                .unwrap();
            ns.ip(&["link", "set", "v1", "down"]).unwrap();

            let answer = ask_in(&ns, &all(), IpFamily::V4);
            assert_eq!(answer, Ok(vec![ip("81.2.69.160"), ip("10.0.0.2")]));

            let v1 = Interfaces::new("interface:v1".into(), Some("v1".into()));
            assert_eq!(
                ask_in(&ns, &v1, IpFamily::V4),
                Err(SourceError::new("v1 is down"))
            );
            let v0 = Interfaces::new("interface:v0".into(), Some("v0".into()));
            assert_eq!(
                ask_in(&ns, &v0, IpFamily::V6),
                Err(SourceError::new("no global IPv6 address on v0"))
            );
            let v0p = Interfaces::new("interface:v0p".into(), Some("v0p".into()));
            assert_eq!(
                ask_in(&ns, &v0p, IpFamily::V4),
                Err(SourceError::new("no IPv4 address on v0p"))
            );
        }

        #[test]
        fn the_default_route_interface_comes_first() {
            let ns = NetNs::for_test("iface-route");
            ns.add_veth("v0").unwrap();
            ns.add_veth("w0").unwrap();
            // v0's address is learned (dynamic), w0's set by hand: w0's ranks better,
            // unless the default route says otherwise.
            ns.ip(&[
                "-6",
                "addr",
                "add",
                "2a00:1:2:3::5/64",
                "dev",
                "v0",
                "nodad",
                "valid_lft",
                "3600",
                "preferred_lft",
                "3600",
            ])
            .unwrap();
            ns.ip(&["-6", "addr", "add", "2a00:9::1/128", "dev", "w0", "nodad"])
                .unwrap();
            ns.ip(&["addr", "add", "192.168.7.2/24", "dev", "v0"])
                .unwrap();
            ns.ip(&["addr", "add", "81.2.69.160/24", "dev", "w0"])
                .unwrap();
            let (v0, w0) = (ip("2a00:1:2:3::5"), ip("2a00:9::1"));
            let (v0_v4, w0_v4) = (ip("192.168.7.2"), ip("81.2.69.160"));

            // No default route: the flags alone decide.
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![w0, v0]));
            assert_eq!(ask_in(&ns, &all(), IpFamily::V4), Ok(vec![w0_v4, v0_v4]));

            ns.ip(&[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "v0",
            ])
            .unwrap();
            ns.ip(&["route", "add", "default", "via", "192.168.7.1", "dev", "v0"])
                .unwrap();
            // With a default route, only its interface answers (w0's public IPv4 address
            // is not how the Internet sees this host: the NAT behind v0 is).
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![v0]));
            assert_eq!(ask_in(&ns, &all(), IpFamily::V4), Ok(vec![v0_v4]));

            // A default route in another table (a VPN's policy routing) does not count.
            ns.ip(&[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "w0", "table", "100",
            ])
            .unwrap();
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![v0]));

            ns.ip(&["-6", "route", "del", "default", "dev", "v0"])
                .unwrap();
            ns.ip(&[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "w0",
            ])
            .unwrap();
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![w0]));

            // The way out without a global address yet: no fallback to another interface.
            ns.ip(&["-6", "addr", "del", "2a00:9::1/128", "dev", "w0"])
                .unwrap();
            assert_eq!(
                ask_in(&ns, &all(), IpFamily::V6),
                Err(SourceError::new(
                    "no global IPv6 address on w0 (the default route's)"
                ))
            );
            ns.ip(&["-6", "addr", "add", "2a00:9::1/128", "dev", "w0", "nodad"])
                .unwrap();

            // Both with a default route: the lower metric's interface is the way out.
            ns.ip(&[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "v0", "metric", "10",
            ])
            .unwrap();
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![v0]));
        }

        #[test]
        fn an_interface_without_carrier_is_skipped_or_an_error_when_named() {
            let ns = NetNs::for_test("iface-carrier");
            ns.add_veth("v0").unwrap();
            ns.add_veth("w0").unwrap();
            for (address, link) in [("2a00:1:2:3::5/64", "v0"), ("2a00:9::1/64", "w0")] {
                ns.ip(&["-6", "addr", "add", address, "dev", link, "nodad"])
                    .unwrap();
            }
            ns.ip(&[
                "-6", "route", "add", "default", "via", "fe80::1", "dev", "v0",
            ])
            .unwrap();
            let (v0, w0) = (ip("2a00:1:2:3::5"), ip("2a00:9::1"));
            assert_eq!(ask_in(&ns, &all(), IpFamily::V6), Ok(vec![v0]));

            // The cable is pulled: v0 stays up, without carrier (NO-CARRIER, no LOWER_UP).
            ns.ip(&["link", "set", "v0p", "down"]).unwrap();
            let answer = ask_until(&ns, &all(), IpFamily::V6, |a| a == &Ok(vec![w0]));
            assert_eq!(answer, Ok(vec![w0]));
            let shown = ns.ip(&["-o", "link", "show", "dev", "v0"]).unwrap();
            assert!(
                shown.contains("NO-CARRIER") && shown.contains(",UP"),
                "{shown}"
            );

            let named = Interfaces::new("interface:v0".into(), Some("v0".into()));
            assert_eq!(
                ask_in(&ns, &named, IpFamily::V6),
                Err(SourceError::new("v0 has no carrier (cable unplugged?)"))
            );
            ns.ip(&["link", "set", "v0", "down"]).unwrap();
            assert_eq!(
                ask_in(&ns, &named, IpFamily::V6),
                Err(SourceError::new("v0 is down"))
            );
        }

        #[test]
        fn unknown_interface_is_an_error() {
            let ns = NetNs::for_test("iface-unknown");
            let v9 = Interfaces::new("interface:v9".into(), Some("v9".into()));
            assert_eq!(
                ask_in(&ns, &v9, IpFamily::V6),
                Err(SourceError::new("no interface named v9"))
            );
            // Only the loopback interface: nothing to publish.
            assert_eq!(
                ask_in(&ns, &all(), IpFamily::V4),
                Err(SourceError::new("no IPv4 address on any interface"))
            );
        }
    }

    /// What Windows lists, read the way the Linux reader reads the kernel.
    #[cfg(windows)]
    mod windows {
        use dyntray_os::adapters::{Adapter, Address, Dad};

        use super::super::{choose, kernel};
        use super::*;

        fn address(text: &str, dad: Dad, temporary: bool) -> Address {
            Address {
                address: text.parse().unwrap(),
                dad,
                temporary,
                manual: false,
                preferred_lifetime: 3600,
            }
        }

        fn adapter(index: u32, name: &str, addresses: Vec<Address>, gateways: &[&str]) -> Adapter {
            Adapter {
                index,
                ipv6_index: index,
                name: name.into(),
                up: true,
                loopback: false,
                addresses,
                gateways: gateways.iter().map(|g| g.parse().unwrap()).collect(),
                ipv4_metric: 25,
                ipv6_metric: 25,
            }
        }

        fn machine() -> Vec<Adapter> {
            let mut wifi = adapter(
                7,
                "Wi-Fi",
                vec![address("81.2.69.170", Dad::Preferred, false)],
                &["81.2.69.1"],
            );
            wifi.ipv4_metric = 50;
            let mut unplugged = adapter(
                9,
                "Ethernet 2",
                vec![address("81.2.69.190", Dad::Preferred, false)],
                &["81.2.69.1"],
            );
            unplugged.up = false;
            unplugged.ipv4_metric = 5;
            let mut loopback = adapter(
                1,
                "Loopback Pseudo-Interface 1",
                vec![address("127.0.0.1", Dad::Preferred, false)],
                &[],
            );
            loopback.loopback = true;
            vec![
                loopback,
                adapter(
                    4,
                    "Ethernet",
                    vec![
                        address("81.2.69.160", Dad::Preferred, false),
                        address("fe80::1", Dad::Preferred, false),
                        address("2001:db8::9", Dad::Preferred, true),
                        address("2001:db8::1", Dad::Preferred, false),
                        address("2001:db8::dead", Dad::Deprecated, false),
                    ],
                    &["81.2.69.1", "fe80::ff"],
                ),
                wifi,
                unplugged,
                // A VPN without a default route, and Teredo with one.
                adapter(
                    11,
                    "VPN",
                    vec![address("10.8.0.2", Dad::Preferred, false)],
                    &[],
                ),
                adapter(
                    12,
                    "Teredo Tunneling Pseudo-Interface",
                    vec![address("2001:0:5ef5:79fd::1", Dad::Preferred, false)],
                    &["fe80::8000:f227:bec3:2c76"],
                ),
            ]
        }

        fn pick(name: Option<&str>, family: IpFamily) -> Result<Vec<IpAddr>, SourceError> {
            choose(kernel::from_adapters(&machine(), family), name, family)
        }

        #[test]
        fn the_lowest_metric_way_out_that_is_up_gives_the_address() {
            let v4 = pick(None, IpFamily::V4).unwrap();
            assert_eq!(v4, ["81.2.69.160".parse::<IpAddr>().unwrap()]);
            // Stable, then temporary, then deprecated; never link-local or Teredo.
            let v6 = pick(None, IpFamily::V6).unwrap();
            assert_eq!(
                v6,
                ["2001:db8::1", "2001:db8::9", "2001:db8::dead"]
                    .map(|a| a.parse::<IpAddr>().unwrap())
            );
        }

        #[test]
        fn a_named_adapter_is_read_by_the_name_people_see() {
            assert_eq!(
                pick(Some("Wi-Fi"), IpFamily::V4).unwrap(),
                ["81.2.69.170".parse::<IpAddr>().unwrap()]
            );
            assert_eq!(
                pick(Some("Ethernet 2"), IpFamily::V4).unwrap_err().0,
                "Ethernet 2 is down"
            );
            assert_eq!(
                pick(Some("Ethernet 3"), IpFamily::V4).unwrap_err().0,
                "no interface named Ethernet 3"
            );
        }

        #[test]
        fn an_address_still_checked_for_duplicates_is_not_used() {
            let mut adapters = machine();
            for a in &mut adapters[1].addresses {
                if a.address == "2001:db8::1".parse::<IpAddr>().unwrap() {
                    a.dad = Dad::Tentative;
                }
            }
            let snapshot = kernel::from_adapters(&adapters, IpFamily::V6);
            let error = choose(snapshot, None, IpFamily::V6).unwrap_err().0;
            assert!(
                error.contains("2001:db8::1") && error.contains("tentative"),
                "{error}"
            );
        }

        #[test]
        fn windows_own_route_lookup_decides_the_way_out() {
            let adapters = machine();
            // The Wi-Fi's interface metric is higher, but its route wins in the table.
            let mut snapshot = kernel::from_adapters(&adapters, IpFamily::V4);
            kernel::keep_exit(&mut snapshot, &adapters, IpFamily::V4, 7);
            assert_eq!(
                choose(snapshot, None, IpFamily::V4).unwrap(),
                ["81.2.69.170".parse::<IpAddr>().unwrap()]
            );
            // A VPN with split routes and no gateway takes the traffic: it is the way
            // out, though it has no gateway of its own.
            let mut snapshot = kernel::from_adapters(&adapters, IpFamily::V4);
            kernel::keep_exit(&mut snapshot, &adapters, IpFamily::V4, 11);
            assert_eq!(snapshot.default_routes.len(), 1);
            assert_eq!(snapshot.default_routes[0].ifindex, 11);
            assert_eq!(snapshot.default_routes[0].gateway, None);
            // An index no adapter has changes nothing.
            let mut snapshot = kernel::from_adapters(&adapters, IpFamily::V4);
            let before = snapshot.default_routes.len();
            kernel::keep_exit(&mut snapshot, &adapters, IpFamily::V4, 99);
            assert_eq!(snapshot.default_routes.len(), before);
        }

        #[tokio::test]
        async fn this_machine_is_read() {
            // Wine lists the host's interfaces, so there is at least a loopback.
            let snapshot = kernel::snapshot(IpFamily::V4).await.unwrap();
            assert!(snapshot.links.iter().any(|l| l.loopback), "{snapshot:?}");
        }
    }
}
