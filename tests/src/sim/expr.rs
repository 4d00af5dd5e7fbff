//! The expression language of DynamoDB, as far as the store uses it: condition and key
//! condition expressions (comparisons, `BETWEEN`, `attribute_exists`, `attribute_not_exists`,
//! `begins_with`, `contains`, `AND`/`OR`/`NOT`, parentheses), update expressions (`SET` with
//! `if_not_exists` and `+`/`-`, `REMOVE`, `ADD` of numbers and sets, `DELETE` from sets) and
//! projection expressions, with `#name`/`:value` placeholders. Anything else panics with
//! the expression's text: the simulation never guesses what an expression means.

use super::value::{add_n, cmp_n, neg_n, Item, AV};
use std::cmp::Ordering;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Name(String),
    Value(String),
    LParen,
    RParen,
    Comma,
    Op(&'static str),
    Plus,
    Minus,
}

fn unsupported(what: &str, expr: &str) -> ! {
    panic!("simulated DynamoDB: unsupported expression ({what}): {expr:?}")
}

fn tokenize(expr: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let word = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && (chars[*i].is_ascii_alphanumeric() || chars[*i] == '_') {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '+' => {
                out.push(Tok::Plus);
                i += 1
            }
            '-' => {
                out.push(Tok::Minus);
                i += 1
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1
            }
            '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "<=" => "<=",
                    ">=" => ">=",
                    "<>" => "<>",
                    _ if c == '<' => "<",
                    _ => ">",
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            '#' | ':' => {
                i += 1;
                let w = word(&mut i);
                if w.is_empty() {
                    unsupported("empty placeholder", expr)
                }
                out.push(if c == '#' { Tok::Name(format!("#{w}")) } else { Tok::Value(format!(":{w}")) });
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                // Attribute names may contain ':' in the store's data (`via:{r}`), but only via
                // placeholders; a bare name is letters, digits and '_'.
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            _ => unsupported(&format!("character {c:?}"), expr),
        }
    }
    out
}

/// Names and values bound to an expression's placeholders.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AV>,
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    expr: &'a str,
    b: &'a Bindings,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Path(String),
    Value(AV),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(Operand, &'static str, Operand),
    Between(Operand, Operand, Operand),
    Exists(String),
    NotExists(String),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
}

#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    Operand(Operand),
    IfNotExists(String, Operand),
    Plus(Operand, Operand),
    Minus(Operand, Operand),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub set: Vec<(String, SetValue)>,
    pub remove: Vec<String>,
    pub add: Vec<(String, AV)>,
    pub delete: Vec<(String, AV)>,
}

impl<'a> Parser<'a> {
    fn new(expr: &'a str, b: &'a Bindings) -> Parser<'a> {
        Parser { toks: tokenize(expr), pos: 0, expr, b }
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn fail(&self, what: &str) -> ! {
        unsupported(&format!("{what} at token {}", self.pos), self.expr)
    }
    fn expect(&mut self, t: Tok) {
        if self.next() != Some(t.clone()) {
            self.fail(&format!("expected {t:?}"))
        }
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn name(&self, placeholder: &str) -> String {
        self.b.names.get(placeholder).cloned().unwrap_or_else(|| self.fail(&format!("unbound name {placeholder}")))
    }
    fn value(&self, placeholder: &str) -> AV {
        self.b.values.get(placeholder).cloned().unwrap_or_else(|| self.fail(&format!("unbound value {placeholder}")))
    }
    /// A top-level attribute path (no nested paths: the store uses none).
    fn path(&mut self) -> String {
        match self.next() {
            Some(Tok::Name(n)) => self.name(&n),
            Some(Tok::Word(w)) if !is_reserved(&w) => w,
            _ => self.fail("expected an attribute path"),
        }
    }
    fn operand(&mut self) -> Operand {
        match self.peek() {
            Some(Tok::Value(v)) => {
                let v = v.clone();
                self.pos += 1;
                Operand::Value(self.value(&v))
            }
            Some(Tok::Word(w)) if is_function(w) => self.fail("function as an operand"),
            _ => Operand::Path(self.path()),
        }
    }

    // cond := or ; or := and (OR and)* ; and := not (AND not)* ; not := NOT not | primary
    fn cond(&mut self) -> Cond {
        let mut left = self.and();
        while self.keyword("OR") {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()));
        }
        left
    }
    fn and(&mut self) -> Cond {
        let mut left = self.not();
        while self.keyword("AND") {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.not()));
        }
        left
    }
    fn not(&mut self) -> Cond {
        if self.keyword("NOT") {
            self.pos += 1;
            return Cond::Not(Box::new(self.not()));
        }
        self.primary()
    }
    fn primary(&mut self) -> Cond {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let c = self.cond();
            self.expect(Tok::RParen);
            return c;
        }
        if let Some(Tok::Word(w)) = self.peek() {
            if is_function(w) {
                let f = w.to_ascii_lowercase();
                self.pos += 1;
                self.expect(Tok::LParen);
                let c = match f.as_str() {
                    "attribute_exists" => Cond::Exists(self.path()),
                    "attribute_not_exists" => Cond::NotExists(self.path()),
                    "begins_with" | "contains" => {
                        let a = self.operand();
                        self.expect(Tok::Comma);
                        let b = self.operand();
                        if f == "begins_with" {
                            Cond::BeginsWith(a, b)
                        } else {
                            Cond::Contains(a, b)
                        }
                    }
                    _ => self.fail(&format!("function {f} in a condition")),
                };
                self.expect(Tok::RParen);
                return c;
            }
        }
        let left = self.operand();
        if self.keyword("BETWEEN") {
            self.pos += 1;
            let lo = self.operand();
            if !self.keyword("AND") {
                self.fail("BETWEEN without AND")
            }
            self.pos += 1;
            let hi = self.operand();
            return Cond::Between(left, lo, hi);
        }
        match self.next() {
            Some(Tok::Op(op)) => Cond::Cmp(left, op, self.operand()),
            _ => self.fail("expected a comparison"),
        }
    }

    fn update(&mut self) -> Update {
        let mut u = Update::default();
        while let Some(t) = self.next() {
            let Tok::Word(clause) = t else { self.fail("expected SET/REMOVE/ADD/DELETE") };
            match clause.to_ascii_uppercase().as_str() {
                "SET" => loop {
                    let path = self.path();
                    self.expect(Tok::Op("="));
                    let v = self.set_value();
                    u.set.push((path, v));
                    if !self.comma() {
                        break;
                    }
                },
                "REMOVE" => loop {
                    u.remove.push(self.path());
                    if !self.comma() {
                        break;
                    }
                },
                "ADD" | "DELETE" => loop {
                    let path = self.path();
                    let Operand::Value(v) = self.operand() else { self.fail("ADD/DELETE needs a value") };
                    if clause.eq_ignore_ascii_case("ADD") {
                        u.add.push((path, v));
                    } else {
                        u.delete.push((path, v));
                    }
                    if !self.comma() {
                        break;
                    }
                },
                other => self.fail(&format!("update clause {other}")),
            }
        }
        u
    }
    fn comma(&mut self) -> bool {
        if self.peek() == Some(&Tok::Comma) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn set_value(&mut self) -> SetValue {
        if let Some(Tok::Word(w)) = self.peek() {
            if w.eq_ignore_ascii_case("if_not_exists") {
                self.pos += 1;
                self.expect(Tok::LParen);
                let p = self.path();
                self.expect(Tok::Comma);
                let v = self.operand();
                self.expect(Tok::RParen);
                return SetValue::IfNotExists(p, v);
            }
            if is_function(w) {
                self.fail(&format!("function {w} in SET"))
            }
        }
        let a = self.operand();
        match self.peek() {
            Some(Tok::Plus) => {
                self.pos += 1;
                SetValue::Plus(a, self.operand())
            }
            Some(Tok::Minus) => {
                self.pos += 1;
                SetValue::Minus(a, self.operand())
            }
            _ => SetValue::Operand(a),
        }
    }
}

fn is_function(w: &str) -> bool {
    ["attribute_exists", "attribute_not_exists", "begins_with", "contains", "if_not_exists", "size", "attribute_type", "list_append"]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(w))
}

fn is_reserved(w: &str) -> bool {
    ["AND", "OR", "NOT", "BETWEEN", "IN", "SET", "REMOVE", "ADD", "DELETE"].iter().any(|k| k.eq_ignore_ascii_case(w))
}

pub fn parse_condition(expr: &str, b: &Bindings) -> Cond {
    let mut p = Parser::new(expr, b);
    let c = p.cond();
    if p.pos != p.toks.len() {
        p.fail("trailing tokens")
    }
    c
}

pub fn parse_update(expr: &str, b: &Bindings) -> Update {
    let mut p = Parser::new(expr, b);
    p.update()
}

/// The attribute names a projection expression keeps.
pub fn parse_projection(expr: &str, b: &Bindings) -> Vec<String> {
    let mut p = Parser::new(expr, b);
    let mut out = vec![p.path()];
    while p.comma() {
        out.push(p.path());
    }
    if p.pos != p.toks.len() {
        p.fail("trailing tokens in projection")
    }
    out
}

fn resolve<'a>(o: &'a Operand, item: &'a Item) -> Option<&'a AV> {
    match o {
        Operand::Path(p) => item.get(p),
        Operand::Value(v) => Some(v),
    }
}

/// Orders two values of one scalar type (`None`: not comparable).
fn compare(a: &AV, b: &AV) -> Option<Ordering> {
    match (a, b) {
        (AV::S(x), AV::S(y)) | (AV::B(x), AV::B(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AV::N(x), AV::N(y)) => Some(cmp_n(x, y)),
        _ => None,
    }
}

pub fn eval(c: &Cond, item: &Item) -> bool {
    match c {
        Cond::And(a, b) => eval(a, item) && eval(b, item),
        Cond::Or(a, b) => eval(a, item) || eval(b, item),
        Cond::Not(a) => !eval(a, item),
        Cond::Exists(p) => item.contains_key(p),
        Cond::NotExists(p) => !item.contains_key(p),
        Cond::Cmp(a, op, b) => {
            let (Some(x), Some(y)) = (resolve(a, item), resolve(b, item)) else { return *op == "<>" };
            match *op {
                "=" => x == y,
                "<>" => x != y,
                _ => match compare(x, y) {
                    None => false,
                    Some(o) => match *op {
                        "<" => o == Ordering::Less,
                        "<=" => o != Ordering::Greater,
                        ">" => o == Ordering::Greater,
                        ">=" => o != Ordering::Less,
                        _ => unreachable!(),
                    },
                },
            }
        }
        Cond::Between(a, lo, hi) => {
            let (Some(x), Some(l), Some(h)) = (resolve(a, item), resolve(lo, item), resolve(hi, item)) else { return false };
            compare(x, l).is_some_and(|o| o != Ordering::Less) && compare(x, h).is_some_and(|o| o != Ordering::Greater)
        }
        Cond::BeginsWith(a, b) => match (resolve(a, item), resolve(b, item)) {
            (Some(AV::S(x)), Some(AV::S(y))) => x.starts_with(y.as_str()),
            _ => false,
        },
        Cond::Contains(a, b) => match (resolve(a, item), resolve(b, item)) {
            (Some(AV::S(x)), Some(AV::S(y))) => x.contains(y.as_str()),
            (Some(AV::Ss(set)), Some(AV::S(y))) => set.contains(y),
            (Some(AV::Ns(set)), Some(AV::N(y))) => set.contains(y),
            (Some(AV::L(l)), Some(y)) => l.contains(y),
            _ => false,
        },
    }
}

/// Applies an update to an item (which may be new: key attributes only). Every right-hand
/// side is evaluated against the item as it was before the update, as DynamoDB does.
pub fn apply_update(u: &Update, item: &Item, expr: &str) -> Item {
    let before = item.clone();
    let mut out = item.clone();
    for (path, v) in &u.set {
        let value = match v {
            SetValue::Operand(o) => resolve(o, &before).cloned(),
            SetValue::IfNotExists(p, o) => before.get(p).cloned().or_else(|| resolve(o, &before).cloned()),
            SetValue::Plus(a, b) | SetValue::Minus(a, b) => match (resolve(a, &before), resolve(b, &before)) {
                (Some(AV::N(x)), Some(AV::N(y))) => {
                    Some(AV::N(if matches!(v, SetValue::Plus(..)) { add_n(x, y) } else { add_n(x, &neg_n(y)) }))
                }
                _ => panic!("simulated DynamoDB: arithmetic on a missing or non-number operand in {expr:?} (a ValidationException)"),
            },
        };
        match value {
            Some(value) => {
                out.insert(path.clone(), value);
            }
            None => panic!("simulated DynamoDB: SET {path} from a missing attribute in {expr:?} (a ValidationException)"),
        }
    }
    for path in &u.remove {
        out.remove(path);
    }
    for (path, v) in &u.add {
        let merged = match (out.get(path), v) {
            (None, v @ (AV::N(_) | AV::Ns(_) | AV::Ss(_) | AV::Bs(_))) => v.clone(),
            (Some(AV::N(x)), AV::N(y)) => AV::N(add_n(x, y)),
            (Some(AV::Ns(x)), AV::Ns(y)) => AV::Ns(x.union(y).cloned().collect()),
            (Some(AV::Ss(x)), AV::Ss(y)) => AV::Ss(x.union(y).cloned().collect()),
            (Some(AV::Bs(x)), AV::Bs(y)) => AV::Bs(x.union(y).cloned().collect()),
            (have, _) => panic!("simulated DynamoDB: ADD {path} of {v:?} to {have:?} in {expr:?} (a ValidationException)"),
        };
        out.insert(path.clone(), merged);
    }
    for (path, v) in &u.delete {
        let left = match (out.get(path), v) {
            (None, _) => None,
            (Some(AV::Ns(x)), AV::Ns(y)) => Some(AV::Ns(x.difference(y).cloned().collect())),
            (Some(AV::Ss(x)), AV::Ss(y)) => Some(AV::Ss(x.difference(y).cloned().collect())),
            (Some(AV::Bs(x)), AV::Bs(y)) => Some(AV::Bs(x.difference(y).cloned().collect())),
            (have, _) => panic!("simulated DynamoDB: DELETE {path} of {v:?} from {have:?} in {expr:?} (a ValidationException)"),
        };
        match left {
            // An emptied set is removed: DynamoDB stores no empty sets.
            Some(AV::Ns(s)) | Some(AV::Ss(s)) | Some(AV::Bs(s)) if s.is_empty() => {
                out.remove(path);
            }
            Some(v) => {
                out.insert(path.clone(), v);
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(names: &[(&str, &str)], values: &[(&str, AV)]) -> Bindings {
        Bindings {
            names: names.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            values: values.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        }
    }
    fn s(x: &str) -> AV {
        AV::S(x.into())
    }
    fn n(x: i64) -> AV {
        AV::N(x.to_string())
    }
    fn ns(x: &[i64]) -> AV {
        AV::Ns(x.iter().map(|v| v.to_string()).collect())
    }
    fn item(pairs: &[(&str, AV)]) -> Item {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn conditions_of_the_store() {
        let bind = b(
            &[("#pk", "pk"), ("#current", "current")],
            &[(":digest", s("v1:x")), (":format", s("v1:")), (":o", s("O-1")), (":c", n(2)), (":chunk", n(1))],
        );
        let record = parse_condition("attribute_not_exists(#pk) OR digest = :digest OR NOT begins_with(digest, :format)", &bind);
        assert!(eval(&record, &item(&[])));
        assert!(eval(&record, &item(&[("pk", s("p")), ("digest", s("v1:x"))])));
        assert!(!eval(&record, &item(&[("pk", s("p")), ("digest", s("v1:y"))])));
        assert!(eval(&record, &item(&[("pk", s("p")), ("digest", s("v0:y"))])));
        let mine = parse_condition("order_id = :o AND attribute_not_exists(versions)", &bind);
        assert!(eval(&mine, &item(&[("order_id", s("O-1"))])));
        assert!(!eval(&mine, &item(&[("order_id", s("O-1")), ("versions", ns(&[1]))])));
        let not_contains = parse_condition("NOT contains(provisioned, :chunk)", &bind);
        assert!(eval(&not_contains, &item(&[])));
        assert!(!eval(&not_contains, &item(&[("provisioned", ns(&[0, 1]))])));
        let grouped = parse_condition("(#current = :c) AND attribute_not_exists(resells)", &bind);
        assert!(eval(&grouped, &item(&[("current", n(2))])));
        assert!(!eval(&grouped, &item(&[("current", n(2)), ("resells", AV::Bool(true))])));
        // Numbers compare as numbers, strings as bytes; a missing attribute compares false.
        let lt = parse_condition("#current < :c", &bind);
        assert!(eval(&lt, &item(&[("current", n(-10))])));
        assert!(!eval(&lt, &item(&[])));
        let between = parse_condition(
            "#pk = :o AND sk BETWEEN :lo AND :hi",
            &b(&[("#pk", "pk")], &[(":o", s("P")), (":lo", s("LINE#")), (":hi", s("LINE#2"))]),
        );
        assert!(eval(&between, &item(&[("pk", s("P")), ("sk", s("LINE#1#S"))])));
        assert!(!eval(&between, &item(&[("pk", s("P")), ("sk", s("LINE#2#S"))])));
    }

    #[test]
    #[should_panic(expected = "unsupported expression")]
    fn an_unknown_function_panics_with_the_expression() {
        parse_condition("size(versions) > :n", &b(&[], &[(":n", n(1))]));
    }

    #[test]
    #[should_panic(expected = "unbound value")]
    fn an_unbound_placeholder_panics() {
        parse_condition("a = :missing", &Bindings::default());
    }

    #[test]
    fn updates_of_the_store() {
        let bind = b(
            &[("#role", "role"), ("#current", "current")],
            &[(":v", ns(&[2])), (":o", s("O-1")), (":role", s("user")), (":d", n(-3)), (":hv", n(1))],
        );
        let u =
            parse_update("SET order_id = :o, #current = if_not_exists(#current, :hv) ADD staged :v, count :d REMOVE settled_until", &bind);
        let got = apply_update(&u, &item(&[("staged", ns(&[1])), ("settled_until", n(5)), ("current", n(7))]), "");
        assert_eq!(got, item(&[("order_id", s("O-1")), ("current", n(7)), ("staged", ns(&[1, 2])), ("count", n(-3))]));
        let del = parse_update("DELETE staged :v", &bind);
        assert_eq!(apply_update(&del, &item(&[("staged", ns(&[2]))]), ""), item(&[]), "an emptied set is removed");
        assert_eq!(apply_update(&del, &item(&[]), ""), item(&[]));
        let keep = parse_update("SET #role = if_not_exists(#role, :role)", &bind);
        assert_eq!(apply_update(&keep, &item(&[("role", s("admin"))]), "")["role"], s("admin"));
        assert_eq!(apply_update(&keep, &item(&[]), "")["role"], s("user"));
    }

    #[test]
    fn projections_name_attributes() {
        let bind = b(&[("#pk", "gsi1pk"), ("#sk", "gsi1sk")], &[]);
        assert_eq!(parse_projection("#pk, #sk, pk, sk", &bind), ["gsi1pk", "gsi1sk", "pk", "sk"]);
    }
}
