#![allow(clippy::unwrap_used)]
//! The supernet's weighted sums against their references: a fixed path runs exactly the plain
//! network of that architecture (same weights, same output and weight gradients), and the
//! coefficient gradients of a random mix against central finite differences of the loss.

use std::collections::HashMap;

use nas_core::graph::Shape;
use nas_core::{EdgeMode, SearchSpace, Split, Supernet};
use nas_kernels::cpu::CpuNet;
use nas_kernels::train::{self, ImageSet, loss};
use nas_kernels::{CpuSupernet, MixedNode, SupernetConfig};
use nas_spaces::nb201::{self, Nb201Config, Nb201Space};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config() -> Nb201Config {
    Nb201Config { channels: 3, cells_per_stage: 1, num_classes: 4, input: Shape::new(3, 8, 8) }
}

fn loss_and_grads(net: &CpuNet, pixels: &[f32], labels: &[u32]) -> (f64, nas_kernels::cpu::Gradients) {
    let tape = net.forward_tape(pixels, labels.len()).unwrap();
    let scored = loss::cross_entropy(&net.output(&tape).unwrap().data, labels, 4, 0.0);
    let grads = net.backward(&tape, &scored.grad, &mut |_, _, _| {}).unwrap();
    (scored.loss, grads)
}

fn inputs(rng: &mut ChaCha8Rng, batch: usize) -> (Vec<f32>, Vec<u32>) {
    let pixels = (0..batch * 3 * 64).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    let labels = (0..batch).map(|_| rng.random_range(0..4u32)).collect();
    (pixels, labels)
}

#[test]
fn a_fixed_path_is_the_plain_network_of_that_architecture() {
    let graph = nb201::supernet(config()).unwrap();
    let space = Nb201Space::new(config());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for trial in 0..6 {
        let ops: Vec<usize> = (0..6).map(|_| rng.random_range(1..5usize)).collect();
        let mut ops = ops;
        if trial == 0 {
            ops[3] = nb201::NONE; // a `none` edge: its node is left out of the sum
        }
        let genotype = nas_core::Genotype(ops.clone());
        let mut plain = CpuNet::new(&space.to_network(&genotype).unwrap(), trial).unwrap();
        let mut sup = CpuNet::new(&graph.network, 100 + trial).unwrap();
        for m in &graph.mixes {
            sup.set_mix(m.node, m.ops.iter().map(|&o| (o == ops[m.edge]).then_some(1.0)).collect()).unwrap();
        }
        // The plain network's weights, copied into the supernet by name.
        let sup_names: HashMap<String, usize> =
            train::named_params(&sup).into_iter().enumerate().map(|(i, (n, _))| (n, i)).collect();
        let plain_params: Vec<(String, Vec<f32>)> =
            train::named_params(&plain).into_iter().map(|(n, v)| (n, v.to_vec())).collect();
        let mut targets = train::params_mut(&mut sup);
        for (name, values) in &plain_params {
            let candidates = [
                name.clone(),
                name.replace(".conv.weight", ".conv1x1.conv.weight"),
                name.replace(".conv.weight", ".conv3x3.conv.weight"),
            ];
            let hit = candidates.iter().find_map(|c| sup_names.get(c).filter(|&&i| targets[i].len() == values.len()));
            match hit {
                Some(&i) => *targets[i] = values.clone(),
                None => assert!(name.contains(".edge") && name.contains(".bn."), "no supernet tensor for {name}"),
            }
        }
        drop(targets);
        let (pixels, labels) = inputs(&mut rng, 5);
        let (l1, g1) = loss_and_grads(&plain, &pixels, &labels);
        let (l2, g2) = loss_and_grads(&sup, &pixels, &labels);
        assert!((l1 - l2).abs() < 1e-6, "trial {trial}: loss {l1} vs {l2}");
        let by_name = |net: &CpuNet, g: &nas_kernels::cpu::Gradients| -> HashMap<String, Vec<f32>> {
            g.weights.iter().map(|(id, _, d)| (net.network().node(*id).name.clone(), d.clone())).collect()
        };
        let (a, b) = (by_name(&plain, &g1), by_name(&sup, &g2));
        for (name, d) in &a {
            let other = [name.clone(), name.replace(".conv", ".conv1x1.conv"), name.replace(".conv", ".conv3x3.conv")]
                .iter()
                .find_map(|n| b.get(n).filter(|v| v.len() == d.len()))
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let scale = d.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
            let err = d.iter().zip(other).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(err / scale < 1e-4, "trial {trial} {name}: {err} of {scale}");
        }
        plain.set_eval(true);
        sup.set_eval(true);
        let o1 = plain.forward(&pixels, 5, &mut |_, _| Ok(())).unwrap();
        let o2 = sup.forward(&pixels, 5, &mut |_, _| Ok(())).unwrap();
        assert!(o1.data.iter().zip(&o2.data).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}

#[test]
fn mix_coefficient_gradients_match_finite_differences() {
    let graph = nb201::supernet(config()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for trial in 0..3u64 {
        let mut net = CpuNet::new(&graph.network, trial).unwrap().with_threads(1);
        let coefs: Vec<Vec<f32>> =
            graph.mixes.iter().map(|m| m.ops.iter().map(|_| rng.random_range(0.05f32..0.6)).collect()).collect();
        let set = |net: &mut CpuNet, coefs: &[Vec<f32>]| {
            for (m, c) in graph.mixes.iter().zip(coefs) {
                net.set_mix(m.node, c.iter().map(|&v| Some(v)).collect()).unwrap();
            }
        };
        set(&mut net, &coefs);
        let (pixels, labels) = inputs(&mut rng, 6);
        // ReLU gates held at the base point: the loss is then smooth in the coefficients (no kink
        // between the two sides of a difference), and the backward pass uses the same gates.
        let tape = net.forward_tape(&pixels, 6).unwrap();
        let gates = net.relu_gates(&tape).unwrap();
        drop(tape);
        let mut net = net.with_relu_gates(gates);
        let (_, grads) = loss_and_grads(&net, &pixels, &labels);
        assert_eq!(grads.mixes.len(), graph.mixes.len());
        // Central differences at h and h/2, extrapolated (Richardson): the loss is strongly curved
        // in the coefficients (batch norm after every sum), and f32 limits how small h can be.
        let mut central = |m: usize, k: usize, h: f32| {
            let mut up = coefs.clone();
            up[m][k] += h;
            let mut down = coefs.clone();
            down[m][k] -= h;
            set(&mut net, &up);
            let (lu, _) = loss_and_grads(&net, &pixels, &labels);
            set(&mut net, &down);
            let (ld, _) = loss_and_grads(&net, &pixels, &labels);
            (lu - ld) / (2.0 * f64::from(h))
        };
        let (mut err, mut scale) = (0.0f64, 0.0f64);
        for (i, (id, d, _)) in grads.mixes.iter().enumerate() {
            let m = graph.mixes.iter().position(|m| m.node == *id).unwrap();
            assert_eq!(m, i, "mixes are reported in node order");
            for (k, &dk) in d.iter().enumerate() {
                let fd = (4.0 * central(m, k, 2e-3) - central(m, k, 4e-3)) / 3.0;
                err = err.max((fd - dk).abs());
                scale = scale.max(dk.abs());
            }
        }
        set(&mut net, &coefs);
        assert!(scale > 1e-4, "trial {trial}: gradients all but zero");
        assert!(err < 2e-3 + 2e-2 * scale, "trial {trial}: finite differences off by {err} (largest gradient {scale})");
    }
}

fn random_set(rng: &mut ChaCha8Rng, n: usize) -> ImageSet {
    ImageSet {
        pixels: (0..n * 3 * 64).map(|_| rng.random()).collect(),
        labels: (0..n).map(|_| rng.random_range(0..4u32)).collect(),
        channels: 3,
        height: 8,
        width: 8,
        classes: 4,
        source: "random".into(),
    }
}

fn cpu_supernet(seed: u64) -> CpuSupernet {
    let graph = nb201::supernet(config()).unwrap();
    let mixes = graph.mixes.iter().map(|m| MixedNode { edge: m.edge, node: m.node, ops: m.ops.clone() }).collect();
    let images = random_set(&mut ChaCha8Rng::seed_from_u64(3), 40);
    let recipe = SupernetConfig {
        batch: 8,
        augment_pad: Some(1),
        momentum: 0.9,
        weight_decay: 3e-4,
        clip_norm: Some(5.0),
        bn_momentum: 0.1,
        seed,
    };
    CpuSupernet::new(&graph.network, mixes, (6, 5), &images, recipe, 2).unwrap()
}

/// The edge gradients of the trait sum over the cells; a path pass gives the ops that did not run
/// the sum of the upstream gradient, and leaves the weights of those ops untouched by the step.
#[test]
fn the_cpu_supernet_sums_edges_and_steps_only_what_ran() {
    let mut s = cpu_supernet(1);
    assert_eq!((s.edges(), s.ops(), s.steps_per_epoch(), s.halves()), (6, 5, 3, (20, 20)));
    s.load_batch(Split::Weights, 0).unwrap();
    let soft = EdgeMode::Mix(vec![0.2; 5]);
    let pass = s.forward_backward(Split::Weights, &vec![soft; 6]).unwrap();
    assert!(pass.loss.is_finite() && pass.images == 8);
    assert!(pass.d_coef.iter().all(|row| row[0] == 0.0 && row[1..].iter().all(|v| *v != 0.0)));
    let before = s.state();
    let path = vec![EdgeMode::Path { op: 3, weight: 1.0 }; 6];
    let p = s.forward_backward(Split::Weights, &path).unwrap();
    for row in &p.d_coef {
        assert!(row[0] == row[1] && row[1] == row[2] && row[2] == row[4], "{row:?}");
    }
    s.weight_step(0.1).unwrap();
    let after = s.state();
    let names: Vec<String> = train::named_params(s.net()).into_iter().map(|(n, _)| n).collect();
    for (i, name) in names.iter().enumerate() {
        let moved = before[i] != after[i];
        assert_eq!(moved, !name.contains(".conv1x1."), "{name}");
    }
    // Same seed, same batches; the state round-trips.
    let mut t = cpu_supernet(1);
    t.set_state(after.clone()).unwrap();
    assert_eq!(t.state(), after);
    for index in [0, 5, 17] {
        s.load_batch(Split::Arch, index).unwrap();
        t.load_batch(Split::Arch, index).unwrap();
        let a = s.forward_backward(Split::Arch, &path).unwrap();
        let b = t.forward_backward(Split::Arch, &path).unwrap();
        assert_eq!(a, b);
    }
    assert!(s.set_state(vec![vec![1.0]]).is_err());
    let acc = s.path_accuracy(&[3, 3, 1, 0, 2, 4], 2, None).unwrap();
    assert!((0.0..=100.0).contains(&acc));
}
