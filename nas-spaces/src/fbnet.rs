//! The FBNet space as HW-NAS-Bench uses it (Li et al., ICLR 2021, after Wu et al., CVPR 2019):
//! 22 searchable layers in 7 stages, 9 block choices per layer, on 32x32 CIFAR-100 input.
//!
//! | stage | layers | channels | stride (CIFAR-100) |
//! |---|---|---|---|
//! | 1..7 | 1, 4, 4, 4, 4, 4, 1 | 16, 24, 32, 64, 112, 184, 352 | 1, 1, 2, 2, 1, 2, 1 |
//!
//! The stride applies to the first layer of a stage. The network is: stem conv 3x3 3->16 (stride
//! 1), BN, ReLU; the 22 layers; a 1x1 conv 352->1984 + BN + ReLU; global average pool; a linear
//! classifier (FBNet paper, Table 1, with HW-NAS-Bench's CIFAR strides). A block `kK_eE[_g2]` is
//! the inverted residual of FBNet: 1x1 conv `cin -> E*cin` (groups g) + BN + ReLU, depthwise KxK
//! (stride s) + BN + ReLU, 1x1 conv `-> cout` (groups g) + BN, plus the input when `s = 1` and
//! `cin = cout` (the channel shuffle of the g2 blocks moves no arithmetic and is not in the IR).
//! `skip` is the identity where the shape is kept, else (the first layer of a stage) a 1x1 conv
//! (stride s) + BN + ReLU, as in FBNet's reference `Identity` block.

use nas_core::{Decision, Error, Genotype, Network, NodeId, Op, Result, SearchSpace, Shape};

/// The nine block choices in HELP's `op_idx_list` order.
pub const BLOCKS: [&str; 9] = ["k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6", "skip"];
/// Index of `skip` in [`BLOCKS`].
pub const SKIP: usize = 8;
/// Layers per stage.
pub const STAGE_LAYERS: [usize; 7] = [1, 4, 4, 4, 4, 4, 1];
/// Output channels per stage.
pub const STAGE_CHANNELS: [usize; 7] = [16, 24, 32, 64, 112, 184, 352];
/// First-layer stride per stage on CIFAR-100 (HW-NAS-Bench).
pub const STAGE_STRIDES: [usize; 7] = [1, 1, 2, 2, 1, 2, 1];
/// Number of searchable layers.
pub const LAYERS: usize = 22;
/// Channels of the stem and of the last 1x1 conv.
pub const STEM_CHANNELS: usize = 16;
/// Channels of the last 1x1 conv before the classifier.
pub const HEAD_CHANNELS: usize = 1984;

/// Kernel, expansion and groups of a block choice (`None` for `skip`).
pub fn block_shape(choice: usize) -> Option<(usize, usize, usize)> {
    match choice {
        0 => Some((3, 1, 1)),
        1 => Some((3, 1, 2)),
        2 => Some((3, 3, 1)),
        3 => Some((3, 6, 1)),
        4 => Some((5, 1, 1)),
        5 => Some((5, 1, 2)),
        6 => Some((5, 3, 1)),
        7 => Some((5, 6, 1)),
        _ => None,
    }
}

/// `(cin, cout, stride, input spatial size)` of each of the 22 layers on a `size x size` input.
pub fn layer_geometry(size: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::with_capacity(LAYERS);
    let (mut cin, mut hw) = (STEM_CHANNELS, size);
    for s in 0..7 {
        for l in 0..STAGE_LAYERS[s] {
            let stride = if l == 0 { STAGE_STRIDES[s] } else { 1 };
            out.push((cin, STAGE_CHANNELS[s], stride, hw));
            cin = STAGE_CHANNELS[s];
            hw = hw.div_ceil(stride);
        }
    }
    out
}

/// The FBNet space with `num_classes` outputs on a `3 x size x size` input (100 and 32 for CIFAR-100).
#[derive(Clone, Debug)]
pub struct FbnetSpace {
    /// Classes of the classifier.
    pub num_classes: usize,
    /// Height and width of the input image.
    pub input_size: usize,
    decisions: Vec<Decision>,
}

impl Default for FbnetSpace {
    fn default() -> Self {
        Self::new(100, 32)
    }
}

impl FbnetSpace {
    /// The space with `num_classes` outputs on `3 x input_size x input_size` inputs.
    pub fn new(num_classes: usize, input_size: usize) -> Self {
        let decisions = (0..LAYERS).map(|i| Decision::new(format!("layer{i}"), &BLOCKS)).collect();
        FbnetSpace { num_classes, input_size, decisions }
    }

    /// HELP's `op_idx_list`: 22 block indices separated by spaces.
    pub fn format_idx(g: &Genotype) -> String {
        g.0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" ")
    }

    /// Parses an `op_idx_list` such as `7 8 1 8 ...` (22 numbers in 0..8).
    pub fn parse_idx(s: &str) -> Result<Genotype> {
        let v = s
            .split_whitespace()
            .map(|t| match t.parse::<usize>() {
                Ok(c) if c < BLOCKS.len() => Ok(c),
                _ => Err(Error::parse(s, format!("block index {t:?} is not in 0..{}", BLOCKS.len() - 1))),
            })
            .collect::<Result<Vec<_>>>()?;
        check_len(s, v)
    }
}

fn check_len(s: &str, v: Vec<usize>) -> Result<Genotype> {
    if v.len() != LAYERS {
        return Err(Error::parse(s, format!("an FBNet architecture has {LAYERS} layers, got {}", v.len())));
    }
    Ok(Genotype(v))
}

fn conv(
    net: &mut Network,
    name: &str,
    x: NodeId,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
) -> Result<NodeId> {
    let cin = net.node(x).shape.c;
    let op =
        Op::Conv2d { in_channels: cin, out_channels: cout, kernel: k, stride, padding: k / 2, groups, bias: false };
    net.add(name, op, &[x])
}

#[allow(clippy::too_many_arguments)]
fn conv_bn(
    net: &mut Network,
    name: &str,
    x: NodeId,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    relu: bool,
) -> Result<NodeId> {
    let c = conv(net, &format!("{name}.conv"), x, cout, k, stride, groups)?;
    let b = net.add(format!("{name}.bn"), Op::BatchNorm { channels: cout, affine: true }, &[c])?;
    if relu { net.add(format!("{name}.relu"), Op::Relu, &[b]) } else { Ok(b) }
}

impl SearchSpace for FbnetSpace {
    fn name(&self) -> &str {
        "fbnet"
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn to_network(&self, g: &Genotype) -> Result<Network> {
        self.validate(g)?;
        if self.num_classes == 0 || self.input_size == 0 {
            return Err(Error::invalid("fbnet config", "zero classes or input size"));
        }
        let mut net = Network::new();
        let x = net.input("input", Shape::new(3, self.input_size, self.input_size))?;
        let mut h = conv_bn(&mut net, "stem", x, STEM_CHANNELS, 3, 1, 1, true)?;
        for (i, (&choice, (cin, cout, stride, _))) in g.0.iter().zip(layer_geometry(self.input_size)).enumerate() {
            let name = format!("layer{i}");
            h = match block_shape(choice) {
                None if cin == cout && stride == 1 => net.add(format!("{name}.skip"), Op::Identity, &[h])?,
                None => conv_bn(&mut net, &format!("{name}.skip"), h, cout, 1, stride, 1, true)?,
                Some((k, e, groups)) => {
                    let a = conv_bn(&mut net, &format!("{name}.expand"), h, cin * e, 1, 1, groups, true)?;
                    let d = conv_bn(&mut net, &format!("{name}.dw"), a, cin * e, k, stride, cin * e, true)?;
                    let p = conv_bn(&mut net, &format!("{name}.project"), d, cout, 1, 1, groups, false)?;
                    if cin == cout && stride == 1 { net.add(format!("{name}.sum"), Op::Add, &[p, h])? } else { p }
                }
            };
        }
        let h = conv_bn(&mut net, "head", h, HEAD_CHANNELS, 1, 1, 1, true)?;
        let p = net.add("head.global_pool", Op::GlobalAvgPool, &[h])?;
        let fc = net.add(
            "head.classifier",
            Op::Linear { in_features: HEAD_CHANNELS, out_features: self.num_classes, bias: true },
            &[p],
        )?;
        net.set_output(fc)?;
        Ok(net)
    }

    /// HELP's `arch_str`: the 22 block names separated by spaces.
    fn format(&self, g: &Genotype) -> String {
        g.0.iter().map(|&c| *BLOCKS.get(c).unwrap_or(&"?")).collect::<Vec<_>>().join(" ")
    }

    /// Parses an `arch_str` (block names) or an `op_idx_list` (block indices).
    fn parse(&self, s: &str) -> Result<Genotype> {
        if s.split_whitespace().next().is_some_and(|t| t.chars().all(|c| c.is_ascii_digit())) {
            return Self::parse_idx(s);
        }
        let v = s
            .split_whitespace()
            .map(|t| {
                BLOCKS.iter().position(|b| *b == t).ok_or_else(|| {
                    Error::parse(s, format!("unknown block {t:?}; expected one of {}", BLOCKS.join(", ")))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        check_len(s, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Params and FLOPs of one block by hand (conv MACs, BN 2/elem, ReLU 1/elem, add 0).
    fn block_by_hand(choice: usize, cin: usize, cout: usize, s: usize, hw: usize) -> (u64, u64) {
        let ho = hw.div_ceil(s);
        let (p, f) = match block_shape(choice) {
            None if cin == cout && s == 1 => (0, 0),
            None => (cin * cout + 2 * cout, cin * cout * ho * ho + 3 * cout * ho * ho),
            Some((k, e, g)) => {
                let m = cin * e;
                let p = cin * m / g + 2 * m + k * k * m + 2 * m + m * cout / g + 2 * cout;
                let f = (cin * m / g + 3 * m) * hw * hw
                    + (k * k * m + 3 * m) * ho * ho
                    + (m * cout / g + 2 * cout) * ho * ho;
                (p, f)
            }
        };
        (p as u64, f as u64)
    }

    fn by_hand(g: &Genotype) -> (u64, u64) {
        // stem: 3x3 conv 3->16 at 32x32, BN, ReLU.
        let mut p = 27 * 16 + 32;
        let mut f = (27 * 16 + 3 * 16) * 1024;
        for (&c, (cin, cout, s, hw)) in g.0.iter().zip(layer_geometry(32)) {
            let (bp, bf) = block_by_hand(c, cin, cout, s, hw);
            p += bp;
            f += bf;
        }
        // head at 4x4: 1x1 conv 352->1984, BN, ReLU, global pool, linear 1984->100.
        p += 352 * 1984 + 2 * 1984 + 1984 * 100 + 100;
        f += (352 * 1984 + 3 * 1984) * 16 + 1984 * 16 + 1984 * 100 + 100;
        (p, f)
    }

    #[test]
    fn counts_match_a_hand_computation_for_three_archs() {
        let space = FbnetSpace::default();
        let archs = [
            "7 8 1 8 4 8 8 8 7 4 1 4 7 3 2 7 3 2 4 2 4 5",
            "5 3 5 5 0 4 7 5 5 2 0 2 4 5 1 3 7 2 6 0 4 0",
            "8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8",
        ];
        for a in archs {
            let g = space.parse(a).unwrap();
            let net = space.to_network(&g).unwrap();
            let c = net.counts();
            assert_eq!((c.params, c.flops), by_hand(&g), "{a}");
            assert_eq!(net.output_shape(), Some(Shape::new(100, 1, 1)));
        }
        // The all-skip network by hand, every number written out: stem 464 params; skip convs
        // 16->24, 24->32, 32->64, 64->112, 112->184, 184->352 (+2*cout BN each); head 352*1984
        // + 3968 + 198,500.
        let all_skip = space.parse(archs[2]).unwrap();
        let skips: u64 =
            [(16, 24), (24, 32), (32, 64), (64, 112), (112, 184), (184, 352)].iter().map(|&(a, b)| a * b + 2 * b).sum();
        assert_eq!(space.to_network(&all_skip).unwrap().counts().params, 464 + skips + 698_368 + 3_968 + 198_500);
    }

    #[test]
    fn the_two_text_forms_round_trip_and_errors_name_the_token() {
        let space = FbnetSpace::default();
        let s = "k5_e6 skip k3_e1_g2 skip k5_e1 skip skip skip k5_e6 k5_e1 k3_e1_g2 k5_e1 k5_e6 k3_e6 k3_e3 k5_e6 k3_e6 k3_e3 k5_e1 k3_e3 k5_e1 k5_e1_g2";
        let g = space.parse(s).unwrap();
        assert_eq!(FbnetSpace::format_idx(&g), "7 8 1 8 4 8 8 8 7 4 1 4 7 3 2 7 3 2 4 2 4 5");
        assert_eq!(space.format(&g), s);
        assert!(space.parse("k3_e2 skip").unwrap_err().to_string().contains("k3_e2"));
        assert!(space.parse("1 2 3").unwrap_err().to_string().contains("22 layers"));
        assert!(FbnetSpace::parse_idx("9").unwrap_err().to_string().contains("\"9\""));
    }
}
