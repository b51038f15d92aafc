//! The off-hours window that `schedule.stop` and `schedule.start`
//! define: EventBridge cron expressions, `cron(minutes hours day-of-month month
//! day-of-week year)`, evaluated over one week in UTC (as EventBridge runs
//! them). Pure arithmetic; it reads nothing.

use anyhow::{Result, bail};

const MINUTES_PER_WEEK: usize = 7 * 24 * 60;
/// Hours in the month every monthly figure uses (AWS's own convention).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// How much of the week the stack is stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Hours stopped per week.
    pub off_hours_per_week: f64,
    /// How many times a week `stop` fires (nights and weekends).
    pub stops_per_week: usize,
}

impl Window {
    /// The share of time stopped, 0 to 1.
    pub fn off_share(&self) -> f64 {
        self.off_hours_per_week / (7.0 * 24.0)
    }

    /// Hours stopped in a 730-hour month.
    pub fn off_hours_per_month(&self) -> f64 {
        HOURS_PER_MONTH * self.off_share()
    }

    /// Hours one stop lasts on average (a night; a weekend counts as a longer one).
    pub fn hours_per_stop(&self) -> f64 {
        if self.stops_per_week == 0 {
            0.0
        } else {
            self.off_hours_per_week / self.stops_per_week as f64
        }
    }
}

/// The minute of the week (0: Sunday 00:00 UTC) of a Unix time, as EventBridge's UTC crons count it.
pub fn minute_of_week(unix_seconds: u64) -> usize {
    // 1970-01-01 was a Thursday: day 4 of a week that starts on Sunday.
    let days = unix_seconds / 86_400;
    ((days + 4) % 7) as usize * 24 * 60 + (unix_seconds % 86_400 / 60) as usize
}

/// How far ahead a start is looked for: past this, a stop is priced as lasting no longer.
const DAYS_AHEAD: u64 = 60;

/// Hours from `now` (Unix seconds) until `start` next fires on a day that is
/// not a holiday (`holiday` takes a UTC day, counted from 1970-01-01): what a
/// stop made now lasts. `None` when it does not fire within 60 days.
pub fn hours_until_start(start: &str, now: u64, holiday: &dyn Fn(u64) -> bool) -> Result<Option<f64>> {
    let start = Cron::parse(start)?;
    let from = now / 60;
    Ok((1..=DAYS_AHEAD * 24 * 60)
        .find(|ahead| {
            let minute = from + ahead;
            start.fires(minute_of_week(minute * 60)) && !holiday(minute / (24 * 60))
        })
        .map(|ahead| ahead as f64 / 60.0))
}

/// Hours the stack is stopped in the `days` days from `now` (Unix seconds):
/// each stop lasts until the next start that is not on a holiday, or to the
/// end when starts are manual (`start` is `None`; the stack is taken to run
/// now). The week before `now` is played first, so a stop made before it counts.
pub fn off_hours_ahead(
    stop: &str,
    start: Option<&str>,
    now: u64,
    days: u64,
    holiday: &dyn Fn(u64) -> bool,
) -> Result<f64> {
    if let Some(start) = start
        && crate::config::same_schedule(stop, start)
    {
        bail!("the stop and start schedules are the same expression ({stop}): the stack would never be off");
    }
    let stop = Cron::parse(stop)?;
    let start = start.map(Cron::parse).transpose()?;
    let now = now / 60;
    let mut off = false;
    let mut off_minutes = 0u64;
    // With manual starts the stack runs now (someone started it): no week before to play.
    let first = if start.is_some() {
        now - MINUTES_PER_WEEK as u64
    } else {
        now
    };
    for minute in first..now + days * 24 * 60 {
        let at = minute_of_week(minute * 60);
        if stop.fires(at) {
            off = true;
        } else if start
            .as_ref()
            .is_some_and(|s| s.fires(at) && !holiday(minute / (24 * 60)))
        {
            off = false;
        }
        if off && minute >= now {
            off_minutes += 1;
        }
    }
    Ok(off_minutes as f64 / 60.0)
}

/// The weekly window between `stop` and `start`.
pub fn window(stop: &str, start: &str) -> Result<Window> {
    if crate::config::same_schedule(stop, start) {
        bail!("the stop and start schedules are the same expression ({stop}): the stack would never be off");
    }
    let stop = Cron::parse(stop)?;
    let start = Cron::parse(start)?;
    // Two weeks, so that the state at the start of the second is known; count the second.
    let mut off = false;
    let mut off_minutes = 0;
    let mut stops = 0;
    for minute in 0..2 * MINUTES_PER_WEEK {
        let at = minute % MINUTES_PER_WEEK;
        if stop.fires(at) && !off {
            off = true;
            if minute >= MINUTES_PER_WEEK {
                stops += 1;
            }
        } else if start.fires(at) {
            off = false;
        }
        if off && minute >= MINUTES_PER_WEEK {
            off_minutes += 1;
        }
    }
    Ok(Window {
        off_hours_per_week: off_minutes as f64 / 60.0,
        stops_per_week: stops,
    })
}

/// One EventBridge cron expression, with the fields a weekly schedule uses.
#[derive(Debug)]
struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// Indexed 0 = Sunday, as EventBridge's 1 = SUN.
    weekdays: Vec<bool>,
}

/// One field of an EventBridge cron expression: its name, its range, and the names of its values.
struct Field {
    name: &'static str,
    low: usize,
    max: usize,
    names: &'static [&'static str],
}

const MINUTES: Field = Field {
    name: "minutes",
    low: 0,
    max: 59,
    names: &[],
};
const HOURS: Field = Field {
    name: "hours",
    low: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    low: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    low: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
/// EventBridge numbers days 1-7 from Sunday.
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    low: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};
const YEAR: Field = Field {
    name: "year",
    low: 1970,
    max: 2199,
    names: &[],
};

impl Cron {
    /// Reads an expression as EventBridge does (six fields; `?` in exactly one of
    /// day-of-month and day-of-week), and keeps what a weekly window needs.
    fn parse(expression: &str) -> Result<Cron> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .ok_or_else(|| anyhow::anyhow!("{expression:?} is not a cron(...) expression"))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
            bail!("{expression:?} needs six fields: minutes hours day-of-month month day-of-week year");
        };
        let at = |e: anyhow::Error| e.context(format!("{expression:?}"));
        if (day_of_month == "?") == (day_of_week == "?") {
            bail!(
                "{expression:?}: one of day-of-month and day-of-week must be `?` and the other not \
                 (EventBridge cannot take both)"
            );
        }
        let minutes = field(minutes, &MINUTES).map_err(at)?;
        let hours = field(hours, &HOURS).map_err(at)?;
        let days = field(day_of_month, &DAY_OF_MONTH).map_err(at)?;
        let months = field(month, &MONTH).map_err(at)?;
        field(year, &YEAR).map_err(at)?;
        let weekdays = field(day_of_week, &DAY_OF_WEEK).map_err(at)?[1..].to_vec();
        // A weekly window: every day of every month.
        if days[1..].iter().any(|d| !d) || months[1..].iter().any(|m| !m) {
            bail!("{expression:?}: only weekly schedules (day-of-month ? or *, month *) can be priced");
        }
        Ok(Cron {
            minutes,
            hours,
            weekdays,
        })
    }

    /// Whether it fires at this minute of the week (minute 0: Sunday 00:00 UTC).
    fn fires(&self, minute_of_week: usize) -> bool {
        let day = minute_of_week / (24 * 60);
        let hour = minute_of_week / 60 % 24;
        let minute = minute_of_week % 60;
        self.weekdays[day] && self.hours[hour] && self.minutes[minute]
    }
}

/// One cron field as a table of `0..=max`: `*` and `?` (every value), `N`, names,
/// `A-B` (wrapping past the end when A > B: `22-2`, `FRI-MON`), steps (`*/15`,
/// `5/1` from 5 to the end, `1-5/2`), and lists of these. `L`, `W` and `#` are
/// refused, named with the field.
fn field(text: &str, f: &Field) -> Result<Vec<bool>> {
    let name = f.name;
    let mut set = vec![false; f.max + 1];
    let value = |v: &str| -> Result<usize> {
        if let Some(i) = f.names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i + f.low);
        }
        if v.contains('#') || v.contains('L') || v.contains('W') || v.contains('l') || v.contains('w') {
            bail!("{name} field {text:?}: `L`, `W` and `#` are not supported; list the days instead");
        }
        let n: usize = v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} field {text:?}: {v:?} is not a value"))?;
        if n < f.low || n > f.max {
            bail!("{name} field {text:?}: {n} is outside {}-{}", f.low, f.max);
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => match s.parse::<usize>() {
                Ok(step) if step > 0 => (r, Some(step)),
                _ => bail!("{name} field {text:?}: {s:?} is not a step"),
            },
            None => (part, None),
        };
        let (from, to) = match range {
            "*" | "?" => (f.low, f.max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15`: from 5 to the end of the range, every 15.
                None if step.is_some() => (value(r)?, f.max),
                None => (value(r)?, value(r)?),
            },
        };
        // A range past the end wraps round to the start (`FRI-MON`, `22-2`).
        let values: Vec<usize> = if from <= to {
            (from..=to).collect()
        } else {
            (from..=f.max).chain(f.low..=to).collect()
        };
        for v in values.into_iter().step_by(step.unwrap_or(1)) {
            set[v] = true;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values a field's table holds.
    fn on(set: &[bool]) -> Vec<usize> {
        set.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| i).collect()
    }

    #[test]
    fn every_night_from_19_to_7_is_half_the_week() {
        let w = window("cron(0 19 * * ? *)", "cron(0 7 * * ? *)").unwrap();
        assert_eq!(w.off_hours_per_week, 7.0 * 12.0);
        assert_eq!(w.stops_per_week, 7);
        assert_eq!(w.off_share(), 0.5);
        assert_eq!(w.off_hours_per_month(), 365.0);
        assert_eq!(w.hours_per_stop(), 12.0);
    }

    #[test]
    fn weekday_schedules_keep_the_weekend_off() {
        // Stop Monday to Friday at 19:00, start Monday to Friday at 07:00: off from
        // Friday 19:00 to Monday 07:00 (60 h) and four nights of 12 h.
        let w = window("cron(0 19 ? * MON-FRI *)", "cron(0 7 ? * MON-FRI *)").unwrap();
        assert_eq!(w.off_hours_per_week, 60.0 + 4.0 * 12.0);
        assert_eq!(w.stops_per_week, 5);
        let numbered = window("cron(30 18 ? * 2-6 *)", "cron(30 6 ? * 2-6 *)").unwrap();
        assert_eq!(numbered.off_hours_per_week, 108.0);
    }

    /// The examples of EventBridge's "Cron expressions" reference (rule schedule expressions),
    /// read field by field.
    #[test]
    fn eventbridge_s_documented_examples_read_as_documented() {
        // 10:15 AM UTC every day.
        let c = Cron::parse("cron(15 10 * * ? *)").unwrap();
        assert_eq!(
            (on(&c.minutes), on(&c.hours), on(&c.weekdays)),
            (vec![15], vec![10], (0..7).collect())
        );
        // 6:00 PM Monday through Friday.
        let c = Cron::parse("cron(0 18 ? * MON-FRI *)").unwrap();
        assert_eq!(on(&c.weekdays), [1, 2, 3, 4, 5]);
        // Every 10 minutes on weekdays; every 5 minutes between 8:00 AM and 5:55 PM weekdays.
        assert_eq!(
            on(&Cron::parse("cron(0/10 * ? * MON-FRI *)").unwrap().minutes),
            (0..60).step_by(10).collect::<Vec<_>>()
        );
        let c = Cron::parse("cron(0/5 8-17 ? * MON-FRI *)").unwrap();
        assert_eq!((on(&c.minutes).len(), on(&c.hours)), (12, (8..=17).collect()));
        // 9:00 AM on the first Monday of each month: `#` is refused, naming its field.
        let e = Cron::parse("cron(0 9 ? * 2#1 *)").unwrap_err();
        assert!(
            format!("{e:#}").contains("day-of-week field \"2#1\": `L`, `W` and `#` are not supported"),
            "{e:#}"
        );
        // 8:00 AM on the first day of the month, and the last day: read, but not a weekly window.
        assert!(format!("{:#}", Cron::parse("cron(0 8 1 * ? *)").unwrap_err()).contains("only weekly"));
        let e = Cron::parse("cron(0 8 L * ? *)").unwrap_err();
        assert!(format!("{e:#}").contains("day-of-month field \"L\""), "{e:#}");
    }

    #[test]
    fn ranges_wrap_steps_start_where_they_say_and_names_read_in_any_case() {
        assert_eq!(on(&field("22-2", &HOURS).unwrap()), [0, 1, 2, 22, 23]);
        // FRI-MON: Friday, Saturday, Sunday, Monday (1 = SUN).
        assert_eq!(on(&field("FRI-MON", &DAY_OF_WEEK).unwrap()), [1, 2, 6, 7]);
        assert_eq!(on(&field("fri-sun", &DAY_OF_WEEK).unwrap()), [1, 6, 7]);
        assert_eq!(on(&field("5/1", &MINUTES).unwrap()), (5..60).collect::<Vec<_>>());
        assert_eq!(on(&field("*/15", &MINUTES).unwrap()), [0, 15, 30, 45]);
        assert_eq!(on(&field("1-5/2", &DAY_OF_WEEK).unwrap()), [1, 3, 5]);
        assert_eq!(on(&field("JAN,JUL-AUG", &MONTH).unwrap()), [1, 7, 8]);
        assert_eq!(on(&field("2027", &YEAR).unwrap()), [2027]);
        assert!(field("0/0", &MINUTES).is_err());
        assert!(field("15W", &DAY_OF_MONTH).is_err());
        // A night that wraps past midnight on weekends only: Friday and Saturday 22:00 to 02:00.
        let w = window("cron(0 22 ? * FRI-SAT *)", "cron(0 2 ? * SAT-SUN *)").unwrap();
        assert_eq!((w.off_hours_per_week, w.stops_per_week), (8.0, 2));
    }

    #[test]
    fn a_night_lasts_until_the_next_start_monday_12_h_friday_60_h() {
        let start = "cron(0 7 ? * MON-FRI *)";
        let workdays = |_: u64| false;
        // 2026-12-07 19:00 UTC is a Monday; 2026-12-11 19:00 a Friday.
        let (monday, friday) = (1_796_670_000, 1_797_015_600);
        let at = |day: usize, hour: usize| day * 24 * 60 + hour * 60;
        assert_eq!(minute_of_week(monday), at(1, 19));
        assert_eq!(minute_of_week(friday), at(5, 19));
        assert_eq!(hours_until_start(start, monday, &workdays).unwrap(), Some(12.0));
        assert_eq!(hours_until_start(start, friday, &workdays).unwrap(), Some(60.0));
        // Tuesday 2026-12-08 a holiday: Monday's night lasts until Wednesday 07:00.
        let tuesday = (monday + 86_400) / 86_400;
        assert_eq!(
            hours_until_start(start, monday, &|day| day == tuesday).unwrap(),
            Some(36.0)
        );
        assert!(
            hours_until_start("cron(0 7 1 1 ? 2030)", 0, &workdays).is_err(),
            "not weekly: refused"
        );
    }

    #[test]
    fn the_next_30_days_count_holidays_and_manual_starts() {
        let (stop, start) = ("cron(0 19 ? * MON-FRI *)", Some("cron(0 7 ? * MON-FRI *)"));
        let monday_noon = 1_796_670_000 - 7 * 3600;
        let workdays = |_: u64| false;
        let hours = off_hours_ahead(stop, start, monday_noon, 30, &workdays).unwrap();
        let weekly = window(stop, start.unwrap()).unwrap().off_hours_per_week;
        assert_eq!(weekly, 108.0);
        // 30 days from Monday 12:00 end on a Wednesday 12:00: four weeks, then Mon and Tue nights (12 h each).
        assert_eq!(hours, 4.0 * weekly + 24.0);
        // A holiday on the Tuesday of the first week adds that day's 12 hours on.
        let tuesday = (monday_noon + 86_400) / 86_400;
        let with = off_hours_ahead(stop, start, monday_noon, 30, &|d| d == tuesday).unwrap();
        assert_eq!(with, hours + 12.0);
        // Manual starts: running now, stopped from the first stop (Monday 19:00) to the end.
        let manual = off_hours_ahead(stop, None, monday_noon, 30, &workdays).unwrap();
        assert_eq!(manual, 30.0 * 24.0 - 7.0);
    }

    #[test]
    fn expressions_eventbridge_refuses_are_refused() {
        // Both day fields given, or both `?`.
        assert!(Cron::parse("cron(0 19 * * MON *)").is_err());
        assert!(Cron::parse("cron(0 19 ? * ? *)").is_err());
        // Five fields.
        assert!(Cron::parse("cron(0 19 ? * MON)").is_err());
        // The same expression to stop and to start: never off.
        let e = window("cron(0 19 ? * MON-FRI *)", "cron(0  19 ? * mon-fri *)").unwrap_err();
        assert!(e.to_string().contains("same expression"), "{e}");
    }

    #[test]
    fn schedules_it_cannot_price_are_named() {
        assert!(window("cron(0 19 1 * ? *)", "cron(0 7 * * ? *)").is_err());
        assert!(window("rate(1 day)", "cron(0 7 * * ? *)").is_err());
        assert!(window("cron(0 25 * * ? *)", "cron(0 7 * * ? *)").is_err());
    }
}
