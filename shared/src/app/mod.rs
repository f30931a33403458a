//! Use cases and Lambda handlers. Handlers are plain library functions that tests call
//! directly with sample events; each function's `main.rs` only builds clients once.
//!
//! | module | owns |
//! |---|---|
//! | [`webhook`] | `webhook`: signature check, split, enqueue to `inbound.fifo` |
//! | [`sms_inbound`] | `sms-inbound`: SMS notifications (SNS) read and enqueued to `inbound.fifo` |
//! | [`inbound`] | `inbound`: apply messages and statuses, route, follow-ups |
//! | [`api`] | `agent-api` and `window-check`: one module per HTTP resource |
//! | [`outbound`] | `hsm-send`: one send per outbound message to the Graph API |
//! | [`timers`] | `handoff-timeout`: wait, inactivity, grouping, no-reply and campaign timers |
//! | [`assignment`] | `assigner`: automatic assignment, catch-up, reassignment, queue notices |
//! | [`notifier`] | `notifier`: events pushed to the WebSocket connections that may see them |
//! | [`sockets`] | `ws-connect`: the WebSocket's `$connect` (token check) and `$disconnect` |
//! | [`presence`] | who is online: WebSocket connects and disconnects, the agent's status |
//! | [`expiry`] | `auto-expiry`: the sweeper over the expiry index |
//! | [`templates`] | `template-sync`: the catalogue from the Graph API |
//! | [`relay`] | `event-relay`: the outbox, from the table's stream to the bus, queues, timers |
//! | [`channel_cache`] | channel settings cached per instance for `inbound` and `hsm-send` |
//! | [`closing`] | lazy expiry and the closing message, shared by api, timers, expiry |
//! | [`history`], [`ids`], [`outbound_item`], [`events`], [`fifo`], [`http`], [`auth`] | shared pieces, imported downward only |
//! | [`config`], [`functions`] | settings, clients and wiring: each function's ports |
//! | [`logging`] | the functions' log subscriber (Lambda's log level and format) |
//! | [`metrics`] | business and health metrics as CloudWatch EMF lines (docs/metrics.md) |

pub mod api;
pub mod assignment;
pub mod auth;
pub mod campaigns;
pub mod channel_cache;
pub mod closing;
pub mod config;
pub mod events;
pub mod expiry;
pub mod fifo;
pub mod functions;
pub mod history;
pub mod http;
pub mod ids;
pub mod inbound;
pub mod logging;
pub mod metrics;
pub mod notifier;
pub mod outbound;
pub mod outbound_item;
pub mod presence;
pub mod relay;
pub mod sms_inbound;
pub mod sockets;
pub mod templates;
pub mod timers;
pub mod webhook;

pub use api::AgentApi;
pub use inbound::Inbound;
pub use webhook::Webhook;
