//! scripts/haproxy.sh, the logic behind `make setup` and `make teardown`:
//! settings checked before use, the docker path (through a stand-in docker,
//! as no daemon runs here), the native path, and stopping only what it started.

mod common;

use common::{free_port, path_with_first, repo_root, run_to_end, scratch, script, Finished};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn haproxy_script(action: &str, run_dir: &Path, env: &[(&str, &str)]) -> Finished {
    let mut command = Command::new(script("haproxy.sh"));
    command.arg(action).env("RUN_DIR", run_dir);
    for (name, value) in env {
        command.env(name, value);
    }
    run_to_end(command)
}

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).expect("the stand-in is written");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .expect("it can be made executable");
}

fn alive(pid: u32) -> bool {
    // A zombie is as good as gone: only running processes count.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

fn pid_in(run_dir: &Path) -> u32 {
    fs::read_to_string(run_dir.join("haproxy.pid"))
        .expect("a pid file")
        .trim()
        .parse()
        .expect("a pid")
}

#[test]
fn bad_settings_are_refused_before_anything_starts() {
    let run_dir = scratch();
    let cases = [
        ("RATE_LIMIT", "abc"),
        ("RATE_LIMIT", "0"),
        ("RATE_LIMIT", "-1"),
        ("RATE_LIMIT", "2.5"),
        ("PROXY_PORT", "0"),
        ("PROXY_PORT", "70000"),
        ("PROXY_PORT", "80a"),
        ("SERVER_PORT", "-8080"),
    ];
    for (name, value) in cases {
        let run = haproxy_script("start", run_dir.path(), &[(name, value)]);
        assert_eq!(run.code(), Some(2), "{name}={value}: {run:?}");
        assert_eq!(run.stderr.len(), 1, "{name}={value}: {:?}", run.stderr);
        assert!(run.stderr[0].contains(name), "{:?}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{name}={value} started something: {}",
            run.stdout
        );
        assert!(!run_dir.path().join("haproxy.pid").exists());
    }
}

#[test]
fn make_setup_with_a_bad_rate_limit_exits_2() {
    let run_dir = scratch();
    let run = run_to_end({
        let mut command = Command::new("make");
        command
            .current_dir(repo_root())
            .args(["--no-print-directory", "setup", "RATE_LIMIT=abc"])
            .arg(format!("RUN_DIR={}", run_dir.path().display()));
        command
    });
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert_eq!(
        run.stderr[0],
        "haproxy: RATE_LIMIT must be a positive whole number, got 'abc'"
    );
}

#[test]
fn make_client_maps_its_variables_to_flags() {
    let run = run_to_end({
        let mut command = Command::new("make");
        command
            .current_dir(repo_root())
            .args([
                "--no-print-directory",
                "--dry-run",
                "client",
                "N=4",
                "RETRY=1",
            ])
            .args(["MAX_CONCURRENCY=2", "RATE=2.5", "ARGS=--max-retries 5"]);
        command
    });
    assert_eq!(run.code(), Some(0), "{run:?}");
    let line = run
        .stdout
        .lines()
        .find(|line| line.contains("target/release/client"))
        .unwrap_or_else(|| panic!("no client command in {}", run.stdout));
    for flag in [
        "--num-requests 4",
        "--max-concurrency 2",
        "--rate 2.5",
        "--retry",
        "--url http://127.0.0.1:8081/",
        "--max-retries 5",
    ] {
        assert!(line.contains(flag), "'{flag}' missing from {line}");
    }
}

#[test]
fn the_docker_path_runs_the_official_image_with_this_config() {
    let bin = scratch();
    let run_dir = scratch();
    let docker_log = bin.path().join("docker.log");
    // Answers like a docker whose daemon is up, and writes down every call,
    // one argument a line, each call ended by '--'.
    write_executable(
        &bin.path().join("docker"),
        &format!(
            "#!/bin/sh\nfor arg in \"$@\"; do printf '%s\\n' \"$arg\"; done >> '{log}'\n\
             echo -- >> '{log}'\n\
             case \"$1\" in run) echo 4a3b2c1d ;; inspect) echo true ;; esac\nexit 0\n",
            log = docker_log.display()
        ),
    );
    let proxy_port = free_port().to_string();
    let server_port = free_port().to_string();
    let env = [
        ("PATH", path_with_first(bin.path())),
        ("RATE_LIMIT", "7".to_owned()),
        ("PROXY_PORT", proxy_port.clone()),
        ("SERVER_PORT", server_port.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let started = haproxy_script("start", run_dir.path(), &env);
    assert_eq!(started.code(), Some(0), "{started:?}");
    assert!(started.stdout.contains("All set."), "{}", started.stdout);

    let log = fs::read_to_string(&docker_log).expect("docker was called");
    let calls: Vec<Vec<&str>> = log
        .split("--\n")
        .map(|call| call.lines().collect())
        .filter(|call: &Vec<&str>| !call.is_empty())
        .collect();
    let run = calls
        .iter()
        .find(|call| call[0] == "run")
        .unwrap_or_else(|| panic!("no docker run in {calls:?}"));
    let config = repo_root().join("haproxy.cfg");
    let pairs = [
        ("--name", "concurrent-http-client-haproxy".to_owned()),
        ("--publish", format!("127.0.0.1:{proxy_port}:{proxy_port}")),
        ("--add-host", "host.docker.internal:host-gateway".to_owned()),
        ("--env", "RATE_LIMIT=7".to_owned()),
        ("--env", format!("LISTEN_ADDR=0.0.0.0:{proxy_port}")),
        (
            "--env",
            format!("SERVER_ADDR=host.docker.internal:{server_port}"),
        ),
        (
            "--volume",
            format!("{}:/usr/local/etc/haproxy/haproxy.cfg:ro", config.display()),
        ),
    ];
    for (flag, value) in pairs {
        assert!(
            run.windows(2).any(|w| w[0] == flag && w[1] == value),
            "docker run lacks {flag} {value}: {run:?}"
        );
    }
    assert!(run.contains(&"--detach"), "{run:?}");
    assert_eq!(
        run.last(),
        Some(&"haproxy:2.6"),
        "the image comes last: {run:?}"
    );
    assert_eq!(
        fs::read_to_string(run_dir.path().join("haproxy.mode")).expect("a mode file"),
        "docker\n"
    );

    let stopped = haproxy_script("stop", run_dir.path(), &env);
    assert_eq!(stopped.code(), Some(0), "{stopped:?}");
    let log = fs::read_to_string(&docker_log).expect("docker was called");
    assert!(
        log.ends_with("rm\n-f\nconcurrent-http-client-haproxy\n--\n"),
        "teardown removes the container by name: {log}"
    );
    assert!(!run_dir.path().join("haproxy.container").exists());
}

#[test]
fn with_neither_docker_nor_haproxy_it_says_what_to_install() {
    let bin = scratch();
    let run_dir = scratch();
    // Only the tools the script needs, and a docker without a daemon.
    for tool in [
        "bash", "cat", "mkdir", "rm", "seq", "ps", "grep", "tail", "dirname", "sleep",
    ] {
        let found = which(tool).unwrap_or_else(|| panic!("{tool} is installed"));
        std::os::unix::fs::symlink(found, bin.path().join(tool)).expect("a symlink");
    }
    write_executable(&bin.path().join("docker"), "#!/bin/sh\nexit 1\n");
    let port = free_port().to_string();
    let path = bin.path().display().to_string();
    let run = haproxy_script(
        "start",
        run_dir.path(),
        &[("PATH", &path), ("PROXY_PORT", &port)],
    );
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(run.stderr.len(), 1, "{:?}", run.stderr);
    for advice in [
        "apt-get install haproxy",
        "brew install haproxy",
        "start docker",
    ] {
        assert!(run.stderr[0].contains(advice), "{:?}", run.stderr);
    }
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var("PATH")
        .ok()?
        .split(':')
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.is_file())
}

#[test]
fn the_native_path_restarts_cleanly_and_stops_what_it_started() {
    let run_dir = scratch();
    let port = free_port().to_string();
    let env = [
        ("PROXY_PORT", port.as_str()),
        ("PATH", "/usr/sbin:/usr/bin:/bin:/usr/local/bin"),
    ];
    // No docker daemon answers here, so the haproxy binary is used.
    let first = haproxy_script("start", run_dir.path(), &env);
    assert_eq!(first.code(), Some(0), "{first:?}");
    let first_pid = pid_in(run_dir.path());
    assert!(alive(first_pid));
    let cmdline = fs::read_to_string(format!("/proc/{first_pid}/cmdline")).expect("a cmdline");
    assert!(cmdline.contains("haproxy"), "{cmdline}");

    let second = haproxy_script("start", run_dir.path(), &env);
    assert_eq!(second.code(), Some(0), "{second:?}");
    let second_pid = pid_in(run_dir.path());
    assert_ne!(first_pid, second_pid);
    assert!(!alive(first_pid), "the first haproxy was left running");
    assert!(alive(second_pid));

    let stopped = haproxy_script("stop", run_dir.path(), &env);
    assert_eq!(stopped.code(), Some(0), "{stopped:?}");
    assert!(!alive(second_pid), "stop left haproxy running");
    let again = haproxy_script("stop", run_dir.path(), &env);
    assert!(again.stdout.contains("No haproxy of ours"), "{again:?}");
}

#[test]
fn stop_leaves_a_process_that_is_not_its_haproxy_alone() {
    let run_dir = scratch();
    let mut bystander = Command::new("sleep").arg("30").spawn().expect("sleep runs");
    fs::write(
        run_dir.path().join("haproxy.pid"),
        format!("{}\n", bystander.id()),
    )
    .expect("a stale pid file");
    let stopped = haproxy_script("stop", run_dir.path(), &[]);
    assert_eq!(stopped.code(), Some(0), "{stopped:?}");
    assert!(
        alive(bystander.id()),
        "stop killed a process it did not start"
    );
    assert!(
        !run_dir.path().join("haproxy.pid").exists(),
        "the stale pid file stays"
    );
    let _ = bystander.kill();
    let _ = bystander.wait();
}
