//! Exports and imports between accounts, resolved at start into per-account routes that
//! the publish path consults (see `server::imports`).
//!
//! - A *stream* import lets the importer's subscribers receive what is published in the
//!   exporting account on the imported subjects, under a mapped subject (`prefix` prepended,
//!   or `to`). It is kept on the exporter's side ([`AccountRoutes::streams_out`]): a
//!   publish in the exporter is copied once into each importing account.
//! - A *service* import lets the importer publish requests on a local subject (`to`, or the
//!   service's own subject) that are delivered in the exporting account, with a reply
//!   subject the exporter's responders answer on. It is kept on the importer's side
//!   ([`AccountRoutes::services_in`]).
//!
//! An import must name an export of that account that covers its subject and that the
//! importer may use (public, or listing the importer), else the server does not start, as
//! with nats-server.

use crate::config::auth::{AccountConfig, ExportKind, ResponseType};
use crate::jetstream::api::subjects::is_subset;
use crate::limits::SERVICE_REPLY_TTL_MS;
use crate::server::mesh::AccountId;

/// Maps subjects matching `from` onto `to`: the wildcard tokens of `from` (in order) fill
/// the wildcard tokens of `to`, which must have the same wildcards in the same order.
#[derive(Debug, Clone)]
pub struct SubjectMap {
    from: Vec<Vec<u8>>,
    to: Vec<Vec<u8>>,
}

impl SubjectMap {
    pub fn new(from: &str, to: &str) -> Result<SubjectMap, String> {
        fn wildcards(s: &str) -> Vec<&str> {
            s.split('.').filter(|t| *t == "*" || *t == ">").collect()
        }
        if wildcards(from) != wildcards(to) {
            return Err(format!(
                "{to:?} must use the same wildcards as {from:?}, in the same order"
            ));
        }
        let tokens = |s: &str| s.split('.').map(|t| t.as_bytes().to_vec()).collect();
        Ok(SubjectMap {
            from: tokens(from),
            to: tokens(to),
        })
    }

    /// The mapped subject, if `subject` (a literal) matches `from`.
    pub fn apply(&self, subject: &[u8]) -> Option<Vec<u8>> {
        let mut captures: Vec<&[u8]> = Vec::new();
        let mut rest = subject;
        for (i, pattern) in self.from.iter().enumerate() {
            if pattern == b">" {
                if rest.is_empty() {
                    return None;
                }
                captures.push(rest);
                rest = &[];
                debug_assert_eq!(i + 1, self.from.len());
                break;
            }
            if rest.is_empty() && i > 0 {
                return None;
            }
            let (token, after) = match memchr::memchr(b'.', rest) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &[][..]),
            };
            if token.is_empty() {
                return None;
            }
            if pattern == b"*" {
                captures.push(token);
            } else if pattern[..] != *token {
                return None;
            }
            // A subject ending right after a separator has an empty last token.
            if after.is_empty() && rest.len() > token.len() {
                return None;
            }
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(subject.len() + 16);
        let mut captures = captures.into_iter();
        for (i, token) in self.to.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            if token == b"*" || token == b">" {
                out.extend_from_slice(captures.next()?);
            } else {
                out.extend_from_slice(token);
            }
        }
        Some(out)
    }
}

/// A stream export someone imports: published in the exporter, copied into `importer`.
#[derive(Debug, Clone)]
pub struct StreamImport {
    pub importer: AccountId,
    pub map: SubjectMap,
}

/// A service the account imports: its requests on the local subject go to `exporter`.
#[derive(Debug, Clone)]
pub struct ServiceImport {
    pub exporter: AccountId,
    /// Local subject -> the exporter's subject.
    pub map: SubjectMap,
    /// Whether a request gets one response (else any number within `reply_ttl_ms`).
    pub singleton: bool,
    /// How long a request's reply mapping lives.
    pub reply_ttl_ms: u64,
}

/// An account's exports and imports as configured, for `/accountz` (nats-server's
/// `ExtExport`/`ExtImport`): services first, then streams, each in file order.
#[derive(Debug, Default, Clone)]
pub struct AccountInterfaces {
    pub exports: Vec<ExportInfo>,
    pub imports: Vec<ImportInfo>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportInfo {
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_accounts: Option<Vec<String>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportInfo {
    /// A stream's subject in the exporter; a service's local subject.
    pub subject: String,
    pub account: String,
    /// Services: the exporter's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Streams: the subject importers see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_subject: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub invalid: bool,
    pub share: bool,
    pub tracking: bool,
}

/// The [`AccountInterfaces`] of configured accounts (account `i` has id `ids[i]`), by id.
pub fn describe(
    accounts: &[AccountConfig],
    ids: &[AccountId],
    account_count: usize,
) -> Vec<AccountInterfaces> {
    let mut all: Vec<AccountInterfaces> = (0..account_count)
        .map(|_| AccountInterfaces::default())
        .collect();
    for (account, &id) in accounts.iter().zip(ids) {
        let interfaces = &mut all[id as usize];
        for kind in [ExportKind::Service, ExportKind::Stream] {
            for export in account.exports.iter().filter(|e| e.kind == kind) {
                interfaces.exports.push(ExportInfo {
                    subject: export.subject.clone(),
                    kind: kind_name(kind),
                    response_type: (kind == ExportKind::Service).then_some(
                        match export.response_type {
                            ResponseType::Singleton => "Singleton",
                            ResponseType::Stream => "Streamed",
                            ResponseType::Chunked => "Chunked",
                        },
                    ),
                    approved_accounts: export.accounts.clone(),
                });
            }
        }
        for kind in [ExportKind::Stream, ExportKind::Service] {
            for import in account.imports.iter().filter(|i| i.kind == kind) {
                let (subject, to, local_subject) = match kind {
                    ExportKind::Stream => {
                        let local = match (&import.prefix, &import.to) {
                            (Some(prefix), _) => format!("{prefix}.{}", import.subject),
                            (None, Some(to)) => to.clone(),
                            (None, None) => import.subject.clone(),
                        };
                        (import.subject.clone(), None, Some(local))
                    }
                    ExportKind::Service => (
                        import.to.clone().unwrap_or_else(|| import.subject.clone()),
                        Some(import.subject.clone()),
                        None,
                    ),
                };
                interfaces.imports.push(ImportInfo {
                    subject,
                    account: import.account.clone(),
                    to,
                    local_subject,
                    kind: kind_name(kind),
                    invalid: false,
                    share: false,
                    tracking: false,
                });
            }
        }
    }
    all
}

fn kind_name(kind: ExportKind) -> &'static str {
    match kind {
        ExportKind::Stream => "stream",
        ExportKind::Service => "service",
    }
}

#[derive(Debug, Default, Clone)]
pub struct AccountRoutes {
    pub streams_out: Vec<StreamImport>,
    pub services_in: Vec<ServiceImport>,
}

impl AccountRoutes {
    pub fn is_empty(&self) -> bool {
        self.streams_out.is_empty() && self.services_in.is_empty()
    }
}

/// Resolves the imports of configured accounts (account `i` of `accounts` has id `ids[i]`)
/// into routes indexed by account id.
pub fn resolve(
    accounts: &[AccountConfig],
    ids: &[AccountId],
    account_count: usize,
) -> Result<Vec<AccountRoutes>, String> {
    let mut routes: Vec<AccountRoutes> = (0..account_count)
        .map(|_| AccountRoutes::default())
        .collect();
    let position = |name: &str| accounts.iter().position(|a| a.name == name);
    for (at, importer) in accounts.iter().enumerate() {
        let importer_id = ids[at];
        for import in &importer.imports {
            let Some(exporter_at) = position(&import.account) else {
                let kind = match import.kind {
                    ExportKind::Stream => "stream",
                    ExportKind::Service => "service",
                };
                // nats-server's words; also what importing from `$G` gets (it has no
                // configurable exports).
                return Err(format!(
                    "{}: {:?} account not defined for {kind} import",
                    import.pos, import.account
                ));
            };
            let exporter_id = ids[exporter_at];
            let exporter = &accounts[exporter_at];
            let export = exporter.exports.iter().find(|export| {
                export.kind == import.kind
                    && is_subset(&import.subject, &export.subject)
                    && export
                        .accounts
                        .as_ref()
                        .is_none_or(|names| names.contains(&importer.name))
            });
            let Some(export) = export else {
                return Err(format!(
                    "{}: account {:?} does not export {:?} to account {:?}",
                    import.pos, import.account, import.subject, importer.name
                ));
            };
            match import.kind {
                ExportKind::Stream => {
                    let to = match (&import.prefix, &import.to) {
                        (Some(prefix), _) => format!("{prefix}.{}", import.subject),
                        (None, Some(to)) => to.clone(),
                        (None, None) => import.subject.clone(),
                    };
                    let map = SubjectMap::new(&import.subject, &to)
                        .map_err(|e| format!("{}: {e}", import.pos))?;
                    routes[exporter_id as usize].streams_out.push(StreamImport {
                        importer: importer_id,
                        map,
                    });
                }
                ExportKind::Service => {
                    let local = import.to.as_deref().unwrap_or(&import.subject);
                    let map = SubjectMap::new(local, &import.subject)
                        .map_err(|e| format!("{}: {e}", import.pos))?;
                    routes[importer_id as usize]
                        .services_in
                        .push(ServiceImport {
                            exporter: exporter_id,
                            map,
                            singleton: export.response_type == ResponseType::Singleton,
                            reply_ttl_ms: export
                                .response_threshold_ms
                                .unwrap_or(SERVICE_REPLY_TTL_MS),
                        });
                }
            }
        }
    }
    Ok(routes)
}

#[cfg(test)]
mod tests {
    use super::SubjectMap;

    fn map(from: &str, to: &str, subject: &str) -> Option<String> {
        SubjectMap::new(from, to)
            .unwrap()
            .apply(subject.as_bytes())
            .map(|s| String::from_utf8(s).unwrap())
    }

    #[test]
    fn subjects_map_through_wildcards() {
        assert_eq!(map("a.>", "p.a.>", "a.b.c").as_deref(), Some("p.a.b.c"));
        assert_eq!(map("a.>", "p.a.>", "a"), None);
        assert_eq!(map("a.*.c", "x.*.y", "a.b.c").as_deref(), Some("x.b.y"));
        assert_eq!(map("a.*.c", "x.*.y", "a.b.d"), None);
        assert_eq!(map("a.*.c", "x.*.y", "a.b.c.d"), None);
        assert_eq!(map("svc", "local", "svc").as_deref(), Some("local"));
        assert_eq!(map("svc", "local", "svc.x"), None);
        assert_eq!(map("svc", "local", "sv"), None);
        assert_eq!(map("a.*", "b.*", "a."), None);
        assert_eq!(map("*.>", "x.*.>", "q.r.s").as_deref(), Some("x.q.r.s"));
        assert!(SubjectMap::new("a.*", "b").is_err());
        assert!(SubjectMap::new("a.>", "b.*").is_err());
    }
}
