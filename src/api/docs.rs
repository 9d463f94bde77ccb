//! The OpenAPI document's frame: title, version, the bearer security scheme and the tags. The
//! paths and schemas come from the handlers' own annotations.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tradehost",
        description = "The API of the tradehost daemon: flows and runs, scripts, the account, orders and fills, pairs, risk and the kill switch, performance and backtests, and a live event stream. Reads need a read or admin key; every mutation needs an admin key (`Authorization: Bearer KEY`)."
    ),
    modifiers(&BearerScheme),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "flows", description = "Deployments and their runs"),
        (name = "scripts", description = "Script versions, reload errors and validation"),
        (name = "trading", description = "Account, positions, orders and fills"),
        (name = "risk", description = "Limits, state, decisions and the kill switch"),
        (name = "pairs", description = "Spreads, signals and per-pair performance"),
        (name = "backtests", description = "Submit backtests and read their results"),
        (name = "operations", description = "Metrics and the live event stream"),
    )
)]
struct Frame;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key: from TRADEHOST_ADMIN_KEY / TRADEHOST_READ_KEY, or the generated admin key in data/api-key",
                    ))
                    .build(),
            ),
        );
    }
}

/// The frame, with the crate's version.
pub fn base() -> utoipa::openapi::OpenApi {
    let mut document = Frame::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}
