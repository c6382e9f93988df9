//! Property tests of the query text (fixed seeds, a few seconds in the dev
//! profile): arbitrary text and mutations of valid queries never panic, and
//! every error's column lies inside the text; generated valid queries parse
//! to exactly the builder's plan.

use std::path::PathBuf;
use std::sync::OnceLock;

use ferrograph_graph::Graph;
use ferrograph_query::{Error, Limits, Plan, Query, execute_with, parse, parse_with};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(cases: u32, seed: u64) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(seed), failure_persistence: None, ..Config::default() }
}

fn cora() -> &'static Graph {
    static G: OnceLock<Graph> = OnceLock::new();
    G.get_or_init(|| {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        ferrograph_io::import_file(&repo.join("configs/cora-graphlearn.toml"), &ferrograph_graph::progress::NoProgress)
            .expect("../shared/data must be beside the checkout")
    })
}

/// The queries of ARCHITECTURE.md, the README and tests/query.rs.
const EXAMPLES: &[&str] = &[
    r#"g.V("paper").batch(512).shuffle().alias("seed").outV("cites").sample(15).by("random").alias("hop1").outV("cites").sample(10).by("random").alias("hop2").values()"#,
    r#"g.E("buy").batch(256).alias("e").outV().alias("src").outNeg("buy").sample(5).by("in_degree").alias("neg").values()"#,
    r#"g.V("paper", "train").batch(512).shuffle().alias("seed")
  .outV("cites").sample(15).by("random").alias("hop1")
  .outV("cites").sample(10).by("random").alias("hop2").values()"#,
    r#"g.E("cites").batch(256).outV().alias("src").outNeg("cites").sample(5).by("in_degree").alias("neg")"#,
    r#"g.V('paper', 'train').inV("cites").sample(3).by("edge_weight").outNeg("cites").sample(2).strict().by("random")"#,
    r#"g.V("paper").batch(8).random_walk("cites", 10, 0.5, 2.0).alias("walks").values()"#,
    r#"g.V("paper").outV("cited_by").sample(4).by("most_recent", 1700000000).values()"#,
    r#"g.E("cites").batch(16).outV().outNeg("cites").sample(3).by("node_weight", "w").where("label").strict()"#,
    r#"g.SubGraph("paper", "cites", 2).batch(4)"#,
    r#"g.V("paper").batch(4).subgraph("cites", 2).alias("sub")"#,
    r#"g.V("paper").outV("cites").sample(5).by("in_degree")"#,
    r#"g.V("paper").outE("cites").sample(2).by("random").alias("e").inV().alias("far")"#,
    r#"g.V("paper").inE("cites").sample(2).by("topk").outV()"#,
    r#"g.V("paper").batch(32).alias("seed").outV("cites").sample(5).by("random_without_replacement").alias("hop1").outV("cites").sample(3).by("random").alias("hop2").values()"#,
    r#"g.E("cites").batch(32).alias("e").outV().alias("src").outNeg("cites").sample(3).by("random").where("label").alias("neg")"#,
    r#"g.V("paper").outV("cites").sample(2).by("before", 1152921504606846977)"#,
];

/// Pieces a mutation inserts: grammar characters, numbers at and past every
/// bound, non-ASCII and control characters, and whole steps.
const SNIPPETS: &[&str] = &[
    "\"",
    "'",
    "(",
    ")",
    ".",
    ",",
    "-",
    " ",
    "\n",
    "\t",
    "0",
    "1",
    "-1",
    "0.5",
    "1e999",
    "-inf",
    "nan",
    "1e-320",
    "4294967296",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "1000000000",
    "99999999999999999999999999999999999999999999",
    "é",
    "中",
    "🦀",
    "ß",
    "\u{0}",
    "\u{7f}",
    "\u{200b}",
    "\u{301}",
    "。",
    "２",
    ".outV(\"cites\").sample(3).by(\"random\")",
    ".outV(\"cites\").sample(10000).by(\"random\")",
    ".inV(\"cited_by\")",
    ".outE(\"cites\")",
    ".outNeg(\"cites\")",
    ".sample(",
    ".by(\"full\")",
    ".by(\"before\", ",
    ".strict()",
    ".where(\"label\")",
    ".subgraph(\"cites\", 3)",
    ".random_walk(\"cites\", 4294967295)",
    ".random_walk(\"cites\", 5, 0.1, 10)",
    ".batch(4294967296)",
    ".batch(2708)",
    ".values()",
    ".alias(\"x\")",
    ".shuffle()",
    "g.V(\"paper\")",
    "g.E(\"cites\")",
    ".outV()",
    ".inV()",
];

/// Whole steps, spliced in at step boundaries: valid text with hostile sizes.
const STEP_SNIPPETS: &[&str] = &[
    ".outV(\"cites\").sample(3).by(\"random\")",
    ".outV(\"cites\").sample(64).by(\"random_without_replacement\")",
    ".inV(\"cites\").sample(5).by(\"full\")",
    ".outV(\"cited_by\").sample(1000000000).by(\"random\")",
    ".outV(\"cites\").sample(4294967296).by(\"topk\")",
    ".outE(\"cites\").sample(2).by(\"random\").inV()",
    ".outNeg(\"cites\").sample(7).strict().by(\"in_degree\")",
    ".outNeg(\"cites\").sample(3).by(\"random\").where(\"label\")",
    ".subgraph(\"cites\", 2)",
    ".subgraph(\"cites\", 4294967295)",
    ".random_walk(\"cites\", 20, 0.25, 4)",
    ".random_walk(\"cites\", 5, 0.001, 1000)",
    ".random_walk(\"cites\", 9223372036854775807)",
    ".batch(3)",
    ".batch(4096)",
    ".shuffle()",
    ".alias(\"é中🦀\")",
    ".values()",
];

#[derive(Clone, Debug)]
enum Edit {
    Step(usize, usize),
    Delete(usize, usize),
    Insert(usize, usize),
    Replace(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), 0..STEP_SNIPPETS.len()).prop_map(|(a, b)| Edit::Step(a, b)),
        2 => (any::<usize>(), 1usize..8).prop_map(|(a, b)| Edit::Delete(a, b)),
        5 => (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(a, b)| Edit::Insert(a, b)),
        2 => (any::<usize>(), 0..SNIPPETS.len()).prop_map(|(a, b)| Edit::Replace(a, b)),
        3 => (any::<usize>(), 1usize..40).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut c: Vec<char> = text.chars().collect();
    for e in edits {
        let at = |i: usize, c: &Vec<char>| i % (c.len() + 1);
        match *e {
            Edit::Step(i, s) => {
                // before a method that starts a step (or an alias, which ends one), or at the end
                const STARTS: [&str; 11] =
                    ["alias(", "outV(\"", "inV(\"", "outE(", "inE(", "outNeg(", "inNeg(", "subgraph(", "random_walk(", "values(", "shuffle("];
                let text: String = c.iter().collect();
                let ends: Vec<usize> = text
                    .char_indices()
                    .enumerate()
                    .filter(|(_, (b, ch))| *ch == '.' && STARTS.iter().any(|m| text[b + 1..].starts_with(m)))
                    .map(|(j, _)| j)
                    .chain([c.len()])
                    .collect();
                let j = ends[i % ends.len()];
                c.splice(j..j, STEP_SNIPPETS[s].chars());
            }
            Edit::Delete(i, n) => {
                let i = at(i, &c);
                c.drain(i..(i + n).min(c.len()));
            }
            Edit::Insert(i, s) => {
                let i = at(i, &c);
                c.splice(i..i, SNIPPETS[s].chars());
            }
            Edit::Replace(i, s) => {
                let i = at(i, &c);
                let end = (i + 1).min(c.len());
                c.splice(i..end, SNIPPETS[s].chars());
            }
            Edit::Duplicate(i, n) => {
                let i = at(i, &c);
                let piece: Vec<char> = c[i..(i + n).min(c.len())].to_vec();
                c.splice(i..i, piece);
            }
            Edit::Truncate(i) => {
                let i = at(i, &c);
                c.truncate(i);
            }
        }
    }
    c.into_iter().collect()
}

fn assert_column(text: &str, e: &Error) {
    let chars = text.chars().count();
    assert!((1..=chars + 1).contains(&e.column), "{text:?}: column {} outside 1..={}: {e}", e.column, chars + 1);
    assert!(e.to_string().starts_with(&format!("column {}: ", e.column)), "{e}");
}

/// Limits small enough that every accepted query runs in milliseconds on Cora.
const SMALL: Limits = Limits { max_batch: 4096, max_steps: 12, max_fanout: 64, max_walk_length: 200, max_nodes: 200_000 };

/// Parses, and if that succeeds checks against Cora and runs: no panic, and
/// every error is at a column inside the text.
fn exercise(text: &str, limits: &Limits, run: bool) {
    match parse_with(text, limits) {
        Err(e) => assert_column(text, &e),
        Ok(plan) => {
            let r = if run { execute_with(&plan, cora(), 7, limits).map(|_| ()) } else { plan.check_with(cora(), limits) };
            if let Err(e) = r {
                assert_column(text, &e);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(10_000, 1))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text, &Limits::default(), false);
    }

    #[test]
    fn query_like_text_never_panics(text in "[gVE.()\"',0-9a-zA-Z_ \\-é中🦀]{0,120}") {
        exercise(&text, &Limits::default(), false);
    }
}

proptest! {
    #![proptest_config(config(10_000, 2))]

    #[test]
    fn mutated_queries_never_panic(q in 0..EXAMPLES.len(), edits in prop::collection::vec(edit(), 1..4)) {
        let text = apply(EXAMPLES[q], &edits);
        exercise(&text, &Limits::default(), false);
        exercise(&text, &SMALL, true);
    }
}

proptest! {
    #![proptest_config(config(4000, 4))]

    /// Whole steps with hostile sizes spliced into valid queries: these mostly
    /// parse, so the limits and the run on Cora are what is exercised.
    #[test]
    fn spliced_steps_are_bounded_or_refused(
        q in 0..EXAMPLES.len(),
        steps in prop::collection::vec((any::<usize>(), 0..STEP_SNIPPETS.len()).prop_map(|(a, b)| Edit::Step(a, b)), 1..4),
    ) {
        let text = apply(EXAMPLES[q], &steps);
        let t = std::time::Instant::now();
        exercise(&text, &SMALL, true);
        exercise(&text, &Limits::default(), false);
        prop_assert!(t.elapsed() < std::time::Duration::from_secs(1), "{} took {:?}", text, t.elapsed());
    }
}

// ---- generated valid queries: text and builder side by side ----

#[derive(Clone, Debug)]
enum Src {
    V(String),
    VSet(String, String),
    E(String),
    SubGraph(String, String, usize),
}

#[derive(Clone, Debug)]
enum Strat {
    Plain(String),
    Timed(String, i64),
    Attr(String, String),
}

#[derive(Clone, Debug)]
enum St {
    /// outV / inV / outE / inE
    Hop(usize, String, usize, Strat),
    /// outNeg / inNeg, strict (before or after `by`), where
    Neg(bool, String, usize, Strat, Option<bool>, Option<String>),
    /// outV() / inV()
    Endpoint(bool),
    Subgraph(String, usize),
    Walk(String, usize, Option<(f64, f64)>),
}

#[derive(Clone, Debug)]
struct Gen {
    src: Src,
    batch: Option<usize>,
    shuffle: bool,
    src_alias: Option<String>,
    steps: Vec<(St, Option<String>)>,
    values: bool,
}

/// Names: anything but the quote that delimits them, non-ASCII included.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ .,()'é中🦀ß-]{0,10}"
}

fn strat() -> impl Strategy<Value = Strat> {
    prop_oneof![
        name().prop_map(Strat::Plain),
        (name(), any::<i64>()).prop_map(|(n, t)| Strat::Timed(n, t)),
        (name(), name()).prop_map(|(n, a)| Strat::Attr(n, a)),
    ]
}

fn real() -> impl Strategy<Value = f64> {
    prop_oneof![-1e6..1e6f64, (0u32..1000).prop_map(f64::from), Just(1e300), Just(1e-300)]
}

fn step() -> impl Strategy<Value = St> {
    prop_oneof![
        (0usize..4, name(), 1usize..13, strat()).prop_map(|(m, r, k, s)| St::Hop(m, r, k, s)),
        (any::<bool>(), name(), 1usize..13, strat(), prop::option::of(any::<bool>()), prop::option::of(name()))
            .prop_map(|(o, r, k, s, st, w)| St::Neg(o, r, k, s, st, w)),
        any::<bool>().prop_map(St::Endpoint),
        (name(), 1usize..4).prop_map(|(r, h)| St::Subgraph(r, h)),
        (name(), 1usize..21, prop::option::of((real(), real()))).prop_map(|(r, l, pq)| St::Walk(r, l, pq)),
    ]
}

fn query() -> impl Strategy<Value = Gen> {
    let src = prop_oneof![
        name().prop_map(Src::V),
        (name(), name()).prop_map(|(a, b)| Src::VSet(a, b)),
        name().prop_map(Src::E),
        (name(), name(), 1usize..4).prop_map(|(a, b, h)| Src::SubGraph(a, b, h)),
    ];
    (
        src,
        prop::option::of(1usize..500),
        any::<bool>(),
        prop::option::of(name()),
        prop::collection::vec((step(), prop::option::of(name())), 0..6),
        any::<bool>(),
    )
        .prop_map(|(src, batch, shuffle, src_alias, steps, values)| Gen { src, batch, shuffle, src_alias, steps, values })
}

const HOPS: [&str; 4] = ["outV", "inV", "outE", "inE"];

fn by_text(s: &Strat) -> String {
    match s {
        Strat::Plain(n) => format!(".by(\"{n}\")"),
        Strat::Timed(n, t) => format!(".by(\"{n}\", {t})"),
        Strat::Attr(n, a) => format!(".by(\"{n}\", \"{a}\")"),
    }
}

fn by_built(q: Query, s: &Strat) -> Query {
    match s {
        Strat::Plain(n) => q.by(n),
        Strat::Timed(n, t) => q.by_time(n, *t),
        Strat::Attr(n, a) => q.by_attr(n, a),
    }
}

/// The text and the builder's plan of a generated query (sizes small enough
/// that even unlimited, a plan fits the u32 offsets); endpoint steps
/// only where the grammar allows them (after g.E or outE/inE).
fn render(g: &Gen) -> (String, Plan) {
    let (mut t, mut b) = match &g.src {
        Src::V(n) => (format!("g.V(\"{n}\")"), Query::v(n)),
        Src::VSet(n, s) => (format!("g.V(\"{n}\", \"{s}\")"), Query::v_set(n, s)),
        Src::E(r) => (format!("g.E(\"{r}\")"), Query::e(r)),
        Src::SubGraph(n, r, h) => (format!("g.SubGraph(\"{n}\", \"{r}\", {h})"), Query::v(n)),
    };
    if let Some(n) = g.batch {
        t += &format!(".batch({n})");
        b = b.batch(n);
    }
    if g.shuffle {
        t += ".shuffle()";
        b = b.shuffle();
    }
    if let Src::SubGraph(_, r, h) = &g.src {
        b = b.subgraph(r, *h);
    }
    if let Some(a) = &g.src_alias {
        t += &format!(".alias(\"{a}\")");
        b = b.alias(a);
    }
    let edges = matches!(g.src, Src::E(_));
    let mut after_edges = false;
    for (st, alias) in &g.steps {
        let mut took = true;
        let next_after_edges = matches!(st, St::Hop(m, ..) if *m >= 2);
        match st {
            St::Hop(m, r, k, s) => {
                t += &format!(".{}(\"{r}\").sample({k}){}", HOPS[*m], by_text(s));
                b = match m {
                    0 => b.out_v(r),
                    1 => b.in_v(r),
                    2 => b.out_e(r),
                    _ => b.in_e(r),
                };
                b = by_built(b.sample(*k), s);
            }
            St::Neg(out, r, k, s, strict, cond) => {
                t += &format!(".{}(\"{r}\").sample({k})", if *out { "outNeg" } else { "inNeg" });
                b = if *out { b.out_neg(r) } else { b.in_neg(r) }.sample(*k);
                if *strict == Some(true) {
                    t += ".strict()";
                    b = b.strict();
                }
                t += &by_text(s);
                b = by_built(b, s);
                if *strict == Some(false) {
                    t += ".strict()";
                    b = b.strict();
                }
                if let Some(c) = cond {
                    t += &format!(".where(\"{c}\")");
                    b = b.condition(c);
                }
            }
            St::Endpoint(out) => {
                if edges || after_edges {
                    t += if *out { ".outV()" } else { ".inV()" };
                    b = if *out { b.src() } else { b.dst() };
                } else {
                    took = false;
                }
            }
            St::Subgraph(r, h) => {
                t += &format!(".subgraph(\"{r}\", {h})");
                b = b.subgraph(r, *h);
            }
            St::Walk(r, l, pq) => match pq {
                Some((p, q)) => {
                    t += &format!(".random_walk(\"{r}\", {l}, {p}, {q})");
                    b = b.random_walk(r, *l, *p, *q);
                }
                None => {
                    t += &format!(".random_walk(\"{r}\", {l})");
                    b = b.random_walk(r, *l, 1.0, 1.0);
                }
            },
        }
        if took {
            after_edges = next_after_edges;
            if let Some(a) = alias {
                t += &format!(".alias(\"{a}\")");
                b = b.alias(a);
            }
        }
    }
    if g.values {
        t += ".values()";
    }
    (t, b.values())
}

proptest! {
    #![proptest_config(config(4000, 3))]

    #[test]
    fn generated_queries_parse_to_the_builders_plan(g in query()) {
        let (text, built) = render(&g);
        let parsed = parse_with(&text, &Limits::unlimited());
        prop_assert_eq!(parsed.as_ref(), Ok(&built), "{}", text);
        // under the default limits: the same plan, or refused exactly when its sizes are over them
        match parse(&text) {
            Ok(p) => prop_assert_eq!(p, built),
            Err(e) => {
                assert_column(&text, &e);
                prop_assert!(built.check_limits(&Limits::default()).is_err(), "{}: {}", text, e);
            }
        }
        exercise(&text, &SMALL, true);
    }
}
