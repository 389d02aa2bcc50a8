//! This machine's network adapters and their addresses, from the IP Helper API
//! (`GetAdaptersAddresses`): what the interface source reads on Windows.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::Foundation::{ERROR_BUFFER_OVERFLOW, ERROR_NO_DATA, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GAA_FLAG_INCLUDE_GATEWAYS, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
    GAA_FLAG_SKIP_MULTICAST, GetAdaptersAddresses, IF_TYPE_SOFTWARE_LOOPBACK,
    IP_ADAPTER_ADDRESSES_LH,
};
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, AF_INET6, AF_UNSPEC, IpDadStateDeprecated, IpDadStateDuplicate, IpDadStatePreferred,
    IpDadStateTentative, IpPrefixOriginManual, IpSuffixOriginRandom, SOCKADDR_IN, SOCKADDR_IN6,
    SOCKET_ADDRESS,
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

#[cfg(test)]
mod tests {
    use super::*;

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
