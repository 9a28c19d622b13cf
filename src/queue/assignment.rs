//! Which partitions a node should own, computed identically by every node from the same list
//! of live nodes, so no coordinator is needed.
//!
//! Rendezvous (highest random weight) hashing with bounded load: every (partition, node)
//! pair gets a pseudo-random weight; pairs are taken from the heaviest down, and a partition
//! goes to the first node of its pairs that still has room. Each node has room for ⌊P/N⌋
//! partitions, and P mod N of them for one more, so shares differ by at most one. A node that
//! joins or leaves moves only the partitions whose preferred node changed, plus the few the
//! capacity bound pushes along: on 64 partitions and 2 to 9 nodes, a join moves 1.28 × P/N
//! on average and 1.88 × P/N at worst (`a_join_or_leave_moves_about_p_over_n`), where
//! `p mod N` moved nearly all of them.

/// Partitions node `me` should own, given every live node (any order).
pub fn assigned(partitions: u16, live: &[String], me: &str) -> Vec<u16> {
    let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
    nodes.push(me);
    nodes.sort_unstable();
    nodes.dedup();
    let owners = owners(partitions, &nodes);
    (0..partitions)
        .filter(|p| nodes.get(owners[usize::from(*p)]) == Some(&me))
        .collect()
}

/// The owner (an index into `nodes`, sorted and without duplicates) of every partition.
fn owners(partitions: u16, nodes: &[&str]) -> Vec<usize> {
    let p = usize::from(partitions);
    let n = nodes.len();
    let mut owner = vec![usize::MAX; p];
    if n == 0 {
        return owner;
    }
    let base = p / n;
    let mut extra_room = p % n;
    let mut pairs: Vec<(u64, u16, usize)> = (0..partitions)
        .flat_map(|part| {
            nodes
                .iter()
                .enumerate()
                .map(move |(i, node)| (weight(part, node), part, i))
        })
        .collect();
    pairs.sort_unstable_by(|a, b| b.cmp(a));
    let mut load = vec![0usize; n];
    for (_, part, node) in pairs {
        let part = usize::from(part);
        if owner[part] != usize::MAX {
            continue;
        }
        if load[node] < base {
            load[node] += 1;
            owner[part] = node;
        } else if load[node] == base && extra_room > 0 {
            extra_room -= 1;
            load[node] += 1;
            owner[part] = node;
        }
    }
    owner
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

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("node-{i:03}-{}", i * 7919))
            .collect()
    }

    fn shares(partitions: u16, live: &[String]) -> Vec<Vec<u16>> {
        live.iter().map(|n| assigned(partitions, live, n)).collect()
    }

    /// Partition → owning node name.
    fn map(partitions: u16, live: &[String]) -> Vec<String> {
        let mut owner = vec![String::new(); usize::from(partitions)];
        for node in live {
            for p in assigned(partitions, live, node) {
                owner[usize::from(p)] = node.clone();
            }
        }
        owner
    }

    #[test]
    fn shares_are_even_disjoint_and_complete() {
        for n in 1..=10 {
            let live = names(n);
            let shares = shares(64, &live);
            let mut all: Vec<u16> = shares.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..64).collect::<Vec<_>>(), "{n} nodes");
            let (low, high) = (64 / n, 64_usize.div_ceil(n));
            for share in &shares {
                assert!(
                    (low..=high).contains(&share.len()),
                    "{n} nodes: {}",
                    share.len()
                );
            }
        }
    }

    #[test]
    fn a_lone_node_owns_everything() {
        assert_eq!(assigned(8, &[], "me").len(), 8);
    }

    /// Moves when a node joins or leaves stay within 2 × P/N (the capacity bound pushes a
    /// few partitions along); `p mod N` moved nearly all of them.
    #[test]
    fn a_join_or_leave_moves_about_p_over_n() {
        let partitions = 64u16;
        let mut worst_ratio: f64 = 0.0;
        let (mut total_ratio, mut trials) = (0.0, 0);
        for seed in 0..40 {
            for n in 2..=8 {
                let live: Vec<String> = (0..n).map(|i| format!("s{seed}-n{i}")).collect();
                let before = map(partitions, &live);
                let mut joined = live.clone();
                joined.push(format!("s{seed}-joiner"));
                let after = map(partitions, &joined);
                let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
                let fair = f64::from(partitions) / (n + 1) as f64;
                worst_ratio = worst_ratio.max(moved as f64 / fair);
                total_ratio += moved as f64 / fair;
                trials += 1;
                assert!(
                    moved as f64 <= 2.0 * fair,
                    "join to {n}: {moved} moved, fair share {fair:.1}"
                );
                let left = map(partitions, &live[1..]);
                let moved = before.iter().zip(&left).filter(|(a, b)| a != b).count();
                let fair = f64::from(partitions) / n as f64;
                assert!(
                    moved as f64 <= 2.0 * fair,
                    "leave from {n}: {moved} moved, fair share {fair:.1}"
                );
            }
        }
        println!(
            "moves on a join: mean {:.2} × P/N, worst {worst_ratio:.2} × P/N",
            total_ratio / f64::from(trials)
        );
    }

    #[test]
    fn every_node_computes_the_same_map_whatever_the_order() {
        let live = names(5);
        let mut reversed = live.clone();
        reversed.reverse();
        assert_eq!(map(64, &live), map(64, &reversed));
    }
}
