//! The ST-GCN spatial-partition adjacency of the NTU skeleton, `A` of shape (3, 25, 25).
//!
//! Provisional copy until the data helper's `stages::data` graph is merged: then this file
//! goes and [`ntu_spatial_a`] re-exports theirs (single source of truth). Tested against
//! `fixtures/golden/stgcn_ntu_spatial_A_3x25x25.npy`.

pub const V: usize = 25;
pub const K: usize = 3;
const CENTER: usize = 20;

/// 1-based NTU bone list of `Graph('ntu-rgb+d')`.
pub const EDGES: [(usize, usize); 24] = [
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

/// `A[k][v][w]` flattened row-major, as `Graph('ntu-rgb+d', 'spatial')` with max_hop 1.
pub fn ntu_spatial_a() -> Vec<f32> {
    let inf = f64::INFINITY;
    // hop distance up to max_hop = 1 (inf beyond), as the reference computes it
    let mut hop = [[inf; V]; V];
    for (i, row) in hop.iter_mut().enumerate() {
        row[i] = 0.0;
    }
    for &(a, b) in &EDGES {
        hop[a - 1][b - 1] = 1.0;
        hop[b - 1][a - 1] = 1.0;
    }
    // normalize_digraph: AD = A · D^-1, D = column sums of the (hop <= 1) adjacency
    let mut deg = [0f64; V];
    for w in 0..V {
        deg[w] = (0..V).filter(|&v| hop[v][w] <= 1.0).count() as f64;
    }
    let norm = |j: usize, i: usize| if hop[j][i] <= 1.0 { 1.0 / deg[i] } else { 0.0 };
    let mut a = vec![0f32; K * V * V];
    for j in 0..V {
        for i in 0..V {
            let h = hop[j][i];
            if h == 0.0 {
                a[j * V + i] += norm(j, i) as f32; // root, hop 0
            } else if h == 1.0 {
                let (dj, di) = (hop[j][CENTER], hop[i][CENTER]);
                let k = if dj == di {
                    1
                } else if dj > di {
                    1
                } else {
                    2
                };
                a[k * V * V + j * V + i] += norm(j, i) as f32;
            }
        }
    }
    a
}
