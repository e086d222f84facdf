//! Compare mode: named strategies run one after another against the same
//! target, scored against the same ideal, side by side in one table.
//!
//! Strategies come built in ([`builtin_strategies`]) or from a TOML file
//! of `[[strategy]]` tables whose keys are the client's flag names with
//! underscores:
//!
//! ```toml
//! [[strategy]]
//! name = "gentle"
//! rate = 2.5
//! retry = true
//! jitter = "full"
//! retry_wait_min = "500ms"
//! ```

use crate::backoff::{Backoff, Jitter, RetryPolicy};
use crate::budget::BudgetConfig;
use crate::cancel::Cancel;
use crate::duration::{format_duration, parse_duration};
use crate::events::RunRecord;
use crate::rate::RateTicker;
use crate::report::{Limits, Summary};
use crate::request::{Attempter, RequestEnd, RetryConfig};
use crate::retry_on::RetryOn;
use crate::run::{Observer, RunConfig, RunError};
use serde::Deserialize;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One way of sending the run's requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// The name in the table and in file names.
    pub name: String,
    /// `--max-concurrency`.
    #[serde(default)]
    pub max_concurrency: Option<NonZeroUsize>,
    /// `--rate`.
    #[serde(default)]
    pub rate: Option<f64>,
    /// `--retry`.
    #[serde(default)]
    pub retry: bool,
    /// `--max-retries` (3).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// `--backoff` (linear).
    #[serde(default)]
    pub backoff: Option<String>,
    /// `--backoff-factor` (2).
    #[serde(default)]
    pub backoff_factor: Option<f64>,
    /// `--jitter` (equal).
    #[serde(default)]
    pub jitter: Option<String>,
    /// `--retry-wait-min` (1s).
    #[serde(default)]
    pub retry_wait_min: Option<String>,
    /// `--retry-wait-max` (3s).
    #[serde(default)]
    pub retry_wait_max: Option<String>,
    /// `--retry-on`.
    #[serde(default)]
    pub retry_on: Option<String>,
    /// `--max-elapsed`.
    #[serde(default)]
    pub max_elapsed: Option<String>,
    /// `--retry-budget`: a share, as a number (0.2) or a percentage ("20%").
    #[serde(default, deserialize_with = "share")]
    pub retry_budget: Option<f64>,
}

/// A share as TOML gives it: `0.2` or `"20%"`.
fn share<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Share {
        Number(f64),
        Text(String),
    }
    match Share::deserialize(deserializer)? {
        Share::Number(share) => Ok(Some(share)),
        Share::Text(text) => {
            let trimmed = text.trim();
            let parsed = match trimmed.strip_suffix('%') {
                Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
                None => trimmed.parse::<f64>(),
            };
            parsed.map(Some).map_err(|_| {
                serde::de::Error::custom(format!("'{text}' is not a share such as 0.2 or \"20%\""))
            })
        }
    }
}

/// Why a strategy could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StrategyError {
    /// The strategy file could not be read.
    #[error("--strategies {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The strategy file is not valid TOML of the expected shape.
    #[error("--strategies {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line.
        reason: String,
    },
    /// A setting of a strategy is not valid.
    #[error("strategy '{name}': {reason}")]
    Setting {
        /// The strategy.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two strategies share a name, or `--only` names one twice.
    #[error("strategy '{0}' is named twice")]
    Duplicate(String),
    /// `--only` named a strategy that does not exist.
    #[error("unknown strategy '{name}' (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// There is nothing to compare.
    #[error("no strategies to compare")]
    Empty,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategyFile {
    strategy: Vec<Strategy>,
}

/// Reads a strategy file and checks every strategy in it.
pub fn load_strategies(path: &Path) -> Result<Vec<Strategy>, StrategyError> {
    let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: StrategyFile = toml::from_str(&text).map_err(|err| {
        // One line: toml's own rendering spreads over several.
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let message = err.message().trim().replace('\n', " ");
        StrategyError::Parse {
            path: path.to_owned(),
            reason: match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            },
        }
    })?;
    check_strategies(&file.strategy)?;
    Ok(file.strategy)
}

fn check_strategies(strategies: &[Strategy]) -> Result<(), StrategyError> {
    if strategies.is_empty() {
        return Err(StrategyError::Empty);
    }
    for (index, strategy) in strategies.iter().enumerate() {
        if strategies[..index].iter().any(|s| s.name == strategy.name) {
            return Err(StrategyError::Duplicate(strategy.name.clone()));
        }
        strategy.run_config(NonZeroUsize::MIN, 0)?;
    }
    Ok(())
}

/// Keeps the strategies named in `only` (comma-separated), in that order.
pub fn select_strategies(
    strategies: Vec<Strategy>,
    only: &str,
) -> Result<Vec<Strategy>, StrategyError> {
    let mut chosen = Vec::new();
    for name in only.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if chosen.iter().any(|s: &Strategy| s.name == name) {
            return Err(StrategyError::Duplicate(name.to_owned()));
        }
        match strategies.iter().find(|s| s.name == name) {
            Some(strategy) => chosen.push(strategy.clone()),
            None => {
                return Err(StrategyError::Unknown {
                    name: name.to_owned(),
                    known: strategies
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    if chosen.is_empty() {
        return Err(StrategyError::Empty);
    }
    Ok(chosen)
}

/// The six built-in strategies, sized to `limits`: without limits, a rate
/// limit of 3 a second is assumed, as in the exploration.
///
/// - `unlimited`: everything at once, no retry;
/// - `concurrency-limited`: at most the target's concurrency (or its rate,
///   rounded down) at once;
/// - `rate-limited`: starts evenly spaced at 95% of the rate limit;
/// - `retry-no-jitter`: exponential backoff from 500 ms, no jitter;
/// - `retry-full-jitter`: the same with full jitter;
/// - `rate-limited-retry`: the rate limit and the full-jitter retry together.
pub fn builtin_strategies(limits: Option<&Limits>) -> Vec<Strategy> {
    let rate = limits.and_then(|l| l.rate).unwrap_or(3.0);
    let concurrency = limits
        .and_then(|l| l.concurrency)
        .or_else(|| NonZeroUsize::new(rate.floor() as usize))
        .unwrap_or(NonZeroUsize::MIN);
    let named = |name: &str| Strategy {
        name: name.to_owned(),
        max_concurrency: None,
        rate: None,
        retry: false,
        max_retries: None,
        backoff: None,
        backoff_factor: None,
        jitter: None,
        retry_wait_min: None,
        retry_wait_max: None,
        retry_on: None,
        max_elapsed: None,
        retry_budget: None,
    };
    let retrying = |name: &str, jitter: &str| Strategy {
        retry: true,
        max_retries: Some(5),
        backoff: Some("exponential".into()),
        jitter: Some(jitter.into()),
        retry_wait_min: Some("500ms".into()),
        retry_wait_max: Some("4s".into()),
        ..named(name)
    };
    let kept_rate = (rate * 95.0).round() / 100.0;
    vec![
        named("unlimited"),
        Strategy {
            max_concurrency: Some(concurrency),
            ..named("concurrency-limited")
        },
        Strategy {
            rate: Some(kept_rate),
            ..named("rate-limited")
        },
        retrying("retry-no-jitter", "none"),
        retrying("retry-full-jitter", "full"),
        Strategy {
            rate: Some(kept_rate),
            ..retrying("rate-limited-retry", "full")
        },
    ]
}

impl Strategy {
    fn setting_error(&self, reason: impl fmt::Display) -> StrategyError {
        StrategyError::Setting {
            name: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn duration(
        &self,
        key: &str,
        value: &Option<String>,
    ) -> Result<Option<Duration>, StrategyError> {
        value
            .as_deref()
            .map(|text| {
                parse_duration(text).map_err(|err| self.setting_error(format!("{key}: {err}")))
            })
            .transpose()
    }

    /// The run configuration this strategy means, for `num_requests` requests.
    pub fn run_config(
        &self,
        num_requests: NonZeroUsize,
        seed: u64,
    ) -> Result<RunConfig, StrategyError> {
        if self.name.trim().is_empty() || self.name.contains(['/', '\\']) {
            return Err(self.setting_error("a name must be non-empty and hold no slash"));
        }
        if let Some(rate) = self.rate {
            RateTicker::period_of(rate).map_err(|err| self.setting_error(err))?;
        }
        if !self.retry {
            let retry_only = [
                ("max_retries", self.max_retries.is_some()),
                ("backoff", self.backoff.is_some()),
                ("backoff_factor", self.backoff_factor.is_some()),
                ("jitter", self.jitter.is_some()),
                ("retry_wait_min", self.retry_wait_min.is_some()),
                ("retry_wait_max", self.retry_wait_max.is_some()),
                ("retry_on", self.retry_on.is_some()),
                ("max_elapsed", self.max_elapsed.is_some()),
                ("retry_budget", self.retry_budget.is_some()),
            ];
            if let Some((key, _)) = retry_only.iter().find(|(_, set)| *set) {
                return Err(self.setting_error(format!("{key} needs retry = true")));
            }
        }
        if let Some(factor) = self.backoff_factor {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(self.setting_error(format!(
                    "backoff_factor must be a number of at least 1, got {factor}"
                )));
            }
        }
        let retry = if self.retry {
            let defaults = RetryPolicy::default();
            let backoff = match self.backoff.as_deref() {
                None => Backoff::Linear,
                Some(name) => name.parse().map_err(|err| self.setting_error(err))?,
            };
            let backoff = match (backoff, self.backoff_factor) {
                (Backoff::Exponential { .. }, Some(factor)) => Backoff::Exponential { factor },
                (backoff, _) => backoff,
            };
            let jitter = match self.jitter.as_deref() {
                None => Jitter::Equal,
                Some(name) => name.parse().map_err(|err| self.setting_error(err))?,
            };
            let wait_min = self
                .duration("retry_wait_min", &self.retry_wait_min)?
                .unwrap_or(Duration::from_secs(1));
            let wait_max = self
                .duration("retry_wait_max", &self.retry_wait_max)?
                .unwrap_or(Duration::from_secs(3));
            let policy = RetryPolicy::new(
                self.max_retries.unwrap_or(defaults.max_retries()),
                wait_min,
                wait_max,
                backoff,
                jitter,
            )
            .map_err(|err| self.setting_error(err))?;
            let retry_on = match self.retry_on.as_deref() {
                None => RetryOn::default(),
                Some(list) => list.parse().map_err(|err| self.setting_error(err))?,
            };
            if let Some(share) = self.retry_budget {
                if !(0.0..=1.0).contains(&share) {
                    return Err(self.setting_error("retry_budget must be a share from 0 to 1"));
                }
            }
            let max_elapsed = self.duration("max_elapsed", &self.max_elapsed)?;
            if max_elapsed.is_some_and(|limit| limit.is_zero()) {
                return Err(self.setting_error("max_elapsed must be above zero"));
            }
            Some(RetryConfig {
                policy,
                retry_on,
                max_elapsed,
                budget: self.retry_budget.map(BudgetConfig::with_ratio),
                ..RetryConfig::default()
            })
        } else {
            None
        };
        Ok(RunConfig {
            num_requests,
            max_concurrency: self.max_concurrency,
            rate: self.rate,
            retry,
            seed,
            ..RunConfig::default()
        })
    }

    /// The strategy's settings in flag form, or `no limits, no retry`.
    pub fn describe(&self) -> String {
        let flags = self.flags();
        if flags.is_empty() {
            "no limits, no retry".to_owned()
        } else {
            flags
        }
    }

    /// The strategy's settings in flag form; empty for none.
    pub fn flags(&self) -> String {
        let mut parts = Vec::new();
        if let Some(concurrency) = self.max_concurrency {
            parts.push(format!("--max-concurrency {concurrency}"));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("--rate {rate}"));
        }
        if self.retry {
            parts.push("--retry".to_owned());
            let flags = [
                ("--max-retries", self.max_retries.map(|k| k.to_string())),
                ("--backoff", self.backoff.clone()),
                (
                    "--backoff-factor",
                    self.backoff_factor.map(|f| f.to_string()),
                ),
                ("--jitter", self.jitter.clone()),
                ("--retry-wait-min", self.retry_wait_min.clone()),
                ("--retry-wait-max", self.retry_wait_max.clone()),
                ("--retry-on", self.retry_on.clone()),
                ("--max-elapsed", self.max_elapsed.clone()),
                ("--retry-budget", self.retry_budget.map(|b| b.to_string())),
            ];
            for (flag, value) in flags {
                if let Some(value) = value {
                    parts.push(format!("{flag} {value}"));
                }
            }
        }
        parts.join(" ")
    }
}

/// How a comparison runs.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// The strategies, in order.
    pub strategies: Vec<Strategy>,
    /// Requests per strategy.
    pub num_requests: NonZeroUsize,
    /// Seed for every run's jitter.
    pub seed: u64,
    /// The target's limits, for the ideal and the ratio.
    pub limits: Option<Limits>,
    /// The wait between runs, so the target's rate window forgets the last
    /// one. Defaults to 2 s: two periods of haproxy's one-second window.
    pub pause: Duration,
    /// Stops the comparison: the run in progress ends early and no other starts.
    pub cancel: Cancel,
}

/// Runs every strategy of `config` against `target`, one after another.
/// `starting` is called before each run and may return an observer for it
/// (a progress bar); `done` is called after each.
pub fn compare(
    config: &CompareConfig,
    target: &dyn Attempter,
    mut starting: impl FnMut(&Strategy) -> Option<Observer>,
    mut done: impl FnMut(&Compared),
) -> Result<Vec<Compared>, RunError> {
    let mut results = Vec::new();
    for (index, strategy) in config.strategies.iter().enumerate() {
        if index > 0 && !config.cancel.sleep(config.pause) {
            break;
        }
        let mut run_config = match strategy.run_config(config.num_requests, config.seed) {
            Ok(run_config) => run_config,
            // Checked when the strategies were loaded; a failure here is a
            // strategy built in code, so say so as a run error.
            Err(err) => {
                return Err(RunError::Strategy(err.to_string()));
            }
        };
        run_config.cancel = config.cancel.clone();
        run_config.heartbeat = None;
        run_config.observer = starting(strategy);
        let record = crate::run::run(&run_config, target)?;
        let summary = Summary::of(&record, config.limits);
        let compared = Compared {
            strategy: strategy.clone(),
            record,
            summary,
        };
        done(&compared);
        results.push(compared);
        if config.cancel.is_cancelled() {
            break;
        }
    }
    Ok(results)
}

/// One strategy's run in a comparison.
#[derive(Debug)]
pub struct Compared {
    /// The strategy.
    pub strategy: Strategy,
    /// Everything the run recorded.
    pub record: RunRecord,
    /// Its summary, scored when the limits are known.
    pub summary: Summary,
}

impl Compared {
    /// True when Ctrl-C cut the run short: its row is not a full result.
    pub fn was_stopped(&self) -> bool {
        self.record
            .ends
            .iter()
            .any(|end| matches!(end, RequestEnd::Interrupted | RequestEnd::NotStarted))
    }
}

/// The comparison table: one row per strategy.
#[derive(Debug)]
pub struct CompareTable<'a>(pub &'a [Compared]);

impl fmt::Display for CompareTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = [
            "strategy", "ok/N", "attempts", "rejected", "elapsed", "ideal", "ratio", "p50", "p99",
        ];
        let rows: Vec<[String; 9]> = self
            .0
            .iter()
            .map(|compared| {
                let summary = &compared.summary;
                let latency = summary.latency_from_intended;
                let dash = || "-".to_owned();
                [
                    if compared.was_stopped() {
                        format!("{} (stopped)", compared.strategy.name)
                    } else {
                        compared.strategy.name.clone()
                    },
                    format!("{}/{}", summary.succeeded, summary.requests),
                    summary.attempts.to_string(),
                    summary.rejected().to_string(),
                    format_duration(summary.elapsed),
                    summary
                        .score
                        .map_or_else(dash, |score| format_duration(score.ideal)),
                    summary
                        .score
                        .filter(|score| score.ratio.is_finite())
                        .map_or_else(dash, |score| format!("{:.2}", score.ratio)),
                    latency.map_or_else(dash, |l| format_duration(l.p50)),
                    latency.map_or_else(dash, |l| format_duration(l.p99)),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.len());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if column == 0 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            writeln!(f, "{}", padded.join("  ").trim_end())
        };
        line(f, &header)?;
        for row in &rows {
            line(f, &row.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_sized_to_the_limits() {
        let limits = Limits {
            rate: Some(10.0),
            concurrency: None,
            duration: Duration::from_millis(100),
        };
        let strategies = builtin_strategies(Some(&limits));
        let names: Vec<&str> = strategies.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "unlimited",
                "concurrency-limited",
                "rate-limited",
                "retry-no-jitter",
                "retry-full-jitter",
                "rate-limited-retry"
            ]
        );
        assert_eq!(strategies[1].max_concurrency, NonZeroUsize::new(10));
        assert_eq!(strategies[2].rate, Some(9.5));
        assert_eq!(builtin_strategies(None)[2].rate, Some(2.85));
        for strategy in &strategies {
            strategy
                .run_config(NonZeroUsize::MIN, 0)
                .expect("every built-in strategy is valid");
        }
    }

    #[test]
    fn a_strategy_file_reads_into_run_configs() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let path = dir.path().join("strategies.toml");
        std::fs::write(
            &path,
            r#"
[[strategy]]
name = "gentle"
rate = 2.5
retry = true
jitter = "full"
retry_wait_min = "500ms"

[[strategy]]
name = "two at a time"
max_concurrency = 2
"#,
        )
        .expect("written");
        let strategies = load_strategies(&path).expect("a valid file");
        assert_eq!(strategies.len(), 2);
        let config = strategies[0]
            .run_config(NonZeroUsize::new(5).expect("5"), 1)
            .expect("valid");
        assert_eq!(config.rate, Some(2.5));
        let retry = config.retry.expect("retry is on");
        assert_eq!(
            retry.policy.delay(1, Duration::ZERO, 1.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(strategies[1].describe(), "--max-concurrency 2");
    }

    #[test]
    fn bad_files_and_names_are_refused_by_name() {
        let dir = tempfile::tempdir().expect("a scratch folder");
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("written");
            path
        };
        let missing = dir.path().join("missing.toml");
        assert!(matches!(
            load_strategies(&missing),
            Err(StrategyError::Read { .. })
        ));
        let cases = [
            ("junk.toml", "this is not toml ["),
            (
                "unknown-key.toml",
                "[[strategy]]\nname = \"a\"\nspeed = 3\n",
            ),
            ("no-name.toml", "[[strategy]]\nrate = 3\n"),
        ];
        for (name, text) in cases {
            let error = load_strategies(&write(name, text)).expect_err(name);
            assert!(
                matches!(error, StrategyError::Parse { .. }),
                "{name}: {error}"
            );
            assert!(error.to_string().contains(name), "{error}");
        }
        let error = load_strategies(&write(
            "bad-rate.toml",
            "[[strategy]]\nname = \"a\"\nrate = -1\n",
        ))
        .expect_err("a negative rate");
        assert!(error.to_string().starts_with("strategy 'a': "), "{error}");
        let error = load_strategies(&write(
            "bad-jitter.toml",
            "[[strategy]]\nname = \"b\"\nretry = true\njitter = \"lots\"\n",
        ))
        .expect_err("an unknown jitter");
        assert!(error.to_string().contains("lots"), "{error}");
        for (name, text, mentions) in [
            (
                "needs-retry.toml",
                "[[strategy]]\nname = \"c\"\njitter = \"full\"\n",
                "jitter needs retry = true",
            ),
            (
                "factor.toml",
                "[[strategy]]\nname = \"d\"\nretry = true\nbackoff_factor = 0.5\n",
                "backoff_factor",
            ),
            (
                "zero.toml",
                "[[strategy]]\nname = \"e\"\nretry = true\nmax_elapsed = \"0\"\n",
                "max_elapsed",
            ),
        ] {
            let error = load_strategies(&write(name, text)).expect_err(name);
            assert!(error.to_string().contains(mentions), "{name}: {error}");
        }
        let budget = load_strategies(&write(
            "budget.toml",
            "[[strategy]]\nname = \"f\"\nretry = true\nretry_budget = \"20%\"\n",
        ))
        .expect("a percentage is a share");
        assert_eq!(budget[0].retry_budget, Some(0.2));
        assert!(matches!(
            select_strategies(builtin_strategies(None), "unlimited,unlimited"),
            Err(StrategyError::Duplicate(_))
        ));
        let twice = "[[strategy]]\nname = \"a\"\n[[strategy]]\nname = \"a\"\n";
        assert!(matches!(
            load_strategies(&write("twice.toml", twice)),
            Err(StrategyError::Duplicate(_))
        ));
        assert!(matches!(
            load_strategies(&write("empty.toml", "strategy = []\n")),
            Err(StrategyError::Empty)
        ));
        let error = select_strategies(builtin_strategies(None), "unlimited,fastest")
            .expect_err("no such strategy");
        assert!(error
            .to_string()
            .starts_with("unknown strategy 'fastest' (known: unlimited,"));
    }
}
