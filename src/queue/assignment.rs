//! Which partitions a node should own, computed identically by every node from the same list
//! of live nodes, so no coordinator is needed: partition `p` belongs to node `p mod N` in id
//! order, so shares differ by at most one.

/// Partitions node `me` should own, given every live node (any order).
pub fn assigned(partitions: u16, live: &[String], me: &str) -> Vec<u16> {
    let mut nodes: Vec<&str> = live.iter().map(String::as_str).collect();
    if !nodes.contains(&me) {
        nodes.push(me);
    }
    nodes.sort_unstable();
    nodes.dedup();
    let Some(index) = nodes.iter().position(|n| *n == me) else {
        return Vec::new();
    };
    (0..partitions)
        .filter(|p| usize::from(*p) % nodes.len() == index)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_even_and_disjoint() {
        let live: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
        let shares: Vec<Vec<u16>> = live.iter().map(|n| assigned(64, &live, n)).collect();
        let mut all: Vec<u16> = shares.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..64).collect::<Vec<_>>());
        for share in &shares {
            assert!(share.len() == 21 || share.len() == 22, "{}", share.len());
        }
    }

    #[test]
    fn a_lone_node_owns_everything() {
        assert_eq!(assigned(8, &[], "me").len(), 8);
    }
}
