//! Which partitions a node should own, computed identically by every node from the same
//! inputs (the live nodes and the current lease holders), so no coordinator is needed.
//!
//! Sticky rendezvous hashing with bounded load. Every node has room for ⌊P/N⌋ partitions,
//! and the P mod N nodes ranked first by a hash of their id for one more, so shares differ
//! by at most one. A live node keeps the partitions it holds up to its room (the ones it
//! weighs highest); the rest — free partitions, those of departed nodes and those a node
//! has no room left for — go to the nodes with room, heaviest (partition, node) weight
//! first. So a join moves only the newcomer's share (each holder gives up its lightest
//! extras) and a leave moves only the leaver's partitions, plus at most a partition or two
//! when the extra rooms change hands; a memoryless assignment (each partition to its
//! heaviest node with room) moved up to 1.9 × P/N on a join.
//!
//! The result is a fixed point: once the holders are what it says, it says the same again,
//! and it says the same at every step of a hand-over in between, so nodes acting on
//! snapshots a heartbeat apart agree.

/// Partitions node `me` should own, given every live node (any order) and the node holding
/// each partition's lease (`None` when free; a node not live counts as free).
pub fn assigned(
    partitions: u16,
    live: &[String],
    holders: &[Option<String>],
    me: &str,
) -> Vec<u16> {
    let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
    nodes.push(me);
    nodes.sort_unstable();
    nodes.dedup();
    let held: Vec<Option<usize>> = (0..usize::from(partitions))
        .map(|p| {
            let holder = holders.get(p)?.as_deref()?;
            nodes.binary_search(&holder).ok()
        })
        .collect();
    let owners = owners(partitions, &nodes, &held);
    (0..partitions)
        .filter(|p| nodes.get(owners[usize::from(*p)]) == Some(&me))
        .collect()
}

/// The owner (an index into `nodes`, sorted and without duplicates) of every partition,
/// given the current holder of each (an index into `nodes`).
fn owners(partitions: u16, nodes: &[&str], held: &[Option<usize>]) -> Vec<usize> {
    let p = usize::from(partitions);
    let mut owner = vec![usize::MAX; p];
    if nodes.is_empty() {
        return owner;
    }
    let mut room = rooms(p, nodes);
    // Holders keep what they weigh highest, up to their room.
    let mut kept: Vec<(u64, u16, usize)> = (0..partitions)
        .filter_map(|part| {
            let node = (*held.get(usize::from(part))?)?;
            Some((weight(part, nodes[node]), part, node))
        })
        .collect();
    kept.sort_unstable_by(|a, b| b.cmp(a));
    for (_, part, node) in kept {
        if room[node] > 0 {
            room[node] -= 1;
            owner[usize::from(part)] = node;
        }
    }
    // The rest go to the nodes with room, heaviest pairs first.
    let mut pairs: Vec<(u64, u16, usize)> = (0..partitions)
        .filter(|part| owner[usize::from(*part)] == usize::MAX)
        .flat_map(|part| {
            nodes
                .iter()
                .enumerate()
                .map(move |(i, node)| (weight(part, node), part, i))
        })
        .collect();
    pairs.sort_unstable_by(|a, b| b.cmp(a));
    for (_, part, node) in pairs {
        let part = usize::from(part);
        if owner[part] == usize::MAX && room[node] > 0 {
            room[node] -= 1;
            owner[part] = node;
        }
    }
    owner
}

/// How many partitions each node has room for: ⌊P/N⌋, plus one for the P mod N nodes
/// ranked first by the hash of their id (a rank that depends only on the live set, so the
/// extra rooms do not follow whoever happens to hold more during a hand-over).
fn rooms(partitions: usize, nodes: &[&str]) -> Vec<usize> {
    let n = nodes.len();
    let mut room = vec![partitions / n; n];
    let mut ranked: Vec<(u64, usize)> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (weight(u16::MAX, node), i))
        .collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    for (_, i) in ranked.into_iter().take(partitions % n) {
        room[i] += 1;
    }
    room
}

/// A stable pseudo-random weight of a (partition, node) pair: FNV-1a over both, then a
/// splitmix64 finish. Stable across processes and versions (all nodes must agree).
fn weight(partition: u16, node: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in partition.to_le_bytes().iter().chain(node.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize, seed: usize) -> Vec<String> {
        (0..n).map(|i| format!("s{seed}-node-{i}")).collect()
    }

    /// Partition → owning node name, as the nodes compute it one by one.
    fn map(partitions: u16, live: &[String], holders: &[Option<String>]) -> Vec<Option<String>> {
        let mut owner = vec![None; usize::from(partitions)];
        for node in live {
            for p in assigned(partitions, live, holders, node) {
                assert!(owner[usize::from(p)].is_none(), "partition {p} given twice");
                owner[usize::from(p)] = Some(node.clone());
            }
        }
        owner
    }

    /// The map all at once (for the many-case tests).
    fn quick_map(
        partitions: u16,
        live: &[String],
        holders: &[Option<String>],
    ) -> Vec<Option<String>> {
        let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
        nodes.sort_unstable();
        let held: Vec<Option<usize>> = holders
            .iter()
            .map(|h| nodes.binary_search(&h.as_deref()?).ok())
            .collect();
        owners(partitions, &nodes, &held)
            .into_iter()
            .map(|i| nodes.get(i).map(|n| n.to_string()))
            .collect()
    }

    /// The holders once the hand-overs the assignment asks for are done (asserting it asks
    /// for nothing more then), and how many partitions changed hands.
    fn settle(
        partitions: u16,
        live: &[String],
        holders: &[Option<String>],
    ) -> (Vec<Option<String>>, usize) {
        let settled = quick_map(partitions, live, holders);
        assert_eq!(
            quick_map(partitions, live, &settled),
            settled,
            "not a fixed point"
        );
        let moved = holders.iter().zip(&settled).filter(|(a, b)| a != b).count();
        (settled, moved)
    }

    fn share(owners: &[Option<String>], node: &str) -> usize {
        owners.iter().filter(|o| o.as_deref() == Some(node)).count()
    }

    #[test]
    fn shares_are_even_disjoint_and_complete() {
        for n in 1..=10 {
            let live = names(n, 0);
            let owners = map(64, &live, &[]);
            assert!(
                owners.iter().all(Option::is_some),
                "{n} nodes: unowned partitions"
            );
            let (low, high) = (64 / n, 64_usize.div_ceil(n));
            for node in &live {
                let share = share(&owners, node);
                assert!((low..=high).contains(&share), "{n} nodes: {share}");
            }
        }
    }

    #[test]
    fn a_lone_node_owns_everything() {
        assert_eq!(assigned(8, &[], &[], "me").len(), 8);
    }

    /// A join moves the newcomer's share and at most two more (within ⌈P/(N+1)⌉ + 2); a
    /// leave moves the leaver's partitions and at most two more.
    #[test]
    fn a_join_or_leave_moves_little_more_than_the_share_that_changes_hands() {
        let mut worst_extra = 0;
        for partitions in [12u16, 16, 64, 100] {
            for seed in 0..20 {
                for n in 1..=8 {
                    let live = names(n, seed);
                    let (held, _) = settle(partitions, &live, &[]);
                    let mut joined = live.clone();
                    joined.push(format!("s{seed}-joiner"));
                    let (after, moved) = settle(partitions, &joined, &held);
                    let bound = usize::from(partitions).div_ceil(n + 1) + 2;
                    assert!(
                        moved <= bound,
                        "P={partitions} join to {}: {moved} moved",
                        n + 1
                    );
                    worst_extra = worst_extra.max(moved - share(&after, &joined[n]));
                    if n > 1 {
                        let orphaned = share(&held, &live[0]);
                        let (_, moved) = settle(partitions, &live[1..], &held);
                        assert!(
                            moved <= orphaned + 2,
                            "P={partitions} leave from {n}: {moved} moved, {orphaned} orphaned"
                        );
                    }
                }
            }
        }
        println!("a join moved at most {worst_extra} partitions beyond the newcomer's share");
    }

    /// Every node computes the same map whatever the order of the live list, and the map
    /// is the same at every step of the hand-over it asks for (released, then acquired), so
    /// nodes reading the holders a heartbeat apart agree.
    #[test]
    fn nodes_agree_on_the_map_at_every_step_of_a_hand_over() {
        let live = names(3, 7);
        let held = map(64, &live, &[]);
        let mut joined = live.clone();
        joined.push("joiner".into());
        let target = map(64, &joined, &held);
        let mut reversed = joined.clone();
        reversed.reverse();
        assert_eq!(map(64, &reversed, &held), target);
        let mut holders = held;
        for p in 0..64 {
            if holders[p] != target[p] {
                holders[p] = None;
                assert_eq!(map(64, &joined, &holders), target, "released {p}");
                holders[p] = target[p].clone();
                assert_eq!(map(64, &joined, &holders), target, "acquired {p}");
            }
        }
    }

    #[test]
    fn leases_of_nodes_that_are_not_live_count_as_free() {
        let live = names(2, 1);
        let holders = vec![Some("gone".to_string()); 8];
        let owners = map(8, &live, &holders);
        assert!(owners.iter().all(Option::is_some), "{owners:?}");
    }
}
