//! tern: a NATS-compatible message broker, thread-per-core and shared-nothing.
//!
//! A tour, in the order a message travels:
//! - [`protocol`]: the wire protocol as a pure byte-level parser and encoder (no I/O).
//! - [`server`]: connections and cores. Each core (a `shards` executor) owns its
//!   connections and their subscriptions; a publish is delivered to local subscribers and
//!   forwarded once to each other core with matching interest over the SPSC mesh.
//! - [`routing`]: the subject index (a `*`/`>` trie with a match cache), remote-core
//!   interest with queue weights, and subject validation.
//! - [`jetstream`]: persistent streams behind `$JS.API`, each owned by one core and logged
//!   to io_uring-backed segment files with group commit.
//! - [`auth`]: who may connect (passwords, bcrypt, NKeys), into which account, with which
//!   publish/subscribe permissions; the account table and the exports/imports between
//!   accounts, built once from the config and the same on every core.
//! - [`tls`]: TLS on client connections (rustls, driven sans-IO on each connection's core).
//! - [`config`]: nats-server's command line and config file format, into [`config::Options`].
//! - [`monitor`]: the HTTP monitoring endpoints.
//! - [`logging`]: nats-server's log line format.
//! - [`limits`]: every bound, in one place.
//! - [`bench`] and [`cli`]: the bundled tools, `tern bench` and `tern kv`/`tern object`.
//!
//! The runtime itself (pinned executors, rings, shard-local networking) is the `shards`
//! crate, which knows nothing of NATS.

pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod jetstream;
pub mod limits;
pub mod logging;
pub mod monitor;
pub mod protocol;
pub mod routing;
pub mod server;
pub mod tls;
