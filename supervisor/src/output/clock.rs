//! Record timestamps: RFC 3339 in UTC with milliseconds, cached per second.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Length of a formatted timestamp such as `2024-01-15T10:30:45.123Z`.
pub(crate) const STAMP_LEN: usize = 24;

/// Length of the part that only changes once a second: `2024-01-15T10:30:45.`.
const SECOND_LEN: usize = 20;

/// A timestamp formatter that reformats the date and time of day only when
/// the second changes, and otherwise writes just the millisecond digits.
///
/// Times before 1970 or past year 9999 get the date and time of day of the
/// Unix epoch.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    /// Unix second that `stamp` currently holds.
    second: i64,
    /// The last formatted timestamp.
    stamp: [u8; STAMP_LEN],
}

impl Clock {
    /// Creates a clock whose first call formats the full timestamp.
    pub(crate) fn new() -> Clock {
        Clock {
            second: i64::MIN,
            stamp: *b"1970-01-01T00:00:00.000Z",
        }
    }

    /// Formats the current time.
    pub(crate) fn now(&mut self) -> &[u8; STAMP_LEN] {
        self.format(SystemTime::now())
    }

    /// Formats `time`, reusing the cached second when it is unchanged.
    pub(crate) fn format(&mut self, time: SystemTime) -> &[u8; STAMP_LEN] {
        let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);

        if second != self.second {
            self.second = second;
            self.format_second(second);
        }

        let millis = since_epoch.subsec_millis();
        write_digits(&mut self.stamp[SECOND_LEN..SECOND_LEN + 3], millis);
        &self.stamp
    }

    /// Rewrites the date and time-of-day part of `stamp`.
    fn format_second(&mut self, second: i64) {
        let date_time = OffsetDateTime::from_unix_timestamp(second)
            .ok()
            .filter(|date_time| date_time.year() <= 9999)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let stamp = &mut self.stamp;

        // The year is at most 9999 here and never negative, so four digits fit.
        write_digits(&mut stamp[0..4], date_time.year().unsigned_abs());
        write_digits(&mut stamp[5..7], u8::from(date_time.month()).into());
        write_digits(&mut stamp[8..10], date_time.day().into());
        write_digits(&mut stamp[11..13], date_time.hour().into());
        write_digits(&mut stamp[14..16], date_time.minute().into());
        write_digits(&mut stamp[17..19], date_time.second().into());
    }
}

/// Writes `value` as zero-padded decimal digits filling `out`, keeping only
/// the lowest digits if it has more.
fn write_digits(out: &mut [u8], mut value: u32) {
    for digit in out.iter_mut().rev() {
        // `value % 10` is below 10, so the cast cannot truncate.
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(seconds: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis)
    }

    fn formatted(clock: &mut Clock, time: SystemTime) -> String {
        String::from_utf8_lossy(clock.format(time)).into_owned()
    }

    #[test]
    fn formats_rfc3339_with_millis() {
        let mut clock = Clock::new();

        assert_eq!(
            formatted(&mut clock, at(1_705_314_645, 123)),
            "2024-01-15T10:30:45.123Z"
        );
    }

    #[test]
    fn same_second_updates_only_millis() {
        let mut clock = Clock::new();
        formatted(&mut clock, at(1_705_314_645, 123));

        assert_eq!(
            formatted(&mut clock, at(1_705_314_645, 7)),
            "2024-01-15T10:30:45.007Z"
        );
    }

    #[test]
    fn next_second_reformats_date() {
        let mut clock = Clock::new();
        formatted(&mut clock, at(1_704_067_199, 999));

        assert_eq!(
            formatted(&mut clock, at(1_704_067_200, 0)),
            "2024-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn time_before_epoch_is_epoch() {
        let mut clock = Clock::new();
        let before = UNIX_EPOCH - Duration::from_secs(10);

        assert_eq!(formatted(&mut clock, before), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn time_after_year_9999_is_epoch() {
        let mut clock = Clock::new();
        let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);

        assert_eq!(formatted(&mut clock, far), "1970-01-01T00:00:00.000Z");
    }
}
