//! What the integration tests share: the real server binary and a real
//! haproxy, each on free loopback ports and stopped when dropped, the client
//! binary run to completion with a deadline, and a reader for its log lines.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// No test process may run longer than this.
pub const DEADLINE: Duration = Duration::from_secs(90);

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS hands out a free port")
}

/// True when something listens on 127.0.0.1:port, found without connecting
/// (a probe connection would count against haproxy's rate limit).
fn listening_on(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .map(|table| {
            table.lines().skip(1).any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.get(1) == Some(&wanted.as_str()) && fields.get(3) == Some(&"0A")
            })
        })
        .unwrap_or(false)
}

/// Lines a child writes to a pipe, gathered by a thread as they come.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn gather(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().expect("no reader panics").push(line);
            }
        });
        lines
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().expect("no reader panics").clone()
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(line) = self.snapshot().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            thread::sleep(ms(10));
        }
        None
    }
}

/// The real server binary on a free port.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: Lines,
}

impl Server {
    pub fn start(request_duration: &str) -> Server {
        Server::start_with(&["--request-duration", request_duration])
    }

    pub fn start_with(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server binary starts");
        let log = Lines::gather(child.stderr.take().expect("stderr is piped"));
        let line = log
            .wait_for("Running server at ", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("the server never said where it runs: {:?}", log.snapshot()));
        let addr = line
            .rsplit(' ')
            .next()
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server { child, addr, log }
    }

    /// The server's counters, read from GET /stats straight from the server.
    pub fn stats(&self) -> serde_json::Value {
        let body = ureq::get(&format!("http://{}/stats", self.addr))
            .call()
            .expect("the server answers /stats")
            .body_mut()
            .read_to_string()
            .expect("the stats body is text");
        serde_json::from_str(&body).expect("stats are JSON")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real haproxy running the repository's haproxy.cfg on a free port.
pub struct Haproxy {
    child: Child,
    pub port: u16,
}

impl Haproxy {
    /// haproxy in front of `server`, allowing `rate_limit` connections a
    /// second per source (0 rejects every connection).
    pub fn start(rate_limit: u32, server: SocketAddr) -> Haproxy {
        Haproxy::start_with(server, &[("RATE_LIMIT", &rate_limit.to_string())])
    }

    /// haproxy in front of `server` with extra settings such as
    /// `("MODE", "http")`.
    pub fn start_with(server: SocketAddr, settings: &[(&str, &str)]) -> Haproxy {
        // The free port may be taken between the probe and haproxy's bind;
        // then haproxy exits and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new("haproxy");
            command
                .args(["-db", "-f"])
                .arg(repo_root().join("haproxy.cfg"))
                .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
                .env("SERVER_ADDR", server.to_string());
            for (name, value) in settings {
                command.env(name, value);
            }
            let mut child = command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("haproxy is installed (apt-get install haproxy)");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if listening_on(port) {
                    return Haproxy { child, port };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(ms(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("haproxy did not start listening");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished process: its status and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: Vec<String>,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The client's log messages with their times in milliseconds.
    pub fn log(&self) -> Vec<LogLine> {
        self.stderr
            .iter()
            .filter_map(|line| LogLine::parse(line))
            .collect()
    }

    /// Log messages that end with `suffix`, such as `: code: 200`.
    pub fn messages_ending(&self, suffix: &str) -> Vec<LogLine> {
        self.log()
            .into_iter()
            .filter(|line| line.message.ends_with(suffix))
            .collect()
    }

    /// Messages containing `needle`.
    pub fn messages_containing(&self, needle: &str) -> Vec<LogLine> {
        self.log()
            .into_iter()
            .filter(|line| line.message.contains(needle))
            .collect()
    }
}

/// Runs a binary to completion, killing it at the deadline.
pub fn run_to_end(mut command: Command) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = Lines::gather(child.stdout.take().expect("stdout is piped"));
    let stderr = Lines::gather(child.stderr.take().expect("stderr is piped"));
    let status = wait_with_deadline(&mut child, DEADLINE);
    // Let the pipe readers catch the last lines.
    thread::sleep(ms(50));
    Finished {
        status,
        stdout: stdout.snapshot().join("\n"),
        stderr: stderr.snapshot(),
    }
}

pub fn wait_with_deadline(child: &mut Child, deadline: Duration) -> ExitStatus {
    let until = Instant::now() + deadline;
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited on") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process ran past its {deadline:?} deadline");
        }
        thread::sleep(ms(5));
    }
}

/// The client binary with `args`, run to completion.
pub fn client(args: &[&str]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_client"));
    command.args(args).env("RUST_LOG", "info");
    run_to_end(command)
}

/// The server binary with `args`, for runs that should end on their own.
pub fn server_to_end(args: &[&str]) -> Finished {
    let mut command = Command::new(env!("CARGO_BIN_EXE_server"));
    command.args(args);
    run_to_end(command)
}

/// One log line: `2026-12-03T10:32:53.925Z 3: code: 200`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub message: String,
}

impl LogLine {
    pub fn parse(line: &str) -> Option<LogLine> {
        let (stamp, message) = line.split_once(' ')?;
        Some(LogLine {
            at_ms: rfc3339_millis(stamp)?,
            message: message.to_owned(),
        })
    }

    /// The request number a `N: ...` message is about.
    pub fn request(&self) -> Option<usize> {
        self.message.split_once(':')?.0.parse().ok()
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` to milliseconds since the epoch.
fn rfc3339_millis(stamp: &str) -> Option<i64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut date_parts = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (
        date_parts.next()??,
        date_parts.next()??,
        date_parts.next()??,
    );
    let (hms, millis) = time.split_once('.')?;
    let mut time_parts = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (
        time_parts.next()??,
        time_parts.next()??,
        time_parts.next()??,
    );
    let millis: i64 = millis.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

/// The summary line of a client's stdout that starts with `prefix`.
pub fn summary_line<'a>(finished: &'a Finished, prefix: &str) -> &'a str {
    finished
        .stdout
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in {:?}", finished.stdout))
}

/// The client with `args` plus `--events` into a scratch file; returns the
/// run and its events, read back with the library's own reader.
pub fn client_with_events(args: &[&str]) -> (Finished, Vec<concurrent_http_client::AttemptEvent>) {
    let dir = scratch();
    let path = dir.path().join("events.jsonl");
    let path_text = path.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--events", &path_text]);
    let run = client(&all);
    let events = concurrent_http_client::read_events(&path)
        .unwrap_or_else(|err| panic!("events file unreadable: {err}; run: {run:?}"));
    (run, events)
}

/// Client flags for one retry, 10 ms after the first attempt.
pub const ONE_QUICK_RETRY: [&str; 7] = [
    "--retry",
    "--max-retries",
    "1",
    "--retry-wait-min",
    "10ms",
    "--retry-wait-max",
    "10ms",
];

/// `first` followed by `more`, for building argument lists.
pub fn args<'a>(first: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    first.iter().chain(more).copied().collect()
}

/// Asserts that every event ended in `class`.
pub fn assert_all_of_class(events: &[concurrent_http_client::AttemptEvent], class: &str) {
    assert!(
        events
            .iter()
            .all(|e| e.outcome.class().to_string() == class),
        "not all {class}: {:?}",
        classes(events)
    );
}

/// The class of each event, `request:attempt:class`.
pub fn classes(events: &[concurrent_http_client::AttemptEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}:{}:{}", e.request, e.attempt, e.outcome.class()))
        .collect()
}

/// A scratch folder that is removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

pub fn script(name: &str) -> PathBuf {
    repo_root().join("scripts").join(name)
}

pub fn path_with_first(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}
