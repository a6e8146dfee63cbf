//! The NTU skeleton graph as the encoders and augmentations use it. The topology and the
//! ST-GCN spatial-partition adjacency come from `crate::data::skeleton`, the single source
//! of truth (tested against `fixtures/golden/stgcn_ntu_spatial_A_3x25x25.npy` there and in
//! `tests/learn_models.rs`).

use crate::data::skeleton;

pub const V: usize = skeleton::NUM_JOINTS;
/// Spatial partitions: root, centripetal, centrifugal.
pub const K: usize = 3;
/// 1-based neighbour links of `Graph('ntu-rgb+d')`.
pub const EDGES: [(usize, usize); 24] = skeleton::NEIGHBOR_LINKS_1BASED;

/// `A[k][v][w]` (3, 25, 25) flattened row-major.
pub fn ntu_spatial_a() -> Vec<f32> {
    skeleton::stgcn_spatial_graph()
}
