//! The agent console (`console/` in the repository: static HTML, JS and CSS, no build
//! step) served by the local stack at `/console/`, as any static host would serve it.

use axum::{
    extract::Path,
    http::{header, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

/// `/console` → `/console/`, so the page's relative links resolve.
pub async fn redirect() -> Redirect {
    Redirect::permanent("/console/")
}

pub async fn index() -> Response {
    file(Path("index.html".to_owned())).await
}

/// One file of `console/`; nothing outside it, no directory listing.
pub async fn file(Path(path): Path<String>) -> Response {
    let safe = !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.'));
    if !safe {
        return StatusCode::NOT_FOUND.into_response();
    }
    let full = crate::repo_root().join("console").join(&path);
    match tokio::fs::read(&full).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, content_type(&path)),
                // A development server: always the file as it is now.
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_outside_the_console_folder_is_served() {
        for path in ["../Cargo.toml", "a/../../Cargo.toml", ".git/config", ""] {
            let r = file(Path(path.to_owned())).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
    }
}
