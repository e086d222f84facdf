//! The exploration's scenarios against a real haproxy with RATE_LIMIT=3, and
//! the client's concurrency and rate limits seen from outside.

mod common;

use common::{client, ms, summary_line, Haproxy, Server};

const RATE_LIMIT: u32 = 3;

fn ok_lines(run: &common::Finished) -> usize {
    run.messages_ending(": code: 200").len()
}

#[test]
fn three_requests_within_the_limit_all_succeed() {
    let server = Server::start("300ms");
    let haproxy = Haproxy::start(RATE_LIMIT, server.addr);
    let run = client(&["-n", "3", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(ok_lines(&run), 3, "{:?}", run.stderr);
    assert_eq!(
        summary_line(&run, "requests:"),
        "requests: 3, succeeded: 3, failed: 0"
    );
}

#[test]
fn a_fourth_simultaneous_request_is_reset() {
    let server = Server::start("300ms");
    let haproxy = Haproxy::start(RATE_LIMIT, server.addr);
    let run = client(&["-n", "4", "--url", &haproxy.url()]);
    assert_eq!(
        run.code(),
        Some(1),
        "a failed request makes the exit status 1"
    );
    assert_eq!(ok_lines(&run), 3, "{:?}", run.stderr);
    assert_eq!(
        run.messages_containing(": err: reset: ").len(),
        1,
        "{:?}",
        run.stderr
    );
    assert_eq!(
        summary_line(&run, "requests:"),
        "requests: 4, succeeded: 3, failed: 1 (reset: 1)"
    );
}

#[test]
fn with_max_concurrency_three_the_fourth_waits_for_an_answer() {
    // As in the exploration, requests take 2 s: by the time the fourth starts,
    // haproxy's sliding one-second window has forgotten the first three.
    let server = Server::start("2");
    let haproxy = Haproxy::start(RATE_LIMIT, server.addr);
    let run = client(&["-n", "4", "--max-concurrency", "3", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(ok_lines(&run), 4, "{:?}", run.stderr);
    let messages: Vec<String> = run.log().into_iter().map(|line| line.message).collect();
    let fourth_start = messages
        .iter()
        .position(|m| m == "3: starting")
        .expect("request 3 started");
    let first_answer = messages
        .iter()
        .position(|m| m.ends_with(": code: 200"))
        .expect("an answer came");
    assert!(
        first_answer < fourth_start,
        "the fourth request started before any answer: {messages:?}"
    );
    let starts_before = messages[..fourth_start]
        .iter()
        .filter(|m| m.ends_with(": starting"))
        .count();
    assert_eq!(starts_before, 3, "{messages:?}");
}

#[test]
fn the_server_never_sees_more_than_max_concurrency() {
    const LIMIT: usize = 4;
    let server = Server::start("150ms");
    let haproxy = Haproxy::start(10_000, server.addr);
    let run = client(&[
        "-n",
        "20",
        "--max-concurrency",
        "4",
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let stats = server.stats();
    assert_eq!(stats["received"], 20);
    let most = stats["in_flight_max"].as_u64().expect("a count") as usize;
    assert!(most <= LIMIT, "the server saw {most} requests at once");
    assert_eq!(most, LIMIT, "the client never used its whole limit");
}

#[test]
fn a_rate_limit_spaces_starts_evenly_and_keeps_its_rate() {
    const RATE: f64 = 5.0;
    const REQUESTS: usize = 21;
    let server = Server::start("0");
    // Below haproxy's limit only if the client keeps its own rate.
    let haproxy = Haproxy::start(6, server.addr);
    let run = client(&["-n", "21", "--rate", "5", "--url", &haproxy.url()]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let starts: Vec<i64> = run
        .messages_ending(": starting")
        .iter()
        .map(|line| line.at_ms)
        .collect();
    assert_eq!(starts.len(), REQUESTS);
    let period_ms = 1000.0 / RATE;
    // Timestamps are whole milliseconds and threads wake a little late on a
    // busy machine: allow 20 ms of slack on each gap.
    for pair in starts.windows(2) {
        let gap = (pair[1] - pair[0]) as f64;
        assert!(
            gap >= period_ms - 20.0,
            "two starts {gap} ms apart: {starts:?}"
        );
    }
    let span_s = (starts[REQUESTS - 1] - starts[0]) as f64 / 1000.0;
    let achieved = (REQUESTS - 1) as f64 / span_s;
    assert!(
        (achieved - RATE).abs() / RATE < 0.03,
        "achieved {achieved:.2}/s for {RATE}/s"
    );
}

#[test]
fn with_keep_alive_pooled_connections_escape_the_connection_rate() {
    // haproxy counts connections, not requests: one kept-alive connection
    // carries request after request past a limit of 1 a second.
    let server = Server::start("0");
    let haproxy = Haproxy::start(1, server.addr);
    let run = client(&[
        "-n",
        "6",
        "--max-concurrency",
        "1",
        "--keep-alive",
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let without = {
        std::thread::sleep(ms(2100)); // let the window clear
        client(&["-n", "6", "--max-concurrency", "1", "--url", &haproxy.url()])
    };
    assert_eq!(without.code(), Some(1), "{without:?}");
    assert_eq!(without.messages_containing(": err: reset: ").len(), 5);
}
