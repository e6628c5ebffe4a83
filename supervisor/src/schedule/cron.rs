//! Parsing schedule expressions: cron fields, macros and `@every`.
//!
//! The grammar is Vixie cron's: five fields (minute, hour, day of month,
//! month, day of week), each a comma-separated list of `*`, `N`, `N-M`, with
//! an optional `/STEP`. Months and weekdays also take three-letter English
//! names in any case, and day of week 7 is Sunday like 0. An optional sixth
//! field in front contains the seconds. `N/STEP` means `N-MAX/STEP`.

use std::fmt;
use std::time::Duration;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Fires at the wall-clock times that match the fields.
    Cron(CronFields),
    /// Fires at a fixed interval from the time the task was armed.
    Every(Duration),
}

/// The sets of values each cron field allows, as bit masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronFields {
    /// Bit N set: second N matches (bit 0 only when no seconds field).
    pub(crate) seconds: u64,
    /// Bit N set: minute N matches.
    pub(crate) minutes: u64,
    /// Bit N set: hour N matches.
    pub(crate) hours: u64,
    /// Bit N set: day of month N matches (1-31).
    pub(crate) days_of_month: u64,
    /// Bit N set: month N matches (1-12).
    pub(crate) months: u64,
    /// Bit N set: day of week N matches (0-6, Sunday is 0).
    pub(crate) days_of_week: u64,
    /// The day-of-month field was written starting with `*`.
    pub(crate) day_of_month_star: bool,
    /// The day-of-week field was written starting with `*`.
    pub(crate) day_of_week_star: bool,
    /// The minute or the hour field was written starting with `*`, so the
    /// task repeats within the day and follows real time across daylight
    /// saving changes instead of the wall clock.
    pub(crate) repeats_within_day: bool,
}

/// An invalid schedule expression: the message names the field and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    /// The problem, like `day-of-week value 8 is out of range 0-7`.
    pub message: String,
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CronError {}

fn error(message: String) -> CronError {
    CronError { message }
}

/// One cron field's name, bounds and accepted names.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Value of the first entry of `names`.
    names_start: u32,
}

const SECOND: FieldSpec = FieldSpec::numeric("second", 0, 59);
const MINUTE: FieldSpec = FieldSpec::numeric("minute", 0, 59);
const HOUR: FieldSpec = FieldSpec::numeric("hour", 0, 23);
const DAY_OF_MONTH: FieldSpec = FieldSpec::numeric("day-of-month", 1, 31);
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    names_start: 1,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    names_start: 0,
};

impl FieldSpec {
    const fn numeric(name: &'static str, min: u32, max: u32) -> FieldSpec {
        FieldSpec {
            name,
            min,
            max,
            names: &[],
            names_start: 0,
        }
    }
}

/// Parses a schedule expression as written in `schedule`.
///
/// `parse_duration` reads the interval of `@every`, so the expression
/// accepts the same duration syntax as the rest of the configuration.
///
/// # Errors
///
/// Returns a [`CronError`] naming the field and value that are invalid.
pub fn parse(
    text: &str,
    parse_duration: impl FnOnce(&str) -> Result<Duration, String>,
) -> Result<Schedule, CronError> {
    let text = text.trim();
    if let Some(macro_name) = text.strip_prefix('@') {
        return parse_macro(macro_name, parse_duration);
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (seconds, rest) = match fields.len() {
        5 => (None, &fields[..]),
        6 => (Some(fields[0]), &fields[1..]),
        count => {
            return Err(error(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), \
                 or 6 with seconds first, found {count}"
            )))
        }
    };
    parse_fields(seconds, [rest[0], rest[1], rest[2], rest[3], rest[4]]).map(Schedule::Cron)
}

fn parse_macro(
    name: &str,
    parse_duration: impl FnOnce(&str) -> Result<Duration, String>,
) -> Result<Schedule, CronError> {
    let fields = match name.to_ascii_lowercase().as_str() {
        "yearly" | "annually" => ["0", "0", "1", "1", "*"],
        "monthly" => ["0", "0", "1", "*", "*"],
        "weekly" => ["0", "0", "*", "*", "0"],
        "daily" | "midnight" => ["0", "0", "*", "*", "*"],
        "hourly" => ["0", "*", "*", "*", "*"],
        _ => return parse_every(name, parse_duration),
    };
    parse_fields(None, fields).map(Schedule::Cron)
}

fn parse_every(
    name: &str,
    parse_duration: impl FnOnce(&str) -> Result<Duration, String>,
) -> Result<Schedule, CronError> {
    let Some(interval) = name
        .strip_prefix("every")
        .filter(|rest| rest.starts_with(char::is_whitespace))
    else {
        return Err(error(format!(
            "unknown macro `@{name}`; use @yearly, @monthly, @weekly, @daily, @hourly \
             or @every <duration>"
        )));
    };
    let interval = parse_duration(interval.trim()).map_err(error)?;
    if interval < Duration::from_secs(1) {
        return Err(error(format!(
            "@every interval {interval:?} is shorter than 1s"
        )));
    }
    Ok(Schedule::Every(interval))
}

fn parse_fields(seconds: Option<&str>, fields: [&str; 5]) -> Result<CronFields, CronError> {
    let [minute, hour, day_of_month, month, day_of_week] = fields;
    let seconds_mask = match seconds {
        Some(text) => parse_field(text, &SECOND)?,
        None => 1,
    };
    let mut days_of_week = parse_field(day_of_week, &DAY_OF_WEEK)?;
    // Day of week 7 is another name for Sunday.
    if days_of_week & (1 << 7) != 0 {
        days_of_week = (days_of_week & !(1 << 7)) | 1;
    }
    let fields = CronFields {
        seconds: seconds_mask,
        minutes: parse_field(minute, &MINUTE)?,
        hours: parse_field(hour, &HOUR)?,
        days_of_month: parse_field(day_of_month, &DAY_OF_MONTH)?,
        months: parse_field(month, &MONTH)?,
        days_of_week,
        day_of_month_star: day_of_month.starts_with('*'),
        day_of_week_star: day_of_week.starts_with('*'),
        repeats_within_day: minute.starts_with('*') || hour.starts_with('*'),
    };
    check_reachable(&fields, day_of_month, month)?;
    Ok(fields)
}

/// Rejects day-of-month and month combinations that never occur, such as
/// `0 0 31 4 *`, so a task can't silently never run.
fn check_reachable(fields: &CronFields, day_text: &str, month_text: &str) -> Result<(), CronError> {
    // With a restricted day of week, Vixie cron's either-day rule makes
    // every month reachable; with `*` the day of month alone decides.
    if !fields.day_of_week_star && !fields.day_of_month_star {
        return Ok(());
    }
    const LONGEST_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let reachable = (1..=12u32).any(|month| {
        fields.months & (1 << month) != 0
            && (1..=LONGEST_MONTH[month as usize - 1])
                .any(|day| fields.days_of_month & (1 << day) != 0)
    });
    if reachable {
        Ok(())
    } else {
        Err(error(format!(
            "day-of-month {day_text} never occurs in month {month_text}"
        )))
    }
}

/// Parses one comma-separated field into a bit mask.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let mut mask = 0u64;
    for item in text.split(',') {
        mask |= parse_item(item, spec)?;
    }
    Ok(mask)
}

/// Parses one list item: `*`, `N`, `N-M`, each with an optional `/STEP`.
fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, CronError> {
    let name = spec.name;
    if item.is_empty() {
        return Err(error(format!("{name} has an empty list item")));
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(parse_step(step, spec)?)),
        None => (item, None),
    };
    // Day of week 7 is only an alias, so `*` covers 0-6.
    let top = if spec.max == 7 { 6 } else { spec.max };
    let (low, high) = if range == "*" {
        (spec.min, top)
    } else if let Some((low, high)) = range.split_once('-') {
        let (low, high) = (parse_value(low, spec)?, parse_value(high, spec)?);
        if low > high {
            return Err(error(format!(
                "{name} range {range} runs backwards; split it, like {low}-{top},{}-{high}",
                spec.min
            )));
        }
        (low, high)
    } else {
        let value = parse_value(range, spec)?;
        // `N/STEP` runs from N to the end of the field.
        (value, if step.is_some() { top } else { value })
    };
    let step = step.unwrap_or(1);
    let mut mask = 0u64;
    let mut value = low;
    while value <= high {
        mask |= 1 << value;
        value += step;
    }
    Ok(mask)
}

fn parse_step(text: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    let name = spec.name;
    match text.parse::<u32>() {
        Ok(step) if step >= 1 && step <= spec.max.max(1) => Ok(step),
        Ok(step) => Err(error(format!(
            "{name} step {step} is out of range 1-{}",
            spec.max.max(1)
        ))),
        Err(_) => Err(error(format!("{name} step `{text}` is not a number"))),
    }
}

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    let name = spec.name;
    if let Ok(value) = text.parse::<u32>() {
        if value < spec.min || value > spec.max {
            return Err(error(format!(
                "{name} value {value} is out of range {}-{}",
                spec.min, spec.max
            )));
        }
        return Ok(value);
    }
    let upper = text.to_ascii_uppercase();
    if let Some(index) = spec.names.iter().position(|known| *known == upper) {
        return Ok(spec.names_start + index as u32);
    }
    if spec.names.is_empty() {
        Err(error(format!("{name} value `{text}` is not a number")))
    } else {
        Err(error(format!(
            "{name} value `{text}` is neither a number nor a name like {}",
            spec.names[0]
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(text: &str) -> Result<Duration, String> {
        text.strip_suffix('s')
            .and_then(|n| n.parse().ok())
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{text}` is not a duration"))
    }

    fn cron(text: &str) -> CronFields {
        match parse(text, seconds) {
            Ok(Schedule::Cron(fields)) => fields,
            other => panic!("{text}: expected cron fields, got {other:?}"),
        }
    }

    fn message(text: &str) -> String {
        match parse(text, seconds) {
            Err(error) => error.message,
            Ok(schedule) => panic!("{text}: expected an error, got {schedule:?}"),
        }
    }

    fn bits(values: &[u32]) -> u64 {
        values.iter().fold(0, |mask, value| mask | 1 << value)
    }

    #[test]
    fn lists_ranges_and_steps() {
        let fields = cron("*/15 9-17 1,15 * 1-5");
        assert_eq!(fields.minutes, bits(&[0, 15, 30, 45]));
        assert_eq!(fields.hours, bits(&[9, 10, 11, 12, 13, 14, 15, 16, 17]));
        assert_eq!(fields.days_of_month, bits(&[1, 15]));
        assert_eq!(fields.days_of_week, bits(&[1, 2, 3, 4, 5]));
        assert_eq!(
            cron("1-30/5 * * * *").minutes,
            bits(&[1, 6, 11, 16, 21, 26])
        );
        assert_eq!(cron("50/5 * * * *").minutes, bits(&[50, 55]));
    }

    #[test]
    fn names_in_any_case() {
        let fields = cron("0 0 * jan-Mar,dec sun,Fri");
        assert_eq!(fields.months, bits(&[1, 2, 3, 12]));
        assert_eq!(fields.days_of_week, bits(&[0, 5]));
        assert_eq!(cron("0 0 * * MON-fri").days_of_week, bits(&[1, 2, 3, 4, 5]));
    }

    #[test]
    fn seven_is_sunday() {
        assert_eq!(cron("0 2 * * 7").days_of_week, bits(&[0]));
        assert_eq!(cron("0 2 * * 5-7").days_of_week, bits(&[0, 5, 6]));
        assert_eq!(cron("0 2 * * *").days_of_week, bits(&[0, 1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn seconds_field_leads() {
        let fields = cron("*/20 0 12 * * *");
        assert_eq!(fields.seconds, bits(&[0, 20, 40]));
        assert_eq!(fields.minutes, bits(&[0]));
        assert_eq!(fields.hours, bits(&[12]));
        assert_eq!(cron("0 12 * * *").seconds, bits(&[0]));
    }

    #[test]
    fn macros_expand() {
        assert_eq!(parse("@daily", seconds), parse("0 0 * * *", seconds));
        assert_eq!(parse("@midnight", seconds), parse("0 0 * * *", seconds));
        assert_eq!(parse("@hourly", seconds), parse("0 * * * *", seconds));
        assert_eq!(parse("@weekly", seconds), parse("0 0 * * 0", seconds));
        assert_eq!(parse("@monthly", seconds), parse("0 0 1 * *", seconds));
        assert_eq!(parse("@yearly", seconds), parse("0 0 1 1 *", seconds));
        assert_eq!(parse("@ANNUALLY", seconds), parse("0 0 1 1 *", seconds));
        assert_eq!(
            parse("@every 5s", seconds),
            Ok(Schedule::Every(Duration::from_secs(5)))
        );
    }

    #[test]
    fn star_flags_follow_the_text() {
        let fields = cron("30 2 */2 * 1");
        assert!(fields.day_of_month_star);
        assert!(!fields.day_of_week_star);
        assert!(!fields.repeats_within_day);
        assert!(cron("* * * * *").repeats_within_day);
        assert!(cron("0 */3 * * *").repeats_within_day);
    }

    #[test]
    fn errors_name_field_and_value() {
        let cases = [
            ("0 2 * * 8", "day-of-week value 8 is out of range 0-7"),
            ("60 * * * *", "minute value 60 is out of range 0-59"),
            ("0 24 * * *", "hour value 24 is out of range 0-23"),
            ("0 0 0 * *", "day-of-month value 0 is out of range 1-31"),
            ("0 0 * 13 *", "month value 13 is out of range 1-12"),
            ("61 0 0 * * *", "second value 61 is out of range 0-59"),
            ("*/0 * * * *", "minute step 0 is out of range 1-59"),
            (
                "0 0 * FOO *",
                "month value `FOO` is neither a number nor a name like JAN",
            ),
            ("x * * * *", "minute value `x` is not a number"),
            (
                "5-1 * * * *",
                "minute range 5-1 runs backwards; split it, like 5-59,0-1",
            ),
            ("1,,2 * * * *", "minute has an empty list item"),
            ("0 0 31 2,4 *", "day-of-month 31 never occurs in month 2,4"),
            ("@every 0s", "@every interval 0ns is shorter than 1s"),
            ("@every soon", "`soon` is not a duration"),
        ];
        for (text, expected) in cases {
            assert_eq!(message(text), expected, "{text}");
        }
        assert!(message("* * * *").starts_with("expected 5 fields"));
        assert!(message("@reboot").starts_with("unknown macro `@reboot`"));
    }

    #[test]
    fn thirtieth_of_february_with_weekday_is_reachable() {
        // The either-day rule lets the weekday alone select days.
        assert!(parse("0 0 30 2 1", seconds).is_ok());
    }
}
