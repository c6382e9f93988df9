//! The `ferrograph._native` extension module: a thin PyO3 layer over the
//! Rust crates (the Python package `ferrograph` wraps it).
//!
//! - [`Graph`]: a memory-mapped snapshot; its arrays (node sets, CSR,
//!   feature columns) come out as read-only NumPy views whose base object is
//!   the graph, so they keep the mapping alive and copy nothing.
//! - [`NeighborSampler`], [`Dataset`] (the query language, batch after
//!   batch), random walks, negatives and feature gathering: each call copies
//!   its inputs, releases the GIL (`Python::detach`) and runs on the
//!   module's own rayon pool ([`pool`]), which is rebuilt in a forked child
//!   instead of being inherited half-alive.
//! - Errors: unknown names raise `KeyError`, ids out of range `IndexError`,
//!   every other problem `ValueError`, with the CLI's messages (did-you-mean
//!   included). A panic inside Rust is caught and raised as `RuntimeError`;
//!   no `PanicException` reaches Python.
#![warn(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ferrograph_graph::LocalIdx;
use ferrograph_graph::column::Column;
use ferrograph_graph::idmap::{ExternalId, NodeIds};
use ferrograph_graph::snapshot::{self, Snapshot};
use ferrograph_query::{Limits, Plan, PlanBatches, SourceBatch};
use ferrograph_sample::negative::{NegativeSampler, NegativeStrategy};
use ferrograph_sample::neighbor::HopSpec;
use ferrograph_sample::walk::{PAD, Walker};
use ferrograph_sample::{LocalGraph, Relation, Strategy};
use numpy::ndarray::{ArrayView1, ArrayView2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyIndexError, PyKeyError, PyOverflowError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

/// A problem, kept as plain data until it is raised (it crosses the
/// GIL-free section, where no Python object may be made).
enum Problem {
    Key(String),
    Index(String),
    Value(String),
    Internal(String),
}

impl From<Problem> for PyErr {
    fn from(p: Problem) -> PyErr {
        match p {
            Problem::Key(m) => PyKeyError::new_err(m),
            Problem::Index(m) => PyIndexError::new_err(m),
            Problem::Value(m) => PyValueError::new_err(m),
            Problem::Internal(m) => PyRuntimeError::new_err(format!("internal error in ferrograph (please report it): {m}")),
        }
    }
}

impl From<ferrograph_graph::Error> for Problem {
    fn from(e: ferrograph_graph::Error) -> Problem {
        match e {
            e @ ferrograph_graph::Error::Unknown { .. } => Problem::Key(e.to_string()),
            e => Problem::Value(e.to_string()),
        }
    }
}

impl From<ferrograph_sample::Error> for Problem {
    fn from(e: ferrograph_sample::Error) -> Problem {
        match e {
            ferrograph_sample::Error::Graph(g) => g.into(),
            e => Problem::Value(e.to_string()),
        }
    }
}

impl From<ferrograph_io::Error> for Problem {
    fn from(e: ferrograph_io::Error) -> Problem {
        Problem::Value(e.to_string())
    }
}

/// A query error, worded as the CLI words it.
fn query_problem(e: ferrograph_query::Error) -> Problem {
    Problem::Value(format!("query {e}"))
}

type Res<T> = Result<T, Problem>;

mod recycle;
use recycle::{Block, Ids};

/// The module's rayon pool and the process it was built in: a forked child
/// (a DataLoader worker) finds another pid and builds its own, one thread
/// unless told otherwise, instead of using the parent's, whose threads do
/// not exist in the child.
struct Pool {
    pid: u32,
    pool: Arc<rayon::ThreadPool>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
/// Threads asked for with `set_num_threads` (0: the default).
static THREADS: Mutex<(u32, usize)> = Mutex::new((0, 0));
/// The pid that first used the module; another pid is a forked child.
static FIRST_PID: Mutex<u32> = Mutex::new(0);

/// Threads the next call uses in this process: `set_num_threads`'s, else
/// the machine's cores, or one in a forked child (a DataLoader worker).
fn wanted_threads() -> usize {
    let pid = std::process::id();
    let first = {
        let mut f = FIRST_PID.lock().unwrap_or_else(|e| e.into_inner());
        if *f == 0 {
            *f = pid;
        }
        *f
    };
    let asked = {
        let t = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        if t.0 == pid { t.1 } else { 0 }
    };
    match asked {
        0 if first != pid => 1,
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

fn pool(threads: usize) -> Res<Arc<rayon::ThreadPool>> {
    let pid = std::process::id();
    let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = slot.as_ref()
        && p.pid == pid
    {
        return Ok(p.pool.clone());
    }
    if let Some(old) = slot.take() {
        // The parent's pool: its worker threads were not copied by fork, and
        // dropping it would wait on them. Leak it.
        std::mem::forget(old);
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ferrograph-{i}"))
            .build()
            .map_err(|e| Problem::Internal(format!("thread pool: {e}")))?,
    );
    *slot = Some(Pool { pid, pool: p.clone() });
    Ok(p)
}

thread_local! {
    /// A one-thread pool whose only worker is this (Python) thread, built on
    /// its first one-thread call; `None` if the thread could not join one.
    /// It owns no thread, so a forked child can use the copy it inherits.
    static INLINE: std::cell::OnceCell<Option<rayon::ThreadPool>> = const { std::cell::OnceCell::new() };
}

/// Runs `f` without the GIL on the module's pool, turning a panic into a
/// `RuntimeError`. With one thread, `f` runs on the calling thread, which
/// is its pool's one worker: handing each call to a sleeping pool thread
/// and waiting for it cost ~0.3 ms a call on a VM (30% of a 1,024-seed
/// sampling call).
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Res<T> + Send) -> PyResult<T> {
    detached_on(py, false, f)
}

/// [`detached`] for work with no parallel kernel in it (one batch of
/// sampling): it always runs on the calling thread, whatever
/// `set_num_threads` says, so that several Python threads (a prefetching
/// loader's) sample side by side with no hand-off to the pool and back.
fn detached_here<T: Send>(py: Python<'_>, f: impl FnOnce() -> Res<T> + Send) -> PyResult<T> {
    detached_on(py, true, f)
}

fn detached_on<T: Send>(py: Python<'_>, here: bool, f: impl FnOnce() -> Res<T> + Send) -> PyResult<T> {
    let out = py.detach(|| {
        let threads = if here { 1 } else { wanted_threads() };
        let inline = threads == 1
            && INLINE.with(|c| c.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).use_current_thread().build().ok()).is_some());
        let shared = if inline { None } else { Some(pool(threads)?) };
        let run = || match &shared {
            Some(p) => p.install(f),
            // This thread is the inline pool's worker: `f` and its parallel
            // kernels run here.
            None => INLINE.with(|c| match c.get() {
                Some(Some(p)) => p.install(f),
                _ => unreachable!("the inline pool was built above"),
            }),
        };
        match catch_unwind(AssertUnwindSafe(run)) {
            Ok(r) => r,
            Err(p) => {
                let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                Err(Problem::Internal(msg.unwrap_or_else(|| "a panic".into())))
            }
        }
    });
    out.map_err(PyErr::from)
}

/// Threads of this process's pool (takes effect for the next call; the
/// default is the machine's cores, one in a forked child).
#[pyfunction]
fn set_num_threads(#[pyo3(from_py_with = threads_arg)] n: usize) -> PyResult<()> {
    ferrograph_graph::array::check_threads(n).map_err(|e| PyValueError::new_err(format!("set_num_threads: {e}")))?;
    *THREADS.lock().unwrap_or_else(|e| e.into_inner()) = (std::process::id(), n);
    *POOL.lock().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(())
}

/// Keeps freed memory in the process instead of returning it to the kernel
/// (glibc's mmap and trim thresholds raised, as the CLI does). The arrays
/// ferrograph returns are recycled anyway (see [`recycle`]); this extends
/// that to every other allocation of the process (torch's, NumPy's).
/// Opt-in, since it changes the allocator of the whole Python process;
/// call it once, early. A no-op off glibc.
#[pyfunction]
fn tune_allocator() {
    ferrograph_graph::array::tune_allocator();
}

/// Threads the next call will use.
#[pyfunction]
fn get_num_threads(py: Python<'_>) -> PyResult<usize> {
    detached(py, || Ok(rayon::current_num_threads()))
}

/// A non-negative integer argument as `u64`, or an exception naming the
/// argument: `OverflowError` for a negative or too large int (Python's own
/// says only "can't convert negative int to unsigned"), `TypeError` for
/// anything but an int (`1.5` is not taken as 1).
fn uint_arg(o: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
    o.extract::<u64>().map_err(|_| match o.call_method0("__index__") {
        // An int or a NumPy integer, out of range.
        Ok(i) => PyOverflowError::new_err(format!("{name}: {i} is out of range (0 to 2**64 - 1)")),
        Err(_) => PyTypeError::new_err(format!("{name}: an integer is needed, got {}", type_name(o))),
    })
}

/// The name of `o`'s type, for messages.
fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type().name().map_or_else(|_| "another object".into(), |n| n.to_string())
}

/// `from_py_with` extractors for [`uint_arg`], one per argument name.
macro_rules! uint_args {
    ($($f:ident: $t:ty = $name:literal;)*) => {$(
        fn $f(o: &Bound<'_, PyAny>) -> PyResult<$t> {
            uint_arg(o, $name).map(|v| v as $t)
        }
    )*};
}
uint_args! {
    seed_arg: u64 = "seed";
    epoch_arg: u64 = "epoch";
    length_arg: usize = "length";
    k_arg: usize = "k";
    index_arg: usize = "index";
    nodes_arg: u64 = "nodes";
    threads_arg: usize = "set_num_threads";
}

/// Fan-outs (`fanouts`, `num_neighbors`'s lists) as pyo3 extracts them,
/// with the argument named when they are not a list of 64-bit integers.
fn counts_error(e: PyErr, py: Python<'_>, name: &str) -> PyErr {
    if e.is_instance_of::<PyOverflowError>(py) {
        PyOverflowError::new_err(format!("{name}: {} (each fan-out is a count, or -1)", e.value(py)))
    } else {
        PyTypeError::new_err(format!("{name}: {}", e.value(py)))
    }
}

fn fanouts_arg(o: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if o.is_instance_of::<pyo3::types::PyString>() {
        // pyo3 would say only "Can't extract `str` to `Vec`".
        return Err(PyTypeError::new_err("fanouts: a list of fan-outs is needed (a count per hop, -1 for all), got str"));
    }
    o.extract().map_err(|e| counts_error(e, o.py(), "fanouts"))
}

/// Node ids given from Python as an int64 array: any integer NumPy array
/// (strided views included), tensor or sequence. Floats, booleans and
/// strings are refused rather than cast (`1.5` is not node 1), and so is
/// any shape but one dimension; the messages name `what`.
fn id_array<'py>(ids: &Bound<'py, PyAny>, what: &str) -> PyResult<PyReadonlyArray1<'py, i64>> {
    let a = int64_ids(ids, what)?;
    a.try_readonly().map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

/// [`id_array`]'s checks and conversion.
fn int64_ids<'py>(ids: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyArray1<i64>>> {
    if let Ok(a) = ids.cast::<PyArray1<i64>>() {
        return Ok(a.clone());
    }
    let py = ids.py();
    let a = match ids.cast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => py
            .import("numpy")?
            .call_method1("asarray", (ids,))
            .and_then(|a| Ok(a.cast_into::<PyUntypedArray>()?))
            .map_err(|e| PyTypeError::new_err(format!("{what}: node ids must be an integer array or sequence ({e})")))?,
    };
    if a.ndim() != 1 {
        return Err(PyValueError::new_err(format!("{what}: a 1-D array of node ids is needed, got shape {:?}", a.shape())));
    }
    let kind = a.dtype().kind();
    // An empty list becomes a float64 array: no ids, nothing cast.
    if kind != b'i' && kind != b'u' && a.len() > 0 {
        // Python ints beyond 64 bits (or mixed types) make an object array.
        let hint = if kind == b'O' { " (ids beyond 64 bits, or values of mixed types)" } else { "" };
        return Err(PyTypeError::new_err(format!("{what}: node ids must be integers, got an array of {}{hint}", a.dtype())));
    }
    if kind == b'u' && a.dtype().itemsize() == 8 {
        // uint64 beyond i64::MAX would wrap to a negative id.
        let max = a.call_method0("max")?.extract::<u64>()?;
        if max > i64::MAX as u64 {
            return Err(PyValueError::new_err(format!("{what}: node {max} is out of range")));
        }
    }
    match a.cast_into::<PyArray1<i64>>() {
        Ok(a) => Ok(a),
        Err(e) => Ok(e.into_inner().call_method1("astype", ("int64",))?.cast_into::<PyArray1<i64>>()?),
    }
}

/// [`id_array`] as local indices, each checked against `n`.
fn local_ids(ids: &Bound<'_, PyAny>, n: usize, what: &str) -> PyResult<Vec<u32>> {
    let a = id_array(ids, what)?;
    let a = a.as_array();
    let strided;
    let ids = match a.as_slice() {
        Some(s) => s,
        None => {
            strided = a.to_vec();
            &strided
        }
    };
    // Two passes the compiler vectorises (the range, then the narrowing
    // copy) rather than one `Result` collect that stops at the first bad
    // id (and grows its vector from empty): a two-thread `gather` of 2,048
    // cached rows went from 54-58 to 26 µs, of 35,000 from 754-779 to
    // 705-744 µs.
    let (lo, hi) = ids.iter().fold((0i64, 0i64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if (lo < 0 || hi as u64 >= n as u64)
        && let Some(bad) = ids.iter().find(|&&v| v < 0 || v as u64 >= n as u64)
    {
        return Err(Problem::Index(format!("{what}: node {bad} is outside 0..{n}")).into());
    }
    Ok(ids.iter().map(|&v| v as u32).collect())
}

/// `parts`, one after another, as one new int64 array (in recycled
/// memory, see [`recycle`]).
fn i64_array<'py>(py: Python<'py>, parts: &[&[u32]]) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let (b, lens) = Block::widen(parts);
    Ok(b.into_i64_arrays(py, &[lens.iter().sum()])?.remove(0))
}

/// A read-only NumPy view of `data` whose base object is `owner`.
///
/// # Safety
/// `data` must stay valid as long as `owner` lives.
unsafe fn view1<'py, T: numpy::Element>(owner: &Bound<'py, PyAny>, data: &[T]) -> PyResult<Bound<'py, PyArray1<T>>> {
    let v = ArrayView1::from(data);
    // SAFETY: the caller guarantees that `owner` keeps `data` alive.
    let a = unsafe { PyArray1::borrow_from_array(&v, owner.clone()) };
    readonly(&a)?;
    Ok(a)
}

/// Clears the array's WRITEABLE flag (a snapshot is immutable).
fn readonly<T: numpy::Element, D: numpy::ndarray::Dimension>(a: &Bound<'_, numpy::PyArray<T, D>>) -> PyResult<()> {
    let kw = PyDict::new(a.py());
    kw.set_item("write", false)?;
    a.call_method("setflags", (), Some(&kw))?;
    Ok(())
}

/// An open snapshot with the sampling tables built over it on first use
/// (`edge_weight` CDFs, `topk` orders, temporal keys): one per `open`,
/// shared by every sampler, query and call on the graph, so no call builds
/// them again.
struct Opened {
    /// Reads `snap`'s graph; declared first, so dropped before it.
    local: LocalGraph<'static>,
    snap: Arc<Snapshot>,
}

impl Opened {
    fn new(snap: Snapshot) -> Arc<Opened> {
        let snap = Arc::new(snap);
        // SAFETY: the graph lives inside the `Arc`'s allocation, which does
        // not move and is freed only when the last `Arc` is dropped; this
        // one is held by the `Opened` beside `local`, which is dropped
        // first (field order), and `local` is never handed out beyond a
        // borrow of the `Opened`.
        let g: &'static ferrograph_graph::Graph = unsafe { &*(&snap.graph as *const ferrograph_graph::Graph) };
        Arc::new(Opened { local: LocalGraph::new(g), snap })
    }

    fn graph(&self) -> &ferrograph_graph::Graph {
        &self.snap.graph
    }
}

/// A CSR as `(indptr, indices)` views.
type Csr<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u32>>);

/// A graph snapshot, memory-mapped (`ferrograph.open`).
#[pyclass(frozen, module = "ferrograph._native")]
struct Graph {
    snap: Arc<Opened>,
    path: PathBuf,
}

impl Graph {
    fn g(&self) -> &ferrograph_graph::Graph {
        self.snap.graph()
    }

    fn node_type(&self, name: &str) -> Res<ferrograph_graph::NodeTypeId> {
        Ok(self.g().schema().node_type(name)?)
    }

    fn relation(&self, name: &str) -> Res<Relation> {
        Ok(Relation::resolve(self.g(), name)?)
    }
}

/// Opens the snapshot in directory `path` (memory-mapped: milliseconds).
#[pyfunction]
fn open(py: Python<'_>, path: PathBuf) -> PyResult<Graph> {
    let p = path.clone();
    let snap = detached(py, move || Ok(snapshot::open(&p)?))?;
    Ok(Graph { snap: Opened::new(snap), path })
}

/// Imports the graph described by the import config `config` (TOML) into
/// a new snapshot at `out` (refused when `out` exists, unless `force`).
#[pyfunction]
#[pyo3(signature = (config, out, force = false))]
fn import_graph(py: Python<'_>, config: PathBuf, out: PathBuf, force: bool) -> PyResult<()> {
    detached(py, move || {
        if out.exists() && !force {
            return Err(Problem::Value(format!("{}: already exists (use force=True to replace it)", out.display())));
        }
        let g = ferrograph_io::import_file(&config, &ferrograph_graph::progress::NoProgress)?;
        snapshot::write_with(&g, &out, snapshot::WriteOptions { force, progress: None })?;
        Ok(())
    })
}

/// Writes the planted-partition graph of `ferrograph quickstart` (or one
/// of `nodes` nodes) as a snapshot at `out`: node type `node`, relation
/// `link` (undirected), `feat`, `label`, sets `train`/`val`/`test`.
#[pyfunction]
#[pyo3(signature = (out, nodes = 20_000, seed = 0, force = false))]
fn generate_planted(
    py: Python<'_>,
    out: PathBuf,
    #[pyo3(from_py_with = nodes_arg)] nodes: u64,
    #[pyo3(from_py_with = seed_arg)] seed: u64,
    force: bool,
) -> PyResult<()> {
    detached(py, move || {
        let p = ferrograph_io::generate::Planted { nodes, seed, ..Default::default() };
        let g = p.graph()?;
        snapshot::write_with(&g, &out, snapshot::WriteOptions { force, progress: None })?;
        Ok(())
    })
}

#[pymethods]
impl Graph {
    /// The directory it was opened from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The schema as JSON text (node types with attributes and sets, edge types).
    fn schema_json(&self) -> PyResult<String> {
        serde_json::to_string(self.g().schema()).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// Node type names.
    #[getter]
    fn node_types(&self) -> Vec<String> {
        self.g().schema().node_types.iter().map(|t| t.name.clone()).collect()
    }

    /// Edge types as `(source type, relation, destination type)`.
    #[getter]
    fn edge_types(&self) -> Vec<(String, String, String)> {
        self.g().schema().edge_types.iter().map(|e| (e.src.clone(), e.relation.clone(), e.dst.clone())).collect()
    }

    /// Number of nodes of `node_type`.
    fn num_nodes(&self, node_type: &str) -> PyResult<usize> {
        Ok(self.g().node_count(self.node_type(node_type)?))
    }

    /// Number of stored edges of `relation` (a reverse name counts the same edges).
    fn num_edges(&self, relation: &str) -> PyResult<usize> {
        let r = self.relation(relation)?;
        Ok(self.g().topology(r.edge_type, r.direction).targets.len())
    }

    /// The named node set (`train`, `val`, …) as a read-only uint32 view.
    fn node_set<'py>(slf: &Bound<'py, Self>, node_type: &str, name: &str) -> PyResult<Bound<'py, PyArray1<u32>>> {
        let me = slf.get();
        let t = me.node_type(node_type)?;
        let s = me.g().node_set(t, name).map_err(Problem::from)?;
        // SAFETY: the slice lives in the snapshot, which the graph object owns.
        unsafe { view1(slf.as_any(), s) }
    }

    /// The CSR of `relation` (a reverse name gives the in-CSR): `(indptr`
    /// uint64, `indices` uint32`)`, read-only views; row `v` holds the
    /// neighbours of `v` along the relation.
    fn csr<'py>(slf: &Bound<'py, Self>, relation: &str) -> PyResult<Csr<'py>> {
        let me = slf.get();
        let r = me.relation(relation)?;
        let c = me.g().topology(r.edge_type, r.direction);
        // SAFETY: both arrays live in the snapshot, which the graph object owns.
        unsafe { Ok((view1(slf.as_any(), c.offsets.as_slice())?, view1(slf.as_any(), c.targets.as_slice())?)) }
    }

    /// A node attribute column as read-only views: `float[d]` columns as a
    /// `(rows, d)` float32 array, `float` as float32, `int` as int64,
    /// strings as their uint32 codes, sparse columns as `(indptr, indices,
    /// values)`.
    fn feature<'py>(slf: &Bound<'py, Self>, node_type: &str, column: &str) -> PyResult<Bound<'py, PyAny>> {
        let me = slf.get();
        let t = me.node_type(node_type)?;
        let owner = slf.as_any();
        let col = me.g().node_column(t, column).map_err(Problem::from)?;
        // SAFETY: every array lives in the snapshot, which the graph object owns.
        unsafe {
            Ok(match col {
                Column::Vector { dim, data } => {
                    let s = data.as_slice();
                    let rows = if *dim == 0 { 0 } else { s.len() / dim };
                    let v = ArrayView2::from_shape((rows, *dim), s).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    let a = PyArray2::borrow_from_array(&v, owner.clone());
                    readonly(&a)?;
                    a.into_any()
                }
                Column::Float(a) => view1(owner, a.as_slice())?.into_any(),
                Column::Int(a) => view1(owner, a.as_slice())?.into_any(),
                Column::Categorical { codes, .. } | Column::Hashed { codes, .. } => view1(owner, codes.as_slice())?.into_any(),
                Column::Sparse { indptr, indices, values, .. } => PyTuple::new(
                    slf.py(),
                    [
                        view1(owner, indptr.as_slice())?.into_any(),
                        view1(owner, indices.as_slice())?.into_any(),
                        view1(owner, values.as_slice())?.into_any(),
                    ],
                )?
                .into_any(),
            })
        }
    }

    /// Local indices of external ids (ints, or strings for string-keyed
    /// types); an id that is not in the graph raises `KeyError` naming it.
    fn local_ids<'py>(&self, py: Python<'py>, node_type: &str, ids: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let t = self.node_type(node_type)?;
        let map = self.g().checked_ids(t).map_err(Problem::from)?;
        let out: Vec<i64> = if let NodeIds::Str { .. } = map {
            let names: Vec<String> = ids.extract()?;
            names
                .iter()
                .map(|s| map.lookup_str(s).map(|l| i64::from(l.0)).ok_or_else(|| PyKeyError::new_err(format!("{node_type}: no node with id {s:?}"))))
                .collect::<PyResult<_>>()?
        } else {
            id_array(ids, "local_ids")?
                .as_array()
                .iter()
                .map(|&i| map.lookup_int(i).map(|l| i64::from(l.0)).ok_or_else(|| PyKeyError::new_err(format!("{node_type}: no node with id {i}"))))
                .collect::<PyResult<_>>()?
        };
        Ok(out.into_pyarray(py))
    }

    /// External ids of local indices: an int64 array, or a list of strings.
    fn external_ids<'py>(&self, py: Python<'py>, node_type: &str, nodes: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.node_type(node_type)?;
        let n = self.g().node_count(t);
        let nodes = local_ids(nodes, n, "external_ids")?;
        let map = self.g().checked_ids(t).map_err(Problem::from)?;
        if let NodeIds::Str { .. } = map {
            let v: Vec<String> = nodes
                .iter()
                .map(|&l| match map.external(LocalIdx(l)) {
                    ExternalId::Str(s) => s,
                    ExternalId::Int(i) => i.to_string(),
                })
                .collect();
            return Ok(PyList::new(py, v)?.into_any());
        }
        let v: Vec<i64> = nodes
            .iter()
            .map(|&l| match map.external(LocalIdx(l)) {
                ExternalId::Int(i) => i,
                ExternalId::Str(_) => -1,
            })
            .collect();
        Ok(v.into_pyarray(py).into_any())
    }

    /// `g.V("type"[, "set"])`: a graph-learn style query on node batches.
    #[pyo3(name = "V", signature = (*args, **kwargs))]
    fn v<'py>(slf: &Bound<'py, Self>, args: &Bound<'py, PyTuple>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        start_query(slf, "V", args, kwargs)
    }

    /// `g.E("relation")`: a graph-learn style query on edge batches.
    #[pyo3(name = "E", signature = (*args, **kwargs))]
    fn e<'py>(slf: &Bound<'py, Self>, args: &Bound<'py, PyTuple>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        start_query(slf, "E", args, kwargs)
    }

    /// `g.SubGraph("type", "relation", hops)`.
    #[pyo3(name = "SubGraph", signature = (*args, **kwargs))]
    fn subgraph<'py>(slf: &Bound<'py, Self>, args: &Bound<'py, PyTuple>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyAny>> {
        start_query(slf, "SubGraph", args, kwargs)
    }

    /// Pickles by path: the copy opens the same snapshot.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (PathBuf,))> {
        let open = slf.py().import("ferrograph")?.getattr("open")?;
        Ok((open, (slf.get().path.clone(),)))
    }

    fn __repr__(&self) -> String {
        let s = self.g().schema();
        let nodes: Vec<String> =
            s.node_types.iter().enumerate().map(|(i, t)| format!("{}: {}", t.name, self.g().node_stores()[i].ids.len())).collect();
        let edges: Vec<String> = s.edge_types.iter().map(|e| e.display_name()).collect();
        format!("Graph({:?}, nodes {{{}}}, edges [{}])", self.path, nodes.join(", "), edges.join(", "))
    }
}

/// A query builder (`ferrograph.query.Query`) started at `source`.
fn start_query<'py>(
    g: &Bound<'py, Graph>,
    source: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = g.py();
    let kw = match kwargs {
        Some(k) => k.clone(),
        None => PyDict::new(py),
    };
    py.import("ferrograph.query")?.getattr("start")?.call1((g.clone(), source, args.clone(), kw))
}

thread_local! {
    /// The lengths of this thread's last sample (`node`, `row`, `col`):
    /// the next one takes recycled vectors at least that long.
    static LAST: std::cell::Cell<[usize; 3]> = const { std::cell::Cell::new([0; 3]) };
}

/// One sample, written as int64 by the sampler into recycled vectors
/// ([`Ids`]) that become the NumPy arrays, made without the GIL.
struct Sample(ferrograph_sample::SamplerOutput<i64>);

impl Sample {
    /// Samples `seeds` into vectors from the cache.
    fn new(sampler: &ferrograph_sample::NeighborSampler, g: &LocalGraph, seeds: &[u32], seed: u64) -> Res<Sample> {
        let [n, r, c] = LAST.get();
        let mut o = ferrograph_sample::SamplerOutput {
            node: Ids::take(n),
            row: Ids::take(r),
            col: Ids::take(c),
            seed_index: Ids::take(seeds.len()),
            ..Default::default()
        };
        sampler.sample_into(g, seeds, seed, &mut o)?;
        LAST.set([o.node.len(), o.row.len(), o.col.len()]);
        Ok(Sample(o))
    }

    /// The arrays of the sample, as NumPy int64 arrays (PyG's
    /// `SamplerOutput` convention: `node` seeds first, messages flow
    /// `row → col`), each over its own recycled vector.
    fn into_dict(self, py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let o = self.0;
        let d = PyDict::new(py);
        d.set_item("node", Ids::array(py, o.node)?)?;
        d.set_item("row", Ids::array(py, o.row)?)?;
        d.set_item("col", Ids::array(py, o.col)?)?;
        d.set_item("seed_index", Ids::array(py, o.seed_index)?)?;
        d.set_item("num_sampled_nodes", o.num_sampled_nodes)?;
        d.set_item("num_sampled_edges", o.num_sampled_edges)?;
        Ok(d)
    }
}

/// Multi-hop neighbour sampling into message-flow blocks along one relation.
#[pyclass(frozen, module = "ferrograph._native")]
struct NeighborSampler {
    graph: Py<Graph>,
    snap: Arc<Opened>,
    sampler: ferrograph_sample::NeighborSampler,
    seed: u64,
    args: (String, Vec<i64>, String),
}

#[pymethods]
impl NeighborSampler {
    /// `fanouts`: neighbours per hop, seeds' hop first; `-1` at every hop
    /// takes whole neighbourhoods (PyG's `num_neighbors=[-1, -1]`).
    #[new]
    #[pyo3(signature = (graph, relation, fanouts, strategy = "random_without_replacement", seed = 0))]
    fn new(
        graph: Bound<'_, Graph>,
        relation: &str,
        #[pyo3(from_py_with = fanouts_arg)] fanouts: Vec<i64>,
        strategy: &str,
        #[pyo3(from_py_with = seed_arg)] seed: u64,
    ) -> PyResult<Self> {
        let g = graph.get();
        let rel = g.relation(relation)?;
        let st = Strategy::parse(strategy).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown strategy `{strategy}` (random, random_without_replacement, full, edge_weight, topk, in_degree, before, most_recent)"
            ))
        })?;
        if fanouts.is_empty() {
            return Err(PyValueError::new_err("fanouts: at least one hop"));
        }
        let all = fanouts.iter().all(|&k| k == -1);
        if !all && fanouts.iter().any(|&k| k < 1) {
            return Err(PyValueError::new_err(format!("fanouts {fanouts:?}: each is a positive count, or all are -1 (whole neighbourhoods)")));
        }
        let st = if all { Strategy::Full } else { st };
        let hops = fanouts.iter().map(|&k| HopSpec { relation: rel, fanout: if all { 0 } else { k as usize } }).collect();
        let sampler = ferrograph_sample::NeighborSampler::new(hops, st).map_err(Problem::from)?;
        Ok(NeighborSampler { graph: graph.clone().unbind(), snap: g.snap.clone(), sampler, seed, args: (relation.into(), fanouts, strategy.into()) })
    }

    /// Samples the blocks of `seeds` (local indices) for `epoch`: a dict of
    /// int64 arrays `node`, `row`, `col`, `seed_index` and the lists
    /// `num_sampled_nodes`, `num_sampled_edges`. The same seeds, seed and
    /// epoch give the same sample on any thread count (and as
    /// `ferrograph blocks --seed S --epoch E`).
    #[pyo3(signature = (seeds, epoch = 0))]
    fn sample<'py>(&self, py: Python<'py>, seeds: &Bound<'py, PyAny>, #[pyo3(from_py_with = epoch_arg)] epoch: u64) -> PyResult<Bound<'py, PyDict>> {
        let snap = self.snap.clone();
        let rel_from = self.sampler_from();
        let n = snap.graph().node_count(rel_from);
        let seeds = local_ids(seeds, n, "seeds")?;
        let seed = ferrograph_sample::rng::derive(self.seed, epoch);
        let o = detached_here(py, move || Sample::new(&self.sampler, &snap.local, &seeds, seed))?;
        o.into_dict(py)
    }

    /// The graph sampled.
    #[getter]
    fn graph(&self, py: Python<'_>) -> Py<Graph> {
        self.graph.clone_ref(py)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let me = slf.get();
        let cls = slf.get_type().into_any();
        let (r, f, s) = &me.args;
        let args = PyTuple::new(
            slf.py(),
            [
                me.graph.bind(slf.py()).clone().into_any(),
                r.into_pyobject(slf.py())?.into_any(),
                f.clone().into_pyobject(slf.py())?.into_any(),
                s.into_pyobject(slf.py())?.into_any(),
                me.seed.into_pyobject(slf.py())?.into_any(),
            ],
        )?;
        Ok((cls, args))
    }
}

impl NeighborSampler {
    fn sampler_from(&self) -> ferrograph_graph::NodeTypeId {
        Relation::resolve(self.snap.graph(), &self.args.0).map(|r| r.from).unwrap_or(ferrograph_graph::NodeTypeId(0))
    }
}

/// Typed multi-hop sampling over a heterogeneous graph (PyG's
/// `num_neighbors={edge type: [k1, k2]}`): at hop `h`, every relation
/// listed expands the nodes of its source type first reached at hop
/// `h - 1`, taking `fanouts[h]` neighbours.
#[pyclass(frozen, module = "ferrograph._native")]
struct HeteroNeighborSampler {
    snap: Arc<Opened>,
    sampler: ferrograph_sample::hetero::HeteroSampler,
    seed_type: ferrograph_graph::NodeTypeId,
    relations: Vec<String>,
    seed: u64,
}

#[pymethods]
impl HeteroNeighborSampler {
    /// `num_neighbors`: relation name → fan-outs per hop (all lists of one
    /// length; `-1` everywhere for whole neighbourhoods).
    #[new]
    #[pyo3(signature = (graph, seed_type, num_neighbors, strategy = "random_without_replacement", seed = 0))]
    fn new(
        graph: Bound<'_, Graph>,
        seed_type: &str,
        num_neighbors: Bound<'_, PyAny>,
        strategy: &str,
        #[pyo3(from_py_with = seed_arg)] seed: u64,
    ) -> PyResult<Self> {
        use ferrograph_sample::hetero::{HeteroSampler, TypedHopSpec};
        // A dict (in its order) or a list of (relation, fan-outs) pairs.
        let items = if num_neighbors.hasattr("items")? { num_neighbors.call_method0("items")? } else { num_neighbors };
        let num_neighbors: Vec<(String, Vec<i64>)> = items
            .py()
            .import("builtins")?
            .getattr("list")?
            .call1((items,))
            .and_then(|l| l.extract())
            .map_err(|e| counts_error(e, graph.py(), "num_neighbors"))?;
        let g = graph.get();
        let t = g.node_type(seed_type)?;
        let st = Strategy::parse(strategy).ok_or_else(|| PyValueError::new_err(format!("unknown strategy `{strategy}`")))?;
        let depth = num_neighbors.first().map_or(0, |(_, f)| f.len());
        if depth == 0 || num_neighbors.iter().any(|(_, f)| f.len() != depth) {
            return Err(PyValueError::new_err("num_neighbors: one non-empty list of fan-outs per relation, all of one length"));
        }
        let all = num_neighbors.iter().all(|(_, f)| f.iter().all(|&k| k == -1));
        if !all && num_neighbors.iter().any(|(_, f)| f.iter().any(|&k| k < 1)) {
            return Err(PyValueError::new_err("num_neighbors: each fan-out is a positive count, or all are -1 (whole neighbourhoods)"));
        }
        let rels: Vec<(String, Relation)> = num_neighbors.iter().map(|(r, _)| Ok((r.clone(), g.relation(r)?))).collect::<Res<_>>()?;
        let hops = (0..depth)
            .map(|h| {
                rels.iter()
                    .zip(&num_neighbors)
                    .map(|((_, rel), (_, f))| TypedHopSpec { relation: *rel, fanout: if all { 0 } else { f[h] as usize } })
                    .collect()
            })
            .collect();
        let st = if all { Strategy::Full } else { st };
        let types = g.g().schema().node_types.len();
        let sampler = HeteroSampler::new(t, types, hops, st).map_err(Problem::from)?;
        Ok(HeteroNeighborSampler { snap: g.snap.clone(), sampler, seed_type: t, relations: rels.into_iter().map(|(r, _)| r).collect(), seed })
    }

    /// Samples from `seeds` (local indices of the seed type) for `epoch`: a
    /// dict with `node` (node type → int64 array, seeds first),
    /// `num_sampled_nodes` (node type → per-hop counts), and `row`, `col`,
    /// `num_sampled_edges` keyed by relation name (edges of all hops, hop
    /// by hop; `node[dst type][row]` was sampled for `node[src type][col]`).
    #[pyo3(signature = (seeds, epoch = 0))]
    fn sample<'py>(&self, py: Python<'py>, seeds: &Bound<'py, PyAny>, #[pyo3(from_py_with = epoch_arg)] epoch: u64) -> PyResult<Bound<'py, PyDict>> {
        let n = self.snap.graph().node_count(self.seed_type);
        let seeds = local_ids(seeds, n, "seeds")?;
        let snap = self.snap.clone();
        let seed = ferrograph_sample::rng::derive(self.seed, epoch);
        let o = detached(py, move || Ok(self.sampler.sample(&snap.local, &seeds, seed)?))?;
        let names = &self.snap.graph().schema().node_types;
        let d = PyDict::new(py);
        let (node, counts) = (PyDict::new(py), PyDict::new(py));
        for (t, (nodes, c)) in o.nodes.iter().zip(&o.num_nodes).enumerate() {
            node.set_item(&names[t].name, i64_array(py, &[nodes])?)?;
            counts.set_item(&names[t].name, c.clone())?;
        }
        let (row, col, ecount) = (PyDict::new(py), PyDict::new(py), PyDict::new(py));
        for (r, name) in self.relations.iter().enumerate() {
            let mine: Vec<&ferrograph_sample::hetero::RelEdges> = o.edges.iter().filter(|e| e.relation == r).collect();
            let rows: Vec<&[u32]> = mine.iter().map(|e| &e.row[..]).collect();
            let cols: Vec<&[u32]> = mine.iter().map(|e| &e.col[..]).collect();
            row.set_item(name, i64_array(py, &rows)?)?;
            col.set_item(name, i64_array(py, &cols)?)?;
            ecount.set_item(name, mine.iter().map(|e| e.row.len()).collect::<Vec<_>>())?;
        }
        d.set_item("node", node)?;
        d.set_item("num_sampled_nodes", counts)?;
        d.set_item("row", row)?;
        d.set_item("col", col)?;
        d.set_item("num_sampled_edges", ecount)?;
        d.set_item("seed_index", i64_array(py, &[&o.seed_index])?)?;
        Ok(d)
    }
}

/// Rows `nodes` of the numeric node column `column` of `node_type` as a
/// new `(len(nodes), width)` float32 array (sparse rows arrive dense), or
/// written into `out` (float32, C-contiguous, that shape).
#[pyfunction]
#[pyo3(signature = (graph, node_type, column, nodes, out = None))]
fn gather<'py>(
    py: Python<'py>,
    graph: &Graph,
    node_type: &str,
    column: &str,
    nodes: &Bound<'py, PyAny>,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let t = graph.node_type(node_type)?;
    let n = graph.g().node_count(t);
    let nodes = local_ids(nodes, n, "gather")?;
    let col = graph.g().node_column(t, column).map_err(Problem::from)?;
    let count = nodes.len();
    let dim = ferrograph_sample::features::width(col);
    match out {
        None => {
            let mut b = Block::take(count * dim * 4);
            detached(py, || Ok(ferrograph_sample::features::gather_into(col, &nodes, b.f32s(count * dim))?))?;
            b.into_f32_array2(py, count, dim)
        }
        Some(o) => {
            let o = o.cast_into::<PyArray2<f32>>().map_err(|e| {
                let o = e.into_inner();
                let got = match (o.getattr("dtype"), o.getattr("shape")) {
                    (Ok(d), Ok(s)) => format!("dtype {d}, shape {s}"),
                    _ => format!("a `{}`", type_name(&o)),
                };
                PyTypeError::new_err(format!("out: a float32 array of shape ({count}, {dim}) is needed, got {got}"))
            })?;
            if o.shape() != [count, dim] {
                return Err(PyValueError::new_err(format!("out: shape {:?}, the rows need ({count}, {dim})", o.shape())));
            }
            let mut w = o.try_readwrite().map_err(|e| PyValueError::new_err(format!("out: {e}")))?;
            let s = w.as_slice_mut().map_err(|_| PyValueError::new_err("out: must be C-contiguous"))?;
            // SAFETY: `f32` and `MaybeUninit<f32>` have one layout; the rows
            // are only written.
            let s = unsafe { &mut *(s as *mut [f32] as *mut [std::mem::MaybeUninit<f32>]) };
            detached(py, || Ok(ferrograph_sample::features::gather_into(col, &nodes, s)?))?;
            drop(w);
            Ok(o)
        }
    }
}

/// node2vec walks (DeepWalk at `p = q = 1`) along `relation` from each of
/// `starts`: an int64 array `(len(starts), length + 1)`, the start first,
/// `-1` after a dead end.
#[pyfunction]
#[pyo3(signature = (graph, relation, starts, length, p = 1.0, q = 1.0, seed = 0))]
#[allow(clippy::too_many_arguments)]
fn random_walks<'py>(
    py: Python<'py>,
    graph: &Graph,
    relation: &str,
    starts: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = length_arg)] length: usize,
    p: f64,
    q: f64,
    #[pyo3(from_py_with = seed_arg)] seed: u64,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let r = graph.relation(relation)?;
    let starts = local_ids(starts, graph.g().node_count(r.from), "random_walks")?;
    let walker = Walker::node2vec(r, length, p, q).map_err(Problem::from)?;
    let snap = graph.snap.clone();
    let count = starts.len();
    let w = detached(py, move || Ok(walker.walks(&snap.local, &starts, seed)?))?;
    let v: Vec<i64> = w.iter().map(|&x| if x == PAD { -1 } else { i64::from(x) }).collect();
    Ok(numpy::ndarray::Array2::from_shape_vec((count, length + 1), v).map_err(|e| PyRuntimeError::new_err(e.to_string()))?.into_pyarray(py))
}

/// `k` negative destinations of `relation` per source: an int64 array
/// `(len(sources), k)`. `strategy`: `random` or `in_degree`; `strict`
/// redraws true neighbours.
#[pyfunction]
#[pyo3(signature = (graph, relation, sources, k, strategy = "random", strict = false, seed = 0))]
#[allow(clippy::too_many_arguments)]
fn negatives<'py>(
    py: Python<'py>,
    graph: &Graph,
    relation: &str,
    sources: &Bound<'py, PyAny>,
    #[pyo3(from_py_with = k_arg)] k: usize,
    strategy: &str,
    strict: bool,
    #[pyo3(from_py_with = seed_arg)] seed: u64,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let r = graph.relation(relation)?;
    let sources = local_ids(sources, graph.g().node_count(r.from), "negatives")?;
    let ns = match strategy {
        "random" => NegativeStrategy::Random,
        "in_degree" => NegativeStrategy::InDegree,
        other => return Err(PyValueError::new_err(format!("unknown negative strategy `{other}` (random, in_degree)"))),
    };
    let snap = graph.snap.clone();
    let count = sources.len();
    let v = detached(py, move || {
        let s = NegativeSampler::new(&snap.local, r, ns, strict)?;
        Ok(s.sample(&sources, k, seed)?)
    })?;
    i64_array(py, &[&v])?.reshape([count, k])
}

/// One batch's result as `{alias: {"type", "nodes", "ids", "offsets"?,
/// "edges"?, "edge_ids"?}}` (nodes are local int64 indices, ids the
/// external ids).
fn result_dict<'py>(py: Python<'py>, g: &ferrograph_graph::Graph, r: ferrograph_query::QueryResult) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for a in r.aliases {
        let d = PyDict::new(py);
        d.set_item("type", &g.schema().node_types[a.node_type.0 as usize].name)?;
        let map = g.checked_ids(a.node_type).map_err(Problem::from)?;
        if let NodeIds::Str { .. } = map {
            let ids: Vec<String> = a.nodes.iter().map(|&n| map.external(LocalIdx(n)).to_string().trim_matches('"').to_string()).collect();
            d.set_item("ids", ids)?;
        } else {
            let ids: Vec<i64> = a.nodes.iter().map(|&n| if let ExternalId::Int(i) = map.external(LocalIdx(n)) { i } else { -1 }).collect();
            d.set_item("ids", ids.into_pyarray(py))?;
        }
        d.set_item("nodes", i64_array(py, &[&a.nodes])?)?;
        if let Some(o) = a.offsets {
            d.set_item("offsets", i64_array(py, &[&o])?)?;
        }
        if let Some((s, t)) = a.edges {
            d.set_item("edges", (i64_array(py, &[&s])?, i64_array(py, &[&t])?))?;
        }
        if let Some(e) = a.edge_ids {
            let e: Vec<i64> = e.iter().map(|&x| x as i64).collect();
            d.set_item("edge_ids", e.into_pyarray(py))?;
        }
        out.set_item(a.alias, d)?;
    }
    Ok(out)
}

/// Limits of one query from keyword arguments (the CLI's defaults).
fn limits(max_batch: Option<Bound<'_, PyAny>>, max_nodes: Option<Bound<'_, PyAny>>) -> PyResult<Limits> {
    let mut l = Limits::default();
    if let Some(b) = max_batch {
        l.max_batch = uint_arg(&b, "max_batch")? as usize;
    }
    if let Some(n) = max_nodes {
        l.max_nodes = uint_arg(&n, "max_nodes")? as usize;
    }
    Ok(l)
}

/// A query in the sampling language (graph-learn's vocabulary) over a
/// graph, batch after batch: iterating yields one result per batch (see
/// [`result_dict`]) until the epoch ends, or without end for
/// `shuffle(traverse=False)`. Batch `i` of epoch `e` equals
/// `ferrograph sample DIR QUERY --seed S --epoch e --batch i --json`.
#[pyclass(module = "ferrograph._native")]
struct Dataset {
    snap: Arc<Opened>,
    plan: Arc<Plan>,
    batches: Arc<PlanBatches>,
    limits: Limits,
    seed: u64,
    epoch: u64,
    next: usize,
    current: Option<Vec<SourceBatch>>,
    text: String,
    graph: Py<Graph>,
}

#[pymethods]
impl Dataset {
    #[new]
    #[pyo3(signature = (graph, query, seed = 0, epoch = 0, max_batch = None, max_nodes = None))]
    fn new(
        graph: Bound<'_, Graph>,
        query: &str,
        #[pyo3(from_py_with = seed_arg)] seed: u64,
        #[pyo3(from_py_with = epoch_arg)] epoch: u64,
        max_batch: Option<Bound<'_, PyAny>>,
        max_nodes: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let g = graph.get();
        let limits = limits(max_batch, max_nodes)?;
        let plan = ferrograph_query::parse_with(query, &limits).map_err(query_problem)?;
        plan.check_with(g.g(), &limits).map_err(query_problem)?;
        let batches = PlanBatches::new(&plan, g.g(), seed).map_err(query_problem)?;
        Ok(Dataset {
            snap: g.snap.clone(),
            plan: Arc::new(plan),
            batches: Arc::new(batches),
            limits,
            seed,
            epoch,
            next: 0,
            current: None,
            text: query.to_string(),
            graph: graph.clone().unbind(),
        })
    }

    /// Batches per epoch.
    fn __len__(&self) -> usize {
        self.batches.per_epoch()
    }

    /// Whether iteration goes on past an epoch (`shuffle(traverse=False)`).
    #[getter]
    fn endless(&self) -> bool {
        self.batches.endless()
    }

    /// The epoch the next batch comes from.
    #[getter]
    fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Starts epoch `epoch` from its first batch.
    fn set_epoch(&mut self, #[pyo3(from_py_with = epoch_arg)] epoch: u64) {
        self.epoch = epoch;
        self.next = 0;
        self.current = None;
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        if self.next >= self.batches.per_epoch() {
            if !self.batches.endless() || self.batches.per_epoch() == 0 {
                // The epoch is over; the next iteration starts the next one.
                self.set_epoch(self.epoch.wrapping_add(1));
                return Ok(None);
            }
            self.set_epoch(self.epoch.wrapping_add(1));
        }
        if self.current.is_none() {
            self.current = Some(self.batches.epoch(self.snap.graph(), self.epoch));
        }
        let Some(batch) = self.current.as_mut().and_then(|c| c.get(self.next)).cloned() else {
            return Ok(None);
        };
        let index = self.next;
        self.next += 1;
        self.run(py, batch, index)
    }

    /// Batch `index` of epoch `epoch` alone.
    #[pyo3(signature = (index, epoch = None))]
    fn batch<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = index_arg)] index: usize,
        epoch: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let epoch = match epoch {
            Some(e) => uint_arg(&e, "epoch")?,
            None => self.epoch,
        };
        let per = self.batches.per_epoch();
        let (epoch, index) = if self.batches.endless() && per > 0 { (epoch.wrapping_add((index / per) as u64), index % per) } else { (epoch, index) };
        let b = self.batches.epoch(self.snap.graph(), epoch).into_iter().nth(index);
        let b = b.ok_or_else(|| PyIndexError::new_err(format!("batch {index}: the query has {per} batches per epoch")))?;
        let mut me = Dataset { epoch, ..self.shallow(py) };
        me.run(py, b, index).map(|d| d.expect("a batch"))
    }

    /// The graph queried.
    #[getter]
    fn graph(&self, py: Python<'_>) -> Py<Graph> {
        self.graph.clone_ref(py)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let me = slf.borrow();
        let py = slf.py();
        let cls = slf.get_type().into_any();
        let args = PyTuple::new(
            py,
            [
                me.graph.bind(py).clone().into_any(),
                me.text.clone().into_pyobject(py)?.into_any(),
                me.seed.into_pyobject(py)?.into_any(),
                me.epoch.into_pyobject(py)?.into_any(),
                me.limits.max_batch.into_pyobject(py)?.into_any(),
                me.limits.max_nodes.into_pyobject(py)?.into_any(),
            ],
        )?;
        Ok((cls, args))
    }
}

impl Dataset {
    fn shallow(&self, py: Python<'_>) -> Dataset {
        Dataset {
            snap: self.snap.clone(),
            plan: self.plan.clone(),
            batches: self.batches.clone(),
            limits: self.limits,
            seed: self.seed,
            epoch: self.epoch,
            next: 0,
            current: None,
            text: self.text.clone(),
            graph: self.graph.clone_ref(py),
        }
    }

    fn run<'py>(&mut self, py: Python<'py>, batch: SourceBatch, index: usize) -> PyResult<Option<Bound<'py, PyDict>>> {
        let (snap, plan, limits) = (self.snap.clone(), self.plan.clone(), self.limits);
        let seed = ferrograph_query::batch_seed(self.seed, self.epoch, index as u64);
        let r = detached(py, move || ferrograph_query::execute_batch(&plan, snap.graph(), &snap.local, batch, seed, &limits).map_err(query_problem))?;
        result_dict(py, self.snap.graph(), r).map(Some)
    }
}

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Graph>()?;
    m.add_class::<NeighborSampler>()?;
    m.add_class::<HeteroNeighborSampler>()?;
    m.add_class::<Dataset>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_function(wrap_pyfunction!(import_graph, m)?)?;
    m.add_function(wrap_pyfunction!(generate_planted, m)?)?;
    m.add_function(wrap_pyfunction!(gather, m)?)?;
    m.add_function(wrap_pyfunction!(random_walks, m)?)?;
    m.add_function(wrap_pyfunction!(negatives, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(tune_allocator, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    Ok(())
}
