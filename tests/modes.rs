//! haproxy's http and queue modes (the tcp mode is in limits.rs), each
//! asserted attempt by attempt.

mod common;

use common::{classes, client_with_events, ms, Haproxy, Server};

fn count(events: &[concurrent_http_client::AttemptEvent], class: &str) -> usize {
    events
        .iter()
        .filter(|e| e.outcome.class().to_string() == class)
        .count()
}

#[test]
fn http_mode_answers_429_with_retry_after_over_the_request_rate() {
    let server = Server::start("0");
    let haproxy = Haproxy::start_with(server.addr, &[("MODE", "http"), ("RATE_LIMIT", "3")]);
    let (run, events) = client_with_events(&["-n", "5", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(count(&events, "ok"), 3, "{:?}", classes(&events));
    assert_eq!(count(&events, "http_429"), 2, "{:?}", classes(&events));
    for event in events.iter().filter(|e| e.outcome.status() == Some(429)) {
        assert!(
            matches!(&event.outcome, concurrent_http_client::Outcome::Response { retry_after: Some(v), .. } if v == "1"),
            "{:?}",
            event.outcome
        );
    }
    assert_eq!(
        server.stats()["received"],
        3,
        "haproxy answered the 429s itself"
    );
}

#[test]
fn http_mode_with_retry_waits_as_told_and_gets_through() {
    let server = Server::start("0");
    let haproxy = Haproxy::start_with(server.addr, &[("MODE", "http"), ("RATE_LIMIT", "3")]);
    let (run, events) = client_with_events(&["-n", "5", "--retry", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let retries: Vec<_> = events.iter().filter(|e| e.attempt > 0).collect();
    assert!(!retries.is_empty());
    for retry in retries {
        assert!(
            retry.backoff_before >= ms(1000),
            "Retry-After: 1 was not honoured"
        );
    }
    assert_eq!(count(&events, "ok"), 5, "{:?}", classes(&events));
}

#[test]
fn queue_mode_answers_503_when_the_queue_wait_runs_out() {
    let server = Server::start("1");
    let haproxy = Haproxy::start_with(
        server.addr,
        &[
            ("MODE", "queue"),
            ("MAX_CONN", "1"),
            ("QUEUE_TIMEOUT", "400ms"),
        ],
    );
    let (run, events) = client_with_events(&["-n", "3", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(count(&events, "ok"), 1, "{:?}", classes(&events));
    assert_eq!(count(&events, "http_503"), 2, "{:?}", classes(&events));
    for event in events.iter().filter(|e| e.outcome.status() == Some(503)) {
        let waited = event.end - event.start;
        assert!(waited >= ms(400) && waited < ms(900), "{waited:?}");
    }
    let stats = server.stats();
    assert_eq!(
        stats["in_flight_max"], 1,
        "the server saw more than MAX_CONN"
    );
    assert_eq!(stats["received"], 1);
}

#[test]
fn queue_mode_with_a_concurrency_limit_never_queues() {
    let server = Server::start("300ms");
    let haproxy = Haproxy::start_with(
        server.addr,
        &[
            ("MODE", "queue"),
            ("MAX_CONN", "2"),
            ("QUEUE_TIMEOUT", "100ms"),
        ],
    );
    let (run, events) =
        client_with_events(&["-n", "6", "--max-concurrency", "2", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(count(&events, "ok"), 6);
}
