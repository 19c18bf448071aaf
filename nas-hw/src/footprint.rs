//! Exact counts of a network per op and in total: parameters and FLOPs (from
//! [`nas_core::count`]), memory traffic (bytes each op reads and writes: its inputs, its weights,
//! its output) and the peak activation memory of running the ops in topological order while freeing
//! each tensor after its last reader. Values are f32 (4 bytes), batch 1.

use serde::{Deserialize, Serialize};

use nas_core::{Network, Op};

/// Bytes per value (f32).
pub const BYTES: u64 = 4;

/// The cost of one op.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpFootprint {
    /// The node's name.
    pub name: String,
    /// The op kind (`conv`, `relu`, ...).
    pub kind: String,
    /// Learned parameters.
    pub params: u64,
    /// Per-sample FLOPs.
    pub flops: u64,
    /// Bytes read: inputs and parameters.
    pub bytes_read: u64,
    /// Bytes written: the output.
    pub bytes_written: u64,
}

/// The totals of a network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Footprint {
    /// Learned parameters of the network.
    pub params: u64,
    /// Per-sample FLOPs of the network.
    pub flops: u64,
    /// Bytes read and written by all ops together.
    pub memory_traffic_bytes: u64,
    /// The most bytes of activations alive at once, in execution order.
    pub peak_activation_bytes: u64,
    /// One entry per op, in execution order.
    pub ops: Vec<OpFootprint>,
}

/// Counts, traffic and peak activation memory of `net`.
pub fn footprint(net: &Network) -> Footprint {
    let counts = net.node_counts();
    let ids: Vec<_> = net.node_ids().collect();
    let mut ops = Vec::with_capacity(ids.len());
    for (&id, c) in ids.iter().zip(&counts) {
        let n = net.node(id);
        let moves_data = !matches!(n.op, Op::Input { .. } | Op::Identity | Op::Zero);
        let read: u64 = net.inputs_of(id).iter().map(|&i| net.node(i).shape.numel() as u64).sum::<u64>() + c.params;
        let written = n.shape.numel() as u64;
        ops.push(OpFootprint {
            name: n.name.clone(),
            kind: n.op.kind().to_string(),
            params: c.params,
            flops: c.flops,
            bytes_read: if moves_data { read * BYTES } else { 0 },
            bytes_written: if moves_data { written * BYTES } else { 0 },
        });
    }
    // Peak activation: a tensor lives from its op until its last reader has run.
    let pos = |id| ids.iter().position(|&x| x == id).unwrap_or(0);
    let last_use: Vec<usize> =
        ids.iter().enumerate().map(|(k, &id)| net.consumers_of(id).into_iter().map(pos).max().unwrap_or(k)).collect();
    let out = net.output_id();
    let mut peak = 0u64;
    for k in 0..ids.len() {
        let live: u64 = (0..=k)
            .filter(|&j| last_use[j] >= k || Some(ids[j]) == out)
            .map(|j| net.node(ids[j]).shape.numel() as u64)
            .sum();
        peak = peak.max(live * BYTES);
    }
    Footprint {
        params: counts.iter().map(|c| c.params).sum(),
        flops: counts.iter().map(|c| c.flops).sum(),
        memory_traffic_bytes: ops.iter().map(|o| o.bytes_read + o.bytes_written).sum(),
        peak_activation_bytes: peak,
        ops,
    }
}
