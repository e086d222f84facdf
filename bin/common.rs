//! What both binaries do at their edges: read flags, set up logging, and turn
//! errors into one line and an exit status.

// Each binary uses only some of these helpers.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::Write;

/// Exit status for bad usage: flags, values, addresses in use.
pub const USAGE: u8 = 2;

/// Parses the command line; on bad usage prints one line and exits 2.
pub fn parse_or_exit<C: clap::Parser>() -> C {
    match C::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => error.exit(),
                _ => {
                    // clap's first paragraph, on one line: the message and
                    // what it lists under it (missing flags, possible values).
                    let rendered = error.render().to_string();
                    let paragraph: Vec<&str> = rendered
                        .lines()
                        .take_while(|line| !line.trim().is_empty())
                        .map(str::trim)
                        .collect();
                    let first = paragraph.join(" ");
                    let first = first.strip_prefix("error: ").unwrap_or(&first);
                    exit_with(USAGE, format!("{first} (see --help)"))
                }
            }
        }
    }
}

/// Prints `<program>: <message>` on one line and exits with `status`.
pub fn exit_with(status: u8, message: impl Display) -> ! {
    let program = std::env::args()
        .next()
        .and_then(|path| {
            std::path::Path::new(&path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "concurrent-http-client".into());
    // Even with stderr gone, exit with the status rather than panic.
    let _ = writeln!(std::io::stderr(), "{program}: {message}");
    std::process::exit(i32::from(status))
}

/// Logs to stderr with millisecond UTC timestamps. Info lines carry no
/// level tag, so they read like the original exploration's; other levels are
/// tagged.
///
/// RUST_LOG sets the level, info by default. A bare level (`debug`) applies
/// to this project's own lines, with the libraries kept at warn; a full
/// env_logger filter (`ureq=debug,info`) is used as it is.
///
/// `quiet` turns this project's info lines off (the per-request timeline),
/// unless RUST_LOG says otherwise.
pub fn init_logging(quiet: bool) {
    let spec = std::env::var("RUST_LOG").ok();
    let fallback = if quiet { "warn" } else { "info" };
    let filter = log_filter(spec.as_deref(), fallback);
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format(|out, record| {
            let timestamp = out.timestamp_millis();
            match record.level() {
                log::Level::Info => writeln!(out, "{timestamp} {}", record.args()),
                level => writeln!(out, "{timestamp} {level} {}", record.args()),
            }
        })
        .init();
}

fn log_filter(spec: Option<&str>, fallback: &str) -> String {
    let spec = spec
        .map(str::trim)
        .filter(|spec| !spec.is_empty())
        .unwrap_or(fallback);
    let level = spec.to_ascii_lowercase();
    if ["off", "error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        let libraries = if level == "off" || level == "error" {
            level.as_str()
        } else {
            "warn"
        };
        format!("{libraries},concurrent_http_client={level},client={level},server={level}")
    } else {
        spec.to_owned()
    }
}

/// Reads a count of at least 1, saying so plainly when it is not one.
pub fn positive_count(text: &str) -> Result<std::num::NonZeroUsize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| format!("'{text}' is not a whole number of at least 1"))
}

/// Reads a count of zero or more.
pub fn whole_number(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .map_err(|_| format!("'{text}' is not a whole number of 0 or more"))
}

/// Reads any value that parses from text, for clap: its error as the message.
pub fn parsed<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr,
    T::Err: Display,
{
    text.parse().map_err(|err: T::Err| err.to_string())
}
