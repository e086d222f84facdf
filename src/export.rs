//! Writing a run's events to a file, one row per attempt: JSON lines, or CSV
//! when the file name ends in `.csv`. Times are milliseconds from the start
//! of the run, to the microsecond.

use crate::events::{AttemptEvent, RunRecord};
use crate::outcome::{ErrorClass, Outcome};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One attempt as a row of an events file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// The request's number, from 0.
    pub request: usize,
    /// The attempt's number within its request, from 0.
    pub attempt: u32,
    /// When the scheduler meant the attempt to go.
    pub intended_start_ms: f64,
    /// When it went.
    pub start_ms: f64,
    /// When it ended.
    pub end_ms: f64,
    /// `ok`, `http_<code>` or an error class.
    pub class: String,
    /// The status code, when a response came.
    pub status: Option<u16>,
    /// Body bytes read, when a response came.
    pub bytes: Option<u64>,
    /// The backoff slept right before the attempt.
    pub backoff_ms: f64,
    /// The response's `Retry-After` value, if any.
    pub retry_after: Option<String>,
    /// The error's description, for failures.
    pub detail: Option<String>,
}

/// Why an events file could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The file could not be created, written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// A row could not be encoded or decoded.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl ExportError {
    /// Turns an I/O error on `path` into an export error.
    fn io(path: &Path) -> impl Fn(io::Error) -> ExportError + Copy + '_ {
        move |source| ExportError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Turns a coding error on `path` into an export error.
    fn format(path: &Path) -> impl Fn(String) -> ExportError + Copy + '_ {
        move |reason| ExportError::Format {
            path: path.to_owned(),
            reason,
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

fn from_millis(millis: f64) -> Duration {
    Duration::from_micros((millis * 1000.0).round().max(0.0) as u64)
}

impl From<&AttemptEvent> for EventRow {
    fn from(event: &AttemptEvent) -> EventRow {
        let (status, bytes, retry_after, detail) = match &event.outcome {
            Outcome::Response {
                status,
                bytes,
                retry_after,
            } => (Some(*status), Some(*bytes), retry_after.clone(), None),
            Outcome::Failed { detail, .. } => (None, None, None, Some(detail.clone())),
        };
        EventRow {
            request: event.request,
            attempt: event.attempt,
            intended_start_ms: millis(event.intended_start),
            start_ms: millis(event.start),
            end_ms: millis(event.end),
            class: event.outcome.class().to_string(),
            status,
            bytes,
            backoff_ms: millis(event.backoff_before),
            retry_after,
            detail,
        }
    }
}

impl EventRow {
    /// The event this row describes, to the microsecond.
    pub fn to_event(&self) -> Result<AttemptEvent, String> {
        let outcome = match self.status {
            Some(status) => Outcome::Response {
                status,
                bytes: self.bytes.unwrap_or(0),
                retry_after: self.retry_after.clone(),
            },
            None => {
                let class = ErrorClass::ALL
                    .into_iter()
                    .find(|class| class.name() == self.class)
                    .ok_or_else(|| format!("unknown class '{}'", self.class))?;
                Outcome::failed(class, self.detail.clone().unwrap_or_default())
            }
        };
        Ok(AttemptEvent {
            request: self.request,
            attempt: self.attempt,
            intended_start: from_millis(self.intended_start_ms),
            start: from_millis(self.start_ms),
            end: from_millis(self.end_ms),
            outcome,
            backoff_before: from_millis(self.backoff_ms),
        })
    }
}

fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"))
}

/// Writes every event of `record` to `path`.
pub fn write_events(record: &RunRecord, path: &Path) -> Result<(), ExportError> {
    let (io_error, format_error) = (ExportError::io(path), ExportError::format(path));
    let file = File::create(path).map_err(io_error)?;
    let rows = record.events.iter().map(EventRow::from);
    if is_csv(path) {
        let mut writer = csv::Writer::from_writer(file);
        for row in rows {
            writer
                .serialize(row)
                .map_err(|err| format_error(err.to_string()))?;
        }
        writer.flush().map_err(io_error)
    } else {
        let mut writer = BufWriter::new(file);
        for row in rows {
            serde_json::to_writer(&mut writer, &row)
                .map_err(|err| format_error(err.to_string()))?;
            writer.write_all(b"\n").map_err(io_error)?;
        }
        writer.flush().map_err(io_error)
    }
}

/// Reads the events of a file [`write_events`] wrote.
pub fn read_events(path: &Path) -> Result<Vec<AttemptEvent>, ExportError> {
    let (io_error, format_error) = (ExportError::io(path), ExportError::format(path));
    let file = File::open(path).map_err(io_error)?;
    let rows: Vec<EventRow> = if is_csv(path) {
        csv::Reader::from_reader(file)
            .deserialize()
            .collect::<Result<_, _>>()
            .map_err(|err| format_error(err.to_string()))?
    } else {
        let mut rows = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(io_error)?;
            if line.trim().is_empty() {
                continue;
            }
            rows.push(serde_json::from_str(&line).map_err(|err| format_error(err.to_string()))?);
        }
        rows
    };
    rows.iter()
        .map(|row| row.to_event().map_err(format_error))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestEnd;
    use std::time::SystemTime;

    fn us(micros: u64) -> Duration {
        Duration::from_micros(micros)
    }

    fn record() -> RunRecord {
        let events = vec![
            AttemptEvent {
                request: 0,
                attempt: 0,
                intended_start: us(0),
                start: us(1_250),
                end: us(2_001_999),
                outcome: Outcome::Response {
                    status: 200,
                    bytes: 3,
                    retry_after: None,
                },
                backoff_before: Duration::ZERO,
            },
            AttemptEvent {
                request: 1,
                attempt: 0,
                intended_start: us(0),
                start: us(1_300),
                end: us(2_400),
                outcome: Outcome::failed(
                    ErrorClass::Reset,
                    "io: Connection reset by peer, \"quoted\", with commas",
                ),
                backoff_before: Duration::ZERO,
            },
            AttemptEvent {
                request: 1,
                attempt: 1,
                intended_start: us(700_000),
                start: us(700_123),
                end: us(712_000),
                outcome: Outcome::Response {
                    status: 429,
                    bytes: 18,
                    retry_after: Some("Sun, 06 Nov 1994 08:49:37 GMT".into()),
                },
                backoff_before: us(698_000),
            },
        ];
        RunRecord {
            num_requests: 2,
            events,
            ends: vec![RequestEnd::Succeeded, RequestEnd::RetriesExhausted],
            started_at: SystemTime::UNIX_EPOCH,
            elapsed: us(2_002_000),
        }
    }

    #[test]
    fn events_round_trip_through_json_lines_and_csv() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let record = record();
        for name in ["events.jsonl", "events.csv", "EVENTS.CSV"] {
            let path = dir.path().join(name);
            write_events(&record, &path).expect("the events are written");
            let back = read_events(&path).expect("the events are read");
            assert_eq!(back, record.events, "{name}");
        }
    }

    #[test]
    fn json_rows_carry_units_in_their_names() {
        let row = EventRow::from(&record().events[2]);
        let json = serde_json::to_value(&row).expect("a row encodes");
        assert_eq!(json["start_ms"], 700.123);
        assert_eq!(json["backoff_ms"], 698.0);
        assert_eq!(json["class"], "http_429");
        assert_eq!(json["status"], 429);
    }

    #[test]
    fn unwritable_and_unreadable_paths_name_the_file() {
        let missing = Path::new("/no/such/folder/events.jsonl");
        let error = write_events(&record(), missing).expect_err("no such folder");
        assert!(
            error
                .to_string()
                .starts_with("/no/such/folder/events.jsonl: "),
            "{error}"
        );
        let error = read_events(missing).expect_err("no such file");
        assert!(matches!(error, ExportError::Io { .. }));
        let dir = tempfile::tempdir().expect("a scratch folder");
        let junk = dir.path().join("junk.jsonl");
        std::fs::write(&junk, "{not json}\n").expect("written");
        assert!(matches!(
            read_events(&junk),
            Err(ExportError::Format { .. })
        ));
    }
}
