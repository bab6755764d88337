//! Memory per entry held: fills a fresh store (`lambda_cache` or `moka`) with N small values and
//! prints how much the process's resident memory grew, per entry. One store per process, so
//! that neither sees the other's freed memory; the write benchmark runs it for both sides.
#![allow(missing_docs, clippy::print_stdout)] // prints its figure for the benchmark

use std::time::Duration;

use lambda_cache_bench::{key_names, lambda_cache_for, lambda_cache_write, moka_for, moka_write};

/// The process's resident memory in bytes (Linux).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(side), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: memory <lambda_cache|moka> <entries>");
        std::process::exit(2);
    };
    let names = key_names(n);
    let before = resident_bytes();
    let grown = match side.as_str() {
        "lambda_cache" => {
            let cache = lambda_cache_for(n);
            for (i, name) in names.iter().enumerate() {
                lambda_cache_write(&cache, name, i as u64, Duration::from_secs(3600));
            }
            assert_eq!(cache.len(), n);
            let grown = resident_bytes() - before;
            std::hint::black_box(cache);
            grown
        }
        "moka" => {
            let cache = moka_for(n);
            for (i, name) in names.iter().enumerate() {
                moka_write(&cache, name, i as u64, false);
            }
            cache.run_pending_tasks();
            assert_eq!(cache.entry_count(), n as u64);
            let grown = resident_bytes() - before;
            std::hint::black_box(cache);
            grown
        }
        other => {
            eprintln!("unknown store {other:?}: give lambda_cache or moka");
            std::process::exit(2);
        }
    };
    println!("{:.1}", grown as f64 / n as f64);
}
