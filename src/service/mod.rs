//! Use cases: what a principal may read and do, one database transaction each. The
//! service checks rights and scopes, computes "today" in the store's time zone, and calls
//! the store; it knows neither HTTP nor GraphQL.

mod aging;
mod api_keys;
mod changes;
mod creation;
mod demo;
mod error;
mod exports;
mod imports;
mod reads;
mod seed;
mod subscriptions;
mod sweeper;
mod webhooks;

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;

pub use api_keys::NewApiKey;
pub use changes::ChangeResult;
pub use creation::AccountDraft;
pub use demo::{DEMO_CUSTOMER_ACCOUNT, seed_demo};
pub use error::AppError;
pub use exports::{EXPORT_PATH, EXPORT_XLSX_PATH, ExportQuery, export_link_binding};
pub use imports::{BATCH_ROWS as IMPORT_BATCH_ROWS, ImportOptions, ImportReport};
pub use reads::{InvoicePage, Relations, visible};
pub use seed::SeedScale;

use crate::csv_io::Limits;
pub use subscriptions::StatusChange;
pub use webhooks::{EndpointChange, MAX_WEBHOOK_DESCRIPTION, NewSecret, ROTATION_GRACE};

use crate::events::EventHub;
use crate::store::Store;

/// Settings the use cases need.
#[derive(Clone, Debug)]
pub struct Settings {
    pub time_zone: Tz,
    pub default_page_size: u64,
    pub max_page_size: u64,
    /// Accept `http://` payment links (development only).
    pub allow_http_links: bool,
    /// Bounds on an imported CSV file.
    pub import_limits: Limits,
    /// How long `importInvoicesCsv` waits before answering with the import running.
    pub import_wait: std::time::Duration,
    /// Exports streaming at once: each holds a database connection while it streams.
    pub max_exports: usize,
    /// Seals subscription cursors, so that clients cannot forge them.
    pub cursor_seal: crate::domain::Seal,
    /// Live subscriptions one principal may hold in this process, on all its
    /// connections together.
    pub max_subscriptions_per_caller: usize,
    /// Webhook destinations allowed although private or loopback.
    pub webhook_allow: crate::domain::AllowList,
}

/// The gateway's use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct UseCases {
    store: Store,
    settings: Arc<Settings>,
    running_imports: Arc<imports::RunningImports>,
    exports: Arc<tokio::sync::Semaphore>,
    started_at: chrono::DateTime<chrono::Utc>,
    events: EventHub,
    subscription_slots: Arc<subscriptions::SubscriptionSlots>,
}

impl UseCases {
    pub fn new(store: Store, settings: Settings) -> UseCases {
        UseCases {
            subscription_slots: subscriptions::SubscriptionSlots::new(
                settings.max_subscriptions_per_caller.max(1),
            ),
            events: EventHub::new(store.clone()),
            store,
            exports: Arc::new(tokio::sync::Semaphore::new(settings.max_exports.max(1))),
            settings: Arc::new(settings),
            running_imports: Arc::default(),
            started_at: chrono::Utc::now(),
        }
    }

    /// When this gateway started.
    pub fn started_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.started_at
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), AppError> {
        Ok(self.store.ping().await?)
    }

    /// The database connections: open, idle, and the most allowed (metrics).
    pub fn pool_status(&self) -> crate::store::PoolStatus {
        self.store.pool_status()
    }

    /// The live feed of status changes.
    pub fn events(&self) -> &EventHub {
        &self.events
    }

    /// CSV imports running in this process.
    pub fn imports_running(&self) -> usize {
        self.running_imports.len()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn running_imports(&self) -> &imports::RunningImports {
        &self.running_imports
    }

    /// The current date in the store's time zone: the day that decides overdue.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now()
            .with_timezone(&self.settings.time_zone)
            .date_naive()
    }
}
