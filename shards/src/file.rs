//! Files read and written through io_uring on the current shard.
//!
//! A [`LogFile`] is what a storage engine needs from an append-only segment: positional
//! writes and reads, `fdatasync`, truncation, and its size — each an io_uring operation
//! that suspends only the calling task, never the core. It goes through the page cache
//! (glommio's buffered files) rather than `O_DIRECT`: records are not block-aligned, reads
//! of just-written data come back from memory, and durability comes from `fdatasync`,
//! which is what a commit waits for either way.
//!
//! Directory operations (create, list, remove, sync a directory after creating a file in
//! it) are rare and go through `std::fs`.

use std::io;
use std::path::{Path, PathBuf};

use glommio::io::{BufferedFile, OpenOptions};

/// One append-only file owned by the current shard.
pub struct LogFile {
    file: BufferedFile,
    path: PathBuf,
}

fn to_io(error: glommio::GlommioError<()>) -> io::Error {
    match error {
        glommio::GlommioError::IoError(e) => e,
        glommio::GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}

impl LogFile {
    /// Opens `path` for reading and writing, creating it (empty) if it does not exist.
    pub async fn open_or_create(path: &Path) -> io::Result<LogFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .buffered_open(path)
            .await
            .map_err(to_io)?;
        Ok(LogFile {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes all of `bytes` at `offset`, into the page cache. This is a plain `pwrite` on
    /// the core's own thread rather than an io_uring operation: io_uring hands buffered
    /// writes to a kernel worker thread, and that round trip (on top of the fsync's own)
    /// measured as much as the fsync itself, while a page-cache copy takes microseconds.
    /// Durability comes from [`LogFile::sync_data`], which does go through io_uring.
    /// A short write means the disk filled up part way: reported as an error (the caller
    /// truncates back to its last good length), as is a write of nothing.
    pub async fn write_all_at(&self, bytes: Vec<u8>, offset: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.file.as_raw_fd();
        let mut written = 0usize;
        while written < bytes.len() {
            let rest = &bytes[written..];
            let at = offset + written as u64;
            // SAFETY: `rest` is a live, initialised buffer of `rest.len()` bytes and `fd` is
            // this file's open descriptor for the duration of the call.
            let n = unsafe {
                libc::pwrite(
                    fd,
                    rest.as_ptr().cast::<libc::c_void>(),
                    rest.len(),
                    at as libc::off_t,
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "{}: wrote nothing at {at} (no space left on device?)",
                        self.path.display()
                    ),
                ));
            }
            written += n as usize;
        }
        Ok(())
    }

    /// Reads exactly `len` bytes at `offset`.
    pub async fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = offset + out.len() as u64;
            let result = self
                .file
                .read_at(at, len - out.len())
                .await
                .map_err(to_io)?;
            if result.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: {len} bytes at {offset} past the end",
                        self.path.display()
                    ),
                ));
            }
            out.extend_from_slice(&result);
        }
        Ok(out)
    }

    /// The whole file, read in chunks of `chunk_bytes`.
    pub async fn read_all(&self, chunk_bytes: usize) -> io::Result<Vec<u8>> {
        let size = self.size().await?;
        let mut out = Vec::with_capacity(size as usize);
        while (out.len() as u64) < size {
            let want = chunk_bytes.min((size - out.len() as u64) as usize);
            let result = self
                .file
                .read_at(out.len() as u64, want)
                .await
                .map_err(to_io)?;
            if result.is_empty() {
                break;
            }
            out.extend_from_slice(&result);
        }
        Ok(out)
    }

    pub async fn sync_data(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    pub async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }

    pub async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    pub async fn close(self) -> io::Result<()> {
        self.file.close().await.map_err(to_io)
    }
}

/// Makes a directory entry change (a file created, renamed or removed in `dir`) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Creates `dir` and any missing parents, and makes each new directory's name durable
/// (an fsync of its parent): `create_dir_all` alone leaves a new directory, and so every
/// file in it, to vanish on power loss even after the files themselves were fsync'd.
pub fn create_dir_all_durable(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_all_durable(parent)?;
    }
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Removes `dir` with everything in it, durably (an fsync of its parent), so a deleted
/// stream or consumer does not come back after power loss. A missing `dir` is not an error.
pub fn remove_dir_all_durable(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => sync_dir(parent),
        None => Ok(()),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync'd, renamed over `path`,
/// and the directory fsync'd. For small metadata files, written rarely.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no directory"))?;
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}
