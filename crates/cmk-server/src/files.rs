//! Files in the data folder that hold secrets.

use std::io::Write as _;
use std::path::Path;

use crate::ServerError;

/// Writes `contents` to `path` readable by the owner only (0600), replacing the file atomically and durably.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), ServerError> {
    let fail = |e: std::io::Error| ServerError::Io(format!("writing {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    Ok(())
}

/// Creates `dir` (and parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    let fail = |e: std::io::Error| ServerError::Io(format!("creating {}: {e}", dir.display()));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(fail)
}
