//! powerfs: a FUSE filesystem that can lose power.
//!
//! Everything a process writes is visible at once (reads see the latest bytes, as in the
//! page cache), but only what was made durable survives [`PowerFs::cut_power`]:
//!
//! ```text
//!   write/truncate ──► current bytes ──fsync/fdatasync──► durable bytes
//!   create/mkdir/unlink/rename ──► current entries ──fsync(dir)──► durable entries
//!
//!   cut_power(torn = 0.0): current := durable, for every file and directory
//!   cut_power(torn = q)  : each unsynced 4 KiB page survives with probability q, each
//!                          directory's unsynced entries survive (all or none) with q
//! ```
//!
//! The model is POSIX's promise and no more: `fsync` on a file makes its data and size
//! durable but not its name (a new file's entry needs an `fsync` of its directory, as do
//! a rename and an unlink); a directory created with `mkdir` exists after a crash only if
//! its parent was synced after. Pages that survive a torn cut past the durable size leave
//! zeros in the unsynced pages between (what ext4 and XFS show after such a crash).
//!
//! The state lives in the test process, shared by every mount of one [`PowerFs`]: the
//! test cuts the power (every operation then fails with EIO, as a dead disk would), kills
//! the server, unmounts, and mounts again to "reboot". The stores in tests are a few MB.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use rand::Rng;

/// The unit in which unsynced writes survive or vanish at a torn power cut.
pub const PAGE_BYTES: usize = 4096;
/// Attributes and entries are not cached by the kernel: every lookup sees the model.
const TTL: Duration = Duration::ZERO;
const ROOT_INO: u64 = 1;

#[derive(Default)]
struct FileNode {
    current: Vec<u8>,
    durable: Vec<u8>,
    /// Pages written (or cut by a truncate) since the last sync.
    dirty_pages: BTreeSet<u64>,
}

#[derive(Default)]
struct DirNode {
    current: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
}

enum Node {
    File(FileNode),
    Dir(DirNode),
}

/// Counters a test can print: how much the cut threw away.
#[derive(Clone, Copy, Debug, Default)]
pub struct CutReport {
    pub pages_dropped: u64,
    pub pages_torn_kept: u64,
    pub dirs_reverted: u64,
    /// Inodes no surviving name reaches (files never named durably, replaced by a
    /// rename, or unlinked).
    pub inodes_lost: u64,
}

struct Model {
    nodes: BTreeMap<u64, Node>,
    next_ino: u64,
    /// Power is off: every operation fails until the next mount.
    dead: bool,
    /// Power goes off right after this many more writes, so a cut lands between a write
    /// and its fsync however short that window is.
    cut_after_writes: Option<u64>,
    fsyncs: u64,
}

impl Model {
    fn new() -> Model {
        let mut nodes = BTreeMap::new();
        nodes.insert(ROOT_INO, Node::Dir(DirNode::default()));
        Model {
            nodes,
            next_ino: ROOT_INO + 1,
            dead: false,
            cut_after_writes: None,
            fsyncs: 0,
        }
    }

    /// Counts one write towards an armed cut.
    fn written(&mut self) {
        if let Some(left) = self.cut_after_writes.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.dead = true;
                self.cut_after_writes = None;
            }
        }
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let (kind, size, perm, nlink) = match self.nodes.get(&ino)? {
            Node::File(f) => (FileType::RegularFile, f.current.len() as u64, 0o644, 1),
            Node::Dir(_) => (FileType::Directory, 0, 0o755, 2),
        };
        let epoch = SystemTime::UNIX_EPOCH;
        Some(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: epoch,
            mtime: epoch,
            ctime: epoch,
            crtime: epoch,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: PAGE_BYTES as u32,
            flags: 0,
        })
    }

    fn dir(&mut self, ino: u64) -> Result<&mut DirNode, i32> {
        match self.nodes.get_mut(&ino) {
            Some(Node::Dir(d)) => Ok(d),
            Some(Node::File(_)) => Err(libc::ENOTDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn file(&mut self, ino: u64) -> Result<&mut FileNode, i32> {
        match self.nodes.get_mut(&ino) {
            Some(Node::File(f)) => Ok(f),
            Some(Node::Dir(_)) => Err(libc::EISDIR),
            None => Err(libc::ENOENT),
        }
    }

    fn add_entry(&mut self, parent: u64, name: &OsStr, node: Node) -> Result<u64, i32> {
        if self.dir(parent)?.current.contains_key(name) {
            return Err(libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.nodes.insert(ino, node);
        self.dir(parent)?.current.insert(name.to_owned(), ino);
        Ok(ino)
    }

    fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), i32> {
        let file = self.file(ino)?;
        let end = offset as usize + data.len();
        let old_len = file.current.len();
        if end > old_len {
            file.current.resize(end, 0);
        }
        file.current[offset as usize..end].copy_from_slice(data);
        let first = (offset as usize).min(old_len) / PAGE_BYTES;
        let last = end.max(1).saturating_sub(1) / PAGE_BYTES;
        file.dirty_pages.extend(first as u64..=last as u64);
        self.written();
        Ok(())
    }

    fn truncate(&mut self, ino: u64, len: u64) -> Result<(), i32> {
        let file = self.file(ino)?;
        let len = len as usize;
        let old_len = file.current.len();
        if len == old_len {
            return Ok(());
        }
        file.current.resize(len, 0);
        let (low, high) = (len.min(old_len), len.max(old_len));
        file.dirty_pages
            .extend((low / PAGE_BYTES) as u64..=(high.saturating_sub(1) / PAGE_BYTES) as u64);
        Ok(())
    }

    fn sync_file(&mut self, ino: u64) -> Result<(), i32> {
        self.fsyncs += 1;
        let file = self.file(ino)?;
        let len = file.current.len();
        file.durable.resize(len, 0);
        for page in std::mem::take(&mut file.dirty_pages) {
            let start = page as usize * PAGE_BYTES;
            if start >= len {
                continue;
            }
            let end = (start + PAGE_BYTES).min(len);
            let (durable, current) = (&mut file.durable, &file.current);
            durable[start..end].copy_from_slice(&current[start..end]);
        }
        Ok(())
    }

    fn sync_dir(&mut self, ino: u64) -> Result<(), i32> {
        self.fsyncs += 1;
        let dir = self.dir(ino)?;
        dir.durable = dir.current.clone();
        Ok(())
    }

    /// Drops what was not durable (keeping each unsynced page or directory with
    /// probability `torn`), then forgets inodes no durable name reaches.
    fn cut(&mut self, torn: f64, rng: &mut impl Rng) -> CutReport {
        let mut report = CutReport::default();
        for node in self.nodes.values_mut() {
            match node {
                Node::File(file) => {
                    let mut survived = file.durable.clone();
                    for page in std::mem::take(&mut file.dirty_pages) {
                        let start = page as usize * PAGE_BYTES;
                        if start >= file.current.len() {
                            continue;
                        }
                        if torn > 0.0 && rng.gen_bool(torn) {
                            let end = (start + PAGE_BYTES).min(file.current.len());
                            if survived.len() < end {
                                survived.resize(end, 0);
                            }
                            survived[start..end].copy_from_slice(&file.current[start..end]);
                            report.pages_torn_kept += 1;
                        } else {
                            report.pages_dropped += 1;
                        }
                    }
                    file.current = survived.clone();
                    file.durable = survived;
                }
                Node::Dir(dir) => {
                    if dir.current != dir.durable {
                        if torn > 0.0 && rng.gen_bool(torn) {
                            dir.durable = dir.current.clone();
                        } else {
                            dir.current = dir.durable.clone();
                            report.dirs_reverted += 1;
                        }
                    }
                }
            }
        }
        // Whatever no surviving name reaches is gone.
        let mut reachable = HashSet::new();
        let mut stack = vec![ROOT_INO];
        while let Some(ino) = stack.pop() {
            if !reachable.insert(ino) {
                continue;
            }
            if let Some(Node::Dir(dir)) = self.nodes.get(&ino) {
                stack.extend(dir.current.values().copied());
            }
        }
        let before = self.nodes.len();
        self.nodes.retain(|ino, _| reachable.contains(ino));
        report.inodes_lost = (before - self.nodes.len()) as u64;
        report
    }

    /// The current bytes of the file at `path` (relative to the mount's root).
    fn read_path(&self, path: &Path) -> Option<Vec<u8>> {
        let mut ino = ROOT_INO;
        for part in path.components() {
            let Node::Dir(dir) = self.nodes.get(&ino)? else {
                return None;
            };
            ino = *dir.current.get(part.as_os_str())?;
        }
        match self.nodes.get(&ino)? {
            Node::File(f) => Some(f.current.clone()),
            Node::Dir(_) => None,
        }
    }
}

/// One filesystem's state, mountable again and again at one place.
pub struct PowerFs {
    model: Arc<Mutex<Model>>,
    mountpoint: PathBuf,
    session: Option<fuser::BackgroundSession>,
}

impl PowerFs {
    /// Why the test cannot run here, if it cannot (no /dev/fuse, not root).
    pub fn unavailable() -> Option<String> {
        if !Path::new("/dev/fuse").exists() {
            return Some("no /dev/fuse (load the fuse module, or run where FUSE exists)".into());
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some(
                "mounting FUSE without fusermount needs root (or `apt-get install fuse3`)".into(),
            );
        }
        None
    }

    /// An empty filesystem, mounted at `mountpoint` (which must exist).
    pub fn mount(mountpoint: &Path) -> std::io::Result<PowerFs> {
        let mut fs = PowerFs {
            model: Arc::new(Mutex::new(Model::new())),
            mountpoint: mountpoint.to_path_buf(),
            session: None,
        };
        fs.remount()?;
        Ok(fs)
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remount(&mut self) -> std::io::Result<()> {
        self.model().dead = false;
        self.model().cut_after_writes = None;
        let driver = Driver {
            model: self.model.clone(),
        };
        let options = [
            MountOption::FSName("powerfs".into()),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        self.session = Some(fuser::spawn_mount2(driver, &self.mountpoint, &options)?);
        Ok(())
    }

    /// The power goes off now: from here every operation fails with EIO, and nothing that
    /// was not durable at this instant survives (but a torn fraction of it).
    pub fn cut_power(&self) {
        self.model().dead = true;
    }

    /// Arms a cut: the power goes off right after the next `writes` writes.
    pub fn cut_power_after(&self, writes: u64) {
        self.model().cut_after_writes = Some(writes.max(1));
    }

    /// Whether the power is off.
    pub fn is_dead(&self) -> bool {
        self.model().dead
    }

    /// After the cut (and after the processes using the mount are gone): unmounts, drops
    /// what was not durable, and mounts again.
    pub fn reboot(&mut self, torn: f64, rng: &mut impl Rng) -> std::io::Result<CutReport> {
        self.model().dead = true;
        if let Some(session) = self.session.take() {
            session.join();
        }
        let report = self.model().cut(torn, rng);
        self.remount()?;
        Ok(report)
    }

    pub fn fsyncs(&self) -> u64 {
        self.model().fsyncs
    }

    /// The current bytes of a file, for tests that damage files on purpose.
    pub fn read(&self, relative: &Path) -> Option<Vec<u8>> {
        self.model().read_path(relative)
    }
}

impl Drop for PowerFs {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.join();
        }
    }
}

/// The FUSE side: each request is applied to the shared model.
struct Driver {
    model: Arc<Mutex<Model>>,
}

impl Driver {
    /// The model, or EIO when the power is off.
    fn live(&self) -> Result<MutexGuard<'_, Model>, i32> {
        let model = self.model.lock().unwrap_or_else(|e| e.into_inner());
        if model.dead {
            Err(libc::EIO)
        } else {
            Ok(model)
        }
    }
}

impl Filesystem for Driver {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let result = self.live().and_then(|mut m| {
            let ino = *m.dir(parent)?.current.get(name).ok_or(libc::ENOENT)?;
            m.attr(ino).ok_or(libc::ENOENT)
        });
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.live().and_then(|m| m.attr(ino).ok_or(libc::ENOENT)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let result = self.live().and_then(|mut m| {
            if let Some(size) = size {
                m.truncate(ino, size)?;
            }
            m.attr(ino).ok_or(libc::ENOENT)
        });
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let result = self.live().and_then(|mut m| {
            let ino = m.add_entry(parent, name, Node::Dir(DirNode::default()))?;
            m.attr(ino).ok_or(libc::ENOENT)
        });
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let result = self.live().and_then(|mut m| {
            let existing = m.dir(parent)?.current.get(name).copied();
            let ino = match existing {
                Some(_) if flags & libc::O_EXCL != 0 => return Err(libc::EEXIST),
                Some(ino) => {
                    if flags & libc::O_TRUNC != 0 {
                        m.truncate(ino, 0)?;
                    }
                    ino
                }
                None => m.add_entry(parent, name, Node::File(FileNode::default()))?,
            };
            m.attr(ino).ok_or(libc::ENOENT)
        });
        match result {
            Ok(attr) => reply.created(&TTL, &attr, 0, attr.ino, 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        // The inode stays (an open descriptor may still use it) until a cut forgets it.
        let result = self.live().and_then(|mut m| {
            let dir = m.dir(parent)?;
            let ino = *dir.current.get(name).ok_or(libc::ENOENT)?;
            if let Some(Node::Dir(_)) = m.nodes.get(&ino) {
                return Err(libc::EISDIR);
            }
            m.dir(parent)?.current.remove(name);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let result = self.live().and_then(|mut m| {
            let ino = *m.dir(parent)?.current.get(name).ok_or(libc::ENOENT)?;
            if !m.dir(ino)?.current.is_empty() {
                return Err(libc::ENOTEMPTY);
            }
            m.dir(parent)?.current.remove(name);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let result = self.live().and_then(|mut m| {
            if flags != 0 {
                return Err(libc::EINVAL);
            }
            let ino = *m.dir(parent)?.current.get(name).ok_or(libc::ENOENT)?;
            if let Some(&target) = m.dir(newparent)?.current.get(newname) {
                if let Some(Node::Dir(d)) = m.nodes.get(&target) {
                    if !d.current.is_empty() {
                        return Err(libc::ENOTEMPTY);
                    }
                }
            }
            m.dir(parent)?.current.remove(name);
            m.dir(newparent)?.current.insert(newname.to_owned(), ino);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let result = self.live().and_then(|mut m| {
            if flags & libc::O_TRUNC != 0 {
                m.truncate(ino, 0)?;
            }
            m.attr(ino).ok_or(libc::ENOENT)
        });
        match result {
            Ok(_) => reply.opened(ino, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let result = self.live().and_then(|mut m| {
            let file = m.file(ino)?;
            let start = (offset.max(0) as usize).min(file.current.len());
            let end = (start + size as usize).min(file.current.len());
            Ok(file.current[start..end].to_vec())
        });
        match result {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        match self
            .live()
            .and_then(|mut m| m.write(ino, offset.max(0) as u64, data))
        {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        // close() makes nothing durable.
        match self.live() {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        match self.live().and_then(|mut m| m.sync_file(ino)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.live().and_then(|mut m| m.dir(ino).map(|_| ())) {
            Ok(()) => reply.opened(ino, 0),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let result = self.live().and_then(|mut m| {
            let entries: Vec<(OsString, u64)> = m
                .dir(ino)?
                .current
                .iter()
                .map(|(n, i)| (n.clone(), *i))
                .collect();
            let mut listed = vec![
                (OsString::from("."), ino, FileType::Directory),
                (OsString::from(".."), ROOT_INO, FileType::Directory),
            ];
            for (name, child) in entries {
                let kind = match m.nodes.get(&child) {
                    Some(Node::Dir(_)) => FileType::Directory,
                    _ => FileType::RegularFile,
                };
                listed.push((name, child, kind));
            }
            Ok(listed)
        });
        match result {
            Ok(listed) => {
                for (i, (name, child, kind)) in listed.iter().enumerate().skip(offset as usize) {
                    if reply.add(*child, i as i64 + 1, *kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.live().and_then(|mut m| m.sync_dir(ino)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let blocks = 1 << 20;
        reply.statfs(
            blocks,
            blocks,
            blocks,
            1 << 20,
            1 << 20,
            PAGE_BYTES as u32,
            255,
            PAGE_BYTES as u32,
        );
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Only plain preallocation (which may grow the file); punching holes is not modelled.
        let result = self.live().and_then(|mut m| {
            if mode & !libc::FALLOC_FL_KEEP_SIZE != 0 {
                return Err(libc::EOPNOTSUPP);
            }
            let end = (offset + length).max(0) as u64;
            let len = m.file(ino)?.current.len() as u64;
            if mode & libc::FALLOC_FL_KEEP_SIZE == 0 && end > len {
                m.truncate(ino, end)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::SmallRng {
        rand::rngs::SmallRng::seed_from_u64(7)
    }

    #[test]
    fn unsynced_writes_and_names_vanish_synced_ones_stay() {
        let mut m = Model::new();
        let dir = m
            .add_entry(ROOT_INO, OsStr::new("d"), Node::Dir(DirNode::default()))
            .unwrap();
        m.sync_dir(ROOT_INO).unwrap();
        let f = m
            .add_entry(dir, OsStr::new("f"), Node::File(FileNode::default()))
            .unwrap();
        m.write(f, 0, b"synced").unwrap();
        m.sync_file(f).unwrap();
        m.write(f, 6, b"-lost").unwrap();
        // The file's data is durable, its name is not yet.
        let report = m.cut(0.0, &mut rng());
        assert_eq!(report.inodes_lost, 1);
        assert_eq!(m.read_path(Path::new("d/f")), None);

        let f = m
            .add_entry(dir, OsStr::new("f"), Node::File(FileNode::default()))
            .unwrap();
        m.write(f, 0, b"synced").unwrap();
        m.sync_file(f).unwrap();
        m.sync_dir(dir).unwrap();
        m.write(f, 6, &[b'x'; 3 * PAGE_BYTES]).unwrap();
        m.cut(0.0, &mut rng());
        assert_eq!(m.read_path(Path::new("d/f")).unwrap(), b"synced");
    }

    #[test]
    fn a_torn_cut_keeps_whole_pages_and_zeros_between() {
        let mut m = Model::new();
        let f = m
            .add_entry(ROOT_INO, OsStr::new("f"), Node::File(FileNode::default()))
            .unwrap();
        m.sync_dir(ROOT_INO).unwrap();
        m.write(f, 0, &[1u8; 10 * PAGE_BYTES]).unwrap();
        let report = m.cut(0.5, &mut rng());
        assert_eq!(report.pages_dropped + report.pages_torn_kept, 10);
        assert!(
            report.pages_torn_kept > 0 && report.pages_dropped > 0,
            "{report:?}"
        );
        let bytes = m.read_path(Path::new("f")).unwrap();
        for page in bytes.chunks(PAGE_BYTES) {
            assert!(page.iter().all(|b| *b == 1) || page.iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn a_rename_is_durable_only_after_the_directory_sync() {
        let mut m = Model::new();
        let f = m
            .add_entry(
                ROOT_INO,
                OsStr::new("meta.json"),
                Node::File(FileNode::default()),
            )
            .unwrap();
        m.write(f, 0, b"old").unwrap();
        m.sync_file(f).unwrap();
        m.sync_dir(ROOT_INO).unwrap();
        let tmp = m
            .add_entry(
                ROOT_INO,
                OsStr::new("meta.tmp"),
                Node::File(FileNode::default()),
            )
            .unwrap();
        m.write(tmp, 0, b"new").unwrap();
        m.sync_file(tmp).unwrap();
        let root = m.dir(ROOT_INO).unwrap();
        root.current.remove(OsStr::new("meta.tmp"));
        root.current.insert("meta.json".into(), tmp);
        m.cut(0.0, &mut rng());
        assert_eq!(m.read_path(Path::new("meta.json")).unwrap(), b"old");
    }
}
