//! Where cmk keeps its files, by the XDG base directory rules.

use std::path::{Path, PathBuf};

/// `$var/cmk` when `var` is set and not empty, else `$HOME/{fallback}/cmk`.
fn xdg(var: &str, fallback: &str) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(fallback)))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("cmk")
}

/// The development server's data folder: `$XDG_DATA_HOME/cmk`, usually `~/.local/share/cmk`.
pub fn data_dir() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share")
}

/// The client's config folder: `$CMK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/cmk`, usually `~/.config/cmk`.
pub fn config_dir() -> PathBuf {
    match std::env::var_os("CMK_CONFIG_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => xdg("XDG_CONFIG_HOME", ".config"),
    }
}
