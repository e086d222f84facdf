//! What a run leaves behind: the JSON report against its schema, the
//! timeline pictures (well-formed, a row per request, rendered by a real
//! browser), and compare mode's table against a real haproxy.

mod common;

use common::{client, free_port, repo_root, run_to_end, scratch, script, Haproxy, Server};
use std::path::Path;
use std::process::Command;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo_root().join("docs/report.schema.json"))
        .expect("the schema is in docs/");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

fn assert_valid(report: &serde_json::Value) {
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
}

#[test]
fn the_json_report_validates_against_its_schema() {
    let server = Server::start("200ms");
    let haproxy = Haproxy::start(3, server.addr);
    let run = client(&[
        "-n",
        "5",
        "--retry",
        "--report",
        "json",
        "--expect-rate",
        "3",
        "--expect-duration",
        "200ms",
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_valid(&report);
    assert_eq!(report["requests"], 5);
    assert_eq!(report["succeeded"], 5);
    assert!(
        report["retries"].as_u64().expect("a count") >= 2,
        "{report:#}"
    );
    assert_eq!(report["retries_by_cause"]["reset"], report["retries"]);
    let ideal = report["ideal"]["elapsed_s"].as_f64().expect("an ideal");
    assert!((ideal - (4.0 / 3.0 + 0.2)).abs() < 1e-9, "{ideal}");
    assert!(report["ideal"]["ratio"].as_f64().expect("a ratio") > 1.0);
    // The per-request timeline still goes to stderr, apart from the report.
    assert!(run.messages_ending(": code: 200").len() == 5);
}

#[test]
fn a_report_with_nothing_succeeded_validates_too() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let run = client(&["-n", "3", "--report", "json", "--url", &url]);
    assert_eq!(run.code(), Some(1));
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_valid(&report);
    assert!(report["latency_ms"].is_null());
    assert!(report["ideal"].is_null());
    assert_eq!(report["failed_by_class"]["refused"], 3);
}

/// The SVG parsed, and the labels of its text elements.
fn svg_texts(path: &Path) -> (u32, u32, Vec<String>) {
    let text = std::fs::read_to_string(path).expect("the timeline was written");
    let document = roxmltree::Document::parse(&text).expect("the SVG is well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let size = |name| {
        root.attribute(name)
            .and_then(|v| v.parse().ok())
            .expect("a size")
    };
    let texts = document
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text().map(|t| t.trim().to_owned()))
        .collect();
    (size("width"), size("height"), texts)
}

/// The width and height a PNG file says it has.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

fn screenshot(svg: &Path, png: &Path) {
    let run = run_to_end({
        let mut command = Command::new(script("screenshot.sh"));
        command.arg(svg).arg(png);
        command
    });
    assert_eq!(run.code(), Some(0), "the screenshot script failed: {run:?}");
}

#[test]
fn a_four_request_timeline_has_a_row_each_and_renders_in_a_browser() {
    let dir = scratch();
    let svg = dir.path().join("four.svg");
    let server = Server::start("300ms");
    let haproxy = Haproxy::start(3, server.addr);
    let run = client(&[
        "-n",
        "4",
        "--rate",
        "20",
        "--timeline",
        svg.to_str().expect("a UTF-8 path"),
        "--url",
        &haproxy.url(),
    ]);
    assert!(matches!(run.code(), Some(0 | 1)), "{run:?}");
    let (width, height, texts) = svg_texts(&svg);
    for label in [
        "0",
        "1",
        "2",
        "3",
        "request",
        "evenly spaced starts at 20/s",
        "ok",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "no text '{label}' in {texts:?}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("client -n 4 --rate 20: ")),
        "{texts:?}"
    );
    let png = dir.path().join("four.png");
    screenshot(&svg, &png);
    assert_eq!(png_size(&png), (width, height));
}

#[test]
fn a_thousand_request_timeline_thins_its_rows_and_renders_in_a_browser() {
    let dir = scratch();
    let svg = dir.path().join("thousand.svg");
    let server = Server::start_with(&[
        "--request-duration",
        "0",
        "--fail-rate",
        "0.2",
        "--seed",
        "4",
    ]);
    let run = client(&[
        "-n",
        "1000",
        "--max-concurrency",
        "50",
        "--quiet",
        "--timeline",
        svg.to_str().expect("a UTF-8 path"),
        "--url",
        &format!("http://{}/", server.addr),
    ]);
    assert_eq!(run.code(), Some(1), "a fifth of the requests fail: {run:?}");
    let (width, height, texts) = svg_texts(&svg);
    assert_eq!(width, 1200);
    // 1,000 rows of under a pixel each fit the largest row area.
    assert_eq!(height, 140 + 30 + 900 + 80 + 30);
    for label in ["0", "500", "request", "ok", "http_503"] {
        assert!(
            texts.iter().any(|t| t == label),
            "no text '{label}' in the labels"
        );
    }
    let png = dir.path().join("thousand.png");
    screenshot(&svg, &png);
    assert_eq!(png_size(&png), (width, height));
}

#[test]
fn compare_ranks_strategies_against_real_haproxy() {
    let dir = scratch();
    let server = Server::start("300ms");
    let haproxy = Haproxy::start(3, server.addr);
    let run = client(&[
        "compare",
        "-n",
        "6",
        "--only",
        "unlimited,rate-limited",
        "--expect-rate",
        "3",
        "--expect-duration",
        "300ms",
        "--timeline-dir",
        dir.path().to_str().expect("a UTF-8 path"),
        "--url",
        &haproxy.url(),
    ]);
    assert_eq!(
        run.code(),
        Some(0),
        "a comparison that ran is a success: {run:?}"
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["strategy", "ok/N", "attempts", "rejected", "elapsed", "ideal", "ratio", "p50", "p99"]
    );
    let row = |name: &str| -> Vec<&str> {
        lines
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}: {lines:?}"))
            .split_whitespace()
            .collect()
    };
    let unlimited = row("unlimited");
    let rate_limited = row("rate-limited");
    assert_eq!(unlimited[1], "3/6", "{unlimited:?}");
    assert_eq!(unlimited[3], "3", "haproxy rejects three of six at once");
    assert_eq!(rate_limited[1], "6/6", "{rate_limited:?}");
    assert_eq!(
        rate_limited[3], "0",
        "a rate below the limit is never rejected"
    );
    for row in [&unlimited, &rate_limited] {
        assert_eq!(
            row[5], "1.97s",
            "the ideal: five gaps of a third of a second, plus 300 ms"
        );
        let ratio: f64 = row[6].parse().expect("the ratio column is filled");
        assert!(ratio > 0.0);
    }
    for name in ["unlimited", "rate-limited"] {
        let (_, _, texts) = svg_texts(&dir.path().join(format!("{name}.svg")));
        assert!(
            texts.iter().any(|t| t.starts_with(&format!("{name}: "))),
            "{texts:?}"
        );
    }
}
