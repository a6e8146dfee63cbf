//! The NTU RGB+D 25-joint skeleton: joint names, the ST-GCN neighbour links, the bone pairs
//! of the bone stream, and ST-GCN's spatial-partition graph. The single source of truth for
//! every stage that needs the topology (data streams, ST-GCN, augmentations).

/// Joints per body.
pub const NUM_JOINTS: usize = 25;
/// Bodies kept per sample (the M axis of (C, T, V, M)).
pub const MAX_BODIES: usize = 2;
/// Coordinates per joint (x, y, z).
pub const CHANNELS: usize = 3;

/// NTU joint names, index = joint number − 1 (J1 = index 0).
pub const JOINT_NAMES: [&str; NUM_JOINTS] = [
    "spine-base",
    "spine-mid",
    "neck",
    "head",
    "left-shoulder",
    "left-elbow",
    "left-wrist",
    "left-hand",
    "right-shoulder",
    "right-elbow",
    "right-wrist",
    "right-hand",
    "left-hip",
    "left-knee",
    "left-ankle",
    "left-foot",
    "right-hip",
    "right-knee",
    "right-ankle",
    "right-foot",
    "spine-shoulder",
    "left-hand-tip",
    "left-thumb",
    "right-hand-tip",
    "right-thumb",
];

/// ST-GCN's `ntu-rgb+d` neighbour links, 1-based as in `graph.py`.
pub const NEIGHBOR_LINKS_1BASED: [(usize, usize); 24] = [
    (1, 2),
    (2, 21),
    (3, 21),
    (4, 3),
    (5, 21),
    (6, 5),
    (7, 6),
    (8, 7),
    (9, 21),
    (10, 9),
    (11, 10),
    (12, 11),
    (13, 1),
    (14, 13),
    (15, 14),
    (16, 15),
    (17, 1),
    (18, 17),
    (19, 18),
    (20, 19),
    (22, 23),
    (23, 8),
    (24, 25),
    (25, 12),
];

/// The centre joint of ST-GCN's spatial partition (J21 spine-shoulder, 0-based).
pub const GRAPH_CENTER: usize = 20;

/// Bone pairs of the bone stream (AimCLR / ActCLR / CMD `Bone`), 1-based (v1, v2):
/// `bone[v1] = x[v1] − x[v2]`, one per joint in joint order. They are the neighbour links
/// (each of which lists its child joint first) plus J21 paired with itself, so its bone is
/// zero.
pub const BONE_PAIRS_1BASED: [(usize, usize); NUM_JOINTS] = {
    let mut pairs = [(GRAPH_CENTER + 1, GRAPH_CENTER + 1); NUM_JOINTS];
    let mut i = 0;
    while i < NEIGHBOR_LINKS_1BASED.len() {
        let (child, parent) = NEIGHBOR_LINKS_1BASED[i];
        pairs[child - 1] = (child, parent);
        i += 1;
    }
    pairs
};

/// Bone pairs 0-based: `bone[v] = x[v] − x[BONE_PARENT[v]]`.
pub const BONE_PARENT: [usize; NUM_JOINTS] = {
    let mut parent = [0usize; NUM_JOINTS];
    let mut i = 0;
    while i < NUM_JOINTS {
        parent[BONE_PAIRS_1BASED[i].0 - 1] = BONE_PAIRS_1BASED[i].1 - 1;
        i += 1;
    }
    parent
};

/// Joint index (0-based) of a joint name.
pub fn joint_index(name: &str) -> Option<usize> {
    JOINT_NAMES.iter().position(|n| *n == name)
}

/// ST-GCN's `Graph(layout='ntu-rgb+d', strategy='spatial', max_hop=1, dilation=1).A`:
/// shape (3, 25, 25) row-major, `A[k][v][w]`, aggregation `out[w] = Σ_k Σ_v x_k[v]·A[k,v,w]`.
///
/// Computed the way `net/utils/graph.py` does, including its quirk that hop distances are
/// only known up to `max_hop`, so joints further than one hop from the centre all have
/// distance ∞ (and ∞ == ∞ puts those edges into the "root" group).
pub fn stgcn_spatial_graph() -> Vec<f32> {
    const N: usize = NUM_JOINTS;
    let inf = f64::INFINITY;
    let mut adj = [[false; N]; N];
    for i in 0..N {
        adj[i][i] = true;
    }
    for &(a, b) in &NEIGHBOR_LINKS_1BASED {
        adj[a - 1][b - 1] = true;
        adj[b - 1][a - 1] = true;
    }
    // hop_dis: 0 on the diagonal, 1 for neighbours, ∞ otherwise (max_hop = 1).
    let mut hop = [[inf; N]; N];
    for i in 0..N {
        for j in 0..N {
            if i == j {
                hop[i][j] = 0.0;
            } else if adj[i][j] {
                hop[i][j] = 1.0;
            }
        }
    }
    // adjacency = hop ≤ max_hop; normalize_digraph: AD[v,w] = A[v,w] / deg(w).
    let mut deg = [0.0f64; N];
    for w in 0..N {
        deg[w] = (0..N).filter(|&v| hop[v][w] <= 1.0).count() as f64;
    }
    let norm = |v: usize, w: usize| if hop[v][w] <= 1.0 { 1.0 / deg[w] } else { 0.0 };

    let c = GRAPH_CENTER;
    let mut a = vec![0f32; 3 * N * N];
    let mut set = |k: usize, j: usize, i: usize, val: f64| a[k * N * N + j * N + i] += val as f32;
    for h in [0.0, 1.0] {
        for i in 0..N {
            for j in 0..N {
                if hop[j][i] != h {
                    continue;
                }
                let val = norm(j, i);
                let (dj, di) = (hop[j][c], hop[i][c]);
                // `==` on ∞ is true, exactly like numpy.
                let group = if dj == di {
                    0 // root
                } else if dj > di {
                    1 // close
                } else {
                    2 // further
                };
                let k = match (h == 0.0, group) {
                    (true, 0) => 0,
                    (true, _) => continue, // hop 0 only keeps a_root
                    (false, 0) | (false, 1) => 1,
                    (false, _) => 2,
                };
                set(k, j, i, val);
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bone_parent_follows_the_pairs() {
        assert_eq!(BONE_PARENT[0], 1); // J1 − J2
        assert_eq!(BONE_PARENT[20], 20); // J21 − J21
        assert_eq!(BONE_PARENT[24], 11); // J25 − J12
        assert_eq!(joint_index("spine-shoulder"), Some(20));
    }

    /// The pairs as AimCLR / ActCLR / CMD write them out.
    #[test]
    fn bone_pairs_are_the_references() {
        #[rustfmt::skip]
        let reference = [
            (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
            (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
            (18, 17), (19, 18), (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12),
        ];
        assert_eq!(BONE_PAIRS_1BASED, reference);
    }

    #[test]
    fn graph_has_the_documented_structure() {
        let a = stgcn_spatial_graph();
        let nz = |k: usize| {
            a[k * 625..(k + 1) * 625]
                .iter()
                .filter(|v| **v != 0.0)
                .count()
        };
        assert_eq!((nz(0), nz(1), nz(2)), (25, 40, 8));
        // Column sums of ΣA are 1.
        for w in 0..25 {
            let s: f32 = (0..3)
                .flat_map(|k| (0..25).map(move |v| (k, v)))
                .map(|(k, v)| a[k * 625 + v * 25 + w])
                .sum();
            assert!((s - 1.0).abs() < 1e-6, "column {w} sums to {s}");
        }
    }
}
