//! The fake's HTTP API: Alpaca's documented routes and JSON, its authentication, and the faults
//! the connection front hands over in the `x-fake-fault` header.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State as Extract};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::state::{FakeOrder, Fault, State, asset_id};

/// The state handlers share.
pub type Shared = Arc<Mutex<State>>;

/// The header the connection front uses to hand a fault to this layer.
pub const FAULT_HEADER: &str = "x-fake-fault";

type Params = Query<HashMap<String, String>>;

fn error(status: u16, code: u64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).expect("valid status");
    (
        status,
        axum::Json(json!({ "code": code, "message": message })),
    )
        .into_response()
}

fn ok(value: Value) -> Response {
    axum::Json(value).into_response()
}

/// Alpaca's routes behind authentication and fault injection.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v2/account", get(account))
        .route("/v2/clock", get(clock))
        .route("/v2/calendar", get(calendar))
        .route("/v2/assets/{symbol}", get(asset))
        .route("/v2/positions", get(positions))
        .route("/v2/orders", get(list_orders).post(create_order))
        .route("/v2/orders:by_client_order_id", get(order_by_client_id))
        .route(
            "/v2/orders/{id}",
            get(get_order).delete(cancel_order).patch(replace_order),
        )
        .route("/v2/account/activities", get(activities))
        .route("/v2/account/activities/{kind}", get(activities))
        .route("/v2/stocks/{symbol}/bars", get(bars))
        .layer(from_fn_with_state(state.clone(), faults_and_auth))
        .with_state(state)
}

async fn faults_and_auth(
    Extract(state): Extract<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let (key_id, secret, fault_id) = {
        let header_value = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        (
            header_value("apca-api-key-id"),
            header_value("apca-api-secret-key"),
            header_value(FAULT_HEADER),
        )
    };
    let (authorised, fault) = {
        let mut state = state.lock().expect("fake state");
        let authorised = key_id.as_deref() == Some(state.key_id.as_str())
            && secret.as_deref() == Some(state.secret.as_str());
        let fault = fault_id
            .and_then(|id| id.parse().ok())
            .and_then(|id| state.unpark(id));
        (authorised, fault)
    };
    let mut response = if !authorised {
        error(401, 40110000, "request is not authorized")
    } else {
        match fault {
            Some(Fault::Status {
                status,
                code,
                message,
                retry_after,
            }) => {
                let mut response = error(status, code, &message);
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                }
                response
            }
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                next.run(request).await
            }
            Some(Fault::HoldAfterCreate(delay)) => {
                let response = next.run(request).await;
                tokio::time::sleep(delay).await;
                response
            }
            // The connection front handles dropped connections itself.
            Some(Fault::Drop | Fault::DropAfterProcessing) | None => next.run(request).await,
        }
    };
    // One request per connection, so the front sees (and can fault) every request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A JSON body whatever its Content-Type: apca sends none, and Alpaca does not insist.
fn json_body(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice(bytes).ok()
}

fn decimal(value: Option<&Value>) -> Option<Decimal> {
    match value? {
        Value::String(text) => Decimal::from_str(text).ok(),
        Value::Number(number) => Decimal::from_str(&number.to_string()).ok(),
        _ => None,
    }
}

async fn account(Extract(state): Extract<Shared>) -> Response {
    let state = state.lock().expect("fake state");
    let (long, short) = state.market_values();
    let equity = state.cash + long + short;
    ok(json!({
        "id": "904837e3-3b76-47ec-b432-046db621571b",
        "account_number": "PA3FAKE00001",
        "status": "ACTIVE",
        "currency": "USD",
        "cash": state.cash.to_string(),
        "portfolio_value": equity.to_string(),
        "trade_suspended_by_user": false,
        "trading_blocked": false,
        "transfers_blocked": false,
        "account_blocked": false,
        "created_at": "2023-01-03T14:00:00Z",
        "shorting_enabled": true,
        "long_market_value": long.to_string(),
        "short_market_value": short.to_string(),
        "equity": equity.to_string(),
        "last_equity": "100000",
        "multiplier": "2",
        "buying_power": (equity * Decimal::TWO).max(Decimal::ZERO).to_string(),
        "initial_margin": "0",
        "maintenance_margin": "0",
        "daytrade_count": 0,
        "pattern_day_trader": false,
    }))
}

async fn clock(Extract(state): Extract<Shared>) -> Response {
    let now = state.lock().expect("fake state").clock_time;
    ok(json!({
        "timestamp": now,
        "is_open": true,
        "next_open": "2024-01-03T14:30:00Z",
        "next_close": "2024-01-02T21:00:00Z",
    }))
}

async fn calendar(Query(params): Params) -> Response {
    let date = |key: &str| {
        params
            .get(key)
            .and_then(|text| NaiveDate::from_str(text).ok())
    };
    let (Some(start), Some(end)) = (date("start"), date("end")) else {
        return error(422, 42210000, "start and end are required");
    };
    let days: Vec<Value> = start
        .iter_days()
        .take_while(|day| *day <= end)
        .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
        .map(|day| {
            // The day before Independence Day closes early, as on Alpaca's calendar.
            let close = if day.month() == 7 && day.day() == 3 {
                "13:00"
            } else {
                "16:00"
            };
            json!({ "date": day.to_string(), "open": "09:30", "close": close,
                    "session_open": "0400", "session_close": "2000" })
        })
        .collect();
    ok(Value::Array(days))
}

async fn asset(Extract(state): Extract<Shared>, Path(symbol): Path<String>) -> Response {
    let state = state.lock().expect("fake state");
    let Some((tradable, shortable)) = state.assets.get(&symbol).copied() else {
        return error(404, 40410000, "asset not found");
    };
    ok(json!({
        "id": asset_id(&symbol).to_string(),
        "class": "us_equity",
        "exchange": "NASDAQ",
        "symbol": symbol,
        "name": format!("{symbol} Inc."),
        "status": "active",
        "tradable": tradable,
        "marginable": true,
        "shortable": shortable,
        "easy_to_borrow": shortable,
        "fractionable": true,
    }))
}

async fn positions(Extract(state): Extract<Shared>) -> Response {
    let state = state.lock().expect("fake state");
    let list: Vec<Value> = state
        .positions
        .iter()
        .map(|(symbol, position)| {
            let price = state
                .last_price
                .get(symbol)
                .copied()
                .unwrap_or(position.average_entry);
            let quantity = position.quantity;
            let cost = quantity * position.average_entry;
            json!({
                "asset_id": asset_id(symbol).to_string(),
                "symbol": symbol,
                "exchange": "NASDAQ",
                "asset_class": "us_equity",
                "avg_entry_price": position.average_entry.round_dp(6).normalize().to_string(),
                "qty": quantity.to_string(),
                "qty_available": quantity.to_string(),
                "side": if quantity >= Decimal::ZERO { "long" } else { "short" },
                "market_value": (quantity * price).to_string(),
                "cost_basis": cost.to_string(),
                "unrealized_pl": (quantity * price - cost).round_dp(6).normalize().to_string(),
                "unrealized_plpc": "0",
                "unrealized_intraday_pl": "0",
                "unrealized_intraday_plpc": "0",
                "current_price": price.to_string(),
                "lastday_price": price.to_string(),
                "change_today": "0",
            })
        })
        .collect();
    ok(Value::Array(list))
}

async fn create_order(Extract(state): Extract<Shared>, body: axum::body::Bytes) -> Response {
    let Some(body) = json_body(&body) else {
        return error(400, 40010000, "request body is not JSON");
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let mut state = state.lock().expect("fake state");
    let client_order_id = text("client_order_id").unwrap_or_else(|| Uuid::new_v4().to_string());
    if state
        .orders
        .iter()
        .any(|order| order.client_order_id == client_order_id)
    {
        return error(422, 40010001, "client_order_id must be unique");
    }
    let (Some(symbol), Some(side), Some(order_type), Some(quantity)) = (
        text("symbol"),
        text("side"),
        text("type"),
        decimal(body.get("qty")),
    ) else {
        return error(422, 40010000, "symbol, side, type and qty are required");
    };
    if !state.assets.contains_key(&symbol) {
        return error(422, 40010000, &format!("asset {symbol} not found"));
    }
    let now = Utc::now();
    let order = FakeOrder {
        id: Uuid::new_v4(),
        client_order_id,
        symbol,
        side,
        order_type,
        time_in_force: text("time_in_force").unwrap_or_else(|| "day".into()),
        quantity,
        limit_price: decimal(body.get("limit_price")),
        stop_price: decimal(body.get("stop_price")),
        status: "accepted".into(),
        filled_quantity: Decimal::ZERO,
        filled_notional: Decimal::ZERO,
        created_at: now,
        updated_at: now,
        filled_at: None,
        canceled_at: None,
        replaced_by: None,
        replaces: None,
    };
    let reply = order.json();
    state.orders.push(order);
    // Alpaca answers an order create with 200, not 201.
    ok(reply)
}

fn find(state: &State, id: &str) -> Option<Uuid> {
    let id = Uuid::parse_str(id).ok()?;
    state
        .orders
        .iter()
        .any(|order| order.id == id)
        .then_some(id)
}

async fn get_order(Extract(state): Extract<Shared>, Path(id): Path<String>) -> Response {
    let mut state = state.lock().expect("fake state");
    match find(&state, &id).and_then(|id| state.order_mut(id)) {
        Some(order) => ok(order.json()),
        None => error(404, 40410000, "order not found"),
    }
}

async fn order_by_client_id(Extract(state): Extract<Shared>, Query(params): Params) -> Response {
    let state = state.lock().expect("fake state");
    let wanted = params.get("client_order_id").cloned().unwrap_or_default();
    match state
        .orders
        .iter()
        .find(|order| order.client_order_id == wanted)
    {
        Some(order) => ok(order.json()),
        None => error(404, 40410000, &format!("order not found for {wanted}")),
    }
}

async fn cancel_order(Extract(state): Extract<Shared>, Path(id): Path<String>) -> Response {
    let mut state = state.lock().expect("fake state");
    let Some(order) = find(&state, &id).and_then(|id| state.order_mut(id)) else {
        return error(404, 40410000, "order not found");
    };
    if !order.is_open() {
        return error(422, 42210000, "order is not cancelable");
    }
    let now = Utc::now();
    order.status = "canceled".into();
    order.canceled_at = Some(now);
    order.updated_at = now;
    // Alpaca's quirk: a cancel request is answered 204 with an empty body.
    Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::empty())
        .expect("valid response")
}

async fn replace_order(
    Extract(state): Extract<Shared>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(body) = json_body(&body) else {
        return error(400, 40010000, "request body is not JSON");
    };
    let mut state = state.lock().expect("fake state");
    let Some(old_id) = find(&state, &id) else {
        return error(404, 40410000, "order not found");
    };
    let now = Utc::now();
    let old = state.order_mut(old_id).expect("found above");
    if !old.is_open() {
        return error(422, 42210000, "order is not replaceable");
    }
    let mut new = old.clone();
    new.id = Uuid::new_v4();
    new.client_order_id = body
        .get("client_order_id")
        .and_then(Value::as_str)
        .map_or_else(|| Uuid::new_v4().to_string(), str::to_owned);
    new.quantity = decimal(body.get("qty")).unwrap_or(old.quantity);
    new.limit_price = decimal(body.get("limit_price")).or(old.limit_price);
    new.stop_price = decimal(body.get("stop_price")).or(old.stop_price);
    if let Some(time_in_force) = body.get("time_in_force").and_then(Value::as_str) {
        new.time_in_force = time_in_force.to_owned();
    }
    new.status = "accepted".into();
    new.created_at = now;
    new.updated_at = now;
    new.replaces = Some(old_id);
    old.status = "replaced".into();
    old.replaced_by = Some(new.id);
    old.updated_at = now;
    let reply = new.json();
    state.orders.push(new);
    ok(reply)
}

// The early reply of a handler is a Response; its size does not matter in a test fake.
#[allow(clippy::result_large_err)]
fn time_param(
    params: &HashMap<String, String>,
    key: &str,
) -> Result<Option<DateTime<Utc>>, Response> {
    match params.get(key) {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|time| Some(time.with_timezone(&Utc)))
            .map_err(|_| error(422, 40010000, &format!("invalid {key}: {text}"))),
    }
}

async fn list_orders(Extract(state): Extract<Shared>, Query(params): Params) -> Response {
    let state = state.lock().expect("fake state");
    let (after, until) = match (time_param(&params, "after"), time_param(&params, "until")) {
        (Ok(after), Ok(until)) => (after, until),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    let status = params.get("status").map_or("open", String::as_str);
    let limit: usize = params
        .get("limit")
        .and_then(|text| text.parse().ok())
        .unwrap_or(50)
        .min(500);
    let ascending = params.get("direction").map(String::as_str) == Some("asc");
    let mut orders: Vec<&FakeOrder> = state
        .orders
        .iter()
        .filter(|order| match status {
            "open" => order.is_open(),
            "closed" => !order.is_open(),
            _ => true,
        })
        .filter(|order| after.is_none_or(|after| order.created_at > after))
        .filter(|order| until.is_none_or(|until| order.created_at < until))
        .collect();
    orders.sort_by_key(|order| order.created_at);
    if !ascending {
        orders.reverse();
    }
    ok(Value::Array(
        orders
            .into_iter()
            .take(limit)
            .map(FakeOrder::json)
            .collect(),
    ))
}

async fn activities(Extract(state): Extract<Shared>, Query(params): Params) -> Response {
    let state = state.lock().expect("fake state");
    let after = match time_param(&params, "after") {
        Ok(after) => after,
        Err(response) => return response,
    };
    let page_size: usize = params
        .get("page_size")
        .and_then(|text| text.parse().ok())
        .unwrap_or(100);
    let ascending = params.get("direction").map(String::as_str) == Some("asc");
    let mut fills: Vec<_> = state
        .fills
        .iter()
        .filter(|fill| after.is_none_or(|after| fill.time > after))
        .collect();
    if !ascending {
        fills.reverse();
    }
    if let Some(token) = params.get("page_token")
        && let Some(position) = fills.iter().position(|fill| &fill.id == token)
    {
        fills.drain(..=position);
    }
    ok(Value::Array(
        fills
            .into_iter()
            .take(page_size)
            .map(|fill| fill.json())
            .collect(),
    ))
}

async fn bars(
    Extract(state): Extract<Shared>,
    Path(symbol): Path<String>,
    Query(params): Params,
) -> Response {
    let state = state.lock().expect("fake state");
    let (start, end) = match (time_param(&params, "start"), time_param(&params, "end")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    if !matches!(
        params.get("timeframe").map(String::as_str),
        Some("1Min" | "1Hour" | "1Day")
    ) {
        return error(422, 42210000, "invalid timeframe");
    }
    let limit = params
        .get("limit")
        .and_then(|text| text.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(state.bars_page_size);
    let offset: usize = params
        .get("page_token")
        .and_then(|token| token.strip_prefix("page-"))
        .and_then(|number| number.parse().ok())
        .unwrap_or(0);
    let in_range: Vec<&Value> = state
        .bars
        .get(&symbol)
        .map(|bars| {
            bars.iter()
                .filter(|bar| {
                    let time = bar["t"]
                        .as_str()
                        .and_then(|text| DateTime::parse_from_rfc3339(text).ok());
                    time.is_some_and(|time| {
                        start.is_none_or(|start| time >= start) && end.is_none_or(|end| time <= end)
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let page: Vec<Value> = in_range
        .iter()
        .skip(offset)
        .take(limit)
        .map(|bar| (*bar).clone())
        .collect();
    let next = (offset + limit < in_range.len()).then(|| format!("page-{}", offset + limit));
    ok(json!({ "bars": page, "symbol": symbol, "next_page_token": next }))
}
