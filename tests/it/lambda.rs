//! The scheduler Lambda's runtime loop (`lambda::serve`; the test build has the
//! `lambda` feature, see Cargo.toml): the binary started the way Lambda starts
//! a custom runtime (`AWS_LAMBDA_RUNTIME_API` and the function's variables),
//! against a fake of the Lambda Runtime API that hands it events and records
//! what it posts back (the Runtime API reference: `GET …/invocation/next`,
//! then `POST …/invocation/{id}/response` or `…/error`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::World;

/// What the function posted: (path, body).
type Posted = Arc<Mutex<Vec<(String, String)>>>;

/// A fake Lambda Runtime API: each `next` takes the next queued event; with
/// none left it holds the request, as Lambda does between invocations.
struct RuntimeApi {
    port: u16,
    posted: Posted,
}

impl RuntimeApi {
    fn start(events: Vec<Value>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let queue = Arc::new(Mutex::new(
            events
                .into_iter()
                .enumerate()
                .map(|(i, e)| (format!("request-{i}"), e))
                .collect::<VecDeque<_>>(),
        ));
        let posted: Posted = Arc::default();
        let seen = posted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (queue, seen) = (queue.clone(), seen.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = header.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let path = line.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let mut out = stream;
                    if path.ends_with("/invocation/next") {
                        let Some((id, event)) = queue.lock().unwrap().pop_front() else {
                            // No invocation: hold the request until the test ends the function.
                            std::thread::sleep(Duration::from_secs(600));
                            return;
                        };
                        let deadline = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis()
                            + 120_000;
                        let body = event.to_string();
                        let _ = write!(
                            out,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                             Lambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\n\
                             Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:retail-forecast-scheduler\r\n\
                             Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    } else {
                        seen.lock()
                            .unwrap()
                            .push((path, String::from_utf8_lossy(&body).into_owned()));
                        let _ = write!(
                            out,
                            "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{{\"status\":\"OK\"}}"
                        );
                    }
                });
            }
        });
        RuntimeApi { port, posted }
    }

    /// Waits until the function has posted `n` answers; returns them.
    fn answers(&self, n: usize) -> Vec<(String, String)> {
        let started = Instant::now();
        loop {
            let posted = self.posted.lock().unwrap().clone();
            if posted.len() >= n {
                return posted;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the function posted {posted:?}, not {n} answers"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An event without a known action is answered with an error (so EventBridge
/// retries and the function's Errors metric counts it) before any AWS request;
/// a stop is answered with the `sundown.schedule/v1` outcome, and the world
/// shows it: the endpoint is gone, its config remembers it.
#[test]
fn the_runtime_loop_answers_each_invocation() {
    let world = World::start();
    world.seed(&["--endpoints", "1"]);
    let config = world.config(
        "stack: retail-forecast\nregion: us-east-1\naccounts: [\"123456789012\"]\n\
         sagemaker:\n  endpoint_prefix: retail-forecast\n",
    );
    let api = RuntimeApi::start(vec![json!({"action": "pause"}), json!({"action": "stop"})]);
    world.moto.start_recording();
    let mut function = world
        .sundown()
        .env("AWS_LAMBDA_RUNTIME_API", &format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "retail-forecast-scheduler")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("SUNDOWN_CONFIG", config.to_str().unwrap())
        .start();
    let answers = api.answers(2);
    let _ = function.child.kill();
    let _ = function.child.wait();

    let (path, body) = &answers[0];
    assert_eq!(path, "/2018-06-01/runtime/invocation/request-0/error", "{answers:#?}");
    assert!(body.contains("\\\"stop\\\" or \\\"start\\\""), "{body}");
    let (path, body) = &answers[1];
    assert_eq!(
        path, "/2018-06-01/runtime/invocation/request-1/response",
        "{answers:#?}"
    );
    let outcome: Value = serde_json::from_str(body).unwrap();
    assert_eq!(outcome["schema"], "sundown.schedule/v1", "{outcome:#}");
    assert_eq!(outcome["action"], "stop");
    assert_eq!(outcome["changes"][0]["name"], "retail-forecast-ep-0", "{outcome:#}");
    assert_eq!(outcome["changes"][0]["changed"], true, "{outcome:#}");

    let recording = world.moto.recording();
    let deletes: Vec<_> = recording.iter().filter(|r| r.operation == "DeleteEndpoint").collect();
    assert_eq!(deletes.len(), 1, "{recording:#?}");
    let left = crate::support::block_on(world.leftovers(&[]));
    assert!(left.endpoints.is_empty(), "{left:#?}");
    assert_eq!(left.configs, ["retail-forecast-ep-0-config"], "{left:#?}");
}
