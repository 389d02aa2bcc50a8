//! The tray icon's pictures, offered every way a StatusNotifierItem host may want them:
//!
//! - `IconPixmap`: the hand-tuned PNGs of the state at every size drawn (16, 22, 24, 32,
//!   48, 64 px), so a host scales nothing it does not have to;
//! - `IconName` + `IconThemePath`: the same PNGs as a hicolor-style icon folder written to
//!   the runtime directory, plus one-colour (symbolic) SVGs. Hosts that look icons up by
//!   name (KDE Plasma, GNOME's AppIndicator extension, xfce4-panel) pick the size they draw
//!   from the folder; GNOME Shell and Ubuntu draw tray icons in one colour, so there the
//!   name is the symbolic one, which they recolour to the panel's text colour.

use std::io;
#[cfg(target_os = "linux")]
use std::io::Write;
#[cfg(target_os = "linux")]
use std::path::Path;

/// Every size a tray icon is drawn at (icons/tray/<state>-<size>.png).
pub(crate) const SIZES: [u32; 6] = [16, 22, 24, 32, 48, 64];

/// The state the tray icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrayState {
    /// Nothing needs the user and nothing was done yet (no names, starting up).
    Idle,
    Ok,
    Updating,
    Attention,
    Paused,
    Offline,
}

macro_rules! pngs {
    ($state:literal) => {
        [
            include_bytes!(concat!("../../icons/tray/", $state, "-16.png")).as_slice(),
            include_bytes!(concat!("../../icons/tray/", $state, "-22.png")).as_slice(),
            include_bytes!(concat!("../../icons/tray/", $state, "-24.png")).as_slice(),
            include_bytes!(concat!("../../icons/tray/", $state, "-32.png")).as_slice(),
            include_bytes!(concat!("../../icons/tray/", $state, "-48.png")).as_slice(),
            include_bytes!(concat!("../../icons/tray/", $state, "-64.png")).as_slice(),
        ]
    };
}

#[cfg(target_os = "linux")]
macro_rules! symbolic {
    ($state:literal) => {
        include_str!(concat!(
            "../../icons/tray/symbolic/dyntray-",
            $state,
            "-symbolic.svg"
        ))
    };
}

impl TrayState {
    #[cfg(target_os = "linux")]
    pub(crate) const ALL: [Self; 6] = [
        Self::Idle,
        Self::Ok,
        Self::Updating,
        Self::Attention,
        Self::Paused,
        Self::Offline,
    ];

    #[cfg(target_os = "linux")]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Ok => "ok",
            Self::Updating => "updating",
            Self::Attention => "attention",
            Self::Paused => "paused",
            Self::Offline => "offline",
        }
    }

    /// The PNGs, in the order of [`SIZES`].
    fn pngs(self) -> [&'static [u8]; 6] {
        match self {
            Self::Idle => pngs!("idle"),
            Self::Ok => pngs!("ok"),
            Self::Updating => pngs!("updating"),
            Self::Attention => pngs!("attention"),
            Self::Paused => pngs!("paused"),
            Self::Offline => pngs!("offline"),
        }
    }

    #[cfg(target_os = "linux")]
    fn symbolic_svg(self) -> &'static str {
        match self {
            Self::Idle => symbolic!("idle"),
            Self::Ok => symbolic!("ok"),
            Self::Updating => symbolic!("updating"),
            Self::Attention => symbolic!("attention"),
            Self::Paused => symbolic!("paused"),
            Self::Offline => symbolic!("offline"),
        }
    }

    #[cfg(target_os = "linux")]
    /// The icon name in the folder [`install_theme`] writes.
    pub(crate) fn icon_name(self, symbolic: bool) -> String {
        if symbolic {
            format!("dyntray-{}-symbolic", self.name())
        } else {
            format!("dyntray-{}", self.name())
        }
    }

    #[cfg(target_os = "linux")]
    /// The state's pixmaps at every size, as SNI wants them (ARGB32, network byte order).
    /// A PNG that does not decode is left out and logged (they are built in and tested).
    pub(crate) fn pixmaps(self) -> Vec<ksni::Icon> {
        self.pngs()
            .iter()
            .filter_map(|png| match decode_png(png) {
                Ok((mut data, width, height)) => {
                    for pixel in data.chunks_exact_mut(4) {
                        pixel.rotate_right(1);
                    }
                    Some(ksni::Icon {
                        width: i32::try_from(width).ok()?,
                        height: i32::try_from(height).ok()?,
                        data,
                    })
                }
                Err(e) => {
                    tracing::error!(error = %e, state = ?self, "tray icon does not decode");
                    None
                }
            })
            .collect()
    }

    /// The state's picture for an icon drawn at `size` px: the smallest drawn at least
    /// that big (Windows scales it down), as RGBA.
    #[cfg(windows)]
    pub(crate) fn rgba(self, size: u32) -> Option<(Vec<u8>, u32, u32)> {
        let index = SIZES
            .iter()
            .position(|&s| s >= size)
            .unwrap_or(SIZES.len() - 1);
        decode_png(self.pngs()[index])
            .map_err(|e| tracing::error!(error = %e, state = ?self, "tray icon does not decode"))
            .ok()
    }
}

fn decode_png(bytes: &[u8]) -> Result<(Vec<u8>, u32, u32), png::DecodingError> {
    let mut decoder = png::Decoder::new(io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info()?;
    let size = reader.output_buffer_size().unwrap_or(0);
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
    buf.truncate(info.buffer_size());
    Ok((buf, info.width, info.height))
}

#[cfg(target_os = "linux")]
/// Whether the panel draws tray icons in one colour: GNOME Shell (with the AppIndicator
/// extension) and Ubuntu's dock do. `DYNTRAY_TRAY_ICONS=symbolic|color` decides instead.
pub(crate) fn wants_symbolic(override_: Option<&str>, desktop: Option<&str>) -> bool {
    match override_ {
        Some("symbolic") => return true,
        Some("color" | "colour") => return false,
        _ => {}
    }
    desktop.is_some_and(|d| {
        d.split(':')
            .any(|d| ["gnome", "unity", "ubuntu"].contains(&d.to_ascii_lowercase().as_str()))
    })
}

#[cfg(target_os = "linux")]
/// Writes the icons as a hicolor-style folder under `dir` (the `IconThemePath`):
/// `hicolor/<n>x<n>/apps/dyntray-<state>.png` and
/// `hicolor/symbolic/apps/dyntray-<state>-symbolic.svg`. Files already right are left
/// alone; others are replaced atomically, as a host may be reading them.
pub(crate) fn install_theme(dir: &Path) -> io::Result<()> {
    let hicolor = dir.join("hicolor");
    write_if_changed(&hicolor.join("index.theme"), index_theme().as_bytes())?;
    for state in TrayState::ALL {
        for (size, png) in SIZES.iter().zip(state.pngs()) {
            let file = hicolor
                .join(format!("{size}x{size}/apps"))
                .join(format!("{}.png", state.icon_name(false)));
            write_if_changed(&file, png)?;
        }
        let file = hicolor
            .join("symbolic/apps")
            .join(format!("{}.svg", state.icon_name(true)));
        write_if_changed(&file, state.symbolic_svg().as_bytes())?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
/// A theme index for hosts that read the folder as a theme of its own (hosts that add it
/// to their search path use the system's hicolor index, which lists the same folders).
fn index_theme() -> String {
    let mut dirs: Vec<String> = SIZES.iter().map(|s| format!("{s}x{s}/apps")).collect();
    dirs.push("symbolic/apps".into());
    let mut out = format!(
        "[Icon Theme]\nName=Hicolor\nComment=Dyntray's tray icons\nDirectories={}\n",
        dirs.join(",")
    );
    for size in SIZES {
        out.push_str(&format!(
            "\n[{size}x{size}/apps]\nSize={size}\nContext=Applications\nType=Fixed\n"
        ));
    }
    out.push_str(
        "\n[symbolic/apps]\nSize=16\nMinSize=8\nMaxSize=512\nContext=Applications\nType=Scalable\n",
    );
    out
}

#[cfg(target_os = "linux")]
fn write_if_changed(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    let Some(parent) = path.parent() else {
        return Err(io::Error::other(format!(
            "{} has no folder",
            path.display()
        )));
    };
    std::fs::create_dir_all(parent)?;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(target_os = "linux")]
/// One sentence for a user whose desktop shows no tray icons: how to get one, in the
/// words of their desktop (`XDG_CURRENT_DESKTOP`).
pub(crate) fn tray_hint(desktop: Option<&str>) -> String {
    let gnome = desktop.is_some_and(|d| {
        d.split(':')
            .any(|d| ["gnome", "ubuntu", "unity"].contains(&d.to_ascii_lowercase().as_str()))
    });
    if gnome {
        "GNOME shows no tray icons by itself: turn on the extension \u{201c}AppIndicator and \
         KStatusNotifierItem Support\u{201d} (in the Extensions app, or from \
         extensions.gnome.org) and Dyntray's icon appears; until then, start Dyntray again \
         to open this window."
            .to_owned()
    } else {
        "Your desktop shows no tray icons right now: add a system tray (status notifier) area \
         to your panel and Dyntray's icon appears; until then, start Dyntray again to open \
         this window."
            .to_owned()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_a_pixmap_at_every_size() {
        for state in TrayState::ALL {
            let pixmaps = state.pixmaps();
            let sizes: Vec<(i32, i32)> = pixmaps.iter().map(|p| (p.width, p.height)).collect();
            let wanted: Vec<(i32, i32)> = SIZES.iter().map(|&s| (s as i32, s as i32)).collect();
            assert_eq!(sizes, wanted, "{state:?}");
            for p in &pixmaps {
                assert_eq!(p.data.len(), (p.width * p.height * 4) as usize, "{state:?}");
            }
        }
    }

    #[test]
    fn the_theme_folder_holds_every_state_and_size() {
        let dir = tempfile::tempdir().unwrap();
        install_theme(dir.path()).unwrap();
        for state in TrayState::ALL {
            for size in SIZES {
                let png = dir.path().join(format!(
                    "hicolor/{size}x{size}/apps/dyntray-{}.png",
                    state.name()
                ));
                let (_, w, h) = decode_png(&std::fs::read(&png).unwrap()).unwrap();
                assert_eq!((w, h), (size, size), "{}", png.display());
            }
            let svg = dir.path().join(format!(
                "hicolor/symbolic/apps/dyntray-{}-symbolic.svg",
                state.name()
            ));
            let text = std::fs::read_to_string(&svg).unwrap();
            // One colour: the panel recolours it.
            assert!(text.contains("#bebebe"), "{}", svg.display());
            assert!(!text.contains("#ffffff") && !text.contains("#3b82f6"));
        }
        // Writing again leaves the files as they are.
        install_theme(dir.path()).unwrap();
    }

    #[test]
    fn symbolic_icons_where_the_panel_is_monochrome() {
        assert!(wants_symbolic(None, Some("GNOME")));
        assert!(wants_symbolic(None, Some("ubuntu:GNOME")));
        assert!(!wants_symbolic(None, Some("KDE")));
        assert!(!wants_symbolic(None, Some("XFCE")));
        assert!(!wants_symbolic(None, None));
        assert!(wants_symbolic(Some("symbolic"), Some("KDE")));
        assert!(!wants_symbolic(Some("color"), Some("GNOME")));
    }

    #[test]
    fn the_hint_names_the_gnome_extension_on_gnome_only() {
        assert!(tray_hint(Some("ubuntu:GNOME")).contains("AppIndicator and KStatusNotifierItem"));
        assert!(!tray_hint(Some("XFCE")).contains("AppIndicator"));
        assert!(tray_hint(None).contains("system tray"));
    }
}
