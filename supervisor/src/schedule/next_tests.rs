//! Firing times checked by hand against a calendar, and the daylight saving
//! rules in New York and Berlin on both change days of 2026.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::{America::New_York, Europe::Berlin, Tz, UTC};

use super::super::cron::{parse, Schedule};

fn seconds(text: &str) -> Result<Duration, String> {
    text.strip_suffix('s')
        .and_then(|n| n.parse().ok())
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is not a duration"))
}

fn schedule(text: &str) -> Schedule {
    parse(text, seconds).unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// Parses `YYYY-MM-DD HH:MM:SS` as a UTC instant.
fn utc(text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    naive.and_utc()
}

/// A wall-clock time in `tz`, which must exist exactly once.
fn local(tz: Tz, text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .unwrap_or_else(|error| panic!("{text}: {error}"));
    tz.from_local_datetime(&naive)
        .single()
        .unwrap_or_else(|| panic!("{text} is not a unique time in {tz}"))
        .with_timezone(&Utc)
}

/// Returns the next `count` firings after `after`, each found from the
/// previous one, as a scheduler would.
fn firings(text: &str, tz: Tz, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
    let schedule = schedule(text);
    let mut times = Vec::new();
    let mut last = after;
    for _ in 0..count {
        match schedule.next_after(last, tz, after) {
            Some(next) => {
                times.push(next);
                last = next;
            }
            None => break,
        }
    }
    times
}

/// Returns every firing in `[from, to)`.
fn firings_between(
    text: &str,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let schedule = schedule(text);
    let mut times = Vec::new();
    let mut last = from - chrono::TimeDelta::seconds(1);
    while let Some(next) = schedule.next_after(last, tz, from) {
        if next >= to {
            break;
        }
        times.push(next);
        last = next;
    }
    times
}

fn utc_all(texts: &[&str]) -> Vec<DateTime<Utc>> {
    texts.iter().map(|text| utc(text)).collect()
}

#[test]
fn sunday_is_zero_and_seven() {
    // 2026-12-01 is a Tuesday.
    let start = utc("2026-12-01 00:00:00");
    let expected = utc_all(&["2026-12-06 02:00:00", "2026-12-13 02:00:00"]);
    assert_eq!(firings("0 2 * * 0", UTC, start, 2), expected);
    assert_eq!(firings("0 2 * * 7", UTC, start, 2), expected);
    assert_eq!(firings("0 2 * * sun", UTC, start, 2), expected);
}

#[test]
fn either_day_field_selects_a_day() {
    // The 1st of each month and every Monday; 2027-01-01 is a Friday.
    let start = utc("2026-12-01 00:00:00");
    let expected = utc_all(&[
        "2026-12-07 00:00:00",
        "2026-12-14 00:00:00",
        "2026-12-21 00:00:00",
        "2026-12-28 00:00:00",
        "2027-01-01 00:00:00",
        "2027-01-04 00:00:00",
    ]);
    assert_eq!(firings("0 0 1 * 1", UTC, start, 6), expected);
}

#[test]
fn star_day_field_requires_both() {
    // Day of month `*/2` counts as unrestricted, so only odd Mondays match.
    let start = utc("2026-12-01 00:00:00");
    let expected = utc_all(&["2026-12-07 00:00:00", "2026-12-21 00:00:00"]);
    assert_eq!(firings("0 0 */2 * 1", UTC, start, 2), expected);
}

#[test]
fn spec_examples_fire_when_documented() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "*/15 * * * *",
            "2026-12-01 10:07:00",
            &[
                "2026-12-01 10:15:00",
                "2026-12-01 10:30:00",
                "2026-12-01 10:45:00",
                "2026-12-01 11:00:00",
            ],
        ),
        (
            // Friday evening to Monday morning.
            "0 9-17 * * 1-5",
            "2026-12-04 17:30:00",
            &["2026-12-07 09:00:00", "2026-12-07 10:00:00"],
        ),
        (
            "30 3 1 * *",
            "2026-12-01 00:00:00",
            &[
                "2026-12-01 03:30:00",
                "2027-01-01 03:30:00",
                "2027-02-01 03:30:00",
            ],
        ),
        ("0 0 * * *", "2026-12-01 00:00:00", &["2026-12-02 00:00:00"]),
    ];
    for (text, start, expected) in cases {
        assert_eq!(
            firings(text, UTC, utc(start), expected.len()),
            utc_all(expected),
            "{text}"
        );
    }
}

#[test]
fn thirty_first_skips_short_months() {
    let start = utc("2027-01-31 00:00:00");
    let expected = utc_all(&[
        "2027-03-31 00:00:00",
        "2027-05-31 00:00:00",
        "2027-07-31 00:00:00",
        "2027-08-31 00:00:00",
        "2027-10-31 00:00:00",
        "2027-12-31 00:00:00",
    ]);
    assert_eq!(firings("0 0 31 * *", UTC, start, 6), expected);
}

#[test]
fn leap_day_finds_next_leap_year() {
    let from_2026 = firings("0 0 29 2 *", UTC, utc("2026-03-01 00:00:00"), 2);
    assert_eq!(
        from_2026,
        utc_all(&["2028-02-29 00:00:00", "2032-02-29 00:00:00"])
    );
    // 2100 is not a leap year.
    let from_2096 = firings("0 0 29 2 *", UTC, utc("2096-03-01 00:00:00"), 1);
    assert_eq!(from_2096, utc_all(&["2104-02-29 00:00:00"]));
}

#[test]
fn macros_fire_at_their_times() {
    let start = utc("2026-12-01 10:07:00");
    let cases = [
        ("@hourly", "2026-12-01 11:00:00"),
        ("@daily", "2026-12-02 00:00:00"),
        ("@midnight", "2026-12-02 00:00:00"),
        ("@weekly", "2026-12-06 00:00:00"),
        ("@monthly", "2027-01-01 00:00:00"),
        ("@yearly", "2027-01-01 00:00:00"),
        ("@annually", "2027-01-01 00:00:00"),
    ];
    for (text, expected) in cases {
        assert_eq!(firings(text, UTC, start, 1), utc_all(&[expected]), "{text}");
    }
}

#[test]
fn every_counts_from_anchor() {
    let every = schedule("@every 90s");
    let anchor = utc("2026-12-01 10:00:00");
    let next = |after: &str| every.next_after(utc(after), Berlin, anchor);

    assert_eq!(
        next("2026-12-01 10:00:00"),
        Some(utc("2026-12-01 10:01:30"))
    );
    assert_eq!(
        next("2026-12-01 10:01:29"),
        Some(utc("2026-12-01 10:01:30"))
    );
    assert_eq!(
        next("2026-12-01 10:01:30"),
        Some(utc("2026-12-01 10:03:00"))
    );
    assert_eq!(
        next("2026-12-01 09:00:00"),
        Some(utc("2026-12-01 10:01:30"))
    );
}

#[test]
fn seconds_field_fires_within_minute() {
    let start = utc("2026-12-01 10:00:05");
    let expected = utc_all(&[
        "2026-12-01 10:00:20",
        "2026-12-01 10:00:40",
        "2026-12-01 10:01:00",
    ]);
    assert_eq!(firings("*/20 * * * * *", UTC, start, 3), expected);
}

#[test]
fn fractional_start_fires_on_whole_seconds() {
    let start = utc("2026-12-01 10:00:05") + chrono::TimeDelta::milliseconds(300);
    assert_eq!(
        firings("* * * * * *", UTC, start, 1),
        utc_all(&["2026-12-01 10:00:06"])
    );
}

#[test]
fn fixed_time_new_york_spring_forward() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 02:30 doesn't exist and
    // runs at 03:00 EDT.
    let times = firings(
        "30 2 * * *",
        New_York,
        local(New_York, "2026-03-07 00:00:00"),
        3,
    );
    let expected = vec![
        local(New_York, "2026-03-07 02:30:00"),
        local(New_York, "2026-03-08 03:00:00"),
        local(New_York, "2026-03-09 02:30:00"),
    ];
    assert_eq!(times, expected);
}

#[test]
fn fixed_time_new_york_fall_back() {
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST, so 01:30 happens twice
    // and runs at the first, 05:30 UTC. 02:30 happens once.
    let start = local(New_York, "2026-10-31 00:00:00");
    let repeated = firings("30 1 * * *", New_York, start, 3);
    assert_eq!(
        repeated,
        utc_all(&[
            "2026-10-31 05:30:00",
            "2026-11-01 05:30:00",
            "2026-11-02 06:30:00"
        ])
    );
    let single = firings("30 2 * * *", New_York, start, 3);
    assert_eq!(
        single,
        utc_all(&[
            "2026-10-31 06:30:00",
            "2026-11-01 07:30:00",
            "2026-11-02 07:30:00"
        ])
    );
}

#[test]
fn fixed_time_fires_once_on_berlin_changes() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let spring = firings(
        "30 2 * * *",
        Berlin,
        local(Berlin, "2026-03-28 00:00:00"),
        3,
    );
    assert_eq!(
        spring,
        utc_all(&[
            "2026-03-28 01:30:00",
            "2026-03-29 01:00:00",
            "2026-03-30 00:30:00"
        ])
    );
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens at
    // 00:30 and 01:30 UTC and runs at the first.
    let fall = firings(
        "30 2 * * *",
        Berlin,
        local(Berlin, "2026-10-24 00:00:00"),
        3,
    );
    assert_eq!(
        fall,
        utc_all(&[
            "2026-10-24 00:30:00",
            "2026-10-25 00:30:00",
            "2026-10-26 01:30:00"
        ])
    );
}

#[test]
fn fixed_time_armed_in_second_pass() {
    // The first 01:30 of New York's fall-back night has passed at 01:10 EST.
    let after = utc("2026-11-01 06:10:00");
    assert_eq!(
        firings("30 1 * * *", New_York, after, 1),
        utc_all(&["2026-11-02 06:30:00"])
    );
}

/// Checks that an every-minute task fires once per real minute through a
/// whole day around a change, with no burst and no gap.
fn assert_every_minute_follows_real_time(tz: Tz, day: &str) {
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_else(|e| panic!("{e}"));
    let from = utc(&format!("{date} 00:00:00")) - chrono::TimeDelta::hours(12);
    let to = from + chrono::TimeDelta::hours(36);
    let times = firings_between("* * * * *", tz, from, to);

    assert_eq!(times.len(), 36 * 60, "{tz} {day}");
    for pair in times.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::TimeDelta::minutes(1),
            "{tz} {day} at {}",
            pair[0]
        );
    }
}

#[test]
fn every_minute_follows_real_time_in_new_york() {
    assert_every_minute_follows_real_time(New_York, "2026-03-08");
    assert_every_minute_follows_real_time(New_York, "2026-11-01");
}

#[test]
fn every_minute_follows_real_time_in_berlin() {
    assert_every_minute_follows_real_time(Berlin, "2026-03-29");
    assert_every_minute_follows_real_time(Berlin, "2026-10-25");
}

#[test]
fn hourly_task_fall_back() {
    let start = utc("2026-11-01 04:30:00");
    let times = firings("0 * * * *", New_York, start, 3);
    // 01:00 EDT, 01:00 EST, 02:00 EST.
    assert_eq!(
        times,
        utc_all(&[
            "2026-11-01 05:00:00",
            "2026-11-01 06:00:00",
            "2026-11-01 07:00:00"
        ])
    );
}

#[test]
fn quarter_hour_task_skips_spring_forward_gap() {
    let start = utc("2026-03-08 06:40:00");
    let times = firings("*/15 * * * *", New_York, start, 3);
    // 01:45 EST, then 03:00 and 03:15 EDT: 15 real minutes apart.
    assert_eq!(
        times,
        utc_all(&[
            "2026-03-08 06:45:00",
            "2026-03-08 07:00:00",
            "2026-03-08 07:15:00"
        ])
    );
}
