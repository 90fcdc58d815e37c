//! Server options from the command line and the NATS configuration file.
//!
//! Three layers, each usable on its own:
//! - [`format`](mod@format) reads nats-server's configuration language (conf/lex.go and
//!   conf/parse.go semantics: `=`/`:`/space separators, blocks, arrays, size
//!   suffixes, `include`, `$variables` and environment variables) into a tree
//!   of [`Spanned`] values that remember file, line and column, so any later
//!   consumer (accounts, permissions) can report errors where they are.
//! - [`options`] maps that tree onto [`Options`], with nats-server's keys,
//!   aliases and defaults. Keys tern does not implement yet become warnings,
//!   never silent drops and never hard errors.
//! - [`flags`] reads nats-server's command line. Go's `flag` package accepts
//!   `-name` and `--name` alike and has multi-letter single-dash flags (`-js`,
//!   `-DV`), so argv is first rewritten into canonical `--long[=value]` form and
//!   then handed to clap. The config file is applied first; flags explicitly
//!   given on the command line override it, as in nats-server.
//!
//! The only I/O is reading configuration files and their includes.

pub mod auth;
mod duration;
pub mod flags;
pub mod format;
pub mod options;
pub mod reload;

#[cfg(test)]
mod flags_tests;
#[cfg(test)]
mod format_tests;
#[cfg(test)]
mod options_tests;

pub use self::auth::AuthConfig;
pub use self::flags::{parse_args, usage, Command, Signal};
pub use self::format::{
    parse_file, parse_str, parse_str_with_env, Entry, Map, Pos, Spanned, Value,
};
pub use self::options::{Options, SyncInterval};

/// Everything that can go wrong between argv and a usable [`Options`].
///
/// Variants tied to the configuration file carry a [`Pos`], so their message
/// starts with `file:line:column:`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The text does not follow the configuration grammar.
    #[error("{pos}: {message}")]
    Syntax { pos: Pos, message: String },
    /// `$name` is neither defined in an enclosing block nor in the environment.
    #[error("{pos}: variable reference for '{name}' can not be found")]
    UndefinedVariable { pos: Pos, name: String },
    /// Environment variables whose values refer to each other in a circle.
    #[error("{pos}: variable reference cycle for '{name}'")]
    VariableCycle { pos: Pos, name: String },
    /// A file includes itself, directly or through other files.
    #[error("{pos}: include loop: '{path}' is already being parsed")]
    IncludeLoop { pos: Pos, path: String },
    /// Includes nested deeper than [`format::INCLUDE_DEPTH_MAX`].
    #[error("{pos}: includes nested deeper than {max} files")]
    IncludeDepth { pos: Pos, max: usize },
    /// An included file could not be read.
    #[error("{pos}: error parsing include file '{path}': {source}")]
    IncludeIo {
        pos: Pos,
        path: String,
        source: std::io::Error,
    },
    /// The configuration file named on the command line could not be read.
    #[error("error opening config file '{path}': {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A known key has a value of the wrong type or out of range.
    #[error("{pos}: {message}")]
    Invalid { pos: Pos, message: String },
    /// Options that are fine one by one but contradict each other.
    #[error("{0}")]
    Options(String),
    /// A malformed command line, worded like Go's `flag` package.
    #[error("{0}")]
    Flag(String),
    /// Several problems found in one pass over the file, one per line.
    #[error("{}", join_lines(.0))]
    Multiple(Vec<ConfigError>),
}

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|error| error.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
