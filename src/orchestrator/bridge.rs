//! The orchestrator as scripts reach it: `flow::run`, `data::fetch_latest`, `ops::…` go through
//! the `script::host::FlowHost` trait, which this bridge implements with a weak reference (the
//! orchestrator owns the script runtime, so a strong one would be a cycle).

use super::Orchestrator;

/// The orchestrator as the script runtime sees it.
pub(super) struct FlowBridge(pub(super) std::sync::Weak<Orchestrator>);

impl crate::script::host::FlowHost for FlowBridge {
    fn fetch_market_data(
        &self,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            let fetch = orchestrator
                .settings
                .market_fetch
                .clone()
                .ok_or("no market-data provider is configured for batch fetches")?;
            fetch().await
        })
    }

    fn archive_bars(
        &self,
        retention_days: u32,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            orchestrator.archive_bars(retention_days).await
        })
    }

    fn backup_database(
        &self,
        keep: usize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            orchestrator
                .backup_database(keep)
                .await
                .map(serde_json::Value::String)
        })
    }

    fn run_subflow(
        &self,
        parent: Option<i64>,
        name: String,
        parameters: serde_json::Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            orchestrator.run_subflow(parent, &name, parameters).await
        })
    }

    fn strategy_cycle(
        &self,
        parent: Option<i64>,
        name: String,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            orchestrator.strategy_cycle(parent, &name).await
        })
    }

    fn write_report(
        &self,
        days: i64,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            orchestrator.write_report(days).await
        })
    }

    fn run_backtest(
        &self,
        parameters: serde_json::Value,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = crate::script::host::FlowResult> + Send + '_>,
    > {
        Box::pin(async move {
            let orchestrator = self.0.upgrade().ok_or("the orchestrator has stopped")?;
            let runner = orchestrator
                .settings
                .backtest
                .clone()
                .ok_or("backtests are not configured in this process")?;
            runner(parameters).await
        })
    }
}
