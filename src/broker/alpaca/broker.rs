//! [`AlpacaBroker`]: the [`Broker`] trait over apca, with timeouts, retries and duplicate-proof
//! submission.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use apca::api::v2::{account, account_activities, asset, calendar, clock, order, positions};
use apca::{ApiInfo, Client};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use http_endpoint::Endpoint;

use super::credentials::Credentials;
use super::orders_after::{ListOrders, OrdersQuery, PAGE_LIMIT};
use super::retry::RetryPolicy;
use super::{convert, endpoints, errors};
use crate::broker::{
    Account, Asset, Broker, BrokerError, BrokerOrder, BrokerPosition, CalendarDay, Execution,
    MarketClock, NewOrder, Replacement,
};
use crate::config::AlpacaConfig;
use crate::domain::{ClientOrderId, OrderStatus, Symbol};

/// Alpaca's largest page of account activities.
const ACTIVITY_PAGE: usize = 100;

/// Alpaca's `after` filters are exclusive; the trait's are inclusive, so queries start a tick
/// earlier and the results are filtered exactly.
const ONE_TICK: TimeDelta = TimeDelta::microseconds(1);

/// The Alpaca broker (paper unless configured live).
#[derive(Debug)]
pub struct AlpacaBroker {
    client: Client,
    policy: RetryPolicy,
}

impl AlpacaBroker {
    /// Connects to `config.trading_url` with `credentials`. A live endpoint is refused unless
    /// `config.live` is set.
    pub fn new(config: &AlpacaConfig, credentials: &Credentials) -> Result<Self, BrokerError> {
        let url = endpoints::trading_url(&config.trading_url, config.live)?;
        let info = ApiInfo::from_parts(url.as_str(), credentials.key_id(), credentials.secret())
            .map_err(|error| BrokerError::Rejected {
                reason: format!("broker.alpaca.trading_url {url}: {error}"),
            })?;
        Ok(Self {
            client: Client::new(info),
            policy: RetryPolicy::from_config(config),
        })
    }

    /// As [`AlpacaBroker::new`], with the keys from `APCA_API_KEY_ID` and `APCA_API_SECRET_KEY`.
    pub fn from_env(config: &AlpacaConfig) -> Result<Self, BrokerError> {
        Self::new(config, &Credentials::from_env()?)
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// One request under the timeout, errors sorted.
    async fn issue<R>(&self, what: &str, input: &R::Input) -> Result<R::Output, BrokerError>
    where
        R: Endpoint,
        R::Error: Into<http_endpoint::Error<R::ConversionError>>,
    {
        self.policy
            .timed(what, async {
                self.client
                    .issue::<R>(input)
                    .await
                    .map_err(errors::from_request)
            })
            .await
    }

    /// A request that is safe to repeat, retried on transient failures.
    async fn read<R>(&self, what: &str, input: &R::Input) -> Result<R::Output, BrokerError>
    where
        R: Endpoint,
        R::Error: Into<http_endpoint::Error<R::ConversionError>>,
    {
        self.policy
            .run(what, BrokerError::is_transient, || {
                self.issue::<R>(what, input)
            })
            .await
    }

    /// One lookup by client order id, not retried: the submit loop retries around it.
    async fn find_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<BrokerOrder>, BrokerError> {
        let id = client_order_id.as_str().to_owned();
        match self
            .issue::<order::GetByClientId>("look up an order by client id", &id)
            .await
        {
            Ok(order) => convert::order(&order).map(Some),
            Err(BrokerError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One submission attempt. `in_doubt` says whether an earlier attempt may have created the
    /// order; if so Alpaca is asked first, so a retry never makes a second order.
    async fn submit_once(
        &self,
        request: &order::CreateReq,
        client_order_id: &ClientOrderId,
        in_doubt: &AtomicBool,
    ) -> Result<BrokerOrder, BrokerError> {
        if in_doubt.load(Ordering::SeqCst)
            && let Some(existing) = self.find_by_client_id(client_order_id).await?
        {
            tracing::info!(client_order_id = %client_order_id, "found the order an unanswered submission created");
            return Ok(existing);
        }
        // Until Alpaca answers, the order may exist: a timeout or a dropped connection leaves the
        // flag set, so the next attempt looks before it sends.
        in_doubt.store(true, Ordering::SeqCst);
        match self
            .issue::<order::Create>("submit an order", request)
            .await
        {
            Ok(order) => convert::order(&order),
            Err(error @ BrokerError::Unavailable(_)) => Err(error),
            Err(BrokerError::DuplicateClientOrderId(message)) => {
                in_doubt.store(false, Ordering::SeqCst);
                // Alpaca has an order with this id: an earlier attempt (or an earlier life of the
                // host) sent it. That order is the answer.
                match self.find_by_client_id(client_order_id).await? {
                    Some(existing) => Ok(existing),
                    None => Err(BrokerError::DuplicateClientOrderId(message)),
                }
            }
            Err(error) => {
                // Any other reply means Alpaca saw the request and did not create the order
                // (429 included: rate-limited requests are not processed).
                in_doubt.store(false, Ordering::SeqCst);
                Err(error)
            }
        }
    }

    /// Lists orders page by page from `after` (inclusive), oldest first.
    async fn list_orders_after(
        &self,
        status: &'static str,
        after: DateTime<Utc>,
    ) -> Result<Vec<BrokerOrder>, BrokerError> {
        let mut orders = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = after - ONE_TICK;
        loop {
            let query = OrdersQuery {
                status,
                after: Some(cursor),
            };
            let page = self.read::<ListOrders>("list orders", &query).await?;
            let full = page.len() >= PAGE_LIMIT;
            let mut added = false;
            for order in &page {
                let order = convert::order(order)?;
                if order.submitted_at >= after && seen.insert(order.broker_order_id.clone()) {
                    cursor = cursor.max(order.submitted_at - ONE_TICK);
                    orders.push(order);
                    added = true;
                }
            }
            // A page of orders all submitted in the same microsecond would repeat forever;
            // stopping when nothing is new ends that too.
            if !full || !added {
                return Ok(orders);
            }
        }
    }
}

#[async_trait]
impl Broker for AlpacaBroker {
    fn name(&self) -> &'static str {
        "alpaca"
    }

    async fn clock(&self) -> Result<MarketClock, BrokerError> {
        let clock = self.read::<clock::Get>("read the clock", &()).await?;
        Ok(convert::market_clock(&clock))
    }

    async fn calendar(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CalendarDay>, BrokerError> {
        let request = convert::calendar_request(from, to);
        let days = self
            .read::<calendar::List>("read the calendar", &request)
            .await?;
        days.iter().map(convert::calendar_day).collect()
    }

    async fn account(&self) -> Result<Account, BrokerError> {
        let account = self.read::<account::Get>("read the account", &()).await?;
        convert::account(&account)
    }

    async fn positions(&self) -> Result<Vec<BrokerPosition>, BrokerError> {
        let positions = self.read::<positions::List>("list positions", &()).await?;
        positions.iter().map(convert::position).collect()
    }

    async fn asset(&self, symbol: &Symbol) -> Result<Asset, BrokerError> {
        let request = asset::Symbol::Sym(symbol.as_str().to_owned());
        let asset = self.read::<asset::Get>("read an asset", &request).await?;
        convert::asset(&asset)
    }

    async fn submit(&self, order: &NewOrder) -> Result<BrokerOrder, BrokerError> {
        let request = convert::create_request(order)?;
        let client_order_id = &order.client_order_id;
        let in_doubt = AtomicBool::new(false);
        let outcome = self
            .policy
            .run("submit an order", BrokerError::is_transient, || {
                self.submit_once(&request, client_order_id, &in_doubt)
            })
            .await;
        match outcome {
            Err(error) if in_doubt.load(Ordering::SeqCst) => {
                // The retries are spent with the last attempt unanswered: one more look, so the
                // caller gets the order if it exists, or an error saying the outcome is unknown.
                match self.find_by_client_id(client_order_id).await {
                    Ok(Some(existing)) => Ok(existing),
                    _ => Err(BrokerError::Unavailable(format!(
                        "{error}; whether order {client_order_id} reached Alpaca is unknown, \
                         look it up by client order id before sending it again"
                    ))),
                }
            }
            outcome => outcome,
        }
    }

    async fn order(&self, broker_order_id: &str) -> Result<BrokerOrder, BrokerError> {
        let id = convert::order_id(broker_order_id)?;
        let order = self.read::<order::Get>("read an order", &id).await?;
        convert::order(&order)
    }

    async fn order_by_client_id(
        &self,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<BrokerOrder>, BrokerError> {
        self.policy
            .run(
                "look up an order by client id",
                BrokerError::is_transient,
                || self.find_by_client_id(client_order_id),
            )
            .await
    }

    async fn open_orders(&self) -> Result<Vec<BrokerOrder>, BrokerError> {
        let query = OrdersQuery {
            status: "open",
            after: None,
        };
        let orders = self.read::<ListOrders>("list open orders", &query).await?;
        orders.iter().map(convert::order).collect()
    }

    async fn orders_since(&self, after: DateTime<Utc>) -> Result<Vec<BrokerOrder>, BrokerError> {
        self.list_orders_after("all", after).await
    }

    async fn cancel(&self, broker_order_id: &str) -> Result<(), BrokerError> {
        let id = convert::order_id(broker_order_id)?;
        let retried = AtomicBool::new(false);
        let outcome = self
            .policy
            .run("cancel an order", BrokerError::is_transient, || async {
                let outcome = self.issue::<order::Delete>("cancel an order", &id).await;
                if matches!(outcome, Err(BrokerError::Unavailable(_))) {
                    retried.store(true, Ordering::SeqCst);
                }
                outcome
            })
            .await;
        match outcome {
            // A cancel whose first reply was lost may have worked: "not cancelable" on the retry
            // is then our own cancel, which the order's status confirms.
            Err(BrokerError::Rejected { reason }) if retried.load(Ordering::SeqCst) => {
                match self.order(broker_order_id).await {
                    Ok(order)
                        if matches!(
                            order.status,
                            OrderStatus::PendingCancel | OrderStatus::Canceled
                        ) =>
                    {
                        Ok(())
                    }
                    _ => Err(BrokerError::Rejected { reason }),
                }
            }
            outcome => outcome,
        }
    }

    async fn replace(
        &self,
        broker_order_id: &str,
        replacement: &Replacement,
    ) -> Result<BrokerOrder, BrokerError> {
        let id = convert::order_id(broker_order_id)?;
        let input = (id, convert::change_request(replacement)?);
        // Only a 429 is retried: after a lost reply the replacement may exist, and the caller
        // must read the old order (now `replaced`) rather than replace it twice.
        let order = self
            .policy
            .run(
                "replace an order",
                |error| matches!(error, BrokerError::RateLimited { .. }),
                || self.issue::<order::Change>("replace an order", &input),
            )
            .await?;
        convert::order(&order)
    }

    async fn executions_since(&self, after: DateTime<Utc>) -> Result<Vec<Execution>, BrokerError> {
        let mut executions = Vec::new();
        let mut page_token = None;
        loop {
            let request = account_activities::ActivityReq {
                types: vec![account_activities::ActivityType::Fill],
                direction: account_activities::Direction::Ascending,
                after: Some(after - ONE_TICK),
                page_size: Some(ACTIVITY_PAGE),
                page_token: page_token.clone(),
                ..Default::default()
            };
            let page = self
                .read::<account_activities::Get>("list fills", &request)
                .await?;
            for activity in &page {
                if let account_activities::Activity::Trade(fill) = activity
                    && fill.transaction_time >= after
                {
                    executions.push(convert::execution(fill)?);
                }
            }
            let last_id = page.last().map(|activity| match activity {
                account_activities::Activity::Trade(fill) => fill.id.clone(),
                account_activities::Activity::NonTrade(other) => other.id.clone(),
            });
            match last_id {
                Some(id) if page.len() >= ACTIVITY_PAGE => page_token = Some(id),
                _ => return Ok(executions),
            }
        }
    }
}
