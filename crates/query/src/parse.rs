//! The text form: a tokenizer that keeps columns and reads a token only when
//! the parser asks for it (a query refused early is not read further), and a
//! recursive-descent parser producing the same [`Plan`] as the builder.
//!
//! Columns count characters (not bytes) from 1; the end of the text is
//! column `chars + 1`. Integer literals are read exactly (no float on the
//! way), so timestamps keep every bit of the i64 range.

use ferrograph_graph::Direction;

use crate::limits::{Kind, Limits};
use crate::plan::{Columns, Name, Plan, Source, Step, StepColumns, StrategyName, label, shown, suggest};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// `-`? digits: the value (None beyond the i128 range) and the text.
    Int(Option<i128>, String),
    /// Any other (finite) number, with its text.
    Float(f64, String),
    Dot,
    Open,
    Close,
    Comma,
    /// `=` of a keyword argument (`shuffle(traverse=True)`).
    Eq,
    End,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{}`", shown(s)),
        Tok::Str(s) => format!("\"{}\"", shown(s)),
        Tok::Int(_, s) | Tok::Float(_, s) => format!("`{}`", shown(s)),
        Tok::Dot => "`.`".into(),
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`=`".into(),
        Tok::End => "the end of the query".into(),
    }
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
}

impl Lexer {
    /// The next token and its column; `End` (at `chars + 1`) forever after the text.
    fn token(&mut self) -> Result<(Tok, usize)> {
        let chars = &self.chars;
        let mut i = self.i;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let col = i + 1;
        let Some(&c) = chars.get(i) else {
            self.i = i;
            return Ok((Tok::End, chars.len() + 1));
        };
        let (tok, end) = match c {
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => (Tok::Dot, i + 1),
            '(' => (Tok::Open, i + 1),
            ')' => (Tok::Close, i + 1),
            ',' => (Tok::Comma, i + 1),
            '=' => (Tok::Eq, i + 1),
            '"' | '\'' => {
                let len = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| Error::at(col, "unterminated string"))?;
                (Tok::Str(chars[i + 1..i + 1 + len].iter().collect()), i + len + 2)
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || (matches!(chars[j], '+' | '-') && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let s: String = chars[i..j].iter().collect();
                let digits = s.strip_prefix('-').unwrap_or(&s);
                let tok = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Tok::Int(s.parse::<i128>().ok(), s)
                } else {
                    match s.parse::<f64>() {
                        Ok(v) if v.is_finite() => Tok::Float(v, s),
                        _ => return Err(Error::at(col, format!("`{}` is not a number", shown(&s)))),
                    }
                };
                (tok, j)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                (Tok::Ident(chars[i..j].iter().collect()), j)
            }
            other => return Err(Error::at(col, format!("unexpected character `{}`", other.escape_debug()))),
        };
        self.i = end;
        Ok((tok, col))
    }
}

struct Parser<'l> {
    lex: Lexer,
    ahead: Option<(Tok, usize)>,
    limits: &'l Limits,
}

const STEPS: [&str; 16] = [
    "batch",
    "shuffle",
    "alias",
    "outV",
    "inV",
    "outE",
    "inE",
    "outNeg",
    "inNeg",
    "sample",
    "by",
    "strict",
    "where",
    "subgraph",
    "random_walk",
    "values",
];

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Tok> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lex.token()?);
        }
        Ok(&self.ahead.get_or_insert((Tok::End, 0)).0)
    }
    fn next(&mut self) -> Result<(Tok, usize)> {
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => self.lex.token(),
        }
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<usize> {
        let (t, col) = self.next()?;
        if t == want { Ok(col) } else { Err(Error::at(col, format!("expected {what}, found {}", describe(&t)))) }
    }
    fn string(&mut self) -> Result<Name> {
        match self.next()? {
            (Tok::Str(s), col) => Ok(Name { text: s, column: col }),
            (t, col) => Err(Error::at(col, format!("expected a quoted name, found {}", describe(&t)))),
        }
    }
    /// A count (`what`, e.g. "sample count") and its column: a positive
    /// integer; one too large for any limit is refused here, naming `kind`.
    fn count(&mut self, what: &str, kind: Kind) -> Result<(usize, usize)> {
        match self.next()? {
            (Tok::Int(Some(v), text), col) if v >= 1 => {
                usize::try_from(v).map(|n| (n, col)).map_err(|_| kind.error(self.limits, col, format_args!("{what} {} is too large", shown(&text))))
            }
            (Tok::Int(None, text), col) if !text.starts_with('-') => {
                Err(kind.error(self.limits, col, format_args!("{what} {} is too large", shown(&text))))
            }
            (Tok::Int(_, text), col) => Err(Error::at(col, format!("{what} must be a positive integer, not {}", shown(&text)))),
            (t, col) => Err(Error::at(col, format!("{what} must be a positive integer, found {}", describe(&t)))),
        }
    }
    fn number(&mut self) -> Result<(f64, usize)> {
        match self.next()? {
            (Tok::Int(_, text), col) => {
                text.parse::<f64>().map(|v| (v, col)).map_err(|_| Error::at(col, format!("`{}` is not a number", shown(&text))))
            }
            (Tok::Float(v, _), col) => Ok((v, col)),
            (t, col) => Err(Error::at(col, format!("expected a number, found {}", describe(&t)))),
        }
    }
    /// A timestamp: an integer literal within the i64 range, read exactly.
    fn timestamp(&mut self) -> Result<i64> {
        match self.next()? {
            (Tok::Int(v, text), col) => v
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| Error::at(col, format!("timestamp {} is outside the 64-bit range {}..={}", shown(&text), i64::MIN, i64::MAX))),
            (Tok::Float(_, text), col) => Err(Error::at(col, format!("a timestamp is an integer, not {}", shown(&text)))),
            (t, col) => Err(Error::at(col, format!("expected a timestamp (an integer) or a quoted attribute, found {}", describe(&t)))),
        }
    }
    /// `( args )` with a parser for the inside.
    fn args<T>(&mut self, method: &str, inner: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.expect(Tok::Open, &format!("`(` after `{method}`"))?;
        let v = inner(self)?;
        self.expect(Tok::Close, &format!("`)` closing `{method}(`"))?;
        Ok(v)
    }
    /// Reads `.name` and returns the method name and its column, or None at the end.
    fn method(&mut self) -> Result<Option<(String, usize)>> {
        match self.next()? {
            (Tok::End, _) => Ok(None),
            (Tok::Dot, _) => match self.next()? {
                (Tok::Ident(m), col) => {
                    if STEPS.contains(&m.as_str()) {
                        Ok(Some((m, col)))
                    } else {
                        let hint = suggest(&m, STEPS.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                        Err(Error::at(col, format!("unknown step `{}`{hint}", shown(&m))))
                    }
                }
                (t, col) => Err(Error::at(col, format!("expected a step name after `.`, found {}", describe(&t)))),
            },
            (t, col) => Err(Error::at(col, format!("expected `.` and a step, found {}", describe(&t)))),
        }
    }
}

/// Appends a step with where it was written, refusing it at once if it
/// takes the query past `max_steps` (so a query of thousands of hops is not
/// read to its end).
fn push(plan: &mut Plan, steps: &mut u64, limits: &Limits, step: Step, at: StepColumns) -> Result<()> {
    *steps = steps.saturating_add(if let Step::Subgraph { hops, .. } = step { hops as u64 } else { 1 });
    if Kind::Steps.exceeded(limits, *steps) {
        let col = if let Step::Subgraph { .. } = step { at.count } else { at.step };
        return Err(Kind::Steps.error(limits, col, format_args!("{} brings the query to {steps} steps", label(&step))));
    }
    plan.steps.push((step, None));
    plan.columns.steps.push(at);
    Ok(())
}

/// Parses query text into a [`Plan`] under the [`Limits::default`] bounds;
/// see [`parse_with`].
pub fn parse(text: &str) -> Result<Plan> {
    parse_with(text, &Limits::default())
}

/// Parses query text into a [`Plan`]: the grammar, then the sizes it asks
/// for against `limits` ([`Plan::check_limits`]); names are checked against
/// a graph by [`Plan::check_with`]. Never panics; every error's column lies
/// in `1..=chars + 1`.
pub fn parse_with(text: &str, limits: &Limits) -> Result<Plan> {
    let plan = grammar(text, limits)?;
    plan.check_limits(limits)?;
    Ok(plan)
}

fn grammar(text: &str, limits: &Limits) -> Result<Plan> {
    let mut p = Parser { lex: Lexer { chars: text.chars().collect(), i: 0 }, ahead: None, limits };
    match p.next()? {
        (Tok::Ident(g), _) if g == "g" => {}
        (t, col) => {
            return Err(Error::at(col, format!("a query starts with `g.`, found {}", describe(&t))));
        }
    }
    p.expect(Tok::Dot, "`.` after `g`")?;
    let mut pending_subgraph: Option<(Step, StepColumns)> = None;
    let (source, source_col) = match p.next()? {
        (Tok::Ident(v), col) if v == "V" => (
            p.args("V", |p| {
                let node_type = p.string()?;
                let set = if *p.peek()? == Tok::Comma {
                    p.next()?;
                    Some(p.string()?)
                } else {
                    None
                };
                Ok(Source::Nodes { node_type, set })
            })?,
            col,
        ),
        (Tok::Ident(e), col) if e == "E" => (p.args("E", |p| Ok(Source::Edges { relation: p.string()? }))?, col),
        (Tok::Ident(sg), col) if sg == "SubGraph" => {
            // g.SubGraph("type", "relation", hops) = g.V("type").subgraph("relation", hops)
            let (node_type, relation, (hops, hops_col)) = p.args("SubGraph", |p| {
                let t = p.string()?;
                p.expect(Tok::Comma, "`,` and a relation")?;
                let r = p.string()?;
                p.expect(Tok::Comma, "`,` and a hop count")?;
                Ok((t, r, p.count("hop count", Kind::Steps)?))
            })?;
            pending_subgraph = Some((Step::Subgraph { relation, hops }, StepColumns { step: col, count: hops_col }));
            (Source::Nodes { node_type, set: None }, col)
        }
        (t, col) => {
            return Err(Error::at(col, format!("expected `V(\"type\")` or `E(\"relation\")`, found {}", describe(&t))));
        }
    };
    let is_edges = matches!(source, Source::Edges { .. });
    let mut plan = Plan {
        source,
        batch: 64,
        shuffle: false,
        endless: false,
        source_alias: None,
        steps: Vec::new(),
        columns: Columns { source: source_col, ..Columns::default() },
    };
    let mut steps = 0u64;
    let mut subgraph_after_batching = pending_subgraph;
    // A hop or negative waiting for its sample(k) and by(...).
    struct Open {
        relation: Name,
        direction: Direction,
        negative: bool,
        edges: bool,
        count: Option<(usize, usize)>,
        strict: bool,
        column: usize,
        method: String,
    }
    let mut open: Option<Open> = None;
    let mut ended = false;
    while let Some((m, col)) = p.method()? {
        if !matches!(m.as_str(), "batch" | "shuffle")
            && let Some((step, at)) = subgraph_after_batching.take()
        {
            push(&mut plan, &mut steps, limits, step, at)?;
        }
        if ended {
            return Err(Error::at(col, format!("nothing may follow `values()`, found `{m}`")));
        }
        if let Some(o) = &open {
            let ok = match m.as_str() {
                "sample" => o.count.is_none(),
                "by" => o.count.is_some(),
                "strict" => o.negative,
                _ => false,
            };
            if !ok {
                let need = if o.count.is_none() { "sample(k)" } else { "by(\"strategy\")" };
                return Err(Error::at(col, format!("`{}` at column {} needs .{need} before `{m}`", o.method, o.column)));
            }
        }
        match m.as_str() {
            "batch" => {
                let (n, ncol) = p.args("batch", |p| p.count("batch size", Kind::Batch))?;
                if !plan.steps.is_empty() {
                    return Err(Error::at(col, "batch(n) belongs right after g.V(...) or g.E(...)"));
                }
                plan.batch = n;
                plan.columns.batch = ncol;
            }
            "shuffle" => {
                // graph-learn's keyword: `traverse=True` walks the set once per
                // epoch (as `shuffle()` does here), `traverse=False` draws
                // batches without end.
                let traverse = p.args("shuffle", |p| {
                    if *p.peek()? == Tok::Close {
                        return Ok(true);
                    }
                    let (k, kcol) = p.next()?;
                    if k != Tok::Ident("traverse".into()) {
                        return Err(Error::at(
                            kcol,
                            format!("`shuffle` takes one keyword, `traverse=True` or `traverse=False`; found {}", describe(&k)),
                        ));
                    }
                    p.expect(Tok::Eq, "`=` after `traverse`")?;
                    match p.next()? {
                        (Tok::Ident(b), _) if b == "True" || b == "true" => Ok(true),
                        (Tok::Ident(b), _) if b == "False" || b == "false" => Ok(false),
                        (t, col) => Err(Error::at(col, format!("`traverse` is `True` or `False`, not {}", describe(&t)))),
                    }
                })?;
                plan.shuffle = true;
                plan.endless = !traverse;
            }
            "alias" => {
                let a = p.args("alias", Parser::string)?;
                match plan.steps.last_mut() {
                    Some((_, alias)) => *alias = Some(a.text),
                    None => plan.source_alias = Some(a.text),
                }
            }
            "outV" | "inV" => {
                let direction = if m == "outV" { Direction::Out } else { Direction::In };
                let relation = p.args(&m, |p| if matches!(p.peek()?, Tok::Str(_)) { p.string().map(Some) } else { Ok(None) })?;
                match relation {
                    Some(relation) => {
                        open = Some(Open {
                            relation,
                            direction,
                            negative: false,
                            edges: false,
                            count: None,
                            strict: false,
                            column: col,
                            method: m.clone(),
                        })
                    }
                    None if is_edges || matches!(plan.steps.last(), Some((Step::Hop { edges: true, .. }, _))) => {
                        push(&mut plan, &mut steps, limits, Step::Endpoint { direction }, StepColumns { step: col, count: col })?
                    }
                    None => {
                        return Err(Error::at(
                            col,
                            format!("`{m}()` without a relation selects edge endpoints and only follows g.E(...) or outE/inE"),
                        ));
                    }
                }
            }
            "outE" | "inE" => {
                let direction = if m == "outE" { Direction::Out } else { Direction::In };
                let relation = p.args(&m, Parser::string)?;
                open = Some(Open { relation, direction, negative: false, edges: true, count: None, strict: false, column: col, method: m.clone() });
            }
            "outNeg" | "inNeg" => {
                let direction = if m == "outNeg" { Direction::Out } else { Direction::In };
                let relation = p.args(&m, Parser::string)?;
                open = Some(Open { relation, direction, negative: true, edges: false, count: None, strict: false, column: col, method: m.clone() });
            }
            "sample" => {
                // `sample()` without a count is graph-learn's spelling of a
                // whole neighbourhood, before `by("full")`.
                let k = p.args("sample", |p| if *p.peek()? == Tok::Close { Ok((0, col)) } else { p.count("sample count", Kind::Fanout) })?;
                match &mut open {
                    Some(o) => o.count = Some(k),
                    None => return Err(Error::at(col, "sample(k) follows outV/inV/outNeg/inNeg")),
                }
            }
            "strict" => {
                p.args("strict", |_| Ok(()))?;
                match &mut open {
                    Some(o) => o.strict = true,
                    None => match plan.steps.last_mut() {
                        Some((Step::Negative { strict, .. }, _)) => *strict = true,
                        _ => return Err(Error::at(col, "strict() applies to outNeg/inNeg")),
                    },
                }
            }
            "by" => {
                let strategy = p.args("by", |p| {
                    let name = p.string()?;
                    if *p.peek()? == Tok::Comma {
                        p.next()?;
                        if matches!(p.peek()?, Tok::Str(_)) {
                            return Ok(StrategyName::Attr(name, p.string()?));
                        }
                        Ok(StrategyName::Timed(name, p.timestamp()?))
                    } else {
                        Ok(StrategyName::Plain(name))
                    }
                })?;
                let Some(o) = open.take() else {
                    return Err(Error::at(col, "by(...) follows sample(k)"));
                };
                let (count, count_col) = o.count.unwrap_or((1, o.column));
                let full = matches!(&strategy, StrategyName::Plain(n) if n.text == "full");
                if count == 0 && (o.negative || !full) {
                    return Err(Error::at(
                        count_col,
                        format!("`{}(...).sample()` without a count needs .by(\"full\"); give a count for other strategies", o.method),
                    ));
                }
                let step = if o.negative {
                    Step::Negative { relation: o.relation, direction: o.direction, count, strategy, strict: o.strict, condition: None }
                } else {
                    Step::Hop { relation: o.relation, direction: o.direction, count, strategy, edges: o.edges }
                };
                push(&mut plan, &mut steps, limits, step, StepColumns { step: o.column, count: count_col })?;
            }
            "where" => {
                let attr = p.args("where", Parser::string)?;
                match plan.steps.last_mut() {
                    Some((Step::Negative { condition, .. }, _)) => *condition = Some(attr),
                    _ => return Err(Error::at(col, "where(\"attr\") follows outNeg/inNeg(...).sample(k).by(...)")),
                }
            }
            "subgraph" => {
                let (relation, (hops, hops_col)) = p.args("subgraph", |p| {
                    let r = p.string()?;
                    p.expect(Tok::Comma, "`,` and a hop count")?;
                    Ok((r, p.count("hop count", Kind::Steps)?))
                })?;
                push(&mut plan, &mut steps, limits, Step::Subgraph { relation, hops }, StepColumns { step: col, count: hops_col })?;
            }
            "random_walk" => {
                let (relation, (length, len_col), p_, q_) = p.args("random_walk", |p| {
                    let r = p.string()?;
                    p.expect(Tok::Comma, "`,` and a walk length")?;
                    let len = p.count("walk length", Kind::WalkLength)?;
                    let (mut a, mut b) = (1.0, 1.0);
                    if *p.peek()? == Tok::Comma {
                        p.next()?;
                        a = p.number()?.0;
                        p.expect(Tok::Comma, "`,` and q")?;
                        b = p.number()?.0;
                    }
                    Ok((r, len, a, b))
                })?;
                push(&mut plan, &mut steps, limits, Step::Walk { relation, length, p: p_, q: q_ }, StepColumns { step: col, count: len_col })?;
            }
            "values" => {
                p.args("values", |_| Ok(()))?;
                ended = true;
            }
            other => return Err(Error::at(col, format!("unknown step `{}`", shown(other)))),
        }
    }
    if let Some((step, at)) = subgraph_after_batching.take() {
        push(&mut plan, &mut steps, limits, step, at)?;
    }
    if let Some(o) = open {
        let need = if o.count.is_none() { ".sample(k).by(\"strategy\")" } else { ".by(\"strategy\")" };
        return Err(Error::at(o.column, format!("`{}` needs {need}", o.method)));
    }
    Ok(plan)
}
