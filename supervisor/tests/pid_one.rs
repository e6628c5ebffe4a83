//! phpeek-pm as PID 1 of a new PID namespace: reaping and the final sweep.
//!
//! Needs root for `unshare --pid`; the test is skipped with a message when
//! the namespace can't be created.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{children_of, eventually, pids_with_cmdline, stat_field, Dir, Pm};

const LONG: Duration = Duration::from_secs(15);

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}

#[test]
fn pid_one_reaps_sweeps_and_keeps_statuses() {
    if !can_unshare() {
        eprintln!("skipped: unshare --pid is not permitted here");
        return;
    }
    let dir = Dir::new();
    let done = dir.join("orphans-done");
    let marker = support::unique_marker();
    let config = format!(
        r#"
global:
  restart_backoff_initial: 10ms
  restart_backoff_max: 10ms
  max_restart_attempts: 0
  shutdown_timeout: 10
processes:
  orphan-maker:
    type: oneshot
    command: ["sh", "-c", "for i in $(seq 1 200); do sh -c 'sleep 0.01 &'; done; touch {done}"]
  escaper:
    command: ["sh", "-c", "setsid sleep {marker}1 & exec sleep {marker}2"]
  seven:
    command: ["sh", "-c", "exit 7"]
"#,
        done = done.display()
    );
    let path = dir.write("phpeek-pm.yaml", &config);
    let mut pm = Pm::start_with(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc"])
            .arg(support::binary())
            .arg("-c")
            .arg(&path),
    );
    let found = eventually(LONG, || children_of(pm.pid()).len() == 1);
    assert!(found, "phpeek-pm did not start\n{}", pm.transcript());
    let inner = children_of(pm.pid())[0];

    assert!(
        eventually(LONG, || done.exists()),
        "orphan loop never finished\n{}",
        pm.transcript()
    );
    let no_zombies = eventually(Duration::from_secs(2), || {
        children_of(inner)
            .iter()
            .all(|pid| stat_field(*pid, 0).as_deref() != Some("Z"))
    });
    assert!(
        no_zombies,
        "zombies left under PID 1: {:?}",
        children_of(inner)
    );

    let codes = pm.stdout.exit_codes("seven", 20, LONG);
    let codes = codes.unwrap_or_else(|| panic!("fewer than 20 exits\n{}", pm.transcript()));
    assert!(
        codes.len() >= 20 && codes.iter().all(|code| *code == 7),
        "codes: {codes:?}"
    );

    let escaped = format!("sleep {marker}1");
    assert_eq!(
        pids_with_cmdline(&escaped).len(),
        1,
        "escaped grandchild not running"
    );
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is our own grandchild.
    assert_eq!(unsafe { libc::kill(inner, libc::SIGTERM) }, 0);
    assert_eq!(pm.wait(LONG), Some(0), "{}", pm.transcript());
    assert!(
        pids_with_cmdline(&escaped).is_empty(),
        "the final sweep missed the escaped grandchild"
    );
    assert!(pids_with_cmdline(&format!("sleep {marker}2")).is_empty());
}
