//! A file stream's segment files: the I/O half of the store (the decisions are in
//! [`super::store`], which says what to append, when to start a segment and which
//! segments are dead).
//!
//! ```text
//! <store_dir>/jetstream/$G/streams/<stream>/
//!     meta.json                 stream config and creation time (written atomically)
//!     synced                    the synced point (see `store::synced`), written in place
//!     msgs/00000000000000000001.seg
//!     msgs/00000000000000000002.seg   ... append-only, one active (the highest id)
//! ```
//!
//! Every segment stays open while it exists (reads of evicted bodies go to it). Appends go
//! to the active segment at the length the store tracks; `sync` makes them durable with one
//! `fdatasync` per segment written since the last sync, which is what group commit waits
//! for.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use shards::file::{sync_dir, LogFile};

use super::store::{SyncedPoint, SyncedPointError, SYNCED_POINT_BYTES};

use crate::limits::JS_RECOVERY_READ_CHUNK_BYTES;

const SEGMENT_SUFFIX: &str = "seg";
/// The synced-point file in a stream's directory.
pub const SYNCED_FILE: &str = "synced";

pub struct SegmentFiles {
    dir: PathBuf,
    files: BTreeMap<u64, LogFile>,
    /// Segments written since the last sync.
    dirty: Vec<u64>,
    /// A segment was created or removed since the last sync (the directory needs an fsync).
    dir_dirty: bool,
}

/// One segment's bytes as found on disk at start.
pub struct FoundSegment {
    pub id: u64,
    pub bytes: Vec<u8>,
}

impl SegmentFiles {
    fn path_of(dir: &Path, id: u64) -> PathBuf {
        dir.join(format!("{id:020}.{SEGMENT_SUFFIX}"))
    }

    /// Opens (creating if needed) the segment directory `dir` and reads every segment in
    /// id order, for recovery.
    pub async fn open(dir: &Path) -> io::Result<(SegmentFiles, Vec<FoundSegment>)> {
        shards::file::create_dir_all_durable(dir)?;
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(stem) = name.strip_suffix(&format!(".{SEGMENT_SUFFIX}")) else {
                continue;
            };
            if let Ok(id) = stem.parse::<u64>() {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let mut files = BTreeMap::new();
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let file = LogFile::open_or_create(&Self::path_of(dir, id)).await?;
            let bytes = file.read_all(JS_RECOVERY_READ_CHUNK_BYTES).await?;
            found.push(FoundSegment { id, bytes });
            files.insert(id, file);
        }
        Ok((
            SegmentFiles {
                dir: dir.to_path_buf(),
                files,
                dirty: Vec::new(),
                dir_dirty: false,
            },
            found,
        ))
    }

    /// Creates segment `id` (empty). Its directory entry is made durable by the next sync.
    pub async fn create(&mut self, id: u64) -> io::Result<()> {
        if self.files.contains_key(&id) {
            return Ok(());
        }
        let file = LogFile::open_or_create(&Self::path_of(&self.dir, id)).await?;
        file.truncate(0).await?;
        self.files.insert(id, file);
        self.dir_dirty = true;
        Ok(())
    }

    pub async fn write(&mut self, id: u64, offset: u64, bytes: Vec<u8>) -> io::Result<()> {
        if !self.files.contains_key(&id) {
            self.create(id).await?;
        }
        let file = self.files.get(&id).ok_or_else(|| missing(id))?;
        file.write_all_at(bytes, offset).await?;
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
        Ok(())
    }

    /// Cuts segment `id` back to `len` bytes (a torn tail at recovery, or a failed write).
    pub async fn truncate(&mut self, id: u64, len: u64) -> io::Result<()> {
        let file = self.files.get(&id).ok_or_else(|| missing(id))?;
        file.truncate(len).await?;
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
        Ok(())
    }

    pub async fn remove(&mut self, id: u64) -> io::Result<()> {
        if let Some(file) = self.files.remove(&id) {
            let path = file.path().to_path_buf();
            let _ = file.close().await;
            std::fs::remove_file(&path)?;
            self.dirty.retain(|d| *d != id);
            self.dir_dirty = true;
        }
        Ok(())
    }

    /// Makes every write since the last sync durable.
    pub async fn sync(&mut self) -> io::Result<()> {
        // Timed for monitoring when there is something to make durable.
        let started = self.has_unsynced().then(std::time::Instant::now);
        for id in std::mem::take(&mut self.dirty) {
            if let Some(file) = self.files.get(&id) {
                if let Err(error) = file.sync_data().await {
                    // Still dirty: the caller's recovery truncates and retries.
                    self.dirty.push(id);
                    return Err(error);
                }
            }
        }
        if std::mem::take(&mut self.dir_dirty) {
            if let Err(error) = sync_dir(&self.dir) {
                self.dir_dirty = true;
                return Err(error);
            }
        }
        if let Some(started) = started {
            super::monitor::record_fsync(started.elapsed());
        }
        Ok(())
    }

    pub fn has_unsynced(&self) -> bool {
        !self.dirty.is_empty() || self.dir_dirty
    }

    pub async fn read(&self, id: u64, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let file = self.files.get(&id).ok_or_else(|| missing(id))?;
        file.read_exact_at(offset, len).await
    }

    /// Closes every file and removes the directory (stream deleted).
    pub async fn destroy(self) -> io::Result<()> {
        for (_, file) in self.files {
            let _ = file.close().await;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Closes every file (shutdown).
    pub async fn close(self) {
        for (_, file) in self.files {
            let _ = file.close().await;
        }
    }
}

fn missing(id: u64) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("segment {id} is not open"))
}

/// A stream's synced-point file (see `store::synced`), kept open.
pub struct SyncedFile {
    file: LogFile,
}

/// What a synced-point file held at start.
pub type SyncedRead = Result<Option<SyncedPoint>, SyncedPointError>;

impl SyncedFile {
    /// Opens the synced-point file in the stream directory `dir`, creating it durably
    /// (empty, which reads as "nothing recorded", as for stores from before it existed).
    pub async fn open(dir: &Path) -> io::Result<(SyncedFile, SyncedRead)> {
        let path = dir.join(SYNCED_FILE);
        if !path.exists() {
            std::fs::File::create(&path)?.sync_all()?;
            sync_dir(dir)?;
        }
        let file = LogFile::open_or_create(&path).await?;
        let bytes = file.read_all(SYNCED_POINT_BYTES).await?;
        Ok((SyncedFile { file }, SyncedPoint::decode(&bytes)))
    }

    /// Overwrites the record with `point` and makes it durable.
    pub async fn record(&self, point: SyncedPoint) -> io::Result<()> {
        self.file.write_all_at(point.encode().to_vec(), 0).await?;
        self.file.sync_data().await
    }

    /// [`SyncedFile::record`] without the reactor, for the shutdown hook (which cannot
    /// await): a blocking write and fdatasync, once, as the process stops.
    pub fn record_blocking(&self, point: SyncedPoint) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.file.path())?;
        file.write_all_at(&point.encode(), 0)?;
        file.sync_data()
    }

    pub async fn close(self) {
        let _ = self.file.close().await;
    }
}
