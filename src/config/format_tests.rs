//! The configuration reader: values, grammar, includes, variables, errors.

use std::collections::HashMap;
use std::fs;

use proptest::prelude::*;

use super::format::{parse_file, parse_str_with_env, Map, Spanned, Value, NESTING_DEPTH_MAX};
use super::ConfigError;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Map {
    match parse_str_with_env(text, "t.conf", &no_env) {
        Ok(map) => map,
        Err(error) => panic!("{text:?} failed: {error}"),
    }
}

fn parse_err(text: &str) -> String {
    match parse_str_with_env(text, "t.conf", &no_env) {
        Ok(map) => panic!("{text:?} parsed as {map:?}"),
        Err(error) => error.to_string(),
    }
}

fn value(text: &str, key: &str) -> Value {
    match parse(text).get(key) {
        Some(spanned) => spanned.value.clone(),
        None => panic!("{key} missing in {text:?}"),
    }
}

fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

fn ints(values: &[i64]) -> Vec<i64> {
    values.to_vec()
}

fn array_ints(items: &[Spanned]) -> Vec<i64> {
    items.iter().filter_map(Spanned::as_int).collect()
}

#[test]
fn every_value_type() {
    let text = r#"
b1 = true
b2 = FALSE
b3 = yes
b4 = no
b5 = on
b6 = Off
i1 = 4222
i2 = -17
f1 = 1.5
f2 = -0.25
dq = "tab\there \"quoted\" \\ \x41 line\nend"
sq = 'raw \t $NOT_A_VAR'
bare = nats://localhost:4222
ip = 127.0.0.1:4222
addr = 0.0.0.0
date = 2024-01-02T03:04:05Z
quoted_bool = "true"
"#;
    let map = parse(text);
    let get = |key: &str| map.get(key).map(|v| v.value.clone());
    assert_eq!(get("b1"), Some(Value::Bool(true)));
    assert_eq!(get("b2"), Some(Value::Bool(false)));
    assert_eq!(get("b3"), Some(Value::Bool(true)));
    assert_eq!(get("b4"), Some(Value::Bool(false)));
    assert_eq!(get("b5"), Some(Value::Bool(true)));
    assert_eq!(get("b6"), Some(Value::Bool(false)));
    assert_eq!(get("i1"), Some(Value::Int(4222)));
    assert_eq!(get("i2"), Some(Value::Int(-17)));
    assert_eq!(get("f1"), Some(Value::Float(1.5)));
    assert_eq!(get("f2"), Some(Value::Float(-0.25)));
    assert_eq!(get("dq"), Some(s("tab\there \"quoted\" \\ A line\nend")));
    assert_eq!(get("sq"), Some(s("raw \\t $NOT_A_VAR")));
    assert_eq!(get("bare"), Some(s("nats://localhost:4222")));
    assert_eq!(get("ip"), Some(s("127.0.0.1:4222")));
    assert_eq!(get("addr"), Some(s("0.0.0.0")));
    assert_eq!(get("date"), Some(s("2024-01-02T03:04:05Z")));
    assert_eq!(get("quoted_bool"), Some(s("true")));
}

#[test]
fn size_suffixes_follow_nats_server() {
    let cases: &[(&str, i64)] = &[
        ("1k", 1_000),
        ("1K", 1_000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1kib", 1024),
        ("2m", 2_000_000),
        ("1mb", 1 << 20),
        ("1MiB", 1 << 20),
        ("3g", 3_000_000_000),
        ("1gb", 1 << 30),
        ("1t", 1_000_000_000_000),
        ("1tb", 1 << 40),
        ("1p", 1_000_000_000_000_000),
        ("1pb", 1 << 50),
        ("1e", 1_000_000_000_000_000_000),
        ("1eb", 1 << 60),
        ("-2k", -2000),
    ];
    for (text, expected) in cases {
        assert_eq!(
            value(&format!("x = {text}\n"), "x"),
            Value::Int(*expected),
            "{text}"
        );
    }
    assert!(parse_err("x = 8eb").contains("out of range"));
    assert!(parse_err("x = 99999999999999999999").contains("out of range"));
    assert!(parse_err("x = 1kbb").contains("invalid size suffix"));
}

#[test]
fn duration_like_values_lex_as_nats_server_does() {
    // A bare 2m is two million (the `m` suffix); nats-server then reads it
    // as seconds and warns. Other units make strings.
    assert_eq!(value("d = 2m", "d"), Value::Int(2_000_000));
    assert_eq!(value("d = 10s", "d"), s("10s"));
    assert_eq!(value("d = 1h30m", "d"), s("1h30m"));
    assert_eq!(value("d = 500ms", "d"), s("500ms"));
    assert_eq!(value("d = \"2m\"", "d"), s("2m"));
    assert_eq!(value("d = 4222abc", "d"), s("4222abc"));
}

#[test]
fn separators_terminators_and_comments() {
    let text = "a = 1\nb: 2\nc 3\nd=4; e=5, f=6\n# comment = 7\n// also = 8\ng = 9 # trailing\nh = 10 // trailing\nport\n4222\n";
    let map = parse(text);
    let keys: Vec<&str> = map.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h", "port"]);
    let values: Vec<i64> = map.iter().filter_map(|e| e.value.as_int()).collect();
    assert_eq!(values, ints(&[1, 2, 3, 4, 5, 6, 9, 10, 4222]));
}

#[test]
fn nested_blocks_and_arrays() {
    let text = r#"
cluster {
  name: c1
  port = 6222,
  routes = [
    nats-route://a:6222   # first
    nats-route://b:6222,
  ]
  authorization = {
    user: ruser; password: "p w"
  }
}
numbers = [1, 2, 3]
empty_array = []
empty_map {}
nested = [[1, 2], [3], {k: v}]
multiline = [
  1,
  2
]
"#;
    let map = parse(text);
    let cluster = map
        .get("cluster")
        .and_then(Spanned::as_map)
        .cloned()
        .unwrap_or_default();
    assert_eq!(cluster.get("name").and_then(Spanned::as_str), Some("c1"));
    assert_eq!(cluster.get("port").and_then(Spanned::as_int), Some(6222));
    let routes: Vec<&str> = cluster
        .get("routes")
        .and_then(Spanned::as_array)
        .unwrap_or(&[])
        .iter()
        .filter_map(Spanned::as_str)
        .collect();
    assert_eq!(routes, ["nats-route://a:6222", "nats-route://b:6222"]);
    let auth = cluster.get("authorization").and_then(Spanned::as_map);
    assert_eq!(
        auth.and_then(|a| a.get("password"))
            .and_then(Spanned::as_str),
        Some("p w")
    );
    let numbers = map
        .get("numbers")
        .and_then(Spanned::as_array)
        .unwrap_or(&[]);
    assert_eq!(array_ints(numbers), ints(&[1, 2, 3]));
    assert_eq!(
        map.get("empty_array").map(|v| v.value.clone()),
        Some(Value::Array(vec![]))
    );
    assert_eq!(
        map.get("empty_map").and_then(Spanned::as_map).map(Map::len),
        Some(0)
    );
    let nested = map.get("nested").and_then(Spanned::as_array).unwrap_or(&[]);
    assert_eq!(nested.len(), 3);
    assert_eq!(
        array_ints(nested[0].as_array().unwrap_or(&[])),
        ints(&[1, 2])
    );
    assert_eq!(
        nested[2]
            .as_map()
            .and_then(|m| m.get("k"))
            .and_then(Spanned::as_str),
        Some("v")
    );
    let multiline = map
        .get("multiline")
        .and_then(Spanned::as_array)
        .unwrap_or(&[]);
    assert_eq!(array_ints(multiline), ints(&[1, 2]));
}

#[test]
fn json_documents_are_valid() {
    let text = r#"{"http_port": 8227,"port": 4227,"write_deadline": "1h","cluster": {"port": 6222,"routes": ["nats://127.0.0.1:4222","nats://127.0.0.1:4223"]}}"#;
    let map = parse(text);
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(4227));
    assert_eq!(
        map.get("write_deadline").and_then(Spanned::as_str),
        Some("1h")
    );
    let pretty =
        "{\n  \"port\": 4222,\n  \"jetstream\": {\n    \"store_dir\": \"/tmp/js\"\n  }\n}\n";
    assert_eq!(
        parse(pretty).get("port").and_then(Spanned::as_int),
        Some(4222)
    );
}

#[test]
fn block_strings_end_at_a_lone_paren() {
    let text = "numbers (\n  12(34)56\n  (\n    7890\n  )\n)\nafter = 1\n";
    let map = parse(text);
    assert_eq!(
        map.get("numbers").and_then(Spanned::as_str),
        Some("\n  12(34)56\n  (\n    7890\n  )\n")
    );
    assert_eq!(map.get("after").and_then(Spanned::as_int), Some(1));
}

#[test]
fn positions_are_one_based_lines_and_characters() {
    let text =
        "# header\nport = 4222\n  naïve = \"é\" ; other: 5\nblock {\n  inner = [1,\n    2]\n}\n";
    let map = parse(text);
    let port = map
        .entry("port")
        .map(|e| (e.key_pos.clone(), e.value.pos.clone()));
    let (key_pos, value_pos) = port.unwrap_or_else(|| panic!("port missing"));
    assert_eq!((key_pos.line, key_pos.column), (2, 1));
    assert_eq!((value_pos.line, value_pos.column), (2, 8));
    assert_eq!(&*key_pos.file, "t.conf");
    let other = map
        .entry("other")
        .map(|e| (e.key_pos.line, e.key_pos.column));
    assert_eq!(other, Some((3, 17)));
    let inner = map
        .get("block")
        .and_then(Spanned::as_map)
        .and_then(|b| b.get("inner"))
        .and_then(Spanned::as_array)
        .map(|items| (items[1].pos.line, items[1].pos.column));
    assert_eq!(inner, Some((6, 5)));
}

#[test]
fn duplicate_keys_keep_first_place_and_last_value_and_lookups_ignore_case() {
    let map = parse("a = 1\nPort = 2\na = 3\n");
    let keys: Vec<&str> = map.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "Port"]);
    assert_eq!(map.get("a").and_then(Spanned::as_int), Some(3));
    assert_eq!(map.get("a").map(|v| v.pos.line), Some(3));
    assert_eq!(map.get("PORT").and_then(Spanned::as_int), Some(2));
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(2));
}

#[test]
fn variables_resolve_in_enclosing_scopes() {
    let text = r#"
TOKEN = s3cr3t
PORT: 4222
limits = { max: 10 }
port = $PORT
auth {
  INNER = inner_value
  token = $TOKEN
  inner = $INNER
  nested { deeper = $INNER }
}
copied = $limits
literal = "$TOKEN"
hash = $2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG
"#;
    let map = parse(text);
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(4222));
    assert_eq!(
        map.get("port").map(|v| (v.pos.line, v.pos.column)),
        Some((5, 8))
    );
    let auth = map
        .get("auth")
        .and_then(Spanned::as_map)
        .cloned()
        .unwrap_or_default();
    assert_eq!(auth.get("token").and_then(Spanned::as_str), Some("s3cr3t"));
    assert_eq!(
        auth.get("inner").and_then(Spanned::as_str),
        Some("inner_value")
    );
    let deeper = auth
        .get("nested")
        .and_then(Spanned::as_map)
        .and_then(|n| n.get("deeper"))
        .and_then(Spanned::as_str);
    assert_eq!(deeper, Some("inner_value"));
    let copied = map.get("copied").and_then(Spanned::as_map);
    assert_eq!(
        copied.and_then(|c| c.get("max")).and_then(Spanned::as_int),
        Some(10)
    );
    assert_eq!(map.get("literal").and_then(Spanned::as_str), Some("$TOKEN"));
    assert_eq!(
        map.get("hash").and_then(Spanned::as_str),
        Some("$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG")
    );
    // Referenced keys are marked so option processing does not call them
    // unknown fields.
    assert_eq!(map.entry("TOKEN").map(|e| e.used_as_variable), Some(true));
    assert_eq!(map.entry("port").map(|e| e.used_as_variable), Some(false));
    let inner = auth
        .iter()
        .find(|e| e.key == "INNER")
        .map(|e| e.used_as_variable);
    assert_eq!(inner, Some(true));
}

#[test]
fn variables_are_case_sensitive_and_block_scoped() {
    let error = parse_err("Foo = 1\nbar = $foo\n");
    assert_eq!(
        error,
        "t.conf:2:7: variable reference for 'foo' can not be found"
    );
    let error = parse_err("a { X = 1 }\nb = $X\n");
    assert_eq!(
        error,
        "t.conf:2:5: variable reference for 'X' can not be found"
    );
    let error = parse_err("b = $X\nX = 1\n");
    assert_eq!(
        error,
        "t.conf:1:5: variable reference for 'X' can not be found"
    );
}

#[test]
fn environment_variables_are_parsed_as_values() {
    let env: HashMap<&str, &str> = HashMap::from([
        ("PORT", "4333"),
        ("HOST", "127.0.0.1"),
        ("LIST", "[1, 2]"),
        ("NESTED", "$PORT"),
        ("EMPTY", ""),
    ]);
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let parse_env = |text: &str| parse_str_with_env(text, "e.conf", &lookup);
    let map = match parse_env("port = $PORT\nhost = $HOST\nlist = $LIST\nn = $NESTED\ne = $EMPTY\n")
    {
        Ok(map) => map,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(4333));
    assert_eq!(map.get("host").and_then(Spanned::as_str), Some("127.0.0.1"));
    assert_eq!(
        array_ints(map.get("list").and_then(Spanned::as_array).unwrap_or(&[])),
        ints(&[1, 2])
    );
    assert_eq!(map.get("n").and_then(Spanned::as_int), Some(4333));
    assert_eq!(map.get("e").and_then(Spanned::as_str), Some(""));
    // Values from the environment are placed at the reference.
    assert_eq!(
        map.get("list").map(|v| v.pos.to_string()),
        Some("e.conf:3:8".to_string())
    );

    // A defined key shadows the environment.
    let map = parse_env("PORT = 1\nport = $PORT\n").unwrap_or_default();
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(1));
}

#[test]
fn environment_cycles_are_reported_at_the_file_reference() {
    let env: HashMap<&str, &str> = HashMap::from([
        ("CYCLE_A", "$CYCLE_B"),
        ("CYCLE_B", "$CYCLE_A"),
        ("SELF", "$SELF"),
    ]);
    let lookup = |name: &str| env.get(name).map(|v| v.to_string());
    let error = parse_str_with_env("\n  x = $CYCLE_A\n", "e.conf", &lookup).map(|_| ());
    match error {
        Err(ConfigError::VariableCycle { pos, name }) => {
            assert_eq!(pos.to_string(), "e.conf:2:7");
            assert_eq!(name, "CYCLE_A");
        }
        other => panic!("{other:?}"),
    }
    let error = parse_str_with_env("x = $SELF", "e.conf", &lookup).map(|_| ());
    assert!(
        matches!(error, Err(ConfigError::VariableCycle { .. })),
        "{error:?}"
    );
    let error = parse_str_with_env("x = $BAD", "e.conf", &|name: &str| {
        (name == "BAD").then(|| "\"open".to_string())
    })
    .map(|_| ());
    let text = error.map_err(|e| e.to_string()).err().unwrap_or_default();
    assert!(
        text.starts_with("e.conf:1:5: variable reference for 'BAD' could not be parsed"),
        "{text}"
    );
}

#[test]
fn includes_are_relative_to_the_including_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    fs::create_dir_all(root.join("sub")).unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        root.join("main.conf"),
        "port = 4222\ninclude sub/auth.conf\nblock {\n  include 'sub/inner.conf'\n  own = 1\n}\nafter = $from_include\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::write(
        root.join("sub/auth.conf"),
        "from_include = yes\ninclude \"deeper.conf\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    fs::write(root.join("sub/deeper.conf"), "deep = 42\n").unwrap_or_else(|e| panic!("{e}"));
    fs::write(root.join("sub/inner.conf"), "inside = \"x\"\n").unwrap_or_else(|e| panic!("{e}"));

    let map = parse_file(&root.join("main.conf")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(map.get("port").and_then(Spanned::as_int), Some(4222));
    assert_eq!(
        map.get("from_include").and_then(Spanned::as_bool),
        Some(true)
    );
    assert_eq!(map.get("deep").and_then(Spanned::as_int), Some(42));
    assert_eq!(map.get("after").and_then(Spanned::as_bool), Some(true));
    let block = map
        .get("block")
        .and_then(Spanned::as_map)
        .cloned()
        .unwrap_or_default();
    assert_eq!(block.get("inside").and_then(Spanned::as_str), Some("x"));
    assert_eq!(block.get("own").and_then(Spanned::as_int), Some(1));
    // Values from an include point into the included file.
    let deep = map.get("deep").map(|v| v.pos.clone());
    let deep = deep.unwrap_or_else(|| panic!("deep missing"));
    assert!(deep.file.ends_with("deeper.conf"), "{deep}");
    assert_eq!((deep.line, deep.column), (1, 8));
}

#[test]
fn included_files_do_not_see_the_includers_variables() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("main.conf"), "X = 1\ninclude inc.conf\n")
        .unwrap_or_else(|e| panic!("{e}"));
    fs::write(dir.path().join("inc.conf"), "y = $X\n").unwrap_or_else(|e| panic!("{e}"));
    let error = parse_file(&dir.path().join("main.conf")).map(|_| ());
    match error {
        Err(ConfigError::UndefinedVariable { pos, name }) => {
            assert!(pos.file.ends_with("inc.conf"));
            assert_eq!((pos.line, pos.column, name.as_str()), (1, 5, "X"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn include_loops_and_missing_includes_are_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path();
    fs::write(root.join("a.conf"), "x = 1\ninclude b.conf\n").unwrap_or_else(|e| panic!("{e}"));
    fs::write(root.join("b.conf"), "\n\n  include ./a.conf\n").unwrap_or_else(|e| panic!("{e}"));
    match parse_file(&root.join("a.conf")) {
        Err(ConfigError::IncludeLoop { pos, path }) => {
            assert!(pos.file.ends_with("b.conf"), "{pos}");
            assert_eq!((pos.line, pos.column), (3, 11));
            assert!(path.ends_with("a.conf"), "{path}");
        }
        other => panic!("{other:?}"),
    }
    fs::write(root.join("self.conf"), "include self.conf\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        parse_file(&root.join("self.conf")),
        Err(ConfigError::IncludeLoop { .. })
    ));
    fs::write(root.join("missing.conf"), "a = 1\ninclude nope.conf\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let text = parse_file(&root.join("missing.conf"))
        .map(|_| ())
        .map_err(|e| e.to_string());
    let text = text.err().unwrap_or_default();
    assert!(
        text.contains("missing.conf:2:9: error parsing include file"),
        "{text}"
    );
    assert!(matches!(
        parse_file(&root.join("absent.conf")),
        Err(ConfigError::Io { .. })
    ));
}

#[test]
fn include_chains_are_bounded() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let depth = super::format::INCLUDE_DEPTH_MAX + 2;
    for i in 0..depth {
        fs::write(
            dir.path().join(format!("f{i}.conf")),
            format!("include f{}.conf\n", i + 1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    fs::write(dir.path().join(format!("f{depth}.conf")), "x = 1\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        parse_file(&dir.path().join("f0.conf")),
        Err(ConfigError::IncludeDepth { .. })
    ));
}

#[test]
fn malformed_inputs_report_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        ("a = 1\nb = \"abc\n", "t.conf:2:5: unterminated string"),
        ("a = 'abc", "t.conf:1:5: unterminated string"),
        ("cluster {\n  port = 1\n", "t.conf:1:9: unterminated map: '{' is never closed"),
        ("a = [1, 2\n", "t.conf:1:5: unterminated array: '[' is never closed"),
        ("{ a = 1\n", "t.conf:1:1: unterminated block: '{' is never closed"),
        ("x = (\nabc\n", "t.conf:1:5: unterminated block string: no ')' on a line of its own"),
        ("\n  port =\n  4222\n", "t.conf:2:9: expected a value after '=', found a new line"),
        ("port", "t.conf:1:1: expected a value for key \"port\""),
        ("= 5", "t.conf:1:1: unexpected key separator '='"),
        ("a = 1 2", "t.conf:1:7: expected a new line or a comment after the value of \"a\", found '2'"),
        ("a = [1,,2]", "t.conf:1:8: unexpected ',' in array"),
        ("a = [1 2]", "t.conf:1:8: expected ',' or ']' after an array element, found '2'"),
        ("m { a = 1 b = 2 }", "t.conf:1:11: expected ',' or '}' after the value of \"a\", found 'b'"),
        ("a = \"x\\q\"", "t.conf:1:8: invalid escape character 'q'; only \\xXX, \\t, \\n, \\r, \\\" and \\\\ are allowed"),
        ("a = \"\\xZZ\"", "t.conf:1:7: expected two hexadecimal digits after '\\x'"),
        ("}", "t.conf:1:1: unexpected '}' without a matching '{'"),
        ("a = $nope", "t.conf:1:5: variable reference for 'nope' can not be found"),
        ("d = 2024-01-0", "t.conf:1:14: expected a digit in ISO8601 datetime, found end of file"),
        ("d = 12-3", "t.conf:1:5: all ISO8601 dates must be in full Zulu form"),
        ("f = 1.x", "t.conf:1:7: floats must have a digit after the '.', found 'x'"),
        ("f = .5", "t.conf:1:5: floats must start with a digit, not '.'"),
        ("n = -x", "t.conf:1:6: expected a digit after '-', found 'x'"),
        ("a = ;", "t.conf:1:5: expected a value for key \"a\", found ';'"),
        ("m { a = , }", "t.conf:1:9: expected a value for key \"a\", found ','"),
        ("m { a }", "t.conf:1:7: expected a value for key \"a\", found '}'"),
        ("include\n", "t.conf:1:8: expected an include path, found a new line"),
        ("include [a]", "t.conf:1:9: expected an include path, found '['"),
        ("é = \"x", "t.conf:1:5: unterminated string"),
        ("'key = 1", "t.conf:1:1: unterminated quoted key"),
    ];
    for (text, expected) in cases {
        assert_eq!(&parse_err(text), expected, "input {text:?}");
    }
}

#[test]
fn nesting_is_bounded_without_overflowing_the_stack() {
    let deep = format!("a = {}", "[".repeat(NESTING_DEPTH_MAX + 1));
    assert!(parse_err(&deep).contains("nested deeper than"));
    let deep_maps = format!("a = {}", "{b = ".repeat(NESTING_DEPTH_MAX + 1));
    assert!(parse_err(&deep_maps).contains("nested deeper than"));
    let fine = format!(
        "a = {}{}",
        "[".repeat(NESTING_DEPTH_MAX - 1),
        "]".repeat(NESTING_DEPTH_MAX - 1)
    );
    assert!(parse_str_with_env(&fine, "t.conf", &no_env).is_ok());
}

#[test]
fn errors_from_strings_escape_to_valid_utf8_only() {
    assert!(parse_err("a = \"\\xff\"").contains("not valid UTF-8"));
    assert_eq!(value("a = \"\\xc3\\xa9\"", "a"), s("é"));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str_with_env(&text, "fuzz.conf", &no_env);
    }

    #[test]
    fn config_shaped_noise_never_panics(
        text in proptest::string::string_regex(
            "([a-z$ \t\n=:{}\\[\\](),;#/\"'\\\\x0-9.\\-kmb]|include |é){0,200}"
        ).unwrap_or_else(|e| panic!("{e}"))
    ) {
        let env = |name: &str| (name.len() < 3).then(|| format!("${name}x"));
        let _ = parse_str_with_env(&text, "fuzz.conf", &env);
    }

    #[test]
    fn integers_round_trip(n in any::<i64>()) {
        let map = parse_str_with_env(&format!("n = {n}"), "p.conf", &no_env);
        prop_assert_eq!(map.ok().and_then(|m| m.get("n").and_then(Spanned::as_int)), Some(n));
    }
}

/// Each variable refers twice to the one before, so the text doubles per line: 40 lines
/// would be 2^40 values. The reader stops at its expansion budget instead of running out
/// of memory (the `config_format` fuzz target found this shape).
#[test]
fn variables_that_double_at_every_step_are_refused_not_expanded() {
    let mut text = String::from("v0: [1, 2]\n");
    for i in 1..40 {
        text.push_str(&format!("v{i}: [$v{}, $v{}]\n", i - 1, i - 1));
    }
    let message = parse_err(&text);
    assert!(
        message.contains("expands the configuration past"),
        "{message}"
    );
    // A variable used a handful of times stays well within the budget.
    let map = parse("big: [1, 2, 3]\na: $big\nb: $big\nc: [$big, $big]\n");
    assert!(map.get("c").is_some());
}
