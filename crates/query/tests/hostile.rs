//! Hostile queries: every one ends, within a second, in a clear error at a
//! column inside the text (or runs, when it is within the limits), and
//! timestamps keep every bit of the i64 range.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::NodeIds;
use ferrograph_graph::topology::{BuildOptions, build_topology};
use ferrograph_graph::{AttrKind, AttrSchema, EdgeStore, EdgeTypeSchema, Graph, IdKind, NodeStore, NodeTypeSchema, Schema};
use ferrograph_query::{Error, Limits, Plan, Query, execute, execute_with, parse, parse_with};

fn cora() -> &'static Graph {
    static G: OnceLock<Graph> = OnceLock::new();
    G.get_or_init(|| {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        ferrograph_io::import_file(&repo.join("configs/cora-graphlearn.toml"), &ferrograph_graph::progress::NoProgress)
            .expect("../shared/data must be beside the checkout")
    })
}

/// Parses, checks against Cora and runs `q`; the first error, which must come within a second.
fn run(q: &str, limits: &Limits) -> Result<(), Error> {
    let g = cora();
    let t = Instant::now();
    let r = parse_with(q, limits).and_then(|p| execute_with(&p, g, 1, limits).map(|_| ()));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(1), "{} took {took:?}", short(q));
    if let Err(e) = &r {
        let chars = q.chars().count();
        assert!((1..=chars + 1).contains(&e.column), "{}: column {} outside 1..={}: {e}", short(q), e.column, chars + 1);
        assert!(e.to_string().starts_with(&format!("column {}: ", e.column)));
        assert!(e.to_string().len() < 600, "the message stays short: {} bytes", e.to_string().len());
    }
    r
}

fn short(q: &str) -> String {
    let s: String = q.chars().take(80).collect();
    if q.chars().count() > 80 { format!("{s}… ({} chars)", q.chars().count()) } else { s }
}

/// The error of `q` under the default limits, which must be at `column` and contain every word.
fn refused(q: &str, column: usize, words: &[&str]) -> Error {
    let e = run(q, &Limits::default()).expect_err(&short(q));
    assert_eq!(e.column, column, "{}: {e}", short(q));
    for w in words {
        assert!(e.to_string().contains(w), "{}: `{e}` lacks `{w}`", short(q));
    }
    e
}

#[test]
fn a_query_of_five_thousand_hops_is_refused_at_the_first_step_past_the_limit() {
    let hop = r#".outV("cites").sample(1).by("random")"#;
    let q = format!(r#"g.V("paper"){}"#, hop.repeat(5000));
    // the 65th hop starts at 13 + 64 hops; its `outV` one character later
    refused(&q, 13 + 64 * hop.len() + 1, &["65 steps", "the limit is 64 steps", "Limits::max_steps", "--max-steps"]);
    // the same plan from the builder: no column, the same refusal
    let mut b = Query::v("paper");
    for _ in 0..5000 {
        b = b.out_v("cites").sample(1).by("random");
    }
    let plan = b.values();
    let t = Instant::now();
    let e = plan.check(cora()).unwrap_err();
    assert_eq!(e.column, 0);
    assert!(e.to_string().starts_with("`outV(\"cites\")` brings the query to 65 steps"), "{e}");
    assert!(execute(&plan, cora(), 0).is_err());
    assert!(t.elapsed() < Duration::from_secs(1));
    // raised, the 5,000 hops run: each is bounded
    let limits = Limits { max_steps: 5000, ..Limits::default() };
    run(&q, &limits).unwrap();
}

#[test]
fn huge_fan_outs_are_refused_before_sampling() {
    let words = ["sample(1000000000) is too large", "the limit is 10000 samples per node", "Limits::max_fanout", "--max-fanout"];
    refused(r#"g.V("paper").outV("cites").sample(1000000000).by("random")"#, 35, &words);
    refused(r#"g.V("paper").outV("cites").sample(1000000000).by("full")"#, 35, &words);
    refused(r#"g.V("paper").outNeg("cites").sample(1000000000).by("random")"#, 37, &words);
    refused(r#"g.V("paper").inE("cites").sample(99999999999999999999999999999999999999999).by("random")"#, 34, &["too large", "--max-fanout"]);
    refused(r#"g.V("paper").outV("cites").sample(0).by("random")"#, 35, &["positive integer"]);
    let plan = Query::v("paper").out_v("cites").sample(1_000_000_000).by("random").values();
    assert!(execute(&plan, cora(), 0).unwrap_err().to_string().contains("--max-fanout"));
    // products of fan-outs: 64 × 10000 × 10000
    refused(
        r#"g.V("paper").outV("cites").sample(10000).by("random").outV("cites").sample(10000).by("random")"#,
        55,
        &["can bring the batch to 6400640064 nodes", "the limit is 10000000 nodes per batch", "Limits::max_nodes", "--max-nodes"],
    );
}

#[test]
fn huge_batches_are_refused() {
    for big in ["4294967296", "18446744073709551616", "340282366920938463463374607431768211456", &"9".repeat(5000)] {
        refused(&format!(r#"g.V("paper").batch({big})"#), 20, &["is too large", "nodes or edges per batch", "Limits::max_batch", "--max-batch"]);
        refused(&format!(r#"g.E("cites").batch({big}).outV()"#), 20, &["--max-batch"]);
    }
    refused(r#"g.V("paper").batch(1e30)"#, 20, &["positive integer"]);
    refused(r#"g.V("paper").batch(-4294967296)"#, 20, &["positive integer"]);
    refused(r#"g.V("paper").batch(0)"#, 20, &["positive integer"]);
    refused(r#"g.SubGraph("paper", "cites", 4294967296)"#, 30, &["brings the query to 4294967296 steps", "--max-steps"]);
    // within max_batch, but a batch of a million with 15 × 10 neighbours each is too many nodes
    refused(
        r#"g.V("paper").batch(1000000).outV("cites").sample(15).by("random").outV("cites").sample(10).by("random")"#,
        29,
        &["can bring the batch to 16000000 nodes", "--max-nodes"],
    );
    let plan = Query::v("paper").batch(usize::MAX).values();
    assert!(plan.check(cora()).unwrap_err().to_string().contains("--max-batch"));
    assert!(Query::v("paper").batch(0).values().check(cora()).is_err());
}

#[test]
fn random_walks_of_huge_length_are_refused() {
    let words = ["walk length 4294967295 is too long", "the limit is 10000 steps per walk", "Limits::max_walk_length", "--max-walk-length"];
    refused(r#"g.V("paper").random_walk("cites", 4294967295)"#, 35, &words);
    refused(r#"g.V("paper").random_walk("cites", 99999999999999999999999999, 0.5, 2)"#, 35, &["too large", "--max-walk-length"]);
    // 2,708 walks of 10,001 nodes: too many nodes, refused before walking
    refused(r#"g.V("paper").batch(2708).random_walk("cites", 10000)"#, 26, &["can bring the batch to 27085416 nodes", "--max-nodes"]);
    refused(r#"g.V("paper").random_walk("cites", 5, 1e-320, 1)"#, 14, &["finite 1/p"]);
    refused(r#"g.V("paper").random_walk("cites", 5, 0, 1)"#, 14, &["p > 0"]);
    refused(r#"g.V("paper").random_walk("cites", 5, 1e999, 1)"#, 38, &["not a number"]);
    refused(r#"g.V("paper").random_walk("cites", 5, -inf, 1)"#, 38, &["not a number"]);
    let plan = Query::v("paper").random_walk("cites", usize::MAX, 1.0, 1.0).values();
    assert!(execute(&plan, cora(), 0).unwrap_err().to_string().contains("--max-walk-length"));
    // within the limits, a long walk runs
    run(r#"g.V("paper").batch(64).random_walk("cites", 10000, 0.5, 2)"#, &Limits::default()).unwrap();
}

#[test]
fn long_and_deeply_nested_text_ends_in_an_error_quickly() {
    let mega = "a".repeat(1_000_000);
    let e = refused(&format!(r#"g.V("{mega}")"#), 5, &["unknown node type `aaaa", "…`"]);
    assert!(e.to_string().len() < 300);
    refused(&format!(r#"g.V("paper").{mega}(3)"#), 14, &["unknown step"]);
    refused(&format!(r#"g.V("paper").outV("{mega}").sample(2).by("random")"#), 19, &["unknown relation"]);
    refused(&format!(r#"g.V("paper").outV("cites").sample(2).by("{mega}")"#), 41, &["unknown strategy"]);
    refused(&format!(r#"g.V("paper").alias("{mega}"#), 20, &["unterminated string"]);
    refused(&format!("g.V({})", "(".repeat(100_000)), 5, &["expected a quoted name"]);
    refused(&format!(r#"g.V("paper"){}"#, ")".repeat(100_000)), 13, &["expected `.`"]);
    refused(&format!("g.{}", ".".repeat(1_000_000)), 3, &["expected `V(\"type\")`"]);
    refused(&format!(r#"g.V("paper").sample({})"#, "9".repeat(1_000_000)), 21, &["sample count 999", "…", "is too large"]);
    refused(&format!(r#"g.V("paper").outV("cites").sample({}).by("random")"#, "9".repeat(1_000_000)), 35, &["too large"]);
    run(&format!(r#"g.V("paper").random_walk("cites", 5, 0.{}, 1)"#, "5".repeat(1_000_000)), &Limits::default()).unwrap();
    // a million aliases is not a million steps: it parses, and runs
    let q = format!(r#"g.V("paper"){}"#, r#".alias("a")"#.repeat(100_000));
    run(&q, &Limits::default()).unwrap();
    let q = format!("{}g . V ( 'paper' ){}", " ".repeat(500_000), "\n".repeat(500_000));
    run(&q, &Limits::default()).unwrap();
}

#[test]
fn non_ascii_names_are_reported_with_character_columns() {
    refused(r#"g.V("päper")"#, 5, &["unknown node type `päper`; did you mean `paper`?"]);
    refused(r#"g.V("paper").ßample(3)"#, 14, &["unknown step `ßample`; did you mean `sample`?"]);
    refused(r#"g.V("paper").outV("çites").sample(2).by("random")"#, 19, &["did you mean `cites`?"]);
    refused(r#"g.V("paper").outV("cites").sample(2).by("rändom")"#, 41, &["did you mean `random`?"]);
    refused(r#"g.V("📄📄📄")"#, 5, &["unknown node type `📄📄📄` (known: paper)"]);
    refused(r#"g.V("pa\u{301}per")"#, 5, &["unknown node type"]);
    refused("g.V(\"pa\u{301}per\")", 5, &["did you mean `paper`?"]);
    refused(r#"g.V("中文").outV("引用").sample(2).by("random")"#, 5, &["unknown node type `中文`"]);
    refused(r#"g.V("paper").outV("引用").sample(2).by("random")"#, 19, &["unknown relation `引用`"]);
    refused(r#"g.V("paper")。outV("cites")"#, 13, &["unexpected character `。`"]);
    refused(r#"g.V("paper").outV("cites").sample(２)"#, 35, &["unexpected character `２`"]);
    refused("g.V(\"paper\")\u{0}", 13, &["unexpected character `\\0`"]);
    refused("g.V(\"paper\").outV(\"cites\u{7}\").sample(1).by(\"random\")", 19, &["`cites\\u{7}`"]);
    refused(r#"ğ.V("paper")"#, 1, &["starts with `g.`"]);
    refused(r#"g.V("paper").outV("cites").sample(2).by("random").alias("别名").ऊ()"#, 63, &["unknown step `ऊ`"]);
}

/// A graph whose edge timestamps are 2^60, 2^60 + 1 and 2^60 + 2: equal as f64.
fn timed_graph() -> Graph {
    let base = 1i64 << 60;
    let (s, d): (Vec<u32>, Vec<u32>) = [(0u32, 1u32), (0, 2), (0, 3)].into_iter().unzip();
    let b = build_topology(4, 4, s, d, BuildOptions { edge_ids: true, ..Default::default() }).unwrap();
    let ts = Column::Int(vec![base, base + 1, base + 2].into()).permute(b.input_edge.as_ref().unwrap());
    let schema = Schema {
        node_types: vec![NodeTypeSchema { name: "n".into(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] }],
        edge_types: vec![EdgeTypeSchema {
            relation: "e".into(),
            src: "n".into(),
            dst: "n".into(),
            reverse: "rev_e".into(),
            undirected: false,
            attributes: vec![AttrSchema { name: "timestamp".into(), kind: AttrKind::Int }],
        }],
    };
    Graph::from_parts(
        schema,
        vec![NodeStore { ids: NodeIds::Dense(4), columns: vec![], sets: vec![] }],
        vec![EdgeStore { out: b.out, inn: b.inn, columns: vec![ts], self_loops: 0 }],
    )
    .unwrap()
}

#[test]
fn timestamps_are_exact_over_the_whole_i64_range() {
    let g = timed_graph();
    assert_eq!((1i64 << 60) as f64, ((1i64 << 60) + 1) as f64, "the cut is invisible to f64");
    let hop = |strategy: &str, t: &str| {
        let q = format!(r#"g.V("n").batch(1).outV("e").sample(5).by("{strategy}", {t})"#);
        let plan = parse(&q).unwrap();
        let mut nodes = execute(&plan, &g, 0).unwrap().aliases[1].nodes.clone();
        if strategy == "before" {
            nodes.sort_unstable();
        }
        nodes
    };
    let t = |d: i64| ((1i64 << 60) + d).to_string();
    assert_eq!(hop("before", &t(0)), Vec::<u32>::new());
    assert_eq!(hop("before", &t(1)), vec![1]);
    assert_eq!(hop("before", &t(2)), vec![1, 2]);
    assert_eq!(hop("before", &t(3)), vec![1, 2, 3]);
    assert_eq!(hop("most_recent", &t(2)), vec![2, 1], "latest first");
    assert_eq!(hop("most_recent", &t(3)), vec![3, 2, 1]);
    assert_eq!(hop("most_recent", &i64::MAX.to_string()), vec![3, 2, 1]);
    assert_eq!(hop("before", &i64::MIN.to_string()), Vec::<u32>::new());
    // the text gives exactly the builder's timestamp
    for v in [i64::MIN, -1, 0, (1 << 60) + 1, i64::MAX - 1, i64::MAX] {
        let q = format!(r#"g.V("n").outV("e").sample(1).by("before", {v})"#);
        assert_eq!(parse(&q).unwrap(), Query::v("n").out_v("e").sample(1).by_time("before", v).values());
    }
    // non-integers and values outside i64 are refused at their column
    let bad = |t: &str, words: &str| {
        let q = format!(r#"g.V("n").outV("e").sample(1).by("before", {t})"#);
        let e = parse(&q).unwrap_err();
        assert_eq!(e.column, 43, "{q}: {e}");
        assert!(e.to_string().contains(words), "{q}: {e}");
    };
    bad("9223372036854775808", "outside the 64-bit range");
    bad("-9223372036854775809", "outside the 64-bit range");
    bad("99999999999999999999999999999999999999999999", "outside the 64-bit range");
    bad("1.5", "a timestamp is an integer, not 1.5");
    bad("1e18", "a timestamp is an integer, not 1e18");
    bad("1152921504606846977.0", "a timestamp is an integer");
    bad("-", "not a number");
    bad("x", "expected a timestamp");
    // a temporal strategy needs an int timestamp on the edges
    let e = parse(r#"g.V("paper").outV("cites").sample(2).by("before", 5)"#).unwrap().check(cora()).unwrap_err();
    assert_eq!(e.column, 41);
    assert!(e.to_string().contains("needs an int `timestamp` attribute"), "{e}");
}

/// A star: hub 0 and 1,000 leaves, undirected.
fn star() -> Graph {
    let (s, d): (Vec<u32>, Vec<u32>) = (1..=1000u32).map(|v| (0, v)).unzip();
    let b = build_topology(1001, 1001, s, d, BuildOptions { undirected: true, ..Default::default() }).unwrap();
    let schema = Schema {
        node_types: vec![NodeTypeSchema { name: "n".into(), id_kind: IdKind::Dense, attributes: vec![], sets: vec![] }],
        edge_types: vec![EdgeTypeSchema {
            relation: "e".into(),
            src: "n".into(),
            dst: "n".into(),
            reverse: "rev_e".into(),
            undirected: true,
            attributes: vec![],
        }],
    };
    Graph::from_parts(
        schema,
        vec![NodeStore { ids: NodeIds::Dense(1001), columns: vec![], sets: vec![] }],
        vec![EdgeStore { out: b.out, inn: b.inn, columns: vec![], self_loops: b.self_loops }],
    )
    .unwrap()
}

#[test]
fn sizes_known_only_at_run_time_are_bounded_while_running() {
    let g = star();
    let limits = Limits { max_nodes: 2500, ..Limits::default() };
    let t = Instant::now();
    // full neighbourhoods: 1,001 seeds with 2,000 neighbours in all; the static bound (2,002) passes
    let q = r#"g.V("n").batch(1001).outV("e").sample(1).by("full").alias("all")"#;
    let plan = parse_with(q, &limits).unwrap();
    let e = execute_with(&plan, &g, 0, &limits).unwrap_err();
    assert_eq!(e.column, 22);
    assert!(e.to_string().contains(r#"`outV("e")`.by("full") brings the batch to 3001 nodes; the limit is 2500 nodes per batch"#), "{e}");
    assert_eq!(execute(&plan, &g, 0).unwrap().aliases[1].nodes.len(), 2000, "within the default limits it runs");
    // a subgraph whose first level (the hub's row) is already past the limit is never fetched
    let limits = Limits { max_nodes: 500, ..Limits::default() };
    let plan = parse_with(r#"g.V("n").batch(1).subgraph("e", 3)"#, &limits).unwrap();
    let e = execute_with(&plan, &g, 0, &limits).unwrap_err();
    assert_eq!(e.column, 19);
    assert!(e.to_string().contains("`subgraph(\"e\", 3)`: the rows of the subgraph's nodes within 0 hops (1000 neighbour ids)"), "{e}");
    assert!(e.to_string().contains("--max-nodes"), "{e}");
    assert_eq!(execute(&plan, &g, 0).unwrap().aliases[1].nodes.len(), 1001);
    // a huge hop count ends when the subgraph stops growing
    let sub = execute(&parse(r#"g.V("n").batch(1).subgraph("e", 64)"#).unwrap(), &g, 0).unwrap();
    assert_eq!(sub.aliases[1].nodes.len(), 1001);
    // negatives and walks are sized before they run
    let limits = Limits { max_nodes: 1000, ..Limits::default() };
    let plan = Query::v("n").batch(10).out_neg("e").sample(100).by("random").values();
    assert!(execute_with(&plan, &g, 0, &limits).unwrap_err().to_string().contains("1010 nodes"));
    // strict negatives read their sources' rows: 1,001 copies of the hub read 1,001,000 ids
    let limits_strict = Limits { max_nodes: 1_000_000, ..Limits::default() };
    let plan = Query::v("n").batch(1001).out_v("e").sample(1).by("random").out_neg("e").sample(1).strict().by("random").values();
    let e = execute_with(&plan, &g, 0, &limits_strict).unwrap_err();
    assert!(e.to_string().contains("strict() would read"), "{e}");
    let plan = Query::v("n").batch(100).random_walk("e", 9, 1.0, 1.0).values();
    assert!(execute_with(&plan, &g, 0, &limits).unwrap_err().to_string().contains("1100 nodes"));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn limits_can_be_raised_and_unlimited_keeps_the_format_bounds() {
    let q = r#"g.V("paper").outV("cites").sample(20000).by("random")"#;
    assert!(parse(q).unwrap_err().to_string().contains("--max-fanout"));
    let limits = Limits { max_fanout: 20_000, ..Limits::default() };
    let plan: Plan = parse_with(q, &limits).unwrap();
    assert!(plan.check(cora()).is_err(), "check uses the defaults");
    plan.check_with(cora(), &limits).unwrap();
    let r = execute_with(&plan, cora(), 3, &limits).unwrap();
    assert_eq!(r.aliases[1].nodes.len(), 64 * 20_000 - 20_000 * r.aliases[1].offsets.as_ref().unwrap().windows(2).filter(|w| w[0] == w[1]).count());
    // unlimited still refuses what u32 offsets cannot hold
    let plan = Query::v("paper").batch(2708).out_v("cites").sample(2_000_000).by("random").values();
    let e = execute_with(&plan, cora(), 0, &Limits::unlimited()).unwrap_err();
    assert!(e.to_string().contains("4294967295 nodes per batch"), "{e}");
}
