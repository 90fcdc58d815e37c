//! Validity of subject transforms (`subject_transform`, `republish`, source and mirror
//! `subject_transforms`), as nats-server judges them when a stream is configured.
//!
//! A transform maps a source filter to a destination: `orders.*.>` → `archive.$1.>` or
//! `archive.{{wildcard(1)}}.>`, with mapping functions such as `{{partition(3,1)}}`.
//! This module only decides whether a pair is acceptable and with which error text
//! (nats-server `ValidateMapping` and `NewSubjectTransform`); applying a transform to a
//! subject belongs to the code that stores messages.

use std::fmt;

const SEPARATOR: char = '.';

/// What is wrong with a mapping; the texts are nats-server's (`server/errors.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MappingErrorKind {
    /// `ErrBadSubject`.
    BadSubject,
    InvalidTransform,
    UnknownFunction,
    IndexOutOfRange,
    NotEnoughArgs,
    InvalidArg,
    TooManyArgs,
}

/// A refused mapping, optionally naming the destination token at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MappingError {
    pub kind: MappingErrorKind,
    pub token: Option<String>,
}

impl fmt::Display for MappingError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.kind {
            MappingErrorKind::BadSubject => "invalid subject",
            MappingErrorKind::InvalidTransform => "invalid mapping destination: invalid transform",
            MappingErrorKind::UnknownFunction => "invalid mapping destination: unknown function",
            MappingErrorKind::IndexOutOfRange => {
                "invalid mapping destination: wildcard index out of range"
            }
            MappingErrorKind::NotEnoughArgs => {
                "invalid mapping destination: not enough arguments passed to the function"
            }
            MappingErrorKind::InvalidArg => {
                "invalid mapping destination: function argument is invalid or in the wrong format"
            }
            MappingErrorKind::TooManyArgs => {
                "invalid mapping destination: too many arguments passed to the function"
            }
        };
        match &self.token {
            Some(token) if !token.is_empty() => write!(out, "{text} in {token}"),
            _ => out.write_str(text),
        }
    }
}

fn error(kind: MappingErrorKind, token: &str) -> MappingError {
    MappingError {
        kind,
        token: Some(token.to_owned()),
    }
}

fn bare(kind: MappingErrorKind) -> MappingError {
    MappingError { kind, token: None }
}

/// The destination functions; humps (upper case here) may be written in either case,
/// the rest must be lower case, as in nats-server's regular expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Function {
    Wildcard,
    Partition,
    SplitFromLeft,
    SplitFromRight,
    SliceFromLeft,
    SliceFromRight,
    Right,
    Left,
    Split,
    Random,
}

const FUNCTIONS: &[(&str, Function)] = &[
    ("Wildcard", Function::Wildcard),
    ("Partition", Function::Partition),
    ("SplitFromLeft", Function::SplitFromLeft),
    ("SplitFromRight", Function::SplitFromRight),
    ("SliceFromLeft", Function::SliceFromLeft),
    ("SliceFromRight", Function::SliceFromRight),
    ("Right", Function::Right),
    ("Left", Function::Left),
    ("Split", Function::Split),
    ("Random", Function::Random),
];

fn name_matches(written: &str, canonical: &str) -> bool {
    written.len() == canonical.len()
        && written.chars().zip(canonical.chars()).all(|(w, c)| {
            if c.is_ascii_uppercase() {
                w.eq_ignore_ascii_case(&c)
            } else {
                w == c
            }
        })
}

/// `{{ name ( args ) }}` → (function, raw argument text); `None` when the token has the
/// braces but no recognisable call.
fn parse_call(token: &str) -> Option<(Function, &str)> {
    let inner = token.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.trim_matches(is_regex_space);
    let open = inner.find('(')?;
    let inner_end = inner.strip_suffix(')')?;
    let name = inner[..open].trim_end_matches(is_regex_space);
    let args = &inner_end[open + 1..];
    FUNCTIONS
        .iter()
        .find(|(canonical, _)| name_matches(name, canonical))
        .map(|&(_, function)| (function, args))
}

/// `\s` in Go's RE2: space, tab, newline, form feed, carriage return.
fn is_regex_space(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

fn looks_like_call(token: &str) -> bool {
    token.len() > 4 && token.starts_with("{{") && token.ends_with("}}")
}

/// Arguments split on `,` followed by optional spaces (nats-server `,\s*`).
fn split_args(args: &str) -> Vec<&str> {
    args.split(',')
        .enumerate()
        .map(|(index, arg)| {
            if index == 0 {
                arg
            } else {
                arg.trim_start_matches(is_regex_space)
            }
        })
        .collect()
}

/// Go's `strconv.Atoi` after trimming spaces: optional sign, decimal digits.
fn parse_int(arg: &str) -> Option<i64> {
    arg.trim_matches(' ').parse().ok()
}

/// What a destination token asks for.
enum Placeholder {
    /// Copied as is.
    Literal,
    /// Refers to source wildcards by 1-based index.
    Wildcards(Vec<i64>),
    /// Needs no source wildcard (`random`, and `partition` with no token indexes).
    Standalone,
}

/// nats-server's `indexPlaceHolders`: classify one destination token, refusing bad calls.
fn classify(token: &str) -> Result<(Placeholder, Option<Function>), MappingError> {
    use MappingErrorKind::*;
    if token.len() > 1 && token.starts_with('$') {
        // `$1`-style references; a `$` token that is not a number is a plain literal.
        return Ok(match token[1..].parse::<i64>() {
            Ok(index) => (
                Placeholder::Wildcards(vec![index]),
                Some(Function::Wildcard),
            ),
            Err(_) => (Placeholder::Literal, None),
        });
    }
    if !looks_like_call(token) {
        return Ok((Placeholder::Literal, None));
    }
    let Some((function, raw_args)) = parse_call(token) else {
        return Err(error(UnknownFunction, token));
    };
    let args = split_args(raw_args);
    let int = |arg: &str| parse_int(arg).ok_or_else(|| error(InvalidArg, token));
    let int32 = |arg: &str| {
        parse_int(arg)
            .filter(|&value| value <= i64::from(i32::MAX))
            .ok_or_else(|| error(InvalidArg, token))
    };
    let placeholder = match function {
        Function::Wildcard => match args.as_slice() {
            [""] => return Err(error(NotEnoughArgs, token)),
            [index] => Placeholder::Wildcards(vec![int(index)?]),
            _ => return Err(error(TooManyArgs, token)),
        },
        Function::Partition => {
            int32(args[0])?;
            let indexes = args[1..]
                .iter()
                .map(|arg| int(arg))
                .collect::<Result<Vec<_>, _>>()?;
            if indexes.is_empty() {
                Placeholder::Standalone
            } else {
                Placeholder::Wildcards(indexes)
            }
        }
        Function::SplitFromLeft
        | Function::SplitFromRight
        | Function::SliceFromLeft
        | Function::SliceFromRight
        | Function::Right
        | Function::Left => match args.as_slice() {
            [index, amount] => {
                let index = int(index)?;
                // The second argument must fit an int32.
                let amount = parse_int(amount).ok_or_else(|| error(InvalidArg, token))?;
                if i32::try_from(amount).is_err() {
                    return Err(error(InvalidArg, token));
                }
                Placeholder::Wildcards(vec![index])
            }
            [_] => return Err(error(NotEnoughArgs, token)),
            _ => return Err(error(TooManyArgs, token)),
        },
        Function::Split => match args.as_slice() {
            [index, delimiter] => {
                let index = int(index)?;
                if delimiter.contains(' ') || delimiter.contains(SEPARATOR) {
                    return Err(error(InvalidArg, token));
                }
                Placeholder::Wildcards(vec![index])
            }
            [_] => return Err(error(NotEnoughArgs, token)),
            _ => return Err(error(TooManyArgs, token)),
        },
        Function::Random => match args.as_slice() {
            [max] => {
                int32(max)?;
                Placeholder::Standalone
            }
            _ => return Err(error(NotEnoughArgs, token)),
        },
    };
    Ok((placeholder, Some(function)))
}

/// (valid, number of `*` tokens, ends with `>`) as nats-server's `subjectInfo`.
fn subject_info(subject: &str) -> (bool, usize, bool) {
    if subject.is_empty() {
        return (false, 0, false);
    }
    let mut single_wildcards = 0;
    let mut tail_wildcard = false;
    for token in subject.split(SEPARATOR) {
        if token.is_empty() || tail_wildcard {
            return (false, 0, false);
        }
        match token {
            ">" => tail_wildcard = true,
            "*" => single_wildcards += 1,
            _ => {}
        }
    }
    (true, single_wildcards, tail_wildcard)
}

/// nats-server's `NewSubjectTransform` validity: an empty destination means "no
/// transform"; an empty source means `>`. Used alone for `republish`.
pub fn check_transform(source: &str, destination: &str) -> Result<(), MappingError> {
    if destination.is_empty() {
        return Ok(());
    }
    let source = if source.is_empty() { ">" } else { source };
    let (source_valid, source_wildcards, source_tail) = subject_info(source);
    let (destination_valid, destination_wildcards, destination_tail) = subject_info(destination);
    if !source_valid
        || !destination_valid
        || destination_wildcards > 0
        || source_tail != destination_tail
    {
        return Err(bare(MappingErrorKind::BadSubject));
    }
    let source_wildcards = source_wildcards as i64;
    let source_has_wildcards = source_wildcards > 0 || source_tail;
    for token in destination.split(SEPARATOR) {
        let (placeholder, function) = classify(token)?;
        match placeholder {
            Placeholder::Literal => {}
            Placeholder::Standalone => {}
            Placeholder::Wildcards(indexes) => {
                if !source_has_wildcards {
                    // Without source wildcards only random and bare partition make sense.
                    if function == Some(Function::Partition) {
                        continue;
                    }
                    return Err(error(MappingErrorKind::IndexOutOfRange, token));
                }
                if let Some(&index) = indexes.iter().find(|&&index| index > source_wildcards) {
                    return Err(error(
                        MappingErrorKind::IndexOutOfRange,
                        &format!("{token}: [{index}]"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// nats-server's `ValidateMapping`: the token-level destination checks, then
/// [`check_transform`]. Used for `subject_transform` and source/mirror transforms.
pub fn validate_mapping(source: &str, destination: &str) -> Result<(), MappingError> {
    if destination.is_empty() {
        return Ok(());
    }
    let mut after_tail = false;
    for token in destination.split(SEPARATOR) {
        if token.is_empty() || after_tail {
            return Err(error(MappingErrorKind::InvalidTransform, token));
        }
        if looks_like_call(token) {
            // Only these functions pass this first check (left/right do not).
            let known = matches!(
                parse_call(token),
                Some((function, _)) if !matches!(function, Function::Left | Function::Right)
            );
            if !known {
                return Err(error(MappingErrorKind::UnknownFunction, token));
            }
            continue;
        }
        if token == ">" {
            after_tail = true;
        } else if token.contains(['\t', '\n', '\x0c', '\r', ' ']) {
            return Err(bare(MappingErrorKind::InvalidTransform));
        }
    }
    check_transform(source, destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(result: Result<(), MappingError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn accepted_mappings() {
        for (source, destination) in [
            ("orders.*", "archive.$1"),
            ("orders.*.*", "archive.{{wildcard(2)}}.{{Wildcard(1)}}"),
            ("orders.>", "archive.>"),
            ("", "archive.>"),
            ("orders.*", "p.{{partition(3,1)}}"),
            ("orders", "p.{{partition(3)}}"),
            ("orders", "r.{{random(10)}}"),
            ("orders.*", "s.{{splitFromLeft(1,2)}}"),
            ("orders.*", "s.{{ split(1,-) }}"),
            ("orders.*", "x.$abc"),
            ("orders.*", ""),
            ("orders.*", "{{wildcard(1)}}"),
        ] {
            assert_eq!(
                validate_mapping(source, destination),
                Ok(()),
                "{source} -> {destination}"
            );
        }
    }

    #[test]
    fn refused_mappings() {
        assert_eq!(text(validate_mapping("a.*", "b.*")), "invalid subject");
        assert_eq!(text(validate_mapping("a.>", "b.c")), "invalid subject");
        assert_eq!(text(validate_mapping("a..b", "b")), "invalid subject");
        assert_eq!(
            text(validate_mapping("a.*", "b.$2")),
            "invalid mapping destination: wildcard index out of range in $2: [2]"
        );
        assert_eq!(
            text(validate_mapping("a", "b.$1")),
            "invalid mapping destination: wildcard index out of range in $1"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{foo(1)}}")),
            "invalid mapping destination: unknown function in {{foo(1)}}"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{left(1,2)}}")),
            "invalid mapping destination: unknown function in {{left(1,2)}}"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{wildcard()}}")),
            "invalid mapping destination: not enough arguments passed to the function in {{wildcard()}}"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{wildcard(1,2)}}")),
            "invalid mapping destination: too many arguments passed to the function in {{wildcard(1,2)}}"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{wildcard(x)}}")),
            "invalid mapping destination: function argument is invalid or in the wrong format in {{wildcard(x)}}"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{split(1,a b)}}")),
            "invalid mapping destination: function argument is invalid or in the wrong format in {{split(1,a b)}}"
        );
        // A '.' splits the call into plain tokens, which nats-server then accepts as literals.
        assert_eq!(validate_mapping("a.*", "b.{{split(1,.)}}"), Ok(()));
        assert_eq!(
            text(validate_mapping("a.*", "b..c")),
            "invalid mapping destination: invalid transform"
        );
        assert_eq!(
            text(validate_mapping("a.>", "b.>.c")),
            "invalid mapping destination: invalid transform in c"
        );
        assert_eq!(
            text(validate_mapping("a.*", "b.{{WILDCARD(1)}}")),
            "invalid mapping destination: unknown function in {{WILDCARD(1)}}"
        );
        // check_transform alone (republish) lets left/right through.
        assert_eq!(check_transform("a.*", "b.{{left(1,2)}}"), Ok(()));
        assert_eq!(
            text(check_transform("a.*", "b.{{left(1)}}")),
            "invalid mapping destination: not enough arguments passed to the function in {{left(1)}}"
        );
    }
}
