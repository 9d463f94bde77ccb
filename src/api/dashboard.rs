//! The dashboard at `/`: static files compiled into the binary (no front-end build is needed to
//! run it). The page reads the API with the operator's key and follows the event stream.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ApiState;

/// One embedded file.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The page holds an API key in memory: no framing by other sites, no sniffing, no referrer.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    response
}

/// The dashboard's routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/",
            get(|| async {
                asset(
                    "text/html; charset=utf-8",
                    include_str!("../../dashboard/index.html"),
                )
            }),
        )
        .route(
            "/assets/app.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../dashboard/app.js"),
                )
            }),
        )
        .route(
            "/assets/app.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../dashboard/app.css"),
                )
            }),
        )
        .route(
            "/assets/uPlot.iife.min.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../dashboard/vendor/uPlot.iife.min.js"),
                )
            }),
        )
        .route(
            "/assets/uPlot.min.css",
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_str!("../../dashboard/vendor/uPlot.min.css"),
                )
            }),
        )
}
