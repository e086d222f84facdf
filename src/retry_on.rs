//! Which attempt outcomes are worth retrying, as a user writes them:
//! `--retry-on reset,refused,timeout,429,5xx`.

use crate::outcome::{ErrorClass, Outcome};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A set of error classes and status codes to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    classes: BTreeSet<ErrorClass>,
    statuses: BTreeSet<u16>,
}

/// Why a `--retry-on` list could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryOnError {
    /// A name was neither a class, a status code nor a status family.
    #[error("--retry-on: unknown '{0}' (expected refused, reset, timeout, timeout_connect, timeout_response, dns, other, a status such as 503, or a family such as 5xx)")]
    Unknown(String),
    /// The list was empty.
    #[error("--retry-on needs at least one class or status")]
    Empty,
}

impl Default for RetryOn {
    /// Resets, refused connections, both timeouts, 429 and the gateway
    /// errors 502, 503 and 504. Other 4xx say the request itself is wrong;
    /// 500 usually says the server has a bug that repeating will not fix.
    fn default() -> Self {
        "refused,reset,timeout,429,502,503,504"
            .parse()
            .expect("the default list is valid")
    }
}

impl RetryOn {
    /// True when an attempt that ended like this should be retried.
    pub fn matches(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Response { status, .. } => self.statuses.contains(status),
            Outcome::Failed { class, .. } => self.classes.contains(class),
        }
    }
}

impl FromStr for RetryOn {
    type Err = RetryOnError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut retry_on = RetryOn {
            classes: BTreeSet::new(),
            statuses: BTreeSet::new(),
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            // The report's own name for a status, http_503, reads too.
            let lower = lower.strip_prefix("http_").unwrap_or(&lower).to_owned();
            match lower.as_str() {
                "timeout" => {
                    retry_on.classes.insert(ErrorClass::TimeoutConnect);
                    retry_on.classes.insert(ErrorClass::TimeoutResponse);
                }
                family if family.len() == 3 && family.ends_with("xx") => {
                    let hundreds = match family.as_bytes()[0] {
                        digit @ b'1'..=b'5' => u16::from(digit - b'0') * 100,
                        _ => return Err(RetryOnError::Unknown(name.to_owned())),
                    };
                    retry_on.statuses.extend(hundreds..hundreds + 100);
                }
                code if code.bytes().all(|b| b.is_ascii_digit()) => match code.parse::<u16>() {
                    Ok(status @ 100..=599) => {
                        retry_on.statuses.insert(status);
                    }
                    _ => return Err(RetryOnError::Unknown(name.to_owned())),
                },
                class => match ErrorClass::ALL.iter().find(|c| c.name() == class) {
                    Some(class) => {
                        retry_on.classes.insert(*class);
                    }
                    None => return Err(RetryOnError::Unknown(name.to_owned())),
                },
            }
        }
        if retry_on.classes.is_empty() && retry_on.statuses.is_empty() {
            return Err(RetryOnError::Empty);
        }
        Ok(retry_on)
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .classes
            .iter()
            .map(|class| class.name().to_owned())
            .chain(self.statuses.iter().map(u16::to_string))
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16) -> Outcome {
        Outcome::Response {
            status,
            bytes: 0,
            retry_after: None,
        }
    }

    #[test]
    fn the_default_retries_transient_failures_only() {
        let retry_on = RetryOn::default();
        for status in [429, 502, 503, 504] {
            assert!(retry_on.matches(&response(status)), "{status}");
        }
        for status in [200, 400, 404, 500, 501] {
            assert!(!retry_on.matches(&response(status)), "{status}");
        }
        for class in [
            ErrorClass::Refused,
            ErrorClass::Reset,
            ErrorClass::TimeoutConnect,
            ErrorClass::TimeoutResponse,
        ] {
            assert!(retry_on.matches(&Outcome::failed(class, "x")), "{class}");
        }
        for class in [ErrorClass::Dns, ErrorClass::Other] {
            assert!(!retry_on.matches(&Outcome::failed(class, "x")), "{class}");
        }
    }

    #[test]
    fn lists_name_classes_codes_and_families() {
        let retry_on: RetryOn = "reset, 5xx,418".parse().expect("a valid list");
        assert!(retry_on.matches(&Outcome::failed(ErrorClass::Reset, "x")));
        assert!(!retry_on.matches(&Outcome::failed(ErrorClass::Refused, "x")));
        assert!(retry_on.matches(&response(500)));
        assert!(retry_on.matches(&response(599)));
        assert!(retry_on.matches(&response(418)));
        assert!(!retry_on.matches(&response(429)));
        let as_reported: RetryOn = "http_503".parse().expect("the report's class name");
        assert!(as_reported.matches(&response(503)));
        let timeouts: RetryOn = "TIMEOUT".parse().expect("case does not matter");
        assert!(timeouts.matches(&Outcome::failed(ErrorClass::TimeoutConnect, "x")));
        assert!(timeouts.matches(&Outcome::failed(ErrorClass::TimeoutResponse, "x")));
    }

    #[test]
    fn unknown_names_are_refused_by_name() {
        for list in ["resets", "6xx", "0xx", "99", "600", "http_", "5x"] {
            assert_eq!(
                list.parse::<RetryOn>(),
                Err(RetryOnError::Unknown(list.to_owned())),
                "{list}"
            );
        }
        assert_eq!("".parse::<RetryOn>(), Err(RetryOnError::Empty));
        assert_eq!(" , ".parse::<RetryOn>(), Err(RetryOnError::Empty));
    }

    #[test]
    fn displays_as_a_list_it_reads_back() {
        let retry_on = RetryOn::default();
        assert_eq!(
            retry_on.to_string(),
            "refused,reset,timeout_connect,timeout_response,429,502,503,504"
        );
        assert_eq!(retry_on.to_string().parse::<RetryOn>(), Ok(retry_on));
    }
}
