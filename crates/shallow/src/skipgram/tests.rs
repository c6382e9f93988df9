// The kernel signature, once per instruction set.
#![allow(clippy::too_many_arguments, clippy::type_complexity)]

use super::*;

fn uniform(rng: &mut SplitMix, n: usize) -> Vec<f32> {
    (0..n).map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect()
}

type Step<const M: usize> = unsafe fn(*mut f32, usize, *mut f32, &[*mut f32; M], bool, &[f32; M], bool, bool) -> f32;

/// One group step on copies of the inputs; `map[q]` is the row target
/// `q` addresses (repeats allowed). Every vector starts on a cache line
/// (as table rows do: the `Racy` accesses rely on it).
fn run<const M: usize>(
    step: Step<M>,
    d: usize,
    ctx: &[f32],
    grad: &[f32],
    rows: &[Vec<f32>],
    map: [usize; M],
    coef: [f32; M],
    flags: (bool, bool, bool),
) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>, f32) {
    let aligned = |v: &[f32]| {
        let mut t = Table::new(1, d);
        t.floats_mut()[..d].copy_from_slice(v);
        t
    };
    let (mut c, mut g) = (aligned(ctx), aligned(grad));
    let mut r: Vec<Table> = rows.iter().map(|v| aligned(v)).collect();
    let base: Vec<*mut f32> = r.iter_mut().map(|t| t.floats_mut().as_mut_ptr()).collect();
    let ptrs: [*mut f32; M] = std::array::from_fn(|q| base[map[q]]);
    // SAFETY: every pointer addresses `d` floats of its own table, one thread.
    let loss = unsafe { step(c.floats_mut().as_mut_ptr(), d, g.floats_mut().as_mut_ptr(), &ptrs, flags.0, &coef, flags.1, flags.2) };
    (c.packed(d), g.packed(d), r.iter().map(|t| t.packed(d)).collect(), loss)
}

fn close(a: &[f32], b: &[f32], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{what}[{i}]: {x} vs {y}");
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512_step<A: Access, const M: usize>(
    c: *mut f32,
    d: usize,
    g: *mut f32,
    r: &[*mut f32; M],
    p: bool,
    k: &[f32; M],
    f: bool,
    l: bool,
) -> f32 {
    // SAFETY: the caller checked the features and the pointers.
    unsafe { Avx512::step::<A, M>(c, d, g, r, p, k, f, l) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_step<A: Access, const M: usize>(
    c: *mut f32,
    d: usize,
    g: *mut f32,
    r: &[*mut f32; M],
    p: bool,
    k: &[f32; M],
    f: bool,
    l: bool,
) -> f32 {
    // SAFETY: as above.
    unsafe { Avx2::step::<A, M>(c, d, g, r, p, k, f, l) }
}

unsafe fn portable_step<A: Access, const M: usize>(
    c: *mut f32,
    d: usize,
    g: *mut f32,
    r: &[*mut f32; M],
    p: bool,
    k: &[f32; M],
    f: bool,
    l: bool,
) -> f32 {
    // SAFETY: as above.
    unsafe { Portable::step::<A, M>(c, d, g, r, p, k, f, l) }
}

/// The exact loss of a group, in f64, from the inputs.
fn reference_loss<const M: usize>(ctx: &[f32], rows: &[Vec<f32>], map: [usize; M], coef: [f32; M], positive: bool) -> f64 {
    (0..M)
        .filter(|&q| coef[q] != 0.0)
        .map(|q| {
            let s: f64 = ctx.iter().zip(&rows[map[q]]).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
            crate::neg_log_sigmoid(if positive && q == 0 { s } else { -s })
        })
        .sum()
}

/// The vector kernels give the portable kernel's results (the sigmoid
/// approximation included) for every width tail, group size, flag and
/// a repeated row; the `Racy` variants give bit for bit what the plain
/// ones give; every kernel's loss is the exact loss.
fn kernels_agree<const M: usize>() {
    let mut rng = SplitMix::new(M as u64);
    for d in [1, 5, 8, 15, 16, 17, 31, 64, 100, 128] {
        // Scales large enough that some scores leave ±MAX_EXP (the loss
        // must still be exact there).
        for scale in [2.0f32, 12.0] {
            let ctx: Vec<f32> = uniform(&mut rng, d).iter().map(|x| x * scale).collect();
            let grad = uniform(&mut rng, d);
            let rows: Vec<Vec<f32>> = (0..M).map(|_| uniform(&mut rng, d).iter().map(|x| x * 3.0).collect()).collect();
            // Target M-1 repeats target 0's row when there are two or more.
            let map: [usize; M] = std::array::from_fn(|q| if q == M - 1 && M > 1 { 0 } else { q });
            let coef: [f32; M] = std::array::from_fn(|q| if q == 1 { 0.0 } else { 0.05 + q as f32 * 0.01 });
            for flags in [(true, true, true), (false, true, false), (true, false, false), (false, false, true)] {
                let want = run::<M>(portable_step::<Exclusive, M>, d, &ctx, &grad, &rows, map, coef, flags);
                let racy = run::<M>(portable_step::<Racy, M>, d, &ctx, &grad, &rows, map, coef, flags);
                assert!(want == racy || want.3.is_nan(), "portable racy != plain, M={M} d={d}");
                let exact = reference_loss(&ctx, &rows, map, coef, flags.0);
                let mut have = vec![("portable", want.clone())];
                #[cfg(target_arch = "x86_64")]
                {
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        let plain = run::<M>(avx512_step::<Exclusive, M>, d, &ctx, &grad, &rows, map, coef, flags);
                        let racy = run::<M>(avx512_step::<Racy, M>, d, &ctx, &grad, &rows, map, coef, flags);
                        assert!(plain == racy, "avx512 racy != plain, M={M} d={d} flags={flags:?}");
                        have.push(("avx512", plain));
                    }
                    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                        let plain = run::<M>(avx2_step::<Exclusive, M>, d, &ctx, &grad, &rows, map, coef, flags);
                        let racy = run::<M>(avx2_step::<Racy, M>, d, &ctx, &grad, &rows, map, coef, flags);
                        assert!(plain == racy, "avx2 racy != plain, M={M} d={d} flags={flags:?}");
                        have.push(("avx2", plain));
                    }
                }
                for (name, (c, g, r, loss)) in have {
                    let at = format!("{name} M={M} d={d} flags={flags:?}");
                    close(&c, &want.0, &format!("{at} ctx"));
                    if !flags.2 {
                        close(&g, &want.1, &format!("{at} grad"));
                    }
                    for (x, y) in r.iter().zip(&want.2) {
                        close(x, y, &format!("{at} row"));
                    }
                    let err = (f64::from(loss) - exact).abs();
                    assert!(err <= 2e-5 * (1.0 + exact.abs()), "{at} loss {loss} vs exact {exact}");
                }
                // The step moved something (the comparison is not vacuous).
                assert!(want.2[0] != rows[0]);
            }
        }
    }
}

#[test]
fn vector_kernels_agree_with_portable() {
    kernels_agree::<1>();
    kernels_agree::<2>();
    kernels_agree::<3>();
    kernels_agree::<6>();
    kernels_agree::<8>();
}

#[test]
fn sigmoid_of_the_vector_kernels_is_accurate() {
    // The portable kernel's coefficient for a lone positive row is
    // (1 − σ(s))·coef with σ from `exp`; compare with f64.
    for s in [-7.0f32, -6.0, -3.2, -0.5, 0.0, 0.3, 2.9, 5.99, 8.0] {
        let want = 1.0 / (1.0 + (-(s.clamp(-6.0, 6.0)) as f64).exp());
        assert!((f64::from(sigmoid(s)) - want).abs() < 1e-6, "σ({s})");
    }
}

/// Walks on four planted communities of 40 nodes: each step stays in
/// the community with probability 0.9.
fn community_walks(walks: usize, len: usize, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix::new(seed);
    let mut out = Vec::with_capacity(walks * len);
    for w in 0..walks {
        let mut v = (w % 160) as u32;
        for _ in 0..len {
            out.push(v);
            let c = if rng.below(10) == 0 { rng.below(4) as u32 } else { v / 40 };
            v = c * 40 + rng.below(40) as u32;
        }
    }
    out
}

/// Mean cosine similarity within communities minus between them.
fn separation(emb: &[f32], d: usize) -> f32 {
    let unit: Vec<Vec<f32>> = emb
        .chunks_exact(d)
        .map(|r| {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            r.iter().map(|x| x / n).collect()
        })
        .collect();
    let (mut within, mut between, mut nw, mut nb) = (0.0, 0.0, 0, 0);
    for a in 0..160 {
        for b in a + 1..160 {
            let c: f32 = unit[a].iter().zip(&unit[b]).map(|(x, y)| x * y).sum();
            if a / 40 == b / 40 {
                within += c;
                nw += 1;
            } else {
                between += c;
                nb += 1;
            }
        }
    }
    within / nw as f32 - between / nb as f32
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap()
}

fn train_in_pool(threads: usize, walks: &[u32], len: usize, cfg: &SkipGramConfig, seed: u64) -> Vec<f32> {
    pool(threads).install(|| train_skipgram(walks, len, 160, cfg, seed))
}

#[test]
fn communities_separate_on_one_and_two_threads_and_replicas_are_deterministic() {
    let walks = community_walks(1600, 40, 5);
    for (dim, negatives) in [(32, 5), (33, 9), (16, 1)] {
        let cfg = SkipGramConfig { dim, negatives, epochs: 2, ..Default::default() };
        let untrained = separation(&train_skipgram(&[], 40, 160, &cfg, 1), dim);
        for threads in [1, 2] {
            let emb = train_in_pool(threads, &walks, 40, &cfg, 1);
            let s = separation(&emb, dim);
            assert!(s > 0.5 && untrained.abs() < 0.05, "dim {dim}, {negatives} negatives, {threads} threads: separation {s} (untrained {untrained})");
        }
        // Two threads on replicas (160 rows) are deterministic.
        assert_eq!(train_in_pool(2, &walks, 40, &cfg, 1), train_in_pool(2, &walks, 40, &cfg, 1));
    }
}

#[test]
fn pads_and_one_node_walks_are_handled() {
    // Walks of 4 slots: one full, one of a single node, one empty.
    let walks = [0, 1, 2, 1, 3, PAD, PAD, PAD, PAD, PAD, PAD, PAD];
    for threads in [1, 2] {
        let emb = train_in_pool(threads, &walks, 4, &SkipGramConfig { dim: 8, ..Default::default() }, 2);
        assert_eq!(emb.len(), 160 * 8);
        assert!(emb.iter().all(|x| x.is_finite()));
    }
}

/// Trains `epochs` epochs in ranges of `chunk` walks on `threads`
/// threads with `mode`; returns the model and each epoch's stats.
fn chunked(threads: usize, mode: Parallelism, walks: &[u32], len: usize, cfg: &SkipGramConfig, chunk: usize) -> (SkipGram, Vec<StepStats>) {
    pool(threads).install(|| {
        let mut m = SkipGram::new(160, walks, len, cfg, 7).unwrap();
        m.set_parallelism(mode);
        let n = m.walks();
        let stats = (0..cfg.epochs)
            .map(|e| {
                let mut s = StepStats::default();
                for lo in (0..n).step_by(chunk) {
                    s += m.train_range(walks, len, e, lo..(lo + chunk).min(n)).unwrap();
                }
                s
            })
            .collect();
        (m, stats)
    })
}

fn tables(m: &SkipGram) -> (Vec<f32>, Vec<f32>) {
    (m.embeddings(), m.context_embeddings())
}

#[test]
fn ranges_give_the_tables_of_one_call() {
    let walks = community_walks(300, 20, 3);
    let cfg = SkipGramConfig { dim: 24, epochs: 2, ..Default::default() };
    // One thread: any cut into ranges is the same as one call per epoch,
    // which is what `train_skipgram` does.
    let (whole, whole_stats) = chunked(1, Parallelism::Auto, &walks, 20, &cfg, 300);
    assert_eq!(whole.embeddings(), pool(1).install(|| train_skipgram(&walks, 20, 160, &cfg, 7)));
    for chunk in [1, 37, 64, 299] {
        let (m, stats) = chunked(1, Parallelism::Auto, &walks, 20, &cfg, chunk);
        assert!(tables(&m) == tables(&whole), "1 thread, ranges of {chunk}");
        for (a, b) in stats.iter().zip(&whole_stats) {
            assert_eq!((a.pairs, a.tokens), (b.pairs, b.tokens));
            assert!((a.loss_sum - b.loss_sum).abs() <= 1e-9 * b.loss_sum);
        }
    }
    // Replicas on 2 and 3 threads: the same cut gives the same tables.
    for threads in [2, 3] {
        for chunk in [37, 300] {
            let a = chunked(threads, Parallelism::Replicas, &walks, 20, &cfg, chunk);
            let b = chunked(threads, Parallelism::Replicas, &walks, 20, &cfg, chunk);
            assert!(tables(&a.0) == tables(&b.0), "{threads} threads, ranges of {chunk}");
            assert_eq!(a.1.iter().map(|s| s.loss_sum).collect::<Vec<_>>(), b.1.iter().map(|s| s.loss_sum).collect::<Vec<_>>());
            // Pairs and tokens depend on the walks' own randomness alone.
            assert_eq!(
                a.1.iter().map(|s| (s.pairs, s.tokens)).collect::<Vec<_>>(),
                whole_stats.iter().map(|s| (s.pairs, s.tokens)).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn a_checkpoint_resumes_bit_identically() {
    let walks = community_walks(200, 20, 4);
    let cfg = SkipGramConfig { dim: 20, negatives: 3, epochs: 3, ..Default::default() };
    for (threads, mode) in [(1, Parallelism::Auto), (2, Parallelism::Replicas), (3, Parallelism::Auto)] {
        let p = pool(threads);
        let chunk = 50;
        let (straight, _) = chunked(threads, mode, &walks, 20, &cfg, chunk);
        // Stop after epoch 0 and, again, in the middle of epoch 1.
        let resumed = p.install(|| {
            let mut m = SkipGram::new(160, &walks, 20, &cfg, 7).unwrap();
            m.set_parallelism(mode);
            for lo in (0..200).step_by(chunk) {
                m.train_range(&walks, 20, 0, lo..lo + chunk).unwrap();
            }
            let mut m = SkipGram::from_bytes(&m.to_bytes()).unwrap();
            assert_eq!(m.parallelism(), mode);
            for lo in [0, 50] {
                m.train_range(&walks, 20, 1, lo..lo + chunk).unwrap();
            }
            let mut m = SkipGram::from_bytes(&m.to_bytes()).unwrap();
            for lo in [100, 150] {
                m.train_range(&walks, 20, 1, lo..lo + chunk).unwrap();
            }
            for lo in (0..200).step_by(chunk) {
                m.train_range(&walks, 20, 2, lo..lo + chunk).unwrap();
            }
            m
        });
        assert!(tables(&resumed) == tables(&straight), "{threads} threads, {mode:?}");
        // A round trip is the identity on the bytes too.
        assert_eq!(SkipGram::from_bytes(&straight.to_bytes()).unwrap().to_bytes(), straight.to_bytes());
    }
}

#[test]
fn bad_checkpoints_are_errors() {
    let walks = community_walks(20, 10, 1);
    let m = SkipGram::new(160, &walks, 10, &SkipGramConfig { dim: 8, ..Default::default() }, 1).unwrap();
    let good = m.to_bytes();
    assert!(SkipGram::from_bytes(&good).is_ok());
    for len in (0..good.len()).step_by(7).chain([good.len() - 1]) {
        assert!(matches!(SkipGram::from_bytes(&good[..len]), Err(Error::Checkpoint(_))), "truncated to {len}");
    }
    let mut rng = SplitMix::new(3);
    for _ in 0..50 {
        let mut bad = good.clone();
        let i = rng.below(bad.len() as u64) as usize;
        bad[i] ^= 1 << rng.below(8);
        assert!(SkipGram::from_bytes(&bad).is_err(), "flipped a bit of byte {i}");
    }
    let garbage: Vec<u8> = (0..good.len()).map(|_| rng.next_u64() as u8).collect();
    assert!(SkipGram::from_bytes(&garbage).is_err());
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 16]);
    assert!(SkipGram::from_bytes(&longer).is_err());
    // The right magic and checksum around nonsense fields: a noise alias
    // past the table (would be a row index) and a huge count.
    let forged = |fields: &dyn Fn(&mut Writer)| {
        let mut w = Writer::new(MAGIC);
        fields(&mut w);
        SkipGram::from_bytes(&w.finish())
    };
    let header = |w: &mut Writer, n: usize| {
        for x in [n, 4, 5, 5, 1, 10, 0] {
            w.usize(x);
        }
        w.f32(0.025);
        w.u64(1);
        w.u32(0);
    };
    assert!(
        forged(&|w| {
            header(w, 2);
            w.usize(0);
            w.u32s([1 << 24, 0, 1 << 24, 2]);
            w.f32s([0.0; 16]);
        })
        .is_err()
    );
    assert!(forged(&|w| header(w, usize::MAX / 2)).is_err());
    assert!(
        forged(&|w| {
            header(w, 2);
            w.usize(0);
            w.u32s([1 << 24, 0, 1 << 24, 1]);
            w.f32s([0.0; 16]);
        })
        .is_ok()
    );
}

#[test]
fn bad_inputs_are_errors() {
    let cfg = SkipGramConfig { dim: 8, epochs: 2, ..Default::default() };
    let walks = community_walks(10, 5, 1);
    assert!(SkipGram::new(100, &walks, 5, &cfg, 1).is_err(), "node ≥ n");
    assert!(SkipGram::new(160, &walks, 3, &cfg, 1).is_err(), "not whole walks");
    assert!(SkipGram::new(160, &walks, 5, &SkipGramConfig { dim: 0, ..cfg.clone() }, 1).is_err());
    assert!(SkipGram::new(160, &walks, 5, &SkipGramConfig { lr: f32::NAN, ..cfg.clone() }, 1).is_err());
    let mut m = SkipGram::new(160, &walks, 5, &cfg, 1).unwrap();
    assert!(m.train_range(&walks, 5, 2, 0..1).is_err(), "epoch past the last");
    assert!(m.train_range(&walks, 5, 0, 3..11).is_err(), "range past the walks");
    assert!(m.train_range(&walks[..45], 5, 0, 0..1).is_err(), "other walks");
    let mut other = walks.clone();
    other[7] = 500;
    assert!(m.train_range(&other, 5, 0, 0..2).is_err(), "a node past the table");
    assert_eq!(m.train_range(&walks, 5, 0, 4..4).unwrap().pairs, 0);
}

#[test]
fn loss_is_exact_finite_and_falls() {
    // Two nodes, one walk [0, 1], no negatives: both pairs score 0 against
    // the zero output table, so the first epoch's loss is exactly 2 log 2.
    let cfg = SkipGramConfig { dim: 8, window: 1, negatives: 0, epochs: 1, lr: 0.025 };
    let mut m = SkipGram::new(2, &[0, 1], 2, &cfg, 1).unwrap();
    let s = m.train_epoch(&[0, 1], 2, 0).unwrap();
    assert_eq!((s.pairs, s.tokens), (2, 2));
    assert!((s.loss_sum - 2.0 * std::f64::consts::LN_2).abs() < 1e-6, "{s:?}");

    let walks = community_walks(160, 30, 9);
    let cfg = SkipGramConfig { dim: 16, epochs: 5, ..Default::default() };
    for threads in [1, 2] {
        let losses: Vec<f64> = chunked(threads, Parallelism::Auto, &walks, 30, &cfg, 40).1.iter().map(StepStats::mean_loss).collect();
        assert!(losses.iter().all(|l| l.is_finite() && *l > 0.0), "{losses:?}");
        // 6 targets at score 0 cost 6 log 2 = 4.16 per pair.
        assert!(losses[0] < 4.2 && losses.windows(2).all(|w| w[1] < w[0]), "{threads} threads: {losses:?}");
    }
}

/// Many threads (more than cores) on one small table in Hogwild mode, so
/// that they write the same rows all the time: every value stays finite,
/// pairs and tokens are those of one thread, the loss is close to one
/// thread's and the communities still separate.
#[test]
fn hogwild_on_a_hot_table_stays_sound() {
    let walks = community_walks(1600, 40, 5);
    let cfg = SkipGramConfig { dim: 33, epochs: 2, ..Default::default() };
    let (one, one_stats) = chunked(1, Parallelism::Auto, &walks, 40, &cfg, 1600);
    for threads in [4, 8] {
        let (m, stats) = chunked(threads, Parallelism::Hogwild, &walks, 40, &cfg, 400);
        let (a, b) = tables(&m);
        assert!(a.iter().chain(&b).all(|x| x.is_finite()));
        for (s, o) in stats.iter().zip(&one_stats) {
            assert_eq!((s.pairs, s.tokens), (o.pairs, o.tokens));
            assert!((s.mean_loss() - o.mean_loss()).abs() < 0.1 * o.mean_loss(), "{s:?} vs {o:?}");
        }
        let s = separation(&a, 33);
        assert!(s > 0.5, "{threads} threads: separation {s} (one thread {})", separation(&one.embeddings(), 33));
    }
}
