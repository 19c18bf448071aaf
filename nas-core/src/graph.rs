//! The architecture IR: a directed acyclic graph of typed tensor operations, on petgraph.
//!
//! Nodes are added in topological order (every input must exist before the node that reads it),
//! and each node's output shape is inferred and checked when it is added, so a [`Network`] that
//! exists is always well-formed. Shapes are per sample (`C x H x W`); the batch dimension is
//! implicit. A vector (the output of a global pool or a linear layer) has shape `C x 1 x 1`.

use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Identifier of a node inside a [`Network`].
pub type NodeId = NodeIndex<u32>;

/// Per-sample tensor shape, channels x height x width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// The shape `c x h x w`.
    pub const fn new(c: usize, h: usize, w: usize) -> Self {
        Shape { c, h, w }
    }

    /// Number of values per sample.
    pub const fn numel(&self) -> usize {
        self.c * self.h * self.w
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.c, self.h, self.w)
    }
}

/// Average or max pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// Average; `count_include_pad = false` divides by the number of real (unpadded) inputs.
    Avg {
        /// Whether padded positions count in the average's divisor.
        count_include_pad: bool,
    },
    /// Maximum over the window (padding never wins).
    Max,
}

/// A typed tensor operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// The network input; exactly one per network.
    Input {
        /// The per-sample shape of the input.
        shape: Shape,
    },
    /// 2-D convolution (square kernel, symmetric zero padding).
    Conv2d {
        /// Input channels.
        in_channels: usize,
        /// Output channels.
        out_channels: usize,
        /// Square kernel size.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
        /// Channel groups (1 = dense, `in_channels` = depthwise).
        groups: usize,
        /// Whether a per-channel bias is added.
        bias: bool,
    },
    /// Batch normalisation over channels; `affine` adds a learned scale and shift.
    BatchNorm {
        /// Channels normalised.
        channels: usize,
        /// Whether a learned scale and shift follow the normalisation.
        affine: bool,
    },
    /// Elementwise `max(x, 0)`.
    Relu,
    /// Spatial pooling with a square window.
    Pool {
        /// Average or max.
        kind: PoolKind,
        /// Square window size.
        kernel: usize,
        /// Stride in both directions.
        stride: usize,
        /// Padding on every side.
        padding: usize,
    },
    /// Mean over all spatial positions: `C x H x W -> C x 1 x 1`.
    GlobalAvgPool,
    /// Fully connected layer on the flattened input.
    Linear {
        /// Input features (the flattened input).
        in_features: usize,
        /// Output features.
        out_features: usize,
        /// Whether a bias is added.
        bias: bool,
    },
    /// Elementwise sum of one or more inputs of the same shape.
    Add,
    /// Channel concatenation of inputs with the same spatial size, in input order.
    Concat,
    /// Zeros of its input's shape (the `none` operation of cell spaces).
    Zero,
    /// Its input, unchanged (a skip connection).
    Identity,
    /// Several candidate sub-networks for one position of a weight-sharing supernet. Each candidate
    /// has one input of this node's input shape, and all candidates produce the same shape.
    /// Reserved for the supernet work: it is shape-checked and counted (the sum of its
    /// candidates), but no executor runs it yet (they answer [`Error::Unavailable`]).
    Choice {
        /// The candidates, each with one input of this node's input shape.
        candidates: Vec<Network>,
    },
}

impl Op {
    /// A short name for summaries and graph drawings.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Input { .. } => "input",
            Op::Conv2d { .. } => "conv",
            Op::BatchNorm { .. } => "batch_norm",
            Op::Relu => "relu",
            Op::Pool { kind: PoolKind::Avg { .. }, .. } => "avg_pool",
            Op::Pool { kind: PoolKind::Max, .. } => "max_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Linear { .. } => "linear",
            Op::Add => "add",
            Op::Concat => "concat",
            Op::Zero => "zero",
            Op::Identity => "identity",
            Op::Choice { .. } => "choice",
        }
    }

    /// A one-line description with the op's parameters.
    pub fn label(&self) -> String {
        match self {
            Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, bias } => {
                let mut s = format!("conv{kernel}x{kernel} {in_channels}->{out_channels}");
                if *stride != 1 {
                    let _ = write!(s, " s{stride}");
                }
                if *padding != 0 {
                    let _ = write!(s, " p{padding}");
                }
                if *groups != 1 {
                    let _ = write!(s, " g{groups}");
                }
                if *bias {
                    s.push_str(" +b");
                }
                s
            }
            Op::BatchNorm { channels, .. } => format!("bn {channels}"),
            Op::Pool { kind, kernel, stride, .. } => {
                let k = if matches!(kind, PoolKind::Max) { "max" } else { "avg" };
                format!("{k}_pool{kernel}x{kernel} s{stride}")
            }
            Op::Linear { in_features, out_features, .. } => format!("linear {in_features}->{out_features}"),
            Op::Choice { candidates } => format!("choice of {}", candidates.len()),
            other => other.kind().to_string(),
        }
    }
}

/// A node of the graph: a named operation and its inferred output shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// A name unique in the network, for messages and drawings.
    pub name: String,
    /// The operation.
    pub op: Op,
    /// The inferred per-sample output shape.
    pub shape: Shape,
}

/// A network: a DAG of [`Node`]s with one input and one output. Edges carry the input port number.
///
/// Built with [`Network::input`] and [`Network::add`]; the output is the last node added unless
/// [`Network::set_output`] says otherwise. Node ids follow insertion order, which is topological.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "NetworkSpec", into = "NetworkSpec")]
pub struct Network {
    graph: DiGraph<Node, u32>,
    input: Option<NodeId>,
    output: Option<NodeId>,
}

impl PartialEq for Network {
    fn eq(&self, other: &Self) -> bool {
        NetworkSpec::from(self.clone()) == NetworkSpec::from(other.clone())
    }
}

impl Network {
    /// An empty network; add its input first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the network's single input.
    pub fn input(&mut self, name: impl Into<String>, shape: Shape) -> Result<NodeId> {
        let name = name.into();
        if self.input.is_some() {
            return Err(Error::Graph { node: name, reason: "a network has exactly one input".into() });
        }
        if shape.numel() == 0 {
            return Err(Error::Graph { node: name, reason: format!("empty input shape {shape}") });
        }
        let id = self.graph.add_node(Node { name, op: Op::Input { shape }, shape });
        self.input = Some(id);
        Ok(id)
    }

    /// Adds `op` reading `inputs` (in port order); infers and checks its output shape.
    pub fn add(&mut self, name: impl Into<String>, op: Op, inputs: &[NodeId]) -> Result<NodeId> {
        let name = name.into();
        if matches!(op, Op::Input { .. }) {
            if !inputs.is_empty() {
                return Err(Error::Graph { node: name, reason: "an input takes no inputs".into() });
            }
            let Op::Input { shape } = op else { unreachable!() };
            return self.input(name, shape);
        }
        let mut shapes = Vec::with_capacity(inputs.len());
        for &i in inputs {
            let node = self.graph.node_weight(i).ok_or_else(|| Error::Graph {
                node: name.clone(),
                reason: format!("input node {} does not exist", i.index()),
            })?;
            shapes.push(node.shape);
        }
        let shape = infer_shape(&op, &shapes).map_err(|reason| Error::Graph { node: name.clone(), reason })?;
        let id = self.graph.add_node(Node { name, op, shape });
        for (port, &i) in inputs.iter().enumerate() {
            self.graph.add_edge(i, id, port as u32);
        }
        Ok(id)
    }

    /// Marks `id` as the network's output.
    pub fn set_output(&mut self, id: NodeId) -> Result<()> {
        if self.graph.node_weight(id).is_none() {
            return Err(Error::Graph { node: id.index().to_string(), reason: "no such node".into() });
        }
        self.output = Some(id);
        Ok(())
    }

    /// The input node. Panics only for an empty network, which no constructor returns to users.
    pub fn input_id(&self) -> Option<NodeId> {
        self.input
    }

    /// The output node: the one set with [`Network::set_output`], else the last node added.
    pub fn output_id(&self) -> Option<NodeId> {
        self.output.or_else(|| self.graph.node_indices().next_back())
    }

    /// The output shape, if the network has any node.
    pub fn output_shape(&self) -> Option<Shape> {
        self.output_id().map(|id| self.graph[id].shape)
    }

    /// The node `id` (ids come from this network, so it exists).
    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id]
    }

    /// Node ids in topological (insertion) order.
    pub fn node_ids(&self) -> impl DoubleEndedIterator<Item = NodeId> + ExactSizeIterator + '_ {
        self.graph.node_indices()
    }

    /// Nodes in topological (insertion) order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &Node)> + '_ {
        self.graph.node_indices().map(|i| (i, &self.graph[i]))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the network has no node.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// The inputs of `id`, in port order.
    pub fn inputs_of(&self, id: NodeId) -> Vec<NodeId> {
        let mut edges: Vec<_> =
            self.graph.edges_directed(id, Direction::Incoming).map(|e| (*e.weight(), e.source())).collect();
        edges.sort_unstable();
        edges.into_iter().map(|(_, s)| s).collect()
    }

    /// The nodes that read `id`.
    pub fn consumers_of(&self, id: NodeId) -> Vec<NodeId> {
        let mut v: Vec<_> = self.graph.neighbors_directed(id, Direction::Outgoing).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// How many times each node's value is read, by node index (a node that reads the same
    /// input twice counts twice): what an executor needs to free values after their last read.
    pub fn read_counts(&self) -> Vec<usize> {
        let mut reads = vec![0; self.len()];
        for e in self.graph.edge_indices() {
            if let Some((from, _)) = self.graph.edge_endpoints(e) {
                reads[from.index()] += 1;
            }
        }
        reads
    }

    /// The underlying petgraph graph, for algorithms that want it.
    pub fn graph(&self) -> &DiGraph<Node, u32> {
        &self.graph
    }

    /// Number of nodes of each kind, sorted by kind.
    pub fn op_histogram(&self) -> Vec<(&'static str, usize)> {
        let mut map = std::collections::BTreeMap::new();
        for (_, n) in self.nodes() {
            *map.entry(n.op.kind()).or_insert(0) += 1;
        }
        map.into_iter().collect()
    }

    /// Graphviz source of the whole network.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph network {\n  rankdir=TB;\n  node [shape=box, fontname=\"Helvetica\"];\n");
        for (id, n) in self.nodes() {
            let _ = writeln!(
                s,
                "  n{} [label=\"{}\\n{}\\n{}\"];",
                id.index(),
                escape(&n.name),
                escape(&n.op.label()),
                n.shape
            );
        }
        for e in self.graph.raw_edges() {
            let _ = writeln!(s, "  n{} -> n{};", e.source().index(), e.target().index());
        }
        s.push_str("}\n");
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn conv_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize, String> {
    if kernel == 0 || stride == 0 {
        return Err(format!("kernel {kernel} and stride {stride} must be positive"));
    }
    let padded = size + 2 * padding;
    if padded < kernel {
        return Err(format!("kernel {kernel} is larger than the padded input {padded}"));
    }
    Ok((padded - kernel) / stride + 1)
}

fn one_input(shapes: &[Shape]) -> Result<Shape, String> {
    match shapes {
        [s] => Ok(*s),
        _ => Err(format!("expects 1 input, got {}", shapes.len())),
    }
}

/// The output shape of `op` applied to inputs of `shapes`, or why it does not fit.
pub fn infer_shape(op: &Op, shapes: &[Shape]) -> Result<Shape, String> {
    match op {
        Op::Input { shape } => Ok(*shape),
        Op::Conv2d { in_channels, out_channels, kernel, stride, padding, groups, .. } => {
            let x = one_input(shapes)?;
            if x.c != *in_channels {
                return Err(format!("conv expects {in_channels} input channels, got {}", x.c));
            }
            if *groups == 0 || in_channels % groups != 0 || out_channels % groups != 0 || *out_channels == 0 {
                return Err(format!("channels {in_channels}->{out_channels} do not split into {groups} groups"));
            }
            Ok(Shape::new(
                *out_channels,
                conv_out(x.h, *kernel, *stride, *padding)?,
                conv_out(x.w, *kernel, *stride, *padding)?,
            ))
        }
        Op::BatchNorm { channels, .. } => {
            let x = one_input(shapes)?;
            if x.c != *channels {
                return Err(format!("batch norm expects {channels} channels, got {}", x.c));
            }
            Ok(x)
        }
        Op::Relu | Op::Identity | Op::Zero => one_input(shapes),
        Op::Pool { kernel, stride, padding, .. } => {
            let x = one_input(shapes)?;
            if 2 * padding > *kernel {
                return Err(format!("pool padding {padding} is more than half the kernel {kernel}"));
            }
            Ok(Shape::new(x.c, conv_out(x.h, *kernel, *stride, *padding)?, conv_out(x.w, *kernel, *stride, *padding)?))
        }
        Op::GlobalAvgPool => Ok(Shape::new(one_input(shapes)?.c, 1, 1)),
        Op::Linear { in_features, out_features, .. } => {
            let x = one_input(shapes)?;
            if x.numel() != *in_features {
                return Err(format!("linear expects {in_features} features, got {x}"));
            }
            if *out_features == 0 {
                return Err("linear with 0 outputs".into());
            }
            Ok(Shape::new(*out_features, 1, 1))
        }
        Op::Add => {
            let first = *shapes.first().ok_or("add expects at least 1 input")?;
            if let Some(s) = shapes.iter().find(|s| **s != first) {
                return Err(format!("add of different shapes {first} and {s}"));
            }
            Ok(first)
        }
        Op::Concat => {
            let first = *shapes.first().ok_or("concat expects at least 1 input")?;
            if let Some(s) = shapes.iter().find(|s| (s.h, s.w) != (first.h, first.w)) {
                return Err(format!("concat of different spatial sizes {first} and {s}"));
            }
            Ok(Shape::new(shapes.iter().map(|s| s.c).sum(), first.h, first.w))
        }
        Op::Choice { candidates } => {
            let x = one_input(shapes)?;
            let mut out = None;
            for (i, cand) in candidates.iter().enumerate() {
                let input = cand.input_id().map(|id| cand.node(id).shape);
                if input != Some(x) {
                    return Err(format!("choice candidate {i} takes {input:?}, not {x}"));
                }
                let o = cand.output_shape();
                if out.is_some() && o != out {
                    return Err(format!("choice candidate {i} outputs {o:?}, not {out:?}"));
                }
                out = o;
            }
            out.ok_or_else(|| "choice without candidates".into())
        }
    }
}

/// The serialised form of a [`Network`]: nodes in order, each naming its inputs by position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// The nodes in insertion (topological) order.
    pub nodes: Vec<NodeSpec>,
    /// Position of the output node in `nodes`.
    pub output: usize,
}

/// One node of a [`NetworkSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// The node's name.
    pub name: String,
    /// The operation (flattened into the node's JSON object).
    #[serde(flatten)]
    pub op: Op,
    /// Positions in `nodes` of the inputs, in port order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<usize>,
}

impl From<Network> for NetworkSpec {
    fn from(net: Network) -> Self {
        let output = net.output_id().map_or(0, |o| o.index());
        let nodes = net
            .nodes()
            .map(|(id, n)| NodeSpec {
                name: n.name.clone(),
                op: n.op.clone(),
                inputs: net.inputs_of(id).into_iter().map(|i| i.index()).collect(),
            })
            .collect();
        NetworkSpec { nodes, output }
    }
}

impl TryFrom<NetworkSpec> for Network {
    type Error = Error;

    fn try_from(spec: NetworkSpec) -> Result<Self> {
        let mut net = Network::new();
        for (pos, n) in spec.nodes.into_iter().enumerate() {
            if let Some(&bad) = n.inputs.iter().find(|&&i| i >= pos) {
                return Err(Error::Graph {
                    node: n.name,
                    reason: format!("input {bad} is not an earlier node (nodes must be in topological order)"),
                });
            }
            let inputs: Vec<NodeId> = n.inputs.iter().map(|&i| NodeId::new(i)).collect();
            net.add(n.name, n.op, &inputs)?;
        }
        if spec.output >= net.len() {
            return Err(Error::Graph { node: spec.output.to_string(), reason: "output is not a node".into() });
        }
        net.set_output(NodeId::new(spec.output))?;
        Ok(net)
    }
}
