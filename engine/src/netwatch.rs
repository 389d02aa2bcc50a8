//! Noticing network changes as they happen, so the address is checked at once instead of
//! at the next poll (a new prefix from the router, a laptop joining another network, a
//! failover to another uplink).
//!
//! On Linux, a netlink route socket subscribed to five groups: links (`RTMGRP_LINK`: an
//! interface going up or down), the addresses of both families (`RTMGRP_IPV4_IFADDR`,
//! `RTMGRP_IPV6_IFADDR`) and the routes of both families (`RTMGRP_IPV4_ROUTE`,
//! `RTMGRP_IPV6_ROUTE`). Routes count for one thing only: the default route taking another
//! way out while every interface keeps its addresses (Wi-Fi to LTE failover, a VPN client
//! replacing the default route, multi-WAN), which behind NAT changes the public address
//! without any local sign. A VPN that takes over without touching the main table's default
//! route (two `/1` routes, or a routing rule to its own table) is not seen, nor is a new
//! address behind NAT on an unchanged route; the periodic poll covers those.
//!
//! Only changes that can matter are reported. The kernel repeats an IPv6 address at every
//! router advertisement that refreshes its lifetimes, and repeats a link at every change of
//! its statistics or properties, so the watcher keeps what it last saw (starting from a
//! dump of the current state) and reports only: a global address that became usable
//! (added, or done with duplicate address detection), that went away, or that became
//! deprecated or preferred again; an interface that went up or down; the ways out of a
//! family's default routes (output interface and gateway, among the routes of the lowest
//! metric in the main table) changing or going away. Loopback, link-local and tentative
//! addresses are not reported, nor any route but a default route of the main table, nor a
//! default route sent again unchanged (at every router advertisement, or by a network
//! manager refreshing it), nor a backup default route of a higher metric. A route message
//! does not say what a replacement replaced, so one about a default route of the main
//! table makes the watcher read that family's routes again and compare; so does a link
//! going up or down, which the kernel's IPv4 routes follow without a message.
//!
//! Changes come in bursts (a link coming up brings several addresses), so they are
//! debounced into one [`NetworkChange`].

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Something changed in the machine's network configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkChange {
    /// What changed, for logs and status: the first change of the batch, and how many
    /// more there were (`address 2a00:1:2:3::5 added on eth0 (and 2 more changes)`).
    pub reason: String,
    /// When the first change of the batch was seen.
    pub first_event: Instant,
}

/// Starts watching for network changes; must be called inside a Tokio runtime.
///
/// After the first change, the watcher waits until `debounce` passes without another one
/// (but no longer than four times `debounce` after the first), then sends one
/// [`NetworkChange`] for the whole batch; while one waits unread, later ones are dropped
/// (the receiver only needs to know that something changed). The watcher ends when the
/// receiver is dropped, or when the kernel socket fails (logged; the engine's periodic
/// poll goes on). Errors: the socket cannot be opened, there is no runtime, or (not
/// Linux) `Unsupported`.
pub fn spawn(debounce: Duration) -> std::io::Result<mpsc::Receiver<NetworkChange>> {
    #[cfg(target_os = "linux")]
    {
        linux::spawn(debounce)
    }
    #[cfg(windows)]
    {
        windows::spawn(debounce)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = debounce;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "watching for network changes is supported on Linux and Windows only",
        ))
    }
}

/// Sleeps until `due`, or for ever when there is nothing due.
#[cfg(any(target_os = "linux", windows))]
async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Changes gathered until the network is quiet.
#[cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]
struct Batch {
    reason: String,
    more: usize,
    first_event: Instant,
    first_at: tokio::time::Instant,
    quiet_at: tokio::time::Instant,
}

#[cfg_attr(not(any(target_os = "linux", windows)), allow(dead_code))]
impl Batch {
    fn new(reason: String, seen: Instant, debounce: Duration) -> Self {
        let now = tokio::time::Instant::now();
        Self {
            reason,
            more: 0,
            first_event: seen,
            first_at: now,
            quiet_at: now + debounce,
        }
    }

    fn add(&mut self, debounce: Duration) {
        self.more += 1;
        self.quiet_at = tokio::time::Instant::now() + debounce;
    }

    /// When to send it: once quiet, at most four debounce periods after the first change.
    fn due(&self, debounce: Duration) -> tokio::time::Instant {
        self.quiet_at.min(self.first_at + debounce * 4)
    }

    fn into_change(self) -> NetworkChange {
        let reason = match self.more {
            0 => self.reason,
            1 => format!("{} (and 1 more change)", self.reason),
            n => format!("{} (and {n} more changes)", self.reason),
        };
        NetworkChange {
            reason,
            first_event: self.first_event,
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::{BTreeSet, HashMap};
    use std::io;
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::address::AddressMessage;
    use netlink_packet_route::link::LinkMessage;
    use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use netlink_sys::protocols::NETLINK_ROUTE;
    use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
    use tokio::sync::mpsc;

    use super::{Batch, NetworkChange, sleep_until};
    use crate::detect::iface::kernel::{self, Address, DefaultRoute, Link};
    use crate::provider::IpFamily;

    // Multicast group bits of <linux/rtnetlink.h>, for binding.
    const RTMGRP_LINK: u32 = 0x1;
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV4_ROUTE: u32 = 0x40;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;
    const RTMGRP_IPV6_ROUTE: u32 = 0x400;

    const FAMILIES: [IpFamily; 2] = [IpFamily::V4, IpFamily::V6];

    pub(super) fn spawn(debounce: Duration) -> io::Result<mpsc::Receiver<NetworkChange>> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "the network change watcher must be started inside a Tokio runtime",
            ));
        }
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind(&SocketAddr::new(
            0,
            RTMGRP_LINK
                | RTMGRP_IPV4_IFADDR
                | RTMGRP_IPV6_IFADDR
                | RTMGRP_IPV4_ROUTE
                | RTMGRP_IPV6_ROUTE,
        ))?;
        // A full channel means a change is already waiting to be handled: enough.
        let (sender, receiver) = mpsc::channel(1);
        tokio::spawn(run(socket, debounce, sender));
        Ok(receiver)
    }

    async fn run(socket: TokioSocket, debounce: Duration, sender: mpsc::Sender<NetworkChange>) {
        // Subscribed before the baseline is read, so no change is lost. One that lands
        // in both (at startup only) is not reported: the engine checks at startup anyway.
        let mut state = State::default();
        state.reload().await;
        let mut batch: Option<Batch> = None;
        loop {
            let due = batch.as_ref().map(|b| b.due(debounce));
            tokio::select! {
                () = sender.closed() => return,
                () = sleep_until(due) => {
                    if let Some(done) = batch.take() {
                        match sender.try_send(done.into_change()) {
                            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                }
                received = socket.recv_from_full() => {
                    let seen = Instant::now();
                    let mut reasons = match received {
                        Ok((datagram, _)) => state.datagram(&datagram),
                        Err(e) if rustix::io::Errno::from_io_error(&e)
                            == Some(rustix::io::Errno::NOBUFS) =>
                        {
                            // The kernel dropped changes that did not fit in the queue:
                            // whatever they were, start again from the current state.
                            state.reload().await;
                            vec!["many network changes at once".to_owned()]
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "stopped watching for network changes");
                            return;
                        }
                    };
                    for family in state.take_routes_to_read() {
                        match default_routes(family).await {
                            Ok(routes) => reasons.extend(state.routes(family, &routes)),
                            Err(e) => tracing::warn!(
                                error = %e,
                                "cannot read the default routes; a change of them waits for the next poll"
                            ),
                        }
                    }
                    for reason in reasons {
                        tracing::debug!(%reason, "network change");
                        match &mut batch {
                            Some(b) => b.add(debounce),
                            None => batch = Some(Batch::new(reason, seen, debounce)),
                        }
                    }
                }
            }
        }
    }

    /// The family's routes (all tables), read from the kernel for [`State::routes`].
    async fn default_routes(family: IpFamily) -> io::Result<Vec<RouteMessage>> {
        let mut attempts = 0;
        loop {
            match try_default_routes(family).await {
                // The kernel says the dump was interrupted by a change: ask again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted && attempts < 3 => {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_default_routes(family: IpFamily) -> io::Result<Vec<RouteMessage>> {
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind_auto()?;
        socket.socket_mut().connect(&SocketAddr::new(0, 0))?;
        let mut request = RouteMessage::default();
        request.header.address_family = match family {
            IpFamily::V4 => AddressFamily::Inet,
            IpFamily::V6 => AddressFamily::Inet6,
        };
        let answers = kernel::dump(&socket, 1, RouteNetlinkMessage::GetRoute(request)).await?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(route) if main_table_default(&route).is_some() => {
                    Some(route)
                }
                _ => None,
            })
            .collect())
    }

    /// The family of a route message about a default route (to `/0`, of any type) of the
    /// main table; `None` for any other route.
    fn main_table_default(message: &RouteMessage) -> Option<IpFamily> {
        let header = &message.header;
        // Tables above 255 are only in RTA_TABLE (the header then says RT_TABLE_COMPAT).
        let table = message
            .attributes
            .iter()
            .find_map(|a| match a {
                RouteAttribute::Table(table) => Some(*table),
                _ => None,
            })
            .unwrap_or(u32::from(header.table));
        if header.destination_prefix_length != 0 || table != u32::from(RouteHeader::RT_TABLE_MAIN) {
            return None;
        }
        match header.address_family {
            AddressFamily::Inet => Some(IpFamily::V4),
            AddressFamily::Inet6 => Some(IpFamily::V6),
            _ => None,
        }
    }

    /// The ways out the kernel takes: those of the lowest metric, by interface and
    /// gateway (a new metric alone moves no traffic).
    fn effective(exits: &[DefaultRoute]) -> BTreeSet<(u32, Option<IpAddr>)> {
        let Some(best) = exits.iter().map(|e| e.metric).min() else {
            return BTreeSet::new();
        };
        exits
            .iter()
            .filter(|e| e.metric == best)
            .map(|e| (e.ifindex, e.gateway))
            .collect()
    }

    /// What the watcher last saw of the links, the usable global addresses and the
    /// default routes.
    #[derive(Default)]
    pub(super) struct State {
        links: HashMap<u32, Link>,
        /// Usable global addresses by (interface index, address): whether deprecated.
        addresses: HashMap<(u32, IpAddr), bool>,
        /// The ways out of the main table's default routes, by family.
        default_routes: HashMap<IpFamily, Vec<DefaultRoute>>,
        /// Families whose default routes may have changed since they were last read.
        routes_to_read: Vec<IpFamily>,
    }

    impl State {
        /// Replaces what it knows with the kernel's current state.
        async fn reload(&mut self) {
            match kernel::snapshot_all().await {
                Ok((links, addresses)) => {
                    *self = Self::default();
                    self.load(links, addresses);
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot read the current network state; addresses already there may be reported as new"
                ),
            }
            for family in FAMILIES {
                match default_routes(family).await {
                    Ok(routes) => {
                        let _ = self.routes(family, &routes);
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "cannot read the default routes; a change of them may be reported late"
                    ),
                }
            }
            self.routes_to_read.clear();
        }

        pub(super) fn load(&mut self, links: Vec<Link>, addresses: Vec<Address>) {
            for link in links {
                self.links.insert(link.index, link);
            }
            for address in addresses {
                let _ = self.address(&address, false);
            }
        }

        /// The relevant changes in one datagram from the kernel.
        pub(super) fn datagram(&mut self, datagram: &[u8]) -> Vec<String> {
            let mut reasons = Vec::new();
            for raw in kernel::messages(datagram) {
                match NetlinkMessage::<RouteNetlinkMessage>::deserialize(raw) {
                    Ok(message) => {
                        if let NetlinkPayload::InnerMessage(inner) = message.payload
                            && let Some(reason) = self.message(&inner)
                        {
                            reasons.push(reason);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "unreadable netlink message skipped"),
                }
            }
            reasons
        }

        pub(super) fn message(&mut self, message: &RouteNetlinkMessage) -> Option<String> {
            match message {
                RouteNetlinkMessage::NewLink(link) => self.new_link(link),
                RouteNetlinkMessage::DelLink(link) => self.removed_link(link),
                RouteNetlinkMessage::NewAddress(address) => self.address_message(address, false),
                RouteNetlinkMessage::DelAddress(address) => self.address_message(address, true),
                RouteNetlinkMessage::NewRoute(route) | RouteNetlinkMessage::DelRoute(route) => {
                    if let Some(family) = main_table_default(route) {
                        self.read_routes_again(family);
                    }
                    None
                }
                _ => None,
            }
        }

        fn read_routes_again(&mut self, family: IpFamily) {
            if !self.routes_to_read.contains(&family) {
                self.routes_to_read.push(family);
            }
        }

        /// The families whose default routes are to be read again (for
        /// [`routes`](Self::routes)), from then on no longer waiting.
        pub(super) fn take_routes_to_read(&mut self) -> Vec<IpFamily> {
            std::mem::take(&mut self.routes_to_read)
        }

        /// Takes `routes`, the route messages of a dump of `family`, as its default routes
        /// now; the change, if the kernel now takes another way out.
        pub(super) fn routes(
            &mut self,
            family: IpFamily,
            routes: &[RouteMessage],
        ) -> Option<String> {
            let exits: Vec<DefaultRoute> =
                routes.iter().flat_map(DefaultRoute::from_message).collect();
            let now = effective(&exits);
            let before = self
                .default_routes
                .insert(family, exits)
                .map(|exits| effective(&exits))
                .unwrap_or_default();
            let family = match family {
                IpFamily::V4 => "IPv4",
                IpFamily::V6 => "IPv6",
            };
            if now == before {
                None
            } else if now.is_empty() {
                Some(format!(
                    "{family} default route via {} removed",
                    self.ways(&before)
                ))
            } else {
                Some(format!(
                    "{family} default route now via {}",
                    self.ways(&now)
                ))
            }
        }

        /// `wlan0 (192.168.1.1), eth0 (192.168.2.1)`.
        fn ways(&self, ways: &BTreeSet<(u32, Option<IpAddr>)>) -> String {
            let named: Vec<String> = ways
                .iter()
                .map(|(index, gateway)| match gateway {
                    Some(gateway) => format!("{} ({gateway})", self.name(*index)),
                    None => self.name(*index),
                })
                .collect();
            named.join(", ")
        }

        fn name(&self, index: u32) -> String {
            match self.links.get(&index) {
                Some(link) if !link.name.is_empty() => link.name.clone(),
                _ => format!("interface {index}"),
            }
        }

        fn new_link(&mut self, message: &LinkMessage) -> Option<String> {
            let mut link = Link::from_message(message);
            let before = self.links.get(&link.index);
            if link.name.is_empty()
                && let Some(before) = before
            {
                link.name = before.name.clone();
            }
            let was_running = before.is_some_and(|b| b.running);
            let changed = link.running != was_running && !link.loopback;
            if changed {
                // The kernel's IPv4 routes follow the link without a message (marked without
                // carrier, or flushed when it goes down).
                for family in FAMILIES {
                    self.read_routes_again(family);
                }
            }
            let change = changed.then(|| {
                let name = if link.name.is_empty() {
                    format!("interface {}", link.index)
                } else {
                    link.name.clone()
                };
                format!("{name} went {}", if link.running { "up" } else { "down" })
            });
            self.links.insert(link.index, link);
            change
        }

        fn removed_link(&mut self, message: &LinkMessage) -> Option<String> {
            let index = message.header.index;
            self.addresses.retain(|(i, _), _| *i != index);
            let link = self.links.remove(&index)?;
            let change = link.running && !link.loopback;
            if change {
                for family in FAMILIES {
                    self.read_routes_again(family);
                }
            }
            change.then(|| format!("{} was removed", link.name))
        }

        fn address_message(&mut self, message: &AddressMessage, removed: bool) -> Option<String> {
            self.address(&Address::from_message(message)?, removed)
        }

        fn address(&mut self, address: &Address, removed: bool) -> Option<String> {
            let info = address.info;
            let on_loopback = self.links.get(&info.ifindex).is_some_and(|l| l.loopback);
            if !address.global || on_loopback || info.address.is_loopback() {
                return None;
            }
            let key = (info.ifindex, info.address);
            let name = self.name(info.ifindex);
            let ip = info.address;
            // A tentative address is not usable yet: it counts once its duplicate address
            // detection is done, when the kernel sends it again without the flag.
            if removed || !info.usable() {
                let was = self.addresses.remove(&key);
                return (removed && was.is_some())
                    .then(|| format!("address {ip} removed from {name}"));
            }
            let deprecated = info.deprecated();
            match self.addresses.insert(key, deprecated) {
                None => Some(format!("address {ip} added on {name}")),
                Some(was) if was == deprecated => None,
                Some(_) if deprecated => Some(format!("address {ip} on {name} is deprecated")),
                Some(_) => Some(format!("address {ip} on {name} is preferred again")),
            }
        }
    }
}

/// On Windows: the IP Helper API's change notifications say that something changed; the
/// adapters are read again and compared with what was last seen, and only what matters
/// is reported (the same things as on Linux: an interface up or down, a usable global
/// address added, removed, deprecated or preferred again, a family's way out changed).
/// Lifetimes refreshed by a router advertisement, statistics, anything else: nothing.
#[cfg(windows)]
mod windows {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io;
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use dyntray_os::adapters::{self, Adapter};
    use tokio::sync::mpsc;

    use super::{Batch, NetworkChange, sleep_until};
    use crate::detect::iface::kernel;
    use crate::provider::IpFamily;

    pub(super) fn spawn(debounce: Duration) -> io::Result<mpsc::Receiver<NetworkChange>> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "the network change watcher must be started inside a Tokio runtime",
            ));
        }
        // A full channel already holds a change to look at: enough.
        let (poke, pokes) = mpsc::channel::<Instant>(1);
        let watch = dyntray_os::netchange::watch(move || {
            let _ = poke.try_send(Instant::now());
        })?;
        let (sender, receiver) = mpsc::channel(1);
        tokio::spawn(run(watch, pokes, debounce, sender));
        Ok(receiver)
    }

    async fn run(
        watch: dyntray_os::netchange::NetChanges,
        mut pokes: mpsc::Receiver<Instant>,
        debounce: Duration,
        sender: mpsc::Sender<NetworkChange>,
    ) {
        // Registered before the baseline is read, so no change is lost.
        let _watch = watch;
        let mut view = read().await;
        let mut batch: Option<Batch> = None;
        loop {
            let due = batch.as_ref().map(|b| b.due(debounce));
            tokio::select! {
                () = sender.closed() => return,
                () = sleep_until(due) => {
                    if let Some(done) = batch.take() {
                        match sender.try_send(done.into_change()) {
                            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                }
                poke = pokes.recv() => {
                    let Some(seen) = poke else { return };
                    let Some(now) = read().await else { continue };
                    let reasons = view.as_ref().map_or_else(Vec::new, |before| before.changes(&now));
                    view = Some(now);
                    for reason in reasons {
                        tracing::debug!(%reason, "network change");
                        match &mut batch {
                            Some(b) => b.add(debounce),
                            None => batch = Some(Batch::new(reason, seen, debounce)),
                        }
                    }
                }
            }
        }
    }

    async fn read() -> Option<View> {
        match tokio::task::spawn_blocking(adapters::list).await {
            Ok(Ok(adapters)) => Some(View::of(&adapters)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the network adapters; a change waits for the next poll");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the network adapters");
                None
            }
        }
    }

    /// What matters of the network, as the interface source sees it.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub(super) struct View {
        /// Interfaces other than loopback: name, and whether up.
        links: BTreeMap<u32, (String, bool)>,
        /// Usable global addresses by (interface, address): whether deprecated.
        addresses: BTreeMap<(u32, IpAddr), bool>,
        /// Each family's ways out of the lowest metric: (interface, gateway).
        exits: BTreeMap<IpFamily, BTreeSet<(u32, Option<IpAddr>)>>,
    }

    impl View {
        pub(super) fn of(adapters: &[Adapter]) -> Self {
            let mut view = Self::default();
            for family in [IpFamily::V4, IpFamily::V6] {
                let snapshot = kernel::from_adapters(adapters, family);
                for link in snapshot.links.iter().filter(|l| !l.loopback) {
                    view.links
                        .insert(link.index, (link.name.clone(), link.running));
                }
                let up = |index: u32| view.links.get(&index).is_some_and(|(_, up)| *up);
                let addresses: Vec<_> = snapshot
                    .addresses
                    .iter()
                    .filter(|a| a.global && a.info.usable() && up(a.info.ifindex))
                    .map(|a| ((a.info.ifindex, a.info.address), a.info.deprecated()))
                    .collect();
                let ways: Vec<_> = snapshot
                    .default_routes
                    .iter()
                    .filter(|r| up(r.ifindex))
                    .collect();
                let best = ways.iter().map(|r| r.metric).min();
                let exits = ways
                    .iter()
                    .filter(|r| Some(r.metric) == best)
                    .map(|r| (r.ifindex, r.gateway))
                    .collect();
                view.addresses.extend(addresses);
                view.exits.insert(family, exits);
            }
            view
        }

        fn name(&self, index: u32) -> String {
            self.links
                .get(&index)
                .map_or_else(|| format!("interface {index}"), |(name, _)| name.clone())
        }

        /// What changed from `self` to `now`, in words.
        pub(super) fn changes(&self, now: &Self) -> Vec<String> {
            let mut changes = Vec::new();
            for (index, (name, up)) in &now.links {
                let was = self.links.get(index).is_some_and(|(_, up)| *up);
                if *up != was {
                    changes.push(format!(
                        "{name} {}",
                        if *up { "came up" } else { "went down" }
                    ));
                }
            }
            for (index, (name, up)) in &self.links {
                if *up && !now.links.contains_key(index) {
                    changes.push(format!("{name} went away"));
                }
            }
            for ((index, address), deprecated) in &now.addresses {
                match self.addresses.get(&(*index, *address)) {
                    None => {
                        changes.push(format!("address {address} added on {}", now.name(*index)))
                    }
                    Some(was) if was != deprecated => changes.push(format!(
                        "address {address} on {} {}",
                        now.name(*index),
                        if *deprecated {
                            "deprecated"
                        } else {
                            "preferred again"
                        }
                    )),
                    Some(_) => {}
                }
            }
            for (index, address) in self.addresses.keys() {
                if !now.addresses.contains_key(&(*index, *address)) {
                    changes.push(format!(
                        "address {address} removed from {}",
                        self.name(*index)
                    ));
                }
            }
            for (family, exits) in &now.exits {
                if self.exits.get(family) != Some(exits) {
                    let family = match family {
                        IpFamily::V4 => "IPv4",
                        IpFamily::V6 => "IPv6",
                    };
                    let names: BTreeSet<String> = exits.iter().map(|(i, _)| now.name(*i)).collect();
                    changes.push(if names.is_empty() {
                        format!("the {family} default route went away")
                    } else {
                        format!(
                            "the {family} default route now leaves through {}",
                            names.into_iter().collect::<Vec<_>>().join(", ")
                        )
                    });
                }
            }
            changes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_names_its_first_change_and_counts_the_others() {
        let debounce = Duration::from_millis(200);
        let now = Instant::now();
        let one = Batch::new("v0 went up".into(), now, debounce);
        assert_eq!(
            one.into_change(),
            NetworkChange {
                reason: "v0 went up".into(),
                first_event: now
            }
        );
        let mut three = Batch::new("v0 went up".into(), now, debounce);
        three.add(debounce);
        three.add(debounce);
        assert_eq!(
            three.into_change().reason,
            "v0 went up (and 2 more changes)"
        );
    }

    #[test]
    fn outside_a_runtime_it_is_an_error_not_a_panic() {
        assert!(spawn(Duration::from_millis(200)).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_network_still_reports_after_four_debounce_periods() {
        let debounce = Duration::from_millis(200);
        let start = tokio::time::Instant::now();
        let mut batch = Batch::new("v0 went up".into(), Instant::now(), debounce);
        assert_eq!(batch.due(debounce), start + debounce);
        for _ in 0..10 {
            tokio::time::advance(Duration::from_millis(150)).await;
            batch.add(debounce);
        }
        assert_eq!(batch.due(debounce), start + debounce * 4);
    }

    #[cfg(target_os = "linux")]
    mod state {
        use std::net::IpAddr;

        use netlink_packet_route::address::{
            AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
        };
        use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
        use netlink_packet_route::route::{
            RouteAttribute, RouteHeader, RouteMessage, RouteNextHop, RouteNextHopFlags, RouteType,
            RouteVia,
        };
        use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

        use super::super::linux::State;
        use crate::detect::iface::kernel::DefaultRoute;
        use crate::provider::IpFamily;

        fn link(index: u32, name: &str, flags: LinkFlags) -> RouteNetlinkMessage {
            let mut message = LinkMessage::default();
            message.header.index = index;
            message.header.flags = flags;
            message.attributes.push(LinkAttribute::IfName(name.into()));
            RouteNetlinkMessage::NewLink(message)
        }

        fn address(index: u32, ip: &str, flags: AddressFlags, preferred: u32) -> AddressMessage {
            let mut message = AddressMessage::default();
            message.header.index = index;
            message.header.scope = AddressScope::Universe;
            message
                .attributes
                .push(AddressAttribute::Address(ip.parse().unwrap()));
            message.attributes.push(AddressAttribute::Flags(flags));
            let mut info = CacheInfo::default();
            info.ifa_preferred = preferred;
            info.ifa_valid = u32::MAX;
            message.attributes.push(AddressAttribute::CacheInfo(info));
            message
        }

        fn up() -> LinkFlags {
            LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp
        }

        fn state() -> State {
            let mut state = State::default();
            assert_eq!(
                state.message(&link(1, "lo", up() | LinkFlags::Loopback)),
                None
            );
            assert_eq!(
                state.message(&link(2, "v0", LinkFlags::Up)),
                None,
                "up but not running"
            );
            state
        }

        #[test]
        fn links_count_when_they_go_up_or_down() {
            let mut state = state();
            assert_eq!(
                state.message(&link(2, "v0", up())).as_deref(),
                Some("v0 went up")
            );
            assert_eq!(state.message(&link(2, "v0", up())), None, "no change");
            assert_eq!(
                state.message(&link(2, "v0", LinkFlags::empty())).as_deref(),
                Some("v0 went down")
            );
            assert_eq!(state.message(&link(1, "lo", LinkFlags::Loopback)), None);
            assert_eq!(
                state.message(&link(2, "v0", up())).as_deref(),
                Some("v0 went up")
            );
            let mut gone = LinkMessage::default();
            gone.header.index = 2;
            assert_eq!(
                state
                    .message(&RouteNetlinkMessage::DelLink(gone))
                    .as_deref(),
                Some("v0 was removed")
            );
        }

        #[test]
        fn addresses_count_once_usable_and_again_when_removed() {
            let mut state = state();
            let new = |m| RouteNetlinkMessage::NewAddress(m);
            let del = |m| RouteNetlinkMessage::DelAddress(m);
            let forever = u32::MAX;
            let tentative = address(2, "2a00:1:2:3::5", AddressFlags::Tentative, forever);
            assert_eq!(state.message(&new(tentative.clone())), None);
            let ready = address(2, "2a00:1:2:3::5", AddressFlags::Permanent, forever);
            assert_eq!(
                state.message(&new(ready.clone())).as_deref(),
                Some("address 2a00:1:2:3::5 added on v0")
            );
            // Refreshed by a router advertisement: nothing new.
            assert_eq!(state.message(&new(ready.clone())), None);
            let old = address(2, "2a00:1:2:3::5", AddressFlags::Deprecated, 0);
            assert_eq!(
                state.message(&new(old)).as_deref(),
                Some("address 2a00:1:2:3::5 on v0 is deprecated")
            );
            assert_eq!(
                state.message(&del(ready.clone())).as_deref(),
                Some("address 2a00:1:2:3::5 removed from v0")
            );
            // Removed before it was ever usable: no change to what can be published.
            assert_eq!(state.message(&new(tentative.clone())), None);
            assert_eq!(state.message(&del(tentative)), None);

            let mut link_local = address(2, "fe80::1", AddressFlags::Permanent, forever);
            link_local.header.scope = AddressScope::Link;
            assert_eq!(state.message(&new(link_local)), None);
            let on_loopback = address(1, "2a00:1:2:3::9", AddressFlags::Permanent, forever);
            assert_eq!(state.message(&new(on_loopback)), None);
        }

        const MAIN: u8 = RouteHeader::RT_TABLE_MAIN;

        /// A unicast route to `prefix` through `gateway` on interface `oif`.
        fn route(prefix: u8, table: u8, oif: u32, gateway: &str, metric: u32) -> RouteMessage {
            let gateway: IpAddr = gateway.parse().unwrap();
            let mut message = RouteMessage::default();
            message.header.address_family = match gateway {
                IpAddr::V4(_) => AddressFamily::Inet,
                IpAddr::V6(_) => AddressFamily::Inet6,
            };
            message.header.destination_prefix_length = prefix;
            message.header.table = table;
            message.header.kind = RouteType::Unicast;
            message.attributes = vec![
                RouteAttribute::Oif(oif),
                RouteAttribute::Gateway(gateway.into()),
                RouteAttribute::Priority(metric),
            ];
            message
        }

        fn default(oif: u32, gateway: &str, metric: u32) -> RouteMessage {
            route(0, MAIN, oif, gateway, metric)
        }

        /// v0 (2) and w0 (3) running, nothing waiting to be read.
        fn routed() -> State {
            let mut state = state();
            assert!(state.message(&link(2, "v0", up())).is_some());
            assert!(state.message(&link(3, "w0", up())).is_some());
            state.take_routes_to_read();
            state
        }

        #[test]
        fn a_default_route_sent_again_unchanged_is_silent() {
            let mut state = routed();
            let via_v0 = default(2, "fe80::1", 1024);
            let _ = state.routes(IpFamily::V6, std::slice::from_ref(&via_v0));
            // A router advertisement refreshes its lifetime: the message has the routes
            // read again, and they are what they were.
            let mut refreshed = via_v0.clone();
            refreshed.attributes.push(RouteAttribute::Expires(1800));
            let message = RouteNetlinkMessage::NewRoute(refreshed.clone());
            assert_eq!(state.message(&message), None);
            assert_eq!(state.message(&message), None);
            assert_eq!(state.take_routes_to_read(), vec![IpFamily::V6]);
            assert_eq!(state.take_routes_to_read(), vec![]);
            assert_eq!(state.routes(IpFamily::V6, &[refreshed]), None);
            // Nor does its metric alone count: the traffic leaves the same way.
            assert_eq!(
                state.routes(IpFamily::V6, &[default(2, "fe80::1", 100)]),
                None
            );
        }

        #[test]
        fn a_new_gateway_or_interface_is_reported() {
            let mut state = routed();
            let v4 = IpFamily::V4;
            let _ = state.routes(v4, &[default(2, "192.168.7.1", 100)]);
            assert_eq!(
                state
                    .routes(v4, &[default(2, "192.168.7.254", 100)])
                    .as_deref(),
                Some("IPv4 default route now via v0 (192.168.7.254)")
            );
            assert_eq!(
                state
                    .routes(v4, &[default(3, "192.168.8.1", 100)])
                    .as_deref(),
                Some("IPv4 default route now via w0 (192.168.8.1)")
            );
            // A backup route, of a higher metric, is not where the traffic goes.
            let backup = default(2, "192.168.7.1", 600);
            assert_eq!(
                state.routes(v4, &[default(3, "192.168.8.1", 100), backup.clone()]),
                None
            );
            // Until the better one goes: failover.
            assert_eq!(
                state.routes(v4, std::slice::from_ref(&backup)).as_deref(),
                Some("IPv4 default route now via v0 (192.168.7.1)")
            );
            assert_eq!(
                state
                    .routes(v4, &[backup, default(3, "192.168.8.1", 600)])
                    .as_deref(),
                Some("IPv4 default route now via v0 (192.168.7.1), w0 (192.168.8.1)")
            );
            // Another table's default route (a VPN's policy routing) is no way out here.
            assert_eq!(
                state
                    .routes(v4, &[route(0, 100, 3, "192.168.8.1", 0)])
                    .as_deref(),
                Some("IPv4 default route via v0 (192.168.7.1), w0 (192.168.8.1) removed")
            );
            assert_eq!(state.routes(v4, &[]), None);
        }

        #[test]
        fn only_default_routes_of_the_main_table_are_read_again() {
            let mut state = routed();
            let mut big_table = default(3, "10.9.0.1", 0);
            big_table.header.table = 252;
            big_table.attributes.push(RouteAttribute::Table(51820));
            let mut docker = route(16, MAIN, 3, "172.17.0.1", 0);
            docker.attributes.remove(1);
            for ignored in [
                docker,
                route(1, MAIN, 3, "10.9.0.1", 0),
                route(64, MAIN, 2, "fe80::1", 256),
                route(0, 100, 3, "10.9.0.1", 0),
                route(0, 255, 2, "192.168.7.1", 0),
                big_table,
            ] {
                for message in [
                    RouteNetlinkMessage::NewRoute(ignored.clone()),
                    RouteNetlinkMessage::DelRoute(ignored.clone()),
                ] {
                    assert_eq!(state.message(&message), None);
                }
                assert_eq!(state.take_routes_to_read(), vec![], "{ignored:?}");
                assert_eq!(DefaultRoute::from_message(&ignored), vec![], "{ignored:?}");
            }
            let gone = RouteNetlinkMessage::DelRoute(default(2, "192.168.7.1", 0));
            assert_eq!(state.message(&gone), None);
            assert_eq!(state.take_routes_to_read(), vec![IpFamily::V4]);
        }

        #[test]
        fn a_link_going_up_or_down_has_the_routes_read_again() {
            let mut state = routed();
            assert!(state.message(&link(2, "v0", up())).is_none());
            assert_eq!(state.take_routes_to_read(), vec![]);
            assert!(state.message(&link(2, "v0", LinkFlags::Up)).is_some());
            assert_eq!(
                state.take_routes_to_read(),
                vec![IpFamily::V4, IpFamily::V6]
            );
        }

        #[test]
        fn default_routes_are_read_with_their_gateways() {
            let hop = |ifindex, flags, gateway: RouteAttribute| {
                let mut hop = RouteNextHop::default();
                hop.interface_index = ifindex;
                hop.flags = flags;
                hop.attributes.push(gateway);
                hop
            };
            let mut multipath = RouteMessage::default();
            multipath.header.address_family = AddressFamily::Inet;
            multipath.header.table = MAIN;
            multipath.header.kind = RouteType::Unicast;
            let via = RouteVia::Inet6("fe80::9".parse().unwrap());
            multipath.attributes = vec![
                RouteAttribute::Priority(5),
                RouteAttribute::MultiPath(vec![
                    hop(
                        2,
                        RouteNextHopFlags::empty(),
                        RouteAttribute::Gateway("192.168.7.1".parse::<IpAddr>().unwrap().into()),
                    ),
                    hop(
                        3,
                        RouteNextHopFlags::Linkdown,
                        RouteAttribute::Gateway("192.168.8.1".parse::<IpAddr>().unwrap().into()),
                    ),
                    hop(4, RouteNextHopFlags::Onlink, RouteAttribute::Via(via)),
                ]),
            ];
            let exit = |ifindex, gateway: &str| DefaultRoute {
                ifindex,
                gateway: Some(gateway.parse().unwrap()),
                metric: 5,
            };
            assert_eq!(
                DefaultRoute::from_message(&multipath),
                vec![exit(2, "192.168.7.1"), exit(4, "fe80::9")]
            );
        }

        #[test]
        fn a_baseline_hides_what_was_already_there() {
            let mut state = state();
            let ready = address(2, "81.2.69.160", AddressFlags::Permanent, u32::MAX);
            let existing = crate::detect::iface::kernel::Address::from_message(&ready).unwrap();
            state.load(Vec::new(), vec![existing]);
            assert_eq!(state.message(&RouteNetlinkMessage::NewAddress(ready)), None);
        }
    }

    #[cfg(target_os = "linux")]
    mod kernel {
        use std::time::Duration;

        use dyntray_tests::netns::NetNs;
        use tokio::sync::mpsc::Receiver;

        use super::super::*;

        /// Runs `test` inside `ns` on a runtime whose sockets live there, with a watcher.
        fn watch_in(ns: &NetNs, test: impl AsyncFnOnce(Receiver<NetworkChange>) + Send) {
            ns.enter_thread(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let changes = spawn(Duration::from_millis(200)).unwrap();
                        // Let the watcher read its baseline before anything changes.
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        test(changes).await;
                    });
            })
            .unwrap();
        }

        async fn next(changes: &mut Receiver<NetworkChange>) -> NetworkChange {
            tokio::time::timeout(Duration::from_secs(3), changes.recv())
                .await
                .expect("no network change reported within 3 s")
                .expect("the watcher ended")
        }

        /// Nothing more arrives within `wait`.
        async fn quiet(changes: &mut Receiver<NetworkChange>, wait: Duration) {
            if let Ok(extra) = tokio::time::timeout(wait, changes.recv()).await {
                panic!("unexpected extra change: {extra:?}");
            }
        }

        #[test]
        fn an_added_address_is_reported_once_after_dad() {
            let ns = NetNs::for_test("watch-add");
            ns.add_veth("v0").unwrap();
            watch_in(&ns, async |mut changes| {
                // With duplicate address detection: first tentative (ignored), then usable.
                ns.ip(&["-6", "addr", "add", "2a00:1:2:3::5/64", "dev", "v0"])
                    .unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "address 2a00:1:2:3::5 added on v0");
                quiet(&mut changes, Duration::from_secs(1)).await;

                ns.ip(&["-6", "addr", "del", "2a00:1:2:3::5/64", "dev", "v0"])
                    .unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "address 2a00:1:2:3::5 removed from v0");
            });
        }

        #[test]
        fn a_burst_of_changes_is_reported_once() {
            let ns = NetNs::for_test("watch-burst");
            ns.add_veth("v0").unwrap();
            watch_in(&ns, async |mut changes| {
                for last in 161..166 {
                    let address = format!("81.2.69.{last}/24");
                    ns.ip(&["addr", "add", &address, "dev", "v0"]).unwrap();
                }
                let change = next(&mut changes).await;
                assert!(
                    change
                        .reason
                        .starts_with("address 81.2.69.161 added on v0 (and "),
                    "{change:?}"
                );
                assert!(change.reason.ends_with(" more changes)"), "{change:?}");
                quiet(&mut changes, Duration::from_secs(1)).await;
            });
        }

        #[test]
        fn a_moved_default_route_is_reported_and_a_repeated_one_is_not() {
            let ns = NetNs::for_test("watch-route");
            ns.add_veth("v0").unwrap();
            ns.add_veth("w0").unwrap();
            ns.ip(&["addr", "add", "192.168.7.2/24", "dev", "v0"])
                .unwrap();
            ns.ip(&["addr", "add", "192.168.8.2/24", "dev", "w0"])
                .unwrap();
            watch_in(&ns, async |mut changes| {
                let quietly = Duration::from_secs(1);
                ns.ip(&["route", "add", "default", "via", "192.168.7.1", "dev", "v0"])
                    .unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "IPv4 default route now via v0 (192.168.7.1)");
                quiet(&mut changes, quietly).await;

                ns.ip(&[
                    "route",
                    "replace",
                    "default",
                    "via",
                    "192.168.8.1",
                    "dev",
                    "w0",
                ])
                .unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "IPv4 default route now via w0 (192.168.8.1)");
                quiet(&mut changes, quietly).await;

                let via_v0 = [
                    "-6", "route", "replace", "default", "via", "fe80::1", "dev", "v0",
                ];
                ns.ip(&via_v0).unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "IPv6 default route now via v0 (fe80::1)");
                quiet(&mut changes, quietly).await;
                // The same route again, as a network manager refreshing it does.
                ns.ip(&via_v0).unwrap();
                ns.ip(&via_v0).unwrap();
                quiet(&mut changes, quietly).await;

                // Routes that are not default routes of the main table: nothing.
                ns.ip(&["route", "add", "10.9.0.0/16", "via", "192.168.7.1"])
                    .unwrap();
                ns.ip(&[
                    "route",
                    "add",
                    "default",
                    "via",
                    "192.168.7.1",
                    "table",
                    "100",
                ])
                .unwrap();
                // Nor a backup default route of a higher metric.
                ns.ip(&[
                    "route",
                    "add",
                    "default",
                    "via",
                    "192.168.7.1",
                    "metric",
                    "600",
                ])
                .unwrap();
                quiet(&mut changes, quietly).await;

                ns.ip(&["route", "del", "default", "via", "192.168.8.1"])
                    .unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "IPv4 default route now via v0 (192.168.7.1)");
                ns.ip(&["-6", "route", "del", "default"]).unwrap();
                let change = next(&mut changes).await;
                assert_eq!(change.reason, "IPv6 default route via v0 (fe80::1) removed");
            });
        }

        #[test]
        fn a_link_going_down_is_reported() {
            let ns = NetNs::for_test("watch-link");
            ns.add_veth("v0").unwrap();
            watch_in(&ns, async |mut changes| {
                ns.ip(&["link", "set", "v0", "down"]).unwrap();
                let change = next(&mut changes).await;
                assert!(change.reason.starts_with("v0 went down"), "{change:?}");
            });
        }
    }
}

/// The Windows watcher's judgement of what changed, on adapters as Windows lists them.
#[cfg(test)]
#[cfg(windows)]
mod windows_tests {
    use dyntray_os::adapters::{Adapter, Address, Dad};

    use super::windows::View;

    fn address(text: &str, dad: Dad) -> Address {
        Address {
            address: text.parse().unwrap(),
            dad,
            temporary: false,
            manual: false,
            preferred_lifetime: 3600,
        }
    }

    fn ethernet() -> Adapter {
        Adapter {
            index: 4,
            ipv6_index: 4,
            name: "Ethernet".into(),
            up: true,
            loopback: false,
            addresses: vec![
                address("81.2.69.160", Dad::Preferred),
                address("2001:db8::1", Dad::Preferred),
                address("fe80::1", Dad::Preferred),
            ],
            gateways: vec!["81.2.69.1".parse().unwrap(), "fe80::ff".parse().unwrap()],
            ipv4_metric: 25,
            ipv6_metric: 25,
        }
    }

    fn wifi() -> Adapter {
        Adapter {
            index: 7,
            ipv6_index: 7,
            name: "Wi-Fi".into(),
            addresses: vec![address("81.2.69.170", Dad::Preferred)],
            gateways: vec!["81.2.69.1".parse().unwrap()],
            ipv4_metric: 50,
            ..ethernet()
        }
    }

    fn changes(before: &[Adapter], after: &[Adapter]) -> Vec<String> {
        View::of(before).changes(&View::of(after))
    }

    #[test]
    fn what_does_not_matter_is_no_change() {
        let before = [ethernet(), wifi()];
        let mut after = [ethernet(), wifi()];
        // A router advertisement refreshing lifetimes, a link-local address coming and
        // going, a tentative address: nothing to check.
        after[0].addresses[1].preferred_lifetime = 1800;
        after[0]
            .addresses
            .retain(|a| !a.address.to_string().starts_with("fe80"));
        after[1]
            .addresses
            .push(address("2001:db8::7", Dad::Tentative));
        assert_eq!(changes(&before, &after), Vec::<String>::new());
    }

    #[test]
    fn addresses_links_and_the_way_out_are_told_in_words() {
        let before = [ethernet(), wifi()];
        let mut after = [ethernet(), wifi()];
        after[0].addresses[0] = address("81.2.69.161", Dad::Preferred);
        after[0].addresses[1].dad = Dad::Deprecated;
        assert_eq!(
            changes(&before, &after),
            [
                "address 81.2.69.161 added on Ethernet",
                "address 2001:db8::1 on Ethernet deprecated",
                "address 81.2.69.160 removed from Ethernet",
            ]
        );

        // Unplugged: the link goes down, its addresses no longer count, and IPv4 leaves
        // through Wi-Fi now (IPv6 had only the Ethernet way out).
        let mut unplugged = [ethernet(), wifi()];
        unplugged[0].up = false;
        assert_eq!(
            changes(&before, &unplugged),
            [
                "Ethernet went down",
                "address 81.2.69.160 removed from Ethernet",
                "address 2001:db8::1 removed from Ethernet",
                "the IPv4 default route now leaves through Wi-Fi",
                "the IPv6 default route went away",
            ]
        );
        assert_eq!(
            changes(&unplugged, &before),
            [
                "Ethernet came up",
                "address 81.2.69.160 added on Ethernet",
                "address 2001:db8::1 added on Ethernet",
                "the IPv4 default route now leaves through Ethernet",
                "the IPv6 default route now leaves through Ethernet",
            ]
        );
    }
}
