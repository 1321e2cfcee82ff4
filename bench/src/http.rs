//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Benchmarks poll readiness thousands of times and drive load from dozens
//! of threads; a raw request keeps the client's own cost negligible and adds
//! no dependency to measure around. It speaks just what herald answers:
//! `Content-Length` or chunked bodies on a keep-alive connection.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Status line is within the first few dozen bytes; stop reading there.
const MAX_STATUS_LINE: usize = 1024;
/// A response head larger than this is not herald's; refuse rather than buffer it.
const MAX_HEAD_LINES: usize = 100;

/// Status code of `GET path`, or the I/O error (connection refused while the
/// server is still starting is the common one). Each step is bounded by
/// `timeout` so a stuck server cannot hang the caller.
pub fn get_status(addr: SocketAddr, path: &str, timeout: Duration) -> io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;

    let mut head = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < MAX_STATUS_LINE {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    parse_status_line(&head)
}

/// One answered request.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said `Connection: close`; the next request needs a new client.
    pub closing: bool,
    /// The first `Set-Cookie` header's `name=value`, if any.
    pub cookie: Option<String>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection: one per load thread, reused for every request,
/// as a real API client with a connection pool would.
pub struct Client {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
    line: String,
}

impl Client {
    /// Connects with `timeout` bounding the connect and each later read and
    /// write. Nagle is off: requests are one small write and latency counts.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Client { reader: BufReader::new(stream), request: Vec::with_capacity(512), line: String::new() })
    }

    /// Sends `method path` with an optional bearer token and JSON body and
    /// reads the whole response.
    pub fn send(&mut self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> io::Result<Response> {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("Authorization", bearer.as_str()));
        }
        self.send_headers(method, path, &headers, body)
    }

    /// Sends `method path` with exactly these headers (and `Content-Length`
    /// for a body) and reads the whole response.
    pub fn send_headers(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> io::Result<Response> {
        self.request.clear();
        write!(self.request, "{method} {path} HTTP/1.1\r\n")?;
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")) {
            write!(self.request, "Host: bench\r\n")?;
        }
        let body = body.unwrap_or_default();
        let sends_body = !body.is_empty() || method != "GET";
        for (name, value) in headers {
            if sends_body || !name.eq_ignore_ascii_case("content-type") {
                write!(self.request, "{name}: {value}\r\n")?;
            }
        }
        if sends_body {
            write!(self.request, "Content-Length: {}\r\n", body.len())?;
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(body.as_bytes());
        self.reader.get_mut().write_all(&self.request)?;
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<Response> {
        self.read_line()?;
        let status = parse_status_line(self.line.as_bytes())?;
        let (mut length, mut chunked, mut closing, mut cookie) = (None, false, false, None);
        for _ in 0..MAX_HEAD_LINES {
            self.read_line()?;
            let line = self.line.trim_end();
            if line.is_empty() {
                let body = match (chunked, length) {
                    (true, _) => self.read_chunked()?,
                    (false, Some(n)) => self.read_exact(n)?,
                    (false, None) => return Err(invalid("response without Content-Length or chunked body")),
                };
                return Ok(Response { status, body, closing, cookie });
            }
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse().map_err(|_| invalid("bad Content-Length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                closing = value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("set-cookie") && cookie.is_none() {
                cookie = value.split(';').next().map(str::to_owned);
            }
        }
        Err(invalid("response head too long"))
    }

    /// The next CRLF-terminated line into `self.line`; EOF is an error here.
    fn read_line(&mut self) -> io::Result<()> {
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server"));
        }
        Ok(())
    }

    fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut body = vec![0; n];
        self.reader.read_exact(&mut body)?;
        Ok(body)
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            self.read_line()?;
            let size = self.line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers (none expected) up to the empty line.
                loop {
                    self.read_line()?;
                    if self.line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            body.extend(self.read_exact(size)?);
            self.read_line()?; // the CRLF after the chunk
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// "HTTP/1.1 200 OK\r\n..." -> 200.
fn parse_status_line(head: &[u8]) -> io::Result<u16> {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(code))) if version.starts_with("HTTP/") => Ok(code),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, format!("not an HTTP status line: {line:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::{Client, parse_status_line};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n").ok(), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.1 503 Service Unavailable\r\nx").ok(), Some(503));
        assert!(parse_status_line(b"").is_err());
        assert!(parse_status_line(b"SSH-2.0-OpenSSH\r\n").is_err());
    }

    #[test]
    fn reuses_one_connection_for_length_and_chunked_bodies() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().expect("accept");
            let replies: [&[u8]; 2] = [
                b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            ];
            let mut buf = [0u8; 1024];
            for reply in replies {
                let _ = socket.read(&mut buf).expect("request");
                socket.write_all(reply).expect("reply");
            }
        });
        let mut client = Client::connect(addr, Duration::from_secs(5)).expect("connect");
        let first = client.send("POST", "/x", Some("t"), Some("{}")).expect("first");
        assert_eq!((first.status, first.text().as_str()), (201, "ok"));
        let second = client.send("GET", "/y", None, None).expect("second");
        assert_eq!((second.status, second.text().as_str()), (200, "abcde"));
        server.join().expect("server thread");
    }
}
