//! The subject index: what one publish costs to route on this core, and what one
//! unsubscribe from a large fan-out costs.
//!
//! Run: `cargo bench --bench routing`

#[path = "cost/mod.rs"]
mod cost;

use std::hash::{Hash, Hasher};
use std::rc::Rc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use tern::routing::{RemoteInterest, SubjectIndex, MATCH_CACHE_ENTRIES_MAX};

const TARGET: &str = "routing";
const SUBSCRIPTIONS: u32 = 10_000;

/// A subscription compared (and hashed) by identity, as the server's `SubRef` is.
#[derive(Clone)]
struct Sub(Rc<u32>);

impl PartialEq for Sub {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Sub {}

impl Hash for Sub {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Rc::as_ptr(&self.0).hash(state);
    }
}

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

/// Four wildcard filters that all match `tern.eu.events`.
fn four_wildcards(cache_entries: usize) -> SubjectIndex<u32> {
    let mut index = SubjectIndex::with_cache_capacity(cache_entries);
    for (id, filter) in ["tern.*.events", "tern.>", "*.eu.events", "tern.eu.*"]
        .into_iter()
        .enumerate()
    {
        index.insert(filter.as_bytes(), None, id as u32).unwrap();
    }
    index
}

/// Interest announced by three other cores, plain and queued, literal and wildcard.
fn remote_interest() -> RemoteInterest {
    let mut remote = RemoteInterest::new();
    for core in 1..4 {
        remote.set(core, b"tern.bench", None, 1).unwrap();
        remote
            .set(core, b"tern.*", Some(b"workers"), core as u32)
            .unwrap();
        remote.set(core, b"other.>", None, 2).unwrap();
    }
    remote
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

    let mut index = four_wildcards(MATCH_CACHE_ENTRIES_MAX);
    cost::measure(
        c,
        TARGET,
        "match/wildcard_cached",
        "matching a subject against 4 wildcard filters (cache hit)",
        1,
        || {
            black_box(index.matches(black_box(b"tern.eu.events")).plain.len());
        },
    );

    let mut index = SubjectIndex::new();
    index.insert(b"tern.bench", None, 1u32).unwrap();
    let mut remote = remote_interest();
    cost::measure(
        c,
        TARGET,
        "match/publish_local_and_remote_cached",
        "routing one publish: local index then remote interest, same subject (both cache hits)",
        1,
        || {
            let subject = black_box(b"tern.bench");
            black_box(index.matches(subject).plain.len());
            black_box(remote.matches(subject).plain_cores.len());
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

    let mut index = four_wildcards(0);
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

    // Every lookup is a new subject for the cache (64k in rotation, 4096 cached): a miss,
    // a trie walk, an insert and, every 1024 misses, an eviction sweep.
    let inboxes: Vec<Vec<u8>> = (0..65_536u32)
        .map(|id| format!("_INBOX.{:08x}.{id}", id.wrapping_mul(2_654_435_761)).into_bytes())
        .collect();
    let mut index = SubjectIndex::new();
    index.insert(b"_INBOX.>", None, 1u32).unwrap();
    let mut next = 0usize;
    cost::measure(
        c,
        TARGET,
        "match/miss_insert_churn",
        "matching a subject never seen recently, 1 `_INBOX.>` subscription (cache miss, insert, eviction)",
        1,
        || {
            next = (next + 1) % inboxes.len();
            black_box(index.matches(&inboxes[next]).plain.len());
        },
    );

    let subjects: Vec<Vec<u8>> = (0..SUBSCRIPTIONS)
        .map(|id| format!("orders.{}.{id}", id % 500).into_bytes())
        .collect();
    let mut index = ten_thousand(MATCH_CACHE_ENTRIES_MAX);
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

    let mut index = ten_thousand(MATCH_CACHE_ENTRIES_MAX);
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

fn removing(c: &mut Criterion) {
    // 10k identity-compared subscriptions on one subject; each round unsubscribes one
    // picked pseudo-randomly and subscribes it again, so the fan-out stays at 10k.
    let subs: Vec<Sub> = (0..SUBSCRIPTIONS).map(|id| Sub(Rc::new(id))).collect();
    for hashed in [false, true] {
        let mut index = SubjectIndex::new();
        for sub in &subs {
            index.insert(b"fanout.subject", None, sub.clone()).unwrap();
        }
        let mut pick = 0usize;
        let (id, what) = if hashed {
            (
                "remove/10k_on_one_subject_hashed",
                "unsubscribing (and resubscribing) one of 10k subscriptions on one subject, remove_hashed",
            )
        } else {
            (
                "remove/10k_on_one_subject",
                "unsubscribing (and resubscribing) one of 10k subscriptions on one subject",
            )
        };
        cost::measure(c, TARGET, id, what, 1, || {
            pick = (pick + 7919) % subs.len();
            let sub = &subs[pick];
            let removed = if hashed {
                index.remove_hashed(b"fanout.subject", None, sub)
            } else {
                index.remove(b"fanout.subject", None, sub)
            };
            assert!(removed);
            index.insert(b"fanout.subject", None, sub.clone()).unwrap();
        });
    }

    // The whole fan-out leaving at once (a mass disconnect): 10k removals, hashed.
    let mut index = SubjectIndex::new();
    cost::measure(
        c,
        TARGET,
        "remove/all_10k_hashed",
        "unsubscribing all 10k subscriptions of one subject, remove_hashed, per subscription (incl. subscribing them)",
        u64::from(SUBSCRIPTIONS),
        || {
            for sub in &subs {
                index.insert(b"fanout.subject", None, sub.clone()).unwrap();
            }
            for sub in subs.iter().rev() {
                assert!(index.remove_hashed(b"fanout.subject", None, sub));
            }
        },
    );
}

criterion_group! {
    name = benches;
    config = cost::criterion();
    targets = matching, removing
}
criterion_main!(benches);
