//! Decentralized JWT authentication ("operator mode"), as nats-server's
//! `processClientOrLeafAuthentication` does it when `operator` is configured.
//!
//! Trust runs operator -> account -> user: the configured operator JWTs name the keys
//! trusted to sign account JWTs (the operator's own key unless it says
//! `strict_signing_key_usage`, and its `signing_keys`); an account JWT names the keys that
//! may sign its users (the account key and its `signing_keys`, some scoped to a template of
//! permissions); a client's CONNECT carries a user JWT and its signature of the INFO nonce.
//!
//! The accounts known at start (`resolver_preload`, the `*.jwt` files of a `full` or
//! `cache` resolver directory) become accounts of the [`Auth`] built at start, named by
//! their public keys, with their exports and imports resolved like configured accounts'.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use nkeys::KeyPairType;

use super::jwt::{
    self, AccountClaims, AccountNats, ActivationNats, ClaimType, JetStreamLimits, OperatorClaims,
    OperatorNats, UserClaims, UserNats, UserPermissionLimits,
};
use super::{Login, Permissions};
use crate::config::auth::{
    AccountConfig, ExportConfig, ExportKind, ImportConfig, PermissionsConfig, ResolverConfig,
    ResponsePermission, ResponseType, SubjectRules, RESPONSE_EXPIRES_MS_DEFAULT,
    RESPONSE_MAX_MSGS_DEFAULT,
};
use crate::config::format::Pos;
use crate::config::Options;
use crate::jetstream::api::subjects::is_subset;
use crate::limits::RESOLVER_DIR_FILES_MAX;
use crate::protocol::ConnectOptions;
use crate::server::mesh::AccountId;

/// Connections of one account over the whole server, against its JWT's `conn` limit.
#[derive(Debug)]
pub struct AccountConns {
    /// -1: no limit. Changes when a newer account JWT arrives.
    max: AtomicI64,
    current: AtomicI64,
}

impl AccountConns {
    fn new(max: i64) -> AccountConns {
        AccountConns {
            max: AtomicI64::new(max),
            current: AtomicI64::new(0),
        }
    }

    fn limited(&self) -> bool {
        self.max.load(Ordering::Acquire) >= 0
    }

    /// Takes a connection slot, released when the returned guard drops; `None` when the
    /// account is at its limit.
    pub fn acquire(self: &Arc<Self>) -> Option<AccountConnSlot> {
        let mut current = self.current.load(Ordering::Acquire);
        let max = self.max.load(Ordering::Acquire);
        loop {
            if max >= 0 && current >= max {
                return None;
            }
            match self.current.compare_exchange(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(AccountConnSlot(self.clone())),
                Err(now) => current = now,
            }
        }
    }

    pub fn current(&self) -> i64 {
        self.current.load(Ordering::Acquire)
    }
}

/// One connection counted against its account's `conn` limit while it lives.
#[derive(Debug)]
pub struct AccountConnSlot(Arc<AccountConns>);

impl Drop for AccountConnSlot {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a JWT login carries beyond its account and permissions.
#[derive(Debug, Default)]
pub struct LoginLimits {
    /// Subscriptions per connection (`None`: no limit from the JWTs).
    pub subs_max: Option<usize>,
    /// Largest payload this connection may publish (`None`: the server's).
    pub payload_max_bytes: Option<usize>,
    /// When the login stops being valid (the user JWT's `exp`, or the end of its
    /// connect-time window), seconds since the Unix epoch.
    pub expires_at_unix_s: Option<i64>,
    /// When the account's JWT expires, seconds since the Unix epoch.
    pub account_expires_at_unix_s: Option<i64>,
    /// The account's connection counter, when its JWT limits connections.
    pub account_conns: Option<Arc<AccountConns>>,
}

/// An account known from its JWT.
#[derive(Debug)]
pub struct JwtAccount {
    pub id: AccountId,
    pub public_key: String,
    pub claims: AccountClaims,
    /// The JWT as received (answers `CLAIMS.LOOKUP`).
    pub token: String,
    /// Keys that may sign this account's users besides its own, with their scope.
    signing_keys: HashMap<String, Option<UserPermissionLimits>>,
    default_permissions: Option<Arc<Permissions>>,
    conns: Arc<AccountConns>,
}

impl JwtAccount {
    /// The JetStream limits the account JWT grants (R1 tier when tiered).
    pub fn jetstream_limits(&self) -> JetStreamLimits {
        let limits = &self.claims.nats.limits;
        limits
            .tiered_limits
            .get("R1")
            .copied()
            .unwrap_or(limits.jetstream)
    }
}

/// Everything operator mode decides logins with.
#[derive(Debug, Clone)]
pub struct OperatorMode {
    /// Keys whose signature makes an account JWT trusted.
    trusted_keys: Vec<String>,
    accounts: HashMap<String, Arc<JwtAccount>>,
    system_account_name: String,
    resolver: ResolverConfig,
    /// `resolver_pinned_accounts` (with the system account): the only accounts whose users
    /// may log in, when set.
    pinned: Option<Vec<String>>,
}

/// Checks operator mode's configuration as nats-server's `validateTrustedOperators` does
/// and loads the accounts known at start.
/// `id_of` gives (or makes) an account's id by name.
pub fn build(
    options: &Options,
    id_of: &mut dyn FnMut(&str) -> AccountId,
) -> Result<OperatorMode, String> {
    let config = &options.auth;
    let Some(resolver) = &config.resolver else {
        return Err("operators require an account resolver to be configured".to_string());
    };
    if !config.accounts.is_empty() {
        return Err("operators do not allow Accounts to be configured directly".to_string());
    }
    if !config.users.is_empty() {
        return Err("operators do not allow users to be configured directly".to_string());
    }
    let mut operators: Vec<OperatorClaims> = Vec::new();
    for text in &config.operators {
        operators.push(
            jwt::decode::<OperatorNats>(text, ClaimType::Operator)
                .map_err(|e| format!("error parsing operator JWT: {e}"))?,
        );
    }
    let mut system_account = config.system_account.clone();
    match &system_account {
        Some(name) => {
            let named: Vec<&str> = operators
                .iter()
                .map(|o| o.nats.system_account.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            if !named.is_empty() && !named.contains(&name.as_str()) {
                return Err(
                    "system_account in config and operator JWT must be identical".to_string(),
                );
            }
        }
        None => {
            // nats-server takes the operator's when there is exactly one operator.
            if operators.len() == 1 && !operators[0].nats.system_account.is_empty() {
                system_account = Some(operators[0].nats.system_account.clone());
            } else if matches!(resolver, ResolverConfig::Dir { .. }) {
                return Err("using nats based account resolver - the system account needs to be specified in configuration or the operator jwt".to_string());
            }
        }
    }
    let mut trusted_keys = Vec::new();
    for operator in &operators {
        if !operator.nats.strict_signing_key_usage {
            trusted_keys.push(operator.sub.clone());
        }
        trusted_keys.extend(operator.nats.signing_keys.iter().cloned());
    }
    for key in &trusted_keys {
        if !jwt::is_public_key(key, KeyPairType::Operator) {
            return Err(format!(
                "trusted Keys \"{key}\" are required to be a valid public operator nkey"
            ));
        }
    }

    // Preloads first, then the resolver directory; a key seen twice keeps the newer JWT.
    let mut sources: Vec<(String, String)> = config.resolver_preload.clone();
    if let ResolverConfig::Dir { dir, .. } = resolver {
        sources.extend(read_resolver_dir(dir)?);
    }
    let mut loaded: Vec<(AccountClaims, String)> = Vec::new();
    for (key, text) in sources {
        let claims = match jwt::decode::<AccountNats>(&text, ClaimType::Account) {
            Ok(claims) => claims,
            Err(error) => {
                tracing::warn!("account JWT for {key} not loaded: {error}");
                continue;
            }
        };
        if claims.sub != key {
            tracing::warn!(
                "account JWT for {key} not loaded: its subject is {}",
                claims.sub
            );
            continue;
        }
        if !trusted_keys.contains(&claims.iss) {
            tracing::warn!("account JWT for {key} not loaded: not signed by a trusted operator");
            continue;
        }
        match loaded.iter_mut().find(|(c, _)| c.sub == claims.sub) {
            Some((existing, _)) if existing.iat >= claims.iat => {}
            Some(existing) => *existing = (claims, text),
            None => loaded.push((claims, text)),
        }
    }

    let system_account_name = system_account.unwrap_or_else(|| "$SYS".to_string());
    let mut pinned = config.resolver_pinned_accounts.clone();
    if let Some(pinned) = &mut pinned {
        for key in pinned.iter() {
            if !jwt::is_public_key(key, KeyPairType::Account) {
                return Err(format!(
                    "pinned account key \"{key}\" is not a valid public account nkey"
                ));
            }
        }
        // The operator's system account can always connect.
        pinned.push(system_account_name.clone());
    }
    let mut accounts = HashMap::new();
    for (claims, token) in loaded {
        let account = account_from_claims(id_of(&claims.sub), claims, token, None);
        accounts.insert(account.public_key.clone(), Arc::new(account));
    }
    Ok(OperatorMode {
        trusted_keys,
        accounts,
        system_account_name,
        resolver: resolver.clone(),
        pinned,
    })
}

/// `<dir>/<account public key>.jwt` files (nats-server's DirJWTStore, unsharded).
fn read_resolver_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // nats-server creates the directory on start.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("could not create resolver dir {}: {e}", dir.display()))?;
            return Ok(Vec::new());
        }
        Err(error) => {
            return Err(format!(
                "could not read resolver dir {}: {error}",
                dir.display()
            ))
        }
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        if files.len() >= RESOLVER_DIR_FILES_MAX {
            return Err(format!(
                "resolver dir {} holds more than {RESOLVER_DIR_FILES_MAX} files",
                dir.display()
            ));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".jwt") else {
            continue;
        };
        if !jwt::is_public_key(key, KeyPairType::Account) {
            continue;
        }
        let path = entry.path();
        match std::fs::metadata(&path) {
            Ok(meta) if meta.len() as usize <= crate::limits::JWT_BYTES_MAX => {}
            _ => {
                tracing::warn!("account JWT file {} skipped: too large", path.display());
                continue;
            }
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((key.to_string(), text.trim().to_string())),
            Err(error) => tracing::warn!("account JWT file {} skipped: {error}", path.display()),
        }
    }
    files.sort();
    Ok(files)
}

/// `conns`: the counter of the version this JWT replaces, which keeps counting.
fn account_from_claims(
    id: AccountId,
    claims: AccountClaims,
    token: String,
    conns: Option<Arc<AccountConns>>,
) -> JwtAccount {
    let signing_keys = claims
        .nats
        .signing_keys
        .0
        .iter()
        .map(|k| (k.key.clone(), k.scope.clone()))
        .collect();
    let default_permissions = permissions_config(&claims.nats.default_permissions)
        .map(|p| Arc::new(Permissions::compile(&p)));
    let conns = match conns {
        Some(conns) => {
            conns.max.store(claims.nats.limits.conn, Ordering::Release);
            conns
        }
        None => Arc::new(AccountConns::new(claims.nats.limits.conn)),
    };
    JwtAccount {
        id,
        public_key: claims.sub.clone(),
        claims,
        token,
        signing_keys,
        default_permissions,
        conns,
    }
}

/// nats-server's `buildPermissionsFromJwt`: `None` when the JWT restricts nothing.
fn permissions_config(p: &jwt::Permissions) -> Option<PermissionsConfig> {
    let rules = |perm: &jwt::Permission| {
        (!perm.allow.is_empty() || !perm.deny.is_empty()).then(|| SubjectRules {
            allow: (!perm.allow.is_empty()).then(|| perm.allow.clone()),
            deny: (!perm.deny.is_empty()).then(|| perm.deny.clone()),
        })
    };
    let mut config = PermissionsConfig {
        publish: rules(&p.publish),
        subscribe: rules(&p.subscribe),
        allow_responses: p.resp.map(|r| ResponsePermission {
            max_msgs: match r.max {
                0 => RESPONSE_MAX_MSGS_DEFAULT,
                n if n < 0 => 0,
                n => n as u64,
            },
            expires_ms: match r.ttl {
                0 => RESPONSE_EXPIRES_MS_DEFAULT,
                n if n < 0 => 0,
                n => (n as u64 / 1_000_000).max(1),
            },
        }),
    };
    if config.publish.is_none() && config.subscribe.is_none() && config.allow_responses.is_none() {
        return None;
    }
    // nats-server's `validateResponsePermissions`: with responses allowed and no publish
    // allow list, nothing but responses may be published.
    if config.allow_responses.is_some() {
        config
            .publish
            .get_or_insert_with(SubjectRules::default)
            .allow
            .get_or_insert_with(Vec::new);
    }
    Some(config)
}

/// The accounts' exports and the imports that are valid, as configured accounts, for
/// [`super::imports::resolve`]. nats-server does not refuse to start over an import it can
/// not satisfy: it logs it and leaves it out, and so does tern.
fn route_configs(
    accounts: &HashMap<String, Arc<JwtAccount>>,
) -> (Vec<AccountConfig>, Vec<AccountId>) {
    let pos = |key: &str| Pos {
        file: Arc::from(format!("account {key}")),
        line: 0,
        column: 0,
    };
    let mut sorted: Vec<&Arc<JwtAccount>> = accounts.values().collect();
    sorted.sort_by_key(|a| a.id);
    let mut configs = Vec::with_capacity(sorted.len());
    let mut ids = Vec::with_capacity(sorted.len());
    for account in sorted {
        let name = &account.public_key;
        let mut config = AccountConfig {
            name: name.clone(),
            ..AccountConfig::default()
        };
        for export in &account.claims.nats.exports {
            let Some(kind) = export_kind(&export.kind) else {
                continue;
            };
            if !crate::routing::is_valid_subject(export.subject.as_bytes()) {
                continue;
            }
            config.exports.push(ExportConfig {
                kind,
                subject: export.subject.clone(),
                // Who may import was checked below, activation tokens included.
                accounts: None,
                response_type: match export.response_type.as_str() {
                    "Stream" | "Chunked" => ResponseType::Stream,
                    _ => ResponseType::Singleton,
                },
                response_threshold_ms: (export.response_threshold > 0)
                    .then(|| (export.response_threshold as u64 / 1_000_000).max(1)),
                pos: pos(name),
            });
        }
        for import in &account.claims.nats.imports {
            match import_config(account, import, accounts, pos(name)) {
                Ok(config_import) => config.imports.push(config_import),
                Err(reason) => tracing::warn!(
                    "account {name}: import of {:?} from {} left out: {reason}",
                    import.subject,
                    import.account
                ),
            }
        }
        configs.push(config);
        ids.push(account.id);
    }
    (configs, ids)
}

fn export_kind(kind: &str) -> Option<ExportKind> {
    match kind {
        "stream" => Some(ExportKind::Stream),
        "service" => Some(ExportKind::Service),
        _ => None,
    }
}

fn import_config(
    importer: &JwtAccount,
    import: &jwt::Import,
    accounts: &HashMap<String, Arc<JwtAccount>>,
    pos: Pos,
) -> Result<ImportConfig, String> {
    let kind = export_kind(&import.kind).ok_or("unknown import type")?;
    let exporter = accounts
        .get(&import.account)
        .ok_or("the exporting account is not known")?;
    // Subjects as nats-server maps them (accounts.go `UpdateAccountClaims`): `subject` is
    // the exporter's for streams and the importer's for services unless `local_subject`
    // renames it; the deprecated `to` is a stream's prefix, a service's remote subject.
    let (remote, prefix, to) = match kind {
        ExportKind::Stream if !import.local_subject.is_empty() => (
            import.subject.clone(),
            None,
            Some(import.local_subject.clone()),
        ),
        ExportKind::Stream => (
            import.subject.clone(),
            (!import.to.is_empty()).then(|| import.to.trim_end_matches('.').to_string()),
            None,
        ),
        ExportKind::Service if !import.local_subject.is_empty() => (
            import.subject.clone(),
            None,
            Some(import.local_subject.clone()),
        ),
        ExportKind::Service if !import.to.is_empty() => {
            (import.to.clone(), None, Some(import.subject.clone()))
        }
        ExportKind::Service => (import.subject.clone(), None, None),
    };
    let subjects_ok = [Some(&remote), prefix.as_ref(), to.as_ref()]
        .into_iter()
        .flatten()
        .all(|s| crate::routing::is_valid_subject(s.as_bytes()) && !s.contains('$'));
    if !subjects_ok {
        return Err("invalid or unsupported subject mapping".to_string());
    }
    let export = exporter
        .claims
        .nats
        .exports
        .iter()
        .find(|e| export_kind(&e.kind) == Some(kind) && is_subset(&remote, &e.subject))
        .ok_or("no matching export")?;
    if export.token_req {
        check_activation(exporter, importer, import, &remote, kind)?;
    }
    if jwt::is_revoked(&export.revocations, &importer.public_key, i64::MAX) {
        return Err("the importing account's activation is revoked".to_string());
    }
    Ok(ImportConfig {
        kind,
        account: exporter.public_key.clone(),
        subject: remote,
        prefix,
        to,
        pos,
    })
}

/// A private export needs an activation token: issued by the exporter (or one of its
/// signing keys), for the importer, covering the imported subject, unexpired, unrevoked.
fn check_activation(
    exporter: &JwtAccount,
    importer: &JwtAccount,
    import: &jwt::Import,
    remote: &str,
    kind: ExportKind,
) -> Result<(), String> {
    if import.token.is_empty() {
        return Err("the export requires an activation token".to_string());
    }
    let token = jwt::decode::<ActivationNats>(&import.token, ClaimType::Activation)
        .map_err(|e| format!("activation token: {e}"))?;
    jwt::check_times(&token, jwt::now_unix_s()).map_err(|e| format!("activation token: {e}"))?;
    let issued_by_exporter = token.iss == exporter.public_key
        || (token.nats.issuer_account == exporter.public_key
            && exporter.signing_keys.contains_key(&token.iss));
    if !issued_by_exporter {
        return Err("activation token not issued by the exporting account".to_string());
    }
    if token.sub != importer.public_key {
        return Err("activation token is for another account".to_string());
    }
    if export_kind(&token.nats.import_type) != Some(kind) {
        return Err("activation token is for another import type".to_string());
    }
    if !is_subset(remote, &token.nats.subject) {
        return Err("activation token does not cover the subject".to_string());
    }
    let revocations = exporter
        .claims
        .nats
        .exports
        .iter()
        .filter(|e| is_subset(remote, &e.subject))
        .flat_map(|e| e.revocations.iter())
        .map(|(k, v)| (k.clone(), *v))
        .collect::<HashMap<_, _>>();
    if jwt::is_revoked(&revocations, &importer.public_key, token.iat) {
        return Err("activation token revoked".to_string());
    }
    Ok(())
}

/// Why a JWT login was refused; logged at debug level as nats-server does, except for
/// the two it logs as errors.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("Authentication requires a user JWT")]
    NoJwt,
    #[error("User JWT not valid: {0}")]
    Invalid(jwt::JwtError),
    #[error("User JWT no longer valid: {0}")]
    Time(jwt::JwtError),
    #[error("Connection type not allowed")]
    ConnectionType,
    #[error("Account JWT lookup error: account {0} not found")]
    UnknownAccount(String),
    #[error("Account {0} not listed as operator pinned account")]
    NotPinned(String),
    #[error("User JWT issuer is not known")]
    UnknownIssuer,
    #[error("User JWT is not valid: scoped users require no permissions or limits set")]
    ScopedWithPermissions,
    #[error("User JWT generated invalid permissions")]
    TemplatePermissions,
    #[error("Account JWT has expired")]
    AccountExpired,
    #[error("Account does not allow bearer token")]
    BearerDisallowed,
    #[error("Signature missing")]
    NoSignature,
    #[error("Signature not verified: {0}")]
    Signature(String),
    #[error("User authentication revoked")]
    Revoked,
    #[error("Bad src Ip {0}")]
    Source(String),
    #[error("Outside connect times")]
    Times,
}

impl Refusal {
    /// nats-server logs these two at error level, the rest at debug.
    pub fn is_error_level(&self) -> bool {
        matches!(self, Refusal::Source(_) | Refusal::Times)
    }
}

impl OperatorMode {
    pub fn system_account_name(&self) -> &str {
        &self.system_account_name
    }

    pub fn resolver(&self) -> &ResolverConfig {
        &self.resolver
    }

    /// The known accounts' exports and valid imports as configured accounts, with their
    /// ids, for [`super::imports::resolve`].
    pub fn route_configs(&self) -> (Vec<AccountConfig>, Vec<AccountId>) {
        route_configs(&self.accounts)
    }

    /// Decodes an account JWT pushed or looked up at runtime: trusted issuer, and not
    /// older than the JWT it would replace.
    pub fn validate_account_jwt(&self, token: &str) -> Result<AccountClaims, String> {
        let claims = jwt::decode::<AccountNats>(token, ClaimType::Account)
            .map_err(|e| format!("invalid account JWT: {e}"))?;
        if !self.trusts(&claims.iss) {
            return Err("account JWT not signed by a trusted operator".to_string());
        }
        if let Some(existing) = self.accounts.get(&claims.sub) {
            if existing.claims.iat > claims.iat {
                return Err("account JWT is older than the one in use".to_string());
            }
        }
        Ok(claims)
    }

    /// Adds or replaces an account (see [`OperatorMode::validate_account_jwt`]).
    pub fn insert(&mut self, id: AccountId, claims: AccountClaims, token: &str) {
        let conns = self.accounts.get(&claims.sub).map(|a| a.conns.clone());
        let account = account_from_claims(id, claims, token.trim().to_string(), conns);
        self.accounts
            .insert(account.public_key.clone(), Arc::new(account));
    }

    /// An account not known yet, from the resolver directory (a `full` or `cache`
    /// resolver's store; nats-server's cache resolver would also ask other servers, which
    /// a single tern server has none of). Only a valid account public key names a file.
    pub fn lookup_stored(&self, key: &str) -> Option<String> {
        let ResolverConfig::Dir { dir, .. } = &self.resolver else {
            return None;
        };
        if !jwt::is_public_key(key, KeyPairType::Account) {
            return None;
        }
        let path = dir.join(format!("{key}.jwt"));
        let meta = std::fs::metadata(&path).ok()?;
        if meta.len() as usize > crate::limits::JWT_BYTES_MAX {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }

    /// Forgets an account (see [`super::Auth::without_accounts`]).
    pub fn remove(&mut self, key: &str) {
        self.accounts.remove(key);
    }

    pub fn account(&self, public_key: &str) -> Option<&Arc<JwtAccount>> {
        self.accounts.get(public_key)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Arc<JwtAccount>> {
        self.accounts.values()
    }

    pub fn trusts(&self, issuer: &str) -> bool {
        self.trusted_keys.iter().any(|k| k == issuer)
    }

    /// Whether this CONNECT's user JWT is revoked by its account (nats-server tells such
    /// a connection `User Authentication Revoked` when an account update revokes it).
    pub fn is_revoked(&self, connect: &ConnectOptions) -> bool {
        let Some(token) = connect.jwt.as_deref() else {
            return false;
        };
        let Ok(user) = jwt::decode::<UserNats>(token, ClaimType::User) else {
            return false;
        };
        let key = if user.nats.issuer_account.is_empty() {
            &user.iss
        } else {
            &user.nats.issuer_account
        };
        self.accounts
            .get(key)
            .is_some_and(|a| jwt::is_revoked(&a.claims.nats.revocations, &user.sub, user.iat))
    }

    /// Decides a CONNECT carrying a user JWT.
    pub fn check(
        &self,
        connect: &ConnectOptions,
        nonce: Option<&str>,
        peer: Option<IpAddr>,
        now_s: i64,
    ) -> Result<(Login, LoginLimits), Refusal> {
        let token = connect
            .jwt
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::NoJwt)?;
        let user: UserClaims =
            jwt::decode::<UserNats>(token, ClaimType::User).map_err(Refusal::Invalid)?;
        jwt::check_times(&user, now_s).map_err(Refusal::Time)?;
        let account_key = if user.nats.issuer_account.is_empty() {
            &user.iss
        } else {
            &user.nats.issuer_account
        };
        if let Some(pinned) = &self.pinned {
            if !pinned.contains(account_key) {
                return Err(Refusal::NotPinned(account_key.clone()));
            }
        }
        let account = self
            .accounts
            .get(account_key)
            .ok_or_else(|| Refusal::UnknownAccount(account_key.clone()))?;
        let expanded: UserPermissionLimits;
        let limits = if user.iss == account.public_key {
            &user.nats.limits
        } else {
            match account.signing_keys.get(&user.iss) {
                None => return Err(Refusal::UnknownIssuer),
                Some(None) => &user.nats.limits,
                Some(Some(template)) => {
                    if user.nats.limits != UserPermissionLimits::default() {
                        return Err(Refusal::ScopedWithPermissions);
                    }
                    expanded = expand_template(template, &user, account)
                        .ok_or(Refusal::TemplatePermissions)?;
                    &expanded
                }
            }
        };
        // tern serves plain client connections only (a scoped user's come from its
        // template).
        let types = &limits.allowed_connection_types;
        if !types.is_empty() && !types.iter().any(|t| t.eq_ignore_ascii_case("STANDARD")) {
            return Err(Refusal::ConnectionType);
        }
        if account.claims.exp > 0 && now_s >= account.claims.exp {
            return Err(Refusal::AccountExpired);
        }
        if limits.bearer_token && account.claims.nats.limits.disallow_bearer {
            return Err(Refusal::BearerDisallowed);
        }
        if !limits.bearer_token {
            let sig = connect
                .sig
                .as_deref()
                .filter(|s| !s.is_empty())
                .ok_or(Refusal::NoSignature)?;
            super::nkey::verify(&user.sub, nonce.unwrap_or("").as_bytes(), sig)
                .map_err(Refusal::Signature)?;
        }
        if jwt::is_revoked(&account.claims.nats.revocations, &user.sub, user.iat) {
            return Err(Refusal::Revoked);
        }
        if !limits.src.0.is_empty() {
            let host = peer.map(|p| p.to_string()).unwrap_or_default();
            let allowed = peer.is_some_and(|ip| {
                limits
                    .src
                    .0
                    .iter()
                    .any(|c| jwt::Cidr::parse(c).is_some_and(|cidr| cidr.contains(ip)))
            });
            if !allowed {
                return Err(Refusal::Source(host));
            }
        }
        // Time windows are read in UTC; a named location (`times_location`) other than UTC
        // needs a time zone database tern does not carry, so such a user is refused.
        let location_ok = matches!(
            limits.times_location.as_str(),
            "" | "UTC" | "Etc/UTC" | "GMT"
        );
        let window_left_s = match jwt::time_window_left_s(&limits.times, now_s) {
            Ok(left) if location_ok || limits.times.is_empty() => left,
            _ => return Err(Refusal::Times),
        };
        let permissions = permissions_config(&limits.permissions())
            .map(|p| Arc::new(Permissions::compile(&p)))
            .or_else(|| account.default_permissions.clone());
        let account_limits = &account.claims.nats.limits;
        let expires_at = [
            (user.exp > 0).then_some(user.exp),
            window_left_s.map(|left| now_s + left),
        ]
        .into_iter()
        .flatten()
        .min();
        let login_limits = LoginLimits {
            subs_max: min_limit(limits.subs, account_limits.subs),
            payload_max_bytes: min_limit(limits.payload, account_limits.payload),
            expires_at_unix_s: expires_at,
            account_expires_at_unix_s: (account.claims.exp > 0).then_some(account.claims.exp),
            account_conns: account.conns.limited().then(|| account.conns.clone()),
        };
        let login = Login {
            account: account.id,
            user: user.sub.clone(),
            permissions,
            limits: None,
        };
        Ok((login, login_limits))
    }
}

/// nats-server's `processUserPermissionsTemplate`: a scoped signing key's template may use
/// `{{name()}}`, `{{subject()}}`, `{{account-name()}}`, `{{account-subject()}}`,
/// `{{tag(x)}}` and `{{account-tag(x)}}` as whole subject tokens; a tag yields one subject
/// per value (`x:value` tags). An allow subject that comes out invalid is dropped (and an
/// allow list left empty becomes a deny of `>`); a deny subject that does refuses the user
/// (`None`).
fn expand_template(
    template: &UserPermissionLimits,
    user: &UserClaims,
    account: &JwtAccount,
) -> Option<UserPermissionLimits> {
    let tag_values = |tags: &[String], name: &str| -> Vec<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        tags.iter()
            .filter_map(|t| t.strip_prefix(&prefix).map(str::to_string))
            .collect()
    };
    // One token's possible values; an unknown function yields an invalid token.
    let expand_token = |token: &str| -> Vec<String> {
        let Some(op) = token.strip_prefix("{{").and_then(|t| t.strip_suffix("}}")) else {
            return vec![token.to_string()];
        };
        let op = op.trim().to_ascii_lowercase();
        let inner = |name: &str| {
            op.strip_prefix(name)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(str::to_string)
        };
        match op.as_str() {
            "name()" => vec![user.name.clone()],
            "subject()" => vec![user.sub.clone()],
            "account-name()" => vec![account.claims.name.clone()],
            "account-subject()" => vec![account.public_key.clone()],
            _ => {
                if let Some(name) = inner("account-tag(") {
                    tag_values(&account.claims.nats.tags, &name)
                } else if let Some(name) = inner("tag(") {
                    tag_values(&user.nats.tags, &name)
                } else {
                    vec![" ".to_string()]
                }
            }
        }
    };
    let apply = |list: &[String], fail_on_bad: bool| -> Option<Vec<String>> {
        if !list.iter().any(|s| s.contains("{{")) {
            return Some(list.to_vec());
        }
        let mut out = Vec::new();
        for subject in list {
            let mut subjects = vec![String::new()];
            for (i, token) in subject.split('.').enumerate() {
                let values = expand_token(token);
                let mut next = Vec::with_capacity(subjects.len() * values.len().max(1));
                for prefix in &subjects {
                    for value in &values {
                        next.push(if i == 0 {
                            value.clone()
                        } else {
                            format!("{prefix}.{value}")
                        });
                    }
                }
                subjects = next;
                // A tag with many values in several tokens must not explode.
                if subjects.len() > 1024 {
                    return None;
                }
            }
            if subjects.is_empty() && fail_on_bad {
                return None;
            }
            for subject in subjects {
                if crate::routing::is_valid_subject(subject.as_bytes()) {
                    out.push(subject);
                } else if fail_on_bad {
                    return None;
                }
            }
        }
        Some(out)
    };
    let mut limits = template.clone();
    let sub_allow_given = !limits.subscribe.allow.is_empty();
    let pub_allow_given = !limits.publish.allow.is_empty();
    limits.subscribe.allow = apply(&template.subscribe.allow, false)?;
    limits.subscribe.deny = apply(&template.subscribe.deny, true)?;
    limits.publish.allow = apply(&template.publish.allow, false)?;
    limits.publish.deny = apply(&template.publish.deny, true)?;
    if sub_allow_given && limits.subscribe.allow.is_empty() {
        limits.subscribe.deny.push(">".to_string());
    }
    if pub_allow_given && limits.publish.allow.is_empty() {
        limits.publish.deny.push(">".to_string());
    }
    Some(limits)
}

/// The account a user JWT says it belongs to (`issuer_account`, else its issuer), read
/// without checking anything: only to know which account to look up before the real check.
pub fn user_account_key(token: &str) -> Option<String> {
    use base64::Engine;
    if token.len() > crate::limits::JWT_BYTES_MAX {
        return None;
    }
    let body = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    let claims: jwt::Claims<UserNats> = serde_json::from_slice(&bytes).ok()?;
    Some(if claims.nats.issuer_account.is_empty() {
        claims.iss
    } else {
        claims.nats.issuer_account
    })
}

/// nats-server's `minLimit` over a user's and an account's limit (-1: none), as a size.
fn min_limit(user: i64, account: i64) -> Option<usize> {
    [user, account]
        .into_iter()
        .filter(|n| *n != jwt::NO_LIMIT)
        .min()
        .map(|n| usize::try_from(n).unwrap_or(0))
}
