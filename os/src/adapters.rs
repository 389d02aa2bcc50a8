//! This machine's network adapters and their addresses, from the IP Helper API
//! (`GetAdaptersAddresses`): what the interface source reads on Windows.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::Foundation::{
    ERROR_BUFFER_OVERFLOW, ERROR_HOST_UNREACHABLE, ERROR_NETWORK_UNREACHABLE, ERROR_NO_DATA,
    ERROR_NOT_FOUND, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GAA_FLAG_INCLUDE_GATEWAYS, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
    GAA_FLAG_SKIP_MULTICAST, GetAdaptersAddresses, GetBestInterfaceEx, IF_TYPE_SOFTWARE_LOOPBACK,
    IP_ADAPTER_ADDRESSES_LH,
};
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, AF_UNSPEC, IpDadStateDeprecated, IpDadStateDuplicate, IpDadStatePreferred,
    IpDadStateTentative, IpPrefixOriginManual, IpSuffixOriginRandom, SOCKADDR, SOCKADDR_IN,
    SOCKADDR_IN6, SOCKET_ADDRESS,
};

/// Where duplicate address detection stands for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dad {
    /// Still being checked.
    Tentative,
    /// Another host has it.
    Duplicate,
    /// Usable, but being phased out.
    Deprecated,
    /// Usable.
    Preferred,
    /// Anything else Windows says (invalid).
    Invalid,
}

/// One unicast address of an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub address: IpAddr,
    /// Duplicate address detection.
    pub dad: Dad,
    /// A temporary (privacy) IPv6 address: its interface identifier is random.
    pub temporary: bool,
    /// Configured by hand, not learned from the network.
    pub manual: bool,
    /// Seconds it stays preferred (`u32::MAX`: for ever).
    pub preferred_lifetime: u32,
}

/// One network adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// Its IPv4 interface index (0 when IPv4 is off on it).
    pub index: u32,
    /// Its IPv6 interface index (0 when IPv6 is off on it).
    pub ipv6_index: u32,
    /// The name people see ("Ethernet", "Wi-Fi").
    pub name: String,
    /// Operationally up: connected and able to pass packets.
    pub up: bool,
    /// The software loopback.
    pub loopback: bool,
    /// Its unicast addresses.
    pub addresses: Vec<Address>,
    /// Its default gateways.
    pub gateways: Vec<IpAddr>,
    /// Its interface metric for IPv4 (lower is preferred).
    pub ipv4_metric: u32,
    /// Its interface metric for IPv6.
    pub ipv6_metric: u32,
}

/// Every adapter, with its unicast addresses and gateways.
#[allow(unsafe_code)]
pub fn list() -> io::Result<Vec<Adapter>> {
    let flags = GAA_FLAG_INCLUDE_GATEWAYS
        | GAA_FLAG_SKIP_ANYCAST
        | GAA_FLAG_SKIP_MULTICAST
        | GAA_FLAG_SKIP_DNS_SERVER;
    // 15 KB is Microsoft's advice for a first try; a larger size comes back if needed.
    let mut size: u32 = 15 * 1024;
    for _ in 0..4 {
        // In u64 units: aligned for the structures written into it.
        let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
        // SAFETY: `buffer` holds at least `size` bytes, aligned for
        // IP_ADAPTER_ADDRESSES_LH; `size` is updated to what is needed when too small.
        let status = unsafe {
            GetAdaptersAddresses(
                u32::from(AF_UNSPEC),
                flags,
                std::ptr::null(),
                buffer.as_mut_ptr().cast(),
                &mut size,
            )
        };
        match status {
            NO_ERROR => {
                // SAFETY: on success the buffer starts with a list of adapters whose
                // pointers all point inside the buffer, alive until this returns.
                return Ok(unsafe { walk(buffer.as_ptr().cast()) });
            }
            ERROR_NO_DATA => return Ok(Vec::new()),
            ERROR_BUFFER_OVERFLOW => continue,
            other => {
                return Err(io::Error::from_raw_os_error(
                    i32::try_from(other).unwrap_or(i32::MAX),
                ));
            }
        }
    }
    Err(io::Error::other(
        "the adapter list kept growing while it was read",
    ))
}

/// Reads the linked list GetAdaptersAddresses wrote.
///
/// # Safety
/// `first` is null or the head of such a list, alive for the call.
#[allow(unsafe_code)]
unsafe fn walk(first: *const IP_ADAPTER_ADDRESSES_LH) -> Vec<Adapter> {
    let mut adapters = Vec::new();
    let mut next = first;
    // SAFETY: every pointer in the list is null or points at a valid structure inside
    // the caller's buffer (so for the dereferences below too).
    while let Some(adapter) = unsafe { next.as_ref() } {
        let mut addresses = Vec::new();
        let mut unicast = adapter.FirstUnicastAddress;
        // SAFETY: as above.
        while let Some(entry) = unsafe { unicast.as_ref() } {
            // SAFETY: the socket address points inside the buffer.
            if let Some(address) = unsafe { ip(&entry.Address) } {
                addresses.push(Address {
                    address,
                    dad: dad(entry.DadState),
                    temporary: entry.SuffixOrigin == IpSuffixOriginRandom,
                    manual: entry.PrefixOrigin == IpPrefixOriginManual,
                    preferred_lifetime: entry.PreferredLifetime,
                });
            }
            unicast = entry.Next;
        }
        let mut gateways = Vec::new();
        let mut gateway = adapter.FirstGatewayAddress;
        // SAFETY: as above.
        while let Some(entry) = unsafe { gateway.as_ref() } {
            // SAFETY: the socket address points inside the buffer.
            if let Some(address) = unsafe { ip(&entry.Address) } {
                gateways.push(address);
            }
            gateway = entry.Next;
        }
        let name = if adapter.FriendlyName.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated string inside the buffer.
            unsafe { crate::wide_to_string(adapter.FriendlyName) }
        };
        // SAFETY: both views of the union are plain integers; the struct one is what
        // the API fills.
        let index = unsafe { adapter.Anonymous1.Anonymous.IfIndex };
        adapters.push(Adapter {
            index,
            ipv6_index: adapter.Ipv6IfIndex,
            name,
            up: adapter.OperStatus == IfOperStatusUp,
            loopback: adapter.IfType == IF_TYPE_SOFTWARE_LOOPBACK,
            addresses,
            gateways,
            ipv4_metric: adapter.Ipv4Metric,
            ipv6_metric: adapter.Ipv6Metric,
        });
        next = adapter.Next;
    }
    adapters
}

fn dad(state: i32) -> Dad {
    [
        (IpDadStateTentative, Dad::Tentative),
        (IpDadStateDuplicate, Dad::Duplicate),
        (IpDadStateDeprecated, Dad::Deprecated),
        (IpDadStatePreferred, Dad::Preferred),
    ]
    .into_iter()
    .find_map(|(value, dad)| (value == state).then_some(dad))
    .unwrap_or(Dad::Invalid)
}

/// The IP address in a socket address, if it is IPv4 or IPv6.
///
/// # Safety
/// `socket.lpSockaddr` is null or points at `iSockaddrLength` readable bytes.
#[allow(unsafe_code)]
unsafe fn ip(socket: &SOCKET_ADDRESS) -> Option<IpAddr> {
    let length = usize::try_from(socket.iSockaddrLength).ok()?;
    if socket.lpSockaddr.is_null() || length < size_of::<u16>() {
        return None;
    }
    // SAFETY: at least the two bytes of the family are readable (checked above); read
    // unaligned, without making a reference to a whole SOCKADDR.
    let family = unsafe { std::ptr::addr_of!((*socket.lpSockaddr).sa_family).read_unaligned() };
    if family == AF_INET && length >= size_of::<SOCKADDR_IN>() {
        // SAFETY: an AF_INET address of this length is a SOCKADDR_IN; read unaligned,
        // as nothing promises its alignment.
        let v4 = unsafe { socket.lpSockaddr.cast::<SOCKADDR_IN>().read_unaligned() };
        // SAFETY: every view of the union is four plain bytes.
        let raw = unsafe { v4.sin_addr.S_un.S_addr };
        Some(IpAddr::V4(Ipv4Addr::from(raw.to_ne_bytes())))
    } else if family == AF_INET6 && length >= size_of::<SOCKADDR_IN6>() {
        // SAFETY: as above, for AF_INET6 and SOCKADDR_IN6.
        let v6 = unsafe { socket.lpSockaddr.cast::<SOCKADDR_IN6>().read_unaligned() };
        // SAFETY: every view of the union is sixteen plain bytes.
        let bytes = unsafe { v6.sin6_addr.u.Byte };
        Some(IpAddr::V6(Ipv6Addr::from(bytes)))
    } else {
        None
    }
}

/// The interface Windows sends traffic for the internet through, by its own route
/// lookup (`GetBestInterfaceEx`): route and interface metrics added up, and a VPN's
/// split default routes (0.0.0.0/1 and 128.0.0.0/1) taken into account, which the
/// adapters' gateways and metrics alone cannot tell. The address looked up is one of the
/// documentation ranges (203.0.113.1, 2001:db8::1), which no default route leaves out and
/// nothing sends to: only the routing table is read. `None` when there is no route; the
/// index is the IPv4 one for IPv4, the IPv6 one for IPv6. An error means the system
/// cannot tell (Wine 8 for IPv6).
#[allow(unsafe_code)]
pub fn internet_interface(ipv6: bool) -> io::Result<Option<u32>> {
    // SAFETY: plain data; all zeroes is a valid value.
    let mut v4: SOCKADDR_IN = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut v6: SOCKADDR_IN6 = unsafe { std::mem::zeroed() };
    let destination: *const SOCKADDR = if ipv6 {
        v6.sin6_family = AF_INET6;
        v6.sin6_addr.u.Byte = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets();
        (&raw const v6).cast()
    } else {
        v4.sin_family = AF_INET;
        v4.sin_addr.S_un.S_addr = u32::from_ne_bytes(Ipv4Addr::new(203, 0, 113, 1).octets());
        (&raw const v4).cast()
    };
    let mut index = 0u32;
    // SAFETY: `destination` points at a complete sockaddr of its family, alive for the
    // call; the index is written to a u32 of ours.
    match unsafe { GetBestInterfaceEx(destination, &mut index) } {
        NO_ERROR => Ok(Some(index)),
        ERROR_NETWORK_UNREACHABLE | ERROR_HOST_UNREACHABLE | ERROR_NOT_FOUND => Ok(None),
        other => Err(io::Error::from_raw_os_error(
            i32::try_from(other).unwrap_or(i32::MAX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_to_the_internet_is_an_adapter_with_a_gateway_or_there_is_none() {
        let adapters = list().unwrap();
        for ipv6 in [false, true] {
            let has_gateway = |a: &Adapter| a.gateways.iter().any(|g| g.is_ipv6() == ipv6);
            match internet_interface(ipv6) {
                Ok(Some(index)) => {
                    let adapter = adapters
                        .iter()
                        .find(|a| index == if ipv6 { a.ipv6_index } else { a.index })
                        .unwrap_or_else(|| {
                            panic!("interface {index} is no adapter: {adapters:#?}")
                        });
                    assert!(!adapter.loopback, "{adapter:#?}");
                }
                Ok(None) => assert!(
                    !adapters.iter().any(has_gateway),
                    "no route out (ipv6: {ipv6}), yet a gateway: {adapters:#?}"
                ),
                // Wine 8 answers IPv6 lookups with ERROR_NOT_SUPPORTED; the interface
                // source then ranks the gateways by their metrics.
                Err(e) if ipv6 && e.raw_os_error() == Some(50) => {}
                Err(e) => panic!("the route lookup failed (ipv6: {ipv6}): {e}"),
            }
        }
    }

    #[test]
    fn the_loopback_adapter_is_listed_with_its_address() {
        let adapters = list().unwrap();
        let loopback = adapters
            .iter()
            .find(|a| a.loopback)
            .unwrap_or_else(|| panic!("no loopback among {adapters:#?}"));
        assert!(
            loopback
                .addresses
                .iter()
                .any(|a| a.address == IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{loopback:#?}"
        );
        for adapter in &adapters {
            assert!(!adapter.name.is_empty(), "{adapter:#?}");
            assert!(
                adapter.index != 0 || adapter.ipv6_index != 0,
                "{adapter:#?}"
            );
        }
    }
}
