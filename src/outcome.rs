//! What one attempt ended in, as data: a status code or a class of failure.
//!
//! Classes come from error variants and [`std::io::ErrorKind`]s, never from
//! the text of a message, so a new ureq wording cannot move an attempt from
//! `reset` to `other`.

use serde::{Serialize, Serializer};
use std::fmt;
use std::io;

/// Why an attempt got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Nothing listened: the connection was refused.
    Refused,
    /// The peer closed or reset the connection before a full response: reset
    /// on read or write, broken pipe, or end of stream before the status line.
    /// This is what a connection rejected by haproxy's rate rule looks like.
    Reset,
    /// The connection could not be set up in time.
    TimeoutConnect,
    /// Connected, but the whole response did not arrive in time.
    TimeoutResponse,
    /// The host name did not resolve.
    Dns,
    /// Anything else (bad URL, protocol violation, local resource limits).
    Other,
}

impl ErrorClass {
    /// Every class, in report order.
    pub const ALL: [ErrorClass; 6] = [
        ErrorClass::Refused,
        ErrorClass::Reset,
        ErrorClass::TimeoutConnect,
        ErrorClass::TimeoutResponse,
        ErrorClass::Dns,
        ErrorClass::Other,
    ];

    /// The class's name in logs and reports (`reset`, `timeout_connect`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Refused => "refused",
            ErrorClass::Reset => "reset",
            ErrorClass::TimeoutConnect => "timeout_connect",
            ErrorClass::TimeoutResponse => "timeout_response",
            ErrorClass::Dns => "dns",
            ErrorClass::Other => "other",
        }
    }

    /// The class of a ureq error, looking through wrapped I/O errors.
    pub fn of_ureq(error: &ureq::Error) -> ErrorClass {
        match error {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                ErrorClass::TimeoutConnect
            }
            ureq::Error::Timeout(_) => ErrorClass::TimeoutResponse,
            ureq::Error::HostNotFound => ErrorClass::Dns,
            ureq::Error::Io(io_error) => ErrorClass::of_io(io_error),
            _ => ErrorClass::Other,
        }
    }

    /// The class of an I/O error. Body reads report ureq errors wrapped in an
    /// [`io::Error`], so a wrapped error is unwrapped and classified in turn.
    pub fn of_io(error: &io::Error) -> ErrorClass {
        if let Some(inner) = error.get_ref() {
            if let Some(ureq_error) = inner.downcast_ref::<ureq::Error>() {
                return ErrorClass::of_ureq(ureq_error);
            }
            if let Some(io_error) = inner.downcast_ref::<io::Error>() {
                return ErrorClass::of_io(io_error);
            }
        }
        match error.kind() {
            io::ErrorKind::ConnectionRefused => ErrorClass::Refused,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof => ErrorClass::Reset,
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorClass::TimeoutResponse,
            _ => ErrorClass::Other,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ErrorClass {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP response arrived in full (any status).
    Response {
        /// The status code.
        status: u16,
        /// Body bytes read.
        bytes: u64,
        /// The `Retry-After` header's value, if the response had one.
        retry_after: Option<String>,
    },
    /// No full response.
    Failed {
        /// What kind of failure.
        class: ErrorClass,
        /// The error's own description, for people; never parsed.
        detail: String,
    },
}

impl Outcome {
    /// A failure of `class` described by `detail`.
    pub fn failed(class: ErrorClass, detail: impl fmt::Display) -> Outcome {
        Outcome::Failed {
            class,
            detail: detail.to_string(),
        }
    }

    /// A response of `status` with no body and no `Retry-After`.
    pub fn status_only(status: u16) -> Outcome {
        Outcome::Response {
            status,
            bytes: 0,
            retry_after: None,
        }
    }

    /// True for a 2xx response.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Response { status, .. } if (200..300).contains(status))
    }

    /// The status code, when a response arrived.
    pub fn status(&self) -> Option<u16> {
        match self {
            Outcome::Response { status, .. } => Some(*status),
            Outcome::Failed { .. } => None,
        }
    }

    /// The class this outcome is counted under in reports.
    pub fn class(&self) -> AttemptClass {
        match self {
            Outcome::Response { .. } if self.is_success() => AttemptClass::Ok,
            Outcome::Response { status, .. } => AttemptClass::Http(*status),
            Outcome::Failed { class, .. } => AttemptClass::Error(*class),
        }
    }
}

/// The one class every attempt ends in: `ok`, `http_<code>` or an [`ErrorClass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttemptClass {
    /// A 2xx response.
    Ok,
    /// A response with a status outside 2xx.
    Http(u16),
    /// No response.
    Error(ErrorClass),
}

impl fmt::Display for AttemptClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptClass::Ok => f.write_str("ok"),
            AttemptClass::Http(status) => write!(f, "http_{status}"),
            AttemptClass::Error(class) => f.write_str(class.name()),
        }
    }
}

impl Serialize for AttemptClass {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds_map_to_classes() {
        let cases = [
            (io::ErrorKind::ConnectionRefused, ErrorClass::Refused),
            (io::ErrorKind::ConnectionReset, ErrorClass::Reset),
            (io::ErrorKind::ConnectionAborted, ErrorClass::Reset),
            (io::ErrorKind::BrokenPipe, ErrorClass::Reset),
            (io::ErrorKind::UnexpectedEof, ErrorClass::Reset),
            (io::ErrorKind::TimedOut, ErrorClass::TimeoutResponse),
            (io::ErrorKind::PermissionDenied, ErrorClass::Other),
        ];
        for (kind, class) in cases {
            assert_eq!(ErrorClass::of_io(&io::Error::from(kind)), class, "{kind:?}");
        }
    }

    #[test]
    fn wrapped_errors_are_classified_by_what_they_wrap() {
        let reset_in_ureq = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionReset));
        let body_read_error = io::Error::other(reset_in_ureq);
        assert_eq!(ErrorClass::of_io(&body_read_error), ErrorClass::Reset);

        let timeout_in_body = io::Error::other(ureq::Error::Timeout(ureq::Timeout::Global));
        assert_eq!(
            ErrorClass::of_io(&timeout_in_body),
            ErrorClass::TimeoutResponse
        );

        let nested = io::Error::other(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(ErrorClass::of_io(&nested), ErrorClass::Reset);
    }

    #[test]
    fn ureq_variants_map_to_classes() {
        assert_eq!(
            ErrorClass::of_ureq(&ureq::Error::Timeout(ureq::Timeout::Connect)),
            ErrorClass::TimeoutConnect
        );
        assert_eq!(
            ErrorClass::of_ureq(&ureq::Error::Timeout(ureq::Timeout::RecvResponse)),
            ErrorClass::TimeoutResponse
        );
        assert_eq!(
            ErrorClass::of_ureq(&ureq::Error::HostNotFound),
            ErrorClass::Dns
        );
        assert_eq!(
            ErrorClass::of_ureq(&ureq::Error::BadUri("x".into())),
            ErrorClass::Other
        );
    }

    #[test]
    fn outcomes_are_counted_under_one_class() {
        let ok = Outcome::Response {
            status: 204,
            bytes: 0,
            retry_after: None,
        };
        let busy = Outcome::Response {
            status: 429,
            bytes: 5,
            retry_after: Some("1".into()),
        };
        let reset = Outcome::failed(ErrorClass::Reset, "connection reset by peer");
        assert_eq!(ok.class().to_string(), "ok");
        assert_eq!(busy.class().to_string(), "http_429");
        assert_eq!(reset.class().to_string(), "reset");
        assert!(ok.is_success() && !busy.is_success() && !reset.is_success());
        assert_eq!(busy.status(), Some(429));
        assert_eq!(reset.status(), None);
    }
}
