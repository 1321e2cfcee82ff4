//! What every handler can reach. Built once in `app::App::build`.

use std::sync::Arc;

use crate::accounts::AccountService;
use crate::config::Config;
use crate::http::metrics::Metrics;
use crate::notifications::NotificationService;
use crate::realtime::Realtime;
use crate::storage::Db;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub accounts: AccountService,
    pub notifications: NotificationService,
    pub realtime: Realtime,
    pub metrics: Arc<Metrics>,
}
