//! NAS-Bench-201 (Dong & Yang, ICLR 2020): a cell of 4 nodes and 6 edges, 5 operations per edge,
//! 15,625 architectures, stacked into the fixed network of `shared/docs/algorithms.md` §1.

use std::collections::HashMap;
use std::sync::OnceLock;

use nas_core::{Decision, Error, Genotype, Network, NodeId, Op, PoolKind, Result, SearchSpace, Shape};

/// The five edge operations, in the benchmark's index order (the digits of the `ops` column).
pub const OPS: [&str; 5] = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"];
/// Index of `none` in [`OPS`].
pub const NONE: usize = 0;
/// Index of `skip_connect` in [`OPS`].
pub const SKIP: usize = 1;
/// Index of `nor_conv_1x1` in [`OPS`].
pub const CONV1X1: usize = 2;
/// Index of `nor_conv_3x3` in [`OPS`].
pub const CONV3X3: usize = 3;
/// Index of `avg_pool_3x3` in [`OPS`].
pub const AVG_POOL: usize = 4;

/// The six edges `(from, to)` in genotype order: node 1 <- 0 | node 2 <- 0, 1 | node 3 <- 0, 1, 2.
pub const EDGES: [(usize, usize); 6] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// Number of architectures in the space.
pub const SIZE: usize = 15_625;

/// Width and depth of an NB201 cell, after Shu et al. (ICLR 2020, "Understanding architectures
/// learnt by cell-based neural architecture search"), whose cells have two inputs and a
/// concatenated output; for NB201's single input and summed output the toolkit keeps the edges whose
/// op is not `none` and that lie on some path from node 0 to node 3 (the live edges), and counts:
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CellTopology {
    /// Live edges leaving the input node 0 (0 to 3): how many of the cell's nodes read the input
    /// directly.
    pub width: usize,
    /// Live edges on the longest path from node 0 to node 3 (0 to 3; 0 when node 3 is cut off).
    pub depth: usize,
    /// The paper's node-based width: intermediate nodes (1 and 2) that read the input through a
    /// live edge (0 to 2).
    pub input_nodes: usize,
}

/// Network hyper-parameters: channels `C` of the first stage, cells `N` per stage, classes, input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Nb201Config {
    /// Channels of the first stage (doubled at each reduction).
    pub channels: usize,
    /// Cells per stage (5 in the benchmark).
    pub cells_per_stage: usize,
    /// Classes of the classifier.
    pub num_classes: usize,
    /// The input shape.
    pub input: Shape,
}

impl Default for Nb201Config {
    /// The benchmark's network for CIFAR-10: C = 16, N = 5, 10 classes, 3x32x32 input.
    fn default() -> Self {
        Nb201Config { channels: 16, cells_per_stage: 5, num_classes: 10, input: Shape::new(3, 32, 32) }
    }
}

impl Nb201Config {
    /// The benchmark's network for a dataset (`cifar10`, `cifar10-valid`, `cifar100`, `ImageNet16-120`).
    pub fn for_dataset(dataset: &str) -> Result<Self> {
        let base = Self::default();
        Ok(match dataset {
            "cifar10" | "cifar10-valid" => base,
            "cifar100" => Nb201Config { num_classes: 100, ..base },
            "ImageNet16-120" => Nb201Config { num_classes: 120, input: Shape::new(3, 16, 16), ..base },
            other => {
                return Err(Error::invalid(
                    "dataset",
                    format!("unknown dataset {other:?}; expected cifar10, cifar10-valid, cifar100 or ImageNet16-120"),
                ));
            }
        })
    }
}

/// The NAS-Bench-201 search space.
#[derive(Clone, Debug)]
pub struct Nb201Space {
    config: Nb201Config,
    decisions: Vec<Decision>,
}

impl Default for Nb201Space {
    fn default() -> Self {
        Self::new(Nb201Config::default())
    }
}

impl Nb201Space {
    /// The space of networks built with `config`.
    pub fn new(config: Nb201Config) -> Self {
        let decisions = EDGES.iter().map(|(f, t)| Decision::new(format!("edge{t}<-{f}"), &OPS)).collect();
        Nb201Space { config, decisions }
    }

    /// The network configuration.
    pub fn config(&self) -> &Nb201Config {
        &self.config
    }

    /// All 15,625 genotypes in mixed-radix order of the `ops` digits.
    pub fn enumerate(&self) -> impl Iterator<Item = Genotype> + '_ {
        (0..SIZE as u128).filter_map(|i| self.genotype_at(i).ok())
    }

    /// The `ops` code: six digits, one per edge, each an index into [`OPS`] (e.g. `421211`).
    pub fn ops_code(g: &Genotype) -> String {
        g.0.iter().map(|&d| char::from(b'0' + d as u8)).collect()
    }

    /// Parses an `ops` code such as `421211`.
    pub fn parse_ops_code(s: &str) -> Result<Genotype> {
        if s.len() != EDGES.len() {
            return Err(Error::parse(s, format!("an ops code has {} digits, got {}", EDGES.len(), s.len())));
        }
        s.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) if (d as usize) < OPS.len() => Ok(d as usize),
                _ => Err(Error::parse(s, format!("ops code digit {c:?} is not in 0..{}", OPS.len() - 1))),
            })
            .collect::<Result<_>>()
            .map(Genotype)
    }

    /// Number of edges holding each operation, indexed like [`OPS`].
    pub fn op_counts(g: &Genotype) -> [usize; 5] {
        let mut n = [0; 5];
        for &o in &g.0 {
            n[o] += 1;
        }
        n
    }

    /// Width and depth of the cell (Shu et al., ICLR 2020, adapted to NB201's single-input cell):
    /// see [`CellTopology`].
    pub fn topology(g: &Genotype) -> CellTopology {
        // Live edges: not `none`, and on some path from node 0 to node 3.
        let mut from_input = [false; 4];
        from_input[0] = true;
        for (&(f, t), &op) in EDGES.iter().zip(&g.0) {
            if op != NONE && from_input[f] {
                from_input[t] = true;
            }
        }
        let mut to_output = [false; 4];
        to_output[3] = true;
        for (&(f, t), &op) in EDGES.iter().zip(&g.0).rev() {
            if op != NONE && to_output[t] {
                to_output[f] = true;
            }
        }
        let live: Vec<(usize, usize)> = EDGES
            .iter()
            .zip(&g.0)
            .filter(|&(&(f, t), &op)| op != NONE && from_input[f] && to_output[t])
            .map(|(&e, _)| e)
            .collect();
        // Longest path in edges: EDGES lists every edge after the edges into its source node.
        let mut longest = [None::<usize>; 4];
        longest[0] = Some(0);
        for &(f, t) in &live {
            if let Some(d) = longest[f] {
                longest[t] = Some(longest[t].map_or(d + 1, |e: usize| e.max(d + 1)));
            }
        }
        CellTopology {
            width: live.iter().filter(|&&(f, _)| f == 0).count(),
            depth: if live.is_empty() { 0 } else { longest[3].unwrap_or(0) },
            input_nodes: live.iter().filter(|&&(f, t)| f == 0 && t != 3).count(),
        }
    }

    /// A string that two genotypes share exactly when their cells compute the same function: edges
    /// fed by a zero node or carrying `none` contribute zero, `skip_connect` passes its input on,
    /// and each node is the sorted sum of its terms. This is the benchmark's own rule
    /// (`Structure.to_unique_str(consider_zero=True)` of NAS-Bench-201), which yields its
    /// 6,466 classes.
    pub fn iso_key(g: &Genotype) -> String {
        let mut nodes: Vec<String> = vec!["0".into()];
        for to in 1..4 {
            let mut terms: Vec<String> = EDGES
                .iter()
                .zip(&g.0)
                .filter(|((_, t), _)| *t == to)
                .map(|(&(from, _), &op)| {
                    let x = &nodes[from];
                    if op == NONE || x == "#" {
                        "#".to_string()
                    } else if op == SKIP {
                        x.clone()
                    } else {
                        format!("({x})@{}", OPS[op])
                    }
                })
                .collect();
            terms.sort();
            nodes.push(terms.join("+"));
        }
        nodes.pop().unwrap_or_default()
    }

    /// Graphviz source of the cell: nodes 0..3, one labelled arrow per edge that is not `none`.
    pub fn cell_dot(g: &Genotype) -> String {
        let mut s = String::from("digraph cell {\n  rankdir=LR;\n  node [shape=circle];\n");
        for n in 0..4 {
            s.push_str(&format!("  {n} [label=\"{n}\"];\n"));
        }
        for (&(from, to), &op) in EDGES.iter().zip(&g.0) {
            if op != NONE {
                s.push_str(&format!("  {from} -> {to} [label=\"{}\"];\n", OPS[op]));
            }
        }
        s.push_str("}\n");
        s
    }

    fn add_cell(&self, net: &mut Network, g: &Genotype, prefix: &str, x: NodeId, c: usize) -> Result<NodeId> {
        let mut nodes = vec![x];
        for to in 1..4 {
            let mut terms = Vec::new();
            for (&(from, _), &op) in EDGES.iter().zip(&g.0).filter(|((_, t), _)| *t == to) {
                let name = format!("{prefix}.edge{to}<-{from}");
                let src = nodes[from];
                match op {
                    NONE => {}
                    SKIP => terms.push(net.add(format!("{name}.skip"), Op::Identity, &[src])?),
                    CONV1X1 | CONV3X3 => {
                        let k = if op == CONV1X1 { 1 } else { 3 };
                        terms.push(relu_conv_bn(net, &name, src, c, c, k, 1)?);
                    }
                    _ => {
                        let pool = Op::Pool {
                            kind: PoolKind::Avg { count_include_pad: false },
                            kernel: 3,
                            stride: 1,
                            padding: 1,
                        };
                        terms.push(net.add(format!("{name}.avg_pool"), pool, &[src])?);
                    }
                }
            }
            let node = match terms.as_slice() {
                [] => net.add(format!("{prefix}.node{to}.zero"), Op::Zero, &[x])?,
                [one] => *one,
                many => net.add(format!("{prefix}.node{to}.sum"), Op::Add, many)?,
            };
            nodes.push(node);
        }
        Ok(nodes[3])
    }
}

/// ReLU -> Conv (no bias) -> BatchNorm (affine), the benchmark's `ReLUConvBN`.
fn relu_conv_bn(
    net: &mut Network,
    name: &str,
    x: NodeId,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
) -> Result<NodeId> {
    relu_conv_bn_with(net, name, x, (cin, cout, k, stride), true)
}

/// [`relu_conv_bn`] with the batch norm's `affine` given (`(cin, cout, kernel, stride)`).
fn relu_conv_bn_with(
    net: &mut Network,
    name: &str,
    x: NodeId,
    (cin, cout, k, stride): (usize, usize, usize, usize),
    affine: bool,
) -> Result<NodeId> {
    let r = net.add(format!("{name}.relu"), Op::Relu, &[x])?;
    let conv =
        Op::Conv2d { in_channels: cin, out_channels: cout, kernel: k, stride, padding: k / 2, groups: 1, bias: false };
    let c = net.add(format!("{name}.conv"), conv, &[r])?;
    net.add(format!("{name}.bn"), Op::BatchNorm { channels: cout, affine }, &[c])
}

/// One mixed edge of the [`supernet`]: a weighted-sum node (an `Add` whose coefficients the
/// executor sets per pass, `nas_kernels::CpuNet::set_mix`) and the op of each of its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixedEdge {
    /// The cell edge, an index into [`EDGES`] (the same in every cell: one architecture).
    pub edge: usize,
    /// The weighted-sum node.
    pub node: NodeId,
    /// `ops[k]`: the index into [`OPS`] of the node's input `k` (`none` has no input: it is zero).
    pub ops: Vec<usize>,
}

/// The weight-sharing supernet of the space, and where its mixed edges are.
#[derive(Clone, Debug)]
pub struct SupernetGraph {
    /// The network: the benchmark's macro skeleton (stem, reduction blocks and head with affine
    /// batch norm), every cell edge a weighted sum of the four ops that are not `none`.
    pub network: Network,
    /// Every mixed edge, cell by cell.
    pub mixes: Vec<MixedEdge>,
}

/// The NB201 supernet (AutoDL's search model, `shared/peers/darts_torch.py`): each of the 6 edges of
/// every cell holds skip_connect, nor_conv_1x1, nor_conv_3x3 (ReLU-conv-BN with the batch norm not
/// affine) and avg_pool_3x3 as the inputs of one weighted-sum node; `none` is never built (it
/// contributes zero). A cell node sums its incoming edges in edge order.
pub fn supernet(config: Nb201Config) -> Result<SupernetGraph> {
    let Nb201Config { channels: c, cells_per_stage, num_classes, input } = config;
    if c == 0 || cells_per_stage == 0 || num_classes == 0 {
        return Err(Error::invalid("nb201 config", format!("{config:?} has a zero size")));
    }
    let mut net = Network::new();
    let mut mixes = Vec::new();
    let x = net.input("input", input)?;
    let stem =
        Op::Conv2d { in_channels: input.c, out_channels: c, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false };
    let s = net.add("stem.conv", stem, &[x])?;
    let mut h = net.add("stem.bn", Op::BatchNorm { channels: c, affine: true }, &[s])?;
    let pool = Op::Pool { kind: PoolKind::Avg { count_include_pad: false }, kernel: 3, stride: 1, padding: 1 };
    for stage in 0..3 {
        let width = c << stage;
        if stage > 0 {
            h = reduction(&mut net, &format!("reduction{stage}"), h, width / 2, width)?;
        }
        for cell in 0..cells_per_stage {
            let prefix = format!("stage{stage}.cell{cell}");
            let mut nodes = vec![h];
            for to in 1..4 {
                let mut terms = Vec::new();
                for (e, &(from, _)) in EDGES.iter().enumerate().filter(|(_, (_, t))| *t == to) {
                    let name = format!("{prefix}.edge{to}<-{from}");
                    let src = nodes[from];
                    let skip = net.add(format!("{name}.skip"), Op::Identity, &[src])?;
                    let c1 = relu_conv_bn_with(&mut net, &format!("{name}.conv1x1"), src, (width, width, 1, 1), false)?;
                    let c3 = relu_conv_bn_with(&mut net, &format!("{name}.conv3x3"), src, (width, width, 3, 1), false)?;
                    let ap = net.add(format!("{name}.avg_pool"), pool.clone(), &[src])?;
                    let node = net.add(format!("{name}.mix"), Op::Add, &[skip, c1, c3, ap])?;
                    mixes.push(MixedEdge { edge: e, node, ops: vec![SKIP, CONV1X1, CONV3X3, AVG_POOL] });
                    terms.push(node);
                }
                let node = match terms.as_slice() {
                    [one] => *one,
                    many => net.add(format!("{prefix}.node{to}.sum"), Op::Add, many)?,
                };
                nodes.push(node);
            }
            h = nodes[3];
        }
    }
    let bn = net.add("head.bn", Op::BatchNorm { channels: 4 * c, affine: true }, &[h])?;
    let r = net.add("head.relu", Op::Relu, &[bn])?;
    let p = net.add("head.global_pool", Op::GlobalAvgPool, &[r])?;
    let fc =
        net.add("head.classifier", Op::Linear { in_features: 4 * c, out_features: num_classes, bias: true }, &[p])?;
    net.set_output(fc)?;
    Ok(SupernetGraph { network: net, mixes })
}

/// The residual reduction block between stages.
fn reduction(net: &mut Network, name: &str, x: NodeId, cin: usize, cout: usize) -> Result<NodeId> {
    let a = relu_conv_bn(net, &format!("{name}.a"), x, cin, cout, 3, 2)?;
    let b = relu_conv_bn(net, &format!("{name}.b"), a, cout, cout, 3, 1)?;
    let pool = Op::Pool { kind: PoolKind::Avg { count_include_pad: true }, kernel: 2, stride: 2, padding: 0 };
    let p = net.add(format!("{name}.shortcut.avg_pool"), pool, &[x])?;
    let conv =
        Op::Conv2d { in_channels: cin, out_channels: cout, kernel: 1, stride: 1, padding: 0, groups: 1, bias: false };
    let s = net.add(format!("{name}.shortcut.conv"), conv, &[p])?;
    net.add(format!("{name}.sum"), Op::Add, &[s, b])
}

fn parse_error(s: &str, reason: impl Into<String>) -> Error {
    Error::parse(s, reason)
}

impl SearchSpace for Nb201Space {
    fn name(&self) -> &str {
        "nb201"
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn to_network(&self, g: &Genotype) -> Result<Network> {
        self.validate(g)?;
        let Nb201Config { channels: c, cells_per_stage, num_classes, input } = self.config;
        if c == 0 || cells_per_stage == 0 || num_classes == 0 {
            return Err(Error::invalid("nb201 config", format!("{:?} has a zero size", self.config)));
        }
        let mut net = Network::new();
        let x = net.input("input", input)?;
        let stem = Op::Conv2d {
            in_channels: input.c,
            out_channels: c,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
            bias: false,
        };
        let s = net.add("stem.conv", stem, &[x])?;
        let mut h = net.add("stem.bn", Op::BatchNorm { channels: c, affine: true }, &[s])?;
        for stage in 0..3 {
            let width = c << stage;
            if stage > 0 {
                h = reduction(&mut net, &format!("reduction{stage}"), h, width / 2, width)?;
            }
            for cell in 0..cells_per_stage {
                h = self.add_cell(&mut net, g, &format!("stage{stage}.cell{cell}"), h, width)?;
            }
        }
        let bn = net.add("head.bn", Op::BatchNorm { channels: 4 * c, affine: true }, &[h])?;
        let r = net.add("head.relu", Op::Relu, &[bn])?;
        let p = net.add("head.global_pool", Op::GlobalAvgPool, &[r])?;
        let fc =
            net.add("head.classifier", Op::Linear { in_features: 4 * c, out_features: num_classes, bias: true }, &[p])?;
        net.set_output(fc)?;
        Ok(net)
    }

    fn format(&self, g: &Genotype) -> String {
        let mut s = String::from("|");
        for to in 1..4 {
            if to > 1 {
                s.push_str("+|");
            }
            for (&(from, _), &op) in EDGES.iter().zip(&g.0).filter(|((_, t), _)| *t == to) {
                s.push_str(&format!("{}~{from}|", OPS.get(op).unwrap_or(&"?")));
            }
        }
        s
    }

    /// Parses the official string, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`.
    fn parse(&self, s: &str) -> Result<Genotype> {
        if s.trim().is_empty() {
            return Err(parse_error(s, "empty architecture string"));
        }
        let nodes: Vec<&str> = s.split('+').collect();
        if nodes.len() != 3 {
            return Err(parse_error(s, format!("expected 3 nodes separated by '+', found {}", nodes.len())));
        }
        let mut ops = Vec::with_capacity(EDGES.len());
        for (i, node) in nodes.iter().enumerate() {
            let to = i + 1;
            let inner = node
                .strip_prefix('|')
                .and_then(|n| n.strip_suffix('|'))
                .ok_or_else(|| parse_error(s, format!("node {to} {node:?} must start and end with '|'")))?;
            let edges: Vec<&str> = inner.split('|').collect();
            if edges.len() != to {
                return Err(parse_error(
                    s,
                    format!("node {to} must have {to} input edges, found {} in {node:?}", edges.len()),
                ));
            }
            for (from, edge) in edges.iter().enumerate() {
                let (name, input) = edge
                    .split_once('~')
                    .ok_or_else(|| parse_error(s, format!("edge {edge:?} of node {to} is not op~input")))?;
                let op = OPS.iter().position(|o| *o == name).ok_or_else(|| {
                    parse_error(s, format!("unknown operation {name:?}; expected one of {}", OPS.join(", ")))
                })?;
                let input: usize = input
                    .parse()
                    .map_err(|_| parse_error(s, format!("input {input:?} of edge {edge:?} is not a node index")))?;
                if input >= to {
                    return Err(parse_error(
                        s,
                        format!("node {to} cannot read node {input}: inputs of node {to} are 0..{}", to - 1),
                    ));
                }
                if input != from {
                    return Err(parse_error(
                        s,
                        format!(
                            "edges of node {to} must read nodes 0..{} in order, found {input} at position {from}",
                            to - 1
                        ),
                    ));
                }
                ops.push(op);
            }
        }
        Ok(Genotype(ops))
    }

    /// The lexicographically smallest genotype of `g`'s isomorphism class (see [`Nb201Space::iso_key`]).
    fn canonical(&self, g: &Genotype) -> Genotype {
        static REPS: OnceLock<HashMap<String, Genotype>> = OnceLock::new();
        let reps = REPS.get_or_init(|| {
            let mut m: HashMap<String, Genotype> = HashMap::new();
            for cand in Nb201Space::default().enumerate() {
                m.entry(Nb201Space::iso_key(&cand)).or_insert(cand);
            }
            m
        });
        reps.get(&Nb201Space::iso_key(g)).cloned().unwrap_or_else(|| g.clone())
    }
}
