//! Where a new database goes: a live node of the region asked for (any region when none is), the one
//! serving the fewest databases, then the one with the most free memory, then by name, so that placement
//! is predictable and spreads databases evenly.

use crate::membership::NodeRecord;

/// The node a new database in `region` (None: any) should be placed on, if there is one.
pub fn choose<'a>(nodes: &'a [NodeRecord], region: Option<&str>) -> Option<&'a NodeRecord> {
    nodes
        .iter()
        .filter(|n| region.is_none_or(|r| n.region == r))
        .min_by_key(|n| (n.databases, std::cmp::Reverse(n.free_memory()), n.name.clone()))
}

/// The nodes for the replicas of a database whose primary is on `primary`: one in each of `regions`
/// (an error names a region without a free live node), then others up to `count` in all, least loaded
/// first (fewer when there are not enough).
pub fn choose_replicas(
    nodes: &[NodeRecord],
    primary: &str,
    count: usize,
    regions: &[String],
) -> Result<Vec<String>, String> {
    let mut chosen: Vec<String> = Vec::new();
    for region in regions {
        let free: Vec<NodeRecord> =
            nodes.iter().filter(|n| n.name != primary && !chosen.contains(&n.name)).cloned().collect();
        let node = choose(&free, Some(region)).ok_or_else(|| format!("no live node left in read region '{region}'"))?;
        chosen.push(node.name.clone());
    }
    let mut others: Vec<&NodeRecord> =
        nodes.iter().filter(|n| n.name != primary && !chosen.contains(&n.name)).collect();
    others.sort_by_key(|n| (n.databases, std::cmp::Reverse(n.free_memory()), n.name.clone()));
    let more = count.saturating_sub(chosen.len());
    chosen.extend(others.into_iter().take(more).map(|n| n.name.clone()));
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, region: &str, databases: u64, used: u64) -> NodeRecord {
        NodeRecord {
            name: name.into(),
            region: region.into(),
            resp: String::new(),
            http: String::new(),
            databases,
            used_memory: used,
            max_memory: 1000,
            started_unix: 0,
            replica_offsets: Default::default(),
            primary_offsets: Default::default(),
        }
    }

    #[test]
    fn the_region_first_then_the_fewest_databases_then_free_memory_then_name() {
        let nodes =
            [node("n1", "dfw", 2, 0), node("n2", "dfw", 1, 900), node("n3", "dfw", 1, 100), node("n4", "iad", 0, 0)];
        assert_eq!(choose(&nodes, Some("dfw")).map(|n| n.name.as_str()), Some("n3"));
        assert_eq!(choose(&nodes, Some("iad")).map(|n| n.name.as_str()), Some("n4"));
        assert_eq!(choose(&nodes, None).map(|n| n.name.as_str()), Some("n4"));
        assert!(choose(&nodes, Some("fra")).is_none());
        let tied = [node("b", "x", 0, 0), node("a", "x", 0, 0)];
        assert_eq!(choose(&tied, None).map(|n| n.name.as_str()), Some("a"));
        assert_eq!(choose_replicas(&nodes, "n4", 2, &[]).unwrap(), ["n3", "n2"]);
        assert_eq!(choose_replicas(&nodes, "n1", 9, &[]).unwrap().len(), 3, "as many as there are other nodes");
        let iad = ["iad".to_string()];
        assert_eq!(choose_replicas(&nodes, "n3", 1, &iad).unwrap(), ["n4"], "the read region first");
        assert_eq!(choose_replicas(&nodes, "n3", 2, &iad).unwrap(), ["n4", "n2"]);
        assert!(choose_replicas(&nodes, "n4", 1, &iad).is_err(), "the primary's node is not its own replica");
    }
}
