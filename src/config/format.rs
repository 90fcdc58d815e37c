//! The nats-server configuration language, read into position-carrying values.
//!
//! A recursive-descent reader that accepts what nats-server's state-machine
//! lexer (conf/lex.go) accepts and yields the same values (conf/parse.go):
//!
//! ```text
//! document := ( entry end | '{' document '}' | comment )*      top-level braces: JSON
//! entry    := key ( '=' | ':' | whitespace ) value | 'include' path
//! value    := '[' values ']' | '{' entries '}' | "dq" | 'sq' | '(' block ')'
//!           | number[suffix] | float | datetime | ip | bool | $variable | bare
//! ```
//!
//! Quirks kept on purpose because users' files rely on them: a bare `2m` is
//! the integer 2 000 000 (size suffix), while `10s` and `1h30m` are strings;
//! `1k` = 1000 but `1kb`/`1ki`/`1kib` = 1024; a value after `=` must be on
//! the same line at top level but not inside a block; an included file has
//! its own variable scope; `"$X"` is a literal, `$X` a reference.
//! Deliberate differences: `[1, 2]` yields integers (nats-server 2.9 rejects
//! it), malformed input that nats-server silently turns into an empty string
//! (`a = ;`) is an error, and columns are 1-based on every line.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ConfigError;

/// Maps and arrays nested deeper than this (counted across includes and
/// environment variables) are rejected: the reader recurses once per level.
pub const NESTING_DEPTH_MAX: usize = 64;
/// Include chains longer than this are rejected, loops are caught earlier.
pub const INCLUDE_DEPTH_MAX: usize = 16;
/// Environment variables whose values refer to further variables, at most
/// this deep.
pub const ENV_REFERENCE_DEPTH_MAX: usize = 16;
/// Largest configuration file read into memory.
pub const CONFIG_FILE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// Values (scalars, array items, map entries) that `$variable` references may copy in
/// all, summed over every reference. A variable holding a map that refers twice to the
/// previous one doubles at each step, so a few kilobytes of text could otherwise expand
/// into gigabytes (found by the `config_format` fuzz target).
pub const VARIABLE_EXPANSION_VALUES_MAX: usize = 100_000;

/// Where a key or value starts: file name as given, 1-based line and column
/// (columns count characters, not bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A configuration value. ISO-8601 Zulu datetimes (`2024-01-02T03:04:05Z`)
/// are validated by the reader and kept as strings.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Array(Vec<Spanned>),
    Map(Map),
}

impl Value {
    /// Name used in type errors ("expected an integer, got a string").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Map(_) => "a map",
        }
    }
}

/// A value and where it was written. A value taken from a `$variable` is
/// placed where it was referenced, since that is the line to fix.
#[derive(Clone, Debug, PartialEq)]
pub struct Spanned {
    pub value: Value,
    pub pos: Pos,
}

impl Spanned {
    /// How many values this one holds (itself, array items and map entries, nested),
    /// or None once that passes `limit`: counting stops there, so it costs no more
    /// than the budget it checks.
    fn values_within(&self, limit: usize) -> Option<usize> {
        let mut count = 0usize;
        let mut stack = vec![self];
        while let Some(value) = stack.pop() {
            count += 1;
            if count > limit {
                return None;
            }
            match &value.value {
                Value::Array(items) => stack.extend(items.iter()),
                Value::Map(map) => stack.extend(map.entries.iter().map(|e| &e.value)),
                _ => {}
            }
        }
        Some(count)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    pub fn as_float(&self) -> Option<f64> {
        match self.value {
            Value::Float(x) => Some(x),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Spanned]> {
        match &self.value {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(map) => Some(map),
            _ => None,
        }
    }

    fn relocate(&mut self, pos: &Pos) {
        self.pos = pos.clone();
        match &mut self.value {
            Value::Array(items) => items.iter_mut().for_each(|item| item.relocate(pos)),
            Value::Map(map) => map.entries.iter_mut().for_each(|entry| {
                entry.key_pos = pos.clone();
                entry.value.relocate(pos);
            }),
            _ => {}
        }
    }
}

/// One `key = value` line of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Spanned,
    /// The key was referenced as `$key`; nats-server does not report such
    /// keys as unknown fields, since they are variables.
    pub used_as_variable: bool,
}

/// A block's entries in file order. Keys keep their spelling; a key written
/// twice with the same spelling keeps its first place and its last value,
/// as nats-server's map assignment does. [`Map::get`] ignores case like
/// nats-server's option processing; `$variables` match case exactly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Map {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// The value of `key`, compared without case; the last such key wins.
    pub fn get(&self, key: &str) -> Option<&Spanned> {
        self.entry(key).map(|entry| &entry.value)
    }

    /// The entry of `key`, compared without case; the last such key wins.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|entry| entry.key.eq_ignore_ascii_case(key))
    }

    pub fn insert(&mut self, key: String, key_pos: Pos, value: Spanned) {
        self.insert_entry(Entry {
            key,
            key_pos,
            value,
            used_as_variable: false,
        });
    }

    fn insert_entry(&mut self, entry: Entry) {
        match self.index.get(&entry.key) {
            Some(&slot) => {
                if let Some(existing) = self.entries.get_mut(slot) {
                    existing.key_pos = entry.key_pos;
                    existing.value = entry.value;
                    existing.used_as_variable |= entry.used_as_variable;
                }
            }
            None => {
                self.index.insert(entry.key.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    fn get_exact_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let slot = *self.index.get(key)?;
        self.entries.get_mut(slot)
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = &'a Entry;
    type IntoIter = std::slice::Iter<'a, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// Parses configuration text. `file_name` names the text in positions and
/// anchors relative `include` paths (its directory; the working directory
/// when it has none). `$NAME` falls back to the process environment.
pub fn parse_str(text: &str, file_name: &str) -> Result<Map, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    parse_str_with_env(text, file_name, &env)
}

/// Like [`parse_str`] with the environment supplied by the caller, so tests
/// and embedders need not touch the process environment.
pub fn parse_str_with_env(
    text: &str,
    file_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, ConfigError> {
    let mut shared = Shared {
        env,
        env_references: Vec::new(),
        expanded_values: 0,
        include_chain: Vec::new(),
        depth: 0,
    };
    let dir = parent_dir(Path::new(file_name));
    Parser::new(text, Arc::from(file_name), dir, &mut shared).parse_document()
}

/// Reads and parses a configuration file (and its includes).
pub fn parse_file(path: &Path) -> Result<Map, ConfigError> {
    let env = |name: &str| std::env::var(name).ok();
    let mut shared = Shared {
        env: &env,
        env_references: Vec::new(),
        expanded_values: 0,
        include_chain: Vec::new(),
        depth: 0,
    };
    parse_file_inner(path, None, &mut shared)
}

/// State that outlives one file: the include chain for loop detection, the
/// environment variables being expanded for cycle detection, and the
/// nesting depth that bounds recursion.
struct Shared<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    env_references: Vec<(String, Pos)>,
    /// Values copied by `$variable` references so far (bounded by
    /// [`VARIABLE_EXPANSION_VALUES_MAX`]).
    expanded_values: usize,
    include_chain: Vec<PathBuf>,
    depth: usize,
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn parse_file_inner(
    path: &Path,
    included_at: Option<&Pos>,
    shared: &mut Shared<'_>,
) -> Result<Map, ConfigError> {
    let display = path.display().to_string();
    let io_error = |source: std::io::Error| match included_at {
        Some(pos) => ConfigError::IncludeIo {
            pos: pos.clone(),
            path: display.clone(),
            source,
        },
        None => ConfigError::Io {
            path: display.clone(),
            source,
        },
    };
    let canonical = std::fs::canonicalize(path).map_err(io_error)?;
    if let Some(pos) = included_at {
        if shared.include_chain.contains(&canonical) {
            return Err(ConfigError::IncludeLoop {
                pos: pos.clone(),
                path: display,
            });
        }
        if shared.include_chain.len() >= INCLUDE_DEPTH_MAX {
            return Err(ConfigError::IncludeDepth {
                pos: pos.clone(),
                max: INCLUDE_DEPTH_MAX,
            });
        }
    }
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(CONFIG_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > CONFIG_FILE_BYTES_MAX {
        return Err(io_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {CONFIG_FILE_BYTES_MAX} bytes"),
        )));
    }
    let text = String::from_utf8(bytes).map_err(|error| {
        io_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not valid UTF-8 (at byte {})",
                error.utf8_error().valid_up_to()
            ),
        ))
    })?;
    shared.include_chain.push(canonical);
    let result =
        Parser::new(&text, Arc::from(display.as_str()), parent_dir(path), shared).parse_document();
    shared.include_chain.pop();
    result
}

/// Where an entry sits: the rules for what may follow a key separator differ.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Top,
    Block,
}

struct Parser<'t, 's, 'e> {
    text: &'t str,
    bytes: &'t [u8],
    offset: usize,
    line: u32,
    column: u32,
    file: Arc<str>,
    dir: PathBuf,
    /// The maps being built, outermost first: `$name` looks them up from
    /// the innermost outwards, as nats-server walks its context stack.
    scopes: Vec<Map>,
    shared: &'s mut Shared<'e>,
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

fn is_newline(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

fn is_size_suffix(byte: u8) -> bool {
    matches!(
        byte.to_ascii_lowercase(),
        b'k' | b'm' | b'g' | b't' | b'p' | b'e'
    )
}

/// Characters that end a number (conf/lex.go, plus `]` so `[1, 2]` works).
fn ends_number(byte: Option<u8>) -> bool {
    match byte {
        None => true,
        Some(b) => is_blank(b) || is_newline(b) || matches!(b, b'}' | b']' | b';' | b','),
    }
}

impl<'t, 's, 'e> Parser<'t, 's, 'e> {
    fn new(text: &'t str, file: Arc<str>, dir: PathBuf, shared: &'s mut Shared<'e>) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            offset: 0,
            line: 1,
            column: 1,
            file,
            dir,
            scopes: Vec::new(),
            shared,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.offset).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.offset + ahead).copied()
    }

    fn bump(&mut self) {
        if let Some(byte) = self.peek() {
            self.offset += 1;
            if byte == b'\n' {
                self.line = self.line.saturating_add(1);
                self.column = 1;
            } else if byte & 0xc0 != 0x80 {
                self.column = self.column.saturating_add(1);
            }
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            column: self.column,
        }
    }

    fn error<T>(&self, pos: Pos, message: impl Into<String>) -> Result<T, ConfigError> {
        Err(ConfigError::Syntax {
            pos,
            message: message.into(),
        })
    }

    /// The next character, quoted for error messages.
    fn describe_next(&self) -> String {
        match self
            .text
            .get(self.offset..)
            .and_then(|rest| rest.chars().next())
        {
            None => "end of file".to_string(),
            Some('\n') | Some('\r') => "a new line".to_string(),
            Some(c) => format!("'{}'", c.escape_debug()),
        }
    }

    fn slice(&self, from: usize, to: usize) -> &'t str {
        self.text.get(from..to).unwrap_or("")
    }

    fn at_comment(&self) -> bool {
        self.peek() == Some(b'#') || (self.peek() == Some(b'/') && self.peek_at(1) == Some(b'/'))
    }

    fn skip_comment(&mut self) {
        while let Some(byte) = self.peek() {
            if is_newline(byte) {
                break;
            }
            self.bump();
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.bump();
        }
    }

    fn skip_blanks(&mut self) {
        while self.peek().is_some_and(is_blank) {
            self.bump();
        }
    }

    fn enter(&mut self, pos: &Pos) -> Result<(), ConfigError> {
        if self.shared.depth >= NESTING_DEPTH_MAX {
            return self.error(
                pos.clone(),
                format!("maps and arrays nested deeper than {NESTING_DEPTH_MAX} levels"),
            );
        }
        self.shared.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.shared.depth = self.shared.depth.saturating_sub(1);
    }

    fn current_scope(&mut self) -> &mut Map {
        if self.scopes.is_empty() {
            self.scopes.push(Map::new());
        }
        // Cannot underflow or go out of bounds: `scopes` was just made non-empty.
        let last = self.scopes.len() - 1;
        &mut self.scopes[last]
    }

    fn parse_document(mut self) -> Result<Map, ConfigError> {
        self.scopes.push(Map::new());
        // Top-level braces only group entries (a JSON document is a valid
        // configuration); they do not open a scope.
        let mut open_braces: Vec<Pos> = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                None => break,
                Some(b'{') => {
                    let pos = self.pos();
                    self.enter(&pos)?;
                    open_braces.push(pos);
                    self.bump();
                }
                Some(b'}') => {
                    if open_braces.pop().is_none() {
                        return self.error(self.pos(), "unexpected '}' without a matching '{'");
                    }
                    self.leave();
                    self.bump();
                }
                Some(_) if self.at_comment() => self.skip_comment(),
                Some(_) => {
                    let key = self.parse_entry(Context::Top)?;
                    self.end_top_value(&key)?;
                }
            }
        }
        if let Some(pos) = open_braces.first() {
            return self.error(pos.clone(), "unterminated block: '{' is never closed");
        }
        Ok(self.scopes.pop().unwrap_or_default())
    }

    /// After a top-level value: blanks, then a comment, a new line, `;`,
    /// `,`, a closing top-level brace or the end of the file.
    fn end_top_value(&mut self, key: &str) -> Result<(), ConfigError> {
        self.skip_blanks();
        match self.peek() {
            None | Some(b'}') => Ok(()),
            Some(b'\n' | b'\r' | b';' | b',') => {
                self.bump();
                Ok(())
            }
            Some(_) if self.at_comment() => Ok(()),
            Some(_) => self.error(
                self.pos(),
                format!(
                    "expected a new line or a comment after the value of \"{key}\", found {}",
                    self.describe_next()
                ),
            ),
        }
    }

    /// Reads `key <sep> value` (or an include) into the current scope and
    /// returns the key for error messages.
    fn parse_entry(&mut self, context: Context) -> Result<String, ConfigError> {
        let key_pos = self.pos();
        let key = match self.peek() {
            Some(quote @ (b'"' | b'\'')) => {
                self.bump();
                let start = self.offset;
                while self.peek().is_some_and(|b| b != quote) {
                    self.bump();
                }
                if self.peek().is_none() {
                    return self.error(key_pos, "unterminated quoted key");
                }
                let key = self.slice(start, self.offset).to_string();
                self.bump();
                key
            }
            Some(separator @ (b'=' | b':')) => {
                return self.error(
                    key_pos,
                    format!("unexpected key separator '{}'", separator as char),
                );
            }
            _ => {
                let start = self.offset;
                while self
                    .peek()
                    .is_some_and(|b| !is_space(b) && b != b'=' && b != b':')
                {
                    self.bump();
                }
                let key = self.slice(start, self.offset);
                if key.eq_ignore_ascii_case("include") && self.peek().is_some_and(is_space) {
                    self.parse_include()?;
                    return Ok(key.to_string());
                }
                key.to_string()
            }
        };

        self.skip_spaces();
        match self.peek() {
            None => {
                return self.error(key_pos, format!("expected a value for key \"{key}\""));
            }
            Some(separator @ (b'=' | b':')) => {
                self.bump();
                match context {
                    // nats-server wants a top-level value on the separator's
                    // line but lets a block value start on the next one.
                    Context::Top => self.skip_blanks(),
                    Context::Block => self.skip_spaces(),
                }
                if self.peek().is_none_or(is_newline) {
                    return self.error(
                        self.pos(),
                        format!(
                            "expected a value after '{}', found {}",
                            separator as char,
                            self.describe_next()
                        ),
                    );
                }
            }
            Some(_) => {}
        }
        if matches!(self.peek(), Some(b'}' | b',' | b';' | b']')) {
            return self.error(
                self.pos(),
                format!(
                    "expected a value for key \"{key}\", found {}",
                    self.describe_next()
                ),
            );
        }
        let value = self.parse_value()?;
        self.current_scope().insert(key.clone(), key_pos, value);
        Ok(key)
    }

    fn parse_include(&mut self) -> Result<(), ConfigError> {
        self.skip_blanks();
        let pos = self.pos();
        let path = match self.peek() {
            Some(quote @ (b'"' | b'\'')) => {
                self.bump();
                let start = self.offset;
                while self.peek().is_some_and(|b| b != quote) {
                    self.bump();
                }
                if self.peek().is_none() {
                    return self.error(pos, "unterminated include path");
                }
                let path = self.slice(start, self.offset);
                self.bump();
                path
            }
            Some(b'[' | b'{' | b'(' | b'-' | b'0'..=b'9' | b'\\') | None => {
                return self.error(
                    pos,
                    format!("expected an include path, found {}", self.describe_next()),
                );
            }
            Some(b) if is_space(b) => {
                return self.error(
                    pos,
                    format!("expected an include path, found {}", self.describe_next()),
                );
            }
            Some(_) => {
                let start = self.offset;
                while self
                    .peek()
                    .is_some_and(|b| !is_space(b) && !matches!(b, b';' | b'}' | b'\''))
                {
                    self.bump();
                }
                let path = self.slice(start, self.offset);
                if self.peek() == Some(b'\'') {
                    self.bump();
                }
                path
            }
        };
        if path.is_empty() {
            return self.error(pos, "expected an include path, found an empty string");
        }
        let full_path = self.dir.join(path);
        let included = parse_file_inner(&full_path, Some(&pos), self.shared)?;
        let scope = self.current_scope();
        for entry in included.entries {
            scope.insert_entry(entry);
        }
        Ok(())
    }

    fn parse_value(&mut self) -> Result<Spanned, ConfigError> {
        self.skip_blanks();
        let pos = self.pos();
        match self.peek() {
            None => self.error(pos, "expected a value, found end of file"),
            Some(b'[') => self.parse_array(pos),
            Some(b'{') => self.parse_map(pos),
            Some(b'\'') => self.parse_single_quoted(pos),
            Some(b'"') => self.parse_double_quoted(pos),
            Some(b'(') => self.parse_block_string(pos),
            Some(b'-' | b'0'..=b'9') => self.parse_number_like(pos),
            Some(b'.') => self.error(pos, "floats must start with a digit, not '.'"),
            Some(b) if is_newline(b) || matches!(b, b';' | b',' | b']' | b'}') => self.error(
                pos,
                format!("expected a value, found {}", self.describe_next()),
            ),
            Some(_) => self.parse_bare(self.offset, pos),
        }
    }

    fn parse_array(&mut self, start: Pos) -> Result<Spanned, ConfigError> {
        self.enter(&start)?;
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                None => return self.error(start, "unterminated array: '[' is never closed"),
                Some(b']') => {
                    self.bump();
                    break;
                }
                Some(b',') => return self.error(self.pos(), "unexpected ',' in array"),
                Some(_) if self.at_comment() => self.skip_comment(),
                Some(_) => {
                    items.push(self.parse_value()?);
                    self.skip_blanks();
                    match self.peek() {
                        None => {
                            return self.error(start, "unterminated array: '[' is never closed")
                        }
                        Some(b']') => {
                            self.bump();
                            break;
                        }
                        Some(b',' | b'\n' | b'\r') => self.bump(),
                        Some(_) if self.at_comment() => self.skip_comment(),
                        Some(_) => {
                            return self.error(
                                self.pos(),
                                format!(
                                    "expected ',' or ']' after an array element, found {}",
                                    self.describe_next()
                                ),
                            )
                        }
                    }
                }
            }
        }
        self.leave();
        Ok(Spanned {
            value: Value::Array(items),
            pos: start,
        })
    }

    fn parse_map(&mut self, start: Pos) -> Result<Spanned, ConfigError> {
        self.enter(&start)?;
        self.bump();
        self.scopes.push(Map::new());
        let result = self.parse_map_entries(&start);
        let map = self.scopes.pop().unwrap_or_default();
        self.leave();
        result?;
        Ok(Spanned {
            value: Value::Map(map),
            pos: start,
        })
    }

    fn parse_map_entries(&mut self, start: &Pos) -> Result<(), ConfigError> {
        loop {
            self.skip_spaces();
            match self.peek() {
                None => return self.error(start.clone(), "unterminated map: '{' is never closed"),
                Some(b'}') => {
                    self.bump();
                    return Ok(());
                }
                Some(b @ (b']' | b',' | b';')) => {
                    return self.error(self.pos(), format!("unexpected '{}' in map", b as char))
                }
                Some(_) if self.at_comment() => self.skip_comment(),
                Some(_) => {
                    let key = self.parse_entry(Context::Block)?;
                    self.skip_blanks();
                    match self.peek() {
                        None => {
                            return self
                                .error(start.clone(), "unterminated map: '{' is never closed")
                        }
                        Some(b'}') => {
                            self.bump();
                            return Ok(());
                        }
                        Some(b',' | b';' | b'\n' | b'\r') => self.bump(),
                        Some(_) if self.at_comment() => self.skip_comment(),
                        Some(_) => {
                            return self.error(
                                self.pos(),
                                format!(
                                    "expected ',' or '}}' after the value of \"{key}\", found {}",
                                    self.describe_next()
                                ),
                            )
                        }
                    }
                }
            }
        }
    }

    fn parse_single_quoted(&mut self, start: Pos) -> Result<Spanned, ConfigError> {
        self.bump();
        let from = self.offset;
        while self.peek().is_some_and(|b| b != b'\'') {
            self.bump();
        }
        if self.peek().is_none() {
            return self.error(start, "unterminated string");
        }
        let text = self.slice(from, self.offset).to_string();
        self.bump();
        Ok(Spanned {
            value: Value::String(text),
            pos: start,
        })
    }

    fn parse_double_quoted(&mut self, start: Pos) -> Result<Spanned, ConfigError> {
        self.bump();
        let mut buffer = Vec::new();
        loop {
            match self.peek() {
                None => return self.error(start, "unterminated string"),
                Some(b'"') => {
                    self.bump();
                    break;
                }
                Some(b'\\') => {
                    self.bump();
                    self.read_escape(&mut buffer)?;
                }
                Some(b) => {
                    buffer.push(b);
                    self.bump();
                }
            }
        }
        Ok(Spanned {
            value: Value::String(self.utf8(buffer, &start)?),
            pos: start,
        })
    }

    fn utf8(&self, bytes: Vec<u8>, pos: &Pos) -> Result<String, ConfigError> {
        String::from_utf8(bytes).or_else(|_| {
            self.error(
                pos.clone(),
                "string is not valid UTF-8 once its \\x escapes are decoded",
            )
        })
    }

    /// Decodes the character after a backslash (conf/lex.go lexStringEscape).
    fn read_escape(&mut self, buffer: &mut Vec<u8>) -> Result<(), ConfigError> {
        let pos = self.pos();
        let decoded = match self.peek() {
            Some(b't') => b'\t',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'x') => {
                self.bump();
                let high = self.peek();
                let low = self.peek_at(1);
                let digit = |b: Option<u8>| b.and_then(|b| (b as char).to_digit(16));
                return match (digit(high), digit(low)) {
                    (Some(h), Some(l)) => {
                        self.bump();
                        self.bump();
                        buffer.push((h * 16 + l) as u8);
                        Ok(())
                    }
                    _ => self.error(
                        pos,
                        "expected two hexadecimal digits after '\\x'".to_string(),
                    ),
                };
            }
            _ => {
                return self.error(
                    pos,
                    format!(
                        "invalid escape character {}; only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed",
                        self.describe_next()
                    ),
                )
            }
        };
        self.bump();
        buffer.push(decoded);
        Ok(())
    }

    /// `(` starts a raw block that ends at a `)` alone on its own line; the
    /// value is everything in between, new lines included.
    fn parse_block_string(&mut self, start: Pos) -> Result<Spanned, ConfigError> {
        self.bump();
        let from = self.offset;
        loop {
            match self.peek() {
                None => {
                    return self.error(
                        start,
                        "unterminated block string: no ')' on a line of its own",
                    )
                }
                Some(b')')
                    if self.offset > 0
                        && self.bytes.get(self.offset - 1) == Some(&b'\n')
                        && matches!(self.peek_at(1), None | Some(b'\n' | b'\r')) =>
                {
                    let text = self.slice(from, self.offset).to_string();
                    self.bump();
                    return Ok(Spanned {
                        value: Value::String(text),
                        pos: start,
                    });
                }
                Some(_) => self.bump(),
            }
        }
    }

    /// A value starting with a digit or '-': integer (maybe with a size
    /// suffix), float, datetime, IP address, or a bare string such as `10s`.
    fn parse_number_like(&mut self, pos: Pos) -> Result<Spanned, ConfigError> {
        let begin = self.offset;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.bump();
            match self.peek() {
                Some(b'0'..=b'9') => {}
                Some(b'.') => return self.error(pos, "floats must start with a digit, not '.'"),
                _ => {
                    return self.error(
                        self.pos(),
                        format!("expected a digit after '-', found {}", self.describe_next()),
                    )
                }
            }
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
        }
        match self.peek() {
            Some(b'-') if !negative => {
                if self.offset - begin == 4 {
                    self.parse_datetime(begin, pos)
                } else {
                    self.error(pos, "all ISO8601 dates must be in full Zulu form")
                }
            }
            Some(b'.') => {
                self.bump();
                if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    return self.error(
                        self.pos(),
                        format!(
                            "floats must have a digit after the '.', found {}",
                            self.describe_next()
                        ),
                    );
                }
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.bump();
                }
                if self.peek() == Some(b'.') {
                    // A second dot: an IP address such as 127.0.0.1:4222.
                    while self
                        .peek()
                        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-'))
                    {
                        self.bump();
                    }
                    let text = self.slice(begin, self.offset).to_string();
                    return Ok(Spanned {
                        value: Value::String(text),
                        pos,
                    });
                }
                let text = self.slice(begin, self.offset);
                match text.parse::<f64>() {
                    Ok(number) if number.is_finite() => Ok(Spanned {
                        value: Value::Float(number),
                        pos,
                    }),
                    _ => self.error(pos, format!("float '{text}' is out of range")),
                }
            }
            Some(b) if is_size_suffix(b) => {
                self.bump();
                while self
                    .peek()
                    .is_some_and(|b| matches!(b, b'b' | b'B' | b'i' | b'I'))
                {
                    self.bump();
                }
                if ends_number(self.peek()) {
                    self.integer(begin, pos)
                } else {
                    self.parse_bare(begin, pos)
                }
            }
            next if ends_number(next) || negative => self.integer(begin, pos),
            _ => self.parse_bare(begin, pos),
        }
    }

    fn integer(&self, begin: usize, pos: Pos) -> Result<Spanned, ConfigError> {
        let text = self.slice(begin, self.offset);
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit() && c != '-')
            .unwrap_or(text.len());
        let (digits, suffix) = text.split_at(digits_end);
        let number: i64 = match digits.parse() {
            Ok(number) => number,
            Err(_) => return self.error(pos, format!("integer '{text}' is out of range")),
        };
        let multiplier: i64 = match suffix.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => 1_000,
            "kb" | "ki" | "kib" => 1 << 10,
            "m" => 1_000_000,
            "mb" | "mi" | "mib" => 1 << 20,
            "g" => 1_000_000_000,
            "gb" | "gi" | "gib" => 1 << 30,
            "t" => 1_000_000_000_000,
            "tb" | "ti" | "tib" => 1 << 40,
            "p" => 1_000_000_000_000_000,
            "pb" | "pi" | "pib" => 1 << 50,
            "e" => 1_000_000_000_000_000_000,
            "eb" | "ei" | "eib" => 1 << 60,
            _ => return self.error(pos, format!("invalid size suffix in '{text}'")),
        };
        match number.checked_mul(multiplier) {
            Some(value) => Ok(Spanned {
                value: Value::Int(value),
                pos,
            }),
            None => self.error(pos, format!("integer '{text}' is out of range")),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the only datetime form nats-server accepts;
    /// "YYYY" has been read.
    fn parse_datetime(&mut self, begin: usize, pos: Pos) -> Result<Spanned, ConfigError> {
        for expected in "-00-00T00:00:00Z".bytes() {
            let found = self.peek();
            let ok = match expected {
                b'0' => found.is_some_and(|b| b.is_ascii_digit()),
                other => found == Some(other),
            };
            if !ok {
                let wanted = if expected == b'0' {
                    "a digit".to_string()
                } else {
                    format!("'{}'", expected as char)
                };
                return self.error(
                    self.pos(),
                    format!(
                        "expected {wanted} in ISO8601 datetime, found {}",
                        self.describe_next()
                    ),
                );
            }
            self.bump();
        }
        Ok(Spanned {
            value: Value::String(self.slice(begin, self.offset).to_string()),
            pos,
        })
    }

    /// An unquoted string from `begin` (some of it may already be consumed
    /// by the number reader). Unescaped, it may turn out to be a boolean or
    /// a `$variable`.
    fn parse_bare(&mut self, begin: usize, pos: Pos) -> Result<Spanned, ConfigError> {
        let mut buffer = self.bytes.get(begin..self.offset).unwrap_or(&[]).to_vec();
        let mut escaped = false;
        loop {
            match self.peek() {
                None => break,
                Some(b)
                    if is_blank(b) || is_newline(b) || matches!(b, b';' | b',' | b']' | b'}') =>
                {
                    break
                }
                // nats-server ends a bare string at a single quote and
                // drops the quote.
                Some(b'\'') => {
                    self.bump();
                    break;
                }
                Some(b'\\') => {
                    self.bump();
                    self.read_escape(&mut buffer)?;
                    escaped = true;
                }
                Some(b) => {
                    buffer.push(b);
                    self.bump();
                }
            }
        }
        let text = self.utf8(buffer, &pos)?;
        if !escaped {
            match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => {
                    return Ok(Spanned {
                        value: Value::Bool(true),
                        pos,
                    })
                }
                "false" | "no" | "off" => {
                    return Ok(Spanned {
                        value: Value::Bool(false),
                        pos,
                    })
                }
                _ => {}
            }
            if let Some(name) = text.strip_prefix('$') {
                return self.resolve_variable(name, pos);
            }
        }
        Ok(Spanned {
            value: Value::String(text),
            pos,
        })
    }

    fn resolve_variable(&mut self, name: &str, pos: Pos) -> Result<Spanned, ConfigError> {
        // Unquoted bcrypt hashes ($2a$10$...) are passwords, not references.
        if ["2a$", "2b$", "2y$"].iter().any(|p| name.starts_with(p)) {
            return Ok(Spanned {
                value: Value::String(format!("${name}")),
                pos,
            });
        }
        for scope in self.scopes.iter_mut().rev() {
            if let Some(entry) = scope.get_exact_mut(name) {
                entry.used_as_variable = true;
                let budget = VARIABLE_EXPANSION_VALUES_MAX - self.shared.expanded_values;
                let Some(copied) = entry.value.values_within(budget) else {
                    return Err(ConfigError::Syntax {
                        pos,
                        message: format!(
                            "variable reference for '{name}' expands the configuration past {VARIABLE_EXPANSION_VALUES_MAX} values"
                        ),
                    });
                };
                self.shared.expanded_values += copied;
                let mut value = entry.value.clone();
                value.relocate(&pos);
                return Ok(value);
            }
        }
        if let Some((_, first)) = self
            .shared
            .env_references
            .iter()
            .find(|(seen, _)| seen == name)
        {
            return Err(ConfigError::VariableCycle {
                pos: first.clone(),
                name: name.to_string(),
            });
        }
        if self.shared.env_references.len() >= ENV_REFERENCE_DEPTH_MAX {
            return self.error(
                pos,
                format!(
                    "environment variables refer to each other deeper than {ENV_REFERENCE_DEPTH_MAX} levels"
                ),
            );
        }
        let Some(text) = (self.shared.env)(name) else {
            return Err(ConfigError::UndefinedVariable {
                pos,
                name: name.to_string(),
            });
        };
        // The first reference is the one in a real file; report cycles there.
        let anchor = self
            .shared
            .env_references
            .first()
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| pos.clone());
        self.shared.env_references.push((name.to_string(), anchor));
        let result = Parser::new(
            &text,
            Arc::from(format!("${name}").as_str()),
            self.dir.clone(),
            self.shared,
        )
        .parse_env_value();
        self.shared.env_references.pop();
        match result {
            Ok(mut value) => {
                value.relocate(&pos);
                Ok(value)
            }
            Err(cycle @ ConfigError::VariableCycle { .. }) => Err(cycle),
            Err(inner) => self.error(
                pos,
                format!("variable reference for '{name}' could not be parsed: {inner}"),
            ),
        }
    }

    /// An environment variable's text is read as a value, like nats-server's
    /// `pk=<text>`, so `PORT=4222` gives an integer; an empty one is "".
    fn parse_env_value(mut self) -> Result<Spanned, ConfigError> {
        self.skip_blanks();
        let pos = self.pos();
        if self.peek().is_none() {
            return Ok(Spanned {
                value: Value::String(String::new()),
                pos,
            });
        }
        let value = self.parse_value()?;
        self.end_top_value("")?;
        loop {
            self.skip_spaces();
            if self.at_comment() {
                self.skip_comment();
                continue;
            }
            break;
        }
        if self.peek().is_some() {
            return self.error(
                self.pos(),
                format!("unexpected {} after the value", self.describe_next()),
            );
        }
        Ok(value)
    }
}
