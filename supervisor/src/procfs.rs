//! CPU time and resident memory of process trees, read from `/proc`.
//!
//! An instance of a process is its leader and every descendant, such as the
//! workers of a php-fpm master. [`ProcessTable::scan`] reads `/proc/<pid>/stat`
//! of every process once, and [`ProcessTable::tree_usage`] sums the tree
//! below a leader by parent pid. Nothing here runs on a timer: the metrics
//! endpoint scans when it is scraped.
//!
//! Fields of `/proc/<pid>/stat` are described in proc(5). Times are in clock
//! ticks of `sysconf(_SC_CLK_TCK)`. The `rss` field counts pages and is the
//! same counter that `/proc/<pid>/statm` shows as `resident`, so one file per
//! process is enough.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd as _, FromRawFd as _};
use std::path::Path;
use std::sync::OnceLock;

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{sysconf, SysconfVar};

/// Clock ticks per second when sysconf cannot tell, the Linux default.
const FALLBACK_TICKS: u64 = 100;

/// Page size when sysconf cannot tell.
const FALLBACK_PAGE_SIZE: u64 = 4096;

/// CPU time and memory of one process tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    /// User plus system CPU time of the live members, plus the time of
    /// children they have already reaped, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident set size of the live members, in bytes. Pages shared between
    /// members, such as php-fpm's code, count once per member.
    pub(crate) rss_bytes: u64,
}

/// One process as read from its stat file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    ppid: i32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
    /// Resident pages.
    rss_pages: u64,
}

/// Every process visible in `/proc` at one moment.
#[derive(Debug, Default)]
pub(crate) struct ProcessTable {
    entries: HashMap<i32, Entry>,
    children: HashMap<i32, Vec<i32>>,
}

impl ProcessTable {
    /// Reads the stat file of every process in `/proc`. Processes that exit
    /// during the scan are left out.
    pub(crate) fn scan() -> ProcessTable {
        ProcessTable::scan_root(Path::new("/proc"), PIDS_PER_THREAD)
    }

    /// Scans `root`, with one thread per `per_thread` processes.
    fn scan_root(root: &Path, per_thread: usize) -> ProcessTable {
        let mut table = ProcessTable::default();
        let Ok(directory) = File::open(root) else {
            return table;
        };
        let Ok(entries) = std::fs::read_dir(root) else {
            return table;
        };
        let pids: Vec<i32> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
            .collect();
        // The kernel's work of opening and formatting each stat file is
        // most of a scan's time, and it runs in parallel, so a scan of
        // many processes is split over the CPUs. Small scans stay on the
        // calling thread, which is cheaper than starting threads.
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_SCAN_THREADS)
            .min(pids.len().div_ceil(per_thread.max(1)))
            .max(1);
        if workers == 1 {
            for (pid, entry) in read_stats(&directory, &pids) {
                table.insert(pid, entry);
            }
            return table;
        }
        let chunk = pids.len().div_ceil(workers);
        let parts: Vec<Vec<(i32, Entry)>> = std::thread::scope(|scope| {
            let directory = &directory;
            let started: Vec<_> = pids
                .chunks(chunk)
                .map(|part| {
                    let thread = std::thread::Builder::new()
                        .spawn_scoped(scope, move || read_stats(directory, part));
                    (part, thread)
                })
                .collect();
            // A part whose thread could not start, for example at the
            // container's pids limit, is read here instead.
            started
                .into_iter()
                .map(|(part, thread)| match thread {
                    Ok(handle) => handle.join().unwrap_or_default(),
                    Err(_) => read_stats(directory, part),
                })
                .collect()
        });
        for (pid, entry) in parts.into_iter().flatten() {
            table.insert(pid, entry);
        }
        table
    }

    fn insert(&mut self, pid: i32, entry: Entry) {
        self.children.entry(entry.ppid).or_default().push(pid);
        self.entries.insert(pid, entry);
    }

    /// Sums the tree below `leader`, leader included. Returns none when the
    /// leader is not in the table.
    pub(crate) fn tree_usage(&self, leader: i32) -> Option<Usage> {
        self.entries.get(&leader)?;
        let mut ticks = 0u64;
        let mut pages = 0u64;
        let mut pending = vec![leader];
        // A pid is visited once even if the table were inconsistent, since
        // the scan is not atomic and pids can be reused during it.
        let mut visited = 0usize;
        while let Some(pid) = pending.pop() {
            visited += 1;
            if visited > self.entries.len() {
                break;
            }
            if let Some(entry) = self.entries.get(&pid) {
                ticks = ticks.saturating_add(entry.ticks);
                pages = pages.saturating_add(entry.rss_pages);
            }
            if let Some(children) = self.children.get(&pid) {
                pending.extend(children.iter().filter(|child| **child != pid));
            }
        }
        Some(Usage {
            cpu_seconds: ticks as f64 / clock_ticks() as f64,
            rss_bytes: pages.saturating_mul(page_size()),
        })
    }
}

/// Scans use one thread per this many processes, up to
/// [`MAX_SCAN_THREADS`].
const PIDS_PER_THREAD: usize = 256;

/// Most threads one scan uses.
const MAX_SCAN_THREADS: usize = 4;

/// Reads `<pid>/stat` below `directory` for each of `pids`. Processes that
/// exit meanwhile, or whose stat file can't be parsed, are left out.
fn read_stats(directory: &File, pids: &[i32]) -> Vec<(i32, Entry)> {
    let mut found = Vec::with_capacity(pids.len());
    // One name and one buffer serve every file.
    let mut name = String::with_capacity(24);
    let mut buffer = [0u8; 2048];
    for &pid in pids {
        name.clear();
        // Writing to a String cannot fail.
        let _ = write!(name, "{pid}/stat");
        let read = openat(
            Some(directory.as_raw_fd()),
            name.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)
        // SAFETY: openat returned a new descriptor that nothing else owns.
        .map(|fd| unsafe { File::from_raw_fd(fd) })
        .and_then(|mut file| read_stat(&mut file, &mut buffer));
        let Ok(length) = read else {
            continue;
        };
        if let Some(entry) = std::str::from_utf8(&buffer[..length])
            .ok()
            .and_then(parse_stat)
        {
            found.push((pid, entry));
        }
    }
    found
}

/// Reads a stat file into `buffer` and returns its length.
///
/// The kernel writes the whole line on the first read, so reading stops at
/// its newline instead of making the extra read that returns end of file.
/// That saves a system call per process. A line longer than the buffer is
/// cut, and [`parse_stat`] rejects it if that loses a field it needs.
fn read_stat(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut length = 0;
    while length < buffer.len() {
        let read = file.read(&mut buffer[length..])?;
        if read == 0 {
            break;
        }
        length += read;
        if buffer[..length].ends_with(b"\n") {
            break;
        }
    }
    Ok(length)
}

/// Parses the fields of `/proc/<pid>/stat` that [`Entry`] needs.
fn parse_stat(stat: &str) -> Option<Entry> {
    // The command name is in parentheses and may contain spaces and
    // parentheses, so fields are counted from the last `)`. Indexes after
    // the name: 1 ppid, 11 utime, 12 stime, 13 cutime, 14 cstime, 21 rss
    // (proc(5) numbers them 4, 14 to 17 and 24).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let ppid = fields.nth(1)?.parse().ok()?;
    let mut ticks = 0u64;
    for time in fields.by_ref().skip(9).take(4) {
        ticks = ticks.saturating_add(time.parse::<u64>().ok()?);
    }
    let rss_pages = fields.nth(6)?.parse::<i64>().ok()?.max(0) as u64;
    Some(Entry {
        ppid,
        ticks,
        rss_pages,
    })
}

fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| sysconf_or(SysconfVar::CLK_TCK, FALLBACK_TICKS))
}

fn page_size() -> u64 {
    static PAGE_SIZE: OnceLock<u64> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| sysconf_or(SysconfVar::PAGE_SIZE, FALLBACK_PAGE_SIZE))
}

fn sysconf_or(variable: SysconfVar, fallback: u64) -> u64 {
    match sysconf(variable) {
        Ok(Some(value)) if value > 0 => value as u64,
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Formats a stat line with the given ppid, the four times and rss.
    fn stat_line(name: &str, ppid: i32, times: [u64; 4], rss: u64) -> String {
        let [utime, stime, cutime, cstime] = times;
        format!(
            "7 ({name}) S {ppid} 7 7 0 -1 4194560 100 0 0 0 {utime} {stime} {cutime} {cstime} \
             20 0 1 0 100 1000000 {rss} 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0"
        )
    }

    fn table(processes: &[(i32, i32, [u64; 4], u64)]) -> ProcessTable {
        let mut table = ProcessTable::default();
        for (pid, ppid, times, rss) in processes {
            let stat = stat_line("php-fpm: pool www", *ppid, *times, *rss);
            table.insert(*pid, parse_stat(&stat).expect("valid stat line"));
        }
        table
    }

    #[test]
    fn stat_fields_are_counted_after_the_name() {
        let entry = parse_stat(&stat_line("a) b (c", 42, [1, 2, 3, 4], 5)).expect("parses");

        assert_eq!(
            entry,
            Entry {
                ppid: 42,
                ticks: 10,
                rss_pages: 5
            }
        );
    }

    #[test]
    fn truncated_stat_is_rejected() {
        assert_eq!(parse_stat("7 (sleep) S 1 7 7"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn tree_sums_leader_and_descendants_only() {
        let table = table(&[
            (10, 1, [100, 50, 30, 20], 10),
            (11, 10, [10, 10, 0, 0], 5),
            (12, 11, [5, 5, 0, 0], 1),
            (20, 1, [999, 999, 0, 0], 999),
        ]);
        let usage = table.tree_usage(10).expect("leader present");

        let expected_ticks = 200 + 20 + 10;
        let seconds = expected_ticks as f64 / clock_ticks() as f64;
        assert!((usage.cpu_seconds - seconds).abs() < 1e-9, "{usage:?}");
        assert_eq!(usage.rss_bytes, 16 * page_size());
    }

    #[test]
    fn missing_leader_has_no_usage() {
        assert_eq!(table(&[(10, 1, [1, 1, 1, 1], 1)]).tree_usage(99), None);
    }

    #[test]
    fn long_stat_is_cut_and_parses() {
        let line = stat_line(&"x".repeat(40), 3, [1, 1, 1, 1], 9) + &" 0".repeat(200) + "\n";
        let mut file = tempfile::tempfile().expect("temp file");
        std::io::Write::write_all(&mut file, line.as_bytes()).expect("write");
        std::io::Seek::rewind(&mut file).expect("rewind");
        let mut buffer = [0u8; 256];

        let length = read_stat(&mut file, &mut buffer).expect("reads");
        assert_eq!(length, 256);
        let entry = parse_stat(std::str::from_utf8(&buffer[..length]).expect("utf-8"));
        assert_eq!(entry.map(|entry| entry.rss_pages), Some(9));
    }

    #[test]
    fn scan_split_over_threads_finds_every_process() {
        let pid = std::process::id() as i32;
        let parent = std::os::unix::process::parent_id() as i32;

        let table = ProcessTable::scan_root(Path::new("/proc"), 2);
        assert!(table.tree_usage(pid).is_some());
        assert!(table.tree_usage(parent).is_some());
        assert!(table.entries.len() > 2, "{}", table.entries.len());
        assert!(table
            .children
            .get(&parent)
            .is_some_and(|children| children.contains(&pid)));
    }

    #[test]
    fn own_process_is_found_in_proc() {
        let table = ProcessTable::scan();
        let usage = table.tree_usage(std::process::id() as i32);

        assert!(usage.is_some_and(|usage| usage.rss_bytes > 0), "{usage:?}");
    }
}
