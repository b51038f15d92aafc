//! A fault-injecting HTTP proxy between sundown and the emulator (std only).
//!
//! Each request is forwarded to moto unless the dice say otherwise. Faults,
//! in equal shares: HTTP 503 before forwarding; a throttling error before
//! forwarding, shaped for the request's protocol (awsJson, awsQuery, REST);
//! and HTTP 500 *after* forwarding, as when the work was done but the
//! response was lost, so retries meet their own earlier success. A fixed
//! rule can answer one operation with one error every time (expired
//! credentials). One request per connection (`Connection: close`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to requests.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests answered with a fault, 0.0 to 1.0.
    pub rate: f64,
    /// Added before every forwarded request.
    pub latency: Duration,
    /// Requests whose body or target contains `.0` get status `.1` with error code `.2`, always.
    pub always: Option<(&'static str, u16, &'static str)>,
    /// Seed of the dice, so a failing run can be replayed.
    pub seed: u64,
}

pub struct FaultProxy {
    pub port: u16,
    pub injected: Arc<AtomicU64>,
    pub forwarded: Arc<AtomicU64>,
}

impl FaultProxy {
    /// Listens on a free port and forwards to `127.0.0.1:upstream`.
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().unwrap().port();
        let injected = Arc::new(AtomicU64::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let dice = Arc::new(Mutex::new(
            faults.seed.wrapping_mul(6364136223846793005).wrapping_add(1),
        ));
        let (inj, fwd) = (injected.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (faults, dice, inj, fwd) = (faults.clone(), dice.clone(), inj.clone(), fwd.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, &faults, &dice, &inj, &fwd);
                });
            }
        });
        FaultProxy {
            port,
            injected,
            forwarded,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A 64-bit LCG step, returning a number in [0, 1).
fn roll(state: &Mutex<u64>) -> f64 {
    let mut s = state.lock().unwrap();
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*s >> 11) as f64 / (1u64 << 53) as f64
}

struct Request {
    head: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Request { head, body })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The error response a throttled or refused request gets, in its protocol's shape.
fn error_response(req: &Request, status: u16, code: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let query = header(&req.head, "content-type").is_some_and(|c| c.contains("x-www-form-urlencoded"));
    let (content_type, body) = if query {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the fault proxy</Message></Error><RequestId>fault</RequestId></ErrorResponse>"
            ),
        )
    } else {
        (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"injected by the fault proxy\"}}"),
        )
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nx-amzn-ErrorType: {code}\r\nx-amzn-RequestId: fault\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends the request to moto with `Connection: close` and returns its whole response.
fn forward(req: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut head: String = req
        .head
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(response)
}

fn serve(
    stream: TcpStream,
    upstream: u16,
    faults: &Faults,
    dice: &Mutex<u64>,
    injected: &AtomicU64,
    forwarded: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let req = read_request(&mut reader)?;
    let mut out = stream;
    if let Some((needle, status, code)) = faults.always {
        let target = header(&req.head, "x-amz-target").unwrap_or("");
        if target.contains(needle) || String::from_utf8_lossy(&req.body).contains(needle) {
            injected.fetch_add(1, Ordering::Relaxed);
            return out.write_all(&error_response(&req, status, code));
        }
    }
    let r = roll(dice);
    let share = faults.rate / 3.0;
    let fault = if r < share {
        Some(error_response(&req, 503, "ServiceUnavailable"))
    } else if r < 2.0 * share {
        let query = header(&req.head, "content-type").is_some_and(|c| c.contains("x-www-form-urlencoded"));
        let json = header(&req.head, "x-amz-target").is_some();
        Some(match (query, json) {
            (true, _) => error_response(&req, 400, "Throttling"),
            (_, true) => error_response(&req, 400, "ThrottlingException"),
            _ => error_response(&req, 429, "ThrottlingException"),
        })
    } else {
        None
    };
    if let Some(response) = fault {
        injected.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&response);
    }
    std::thread::sleep(faults.latency);
    let response = forward(&req, upstream)?;
    forwarded.fetch_add(1, Ordering::Relaxed);
    if r < 3.0 * share {
        // Done upstream, lost on the way back.
        injected.fetch_add(1, Ordering::Relaxed);
        return out.write_all(&error_response(&req, 500, "InternalFailure"));
    }
    out.write_all(&response)
}
