//! Retries against a real haproxy, and runs where nothing listens at all.

mod common;

use common::{args, client, free_port, summary_line, Haproxy, Server, ONE_QUICK_RETRY};

#[test]
fn retry_recovers_the_request_the_rate_limit_rejected() {
    let server = Server::start("500ms");
    let haproxy = Haproxy::start(3, server.addr);
    let run = client(&["-n", "4", "--retry", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(
        run.messages_ending(": code: 200").len(),
        4,
        "{:?}",
        run.stderr
    );
    let retries = run.messages_containing(": retry ");
    assert!(!retries.is_empty(), "no retry was logged: {:?}", run.stderr);
    assert!(
        retries.iter().all(|line| line.message.ends_with("(reset)")),
        "{retries:?}"
    );
    assert_eq!(
        summary_line(&run, "requests:"),
        "requests: 4, succeeded: 4, failed: 0"
    );
}

#[test]
fn max_retries_k_makes_exactly_k_plus_one_attempts() {
    const REQUESTS: usize = 3;
    const MAX_RETRIES: usize = 2;
    let server = Server::start("0");
    let haproxy = Haproxy::start(0, server.addr); // rejects every connection
    let run = client(&[
        "-n",
        "3",
        "--retry",
        "--max-retries",
        "2",
        "--retry-wait-min",
        "10ms",
        "--retry-wait-max",
        "40ms",
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    let failures = run.messages_containing(": err: ");
    assert_eq!(
        failures.len(),
        REQUESTS * (MAX_RETRIES + 1),
        "{:?}",
        run.stderr
    );
    assert!(
        failures
            .iter()
            .all(|line| line.message.contains(": err: reset: ")),
        "a rejected connection is a reset: {failures:?}"
    );
    for request in 0..REQUESTS {
        let attempts = failures
            .iter()
            .filter(|line| line.request() == Some(request))
            .count();
        assert_eq!(attempts, MAX_RETRIES + 1, "request {request}");
    }
    assert_eq!(
        summary_line(&run, "attempts:"),
        "attempts: 9, retries: 6, per request: 3.00 mean, 3 max"
    );
    assert_eq!(server.stats()["received"], 0, "nothing got through haproxy");
}

#[test]
fn with_nothing_listening_every_request_is_refused_and_counted() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = client(&["-n", "5", "--url", &url]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(run.messages_containing(": err: refused: ").len(), 5);
    assert_eq!(
        summary_line(&run, "requests:"),
        "requests: 5, succeeded: 0, failed: 5 (refused: 5)"
    );
}

#[test]
fn refused_connections_are_retried_and_still_counted() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let run = client(&args(&["-n", "2", "--url", &url], &ONE_QUICK_RETRY));
    assert_eq!(run.code(), Some(1));
    assert_eq!(
        summary_line(&run, "requests:"),
        "requests: 2, succeeded: 0, failed: 2 (refused: 2)"
    );
    assert_eq!(
        summary_line(&run, "attempts:"),
        "attempts: 4, retries: 2, per request: 2.00 mean, 2 max"
    );
}

#[test]
fn ctrl_c_cuts_the_backoff_short_and_still_reports_every_request() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let url = format!("http://127.0.0.1:{}/", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-n", "5", "--max-concurrency", "2", "--retry"])
        .args(["--backoff", "constant", "--jitter", "none"])
        .args(["--retry-wait-min", "60s", "--retry-wait-max", "60s"])
        .args(["--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts");
    // Both first attempts are refused at once; then both sleep for a minute.
    std::thread::sleep(Duration::from_millis(700));
    let before = Instant::now();
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("waitable").is_none() {
        assert!(Instant::now() < deadline, "the client did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = child.wait_with_output().expect("the client ends");
    assert!(
        before.elapsed() < Duration::from_secs(10),
        "the backoff was not cut short"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("client: stopping: no new attempts"),
        "{stderr}"
    );
    assert!(
        stdout.starts_with(
            "requests: 5, succeeded: 0, failed: 2 (refused: 2), not started: 3\ngave up: 2 interrupted\n"
        ),
        "{stdout}"
    );
}
