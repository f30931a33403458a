//! EventBridge Scheduler, as far as the local stack needs it: the emulator stores one-time
//! schedules but never fires them, so the local stack fires those whose `at(...)` the
//! development clock has passed, sends their input to their target queue and deletes them
//! (`ActionAfterCompletion=DELETE`).

use crate::provision::Stack;
use aws_config::SdkConfig;

fn due_at(expression: &str) -> Option<i64> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let t = chrono::NaiveDateTime::parse_from_str(inner, "%Y-%m-%dT%H:%M:%S").ok()?;
    Some(t.and_utc().timestamp_millis())
}

/// The period of a `rate(N unit)` expression, in milliseconds.
pub fn rate_millis(expression: &str) -> Option<i64> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.trim().split_once(' ')?;
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit.trim().trim_end_matches('s') {
        "minute" => 60_000,
        "hour" => 3_600_000,
        "day" => 86_400_000,
        _ => return None,
    };
    Some(n * unit_ms)
}

/// Fires the due schedules of every schedule group of the stack; returns how many.
pub async fn fire_due(stack: &Stack, config: &SdkConfig, now: i64) -> Result<usize, String> {
    let scheduler = aws_sdk_scheduler::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let groups: Vec<String> = stack
        .resolver
        .physical
        .values()
        .filter(|p| {
            p.attributes
                .get("Arn")
                .is_some_and(|a| a.contains(":schedule-group/"))
        })
        .map(|p| p.reference.clone())
        .collect();
    let mut fired = 0;
    for group in groups {
        let list = scheduler
            .list_schedules()
            .group_name(&group)
            .send()
            .await
            .map_err(|e| aws_sdk_scheduler::error::DisplayErrorContext(e).to_string())?;
        for summary in list.schedules() {
            let Some(name) = summary.name() else { continue };
            let Ok(schedule) = scheduler
                .get_schedule()
                .group_name(&group)
                .name(name)
                .send()
                .await
            else {
                continue;
            };
            let Some(due) = schedule.schedule_expression().and_then(due_at) else {
                continue;
            };
            if due > now {
                continue;
            }
            if let Some(target) = schedule.target() {
                if let Some(url) = stack.queue_url_of_arn(target.arn()) {
                    sqs.send_message()
                        .queue_url(url)
                        .message_body(target.input().unwrap_or("{}"))
                        .send()
                        .await
                        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
                }
            }
            let _ = scheduler
                .delete_schedule()
                .group_name(&group)
                .name(name)
                .send()
                .await;
            fired += 1;
        }
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    #[test]
    fn at_expressions_are_read_as_utc() {
        assert_eq!(
            super::due_at("at(2026-11-25T10:00:00)"),
            Some(1_795_600_800_000)
        );
        assert_eq!(super::due_at("rate(1 hour)"), None);
    }

    #[test]
    fn rates_are_read() {
        assert_eq!(super::rate_millis("rate(5 minutes)"), Some(300_000));
        assert_eq!(super::rate_millis("rate(1 hour)"), Some(3_600_000));
        assert_eq!(super::rate_millis("cron(0 * * * ? *)"), None);
    }
}
