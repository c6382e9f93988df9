//! The plan a query compiles to, and the builder that makes one directly.

use ferrograph_graph::error_closest;
use ferrograph_graph::{Direction, Graph};

use crate::limits::{Kind, Limits};
use crate::{Error, Result};

/// At most this many characters of a user's name or literal are echoed in
/// an error; longer ones end in `…`.
const SHOWN: usize = 48;

/// `s` as echoed in an error: control characters escaped, long text cut.
pub(crate) fn shown(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().take(SHOWN) {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    if s.chars().nth(SHOWN).is_some() {
        out.push('…');
    }
    out
}

/// The known name closest to `name`, if close enough to be a typo. Only
/// candidates whose length is within the allowed distance are compared, so a
/// huge name costs nothing (the edit distance is quadratic).
pub(crate) fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let n = name.chars().count();
    let limit = (n / 3).max(1);
    let near: Vec<&str> = known.into_iter().filter(|c| c.chars().count().abs_diff(n) <= limit).collect();
    if near.is_empty() { None } else { error_closest(name, near) }
}

/// A name plus the column it was written at (0 from the builder). Equality
/// ignores the column, so a parsed plan equals the same built plan.
#[derive(Clone, Debug, Eq)]
pub struct Name {
    /// The name.
    pub text: String,
    /// 1-based column, 0 when built in code.
    pub column: usize,
}

impl PartialEq for Name {
    fn eq(&self, o: &Self) -> bool {
        self.text == o.text
    }
}

impl Name {
    pub(crate) fn built(s: &str) -> Self {
        Name { text: s.to_string(), column: 0 }
    }
}

/// Where batches come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `g.V("type")` or `g.V("type", "set")`: nodes of a type (or a node set).
    Nodes {
        /// Node type.
        node_type: Name,
        /// Optional node set (`train`, …).
        set: Option<Name>,
    },
    /// `g.E("relation")`: edges of a type.
    Edges {
        /// Relation.
        relation: Name,
    },
}

/// Strategy names as written in `by(...)`.
#[derive(Clone, Debug, PartialEq)]
pub enum StrategyName {
    /// A neighbour or negative strategy without parameter.
    Plain(Name),
    /// `before` / `most_recent` with a timestamp.
    Timed(Name, i64),
    /// `node_weight` with the attribute holding the weights.
    Attr(Name, Name),
}

/// One step after the source.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `outV("rel")` / `inV("rel")`: sample neighbours along (against) a relation.
    Hop {
        /// The relation.
        relation: Name,
        /// `Out` for `outV`, `In` for `inV`.
        direction: Direction,
        /// `sample(k)`.
        count: usize,
        /// `by(...)`.
        strategy: StrategyName,
        /// `outE`/`inE`: the sampled edges are the result (with their ids);
        /// `outV()` / `inV()` then select their near / far ends.
        edges: bool,
    },
    /// `outV()` / `inV()` after `g.E(...)` or an `outE`/`inE` step: the
    /// source (near) / destination (far) endpoints of the edges.
    Endpoint {
        /// `Out`: sources, `In`: destinations.
        direction: Direction,
    },
    /// `outNeg("rel")` / `inNeg("rel")`: negatives of the current nodes.
    Negative {
        /// The relation.
        relation: Name,
        /// `Out`: destinations that are not out-neighbours.
        direction: Direction,
        /// `sample(k)`.
        count: usize,
        /// `by("random" | "in_degree")`, optionally `"strict"` via `.strict()`.
        strategy: StrategyName,
        /// `.strict()`: never a true neighbour.
        strict: bool,
        /// `.where("attr")`: same value of `attr` as the positive (after `g.E(...)`).
        condition: Option<Name>,
    },
    /// `subgraph("rel", hops)`: the induced `hops`-hop subgraph of the current nodes.
    Subgraph {
        /// The relation.
        relation: Name,
        /// Hops.
        hops: usize,
    },
    /// `random_walk("rel", length, p, q)`.
    Walk {
        /// The relation.
        relation: Name,
        /// Steps.
        length: usize,
        /// node2vec return parameter.
        p: f64,
        /// node2vec in-out parameter.
        q: f64,
    },
}

/// Where the parts of a parsed plan were written (1-based columns; 0 when
/// the plan was built in code), for errors found after parsing. Equality
/// ignores it, as it ignores the columns of names.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    /// The source (`V`, `E` or `SubGraph`).
    pub source: usize,
    /// The argument of `batch(n)`.
    pub batch: usize,
    /// One entry per step, in order.
    pub steps: Vec<StepColumns>,
}

impl PartialEq for Columns {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Where one step was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepColumns {
    /// The step's method (`outV`, `subgraph`, `random_walk`, …).
    pub step: usize,
    /// Its count: `sample(k)`'s `k`, a walk's length, a subgraph's hops.
    pub count: usize,
}

/// A compiled query: the source, batching, and steps with their aliases.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Where batches come from.
    pub source: Source,
    /// `batch(n)` (default 64).
    pub batch: usize,
    /// `shuffle()`: each epoch visits the source in a new random order.
    pub shuffle: bool,
    /// `shuffle(traverse=False)` (graph-learn): batches are drawn without
    /// end, epoch after epoch, instead of ending with the epoch.
    pub endless: bool,
    /// Alias of the source batch (`alias("seed")`).
    pub source_alias: Option<String>,
    /// Steps, each with its alias.
    pub steps: Vec<(Step, Option<String>)>,
    /// Where the source, batch and steps were written (ignored by equality).
    pub columns: Columns,
}

/// A step as written, for messages: `outV("cites")`, `subgraph("cites", 2)`, ….
pub(crate) fn label(step: &Step) -> String {
    let io = |d: &Direction, a: &str, b: &str| if *d == Direction::Out { a.to_string() } else { b.to_string() };
    match step {
        Step::Hop { relation, direction, edges, .. } => {
            let m = if *edges { io(direction, "outE", "inE") } else { io(direction, "outV", "inV") };
            format!("`{m}(\"{}\")`", shown(&relation.text))
        }
        Step::Negative { relation, direction, .. } => format!("`{}(\"{}\")`", io(direction, "outNeg", "inNeg"), shown(&relation.text)),
        Step::Endpoint { direction } => format!("`{}()`", io(direction, "outV", "inV")),
        Step::Subgraph { relation, hops } => format!("`subgraph(\"{}\", {hops})`", shown(&relation.text)),
        Step::Walk { relation, length, .. } => format!("`random_walk(\"{}\", {length})`", shown(&relation.text)),
    }
}

fn is_full(s: &StrategyName) -> bool {
    matches!(s, StrategyName::Plain(n) if n.text == "full")
}

fn unknown(what: &str, name: &Name, known: &[&str]) -> Error {
    let hint = suggest(&name.text, known.iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| if known.is_empty() { String::new() } else { format!(" (known: {})", known.join(", ")) });
    Error::at(name.column, format!("unknown {what} `{}`{hint}", shown(&name.text)))
}

/// Neighbour strategies the language knows.
pub const NEIGHBOR_STRATEGIES: [&str; 8] =
    ["random", "random_without_replacement", "full", "edge_weight", "topk", "in_degree", "before", "most_recent"];
/// Negative strategies the language knows.
pub const NEGATIVE_STRATEGIES: [&str; 3] = ["random", "in_degree", "node_weight"];

impl Plan {
    /// Where step `i` was written, falling back to its relation's column.
    pub(crate) fn step_columns(&self, i: usize) -> StepColumns {
        let mut c = self.columns.steps.get(i).copied().unwrap_or_default();
        if c.step == 0 {
            c.step = match self.steps.get(i).map(|s| &s.0) {
                Some(
                    Step::Hop { relation, .. } | Step::Negative { relation, .. } | Step::Subgraph { relation, .. } | Step::Walk { relation, .. },
                ) => relation.column,
                _ => 0,
            };
        }
        if c.count == 0 {
            c.count = c.step;
        }
        c
    }

    /// Checks the plan against `g`'s schema and the [`Limits::default`]
    /// bounds; see [`Plan::check_with`].
    pub fn check(&self, g: &Graph) -> Result<()> {
        self.check_with(g, &Limits::default())
    }

    /// Checks the sizes the plan asks for against `limits` (see
    /// [`Plan::check_limits`]), then every name against `g`'s schema and that
    /// hops chain node types; errors point at the offending step or name.
    pub fn check_with(&self, g: &Graph, limits: &Limits) -> Result<()> {
        self.check_limits(limits)?;
        self.check_schema(g)?;
        // Results carry external ids: a damaged id map is named here, once
        // per graph (cached), not met as an index out of range.
        for t in 0..g.schema().node_types.len() {
            g.checked_ids(ferrograph_graph::NodeTypeId(t as u16)).map_err(|e| Error::at(self.columns.source, e.to_string()))?;
        }
        Ok(())
    }

    /// Checks, without a graph, the batch size, the number of steps, every
    /// fan-out and walk length, and the static bound on the nodes of a batch
    /// (see [`Limits::max_nodes`]) against `limits`. An error names the
    /// column of the offending step (of its count for fan-outs and lengths),
    /// the limit, and how to raise it.
    pub fn check_limits(&self, limits: &Limits) -> Result<()> {
        let batch_col = if self.columns.batch > 0 { self.columns.batch } else { self.columns.source };
        if self.batch == 0 {
            return Err(Error::at(batch_col, "batch size must be at least 1"));
        }
        if Kind::Batch.exceeded(limits, self.batch as u64) {
            return Err(Kind::Batch.error(limits, batch_col, format_args!("batch({}) is too large", self.batch)));
        }
        let mut frontier = self.batch as u64;
        let mut total = if matches!(self.source, Source::Nodes { .. }) { frontier } else { 0 };
        let mut steps = 0u64;
        for (i, (step, _)) in self.steps.iter().enumerate() {
            let c = self.step_columns(i);
            steps = steps.saturating_add(if let Step::Subgraph { hops, .. } = step { *hops as u64 } else { 1 });
            if Kind::Steps.exceeded(limits, steps) {
                let col = if let Step::Subgraph { .. } = step { c.count } else { c.step };
                return Err(Kind::Steps.error(limits, col, format_args!("{} brings the query to {steps} steps", label(step))));
            }
            let factor = match step {
                Step::Hop { count, strategy, .. } | Step::Negative { count, strategy, .. } => {
                    if Kind::Fanout.exceeded(limits, *count as u64) {
                        return Err(Kind::Fanout.error(limits, c.count, format_args!("{}.sample({count}) is too large", label(step))));
                    }
                    (!is_full(strategy) || matches!(step, Step::Negative { .. })).then_some(*count as u64)
                }
                Step::Walk { length, .. } => {
                    if Kind::WalkLength.exceeded(limits, *length as u64) {
                        return Err(Kind::WalkLength.error(limits, c.count, format_args!("walk length {length} is too long")));
                    }
                    Some((*length as u64).saturating_add(1))
                }
                // Sized when they run.
                Step::Subgraph { .. } => None,
                Step::Endpoint { .. } => Some(1),
            };
            if let Some(f) = factor {
                frontier = frontier.saturating_mul(f);
            }
            total = total.saturating_add(frontier);
            if Kind::Nodes.exceeded(limits, total) {
                let n = if total == u64::MAX { format!("more than {total}") } else { total.to_string() };
                return Err(Kind::Nodes.error(limits, c.step, format_args!("{} can bring the batch to {n} nodes", label(step))));
            }
        }
        Ok(())
    }

    /// The schema half of [`Plan::check_with`].
    fn check_schema(&self, g: &Graph) -> Result<()> {
        let s = g.schema();
        let types: Vec<&str> = s.node_types.iter().map(|t| t.name.as_str()).collect();
        let rels: Vec<&str> = s.edge_types.iter().flat_map(|e| [e.relation.as_str(), e.reverse.as_str()]).collect();
        let relation = |n: &Name| s.relation(&n.text).map_err(|_| unknown("relation", n, &rels));
        let mut current: Option<String> = match &self.source {
            Source::Nodes { node_type, set } => {
                let t = s.node_type(&node_type.text).map_err(|_| unknown("node type", node_type, &types))?;
                if let Some(set) = set {
                    let sets: Vec<&str> = s.node_types[t.0 as usize].sets.iter().map(String::as_str).collect();
                    if !sets.contains(&set.text.as_str()) {
                        let e = unknown("node set", set, &sets);
                        return Err(Error::at(e.column, format!("{} for node type `{}`", e.message, node_type.text)));
                    }
                }
                Some(node_type.text.clone())
            }
            Source::Edges { relation: r } => {
                let (_, dir) = relation(r)?;
                if dir == Direction::In {
                    return Err(Error::at(r.column, format!("`{}` is a reverse relation; traverse edges by their relation name", r.text)));
                }
                None
            }
        };
        let edge_rel = match &self.source {
            Source::Edges { relation } => Some(relation),
            Source::Nodes { .. } => None,
        };
        // (near, far) node types of the edges just traversed, if any.
        let mut edge_ctx: Option<(String, String)> = match edge_rel {
            Some(r) => {
                let e = &s.edge_types[relation(r)?.0.0 as usize];
                Some((e.src.clone(), e.dst.clone()))
            }
            None => None,
        };
        for (i, (step, _)) in self.steps.iter().enumerate() {
            let mut next_ctx = None;
            match step {
                Step::Endpoint { direction } => {
                    let (near, far) = edge_ctx
                        .clone()
                        .ok_or_else(|| Error::at(self.step_columns(i).step, "outV() / inV() without a relation follow g.E(...) or outE/inE"))?;
                    current = Some(if *direction == Direction::Out { near } else { far });
                }
                Step::Hop { relation: r, direction, strategy, .. } | Step::Negative { relation: r, direction, strategy, .. } => {
                    let (et, d) = relation(r)?;
                    let e = &s.edge_types[et.0 as usize];
                    let walk_out = (d == Direction::Out) == (*direction == Direction::Out);
                    let (from, to) = if walk_out { (&e.src, &e.dst) } else { (&e.dst, &e.src) };
                    let cur =
                        current.as_ref().ok_or_else(|| Error::at(r.column, "select endpoints with outV() or inV() before walking from edges"))?;
                    if cur != from {
                        return Err(Error::at(
                            r.column,
                            format!("`{}` starts from `{from}` nodes but the query is at `{cur}` nodes", shown(&r.text)),
                        ));
                    }
                    let (name, known): (&Name, &[&str]) = match (step, strategy) {
                        (Step::Hop { .. }, StrategyName::Plain(n) | StrategyName::Timed(n, _) | StrategyName::Attr(n, _)) => {
                            (n, &NEIGHBOR_STRATEGIES)
                        }
                        (_, StrategyName::Plain(n) | StrategyName::Timed(n, _) | StrategyName::Attr(n, _)) => (n, &NEGATIVE_STRATEGIES),
                    };
                    if !known.contains(&name.text.as_str()) {
                        return Err(unknown("strategy", name, known));
                    }
                    let timed = matches!(name.text.as_str(), "before" | "most_recent");
                    if timed != matches!(strategy, StrategyName::Timed(..)) {
                        return Err(Error::at(
                            name.column,
                            format!("`{}` {}", name.text, if timed { "needs a timestamp: by(\"before\", T)" } else { "takes no timestamp" }),
                        ));
                    }
                    if timed {
                        use ferrograph_graph::schema::reserved::TIMESTAMP;
                        let kind = e.attributes.iter().find(|a| a.name == TIMESTAMP).map(|a| &a.kind);
                        if kind != Some(&ferrograph_graph::AttrKind::Int) {
                            return Err(Error::at(
                                name.column,
                                format!("`{}` needs an int `{TIMESTAMP}` attribute on edge type {}", name.text, e.display_name()),
                            ));
                        }
                    }
                    let wants_attr = name.text == "node_weight";
                    match (wants_attr, strategy) {
                        (true, StrategyName::Attr(_, a)) => check_attr(g, to, a, true)?,
                        (true, _) => return Err(Error::at(name.column, "`node_weight` needs the attribute: by(\"node_weight\", \"attr\")")),
                        (false, StrategyName::Attr(_, a)) => {
                            return Err(Error::at(a.column, format!("`{}` takes no attribute", shown(&name.text))));
                        }
                        _ => {}
                    }
                    if let Step::Negative { condition: Some(c), .. } = step {
                        if edge_rel.is_none() {
                            return Err(Error::at(c.column, "where(...) compares with the positive edge, so it needs g.E(...)"));
                        }
                        check_attr(g, to, c, false)?;
                    }
                    if let Step::Hop { edges: true, .. } = step {
                        next_ctx = Some((from.clone(), to.clone()));
                    }
                    current = Some(to.clone());
                }
                Step::Subgraph { relation: r, hops } => {
                    let (et, _) = relation(r)?;
                    let e = &s.edge_types[et.0 as usize];
                    if e.src != e.dst || current.as_ref() != Some(&e.src) {
                        return Err(Error::at(
                            r.column,
                            format!("subgraph needs a relation within the current node type; `{}` joins `{}` and `{}`", shown(&r.text), e.src, e.dst),
                        ));
                    }
                    if *hops == 0 {
                        return Err(Error::at(r.column, "subgraph needs at least 1 hop"));
                    }
                }
                Step::Walk { relation: r, p, q, .. } => {
                    let (et, _) = relation(r)?;
                    let e = &s.edge_types[et.0 as usize];
                    if e.src != e.dst {
                        return Err(Error::at(
                            r.column,
                            format!("random_walk needs a relation within one node type; `{}` joins `{}` and `{}`", shown(&r.text), e.src, e.dst),
                        ));
                    }
                    let ok = |x: f64| x > 0.0 && x.is_finite() && (1.0 / x).is_finite();
                    if !(ok(*p) && ok(*q)) {
                        return Err(Error::at(
                            self.step_columns(i).step,
                            format!("random_walk needs p > 0 and q > 0 with finite 1/p and 1/q (got p = {p}, q = {q})"),
                        ));
                    }
                }
            }
            edge_ctx = next_ctx;
        }
        Ok(())
    }
}

/// Checks that node type `ty` has attribute `a` of a usable kind: numeric
/// for weights, int or string for conditions.
fn check_attr(g: &Graph, ty: &str, a: &Name, numeric: bool) -> Result<()> {
    use ferrograph_graph::AttrKind;
    let t = &g.schema().node_types[g.schema().node_type(ty).map_err(|e| Error::at(a.column, e.to_string()))?.0 as usize];
    let names: Vec<&str> = t.attributes.iter().map(|x| x.name.as_str()).collect();
    let attr = t.attributes.iter().find(|x| x.name == a.text).ok_or_else(|| {
        let e = unknown("attribute", a, &names);
        Error::at(e.column, format!("{} (node type `{ty}`)", e.message))
    })?;
    let ok = match attr.kind {
        AttrKind::Int => true,
        AttrKind::Float => numeric,
        AttrKind::String { .. } => !numeric,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let need = if numeric { "an int or float" } else { "an int or string" };
        Err(Error::at(a.column, format!("`{}` is {} but {need} attribute is needed", shown(&a.text), attr.kind.describe())))
    }
}

/// The typed builder: the same vocabulary as the text form.
#[derive(Clone, Debug)]
pub struct Query {
    plan: Plan,
    pending: Option<Pending>,
}

#[derive(Clone, Debug)]
enum Pending {
    Hop(Name, Direction, Option<usize>, bool),
    Neg(Name, Direction, Option<usize>, bool),
}

impl Query {
    fn from_source(source: Source) -> Self {
        Query {
            plan: Plan { source, batch: 64, shuffle: false, endless: false, source_alias: None, steps: Vec::new(), columns: Columns::default() },
            pending: None,
        }
    }
    /// `g.V("type")`.
    pub fn v(node_type: &str) -> Self {
        Self::from_source(Source::Nodes { node_type: Name::built(node_type), set: None })
    }
    /// `g.V("type", "set")`.
    pub fn v_set(node_type: &str, set: &str) -> Self {
        Self::from_source(Source::Nodes { node_type: Name::built(node_type), set: Some(Name::built(set)) })
    }
    /// `g.E("relation")`.
    pub fn e(relation: &str) -> Self {
        Self::from_source(Source::Edges { relation: Name::built(relation) })
    }
    /// `.batch(n)`.
    pub fn batch(mut self, n: usize) -> Self {
        self.plan.batch = n;
        self
    }
    /// `.shuffle()`.
    pub fn shuffle(mut self) -> Self {
        self.plan.shuffle = true;
        self
    }
    /// `.alias("name")` for the last step (or the source).
    pub fn alias(mut self, a: &str) -> Self {
        match self.plan.steps.last_mut() {
            Some((_, alias)) => *alias = Some(a.to_string()),
            None => self.plan.source_alias = Some(a.to_string()),
        }
        self
    }
    /// `.outV("relation")`.
    pub fn out_v(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Hop(Name::built(relation), Direction::Out, None, false));
        self
    }
    /// `.outE("relation")`: sampled out-edges (then `.src()` / `.dst()` for their ends).
    pub fn out_e(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Hop(Name::built(relation), Direction::Out, None, true));
        self
    }
    /// `.inE("relation")`: sampled in-edges.
    pub fn in_e(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Hop(Name::built(relation), Direction::In, None, true));
        self
    }
    /// `.inV("relation")`.
    pub fn in_v(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Hop(Name::built(relation), Direction::In, None, false));
        self
    }
    /// `.outV()` after `g.E` or `outE`: the sources (near ends).
    pub fn src(mut self) -> Self {
        self.plan.steps.push((Step::Endpoint { direction: Direction::Out }, None));
        self
    }
    /// `.inV()` after `g.E` or `outE`: the destinations (far ends).
    pub fn dst(mut self) -> Self {
        self.plan.steps.push((Step::Endpoint { direction: Direction::In }, None));
        self
    }
    /// `.outNeg("relation")`.
    pub fn out_neg(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Neg(Name::built(relation), Direction::Out, None, false));
        self
    }
    /// `.inNeg("relation")`.
    pub fn in_neg(mut self, relation: &str) -> Self {
        self.pending = Some(Pending::Neg(Name::built(relation), Direction::In, None, false));
        self
    }
    /// `.sample(k)`.
    pub fn sample(mut self, k: usize) -> Self {
        match &mut self.pending {
            Some(Pending::Hop(_, _, c, _)) | Some(Pending::Neg(_, _, c, _)) => *c = Some(k),
            None => {}
        }
        self
    }
    /// `.strict()` on a negative step (before or after its `by`).
    pub fn strict(mut self) -> Self {
        match &mut self.pending {
            Some(Pending::Neg(_, _, _, s)) => *s = true,
            _ => {
                if let Some((Step::Negative { strict, .. }, _)) = self.plan.steps.last_mut() {
                    *strict = true;
                }
            }
        }
        self
    }
    /// `.by("strategy")`.
    pub fn by(self, strategy: &str) -> Self {
        self.finish(StrategyName::Plain(Name::built(strategy)))
    }
    /// `.by("before" | "most_recent", t)`.
    pub fn by_time(self, strategy: &str, t: i64) -> Self {
        self.finish(StrategyName::Timed(Name::built(strategy), t))
    }
    fn finish(mut self, strategy: StrategyName) -> Self {
        match self.pending.take() {
            Some(Pending::Hop(relation, direction, count, edges)) => {
                self.plan.steps.push((Step::Hop { relation, direction, count: count.unwrap_or(1), strategy, edges }, None));
            }
            Some(Pending::Neg(relation, direction, count, strict)) => {
                self.plan.steps.push((Step::Negative { relation, direction, count: count.unwrap_or(1), strategy, strict, condition: None }, None));
            }
            None => {}
        }
        self
    }
    /// `.by("node_weight", "attr")`.
    pub fn by_attr(self, strategy: &str, attr: &str) -> Self {
        self.finish(StrategyName::Attr(Name::built(strategy), Name::built(attr)))
    }
    /// `.where("attr")` on the last negative step.
    pub fn condition(mut self, attr: &str) -> Self {
        if let Some((Step::Negative { condition, .. }, _)) = self.plan.steps.last_mut() {
            *condition = Some(Name::built(attr));
        }
        self
    }
    /// `.subgraph("relation", hops)`.
    pub fn subgraph(mut self, relation: &str, hops: usize) -> Self {
        self.plan.steps.push((Step::Subgraph { relation: Name::built(relation), hops }, None));
        self
    }
    /// `.random_walk("relation", length, p, q)`.
    pub fn random_walk(mut self, relation: &str, length: usize, p: f64, q: f64) -> Self {
        self.plan.steps.push((Step::Walk { relation: Name::built(relation), length, p, q }, None));
        self
    }
    /// `.values()`: the finished plan.
    pub fn values(self) -> Plan {
        self.plan
    }
}
