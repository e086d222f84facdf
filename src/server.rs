//! The test server: a pool of worker threads sharing one tiny_http server,
//! each taking a request, working on it for its latency and answering, or
//! failing it the way the [`FaultConfig`] says.
//!
//! `GET /stats` answers at once with [`ServerStats`] as JSON, and every
//! answer carries `X-In-Flight` and `X-In-Flight-Max` headers, so a test can
//! prove from the server's side how many requests a client had open at once.

use crate::duration::format_duration;
use crate::faults::{Fault, FaultConfig, Plan};
use crate::relay::Relay;
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
    /// Worker threads, so at most this many requests are worked on at once;
    /// more wait in tiny_http's queue. Hanging requests do not hold a worker.
    /// Defaults to 128.
    pub workers: NonZeroUsize,
    /// Latency and faults. Defaults to 2 s a request and no faults.
    pub faults: FaultConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:8080".into(),
            workers: NonZeroUsize::new(128).expect("128 is not zero"),
            faults: FaultConfig::default(),
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
    /// The fault settings were inconsistent.
    #[error("{0}")]
    Faults(#[from] crate::faults::FaultError),
    /// tiny_http or a thread could not be set up.
    #[error("cannot start the server: {0}")]
    Start(String),
}

/// How many of each fault the server injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// Answered with the failure status.
    pub fail: u64,
    /// Reset without an answer.
    pub reset: u64,
    /// Left hanging.
    pub hang: u64,
    /// Body sent slowly.
    pub slow_body: u64,
    /// Failed because they came during an outage (also counted above).
    pub outage: u64,
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
    /// Requests being worked on now, hanging ones included.
    pub in_flight: usize,
    /// The most requests that were ever worked on at once.
    pub in_flight_max: usize,
    /// Faults injected so far.
    pub faults: FaultCounts,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    answered: AtomicU64,
    failed_writes: AtomicU64,
    in_flight: AtomicUsize,
    in_flight_max: AtomicUsize,
    fail: AtomicU64,
    reset: AtomicU64,
    hang: AtomicU64,
    slow_body: AtomicU64,
    outage: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ServerStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        ServerStats {
            received: read(&self.received),
            answered: read(&self.answered),
            failed_writes: read(&self.failed_writes),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            in_flight_max: self.in_flight_max.load(Ordering::SeqCst),
            faults: FaultCounts {
                fail: read(&self.fail),
                reset: read(&self.reset),
                hang: read(&self.hang),
                slow_body: read(&self.slow_body),
                outage: read(&self.outage),
            },
        }
    }

    fn count_fault(&self, plan: &Plan) {
        let counter = match plan.fault {
            Fault::None => return,
            Fault::Status { .. } => &self.fail,
            Fault::Reset => &self.reset,
            Fault::Hang => &self.hang,
            Fault::SlowBody => &self.slow_body,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if plan.outage {
            self.outage.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl FaultCounts {
    /// `3 fail, 1 reset` and so on, or `none`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("fail", self.fail),
            ("reset", self.reset),
            ("hang", self.hang),
            ("slow body", self.slow_body),
        ]
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
        if parts.is_empty() {
            return "none".into();
        }
        let mut text = parts.join(", ");
        if self.outage > 0 {
            text.push_str(&format!(" ({} of them in outages)", self.outage));
        }
        text
    }
}

/// One request being worked on; counts itself out when dropped.
struct InFlight {
    counters: Arc<Counters>,
    now: usize,
}

impl InFlight {
    fn enter(counters: &Arc<Counters>) -> InFlight {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.in_flight_max.fetch_max(now, Ordering::SeqCst);
        InFlight {
            counters: Arc::clone(counters),
            now,
        }
    }
}

impl Drop for InFlight {
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
    keeper: Option<JoinHandle<()>>,
    relay: Option<Arc<Relay>>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .field("workers", &self.workers.len())
            .field("relay", &self.relay.is_some())
            .finish_non_exhaustive()
    }
}

fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            ServerError::AddrInUse(addr.to_owned())
        } else {
            ServerError::Bind {
                addr: addr.to_owned(),
                source,
            }
        }
    })
}

impl TestServer {
    /// Binds the address and starts the workers.
    pub fn start(config: &ServerConfig) -> Result<TestServer, ServerError> {
        config.faults.validate()?;
        let started = Instant::now();
        let start_error = |err: &dyn std::fmt::Display| ServerError::Start(err.to_string());
        let public = bind(&config.addr)?;
        let addr = public.local_addr().map_err(|err| start_error(&err))?;
        let counters = Arc::new(Counters::default());
        // Faults that cut connections need the relay in front of tiny_http.
        let (listener, relay) = if config.faults.cuts_connections() {
            let private = bind("127.0.0.1:0")?;
            let private_addr = private.local_addr().map_err(|err| start_error(&err))?;
            let counters = Arc::clone(&counters);
            let count_reset = Box::new(move |_peer| {
                counters.reset.fetch_add(1, Ordering::SeqCst);
                counters.outage.fetch_add(1, Ordering::SeqCst);
            });
            let relay = Relay::start(
                public,
                private_addr,
                config.faults.outages.clone(),
                started,
                count_reset,
            )
            .map_err(|err| start_error(&err))?;
            (private, Some(Arc::new(relay)))
        } else {
            (public, None)
        };
        let http = Arc::new(
            tiny_http::Server::from_listener(listener, None).map_err(|err| start_error(&err))?,
        );
        let stopping = Arc::new(AtomicBool::new(false));
        let (wake, woken) = crossbeam_channel::bounded::<()>(0);
        let (hang_tx, hang_rx) = crossbeam_channel::unbounded();
        let mut server = TestServer {
            http,
            addr,
            counters,
            stopping,
            wake: Some(wake),
            workers: Vec::with_capacity(config.workers.get()),
            keeper: None,
            relay,
        };
        let keeper = HangKeeper {
            held: hang_rx,
            woken: woken.clone(),
            relay: server.relay.clone(),
            counters: Arc::clone(&server.counters),
        };
        server.keeper = Some(
            thread::Builder::new()
                .name("hang-keeper".into())
                .spawn(move || keeper.run())
                .map_err(|err| ServerError::Start(format!("hang keeper thread: {err}")))?,
        );
        for index in 0..config.workers.get() {
            let worker = Worker {
                http: Arc::clone(&server.http),
                counters: Arc::clone(&server.counters),
                stopping: Arc::clone(&server.stopping),
                woken: woken.clone(),
                faults: config.faults.clone(),
                started,
                hangs: hang_tx.clone(),
                relay: server.relay.clone(),
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
    /// or hanging are answered 503 at once. Returns the final counters.
    pub fn shutdown(mut self) -> ServerStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.wake.take());
        for _ in &self.workers {
            self.http.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        // The workers held the keeper's other senders; now it drains and ends.
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.join();
        }
        self.relay = None;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    http: Arc<tiny_http::Server>,
    counters: Arc<Counters>,
    stopping: Arc<AtomicBool>,
    woken: Receiver<()>,
    faults: FaultConfig,
    started: Instant,
    hangs: Sender<Hung>,
    relay: Option<Arc<Relay>>,
}

/// What a wait ended in.
enum Waited {
    Full,
    ShuttingDown,
}

fn wait(woken: &Receiver<()>, duration: Duration) -> Waited {
    match woken.recv_timeout(duration) {
        Err(RecvTimeoutError::Timeout) => Waited::Full,
        Ok(()) | Err(RecvTimeoutError::Disconnected) => Waited::ShuttingDown,
    }
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

    fn peer(&self, request: &Request) -> String {
        let Some(&peer) = request.remote_addr() else {
            return "?".into();
        };
        let public = self
            .relay
            .as_ref()
            .and_then(|relay| relay.public_peer(peer));
        public.unwrap_or(peer).to_string()
    }

    fn handle(&self, request: Request) {
        if request.url() == "/stats" {
            self.answer_stats(request);
            return;
        }
        let started = Instant::now();
        let id = self.counters.received.fetch_add(1, Ordering::SeqCst);
        let plan = self.faults.plan(id, self.started.elapsed());
        info!(
            "req {id} received {} {} from {}",
            request.method(),
            request.url(),
            self.peer(&request)
        );
        self.counters.count_fault(&plan);
        if plan.fault != Fault::None {
            let during = if plan.outage { " (outage)" } else { "" };
            info!("req {id} fault: {}{during}", plan.fault.name());
        }
        let in_flight = InFlight::enter(&self.counters);
        if plan.fault == Fault::Hang {
            let hung = Hung {
                id,
                request,
                // Durations are capped at a year, far inside Instant's range.
                until: Instant::now() + self.faults.hang_limit.min(crate::duration::MAX_DURATION),
                _in_flight: in_flight,
            };
            if let Err(returned) = self.hangs.send(hung) {
                // Only while shutting down; answer instead of hanging.
                let hung = returned.into_inner();
                self.answer(
                    hung.id,
                    hung.request,
                    started,
                    503,
                    "server shutting down\n",
                    hung._in_flight,
                );
            }
            return;
        }
        if let Waited::ShuttingDown = wait(&self.woken, plan.latency) {
            self.answer(
                id,
                request,
                started,
                503,
                "server shutting down\n",
                in_flight,
            );
            return;
        }
        match plan.fault {
            Fault::None | Fault::Hang => self.answer(id, request, started, 200, "ok\n", in_flight),
            Fault::Status {
                status,
                retry_after,
            } => {
                let mut response = self.response(status, "injected failure\n", &in_flight, id);
                if let Some(value) = retry_after {
                    response.add_header(header("Retry-After", &value));
                }
                drop(in_flight);
                self.send_logged(id, request, response, started);
            }
            Fault::Reset => {
                drop(in_flight);
                self.reset(id, request);
            }
            Fault::SlowBody => {
                drop(in_flight);
                match send_slowly(request, self.faults.slow_body_time, &self.woken) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                        info!("req {id} slow body cut short: the server is shutting down");
                    }
                    Ok(()) => {
                        self.counters.answered.fetch_add(1, Ordering::SeqCst);
                        info!(
                            "req {id} answered 200 (slow body) after {}",
                            format_duration(started.elapsed())
                        );
                    }
                    Err(err) => self.lost(id, &err),
                }
            }
        }
    }

    /// Resets the request's connection through the relay, without an answer.
    fn reset(&self, id: u64, request: Request) {
        let cut = match (&self.relay, request.remote_addr()) {
            (Some(relay), Some(&peer)) => relay.cut(peer),
            _ => false,
        };
        if cut {
            // Take the writer so tiny_http does not answer for us, and write nothing.
            drop(request.into_writer());
            info!("req {id} reset without an answer");
        } else {
            warn!("req {id} could not be reset (no relay link); answering 500 instead");
            let response = Response::from_string("could not reset\n").with_status_code(500);
            let _ = send(request, response);
        }
    }

    fn response(
        &self,
        status: u16,
        body: &str,
        in_flight: &InFlight,
        id: u64,
    ) -> Response<io::Cursor<Vec<u8>>> {
        let in_flight_max = self.counters.in_flight_max.load(Ordering::SeqCst);
        Response::from_string(body)
            .with_status_code(status)
            .with_header(header("X-Request-Id", &id.to_string()))
            .with_header(header("X-In-Flight", &in_flight.now.to_string()))
            .with_header(header("X-In-Flight-Max", &in_flight_max.to_string()))
    }

    fn answer(
        &self,
        id: u64,
        request: Request,
        started: Instant,
        status: u16,
        body: &str,
        in_flight: InFlight,
    ) {
        let response = self.response(status, body, &in_flight, id);
        // Leave the in-flight count before answering: a client that hears the
        // answer may send its next request before this thread runs again.
        drop(in_flight);
        self.send_logged(id, request, response, started);
    }

    fn send_logged<R: io::Read>(
        &self,
        id: u64,
        request: Request,
        response: Response<R>,
        started: Instant,
    ) {
        let status = response.status_code().0;
        match send(request, response) {
            Ok(()) => {
                self.counters.answered.fetch_add(1, Ordering::SeqCst);
                info!(
                    "req {id} answered {status} after {}",
                    format_duration(started.elapsed())
                );
            }
            Err(err) => self.lost(id, &err),
        }
    }

    fn lost(&self, id: u64, err: &io::Error) {
        self.counters.failed_writes.fetch_add(1, Ordering::SeqCst);
        warn!("req {id} could not be answered, the client went away: {err}");
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

/// Holds hanging requests, not their workers, until their hang limit or the
/// server's shutdown, then lets them go.
struct HangKeeper {
    held: Receiver<Hung>,
    woken: Receiver<()>,
    relay: Option<Arc<Relay>>,
    counters: Arc<Counters>,
}

struct Hung {
    id: u64,
    request: Request,
    until: Instant,
    _in_flight: InFlight,
}

impl HangKeeper {
    fn run(self) {
        let mut hanging: Vec<Hung> = Vec::new();
        loop {
            let next_release = hanging.iter().map(|hung| hung.until).min();
            let timeout = next_release.map_or(Duration::from_secs(3600), |until| {
                until.saturating_duration_since(Instant::now())
            });
            crossbeam_channel::select! {
                recv(self.held) -> hung => match hung {
                    Ok(hung) => hanging.push(hung),
                    Err(_) => break, // every worker is gone: shutting down
                },
                recv(self.woken) -> _ => break,
                default(timeout) => {}
            }
            let now = Instant::now();
            let (due, still): (Vec<Hung>, Vec<Hung>) =
                hanging.into_iter().partition(|hung| hung.until <= now);
            hanging = still;
            for hung in due {
                self.release(hung, "its hang limit passed");
            }
        }
        // Whatever is left, and whatever the workers sent last.
        hanging.extend(self.held.try_iter());
        for hung in hanging {
            self.release(hung, "the server is shutting down");
        }
    }

    /// Ends a hang: the connection is cut when the relay runs, else a 503 goes out.
    fn release(&self, hung: Hung, why: &str) {
        let Hung { id, request, .. } = hung;
        let cut = match (&self.relay, request.remote_addr()) {
            (Some(relay), Some(&peer)) => relay.cut(peer),
            _ => false,
        };
        if cut {
            drop(request.into_writer());
            info!("req {id} let go unanswered: {why}");
            return;
        }
        let response = Response::from_string("gave up hanging\n").with_status_code(503);
        match send(request, response) {
            Ok(()) => {
                self.counters.answered.fetch_add(1, Ordering::SeqCst);
                info!("req {id} answered 503 after hanging: {why}");
            }
            Err(err) => debug!("req {id} let go after hanging, the client had gone: {err}"),
        }
    }
}

/// The body a slow answer dribbles out.
const SLOW_BODY: &[u8] = b"this body is sent one byte at a time, slowly\n";

/// Sends a 200 whose headers go at once and whose body takes `over` in all.
fn send_slowly(request: Request, over: Duration, woken: &Receiver<()>) -> io::Result<()> {
    let mut writer = request.into_writer();
    write!(
        writer,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Fault: slow_body\r\n\r\n",
        SLOW_BODY.len()
    )?;
    writer.flush()?;
    let step = over / SLOW_BODY.len() as u32;
    for byte in SLOW_BODY {
        if let Waited::ShuttingDown = wait(woken, step) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the server is shutting down",
            ));
        }
        writer.write_all(std::slice::from_ref(byte))?;
        writer.flush()?;
    }
    Ok(())
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
    use crate::faults::Latency;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn start(request_duration: Duration, workers: usize) -> TestServer {
        start_with(
            FaultConfig {
                latency: Latency::Fixed(request_duration),
                ..FaultConfig::default()
            },
            workers,
        )
    }

    fn start_with(faults: FaultConfig, workers: usize) -> TestServer {
        TestServer::start(&ServerConfig {
            addr: "127.0.0.1:0".into(),
            workers: NonZeroUsize::new(workers).expect("a positive count"),
            faults,
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
