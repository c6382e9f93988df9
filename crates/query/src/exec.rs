//! Running a plan on a graph, one batch of its source at a time (the first
//! batch of epoch 0 by default): every aliased step's nodes with their
//! external ids.

use ferrograph_graph::idmap::ExternalId;
use ferrograph_graph::{Direction, Graph, LocalIdx, NodeTypeId};
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::rng::derive;
use ferrograph_sample::traverse::{Batches, EdgeBatch, EdgeBatches};
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, NeighborAccess, Relation, Sampled, Strategy};
use serde_json::{Value, json};

use crate::limits::{Kind, Limits};
use crate::plan::{Name, Plan, Source, Step, StrategyName, label};
use crate::{Error, Result};

/// The nodes one step produced.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasResult {
    /// The alias (or `step<i>` when none was given).
    pub alias: String,
    /// Node type.
    pub node_type: NodeTypeId,
    /// Local indices.
    pub nodes: Vec<u32>,
    /// For hops, negatives and walks: node `i` of the previous step got
    /// `nodes[offsets[i]..offsets[i + 1]]`.
    pub offsets: Option<Vec<u32>>,
    /// For subgraphs: edges as (source, destination) indices into `nodes`.
    pub edges: Option<(Vec<u32>, Vec<u32>)>,
    /// For `outE`/`inE`: the edge id (out-position) of each sampled edge;
    /// for an aliased `g.E(...)` source: the edge id of each edge of the
    /// batch (`nodes` holds their sources).
    pub edge_ids: Option<Vec<u64>>,
}

/// Everything a query returned for one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    /// One entry per source and step, in order.
    pub aliases: Vec<AliasResult>,
}

fn rel(g: &Graph, name: &Name, direction: Direction) -> Result<Relation> {
    let mut r = Relation::resolve(g, &name.text).map_err(|e| Error::at(name.column, e.to_string()))?;
    if direction == Direction::In {
        r.direction = if r.direction == Direction::Out { Direction::In } else { Direction::Out };
        std::mem::swap(&mut r.from, &mut r.to);
    }
    Ok(r)
}

fn strategy(s: &StrategyName) -> Result<Strategy> {
    match s {
        StrategyName::Timed(n, t) if n.text == "before" => Ok(Strategy::Before(*t)),
        StrategyName::Timed(n, t) if n.text == "most_recent" => Ok(Strategy::MostRecent(*t)),
        StrategyName::Plain(n) | StrategyName::Timed(n, _) | StrategyName::Attr(n, _) => {
            Strategy::parse(&n.text).ok_or_else(|| Error::at(n.column, format!("unknown strategy `{}`", n.text)))
        }
    }
}

/// The nodes a batch has produced so far, against `Limits::max_nodes`:
/// every step is sized before it allocates.
struct Budget<'l> {
    used: u64,
    limits: &'l Limits,
}

impl Budget<'_> {
    /// Takes `n` more nodes for `step` (at `column`), or refuses.
    fn take(&mut self, n: u64, column: usize, step: &Step, how: &str) -> Result<()> {
        let total = self.used.saturating_add(n);
        if Kind::Nodes.exceeded(self.limits, total) {
            return Err(Kind::Nodes.error(self.limits, column, format_args!("{}{how} brings the batch to {total} nodes", label(step))));
        }
        self.used = total;
        Ok(())
    }

    fn left(&self) -> u64 {
        self.limits.nodes().saturating_sub(self.used)
    }
}

/// How many neighbours `strategy` returns for nodes of these degrees, at most.
fn hop_size(degrees: &[u64], k: usize, strategy: Strategy) -> u64 {
    let k = k as u64;
    degrees.iter().fold(0u64, |acc, &d| {
        acc.saturating_add(match strategy {
            Strategy::Full => d,
            Strategy::Random | Strategy::EdgeWeight | Strategy::InDegree => {
                if d > 0 {
                    k
                } else {
                    0
                }
            }
            _ => d.min(k),
        })
    })
}

/// Out-positions (edge ids) of the sampled edges `near[i]`–`far[i]` walked
/// along `r`: the first matching entry of the source's sorted out-row.
fn edge_positions(g: &Graph, r: Relation, near: &[u32], far: &[u32]) -> std::result::Result<Vec<u64>, ferrograph_graph::Error> {
    let out = g.checked_topology(r.edge_type, Direction::Out)?;
    Ok(near
        .iter()
        .zip(far)
        .map(|(&u, &v)| {
            let (s, d) = if r.direction == Direction::Out { (u, v) } else { (v, u) };
            let row = out.neighbors(s as usize);
            out.range(s as usize).start as u64 + row.partition_point(|&x| x < d) as u64
        })
        .collect())
}

/// Checks `plan` against `g` and runs its first batch with randomness from
/// `seed`, under the [`Limits::default`] bounds; see [`execute_with`].
pub fn execute(plan: &Plan, g: &Graph, seed: u64) -> Result<QueryResult> {
    execute_with(plan, g, seed, &Limits::default())
}

/// Checks `plan` against `g` and `limits` ([`Plan::check_with`]) and runs
/// its first batch with randomness from `seed`. Every step is sized before
/// it allocates (from the degrees of its input nodes for hops, one degree
/// request per subgraph level), and the batch stops with an error at the
/// step's column once its nodes would pass `limits.max_nodes`.
pub fn execute_with(plan: &Plan, g: &Graph, seed: u64, limits: &Limits) -> Result<QueryResult> {
    execute_over(plan, g, &LocalGraph::new(g), seed, limits)
}

/// [`execute_with`] with every hop, degree, subgraph, walk and negative
/// read through `access` (a remote graph over graph servers, say),
/// and the schema, node sets, batches and attributes from `g`, the same
/// graph's snapshot. The result equals [`execute_with`]'s for the same seed.
pub fn execute_over(plan: &Plan, g: &Graph, access: &dyn NeighborAccess, seed: u64, limits: &Limits) -> Result<QueryResult> {
    plan.check_with(g, limits)?;
    let first = PlanBatches::new(plan, g, seed)?.epoch(g, 0).into_iter().next().unwrap_or(match plan.source {
        Source::Nodes { .. } => SourceBatch::Nodes(Vec::new()),
        Source::Edges { .. } => SourceBatch::Edges(EdgeBatch::default()),
    });
    run_batch(plan, g, access, first, seed, limits)
}

/// One batch of a plan's source: nodes (`g.V`) or edges (`g.E`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceBatch {
    /// Local indices of the source node type.
    Nodes(Vec<u32>),
    /// Edges of the source relation.
    Edges(EdgeBatch),
}

/// The batches of a plan's source, epoch by epoch: in order, or shuffled
/// per epoch with the plan's seed (`shuffle()`); a plan with
/// `shuffle(traverse=False)` is [`endless`](Self::endless), and its
/// iteration goes on from one epoch into the next.
pub struct PlanBatches {
    nodes: Option<Batches>,
    edges: Option<EdgeBatches>,
    endless: bool,
}

impl PlanBatches {
    /// The batches of `plan`'s source over `g` (names checked here).
    pub fn new(plan: &Plan, g: &Graph, seed: u64) -> Result<Self> {
        let sample_err = |e: ferrograph_sample::Error| Error::at(plan.columns.source, e.to_string());
        let (nodes, edges) = match &plan.source {
            Source::Nodes { node_type, set } => (
                Some(
                    Batches::nodes(g, &node_type.text, set.as_ref().map(|s| s.text.as_str()), plan.batch, plan.shuffle, false, seed)
                        .map_err(sample_err)?,
                ),
                None,
            ),
            Source::Edges { relation } => {
                (None, Some(EdgeBatches::new(g, &relation.text, plan.batch, plan.shuffle, false, seed).map_err(sample_err)?))
            }
        };
        Ok(PlanBatches { nodes, edges, endless: plan.endless })
    }

    /// Batches in one epoch.
    pub fn per_epoch(&self) -> usize {
        self.nodes.as_ref().map(Batches::per_epoch).or_else(|| self.edges.as_ref().map(EdgeBatches::per_epoch)).unwrap_or(0)
    }

    /// Whether iteration goes on past the end of an epoch (`shuffle(traverse=False)`).
    pub fn endless(&self) -> bool {
        self.endless
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, g: &Graph, epoch: u64) -> Vec<SourceBatch> {
        match (&self.nodes, &self.edges) {
            (Some(b), _) => b.epoch(epoch).map(SourceBatch::Nodes).collect(),
            (None, Some(e)) => e.epoch(g, epoch).map(SourceBatch::Edges).collect(),
            (None, None) => Vec::new(),
        }
    }
}

/// The seed of batch `index` of epoch `epoch` of a run seeded `seed`: what
/// [`execute_batch`] is given by `ferrograph sample --epoch E --batch I`
/// and by the Python `Dataset`, so both draw the same samples.
pub fn batch_seed(seed: u64, epoch: u64, index: u64) -> u64 {
    derive(derive(seed, epoch), index)
}

/// Checks `plan` against `g` and `limits` and runs it on `batch` (one of
/// [`PlanBatches::epoch`]) with randomness from `seed` (see
/// [`batch_seed`]), every hop read through `access`.
pub fn execute_batch(plan: &Plan, g: &Graph, access: &dyn NeighborAccess, batch: SourceBatch, seed: u64, limits: &Limits) -> Result<QueryResult> {
    plan.check_with(g, limits)?;
    run_batch(plan, g, access, batch, seed, limits)
}

fn run_batch(plan: &Plan, g: &Graph, access: &dyn NeighborAccess, batch: SourceBatch, seed: u64, limits: &Limits) -> Result<QueryResult> {
    let lg = access;
    let mut budget = Budget { used: 0, limits };
    let mut aliases = Vec::new();
    let name = |a: &Option<String>, i: usize| a.clone().unwrap_or_else(|| if i == 0 { "source".into() } else { format!("step{i}") });
    let mut frontier: Vec<u32> = Vec::new();
    let mut edges = None;
    match (&plan.source, batch) {
        (Source::Nodes { node_type, .. }, SourceBatch::Nodes(nodes)) => {
            frontier = nodes;
            budget.used = frontier.len() as u64;
            let t = g.schema().node_type(&node_type.text).map_err(|e| Error::at(node_type.column, e.to_string()))?;
            let n = g.node_count(t);
            if let Some(&bad) = frontier.iter().find(|&&v| v as usize >= n) {
                return Err(Error::at(node_type.column, format!("node {bad} is outside the {n} nodes of `{}`", node_type.text)));
            }
            aliases.push(AliasResult {
                alias: name(&plan.source_alias, 0),
                node_type: t,
                nodes: frontier.clone(),
                offsets: None,
                edges: None,
                edge_ids: None,
            });
        }
        (Source::Edges { relation }, SourceBatch::Edges(b)) => {
            // An aliased edge source (graph-learn's `g.E("buy").alias("e")`)
            // reports the edges: their sources, with the edge ids (out-positions).
            if let Some(a) = &plan.source_alias {
                let from = rel(g, relation, Direction::Out)?.from;
                aliases.push(AliasResult {
                    alias: a.clone(),
                    node_type: from,
                    nodes: b.src.clone(),
                    offsets: None,
                    edges: None,
                    edge_ids: Some(b.pos.clone()),
                });
            }
            edges = Some((b, relation.clone()));
        }
        (_, _) => return Err(Error::at(plan.columns.source, "the batch does not match the query's source (nodes for g.V, edges for g.E)")),
    }
    // The other endpoint of each edge of the batch, once endpoints are selected:
    // the positives that conditional negatives are matched against.
    let mut positives: Option<Vec<u32>> = None;
    // (near ends, far ends, near type, far type) of the edges just traversed.
    let mut edge_ends: Option<(Vec<u32>, Vec<u32>, NodeTypeId, NodeTypeId)> = match &edges {
        Some((batch, r)) => {
            let rl = rel(g, r, Direction::Out)?;
            Some((batch.src.clone(), batch.dst.clone(), rl.from, rl.to))
        }
        None => None,
    };
    let mut degrees = Vec::new();
    for (i, (step, alias)) in plan.steps.iter().enumerate() {
        let step_seed = derive(seed, i as u64 + 1);
        let col = plan.step_columns(i).step;
        let mut sub_edges = None;
        let mut edge_ids = None;
        let (nodes, offsets, t) = match step {
            Step::Endpoint { direction } => {
                let (near, far, tn, tf) = edge_ends.take().ok_or_else(|| Error::at(col, "endpoints need g.E(...) or outE/inE"))?;
                budget.take(near.len() as u64, col, step, "")?;
                let (nodes, other, t) = if *direction == Direction::Out { (near, far, tn) } else { (far, near, tf) };
                positives = Some(other);
                (nodes, None, t)
            }
            Step::Subgraph { relation, hops } => {
                let r = rel(g, relation, Direction::Out)?;
                let sub = ferrograph_sample::subgraph::induced_subgraph_bounded(lg, r, &frontier, *hops, budget.left()).map_err(|e| match e {
                    ferrograph_sample::Error::TooLarge { what, limit } => {
                        Kind::Nodes.error(limits, col, format_args!("{}: {what} would pass the {limit} nodes left to the batch", label(step)))
                    }
                    e => Error::at(relation.column, e.to_string()),
                })?;
                budget.take(sub.nodes.len() as u64, col, step, "")?;
                sub_edges = Some((sub.src, sub.dst));
                (sub.nodes, None, r.to)
            }
            Step::Hop { relation, direction, count, strategy: s, edges: want_edges } => {
                let r = rel(g, relation, *direction)?;
                let st = strategy(s)?;
                let at = |e: ferrograph_sample::Error| Error::at(relation.column, e.to_string());
                degrees.clear();
                lg.degrees(r, &frontier, &mut degrees).map_err(at)?;
                let how = if st == Strategy::Full { ".by(\"full\")".to_string() } else { format!(".sample({count})") };
                budget.take(hop_size(&degrees, *count, st), col, step, &how)?;
                let mut out = Sampled::default();
                lg.sample_neighbors(r, &frontier, *count, st, step_seed, &mut out).map_err(at)?;
                if *want_edges {
                    let near: Vec<u32> =
                        out.offsets.windows(2).zip(&frontier).flat_map(|(w, &u)| std::iter::repeat_n(u, (w[1] - w[0]) as usize)).collect();
                    edge_ids = Some(edge_positions(g, r, &near, &out.neighbors).map_err(|e| at(e.into()))?);
                    edge_ends = Some((near, out.neighbors.clone(), r.from, r.to));
                }
                (out.neighbors, Some(out.offsets), r.to)
            }
            Step::Negative { relation, direction, count, strategy: s, strict, condition } => {
                let r = rel(g, relation, *direction)?;
                let ns = match s {
                    StrategyName::Plain(n) if n.text == "in_degree" => NegativeStrategy::InDegree,
                    StrategyName::Attr(_, a) => NegativeStrategy::NodeWeight(a.text.clone()),
                    _ => NegativeStrategy::Random,
                };
                let at = |e: ferrograph_sample::Error| Error::at(relation.column, e.to_string());
                budget.take((frontier.len() as u64).saturating_mul(*count as u64), col, step, &format!(".sample({count})"))?;
                if *strict {
                    // Strict negatives read the sources' rows: bounded like a batch's nodes.
                    degrees.clear();
                    lg.degrees(r, &frontier, &mut degrees).map_err(at)?;
                    let ids = degrees.iter().fold(0u64, |a, &d| a.saturating_add(d));
                    if Kind::Nodes.exceeded(limits, ids) {
                        return Err(Kind::Nodes.error(
                            limits,
                            col,
                            format_args!("{}.strict() would read {ids} neighbour ids of its sources", label(step)),
                        ));
                    }
                }
                let neg = NegativeSampler::over(g, lg, r, ns, *strict).map_err(at)?;
                let nodes = match condition {
                    None => neg.sample(&frontier, *count, step_seed).map_err(at)?,
                    Some(c) => {
                        let pos = positives.as_ref().filter(|p| p.len() == frontier.len()).ok_or_else(|| {
                            Error::at(c.column, "where(...) must come right after selecting the endpoints of g.E(...) with outV() or inV()")
                        })?;
                        let neg = neg.condition_on(&c.text).map_err(|e| Error::at(c.column, e.to_string()))?;
                        neg.sample_conditional(&frontier, pos, *count, step_seed).map_err(at)?
                    }
                };
                let offsets = (0..=frontier.len()).map(|j| (j * *count) as u32).collect();
                (nodes, Some(offsets), r.to)
            }
            Step::Walk { relation, length, p, q } => {
                let r = rel(g, relation, Direction::Out)?;
                budget.take((frontier.len() as u64).saturating_mul((*length as u64).saturating_add(1)), col, step, "")?;
                let w = Walker::node2vec(r, *length, *p, *q).map_err(|e| Error::at(relation.column, e.to_string()))?;
                let walks = w.walks(lg, &frontier, step_seed).map_err(|e| Error::at(relation.column, e.to_string()))?;
                let mut nodes = Vec::new();
                let mut offsets = vec![0u32];
                for walk in walks.chunks(length + 1) {
                    nodes.extend(walk.iter().copied().filter(|&x| x != PAD));
                    offsets.push(nodes.len() as u32);
                }
                (nodes, Some(offsets), r.to)
            }
        };
        if !matches!(step, Step::Endpoint { .. }) {
            positives = None;
        }
        if !matches!(step, Step::Hop { edges: true, .. }) {
            edge_ends = None;
        }
        frontier = nodes.clone();
        aliases.push(AliasResult { alias: name(alias, i + 1), node_type: t, nodes, offsets, edges: sub_edges, edge_ids });
    }
    Ok(QueryResult { aliases })
}

impl QueryResult {
    /// As JSON: for each alias its node type, external ids and offsets.
    pub fn to_json(&self, g: &Graph) -> Value {
        let aliases: Vec<Value> = self
            .aliases
            .iter()
            .map(|a| {
                let ids = &g.nodes(a.node_type).ids;
                let ext: Vec<Value> = a
                    .nodes
                    .iter()
                    .map(|&n| match ids.external(LocalIdx(n)) {
                        ExternalId::Int(i) => json!(i),
                        ExternalId::Str(s) => json!(s),
                    })
                    .collect();
                let mut v = json!({
                    "alias": a.alias,
                    "type": g.schema().node_types[a.node_type.0 as usize].name,
                    "ids": ext,
                });
                if let Some(o) = &a.offsets {
                    v["offsets"] = json!(o);
                }
                if let Some(e) = &a.edge_ids {
                    v["edge_ids"] = json!(e);
                }
                if let Some((src, dst)) = &a.edges {
                    v["edges"] = json!([src, dst]);
                }
                v
            })
            .collect();
        json!({ "aliases": aliases })
    }
}
