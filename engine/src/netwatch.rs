//! Noticing network changes as they happen, so the address is checked at once instead of
//! at the next poll (a new prefix from the router, a laptop joining another network).
//!
//! On Linux, a netlink route socket subscribed to three groups: links
//! (`RTMGRP_LINK`: an interface going up or down) and the addresses of both families
//! (`RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`). The route groups are left out: routes
//! change far more often than addresses (every router advertisement, VPNs, containers)
//! without changing the addresses this machine has, and an upstream change that keeps the
//! local addresses (a new address behind NAT) is not visible locally at all; the periodic
//! poll covers both.
//!
//! Only changes that can matter are reported. The kernel repeats an IPv6 address at every
//! router advertisement that refreshes its lifetimes, and repeats a link at every change of
//! its statistics or properties, so the watcher keeps what it last saw (starting from a
//! dump of the current state) and reports only: a global address that became usable
//! (added, or done with duplicate address detection), that went away, or that became
//! deprecated or preferred again; an interface that went up or down. Loopback,
//! link-local and tentative addresses are not reported.
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
    #[cfg(not(target_os = "linux"))]
    {
        let _ = debounce;
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "watching for network changes is supported on Linux only",
        ))
    }
}

/// Changes gathered until the network is quiet.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Batch {
    reason: String,
    more: usize,
    first_event: Instant,
    first_at: tokio::time::Instant,
    quiet_at: tokio::time::Instant,
}

#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
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
    use std::collections::HashMap;
    use std::io;
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::address::AddressMessage;
    use netlink_packet_route::link::LinkMessage;
    use netlink_sys::protocols::NETLINK_ROUTE;
    use netlink_sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
    use tokio::sync::mpsc;

    use super::{Batch, NetworkChange};
    use crate::detect::iface::kernel::{self, Address, Link};

    // Multicast group bits of <linux/rtnetlink.h>, for binding.
    const RTMGRP_LINK: u32 = 0x1;
    const RTMGRP_IPV4_IFADDR: u32 = 0x10;
    const RTMGRP_IPV6_IFADDR: u32 = 0x100;

    pub(super) fn spawn(debounce: Duration) -> io::Result<mpsc::Receiver<NetworkChange>> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "the network change watcher must be started inside a Tokio runtime",
            ));
        }
        let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
        socket.socket_mut().bind(&SocketAddr::new(
            0,
            RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
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
                    let reasons = match received {
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

    async fn sleep_until(due: Option<tokio::time::Instant>) {
        match due {
            Some(due) => tokio::time::sleep_until(due).await,
            None => std::future::pending().await,
        }
    }

    /// What the watcher last saw of the links and the usable global addresses.
    #[derive(Default)]
    pub(super) struct State {
        links: HashMap<u32, Link>,
        /// Usable global addresses by (interface index, address): whether deprecated.
        addresses: HashMap<(u32, IpAddr), bool>,
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
                _ => None,
            }
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
            let change = (link.running != was_running && !link.loopback).then(|| {
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
            (link.running && !link.loopback).then(|| format!("{} was removed", link.name))
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
        use netlink_packet_route::RouteNetlinkMessage;
        use netlink_packet_route::address::{
            AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
        };
        use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

        use super::super::linux::State;

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

        use dyntray_tests::netns::{self, NetNs};
        use tokio::sync::mpsc::Receiver;

        use super::super::*;

        fn namespace(prefix: &str) -> NetNs {
            if let Err(why) = netns::available() {
                panic!("this test needs network namespaces, which cannot be used here: {why}");
            }
            NetNs::new(prefix).unwrap()
        }

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
            let ns = namespace("watch-add");
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
            let ns = namespace("watch-burst");
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
        fn a_link_going_down_is_reported() {
            let ns = namespace("watch-link");
            ns.add_veth("v0").unwrap();
            watch_in(&ns, async |mut changes| {
                ns.ip(&["link", "set", "v0", "down"]).unwrap();
                let change = next(&mut changes).await;
                assert!(change.reason.starts_with("v0 went down"), "{change:?}");
            });
        }
    }
}
