//! A small subset of CEL, enough for trigger `expression`s and `waitForEvent`
//! `if` filters in tests.
//!
//! Supported:
//! - literals: `'single'` / `"double"` quoted strings, integers and decimals,
//!   `true`, `false`, `null`;
//! - paths rooted at `event` or `async`: `event.data.x`, `async.data["key"]`;
//!   a missing key evaluates to `null`;
//! - `==`, `!=` (JSON equality, numbers compared by value), `<`, `<=`, `>`, `>=`
//!   (numbers or strings), `!`, `&&`, `||`, parentheses;
//! - `+` on two strings (concatenation, as flow-control keys like
//!   `event.data.repo + '-' + event.data.fingerprint` use it) or two numbers;
//!   any other pair evaluates to `null`.
//!
//! Anything else (function calls, `in`, other arithmetic, ternaries, macros) is
//! rejected at parse time, so an unsupported filter fails the sync or the run
//! loudly instead of silently matching nothing.

use serde_json::Value;
use std::cmp::Ordering;

/// An expression the subset does not support, or that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unsupported or invalid expression `{expr}`: {reason}")]
pub struct ExprError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong, e.g. the unexpected token.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Path(Vec<String>),
    Not(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Add,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(f64),
    Ident(String),
    Dot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Not,
    Op(BinOp),
}

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '\'' | '"' => {
                let quote = c;
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("unterminated string".into());
                    };
                    i += 1;
                    match c {
                        '\\' => {
                            let Some(&esc) = chars.get(i) else {
                                return Err("unterminated escape".into());
                            };
                            i += 1;
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        c if c == quote => break,
                        c => s.push(c),
                    }
                }
                out.push(Tok::Str(s));
            }
            '0'..='9' | '-' if c != '-' || chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| format!("bad number `{text}`"))?;
                out.push(Tok::Num(n));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            '.' => {
                out.push(Tok::Dot);
                i += 1;
            }
            '[' => {
                out.push(Tok::LBracket);
                i += 1;
            }
            ']' => {
                out.push(Tok::RBracket);
                i += 1;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            _ => {
                let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
                let (tok, len) = match two.as_str() {
                    "==" => (Tok::Op(BinOp::Eq), 2),
                    "!=" => (Tok::Op(BinOp::Ne), 2),
                    "<=" => (Tok::Op(BinOp::Le), 2),
                    ">=" => (Tok::Op(BinOp::Ge), 2),
                    "&&" => (Tok::Op(BinOp::And), 2),
                    "||" => (Tok::Op(BinOp::Or), 2),
                    _ => match c {
                        '<' => (Tok::Op(BinOp::Lt), 1),
                        '>' => (Tok::Op(BinOp::Gt), 1),
                        '!' => (Tok::Not, 1),
                        '+' => (Tok::Op(BinOp::Add), 1),
                        other => return Err(format!("unexpected character `{other}`")),
                    },
                };
                out.push(tok);
                i += len;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut lhs = self.and()?;
        while self.peek() == Some(&Tok::Op(BinOp::Or)) {
            self.pos += 1;
            lhs = Expr::Bin(BinOp::Or, Box::new(lhs), Box::new(self.and()?));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut lhs = self.cmp()?;
        while self.peek() == Some(&Tok::Op(BinOp::And)) {
            self.pos += 1;
            lhs = Expr::Bin(BinOp::And, Box::new(lhs), Box::new(self.cmp()?));
        }
        Ok(lhs)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let lhs = self.sum()?;
        if let Some(Tok::Op(op)) = self.peek().cloned()
            && !matches!(op, BinOp::And | BinOp::Or | BinOp::Add)
        {
            self.pos += 1;
            let rhs = self.sum()?;
            if let Some(Tok::Op(next)) = self.peek()
                && !matches!(next, BinOp::And | BinOp::Or)
            {
                return Err("chained comparisons are not supported".into());
            }
            return Ok(Expr::Bin(op, Box::new(lhs), Box::new(rhs)));
        }
        Ok(lhs)
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut lhs = self.unary()?;
        while self.peek() == Some(&Tok::Op(BinOp::Add)) {
            self.pos += 1;
            lhs = Expr::Bin(BinOp::Add, Box::new(lhs), Box::new(self.unary()?));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Expr::Lit(Value::String(s))),
            Some(Tok::Num(n)) => Ok(Expr::Lit(number(n))),
            Some(Tok::LParen) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Tok::Ident(id)) => match id.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                "event" | "async" => self.path(id),
                other => Err(format!("unknown identifier `{other}`")),
            },
            Some(t) => Err(format!("unexpected token {t:?}")),
            None => Err("unexpected end of expression".into()),
        }
    }

    fn path(&mut self, root: String) -> Result<Expr, String> {
        let mut segs = vec![root];
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.pos += 1;
                    match self.next() {
                        Some(Tok::Ident(id)) => segs.push(id),
                        _ => return Err("expected a field name after `.`".into()),
                    }
                }
                Some(Tok::LBracket) => {
                    self.pos += 1;
                    let key = match self.next() {
                        Some(Tok::Str(s)) => s,
                        Some(Tok::Num(n)) if n.fract() == 0.0 && n >= 0.0 => format!("{n:.0}"),
                        _ => return Err("expected a string or index inside `[]`".into()),
                    };
                    if self.next() != Some(Tok::RBracket) {
                        return Err("missing `]`".into());
                    }
                    segs.push(key);
                }
                Some(Tok::LParen) => return Err("function calls are not supported".into()),
                _ => return Ok(Expr::Path(segs)),
            }
        }
    }
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Parse an expression of the supported subset.
pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let err = |reason: String| ExprError {
        expr: src.to_string(),
        reason,
    };
    let toks = tokenize(src).map_err(err)?;
    if toks.is_empty() {
        return Err(err("empty expression".into()));
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.or().map_err(err)?;
    if p.pos < p.toks.len() {
        return Err(err(format!(
            "unexpected trailing token {:?}",
            p.toks[p.pos]
        )));
    }
    Ok(e)
}

/// Values the roots of a path resolve to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    pub event: Option<&'a Value>,
    pub async_: Option<&'a Value>,
}

fn lookup(path: &[String], scope: &Scope<'_>) -> Value {
    let root = match path[0].as_str() {
        "event" => scope.event,
        _ => scope.async_,
    };
    let mut cur = match root {
        Some(v) => v,
        None => return Value::Null,
    };
    for seg in &path[1..] {
        cur = match cur {
            Value::Object(m) => match m.get(seg) {
                Some(v) => v,
                None => return Value::Null,
            },
            Value::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return Value::Null,
            },
            _ => return Value::Null,
        };
    }
    cur.clone()
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Evaluate to a JSON value; comparisons between incomparable values are false.
pub fn eval(expr: &Expr, scope: &Scope<'_>) -> Value {
    match expr {
        Expr::Lit(v) => v.clone(),
        Expr::Path(p) => lookup(p, scope),
        Expr::Not(e) => Value::Bool(!truthy(&eval(e, scope))),
        Expr::Bin(BinOp::Add, l, r) => add(&eval(l, scope), &eval(r, scope)),
        Expr::Bin(op, l, r) => {
            let b = match op {
                BinOp::And => truthy(&eval(l, scope)) && truthy(&eval(r, scope)),
                BinOp::Or => truthy(&eval(l, scope)) || truthy(&eval(r, scope)),
                BinOp::Eq => json_eq(&eval(l, scope), &eval(r, scope)),
                BinOp::Ne => !json_eq(&eval(l, scope), &eval(r, scope)),
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    match order(&eval(l, scope), &eval(r, scope)) {
                        Some(o) => match op {
                            BinOp::Lt => o == Ordering::Less,
                            BinOp::Le => o != Ordering::Greater,
                            BinOp::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        },
                        None => false,
                    }
                }
                BinOp::Add => unreachable!("matched above"),
            };
            Value::Bool(b)
        }
    }
}

fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Value::String(format!("{x}{y}")),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.checked_add(y).map_or(Value::Null, Value::from),
            _ => number(x.as_f64().unwrap_or(f64::NAN) + y.as_f64().unwrap_or(f64::NAN)),
        },
        _ => Value::Null,
    }
}

fn truthy(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

/// Whether `expr` holds in `scope` (only a boolean `true` counts).
pub fn holds(expr: &Expr, scope: &Scope<'_>) -> bool {
    truthy(&eval(expr, scope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(src: &str, event: Value, async_: Value) -> bool {
        let e = parse(src).unwrap();
        holds(
            &e,
            &Scope {
                event: Some(&event),
                async_: Some(&async_),
            },
        )
    }

    #[test]
    fn equality_on_paths_and_literals() {
        let ev = json!({"data": {"x": "y", "n": 3, "flag": true}});
        assert!(check("event.data.x == 'y'", ev.clone(), Value::Null));
        assert!(check("event.data.x == \"y\"", ev.clone(), Value::Null));
        assert!(!check("event.data.x == 'z'", ev.clone(), Value::Null));
        assert!(check("event.data.n == 3.0", ev.clone(), Value::Null));
        assert!(check("event.data.flag == true", ev.clone(), Value::Null));
        assert!(check("event.data.missing == null", ev.clone(), Value::Null));
        assert!(check("event.data[\"x\"] != 'q'", ev, Value::Null));
    }

    #[test]
    fn async_and_event_together() {
        let ev = json!({"data": {"ticket": "T-1"}});
        assert!(check(
            "async.data.ticket == event.data.ticket",
            ev.clone(),
            json!({"data": {"ticket": "T-1"}})
        ));
        assert!(!check(
            "async.data.ticket == event.data.ticket",
            ev,
            json!({"data": {"ticket": "T-2"}})
        ));
    }

    #[test]
    fn boolean_logic_and_ordering() {
        let ev = json!({"data": {"n": 5, "s": "b"}});
        assert!(check(
            "event.data.n > 3 && event.data.n <= 5",
            ev.clone(),
            Value::Null
        ));
        assert!(check(
            "event.data.n < 3 || event.data.s >= 'a'",
            ev.clone(),
            Value::Null
        ));
        assert!(check("!(event.data.n == 4)", ev.clone(), Value::Null));
        assert!(!check("event.data.s > 3", ev.clone(), Value::Null));
        assert!(check(
            "event.data.n == -2 || event.data.n != -2",
            ev,
            Value::Null
        ));
    }

    #[test]
    fn plus_concatenates_strings_and_adds_numbers() {
        let ev = json!({"data": {"repo": "acme/api", "fp": "f1", "n": 2}});
        let key = parse("event.data.repo + '-' + event.data.fp").unwrap();
        let scope = Scope {
            event: Some(&ev),
            async_: None,
        };
        assert_eq!(eval(&key, &scope), json!("acme/api-f1"));
        assert!(check("event.data.n + 1 == 3", ev.clone(), Value::Null));
        assert!(check(
            "event.data.repo + 'x' == 'acme/apix'",
            ev.clone(),
            Value::Null
        ));
        assert_eq!(
            eval(&parse("event.data.repo + event.data.n").unwrap(), &scope),
            Value::Null,
            "no implicit conversion"
        );
    }

    #[test]
    fn rejects_unsupported_syntax() {
        for src in [
            "size(event.data.x) > 1",
            "event.data.x in ['a']",
            "event.data.n * 2 == 2",
            "event.data.n - 1 == 2",
            "user.id == 1",
            "event.data.a == 1 == true",
            "",
            "'open",
            "event.data.x ? 1 : 2",
        ] {
            assert!(parse(src).is_err(), "{src} should be rejected");
        }
    }
}
