//! The control API's named pipe: instances that only their owner may open, and who is at
//! the other end of one.
//!
//! Windows gives a new pipe a default DACL that lets Everyone and Anonymous read it, and
//! any user can create an instance of a name that is not taken. So the server gives every
//! instance an explicit owner-only DACL, and both ends ask who runs the process at the
//! other end before they trust it.

use std::io;
use std::os::windows::io::AsRawHandle;

use tokio::net::windows::named_pipe::{NamedPipeClient, NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_FILE_OBJECT, SE_KERNEL_OBJECT, SE_OBJECT_TYPE,
};
use windows_sys::Win32::Security::{
    DACL_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    SECURITY_ATTRIBUTES,
};
use windows_sys::Win32::System::Pipes::GetNamedPipeClientProcessId;

/// The OS error when every instance of a pipe is busy (wait and open again).
pub const PIPE_BUSY: i32 = ERROR_PIPE_BUSY as i32;

/// The OS error when a first instance is asked for and the name is taken, or when the
/// pipe's DACL does not let this user in.
pub const ACCESS_DENIED: i32 = ERROR_ACCESS_DENIED as i32;

/// The security descriptor every instance gets, in SDDL: owned by `sid` (which a client
/// checks: nobody can make an object owned by another user), with a protected DACL
/// (nothing inherited) allowing all access to `sid` and nothing to anyone else.
pub fn owner_only_sddl(sid: &str) -> String {
    format!("O:{sid}D:P(A;;GA;;;{sid})")
}

/// Creates one instance of the pipe `name` (with `options`) that only the user `sid` may
/// open. With `first_pipe_instance(true)` it fails with [`ACCESS_DENIED`] when any
/// instance of the name exists, whoever made it.
#[allow(unsafe_code)]
pub fn create_private(
    options: &ServerOptions,
    name: &str,
    sid: &str,
) -> io::Result<NamedPipeServer> {
    let descriptor = SecurityDescriptor::from_sddl(&owner_only_sddl(sid))?;
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: u32::try_from(size_of::<SECURITY_ATTRIBUTES>()).unwrap_or(u32::MAX),
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    // SAFETY: `attributes` is a complete SECURITY_ATTRIBUTES whose descriptor stays
    // alive (owned by `descriptor`) until after the call; the pipe keeps its own copy.
    unsafe { options.create_with_security_attributes_raw(name, (&raw mut attributes).cast()) }
}

/// The user running the process at the client end of a connected server instance.
#[allow(unsafe_code)]
pub fn client_user(pipe: &NamedPipeServer) -> io::Result<String> {
    let mut pid = 0u32;
    // SAFETY: the handle is valid while `pipe` is borrowed; `pid` is a place for a u32.
    if unsafe { GetNamedPipeClientProcessId(pipe.as_raw_handle(), &mut pid) } == 0 {
        return Err(io::Error::last_os_error());
    }
    crate::identity::process_user(pid)
}

/// The user that owns the pipe a client is connected to: the user whose server made it.
/// Unlike the serving process's id, the owner cannot be another user's, nor change after
/// the instance was made.
#[allow(unsafe_code)]
pub fn owner(pipe: &NamedPipeClient) -> io::Result<String> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is valid while `pipe` is borrowed (opened for reading, which
    // includes READ_CONTROL); `owner` will point into `descriptor`, a LocalAlloc'd copy.
    let status = unsafe {
        GetSecurityInfo(
            pipe.as_raw_handle(),
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(
            i32::try_from(status).unwrap_or(i32::MAX),
        ));
    }
    // Freed when this returns; `owner` points inside it.
    let descriptor = SecurityDescriptor(descriptor);
    if owner.is_null() {
        return Err(io::Error::other("the pipe has no owner"));
    }
    let sid = crate::identity::sid_string(owner);
    drop(descriptor);
    sid
}

/// The DACL of a pipe instance, in SDDL: what the server actually got.
pub fn dacl(pipe: &NamedPipeServer) -> io::Result<String> {
    // SAFETY-free: the handle is valid while `pipe` is borrowed.
    security_sddl(
        pipe.as_raw_handle(),
        SE_KERNEL_OBJECT,
        DACL_SECURITY_INFORMATION,
    )
}

/// The owner and DACL of an open file, in SDDL (`O:<owner>D:<flags>(<ace>)…`).
pub fn file_security(file: &std::fs::File) -> io::Result<String> {
    security_sddl(
        file.as_raw_handle(),
        SE_FILE_OBJECT,
        OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
    )
}

/// Parts of the security descriptor of the object behind `handle` (valid for the call),
/// in SDDL.
#[allow(unsafe_code)]
fn security_sddl(handle: HANDLE, kind: SE_OBJECT_TYPE, what: u32) -> io::Result<String> {
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the caller passes a handle valid for the call; the owner, group and ACL
    // places may be null; `descriptor` receives a LocalAlloc'd copy.
    let status = unsafe {
        GetSecurityInfo(
            handle,
            kind,
            what,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != 0 {
        return Err(io::Error::from_raw_os_error(
            i32::try_from(status).unwrap_or(i32::MAX),
        ));
    }
    let descriptor = SecurityDescriptor(descriptor);
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `descriptor` is valid until dropped at the end; `text` receives a
    // LocalAlloc'd string; the length place may be null.
    let converted = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor.0,
            SDDL_REVISION_1,
            what,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    if converted == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success `text` is a NUL-terminated UTF-16 string.
    let sddl = unsafe { crate::wide_to_string(text) };
    // SAFETY: `text` came from LocalAlloc in the call above and is freed once, here.
    unsafe { LocalFree(text.cast()) };
    Ok(sddl)
}

/// A security descriptor the system allocated (LocalAlloc), freed on drop.
struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

impl SecurityDescriptor {
    #[allow(unsafe_code)]
    fn from_sddl(sddl: &str) -> io::Result<Self> {
        let wide = crate::to_wide(sddl);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated and alive during the call; `descriptor`
        // receives a LocalAlloc'd descriptor; the size place may be null.
        let converted = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if converted == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(descriptor))
    }
}

impl Drop for SecurityDescriptor {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the pointer came from LocalAlloc (a system call above) and is freed
        // once, here.
        unsafe { LocalFree(self.0) };
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::windows::named_pipe::ClientOptions;

    use super::*;
    use crate::identity;

    fn name(test: &str) -> String {
        format!(r"\\.\pipe\dyntray-os-test-{}-{test}", std::process::id())
    }

    #[tokio::test]
    async fn the_pipe_is_its_owners_alone_and_both_ends_see_who_is_there() {
        let me = identity::current_user().unwrap();
        let name = name("owner");
        let server =
            create_private(ServerOptions::new().first_pipe_instance(true), &name, &me).unwrap();
        let acl = dacl(&server).unwrap();
        // One ACE: an allow for this user (GA may read back as the pipe's own rights).
        assert!(acl.starts_with("D:P("), "{acl}");
        assert_eq!(acl.matches('(').count(), 1, "{acl}");
        assert!(acl.ends_with(&format!(";;;{me})")), "{acl}");

        let client = ClientOptions::new().open(&name).unwrap();
        server.connect().await.unwrap();
        assert_eq!(owner(&client).unwrap(), me);
        assert_eq!(client_user(&server).unwrap(), me);
    }

    #[tokio::test]
    async fn an_owner_makes_more_instances_and_each_serves_one_client() {
        // (Whether a first instance is refused when the name is held cannot be seen
        // here: Wine 8 ignores FILE_FLAG_FIRST_PIPE_INSTANCE. The engine asks the name as
        // a client before it serves, which works on both.)
        let me = identity::current_user().unwrap();
        let name = name("more");
        let first =
            create_private(ServerOptions::new().first_pipe_instance(true), &name, &me).unwrap();
        let second = create_private(&ServerOptions::new(), &name, &me).unwrap();
        let _a = ClientOptions::new().open(&name).unwrap();
        first.connect().await.unwrap();
        let _b = ClientOptions::new().open(&name).unwrap();
        second.connect().await.unwrap();
        // Both instances taken: a third client is told the pipe is busy.
        let busy = ClientOptions::new().open(&name).unwrap_err();
        assert_eq!(busy.raw_os_error(), Some(PIPE_BUSY), "{busy}");
    }

    #[test]
    fn a_files_owner_and_access_list_are_read() {
        let path = std::env::temp_dir().join(format!("dyntray-os-sddl-{}", std::process::id()));
        std::fs::write(&path, "secret").unwrap();
        let sddl = file_security(&std::fs::File::open(&path).unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        eprintln!("{sddl}");
        let me = identity::current_user().unwrap();
        assert!(sddl.starts_with(&format!("O:{me}D:")), "{sddl}");
    }

    #[test]
    fn the_descriptor_allows_the_owner_only() {
        assert_eq!(
            owner_only_sddl("S-1-5-21-1-2-3-1001"),
            "O:S-1-5-21-1-2-3-1001D:P(A;;GA;;;S-1-5-21-1-2-3-1001)"
        );
        assert!(SecurityDescriptor::from_sddl("O:not-a-sidD:P(A;;GA;;;not-a-sid)").is_err());
    }
}
