//! The log subscriber of every function: Lambda's advanced logging controls as
//! `lambda_runtime::tracing::init_default_subscriber` reads them (`AWS_LAMBDA_LOG_LEVEL`,
//! else `RUST_LOG`, else INFO; JSON when `AWS_LAMBDA_LOG_FORMAT` is `JSON`), filtered by
//! `tracing-subscriber`'s `Targets` rather than `EnvFilter`. `Targets` takes the same
//! `target=level` directives; what it lacks (span and field filters) is what pulled a
//! regex engine into every binary (about 0.3 MB each, issue 16).

use tracing_subscriber::filter::{LevelFilter, Targets};

/// The filter from the two variables' values. A directive list that does not parse is
/// ignored rather than failing the start: logs at the default level beat no function.
pub fn filter(lambda_log_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let directives = rust_log
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_default();
    let default = lambda_log_level
        .map(level)
        .or_else(|| directives.default_level())
        .unwrap_or(LevelFilter::INFO);
    directives.with_default(default)
}

/// Lambda's level names; FATAL, which `tracing` does not have, is ERROR.
fn level(name: &str) -> LevelFilter {
    if name.eq_ignore_ascii_case("fatal") {
        return LevelFilter::ERROR;
    }
    name.parse().unwrap_or(LevelFilter::INFO)
}

/// Installs the subscriber (once, at a function's start).
pub fn init() {
    let var = |name: &str| std::env::var(name).ok();
    let filter = filter(
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
        var("RUST_LOG").as_deref(),
    );
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stdout);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = if json {
        logs.json().finish().with(filter).try_init()
    } else {
        logs.finish().with(filter).try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(f: &Targets, target: &str, level: Level) -> bool {
        f.would_enable(target, &level)
    }

    #[test]
    fn lambda_s_log_level_wins_over_rust_log_and_info_is_the_default() {
        let f = filter(Some("DEBUG"), Some("warn"));
        assert!(enabled(&f, "conversa::app", Level::DEBUG));
        assert!(!enabled(&f, "conversa::app", Level::TRACE));
        let f = filter(None, Some("warn"));
        assert!(!enabled(&f, "conversa::app", Level::INFO));
        let f = filter(None, None);
        assert!(enabled(&f, "conversa::app", Level::INFO));
        assert!(!enabled(&f, "conversa::app", Level::DEBUG));
        assert!(enabled(&filter(Some("FATAL"), None), "x", Level::ERROR));
        assert!(!enabled(&filter(Some("FATAL"), None), "x", Level::WARN));
    }

    #[test]
    fn rust_log_directives_set_levels_per_target() {
        let f = filter(
            Some("INFO"),
            Some("aws_smithy_runtime=debug,conversa=trace"),
        );
        assert!(enabled(&f, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(enabled(&f, "conversa::app::inbound", Level::TRACE));
        assert!(!enabled(&f, "hyper", Level::DEBUG));
        assert!(enabled(&f, "hyper", Level::INFO));
    }

    #[test]
    fn a_rust_log_that_does_not_parse_leaves_the_default() {
        let f = filter(None, Some("conversa=loud"));
        assert!(enabled(&f, "conversa", Level::INFO));
        assert!(!enabled(&f, "conversa", Level::DEBUG));
    }
}
