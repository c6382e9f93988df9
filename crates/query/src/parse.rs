//! The text form: a tokenizer that keeps columns, and a recursive-descent
//! parser producing the same [`Plan`] as the builder.

use ferrograph_graph::Direction;
use ferrograph_graph::error_closest;

use crate::plan::{Name, Plan, Source, Step, StrategyName};
use crate::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64, bool),
    Dot,
    Open,
    Close,
    Comma,
    End,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(x, _) => format!("`{x}`"),
        Tok::Dot => "`.`".into(),
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
        Tok::Comma => "`,`".into(),
        Tok::End => "the end of the query".into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '.' if !chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                out.push((Tok::Dot, col));
                i += 1;
            }
            '(' | ')' | ',' => {
                out.push((
                    match c {
                        '(' => Tok::Open,
                        ')' => Tok::Close,
                        _ => Tok::Comma,
                    },
                    col,
                ));
                i += 1;
            }
            '"' | '\'' => {
                let end = chars[i + 1..].iter().position(|&x| x == c).ok_or_else(|| Error::at(col, "unterminated string"))?;
                out.push((Tok::Str(chars[i + 1..i + 1 + end].iter().collect()), col));
                i += end + 2;
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let is_int = !s.contains(['.', 'e', 'E']);
                let v: f64 = s.parse().map_err(|_| Error::at(col, format!("`{s}` is not a number")))?;
                out.push((Tok::Num(v, is_int), col));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..i].iter().collect()), col));
            }
            other => return Err(Error::at(col, format!("unexpected character `{other}`"))),
        }
    }
    out.push((Tok::End, chars.len() + 1));
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
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

impl Parser {
    fn peek(&self) -> &(Tok, usize) {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> (Tok, usize) {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<usize> {
        let (t, col) = self.next();
        if t == want { Ok(col) } else { Err(Error::at(col, format!("expected {what}, found {}", describe(&t)))) }
    }
    fn string(&mut self) -> Result<Name> {
        match self.next() {
            (Tok::Str(s), col) => Ok(Name { text: s, column: col }),
            (t, col) => Err(Error::at(col, format!("expected a quoted name, found {}", describe(&t)))),
        }
    }
    fn integer(&mut self, what: &str) -> Result<usize> {
        match self.next() {
            (Tok::Num(v, true), col) => {
                if v >= 1.0 && v <= u32::MAX as f64 {
                    Ok(v as usize)
                } else {
                    Err(Error::at(col, format!("{what} must be a positive integer, not {v}")))
                }
            }
            (t, col) => Err(Error::at(col, format!("{what} must be a positive integer, found {}", describe(&t)))),
        }
    }
    fn number(&mut self) -> Result<(f64, usize)> {
        match self.next() {
            (Tok::Num(v, _), col) => Ok((v, col)),
            (t, col) => Err(Error::at(col, format!("expected a number, found {}", describe(&t)))),
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
        match self.next() {
            (Tok::End, _) => Ok(None),
            (Tok::Dot, _) => match self.next() {
                (Tok::Ident(m), col) => {
                    if STEPS.contains(&m.as_str()) {
                        Ok(Some((m, col)))
                    } else {
                        let hint = error_closest(&m, STEPS.iter().copied()).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
                        Err(Error::at(col, format!("unknown step `{m}`{hint}")))
                    }
                }
                (t, col) => Err(Error::at(col, format!("expected a step name after `.`, found {}", describe(&t)))),
            },
            (t, col) => Err(Error::at(col, format!("expected `.` and a step, found {}", describe(&t)))),
        }
    }
}

/// Parses query text into a [`Plan`]. Checks the grammar only; names are
/// checked against a graph by [`Plan::check`].
pub fn parse(text: &str) -> Result<Plan> {
    let mut p = Parser { toks: tokenize(text)?, pos: 0 };
    match p.next() {
        (Tok::Ident(g), _) if g == "g" => {}
        (t, col) => {
            return Err(Error::at(col, format!("a query starts with `g.`, found {}", describe(&t))));
        }
    }
    p.expect(Tok::Dot, "`.` after `g`")?;
    let mut pending_subgraph: Option<Step> = None;
    let source = match p.next() {
        (Tok::Ident(v), _) if v == "V" => p.args("V", |p| {
            let node_type = p.string()?;
            let set = if p.peek().0 == Tok::Comma {
                p.next();
                Some(p.string()?)
            } else {
                None
            };
            Ok(Source::Nodes { node_type, set })
        })?,
        (Tok::Ident(e), _) if e == "E" => p.args("E", |p| Ok(Source::Edges { relation: p.string()? }))?,
        (Tok::Ident(sg), _) if sg == "SubGraph" => {
            // g.SubGraph("type", "relation", hops) = g.V("type").subgraph("relation", hops)
            let (node_type, relation, hops) = p.args("SubGraph", |p| {
                let t = p.string()?;
                p.expect(Tok::Comma, "`,` and a relation")?;
                let r = p.string()?;
                p.expect(Tok::Comma, "`,` and a hop count")?;
                Ok((t, r, p.integer("hop count")?))
            })?;
            pending_subgraph = Some(Step::Subgraph { relation, hops });
            Source::Nodes { node_type, set: None }
        }
        (t, col) => {
            return Err(Error::at(col, format!("expected `V(\"type\")` or `E(\"relation\")`, found {}", describe(&t))));
        }
    };
    let is_edges = matches!(source, Source::Edges { .. });
    let mut plan = Plan { source, batch: 64, shuffle: false, source_alias: None, steps: Vec::new() };
    let mut subgraph_after_batching = pending_subgraph;
    // A hop or negative waiting for its sample(k) and by(...).
    struct Open {
        relation: Name,
        direction: Direction,
        negative: bool,
        edges: bool,
        count: Option<usize>,
        strict: bool,
        column: usize,
        method: String,
    }
    let mut open: Option<Open> = None;
    let mut ended = false;
    while let Some((m, col)) = p.method()? {
        if !matches!(m.as_str(), "batch" | "shuffle")
            && let Some(step) = subgraph_after_batching.take()
        {
            plan.steps.push((step, None));
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
                plan.batch = p.args("batch", |p| p.integer("batch size"))?;
                if !plan.steps.is_empty() {
                    return Err(Error::at(col, "batch(n) belongs right after g.V(...) or g.E(...)"));
                }
            }
            "shuffle" => {
                p.args("shuffle", |_| Ok(()))?;
                plan.shuffle = true;
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
                let relation = p.args(&m, |p| if matches!(p.peek().0, Tok::Str(_)) { p.string().map(Some) } else { Ok(None) })?;
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
                        plan.steps.push((Step::Endpoint { direction }, None))
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
                let k = p.args("sample", |p| p.integer("sample count"))?;
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
                    if p.peek().0 == Tok::Comma {
                        p.next();
                        if matches!(p.peek().0, Tok::Str(_)) {
                            return Ok(StrategyName::Attr(name, p.string()?));
                        }
                        let (t, tcol) = p.number()?;
                        if t.fract() != 0.0 {
                            return Err(Error::at(tcol, "a timestamp is an integer"));
                        }
                        Ok(StrategyName::Timed(name, t as i64))
                    } else {
                        Ok(StrategyName::Plain(name))
                    }
                })?;
                let Some(o) = open.take() else {
                    return Err(Error::at(col, "by(...) follows sample(k)"));
                };
                let count = o.count.unwrap_or(1);
                let step = if o.negative {
                    Step::Negative { relation: o.relation, direction: o.direction, count, strategy, strict: o.strict, condition: None }
                } else {
                    Step::Hop { relation: o.relation, direction: o.direction, count, strategy, edges: o.edges }
                };
                plan.steps.push((step, None));
            }
            "where" => {
                let attr = p.args("where", Parser::string)?;
                match plan.steps.last_mut() {
                    Some((Step::Negative { condition, .. }, _)) => *condition = Some(attr),
                    _ => return Err(Error::at(col, "where(\"attr\") follows outNeg/inNeg(...).sample(k).by(...)")),
                }
            }
            "subgraph" => {
                let (relation, hops) = p.args("subgraph", |p| {
                    let r = p.string()?;
                    p.expect(Tok::Comma, "`,` and a hop count")?;
                    Ok((r, p.integer("hop count")?))
                })?;
                plan.steps.push((Step::Subgraph { relation, hops }, None));
            }
            "random_walk" => {
                let (relation, length, p_, q_) = p.args("random_walk", |p| {
                    let r = p.string()?;
                    p.expect(Tok::Comma, "`,` and a walk length")?;
                    let len = p.integer("walk length")?;
                    let (mut a, mut b) = (1.0, 1.0);
                    if p.peek().0 == Tok::Comma {
                        p.next();
                        a = p.number()?.0;
                        p.expect(Tok::Comma, "`,` and q")?;
                        b = p.number()?.0;
                    }
                    Ok((r, len, a, b))
                })?;
                plan.steps.push((Step::Walk { relation, length, p: p_, q: q_ }, None));
            }
            "values" => {
                p.args("values", |_| Ok(()))?;
                ended = true;
            }
            _ => unreachable!("method() only returns known steps"),
        }
    }
    if let Some(step) = subgraph_after_batching.take() {
        plan.steps.push((step, None));
    }
    if let Some(o) = open {
        let need = if o.count.is_none() { ".sample(k).by(\"strategy\")" } else { ".by(\"strategy\")" };
        return Err(Error::at(o.column, format!("`{}` needs {need}", o.method)));
    }
    Ok(plan)
}
