//! Running the user's command instead of the stack, init scripts, and the
//! wait-for subcommand.

mod support;

use support::{path_text, Sandbox};

#[test]
fn php_version_is_printed_with_its_exit_code() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["php", "-v"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    assert!(run.stdout.starts_with("PHP "), "{}", run.transcript());
    assert!(!run.stderr.contains("nginx"), "{}", run.transcript());
    assert!(!sandbox.path("run/nginx.conf").exists());
}

#[test]
fn command_exit_code_is_returned() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["sh", "-c", "exit 7"]);

    assert_eq!(run.code, Some(7), "{}", run.transcript());
}

#[test]
fn missing_command_exits_127() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["phpeek-no-such-command"]);

    assert_eq!(run.code, Some(127), "{}", run.transcript());
    assert!(
        run.stderr
            .contains("failed to run phpeek-no-such-command: ENOENT"),
        "{}",
        run.transcript()
    );
}

#[test]
fn command_runs_in_app_dir_with_php_settings() {
    let mut sandbox = Sandbox::new();
    sandbox.set("PHP_MEMORY_LIMIT", "321M");
    // PDO is loaded from the image's own conf.d folder, which the leading
    // `:` in PHP_INI_SCAN_DIR keeps.
    let code =
        "echo getcwd(), ' ', ini_get('memory_limit'), ' ', extension_loaded('pdo') ? 'pdo' : '-';";

    let run = sandbox.run(&["php", "-r", code]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let app = path_text(&sandbox.path("app"));
    assert_eq!(run.stdout, format!("{app} 321M pdo"));
}

#[test]
fn sigpipe_is_default_in_the_command() {
    let sandbox = Sandbox::new();
    // SIGPIPE (signal 13, bit 12 of the mask) in SigIgn would mean the
    // Rust runtime's setting leaked into the command.
    let run = sandbox.run(&["sh", "-c", "grep SigIgn /proc/self/status"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let mask = run.stdout.split_whitespace().nth(1).unwrap_or("");
    let mask = u64::from_str_radix(mask, 16).unwrap_or(u64::MAX);
    assert_eq!(mask & (1 << 12), 0, "{}", run.transcript());
}

#[test]
fn init_scripts_run_in_name_order() {
    let sandbox = Sandbox::new();
    let log = path_text(&sandbox.path("order.log"));
    // No executable bit: scripts run with sh.
    sandbox.write("init/20-second.sh", &format!("echo second >> '{log}'\n"));
    sandbox.write("init/10-first.sh", &format!("pwd >> '{log}'\n"));
    sandbox.write("init/30-third.txt", &format!("echo never >> '{log}'\n"));

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(0), "{}", run.transcript());
    let app = path_text(&sandbox.path("app"));
    assert_eq!(sandbox.read("order.log"), format!("{app}\nsecond\n"));
    assert!(run.stderr.contains("running 2 init scripts from"));
}

#[test]
fn failing_init_script_stops_the_start() {
    let sandbox = Sandbox::new();
    let marker = sandbox.path("ran");
    sandbox.write("init/10-broken.sh", "echo broken >&2\nexit 4\n");
    sandbox.write(
        "init/20-later.sh",
        &format!("touch '{}'\n", marker.display()),
    );

    let run = sandbox.run(&["true"]);

    assert_eq!(run.code, Some(1), "{}", run.transcript());
    assert!(
        run.stderr
            .contains("error: init script 10-broken.sh failed with exit code 4"),
        "{}",
        run.transcript()
    );
    assert!(run.stderr.contains("broken\n"));
    assert!(!marker.exists());
}

#[test]
fn failing_init_script_stops_the_stack_too() {
    let sandbox = Sandbox::new();
    if !sandbox.has_web_stack() {
        return;
    }
    sandbox.write("init/01-fail.sh", "exit 9\n");

    let run = sandbox.run(&[]);

    assert_eq!(run.code, Some(1), "{}", run.transcript());
    assert!(run
        .stderr
        .contains("init script 01-fail.sh failed with exit code 9"));
    assert!(
        !run.stderr.contains("starting true"),
        "{}",
        run.transcript()
    );
}

#[test]
fn wait_for_open_and_closed_ports() {
    let sandbox = Sandbox::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let open = listener.local_addr().expect("address").to_string();
    let closed = format!("127.0.0.1:{}", support::free_port());

    let found = sandbox.run(&["wait-for", &open, "--timeout", "5"]);
    let timed_out = sandbox.run(&["wait-for", &closed, "--timeout", "1"]);
    let usage = sandbox.run(&["wait-for", "no-port"]);

    assert_eq!(found.code, Some(0), "{}", found.transcript());
    assert_eq!(timed_out.code, Some(1), "{}", timed_out.transcript());
    assert!(timed_out.stderr.contains("timed out after 1s waiting for"));
    assert_eq!(usage.code, Some(64), "{}", usage.transcript());
}

#[test]
fn env_table_is_in_readme() {
    let sandbox = Sandbox::new();

    let run = sandbox.run(&["--print-env-table"]);

    let readme = std::fs::read_to_string(support::repo_dir().join("README.md")).unwrap_or_default();
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout.starts_with("| Variable | Default |"),
        "{}",
        run.stdout
    );
    assert!(
        readme.contains(&format!("-->\n{}<!--", run.stdout)),
        "the environment variable table in README.md is out of date"
    );
}

#[test]
fn sigterm_during_init_script_stops_it_and_the_start() {
    let sandbox = Sandbox::new();
    let started = sandbox.path("started");
    let later = sandbox.path("later-ran");
    sandbox.write(
        "init/10-hangs.sh",
        &format!("touch '{}'\nexec sleep 300\n", started.display()),
    );
    sandbox.write(
        "init/20-later.sh",
        &format!("touch '{}'\n", later.display()),
    );

    let mut child = sandbox
        .command(&["true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start phpeek-entrypoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !started.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(started.exists(), "the init script never started");
    // SAFETY: kill(2) takes two integers and reads no memory; the pid is our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let sent = std::time::Instant::now();
    let status = child.wait().expect("wait");

    assert_eq!(status.code(), Some(143));
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        sent.elapsed()
    );
    assert!(!later.exists(), "a later init script ran after the signal");
}
