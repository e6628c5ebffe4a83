//! Next firing time of a schedule in a time zone, across daylight saving
//! changes.
//!
//! Cron fields describe wall-clock times, which a daylight saving change
//! can skip (spring forward) or repeat (fall back). The rules, after Vixie
//! cron's, depend on whether the minute or the hour field starts with `*`:
//!
//! - A task that repeats within the day (`* * * * *`, `*/15 * * * *`,
//!   `0 * * * *`) follows real time. A skipped wall time doesn't fire and a
//!   repeated one fires in both passes, so an every-minute task fires once
//!   per real minute with no burst and no hour-long gap.
//! - A task at fixed times (`30 2 * * *`) follows the wall clock. A skipped
//!   time fires once at the first instant after the gap (02:30 on the New
//!   York spring-forward day runs at 03:00 EDT), and a repeated time fires
//!   once, at its first occurrence.
//!
//! Every function takes the instants it works from, so tests need no clock.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::cron::{CronFields, Schedule};

/// How far ahead a cron search looks: 29 February may be 8 years away
/// (2096 to 2104), so 10 years finds every reachable expression.
const SEARCH_YEARS: i32 = 10;

/// Maximum daylight saving shift scanned around a time. Real shifts are at
/// most 2 hours.
const SHIFT_WINDOW: TimeDelta = TimeDelta::hours(3);

const SECOND: TimeDelta = TimeDelta::seconds(1);

impl Schedule {
    /// Returns the first firing time strictly after `after`.
    ///
    /// Cron fields are matched against the wall clock in `tz`. `@every`
    /// fires at `anchor + k * interval` for k >= 1, where `anchor` is when
    /// the task was armed. Returns none only when no firing exists within
    /// the next 10 years.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        tz: Tz,
        anchor: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(fields) => next_cron(fields, after, tz),
            Schedule::Every(interval) => next_every(*interval, after, anchor),
        }
    }
}

fn next_every(
    interval: std::time::Duration,
    after: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let step = TimeDelta::from_std(interval).ok()?;
    if after < anchor {
        return anchor.checked_add_signed(step);
    }
    let elapsed = (after - anchor).num_nanoseconds()?;
    let periods = elapsed / step.num_nanoseconds()?.max(1) + 1;
    let offset = step.checked_mul(i32::try_from(periods).ok()?)?;
    anchor.checked_add_signed(offset)
}

/// The position of a wall-clock time on the real time line.
enum Resolved {
    Once(DateTime<Utc>),
    /// Repeated by a fall-back change: first and second occurrence.
    Twice(DateTime<Utc>, DateTime<Utc>),
    /// Skipped by a spring-forward change.
    Skipped,
}

fn resolve(tz: Tz, wall: NaiveDateTime) -> Resolved {
    match tz.from_local_datetime(&wall) {
        chrono::LocalResult::Single(time) => Resolved::Once(time.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(first, second) => {
            let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
            Resolved::Twice(first.min(second), first.max(second))
        }
        chrono::LocalResult::None => Resolved::Skipped,
    }
}

fn wall_clock(tz: Tz, time: DateTime<Utc>) -> NaiveDateTime {
    time.with_timezone(&tz).naive_local()
}

fn next_cron(fields: &CronFields, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let wall = wall_clock(tz, after).with_nanosecond(0)?;
    let limit = NaiveDate::from_ymd_opt(wall.year() + SEARCH_YEARS, 12, 31)?;
    let first = first_passes(fields, after, tz, wall, limit);
    if !fields.repeats_within_day || !offset_changes_near(tz, after) {
        return first;
    }
    let second = second_passes(fields, after, tz, wall);
    match (first, second) {
        (Some(first), Some(second)) => Some(first.min(second)),
        (first, second) => first.or(second),
    }
}

/// Returns the earliest firing after `after` among single times, first
/// occurrences of repeated times, and (for fixed-time tasks) the ends of
/// gaps. These grow with the wall time, so the first one past `after` wins.
fn first_passes(
    fields: &CronFields,
    after: DateTime<Utc>,
    tz: Tz,
    wall: NaiveDateTime,
    limit: NaiveDate,
) -> Option<DateTime<Utc>> {
    let mut candidate = next_match(fields, wall, limit)?;
    loop {
        let fire = match resolve(tz, candidate) {
            Resolved::Once(time) | Resolved::Twice(time, _) => Some(time),
            Resolved::Skipped if fields.repeats_within_day => None,
            Resolved::Skipped => Some(end_of_gap(tz, candidate)?),
        };
        if let Some(fire) = fire.filter(|fire| *fire > after) {
            return Some(fire);
        }
        candidate = next_match(fields, candidate.checked_add_signed(SECOND)?, limit)?;
    }
}

/// Returns the earliest second occurrence after `after` of a repeated wall
/// time near `wall`, for tasks that follow real time.
fn second_passes(
    fields: &CronFields,
    after: DateTime<Utc>,
    tz: Tz,
    wall: NaiveDateTime,
) -> Option<DateTime<Utc>> {
    let end = wall.checked_add_signed(SHIFT_WINDOW)?;
    let mut candidate = next_match(fields, wall.checked_sub_signed(SHIFT_WINDOW)?, end.date())?;
    while candidate <= end {
        if let Resolved::Twice(_, second) = resolve(tz, candidate) {
            if second > after {
                return Some(second);
            }
        }
        candidate = next_match(fields, candidate.checked_add_signed(SECOND)?, end.date())?;
    }
    None
}

/// Returns true when the UTC offset differs within a few hours of `time`,
/// the only case where second passes can exist.
fn offset_changes_near(tz: Tz, time: DateTime<Utc>) -> bool {
    let offset = |time: DateTime<Utc>| time.with_timezone(&tz).naive_local() - time.naive_utc();
    let (Some(before), Some(later)) = (
        time.checked_sub_signed(SHIFT_WINDOW),
        time.checked_add_signed(SHIFT_WINDOW),
    ) else {
        return false;
    };
    offset(before) != offset(later)
}

/// Returns the first instant whose wall time is at or after `wall`: for a
/// time in a spring-forward gap, the instant the gap ends.
///
/// The wall time only moves forward within a day of a gap, so a binary
/// search over seconds finds the instant.
fn end_of_gap(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    let as_utc = wall.and_utc();
    let mut low = as_utc.checked_sub_signed(TimeDelta::days(1))?.timestamp();
    let mut high = as_utc.checked_add_signed(TimeDelta::days(1))?.timestamp();
    while low < high {
        let middle = low + (high - low) / 2;
        let time = DateTime::from_timestamp(middle, 0)?;
        if wall_clock(tz, time) >= wall {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    DateTime::from_timestamp(low, 0)
}

fn has(mask: u64, value: u32) -> bool {
    mask & (1 << value) != 0
}

/// Vixie cron's day rule: when both day fields are restricted, a day
/// matches if either matches; otherwise both must.
fn day_matches(fields: &CronFields, date: NaiveDate) -> bool {
    let by_month = has(fields.days_of_month, date.day());
    let by_week = has(fields.days_of_week, date.weekday().num_days_from_sunday());
    if fields.day_of_month_star || fields.day_of_week_star {
        by_month && by_week
    } else {
        by_month || by_week
    }
}

/// Returns the first wall time at or after `from` that matches the
/// fields, or none past `limit`.
fn next_match(fields: &CronFields, from: NaiveDateTime, limit: NaiveDate) -> Option<NaiveDateTime> {
    let mut time = from;
    loop {
        let date = time.date();
        if date > limit {
            return None;
        }
        time = if !has(fields.months, date.month()) {
            first_of_next_month(date)?
        } else if !day_matches(fields, date) {
            date.succ_opt()?.and_hms_opt(0, 0, 0)?
        } else if !has(fields.hours, time.hour()) {
            time.with_minute(0)?
                .with_second(0)?
                .checked_add_signed(TimeDelta::hours(1))?
        } else if !has(fields.minutes, time.minute()) {
            time.with_second(0)?
                .checked_add_signed(TimeDelta::minutes(1))?
        } else if !has(fields.seconds, time.second()) {
            time.checked_add_signed(SECOND)?
        } else {
            return Some(time);
        };
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDateTime> {
    let (year, month) = match date.month() {
        12 => (date.year() + 1, 1),
        month => (date.year(), month + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)
}

#[cfg(test)]
#[path = "next_tests.rs"]
mod tests;
