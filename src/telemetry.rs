//! JSON-lines log, Prometheus metrics and process probes.

pub mod log;
pub mod metrics;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU and memory of one process, as the toolkit and `/metrics` report them.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct ProcessSample {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
}

/// Samples `pid` (the hub samples itself), or `None` if it does not exist.
pub fn sample_process(pid: u32) -> Option<ProcessSample> {
    let mut sys = System::new().ok()?;
    let pid = Pid::from_u32(pid);
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        true,
        ProcessRefreshKind::nothing().with_memory().with_cpu(),
    );
    let p = sys.process(pid)?;
    Some(ProcessSample {
        rss_bytes: p.memory(),
        cpu_seconds: p.accumulated_cpu_time() as f64 / 1000.0,
    })
}

/// CPU use of `pid` in percent of one core, measured over `over`.
pub async fn cpu_percent(pid: u32, over: std::time::Duration) -> Option<f64> {
    let a = sample_process(pid)?;
    tokio::time::sleep(over).await;
    let b = sample_process(pid)?;
    Some(((b.cpu_seconds - a.cpu_seconds) / over.as_secs_f64() * 100.0).max(0.0))
}

/// An error's message and its causes' (`error sending request`, …, `Connection
/// refused`), each once: SDKs and reqwest put the part a user can act on last.
pub fn error_causes(e: &dyn std::error::Error) -> Vec<String> {
    let mut causes: Vec<String> = Vec::new();
    let mut source = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = s.source();
    }
    causes
}
