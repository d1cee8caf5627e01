//! The surf backend the http check sends its requests through.
//!
//! surf's own h1 backend (async-h1) refuses responses that say `HTTP/1.0`, which is what
//! `python3 -m http.server` and many small development servers send, so a check against
//! them would never pass. A readiness check needs only the status line and headers (for
//! redirects), so this backend speaks just enough HTTP/1.x: one connection per request,
//! the response head read, the body never. It connects as the tcp check does (`net`).

use std::future::Future;
use std::pin::Pin;

use crate::runtime::io::{BufReader, prelude::*};
use crate::runtime::net::TcpStream;
use surf::http::url::Position;
use surf::http::{Request, Response, StatusCode};
use surf::{Error, HttpClient};

use super::net::{connect, reason, resolve};

/// The most bytes of a response head read before giving up on it.
const MAX_HEAD_BYTES: u64 = 64 * 1024;

#[derive(Debug, Default)]
pub struct PlainHttp;

/// The status code as the server sent it, in each response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct RawStatus(pub u16);

impl HttpClient for PlainHttp {
    fn send<'a, 'b>(
        &'a self,
        request: Request,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            send(request)
                .await
                .map_err(|why| Error::from_str(StatusCode::BadGateway, why))
        })
    }
}

async fn send(request: Request) -> Result<Response, String> {
    let url = request.url();
    if url.scheme() != "http" {
        return Err(format!(
            "{} URLs are not supported, only http",
            url.scheme()
        ));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().ok_or("the URL has no host")?;
    let addresses = resolve(host.trim_start_matches('[').trim_end_matches(']'), port).await?;
    let mut stream = connect(&addresses).await?;

    let mut head = format!(
        "{} {}",
        request.method(),
        &url[Position::BeforePath..Position::AfterQuery]
    );
    head.push_str(" HTTP/1.1\r\nHost: ");
    head.push_str(&url[Position::BeforeHost..Position::AfterPort]);
    head.push_str("\r\nConnection: close\r\n");
    for (name, values) in request.iter() {
        for value in values {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {}", reason(&e)))?;

    read_head(stream).await
}

/// Reads the status line and headers of a response.
async fn read_head(stream: TcpStream) -> Result<Response, String> {
    let mut reader = BufReader::new(stream).take(MAX_HEAD_BYTES);
    let mut line = String::new();
    read_line(&mut reader, &mut line).await?;
    let code = parse_status_line(&line)
        .ok_or_else(|| format!("not an HTTP/1.x status line: {line:.80}"))?;
    // http-types knows only the registered codes; any other (299, 420) travels beside a
    // stand-in of its class that is never a redirect.
    let status = StatusCode::try_from(code).unwrap_or(match code / 100 {
        1 => StatusCode::Continue,
        2 => StatusCode::Ok,
        3 => StatusCode::MultipleChoice,
        4 => StatusCode::BadRequest,
        _ => StatusCode::InternalServerError,
    });
    let mut response = Response::new(status);
    response.ext_mut().insert(RawStatus(code));
    loop {
        read_line(&mut reader, &mut line).await?;
        if line.is_empty() {
            return Ok(response);
        }
        // http-types panics on a header that is not ASCII; a check needs none of those.
        let printable = |s: &str| s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if !name.is_empty() && printable(name) && printable(value) {
                response.append_header(name, value);
            }
        }
    }
}

/// Reads one line into `line`, without its line ending.
async fn read_line(reader: &mut (impl BufRead + Unpin), line: &mut String) -> Result<(), String> {
    line.clear();
    match reader.read_line(line).await {
        Ok(0) => Err("the connection closed before a complete response".to_owned()),
        Ok(_) => {
            line.truncate(line.trim_end_matches(['\r', '\n']).len());
            Ok(())
        }
        Err(e) => Err(format!("reading the response: {}", reason(&e))),
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status_line(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let (minor, rest) = rest.split_once(' ')?;
    if minor.len() != 1 || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code = rest.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 3 && !rest[3..].starts_with(' ') {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::parse_status_line;

    #[test]
    fn status_lines_of_both_versions_parse() {
        assert_eq!(parse_status_line("HTTP/1.0 200 OK"), Some(200));
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable"),
            Some(503)
        );
        assert_eq!(parse_status_line("HTTP/1.1 204"), Some(204));
        assert_eq!(parse_status_line("HTTP/2 200 OK"), None);
        assert_eq!(parse_status_line("HTTP/1.1 20 OK"), None);
        assert_eq!(parse_status_line("HTTP/1.1 2000 OK"), None);
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
    }
}
