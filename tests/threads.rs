//! Thread cost at scale: the client takes its permit before it spawns, so its
//! live threads stay near the concurrency limit however many requests it sends.

mod common;

use common::{ms, wait_with_deadline, Server, DEADLINE};
use std::process::{Command, Stdio};
use std::thread;

/// Threads the process has now, from /proc; `None` once it has gone.
fn threads_of(pid: u32) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|count| count.trim().parse().ok())
}

#[test]
fn five_thousand_requests_at_concurrency_fifty_stay_near_fifty_threads() {
    const REQUESTS: &str = "5000";
    const LIMIT: usize = 50;
    // main, event collector and heartbeat, plus a few request threads that
    // have handed back their permit and not yet exited.
    const MOST_THREADS: usize = LIMIT + 10;
    let server = Server::start_with(&["--request-duration", "0", "--workers", "64"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-n", REQUESTS, "--max-concurrency", "50"])
        .args(["--url", &format!("http://{}/", server.addr)])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the client starts");
    let pid = child.id();
    let mut most = 0;
    let mut samples = 0;
    while let Some(threads) = threads_of(pid) {
        most = most.max(threads);
        samples += 1;
        if child
            .try_wait()
            .expect("the child can be waited on")
            .is_some()
        {
            break;
        }
        thread::sleep(ms(2));
    }
    println!("most live threads: {most} over {samples} samples");
    let status = wait_with_deadline(&mut child, DEADLINE);
    let mut summary = String::new();
    std::io::Read::read_to_string(
        &mut child.stdout.take().expect("stdout is piped"),
        &mut summary,
    )
    .expect("the summary is readable");
    assert!(status.success(), "{summary}");
    assert!(
        summary.starts_with("requests: 5000, succeeded: 5000, failed: 0"),
        "{summary}"
    );
    assert!(
        samples > 10,
        "the run was too short to sample ({samples} samples)"
    );
    assert!(
        most >= LIMIT,
        "the client never ran {LIMIT} requests at once ({most} threads)"
    );
    assert!(
        most <= MOST_THREADS,
        "{most} live threads for a limit of {LIMIT}"
    );
}
