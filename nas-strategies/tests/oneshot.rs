#![allow(clippy::unwrap_used)]
//! Conformance of every one-shot method on a tensor-free toy supernet whose best choice is known:
//! on every edge op 3 has the lowest loss once its weight is trained, so each method must derive
//! op 3 on every edge (SPOS / RSPS: pick the best of the sampled architectures by inherited
//! accuracy). Also: same seed, same result, and a run resumed from its state after any epoch ends
//! where the uninterrupted one does.

use nas_core::{EdgeMode, Pass, Result, Split, Supernet};
use nas_strategies::oneshot::{self, Method, OneShotConfig, OneShotObserver, Quiet, Resume, SearchState, Sharing};

const EDGES: usize = 6;
const OPS: usize = 5;
/// The trained loss of each op; op 0 (`none`) has no weight.
const BASE: [f64; OPS] = [1.0, 0.8, 0.6, 0.1, 0.7];

/// Loss of op `k` on edge `e`: `BASE[k] + (w[e][k] - 1)^2` (plus a small batch-dependent wobble);
/// a mix's loss is `sum_k c_k loss_k`, a path's `weight * loss_op`.
struct Toy {
    w: Vec<Vec<f64>>,
    momentum: Vec<Vec<f64>>,
    grad: Vec<Vec<f64>>,
    saved: Option<Vec<Vec<f64>>>,
    direction: Vec<Vec<f64>>,
    batch: [u64; 2],
}

impl Toy {
    fn new() -> Self {
        let zeros = vec![vec![0.0; OPS]; EDGES];
        Toy {
            w: zeros.clone(),
            momentum: zeros.clone(),
            grad: zeros.clone(),
            saved: None,
            direction: zeros,
            batch: [0; 2],
        }
    }

    fn op_loss(&self, e: usize, k: usize, batch: u64) -> f64 {
        let wobble = 0.02 * ((batch as f64) * 0.7 + k as f64).sin();
        if k == 0 { BASE[0] + wobble } else { BASE[k] + (self.w[e][k] - 1.0).powi(2) + wobble }
    }
}

impl Supernet for Toy {
    fn edges(&self) -> usize {
        EDGES
    }
    fn ops(&self) -> usize {
        OPS
    }
    fn steps_per_epoch(&self) -> usize {
        10
    }
    fn load_batch(&mut self, split: Split, index: u64) -> Result<()> {
        self.batch[usize::from(split == Split::Arch)] = index;
        Ok(())
    }
    fn forward_backward(&mut self, split: Split, edges: &[EdgeMode]) -> Result<Pass> {
        let b = self.batch[usize::from(split == Split::Arch)];
        let mut loss = 0.0;
        let mut d_coef = vec![vec![0.0; OPS]; EDGES];
        let mut grad = vec![vec![0.0; OPS]; EDGES];
        for (e, mode) in edges.iter().enumerate() {
            match mode {
                EdgeMode::Mix(c) => {
                    for k in 0..OPS {
                        let l = self.op_loss(e, k, b);
                        loss += f64::from(c[k]) * l;
                        d_coef[e][k] = l;
                        if k > 0 {
                            grad[e][k] = f64::from(c[k]) * 2.0 * (self.w[e][k] - 1.0);
                        }
                    }
                }
                EdgeMode::Path { op, weight } => {
                    let l = self.op_loss(e, *op, b);
                    loss += f64::from(*weight) * l;
                    for (k, d) in d_coef[e].iter_mut().enumerate() {
                        *d = if k == *op { l } else { 1.0 };
                    }
                    if *op > 0 {
                        grad[e][*op] = f64::from(*weight) * 2.0 * (self.w[e][*op] - 1.0);
                    }
                }
            }
        }
        self.grad = grad;
        Ok(Pass { loss, correct: 0, images: 1, d_coef })
    }
    fn weight_step(&mut self, lr: f64) -> Result<()> {
        for ((w, m), g) in
            self.w.iter_mut().flatten().zip(self.momentum.iter_mut().flatten()).zip(self.grad.iter().flatten())
        {
            // Rounded to f32, so that the state (f32 tensors) saves it exactly.
            *m = f64::from((0.9 * *m + g) as f32);
            *w = f64::from((*w - lr * *m) as f32);
        }
        Ok(())
    }
    fn save_weights(&mut self) {
        self.saved = Some(self.w.clone());
    }
    fn restore_weights(&mut self) -> Result<()> {
        self.w = self.saved.take().unwrap();
        Ok(())
    }
    fn virtual_step(&mut self, lr: f64) -> Result<()> {
        for ((w, m), g) in
            self.w.iter_mut().flatten().zip(self.momentum.iter().flatten()).zip(self.grad.iter().flatten())
        {
            *w -= lr * (0.9 * m + g);
        }
        Ok(())
    }
    fn keep_direction(&mut self) -> Result<f64> {
        self.direction = self.grad.clone();
        Ok(self.grad.iter().flatten().map(|g| g * g).sum::<f64>().sqrt())
    }
    fn move_along_direction(&mut self, step: f64) -> Result<()> {
        for (w, d) in self.w.iter_mut().flatten().zip(self.direction.iter().flatten()) {
            *w += step * d;
        }
        Ok(())
    }
    fn path_accuracy(&mut self, path: &[usize], _bn_batches: usize, _images: Option<usize>) -> Result<f64> {
        Ok(100.0 - 10.0 * path.iter().enumerate().map(|(e, &k)| self.op_loss(e, k, 0)).sum::<f64>())
    }
    fn state(&self) -> Vec<Vec<f32>> {
        [&self.w, &self.momentum].iter().flat_map(|t| t.iter().map(|r| r.iter().map(|&v| v as f32).collect())).collect()
    }
    fn set_state(&mut self, state: Vec<Vec<f32>>) -> Result<()> {
        let rows: Vec<Vec<f64>> = state.into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect();
        self.w = rows[..EDGES].to_vec();
        self.momentum = rows[EDGES..].to_vec();
        Ok(())
    }
}

fn config(method: Method) -> OneShotConfig {
    let mut c = OneShotConfig::new(method, 8, 3);
    c.lr = 0.1;
    c.alpha_lr = 0.05;
    c.rank = 60;
    c
}

#[test]
fn every_method_finds_the_known_best_op() {
    for method in [Method::Darts, Method::Darts2, Method::Milenas, Method::Gdas, Method::NaDarts] {
        let result = oneshot::search(&mut Toy::new(), &config(method), None, &mut Quiet).unwrap();
        assert_eq!(result.arch, vec![3; EDGES], "{method:?}: {:?}", result.state.alpha);
        assert_eq!(result.arch_non_none, Some(vec![3; EDGES]), "{method:?}");
        let last = result.state.history.last().unwrap();
        assert_eq!(result.state.history.len(), 8);
        assert!(last.alphas.iter().all(|r| (r.iter().sum::<f64>() - 1.0).abs() < 1e-12 && r[3] > 0.2), "{method:?}");
        assert_eq!(last.tau.is_some(), method == Method::Gdas);
    }
    for method in [Method::Spos, Method::Rsps] {
        let mut toy = Toy::new();
        let result = oneshot::search(&mut toy, &config(method), None, &mut Quiet).unwrap();
        assert_eq!(result.ranking.len(), 60);
        // The answer is the sampled architecture of lowest true loss, and it is mostly op 3.
        let truth = |a: &[usize]| a.iter().enumerate().map(|(e, &k)| toy.op_loss(e, k, 0)).sum::<f64>();
        let best = result.ranking.iter().map(|r| truth(&r.arch)).fold(f64::INFINITY, f64::min);
        assert_eq!(truth(&result.arch), best, "{method:?}");
        assert_eq!(result.state.history.last().unwrap().arch.as_ref(), Some(&result.arch));
        assert!(result.arch_non_none.is_none());
    }
}

/// Keeps the state and the toy's tensors after epoch `at`.
struct Snapshot {
    at: usize,
    kept: Option<(SearchState, Vec<Vec<f32>>)>,
}

impl OneShotObserver for Snapshot {
    fn on_epoch(&mut self, state: &SearchState, tensors: &[Vec<f32>]) -> Result<()> {
        if state.epoch == self.at {
            self.kept = Some((state.clone(), tensors.to_vec()));
        }
        Ok(())
    }
}

#[test]
fn same_seed_same_result_and_resumes_are_exact() {
    for method in [Method::Darts2, Method::Gdas, Method::Spos, Method::NaDarts, Method::Milenas] {
        let c = config(method);
        let mut snap = Snapshot { at: 3, kept: None };
        let whole = oneshot::search(&mut Toy::new(), &c, None, &mut snap).unwrap();
        let again = oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).unwrap();
        let strip = |s: &SearchState| {
            let mut s = s.clone();
            s.history.iter_mut().for_each(|r| r.seconds = 0.0);
            s
        };
        assert_eq!(strip(&whole.state), strip(&again.state), "{method:?}");
        let (state, tensors) = snap.kept.unwrap();
        let resumed = oneshot::search(&mut Toy::new(), &c, Some(Resume { state, tensors }), &mut Quiet).unwrap();
        assert_eq!(resumed.resumed_from_epoch, Some(3));
        assert_eq!(resumed.arch, whole.arch, "{method:?}");
        assert_eq!(strip(&resumed.state), strip(&whole.state), "{method:?}");
        let mut other = c.clone();
        other.seed = 4;
        let different = oneshot::search(&mut Toy::new(), &other, None, &mut Quiet).unwrap();
        assert_ne!(different.state.alpha, whole.state.alpha, "{method:?}");
    }
}

#[test]
fn bad_configurations_are_errors() {
    let mut c = config(Method::Darts);
    c.epochs = 0;
    assert!(oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).is_err());
    let mut c = config(Method::Spos);
    c.rank = 0;
    assert!(oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).is_err());
    let mut c = config(Method::Gdas);
    c.tau_min = f64::NAN;
    assert!(oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).is_err());
}

/// The toy's tensors: 6 rows of weights, then 6 of momentum, per weight set.
const ROWS: usize = 2 * EDGES;

#[test]
fn reduced_sharing_trains_each_group_on_its_own_paths_and_resumes_exactly() {
    // Few-shot on edge 2 from the start: sub-supernet k only ever ran op k on edge 2.
    let mut c = config(Method::Spos);
    c.sharing = Sharing::FewShot { edge: 2 };
    let mut last = Snapshot { at: c.epochs, kept: None };
    let result = oneshot::search(&mut Toy::new(), &c, None, &mut last).unwrap();
    let (_, tensors) = last.kept.unwrap();
    assert_eq!(tensors.len(), OPS * ROWS);
    for k in 0..OPS {
        let w = &tensors[k * ROWS + 2];
        for j in 1..OPS {
            assert_eq!(w[j] != 0.0, j == k, "sub-supernet {k}, op {j} of edge 2: {w:?}");
        }
    }
    // Every group still learns: the answer's trained loss is within 0.5 of the best ranked one.
    let truth = |a: &[usize]| a.iter().map(|&k| BASE[k]).sum::<f64>();
    let best = result.ranking.iter().map(|r| truth(&r.arch)).fold(f64::INFINITY, f64::min);
    eprintln!("answer {:?}: {} against the best {best}", result.arch, truth(&result.arch));
    assert!(truth(&result.arch) <= best + 0.5, "{:?}", result.arch);

    // Groups after a shared start: the sets are equal at the split and differ after it; a run
    // resumed before and after the split ends as the uninterrupted one.
    let mut c = config(Method::Spos);
    c.sharing = Sharing::Groups { groups: 3 };
    c.split_epoch = 4;
    c.rank_epochs = 3;
    let strip = |s: &SearchState| {
        let mut s = s.clone();
        s.history.iter_mut().for_each(|r| r.seconds = 0.0);
        s
    };
    let whole = oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).unwrap();
    for at in [2, 4, 6] {
        let mut snap = Snapshot { at, kept: None };
        oneshot::search(&mut Toy::new(), &c, None, &mut snap).unwrap();
        let (state, tensors) = snap.kept.unwrap();
        assert_eq!(tensors.len(), if at > c.split_epoch { 3 * ROWS } else { ROWS }, "after epoch {at}");
        if at == 6 {
            assert_ne!(tensors[..ROWS], tensors[ROWS..2 * ROWS]);
        }
        let resumed = oneshot::search(&mut Toy::new(), &c, Some(Resume { state, tensors }), &mut Quiet).unwrap();
        assert_eq!(strip(&resumed.state), strip(&whole.state), "resumed after epoch {at}");
        assert_eq!(resumed.ranking, whole.ranking);
    }
    // One group is plain sharing, bit for bit.
    let mut one = config(Method::Spos);
    one.sharing = Sharing::Groups { groups: 1 };
    let plain = oneshot::search(&mut Toy::new(), &config(Method::Spos), None, &mut Quiet).unwrap();
    assert_eq!(strip(&oneshot::search(&mut Toy::new(), &one, None, &mut Quiet).unwrap().state), strip(&plain.state));
    // The same rank seed ranks the same architectures whatever the supernet's seed.
    let (mut a, mut b) = (config(Method::Spos), config(Method::Spos));
    a.rank_seed = Some(9);
    b.rank_seed = Some(9);
    b.seed = 11;
    let archs = |c: &OneShotConfig| {
        oneshot::search(&mut Toy::new(), c, None, &mut Quiet)
            .unwrap()
            .ranking
            .into_iter()
            .map(|r| r.arch)
            .collect::<Vec<_>>()
    };
    assert_eq!(archs(&a), archs(&b));
    assert_ne!(archs(&a), archs(&config(Method::Spos)));
}

#[test]
fn sharing_parses_and_rejects_what_does_not_fit() {
    assert_eq!("all".parse::<Sharing>().unwrap(), Sharing::All);
    assert_eq!("few-shot:3".parse::<Sharing>().unwrap(), Sharing::FewShot { edge: 3 });
    assert_eq!("groups:25".parse::<Sharing>().unwrap(), Sharing::Groups { groups: 25 });
    for bad in ["", "few-shot", "groups:x", "some:1"] {
        assert!(bad.parse::<Sharing>().is_err(), "{bad}");
    }
    let mut c = config(Method::Spos);
    c.sharing = Sharing::FewShot { edge: EDGES };
    let e = oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).unwrap_err().to_string();
    assert!(e.contains("few-shot:6"), "{e}");
    let mut c = config(Method::Darts);
    c.sharing = Sharing::Groups { groups: 5 };
    assert!(oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).is_err());
    let mut c = config(Method::Spos);
    c.sharing = Sharing::Groups { groups: 5 };
    c.split_epoch = c.epochs;
    assert!(oneshot::search(&mut Toy::new(), &c, None, &mut Quiet).is_err());
    // Groups partition the space roughly evenly.
    let g = Sharing::Groups { groups: 5 };
    let mut count = [0usize; 5];
    for i in 0..OPS.pow(EDGES as u32) {
        let arch: Vec<usize> = (0..EDGES).map(|e| i / OPS.pow(e as u32) % OPS).collect();
        count[g.group(&arch, OPS, 0)] += 1;
    }
    assert!(count.iter().all(|&n| (2800..3450).contains(&n)), "{count:?}");
}

/// `L_val(w - lr * (momentum buffer + dL_train/dw(w, alpha)), alpha)`: the objective whose
/// gradient `unrolled_gradient` approximates (exactly, up to rounding, on the toy: its loss is
/// quadratic in the weights, so the central difference of the Hessian-vector product is exact).
fn unrolled_objective(toy: &mut Toy, alpha: &[Vec<f64>], lr: f64) -> f64 {
    let mix: Vec<EdgeMode> =
        alpha.iter().map(|r| EdgeMode::Mix(oneshot::softmax(r).iter().map(|&p| p as f32).collect())).collect();
    toy.save_weights();
    toy.forward_backward(Split::Weights, &mix).unwrap();
    toy.virtual_step(lr).unwrap();
    let loss = toy.forward_backward(Split::Arch, &mix).unwrap().loss;
    toy.restore_weights().unwrap();
    loss
}

#[test]
fn architecture_gradients_match_finite_differences_including_the_second_order_term() {
    let mut toy = Toy::new();
    let rows: Vec<Vec<f32>> = (0..2 * EDGES)
        .map(|r| {
            (0..OPS).map(|k| if r < EDGES { 0.3 + 0.1 * k as f32 + 0.05 * r as f32 } else { 0.02 * k as f32 }).collect()
        })
        .collect();
    toy.set_state(rows).unwrap();
    toy.load_batch(Split::Weights, 3).unwrap();
    toy.load_batch(Split::Arch, 5).unwrap();
    let alpha: Vec<Vec<f64>> =
        (0..EDGES).map(|e| (0..OPS).map(|k| 0.3 * ((e * OPS + k) as f64).sin()).collect()).collect();
    for lr in [0.0, 0.2] {
        let (grad, _) = oneshot::unrolled_gradient(&mut toy, &alpha, lr).unwrap();
        let h = 1e-3;
        for e in 0..EDGES {
            for k in 0..OPS {
                let (mut up, mut down) = (alpha.clone(), alpha.clone());
                up[e][k] += h;
                down[e][k] -= h;
                let fd = (unrolled_objective(&mut toy, &up, lr) - unrolled_objective(&mut toy, &down, lr)) / (2.0 * h);
                assert!(
                    (grad[e][k] - fd).abs() < 2e-4 + 1e-3 * fd.abs(),
                    "lr {lr}, edge {e}, op {k}: {} against {fd}",
                    grad[e][k]
                );
            }
        }
        // The second-order term is there: it moves the gradient.
        if lr > 0.0 {
            let (first, _) = oneshot::unrolled_gradient(&mut toy, &alpha, 0.0).unwrap();
            let moved =
                grad.iter().flatten().zip(first.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(moved > 1e-3, "the second-order term moved the gradient by only {moved}");
        }
    }
}
