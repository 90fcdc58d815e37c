//! Who may connect, into which account, and with which permissions.
//!
//! Built once at start from [`Options`] into an [`Auth`] shared read-only by every core:
//! - the account table (`$G`, tern's internal account, the configured accounts and the
//!   system account), whose indexes are the [`AccountId`]s every core's subject index is
//!   laid out by, so an account id means the same subject space on every core;
//! - the users: `--user/--pass` or `--auth TOKEN`, `authorization { users }` (in `$G`),
//!   each account's `users`, plain or bcrypt passwords, NKey users, `no_auth_user`.
//!
//! [`Auth::check`] decides a CONNECT the way nats-server's
//! `processClientOrLeafAuthentication` does. A bcrypt comparison is deliberately slow (tens
//! of milliseconds), which would stall every connection of a core, so it is handed back to
//! the caller as [`Decision::Bcrypt`] to run off the core ([`verify_bcrypt`]).

pub mod imports;
pub mod jwt;
pub mod live;
pub mod nkey;
pub mod operator;
pub mod permissions;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::auth::{PermissionsConfig, UserConfig, SYSTEM_ACCOUNT_DEFAULT};
use crate::config::Options;
use crate::jetstream::api::AccountLimits;
use crate::limits::{BCRYPT_POLL_MS, BCRYPT_VERIFICATIONS_CONCURRENT_MAX};
use crate::protocol::ConnectOptions;
use crate::server::mesh::{AccountId, GLOBAL_ACCOUNT, INTERNAL_ACCOUNT};
use crate::tls::TlsIdentity;
pub use live::LiveAuth;
pub use permissions::{ConnPermissions, Permissions};

/// What a client authenticated as.
#[derive(Clone)]
pub struct Login {
    pub account: AccountId,
    /// The user name or NKey, for logs and monitoring.
    pub user: String,
    /// `None`: everything is allowed (and nothing is checked on the hot path).
    pub permissions: Option<Arc<Permissions>>,
    /// JWT users' limits and expiry (`None` for users of the configuration file).
    pub limits: Option<Arc<operator::LoginLimits>>,
}

/// The outcome of [`Auth::check`].
pub enum Decision {
    Accept(Login),
    Reject,
    /// Accept as `Login` if `password` matches the bcrypt `hash` (see [`verify_bcrypt`]).
    Bcrypt {
        hash: String,
        password: String,
        login: Login,
    },
}

#[derive(Clone)]
enum Secret {
    Plain(String),
    Bcrypt(String),
}

impl Secret {
    fn new(text: &str) -> Secret {
        if is_bcrypt(text) {
            Secret::Bcrypt(text.to_string())
        } else {
            Secret::Plain(text.to_string())
        }
    }
}

#[derive(Clone)]
struct User {
    password: Secret,
    login: Login,
}

/// nats-server's `isBcrypt`: `$2a$`, `$2b$`, `$2x$` or `$2y$`, two digits of cost, `$`.
fn is_bcrypt(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() > 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// One version of the authentication configuration. Versions are published through
/// [`LiveAuth`]; a newer version keeps every account id of the one it replaces (see
/// [`Auth::reloaded`], [`Auth::add_account`]).
#[derive(Clone)]
pub struct Auth {
    /// Account names by id. Leaked once per new name (a handful of short strings) so that
    /// monitoring rows can hold `&'static str` like the fixed names.
    account_names: Vec<&'static str>,
    /// Accounts that were removed by a reload: their ids stay taken (cores index their
    /// subject spaces by id) but nobody can log into them any more.
    tombstones: Vec<bool>,
    system_account: AccountId,
    token: Option<Secret>,
    /// `--user/--pass` or `authorization { user, password }`.
    single_user: Option<(String, Secret)>,
    users: HashMap<String, User>,
    nkeys: HashMap<String, Login>,
    no_auth_user: Option<String>,
    /// `tls { verify_and_map: true }`: the verified client certificate names the user (see
    /// [`TlsIdentity::map_user`]); CONNECT's user and password are not used.
    tls_map: bool,
    /// Exports and imports, by account id.
    routes: Vec<imports::AccountRoutes>,
    /// The same as configured, for monitoring, by account id.
    interfaces: Vec<imports::AccountInterfaces>,
    /// Users exist that may not connect over plain client connections.
    unusable_users: bool,
    /// Operator mode: users log in with JWTs of the accounts it knows.
    operator: Option<operator::OperatorMode>,
    /// Config mode: the accounts that get JetStream and their limits (nats-server's rule:
    /// `$G` when no account but the system account is configured, else those with a
    /// `jetstream` block). Operator mode reads them from the account JWTs instead.
    config_jetstream: Vec<(AccountId, AccountLimits)>,
}

/// An account JWT's JetStream limits as nats-server 2.9.10 applies them
/// (`UpdateAccountClaimsWithRefresh`): storage, streams and consumers as given (-1 is no
/// limit, and 0 bytes of a storage means none of it), the per-stream sizes and
/// `max_ack_pending` unlimited unless positive.
fn jwt_jetstream(limits: &jwt::JetStreamLimits) -> AccountLimits {
    let unlimited = |value: i64| if value > 0 { value } else { -1 };
    AccountLimits {
        max_memory_bytes: limits.mem_storage,
        max_storage_bytes: limits.disk_storage,
        max_streams: limits.streams,
        max_consumers: limits.consumer,
        max_ack_pending: unlimited(limits.max_ack_pending),
        memory_max_stream_bytes: unlimited(limits.mem_max_stream_bytes),
        storage_max_stream_bytes: unlimited(limits.disk_max_stream_bytes),
        max_bytes_required: limits.max_bytes_required,
    }
}

/// An account name made `&'static` (see [`Auth::account_names`]).
fn leak(name: &str) -> &'static str {
    Box::leak(name.to_string().into_boxed_str())
}

impl Auth {
    pub fn from_options(options: &Options) -> Result<Auth, String> {
        Auth::build(options, None)
    }

    /// The configuration `options` describe, as the version after `previous`: every
    /// account keeps its id, new accounts get new ids, accounts no longer configured
    /// become tombstones.
    pub fn reloaded(options: &Options, previous: &Auth) -> Result<Auth, String> {
        Auth::build(options, Some(previous))
    }

    fn build(options: &Options, previous: Option<&Auth>) -> Result<Auth, String> {
        let config = &options.auth;
        if !config.operators.is_empty() {
            return Auth::operator_mode(options, previous);
        }
        let mut names: Vec<&'static str> = match previous {
            Some(previous) => previous.account_names.clone(),
            None => vec!["$G", "$TERN"],
        };
        // Everything but `$G` and the internal account is a tombstone until configured.
        let mut tombstones: Vec<bool> = (0..names.len()).map(|id| id > 1).collect();
        let mut ids: Vec<AccountId> = Vec::with_capacity(config.accounts.len());
        for account in &config.accounts {
            if account.name == "$G" {
                let pos = account
                    .pos
                    .as_ref()
                    .map(|p| format!("{p}: "))
                    .unwrap_or_default();
                return Err(format!("{pos}\"$G\" is a Reserved Account"));
            }
            let at = names.iter().position(|n| *n == account.name);
            let fresh = at.is_none_or(|at| tombstones[at] && !ids.contains(&(at as AccountId)));
            if account.name.is_empty() || at.is_some_and(|at| at < 2) || !fresh {
                return Err(format!(
                    "duplicate or reserved account name {:?}",
                    account.name
                ));
            }
            let id = at.unwrap_or_else(|| {
                names.push(leak(&account.name));
                tombstones.push(true);
                names.len() - 1
            });
            tombstones[id] = false;
            ids.push(id as AccountId);
        }
        let system_name = config
            .system_account
            .clone()
            .unwrap_or_else(|| SYSTEM_ACCOUNT_DEFAULT.to_string());
        let system_account = match names.iter().position(|n| *n == system_name) {
            Some(0) | Some(1) => {
                return Err(format!("{system_name:?} can not be the system account"))
            }
            Some(at) if !tombstones[at] || config.system_account.is_none() => {
                tombstones[at] = false;
                at as AccountId
            }
            _ if config.system_account.is_some() => {
                return Err(format!("system account {system_name:?} not found"));
            }
            _ => {
                names.push(leak(&system_name));
                tombstones.push(false);
                (names.len() - 1) as AccountId
            }
        };

        let routes = imports::resolve(&config.accounts, &ids, names.len())?;
        let interfaces = imports::describe(&config.accounts, &ids, names.len());
        let config_jetstream = if config.accounts.iter().all(|a| a.name == system_name) {
            vec![(GLOBAL_ACCOUNT, AccountLimits::default())]
        } else {
            config
                .accounts
                .iter()
                .zip(&ids)
                .filter_map(|(account, &id)| Some((id, account.jetstream.clone()?)))
                .collect()
        };
        let mut auth = Auth {
            account_names: names,
            tombstones,
            system_account,
            token: options.auth_token.as_deref().map(Secret::new),
            single_user: options.username.as_ref().map(|u| {
                (
                    u.clone(),
                    Secret::new(options.password.as_deref().unwrap_or("")),
                )
            }),
            users: HashMap::new(),
            nkeys: HashMap::new(),
            no_auth_user: options.no_auth_user.clone(),
            tls_map: options.tls.as_ref().is_some_and(|t| t.verify_and_map),
            routes,
            interfaces,
            unusable_users: false,
            operator: None,
            config_jetstream,
        };
        if options.auth_token.is_some() && options.username.is_some() {
            return Err("can not have a token and a user configured at the same time".to_string());
        }
        if options.username.is_none() && options.password.is_some() {
            return Err("a password was configured without a user".to_string());
        }
        auth.add_users(
            &config.users,
            GLOBAL_ACCOUNT,
            config.default_permissions.as_ref(),
        )?;
        for (account, &id) in config.accounts.iter().zip(&ids) {
            auth.add_users(&account.users, id, account.default_permissions.as_ref())?;
        }
        let has_users = !auth.users.is_empty() || !auth.nkeys.is_empty() || auth.unusable_users;
        if has_users && auth.single_user.is_some() {
            return Err("can not have a single user/pass and a users array".to_string());
        }
        if has_users && auth.token.is_some() {
            return Err("can not have a token and a users array".to_string());
        }
        if let Some(name) = &auth.no_auth_user {
            if !auth.users.contains_key(name) {
                return Err(format!(
                    "no_auth_user: {name:?} not present as user in authorization block or account configuration"
                ));
            }
        }
        Ok(auth)
    }

    /// nats-server with `operator`: accounts and users come from JWTs only; `authorization`
    /// users, tokens and `no_auth_user` play no part. After `previous`, every account keeps
    /// its id (the ones no longer known become tombstones).
    fn operator_mode(options: &Options, previous: Option<&Auth>) -> Result<Auth, String> {
        let mut names: Vec<&'static str> = match previous {
            Some(previous) => previous.account_names.clone(),
            None => vec!["$G", "$TERN"],
        };
        let mut tombstones: Vec<bool> = (0..names.len()).map(|id| id > 1).collect();
        let mut id_of = |name: &str| -> AccountId {
            let at = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(leak(name));
                tombstones.push(true);
                names.len() - 1
            });
            tombstones[at] = false;
            at as AccountId
        };
        let mode = operator::build(options, &mut id_of)?;
        let system_account = id_of(mode.system_account_name());
        let mut auth = Auth {
            account_names: names,
            tombstones,
            system_account,
            token: None,
            single_user: None,
            users: HashMap::new(),
            nkeys: HashMap::new(),
            no_auth_user: None,
            tls_map: false,
            routes: Vec::new(),
            interfaces: Vec::new(),
            unusable_users: false,
            operator: Some(mode),
            config_jetstream: Vec::new(),
        };
        auth.resolve_jwt_routes()?;
        Ok(auth)
    }

    /// Rebuilds every account's routes from the JWT accounts' exports and imports.
    fn resolve_jwt_routes(&mut self) -> Result<(), String> {
        let Some(mode) = &self.operator else {
            return Ok(());
        };
        let (configs, ids) = mode.route_configs();
        self.routes = imports::resolve(&configs, &ids, self.account_names.len())?;
        self.interfaces = imports::describe(&configs, &ids, self.account_names.len());
        Ok(())
    }

    /// The JetStream limits an operator-mode account's JWT grants (`None`: not a JWT
    /// account). [`jwt::JetStreamLimits::enabled`] says whether it may use JetStream.
    pub fn jwt_jetstream_limits(&self, account: AccountId) -> Option<jwt::JetStreamLimits> {
        let mode = self.operator.as_ref()?;
        mode.accounts()
            .find(|a| a.id == account)
            .map(|a| a.jetstream_limits())
    }

    /// The accounts that should have JetStream in this version, with their limits: in
    /// config mode as configured (see `config_jetstream`), in operator mode the accounts
    /// whose JWT grants JetStream (memory or disk storage not 0), with its limits read as
    /// nats-server 2.9.10 reads them (0 or less: unlimited). Never the system account,
    /// never a tombstone.
    pub fn jetstream_accounts(&self) -> Vec<(AccountId, AccountLimits)> {
        let Some(mode) = &self.operator else {
            return self
                .config_jetstream
                .iter()
                .filter(|(id, _)| !self.is_tombstone(*id))
                .cloned()
                .collect();
        };
        let mut accounts: Vec<(AccountId, AccountLimits)> = mode
            .accounts()
            .filter(|a| a.id != self.system_account && !self.is_tombstone(a.id))
            .filter_map(|a| {
                let limits = a.jetstream_limits();
                limits.enabled().then(|| (a.id, jwt_jetstream(&limits)))
            })
            .collect();
        accounts.sort_by_key(|(id, _)| *id);
        accounts
    }

    /// Operator mode's accounts and trust, when configured.
    pub fn operator(&self) -> Option<&operator::OperatorMode> {
        self.operator.as_ref()
    }

    /// This version with one account JWT added or replaced (operator mode): the JWT must be
    /// signed by a trusted operator key and not be older than the one it replaces. Returns
    /// the new version and the account's id.
    pub fn with_account_jwt(&self, token: &str) -> Result<(Auth, AccountId), String> {
        let Some(mode) = &self.operator else {
            return Err("not in operator mode".to_string());
        };
        let claims = mode.validate_account_jwt(token)?;
        let mut next = self.clone();
        let id = next.add_account(&claims.sub)?;
        if let Some(mode) = next.operator.as_mut() {
            mode.insert(id, claims, token);
        }
        next.resolve_jwt_routes()?;
        Ok((next, id))
    }

    /// This version without the accounts `keys` (operator mode, the resolver's delete
    /// request): their ids become tombstones, so their connections are cut off and their
    /// users refused until a new JWT brings them back.
    pub fn without_accounts(&self, keys: &[String]) -> Result<Auth, String> {
        if self.operator.is_none() {
            return Err("not in operator mode".to_string());
        }
        let mut next = self.clone();
        for key in keys {
            if let Some(at) = next.account_names.iter().position(|n| n == key) {
                if at as AccountId == next.system_account {
                    return Err("not allowed to delete system account".to_string());
                }
                next.tombstones[at] = true;
            }
            if let Some(mode) = next.operator.as_mut() {
                mode.remove(key);
            }
        }
        next.resolve_jwt_routes()?;
        Ok(next)
    }

    fn add_users(
        &mut self,
        users: &[UserConfig],
        account: AccountId,
        default_permissions: Option<&PermissionsConfig>,
    ) -> Result<(), String> {
        for user in users {
            // tern serves plain client connections only (no websocket, MQTT or leafnodes):
            // a user allowed none of those can never log in, as nats-server refuses such
            // a user on its client port.
            let standard_allowed = user
                .connection_types
                .as_ref()
                .is_none_or(|types| types.is_empty() || types.iter().any(|t| t == "STANDARD"));
            if !standard_allowed {
                // Still a configured user: authentication stays required.
                self.unusable_users = true;
                continue;
            }
            let permissions = user
                .permissions
                .as_ref()
                .or(default_permissions)
                .map(|p| Arc::new(Permissions::compile(p)));
            if let Some(nkey) = &user.nkey {
                nkey::check_user_public_key(nkey)
                    .map_err(|reason| format!("not a valid user nkey {nkey:?}: {reason}"))?;
                let login = Login {
                    account,
                    user: nkey.clone(),
                    permissions,
                    limits: None,
                };
                if self.nkeys.insert(nkey.clone(), login).is_some() {
                    return Err(format!("duplicate nkey {nkey:?} detected"));
                }
            } else if let Some(name) = &user.user {
                let entry = User {
                    password: Secret::new(user.password.as_deref().unwrap_or("")),
                    login: Login {
                        account,
                        user: name.clone(),
                        permissions,
                        limits: None,
                    },
                };
                if self.users.insert(name.clone(), entry).is_some() {
                    return Err(format!("duplicate user {name:?} detected"));
                }
            }
        }
        Ok(())
    }

    /// Whether INFO says `auth_required`. With `no_auth_user`, nats-server tells clients no
    /// credentials are needed (they still must send CONNECT before anything else).
    pub fn required(&self) -> bool {
        self.enforced() && self.no_auth_user.is_none()
    }

    /// Whether a connection must send CONNECT before anything but PING.
    pub fn enforced(&self) -> bool {
        self.operator.is_some()
            || self.token.is_some()
            || self.single_user.is_some()
            || !self.users.is_empty()
            || !self.nkeys.is_empty()
            || self.unusable_users
    }

    /// Whether the user or NKey a CONNECT names is configured at all (a reload that
    /// removed it closes its connections without an error, as nats-server does).
    pub fn knows_identity(&self, connect: &ConnectOptions) -> bool {
        if let Some(nkey) = connect.nkey.as_deref().filter(|k| !k.is_empty()) {
            return self.nkeys.contains_key(nkey);
        }
        match connect.user.as_deref().filter(|u| !u.is_empty()) {
            Some(user) => {
                self.users.contains_key(user)
                    || self
                        .single_user
                        .as_ref()
                        .is_some_and(|(name, _)| name == user)
            }
            None => true,
        }
    }

    /// Whether INFO carries a nonce for NKey signatures.
    pub fn needs_nonce(&self) -> bool {
        !self.nkeys.is_empty() || self.operator.is_some()
    }

    pub fn account_count(&self) -> usize {
        self.account_names.len()
    }

    pub fn account_name(&self, account: AccountId) -> &'static str {
        self.account_names
            .get(account as usize)
            .copied()
            .unwrap_or("")
    }

    /// The account a name means, if a client could ever be in it.
    pub fn account_id(&self, name: &str) -> Option<AccountId> {
        let at = self.account_names.iter().position(|n| *n == name)?;
        (at as AccountId != INTERNAL_ACCOUNT && !self.tombstones[at]).then_some(at as AccountId)
    }

    /// Whether `account` was removed by a reload (its id stays taken).
    pub fn is_tombstone(&self, account: AccountId) -> bool {
        self.tombstones
            .get(account as usize)
            .copied()
            .unwrap_or(true)
    }

    /// The ids of the accounts a client could be in, in id order (no tombstones).
    pub fn live_accounts(&self) -> impl Iterator<Item = AccountId> + '_ {
        (0..self.account_names.len())
            .filter(|&at| at as AccountId != INTERNAL_ACCOUNT && !self.tombstones[at])
            .map(|at| at as AccountId)
    }

    /// Adds an account with no users, exports or imports (or revives a tombstone of that
    /// name), for a version built at runtime; returns its id, which every later version
    /// keeps. An existing account's id is returned as is.
    pub fn add_account(&mut self, name: &str) -> Result<AccountId, String> {
        if name.is_empty() {
            return Err("an account needs a name".to_string());
        }
        if let Some(at) = self.account_names.iter().position(|n| *n == name) {
            if at as AccountId == INTERNAL_ACCOUNT {
                return Err(format!("{name:?} is reserved"));
            }
            self.tombstones[at] = false;
            return Ok(at as AccountId);
        }
        self.account_names.push(leak(name));
        self.tombstones.push(false);
        self.routes.push(imports::AccountRoutes::default());
        self.interfaces.push(imports::AccountInterfaces::default());
        Ok((self.account_names.len() - 1) as AccountId)
    }

    /// Whether `self` may replace `previous`: every account id of `previous` names the same
    /// account here (ids are append-only).
    pub fn keeps_ids_of(&self, previous: &Auth) -> bool {
        self.account_names.len() >= previous.account_names.len()
            && self.routes.len() == self.account_names.len()
            && self.interfaces.len() == self.account_names.len()
            && self.tombstones.len() == self.account_names.len()
            && previous
                .account_names
                .iter()
                .zip(&self.account_names)
                .all(|(a, b)| a == b)
    }

    /// What a publish in `account` is also routed to (usually nothing). An account newer
    /// than this version (a core that has not applied the version adding it yet, e.g. a
    /// JetStream stream on that core acking in a just-resolved account) has no routes in
    /// it: such a publish goes without the new account's imports, like any publish made
    /// while a version is being installed.
    pub fn routes(&self, account: AccountId) -> &imports::AccountRoutes {
        static NONE: imports::AccountRoutes = imports::AccountRoutes {
            streams_out: Vec::new(),
            services_in: Vec::new(),
        };
        self.routes.get(account as usize).unwrap_or(&NONE)
    }

    /// An account's exports and imports as configured (for `/accountz`).
    pub fn interfaces(&self, account: AccountId) -> Option<&imports::AccountInterfaces> {
        self.interfaces.get(account as usize)
    }

    /// Accounts that export a service someone imports: their responses are routed back.
    pub fn service_exporters(&self) -> Vec<AccountId> {
        let mut exporters: Vec<AccountId> = self
            .routes
            .iter()
            .flat_map(|r| r.services_in.iter().map(|s| s.exporter))
            .collect();
        exporters.sort_unstable();
        exporters.dedup();
        exporters
    }

    pub fn system_account(&self) -> AccountId {
        self.system_account
    }

    /// Decides a CONNECT. `nonce` is what this connection's INFO carried; `tls_identity`
    /// the verified client certificate's names, on a `verify_and_map` listener.
    pub fn check(
        &self,
        connect: &ConnectOptions,
        nonce: Option<&str>,
        tls_identity: Option<&TlsIdentity>,
    ) -> Decision {
        self.check_from(connect, nonce, tls_identity, None)
    }

    /// [`Auth::check`] knowing the client's address, which JWT users' `src` limits need.
    pub fn check_from(
        &self,
        connect: &ConnectOptions,
        nonce: Option<&str>,
        tls_identity: Option<&TlsIdentity>,
        peer: Option<IpAddr>,
    ) -> Decision {
        if let Some(operator) = &self.operator {
            return match operator.check(connect, nonce, peer, jwt::now_unix_s()) {
                Ok((mut login, limits)) => {
                    login.limits = Some(Arc::new(limits));
                    Decision::Accept(login)
                }
                Err(refusal) if refusal.is_error_level() => {
                    tracing::error!("{refusal}");
                    Decision::Reject
                }
                Err(refusal) => {
                    tracing::debug!("{refusal}");
                    Decision::Reject
                }
            };
        }
        let anonymous = || Login {
            account: GLOBAL_ACCOUNT,
            user: String::new(),
            permissions: None,
            limits: None,
        };
        if !self.enforced() {
            return Decision::Accept(anonymous());
        }
        if self.tls_map {
            return self.check_tls_map(connect, tls_identity);
        }
        let given_nkey = connect.nkey.as_deref().filter(|k| !k.is_empty());
        let given_user = connect.user.as_deref().filter(|u| !u.is_empty());
        if let (false, Some(key)) = (self.nkeys.is_empty(), given_nkey) {
            let Some(login) = self.nkeys.get(key) else {
                return Decision::Reject;
            };
            let (Some(nonce), Some(sig)) = (nonce, connect.sig.as_deref()) else {
                return Decision::Reject;
            };
            return match nkey::verify(key, nonce.as_bytes(), sig) {
                Ok(()) => Decision::Accept(login.clone()),
                Err(reason) => {
                    tracing::debug!("nkey authentication failed: {reason}");
                    Decision::Reject
                }
            };
        }
        if !self.users.is_empty() {
            let (name, password, skip_password) = match given_user {
                Some(name) => (name, connect.pass.as_deref().unwrap_or(""), false),
                None if given_nkey.is_none() || self.nkeys.is_empty() => {
                    match &self.no_auth_user {
                        // A client that sends no credentials at all is this user.
                        Some(name) if connect.auth_token.is_none() => (name.as_str(), "", true),
                        _ => return self.check_token_or_single(connect),
                    }
                }
                None => return Decision::Reject,
            };
            let Some(user) = self.users.get(name) else {
                return Decision::Reject;
            };
            if skip_password {
                return Decision::Accept(user.login.clone());
            }
            return match &user.password {
                Secret::Plain(expected) => {
                    if same_secret(password, expected) {
                        Decision::Accept(user.login.clone())
                    } else {
                        Decision::Reject
                    }
                }
                Secret::Bcrypt(hash) => Decision::Bcrypt {
                    hash: hash.clone(),
                    password: password.to_string(),
                    login: user.login.clone(),
                },
            };
        }
        self.check_token_or_single(connect)
    }

    /// nats-server's `verify_and_map`: the certificate's first name that is a configured
    /// user is who the client is, whatever CONNECT says.
    fn check_tls_map(
        &self,
        connect: &ConnectOptions,
        tls_identity: Option<&TlsIdentity>,
    ) -> Decision {
        let Some(identity) = tls_identity else {
            return Decision::Reject;
        };
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        if let Some((user, _)) = &self.single_user {
            names.push(user);
        }
        // HashMap order is random; a certificate naming two users must map the same way
        // on every connection.
        names.sort_unstable();
        let Some(name) = identity.map_user(&names) else {
            return Decision::Reject;
        };
        if let Some(given) = connect.user.as_deref().filter(|u| !u.is_empty()) {
            tracing::warn!("User {given:?} found in connect proto, but user required from cert");
        }
        match self.users.get(name) {
            Some(user) => Decision::Accept(user.login.clone()),
            None => Decision::Accept(Login {
                account: GLOBAL_ACCOUNT,
                user: name.to_string(),
                permissions: None,
                limits: None,
            }),
        }
    }

    fn check_token_or_single(&self, connect: &ConnectOptions) -> Decision {
        let login = |user: &str| Login {
            account: GLOBAL_ACCOUNT,
            user: user.to_string(),
            permissions: None,
            limits: None,
        };
        let (secret, given, login) = if let Some(token) = &self.token {
            (token, connect.auth_token.as_deref(), login(""))
        } else if let Some((user, password)) = &self.single_user {
            let user_ok = connect
                .user
                .as_deref()
                .is_some_and(|u| same_secret(u, user));
            if !user_ok {
                return Decision::Reject;
            }
            (password, connect.pass.as_deref(), login(user))
        } else {
            return Decision::Reject;
        };
        let Some(given) = given else {
            return Decision::Reject;
        };
        match secret {
            Secret::Plain(expected) if same_secret(given, expected) => Decision::Accept(login),
            Secret::Plain(_) => Decision::Reject,
            Secret::Bcrypt(hash) => Decision::Bcrypt {
                hash: hash.clone(),
                password: given.to_string(),
                login,
            },
        }
    }

    /// Startup warnings, worded as nats-server's.
    pub fn warnings(&self) -> Vec<String> {
        let plain = self
            .users
            .values()
            .any(|u| matches!(u.password, Secret::Plain(_)))
            || matches!(self.single_user, Some((_, Secret::Plain(_))));
        let mut warnings = Vec::new();
        if plain {
            warnings.push("Plaintext passwords detected, use nkeys or bcrypt".to_string());
        }
        warnings
    }
}

/// bcrypt verifications running at once, over the whole server.
static BCRYPT_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// Compares `password` with a bcrypt `hash` on a helper thread, so the core goes on serving
/// its other connections meanwhile. At most [`BCRYPT_VERIFICATIONS_CONCURRENT_MAX`] run at
/// once (a flood of CONNECTs can not make the server start unbounded threads); the rest
/// wait their turn.
pub async fn verify_bcrypt(hash: String, password: String) -> bool {
    loop {
        let running = BCRYPT_RUNNING.load(Ordering::Acquire);
        if running < BCRYPT_VERIFICATIONS_CONCURRENT_MAX
            && BCRYPT_RUNNING
                .compare_exchange(running, running + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            break;
        }
        shards::time::sleep(Duration::from_millis(BCRYPT_POLL_MS)).await;
    }
    let (sender, receiver) = crossbeam_channel::bounded(1);
    let spawned = std::thread::Builder::new()
        .name("tern-bcrypt".to_string())
        .spawn(move || {
            let ok = bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false);
            let _ = sender.send(ok);
        });
    let verdict = match spawned {
        Ok(_) => loop {
            match receiver.try_recv() {
                Ok(ok) => break ok,
                Err(crossbeam_channel::TryRecvError::Empty) => {
                    shards::time::sleep(Duration::from_millis(BCRYPT_POLL_MS)).await
                }
                Err(crossbeam_channel::TryRecvError::Disconnected) => break false,
            }
        },
        Err(error) => {
            tracing::error!("could not start a bcrypt thread: {error}");
            false
        }
    };
    BCRYPT_RUNNING.fetch_sub(1, Ordering::AcqRel);
    verdict
}

/// Compares in time independent of where the first difference is, so response timing does
/// not leak the secret.
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = (a.len() != b.len()) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::{is_bcrypt, same_secret, Auth, Decision};
    use crate::config::{parse_str, Options};
    use crate::protocol::ConnectOptions;

    fn auth(config: &str) -> Result<Auth, String> {
        let mut options = Options::default();
        let map = parse_str(config, "t.conf").map_err(|e| e.to_string())?;
        options.apply_config(&map).map_err(|e| e.to_string())?;
        Auth::from_options(&options)
    }

    fn decide(auth: &Auth, json: &str) -> Option<(u32, String)> {
        let connect = ConnectOptions::from_json(json.as_bytes()).unwrap();
        match auth.check(&connect, Some("nonce"), None) {
            Decision::Accept(login) => Some((login.account, login.user)),
            Decision::Reject => None,
            Decision::Bcrypt { login, .. } => {
                Some((login.account, format!("bcrypt:{}", login.user)))
            }
        }
    }

    #[test]
    fn logins_land_in_their_accounts() {
        let auth = auth(
            "accounts { A { users = [ {user: a, password: pa}, {user: h, password: \"$2a$04$abcdefghijklmnopqrstuv\"} ] }, B { users = [ {user: b, password: pb} ] } }\n\
             authorization { users = [ {user: g, password: pg} ] }\nno_auth_user: b\n",
        )
        .unwrap();
        assert_eq!(auth.account_count(), 5, "$G, internal, A, B, $SYS");
        assert_eq!(auth.account_name(auth.system_account()), "$SYS");
        assert_eq!(
            decide(&auth, r#"{"user":"a","pass":"pa"}"#),
            Some((2, "a".into()))
        );
        assert_eq!(
            decide(&auth, r#"{"user":"g","pass":"pg"}"#),
            Some((0, "g".into()))
        );
        assert_eq!(decide(&auth, r#"{"user":"a","pass":"pb"}"#), None);
        assert_eq!(decide(&auth, r#"{}"#), Some((3, "b".into())));
        assert_eq!(
            decide(&auth, r#"{"user":"h","pass":"x"}"#),
            Some((2, "bcrypt:h".into()))
        );
        assert!(!auth.required(), "no_auth_user: INFO says no auth");
        assert!(auth.enforced());
        assert_eq!(auth.account_id("$TERN"), None);
        assert_eq!(auth.account_id("B"), Some(3));
    }

    #[test]
    fn the_fuzz_targets_config_is_consistent() {
        let source = include_str!("../../fuzz/fuzz_targets/connect_auth.rs");
        let start = source.find("r#\"").unwrap() + 3;
        let end = source[start..].find("\"#").unwrap() + start;
        auth(&source[start..end]).unwrap();
    }

    #[test]
    fn users_limited_to_other_connection_types_can_not_log_in() {
        let mixed = auth(
            "authorization { users = [ {user: w, password: p, allowed_connection_types: [WEBSOCKET]}, {user: s, password: p, allowed_connection_types: [\"standard\", MQTT]} ] }",
        )
        .unwrap();
        assert!(mixed.enforced());
        assert_eq!(decide(&mixed, r#"{"user":"w","pass":"p"}"#), None);
        assert_eq!(
            decide(&mixed, r#"{"user":"s","pass":"p"}"#),
            Some((0, "s".into()))
        );
        assert_eq!(decide(&mixed, r#"{}"#), None);
        // Even when it is the only user.
        let only = auth("authorization { users = [ {user: w, password: p, allowed_connection_types: [LEAFNODE]} ] }").unwrap();
        assert!(only.enforced() && only.required());
        assert_eq!(decide(&only, r#"{}"#), None);
        assert!(
            auth("authorization { users = [ {user: w, allowed_connection_types: [BOGUS]} ] }")
                .is_err()
        );
    }

    #[test]
    fn inconsistent_configurations_are_refused() {
        for config in [
            "accounts { A { users = [ {user: a} ] }, B { users = [ {user: a} ] } }",
            "accounts { A {} }\nno_auth_user: nobody",
            "accounts { A { users = [ {nkey: UABC} ] } }",
            "system_account: NOPE",
            "accounts { $G {} }",
            "authorization { token: t, users = [ {user: a} ] }",
        ] {
            assert!(auth(config).is_err(), "{config}");
        }
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3cre"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("S3cret", "s3cret"));
        assert!(same_secret("", ""));
        assert!(!same_secret("", "x"));
    }

    #[test]
    fn bcrypt_is_detected_by_its_prefix() {
        assert!(is_bcrypt(
            "$2a$11$ooo7Ms.jYL2LxLKQ0zu/0OmE8SglVwCdaxnFdq8Mb9wNKafSqdI2e"
        ));
        assert!(is_bcrypt("$2y$04$x"));
        assert!(!is_bcrypt("$2a$1$x"));
        assert!(!is_bcrypt("$3a$11$x"));
        assert!(!is_bcrypt("plain"));
        assert!(!is_bcrypt("$2a$11"));
    }

    mod operator_mode {
        use super::super::{jwt, Auth, Decision};
        use crate::config::{parse_str, Options};
        use crate::protocol::ConnectOptions;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use nkeys::KeyPair;
        use serde_json::json;

        fn encode(issuer: &KeyPair, mut claims: serde_json::Value) -> String {
            claims["iss"] = json!(issuer.public_key());
            claims["iat"] = json!(jwt::now_unix_s());
            let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
            let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let sig = issuer.sign(signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
        }

        fn account(operator: &KeyPair, key: &KeyPair) -> String {
            encode(
                operator,
                json!({"sub": key.public_key(), "nats": {"type": "account", "version": 2,
                       "limits": {"conn": -1, "subs": -1, "payload": -1}}}),
            )
        }

        fn login(auth: &Auth, account: &KeyPair) -> Option<u32> {
            let user = KeyPair::new_user();
            let token = encode(
                account,
                json!({"sub": user.public_key(), "nats": {"type": "user", "version": 2,
                       "subs": -1, "payload": -1}}),
            );
            let sig = URL_SAFE_NO_PAD.encode(user.sign(b"nonce").unwrap());
            let connect =
                ConnectOptions::from_json(json!({"jwt": token, "sig": sig}).to_string().as_bytes())
                    .unwrap();
            match auth.check(&connect, Some("nonce"), None) {
                Decision::Accept(login) => {
                    assert!(login.limits.is_some());
                    Some(login.account)
                }
                _ => None,
            }
        }

        #[test]
        fn runtime_accounts_keep_their_ids() {
            let operator = KeyPair::new_operator();
            let (sys, a, b) = (
                KeyPair::new_account(),
                KeyPair::new_account(),
                KeyPair::new_account(),
            );
            let op_jwt = encode(
                &operator,
                json!({"sub": operator.public_key(), "nats": {"type": "operator", "version": 2,
                       "system_account": sys.public_key()}}),
            );
            let config = format!(
                "operator: \"{op_jwt}\"\nresolver: MEMORY\nresolver_preload {{ {}: \"{}\" }}\n",
                a.public_key(),
                account(&operator, &a)
            );
            let mut options = Options::default();
            options
                .apply_config(&parse_str(&config, "t.conf").unwrap())
                .unwrap();
            let first = Auth::from_options(&options).unwrap();
            assert!(first.enforced() && first.required() && first.needs_nonce());
            let a_id = login(&first, &a).expect("A's user logs in");
            assert_eq!(first.account_name(a_id), a.public_key());
            assert_eq!(first.account_name(first.system_account()), sys.public_key());
            assert_eq!(login(&first, &b), None, "B is not known yet");

            let (second, b_id) = first.with_account_jwt(&account(&operator, &b)).unwrap();
            assert!(second.keeps_ids_of(&first));
            assert_eq!(login(&second, &b), Some(b_id));
            assert_eq!(login(&second, &a), Some(a_id));
            // Untrusted JWTs are refused.
            assert!(first
                .with_account_jwt(&account(&KeyPair::new_operator(), &b))
                .is_err());

            let third = second.without_accounts(&[a.public_key()]).unwrap();
            assert!(third.keeps_ids_of(&second));
            assert!(third.is_tombstone(a_id));
            assert_eq!(login(&third, &a), None);
            assert_eq!(login(&third, &b), Some(b_id));
            assert!(third.without_accounts(&[sys.public_key()]).is_err());
            // A again: the same id as before.
            let (fourth, again) = third.with_account_jwt(&account(&operator, &a)).unwrap();
            assert_eq!(again, a_id);
            assert!(!fourth.is_tombstone(a_id));
            // A reload rebuilds from the configuration, keeping every id.
            let reloaded = Auth::reloaded(&options, &fourth).unwrap();
            assert!(reloaded.keeps_ids_of(&fourth));
            assert_eq!(login(&reloaded, &a), Some(a_id));
        }
    }
}
