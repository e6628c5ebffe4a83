//! Invalid configs stop phpeek-pm before anything starts.

mod support;

use std::process::Command;

use support::{binary, Dir};

/// Runs `phpeek-pm -c FILE` on `config` and returns (exit code, stderr).
/// Every process in the configs below would create `started` when run.
fn run_invalid(config: &str) -> (i32, String, Dir) {
    let dir = Dir::new();
    let path = dir.write(
        "phpeek-pm.yaml",
        &config.replace("@MARK@", &dir.join("started").display().to_string()),
    );
    let output = Command::new(binary())
        .arg("-c")
        .arg(&path)
        .output()
        .expect("run phpeek-pm");
    let code = output.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&output.stderr).into_owned(),
        dir,
    )
}

fn assert_rejected(config: &str, expected: &[&str]) {
    let (code, stderr, dir) = run_invalid(config);
    assert_eq!(code, 2, "exit code; stderr:\n{stderr}");
    for fragment in expected {
        assert!(
            stderr.contains(fragment),
            "stderr lacks {fragment:?}:\n{stderr}"
        );
    }
    assert!(
        !dir.join("started").exists(),
        "a process was started despite the error"
    );
}

#[test]
fn unknown_key_names_line_column_and_path() {
    assert_rejected(
        "processes:\n  web:\n    command: [touch, \"@MARK@\"]\n    restrat: always\n",
        &[
            "phpeek-pm.yaml:4:5",
            "processes.web",
            "restrat",
            "did you mean `restart`",
        ],
    );
}

#[test]
fn wrong_type_names_line_column_and_path() {
    assert_rejected(
        "processes:\n  web:\n    command: [touch, \"@MARK@\"]\n    scale: lots\n",
        &["phpeek-pm.yaml:4:12", "processes.web.scale"],
    );
}

#[test]
fn dependency_cycle_is_rejected() {
    assert_rejected(
        "processes:\n  a:\n    command: [touch, \"@MARK@\"]\n    depends_on: [b]\n  b:\n    command: [touch, \"@MARK@\"]\n    depends_on: [a]\n",
        &["phpeek-pm.yaml:", "processes.", "cycle"],
    );
}

#[test]
fn missing_dependency_is_rejected() {
    assert_rejected(
        "processes:\n  web:\n    command: [touch, \"@MARK@\"]\n    depends_on: [php-fmp]\n  php-fpm:\n    command: [touch, \"@MARK@\"]\n",
        &["phpeek-pm.yaml:4:", "processes.web.depends_on", "php-fmp", "did you mean `php-fpm`"],
    );
}

#[test]
fn bad_signal_is_rejected() {
    assert_rejected(
        "processes:\n  web:\n    command: [touch, \"@MARK@\"]\n    shutdown:\n      signal: SIGNOPE\n",
        &["phpeek-pm.yaml:5:15", "processes.web.shutdown.signal", "SIGNOPE"],
    );
}

#[test]
fn check_config_lists_every_problem() {
    let dir = Dir::new();
    let path = dir.write(
        "phpeek-pm.yaml",
        "processes:\n  web:\n    command: [sleep, \"1\"]\n    scale: lots\n    restrat: always\n    shutdown:\n      signal: NOPE\n",
    );
    let output = Command::new(binary())
        .args(["check-config", "--json", "-c"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let errors = report["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 3, "report: {report}");
}
