//! Each fault the server injects, met through a real haproxy (TCP mode, with
//! a limit far above what these tests send), with the class of every attempt
//! and the retry counts asserted. Fixed seeds make the faults repeatable.

mod common;

use common::{
    args, assert_all_of_class, classes, client_with_events, ms, summary_line, Haproxy, Server,
    ONE_QUICK_RETRY,
};
use concurrent_http_client::{FaultConfig, Outcome};
use std::time::Duration;

/// haproxy's limit in these tests: never reached.
const GENEROUS: u32 = 10_000;

fn through_haproxy(server_args: &[&str]) -> (Server, Haproxy) {
    let server = Server::start_with(server_args);
    let haproxy = Haproxy::start(GENEROUS, server.addr);
    (server, haproxy)
}

#[test]
fn failed_answers_are_retried_and_retry_after_is_honoured() {
    let (server, haproxy) = through_haproxy(&[
        "--request-duration",
        "0",
        "--fail-rate",
        "1",
        "--fail-status",
        "503",
        "--retry-after",
        "1",
    ]);
    let url = haproxy.url();
    let (run, events) = client_with_events(&[
        "-n",
        "2",
        "--retry",
        "--max-retries",
        "2",
        "--url",
        &url,
        "--seed",
        "1",
    ]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(
        classes(&events),
        [
            "0:0:http_503",
            "0:1:http_503",
            "0:2:http_503",
            "1:0:http_503",
            "1:1:http_503",
            "1:2:http_503"
        ]
    );
    for retry in events.iter().filter(|e| e.attempt > 0) {
        // Retry-After: 1 replaces the 0.5-1 s default backoff; a tenth of
        // a second of jitter at most comes on top.
        assert!(
            retry.backoff_before >= ms(1000) && retry.backoff_before <= ms(1100),
            "{:?}",
            retry.backoff_before
        );
    }
    assert_eq!(
        summary_line(&run, "gave up:"),
        "gave up: 2 retries exhausted"
    );
    assert_eq!(server.stats()["faults"]["fail"], 6);
}

#[test]
fn a_seeded_fail_rate_fails_exactly_the_planned_requests() {
    const SEED: u64 = 11;
    const REQUESTS: u64 = 12;
    let (_server, haproxy) = through_haproxy(&[
        "--request-duration",
        "0",
        "--fail-rate",
        "0.5",
        "--fail-status",
        "500",
        "--seed",
        "11",
    ]);
    // One at a time, so the server numbers requests in the client's order.
    let (run, events) = client_with_events(&[
        "-n",
        "12",
        "--max-concurrency",
        "1",
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(run.code(), Some(1));
    let plan = FaultConfig {
        seed: SEED,
        fail_rate: 0.5,
        fail_status: 500,
        ..FaultConfig::default()
    };
    let expected: Vec<String> = (0..REQUESTS)
        .map(|request| {
            let class = match plan.plan(request, Duration::ZERO).fault.name() {
                "fail" => "http_500",
                _ => "ok",
            };
            format!("{request}:0:{class}")
        })
        .collect();
    assert_eq!(classes(&events), expected);
    assert!(expected.iter().any(|c| c.ends_with("http_500")));
    assert!(expected.iter().any(|c| c.ends_with(":ok")));
}

#[test]
fn resets_are_classed_as_resets_and_retried() {
    let (server, haproxy) = through_haproxy(&["--request-duration", "0", "--reset-rate", "1"]);
    let url = haproxy.url();
    let (run, events) = client_with_events(&args(&["-n", "3", "--url", &url], &ONE_QUICK_RETRY));
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(events.len(), 6);
    assert_all_of_class(&events, "reset");
    assert_eq!(server.stats()["faults"]["reset"], 6);
}

#[test]
fn a_reset_straight_from_the_server_is_a_reset_too() {
    let server = Server::start_with(&["--request-duration", "0", "--reset-rate", "1"]);
    let url = format!("http://{}/", server.addr);
    let (run, events) = client_with_events(&["-n", "3", "--url", &url]);
    assert_eq!(run.code(), Some(1));
    assert_all_of_class(&events, "reset");
}

#[test]
fn a_hang_ends_in_a_response_timeout_within_its_bound() {
    const TIMEOUT_MS: u64 = 400;
    let (server, haproxy) = through_haproxy(&["--request-duration", "0", "--hang-rate", "1"]);
    let url = haproxy.url();
    let (run, events) = client_with_events(&args(
        &["-n", "4", "--timeout", "400ms", "--url", &url],
        &ONE_QUICK_RETRY,
    ));
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(events.len(), 8);
    for event in &events {
        assert_eq!(event.outcome.class().to_string(), "timeout_response");
        let took = event.end - event.start;
        assert!(took >= ms(TIMEOUT_MS), "gave up early: {took:?}");
        assert!(took < ms(TIMEOUT_MS + 300), "overran its timeout: {took:?}");
    }
    // The hung requests hold no worker: the server still answers /stats.
    assert_eq!(server.stats()["faults"]["hang"], 8);
}

#[test]
fn a_slow_body_times_out_a_short_timeout_and_arrives_for_a_long_one() {
    let (_server, haproxy) = through_haproxy(&[
        "--request-duration",
        "0",
        "--slow-body-rate",
        "1",
        "--slow-body-time",
        "1s",
    ]);
    let url = haproxy.url();
    let (short, events) = client_with_events(&["-n", "2", "--timeout", "300ms", "--url", &url]);
    assert_eq!(short.code(), Some(1));
    assert!(
        events
            .iter()
            .all(|e| e.outcome.class().to_string() == "timeout_response"),
        "{:?}",
        classes(&events)
    );
    for event in &events {
        assert!(
            event.end - event.start < ms(600),
            "{:?}",
            event.end - event.start
        );
    }
    let (long, events) = client_with_events(&["-n", "2", "--timeout", "5s", "--url", &url]);
    assert_eq!(long.code(), Some(0), "{long:?}");
    for event in &events {
        assert!(event.end - event.start >= ms(900), "the body came too fast");
        assert!(
            matches!(event.outcome, Outcome::Response { status: 200, bytes, .. } if bytes > 10),
            "{:?}",
            event.outcome
        );
    }
}

#[test]
fn a_latency_distribution_shapes_the_answer_times() {
    let (_server, haproxy) = through_haproxy(&["--latency", "uniform:100ms..300ms", "--seed", "5"]);
    let (run, events) = client_with_events(&["-n", "12", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let took: Vec<Duration> = events.iter().map(|e| e.end - e.start).collect();
    assert!(took.iter().all(|t| *t >= ms(100)), "{took:?}");
    assert!(took.iter().all(|t| *t < ms(300 + 200)), "{took:?}");
    let spread = *took.iter().max().expect("12") - *took.iter().min().expect("12");
    assert!(spread >= ms(50), "not a distribution: {took:?}");
}

/// The classes of one request's attempts, e.g. `["http_503", "ok"]`.
fn per_request(events: &[concurrent_http_client::AttemptEvent], request: usize) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.request == request)
        .map(|e| e.outcome.class().to_string())
        .collect()
}

/// `requests` requests retried every `wait` against `url`, through an
/// outage that started with the server.
fn through_an_outage(
    url: &str,
    requests: usize,
    wait: &str,
) -> (common::Finished, Vec<concurrent_http_client::AttemptEvent>) {
    let requests = requests.to_string();
    client_with_events(&[
        "-n",
        &requests,
        "--retry",
        "--max-retries",
        "6",
        "--backoff",
        "constant",
        "--jitter",
        "none",
        "--retry-wait-min",
        wait,
        "--url",
        url,
    ])
}

/// Every request failed with `class` until it succeeded, at least once.
fn assert_failed_then_ok(
    events: &[concurrent_http_client::AttemptEvent],
    requests: usize,
    class: &str,
) {
    for request in 0..requests {
        let attempts = per_request(events, request);
        let (last, failures) = attempts.split_last().expect("at least one attempt");
        assert_eq!(last, "ok", "request {request}: {attempts:?}");
        assert!(!failures.is_empty(), "request {request} missed the outage");
        assert!(failures.iter().all(|c| c == class), "{attempts:?}");
    }
}

#[test]
fn retries_carry_requests_across_an_outage() {
    let (server, haproxy) = through_haproxy(&["--request-duration", "0", "--outage", "0s..1500ms"]);
    let (run, events) = through_an_outage(&haproxy.url(), 3, "500ms");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_failed_then_ok(&events, 3, "http_503");
    let stats = server.stats();
    assert_eq!(stats["faults"]["outage"], stats["faults"]["fail"]);
}

#[test]
fn a_reset_outage_resets_every_connection_until_it_ends() {
    let (server, haproxy) =
        through_haproxy(&["--request-duration", "0", "--outage", "0s..1500ms:reset"]);
    let (run, events) = through_an_outage(&haproxy.url(), 2, "400ms");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_failed_then_ok(&events, 2, "reset");
    // Turned away by the relay before any worker saw them, and still counted.
    let stats = server.stats();
    let resets = events.iter().filter(|e| !e.outcome.is_success()).count();
    assert_eq!(stats["faults"]["reset"], resets);
    assert_eq!(stats["faults"]["outage"], resets);
}

#[test]
fn a_refuse_outage_closes_the_listener_until_it_ends() {
    // Straight to the server: through haproxy, a refused backend connection
    // reaches the client as a reset instead.
    let server = Server::start_with(&["--request-duration", "0", "--outage", "0s..1500ms:refuse"]);
    let (run, events) = through_an_outage(&format!("http://{}/", server.addr), 2, "400ms");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_failed_then_ok(&events, 2, "refused");
}
