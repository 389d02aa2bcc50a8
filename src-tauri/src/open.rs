//! Opening things outside the window: a provider's page in the browser, the log folder in
//! the file manager. Only pages the provider descriptors name can be opened, so a page
//! shown in the window cannot be made to launch anything else.

use std::path::Path;
use std::process::{Command, Stdio};

use dyntray_engine::control::{ControlError, ErrorCode};
use dyntray_engine::provider::REGISTRY;

/// Whether `url` is a page some provider descriptor names (its docs or its key page).
pub(crate) fn is_provider_page(url: &str) -> bool {
    REGISTRY.iter().any(|p| {
        let d = p.descriptor();
        d.docs_url == url || d.key_url == Some(url)
    })
}

/// Hands `target` (a URL or a folder) to the desktop's opener, without waiting for it.
pub(crate) fn open(target: &str) -> Result<(), ControlError> {
    let mut command = opener();
    command
        .arg(target)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match command.spawn() {
        Ok(mut child) => {
            // Reap it in the background: openers return at once, browsers detach.
            std::thread::spawn(move || child.wait());
            Ok(())
        }
        Err(e) => Err(ControlError {
            code: ErrorCode::Failed,
            message: format!("Could not open {target}: {e}. Open it by hand."),
            problems: Vec::new(),
        }),
    }
}

/// Opens a folder, which must exist.
pub(crate) fn open_folder(folder: &Path) -> Result<(), ControlError> {
    if !folder.is_dir() {
        return Err(ControlError {
            code: ErrorCode::Failed,
            message: format!("The folder {} does not exist yet.", folder.display()),
            problems: Vec::new(),
        });
    }
    open(&folder.to_string_lossy())
}

#[cfg(windows)]
fn opener() -> Command {
    Command::new("explorer.exe")
}

#[cfg(not(windows))]
fn opener() -> Command {
    Command::new("xdg-open")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pages_the_providers_name_can_be_opened() {
        assert!(is_provider_page(
            "https://dash.cloudflare.com/profile/api-tokens"
        ));
        assert!(is_provider_page("https://www.duckdns.org/spec.jsp"));
        assert!(!is_provider_page("https://example.com/"));
        assert!(!is_provider_page("file:///etc/passwd"));
        assert!(!is_provider_page(""));
    }
}
