//! Timers: an SQS message delayed up to 15 minutes, or an EventBridge Scheduler one-time
//! schedule (`at(...)`, deleted after it fires) that sends the same message later.

use crate::domain::inbound::Timer;
use crate::domain::Millis;
use crate::ports::{PortError, PortResult, TimerService};
use async_trait::async_trait;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

/// SQS's longest message delay.
const MAX_DELAY_SECONDS: i64 = 900;

#[derive(Clone, Debug)]
pub struct AwsTimers {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub scheduler: aws_sdk_scheduler::Client,
    pub group: String,
    /// The role EventBridge Scheduler assumes to send to the timers queue.
    pub role_arn: String,
}

#[async_trait]
impl TimerService for AwsTimers {
    async fn schedule(&self, timer: &Timer, now: Millis) -> PortResult<()> {
        let body = serde_json::to_string(timer).map_err(|e| PortError::new("timers", e))?;
        let delay = ((timer.due_at - now).max(0) + 999) / 1000;
        if delay <= MAX_DELAY_SECONDS {
            self.sqs
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(body)
                .delay_seconds(delay as i32)
                .send()
                .await
                .map_err(|e| super::sdk_error("sqs", e))?;
            return Ok(());
        }
        let at = chrono::DateTime::from_timestamp_millis(timer.due_at)
            .ok_or_else(|| PortError::new("scheduler", "deadline out of range"))?
            .format("%Y-%m-%dT%H:%M:%S");
        let kind = serde_json::to_value(timer.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let target = Target::builder()
            .arn(&self.queue_arn)
            .role_arn(&self.role_arn)
            .input(body)
            .build()
            .map_err(|e| PortError::new("scheduler", e))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| PortError::new("scheduler", e))?;
        let result = self
            .scheduler
            .create_schedule()
            .name(format!("{}-{kind}-{}", timer.subject, timer.due_at))
            .group_name(&self.group)
            .schedule_expression(format!("at({at})"))
            .schedule_expression_timezone("UTC")
            .flexible_time_window(window)
            .target(target)
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The same timer scheduled again (a redelivery): one is enough.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(super::sdk_error("scheduler", e)),
        }
    }
}
