//! Files from outside, read safely, and the directories Dyntray keeps private.
//!
//! A path from the user (`--config`, a `file:` secret) may name anything: a FIFO (an open
//! for reading waits for a writer, forever), a device (`/dev/zero` never ends), a
//! directory, or a file far larger than any config. [`read_regular`] reads only regular
//! files, never blocks on opening, and stops at a size cap with a clear error.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

/// The largest config file read (10,000 records take about 1 MB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads `path` when it is a regular file of at most `cap` bytes. Anything else is an
/// error that says what the path is; a FIFO or a device is never opened for reading in a
/// way that could block.
pub fn read_regular(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > cap {
        return Err(too_large(cap));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow while it is read: the cap holds for what is read, not the size.
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(bytes)
}

/// Opens `path` for reading when it is a regular file, without ever waiting in the open,
/// and returns its metadata for further checks (a secret file's owner and mode).
pub fn open_regular(path: &Path) -> io::Result<(fs::File, fs::Metadata)> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO without O_NONBLOCK waits for a writer; with it, the open returns
        // and the type check below refuses the file.
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind_of(&meta)),
        ));
    }
    Ok((file, meta))
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than {} KiB; not read", cap / 1024),
    )
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a named pipe";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

/// Creates `dir` (and its parents) with mode 0700 where missing, and takes group and
/// other permissions away from it when it is this user's and more open than that (made
/// by an older version, or by a umask of 022). A directory of another user is left as it
/// is: its owner decides.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = fs::metadata(dir)?;
        if meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Takes group and other permissions away from an existing file of this user; a missing
/// file is fine.
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        match fs::metadata(path) {
            Ok(meta)
                if meta.uid() == rustix::process::geteuid().as_raw()
                    && meta.mode() & 0o077 != 0 =>
            {
                fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o700))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

// File modes, FIFOs and devices: Unix file semantics (Windows has access lists).
#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_regular_files_of_bounded_size_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        fs::write(&file, "version = 1\n").unwrap();
        assert_eq!(read_regular(&file, 100).unwrap(), b"version = 1\n");

        let err = read_regular(&file, 4).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");

        let err = read_regular(dir.path(), 100).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");

        // A FIFO with no writer: the open does not wait, and it is refused.
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_regular(&fifo, 100).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");

        // A device that never ends.
        let err = read_regular(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(err.to_string().contains("a device"), "{err}");
    }

    #[test]
    fn private_dirs_and_files_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&state).unwrap();
        let mode = fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let nested = dir.path().join("a/b");
        ensure_private_dir(&nested).unwrap();
        let mode = fs::metadata(&nested).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);

        let file = state.join("state.sqlite3");
        fs::write(&file, "").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        make_private(&file).unwrap();
        let mode = fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        make_private(&state.join("missing")).unwrap();
    }
}
