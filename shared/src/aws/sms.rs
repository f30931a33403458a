//! AWS End User Messaging SMS (`pinpoint-sms-voice-v2`): the [`SmsProvider`] port on
//! `SendTextMessage`, and how its answers map to [`ProviderError`].
//!
//! The client runs without the SDK's own retries ([`crate::app::config::Clients::sms`]):
//! the API takes no client token, so an SDK retry after a 5xx or a timeout could deliver
//! an SMS twice; `hsm-send` decides instead (backoff for throttling, the reconcile delay
//! and the channel's `ambiguous_send` for an unknown outcome).

use crate::ports::{ProviderError, SmsProvider, SmsRequest, SMS_DESTINATION_OPTED_OUT};
use async_trait::async_trait;
use aws_sdk_pinpointsmsvoicev2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::SendTextMessageError;
use aws_sdk_pinpointsmsvoicev2::types::{ConflictExceptionReason, MessageType};

/// The `Context` key of a send: its value comes back in the send's delivery events
/// (`context.conversa`), as WhatsApp's `biz_opaque_callback_data` does.
pub const CONTEXT_KEY: &str = "conversa";

#[derive(Clone, Debug)]
pub struct AwsSms {
    client: aws_sdk_pinpointsmsvoicev2::Client,
    /// The configuration set whose event destinations receive the delivery events.
    configuration_set: Option<String>,
}

impl AwsSms {
    /// `configuration_set`: none or empty sends without one (no delivery events).
    pub fn new(
        client: aws_sdk_pinpointsmsvoicev2::Client,
        configuration_set: Option<String>,
    ) -> Self {
        Self {
            client,
            configuration_set: configuration_set.filter(|c| !c.trim().is_empty()),
        }
    }
}

#[async_trait]
impl SmsProvider for AwsSms {
    async fn send_text(&self, request: &SmsRequest) -> Result<String, ProviderError> {
        let answer = self
            .client
            .send_text_message()
            .origination_identity(&request.origination_identity)
            .destination_phone_number(&request.destination)
            .message_body(&request.body)
            .message_type(MessageType::Transactional)
            .set_configuration_set_name(self.configuration_set.clone())
            .context(CONTEXT_KEY, &request.callback_data)
            .send()
            .await
            .map_err(classify)?;
        match answer.message_id() {
            Some(id) if !id.is_empty() => Ok(id.to_owned()),
            // Accepted, but without the id its statuses will carry: as good as unknown.
            _ => Err(ProviderError::Ambiguous {
                code: None,
                message: "SendTextMessage answered without a MessageId".into(),
            }),
        }
    }
}

/// An SDK failure of `SendTextMessage` as the port sees it.
pub fn classify<R: std::fmt::Debug + 'static>(
    err: SdkError<SendTextMessageError, R>,
) -> ProviderError {
    match err {
        SdkError::ServiceError(e) => {
            let status = raw_status(e.raw());
            service_error(e.err(), status)
        }
        // Built but never sent (a missing field): sending it again would fail the same way.
        SdkError::ConstructionFailure(_) => ProviderError::Permanent {
            code: None,
            message: format!("SendTextMessage not built: {}", details(&err)),
        },
        // The attempt timed out: the request may have been written and accepted.
        SdkError::TimeoutError(_) => ProviderError::Ambiguous {
            code: None,
            message: format!("transport: {}", details(&err)),
        },
        SdkError::DispatchFailure(ref d) => {
            let message = format!("transport: {}", details(&err));
            if d.is_user() {
                // The request could not be put on the wire: it would fail the same way.
                ProviderError::Permanent {
                    code: None,
                    message,
                }
            } else if connection_refused(&err) {
                // Nothing reached the service: the connection was never made.
                ProviderError::Retryable {
                    code: None,
                    message,
                }
            } else {
                // A reset, a closed connection, an I/O error mid-request: maybe written.
                ProviderError::Ambiguous {
                    code: None,
                    message,
                }
            }
        }
        // An answer came but could not be read: it may have been an acceptance.
        _ => ProviderError::Ambiguous {
            code: None,
            message: format!("transport: {}", details(&err)),
        },
    }
}

/// A service error (with the answer's HTTP status, when known) as the port sees it:
/// throttling is retried, a 5xx is ambiguous (the service may have sent it), the rest
/// fails the message with the service's reason.
pub fn service_error(e: &SendTextMessageError, status: Option<u16>) -> ProviderError {
    use SendTextMessageError as E;
    let (kind, text, reason) = match e {
        E::ThrottlingException(x) => ("ThrottlingException", x.message(), None),
        E::InternalServerException(x) => ("InternalServerException", x.message(), None),
        E::ValidationException(x) => (
            "ValidationException",
            x.message(),
            x.reason().map(|r| r.as_str()),
        ),
        E::ConflictException(x) => (
            "ConflictException",
            x.message(),
            x.reason().map(|r| r.as_str()),
        ),
        E::AccessDeniedException(x) => (
            "AccessDeniedException",
            x.message(),
            x.reason().map(|r| r.as_str()),
        ),
        E::ResourceNotFoundException(x) => ("ResourceNotFoundException", x.message(), None),
        E::ServiceQuotaExceededException(x) => (
            "ServiceQuotaExceededException",
            x.message(),
            x.reason().map(|r| r.as_str()),
        ),
        _ => (e.code().unwrap_or("UnknownError"), e.message(), None),
    };
    let text = text.unwrap_or("no message");
    let message = match reason {
        Some(reason) => format!("{kind} ({reason}): {text}"),
        None => format!("{kind}: {text}"),
    };
    match e {
        SendTextMessageError::ThrottlingException(_) => ProviderError::Retryable {
            code: None,
            message,
        },
        SendTextMessageError::InternalServerException(_) => ProviderError::Ambiguous {
            code: None,
            message,
        },
        SendTextMessageError::ConflictException(c)
            if c.reason() == Some(&ConflictExceptionReason::DestinationPhoneNumberOptedOut) =>
        {
            ProviderError::Permanent {
                code: Some(SMS_DESTINATION_OPTED_OUT),
                message,
            }
        }
        SendTextMessageError::ValidationException(_)
        | SendTextMessageError::ConflictException(_)
        | SendTextMessageError::AccessDeniedException(_)
        | SendTextMessageError::ResourceNotFoundException(_)
        | SendTextMessageError::ServiceQuotaExceededException(_) => ProviderError::Permanent {
            code: None,
            message,
        },
        // An error this SDK does not know: by its status, as the Graph API's.
        _ => match status {
            Some(429) => ProviderError::Retryable {
                code: None,
                message,
            },
            Some(s) if s >= 500 => ProviderError::Ambiguous {
                code: None,
                message,
            },
            Some(_) => ProviderError::Permanent {
                code: None,
                message,
            },
            None => ProviderError::Ambiguous {
                code: None,
                message,
            },
        },
    }
}

/// The HTTP status of a raw answer, when it is an HTTP response.
fn raw_status<R: 'static>(raw: &R) -> Option<u16> {
    (raw as &dyn std::any::Any)
        .downcast_ref::<aws_sdk_pinpointsmsvoicev2::config::http::HttpResponse>()
        .map(|r| r.status().as_u16())
}

/// Was the connection refused (nothing was written)? An I/O error of that kind anywhere
/// in the error's chain.
fn connection_refused<R: std::fmt::Debug + 'static>(
    err: &SdkError<SendTextMessageError, R>,
) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// The error and its causes, in one line.
fn details<E: std::error::Error>(err: &E) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_pinpointsmsvoicev2::error::ConnectorError;
    use aws_sdk_pinpointsmsvoicev2::types::error::{
        AccessDeniedException, ConflictException, InternalServerException,
        ResourceNotFoundException, ServiceQuotaExceededException, ThrottlingException,
        ValidationException,
    };
    use aws_sdk_pinpointsmsvoicev2::types::ValidationExceptionReason;

    fn classified(e: SendTextMessageError) -> ProviderError {
        service_error(&e, Some(400))
    }

    #[test]
    fn throttling_is_retried() {
        let e = ThrottlingException::builder()
            .message("Rate exceeded")
            .build();
        assert_eq!(
            classified(SendTextMessageError::ThrottlingException(e)),
            ProviderError::Retryable {
                code: None,
                message: "ThrottlingException: Rate exceeded".into()
            }
        );
    }

    #[test]
    fn an_internal_server_error_is_ambiguous() {
        let e = InternalServerException::builder().message("boom").build();
        assert!(matches!(
            service_error(&SendTextMessageError::InternalServerException(e), Some(500)),
            ProviderError::Ambiguous { code: None, .. }
        ));
    }

    #[test]
    fn validation_conflict_access_not_found_and_quota_fail_the_message_with_their_reason() {
        let cases = [
            SendTextMessageError::ValidationException(
                ValidationException::builder()
                    .message("Invalid destination")
                    .reason(ValidationExceptionReason::InvalidParameter)
                    .build(),
            ),
            SendTextMessageError::ConflictException(
                ConflictException::builder()
                    .message("wrong type")
                    .reason(ConflictExceptionReason::MessageTypeMismatch)
                    .build(),
            ),
            SendTextMessageError::AccessDeniedException(
                AccessDeniedException::builder().message("no").build(),
            ),
            SendTextMessageError::ResourceNotFoundException(
                ResourceNotFoundException::builder()
                    .message("no such number")
                    .build(),
            ),
            SendTextMessageError::ServiceQuotaExceededException(
                ServiceQuotaExceededException::builder()
                    .message("monthly spend")
                    .build(),
            ),
        ];
        let messages: Vec<String> = cases
            .into_iter()
            .map(|e| match classified(e) {
                ProviderError::Permanent {
                    code: None,
                    message,
                } => message,
                other => panic!("not a plain permanent failure: {other:?}"),
            })
            .collect();
        assert_eq!(
            messages,
            [
                "ValidationException (INVALID_PARAMETER): Invalid destination",
                "ConflictException (MESSAGE_TYPE_MISMATCH): wrong type",
                "AccessDeniedException: no",
                "ResourceNotFoundException: no such number",
                "ServiceQuotaExceededException: monthly spend",
            ]
        );
    }

    #[test]
    fn a_destination_that_opted_out_fails_with_the_opted_out_code() {
        let e = ConflictException::builder()
            .message("The destination phone number is opted out")
            .reason(ConflictExceptionReason::DestinationPhoneNumberOptedOut)
            .build();
        match classified(SendTextMessageError::ConflictException(e)) {
            ProviderError::Permanent { code, message } => {
                assert_eq!(code, Some(SMS_DESTINATION_OPTED_OUT));
                assert!(
                    message.contains("DESTINATION_PHONE_NUMBER_OPTED_OUT"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_service_error_goes_by_its_status() {
        let unknown = |status| {
            let meta = aws_sdk_pinpointsmsvoicev2::error::ErrorMetadata::builder()
                .code("SomethingNewException")
                .message("new")
                .build();
            service_error(&SendTextMessageError::generic(meta), status)
        };
        assert!(matches!(
            unknown(Some(429)),
            ProviderError::Retryable { .. }
        ));
        assert!(matches!(
            unknown(Some(503)),
            ProviderError::Ambiguous { .. }
        ));
        assert!(matches!(
            unknown(Some(400)),
            ProviderError::Permanent { .. }
        ));
    }

    type Err = SdkError<SendTextMessageError, ()>;

    #[test]
    fn a_timeout_after_the_request_went_out_is_ambiguous() {
        let e: Err = SdkError::timeout_error("attempt timeout");
        assert!(matches!(classify(e), ProviderError::Ambiguous { .. }));
    }

    #[test]
    fn a_refused_connection_is_retried_and_other_dispatch_failures_are_ambiguous() {
        let refused: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        )));
        assert!(matches!(classify(refused), ProviderError::Retryable { .. }));
        let reset: Err = SdkError::dispatch_failure(ConnectorError::io(Box::new(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        )));
        assert!(matches!(classify(reset), ProviderError::Ambiguous { .. }));
        let other: Err =
            SdkError::dispatch_failure(ConnectorError::other("h2 went away".into(), None));
        assert!(matches!(classify(other), ProviderError::Ambiguous { .. }));
    }

    #[test]
    fn a_request_that_could_not_be_built_fails_without_a_retry() {
        let e: Err = SdkError::construction_failure("OriginationIdentity is missing");
        assert!(matches!(classify(e), ProviderError::Permanent { .. }));
    }

    /// The client against a port nothing listens on: the connection is refused.
    #[tokio::test]
    async fn a_send_to_a_closed_port_is_retryable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let config = aws_sdk_pinpointsmsvoicev2::Config::builder()
            .behavior_version(aws_sdk_pinpointsmsvoicev2::config::BehaviorVersion::latest())
            .region(aws_sdk_pinpointsmsvoicev2::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_pinpointsmsvoicev2::config::Credentials::new(
                "key", "secret", None, None, "test",
            ))
            .http_client(crate::aws::http_client())
            .retry_config(aws_sdk_pinpointsmsvoicev2::config::retry::RetryConfig::disabled())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .build();
        let sms = AwsSms::new(aws_sdk_pinpointsmsvoicev2::Client::from_conf(config), None);
        let answer = sms
            .send_text(&SmsRequest {
                origination_identity: "+554830000099".into(),
                destination: "+5548999990000".into(),
                body: "oi".into(),
                callback_data: "conversa:c:MSG#1".into(),
            })
            .await;
        assert!(
            matches!(answer, Err(ProviderError::Retryable { .. })),
            "{answer:?}"
        );
    }
}
