//! The notification area beyond what tray-icon draws (balloons from an icon already
//! there and clicks on them, the size its icons are drawn at), message boxes, and the
//! console of whoever started a program that has none of its own.

use std::io;

use windows_sys::Win32::Foundation::{HWND, LPARAM, LRESULT, WPARAM};
use windows_sys::Win32::System::Console::{ATTACH_PARENT_PROCESS, AttachConsole};
use windows_sys::Win32::UI::Shell::{
    DefSubclassProc, NIF_GUID, NIF_INFO, NIIF_ERROR, NIIF_INFO, NIIF_RESPECT_QUIET_TIME,
    NIIF_WARNING, NIM_MODIFY, NIN_BALLOONUSERCLICK, NOTIFYICONDATAW, RemoveWindowSubclass,
    SetWindowSubclass, Shell_NotifyIconW,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    GetSystemMetrics, MB_ICONERROR, MB_ICONINFORMATION, MB_ICONWARNING, MB_OK, MB_SETFOREGROUND,
    MessageBoxW, SM_CXSMICON,
};
use windows_sys::core::GUID;

/// The icon a balloon shows beside its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// What identifies a notification-area icon: its GUID where the shell keys icons on it
/// (Windows 7 and later), else its window and number.
#[derive(Debug, Clone, Copy)]
pub struct IconId {
    /// The icon's window (tray-icon's `TrayIcon::window_handle`), as an address.
    pub window: isize,
    pub uid: u32,
    pub guid: u128,
}

/// Copies `text` into a fixed UTF-16 field, cut at a character boundary so that the
/// field always ends with a NUL.
fn fill(field: &mut [u16], text: &str) {
    let room = field.len().saturating_sub(1);
    let mut used = 0;
    for c in text.chars() {
        let mut units = [0u16; 2];
        let units = c.encode_utf16(&mut units);
        if used + units.len() > room {
            break;
        }
        field[used..used + units.len()].copy_from_slice(units);
        used += units.len();
    }
    field[used..].fill(0);
}

/// Shows a balloon from the icon `id`. Windows 10 and 11 show it as a toast
/// notification (and keep it in the notification centre), attributed to the program;
/// older shells and Wine draw a balloon at the icon. The title holds 63 UTF-16 units,
/// the text 255: longer ones are cut.
#[allow(unsafe_code)]
pub fn balloon(id: IconId, title: &str, text: &str, level: Level) -> io::Result<()> {
    // SAFETY: NOTIFYICONDATAW is plain data; all zeroes is its "nothing set" value.
    let mut data: NOTIFYICONDATAW = unsafe { std::mem::zeroed() };
    data.cbSize = u32::try_from(std::mem::size_of::<NOTIFYICONDATAW>()).unwrap_or(u32::MAX);
    data.hWnd = id.window as HWND;
    data.uID = id.uid;
    data.uFlags = NIF_INFO | NIF_GUID;
    data.guidItem = GUID::from_u128(id.guid);
    fill(&mut data.szInfoTitle, title);
    fill(&mut data.szInfo, text);
    data.dwInfoFlags = NIIF_RESPECT_QUIET_TIME
        | match level {
            Level::Info => NIIF_INFO,
            Level::Warning => NIIF_WARNING,
            Level::Error => NIIF_ERROR,
        };
    // SAFETY: `data` is a complete NOTIFYICONDATAW with its size set; the shell copies
    // it and keeps no pointer into it. A window that is not the icon's is refused.
    if unsafe { Shell_NotifyIconW(NIM_MODIFY, &data) } == 0 {
        return Err(io::Error::other(
            "the notification area refused the balloon (is the icon still there?)",
        ));
    }
    Ok(())
}

/// What a subclass of the icon's window needs: which message the shell sends the icon's
/// events with, and what to do on a click on one of its balloons.
struct ClickWatch {
    message: u32,
    on_click: Box<dyn Fn()>,
}

/// Our number for the subclass (any, unique among a window's subclasses).
const SUBCLASS_ID: usize = 0x4459_4e54; // "DYNT"

/// Clicks on an icon's balloons, followed until this is dropped. Made, used and dropped
/// on the thread that owns the icon's window (subclasses are bound to it).
#[derive(Debug)]
pub struct BalloonClicks {
    window: HWND,
    watch: *mut ClickWatch,
}

/// Follows clicks on the balloons of the icon whose window is `window`: the shell tells
/// the icon with `message` (the callback message the icon was added with) and
/// `NIN_BALLOONUSERCLICK`. The window's own handling goes on unchanged (a subclass).
#[allow(unsafe_code)]
pub fn follow_balloon_clicks(
    window: isize,
    message: u32,
    on_click: impl Fn() + 'static,
) -> io::Result<BalloonClicks> {
    let watch = Box::into_raw(Box::new(ClickWatch {
        message,
        on_click: Box::new(on_click),
    }));
    let window = window as HWND;
    // SAFETY: `watch` stays valid until `BalloonClicks::drop` removes the subclass and
    // frees it; `subclass` only reads it. An invalid window makes the call fail.
    if unsafe { SetWindowSubclass(window, Some(subclass), SUBCLASS_ID, watch as usize) } == 0 {
        // SAFETY: not handed to the window after all: ours alone to free, once.
        drop(unsafe { Box::from_raw(watch) });
        return Err(io::Error::other("cannot follow the icon's window"));
    }
    Ok(BalloonClicks { window, watch })
}

impl Drop for BalloonClicks {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: removes the subclass set in `follow_balloon_clicks`, on the same thread;
        // after it no message reaches `subclass` with `watch`, which is then freed once.
        // (A window already destroyed has dropped its subclasses itself.)
        unsafe {
            RemoveWindowSubclass(self.window, Some(subclass), SUBCLASS_ID);
        }
        // SAFETY: see above.
        drop(unsafe { Box::from_raw(self.watch) });
    }
}

/// The subclass: a click on a balloon calls the handler; every message goes on to the
/// window's own procedure.
#[allow(unsafe_code)]
unsafe extern "system" fn subclass(
    window: HWND,
    message: u32,
    wparam: WPARAM,
    lparam: LPARAM,
    _id: usize,
    data: usize,
) -> LRESULT {
    // SAFETY: `data` is the `ClickWatch` given to SetWindowSubclass, alive while the
    // subclass is set.
    let watch = unsafe { &*(data as *const ClickWatch) };
    // The event is the low word of lParam (icon version 0 and 4 alike).
    if message == watch.message && (lparam as u32 & 0xffff) == NIN_BALLOONUSERCLICK {
        (watch.on_click)();
    }
    // SAFETY: the arguments are the message as the window received it.
    unsafe { DefSubclassProc(window, message, wparam, lparam) }
}

/// Tells the user something in a message box and waits until it is dismissed: for a
/// program that has no window of its own to say it in.
#[allow(unsafe_code)]
pub fn message_box(title: &str, text: &str, level: Level) {
    let (title, text) = (super::to_wide(title), super::to_wide(text));
    let icon = match level {
        Level::Info => MB_ICONINFORMATION,
        Level::Warning => MB_ICONWARNING,
        Level::Error => MB_ICONERROR,
    };
    // SAFETY: both strings are NUL-terminated UTF-16 and outlive the call; no owner
    // window (null) is allowed.
    unsafe {
        MessageBoxW(
            std::ptr::null_mut(),
            text.as_ptr(),
            title.as_ptr(),
            MB_OK | MB_SETFOREGROUND | icon,
        )
    };
}

/// The size, in pixels, that the notification area draws icons at on this display
/// (16 at 100 %, 20 at 125 %, 32 at 200 %).
#[allow(unsafe_code)]
pub fn small_icon_size() -> u32 {
    // SAFETY: GetSystemMetrics reads a setting; it returns 0 when it has none.
    let size = unsafe { GetSystemMetrics(SM_CXSMICON) };
    u32::try_from(size).ok().filter(|&s| s > 0).unwrap_or(16)
}

/// Writes standard output and error to the console of the program that started this
/// one, if it has one: a GUI program (no console of its own) run from a command prompt
/// can then answer `--help`. Without a parent console, nothing changes.
#[allow(unsafe_code)]
pub fn attach_parent_console() -> bool {
    // SAFETY: AttachConsole takes a process id (here the "parent" constant) and fails
    // harmlessly when there is no console or one is already attached.
    unsafe { AttachConsole(ATTACH_PARENT_PROCESS) != 0 }
}

/// Where Windows looks up the name and icon of a program that is not an app package,
/// for its toasts, by AppUserModelID (Microsoft's registration for such programs, which
/// their installer writes).
const APP_IDS: &str = r"Software\Classes\AppUserModelId";

/// The name toasts of `app_id` show, if the program was registered for this user under
/// it (its installer did). Without that registration Windows drops a program's toasts
/// without a word.
pub fn registered_app_name(app_id: &str) -> io::Result<Option<String>> {
    if app_id.is_empty() || app_id.contains('\\') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{app_id:?} is not an AppUserModelID"),
        ));
    }
    let name = crate::registry::read_string(&format!(r"{APP_IDS}\{app_id}"), "DisplayName")?;
    Ok(name.filter(|name| !name.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character_and_end_with_a_nul() {
        let mut field = [0xffffu16; 8];
        fill(&mut field, "abc😀defgh");
        // 7 units of room: "abc" (3) + the emoji (2) + "de" (2).
        assert_eq!(String::from_utf16_lossy(&field[..7]), "abc😀de");
        assert_eq!(field[7], 0);
        let mut field = [0xffffu16; 5];
        fill(&mut field, "abc😀");
        // The emoji does not fit whole in the one unit left: it is left out.
        assert_eq!(&field, &[97, 98, 99, 0, 0]);
    }

    #[test]
    fn a_balloon_for_no_icon_is_an_error_not_a_crash() {
        let id = IconId {
            window: 0,
            uid: 1,
            guid: 0x1234,
        };
        assert!(balloon(id, "title", "text", Level::Info).is_err());
    }

    #[test]
    fn clicks_on_no_window_cannot_be_followed() {
        assert!(follow_balloon_clicks(0, 6002, || {}).is_err());
    }

    /// A message-only window of a predefined class, destroyed when dropped.
    struct Window(HWND);

    impl Window {
        #[allow(unsafe_code)]
        fn new() -> Self {
            use windows_sys::Win32::UI::WindowsAndMessaging::{CreateWindowExW, HWND_MESSAGE};
            let class = crate::to_wide("STATIC");
            // SAFETY: a predefined class, no creation data; null means failure.
            let window = unsafe {
                CreateWindowExW(
                    0,
                    class.as_ptr(),
                    std::ptr::null(),
                    0,
                    0,
                    0,
                    0,
                    0,
                    HWND_MESSAGE,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null(),
                )
            };
            assert!(!window.is_null(), "{}", io::Error::last_os_error());
            Self(window)
        }

        /// What the shell sends the icon: `event` in the low word of lParam.
        #[allow(unsafe_code)]
        fn tell(&self, message: u32, event: u32) {
            use windows_sys::Win32::UI::WindowsAndMessaging::SendMessageW;
            // SAFETY: our window, on this thread; the arguments are plain numbers.
            unsafe { SendMessageW(self.0, message, 1, event as LPARAM) };
        }
    }

    impl Drop for Window {
        #[allow(unsafe_code)]
        fn drop(&mut self) {
            use windows_sys::Win32::UI::WindowsAndMessaging::DestroyWindow;
            // SAFETY: created by `new` on this thread, destroyed once.
            unsafe { DestroyWindow(self.0) };
        }
    }

    #[test]
    fn a_click_on_a_balloon_is_told_and_nothing_else_is() {
        use std::cell::Cell;
        use std::rc::Rc;
        use windows_sys::Win32::UI::WindowsAndMessaging::WM_LBUTTONUP;
        let window = Window::new();
        let clicks = Rc::new(Cell::new(0));
        let counted = Rc::clone(&clicks);
        let watch = follow_balloon_clicks(window.0 as isize, 6002, move || {
            counted.set(counted.get() + 1);
        })
        .unwrap();
        window.tell(6002, NIN_BALLOONUSERCLICK);
        assert_eq!(clicks.get(), 1);
        // A click on the icon, or the same event under another message, is not one.
        window.tell(6002, WM_LBUTTONUP);
        window.tell(6003, NIN_BALLOONUSERCLICK);
        assert_eq!(clicks.get(), 1);
        // Dropped: no longer followed.
        drop(watch);
        window.tell(6002, NIN_BALLOONUSERCLICK);
        assert_eq!(clicks.get(), 1);
    }

    #[test]
    fn icons_are_drawn_at_a_sane_size() {
        let size = small_icon_size();
        assert!((16..=64).contains(&size), "{size}");
    }

    #[test]
    fn an_app_is_registered_for_toasts_only_with_a_name() {
        let app_id = format!("org.dyntray.Test{}", std::process::id());
        let key = format!(r"{APP_IDS}\{app_id}");
        assert_eq!(registered_app_name(&app_id).unwrap(), None);
        crate::registry::set_string(&key, "IconUri", r"C:\icon.png").unwrap();
        assert_eq!(
            registered_app_name(&app_id).unwrap(),
            None,
            "no name, no registration"
        );
        crate::registry::set_string(&key, "DisplayName", "Dyntray Test").unwrap();
        assert_eq!(
            registered_app_name(&app_id).unwrap().as_deref(),
            Some("Dyntray Test")
        );
        crate::registry::delete(&key, "DisplayName").unwrap();
        assert_eq!(registered_app_name(&app_id).unwrap(), None);
        assert!(registered_app_name(r"x\..\y").is_err());
        assert!(registered_app_name("").is_err());
    }
}
