//! A graph server: one partition of a partition book over the snapshot.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ferrograph_graph::{Direction, EdgeTypeId, Graph, NodeTypeId};
use ferrograph_partition::Book;
use ferrograph_sample::{LocalGraph, NeighborAccess, Relation, Sampled, Strategy};
use tonic::{Request, Response, Status};

use crate::proto::graph_server_server::{GraphServer, GraphServerServer};
use crate::proto::{DegreesReply, DegreesRequest, GatherReply, GatherRequest, InfoReply, InfoRequest, SampleReply, SampleRequest};
use crate::wire::{count_u32, pack_f32, pack_u32, pack_u64, unpack_u32};
use crate::{Error, Result, TOKEN_KEY};

/// Bounds on one request; a request past them is refused with
/// `RESOURCE_EXHAUSTED` naming the bound, before any work.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Nodes in one request.
    pub max_nodes: usize,
    /// Fan-out `k`.
    pub max_fanout: usize,
    /// Neighbour ids (or feature values) one answer may hold.
    pub max_neighbors: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits { max_nodes: 1 << 20, max_fanout: 10_000, max_neighbors: 1 << 26 }
    }
}

struct Service {
    graph: &'static Graph,
    local: LocalGraph<'static>,
    book: Book,
    part: u16,
    token: String,
    limits: ServerLimits,
    requests: AtomicU64,
    nodes: AtomicU64,
}

/// The strategy of a request.
pub(crate) fn strategy(name: &str, time: i64) -> std::result::Result<Strategy, String> {
    Ok(match name {
        "before" => Strategy::Before(time),
        "most_recent" => Strategy::MostRecent(time),
        other => Strategy::parse(other).ok_or_else(|| format!("unknown strategy `{other}`"))?,
    })
}

impl Service {
    fn check_token<T>(&self, req: &Request<T>) -> std::result::Result<(), Status> {
        let want = format!("Bearer {}", self.token);
        match req.metadata().get(TOKEN_KEY).and_then(|v| v.to_str().ok()) {
            Some(got) if got == want => Ok(()),
            Some(_) => Err(Status::unauthenticated("the token does not match this server's")),
            None => Err(Status::unauthenticated("no token: send `authorization: Bearer <token>`")),
        }
    }

    /// The relation of a request, built from the edge type's endpoints (not
    /// resolved by name: an undirected type's two names may coincide).
    fn relation(&self, edge_type: u32, reverse: bool) -> std::result::Result<Relation, Status> {
        let schema = self.graph.schema();
        let et = schema
            .edge_types
            .get(edge_type as usize)
            .ok_or_else(|| Status::invalid_argument(format!("edge type {edge_type} is not one of the {} of this graph", schema.edge_types.len())))?;
        let ty = |name: &str| schema.node_type(name).map_err(|e| Status::internal(e.to_string()));
        let (src, dst) = (ty(&et.src)?, ty(&et.dst)?);
        let (direction, from, to) = if reverse { (Direction::In, dst, src) } else { (Direction::Out, src, dst) };
        Ok(Relation { edge_type: EdgeTypeId(edge_type as u16), direction, from, to })
    }

    /// Refuses a request of more than `max_nodes` nodes, before decoding it.
    fn check_size(&self, nodes: usize) -> std::result::Result<(), Status> {
        if nodes > self.limits.max_nodes {
            return Err(Status::resource_exhausted(format!("{nodes} nodes in one request; this server takes at most {}", self.limits.max_nodes)));
        }
        Ok(())
    }

    fn check_nodes(&self, from: NodeTypeId, nodes: &[u32]) -> std::result::Result<(), Status> {
        let mut owners = Vec::new();
        self.book
            .owners(from.0 as usize, nodes, &mut owners)
            .map_err(|v| Status::invalid_argument(format!("node {v} is outside its type's {} nodes", self.graph.node_count(from))))?;
        if let Some(i) = owners.iter().position(|&p| p != self.part) {
            return Err(Status::failed_precondition(format!(
                "node {} belongs to partition {}, not this server's {}",
                nodes[i], owners[i], self.part
            )));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.nodes.fetch_add(nodes.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

#[tonic::async_trait]
impl GraphServer for &'static Service {
    async fn info(&self, req: Request<InfoRequest>) -> std::result::Result<Response<InfoReply>, Status> {
        self.check_token(&req)?;
        Ok(Response::new(InfoReply {
            part: u32::from(self.part),
            parts: self.book.parts as u32,
            snapshot_xxh3: self.book.snapshot_xxh3.clone(),
            assignment_xxh3: self.book.assignment_xxh3.clone(),
            requests: self.requests.load(Ordering::Relaxed),
            nodes: self.nodes.load(Ordering::Relaxed),
        }))
    }

    async fn sample(&self, req: Request<SampleRequest>) -> std::result::Result<Response<SampleReply>, Status> {
        self.check_token(&req)?;
        let r = req.into_inner();
        let rel = self.relation(r.edge_type, r.reverse)?;
        let strategy = strategy(&r.strategy, r.time).map_err(Status::invalid_argument)?;
        let k = r.k as usize;
        if k > self.limits.max_fanout {
            return Err(Status::resource_exhausted(format!("fan-out {k}; this server allows at most {}", self.limits.max_fanout)));
        }
        self.check_size(count_u32(&r.nodes))?;
        let nodes = unpack_u32(&r.nodes, "nodes").map_err(Status::invalid_argument)?;
        let streams: Vec<u64> = unpack_u32(&r.streams, "streams").map_err(Status::invalid_argument)?.into_iter().map(u64::from).collect();
        if streams.len() != nodes.len() {
            return Err(Status::invalid_argument(format!("{} stream indices for {} nodes", streams.len(), nodes.len())));
        }
        self.check_nodes(rel.from, &nodes)?;
        let bound = if strategy == Strategy::Full {
            let mut d = Vec::new();
            self.local.degrees(rel, &nodes, &mut d).map_err(|e| Status::invalid_argument(e.to_string()))?;
            d.iter().sum::<u64>()
        } else {
            nodes.len() as u64 * k as u64
        };
        if bound > self.limits.max_neighbors {
            return Err(Status::resource_exhausted(format!(
                "the answer could hold {bound} neighbour ids; this server returns at most {}",
                self.limits.max_neighbors
            )));
        }
        let local = &self.local;
        let work = move || {
            let mut out = Sampled::default();
            local
                .sample_streams(rel, &nodes, Some(&streams), k, strategy, r.seed, &mut out)
                .map(|()| SampleReply { offsets: pack_u32(&out.offsets), neighbors: pack_u32(&out.neighbors) })
                .map_err(|e| Status::invalid_argument(e.to_string()))
        };
        let reply = answer(bound, work).await?;
        Ok(Response::new(reply))
    }

    async fn gather(&self, req: Request<GatherRequest>) -> std::result::Result<Response<GatherReply>, Status> {
        self.check_token(&req)?;
        let r = req.into_inner();
        let schema = self.graph.schema();
        if r.node_type as usize >= schema.node_types.len() {
            return Err(Status::invalid_argument(format!("node type {} is not one of the {} of this graph", r.node_type, schema.node_types.len())));
        }
        let ty = NodeTypeId(r.node_type as u16);
        let column = self.graph.node_column(ty, &r.column).map_err(|e| Status::not_found(e.to_string()))?;
        let dim = ferrograph_sample::features::width(column);
        if dim == 0 {
            return Err(Status::invalid_argument(format!("column `{}` is {}, not numeric features", r.column, column.kind().describe())));
        }
        self.check_size(count_u32(&r.nodes))?;
        let nodes = unpack_u32(&r.nodes, "nodes").map_err(Status::invalid_argument)?;
        let values = nodes.len() as u64 * dim as u64;
        if values > self.limits.max_neighbors {
            return Err(Status::resource_exhausted(format!(
                "{} rows of width {dim} are {values} values; this server returns at most {}",
                nodes.len(),
                self.limits.max_neighbors
            )));
        }
        self.check_nodes(ty, &nodes)?;
        let work = move || {
            let mut out = Vec::new();
            ferrograph_sample::features::gather(column, &nodes, &mut out)
                .map(|dim| GatherReply { dim: dim as u32, values: pack_f32(&out) })
                .map_err(|e| Status::invalid_argument(e.to_string()))
        };
        let reply = answer(values, work).await?;
        Ok(Response::new(reply))
    }

    async fn degrees(&self, req: Request<DegreesRequest>) -> std::result::Result<Response<DegreesReply>, Status> {
        self.check_token(&req)?;
        let r = req.into_inner();
        let rel = self.relation(r.edge_type, r.reverse)?;
        self.check_size(count_u32(&r.nodes))?;
        let nodes = unpack_u32(&r.nodes, "nodes").map_err(Status::invalid_argument)?;
        self.check_nodes(rel.from, &nodes)?;
        let mut degrees = Vec::with_capacity(nodes.len());
        self.local.degrees(rel, &nodes, &mut degrees).map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(DegreesReply { degrees: pack_u64(&degrees) }))
    }
}

/// Largest answer (in ids or values) computed on the server's I/O thread.
const INLINE: u64 = 1 << 20;

/// Runs `work`, whose answer holds up to `size` ids or values: a small one
/// on the I/O thread (handing it to another thread would cost more than
/// the work), a large one on the rayon pool so the runtime keeps answering
/// other calls.
async fn answer<T: Send + 'static>(
    size: u64,
    work: impl FnOnce() -> std::result::Result<T, Status> + Send + 'static,
) -> std::result::Result<T, Status> {
    if size <= INLINE {
        return work();
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(work());
    });
    rx.await.map_err(|_| Status::internal("the worker ended without an answer"))?
}

/// Serves partition `part` of the book in `book_dir` over the snapshot in
/// `snapshot` on `listen` until the process ends. The snapshot is
/// memory-mapped; only the rows of owned nodes are read. Once listening, the
/// bound address is written (atomically) to `ready_file` if given, so that
/// a launcher that asked for port 0 learns the port.
pub fn serve(
    snapshot: &Path,
    book_dir: &Path,
    part: usize,
    listen: &str,
    ready_file: Option<&Path>,
    token: &str,
    limits: ServerLimits,
) -> Result<()> {
    if token.is_empty() {
        return Err(Error::Config("the token is empty: every call must carry a shared secret".into()));
    }
    let book = ferrograph_partition::read_book(book_dir)?;
    if part >= book.parts {
        return Err(Error::Config(format!("--part {part}: the book in {} has partitions 0..{}", book_dir.display(), book.parts)));
    }
    let fp = ferrograph_partition::book::snapshot_fingerprint(snapshot)?;
    if fp != book.snapshot_xxh3 {
        return Err(Error::Config(format!(
            "the book in {} was made from another snapshot (manifest xxh3 {}, {} has {fp})",
            book_dir.display(),
            book.snapshot_xxh3,
            snapshot.display()
        )));
    }
    let snap = ferrograph_graph::snapshot::open(snapshot)?;
    let graph: &'static Graph = Box::leak(Box::new(snap.graph));
    let service: &'static Service = Box::leak(Box::new(Service {
        graph,
        local: LocalGraph::new(graph),
        book,
        part: part as u16,
        token: token.to_string(),
        limits,
        requests: AtomicU64::new(0),
        nodes: AtomicU64::new(0),
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Io { what: "starting the server runtime".into(), source: e })?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| Error::Io { what: format!("listening on {listen}"), source: e })?;
        let addr = listener.local_addr().map_err(|e| Error::Io { what: "reading the bound address".into(), source: e })?;
        if let Some(f) = ready_file {
            ferrograph_graph::atomic::write_file(f, addr.to_string().as_bytes())?;
        }
        tracing::info!(part, %addr, "graph server listening");
        tonic::transport::Server::builder()
            .initial_stream_window_size(crate::remote::WINDOW)
            .initial_connection_window_size(crate::remote::WINDOW)
            .max_frame_size(crate::remote::FRAME)
            .add_service(GraphServerServer::new(service).max_decoding_message_size(256 << 20).max_encoding_message_size(1 << 30))
            // Accepted sockets without Nagle: small answers must not wait
            // for the peer's delayed ACK (40 ms a request otherwise).
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
            .map_err(|e| Error::Config(format!("the server on {addr} stopped: {e}")))
    })
}
