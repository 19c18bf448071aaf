//! The IR, counting and genotype helpers of nas-core.
#![allow(clippy::unwrap_used)]

use nas_core::genotype::{genotype_at, genotype_index, space_size, validate};
use nas_core::{Decision, Genotype, Network, Op, PoolKind, Shape};

fn conv(cin: usize, cout: usize, k: usize, stride: usize, groups: usize) -> Op {
    Op::Conv2d { in_channels: cin, out_channels: cout, kernel: k, stride, padding: k / 2, groups, bias: false }
}

fn small_net() -> Network {
    let mut n = Network::new();
    let x = n.input("x", Shape::new(3, 8, 8)).unwrap();
    let c = n.add("c", conv(3, 4, 3, 2, 1), &[x]).unwrap();
    let b = n.add("bn", Op::BatchNorm { channels: 4, affine: true }, &[c]).unwrap();
    let r = n.add("relu", Op::Relu, &[b]).unwrap();
    let p = n.add("pool", Op::Pool { kind: PoolKind::Max, kernel: 2, stride: 2, padding: 0 }, &[r]).unwrap();
    let cat = n.add("cat", Op::Concat, &[p, p]).unwrap();
    let g = n.add("gap", Op::GlobalAvgPool, &[cat]).unwrap();
    n.add("fc", Op::Linear { in_features: 8, out_features: 5, bias: true }, &[g]).unwrap();
    n
}

#[test]
fn shapes_are_inferred() {
    let n = small_net();
    let shapes: Vec<Shape> = n.nodes().map(|(_, node)| node.shape).collect();
    assert_eq!(shapes[1], Shape::new(4, 4, 4));
    assert_eq!(shapes[4], Shape::new(4, 2, 2));
    assert_eq!(shapes[5], Shape::new(8, 2, 2));
    assert_eq!(n.output_shape(), Some(Shape::new(5, 1, 1)));
    // The pool is read twice by the concat: executors free a value after its last read.
    assert_eq!(n.read_counts(), vec![1, 1, 1, 1, 2, 1, 1, 0]);
}

#[test]
fn counts_follow_the_documented_conventions() {
    let n = small_net();
    let c = n.node_counts();
    // conv 3x3 3->4 at 4x4 output
    assert_eq!(c[1].params, 108);
    assert_eq!(c[1].flops, 108 * 16);
    assert_eq!(c[2].params, 8); // affine BN
    assert_eq!(c[2].flops, 2 * 64);
    assert_eq!(c[3].flops, 64); // ReLU
    assert_eq!(c[4].flops, 4 * 16); // 2x2 pool, 16 outputs
    assert_eq!(c[5].flops, 0); // concat
    assert_eq!(c[6].flops, 32); // global pool reads 8x2x2
    assert_eq!(c[7].params, 45);
    assert_eq!(c[7].flops, 45);
    assert_eq!(n.counts().params, 108 + 8 + 45);
    // Grouped convolution divides the work.
    let mut g = Network::new();
    let x = g.input("x", Shape::new(8, 4, 4)).unwrap();
    g.add("dw", conv(8, 8, 3, 1, 8), &[x]).unwrap();
    assert_eq!(g.counts().params, 72);
}

#[test]
fn malformed_graphs_are_rejected_with_the_node_named() {
    let mut n = Network::new();
    let x = n.input("x", Shape::new(3, 8, 8)).unwrap();
    let e = n.add("c", conv(4, 4, 3, 1, 1), &[x]).unwrap_err().to_string();
    assert!(e.contains("\"c\"") && e.contains("4 input channels"), "{e}");
    let e = n.add("g", conv(3, 4, 3, 1, 2), &[x]).unwrap_err().to_string();
    assert!(e.contains("groups"), "{e}");
    let big = Op::Conv2d { in_channels: 3, out_channels: 4, kernel: 9, stride: 1, padding: 0, groups: 1, bias: false };
    let e = n.add("k", big, &[x]).unwrap_err().to_string();
    assert!(e.contains("larger than"), "{e}");
    let small = n.add("p", Op::Pool { kind: PoolKind::Max, kernel: 2, stride: 2, padding: 0 }, &[x]).unwrap();
    let e = n.add("a", Op::Add, &[x, small]).unwrap_err().to_string();
    assert!(e.contains("different shapes"), "{e}");
    let e = n.add("l", Op::Linear { in_features: 7, out_features: 2, bias: false }, &[x]).unwrap_err().to_string();
    assert!(e.contains("7 features"), "{e}");
    let e = n.add("r", Op::Relu, &[]).unwrap_err().to_string();
    assert!(e.contains("expects 1 input"), "{e}");
    let e = n.add("r", Op::Relu, &[nas_core::NodeId::new(99)]).unwrap_err().to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert!(n.input("x2", Shape::new(1, 1, 1)).is_err());
}

#[test]
fn serde_round_trip_and_validation() {
    let n = small_net();
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<Network>(&json).unwrap(), n);
    // A node that reads a later node is refused.
    let bad = r#"{"nodes":[{"name":"x","op":"input","shape":{"c":1,"h":2,"w":2}},{"name":"r","op":"relu","inputs":[2]}],"output":1}"#;
    let e = serde_json::from_str::<Network>(bad).unwrap_err().to_string();
    assert!(e.contains("topological"), "{e}");
}

#[test]
fn choice_nodes_hold_candidate_subnetworks() {
    let candidate = |op: Op| {
        let mut c = Network::new();
        let x = c.input("x", Shape::new(4, 4, 4)).unwrap();
        c.add("op", op, &[x]).unwrap();
        c
    };
    let mut n = Network::new();
    let x = n.input("x", Shape::new(4, 4, 4)).unwrap();
    let choice = Op::Choice { candidates: vec![candidate(conv(4, 4, 3, 1, 1)), candidate(Op::Identity)] };
    let y = n.add("mixed", choice, &[x]).unwrap();
    assert_eq!(n.node(y).shape, Shape::new(4, 4, 4));
    assert_eq!(n.counts().params, 144);
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<Network>(&json).unwrap(), n);
    let wrong = Op::Choice { candidates: vec![candidate(conv(4, 8, 3, 1, 1)), candidate(Op::Identity)] };
    assert!(n.add("bad", wrong, &[x]).is_err());
}

#[test]
fn genotype_indexing_round_trips() {
    let d = vec![Decision::new("a", &["x", "y", "z"]), Decision::new("b", &["p", "q"])];
    assert_eq!(space_size(&d), 6);
    for i in 0..6 {
        let g = genotype_at(&d, i).unwrap();
        assert_eq!(genotype_index(&d, &g).unwrap(), i);
    }
    assert_eq!(genotype_at(&d, 5).unwrap(), Genotype(vec![2, 1]));
    assert!(genotype_at(&d, 6).is_err());
    assert!(validate(&d, &Genotype(vec![3, 0])).unwrap_err().to_string().contains("\"a\" has 3 choices"));
    assert!(validate(&d, &Genotype(vec![0])).is_err());
}
