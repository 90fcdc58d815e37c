//! Who may connect. For now the server-wide single user or token of `--user/--pass` and
//! `--auth` (or `authorization {}` in the config file), and TLS certificate mapping
//! (`verify_and_map`, through [`TlsIdentity`]); accounts, permissions, NKeys and JWT come
//! with the security work and will extend this module.

use crate::config::Options;
use crate::protocol::ConnectOptions;
use crate::tls::TlsIdentity;

pub enum Auth {
    None,
    Token(String),
    UserPassword {
        user: String,
        password: String,
    },
    /// `tls { verify_and_map: true }` with users: the client certificate names the user
    /// (see [`TlsIdentity::map_user`]) and CONNECT carries no credentials. Until the users
    /// list of issue 7 lands, the users are the one `authorization { user }`.
    TlsMap {
        users: Vec<String>,
    },
}

impl Auth {
    pub fn from_options(options: &Options) -> Result<Auth, String> {
        match (&options.auth_token, &options.username, &options.password) {
            (Some(_), Some(_), _) => {
                Err("can not have a token and a user configured at the same time".to_string())
            }
            (Some(token), None, _) => Ok(Auth::Token(token.clone())),
            (None, Some(user), None) if options.tls.as_ref().is_some_and(|t| t.verify_and_map) => {
                Ok(Auth::TlsMap {
                    users: vec![user.clone()],
                })
            }
            (None, Some(user), password) => Ok(Auth::UserPassword {
                user: user.clone(),
                password: password.clone().unwrap_or_default(),
            }),
            (None, None, Some(_)) => Err("a password was configured without a user".to_string()),
            (None, None, None) => Ok(Auth::None),
        }
    }

    pub fn required(&self) -> bool {
        !matches!(self, Auth::None)
    }

    /// Whether the CONNECT's credentials are accepted. Comparisons take time independent of
    /// where the first difference is, so response timing does not leak the secret.
    /// `tls_identity`: the verified client certificate's names, on a `verify_and_map`
    /// listener.
    pub fn check(&self, connect: &ConnectOptions, tls_identity: Option<&TlsIdentity>) -> bool {
        match self {
            Auth::None => true,
            Auth::TlsMap { users } => {
                let users: Vec<&str> = users.iter().map(String::as_str).collect();
                let mapped = tls_identity.and_then(|identity| identity.map_user(&users));
                if mapped.is_some() && connect.user.is_some() {
                    tracing::warn!(
                        "User {:?} found in connect proto, but user required from cert",
                        connect.user.as_deref().unwrap_or_default()
                    );
                }
                mapped.is_some()
            }
            Auth::Token(token) => connect
                .auth_token
                .as_deref()
                .is_some_and(|t| same_secret(t, token)),
            Auth::UserPassword { user, password } => {
                let user_ok = connect
                    .user
                    .as_deref()
                    .is_some_and(|u| same_secret(u, user));
                let pass_ok = connect
                    .pass
                    .as_deref()
                    .is_some_and(|p| same_secret(p, password));
                user_ok & pass_ok
            }
        }
    }
}

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
    use super::same_secret;

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3cre"));
        assert!(!same_secret("s3cre", "s3cret"));
        assert!(!same_secret("S3cret", "s3cret"));
        assert!(same_secret("", ""));
        assert!(!same_secret("", "x"));
    }
}
