//! Benchmark tooling for toolgate: a minimal MCP upstream that answers as cheaply as it can
//! (`bench-upstream`, HTTP and stdio), the realistic policy the gateway benchmarks run with,
//! and a load generator (`loadgen`) that reports one JSON line per run.
//!
//! `benches/load.sh` drives them; see `benches/README.md`.

pub mod catalogue;
pub mod loadgen;
pub mod policy;
pub mod upstream;
