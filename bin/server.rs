//! The test server: answers every request after its latency, or fails it
//! the way the fault flags say.

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{exit_with, init_logging, parse_or_exit, parsed, positive_count, USAGE};
use concurrent_http_client::{
    parse_duration, parse_rate, parse_status, FaultConfig, Latency, Outage, ServerConfig,
    TestServer,
};
use log::info;
use std::num::NonZeroUsize;
use std::time::Duration;

/// A test server that takes a set time per request and can fail requests
/// the ways real upstreams do, for the client to meet through haproxy.
///
/// GET /stats answers at once with its counters as JSON (received, answered,
/// in_flight, in_flight_max, faults, ...); every other path waits its latency
/// and answers 200 with headers X-In-Flight and X-In-Flight-Max, unless a
/// fault says otherwise. Faults are drawn per request from --seed, so the
/// same seed and request order give the same faults; --reset-rate,
/// --hang-rate, --fail-rate and --slow-body-rate are shares of all requests
/// and may add up to at most 1.
#[derive(Debug, Parser)]
#[command(name = "server", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port (the log names it).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: String,

    /// How long each request takes before it is answered: a bare number is
    /// seconds (2, 0.5), or give a unit (500ms, 1.5s). 0 answers at once.
    #[arg(
        long,
        default_value = "2",
        value_parser = parse_duration,
        allow_hyphen_values = true,
        value_name = "DURATION",
        conflicts_with = "latency"
    )]
    request_duration: Duration,

    /// A distribution for the request duration instead: uniform:MIN..MAX
    /// (uniform:100ms..2s) or normal:MEAN,SPREAD (normal:500ms,100ms).
    #[arg(long, value_parser = parsed::<Latency>, allow_hyphen_values = true, value_name = "DIST")]
    latency: Option<Latency>,

    /// Worker threads, so requests worked on at once; more wait in a queue.
    /// The default is far above what the demos send at once, so they never
    /// queue in the server. Hanging requests do not hold a worker.
    #[arg(
        long,
        default_value = "128",
        value_parser = positive_count,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    workers: NonZeroUsize,

    /// Seed for the fault draws.
    #[arg(
        long,
        default_value = "0",
        allow_negative_numbers = true,
        value_name = "SEED"
    )]
    seed: u64,

    /// Share of requests answered with --fail-status instead of 200.
    #[arg(long, default_value = "0", value_parser = |t: &str| parse_rate("fail-rate", t).map_err(|e| e.to_string()), allow_negative_numbers = true, value_name = "P")]
    fail_rate: f64,

    /// The status failed requests get (500, 502, 503, 429, ...).
    #[arg(long, default_value = "503", value_parser = |t: &str| parse_status("fail-status", t).map_err(|e| e.to_string()), allow_negative_numbers = true, value_name = "CODE")]
    fail_status: u16,

    /// Add a Retry-After header with this value (whole seconds or an
    /// HTTP-date) to failed answers and 503 outages.
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    retry_after: Option<String>,

    /// Share of requests whose connection is reset without an answer.
    #[arg(long, default_value = "0", value_parser = |t: &str| parse_rate("reset-rate", t).map_err(|e| e.to_string()), allow_negative_numbers = true, value_name = "P")]
    reset_rate: f64,

    /// Share of requests never answered until the client gives up.
    #[arg(long, default_value = "0", value_parser = |t: &str| parse_rate("hang-rate", t).map_err(|e| e.to_string()), allow_negative_numbers = true, value_name = "P")]
    hang_rate: f64,

    /// How long the server holds a hanging request before letting it go.
    #[arg(long, default_value = "60s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    hang_limit: Duration,

    /// Share of requests whose headers come at once and body slowly.
    #[arg(long, default_value = "0", value_parser = |t: &str| parse_rate("slow-body-rate", t).map_err(|e| e.to_string()), allow_negative_numbers = true, value_name = "P")]
    slow_body_rate: f64,

    /// How long a slow body takes, spread over its bytes.
    #[arg(long, default_value = "5s", value_parser = parse_duration, allow_hyphen_values = true, value_name = "DURATION")]
    slow_body_time: Duration,

    /// A stretch of time after the start when every request fails:
    /// START..END, answered 503 (or :CODE), :reset, or :refuse (the listener
    /// closes). Repeat for more outages. Example: 5s..8s:reset.
    #[arg(long, value_parser = parsed::<Outage>, value_name = "START..END[:KIND]")]
    outage: Vec<Outage>,
}

fn main() {
    let cli: Cli = parse_or_exit();
    init_logging(false);
    let faults = FaultConfig {
        seed: cli.seed,
        fail_rate: cli.fail_rate,
        fail_status: cli.fail_status,
        retry_after: cli.retry_after,
        reset_rate: cli.reset_rate,
        hang_rate: cli.hang_rate,
        hang_limit: cli.hang_limit,
        slow_body_rate: cli.slow_body_rate,
        slow_body_time: cli.slow_body_time,
        latency: cli.latency.unwrap_or(Latency::Fixed(cli.request_duration)),
        outages: cli.outage,
    };
    let config = ServerConfig {
        addr: cli.addr,
        workers: cli.workers,
        faults,
    };
    let server = TestServer::start(&config).unwrap_or_else(|err| exit_with(USAGE, err));

    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .unwrap_or_else(|err| exit_with(1, format!("cannot catch Ctrl-C: {err}")));

    info!("Running server at {}", server.addr());
    // The handler lives as long as the process, so the channel stays open.
    let _ = stop_rx.recv();
    info!("Stopping: answering waiting requests with 503");
    let stats = server.shutdown();
    info!(
        "Stopped: {} received, {} answered, {} answers lost to clients that left",
        stats.received, stats.answered, stats.failed_writes
    );
    info!("Faults injected: {}", stats.faults.describe());
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
