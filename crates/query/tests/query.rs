//! The sampling language: text and builder give identical plans, malformed
//! queries give an error with the column, and plans run on Cora.

use std::path::PathBuf;

use ferrograph_graph::{Direction, Graph, LocalIdx};
use ferrograph_query::{Query, execute, parse};

fn cora() -> Graph {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    ferrograph_io::import_file(&repo.join("configs/cora-graphlearn.toml"), &ferrograph_graph::progress::NoProgress)
        .expect("../shared/data must be beside the checkout")
}

#[test]
fn text_and_builder_give_identical_plans() {
    let pairs = [
        (
            r#"g.V("paper").batch(512).shuffle().alias("seed").outV("cites").sample(15).by("random").alias("hop1").outV("cites").sample(10).by("random").alias("hop2").values()"#,
            Query::v("paper")
                .batch(512)
                .shuffle()
                .alias("seed")
                .out_v("cites")
                .sample(15)
                .by("random")
                .alias("hop1")
                .out_v("cites")
                .sample(10)
                .by("random")
                .alias("hop2")
                .values(),
        ),
        (
            r#"g.E("cites").batch(256).alias("e").outV().alias("src").outNeg("cites").sample(5).by("in_degree").alias("neg").values()"#,
            Query::e("cites").batch(256).alias("e").src().alias("src").out_neg("cites").sample(5).by("in_degree").alias("neg").values(),
        ),
        (
            r#"g.V('paper', 'train').inV("cites").sample(3).by("edge_weight").outNeg("cites").sample(2).strict().by("random")"#,
            Query::v_set("paper", "train").in_v("cites").sample(3).by("edge_weight").out_neg("cites").sample(2).strict().by("random").values(),
        ),
        (
            r#"g.V("paper").batch(8).random_walk("cites", 10, 0.5, 2.0).alias("walks").values()"#,
            Query::v("paper").batch(8).random_walk("cites", 10, 0.5, 2.0).alias("walks").values(),
        ),
        (
            r#"g.V("paper").outV("cited_by").sample(4).by("most_recent", 1700000000).values()"#,
            Query::v("paper").out_v("cited_by").sample(4).by_time("most_recent", 1_700_000_000).values(),
        ),
        (
            r#"g.E("cites").batch(16).outV().outNeg("cites").sample(3).by("node_weight", "w").where("label").strict()"#,
            Query::e("cites").batch(16).src().out_neg("cites").sample(3).by_attr("node_weight", "w").condition("label").strict().values(),
        ),
        (r#"g.SubGraph("paper", "cites", 2).batch(4)"#, Query::v("paper").batch(4).subgraph("cites", 2).values()),
        (r#"g.V("paper").batch(4).subgraph("cites", 2).alias("sub")"#, Query::v("paper").batch(4).subgraph("cites", 2).alias("sub").values()),
        (r#"g.V("paper").outV("cites").sample(5).by("in_degree")"#, Query::v("paper").out_v("cites").sample(5).by("in_degree").values()),
        (
            r#"g.V("paper").outE("cites").sample(2).by("random").alias("e").inV().alias("far")"#,
            Query::v("paper").out_e("cites").sample(2).by("random").alias("e").dst().alias("far").values(),
        ),
        (r#"g.V("paper").inE("cites").sample(2).by("topk").outV()"#, Query::v("paper").in_e("cites").sample(2).by("topk").src().values()),
    ];
    for (text, built) in pairs {
        assert_eq!(parse(text).unwrap(), built, "{text}");
    }
}

#[test]
fn malformed_queries_name_the_column() {
    let g = cora();
    // (query, column, words that must appear)
    let cases: &[(&str, usize, &str)] = &[
        (r#"h.V("paper")"#, 1, "starts with `g.`"),
        (r#"g.V(paper)"#, 5, "expected a quoted name"),
        (r#"g.V("paper""#, 12, "`)` closing `V(`"),
        (r#"g.V("paper").batch(-1)"#, 20, "positive integer"),
        (r#"g.V("paper").smaple(3)"#, 14, "did you mean `sample`?"),
        (r#"g.V("paper").outV("cite").sample(2).by("random")"#, 19, "did you mean `cites`?"),
        (r#"g.V("papers")"#, 5, "did you mean `paper`?"),
        (r#"g.V("paper").outV("cites").by("random")"#, 28, "needs .sample(k)"),
        (r#"g.V("paper").outV("cites").sample(2)"#, 14, "needs .by(\"strategy\")"),
        (r#"g.V("paper").outV("cites").sample(2).by("randm")"#, 41, "did you mean `random`?"),
        (r#"g.V("paper").values().batch(3)"#, 23, "nothing may follow `values()`"),
        (r#"g.V("paper").outV("cites").sample("x").by("random")"#, 35, "sample count must be a positive integer"),
        (r#"g.V("paper") extra"#, 14, "expected `.`"),
        (r#"g.V("paper").outV("cites").sample(2).by("before")"#, 41, "needs a timestamp"),
        (r#"g.V("paper").alias()"#, 20, "expected a quoted name"),
        (r#"g.V("paper", "trian")"#, 14, "did you mean `train`?"),
        (r#"g.E("cited_by")"#, 5, "reverse relation"),
        (r#"g.V("paper").outV()"#, 14, "only follows g.E"),
        (r#"g.V("paper)"#, 5, "unterminated string"),
        (r#"g.V("paper").sample(3)"#, 14, "sample(k) follows"),
        (r#"g.V("paper").outNeg("cites").sample(2).by("edge_weight")"#, 43, "unknown strategy"),
        (r#"g.V("paper").outNeg("cites").sample(2).by("random").where("label")"#, 59, "needs g.E"),
        (r#"g.E("cites").outV().outNeg("cites").sample(2).by("random").where("lable")"#, 66, "did you mean `label`?"),
        (r#"g.E("cites").outV().outNeg("cites").sample(2).by("node_weight")"#, 50, "needs the attribute"),
        (r#"g.V("paper").where("label")"#, 14, "where(\"attr\") follows"),
    ];
    assert!(cases.len() >= 15);
    for (q, col, words) in cases {
        let err = match parse(q) {
            Err(e) => e,
            Ok(plan) => plan.check(&g).expect_err(q),
        };
        assert_eq!(err.column, *col, "{q}: {err}");
        assert!(err.to_string().contains(words), "{q}: `{err}` lacks `{words}`");
        assert!(err.to_string().starts_with(&format!("column {col}: ")), "{err}");
    }
}

#[test]
fn queries_run_on_cora() {
    let g = cora();
    let plan = parse(r#"g.V("paper").batch(32).alias("seed").outV("cites").sample(5).by("random_without_replacement").alias("hop1").outV("cites").sample(3).by("random").alias("hop2").values()"#).unwrap();
    let r = execute(&plan, &g, 7).unwrap();
    let (e, _) = g.schema().relation("cites").unwrap();
    assert_eq!(r.aliases.len(), 3);
    assert_eq!(r.aliases[0].nodes.len(), 32);
    for w in [1, 2] {
        let (prev, cur) = (&r.aliases[w - 1], &r.aliases[w]);
        let off = cur.offsets.as_ref().unwrap();
        assert_eq!(off.len(), prev.nodes.len() + 1);
        for (i, &u) in prev.nodes.iter().enumerate() {
            for &v in &cur.nodes[off[i] as usize..off[i + 1] as usize] {
                assert!(g.neighbors(e, Direction::Out, LocalIdx(u)).contains(&v));
            }
        }
    }
    assert_eq!(r, execute(&plan, &g, 7).unwrap(), "same seed, same result");
    let neg = execute(
        &parse(r#"g.E("cites").batch(16).outV().alias("src").outNeg("cites").sample(4).strict().by("in_degree").alias("neg")"#).unwrap(),
        &g,
        1,
    )
    .unwrap();
    let (src, negs) = (&neg.aliases[0], &neg.aliases[1]);
    assert_eq!(negs.nodes.len(), 16 * 4);
    for (i, &u) in src.nodes.iter().enumerate() {
        for &v in &negs.nodes[i * 4..i * 4 + 4] {
            assert!(!g.neighbors(e, Direction::Out, LocalIdx(u)).contains(&v), "strict negative {v} is a neighbour of {u}");
        }
    }
    // conditional negatives share the label of the positive paper
    let labels: Vec<i64> = match g.node_column(g.schema().node_type("paper").unwrap(), "label").unwrap() {
        ferrograph_graph::column::Column::Int(a) => a.as_slice().to_vec(),
        _ => unreachable!(),
    };
    let q = r#"g.E("cites").batch(32).alias("e").outV().alias("src").outNeg("cites").sample(3).by("random").where("label").alias("neg")"#;
    let cond = execute(&parse(q).unwrap(), &g, 2).unwrap();
    let positives = {
        let (e_, _) = g.schema().relation("cites").unwrap();
        let csr = &g.edges(e_).out;
        // the first 32 edges in order: destinations at positions 0..32
        csr.targets.as_slice()[..32].to_vec()
    };
    for (i, &p) in positives.iter().enumerate() {
        for &n in &cond.aliases[2].nodes[i * 3..i * 3 + 3] {
            assert_eq!(labels[n as usize], labels[p as usize], "negative {n} for positive {p}");
        }
    }
    // outE returns edge ids whose ends are the sampled nodes
    let q = r#"g.V("paper").batch(6).alias("seed").outE("cites").sample(2).by("random").alias("e").outV().alias("near")"#;
    let er = execute(&parse(q).unwrap(), &g, 4).unwrap();
    let (edges, near) = (&er.aliases[1], &er.aliases[2]);
    let ids = edges.edge_ids.as_ref().unwrap();
    let out = &g.edges(e).out;
    for ((&id, &far), &nr) in ids.iter().zip(&edges.nodes).zip(&near.nodes) {
        assert_eq!(out.targets.as_slice()[id as usize], far);
        assert!(out.range(nr as usize).contains(&(id as usize)), "edge {id} starts at {nr}");
    }
    // an induced subgraph's edges are real edges among its nodes
    let sub = execute(&parse(r#"g.SubGraph("paper", "cites", 1).batch(3).alias("seed")"#).unwrap(), &g, 0).unwrap();
    let s1 = &sub.aliases[1];
    let (src, dst) = s1.edges.as_ref().unwrap();
    assert!(!src.is_empty());
    for (&a, &b) in src.iter().zip(dst) {
        assert!(g.neighbors(e, Direction::Out, LocalIdx(s1.nodes[a as usize])).contains(&s1.nodes[b as usize]));
    }
    let json = r.to_json(&g);
    assert_eq!(json["aliases"][0]["alias"], "seed");
    assert_eq!(json["aliases"][1]["offsets"].as_array().unwrap().len(), 33);
}

#[test]
fn graph_learn_keywords_and_batches_of_any_epoch() {
    use ferrograph_query::{PlanBatches, batch_seed, execute_batch};
    let g = cora();
    // shuffle(traverse=True) is shuffle(); traverse=False draws without end.
    let a = parse(r#"g.V("paper").batch(32).shuffle(traverse=True).alias("s").values()"#).unwrap();
    let b = parse(r#"g.V("paper").batch(32).shuffle().alias("s").values()"#).unwrap();
    assert_eq!(a, b);
    assert!(!a.endless);
    let c = parse(r#"g.V("paper").batch(32).shuffle( traverse = False ).alias("s").values()"#).unwrap();
    assert!(c.shuffle && c.endless);
    let e = parse(r#"g.V("paper").shuffle(traverse=1)"#).unwrap_err();
    assert_eq!((e.column, e.message.as_str()), (31, "`traverse` is `True` or `False`, not `1`"));
    let e = parse(r#"g.V("paper").shuffle(walk=True)"#).unwrap_err();
    assert_eq!(e.column, 22);
    // sample() without a count is the whole neighbourhood, and only with full.
    let full = parse(r#"g.V("paper").batch(4).outV("cites").sample().by("full").values()"#).unwrap();
    let r = execute(&full, &g, 0).unwrap();
    let (e_, _) = g.schema().relation("cites").unwrap();
    let seeds = &r.aliases[0].nodes;
    let want: usize = seeds.iter().map(|&u| g.neighbors(e_, Direction::Out, LocalIdx(u)).len()).sum();
    assert_eq!(r.aliases[1].nodes.len(), want);
    let e = parse(r#"g.V("paper").outV("cites").sample().by("random")"#).unwrap_err();
    assert!(e.message.contains("needs .by(\"full\")"), "{}", e.message);
    // Batch i of epoch e: the epoch's order, seeded by (seed, e, i).
    let q = parse(r#"g.V("paper").batch(100).shuffle().alias("s").outV("cites").sample(3).by("random").alias("h").values()"#).unwrap();
    let batches = PlanBatches::new(&q, &g, 5).unwrap();
    assert_eq!(batches.per_epoch(), 28);
    let e0 = batches.epoch(&g, 0);
    let e1 = batches.epoch(&g, 1);
    assert_ne!(e0[0], e1[0], "each epoch is reshuffled");
    let lg = ferrograph_sample::LocalGraph::new(&g);
    let r = execute_batch(&q, &g, &lg, e1[3].clone(), batch_seed(5, 1, 3), &Default::default()).unwrap();
    let again = execute_batch(&q, &g, &lg, e1[3].clone(), batch_seed(5, 1, 3), &Default::default()).unwrap();
    assert_eq!(r, again);
    let ferrograph_query::SourceBatch::Nodes(n) = &e1[3] else { panic!("node batches") };
    assert_eq!(&r.aliases[0].nodes, n);
    // An aliased edge source reports its edges.
    let q = parse(r#"g.E("cites").batch(8).alias("e").outV().alias("src").values()"#).unwrap();
    let r = execute(&q, &g, 0).unwrap();
    assert_eq!(r.aliases[0].alias, "e");
    assert_eq!(r.aliases[0].edge_ids.as_deref(), Some(&[0u64, 1, 2, 3, 4, 5, 6, 7][..]));
    assert_eq!(r.aliases[0].nodes, r.aliases[1].nodes);
}
