//! Just enough HTTP/1.1 for monitoring: GET (or HEAD) with a path and query, one response,
//! close. Query arguments are decoded as Go's `net/url` does, and bad ones are answered with
//! the 400 texts of nats-server's `decodeBool`/`decodeInt`/`decodeUint64`.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde::Serialize;

/// A request head larger than this is refused.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Query arguments read from one request at most; the rest are ignored.
pub const QUERY_ARGS_MAX: usize = 64;

pub struct Response {
    status: u16,
    content_type: &'static str,
    /// JSON answers may be wrapped for JSONP (`?callback=`), as nats-server does.
    json: bool,
    body: Vec<u8>,
}

impl Response {
    /// Pretty-printed JSON with a trailing newline-free body, as nats-server's
    /// `json.MarshalIndent(.., "", "  ")`.
    pub fn json(value: &impl Serialize) -> Response {
        Response::json_status(200, value)
    }

    pub fn json_status(status: u16, value: &impl Serialize) -> Response {
        Response {
            status,
            content_type: "application/json",
            json: true,
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
        }
    }

    /// Compact JSON (nats-server's `/healthz` uses `json.Marshal`).
    pub fn json_compact(status: u16, value: &impl Serialize) -> Response {
        Response {
            status,
            content_type: "application/json",
            json: true,
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    pub fn html(body: &'static str) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            json: false,
            body: body.as_bytes().to_vec(),
        }
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn prometheus(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            json: false,
            body: body.into_bytes(),
        }
    }

    /// A plain-text error, as nats-server writes its 400s.
    pub fn error(status: u16, text: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            json: false,
            body: text.into().into_bytes(),
        }
    }

    /// The status and body (for answers that do not go out over HTTP).
    pub fn into_parts(self) -> (u16, Vec<u8>) {
        (self.status, self.body)
    }

    pub fn not_found() -> Response {
        Response::error(404, "404 page not found\n")
    }

    #[cfg(test)]
    pub fn status(&self) -> u16 {
        self.status
    }

    #[cfg(test)]
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Reads one request from `stream`, answers it with `handler(path, query)`, and closes.
pub fn serve(mut stream: TcpStream, handler: impl Fn(&str, &Query) -> Response) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > REQUEST_HEAD_BYTES_MAX {
            return write_response(
                &mut stream,
                Response::error(400, "request too large"),
                None,
                false,
            );
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return write_response(
            &mut stream,
            Response::error(400, "bad request"),
            None,
            false,
        );
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return write_response(
            &mut stream,
            Response::error(405, "method not allowed"),
            None,
            false,
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = Query::parse(query);
    let response = handler(path, &query);
    let callback = query.get("callback").filter(|c| is_safe_callback(c));
    write_response(&mut stream, response, callback, head_only);
}

/// A JSONP callback name is echoed into a script, so only identifier characters pass.
fn is_safe_callback(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$')
}

fn write_response(
    stream: &mut TcpStream,
    response: Response,
    callback: Option<&str>,
    head_only: bool,
) {
    let (content_type, body) = match callback {
        Some(name) if response.json => {
            let mut wrapped = Vec::with_capacity(response.body.len() + name.len() + 2);
            wrapped.extend_from_slice(name.as_bytes());
            wrapped.push(b'(');
            wrapped.extend_from_slice(&response.body);
            wrapped.push(b')');
            ("application/javascript", wrapped)
        }
        _ => (response.content_type, response.body),
    };
    // nats-server (2.10) allows any origin on its JSON: dashboards are served from elsewhere.
    let cors = if response.json {
        "Access-Control-Allow-Origin: *\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\n{cors}Cache-Control: no-store\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason_phrase(response.status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(&body);
    }
}

/// Decoded query arguments, in order; like Go's `Query().Get`, the first value wins.
#[derive(Debug, Default)]
pub struct Query {
    args: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let args = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .take(QUERY_ARGS_MAX)
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                // Go drops pairs with a bad escape; so do we.
                Some((unescape(key)?, unescape(value)?))
            })
            .collect();
        Query { args }
    }

    /// Arguments given as decoded pairs (a `$SYS` request's options).
    pub fn from_pairs(args: Vec<(String, String)>) -> Query {
        Query { args }
    }

    /// The first value of `key`, if any (an empty value counts as absent, as in Go).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// nats-server's `decodeBool`: Go's `strconv.ParseBool`.
    pub fn bool(&self, key: &str) -> Result<bool, Response> {
        let Some(text) = self.get(key) else {
            return Ok(false);
        };
        match text {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err(Response::error(
                400,
                format!(
                    "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                    go_quote(text)
                ),
            )),
        }
    }

    /// nats-server's `decodeInt`: Go's `strconv.Atoi` (0 when absent).
    pub fn int(&self, key: &str) -> Result<i64, Response> {
        let Some(text) = self.get(key) else {
            return Ok(0);
        };
        parse_go_int(text).map_err(|why| {
            Response::error(
                400,
                format!(
                    "Error decoding int for '{key}': strconv.Atoi: parsing {}: {why}",
                    go_quote(text)
                ),
            )
        })
    }

    /// nats-server's `decodeUint64`: Go's `strconv.ParseUint(s, 10, 64)` (0 when absent).
    pub fn uint64(&self, key: &str) -> Result<u64, Response> {
        let Some(text) = self.get(key) else {
            return Ok(0);
        };
        let why = if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            "invalid syntax"
        } else {
            match text.parse::<u64>() {
                Ok(value) => return Ok(value),
                Err(_) => "value out of range",
            }
        };
        Err(Response::error(
            400,
            format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: {why}",
                go_quote(text)
            ),
        ))
    }
}

/// Go's `strconv.Atoi` on a 64-bit platform: optional sign, decimal digits.
fn parse_go_int(text: &str) -> Result<i64, &'static str> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    text.parse::<i64>().map_err(|_| "value out of range")
}

/// Go's `%q` of a string, enough for error texts: quotes, backslash escapes for quotes,
/// backslashes and control characters.
fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Percent-decoding with `+` as space (`application/x-www-form-urlencoded`); None on a bad
/// escape or bytes that are not UTF-8.
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let q = Query::parse(
            "acc=%24G&subs=detail&x=%zz&limit=abc&sort=&b=True&n=-3&u=18446744073709551616",
        );
        assert_eq!(q.get("acc"), Some("$G"));
        assert_eq!(q.get("subs"), Some("detail"));
        assert_eq!(q.get("x"), None, "bad escape dropped");
        assert_eq!(q.get("sort"), None, "empty is absent");
        assert_eq!(q.bool("b").ok(), Some(true));
        assert_eq!(q.int("n").ok(), Some(-3));
        assert_eq!(q.int("missing").ok(), Some(0));
        let error = q.int("limit").err().unwrap();
        assert_eq!(
            String::from_utf8_lossy(error.body()),
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"
        );
        let error = q.uint64("u").err().unwrap();
        assert!(String::from_utf8_lossy(error.body()).ends_with("value out of range"));
        let error = q.bool("subs").err().unwrap();
        assert_eq!(error.status(), 400);
        assert_eq!(
            String::from_utf8_lossy(error.body()),
            "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"detail\": invalid syntax"
        );
    }

    #[test]
    fn argument_count_is_bounded() {
        let raw = (0..1000)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(Query::parse(&raw).args.len(), QUERY_ARGS_MAX);
    }

    #[test]
    fn callback_names_are_identifiers() {
        assert!(is_safe_callback("cb_1.x"));
        assert!(!is_safe_callback("alert(1)//"));
        assert!(!is_safe_callback(""));
    }
}
