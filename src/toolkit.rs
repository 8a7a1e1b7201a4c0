//! The monitoring toolkit: finds a running hub, observes it through its API, process and
//! log, and turns that into alerts, anomaly reports, baselines, summaries and a
//! dashboard. It depends on the shared bottom and `config`, never on the hub itself.

pub mod alerts;
pub mod anomalies;
pub mod auth;
pub mod cron;
pub mod dashboard;
pub mod discovery;
pub mod history;
pub mod logscan;
pub mod measure;
pub mod observe;
pub mod probe;
pub mod prune;
pub mod render;
pub mod report;
pub mod summary;
pub mod templates;
pub mod validate;
