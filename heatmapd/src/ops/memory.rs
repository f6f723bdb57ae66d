//! The memory check of Crunch Mode: the models of a crunch job are loaded at
//! once, so their sizes together must fit in system memory.

use heatmap_proto::JobSpec;

use crate::backend::Client;
use crate::runner::ApiError;

/// Largest share of system memory the models of a crunch job may take.
pub const MAX_MEMORY_SHARE: f64 = 0.8;

/// Returns the system's total memory in bytes: `MemTotal` of `/proc/meminfo`
/// on Linux, `sysctl -n hw.memsize` on macOS, and `None` elsewhere or when it
/// cannot be read.
pub fn total_memory() -> Option<u64> {
    if cfg!(target_os = "linux") {
        let text = std::fs::read_to_string("/proc/meminfo").ok()?;
        return parse_meminfo(&text);
    }
    if cfg!(target_os = "macos") {
        let output = std::process::Command::new("sysctl")
            .args(["-n", "hw.memsize"])
            .output()
            .ok()?;
        return String::from_utf8(output.stdout).ok()?.trim().parse().ok();
    }
    None
}

/// Reads `MemTotal:  16318312 kB` from `/proc/meminfo` text, in bytes.
pub fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let factor = match parts.next() {
        Some("kB") | Some("KB") | Some("kb") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(factor)
}

/// Compares the known model sizes with `memory`; models without a size are left out.
///
/// Returns the rejection message when the sum is above [`MAX_MEMORY_SHARE`] of memory.
pub fn check_sizes(sizes: &[(String, Option<u64>)], memory: u64) -> Result<(), String> {
    let total: u64 = sizes.iter().filter_map(|(_, size)| *size).sum();
    let limit = memory as f64 * MAX_MEMORY_SHARE;
    if (total as f64) <= limit {
        return Ok(());
    }
    let listed: Vec<String> = sizes
        .iter()
        .filter_map(|(name, size)| size.map(|bytes| format!("{name} {}", gib(bytes))))
        .collect();
    Err(format!(
        "Crunch Mode loads every model at once: together they take {} ({}), above {:.0}% of the {} of system memory; \
         pass --force to submit anyway, or drop --crunch to run the models one after another",
        gib(total),
        listed.join(", "),
        MAX_MEMORY_SHARE * 100.0,
        gib(memory)
    ))
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// Checks a crunch job against system memory, using the sizes the first
/// server lists. Does nothing without `crunch`, with `force`, or when the
/// memory size is unknown.
pub async fn check_job(spec: &JobSpec) -> Result<(), ApiError> {
    if !spec.crunch || spec.force {
        return Ok(());
    }
    let Some(memory) = total_memory() else {
        tracing::debug!("system memory unknown; skipping the Crunch Mode memory check");
        return Ok(());
    };
    let Some(url) = spec.urls.first() else {
        return Ok(());
    };
    let client = Client::new(spec.backend, url).map_err(|e| ApiError::invalid(e.to_string()))?;
    let listed = match client.list_models().await {
        Ok(listed) => listed,
        Err(err) => {
            tracing::warn!(url = %url, error = %err, "cannot list models for the memory check; skipping it");
            return Ok(());
        }
    };
    let sizes: Vec<(String, Option<u64>)> = spec
        .models
        .iter()
        .map(|model| {
            let size = listed
                .iter()
                .find(|info| info.name == *model || info.name == format!("{model}:latest"))
                .and_then(|info| info.size);
            (model.clone(), size)
        })
        .collect();
    check_sizes(&sizes, memory).map_err(ApiError::invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn meminfo_total_in_bytes() {
        let text = "MemTotal:       16318312 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_meminfo(text), Some(16_318_312 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: lots kB\n"), None);
    }

    #[test]
    fn sizes_within_limit_pass() {
        let sizes = vec![
            ("a".to_string(), Some(4 * GIB)),
            ("b".to_string(), Some(4 * GIB)),
        ];
        assert_eq!(check_sizes(&sizes, 10 * GIB), Ok(()));
    }

    #[test]
    fn sizes_above_limit_are_rejected() {
        let sizes = vec![
            ("a".to_string(), Some(6 * GIB)),
            ("b".to_string(), Some(3 * GIB)),
            ("c".to_string(), None),
        ];
        let message = check_sizes(&sizes, 10 * GIB).unwrap_err();
        assert_eq!(
            message,
            "Crunch Mode loads every model at once: together they take 9.00 GiB (a 6.00 GiB, b 3.00 GiB), \
             above 80% of the 10.00 GiB of system memory; pass --force to submit anyway, or drop --crunch \
             to run the models one after another"
        );
    }

    #[test]
    fn unknown_sizes_pass() {
        let sizes = vec![("a".to_string(), None)];
        assert_eq!(check_sizes(&sizes, GIB), Ok(()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_memory_is_known() {
        assert!(total_memory().is_some_and(|bytes| bytes > 0));
    }
}
