//! Every fault at once, a mixed policy and 2,000 requests: the run finishes,
//! accounts for every request and every attempt, no attempt overruns its
//! timeout, and the server is still answering afterwards.

mod common;

use common::{client_with_events, ms, summary_line, Haproxy, Server};
use std::collections::BTreeMap;

const REQUESTS: usize = 2000;
const TIMEOUT_MS: u64 = 800;

/// A number out of `key: 12` in a summary line such as
/// `requests: 2000, succeeded: 1990, failed: 10 (reset: 4, ...)`.
fn field(line: &str, key: &str) -> usize {
    line.split(&format!("{key}: "))
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no '{key}' in {line:?}"))
}

#[test]
fn two_thousand_requests_through_every_fault_are_all_accounted_for() {
    let server = Server::start_with(&[
        "--latency",
        "uniform:0ms..20ms",
        "--seed",
        "2026",
        "--fail-rate",
        "0.1",
        "--fail-status",
        "503",
        "--retry-after",
        "0",
        "--reset-rate",
        "0.05",
        "--hang-rate",
        "0.02",
        "--hang-limit",
        "3s",
        "--slow-body-rate",
        "0.03",
        "--slow-body-time",
        "1500ms",
        "--workers",
        "64",
    ]);
    let haproxy = Haproxy::start(100_000, server.addr);
    let url = haproxy.url();
    let (run, events) = client_with_events(&[
        "-n",
        "2000",
        "--max-concurrency",
        "100",
        "--retry",
        "--max-retries",
        "2",
        "--backoff",
        "exponential",
        "--jitter",
        "full",
        "--retry-wait-min",
        "10ms",
        "--retry-wait-max",
        "100ms",
        "--retry-budget",
        "20%",
        "--timeout",
        "800ms",
        "--seed",
        "3",
        "--url",
        &url,
    ]);
    assert!(matches!(run.code(), Some(0 | 1)), "{run:?}");

    let requests = summary_line(&run, "requests:");
    assert_eq!(field(requests, "requests"), REQUESTS);
    let succeeded = field(requests, "succeeded");
    let failed = field(requests, "failed");
    assert_eq!(succeeded + failed, REQUESTS, "{requests}");
    assert!(succeeded > REQUESTS * 8 / 10, "{requests}");

    let attempts_line = summary_line(&run, "attempts:");
    assert_eq!(field(attempts_line, "attempts"), events.len());
    let mut per_request: BTreeMap<usize, usize> = BTreeMap::new();
    for event in &events {
        *per_request.entry(event.request).or_default() += 1;
    }
    assert_eq!(per_request.len(), REQUESTS, "a request made no attempt");
    assert_eq!(per_request.values().sum::<usize>(), events.len());
    assert!(
        per_request.values().all(|&n| n <= 3),
        "more than K+1 attempts"
    );
    assert_eq!(field(attempts_line, "retries"), events.len() - REQUESTS);

    for event in &events {
        let took = event.end - event.start;
        assert!(
            took < ms(TIMEOUT_MS + 300),
            "attempt {}:{} took {took:?}",
            event.request,
            event.attempt
        );
    }
    let classes: std::collections::BTreeSet<String> = events
        .iter()
        .map(|e| e.outcome.class().to_string())
        .collect();
    for class in ["ok", "http_503", "reset", "timeout_response"] {
        assert!(classes.contains(class), "no {class} among {classes:?}");
    }
    assert!(
        !classes.contains("other"),
        "an unclassified failure: {classes:?}"
    );

    // The server is still up and answering.
    let stats = server.stats();
    assert!(stats["received"].as_u64().expect("a count") >= REQUESTS as u64);
    let after = common::client(&["-n", "1", "--url", &format!("http://{}/stats", server.addr)]);
    assert_eq!(after.code(), Some(0), "{after:?}");
}
