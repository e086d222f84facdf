//! The test server: a pool of worker threads sharing one tiny_http server,
//! each taking a request, working on it for a set time and answering.
//!
//! `GET /stats` answers at once with [`ServerStats`] as JSON, and every
//! answer carries `X-In-Flight` and `X-In-Flight-Max` headers, so a test can
//! prove from the server's side how many requests a client had open at once.

use crate::duration::format_duration;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use log::{debug, info, warn};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tiny_http::{Header, Request, Response};

/// How the test server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Defaults to `127.0.0.1:8080`.
    pub addr: String,
    /// How long each request takes before it is answered. Defaults to 2 s.
    pub request_duration: Duration,
    /// Worker threads, so at most this many requests are worked on at once;
    /// more wait in tiny_http's queue. Defaults to 128.
    pub workers: NonZeroUsize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:8080".into(),
            request_duration: Duration::from_secs(2),
            workers: NonZeroUsize::new(128).expect("128 is not zero"),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Another program already listens on the address.
    #[error("address {0} is already in use (is another server running? pick another with --addr)")]
    AddrInUse(String),
    /// The address could not be bound for another reason.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address given.
        addr: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// tiny_http or a worker thread could not be set up.
    #[error("cannot start the server: {0}")]
    Start(String),
}

/// Counters the server keeps, as `GET /stats` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Requests received (`/stats` excluded).
    pub received: u64,
    /// Requests answered in full.
    pub answered: u64,
    /// Answers that could not be written because the client had gone.
    pub failed_writes: u64,
    /// Requests being worked on now.
    pub in_flight: usize,
    /// The most requests that were ever worked on at once.
    pub in_flight_max: usize,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    answered: AtomicU64,
    failed_writes: AtomicU64,
    in_flight: AtomicUsize,
    in_flight_max: AtomicUsize,
}

impl Counters {
    fn snapshot(&self) -> ServerStats {
        ServerStats {
            received: self.received.load(Ordering::SeqCst),
            answered: self.answered.load(Ordering::SeqCst),
            failed_writes: self.failed_writes.load(Ordering::SeqCst),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            in_flight_max: self.in_flight_max.load(Ordering::SeqCst),
        }
    }
}

/// One request being worked on; counts itself out when dropped.
struct InFlight<'a> {
    counters: &'a Counters,
    now: usize,
}

impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> InFlight<'a> {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.in_flight_max.fetch_max(now, Ordering::SeqCst);
        InFlight { counters, now }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running test server. Dropping it (or [`TestServer::shutdown`]) stops
/// accepting, wakes every worker and waits for them.
pub struct TestServer {
    http: Arc<tiny_http::Server>,
    addr: SocketAddr,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    /// Dropped to wake workers in the middle of a request's wait.
    wake: Option<Sender<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Binds the address and starts the workers.
    pub fn start(config: &ServerConfig) -> Result<TestServer, ServerError> {
        let listener = TcpListener::bind(config.addr.as_str()).map_err(|source| {
            if source.kind() == io::ErrorKind::AddrInUse {
                ServerError::AddrInUse(config.addr.clone())
            } else {
                ServerError::Bind {
                    addr: config.addr.clone(),
                    source,
                }
            }
        })?;
        let addr = listener
            .local_addr()
            .map_err(|err| ServerError::Start(err.to_string()))?;
        let http = Arc::new(
            tiny_http::Server::from_listener(listener, None)
                .map_err(|err| ServerError::Start(err.to_string()))?,
        );
        let counters = Arc::new(Counters::default());
        let stopping = Arc::new(AtomicBool::new(false));
        let (wake, woken) = crossbeam_channel::bounded::<()>(0);
        let mut server = TestServer {
            http,
            addr,
            counters,
            stopping,
            wake: Some(wake),
            workers: Vec::with_capacity(config.workers.get()),
        };
        for index in 0..config.workers.get() {
            let worker = Worker {
                http: Arc::clone(&server.http),
                counters: Arc::clone(&server.counters),
                stopping: Arc::clone(&server.stopping),
                woken: woken.clone(),
                request_duration: config.request_duration,
            };
            let handle = thread::Builder::new()
                .name(format!("worker-{index}"))
                .spawn(move || worker.run())
                .map_err(|err| ServerError::Start(format!("worker thread: {err}")))?;
            server.workers.push(handle);
        }
        Ok(server)
    }

    /// The address the server listens on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters as they are now.
    pub fn stats(&self) -> ServerStats {
        self.counters.snapshot()
    }

    /// Stops the server and waits for its workers; requests still waiting
    /// are answered 503 at once.
    pub fn shutdown(self) -> ServerStats {
        let stats = self.stats();
        drop(self);
        stats
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.wake.take());
        for _ in &self.workers {
            self.http.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

struct Worker {
    http: Arc<tiny_http::Server>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    woken: Receiver<()>,
    request_duration: Duration,
}

impl Worker {
    fn run(&self) {
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            match self.http.recv() {
                Ok(request) => self.handle(request),
                Err(_) if self.stopping.load(Ordering::SeqCst) => return,
                Err(err) => warn!("could not take a request: {err}"),
            }
        }
    }

    fn handle(&self, request: Request) {
        if request.url() == "/stats" {
            self.answer_stats(request);
            return;
        }
        let started = Instant::now();
        let id = self.counters.received.fetch_add(1, Ordering::SeqCst);
        let peer = request
            .remote_addr()
            .map_or_else(|| "?".to_owned(), SocketAddr::to_string);
        info!(
            "req {id} received {} {} from {peer}",
            request.method(),
            request.url()
        );
        let in_flight = InFlight::enter(&self.counters);
        let in_flight_now = in_flight.now;
        let (status, body) = match self.woken.recv_timeout(self.request_duration) {
            Err(RecvTimeoutError::Timeout) => (200, "ok\n"),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => (503, "server shutting down\n"),
        };
        // Leave the in-flight count before answering: a client that hears the
        // answer may send its next request before this thread runs again.
        drop(in_flight);
        let in_flight_max = self.counters.in_flight_max.load(Ordering::SeqCst);
        let response = Response::from_string(body)
            .with_status_code(status)
            .with_header(header("X-Request-Id", &id.to_string()))
            .with_header(header("X-In-Flight", &in_flight_now.to_string()))
            .with_header(header("X-In-Flight-Max", &in_flight_max.to_string()));
        match send(request, response) {
            Ok(()) => {
                self.counters.answered.fetch_add(1, Ordering::SeqCst);
                info!(
                    "req {id} answered {status} after {}",
                    format_duration(started.elapsed())
                );
            }
            Err(err) => {
                self.counters.failed_writes.fetch_add(1, Ordering::SeqCst);
                warn!("req {id} could not be answered, the client went away: {err}");
            }
        }
    }

    fn answer_stats(&self, request: Request) {
        let stats = self.counters.snapshot();
        let body =
            serde_json::to_string(&stats).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"));
        let response =
            Response::from_string(body).with_header(header("Content-Type", "application/json"));
        if let Err(err) = request.respond(response) {
            debug!("could not answer /stats: {err}");
        }
    }
}

/// Writes a response like [`Request::respond`], but reports a client that
/// went away: tiny_http's own `respond` turns resets and broken pipes into Ok.
fn send<R: io::Read>(request: Request, response: Response<R>) -> io::Result<()> {
    let version = request.http_version().clone();
    let request_headers = request.headers().to_vec();
    let head_only = request.method() == &tiny_http::Method::Head;
    let mut writer = request.into_writer();
    response.raw_print(&mut writer, version, &request_headers, head_only, None)?;
    writer.flush()
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("header names and values here are plain ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn start(request_duration: Duration, workers: usize) -> TestServer {
        TestServer::start(&ServerConfig {
            addr: "127.0.0.1:0".into(),
            request_duration,
            workers: NonZeroUsize::new(workers).expect("a positive count"),
        })
        .expect("the server starts on a free port")
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).expect("the server accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout can be set");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .expect("the request is written");
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("the answer is read");
        answer
    }

    #[test]
    fn answers_after_the_request_duration() {
        let server = start(ms(100), 2);
        let before = Instant::now();
        let answer = get(server.addr(), "/");
        assert!(before.elapsed() >= ms(100), "{:?}", before.elapsed());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok\n"), "{answer}");
        assert!(answer.contains("X-In-Flight-Max: 1"), "{answer}");
        let stats = server.shutdown();
        assert_eq!((stats.received, stats.answered), (1, 1));
    }

    #[test]
    fn counts_the_most_requests_in_flight() {
        const CLIENTS: usize = 3;
        let server = start(ms(300), 8);
        let addr = server.addr();
        thread::scope(|scope| {
            for _ in 0..CLIENTS {
                scope.spawn(|| get(addr, "/"));
            }
        });
        let stats: ServerStats = {
            let answer = get(addr, "/stats");
            let body = answer.split("\r\n\r\n").nth(1).expect("a body");
            serde_json::from_str(body).expect("stats are JSON")
        };
        assert_eq!(stats.in_flight_max, CLIENTS);
        assert_eq!(stats.in_flight, 0);
        assert_eq!(stats.received, CLIENTS as u64);
    }

    #[test]
    fn a_used_address_is_named_in_the_error() {
        let server = start(ms(0), 1);
        let error = TestServer::start(&ServerConfig {
            addr: server.addr().to_string(),
            ..ServerConfig::default()
        })
        .expect_err("the port is taken");
        assert!(matches!(error, ServerError::AddrInUse(_)), "{error}");
        assert!(error.to_string().contains(&server.addr().to_string()));
    }

    #[test]
    fn shutdown_does_not_wait_for_long_requests() {
        let server = start(Duration::from_secs(60), 1);
        let addr = server.addr();
        let client = thread::spawn(move || get(addr, "/"));
        while server.stats().in_flight == 0 {
            thread::sleep(ms(5));
        }
        let before = Instant::now();
        server.shutdown();
        assert!(before.elapsed() < Duration::from_secs(10));
        let answer = client.join().expect("the client thread ends");
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }

    #[test]
    fn a_client_that_leaves_early_costs_one_failed_write_and_no_worker() {
        let server = start(ms(200), 1);
        {
            let mut stream = TcpStream::connect(server.addr()).expect("the server accepts");
            write!(stream, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").expect("the request is written");
            while server.stats().in_flight == 0 {
                thread::sleep(ms(5));
            }
            // Reset rather than close, so the server's write fails for sure.
            socket2::SockRef::from(&stream)
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER can be set");
        }
        // The only worker must still be there to answer the next one.
        let answer = get(server.addr(), "/");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let stats = server.shutdown();
        assert_eq!(stats.received, 2);
        assert_eq!((stats.answered, stats.failed_writes), (1, 1));
    }
}
