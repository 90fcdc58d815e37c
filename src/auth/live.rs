//! The authentication configuration in force, replaceable at runtime (config reload,
//! accounts resolved later).
//!
//! Why an `RwLock<Arc<Auth>>` plus a version counter rather than `ArcSwap`: the cores never
//! read the lock on the per-message path. Each core keeps its own copy of the current
//! `Arc<Auth>` (see `ShardState::auth`) and compares [`LiveAuth::version`] (one atomic load
//! of a cache line that only changes on an install) with the version it holds; only when
//! they differ does it take the read lock, once. Monitoring threads take the read lock per
//! request, which is uncontended. So `ArcSwap` would buy nothing measurable, and this
//! needs no extra dependency.
//!
//! Guarantees every version keeps (checked by [`LiveAuth::update`]): account ids are
//! append-only. An account keeps its id in every later version, a new account gets the
//! next id, a removed one stays as a tombstone, and no id is ever given to another account.
//! That is what lets a core index its per-account state by id and only ever grow it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::Auth;

pub struct LiveAuth {
    current: RwLock<Arc<Auth>>,
    /// Bumped after each install; cores compare it with the version they applied.
    version: AtomicU64,
    /// Serializes read-modify-write updates, so two updaters (a reload and an account
    /// lookup) can not each build on the same version and lose the other's change.
    updating: Mutex<()>,
}

impl LiveAuth {
    pub fn new(auth: Auth) -> LiveAuth {
        LiveAuth {
            current: RwLock::new(Arc::new(auth)),
            version: AtomicU64::new(1),
            updating: Mutex::new(()),
        }
    }

    /// The current version's number. Read it *before* [`LiveAuth::load`]: the loaded
    /// configuration is then at least that version.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The current configuration.
    pub fn load(&self) -> Arc<Auth> {
        // A poisoned lock still holds a complete `Arc` (it is only ever replaced whole).
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Builds the next version from the current one with `next` and installs it. Returns
    /// the new version number. Nothing changes if `next` fails or if the result does not
    /// keep the current account ids. Every core applies the new version (re-checking its
    /// connections) at its next control tick, or earlier when one of its clients
    /// publishes or connects.
    pub fn update(&self, next: impl FnOnce(&Auth) -> Result<Auth, String>) -> Result<u64, String> {
        let _updating = self
            .updating
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.load();
        let auth = next(&current)?;
        if !auth.keeps_ids_of(&current) {
            return Err("a new authentication configuration must keep every account id".into());
        }
        let mut slot = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *slot = Arc::new(auth);
        drop(slot);
        Ok(self.version.fetch_add(1, Ordering::AcqRel) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::LiveAuth;
    use crate::auth::Auth;
    use crate::config::{parse_str, Options};

    fn options(config: &str) -> Options {
        let mut options = Options::default();
        let map = parse_str(config, "t.conf").unwrap();
        options.apply_config(&map).unwrap();
        options
    }

    #[test]
    fn account_ids_are_kept_appended_and_never_reused() {
        let first = options("accounts { A {}, B {} }");
        let live = LiveAuth::new(Auth::from_options(&first).unwrap());
        let v1 = live.load();
        let (a, b, sys) = (
            v1.account_id("A").unwrap(),
            v1.account_id("B").unwrap(),
            v1.system_account(),
        );
        // B removed, C added: A and $SYS keep their ids, C gets a new one, B is a tombstone.
        let second = options("accounts { C {}, A {} }");
        let version = live.update(|cur| Auth::reloaded(&second, cur)).unwrap();
        assert_eq!(version, 2);
        assert_eq!(live.version(), 2);
        let v2 = live.load();
        assert_eq!(v2.account_id("A"), Some(a));
        assert_eq!(v2.system_account(), sys);
        assert_eq!(v2.account_id("B"), None);
        assert!(v2.is_tombstone(b));
        let c = v2.account_id("C").unwrap();
        assert_eq!(c as usize, v1.account_count());
        assert_eq!(v2.account_count(), v1.account_count() + 1);
        // B comes back under its old id; D added at runtime gets the next one.
        let third = options("accounts { A {}, B {}, C {} }");
        live.update(|cur| Auth::reloaded(&third, cur)).unwrap();
        live.update(|cur| {
            let mut next = cur.clone();
            next.add_account("D")?;
            Ok(next)
        })
        .unwrap();
        let v4 = live.load();
        assert_eq!(v4.account_id("B"), Some(b));
        assert_eq!(v4.account_id("C"), Some(c));
        assert_eq!(v4.account_id("D"), Some(c + 1));
        // A version built from scratch would renumber: refused, nothing changes.
        let fresh = options("accounts { C {} }");
        assert!(live.update(|_| Auth::from_options(&fresh)).is_err());
        assert!(live.update(|_| Err("bad".to_string())).is_err());
        assert_eq!(live.version(), 4);
    }
}
