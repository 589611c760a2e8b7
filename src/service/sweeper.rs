//! The overdue sweeper: persists `OPEN → OVERDUE` for invoices past due, so that the
//! transition is recorded and announced like any other change. Reads never depend on it
//! (an open invoice past due already reads as overdue); it runs at start-up and after
//! each midnight of the store's time zone, through the one change path, so two instances
//! sweeping at once make one transition and one event per invoice.

use std::time::Duration;

use chrono::{NaiveTime, TimeZone};

use super::{AppError, UseCases};
use crate::domain::{ChangeRequest, ChangeSource, InvoiceStatus, Origin};

const BATCH: u64 = 500;

impl UseCases {
    /// Sweeps once; returns how many invoices this call made overdue.
    pub async fn sweep_overdue(&self) -> Result<usize, AppError> {
        let origin = Origin {
            actor: "sweeper".into(),
            source: ChangeSource::Sweeper,
            import_id: None,
        };
        let request = ChangeRequest {
            status: Some(InvoiceStatus::Overdue),
            ..Default::default()
        };
        let today = self.today();
        let mut swept = 0;
        let mut after = String::new();
        loop {
            let ids = self.store.open_past_due(today, &after, BATCH).await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            for id in &ids {
                match self.apply(id, request.clone(), &origin).await? {
                    Ok(applied) => swept += usize::from(applied.changed),
                    // Paid or cancelled since the batch was read: nothing to sweep.
                    Err(refusal) => {
                        tracing::debug!(invoice.id = %id, reason = %refusal.message, "not swept")
                    }
                }
            }
        }
        if swept > 0 {
            tracing::info!(sweeper.swept = swept, "persisted overdue invoices");
        }
        Ok(swept)
    }

    /// How long until just after the next midnight in the store's time zone.
    fn until_next_midnight(&self) -> Duration {
        let zone = self.settings().time_zone;
        let now = chrono::Utc::now().with_timezone(&zone);
        let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
        let midnight = zone
            .from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
            .earliest()
            .map(|m| m.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::hours(1));
        (midnight - chrono::Utc::now()).to_std().unwrap_or_default() + Duration::from_secs(1)
    }

    /// Sweeps now and after every midnight, until the task is dropped. A failed sweep is
    /// logged and retried in a minute.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let gateway = self.clone();
        tokio::spawn(async move {
            loop {
                let wait = match gateway.sweep_overdue().await {
                    Ok(_) => gateway.until_next_midnight(),
                    Err(e) => {
                        tracing::warn!(
                            error.code = e.code().as_str(),
                            "overdue sweep failed; retrying in a minute"
                        );
                        Duration::from_secs(60)
                    }
                };
                tokio::time::sleep(wait).await;
            }
        })
    }
}
