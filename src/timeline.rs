//! The timeline picture: one row per request, time across, drawn as SVG
//! with plotters.
//!
//! Each attempt is a bar coloured by its class; the backoff before a retry
//! is a thin grey line from the end of one attempt to the start of the
//! next; vertical gridlines mark the seconds; a blue line, when a rate is
//! given, marks when evenly spaced first attempts would have started. Above
//! the rows, a density strip counts attempt starts per time slice, the
//! successful ones and the rest stacked, so a busy second stands out even
//! when the rows are too thin to read.
//!
//! Rows thin out with the number of requests: each request keeps a row of
//! its own up to [`MAX_ROWS`] requests, the rows getting thinner; beyond
//! that, requests share rows in order (request `i` of `n` is drawn in row
//! `i × MAX_ROWS / n`).

use crate::events::{AttemptEvent, RunRecord};
use crate::outcome::{AttemptClass, ErrorClass};
use plotters::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most rows the picture has; more requests share rows.
pub const MAX_ROWS: usize = 1000;

const WIDTH: u32 = 1200;
const STRIP_HEIGHT: u32 = 140;
const ROW_AREA_MIN: u32 = 160;
const ROW_AREA_MAX: u32 = 900;
/// Rows are this tall while there is room.
const ROW_HEIGHT: u32 = 26;
const LEGEND_HEIGHT: u32 = 30;

/// What the picture says besides the events.
#[derive(Debug, Clone, Default)]
pub struct TimelineOptions {
    /// The title above the picture.
    pub title: String,
    /// A start rate to draw as a reference line.
    pub rate: Option<f64>,
}

/// Why a timeline could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimelineError {
    /// The file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// plotters could not draw.
    #[error("could not draw the timeline: {0}")]
    Draw(String),
}

fn draw_error<E: std::fmt::Display>(err: E) -> TimelineError {
    TimelineError::Draw(err.to_string())
}

/// Renders the timeline of `record` and writes it to `path` as SVG.
pub fn write_timeline(
    record: &RunRecord,
    options: &TimelineOptions,
    path: &Path,
) -> Result<(), TimelineError> {
    let svg = render_timeline(record, options)?;
    std::fs::write(path, svg).map_err(|source| TimelineError::Io {
        path: path.to_owned(),
        source,
    })
}

/// How a legend entry is drawn.
enum Swatch {
    Box(RGBColor),
    Line(RGBColor),
}

/// The colour of a class in the picture and its legend.
fn color(class: AttemptClass) -> RGBColor {
    match class {
        AttemptClass::Ok => RGBColor(46, 125, 50),
        AttemptClass::Http(429) => RGBColor(245, 124, 0),
        AttemptClass::Http(status) if status >= 500 => RGBColor(198, 40, 40),
        AttemptClass::Http(_) => RGBColor(251, 192, 45),
        AttemptClass::Error(ErrorClass::Reset) => RGBColor(106, 27, 154),
        AttemptClass::Error(ErrorClass::Refused) => RGBColor(97, 97, 97),
        AttemptClass::Error(ErrorClass::TimeoutConnect) => RGBColor(0, 131, 143),
        AttemptClass::Error(ErrorClass::TimeoutResponse) => RGBColor(21, 101, 192),
        AttemptClass::Error(_) => RGBColor(33, 33, 33),
    }
}

/// The width of one slice of the density strip: a round number giving
/// about a hundred slices over the run.
fn slice_width(elapsed: Duration) -> Duration {
    const STEPS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
    let target = elapsed.as_millis() as u64 / 100;
    let step = STEPS_MS
        .into_iter()
        .find(|&step| step >= target)
        .unwrap_or(10_000);
    Duration::from_millis(step)
}

/// Renders the timeline as SVG text.
pub fn render_timeline(
    record: &RunRecord,
    options: &TimelineOptions,
) -> Result<String, TimelineError> {
    let requests = record.num_requests.max(1);
    let rows = requests.min(MAX_ROWS);
    let row_of = |request: usize| request * rows / requests;
    let row_area = (rows as u32 * ROW_HEIGHT).clamp(ROW_AREA_MIN, ROW_AREA_MAX);
    let height = STRIP_HEIGHT + 30 + row_area + 80 + LEGEND_HEIGHT;
    let end_s = record
        .elapsed
        .max(
            record
                .events
                .iter()
                .map(|e| e.end)
                .max()
                .unwrap_or_default(),
        )
        .as_secs_f64()
        .max(0.001);
    let thin = row_area as f64 / (rows as f64) < 4.0;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        let (top, rest) = root.split_vertically(STRIP_HEIGHT + 30);
        let (bottom, legend) = rest.split_vertically(row_area + 80);

        // The density strip.
        let slice = slice_width(record.elapsed);
        let slices = (end_s / slice.as_secs_f64()).ceil().max(1.0) as usize;
        let mut ok = vec![0u32; slices];
        let mut not_ok = vec![0u32; slices];
        for event in &record.events {
            let index =
                ((event.start.as_secs_f64() / slice.as_secs_f64()) as usize).min(slices - 1);
            if event.outcome.is_success() {
                ok[index] += 1;
            } else {
                not_ok[index] += 1;
            }
        }
        let peak = ok
            .iter()
            .zip(&not_ok)
            .map(|(a, b)| a + b)
            .max()
            .unwrap_or(0)
            .max(1);
        let mut strip = ChartBuilder::on(&top)
            .caption(&options.title, ("sans-serif", 18))
            .margin_left(10)
            .margin_right(20)
            .margin_top(8)
            .x_label_area_size(0)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..end_s, 0f64..peak as f64 * 1.1)
            .map_err(draw_error)?;
        strip
            .configure_mesh()
            .disable_x_mesh()
            .y_labels(3)
            // Counts are whole: label only the whole-number ticks.
            .y_label_formatter(&|count| {
                if (count - count.round()).abs() < 1e-6 {
                    format!("{count:.0}")
                } else {
                    String::new()
                }
            })
            .y_desc(format!(
                "starts per {}",
                crate::duration::format_duration(slice)
            ))
            .draw()
            .map_err(draw_error)?;
        let slice_s = slice.as_secs_f64();
        strip
            .draw_series(
                ok.iter()
                    .zip(&not_ok)
                    .enumerate()
                    .flat_map(|(i, (&good, &bad))| {
                        let x0 = i as f64 * slice_s;
                        let x1 = x0 + slice_s;
                        [
                            Rectangle::new(
                                [(x0, 0.0), (x1, good as f64)],
                                color(AttemptClass::Ok).filled(),
                            ),
                            Rectangle::new(
                                [(x0, good as f64), (x1, (good + bad) as f64)],
                                RGBColor(198, 40, 40).filled(),
                            ),
                        ]
                    }),
            )
            .map_err(draw_error)?;

        // The rows.
        let mut chart = ChartBuilder::on(&bottom)
            .margin_left(10)
            .margin_right(20)
            .margin_bottom(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            // Row r is the band r-0.5..r+0.5, so whole-number ticks fall on
            // row centres; the axis runs downwards, row 0 at the top.
            .build_cartesian_2d(0f64..end_s, (rows as f64 - 0.5)..-0.5f64)
            .map_err(draw_error)?;
        let seconds = end_s.ceil() as usize;
        let x_labels = if end_s < 2.0 {
            11
        } else if seconds <= 30 {
            seconds + 1
        } else {
            16
        };
        let y_labels = rows.min(if thin { 10 } else { 25 });
        chart
            .configure_mesh()
            .x_labels(x_labels)
            .x_label_formatter(&|x| {
                if end_s < 2.0 {
                    format!("{:.0}ms", x * 1000.0)
                } else {
                    format!("{x:.0}s")
                }
            })
            .x_desc("time since the start of the run")
            .y_labels(y_labels)
            .y_label_formatter(&|y| {
                let row = y.round().max(0.0) as usize;
                format!("{}", row * requests / rows)
            })
            .y_desc(if rows < requests {
                "requests (rows shared)"
            } else {
                "request"
            })
            .disable_y_mesh()
            .light_line_style(RGBColor(230, 230, 230))
            .draw()
            .map_err(draw_error)?;

        // The top edge of the request's band (the axis runs downwards).
        let y_of = |request: usize| row_of(request) as f64 - 0.5;
        let (pad_low, pad_high) = if thin { (0.0, 1.0) } else { (0.15, 0.85) };
        let mut seen = BTreeSet::new();
        for event in &record.events {
            seen.insert(event.outcome.class());
        }
        // Backoff lines first, so the bars cover their ends.
        let backoff_color = RGBColor(150, 150, 150);
        chart
            .draw_series(record.requests().flat_map(|attempts| {
                attempts.windows(2).map(move |pair: &[AttemptEvent]| {
                    let y = y_of(pair[1].request) + 0.5;
                    PathElement::new(
                        vec![
                            (pair[0].end.as_secs_f64(), y),
                            (pair[1].start.as_secs_f64(), y),
                        ],
                        backoff_color.stroke_width(1),
                    )
                })
            }))
            .map_err(draw_error)?;
        for &class in &seen {
            let fill = color(class);
            chart
                .draw_series(
                    record
                        .events
                        .iter()
                        .filter(|event| event.outcome.class() == class)
                        .map(|event| {
                            let y = y_of(event.request);
                            // At least three pixels wide, so instant failures show.
                            let min_width = 3.0 * end_s / f64::from(WIDTH);
                            let x0 = event.start.as_secs_f64();
                            let x1 = event.end.as_secs_f64().max(x0 + min_width);
                            Rectangle::new([(x0, y + pad_low), (x1, y + pad_high)], fill.filled())
                        }),
                )
                .map_err(draw_error)?;
        }
        let ideal_color = RGBColor(30, 136, 229);
        let rate = options.rate.filter(|rate| *rate > 0.0);
        if let Some(rate) = rate {
            chart
                .draw_series(LineSeries::new(
                    (0..requests).map(|request| (request as f64 / rate, y_of(request) + 0.5)),
                    ideal_color.stroke_width(1),
                ))
                .map_err(draw_error)?;
        }

        // The legend, in a strip of its own below the rows.
        let mut entries: Vec<(String, Swatch)> = seen
            .iter()
            .map(|&class| (class.to_string(), Swatch::Box(color(class))))
            .collect();
        if record.events.iter().any(|event| event.attempt > 0) {
            entries.push(("backoff".into(), Swatch::Line(backoff_color)));
        }
        if let Some(rate) = rate {
            entries.push((
                format!("evenly spaced starts at {rate}/s"),
                Swatch::Line(ideal_color),
            ));
        }
        let mut x = 80;
        let y = 10;
        let font = ("sans-serif", 13).into_font().color(&BLACK);
        for (label, swatch) in entries {
            match swatch {
                Swatch::Box(fill) => legend
                    .draw(&Rectangle::new([(x, y), (x + 16, y + 12)], fill.filled()))
                    .map_err(draw_error)?,
                Swatch::Line(stroke) => legend
                    .draw(&PathElement::new(
                        vec![(x, y + 6), (x + 16, y + 6)],
                        stroke.stroke_width(2),
                    ))
                    .map_err(draw_error)?,
            }
            legend
                .draw(&Text::new(label.clone(), (x + 22, y), font.clone()))
                .map_err(draw_error)?;
            x += 22 + 8 * label.len() as i32 + 24;
        }
        root.present().map_err(draw_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;
    use crate::request::RequestEnd;
    use std::time::SystemTime;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn record(num_requests: usize) -> RunRecord {
        let mut events = Vec::new();
        for request in 0..num_requests {
            let start = ms(request as u64 * 10);
            if request % 4 == 3 {
                events.push(AttemptEvent {
                    request,
                    attempt: 0,
                    intended_start: start,
                    start,
                    end: start + ms(1),
                    outcome: Outcome::failed(ErrorClass::Reset, "reset"),
                    backoff_before: Duration::ZERO,
                });
            }
            let retry_start = start + ms(if request % 4 == 3 { 500 } else { 0 });
            events.push(AttemptEvent {
                request,
                attempt: u32::from(request % 4 == 3),
                intended_start: retry_start,
                start: retry_start,
                end: retry_start + ms(200),
                outcome: Outcome::status_only(200),
                backoff_before: ms(if request % 4 == 3 { 499 } else { 0 }),
            });
        }
        events.sort_by_key(|e| (e.request, e.attempt));
        RunRecord {
            num_requests,
            elapsed: events.iter().map(|e| e.end).max().unwrap_or_default(),
            events,
            ends: vec![RequestEnd::Succeeded; num_requests],
            started_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn draws_a_bar_per_attempt_and_a_legend_per_class() {
        let svg = render_timeline(
            &record(4),
            &TimelineOptions {
                title: "four requests".into(),
                rate: Some(3.0),
            },
        )
        .expect("it renders");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("four requests"));
        for label in ["ok", "reset", "backoff", "evenly spaced starts at 3/s"] {
            assert!(
                svg.contains(&format!(">\n{label}\n<")),
                "no legend entry {label}"
            );
        }
        // One reset attempt: one bar in the reset colour, and its legend
        // swatch (the density strip draws only green and red).
        assert_eq!(count(&svg, "fill=\"#6A1B9A\""), 2);
    }

    #[test]
    fn every_request_gets_a_row_up_to_the_limit() {
        // Eight requests, two of them reset first: two reset bars.
        let svg = render_timeline(&record(8), &TimelineOptions::default()).expect("renders");
        assert_eq!(count(&svg, "fill=\"#6A1B9A\""), 2 + 1);
    }

    #[test]
    fn rows_thin_out_and_then_share() {
        let small = render_timeline(&record(10), &TimelineOptions::default()).expect("renders");
        assert!(small.contains(">\nrequest\n<"));
        let large =
            render_timeline(&record(MAX_ROWS * 2), &TimelineOptions::default()).expect("renders");
        assert!(large.contains("requests (rows shared)"));
        let height = |svg: &str| -> u32 {
            svg.split("height=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .and_then(|h| h.parse().ok())
                .expect("a height")
        };
        assert_eq!(
            height(&large),
            STRIP_HEIGHT + 30 + ROW_AREA_MAX + 80 + LEGEND_HEIGHT
        );
    }

    #[test]
    fn slices_are_round_and_about_a_hundredth_of_the_run() {
        assert_eq!(slice_width(ms(100)), ms(1));
        assert_eq!(slice_width(ms(4_500)), ms(50));
        assert_eq!(slice_width(ms(24_000)), ms(500));
        assert_eq!(slice_width(Duration::from_secs(3600)), ms(10_000));
    }

    #[test]
    fn an_unwritable_path_names_the_file() {
        let error = write_timeline(
            &record(2),
            &TimelineOptions::default(),
            Path::new("/no/such/folder/t.svg"),
        )
        .expect_err("no such folder");
        assert!(
            error.to_string().starts_with("/no/such/folder/t.svg: "),
            "{error}"
        );
    }
}
