//! Working hours of an AI assistant (seed 002): days and local times in an IANA zone.

use super::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayHours {
    /// mon, tue, wed, thu, fri, sat, sun
    pub weekday: String,
    /// "HH:MM", local time
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    /// IANA time zone, e.g. America/Sao_Paulo
    pub time_zone: String,
    pub days: Vec<DayHours>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The IANA zone of that name (any letter case), from the copy of the time zone
/// database built into the binary: Lambda's `provided.al2023` has no
/// `/usr/share/zoneinfo`, and the copy is jiff's compact TZif data (about 0.3 MB where
/// chrono-tz's generated tables took 1.9 MB of every binary that routes).
fn time_zone(name: &str) -> Option<jiff::tz::TimeZone> {
    jiff::tz::TimeZoneDatabase::bundled().get(name).ok()
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl WorkingHours {
    pub fn validate(&self, field: &str, errors: &mut Vec<String>) {
        if time_zone(&self.time_zone).is_none() {
            errors.push(format!(
                "{field}.time_zone {:?} is not an IANA time zone (e.g. America/Sao_Paulo)",
                self.time_zone
            ));
        }
        if self.days.is_empty() {
            errors.push(format!("{field}.days must list at least one day"));
        }
        for (i, d) in self.days.iter().enumerate() {
            if !WEEKDAYS.contains(&d.weekday.as_str()) {
                errors.push(format!(
                    "{field}.days[{i}].weekday must be one of {}",
                    WEEKDAYS.join(", ")
                ));
            }
            match (minutes(&d.start), minutes(&d.end)) {
                (Some(s), Some(e)) if s < e => {}
                _ => errors.push(format!("{field}.days[{i}] needs start < end as HH:MM")),
            }
        }
    }

    /// Is this instant inside the hours, in their time zone?
    pub fn contains(&self, at: Millis) -> bool {
        let Some(tz) = time_zone(&self.time_zone) else {
            return false;
        };
        let Ok(instant) = jiff::Timestamp::from_millisecond(at) else {
            return false;
        };
        let local = tz.to_datetime(instant);
        let weekday = WEEKDAYS[local.weekday().to_monday_zero_offset() as usize];
        let now = local.hour() as u32 * 60 + local.minute() as u32;
        self.days.iter().any(|d| {
            d.weekday == weekday
                && matches!((minutes(&d.start), minutes(&d.end)), (Some(s), Some(e)) if s <= now && now < e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_follow_the_zones_daylight_saving_time() {
        // New York, Mondays 09:00–10:00 local: 13:30 UTC is inside in July (EDT, UTC-4)
        // and outside in January (EST, UTC-5, 08:30 local).
        let h = WorkingHours {
            time_zone: "America/New_York".into(),
            days: vec![DayHours {
                weekday: "mon".into(),
                start: "09:00".into(),
                end: "10:00".into(),
            }],
        };
        const MON_2026_07_06_1330_UTC: Millis = 1_783_344_600_000;
        const MON_2026_01_05_1330_UTC: Millis = 1_767_619_800_000;
        assert!(h.contains(MON_2026_07_06_1330_UTC));
        assert!(!h.contains(MON_2026_01_05_1330_UTC));
        let mut errors = Vec::new();
        h.validate("wh", &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
    }
}
