//! `hsm-send`: delivers outbound messages from `outbound.fifo` to the WhatsApp Cloud API,
//! or, on an SMS channel, to AWS End User Messaging SMS.
//!
//! Each message is sent at most once: the send is claimed with a conditional write
//! before the API call, so an SQS redelivery after a successful call sends nothing.
//! Retryable failures wait in the queue (visibility timeout with exponential backoff and
//! jitter), never in the handler.

use super::events;
use super::metrics::{provider_error_code, Metric, Metrics};
use super::outbound_item::{callback_data, OutboundItem, ReadReceipt, READ_RECEIPT};
use crate::domain::campaign::{self, PauseReason};
use crate::domain::channel::{AmbiguousSend, Channel, ChannelKind};
use crate::domain::{phone::mask_phone, DeliveryStatus};
use crate::ports::{
    CampaignStore, ChannelStore, Clock, ContactStore, Effects, MessageLog, OutboundRequest,
    PortError, Provider, ProviderError, Secrets, SendLedger, SendPacer, Slot, SmsProvider,
    SmsRequest, WorkQueue, SMS_DESTINATION_OPTED_OUT,
};
use crate::provider::graph::REENGAGEMENT_REQUIRED;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use rand::Rng;
use std::sync::Arc;

pub struct Sender {
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub messages: Arc<dyn MessageLog>,
    pub sends: Arc<dyn SendLedger>,
    pub provider: Arc<dyn Provider>,
    /// SMS channels' sends.
    pub sms: Arc<dyn SmsProvider>,
    pub secrets: Arc<dyn Secrets>,
    /// The channels' campaign pacing.
    pub pacer: Arc<dyn SendPacer>,
    /// Campaigns a provider answer pauses.
    pub campaigns: Arc<dyn CampaignStore>,
    pub queue: Arc<dyn WorkQueue>,
    pub dead_letters: Arc<dyn WorkQueue>,
    /// Messages the provider accepted and sends that failed, flushed once per batch.
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub default_token_parameter: String,
    /// How long a send whose outcome is unknown waits for a status before the channel's
    /// `ambiguous_send` policy applies (`SendReconcileSeconds`).
    pub reconcile_after_seconds: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SendRetry {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("provider: {error} (retry in {delay} s)")]
    Provider { error: ProviderError, delay: i32 },
    #[error("send outcome unknown: reconciling (look again in {delay} s)")]
    Reconciling { delay: i32 },
    #[error("the channel's campaign rate is taken for now (look again in {delay} s)")]
    Paced { delay: i32 },
}

/// A campaign send waits in the function for a slot at most this long.
const PACE_HORIZON_MS: i64 = 1000;
/// A slot this close is taken and waited for.
const SLOT_TOLERANCE_MS: i64 = 5;
/// Cloud API codes a campaign reacts to: throughput reached (and HTTP 429), pair rate
/// limit, spam rate limit, marketing opt-out.
const THROUGHPUT_REACHED: i64 = 130429;
const PAIR_RATE_LIMIT: i64 = 131056;
const PAIR_RATE_SECONDS: i32 = 6;
const SPAM_RATE_LIMIT: i64 = 131048;
const MARKETING_OPT_OUT: i64 = 131050;
/// How long the channel's campaign sends hold after the provider said "too fast".
const THROUGHPUT_HOLD_MS: i64 = 2000;

/// A provider call as prepared before the claim: the Graph token read, or the SMS built.
enum ProviderCall {
    Graph { token: String },
    Sms(SmsRequest),
}

/// Exponential backoff with jitter, in seconds, for the n-th receive (1-based).
pub fn backoff_seconds(receive_count: u32, jitter: f64) -> i32 {
    let exp = 2f64.powi(receive_count.clamp(1, 10) as i32); // 2, 4, 8 … 1024
    let capped = exp.min(900.0);
    // Full jitter over the upper half keeps retries spread but never immediate.
    (capped / 2.0 + capped / 2.0 * jitter.clamp(0.0, 1.0)).round() as i32
}

impl Sender {
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let (response, failures) =
            super::fifo::process_by_group(&event, "send", |record| self.process(record)).await;
        // The later sends of a conversation that must wait wait as long as its failed
        // one, instead of coming back at once to find their group still blocked.
        for failure in failures {
            let (SendRetry::Provider { delay, .. }
            | SendRetry::Reconciling { delay }
            | SendRetry::Paced { delay }) = failure.error
            else {
                continue;
            };
            for record in failure.skipped {
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    if let Err(err) = self.queue.retry_later(receipt, delay).await {
                        tracing::warn!(error = %err, "could not set the retry delay");
                    }
                }
            }
        }
        self.metrics.flush(self.clock.now());
        response
    }

    pub async fn process(&self, record: &SqsMessage) -> Result<(), SendRetry> {
        let body = record.body.as_deref().unwrap_or_default();
        if let Ok(receipt) = serde_json::from_str::<ReadReceipt>(body) {
            if receipt.kind == READ_RECEIPT {
                return self.mark_read(record, &receipt).await;
            }
        }
        let item: OutboundItem = match super::fifo::read_item(body, "outbound item") {
            Ok(item) => item,
            Err(reason) => return self.dead_letter(record, body, reason).await,
        };
        // What the send needs, read at once: the message, the channel (cached per
        // instance) and, for a free-form message, the contact's window.
        let (message, channel, contact) = futures::try_join!(
            self.messages.message(&item.key),
            self.channels.channel(&item.channel),
            async {
                match item.free_form {
                    true => self.contacts.contact(&item.channel, &item.to).await,
                    false => Ok(None),
                }
            }
        )?;
        let Some(message) = message else {
            tracing::warn!(conversation_id = %item.key.conversation_id, "outbound message not found; nothing to send");
            return Ok(());
        };
        let campaign_id =
            campaign::of_sender(message.sender.as_deref()).map(|(id, _)| id.to_owned());
        if message.status != Some(DeliveryStatus::Accepted) || message.provider_id.is_some() {
            tracing::info!(conversation_id = %item.key.conversation_id, "already sent or failed; redelivery ignored");
            return Ok(());
        }
        let now = self.clock.now();
        // Everything that can fail before the call is read first, so a claim always means
        // "the call may have happened".
        let mut reclaimed = false;
        if let Some(since) = message.outcome_unknown_since {
            // An earlier attempt may have been accepted: a status webhook carrying our id
            // settles it; without one, the channel decides after the reconcile delay.
            let due = since + self.reconcile_after_seconds * 1000;
            if now < due {
                let delay = ((due - now + 999) / 1000) as i32;
                self.wait(record, delay).await;
                return Err(SendRetry::Reconciling { delay });
            }
            let policy = channel
                .as_ref()
                .map(|c| c.ambiguous_send)
                .unwrap_or_default();
            if policy == AmbiguousSend::Fail {
                self.sends
                    .record_send_failure(
                        &item.key,
                        None,
                        "outcome_unknown: no status arrived for a send the provider may have accepted",
                        now,
                        &events::status_effects,
                    )
                    .await?;
                self.metrics.count(Metric::SendsFailed, "outcome_unknown");
                tracing::warn!(conversation_id = %item.key.conversation_id, "send outcome unknown: failed by the channel's policy");
                return Ok(());
            }
            if !self.sends.reclaim_unknown(&item.key, since, now).await? {
                return Ok(());
            }
            tracing::warn!(conversation_id = %item.key.conversation_id, "send outcome unknown: sent again by the channel's policy");
            reclaimed = true;
        }
        if item.free_form {
            let window = crate::ports::window_of(&item.channel, contact.as_ref(), now);
            if !window.open {
                self.sends
                    .record_send_failure(
                        &item.key,
                        None,
                        "window_closed: the 24-hour window closed before the send",
                        now,
                        &events::status_effects,
                    )
                    .await?;
                self.metrics.count(Metric::SendsFailed, "window_closed");
                tracing::info!(conversation_id = %item.key.conversation_id, "free-form message not sent: window closed");
                return Ok(());
            }
        }
        let call = match self.provider_call(&item, channel.as_ref()).await? {
            Ok(call) => call,
            Err((code, reason)) => {
                self.sends
                    .record_send_failure(&item.key, None, &reason, now, &events::status_effects)
                    .await?;
                self.metrics.count(Metric::SendsFailed, code);
                tracing::warn!(conversation_id = %item.key.conversation_id, reason = code, "message cannot be sent on its channel");
                return Ok(());
            }
        };
        if !reclaimed && !self.sends.claim_send(&item.key, self.clock.now()).await? {
            // Claimed by an earlier delivery that never recorded an outcome (it crashed or
            // timed out mid-call): the provider may have accepted it, so it is reconciled
            // like any unknown outcome instead of being sent again now.
            if self.sends.mark_unknown(&item.key, now).await? {
                let delay = self.reconcile_after_seconds as i32;
                self.wait(record, delay).await;
                return Err(SendRetry::Reconciling { delay });
            }
            return Ok(());
        }
        // The slot is taken last, so only the POST stands between it and the provider.
        if let Some(rate) = item.pace {
            if let Err(e) = self.pace(record, &item.channel, rate).await {
                // Not sent: the claim goes, the send waits for a slot in the queue.
                self.sends.release_send(&item.key).await?;
                return Err(e);
            }
        }
        let answer = match call {
            ProviderCall::Graph { token } => {
                let mut payload = item.payload.clone();
                // Status webhooks carry it back, so an ambiguous send can be matched to
                // its status.
                payload["biz_opaque_callback_data"] = serde_json::json!(callback_data(&item.key));
                let request = OutboundRequest {
                    phone_number_id: item.channel.clone(),
                    to: item.to.clone(),
                    payload,
                };
                self.provider.send(&token, &request).await
            }
            ProviderCall::Sms(request) => self.sms.send_text(&request).await,
        };
        if let Err(e) = &answer {
            self.metrics
                .count(Metric::SendsFailed, &provider_error_code(e));
        }
        match answer {
            Ok(provider_id) => {
                self.sends
                    .record_sent(
                        &item.key,
                        &provider_id,
                        self.clock.now(),
                        &events::status_effects,
                    )
                    .await?;
                self.metrics.count(Metric::MessagesSent, &item.channel);
                tracing::info!(conversation_id = %item.key.conversation_id, to = %mask_phone(&item.to), "message sent");
                Ok(())
            }
            Err(ProviderError::Permanent { code, message }) => {
                let now = self.clock.now();
                self.sends
                    .record_send_failure(&item.key, code, &message, now, &events::status_effects)
                    .await?;
                if code == Some(REENGAGEMENT_REQUIRED) {
                    self.contacts
                        .close_window(&item.channel, &item.to, now)
                        .await?;
                }
                // The contact stopped marketing messages from this business (WhatsApp), or
                // opted out of SMS from the number: opted out.
                if code == Some(MARKETING_OPT_OUT) || code == Some(SMS_DESTINATION_OPTED_OUT) {
                    self.contacts.opt_out(&item.channel, &item.to).await?;
                }
                // The number is flagged for spam: its campaign stops until a person looks.
                if code == Some(SPAM_RATE_LIMIT) {
                    if let Some(campaign_id) = &campaign_id {
                        self.pause_campaign(campaign_id, PauseReason::SpamRateLimit)
                            .await?;
                    }
                }
                tracing::warn!(conversation_id = %item.key.conversation_id, error_code = ?code, "message failed");
                Ok(())
            }
            Err(e @ ProviderError::Ambiguous { .. }) => {
                // Sending again could deliver twice: keep the claim, note the unknown
                // outcome and come back after the reconcile delay.
                self.sends.mark_unknown(&item.key, self.clock.now()).await?;
                let delay = self.reconcile_after_seconds as i32;
                self.wait(record, delay).await;
                tracing::warn!(conversation_id = %item.key.conversation_id, delay, error = %e, "send outcome unknown; reconciling");
                Err(SendRetry::Provider { error: e, delay })
            }
            Err(e @ ProviderError::Retryable { .. }) => {
                self.sends.release_send(&item.key).await?;
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let mut delay = backoff_seconds(receives, rand::rng().random::<f64>());
                let code = match &e {
                    ProviderError::Retryable { code, .. } => *code,
                    _ => None,
                };
                // Too many messages to this one contact: no sooner than 6 s (Meta's
                // pair rate).
                if code == Some(PAIR_RATE_LIMIT) {
                    delay = delay.max(PAIR_RATE_SECONDS);
                }
                // Over the number's throughput: every campaign send of the channel waits.
                if item.pace.is_some() && matches!(code, Some(THROUGHPUT_REACHED) | None) {
                    self.pacer
                        .hold(&item.channel, self.clock.now() + THROUGHPUT_HOLD_MS)
                        .await?;
                }
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    if let Err(err) = self.queue.retry_later(receipt, delay).await {
                        tracing::warn!(error = %err, "could not set the retry delay");
                    }
                }
                tracing::warn!(conversation_id = %item.key.conversation_id, delay, receives, "provider busy; retry later");
                Err(SendRetry::Provider { error: e, delay })
            }
        }
    }

    /// What the provider call needs, read before the claim so that a claim always means
    /// "the call may have happened". The one place the channel's kind picks the provider:
    /// WhatsApp reads the channel's Graph token; SMS needs none and sends the text of
    /// the message from the channel's origination identity to the contact in E.164. A
    /// send that cannot go on its channel is `Err((code, reason))`.
    async fn provider_call(
        &self,
        item: &OutboundItem,
        channel: Option<&Channel>,
    ) -> Result<Result<ProviderCall, (&'static str, String)>, PortError> {
        // The kind is read from the id (`Channel::kind`), so it is known without the record.
        match ChannelKind::of(&item.channel) {
            ChannelKind::Whatsapp => {
                let token_parameter = channel
                    .and_then(|c| c.token_parameter.clone())
                    .unwrap_or_else(|| self.default_token_parameter.clone());
                let token = self.secrets.secret(&token_parameter).await?;
                Ok(Ok(ProviderCall::Graph { token }))
            }
            ChannelKind::Sms => {
                let Some(channel) = channel else {
                    return Ok(Err((
                        "unknown_channel",
                        "unknown_channel: the SMS channel no longer exists".into(),
                    )));
                };
                let Some(body) = item.payload["text"]["body"].as_str() else {
                    return Ok(Err((
                        "sms_text_only",
                        "sms_text_only: an SMS channel sends text messages only".into(),
                    )));
                };
                Ok(Ok(ProviderCall::Sms(SmsRequest {
                    origination_identity: channel.sms_origination(),
                    destination: format!("+{}", item.to),
                    body: body.to_owned(),
                    callback_data: callback_data(&item.key),
                })))
            }
        }
    }

    /// A campaign send waits for its slot on the channel: here when it is within the
    /// second, else in the queue (a slot is only taken when it is near, so a backlog never
    /// books the channel far ahead).
    async fn pace(&self, record: &SqsMessage, channel: &str, rate: u32) -> Result<(), SendRetry> {
        let give_up = self.clock.now() + PACE_HORIZON_MS;
        loop {
            // The slot is taken when it is due, not ahead: what stands between it and the
            // provider is the POST alone, never a late wake-up.
            let now = self.clock.now();
            match self
                .pacer
                .take_slot(channel, rate, now, now + SLOT_TOLERANCE_MS)
                .await?
            {
                Slot::Taken(slot) => {
                    if slot > now {
                        tokio::time::sleep(std::time::Duration::from_millis((slot - now) as u64))
                            .await;
                    }
                    return Ok(());
                }
                Slot::Wait(at) if at <= give_up => {
                    tokio::time::sleep(std::time::Duration::from_millis((at - now).max(1) as u64))
                        .await;
                }
                Slot::Wait(_) => {
                    let delay = (PACE_HORIZON_MS / 1000) as i32;
                    self.wait(record, delay).await;
                    return Err(SendRetry::Paced { delay });
                }
            }
        }
    }

    /// Pauses a sending campaign (the spam limit): it waits for a supervisor to resume it.
    async fn pause_campaign(&self, id: &str, reason: PauseReason) -> Result<(), SendRetry> {
        let Some(c) = self.campaigns.campaign(id).await? else {
            return Ok(());
        };
        if let Ok(paused) = campaign::pause(&c, reason) {
            self.campaigns
                .move_campaign(&paused, c.status, &Effects::default())
                .await?;
            tracing::warn!(campaign_id = %id, reason = ?reason, "campaign paused by the provider's answer");
        }
        Ok(())
    }

    /// A read receipt: sent once or, on a retryable failure, again later (harmless).
    async fn mark_read(&self, record: &SqsMessage, receipt: &ReadReceipt) -> Result<(), SendRetry> {
        if !ChannelKind::of(&receipt.channel).has_read_receipts() {
            tracing::info!(conversation_id = %receipt.conversation_id, "read receipt on a channel without them; dropped");
            return Ok(());
        }
        let channel = self.channels.channel(&receipt.channel).await?;
        let token_parameter = channel
            .as_ref()
            .and_then(|c| c.token_parameter.clone())
            .unwrap_or_else(|| self.default_token_parameter.clone());
        let token = self.secrets.secret(&token_parameter).await?;
        match self
            .provider
            .mark_read(&token, &receipt.channel, &receipt.message_id)
            .await
        {
            Ok(()) => {
                tracing::info!(conversation_id = %receipt.conversation_id, "contact's message marked read");
                Ok(())
            }
            Err(ProviderError::Permanent { code, .. }) => {
                tracing::warn!(conversation_id = %receipt.conversation_id, error_code = ?code, "read receipt refused; dropped");
                Ok(())
            }
            Err(e) => {
                let delay = backoff_seconds(1, rand::rng().random::<f64>());
                self.wait(record, delay).await;
                Err(SendRetry::Provider { error: e, delay })
            }
        }
    }

    /// Makes the record visible again only after `seconds`.
    async fn wait(&self, record: &SqsMessage, seconds: i32) {
        if let Some(receipt) = record.receipt_handle.as_deref() {
            if let Err(err) = self.queue.retry_later(receipt, seconds).await {
                tracing::warn!(error = %err, "could not set the retry delay");
            }
        }
    }

    async fn dead_letter(
        &self,
        record: &SqsMessage,
        body: &str,
        reason: String,
    ) -> Result<(), SendRetry> {
        super::fifo::dead_letter(self.dead_letters.as_ref(), record, body, reason).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        assert_eq!(backoff_seconds(1, 0.0), 1);
        assert_eq!(backoff_seconds(1, 1.0), 2);
        assert_eq!(backoff_seconds(3, 1.0), 8);
        assert_eq!(backoff_seconds(10, 1.0), 900);
        assert!(backoff_seconds(4, 0.5) >= 8 && backoff_seconds(4, 0.5) <= 16);
    }
}
