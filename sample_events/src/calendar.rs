//! Civil dates in UTC, the generation window and the shop's sales calendar (winter sale, Black
//! Friday, Big Billion Days…), plus the seasonal demand curve. Integer arithmetic only.

pub const MS_PER_SECOND: i64 = 1_000;
pub const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
pub const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
pub const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = month as i64;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Milliseconds since the epoch of midnight UTC on a date.
pub const fn date_ms(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * MS_PER_DAY
}

/// 0 = Sunday … 6 = Saturday.
pub fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The month (1–12) an instant falls in.
pub fn month_of(ms: i64) -> u32 {
    civil_from_days(ms.div_euclid(MS_PER_DAY)).1
}

/// Start of the window: the same day of the month `months` months before `end_ms` (clamped to the
/// 28th so every month has it), at midnight UTC.
pub fn window_start(end_ms: i64, months: u32) -> i64 {
    let (y, m, d) = civil_from_days(end_ms.div_euclid(MS_PER_DAY));
    let total = y * 12 + (m as i64 - 1) - months as i64;
    let (sy, sm) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    date_ms(sy, sm, d.min(28))
}

/// A store-wide sale: prices of participating products drop for `[start, end)`.
#[derive(Debug, Clone)]
pub struct Sale {
    pub start: i64,
    pub end: i64,
    /// Deepest discount (percent) a participating product gets.
    pub max_pct: i64,
    /// Share of products (per mille) that take part.
    pub participation: u64,
}

/// The sales that overlap `[start, end)`, in time order.
pub fn sales(start: i64, end: i64) -> Vec<Sale> {
    let first_year = civil_from_days(start.div_euclid(MS_PER_DAY)).0;
    let last_year = civil_from_days(end.div_euclid(MS_PER_DAY)).0;
    let mut out = Vec::new();
    for y in first_year..=last_year {
        // Black Friday: the day after the fourth Thursday of November, through Cyber Monday.
        let nov1 = days_from_civil(y, 11, 1);
        let first_thursday = nov1 + (4 - weekday(nov1)).rem_euclid(7);
        let black_friday = first_thursday + 21 + 1;
        // (first day, length in days, deepest discount %, participation ‰)
        let defs: [(i64, i64, i64, u64); 7] = [
            (days_from_civil(y, 1, 2), 10, 40, 450),  // winter sale
            (days_from_civil(y, 3, 20), 7, 25, 300),  // spring sale
            (days_from_civil(y, 6, 20), 14, 35, 450), // summer sale
            (days_from_civil(y, 7, 15), 2, 30, 250),  // Prime Day deals
            (days_from_civil(y, 9, 27), 7, 40, 350),  // Big Billion Days
            (black_friday, 4, 40, 550),               // Black Friday to Cyber Monday
            (days_from_civil(y, 12, 26), 6, 35, 400), // Boxing Day
        ];
        for (day, len, max_pct, participation) in defs {
            let s = day * MS_PER_DAY;
            let e = (day + len) * MS_PER_DAY;
            if e > start && s < end {
                out.push(Sale {
                    start: s.max(start),
                    end: e.min(end),
                    max_pct,
                    participation,
                });
            }
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

/// The sale running at `t`, if any.
pub fn sale_at(sales: &[Sale], t: i64) -> Option<&Sale> {
    sales.iter().find(|s| s.start <= t && t < s.end)
}

/// Relative shopping activity by month (holiday season high, late winter low).
pub fn seasonality(t: i64) -> f64 {
    const BY_MONTH: [f64; 12] = [
        0.90, 0.82, 0.92, 0.95, 1.0, 0.98, 1.04, 0.94, 1.0, 1.06, 1.32, 1.45,
    ];
    BY_MONTH[(month_of(t) - 1) as usize]
}

/// The largest value [`seasonality`] takes.
pub const MAX_SEASONALITY: f64 = 1.45;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(date_ms(2026, 6, 30), 1_782_777_600_000);
        for d in -1_000..60_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        // 2025-11-28 is a Friday.
        assert_eq!(weekday(days_from_civil(2025, 11, 28)), 5);
    }

    #[test]
    fn window_and_black_friday() {
        let end = date_ms(2026, 6, 30);
        assert_eq!(window_start(end, 18), date_ms(2024, 12, 28));
        let s = sales(window_start(end, 18), end);
        let black_friday = date_ms(2025, 11, 28);
        let bf = s
            .iter()
            .find(|s| s.start == black_friday)
            .expect("Black Friday 2025");
        assert_eq!(bf.end, date_ms(2025, 12, 2));
        assert!(s.windows(2).all(|w| w[0].start <= w[1].start));
    }
}
