//! The subject index: what one publish costs to route on this core.
//!
//! Run: `cargo bench --bench routing`

#[path = "cost/mod.rs"]
mod cost;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use tern::routing::SubjectIndex;

const TARGET: &str = "routing";
const SUBSCRIPTIONS: u32 = 10_000;

/// 10k subscriptions as a real account might hold them: mostly literal per-entity
/// subjects, some `*` and `>` filters, some queue members.
fn ten_thousand(cache_entries: usize) -> SubjectIndex<u32> {
    let mut index = SubjectIndex::with_cache_capacity(cache_entries);
    for id in 0..SUBSCRIPTIONS {
        let subject = match id % 10 {
            0 => format!("orders.{}.*", id % 500),
            1 => format!("orders.{}.>", id % 500),
            2 => format!("events.{}.created", id % 1000),
            _ => format!("orders.{}.{id}", id % 500),
        };
        let queue: Option<&[u8]> = (id % 7 == 0).then_some(b"workers");
        index.insert(subject.as_bytes(), queue, id).unwrap();
    }
    index
}

fn matching(c: &mut Criterion) {
    let mut index = SubjectIndex::new();
    index.insert(b"tern.bench", None, 1u32).unwrap();
    cost::measure(
        c,
        TARGET,
        "match/literal_cached",
        "matching a literal subject, 1 subscription (cache hit)",
        1,
        || {
            black_box(index.matches(black_box(b"tern.bench")).plain.len());
        },
    );

    let mut index = SubjectIndex::with_cache_capacity(0);
    index.insert(b"tern.bench", None, 1u32).unwrap();
    cost::measure(
        c,
        TARGET,
        "match/literal_trie",
        "matching a literal subject, 1 subscription (trie walk, no cache)",
        1,
        || {
            black_box(index.matches(black_box(b"tern.bench")).plain.len());
        },
    );

    let mut index = SubjectIndex::with_cache_capacity(0);
    for (id, filter) in ["tern.*.events", "tern.>", "*.eu.events", "tern.eu.*"]
        .into_iter()
        .enumerate()
    {
        index.insert(filter.as_bytes(), None, id as u32).unwrap();
    }
    cost::measure(
        c,
        TARGET,
        "match/wildcard_trie",
        "matching a subject against 4 wildcard filters (trie walk, no cache)",
        1,
        || {
            black_box(index.matches(black_box(b"tern.eu.events")).plain.len());
        },
    );

    let subjects: Vec<Vec<u8>> = (0..SUBSCRIPTIONS)
        .map(|id| format!("orders.{}.{id}", id % 500).into_bytes())
        .collect();
    let mut index = ten_thousand(tern::routing::MATCH_CACHE_ENTRIES_MAX);
    let mut next = 0usize;
    cost::measure(
        c,
        TARGET,
        "match/10k_subs_rotating",
        "matching among 10k subscriptions, 10k distinct subjects in rotation (mostly cache misses)",
        1,
        || {
            next = (next + 7919) % subjects.len();
            black_box(index.matches(&subjects[next]).plain.len());
        },
    );

    let mut index = ten_thousand(tern::routing::MATCH_CACHE_ENTRIES_MAX);
    cost::measure(
        c,
        TARGET,
        "match/10k_subs_hot",
        "matching one hot subject among 10k subscriptions (cache hit)",
        1,
        || {
            black_box(index.matches(black_box(b"orders.42.1042")).plain.len());
        },
    );
}

criterion_group! {
    name = benches;
    config = cost::criterion();
    targets = matching
}
criterion_main!(benches);
