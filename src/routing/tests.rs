//! Model tests: the trie and its cache against the naive matcher applied to a plain list
//! of everything inserted, under random interleavings of inserts, removes and matches.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::{subject_matches_filter, RemoteInterest, SubjectIndex};

/// A tiny alphabet so that random filters and subjects actually overlap.
fn literal_token() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("a"), Just("b"), Just("c")]
}

fn filter() -> impl Strategy<Value = String> {
    let token = prop_oneof![3 => literal_token(), 1 => Just("*")];
    (prop::collection::vec(token, 0..=4), any::<bool>()).prop_map(|(mut tokens, tail)| {
        if tail || tokens.is_empty() {
            tokens.push(">");
        }
        tokens.join(".")
    })
}

/// Mostly well-formed subjects, some with literal `*`/`>` tokens (allowed without
/// pedantic mode), a few malformed ones that must match nothing.
fn subject() -> impl Strategy<Value = String> {
    let token = prop_oneof![6 => literal_token(), 1 => Just("*"), 1 => Just(">")];
    let well_formed = prop::collection::vec(token, 1..=5).prop_map(|tokens| tokens.join("."));
    prop_oneof![
        20 => well_formed,
        1 => Just(String::new()),
        1 => Just("a..b".to_string()),
        1 => Just("a.".to_string()),
    ]
}

fn queue() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![3 => Just(None), 1 => Just(Some("q1")), 1 => Just(Some("q2"))]
}

fn cache_capacity() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        1usize..6,
        Just(super::MATCH_CACHE_ENTRIES_MAX)
    ]
}

#[derive(Debug, Clone)]
enum IndexOp {
    Insert {
        filter: String,
        queue: Option<&'static str>,
        value: u8,
    },
    /// Removes the model entry at `pick % len`.
    RemovePresent {
        pick: usize,
    },
    /// Removes something that may or may not be there; the answer must agree.
    RemoveAny {
        filter: String,
        queue: Option<&'static str>,
        value: u8,
    },
    Match {
        subject: String,
    },
}

fn index_op() -> impl Strategy<Value = IndexOp> {
    prop_oneof![
        4 => (filter(), queue(), 0u8..4)
            .prop_map(|(filter, queue, value)| IndexOp::Insert { filter, queue, value }),
        2 => any::<usize>().prop_map(|pick| IndexOp::RemovePresent { pick }),
        1 => (filter(), queue(), 0u8..4)
            .prop_map(|(filter, queue, value)| IndexOp::RemoveAny { filter, queue, value }),
        5 => subject().prop_map(|subject| IndexOp::Match { subject }),
    ]
}

type Entry = (String, Option<&'static str>, u8);

type Expected = (Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>);

fn expected_matches(model: &[Entry], subject: &str) -> Expected {
    let mut plain = Vec::new();
    let mut queues: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for (filter, queue, value) in model {
        if !subject_matches_filter(filter.as_bytes(), subject.as_bytes()) {
            continue;
        }
        match queue {
            None => plain.push(*value),
            Some(queue) => queues
                .entry(queue.as_bytes().to_vec())
                .or_default()
                .push(*value),
        }
    }
    plain.sort_unstable();
    for members in queues.values_mut() {
        members.sort_unstable();
    }
    (plain, queues)
}

fn actual_matches(index: &mut SubjectIndex<u8>, subject: &str) -> Result<Expected, TestCaseError> {
    let found = index.matches(subject.as_bytes());
    let mut plain = found.plain.clone();
    plain.sort_unstable();
    let mut queues = BTreeMap::new();
    for queue in &found.queues {
        prop_assert!(!queue.members.is_empty(), "empty queue group reported");
        let mut members = queue.members.clone();
        members.sort_unstable();
        let previous = queues.insert(queue.name.to_vec(), members);
        prop_assert!(previous.is_none(), "queue {:?} reported twice", queue.name);
    }
    Ok((plain, queues))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_agrees_with_naive_matcher(
        capacity in cache_capacity(),
        ops in prop::collection::vec(index_op(), 1..80),
    ) {
        let mut index = SubjectIndex::with_cache_capacity(capacity);
        let mut model: Vec<Entry> = Vec::new();
        for op in ops {
            match op {
                IndexOp::Insert { filter, queue, value } => {
                    index.insert(filter.as_bytes(), queue.map(str::as_bytes), value).unwrap();
                    model.push((filter, queue, value));
                }
                IndexOp::RemovePresent { pick } => {
                    if model.is_empty() {
                        continue;
                    }
                    let (filter, queue, value) = model.swap_remove(pick % model.len());
                    prop_assert!(index.remove(filter.as_bytes(), queue.map(str::as_bytes), &value));
                }
                IndexOp::RemoveAny { filter, queue, value } => {
                    let position = model
                        .iter()
                        .position(|entry| entry.0 == filter && entry.1 == queue && entry.2 == value);
                    let removed = index.remove(filter.as_bytes(), queue.map(str::as_bytes), &value);
                    prop_assert_eq!(removed, position.is_some());
                    if let Some(position) = position {
                        model.swap_remove(position);
                    }
                }
                IndexOp::Match { subject } => {
                    let expected = expected_matches(&model, &subject);
                    prop_assert_eq!(actual_matches(&mut index, &subject)?, expected, "subject {:?}", subject);
                }
            }
            prop_assert_eq!(index.len(), model.len());
            prop_assert!(capacity == super::MATCH_CACHE_ENTRIES_MAX || index.cache_len() <= capacity);
        }
        for (filter, queue, value) in model.drain(..) {
            prop_assert!(index.remove(filter.as_bytes(), queue.map(str::as_bytes), &value));
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.node_count(), 0);
    }
}

#[derive(Debug, Clone)]
enum RemoteOp {
    Set {
        core: usize,
        filter: String,
        queue: Option<&'static str>,
        count: u32,
    },
    ClearCore {
        core: usize,
    },
    Match {
        subject: String,
    },
}

fn remote_op() -> impl Strategy<Value = RemoteOp> {
    prop_oneof![
        6 => (0usize..4, filter(), queue(), 0u32..4)
            .prop_map(|(core, filter, queue, count)| RemoteOp::Set { core, filter, queue, count }),
        1 => (0usize..4).prop_map(|core| RemoteOp::ClearCore { core }),
        6 => subject().prop_map(|subject| RemoteOp::Match { subject }),
    ]
}

type RemoteKey = (usize, String, Option<&'static str>);

type RemoteExpected = (Vec<usize>, BTreeMap<Vec<u8>, Vec<(usize, u32)>>);

fn expected_remote(model: &HashMap<RemoteKey, u32>, subject: &str) -> RemoteExpected {
    let mut plain = Vec::new();
    let mut queues: BTreeMap<Vec<u8>, BTreeMap<usize, u32>> = BTreeMap::new();
    for ((core, filter, queue), &count) in model {
        if !subject_matches_filter(filter.as_bytes(), subject.as_bytes()) {
            continue;
        }
        match queue {
            None => plain.push(*core),
            Some(queue) => {
                *queues
                    .entry(queue.as_bytes().to_vec())
                    .or_default()
                    .entry(*core)
                    .or_default() += count;
            }
        }
    }
    plain.sort_unstable();
    plain.dedup();
    let queues = queues
        .into_iter()
        .map(|(name, weights)| (name, weights.into_iter().collect()))
        .collect();
    (plain, queues)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn remote_interest_agrees_with_model(ops in prop::collection::vec(remote_op(), 1..80)) {
        let mut remote = RemoteInterest::new();
        let mut model: HashMap<RemoteKey, u32> = HashMap::new();
        for op in ops {
            match op {
                RemoteOp::Set { core, filter, queue, count } => {
                    remote.set(core, filter.as_bytes(), queue.map(str::as_bytes), count).unwrap();
                    if count == 0 {
                        model.remove(&(core, filter, queue));
                    } else {
                        model.insert((core, filter, queue), count);
                    }
                }
                RemoteOp::ClearCore { core } => {
                    remote.clear_core(core);
                    model.retain(|key, _| key.0 != core);
                }
                RemoteOp::Match { subject } => {
                    let found = remote.matches(subject.as_bytes());
                    let mut queues = BTreeMap::new();
                    for queue in &found.queues {
                        prop_assert!(
                            queue.weights.windows(2).all(|pair| pair[0].0 < pair[1].0),
                            "cores not strictly ascending: {:?}", queue.weights
                        );
                        let previous = queues.insert(queue.name.to_vec(), queue.weights.clone());
                        prop_assert!(previous.is_none(), "queue {:?} reported twice", queue.name);
                    }
                    let actual = (found.plain_cores.clone(), queues);
                    prop_assert_eq!(actual, expected_remote(&model, &subject), "subject {:?}", subject);
                }
            }
            prop_assert_eq!(remote.len(), model.len());
        }
    }
}

#[derive(Debug, Clone)]
enum FanOutOp {
    Insert {
        filter: &'static str,
        queue: Option<&'static str>,
        value: u8,
    },
    Remove {
        filter: &'static str,
        queue: Option<&'static str>,
        value: u8,
        hashed: bool,
    },
    Match {
        subject: &'static str,
    },
}

/// Few filters and queues, so each entry list grows past `ENTRIES_SCANNED_MAX` and
/// shrinks back, with repeated values and both removal paths mixed.
fn fan_out_op() -> impl Strategy<Value = FanOutOp> {
    let filter = || prop_oneof![Just("a"), Just("a.*")];
    let queue = || prop_oneof![Just(None), Just(Some("q1"))];
    prop_oneof![
        5 => (filter(), queue(), 0u8..100)
            .prop_map(|(filter, queue, value)| FanOutOp::Insert { filter, queue, value }),
        4 => (filter(), queue(), 0u8..100, prop::bool::weighted(0.8))
            .prop_map(|(filter, queue, value, hashed)| FanOutOp::Remove { filter, queue, value, hashed }),
        1 => prop_oneof![Just("a"), Just("a.b")].prop_map(|subject| FanOutOp::Match { subject }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn hashed_removal_agrees_with_model_on_large_fan_out(
        ops in prop::collection::vec(fan_out_op(), 1..1500),
    ) {
        let mut index = SubjectIndex::new();
        let mut model: Vec<Entry> = Vec::new();
        for op in ops {
            match op {
                FanOutOp::Insert { filter, queue, value } => {
                    index.insert(filter.as_bytes(), queue.map(str::as_bytes), value).unwrap();
                    model.push((filter.to_string(), queue, value));
                }
                FanOutOp::Remove { filter, queue, value, hashed } => {
                    let position = model
                        .iter()
                        .position(|entry| entry.0 == filter && entry.1 == queue && entry.2 == value);
                    let queue_bytes = queue.map(str::as_bytes);
                    let removed = if hashed {
                        index.remove_hashed(filter.as_bytes(), queue_bytes, &value)
                    } else {
                        index.remove(filter.as_bytes(), queue_bytes, &value)
                    };
                    prop_assert_eq!(removed, position.is_some());
                    if let Some(position) = position {
                        model.swap_remove(position);
                    }
                }
                FanOutOp::Match { subject } => {
                    let expected = expected_matches(&model, subject);
                    prop_assert_eq!(actual_matches(&mut index, subject)?, expected, "subject {:?}", subject);
                }
            }
            prop_assert_eq!(index.len(), model.len());
        }
        for (filter, queue, value) in model.drain(..) {
            prop_assert!(index.remove_hashed(filter.as_bytes(), queue.map(str::as_bytes), &value));
        }
        prop_assert!(index.is_empty());
        prop_assert_eq!(index.node_count(), 0);
    }
}
