//! Just enough HTTP/1.1 for monitoring: GET with a path and query, one response, close.

use std::io::{Read, Write};
use std::net::TcpStream;

/// A request head larger than this is refused.
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 * 1024;

pub struct Response {
    status: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    pub fn json(value: serde_json::Value) -> Response {
        let mut body = serde_json::to_vec_pretty(&value).unwrap_or_default();
        body.push(b'\n');
        Response {
            status: "200 OK",
            content_type: "application/json",
            body,
        }
    }

    pub fn not_found() -> Response {
        Response {
            status: "404 Not Found",
            content_type: "text/plain",
            body: b"404 page not found\n".to_vec(),
        }
    }

    fn bad_request() -> Response {
        Response {
            status: "400 Bad Request",
            content_type: "text/plain",
            body: b"bad request\n".to_vec(),
        }
    }
}

pub fn serve(mut stream: TcpStream, handler: impl Fn(&str, &str) -> Response) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > REQUEST_HEAD_BYTES_MAX {
            return write_response(&mut stream, Response::bad_request());
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return write_response(&mut stream, Response::bad_request());
    };
    if method != "GET" && method != "HEAD" {
        return write_response(&mut stream, Response::bad_request());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let response = handler(path, query);
    write_response(&mut stream, response);
}

fn write_response(stream: &mut TcpStream, response: Response) {
    let head = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&response.body);
}
