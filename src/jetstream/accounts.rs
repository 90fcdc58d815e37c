//! JetStream per account: each JetStream-enabled account has its own streams, its own
//! `$JS.API.>` (in its own subject space), its own directory and its own limits and
//! counters, as nats-server's `jsAccount`.
//!
//! Which accounts have JetStream (nats-server 2.9.10's rule, checked against it):
//! - no account is configured (besides the system account): `$G`, without limits;
//! - otherwise exactly the accounts with a `jetstream` block (`enabled` or limits); `$G`
//!   and the others answer every API request with 10039 "JetStream not enabled for
//!   account";
//! - operator mode: the accounts whose JWT grants JetStream (memory or disk storage not
//!   0), with the JWT's limits, named by their public key; never the system account.
//!
//! The rule is read from each authentication version ([`wanted`],
//! `Auth::jetstream_accounts`): the meta core follows every new version (a reload, an
//! account JWT added by `CLAIMS.UPDATE` or looked up at login) as nats-server's
//! `configJetStream` does: new accounts get JetStream (their streams on disk recovered),
//! changed limits apply to the running account, and an account that loses it has its
//! streams stopped (files kept) and answers 10039. Logins, claim updates and reloads wait
//! for that ([`apply_auth`], [`wait_for_auth`]), so a client told the account is ready
//! finds its API. [`enable_account`] enables one directly. The [`JsAccount`] lives in
//! [`super::JetStreamShared::accounts`], read by every core (the streams keep an `Arc` of
//! it, so a publish takes no lock) and by monitoring.
//!
//! Directory layout, as nats-server's: `<store_dir>/jetstream/<account name>/streams/<stream>`
//! (`$G`'s streams stay where tern always kept them: `<store_dir>/jetstream/$G/streams`).

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::api::{AccountLimits, StorageType};
use crate::server::mesh::AccountId;
use crate::server::shard::ShardState;

/// One JetStream-enabled account: limits and usage (all cores and monitoring read it).
pub struct JsAccount {
    pub id: AccountId,
    pub name: String,
    /// `<store_dir>/jetstream/<name>/streams`.
    pub streams_dir: PathBuf,
    limits: Mutex<AccountLimits>,
    /// Copies of the two byte limits the publish path checks, so it takes no lock.
    max_memory_bytes: AtomicI64,
    max_storage_bytes: AtomicI64,
    pub streams: AtomicUsize,
    pub consumers: AtomicUsize,
    pub memory_bytes: AtomicI64,
    pub storage_bytes: AtomicI64,
    pub api_total: AtomicU64,
    pub api_errors: AtomicU64,
}

impl JsAccount {
    pub fn new(id: AccountId, name: &str, jetstream_dir: &Path, limits: AccountLimits) -> Self {
        JsAccount {
            id,
            name: name.to_string(),
            streams_dir: jetstream_dir.join(name).join("streams"),
            max_memory_bytes: AtomicI64::new(limits.max_memory_bytes),
            max_storage_bytes: AtomicI64::new(limits.max_storage_bytes),
            limits: Mutex::new(limits),
            streams: AtomicUsize::new(0),
            consumers: AtomicUsize::new(0),
            memory_bytes: AtomicI64::new(0),
            storage_bytes: AtomicI64::new(0),
            api_total: AtomicU64::new(0),
            api_errors: AtomicU64::new(0),
        }
    }

    pub fn limits(&self) -> AccountLimits {
        self.limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// New limits (a reload or an updated JWT); existing streams stay, new requests and
    /// publishes are judged by these.
    pub fn set_limits(&self, limits: AccountLimits) {
        self.max_memory_bytes
            .store(limits.max_memory_bytes, Ordering::Relaxed);
        self.max_storage_bytes
            .store(limits.max_storage_bytes, Ordering::Relaxed);
        *self.limits.lock().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    pub fn used_bytes(&self, storage: StorageType) -> i64 {
        match storage {
            StorageType::Memory => self.memory_bytes.load(Ordering::Relaxed),
            StorageType::File => self.storage_bytes.load(Ordering::Relaxed),
        }
    }

    /// The account's limit for `storage`; negative: unlimited.
    pub fn max_bytes(&self, storage: StorageType) -> i64 {
        match storage {
            StorageType::Memory => self.max_memory_bytes.load(Ordering::Relaxed),
            StorageType::File => self.max_storage_bytes.load(Ordering::Relaxed),
        }
    }

    /// Reserves `record_bytes` of `storage` in the usage for a record about to be stored,
    /// if that stays within the account's limit. One shared read-modify-write, paid only by
    /// accounts with a limit; two streams racing at the limit may both be refused for a
    /// moment, never both admitted past it.
    pub fn reserve(&self, storage: StorageType, record_bytes: i64) -> Reservation {
        let max = self.max_bytes(storage);
        if max < 0 {
            return Reservation::Unlimited;
        }
        let counter = self.usage_counter(storage);
        let before = counter.fetch_add(record_bytes, Ordering::Relaxed);
        if before.saturating_add(record_bytes) > max {
            counter.fetch_sub(record_bytes, Ordering::Relaxed);
            return Reservation::Refused;
        }
        Reservation::Reserved
    }

    pub fn usage_counter(&self, storage: StorageType) -> &AtomicI64 {
        match storage {
            StorageType::Memory => &self.memory_bytes,
            StorageType::File => &self.storage_bytes,
        }
    }
}

/// The outcome of [`JsAccount::reserve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// No limit for that storage: nothing reserved.
    Unlimited,
    /// Within the limit: the bytes now count in the account's usage.
    Reserved,
    /// Past the limit (10002): nothing reserved.
    Refused,
}

/// The accounts that should have JetStream under `auth` (at startup, after a reload, a
/// new or updated account JWT): `(id, name, limits)`, as [`crate::auth::Auth::jetstream_accounts`]
/// says, less those whose name can not be a directory.
pub fn wanted(auth: &crate::auth::Auth) -> Vec<(AccountId, String, AccountLimits)> {
    auth.jetstream_accounts()
        .into_iter()
        .filter_map(|(id, limits)| {
            let name = auth.account_name(id);
            if !is_directory_name(name) {
                tracing::error!(
                    "JetStream not enabled for account {name:?}: its name can not name a directory"
                );
                return None;
            }
            Some((id, name.to_string(), limits))
        })
        .collect()
}

/// Whether an account name can be one directory under `<store_dir>/jetstream` (and not
/// reach outside it).
fn is_directory_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\', '\0']) && name != "." && name != ".."
}

/// Why [`enable_account`] could not enable an account.
#[derive(Debug, thiserror::Error)]
pub enum EnableError {
    #[error("JetStream is not running on this server")]
    NotRunning,
    #[error("account {0} is not in this server's account table")]
    UnknownAccount(AccountId),
    #[error("account name {0:?} can not name a directory")]
    BadName(String),
}

/// Enables JetStream for `account` (named `name`: its directory is
/// `<store_dir>/jetstream/<name>/streams`) with `limits`, after startup: a config reload
/// that adds `jetstream` to an account, or an account resolved from a JWT that carries
/// JetStream limits. Call it on any core, with that core's state. The account must already
/// be in the account table (its id valid on every core).
///
/// The account's `$JS.API.>` is served from the moment the meta core handles the request
/// (a request already sent may still get "not enabled"); streams already in its directory
/// (from before a restart) are recovered and placed on the cores as new ones are. Calling
/// it again for an enabled account only replaces its limits. The server itself enables
/// what the authentication table asks for (see the module doc); an account enabled here
/// that the table does not give JetStream loses it again at the next table version.
pub fn enable_account(
    state: &Rc<ShardState>,
    account: AccountId,
    name: &str,
    limits: AccountLimits,
) -> Result<(), EnableError> {
    if account as usize >= state.shared.auth.load().account_count() {
        return Err(EnableError::UnknownAccount(account));
    }
    if !is_directory_name(name) {
        return Err(EnableError::BadName(name.to_string()));
    }
    let owner = super::owner::Owner::on_core(state).ok_or(EnableError::NotRunning)?;
    let js = &owner.js;
    if let Some(existing) = js.account(account) {
        existing.set_limits(limits);
        return Ok(());
    }
    let created = Arc::new(JsAccount::new(account, name, &js.store_dir, limits));
    js.accounts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(account, created);
    owner.tell_meta("ENABLE", account);
    Ok(())
}

/// Makes `account` (added after startup, without JetStream) answer `$JS.API` requests with
/// 10039 "JetStream not enabled for account", as nats-server does, rather than with no
/// responders. Call it on any core, with that core's state.
pub fn serve_account_without_jetstream(
    state: &Rc<ShardState>,
    account: AccountId,
) -> Result<(), EnableError> {
    if account as usize >= state.shared.auth.load().account_count() {
        return Err(EnableError::UnknownAccount(account));
    }
    let owner = super::owner::Owner::on_core(state).ok_or(EnableError::NotRunning)?;
    owner.tell_meta("DISABLED", account);
    Ok(())
}

/// Has the meta core bring JetStream's accounts in line with authentication version
/// `version` (just installed by this core: a resolved or updated account JWT) and waits
/// until it did, so that a client told the account is ready finds its JetStream API
/// served (as nats-server configures an account's JetStream before it answers). Bounded
/// by [`crate::limits::JS_AUTH_APPLY_WAIT_MS`]; nothing to do without JetStream.
pub async fn apply_auth(state: &Rc<ShardState>, version: u64) {
    let Some(owner) = super::owner::Owner::on_core(state) else {
        return;
    };
    if owner.js.auth_applied.load(Ordering::Acquire) >= version {
        return;
    }
    owner.tell_meta("AUTH", crate::server::mesh::GLOBAL_ACCOUNT);
    let started = std::time::Instant::now();
    let wait = std::time::Duration::from_millis(crate::limits::JS_AUTH_APPLY_WAIT_MS);
    while owner.js.auth_applied.load(Ordering::Acquire) < version {
        if started.elapsed() >= wait {
            tracing::warn!("JetStream did not take authentication version {version} in yet");
            return;
        }
        shards::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// [`apply_auth`] for a thread that is not a core (a config reload): waits, bounded,
/// until the meta core (which looks for new versions on its own) took `version` in.
pub fn wait_for_auth(js: &super::JetStreamShared, version: u64) -> bool {
    let started = std::time::Instant::now();
    let wait = std::time::Duration::from_millis(crate::limits::JS_AUTH_APPLY_WAIT_MS);
    while js.auth_applied.load(Ordering::Acquire) < version {
        if started.elapsed() >= wait {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_judged_against_the_limit_of_its_storage() {
        let limits = AccountLimits {
            max_memory_bytes: 1000,
            max_storage_bytes: -1,
            ..AccountLimits::default()
        };
        let account = JsAccount::new(2, "A", Path::new("/js"), limits);
        assert_eq!(account.streams_dir, Path::new("/js/A/streams"));
        account.memory_bytes.store(900, Ordering::Relaxed);
        assert_eq!(
            account.reserve(StorageType::Memory, 101),
            Reservation::Refused
        );
        assert_eq!(
            account.used_bytes(StorageType::Memory),
            900,
            "a refusal reserves nothing"
        );
        assert_eq!(
            account.reserve(StorageType::Memory, 100),
            Reservation::Reserved
        );
        assert_eq!(account.used_bytes(StorageType::Memory), 1000);
        assert_eq!(
            account.reserve(StorageType::Memory, 1),
            Reservation::Refused
        );
        assert_eq!(
            account.reserve(StorageType::File, 1 << 40),
            Reservation::Unlimited
        );
        assert_eq!(
            account.used_bytes(StorageType::File),
            0,
            "unlimited: counted later"
        );
        account.set_limits(AccountLimits {
            max_storage_bytes: 0,
            ..AccountLimits::default()
        });
        assert_eq!(account.reserve(StorageType::File, 1), Reservation::Refused);
        assert_eq!(
            account.reserve(StorageType::Memory, 10_000),
            Reservation::Unlimited
        );
    }

    #[test]
    fn account_directories_stay_under_the_store() {
        for good in [
            "A",
            "$G",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUV",
            "a.b",
        ] {
            assert!(is_directory_name(good), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "a\0b"] {
            assert!(!is_directory_name(bad), "{bad:?}");
        }
    }
}
