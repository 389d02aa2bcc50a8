//! Being told when the machine's network changes: an interface, a unicast address or a
//! route, of either family (the IP Helper API's change notifications).
//!
//! Windows calls back on a thread of its own; the callback here only says that something
//! changed, and the caller reads the adapters again to see whether it matters.

use std::ffi::c_void;
use std::io;

use windows_sys::Win32::Foundation::{HANDLE, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    CancelMibChangeNotify2, MIB_IPFORWARD_ROW2, MIB_IPINTERFACE_ROW, MIB_NOTIFICATION_TYPE,
    MIB_UNICASTIPADDRESS_ROW, NotifyIpInterfaceChange, NotifyRouteChange2,
    NotifyUnicastIpAddressChange,
};
use windows_sys::Win32::Networking::WinSock::AF_UNSPEC;

/// What is called on each change.
type Callback = Box<dyn Fn() + Send + Sync>;

/// Registered change notifications; dropping this cancels them (waiting for a callback
/// in progress to return) and frees the callback.
pub struct NetChanges {
    handles: Vec<HANDLE>,
    /// Owned: made by `Box::into_raw` in [`watch`], freed in `drop`.
    callback: *mut Callback,
}

// SAFETY: the notification handles may be cancelled from any thread, and the callback
// behind the pointer is Send + Sync.
#[allow(unsafe_code)]
unsafe impl Send for NetChanges {}

impl std::fmt::Debug for NetChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetChanges")
            .field("registrations", &self.handles.len())
            .finish()
    }
}

/// Calls `changed` (on a system thread) whenever an interface, a unicast address or a
/// route of either family changes, until the returned value is dropped. `changed` must
/// return quickly and never block.
#[allow(unsafe_code)]
pub fn watch(changed: impl Fn() + Send + Sync + 'static) -> io::Result<NetChanges> {
    let callback: Box<Callback> = Box::new(Box::new(changed));
    let mut watch = NetChanges {
        handles: Vec::with_capacity(3),
        callback: Box::into_raw(callback),
    };
    let context = watch.callback.cast::<c_void>().cast_const();
    let mut handle: HANDLE = std::ptr::null_mut();
    // SAFETY: the callback matches the documented signature; `context` stays valid
    // until the registration is cancelled (drop cancels before it frees); `handle` is a
    // place for the registration.
    let status = unsafe {
        NotifyIpInterfaceChange(AF_UNSPEC, Some(on_interface), context, false, &mut handle)
    };
    watch.registered(status, handle)?;
    // SAFETY: as above.
    let status = unsafe {
        NotifyUnicastIpAddressChange(AF_UNSPEC, Some(on_address), context, false, &mut handle)
    };
    watch.registered(status, handle)?;
    // SAFETY: as above.
    let status =
        unsafe { NotifyRouteChange2(AF_UNSPEC, Some(on_route), context, false, &mut handle) };
    watch.registered(status, handle)?;
    Ok(watch)
}

impl NetChanges {
    /// Keeps a registration, or gives the error (dropping `self` cancels the others).
    fn registered(&mut self, status: u32, handle: HANDLE) -> io::Result<()> {
        if status != NO_ERROR {
            return Err(io::Error::from_raw_os_error(
                i32::try_from(status).unwrap_or(i32::MAX),
            ));
        }
        self.handles.push(handle);
        Ok(())
    }
}

impl Drop for NetChanges {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        for handle in self.handles.drain(..) {
            // SAFETY: a handle from a successful registration, cancelled once. The call
            // returns after any callback in progress has (so never call it from one).
            unsafe { CancelMibChangeNotify2(handle) };
        }
        // SAFETY: made by Box::into_raw in `watch`; no registration can call it any more.
        drop(unsafe { Box::from_raw(self.callback) });
    }
}

/// Calls the callback behind `context`.
///
/// # Safety
/// `context` is the pointer [`watch`] registered, still alive.
#[allow(unsafe_code)]
unsafe fn call(context: *const c_void) {
    // SAFETY: the caller promises a live `*mut Callback` from `watch`.
    let callback = unsafe { &*context.cast::<Callback>() };
    callback();
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_interface(
    context: *const c_void,
    _row: *const MIB_IPINTERFACE_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: Windows passes back the context registered in `watch`, which lives until
    // the registration is cancelled.
    unsafe { call(context) };
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_address(
    context: *const c_void,
    _row: *const MIB_UNICASTIPADDRESS_ROW,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: as in `on_interface`.
    unsafe { call(context) };
}

#[allow(unsafe_code)]
unsafe extern "system" fn on_route(
    context: *const c_void,
    _row: *const MIB_IPFORWARD_ROW2,
    _kind: MIB_NOTIFICATION_TYPE,
) {
    // SAFETY: as in `on_interface`.
    unsafe { call(context) };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn registering_and_cancelling_works_and_frees_the_callback() {
        // (No change can be made here to be told of: Wine's notifications are stubs that
        // register and never call. This checks the registration and its end.)
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let watch = watch(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(Arc::strong_count(&calls), 2);
        drop(watch);
        assert_eq!(Arc::strong_count(&calls), 1, "the callback was not freed");
    }
}
