//! The stage graph: dependency order and cycles.

use std::collections::{BTreeSet, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};

/// `needs[i]` = indices of the stages stage `i` needs. Returns the stages in dependency order
/// (file order among independent stages), or every cycle as a list of stage indices
/// `[a, b, …]` meaning a needs b needs … needs a.
pub fn order(needs: &[Vec<usize>]) -> Result<Vec<usize>, Vec<Vec<usize>>> {
    let mut g: DiGraph<usize, ()> = DiGraph::with_capacity(needs.len(), needs.len());
    let nodes: Vec<NodeIndex> = (0..needs.len()).map(|i| g.add_node(i)).collect();
    for (i, ns) in needs.iter().enumerate() {
        for &n in ns {
            g.add_edge(nodes[i], nodes[n], ());
        }
    }
    let mut cycles = Vec::new();
    for scc in petgraph::algo::tarjan_scc(&g) {
        let members: BTreeSet<usize> = scc.iter().map(|n| g[*n]).collect();
        let start = *members.iter().next().expect("non-empty scc");
        if members.len() > 1 || needs[start].contains(&start) {
            cycles.push(cycle_through(start, &members, needs));
        }
    }
    if !cycles.is_empty() {
        cycles.sort();
        return Err(cycles);
    }
    // Kahn's algorithm, always taking the earliest ready stage in file order.
    let mut remaining: Vec<usize> = needs.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); needs.len()];
    for (i, ns) in needs.iter().enumerate() {
        for &n in ns {
            users[n].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..needs.len()).filter(|&i| remaining[i] == 0).collect();
    let mut out = Vec::with_capacity(needs.len());
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &u in &users[i] {
            remaining[u] -= 1;
            if remaining[u] == 0 {
                ready.insert(u);
            }
        }
    }
    Ok(out)
}

/// The shortest cycle from `start` back to itself inside one strongly connected component.
fn cycle_through(start: usize, members: &BTreeSet<usize>, needs: &[Vec<usize>]) -> Vec<usize> {
    let mut parent: Vec<Option<usize>> = vec![None; needs.len()];
    let mut queue = VecDeque::from([start]);
    let mut seen = BTreeSet::from([start]);
    while let Some(cur) = queue.pop_front() {
        for &n in &needs[cur] {
            if n == start {
                let mut path = vec![cur];
                let mut p = cur;
                while let Some(q) = parent[p] {
                    path.push(q);
                    p = q;
                }
                path.reverse();
                return path;
            }
            if members.contains(&n) && seen.insert(n) {
                parent[n] = Some(cur);
                queue.push_back(n);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_dependencies_then_file_order() {
        // 0 needs 2, 1 needs nothing, 2 needs 1
        assert_eq!(order(&[vec![2], vec![], vec![1]]).unwrap(), vec![1, 2, 0]);
    }

    #[test]
    fn names_each_cycle() {
        // 0 -> 1 -> 2 -> 0, and 3 needs itself
        let cycles = order(&[vec![1], vec![2], vec![0], vec![3], vec![0]]).unwrap_err();
        assert_eq!(cycles, vec![vec![0, 1, 2], vec![3]]);
    }
}
