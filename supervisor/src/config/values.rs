//! Interpreting scalar text as booleans, integers, durations, sizes, signals and choices.
//!
//! A YAML scalar is only text here, and the field it belongs to decides its
//! type. So `"30"` and `30` are the same duration, and `yes` is a boolean only
//! where a boolean is expected.

use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::report::did_you_mean;

/// Maximum duration, 100 years, so that adding any configured
/// duration to an `Instant` can't overflow.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Reason a scalar can't be read as the type its field needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid {
    /// Description of the problem, naming the text.
    pub(crate) message: String,
    /// How to write it instead.
    pub(crate) hint: Option<String>,
}

impl Invalid {
    pub(crate) fn new(message: String, hint: impl Into<String>) -> Invalid {
        Invalid {
            message,
            hint: Some(hint.into()),
        }
    }
}

/// Parses a boolean: true/false, yes/no, on/off or 1/0, in any case.
pub(crate) fn parse_bool(text: &str) -> Result<bool, Invalid> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(Invalid::new(
            format!("`{text}` is not a boolean"),
            "use true or false",
        )),
    }
}

/// Parses a decimal integer between `min` and `max` inclusive.
pub(crate) fn parse_int(text: &str, min: i64, max: i64) -> Result<i64, Invalid> {
    let out_of_range = || Invalid::new(format!("{text} is out of range"), range_hint(min, max));
    let value = match text.parse::<i64>() {
        Ok(value) => value,
        Err(error) => {
            use std::num::IntErrorKind::{NegOverflow, PosOverflow};
            if matches!(error.kind(), PosOverflow | NegOverflow) {
                return Err(out_of_range());
            }
            let message = format!("`{text}` is not an integer");
            return Err(Invalid::new(message, "write a whole number such as 3"));
        }
    };
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

fn range_hint(min: i64, max: i64) -> String {
    format!("use a number from {min} to {max}")
}

/// Parses a duration: whole seconds (`30`) or numbers with units, such as
/// `500ms`, `5s`, `1m30s`, `1.5h`. The units are `ms`, `s`, `m` and `h`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, Invalid> {
    let invalid = || {
        let hint =
            "write seconds such as `30`, or a number with a unit: `500ms`, `5s`, `1m30s`, `1h`";
        Invalid::new(format!("`{text}` is not a duration"), hint)
    };
    let too_long = || Invalid::new(format!("{text} is too long"), "use at most 100 years");

    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = text.parse::<u64>().map_err(|_| too_long())?;
        return check_max(Duration::from_secs(seconds)).ok_or_else(too_long);
    }

    let mut total_nanos: u128 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let unit_end = rest[number_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |offset| number_end + offset);
        let (number, unit) = (&rest[..number_end], &rest[number_end..unit_end]);
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(invalid()),
        };
        let nanos = scale_decimal(number, unit_nanos).ok_or_else(invalid)?;
        total_nanos = total_nanos.checked_add(nanos).ok_or_else(too_long)?;
        rest = &rest[unit_end..];
    }

    let seconds = u64::try_from(total_nanos / 1_000_000_000).map_err(|_| too_long())?;
    let subsec = u32::try_from(total_nanos % 1_000_000_000).map_err(|_| invalid())?;
    check_max(Duration::new(seconds, subsec)).ok_or_else(too_long)
}

fn check_max(duration: Duration) -> Option<Duration> {
    (duration <= MAX_DURATION).then_some(duration)
}

/// Multiplies a decimal like `1.5` by `unit`, in whole units of the result.
/// Digits beyond 18 after the point are dropped.
fn scale_decimal(number: &str, unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let whole_digits_ok = whole.bytes().all(|b| b.is_ascii_digit());
    let fraction_digits_ok = fraction.bytes().all(|b| b.is_ascii_digit());
    if !whole_digits_ok || !fraction_digits_ok {
        return None;
    }

    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let fraction_scale = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;

    let whole_part = whole_value.checked_mul(unit)?;
    let fraction_part = fraction_value.checked_mul(unit)? / fraction_scale;
    whole_part.checked_add(fraction_part)
}

/// Parses a size in bytes: a plain number or one with a unit `B`, `KiB`,
/// `MiB` or `GiB`, optionally separated by a space.
pub(crate) fn parse_size(text: &str) -> Result<usize, Invalid> {
    let invalid = || {
        let hint = "write bytes such as `65536`, or a number with a unit: `64KiB`, `1MiB`";
        Invalid::new(format!("`{text}` is not a size"), hint)
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = (&text[..digits_end], text[digits_end..].trim_start());
    let multiplier: usize = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(invalid()),
    };
    if number.is_empty() {
        return Err(invalid());
    }

    let too_large = || Invalid::new(format!("{text} is too large"), "use at most 1GiB");
    let value: usize = number.parse().map_err(|_| too_large())?;
    let bytes = value.checked_mul(multiplier).ok_or_else(too_large)?;
    if bytes > 1 << 30 {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Parses a signal name with or without the `SIG` prefix, in any case:
/// `TERM`, `SIGTERM`, `term`.
pub(crate) fn parse_signal(text: &str) -> Result<Signal, Invalid> {
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    if let Ok(signal) = Signal::from_str(&name) {
        // These stop, continue or can't be caught as a request to exit:
        // a process would pause instead of shutting down.
        if matches!(
            signal,
            Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGTTIN | Signal::SIGTTOU | Signal::SIGCONT
        ) {
            let message = format!("`{text}` pauses or resumes a process instead of stopping it");
            return Err(Invalid::new(message, "use TERM, QUIT or INT"));
        }
        return Ok(signal);
    }

    let known = Signal::iterator().map(Signal::as_str);
    let hint = did_you_mean(&name, known)
        .unwrap_or_else(|| "use a name such as TERM, QUIT, INT or USR1".to_owned());
    Err(Invalid::new(format!("unknown signal `{text}`"), hint))
}

/// Picks the value whose name matches `text`, ignoring ASCII case.
///
/// `choices` may list several spellings of one value; the hint names only the
/// first spelling of each.
pub(crate) fn parse_choice<T: Copy + PartialEq>(
    text: &str,
    setting: &str,
    choices: &[(&str, T)],
) -> Result<T, Invalid> {
    let found = choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text));
    if let Some((_, value)) = found {
        return Ok(*value);
    }

    let mut canonical: Vec<&str> = Vec::new();
    for (index, (name, value)) in choices.iter().enumerate() {
        if !choices[..index].iter().any(|(_, earlier)| earlier == value) {
            canonical.push(name);
        }
    }
    let hint = did_you_mean(&text.to_ascii_lowercase(), canonical.iter().copied())
        .unwrap_or_else(|| format!("use one of: {}", canonical.join(", ")));
    Err(Invalid::new(format!("invalid {setting} `{text}`"), hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_accepts_all_spellings() {
        for text in ["true", "YES", "On", "1"] {
            assert_eq!(parse_bool(text), Ok(true), "{text}");
        }
        for text in ["false", "No", "OFF", "0"] {
            assert_eq!(parse_bool(text), Ok(false), "{text}");
        }
    }

    #[test]
    fn bool_rejects_other_text() {
        let error = parse_bool("maybe").err();

        assert_eq!(
            error.map(|e| e.message).as_deref(),
            Some("`maybe` is not a boolean")
        );
    }

    #[test]
    fn int_checks_range() {
        assert_eq!(parse_int("42", 0, 100), Ok(42));
        assert_eq!(parse_int("+7", 0, 100), Ok(7));
        assert_eq!(parse_int("-3", -10, 10), Ok(-3));
        assert!(parse_int("101", 0, 100).is_err());
        assert!(parse_int("99999999999999999999999", 0, 100).is_err());
        assert!(parse_int("3.5", 0, 100).is_err());
        assert!(parse_int("0x10", 0, 100).is_err());
    }

    #[test]
    fn duration_accepts_whole_seconds() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn duration_accepts_units_and_combinations() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("5s", Duration::from_secs(5)),
            ("1m", Duration::from_secs(60)),
            ("1h", Duration::from_secs(3600)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5s", Duration::from_millis(1500)),
            ("0.25m", Duration::from_secs(15)),
            ("5m0s", Duration::from_secs(300)),
            ("1h2m3s4ms", Duration::from_millis(3_723_004)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn duration_rejects_malformed_text() {
        for text in [
            "", "s", "5x", "-5s", "1.2.3s", "5 s", "1d", "ms5", ".s", "5sm",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn duration_rejects_huge_values() {
        let huge = [
            "99999999999999999999999",
            "99999999999999999999999h",
            "4000000000s",
        ];
        for text in huge {
            let error = parse_duration(text).err();

            assert!(
                error.is_some_and(|e| e.message.contains("too long")),
                "{text}"
            );
        }
    }

    #[test]
    fn size_accepts_bytes_and_binary_units() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert_eq!(parse_size("100B"), Ok(100));
    }

    #[test]
    fn size_rejects_unknown_units_and_overflow() {
        for text in [
            "64KB",
            "64k",
            "MiB",
            "",
            "1.5MiB",
            "99999999999999999999999",
            "2GiB",
        ] {
            assert!(parse_size(text).is_err(), "{text}");
        }
    }

    #[test]
    fn signal_accepts_names_with_or_without_prefix() {
        assert_eq!(parse_signal("TERM"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGQUIT"), Ok(Signal::SIGQUIT));
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("KILL"), Ok(Signal::SIGKILL));
        assert_eq!(parse_signal("sigusr1"), Ok(Signal::SIGUSR1));
    }

    #[test]
    fn signal_rejects_unknown_name_with_suggestion() {
        let error = parse_signal("SIGTREM").err();

        assert_eq!(
            error.as_ref().map(|e| e.message.as_str()),
            Some("unknown signal `SIGTREM`")
        );
        assert_eq!(
            error.and_then(|e| e.hint).as_deref(),
            Some("did you mean `SIGTERM`?")
        );
    }

    #[test]
    fn choice_lists_first_spellings_in_hint() {
        let choices = [("started", 1), ("healthy", 2), ("service_started", 1)];
        let error = parse_choice("bogus", "condition", &choices).err();

        assert_eq!(
            error.as_ref().map(|e| e.message.as_str()),
            Some("invalid condition `bogus`")
        );
        assert_eq!(
            error.and_then(|e| e.hint).as_deref(),
            Some("use one of: started, healthy")
        );
        assert_eq!(
            parse_choice("Service_Started", "condition", &choices),
            Ok(1)
        );
    }
}
