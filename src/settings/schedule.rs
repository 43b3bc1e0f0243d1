//! Dyno limits that are either one number or a time-of-day schedule (`0:00=2,9:00=5,17:00=2`).

use std::fmt;

use chrono::{DateTime, Timelike, Utc};
use chrono_tz::Tz;

use super::raw::whole_number;

/// A wall-clock time of day with minute resolution, 0:00 to 23:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    /// Midnight, where every day's schedule starts.
    pub const MIDNIGHT: TimeOfDay = TimeOfDay { minutes: 0 };

    /// A time from hours (0–23) and minutes (0–59); `None` outside those ranges.
    pub fn new(hour: u32, minute: u32) -> Option<Self> {
        (hour < 24 && minute < 60).then(|| TimeOfDay {
            minutes: (hour * 60 + minute) as u16,
        })
    }

    /// The wall-clock time of day at `instant` in the time zone `zone` (DST included).
    pub fn at(instant: DateTime<Utc>, zone: Tz) -> Self {
        let local = instant.with_timezone(&zone);
        TimeOfDay {
            minutes: (local.hour() * 60 + local.minute()) as u16,
        }
    }

    /// Parses `H:MM` or `HH:MM`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let not_a_time = || {
            format!("time \"{text}\" is not a time of day: write H:MM or HH:MM, like 9:00 or 17:30")
        };
        let (hour, minute) = text.split_once(':').ok_or_else(not_a_time)?;
        let well_formed = (1..=2).contains(&hour.len())
            && minute.len() == 2
            && hour
                .chars()
                .chain(minute.chars())
                .all(|c| c.is_ascii_digit());
        if !well_formed {
            return Err(not_a_time());
        }
        let (hour, minute): (u32, u32) = (hour.parse().unwrap_or(99), minute.parse().unwrap_or(99));
        if hour > 23 {
            return Err(format!(
                "time \"{text}\" has hour {hour}: hours run from 0 to 23"
            ));
        }
        TimeOfDay::new(hour, minute).ok_or_else(|| {
            format!("time \"{text}\" has minute {minute}: minutes run from 00 to 59")
        })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// A dyno count that may change with the time of day.
///
/// In a schedule the entry with the latest time at or before now applies; before the day's first
/// entry, the previous day's last entry still applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DynoLimit {
    /// The same count all day.
    Fixed(u32),
    /// Counts that change at the given times, sorted by time, never empty.
    Schedule(Vec<(TimeOfDay, u32)>),
}

impl DynoLimit {
    /// Parses `5` or `0:00=2,9:00=5,17:00=2` (the form used in environment variables). The
    /// seed's dictionary forms are accepted too, so a value can be copied over as it was:
    /// `{"0:00" = 2, "9:00" = 5}` and the JSON `{"0:00": 2, "9:00": 5}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("it is empty".into());
        }
        let braced = text
            .strip_prefix('{')
            .and_then(|inner| inner.strip_suffix('}'));
        // An `=` or a `:` makes it a schedule, so `9=5` is called a bad time, not a bad count.
        if braced.is_none() && !text.contains([':', '=']) {
            return parse_count(text).map(DynoLimit::Fixed);
        }
        let listed = braced.unwrap_or(text);
        if listed.trim().is_empty() {
            return Err("the schedule has no entries".into());
        }
        let entries = listed
            .split(',')
            .map(|part| {
                // A stray comma is refused rather than skipped: it may stand for a lost entry.
                if part.trim().is_empty() {
                    return Err(
                        "the schedule has an empty entry (two commas in a row, or one at an end)"
                            .to_string(),
                    );
                }
                // In the JSON form the separator is the last colon: `"9:00": 5`.
                let split = match part.split_once('=') {
                    Some(pair) => Some(pair),
                    None if braced.is_some() => part.rsplit_once(':'),
                    None => None,
                };
                let (time, count) = split.ok_or_else(|| {
                    format!("entry \"{}\" is not TIME=COUNT, like 9:00=5", part.trim())
                })?;
                Ok((unquoted(time), unquoted(count)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Self::from_entries(entries)
    }

    /// Builds a schedule from (time, count) pairs as written by the user, e.g. a TOML table.
    pub fn from_entries(entries: Vec<(String, String)>) -> Result<Self, String> {
        if entries.is_empty() {
            return Err("the schedule has no entries".into());
        }
        let mut schedule = Vec::with_capacity(entries.len());
        for (time, count) in entries {
            let time = TimeOfDay::parse(&time)?;
            let count = parse_count(&count)?;
            if schedule.iter().any(|(t, _)| *t == time) {
                return Err(format!("time {time} appears twice"));
            }
            schedule.push((time, count));
        }
        schedule.sort_by_key(|(time, _)| *time);
        Ok(DynoLimit::Schedule(schedule))
    }

    /// The count in force at `time`.
    pub fn at(&self, time: TimeOfDay) -> u32 {
        match self {
            DynoLimit::Fixed(count) => *count,
            DynoLimit::Schedule(entries) => entries
                .iter()
                .rev()
                .find(|(start, _)| *start <= time)
                .or_else(|| entries.last())
                .map_or(0, |(_, count)| *count),
        }
    }

    /// The largest count at any time of day.
    pub fn most(&self) -> u32 {
        match self {
            DynoLimit::Fixed(count) => *count,
            DynoLimit::Schedule(entries) => {
                entries.iter().map(|(_, count)| *count).max().unwrap_or(0)
            }
        }
    }

    /// The times of day at which this limit may change (always includes midnight).
    pub fn change_points(&self) -> Vec<TimeOfDay> {
        let mut points = vec![TimeOfDay::MIDNIGHT];
        if let DynoLimit::Schedule(entries) = self {
            points.extend(entries.iter().map(|(time, _)| *time));
        }
        points
    }
}

impl fmt::Display for DynoLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DynoLimit::Fixed(count) => write!(f, "{count}"),
            DynoLimit::Schedule(entries) => {
                let parts: Vec<String> = entries
                    .iter()
                    .map(|(time, count)| format!("{time}={count}"))
                    .collect();
                f.write_str(&parts.join(","))
            }
        }
    }
}

/// The first time of day at which `min` exceeds `max`, with both values, if there is one.
pub fn first_conflict(min: &DynoLimit, max: &DynoLimit) -> Option<(TimeOfDay, u32, u32)> {
    let mut points = min.change_points();
    points.extend(max.change_points());
    points.sort();
    points
        .into_iter()
        .map(|time| (time, min.at(time), max.at(time)))
        .find(|(_, min, max)| min > max)
}

/// `text` without surrounding blanks and one pair of quotes, as in `"9:00"`.
fn unquoted(text: &str) -> String {
    let text = text.trim();
    let inner = ['"', '\'']
        .iter()
        .find_map(|quote| text.strip_prefix(*quote)?.strip_suffix(*quote));
    inner.unwrap_or(text).to_string()
}

fn parse_count(text: &str) -> Result<u32, String> {
    let text = text.trim();
    whole_number(text).ok_or_else(|| {
        format!(
            "\"{text}\" is not a whole number of dynos from 0 to {}",
            u32::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(text: &str) -> TimeOfDay {
        TimeOfDay::parse(text).unwrap()
    }

    #[test]
    fn the_seeds_dictionary_forms_parse_like_the_plain_form() {
        let plain = DynoLimit::parse("0:00=2,9:00=5,17:00=2").unwrap();
        let seed = DynoLimit::parse(r#"{ "0:00" = 2, "9:00" = 5, "17:00" = 2 }"#).unwrap();
        let json = DynoLimit::parse(r#"{"0:00": 2, "9:00": 5, "17:00": 2}"#).unwrap();
        let single = DynoLimit::parse("{'0:00': 2, '9:00': 5, '17:00': 2}").unwrap();
        assert_eq!(seed, plain);
        assert_eq!(json, plain);
        assert_eq!(single, plain);
        // Without braces a colon is never the separator: 9:00:5 stays an error.
        assert!(DynoLimit::parse("9:00:5").is_err());
        assert_eq!(
            DynoLimit::parse("{ }").unwrap_err(),
            "the schedule has no entries"
        );
        let bad = DynoLimit::parse(r#"{"9:00": "five"}"#).unwrap_err();
        assert!(bad.contains("five"), "{bad}");
    }

    fn seed_schedule() -> DynoLimit {
        DynoLimit::parse("0:00=2,9:00=5,17:00=3").unwrap()
    }

    #[test]
    fn the_original_projects_schedule_cases() {
        let schedule = seed_schedule();
        assert_eq!(schedule.at(t("1:00")), 2);
        assert_eq!(schedule.at(t("9:00")), 5);
        assert_eq!(schedule.at(t("12:00")), 5);
        assert_eq!(schedule.at(t("18:00")), 3);
    }

    #[test]
    fn minutes_count_not_just_hours() {
        let schedule = DynoLimit::parse("0:00=1,8:30=4").unwrap();
        assert_eq!(schedule.at(t("8:29")), 1);
        assert_eq!(schedule.at(t("8:30")), 4);
        assert_eq!(schedule.at(t("23:59")), 4);
    }

    #[test]
    fn before_the_first_entry_the_previous_days_last_entry_applies() {
        let schedule = DynoLimit::parse("9:00=5,17:00=2").unwrap();
        assert_eq!(schedule.at(t("0:00")), 2);
        assert_eq!(schedule.at(t("8:59")), 2);
        assert_eq!(schedule.at(t("9:00")), 5);
    }

    #[test]
    fn entries_may_come_in_any_order_and_zero_is_valid() {
        let schedule = DynoLimit::parse("17:00=0, 9:00=5,0:00=0").unwrap();
        assert_eq!(schedule.to_string(), "0:00=0,9:00=5,17:00=0");
        assert_eq!(schedule.at(t("20:00")), 0);
    }

    #[test]
    fn a_plain_number_is_fixed_all_day() {
        assert_eq!(DynoLimit::parse(" 4 ").unwrap(), DynoLimit::Fixed(4));
        assert_eq!(DynoLimit::Fixed(4).at(t("13:37")), 4);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_reason() {
        let hour = DynoLimit::parse("0:00=2,25:00=3").unwrap_err();
        assert!(hour.contains("hour 25"), "{hour}");
        let minute = DynoLimit::parse("9:60=3").unwrap_err();
        assert!(minute.contains("minute 60"), "{minute}");
        let shape = DynoLimit::parse("9:00-3").unwrap_err();
        assert!(shape.contains("TIME=COUNT"), "{shape}");
        let twice = DynoLimit::parse("9:00=3,09:00=4").unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
        let count = DynoLimit::parse("9:00=-1").unwrap_err();
        assert!(count.contains("whole number"), "{count}");
        assert!(DynoLimit::parse("three").is_err());
        assert!(DynoLimit::parse("").is_err());
    }

    #[test]
    fn an_empty_entry_is_refused() {
        for text in [
            "0:00=2,,9:00=3",
            "0:00=2,9:00=3,",
            ",0:00=2",
            "{\"0:00\": 2, }",
        ] {
            let error = DynoLimit::parse(text).unwrap_err();
            assert!(error.contains("empty entry"), "{text}: {error}");
        }
        // Spaces after the commas are not empty entries.
        assert!(DynoLimit::parse("0:00=2, 9:00=3").is_ok());
    }

    #[test]
    fn an_hour_without_minutes_is_called_a_bad_time() {
        let error = DynoLimit::parse("9=5").unwrap_err();
        assert!(
            error.starts_with("time \"9\" is not a time of day: write H:MM or HH:MM, like 9:00"),
            "{error}"
        );
        assert!(!error.contains("whole number"), "{error}");
    }

    #[test]
    fn counts_read_like_every_other_whole_number() {
        assert_eq!(DynoLimit::parse("2.0").unwrap(), DynoLimit::Fixed(2));
        assert_eq!(
            DynoLimit::parse("0:00=1,9:00=3.0").unwrap().to_string(),
            "0:00=1,9:00=3"
        );
        let error = DynoLimit::parse("9:00=2.5").unwrap_err();
        assert!(error.contains("from 0 to 4294967295"), "{error}");
    }

    #[test]
    fn conflicts_between_min_and_max_name_the_time() {
        let min = DynoLimit::parse("0:00=1,8:00=3,18:00=1").unwrap();
        let max = DynoLimit::parse("0:00=2,9:00=5,17:00=2").unwrap();
        let (time, min_at, max_at) = first_conflict(&min, &max).unwrap();
        assert_eq!((time.to_string().as_str(), min_at, max_at), ("8:00", 3, 2));
        assert_eq!(first_conflict(&DynoLimit::Fixed(1), &max), None);
    }

    #[test]
    fn time_of_day_follows_half_hour_offsets() {
        // 03:45 UTC is 09:15 in Kolkata (UTC+5:30): the 9:00 entry applies there.
        let instant = Utc.with_ymd_and_hms(2026, 1, 15, 3, 45, 0).unwrap();
        let local = TimeOfDay::at(instant, chrono_tz::Asia::Kolkata);
        assert_eq!(local, t("9:15"));
        assert_eq!(seed_schedule().at(local), 5);
        assert_eq!(
            seed_schedule().at(TimeOfDay::at(instant, chrono_tz::UTC)),
            2
        );
    }

    #[test]
    fn time_of_day_follows_daylight_saving_time() {
        // Vancouver is UTC-8 in winter and UTC-7 in summer: 16:30 UTC is 8:30 then 9:30.
        let winter = Utc.with_ymd_and_hms(2026, 1, 15, 16, 30, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 15, 16, 30, 0).unwrap();
        let zone = chrono_tz::America::Vancouver;
        assert_eq!(seed_schedule().at(TimeOfDay::at(winter, zone)), 2);
        assert_eq!(seed_schedule().at(TimeOfDay::at(summer, zone)), 5);
        // The spring-forward night (2026-03-08): 09:59 UTC is 01:59 PST, 10:00 UTC is 03:00 PDT.
        let before = Utc.with_ymd_and_hms(2026, 3, 8, 9, 59, 0).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap();
        assert_eq!(TimeOfDay::at(before, zone), t("1:59"));
        assert_eq!(TimeOfDay::at(after, zone), t("3:00"));
    }
}
