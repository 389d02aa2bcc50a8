//! The settings window's size and place, remembered across opens: read before the window
//! shows, written (atomically) after it moved or was resized and when it closes, to
//! `settings-window.json` in Dyntray's state directory (next to the state store). A file that does not parse, sizes out
//! of range or a place on no monitor are ignored; what is kept is fitted to the monitor.
//!
//! A few lines of our own rather than tauri-plugin-window-state: the window starts hidden
//! and must be placed before it shows, the file goes where Dyntray keeps its state and is
//! written like the rest of it (temp file, fsync, rename), and bad values are bounded here.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where and how large the window was, in physical pixels: the outer (frame) position and
/// the inner size, as Tauri sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Geometry {
    pub(crate) x: i32,
    pub(crate) y: i32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// A monitor's area, in physical pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Area {
    pub(crate) x: i32,
    pub(crate) y: i32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// The file, when the state directory is known.
pub(crate) fn file() -> Option<PathBuf> {
    dyntray_engine::paths::state_dir()
        .ok()
        .map(|dir| dir.join("settings-window.json"))
}

/// The saved geometry; `None` when there is none or it does not parse.
pub(crate) fn load(path: &Path) -> Option<Geometry> {
    let bytes = dyntray_engine::files::read_regular(path, 4096).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(geometry) => Some(geometry),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "ignoring the saved window place");
            None
        }
    }
}

/// Writes the geometry: temp file, fsync, rename.
pub(crate) fn save(path: &Path, geometry: Geometry) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Err(io::Error::other("the window state file has no folder"));
    };
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(&geometry).map_err(io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The saved geometry fitted to the monitors: on the monitor it overlaps most, no larger
/// than it and no smaller than `min`, and wholly on it. `None` (the default place) when
/// it overlaps no monitor or its numbers are absurd.
pub(crate) fn fit(saved: Geometry, monitors: &[Area], min: (u32, u32)) -> Option<Geometry> {
    const MAX: u32 = 32_768;
    if saved.width == 0 || saved.height == 0 || saved.width > MAX || saved.height > MAX {
        return None;
    }
    let overlap = |m: &Area| -> i64 {
        let left = i64::from(saved.x).max(i64::from(m.x));
        let top = i64::from(saved.y).max(i64::from(m.y));
        let right =
            (i64::from(saved.x) + i64::from(saved.width)).min(i64::from(m.x) + i64::from(m.width));
        let bottom = (i64::from(saved.y) + i64::from(saved.height))
            .min(i64::from(m.y) + i64::from(m.height));
        (right - left).max(0) * (bottom - top).max(0)
    };
    let monitor = monitors
        .iter()
        .filter(|m| overlap(m) > 0)
        .max_by_key(|m| overlap(m))?;
    let width = saved.width.clamp(min.0.min(monitor.width), monitor.width);
    let height = saved
        .height
        .clamp(min.1.min(monitor.height), monitor.height);
    let clamp = |at: i32, start: i32, room: u32, size: u32| -> i32 {
        let last = i64::from(start) + i64::from(room) - i64::from(size);
        let at = i64::from(at).clamp(i64::from(start), last.max(i64::from(start)));
        i32::try_from(at).unwrap_or(start)
    };
    Some(Geometry {
        x: clamp(saved.x, monitor.x, monitor.width, width),
        y: clamp(saved.y, monitor.y, monitor.height, height),
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCREEN: Area = Area {
        x: 0,
        y: 0,
        width: 1280,
        height: 800,
    };

    fn g(x: i32, y: i32, width: u32, height: u32) -> Geometry {
        Geometry {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn a_place_on_the_screen_is_kept() {
        assert_eq!(
            fit(g(100, 50, 700, 500), &[SCREEN], (560, 420)),
            Some(g(100, 50, 700, 500))
        );
    }

    #[test]
    fn off_screen_or_absurd_is_ignored_and_too_large_is_bounded() {
        assert_eq!(fit(g(5000, 5000, 700, 500), &[SCREEN], (560, 420)), None);
        assert_eq!(fit(g(0, 0, 0, 500), &[SCREEN], (560, 420)), None);
        assert_eq!(fit(g(0, 0, u32::MAX, 500), &[SCREEN], (560, 420)), None);
        assert_eq!(fit(g(0, 0, 700, 500), &[], (560, 420)), None);
        // Larger than the monitor: the monitor's size, at its corner.
        assert_eq!(
            fit(g(-100, -100, 3000, 2000), &[SCREEN], (560, 420)),
            Some(g(0, 0, 1280, 800))
        );
        // Half off the right edge: moved on.
        assert_eq!(
            fit(g(1000, 700, 700, 500), &[SCREEN], (560, 420)),
            Some(g(580, 300, 700, 500))
        );
        // Smaller than the window allows: the minimum.
        assert_eq!(
            fit(g(10, 10, 100, 100), &[SCREEN], (560, 420)),
            Some(g(10, 10, 560, 420))
        );
        // Extreme numbers do not overflow.
        assert_eq!(
            fit(g(i32::MAX, i32::MIN, 700, 500), &[SCREEN], (560, 420)),
            None
        );
    }

    #[test]
    fn a_bad_file_is_ignored_and_a_saved_one_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/settings-window.json");
        assert_eq!(load(&path), None);
        save(&path, g(1, 2, 700, 500)).unwrap();
        assert_eq!(load(&path), Some(g(1, 2, 700, 500)));
        std::fs::write(&path, "{\"x\": \"left\"}").unwrap();
        assert_eq!(load(&path), None);
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(load(&path), None);
    }
}
