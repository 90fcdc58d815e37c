//! The token trie shared by [`super::SubjectIndex`] and [`super::RemoteInterest`].
//!
//! Nodes live in one arena and point at each other by index, so insert, remove and
//! match are loops rather than recursion (no stack depth tied to a client's subject) and
//! a pruned node's slot is reused instead of growing the arena.
//!
//! ```text
//!   root ──"foo"──▶ n1 ──"bar"──▶ n2  {plain: [a], groups: [q1: [b]]}
//!     │              └──  *  ───▶ n3  {plain: [c]}
//!     └──  >  ─────▶ n4  {plain: [d]}
//! ```
//! A node's entries belong to the filter spelled by the edges leading to it.

use std::collections::HashMap;
use std::hash::Hash;

use bytes::Bytes;

use super::entries::Entries;
use super::hash::SubjectHashState;
use super::subject::{
    is_valid_queue_name, is_valid_subject, token_end, TOKEN_SEPARATOR, WILDCARD_ONE, WILDCARD_TAIL,
};
use super::{IndexError, SCRATCH_ENTRIES_RETAINED_MAX, TRIE_SLOTS_RETAINED_WHEN_EMPTY};

/// 32 bits: a node is at least 40 bytes, so 4 billion of them will not fit in memory
/// anyway, and every node carries two of these.
type NodeId = u32;

/// The root never holds entries (a filter has at least one token) and is never freed.
const ROOT: NodeId = 0;

/// Marks a match-stack frame whose node has consumed every token of the subject.
const ALL_TOKENS_CONSUMED: usize = usize::MAX;

/// All queue subscribers of one queue name on one filter.
pub(super) struct Group<T> {
    pub(super) name: Bytes,
    pub(super) members: Entries<T>,
}

type Literals = HashMap<Box<[u8]>, NodeId, SubjectHashState>;

/// Most nodes are leaves with one subscriber (one node per subscription when subjects are
/// distinct, in each core's trie), so whatever a leaf does not use is a null pointer
/// rather than an empty map or vector: 48 bytes a node instead of 136.
struct Node<T> {
    literals: Option<Box<Literals>>,
    star: Option<NodeId>,
    tail: Option<NodeId>,
    plain: Entries<T>,
    // Boxed on purpose: a leaf without groups pays one pointer, not an empty Vec's three
    // words (most nodes have no queue group).
    #[allow(clippy::box_collection)]
    groups: Option<Box<Vec<Group<T>>>>,
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            literals: None,
            star: None,
            tail: None,
            plain: Entries::new(),
            groups: None,
        }
    }

    fn literal(&self, token: &[u8]) -> Option<NodeId> {
        self.literals.as_ref()?.get(token).copied()
    }

    fn groups(&self) -> &[Group<T>] {
        self.groups.as_deref().map_or(&[], Vec::as_slice)
    }

    /// A node with no entries and no children carries no information and can go.
    fn is_prunable(&self) -> bool {
        self.plain.is_empty()
            && self.groups.is_none()
            && self.literals.is_none()
            && self.star.is_none()
            && self.tail.is_none()
    }
}

/// How a parent reaches a child; literal edges name their token by its byte range in
/// the subject being removed, so recording the path allocates nothing per token.
#[derive(Clone, Copy)]
enum Edge {
    Literal { start: usize, end: usize },
    Star,
    Tail,
}

#[derive(Clone, Copy)]
struct Step {
    parent: NodeId,
    edge: Edge,
    child: NodeId,
}

pub(super) struct Trie<T> {
    /// Invariant: every id stored in an edge (and `ROOT`) indexes a live slot; a slot is
    /// unlinked from its parent before its id goes on `free`.
    nodes: Vec<Node<T>>,
    free: Vec<NodeId>,
    entries: usize,
    /// Reused across calls so a cache miss allocates only its result.
    match_stack: Vec<(NodeId, usize)>,
    /// Reused across removals for the same reason.
    remove_path: Vec<Step>,
    /// Keys every node's literal map (tokens come from clients; see `hash.rs`).
    hash_state: SubjectHashState,
}

impl<T> Trie<T> {
    /// An empty trie whose literal maps are keyed with fresh random keys.
    pub(super) fn new() -> Self {
        let hash_state = SubjectHashState::random();
        Trie {
            nodes: vec![Node::new()],
            free: Vec::new(),
            entries: 0,
            match_stack: Vec::new(),
            remove_path: Vec::new(),
            hash_state,
        }
    }

    /// Entries (plain plus queue members) across all filters.
    pub(super) fn len(&self) -> usize {
        self.entries
    }

    /// Live nodes other than the root.
    pub(super) fn node_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    pub(super) fn insert(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        value: T,
    ) -> Result<(), IndexError> {
        if !is_valid_subject(subject) {
            return Err(IndexError::InvalidSubject);
        }
        if let Some(queue) = queue {
            if !is_valid_queue_name(queue) {
                return Err(IndexError::InvalidQueue);
            }
        }
        // Each token makes at most one node; check before making any, so a refusal
        // leaves no half-built path behind.
        let tokens = memchr::memchr_iter(TOKEN_SEPARATOR, subject).count() + 1;
        if self.nodes.len().saturating_add(tokens) > NodeId::MAX as usize {
            return Err(IndexError::Full);
        }
        let mut id = ROOT;
        for token in subject.split(|&byte| byte == TOKEN_SEPARATOR) {
            id = self.child_or_insert(id, token);
        }
        let node = &mut self.nodes[id as usize];
        match queue {
            None => node.plain.push(value),
            Some(queue) => {
                let groups = node.groups.get_or_insert_with(Box::default);
                match groups.iter_mut().find(|group| group.name == queue) {
                    Some(group) => group.members.push(value),
                    None => groups.push(Group {
                        name: Bytes::copy_from_slice(queue),
                        members: Entries::from_value(value),
                    }),
                }
            }
        }
        self.entries += 1;
        Ok(())
    }

    fn child_or_insert(&mut self, parent: NodeId, token: &[u8]) -> NodeId {
        let node = &self.nodes[parent as usize];
        let existing = if token == WILDCARD_ONE {
            node.star
        } else if token == WILDCARD_TAIL {
            node.tail
        } else {
            node.literal(token)
        };
        if let Some(child) = existing {
            return child;
        }
        let child = self.allocate();
        let hash_state = self.hash_state;
        let node = &mut self.nodes[parent as usize];
        if token == WILDCARD_ONE {
            node.star = Some(child);
        } else if token == WILDCARD_TAIL {
            node.tail = Some(child);
        } else {
            node.literals
                .get_or_insert_with(|| Box::new(HashMap::with_hasher(hash_state)))
                .insert(token.into(), child);
        }
        child
    }

    /// The caller has checked that the arena has room (`insert`).
    fn allocate(&mut self) -> NodeId {
        match self.free.pop() {
            Some(id) => id,
            None => {
                let id = self.nodes.len() as NodeId;
                self.nodes.push(Node::new());
                id
            }
        }
    }

    fn release(&mut self, id: NodeId) {
        // Replacing the slot drops the old node's map and vectors, returning their memory.
        self.nodes[id as usize] = Node::new();
        self.free.push(id);
        if self.node_count() == 0 {
            // Everything is gone: forget the slots so a past peak does not pin memory.
            self.nodes.truncate(1);
            self.free.clear();
            self.nodes.shrink_to(TRIE_SLOTS_RETAINED_WHEN_EMPTY);
            self.free.shrink_to(TRIE_SLOTS_RETAINED_WHEN_EMPTY);
        }
    }

    /// Removes one entry equal to `value` under the exact filter and queue, then prunes
    /// the nodes that became empty, deepest first.
    pub(super) fn remove(&mut self, subject: &[u8], queue: Option<&[u8]>, value: &T) -> bool
    where
        T: PartialEq,
    {
        self.remove_with(subject, queue, |entries| entries.remove_scan(value))
    }

    /// [`Self::remove`] through each entry list's position index (see `entries.rs`):
    /// expected O(1) however many entries share the filter.
    pub(super) fn remove_hashed(&mut self, subject: &[u8], queue: Option<&[u8]>, value: &T) -> bool
    where
        T: Hash + Eq,
    {
        let hash_state = self.hash_state;
        self.remove_with(subject, queue, |entries| {
            entries.remove_hashed(value, hash_state)
        })
    }

    fn remove_with(
        &mut self,
        subject: &[u8],
        queue: Option<&[u8]>,
        remove_one: impl FnOnce(&mut Entries<T>) -> bool,
    ) -> bool {
        if !is_valid_subject(subject) {
            return false;
        }
        let mut path = std::mem::take(&mut self.remove_path);
        path.clear();
        let removed = self.walk_exact(subject, &mut path)
            && self.remove_entry(
                path.last().map_or(ROOT, |step| step.child),
                queue,
                remove_one,
            );
        if removed {
            self.entries -= 1;
            self.prune(subject, &path);
        }
        path.clear();
        if path.capacity() > SCRATCH_ENTRIES_RETAINED_MAX {
            path = Vec::new();
        }
        self.remove_path = path;
        removed
    }

    /// Follows the filter's edges without creating any; false if one is missing.
    fn walk_exact(&self, subject: &[u8], path: &mut Vec<Step>) -> bool {
        let mut id = ROOT;
        let mut start = 0;
        loop {
            let end = token_end(subject, start);
            let token = &subject[start..end];
            let node = &self.nodes[id as usize];
            let (edge, child) = if token == WILDCARD_ONE {
                (Edge::Star, node.star)
            } else if token == WILDCARD_TAIL {
                (Edge::Tail, node.tail)
            } else {
                (Edge::Literal { start, end }, node.literal(token))
            };
            let Some(child) = child else {
                return false;
            };
            path.push(Step {
                parent: id,
                edge,
                child,
            });
            id = child;
            if end == subject.len() {
                return true;
            }
            start = end + 1;
        }
    }

    fn remove_entry(
        &mut self,
        id: NodeId,
        queue: Option<&[u8]>,
        remove_one: impl FnOnce(&mut Entries<T>) -> bool,
    ) -> bool {
        let node = &mut self.nodes[id as usize];
        match queue {
            None => remove_one(&mut node.plain),
            Some(queue) => {
                let Some(groups) = node.groups.as_mut() else {
                    return false;
                };
                let Some(group_index) = groups.iter().position(|group| group.name == queue) else {
                    return false;
                };
                let group = &mut groups[group_index];
                if !remove_one(&mut group.members) {
                    return false;
                }
                if group.members.is_empty() {
                    groups.swap_remove(group_index);
                    if groups.is_empty() {
                        node.groups = None;
                    }
                }
                true
            }
        }
    }

    fn prune(&mut self, subject: &[u8], path: &[Step]) {
        for step in path.iter().rev() {
            if !self.nodes[step.child as usize].is_prunable() {
                return;
            }
            let parent = &mut self.nodes[step.parent as usize];
            match step.edge {
                Edge::Star => parent.star = None,
                Edge::Tail => parent.tail = None,
                Edge::Literal { start, end } => {
                    if let Some(literals) = parent.literals.as_mut() {
                        literals.remove(&subject[start..end]);
                        if literals.is_empty() {
                            parent.literals = None;
                        }
                    }
                }
            }
            self.release(step.child);
        }
    }

    /// Calls `visit` with the entries of every node whose filter matches `subject`.
    /// The caller has checked that `subject` is non-empty with no empty token.
    ///
    /// Each stack frame is a node plus the offset of the next unconsumed token; at every
    /// level the `>` child matches outright and the `*` and literal children each push
    /// one frame, so the work is proportional to the trie paths the subject can follow.
    pub(super) fn for_each_match(
        &mut self,
        subject: &[u8],
        mut visit: impl FnMut(&[T], &[Group<T>]),
    ) {
        let mut stack = std::mem::take(&mut self.match_stack);
        stack.clear();
        stack.push((ROOT, 0));
        while let Some((id, start)) = stack.pop() {
            let node = &self.nodes[id as usize];
            if start == ALL_TOKENS_CONSUMED {
                visit(&node.plain, node.groups());
                continue;
            }
            let end = token_end(subject, start);
            let next = if end == subject.len() {
                ALL_TOKENS_CONSUMED
            } else {
                end + 1
            };
            if let Some(tail) = node.tail {
                let tail = &self.nodes[tail as usize];
                visit(&tail.plain, tail.groups());
            }
            if let Some(star) = node.star {
                stack.push((star, next));
            }
            if let Some(literal) = node.literal(&subject[start..end]) {
                stack.push((literal, next));
            }
        }
        if stack.capacity() > SCRATCH_ENTRIES_RETAINED_MAX {
            stack = Vec::new();
        }
        self.match_stack = stack;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(trie: &mut Trie<u32>, subject: &str) -> Vec<u32> {
        let mut found = Vec::new();
        trie.for_each_match(subject.as_bytes(), |plain, groups| {
            found.extend_from_slice(plain);
            for group in groups {
                found.extend_from_slice(&group.members);
            }
        });
        found.sort_unstable();
        found
    }

    #[test]
    fn a_leaf_costs_48_bytes() {
        // Each core's trie holds about one node per distinct subscribed subject, so the
        // node's size is a large share of a subscription's memory (see `Node`).
        assert!(std::mem::size_of::<Node<u64>>() <= 48);
        assert!(std::mem::size_of::<Entries<u64>>() <= 16);
    }

    #[test]
    fn nodes_are_shared_and_pruned() {
        let mut trie = Trie::new();
        trie.insert(b"a.b.c", None, 1).unwrap();
        assert_eq!(trie.node_count(), 3);
        trie.insert(b"a.b.d", None, 2).unwrap();
        assert_eq!(trie.node_count(), 4);
        trie.insert(b"a.*.>", Some(b"q"), 3).unwrap();
        assert_eq!(trie.node_count(), 6);
        assert_eq!(trie.len(), 3);

        assert!(trie.remove(b"a.b.c", None, &1));
        assert_eq!(trie.node_count(), 5);
        assert!(!trie.remove(b"a.b.c", None, &1), "already removed");
        assert!(
            !trie.remove(b"a.*.>", None, &3),
            "queue entry is not a plain entry"
        );
        assert!(!trie.remove(b"a.*.>", Some(b"other"), &3));
        assert!(trie.remove(b"a.*.>", Some(b"q"), &3));
        assert_eq!(trie.node_count(), 3);
        assert!(trie.remove(b"a.b.d", None, &2));
        assert_eq!(trie.node_count(), 0);
        assert_eq!(trie.len(), 0);
    }

    #[test]
    fn interior_node_with_entries_survives_pruning() {
        let mut trie = Trie::new();
        trie.insert(b"a", None, 1).unwrap();
        trie.insert(b"a.b", None, 2).unwrap();
        assert!(trie.remove(b"a.b", None, &2));
        assert_eq!(trie.node_count(), 1);
        assert_eq!(collect(&mut trie, "a"), vec![1]);
    }

    #[test]
    fn freed_slots_are_reused() {
        let mut trie = Trie::new();
        trie.insert(b"keep", None, 0).unwrap();
        for round in 0..100u32 {
            let subject = format!("x.{round}.y");
            trie.insert(subject.as_bytes(), None, round).unwrap();
            assert!(trie.remove(subject.as_bytes(), None, &round));
        }
        assert!(trie.nodes.len() <= 5, "arena grew to {}", trie.nodes.len());
    }

    #[test]
    fn deep_subjects_do_not_recurse() {
        let mut trie = Trie::new();
        let deep = vec!["t"; 100_000].join(".");
        trie.insert(deep.as_bytes(), None, 7).unwrap();
        let deep_tail = format!("{}.>", vec!["*"; 50_000].join("."));
        trie.insert(deep_tail.as_bytes(), None, 8).unwrap();
        assert_eq!(collect(&mut trie, &deep), vec![7, 8]);
        assert!(trie.remove(deep.as_bytes(), None, &7));
        assert!(trie.remove(deep_tail.as_bytes(), None, &8));
        assert_eq!(trie.node_count(), 0);
    }
}
