//! Classifying the whole 219-tool Twenty-like catalogue.

use criterion::{Criterion, criterion_group, criterion_main};
use toolgate_catalog::{ToolDefinition, classify};

fn twenty() -> Vec<ToolDefinition> {
    let text = include_str!("../../demo-server/fixtures/twenty-crm-tools.json");
    ToolDefinition::all_from_listing(&serde_json::from_str(text).expect("fixture parses"))
}

fn bench(c: &mut Criterion) {
    let tools = twenty();
    c.bench_function("classify 219 Twenty tools", |b| {
        b.iter(|| {
            tools
                .iter()
                .map(classify)
                .filter(|c| c.confidence > 0.0)
                .count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
