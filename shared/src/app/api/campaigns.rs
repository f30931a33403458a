//! `/v1/campaigns` (supervisors): create, add recipients (JSON pages of up to 1,000, or a
//! CSV body of any size read in pages), start (now or at `schedule_at`), pause, resume,
//! cancel, and read progress and recipients. The sending itself is
//! [`crate::app::campaigns`]'s. Ports: campaigns, channels, queues, templates.

use super::request::{cursor_or_backend, field_error, page_limit, truncate};
use super::AgentApi;
use crate::app::auth::{valid_subject, Caller, Role};
use crate::app::campaigns::dispatch_timer;
use crate::app::events;
use crate::app::http::{json, valid_id, ApiError, ApiResult};
use crate::app::ids::new_id;
use crate::domain::campaign::{
    self, Campaign, CampaignError, CampaignStatus, Counters, PauseReason, Recipient,
    RecipientStatus, ReplyTarget, TemplateRef,
};
use crate::ports::{Effects, WriteOutcome};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::{json, Value};

/// Recipients in one JSON request; a CSV body may hold any number.
const MAX_JSON_RECIPIENTS: usize = 1000;
/// CSV rows handed to the store at a time.
const CSV_PAGE: usize = 1000;
/// Bad lines reported back at most (the count is always exact).
const MAX_REPORTED: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    channel: String,
    template: TemplateRef,
    target: TargetRequest,
    #[serde(default)]
    schedule_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    rate_per_second: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRequest {
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    agent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientsRequest {
    recipients: Vec<RecipientLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientLine {
    phone: String,
    #[serde(default)]
    parameters: Vec<String>,
}

fn campaign_error(e: CampaignError) -> ApiError {
    let code = match e {
        CampaignError::WrongStatus { .. } => "campaign_status",
        CampaignError::NoRecipients => "no_recipients",
    };
    ApiError::conflict(code, e.to_string())
}

/// What a campaign looks like from outside: its counters, the rate, when it should end.
fn view(c: &Campaign, now: i64) -> Value {
    let mut v = json!(c);
    if let Some(o) = v.as_object_mut() {
        o.remove("dispatch_cursor");
        o.remove("dispatch_due");
        o.remove("progress_slot");
    }
    let eta = (c.status == CampaignStatus::Sending && c.rate_per_second > 0)
        .then(|| now + (c.counters.pending as i64 * 1000) / i64::from(c.rate_per_second));
    v["eta"] = json!(eta);
    v
}

impl AgentApi {
    /// The campaign's template, refused unless Meta approved it (422
    /// `template_not_approved`), as an agent's start would be.
    async fn sendable_template(
        &self,
        channel: &str,
        choice: &super::request::TemplateChoice,
    ) -> Result<crate::domain::template::Template, ApiError> {
        let t = self.approved_template(channel, choice).await?;
        if !t.is_approved() {
            return Err(field_error(
                "template_not_approved",
                "template",
                format!(
                    "template {} ({}) is {}; only APPROVED templates can be sent",
                    t.name, t.language, t.status
                ),
            ));
        }
        Ok(t)
    }

    fn supervisor(who: &Caller) -> Result<(), ApiError> {
        if who.role == Role::Supervisor {
            Ok(())
        } else {
            Err(ApiError::forbidden("campaigns are run by supervisors"))
        }
    }

    pub(super) async fn load_campaign(&self, id: &str) -> Result<Campaign, ApiError> {
        if !valid_id(id) {
            return Err(ApiError::not_found(format!("campaign {id:.64} not found")));
        }
        self.campaigns
            .campaign(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("campaign {id} not found")))
    }

    /// `POST /v1/campaigns`: a draft campaign.
    pub(super) async fn create_campaign(&self, req: &Request, who: &Caller) -> ApiResult {
        Self::supervisor(who)?;
        let body: CreateRequest = super::request::parse_body(req)?;
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(field_error(
                "invalid_field",
                "name",
                "name must be 1 to 100 characters",
            ));
        }
        let channel = self.channel(&body.channel).await?;
        if !channel.outbound_enabled {
            return Err(field_error(
                "channel_not_allowed",
                "channel",
                format!(
                    "channel {} does not allow starting conversations",
                    channel.id
                ),
            ));
        }
        let choice = super::request::TemplateChoice {
            name: body.template.name.clone(),
            language: body.template.language.clone(),
            parameters: Vec::new(),
        };
        choice.check()?;
        self.sendable_template(&channel.id, &choice).await?;
        let target = match (body.target.queue, body.target.agent) {
            (Some(q), None) => {
                if !valid_id(&q) || self.queues.queue(&q).await?.is_none() {
                    return Err(field_error(
                        "unknown_queue",
                        "target.queue",
                        format!("queue {} does not exist", truncate(&q, 64)),
                    ));
                }
                ReplyTarget::Queue(q)
            }
            (None, Some(a)) if valid_subject(&a) => ReplyTarget::Agent(a),
            (None, Some(_)) => {
                return Err(field_error(
                    "invalid_agent",
                    "target.agent",
                    "target.agent must be an agent id: 1 to 128 letters, digits or -_.@:+",
                ))
            }
            _ => {
                return Err(field_error(
                    "invalid_field",
                    "target",
                    "target takes exactly one of \"queue\" or \"agent\"",
                ))
            }
        };
        let rate = body
            .rate_per_second
            .unwrap_or(channel.throughput_per_second);
        if rate == 0 || rate > channel.throughput_per_second {
            return Err(field_error(
                "invalid_field",
                "rate_per_second",
                format!(
                    "rate_per_second must be 1 to the channel's throughput ({})",
                    channel.throughput_per_second
                ),
            ));
        }
        let now = self.clock.now();
        let c = Campaign {
            id: new_id(now),
            name: name.to_owned(),
            channel: channel.id.clone(),
            template: body.template,
            target,
            schedule_at: body.schedule_at.map(|t| t.timestamp_millis()),
            rate_per_second: rate,
            status: CampaignStatus::Draft,
            paused_reason: None,
            failure_reason: None,
            counters: Counters::default(),
            created_at: now,
            created_by: who.sub.clone(),
            started_at: None,
            completed_at: None,
            dispatch_cursor: None,
            dispatch_due: None,
            progress_slot: None,
        };
        self.campaigns.create_campaign(&c).await?;
        tracing::info!(campaign_id = %c.id, channel = %c.channel, by = %who.sub, "campaign created");
        Ok(json(StatusCode::CREATED, &view(&c, now)))
    }

    pub(super) async fn list_campaigns(&self, req: &Request, who: &Caller) -> ApiResult {
        Self::supervisor(who)?;
        let params = req.query_string_parameters();
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .campaigns
            .campaigns(params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        let now = self.clock.now();
        let items: Vec<Value> = page.items.iter().map(|c| view(c, now)).collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    pub(super) async fn get_campaign(&self, who: &Caller, id: &str) -> ApiResult {
        Self::supervisor(who)?;
        let c = self.load_campaign(id).await?;
        Ok(json(StatusCode::OK, &view(&c, self.clock.now())))
    }

    /// `POST /v1/campaigns/{id}/recipients`: JSON or CSV; bad lines reported, none lost
    /// silently; a phone given twice counts once.
    pub(super) async fn add_recipients(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        Self::supervisor(who)?;
        let c = self.load_campaign(id).await?;
        if c.status != CampaignStatus::Draft {
            return Err(ApiError::conflict(
                "campaign_status",
                format!(
                    "recipients are added while the campaign is a draft (it is {:?})",
                    c.status
                ),
            ));
        }
        let expected = self
            .approved_template(
                &c.channel,
                &super::request::TemplateChoice {
                    name: c.template.name.clone(),
                    language: c.template.language.clone(),
                    parameters: Vec::new(),
                },
            )
            .await?
            .slots()
            .len();
        let is_csv = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/csv"));
        let lines: Vec<Line> = if is_csv {
            csv_lines(req.body().as_ref())?
        } else {
            let body: RecipientsRequest = super::request::parse_body(req)?;
            if body.recipients.len() > MAX_JSON_RECIPIENTS {
                return Err(field_error(
                    "too_many_recipients",
                    "recipients",
                    format!(
                        "at most {MAX_JSON_RECIPIENTS} recipients per request; send a CSV for more"
                    ),
                ));
            }
            body.recipients
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i + 1, Ok((r.phone, r.parameters))))
                .collect()
        };
        let now = self.clock.now();
        let mut seen = std::collections::HashSet::new();
        let (mut rejected, mut rejected_count, mut repeated) = (Vec::new(), 0usize, 0usize);
        let mut good = Vec::new();
        for (line, read) in lines {
            // An unreadable CSV line says so, not that its phone is wrong.
            let (phone, parameters) = match read {
                Ok(fields) => fields,
                Err(error) => {
                    rejected_count += 1;
                    if rejected.len() < MAX_REPORTED {
                        rejected.push(json!({"line": line, "error": error}));
                    }
                    continue;
                }
            };
            match campaign::check_recipient(&phone, &parameters, expected) {
                Ok(p) if !seen.insert(p.as_str().to_owned()) => repeated += 1,
                Ok(p) => good.push(Recipient {
                    campaign_id: c.id.clone(),
                    phone: p.as_str().to_owned(),
                    parameters,
                    status: RecipientStatus::Pending,
                    reason: None,
                    error_code: None,
                    conversation_id: None,
                    message_id: None,
                    wamid: None,
                    updated_at: now,
                }),
                Err(error) => {
                    rejected_count += 1;
                    if rejected.len() < MAX_REPORTED {
                        rejected.push(
                            json!({"line": line, "phone": truncate(&phone, 32), "error": error}),
                        );
                    }
                }
            }
        }
        let mut added = 0;
        for page in good.chunks(CSV_PAGE) {
            added += self.campaigns.add_recipients(&c.id, page).await?;
        }
        if added < good.len() as u64
            && self
                .campaigns
                .campaign(&c.id)
                .await?
                .is_some_and(|now| now.status != CampaignStatus::Draft)
        {
            // Started meanwhile: the rest were not added, and the caller must know.
            return Err(ApiError::conflict(
                "campaign_status",
                format!("the campaign left draft while recipients were added: {added} were added, the rest were not"),
            )
            .with_details(json!({ "added": added })));
        }
        let already = good.len() as u64 - added;
        tracing::info!(campaign_id = %c.id, added, rejected = rejected_count, "campaign recipients added");
        Ok(json(
            StatusCode::OK,
            &json!({
                "added": added,
                "already_in_campaign": already + repeated as u64,
                "rejected_count": rejected_count,
                "rejected": rejected,
            }),
        ))
    }

    pub(super) async fn list_recipients(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        Self::supervisor(who)?;
        let c = self.load_campaign(id).await?;
        let params = req.query_string_parameters();
        let status = match params.first("status") {
            Some(raw) => Some(super::request::enum_parameter::<RecipientStatus>(
                "status",
                raw,
                "pending, queued, skipped, sent, delivered, read, replied or failed",
            )?),
            None => None,
        };
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .campaigns
            .recipients(&c.id, status, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }

    /// `GET /v1/conversations?origin=campaign&campaign={id}`: the campaign's sessions (the
    /// manual's "grupo de campanhas"), in recipient order, those the caller may see.
    pub(super) async fn campaign_conversations(
        &self,
        req: &Request,
        who: &Caller,
        id: &str,
    ) -> ApiResult {
        let params = req.query_string_parameters();
        if params.first("origin").is_some_and(|o| o != "campaign") {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                "a campaign's conversations have origin campaign",
            ));
        }
        let c = self.load_campaign(id).await?;
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .campaigns
            .recipients(&c.id, None, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        let mut items = Vec::new();
        for r in &page.items {
            let Some(conversation_id) = &r.conversation_id else {
                continue;
            };
            if let Some(conversation) = self.conversations.conversation(conversation_id).await? {
                if super::access::authorize(who, &conversation).is_ok() {
                    items.push(conversation);
                }
            }
        }
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    /// `start`, `pause`, `resume`, `cancel`.
    pub(super) async fn campaign_action(&self, who: &Caller, id: &str, action: &str) -> ApiResult {
        Self::supervisor(who)?;
        let c = self.load_campaign(id).await?;
        let now = self.clock.now();
        if matches!(action, "start" | "resume") {
            // Templates can be disapproved after the campaign was created.
            self.sendable_template(
                &c.channel,
                &super::request::TemplateChoice {
                    name: c.template.name.clone(),
                    language: c.template.language.clone(),
                    parameters: Vec::new(),
                },
            )
            .await?;
        }
        let mut next = match action {
            "start" => campaign::start(&c, now),
            "pause" => campaign::pause(&c, PauseReason::Operator),
            "resume" => campaign::resume(&c, now),
            _ => campaign::cancel(&c),
        }
        .map_err(campaign_error)?;
        let mut effects = Effects::default();
        match next.status {
            CampaignStatus::Sending | CampaignStatus::Scheduled => {
                // A new live timer: whatever timer was armed before is stale now.
                let due = match next.status {
                    CampaignStatus::Scheduled => next.schedule_at.unwrap_or(now),
                    _ => now,
                };
                let due = if Some(due) == c.dispatch_due {
                    due + 1
                } else {
                    due
                };
                next.dispatch_due = Some(due);
                effects.timers.push(dispatch_timer(&next.id, due));
                if next.status == CampaignStatus::Sending && c.started_at.is_none() {
                    effects.events.push(events::campaign_started(&next));
                }
            }
            CampaignStatus::Cancelled => {
                next.completed_at = Some(now);
                effects.events.push(events::campaign_completed(&next));
            }
            _ => {}
        }
        match self
            .campaigns
            .move_campaign(&next, c.status, &effects)
            .await?
        {
            WriteOutcome::Committed => {
                tracing::info!(campaign_id = %next.id, action, by = %who.sub, status = ?next.status, "campaign moved");
                Ok(json(StatusCode::OK, &view(&next, now)))
            }
            _ => Err(ApiError::conflict(
                "concurrent_update",
                "the campaign changed meanwhile; read it again",
            )),
        }
    }
}

/// A recipient line as read: its number (1-based, the CSV header is line 1) and its
/// phone and parameters, or why it could not be read.
type Line = (usize, Result<(String, Vec<String>), String>);

/// A CSV body, `phone,param1,param2,...` with a header line.
fn csv_lines(body: &[u8]) -> Result<Vec<Line>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let header = reader
        .headers()
        .map_err(|e| {
            ApiError::unprocessable("invalid_csv", format!("the CSV header cannot be read: {e}"))
        })?
        .clone();
    if header.get(0).map(str::to_ascii_lowercase).as_deref() != Some("phone") {
        return Err(ApiError::unprocessable(
            "invalid_csv",
            "the CSV's first column must be `phone` (header: phone,param1,param2,...)",
        ));
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line numbers as a spreadsheet shows them: the header is line 1.
        let line = i + 2;
        match record {
            Ok(r) => {
                let mut fields = r.iter().map(str::to_owned);
                let phone = fields.next().unwrap_or_default();
                let parameters: Vec<String> = fields.filter(|f| !f.is_empty()).collect();
                if phone.is_empty() && parameters.is_empty() {
                    continue;
                }
                out.push((line, Ok((phone, parameters))));
            }
            Err(e) => out.push((line, Err(format!("unreadable line: {e}")))),
        }
    }
    Ok(out)
}
