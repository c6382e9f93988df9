//! [`RemoteGraph`]: the samplers' `NeighborAccess` over graph servers.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ferrograph_graph::{Direction, NodeTypeId};
use ferrograph_partition::Book;
use ferrograph_sample::cache::RowCache;
use ferrograph_sample::features::FeatureAccess;
use ferrograph_sample::rng::derive;
use ferrograph_sample::{NeighborAccess, Relation, Sampled, Strategy};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use crate::proto::graph_server_client::GraphServerClient;
use crate::proto::{DegreesRequest, GatherRequest, InfoReply, InfoRequest, SampleRequest};
use crate::wire::{pack_u32, unpack_f32, unpack_u32, unpack_u64};
use crate::{Error, Result, TOKEN_KEY};

/// Deadlines and retries of every call.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Deadline of one attempt (also sent to the server as `grpc-timeout`).
    pub deadline: Duration,
    /// Attempts per call; only `UNAVAILABLE`, `DEADLINE_EXCEEDED`,
    /// `CANCELLED`, a broken connection and a missed deadline are retried
    /// (every call is idempotent); any other status is reported at once.
    pub attempts: u32,
    /// First wait between attempts; doubled each time, with ±50% jitter.
    pub backoff: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    /// At most 3 × 2 s + 0.1 + 0.2 s ≈ 6.3 s before a dead server is
    /// reported (graph-learn's defaults take up to ~27 minutes).
    fn default() -> Self {
        ClientOptions { deadline: Duration::from_secs(2), attempts: 3, backoff: Duration::from_millis(100), connect_timeout: Duration::from_secs(1) }
    }
}

/// HTTP/2 flow-control window of clients and servers.
pub(crate) const WINDOW: u32 = 32 << 20;

/// Largest HTTP/2 frame clients and servers accept: an answer of a hop is
/// hundreds of kilobytes, which HTTP/2's default 16 KiB frames cut into
/// dozens of frames and writes.
pub(crate) const FRAME: u32 = 1 << 20;

#[derive(Clone)]
struct Server {
    part: usize,
    addr: String,
    client: GraphServerClient<Channel>,
}

/// A graph spread over the servers of a partition book (see the crate
/// docs). Calls block the calling thread; do not call it from inside a
/// tokio runtime.
pub struct RemoteGraph {
    rt: tokio::runtime::Runtime,
    servers: Vec<Server>,
    book: Book,
    token: String,
    opts: ClientOptions,
    traffic: [AtomicU64; 6],
    /// Importance caches, one per relation at most.
    caches: RwLock<Vec<Arc<RowCache>>>,
}

/// What a [`RemoteGraph`] has sent and received so far: batched calls
/// (one per hop of a sampler), requests (one per owning server per call),
/// and the protobuf-encoded bytes of the requests and the answers (without
/// HTTP/2 and TLS framing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Batched calls (sample or degrees of one frontier).
    pub calls: u64,
    /// Requests sent (at most one per server per call).
    pub requests: u64,
    /// Request bytes.
    pub sent: u64,
    /// Answer bytes.
    pub received: u64,
    /// Node rows sampled by the servers (one per node of each sample request).
    pub rows: u64,
    /// Node rows sampled from the importance cache instead (no request).
    pub cached: u64,
}

impl Traffic {
    /// What was sent and received between `before` and `self`.
    pub fn since(&self, before: &Traffic) -> Traffic {
        Traffic {
            calls: self.calls - before.calls,
            requests: self.requests - before.requests,
            sent: self.sent - before.sent,
            received: self.received - before.received,
            rows: self.rows - before.rows,
            cached: self.cached - before.cached,
        }
    }
}

/// How much of a graph the importance cache holds (see
/// [`RemoteGraph::cache`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheOptions {
    /// Share of the relation's nodes whose rows may be cached (0 to 1).
    pub fraction: f64,
    /// Least importance `D_against / D_along` of a cached node (AliGraph's
    /// τ; 0.2 in the paper).
    pub tau: f64,
}

/// What an importance cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheStats {
    /// Nodes whose rows are cached.
    pub nodes: usize,
    /// Nodes at or above τ (the cache holds the most important of them).
    pub eligible: usize,
    /// Neighbour ids held.
    pub entries: usize,
    /// Bytes held.
    pub bytes: usize,
}

impl std::fmt::Debug for RemoteGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<&str> = self.servers.iter().map(|s| s.addr.as_str()).collect();
        f.debug_struct("RemoteGraph").field("servers", &addrs).field("parts", &self.book.parts).finish()
    }
}

/// One partition's share of a batch: its nodes and their positions in the batch.
type PartBatch = (Vec<u32>, Vec<u32>);

/// A batch split by owner: per partition its share; the owner of each node
/// ([`CACHED`] for cached ones); the cached nodes' rows and positions.
type Split = (Vec<PartBatch>, Vec<u16>, Option<(Vec<u32>, Vec<u32>)>);

/// The owner recorded for a node answered from the cache.
const CACHED: u16 = u16::MAX;

/// Nodes per request while a cache is built.
const CACHE_CHUNK: usize = 1 << 18;

/// The wire name and time of a strategy.
fn strategy_wire(s: Strategy) -> (&'static str, i64) {
    match s {
        Strategy::Random => ("random", 0),
        Strategy::RandomWithoutReplacement => ("random_without_replacement", 0),
        Strategy::Full => ("full", 0),
        Strategy::EdgeWeight => ("edge_weight", 0),
        Strategy::TopK => ("topk", 0),
        Strategy::InDegree => ("in_degree", 0),
        Strategy::Before(t) => ("before", t),
        Strategy::MostRecent(t) => ("most_recent", t),
    }
}

/// Whether a failed call may be tried again: the server was unreachable or
/// late, or the connection broke under the call (a transport error, which
/// tonic reports as `UNKNOWN` with the I/O error as its source; a status a
/// server sends has no source).
fn retryable(s: &Status) -> bool {
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => true,
        Code::Unknown => std::error::Error::source(s).is_some(),
        _ => false,
    }
}

/// One call with the deadline, the token and the retries of `opts`.
async fn call<M, R, F, Fut>(server: Server, token: String, opts: ClientOptions, msg: M, f: F) -> Result<R>
where
    M: Clone,
    F: Fn(GraphServerClient<Channel>, Request<M>) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<Response<R>, Status>>,
{
    let start = Instant::now();
    let bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii> =
        format!("Bearer {token}").parse().map_err(|_| Error::Config("the token must be printable ASCII".into()))?;
    let mut last = String::new();
    for attempt in 1..=opts.attempts.max(1) {
        let mut req = Request::new(msg.clone());
        req.set_timeout(opts.deadline);
        req.metadata_mut().insert(TOKEN_KEY, bearer.clone());
        match tokio::time::timeout(opts.deadline, f(server.client.clone(), req)).await {
            Ok(Ok(r)) => return Ok(r.into_inner()),
            Ok(Err(s)) if retryable(&s) => last = format!("{:?}: {}", s.code(), s.message()),
            Ok(Err(s)) => {
                return Err(Error::Refused { part: server.part, addr: server.addr.clone(), message: format!("{:?}: {}", s.code(), s.message()) });
            }
            Err(_) => last = format!("no answer within {} ms", opts.deadline.as_millis()),
        }
        if attempt < opts.attempts {
            let jitter = 0.5 + (derive(server.part as u64, u64::from(attempt)) >> 11) as f64 / (1u64 << 53) as f64;
            tokio::time::sleep(opts.backoff.mul_f64(f64::from(1u32 << (attempt - 1).min(16)) * jitter)).await;
        }
    }
    Err(Error::Unavailable {
        part: server.part,
        addr: server.addr.clone(),
        attempts: opts.attempts.max(1),
        elapsed_ms: start.elapsed().as_millis(),
        last,
    })
}

impl RemoteGraph {
    /// Connects to one server per partition of the book in `book_dir`
    /// (`addrs[p]` serves partition `p`) and checks each: it must serve that
    /// partition of this book over the same snapshot, or the connect fails
    /// naming what differs.
    pub fn connect(book_dir: &Path, addrs: &[String], token: &str, opts: ClientOptions) -> Result<RemoteGraph> {
        let book = ferrograph_partition::read_book(book_dir)?;
        if book.parts >= usize::from(CACHED) {
            return Err(Error::Config(format!(
                "the book in {} has {} partitions; at most {} are served",
                book_dir.display(),
                book.parts,
                CACHED - 1
            )));
        }
        if addrs.len() != book.parts {
            return Err(Error::Config(format!("{} server addresses for the {} partitions of {}", addrs.len(), book.parts, book_dir.display())));
        }
        // Driven by the calling thread inside `block_on`: no hand-off to a
        // worker thread and back on every hop (on a VM, waking an idle vCPU
        // costs tens of microseconds each time).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Io { what: "starting the client runtime".into(), source: e })?;
        let mut servers = Vec::with_capacity(addrs.len());
        for (part, addr) in addrs.iter().enumerate() {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| Error::Config(format!("server address `{addr}` of partition {part}: {e}")))?
                .connect_timeout(opts.connect_timeout)
                // Answers of a hop run to megabytes: HTTP/2's default 64 KiB
                // windows would cost a round trip per 64 KiB.
                .initial_stream_window_size(WINDOW)
                .initial_connection_window_size(WINDOW)
                .max_frame_size(FRAME)
                .tcp_nodelay(true);
            let channel = {
                let _guard = rt.enter();
                endpoint.connect_lazy()
            };
            let client = GraphServerClient::new(channel).max_decoding_message_size(1 << 30).max_encoding_message_size(256 << 20);
            servers.push(Server { part, addr: addr.clone(), client });
        }
        let g = RemoteGraph { rt, servers, book, token: token.to_string(), opts, traffic: Default::default(), caches: RwLock::new(Vec::new()) };
        for part in 0..g.servers.len() {
            let info = g.info(part)?;
            let s = &g.servers[part];
            let mismatch = |message: String| Error::Mismatch { part, addr: s.addr.clone(), message };
            if info.part as usize != part || info.parts as usize != g.book.parts {
                return Err(mismatch(format!("the server serves partition {} of {}, not {part} of {}", info.part, info.parts, g.book.parts)));
            }
            if info.snapshot_xxh3 != g.book.snapshot_xxh3 || info.assignment_xxh3 != g.book.assignment_xxh3 {
                return Err(mismatch(format!(
                    "the server's snapshot/book ({} / {}) are not this book's ({} / {})",
                    info.snapshot_xxh3, info.assignment_xxh3, g.book.snapshot_xxh3, g.book.assignment_xxh3
                )));
            }
        }
        Ok(g)
    }

    /// The info call of partition `part` (counters included).
    pub fn info(&self, part: usize) -> Result<InfoReply> {
        let s = self.servers.get(part).cloned().ok_or_else(|| Error::Config(format!("no partition {part}")))?;
        self.rt.block_on(call(s, self.token.clone(), self.opts, InfoRequest {}, |mut c, r| async move { c.info(r).await }))
    }

    /// Calls, requests and bytes so far.
    pub fn traffic(&self) -> Traffic {
        let t = |i: usize| self.traffic[i].load(Ordering::Relaxed);
        Traffic { calls: t(0), requests: t(1), sent: t(2), received: t(3), rows: t(4), cached: t(5) }
    }

    /// The partition book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// Groups `nodes` (of type `from`) by owner: per partition, the nodes
    /// and their positions in `nodes`; the owner of each node ([`CACHED`]
    /// for a node `cache` holds); and the cached nodes' slots and positions.
    fn split(&self, from: NodeTypeId, nodes: &[u32], cache: Option<&RowCache>) -> ferrograph_sample::Result<Split> {
        if u32::try_from(nodes.len()).is_err() {
            return Err(ferrograph_sample::Error::TooLarge { what: format!("a batch of {} nodes", nodes.len()), limit: u64::from(u32::MAX) });
        }
        let mut owners = Vec::with_capacity(nodes.len());
        self.book
            .owners(from.0 as usize, nodes, &mut owners)
            .map_err(|v| ferrograph_sample::Error::Invalid(format!("node {v} is outside 0..{}", self.node_count(from))))?;
        let mut by = vec![(Vec::new(), Vec::new()); self.book.parts];
        let mut hits = cache.map(|_| (Vec::new(), Vec::new()));
        if self.book.parts == 1 && cache.is_none() {
            by[0] = (nodes.to_vec(), (0..nodes.len() as u32).collect());
        } else {
            for (i, (&v, p)) in nodes.iter().zip(owners.iter_mut()).enumerate() {
                if let (Some(c), Some((slots, at))) = (cache, hits.as_mut())
                    && let Some(slot) = c.slot(v)
                {
                    slots.push(slot);
                    at.push(i as u32);
                    *p = CACHED;
                    continue;
                }
                by[usize::from(*p)].0.push(v);
                by[usize::from(*p)].1.push(i as u32);
            }
        }
        Ok((by, owners, hits))
    }

    /// The importance cache of `rel`, if one was built.
    fn cache_of(&self, rel: Relation) -> Option<Arc<RowCache>> {
        self.caches.read().ok()?.iter().find(|c| c.relation() == rel).cloned()
    }

    /// Builds AliGraph's importance cache for `rel` (see
    /// [`ferrograph_sample::cache`]): the degrees of every node along and
    /// against `rel` (batched degree calls), then the `Full` rows of the
    /// `fraction` most important nodes at or above `tau` (batched sample
    /// calls). From then on, hops along `rel` with a strategy that reads
    /// only rows (`random`, `random_without_replacement`, `full`) sample
    /// cached nodes in process; samples are identical with and without it.
    /// Building it again replaces it.
    pub fn cache(&self, rel: Relation, opts: CacheOptions) -> Result<CacheStats> {
        if !(opts.fraction.is_finite() && (0.0..=1.0).contains(&opts.fraction)) {
            return Err(Error::Config(format!("cache fraction {} is not between 0 and 1", opts.fraction)));
        }
        if rel.from != rel.to {
            return Err(Error::Config(
                "the importance cache needs a relation between nodes of one type (importance counts how often a hop reaches a node)".into(),
            ));
        }
        let n = self.node_count(rel.from);
        let back = Relation { direction: if rel.direction == Direction::Out { Direction::In } else { Direction::Out }, ..rel };
        let (mut along, mut against) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let all: Vec<u32> = (0..n as u32).collect();
        let sample_err = |e: ferrograph_sample::Error| match e {
            ferrograph_sample::Error::Remote(e) => match e.downcast::<Error>() {
                Ok(e) => *e,
                Err(e) => Error::Config(e.to_string()),
            },
            e => Error::Sample(e),
        };
        for chunk in all.chunks(CACHE_CHUNK) {
            self.degrees(rel, chunk, &mut along).map_err(sample_err)?;
            self.degrees(back, chunk, &mut against).map_err(sample_err)?;
        }
        let budget = (opts.fraction * n as f64).floor() as usize;
        let ranked = ferrograph_sample::cache::choose(&along, &against, opts.tau)?;
        let mut chosen = ranked[..budget.min(ranked.len())].to_vec();
        chosen.sort_unstable();
        let mut rows = Sampled::default();
        let mut start = 0;
        while start < chosen.len() {
            // Chunks of at most CACHE_CHUNK nodes and 2^24 neighbour ids.
            let (mut end, mut ids) = (start, 0u64);
            while end < chosen.len() && end - start < CACHE_CHUNK && (end == start || ids + along[chosen[end] as usize] <= 1 << 24) {
                ids += along[chosen[end] as usize];
                end += 1;
            }
            self.sample_neighbors(rel, &chosen[start..end], 0, Strategy::Full, 0, &mut rows).map_err(sample_err)?;
            start = end;
        }
        let cache = RowCache::new(rel, n, &chosen, rows)?;
        let stats = CacheStats { nodes: cache.nodes(), eligible: ranked.len(), entries: cache.entries(), bytes: cache.bytes() };
        let mut caches = self.caches.write().map_err(|_| Error::Config("the cache lock was poisoned".into()))?;
        caches.retain(|c| c.relation() != rel);
        caches.push(Arc::new(cache));
        Ok(stats)
    }

    /// One request per partition that has nodes in `by` (made by `msg`),
    /// all in flight at once; the answers by partition.
    fn fan_out<M, R, F, Fut>(&self, by: &[PartBatch], msg: impl Fn(&[u32], &[u32]) -> M, f: F) -> ferrograph_sample::Result<Vec<Option<R>>>
    where
        M: prost::Message + Clone + Send + 'static,
        R: prost::Message + Send + 'static,
        F: Fn(GraphServerClient<Channel>, Request<M>) -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = std::result::Result<Response<R>, Status>> + Send,
    {
        self.rt
            .block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for (part, (ns, streams)) in by.iter().enumerate() {
                    if ns.is_empty() {
                        continue;
                    }
                    let (s, token, opts, m, f) = (self.servers[part].clone(), self.token.clone(), self.opts, msg(ns, streams), f.clone());
                    self.traffic[1].fetch_add(1, Ordering::Relaxed);
                    self.traffic[2].fetch_add(m.encoded_len() as u64, Ordering::Relaxed);
                    tasks.spawn(async move { (part, call(s, token, opts, m, f).await) });
                }
                let mut replies: Vec<Option<R>> = (0..by.len()).map(|_| None).collect();
                while let Some(done) = tasks.join_next().await {
                    let (part, r) = done.map_err(|e| Error::Config(format!("a request task failed: {e}")))?;
                    let r = r?;
                    self.traffic[3].fetch_add(r.encoded_len() as u64, Ordering::Relaxed);
                    replies[part] = Some(r);
                }
                self.traffic[0].fetch_add(1, Ordering::Relaxed);
                Ok::<_, Error>(replies)
            })
            .map_err(Self::remote_error)
    }

    fn malformed(&self, part: usize, what: &str) -> ferrograph_sample::Error {
        Self::remote_error(Error::Refused { part, addr: self.servers[part].addr.clone(), message: format!("a malformed answer ({what})") })
    }

    fn remote_error(e: Error) -> ferrograph_sample::Error {
        ferrograph_sample::Error::Remote(Box::new(e))
    }
}

fn wire_relation(rel: Relation) -> (u32, bool) {
    (u32::from(rel.edge_type.0), rel.direction == Direction::In)
}

impl NeighborAccess for RemoteGraph {
    fn node_count(&self, t: NodeTypeId) -> usize {
        self.book.node_types.get(t.0 as usize).map_or(0, |t| t.count as usize)
    }

    fn sample_neighbors(
        &self,
        rel: Relation,
        nodes: &[u32],
        k: usize,
        strategy: Strategy,
        seed: u64,
        out: &mut Sampled,
    ) -> ferrograph_sample::Result<()> {
        let cache = if RowCache::serves(strategy) { self.cache_of(rel) } else { None };
        let (by, owners, hits) = self.split(rel.from, nodes, cache.as_deref())?;
        let (edge_type, reverse) = wire_relation(rel);
        let (name, time) = strategy_wire(strategy);
        let k = u32::try_from(k).map_err(|_| ferrograph_sample::Error::Invalid(format!("fan-out {k} is too large")))?;
        let replies = self.fan_out(
            &by,
            |ns, streams| SampleRequest { edge_type, reverse, nodes: pack_u32(ns), streams: pack_u32(streams), k, strategy: name.into(), time, seed },
            |mut c, r| async move { c.sample(r).await },
        )?;
        let mut answers: Vec<Option<Sampled>> = Vec::with_capacity(by.len());
        for (part, (ns, _)) in by.iter().enumerate() {
            let Some(r) = &replies[part] else {
                answers.push(None);
                continue;
            };
            let offsets = unpack_u32(&r.offsets, "offsets").map_err(|e| self.malformed(part, &e))?;
            let neighbors = unpack_u32(&r.neighbors, "neighbors").map_err(|e| self.malformed(part, &e))?;
            let ok = offsets.len() == ns.len() + 1
                && offsets.windows(2).all(|w| w[0] <= w[1])
                && offsets.last().is_some_and(|&l| l as usize == neighbors.len());
            if !ok {
                return Err(self.malformed(part, "offsets do not match the nodes"));
            }
            answers.push(Some(Sampled { offsets, neighbors }));
        }
        // The cached nodes, sampled here with their positions in the batch
        // as streams: the last "partition".
        match (&cache, hits) {
            (Some(c), Some((slots, streams))) if !slots.is_empty() => {
                let mut got = Sampled::default();
                let streams: Vec<u64> = streams.iter().map(|&s| u64::from(s)).collect();
                c.sample(&slots, &streams, k as usize, strategy, seed, &mut got)?;
                self.traffic[5].fetch_add(slots.len() as u64, Ordering::Relaxed);
                answers.push(Some(got));
            }
            _ => answers.push(None),
        }
        self.traffic[4].fetch_add(by.iter().map(|b| b.0.len() as u64).sum(), Ordering::Relaxed);
        if out.offsets.is_empty() {
            out.offsets.push(out.neighbors.len() as u32);
        }
        let total = out.neighbors.len() as u64 + answers.iter().flatten().map(|r| r.neighbors.len() as u64).sum::<u64>();
        if total > u64::from(u32::MAX) {
            return Err(ferrograph_sample::Error::TooLarge { what: format!("{total} neighbour ids in one answer"), limit: u64::from(u32::MAX) });
        }
        if let Some(r) = answers.iter().flatten().find(|r| r.offsets.len() == nodes.len() + 1) {
            // One partition owns the whole batch: its answer is in order.
            let base = out.neighbors.len() as u32;
            out.neighbors.extend_from_slice(&r.neighbors);
            out.offsets.extend(r.offsets[1..].iter().map(|&o| base + o));
        } else {
            let mut next = vec![0usize; answers.len()];
            for &p in &owners {
                let p = if p == CACHED { by.len() } else { usize::from(p) };
                let r = answers[p].as_ref().expect("a reply for every partition with nodes");
                let j = next[p];
                next[p] += 1;
                out.neighbors.extend_from_slice(&r.neighbors[r.offsets[j] as usize..r.offsets[j + 1] as usize]);
                out.offsets.push(out.neighbors.len() as u32);
            }
        }
        Ok(())
    }

    fn degrees(&self, rel: Relation, nodes: &[u32], out: &mut Vec<u64>) -> ferrograph_sample::Result<()> {
        let (by, owners, _) = self.split(rel.from, nodes, None)?;
        let (edge_type, reverse) = wire_relation(rel);
        let replies =
            self.fan_out(&by, |ns, _| DegreesRequest { edge_type, reverse, nodes: pack_u32(ns) }, |mut c, r| async move { c.degrees(r).await })?;
        let mut answers: Vec<Vec<u64>> = Vec::with_capacity(by.len());
        for (part, (ns, _)) in by.iter().enumerate() {
            let d = match &replies[part] {
                Some(r) => unpack_u64(&r.degrees, "degrees").map_err(|e| self.malformed(part, &e))?,
                None => Vec::new(),
            };
            if d.len() != ns.len() {
                return Err(self.malformed(part, "one degree per node expected"));
            }
            answers.push(d);
        }
        let mut next = vec![0usize; by.len()];
        for &p in &owners {
            let p = usize::from(p);
            out.push(answers[p][next[p]]);
            next[p] += 1;
        }
        Ok(())
    }
}

impl FeatureAccess for RemoteGraph {
    /// One gather request per server that owns some of `nodes`, all in
    /// flight at once; rows stitched back in the order of `nodes`.
    fn gather(&self, node_type: NodeTypeId, column: &str, nodes: &[u32], out: &mut Vec<f32>) -> ferrograph_sample::Result<usize> {
        let (by, owners, _) = self.split(node_type, nodes, None)?;
        let replies = self.fan_out(
            &by,
            |ns, _| GatherRequest { node_type: u32::from(node_type.0), column: column.to_string(), nodes: pack_u32(ns) },
            |mut c, r| async move { c.gather(r).await },
        )?;
        let mut dim = None;
        let mut rows: Vec<Vec<f32>> = Vec::with_capacity(by.len());
        for (part, (ns, _)) in by.iter().enumerate() {
            let Some(r) = &replies[part] else {
                rows.push(Vec::new());
                continue;
            };
            let values = unpack_f32(&r.values, "values").map_err(|e| self.malformed(part, &e))?;
            let d = r.dim as usize;
            if values.len() != ns.len() * d || dim.is_some_and(|x| x != d) {
                return Err(self.malformed(part, "rows do not match the nodes and the width"));
            }
            dim = Some(d);
            rows.push(values);
        }
        out.clear();
        let Some(dim) = dim else {
            // No nodes: the width is not known without asking.
            return Ok(0);
        };
        out.reserve(nodes.len() * dim);
        let mut next = vec![0usize; by.len()];
        for &p in &owners {
            let p = usize::from(p);
            out.extend_from_slice(&rows[p][next[p] * dim..(next[p] + 1) * dim]);
            next[p] += 1;
        }
        Ok(dim)
    }
}
