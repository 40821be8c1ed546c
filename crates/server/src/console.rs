//! The web console: one HTML page, one script and one style sheet, compiled into the
//! binary and served unsigned at `/console`, like `/metrics`. The page holds no data and
//! no secret: the browser signs each call to `/` itself (V3, with WebCrypto), with the
//! AccessKey the user typed, kept in the tab's sessionStorage. So the server sees the
//! console as one more V3 client, and every call is authenticated, authorised and
//! audited exactly as an SDK's would be.
//!
//! The Content-Security-Policy allows only these same-origin files and calls to this
//! origin: no inline script or style, no other host, no framing.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("../console/index.html");
const APP_JS: &str = include_str!("../console/app.js");
const STYLE_CSS: &str = include_str!("../console/style.css");

/// What the page may load and reach: itself, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, merged into the server's router.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/app.js", get(app_js))
        .route("/console/style.css", get(style_css))
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    // The files change only with the binary; revalidating each load keeps an upgraded
    // server from running an old script against a new API.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> (u16, String, String, String) {
        let response = routes::<()>().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let text = |name| response.headers().get(name).map(|v: &HeaderValue| v.to_str().unwrap().to_string()).unwrap_or_default();
        let (kind, csp) = (text(header::CONTENT_TYPE), text(header::CONTENT_SECURITY_POLICY));
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, kind, csp, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn pages_are_served_with_their_types_and_policy() {
        for (path, kind) in [
            ("/console", "text/html"),
            ("/console/", "text/html"),
            ("/console/app.js", "text/javascript"),
            ("/console/style.css", "text/css"),
        ] {
            let (status, got, csp, body) = get(path).await;
            assert_eq!(status, 200, "{path}");
            assert!(got.starts_with(kind), "{path}: {got}");
            assert!(csp.starts_with("default-src 'self'"), "{path}: {csp}");
            assert!(!body.is_empty(), "{path}");
        }
        assert_eq!(get("/console/other.js").await.0, 404);
    }

    #[test]
    fn the_page_has_no_inline_script_or_handler() {
        // The policy forbids them; one would silently not run.
        let lower = INDEX_HTML.to_ascii_lowercase();
        assert!(!lower.contains("<script>"), "inline script");
        assert!(!lower.contains(" onclick=") && !lower.contains(" onsubmit=") && !lower.contains(" onload="), "inline handler");
        assert!(!lower.contains(" style="), "inline style");
        assert!(INDEX_HTML.contains(r#"<script src="/console/app.js""#));
        assert!(INDEX_HTML.contains(r#"href="/console/style.css""#));
    }
}
