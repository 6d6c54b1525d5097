//! A real HTTP receiver for export tests: records every request (method, path, headers,
//! body, arrival time) and answers as the test tells it (a status, `Retry-After`, a delay,
//! a body), changeable while it runs. It runs on its own thread and runtime, so blocking
//! tests can use it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Lowercase header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the receiver answers the next requests.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub delay: Duration,
    pub body: String,
    pub content_type: &'static str,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            retry_after: None,
            delay: Duration::ZERO,
            body: String::new(),
            content_type: "text/plain",
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            body: body.to_string(),
            content_type: "application/json",
            ..Answer::status(status)
        }
    }

    pub fn retry_after(mut self, value: &str) -> Answer {
        self.retry_after = Some(value.to_owned());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    /// Answers by path prefix (longest match wins); `""` is the default.
    answers: Vec<(String, Answer)>,
    /// While set, requests are answered by dropping the connection (receiver "down").
    down: bool,
}

/// A running receiver on 127.0.0.1.
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts answering 200 to everything.
    pub fn start() -> Receiver {
        Receiver::start_on(0)
    }

    /// Starts on `port` (0: any free port); used to bring a receiver "back up".
    pub fn start_on(port: u16) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            answers: vec![(String::new(), Answer::status(200))],
            ..Inner::default()
        }));
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = inner.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Receiver {
            addr,
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers requests whose path starts with `prefix` like this from now on.
    pub fn answer(&self, prefix: &str, answer: Answer) {
        let mut inner = self.inner.lock().unwrap();
        inner.answers.retain(|(p, _)| p != prefix);
        inner.answers.push((prefix.to_owned(), answer));
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits until `done` holds for the requests received (at most `within`).
    pub fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "receiver condition not met within {within:?}; got {} requests: {:#?}",
                received.len(),
                received
                    .iter()
                    .map(|r| (&r.uri, r.status))
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops listening (connections are refused until a new receiver starts on the port).
    pub fn shut_down(mut self) -> u16 {
        let port = self.addr.port();
        self.stop_now();
        port
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop_now();
    }
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let answer = {
        let inner = inner.lock().unwrap();
        let path = uri.path();
        inner
            .answers
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| Answer::status(200))
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    inner.lock().unwrap().received.push(Received {
        method: method.to_string(),
        uri: uri.to_string(),
        headers,
        body: body.to_vec(),
        at,
        status: answer.status,
    });
    let status = StatusCode::from_u16(answer.status).unwrap();
    let mut response =
        (status, [("content-type", answer.content_type)], answer.body).into_response();
    if let Some(value) = answer.retry_after {
        response
            .headers_mut()
            .insert("retry-after", value.parse().unwrap());
    }
    response
}
