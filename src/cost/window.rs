//! The off-hours window that `verify.stop_schedule` and `verify.start_schedule`
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

/// The weekly window between `stop` and `start`.
pub fn window(stop: &str, start: &str) -> Result<Window> {
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

impl Cron {
    fn parse(expression: &str) -> Result<Cron> {
        let inner = expression
            .trim()
            .strip_prefix("cron(")
            .and_then(|e| e.strip_suffix(')'))
            .ok_or_else(|| anyhow::anyhow!("{expression:?} is not a cron(...) expression"))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, _year] = fields[..] else {
            bail!("{expression:?} needs six fields: minutes hours day-of-month month day-of-week year");
        };
        if !matches!(day_of_month, "*" | "?") || month != "*" {
            bail!("{expression:?}: only weekly schedules (day-of-month ? or *, month *) can be priced");
        }
        Ok(Cron {
            minutes: field(minutes, 0, 59, &[])?,
            hours: field(hours, 0, 23, &[])?,
            weekdays: if day_of_week == "?" {
                vec![true; 7]
            } else {
                // EventBridge numbers days 1-7 from Sunday.
                let days = field(day_of_week, 1, 7, &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])?;
                days[1..].to_vec()
            },
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

/// One cron field as a table of `0..=max` (names count from `low`): `*`, `N`, `A-B`, `A/S`, `*/S`, lists.
fn field(text: &str, low: usize, max: usize, names: &[&str]) -> Result<Vec<bool>> {
    let mut set = vec![false; max + 1];
    let value = |v: &str| -> Result<usize> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i + low);
        }
        let n: usize = v
            .parse()
            .map_err(|_| anyhow::anyhow!("{v:?} in {text:?} is not a value"))?;
        if n < low || n > max {
            bail!("{n} in {text:?} is outside {low}-{max}");
        }
        Ok(n)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>()
                    .map_err(|_| anyhow::anyhow!("bad step in {text:?}"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (low, max),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, max),
                None => (value(r)?, value(r)?),
            },
        };
        for v in (from..=to).step_by(step.max(1)) {
            set[v] = true;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn schedules_it_cannot_price_are_named() {
        assert!(window("cron(0 19 1 * ? *)", "cron(0 7 * * ? *)").is_err());
        assert!(window("rate(1 day)", "cron(0 7 * * ? *)").is_err());
        assert!(window("cron(0 25 * * ? *)", "cron(0 7 * * ? *)").is_err());
    }
}
