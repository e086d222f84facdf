//! Bad input to either binary: one clear line on stderr, exit status 2, no panic.

mod common;

use common::{client, server_to_end, Finished, Server};

fn assert_one_clear_line(program: &str, args: &[&str], run: &Finished, mentions: &str) {
    assert_eq!(run.code(), Some(2), "{program} {args:?}: {run:?}");
    assert_eq!(run.stderr.len(), 1, "{program} {args:?}: {:?}", run.stderr);
    let line = &run.stderr[0];
    assert!(line.starts_with(&format!("{program}: ")), "{line}");
    assert!(
        line.contains(mentions),
        "{args:?}: '{line}' should mention '{mentions}'"
    );
    assert!(!line.contains("panicked"), "{line}");
    assert!(
        run.stdout.is_empty(),
        "{args:?} printed a report: {}",
        run.stdout
    );
}

#[test]
fn bad_client_flags_get_one_line_and_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["-n", "0"], "--num-requests"),
        (&["-n", "-3"], "--num-requests"),
        (&["-n", "ten"], "--num-requests"),
        (&["-n", "1.5"], "--num-requests"),
        (&["--max-concurrency", "0"], "--max-concurrency"),
        (&["--max-concurrency", "-1"], "--max-concurrency"),
        (&["--rate", "0"], "--rate"),
        (&["--rate", "-2"], "--rate"),
        (&["--rate", "fast"], "--rate"),
        (&["--rate", "NaN"], "--rate"),
        (&["--max-retries", "-1"], "--max-retries"),
        (&["--timeout", "0"], "--timeout"),
        (&["--timeout", "0s"], "--timeout"),
        (&["--timeout", "-1s"], "--timeout"),
        (&["--timeout", "soon"], "--timeout"),
        (&["--connect-timeout", "0"], "--connect-timeout"),
        (&["--retry-wait-min", "-5ms"], "--retry-wait-min"),
        (
            &[
                "--retry",
                "--retry-wait-min",
                "5s",
                "--retry-wait-max",
                "1s",
            ],
            "--retry-wait-min",
        ),
        (&["--url", "not a url"], "not a url"),
        (&["--url", "127.0.0.1:8081"], "127.0.0.1:8081"),
        (&["--url", "https://127.0.0.1/"], "http://"),
        (&["--url", "http://"], "http://"),
        (&["--url", "http://127.0.0.1:99999/"], "99999"),
        (&["--url", "http://127.0.0.1:0/"], "port 0"),
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--retry-on", "resets"], "resets"),
        (&["--retry-on", ""], "--retry-on"),
        (&["--retry-on", "6xx"], "6xx"),
        (&["--backoff", "fibonacci"], "fibonacci"),
        (&["--jitter", "some"], "some"),
        (&["--backoff-factor", "0.5"], "--backoff-factor"),
        (&["--max-elapsed", "0"], "--max-elapsed"),
        (&["--max-elapsed", "-1s"], "--max-elapsed"),
        (&["--max-retry-after", "later"], "--max-retry-after"),
        (&["--retry-budget", "150%"], "--retry-budget"),
        (&["--retry-budget", "lots"], "--retry-budget"),
        (&["--retry-budget-floor", "-1"], "--retry-budget-floor"),
        (&["--method", "FETCH"], "FETCH"),
        (&["--method", "HEAD", "--body", "x"], "HEAD"),
        (
            &["--events", "/no/such/folder/events.jsonl"],
            "/no/such/folder",
        ),
        (&["--seed", "-4"], "--seed"),
        (
            &["--timeline", "/no/such/folder/t.svg"],
            "--timeline /no/such/folder/t.svg",
        ),
        (&["--report", "xml"], "--report"),
        (&["--expect-rate", "0"], "--expect-rate"),
        (&["--expect-duration", "soon"], "--expect-duration"),
        (
            &["compare", "--only", "unlimited,fastest"],
            "unknown strategy 'fastest'",
        ),
        (
            &["compare", "--strategies", "/no/such/strategies.toml"],
            "/no/such/strategies.toml",
        ),
        (
            &["compare", "--timeline-dir", "/proc/no-such-dir"],
            "--timeline-dir",
        ),
        (&["compare", "--pause", "-1s"], "--pause"),
        (&["compare", "--report", "yaml"], "--report"),
        (&["-n", "3", "compare"], "compare"),
        (&["--timeout", "10000000000000000000s"], "too large"),
        (&["--rate", "1e-9"], "more than a year"),
        (&["--timeline", "picture.png"], "name the file .svg"),
        (&["--max-elapsed", "5s"], "--retry"),
        (&["--jitter", "full"], "--retry"),
        (&["--report", "xml"], "possible values: text, json"),
        (&["compare", "--only", "unlimited,unlimited"], "named twice"),
    ];
    for (args, mentions) in cases {
        let run = client(args);
        assert_one_clear_line("client", args, &run, mentions);
    }
}

#[test]
fn bad_server_flags_get_one_line_and_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["--request-duration", "-1"], "negative"),
        (&["--request-duration", "-500ms"], "negative"),
        (&["--request-duration", "forever"], "malformed"),
        (&["--workers", "0"], "--workers"),
        (&["--workers", "many"], "--workers"),
        (&["--addr", "nowhere"], "nowhere"),
        (&["--addr", "127.0.0.1:99999"], "127.0.0.1:99999"),
        (&["--fail-rate", "1.5"], "--fail-rate"),
        (&["--fail-rate", "-0.1"], "--fail-rate"),
        (&["--fail-status", "600"], "--fail-status"),
        (&["--fail-status", "abc"], "--fail-status"),
        (&["--retry-after", "later"], "later"),
        (&["--reset-rate", "2"], "--reset-rate"),
        (&["--hang-rate", "x"], "--hang-rate"),
        (&["--hang-limit", "-1s"], "--hang-limit"),
        (&["--slow-body-rate", "NaN"], "--slow-body-rate"),
        (&["--slow-body-time", "forever"], "--slow-body-time"),
        (&["--latency", "uniform:2s..1s"], "minimum is above"),
        (&["--latency", "gaussian:1s,2s"], "gaussian"),
        (&["--outage", "8s..5s"], "ends before it starts"),
        (&["--outage", "5s"], "START..END"),
        (&["--outage", "1s..2s:teapot"], "teapot"),
        (
            &["--request-duration", "1", "--latency", "uniform:0s..1s"],
            "--latency",
        ),
        (
            &["--reset-rate", "0.6", "--fail-rate", "0.6"],
            "more than 1",
        ),
        (&["--seed", "-4"], "--seed"),
        (&["--hang-limit", "10000000000000000000s"], "too large"),
        (&["--fail-status", "200"], "400 to 599"),
        (&["--fail-status", "301"], "400 to 599"),
        (&["--outage", "1s..2s:200"], "400 to 599"),
    ];
    for (args, mentions) in cases {
        let run = server_to_end(args);
        assert_one_clear_line("server", args, &run, mentions);
    }
}

#[test]
fn a_zero_request_duration_is_valid() {
    let server = Server::start("0");
    let run = client(&["-n", "3", "--url", &format!("http://{}/", server.addr)]);
    assert_eq!(run.code(), Some(0), "{run:?}");
}

#[test]
fn an_address_in_use_gets_one_line_and_status_2() {
    let first = Server::start("0");
    let addr = first.addr.to_string();
    let run = server_to_end(&["--addr", &addr]);
    assert_one_clear_line("server", &["--addr", &addr], &run, "already in use");
}

#[test]
fn a_closed_or_full_stdout_does_not_panic() {
    use std::process::{Command, Stdio};
    let url = format!("http://127.0.0.1:{}/", common::free_port());
    // A reader that has gone away, as with `client | head -0`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-n", "2", "--url", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("the client ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A full disk: one line says the report was lost, and the summary
    // follows on stderr.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let output = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-n", "2", "--url", &url])
        .env("RUST_LOG", "warn")
        .stdout(full)
        .output()
        .expect("the client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some("client: could not print the report: No space left on device (os error 28)")
    );
    assert_eq!(
        lines.next(),
        Some("requests: 2, succeeded: 0, failed: 2 (refused: 2)")
    );
}

#[test]
fn a_bad_strategy_file_gets_one_line_naming_it() {
    let dir = common::scratch();
    let junk = dir.path().join("junk.toml");
    std::fs::write(&junk, "[[strategy]]\nname = \"a\"\nspeed = 3\n").expect("written");
    let junk_text = junk.display().to_string();
    let args = ["compare", "--strategies", junk_text.as_str()];
    let run = client(&args);
    assert_one_clear_line("client", &args, &run, &junk_text);
    assert!(run.stderr[0].contains("speed"), "{:?}", run.stderr);
}

#[test]
fn a_json_report_that_cannot_be_printed_leaves_the_summary_on_stderr() {
    use std::process::Command;
    let url = format!("http://127.0.0.1:{}/", common::free_port());
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    let output = Command::new(env!("CARGO_BIN_EXE_client"))
        .args(["-n", "2", "--report", "json", "--quiet", "--url", &url])
        .stdout(full)
        .output()
        .expect("the client runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("client: could not print the report: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nrequests: 2, succeeded: 0, failed: 2 (refused: 2)\n"),
        "{stderr}"
    );
}
