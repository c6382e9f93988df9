//! Graph servers as real processes on 127.0.0.1 (port 0 + ready files,
//! killed by pid): remote sampling equals local sampling bit for bit for
//! every partitioner and 1, 2, 4 servers, with the importance cache on and
//! off, for neighbour sampling, walks, negatives and the query language;
//! one request per server per hop;
//! and the failure cases (token, mismatch, oversized request, SIGKILL,
//! SIGSTOP, restart), each bounded in time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrograph_dist::{CacheOptions, ClientOptions, RemoteGraph};
use ferrograph_sample::features::FeatureAccess;
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::walk::Walker;
use ferrograph_sample::{LocalGraph, NeighborAccess, NeighborSampler, Relation, Strategy};

const TOKEN: &str = "s3cret-test-token";

fn fg(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_ferrograph")).args(args).output().unwrap();
    assert!(o.status.success(), "ferrograph {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, snapshot: &Path, book: &Path, part: usize, listen: &str, extra: &[&str]) -> Server {
    start_with(Command::new(env!("CARGO_BIN_EXE_ferrograph")), dir, snapshot, book, part, listen, extra)
}

/// [`start`] through `cmd` (the binary itself, or `ip netns exec NS` of it);
/// the server's log goes to a file so that a chatty server never blocks on
/// a full pipe.
fn start_with(mut cmd: Command, dir: &Path, snapshot: &Path, book: &Path, part: usize, listen: &str, extra: &[&str]) -> Server {
    let token = dir.join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let tag = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    let ready = dir.join(format!("ready-{part}-{tag}"));
    let log = dir.join(format!("server-{part}-{tag}.log"));
    let _ = std::fs::remove_file(&ready);
    let mut child = cmd
        .arg("serve")
        .arg(snapshot)
        .args(["--book", book.to_str().unwrap(), "--part", &part.to_string(), "--listen", listen])
        .args(["--ready-file", ready.to_str().unwrap(), "--token-file", token.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        if let Ok(a) = std::fs::read_to_string(&ready) {
            return Server { child, addr: a };
        }
        if let Some(status) = child.try_wait().unwrap() {
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("server {part} exited ({status}) before listening: {err}");
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "server {part} did not listen within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fixture(dir: &Path) -> PathBuf {
    let snap = dir.join("planted");
    fg(&["generate", "planted", "--nodes", "3000", "--classes", "4", "--out", snap.to_str().unwrap()]);
    snap
}

fn book(dir: &Path, snap: &Path, parts: usize, method: &str) -> PathBuf {
    let out = dir.join(format!("book-{method}-{parts}"));
    fg(&["partition", snap.to_str().unwrap(), "--parts", &parts.to_string(), "--method", method, "--out", out.to_str().unwrap()]);
    out
}

fn strategies() -> Vec<Strategy> {
    vec![
        Strategy::Random,
        Strategy::RandomWithoutReplacement,
        Strategy::Full,
        Strategy::TopK,
        Strategy::InDegree,
        Strategy::EdgeWeight,
        Strategy::Before(5),
        Strategy::MostRecent(5),
    ]
}

/// Queries of every step kind over the planted graph.
fn queries() -> Vec<&'static str> {
    vec![
        r#"g.V("node").batch(64).shuffle().alias("seed").outV("link").sample(5).by("random").alias("h1").outV("link").sample(3).by("random_without_replacement").alias("h2").values()"#,
        r#"g.E("link").batch(32).alias("e").outV().alias("src").outNeg("link").sample(4).by("in_degree").alias("neg").values()"#,
        r#"g.V("node", "train").batch(16).outV("link").sample(3).by("random").outNeg("link").sample(2).strict().by("random")"#,
        r#"g.V("node").batch(8).random_walk("link", 6, 0.5, 2.0).alias("walks").values()"#,
        r#"g.V("node").batch(4).subgraph("link", 2).alias("sub")"#,
        r#"g.V("node").batch(50).outV("link").sample(5).by("in_degree").outV("link").sample(2).by("full")"#,
        r#"g.V("node").outE("link").sample(2).by("random").alias("e").inV().alias("far")"#,
        r#"g.E("link").batch(16).outV().outNeg("link").sample(3).by("random").where("label").strict()"#,
    ]
}

#[test]
fn remote_sampling_equals_local_for_every_partitioner_and_server_count() {
    let d = tempfile::tempdir().unwrap();
    let snap = fixture(d.path());
    let opened = ferrograph_graph::snapshot::open(&snap).unwrap();
    let g = &opened.graph;
    let local = LocalGraph::new(g);
    let rel = Relation::resolve(g, "link").unwrap();
    let seeds: Vec<u32> = (0..400).map(|i| (i * 7 + i / 3) % 3000).collect();
    let mut compared = std::collections::BTreeMap::<String, usize>::new();
    for method in ["hash", "metis", "fennel"] {
        for parts in [1, 2, 4] {
            let b = book(d.path(), &snap, parts, method);
            let servers: Vec<Server> = (0..parts).map(|p| start(d.path(), &snap, &b, p, "127.0.0.1:0", &[])).collect();
            let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
            let remote = RemoteGraph::connect(&b, &addrs, TOKEN, ClientOptions::default()).unwrap();
            assert_eq!(remote.node_count(rel.from), 3000);
            // The same servers through AliGraph's importance cache (30% of
            // the nodes, τ = 0.2).
            let cached = RemoteGraph::connect(&b, &addrs, TOKEN, ClientOptions::default()).unwrap();
            let stats = cached.cache(rel, CacheOptions { fraction: 0.3, tau: 0.2 }).unwrap();
            assert_eq!(stats.nodes, 900, "{method} × {parts}: {stats:?}");
            assert!(stats.entries > 0 && stats.bytes >= 3000 * 4 + stats.entries * 4);
            for strategy in strategies() {
                let sampler =
                    NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 6 }, HopSpec { relation: rel, fanout: 4 }], strategy).unwrap();
                let t0 = cached.traffic();
                match (sampler.sample(&local, &seeds, 11), sampler.sample(&cached, &seeds, 11)) {
                    (Ok(l), Ok(r)) => assert_eq!(l, r, "{method} × {parts}, {strategy:?}: cached remote differs from local"),
                    (Err(_), Err(_)) => {}
                    (l, r) => panic!("{method} × {parts}, {strategy:?} cached: local {:?} but remote {:?}", l.map(|_| ()), r.map(|_| ())),
                }
                let t = cached.traffic().since(&t0);
                if ferrograph_sample::cache::RowCache::serves(strategy) {
                    assert!(
                        t.cached > 0 && t.rows > 0,
                        "{method} × {parts}, {strategy:?}: the cache answered {} of {} rows",
                        t.cached,
                        t.rows + t.cached
                    );
                } else {
                    assert_eq!(t.cached, 0, "{strategy:?} needs per-edge tables and must not be answered from the cache");
                }
            }
            // Walks (DeepWalk and node2vec's second-order steps) over the wire.
            let starts: Vec<u32> = (0..300).map(|i| (i * 11) % 3000).collect();
            for (p, q) in [(1.0, 1.0), (0.5, 2.0)] {
                let w = Walker::node2vec(rel, 8, p, q).unwrap();
                let l = w.walks(&local, &starts, 5).unwrap();
                assert_eq!(l, w.walks(&remote, &starts, 5).unwrap(), "{method} × {parts}: node2vec({p}, {q}) walks differ");
                assert_eq!(l, w.walks(&cached, &starts, 5).unwrap(), "{method} × {parts}: cached node2vec({p}, {q}) walks differ");
            }
            // Feature rows over the wire, in the order asked.
            let (mut want, mut got) = (Vec::new(), Vec::new());
            let dim = ferrograph_sample::features::gather(g.node_column(rel.from, "feat").unwrap(), &seeds, &mut want).unwrap();
            assert_eq!(FeatureAccess::gather(&remote, rel.from, "feat", &seeds, &mut got).unwrap(), dim);
            assert_eq!(got, want, "{method} × {parts}: gathered rows differ");
            let e = FeatureAccess::gather(&remote, rel.from, "feet", &seeds, &mut got).unwrap_err().to_string();
            assert!(e.contains("NotFound") && e.contains("feet"), "{e}");
            // Negatives (uniform, in-degree, strict) and the query language.
            for (strategy, strict) in [(NegativeStrategy::Random, true), (NegativeStrategy::InDegree, false), (NegativeStrategy::InDegree, true)] {
                let want = NegativeSampler::new(&local, rel, strategy.clone(), strict).unwrap().sample(&seeds, 5, 9).unwrap();
                for (name, access) in [("remote", &remote), ("cached", &cached)] {
                    let got = NegativeSampler::over(g, access, rel, strategy.clone(), strict).unwrap().sample(&seeds, 5, 9).unwrap();
                    assert_eq!(got, want, "{method} × {parts}, {name}: {strategy:?} negatives (strict {strict}) differ");
                }
            }
            for text in queries() {
                let plan = ferrograph_query::parse(text).unwrap();
                let want = ferrograph_query::execute(&plan, g, 21).unwrap();
                for (name, access) in [("remote", &remote), ("cached", &cached)] {
                    let got = ferrograph_query::execute_over(&plan, g, access, 21, &ferrograph_query::Limits::default()).unwrap();
                    assert_eq!(got, want, "{method} × {parts}, {name}: `{text}` differs");
                }
            }
            for strategy in strategies() {
                let sampler =
                    NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 6 }, HopSpec { relation: rel, fanout: 4 }], strategy).unwrap();
                let before: Vec<u64> = (0..parts).map(|p| remote.info(p).unwrap().requests).collect();
                let t0 = remote.traffic();
                let (l, r) = (sampler.sample(&local, &seeds, 11), sampler.sample(&remote, &seeds, 11));
                let ok = r.is_ok();
                match (l, r) {
                    (Ok(l), Ok(r)) => {
                        assert_eq!(l, r, "{method} × {parts}, {strategy:?}: remote differs from local");
                        *compared.entry(format!("{strategy:?}")).or_default() += 1;
                    }
                    (Err(_), Err(_)) => {} // refused both ways (e.g. no weights or times in this graph)
                    (l, r) => panic!("{method} × {parts}, {strategy:?}: local {:?} but remote {:?}", l.map(|_| ()), r.map(|_| ())),
                }
                // Batching: at most one request per server per hop.
                for (p, b0) in before.iter().enumerate() {
                    let delta = remote.info(p).unwrap().requests - b0;
                    assert!(delta <= 2, "{method} × {parts}, {strategy:?}: server {p} got {delta} requests for 2 hops");
                }
                // The client's count agrees, and every request carried bytes both ways.
                let t1 = remote.traffic();
                let sent_requests: u64 = (0..parts).map(|p| remote.info(p).unwrap().requests - before[p]).sum();
                if ok {
                    assert_eq!(t1.requests - t0.requests, sent_requests, "{method} × {parts}, {strategy:?}");
                    assert!(t1.calls - t0.calls <= 2 && t1.requests - t0.requests <= 2 * parts as u64);
                    assert!(t1.sent > t0.sent && t1.received > t0.received);
                }
            }
            let (mut dl, mut dr) = (Vec::new(), Vec::new());
            local.degrees(rel, &seeds, &mut dl).unwrap();
            remote.degrees(rel, &seeds, &mut dr).unwrap();
            assert_eq!(dl, dr);
        }
    }
    // The strategies this unweighted, untimed graph supports, in all 9 setups
    // (weighted and temporal ones are refused alike locally and remotely).
    for s in ["Random", "RandomWithoutReplacement", "Full", "InDegree"] {
        assert_eq!(compared.get(s), Some(&9), "{s}: {compared:?}");
    }
}

/// SIGSTOP to `pid`, returning once every thread of it is stopped: the
/// signal takes effect asynchronously, and a thread still running for a
/// moment after `kill` returns could answer a request sent at once.
fn stop(pid: u32) {
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let t = Instant::now();
    let stopped = || {
        std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
            tasks.flatten().all(|task| {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                // The state follows the parenthesised command name.
                stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T') || rest.starts_with('t'))
            })
        })
    };
    while !stopped() {
        assert!(t.elapsed() < Duration::from_secs(5), "server {pid} did not stop");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn failures_are_typed_bounded_and_recoverable() {
    let d = tempfile::tempdir().unwrap();
    let snap = fixture(d.path());
    let opened = ferrograph_graph::snapshot::open(&snap).unwrap();
    let g = &opened.graph;
    let local = LocalGraph::new(g);
    let rel = Relation::resolve(g, "link").unwrap();
    let b = book(d.path(), &snap, 2, "hash");
    let s0 = start(d.path(), &snap, &b, 0, "127.0.0.1:0", &[]);
    let mut s1 = start(d.path(), &snap, &b, 1, "127.0.0.1:0", &["--max-nodes", "500"]);
    let addrs = vec![s0.addr.clone(), s1.addr.clone()];
    let opts = ClientOptions {
        deadline: Duration::from_millis(700),
        attempts: 3,
        backoff: Duration::from_millis(50),
        connect_timeout: Duration::from_millis(500),
    };

    // No or a wrong token: refused at connect, saying so.
    let e = RemoteGraph::connect(&b, &addrs, "wrong", opts).unwrap_err().to_string();
    assert!(e.contains("token") && e.contains("Unauthenticated"), "{e}");
    // Servers in the wrong order: a partition mismatch at connect.
    let e = RemoteGraph::connect(&b, &[addrs[1].clone(), addrs[0].clone()], TOKEN, opts).unwrap_err().to_string();
    assert!(e.contains("serves partition 1 of 2, not 0"), "{e}");
    // A book of another snapshot: the server refuses to start.
    let other = d.path().join("other");
    fg(&["generate", "planted", "--nodes", "3000", "--classes", "4", "--seed", "5", "--out", other.to_str().unwrap()]);
    let o = Command::new(env!("CARGO_BIN_EXE_ferrograph"))
        .args(["serve", other.to_str().unwrap(), "--book", b.to_str().unwrap(), "--part", "0"])
        .env("FERROGRAPH_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("another snapshot"), "{}", String::from_utf8_lossy(&o.stderr));

    let remote = RemoteGraph::connect(&b, &addrs, TOKEN, opts).unwrap();
    let seeds: Vec<u32> = (0..300).map(|i| i * 9 % 3000).collect();
    let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 5 }; 2], Strategy::Random).unwrap();
    let want = sampler.sample(&local, &seeds, 3).unwrap();
    assert_eq!(sampler.sample(&remote, &seeds, 3).unwrap(), want);

    // Oversized requests get a clear status.
    let e = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 20_000 }], Strategy::Random)
        .unwrap()
        .sample(&remote, &seeds, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ResourceExhausted") && e.contains("fan-out 20000"), "{e}");
    let many: Vec<u32> = (0..3000).collect();
    let e = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 2 }], Strategy::Random)
        .unwrap()
        .sample(&remote, &many, 3)
        .unwrap_err()
        .to_string();
    assert!(e.contains("partition 1") && e.contains("at most 500"), "{e}");

    // SIGSTOP: the deadline ends each attempt; the typed error comes within the budget.
    stop(s0.child.id());
    let t = Instant::now();
    let e = sampler.sample(&remote, &seeds, 3).unwrap_err().to_string();
    let took = t.elapsed();
    unsafe { libc::kill(s0.child.id() as i32, libc::SIGCONT) };
    assert!(e.contains("partition 0") && e.contains(&s0.addr) && e.contains("3 attempts"), "{e}");
    assert!(took < Duration::from_secs(5), "a stopped server took {took:?} to report");
    assert_eq!(sampler.sample(&remote, &seeds, 3).unwrap(), want, "the continued server answers again");

    // SIGKILL mid-run: unavailable, named, within the budget.
    let addr1 = s1.addr.clone();
    s1.child.kill().unwrap();
    s1.child.wait().unwrap();
    let t = Instant::now();
    let e = sampler.sample(&remote, &seeds, 3).unwrap_err().to_string();
    assert!(e.contains("partition 1") && e.contains(&addr1) && e.contains("attempts"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "a dead server took {:?} to report", t.elapsed());
    // Restarted on the same address, it is used again.
    s1 = start(d.path(), &snap, &b, 1, &addr1, &[]);
    assert_eq!(s1.addr, addr1);
    assert_eq!(sampler.sample(&remote, &seeds, 3).unwrap(), want, "the restarted server answers again");
    drop(s0);
}

#[test]
fn weighted_and_temporal_strategies_sample_remotely_as_locally() {
    let d = tempfile::tempdir().unwrap();
    // 1,000 nodes, 8,000 directed edges with a weight and a timestamp each.
    let mut nodes = String::from("id:int64\n");
    (0..1000).for_each(|i| nodes.push_str(&format!("{i}\n")));
    let mut edges = String::from("src_id:int64\tdst_id:int64\tweight:float\ttimestamp:int64\n");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..8000 {
        let (a, b, w, t) = (next() % 1000, next() % 1000, next() % 100, next() % 1000);
        edges.push_str(&format!("{a}\t{b}\t{}\t{t}\n", w as f64 / 10.0));
    }
    std::fs::write(d.path().join("n"), nodes).unwrap();
    std::fs::write(d.path().join("e"), edges).unwrap();
    let cfg = d.path().join("import.toml");
    std::fs::write(
        &cfg,
        "[[nodes]]\ntype = \"n\"\nfile = \"n\"\nformat = \"graphlearn\"\n[[edges]]\nsrc_type = \"n\"\nrelation = \"e\"\ndst_type = \"n\"\nfile = \"e\"\nformat = \"graphlearn\"\n",
    )
    .unwrap();
    let snap = d.path().join("snap");
    fg(&["import", cfg.to_str().unwrap(), "--out", snap.to_str().unwrap()]);
    let opened = ferrograph_graph::snapshot::open(&snap).unwrap();
    let local = LocalGraph::new(&opened.graph);
    let seeds: Vec<u32> = (0..300).map(|i| i * 3 % 1000).collect();
    for method in ["hash", "metis"] {
        for parts in [2, 4] {
            let b = book(d.path(), &snap, parts, method);
            let servers: Vec<Server> = (0..parts).map(|p| start(d.path(), &snap, &b, p, "127.0.0.1:0", &[])).collect();
            let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
            let remote = RemoteGraph::connect(&b, &addrs, TOKEN, ClientOptions::default()).unwrap();
            for name in ["e", "rev_e"] {
                let rel = Relation::resolve(&opened.graph, name).unwrap();
                for strategy in strategies().into_iter().chain([Strategy::Before(400), Strategy::MostRecent(700)]) {
                    let sampler =
                        NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 5 }, HopSpec { relation: rel, fanout: 3 }], strategy).unwrap();
                    let l = sampler.sample(&local, &seeds, 21).unwrap_or_else(|e| panic!("{strategy:?} locally: {e}"));
                    let r = sampler.sample(&remote, &seeds, 21).unwrap_or_else(|e| panic!("{method} × {parts} {strategy:?} remotely: {e}"));
                    assert_eq!(l, r, "{method} × {parts}, {name}, {strategy:?}");
                    assert!(!l.node.is_empty());
                }
            }
        }
    }
}

/// Data-parallel training under `mpirun` (builds with `--features mpi`;
/// `.ci/run` installs OpenMPI and runs these).
#[cfg(feature = "mpi")]
mod mpi {
    use super::*;

    fn mpirun(np: usize, args: &[&str]) -> Command {
        let mut c = Command::new("mpirun");
        c.args(["--oversubscribe", "-np", &np.to_string(), env!("CARGO_BIN_EXE_ferrograph"), "--threads", "1"]).args(args);
        // CI runs as root; ranks waiting in a collective yield the core.
        c.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1").env("OMPI_MCA_mpi_yield_when_idle", "1");
        c
    }

    fn train(np: usize, cfg: &Path, out: &Path, servers: Option<&Path>) -> (Vec<f64>, f64) {
        let mut args = vec!["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()];
        if let Some(s) = servers {
            args.extend(["--servers", s.to_str().unwrap()]);
        }
        let o = if np == 0 {
            Command::new(env!("CARGO_BIN_EXE_ferrograph")).args(["--threads", "1"]).args(&args).output().unwrap()
        } else {
            mpirun(np, &args).output().expect("mpirun (OpenMPI) must be installed: apt-get install openmpi-bin libopenmpi-dev")
        };
        assert!(o.status.success(), "np {np}: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let losses = std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64().unwrap())
            .collect();
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (losses, s["test"]["accuracy"].as_f64().unwrap())
    }

    fn same_optimisation(what: &str, single: &(Vec<f64>, f64), other: &(Vec<f64>, f64)) {
        assert_eq!(single.0.len(), other.0.len(), "{what}: epochs");
        for (e, (a, b)) in single.0.iter().zip(&other.0).enumerate() {
            assert!((a - b).abs() <= 1e-4 * a.abs(), "{what}: epoch {} loss {b} vs single-process {a}", e + 1);
        }
        assert!((single.1 - other.1).abs() <= 0.005, "{what}: test accuracy {} vs single-process {}", other.1, single.1);
    }

    fn config(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    /// GraphSAGE (hidden [32], fan-outs [10, 5]) on the planted fixture,
    /// with `model` and `train` lines added to those sections.
    fn planted(dir: &Path, name: &str, snap: &Path, model: &str, train: &str) -> PathBuf {
        let body = format!(
            "output = \"run\"\n[data]\nsnapshot = {:?}\nnode_type = \"node\"\nlabel = \"label\"\nfeatures = \"feat\"\n\n[model]\nkind = \"sage\"\nhidden = [32]\n{model}\n[train]\nfanouts = [10, 5]\n{train}",
            snap.to_str().unwrap()
        );
        config(dir, name, &body)
    }

    /// `mpirun -np 1|2|3` with the same global batch follows the
    /// single-process optimisation (losses within 1e-4 relative, test
    /// accuracy within 0.5 points), sampling locally and through 2 graph
    /// servers, on a planted-partition graph and on Cora.
    #[test]
    fn data_parallel_training_follows_single_process_training() {
        let d = tempfile::tempdir().unwrap();
        let snap = fixture(d.path());
        let cfg = planted(d.path(), "planted.toml", &snap, "dropout = 0.0\n", "batch_size = 100\nlr = 0.01\nepochs = 4\nseed = 3\n");
        let single = train(0, &cfg, &d.path().join("single"), None);
        assert!(single.0.windows(2).all(|w| w[1] < w[0]), "the loss falls: {:?}", single.0);
        for np in [1, 2, 3] {
            same_optimisation(&format!("planted, np {np}"), &single, &train(np, &cfg, &d.path().join(format!("np{np}")), None));
        }
        // Through two graph servers (METIS partitions).
        let book = book(d.path(), &snap, 2, "metis");
        let servers: Vec<Server> = (0..2).map(|p| start(d.path(), &snap, &book, p, "127.0.0.1:0", &[])).collect();
        let file = config(
            d.path(),
            "servers.toml",
            &format!(
                "book = {:?}\nservers = {:?}\ntoken_file = \"token\"\n",
                book.to_str().unwrap(),
                servers.iter().map(|s| s.addr.clone()).collect::<Vec<_>>()
            ),
        );
        for np in [1, 3] {
            same_optimisation(&format!("planted, np {np}, servers"), &single, &train(np, &cfg, &d.path().join(format!("srv{np}")), Some(&file)));
        }
        // Cora (Planetoid split), GCN, batches of 32: the last batch of 12 is split 4/4/4.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let import = repo.join("configs/cora-csv.toml");
        let cora = config(
            d.path(),
            "cora.toml",
            &format!(
                "output = \"run\"\n[data]\nimport = {:?}\nnode_type = \"paper\"\nrelation = \"cites\"\nlabel = \"label\"\nfeatures = \"feat\"\nnormalize_features = true\n\n[model]\nkind = \"gcn\"\nhidden = [64]\ndropout = 0.0\n\n[train]\nmode = \"sampled\"\nfanouts = [10, 10]\nbatch_size = 32\nlr = 0.01\nweight_decay = 0.0005\nepochs = 5\nseed = 0\n",
                import.to_str().unwrap()
            ),
        );
        let single = train(0, &cora, &d.path().join("cora-single"), None);
        for np in [2, 3] {
            same_optimisation(&format!("Cora, np {np}"), &single, &train(np, &cora, &d.path().join(format!("cora-np{np}")), None));
        }
    }

    /// A rank killed mid-epoch ends the job non-zero within 10 s, naming
    /// the rank; a task that cannot split its batches is refused on every
    /// rank, naming the task.
    #[test]
    fn a_dead_rank_ends_the_job_promptly() {
        let d = tempfile::tempdir().unwrap();
        let snap = fixture(d.path());
        let cfg = planted(d.path(), "long.toml", &snap, "", "batch_size = 50\nepochs = 10000\n");
        let out = d.path().join("long");
        let mut job = mpirun(2, &["train", cfg.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first epoch, then kill rank 1.
        let t0 = Instant::now();
        while !out.join("metrics.jsonl").exists() {
            assert!(t0.elapsed() < Duration::from_secs(60), "no epoch ended within 60 s");
            assert!(job.try_wait().unwrap().is_none(), "the job ended early");
            std::thread::sleep(Duration::from_millis(50));
        }
        let rank1 = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .find(|pid| {
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                env.split(|&b| b == 0).any(|kv| kv == b"OMPI_COMM_WORLD_RANK=1") && String::from_utf8_lossy(&cmd).contains(out.to_str().unwrap())
            })
            .expect("rank 1's process");
        let killed = Instant::now();
        // SAFETY: a plain kill(2) of a child process of this test.
        assert_eq!(unsafe { libc::kill(rank1, libc::SIGKILL) }, 0);
        loop {
            if let Some(status) = job.try_wait().unwrap() {
                assert!(!status.success(), "the job must fail");
                break;
            }
            assert!(killed.elapsed() < Duration::from_secs(10), "the job still runs 10 s after rank 1 died");
            std::thread::sleep(Duration::from_millis(50));
        }
        let o = job.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(text.contains("rank 1"), "the message names the rank: {text}");

        // A link-prediction config under 2 ranks: refused, naming the task.
        let lp = config(
            d.path(),
            "lp.toml",
            &format!(
                "output = \"run\"\ntask = \"link_prediction\"\n[data]\nsnapshot = {:?}\nnode_type = \"node\"\nfeatures = \"feat\"\n\n[model]\nkind = \"sage\"\nhidden = [16]\n\n[train]\nfanouts = [5, 5]\nepochs = 1\n",
                snap.to_str().unwrap()
            ),
        );
        let t1 = Instant::now();
        let o = mpirun(2, &["train", lp.to_str().unwrap(), "--out", d.path().join("lp").to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains("link_prediction") && err.contains("2 ranks"), "{err}");
        assert!(t1.elapsed() < Duration::from_secs(30));
    }
}

/// Servers in network namespaces the test creates (veth pairs): sampling
/// crosses a real network stack, as the veth byte counters show. (No netem
/// delay here: this project's CI kernel has no `sch_netem`; `bench remote
/// --netns --delay-ms` adds it where the kernel has it.) Needs root and iproute2,
/// so it is a feature (`--features netns`, on in CI's `--all-features`).
#[cfg(feature = "netns")]
mod netns {
    use super::*;
    use ferrograph_dist::netns::Netns;

    /// Bytes received by the calling namespace's ends of the links.
    fn veth_rx(nss: &[Netns]) -> u64 {
        nss.iter()
            .map(|ns| {
                let f = format!("/sys/class/net/{}/statistics/rx_bytes", ns.outside_if());
                std::fs::read_to_string(&f).unwrap().trim().parse::<u64>().unwrap()
            })
            .sum()
    }

    #[test]
    fn servers_in_network_namespaces_sample_as_locally_and_fail_in_bounded_time() {
        let d = tempfile::tempdir().unwrap();
        let snap = fixture(d.path());
        let opened = ferrograph_graph::snapshot::open(&snap).unwrap();
        let g = &opened.graph;
        let local = LocalGraph::new(g);
        let rel = Relation::resolve(g, "link").unwrap();
        let b = book(d.path(), &snap, 2, "metis");
        let pid = std::process::id();
        let nss: Vec<Netns> = (0..2u8)
            .map(|i| Netns::create(&format!("t{}{i}", pid % 100_000), (213, (pid % 60) as u8 * 4 + i), 0).expect("creating a network namespace"))
            .collect();
        let mut servers: Vec<Server> = nss
            .iter()
            .enumerate()
            .map(|(p, ns)| {
                let listen = format!("{}:0", ns.inside_ip());
                start_with(ns.command(env!("CARGO_BIN_EXE_ferrograph")), d.path(), &snap, &b, p, &listen, &[])
            })
            .collect();
        let addrs: Vec<String> = servers.iter().map(|s| s.addr.clone()).collect();
        for (a, ns) in addrs.iter().zip(&nss) {
            assert!(a.starts_with(ns.inside_ip()), "{a} is not inside {}", ns.name());
        }
        let opts = ClientOptions { deadline: Duration::from_millis(500), attempts: 3, ..ClientOptions::default() };
        let remote = RemoteGraph::connect(&b, &addrs, TOKEN, opts).unwrap();
        let cached = RemoteGraph::connect(&b, &addrs, TOKEN, opts).unwrap();
        cached.cache(rel, CacheOptions { fraction: 0.2, tau: 0.2 }).unwrap();
        let seeds: Vec<u32> = (0..300).map(|i| (i * 13) % 3000).collect();
        for strategy in [Strategy::Random, Strategy::RandomWithoutReplacement, Strategy::Full, Strategy::InDegree] {
            let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 5 }, HopSpec { relation: rel, fanout: 3 }], strategy).unwrap();
            let want = sampler.sample(&local, &seeds, 7).unwrap();
            let (rx0, t0) = (veth_rx(&nss), remote.traffic());
            assert_eq!(sampler.sample(&remote, &seeds, 7).unwrap(), want, "{strategy:?} across veth differs from local");
            // Every answer byte came in through the veth links.
            let (rx, got) = (veth_rx(&nss) - rx0, remote.traffic().since(&t0).received);
            assert!(rx >= got, "{strategy:?}: {rx} bytes arrived on the veth links for {got} bytes of answers");
            assert_eq!(sampler.sample(&cached, &seeds, 7).unwrap(), want, "{strategy:?} with the cache across veth differs");
        }
        let sampler = NeighborSampler::new(vec![HopSpec { relation: rel, fanout: 5 }], Strategy::Random).unwrap();
        let want = sampler.sample(&local, &seeds, 3).unwrap();
        // The link of partition 1 goes down (a network partition, not a dead
        // process): the typed error within attempts × deadline + backoff.
        let host_if = nss[1].outside_if().to_string();
        let link = |state: &str| assert!(Command::new("ip").args(["link", "set", &host_if, state]).status().unwrap().success());
        link("down");
        let t = Instant::now();
        let e = sampler.sample(&remote, &seeds, 3).unwrap_err().to_string();
        let took = t.elapsed();
        assert!(e.contains("partition 1") && e.contains(&addrs[1]) && e.contains("3 attempts"), "{e}");
        assert!(took < Duration::from_secs(3), "a cut link took {took:?} to report");
        link("up");
        assert_eq!(sampler.sample(&remote, &seeds, 3).unwrap(), want, "the link is back: partition 1 answers again");
        // A server killed inside its namespace: unavailable, named, bounded.
        servers[0].child.kill().unwrap();
        servers[0].child.wait().unwrap();
        let t = Instant::now();
        let e = sampler.sample(&remote, &seeds, 3).unwrap_err().to_string();
        assert!(e.contains("partition 0") && e.contains(&addrs[0]), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3), "a dead server across veth took {:?}", t.elapsed());
        servers.clear();
        drop(nss);
        let left = String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
        assert!(!left.contains(&format!("fgt{}", pid % 100_000)), "namespaces left behind: {left}");
    }
}
