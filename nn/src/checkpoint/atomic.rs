//! [`write_atomic`]: replace a file all at once or not at all.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::CheckpointError;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `path` atomically: `write` fills a fresh temporary file in the same directory
/// (`.<name>.tmp-<pid>-<n>`), which is flushed, `fsync`ed and then renamed over `path`; the
/// directory is `fsync`ed after the rename (on Unix) so the rename itself is durable. Readers
/// see the old file or the new one, never a mix; if anything fails, the temporary file is
/// removed (also if `write` panics) and `path` is untouched.
///
/// # Errors
/// [`CheckpointError::Io`] naming `path` and the failing step, or whatever `write` returns.
pub fn write_atomic(
    path: impl AsRef<Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<(), CheckpointError>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let io = |action: &'static str| move |source| CheckpointError::Io { path: path.to_path_buf(), action, source };
    let name = path.file_name().ok_or_else(|| {
        io("create temporary file")(std::io::Error::new(std::io::ErrorKind::InvalidInput, "path has no file name"))
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let file = OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(io("create temporary file"))?;
    // Removes the temporary file on every exit that did not rename it, unwinding included.
    let guard = RemoveOnDrop(Some(tmp.clone()));
    let result = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| io("write")(e.into_error()))?;
        file.sync_all().map_err(io("fsync"))?;
        drop(file);
        fs::rename(&tmp, path).map_err(io("rename"))
    })();
    result?;
    guard.disarm();
    // Durability of the rename; failure here does not undo a completed replace, and some
    // filesystems refuse to open directories, so it is best effort.
    #[cfg(unix)]
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes the file at the path it holds when dropped, unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}
