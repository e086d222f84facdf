//! The test server: answers every request after a set time.

#[path = "common.rs"]
mod common;

use clap::Parser;
use common::{exit_with, init_logging, parse_or_exit, positive_count, USAGE};
use concurrent_http_client::{parse_duration, ServerConfig, TestServer};
use log::info;
use std::num::NonZeroUsize;
use std::time::Duration;

/// A test server that takes a set time per request, for the client to meet
/// through haproxy.
///
/// GET /stats answers at once with its counters as JSON (received, answered,
/// in_flight, in_flight_max, ...); every other path waits --request-duration
/// and answers 200 with headers X-In-Flight and X-In-Flight-Max.
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
        value_name = "DURATION"
    )]
    request_duration: Duration,

    /// Worker threads, so requests worked on at once; more wait in a queue.
    /// The default is far above what the demos send at once, so they never
    /// queue in the server.
    #[arg(
        long,
        default_value = "128",
        value_parser = positive_count,
        allow_negative_numbers = true,
        value_name = "N"
    )]
    workers: NonZeroUsize,
}

fn main() {
    let cli: Cli = parse_or_exit();
    init_logging();
    let config = ServerConfig {
        addr: cli.addr,
        request_duration: cli.request_duration,
        workers: cli.workers,
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
