//! What publish and subscribe permissions cost a connection: a user with 20 allow and 20
//! deny rules, the same subject repeated (what a publisher mostly does), a rotation of
//! subjects that the per-connection cache holds, and one that overflows it.
//!
//! Run: `cargo bench --bench permissions`

#[path = "cost/mod.rs"]
mod cost;

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use tern::auth::{ConnPermissions, Permissions};
use tern::config::auth::{PermissionsConfig, SubjectRules};
use tern::limits::PERMISSION_CACHE_SUBJECTS_MAX;

const TARGET: &str = "permissions";

/// 20 allow and 20 deny rules, literal and wildcard, as a real user might have them.
fn forty_rules() -> ConnPermissions {
    let allow = (0..20)
        .map(|i| match i % 3 {
            0 => format!("orders.{i}.>"),
            1 => format!("events.*.{i}"),
            _ => format!("svc.{i}.request"),
        })
        .collect();
    let deny = (0..20)
        .map(|i| match i % 2 {
            0 => format!("orders.{i}.secret.>"),
            _ => format!("events.internal.{i}"),
        })
        .collect();
    let config = PermissionsConfig {
        publish: Some(SubjectRules {
            allow: Some(allow),
            deny: Some(deny),
        }),
        ..PermissionsConfig::default()
    };
    ConnPermissions::new(Arc::new(Permissions::compile(&config)))
}

fn publish_checks(c: &mut Criterion) {
    let permissions = forty_rules();
    cost::measure(
        c,
        TARGET,
        "publish/same_subject",
        "a publish permission check, 40 rules, repeated subject",
        1,
        || {
            black_box(permissions.can_publish(black_box(b"orders.3.created")));
        },
    );

    let subjects: Vec<Vec<u8>> = (0..PERMISSION_CACHE_SUBJECTS_MAX / 2)
        .map(|i| format!("orders.{}.item{i}", (i % 7) * 3).into_bytes())
        .collect();
    let mut next = 0;
    cost::measure(
        c,
        TARGET,
        "publish/cached_rotation",
        "a publish permission check, 40 rules, 64 rotating subjects (cache hits)",
        1,
        || {
            next = (next + 1) % subjects.len();
            black_box(permissions.can_publish(black_box(&subjects[next])));
        },
    );

    let subjects: Vec<Vec<u8>> = (0..PERMISSION_CACHE_SUBJECTS_MAX * 4)
        .map(|i| format!("orders.{}.item{i}", (i % 7) * 3).into_bytes())
        .collect();
    let mut next = 0;
    cost::measure(
        c,
        TARGET,
        "publish/uncached",
        "a publish permission check, 40 rules, subjects overflowing the cache (rule scan)",
        1,
        || {
            next = (next + 1) % subjects.len();
            black_box(permissions.can_publish(black_box(&subjects[next])));
        },
    );
}

criterion_group! {
    name = benches;
    config = cost::criterion();
    targets = publish_checks
}
criterion_main!(benches);
