//! Multi-variant feature flags, evaluated locally against a caller's context, as the AWS
//! AppConfig agent does: each flag's variants are tried in order, and the first whose rule holds
//! for the context (a variant without a rule always does: the default, last) gives the flag's
//! value, with `_variant` naming it.
//!
//! A rule is AppConfig's expression language: `(eq $country "US")`, `(gt $age 65)`,
//! `(and …)`, `(or …)`, `(not …)`, `(begins_with …)`, `(ends_with …)`, `(contains …)`,
//! `(in $id ["1", "2"])`, `(matches in::$email pattern::".*@example\.com")`,
//! `(exists key::"country")`, `(split by::$userId pct::20 seed::"s")`. Operands are strings,
//! integers, floats, booleans, timestamps (`2024-01`, `2012-03-04T05:06:07-08:00`), context
//! values (`$key`) and other expressions. Rules are parsed once per profile version
//! ([`FlagRules`]), never per request.
//!
//! ```
//! use lambda_cache_appconfig::variants::{Context, FlagRules};
//! let profile = serde_json::json!({
//!     "checkout": {"enabled": false, "_variants": [
//!         {"name": "Beta", "enabled": true, "rule": "(in $tier [\"beta\", \"staff\"])", "attributeValues": {"layout": "v2"}},
//!         {"name": "Default", "enabled": false}
//!     ]}
//! });
//! let rules = FlagRules::from_json(&profile)?;
//! let beta = rules.evaluate("checkout", &Context::new().with("tier", "beta")).unwrap()?;
//! assert_eq!(beta, serde_json::json!({"enabled": true, "layout": "v2", "_variant": "Beta"}));
//! let other = rules.evaluate("checkout", &Context::new()).unwrap()?;
//! assert_eq!(other["_variant"], "Default");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use lambda_cache_core::shown;
use serde_json::{Map, Value};

/// The longest rule AppConfig accepts, in bytes.
pub const MAX_RULE_BYTES: usize = 1024;
/// The deepest nesting of expressions a rule may have.
const MAX_DEPTH: usize = 32;
/// Context pairs a request may give.
pub const MAX_CONTEXT_PAIRS: usize = 64;

/// The caller's context: keys and their values, as text (the AppConfig agent's `Context`
/// header, `key=value`, repeated or comma-separated).
///
/// ```
/// use lambda_cache_appconfig::variants::Context;
/// let mut context = Context::new();
/// context.add_header("country=US, tier = beta")?;
/// assert_eq!(context.get("tier"), Some("beta"));
/// assert!(context.add_header("no-equals-sign").is_err());
/// # Ok::<(), lambda_cache_appconfig::variants::ContextError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, String>,
}

/// A `Context` header that is not `key=value` pairs; names the pair at fault.
///
/// ```
/// let err = lambda_cache_appconfig::variants::Context::new().add_header("=x").unwrap_err();
/// assert!(err.to_string().contains("\"=x\""));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextError(String);

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ContextError {}

impl Context {
    /// An empty context.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::variants::Context::new().get("x"), None);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// This context with `key` set to `value`.
    ///
    /// ```
    /// let c = lambda_cache_appconfig::variants::Context::new().with("country", "US");
    /// assert_eq!(c.get("country"), Some("US"));
    /// ```
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Adds the pairs of one `Context` header value: `key=value`, comma-separated, each trimmed.
    ///
    /// # Errors
    /// [`ContextError`] naming a pair without `=` or with an empty key, or when the context
    /// would hold more than [`MAX_CONTEXT_PAIRS`] keys.
    ///
    /// ```
    /// let mut c = lambda_cache_appconfig::variants::Context::new();
    /// c.add_header("a=1,b=2")?;
    /// assert_eq!((c.get("a"), c.get("b")), (Some("1"), Some("2")));
    /// # Ok::<(), lambda_cache_appconfig::variants::ContextError>(())
    /// ```
    pub fn add_header(&mut self, header: &str) -> Result<(), ContextError> {
        for pair in header.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            match pair.split_once('=') {
                Some((key, value)) if !key.trim().is_empty() => {
                    self.values
                        .insert(key.trim().to_owned(), value.trim().to_owned());
                }
                _ => {
                    return Err(ContextError(format!(
                        "Context pair {} is not key=value",
                        shown(pair)
                    )));
                }
            }
            if self.values.len() > MAX_CONTEXT_PAIRS {
                return Err(ContextError(format!(
                    "more than {MAX_CONTEXT_PAIRS} Context keys"
                )));
            }
        }
        Ok(())
    }

    /// The value of `key`, if given.
    ///
    /// ```
    /// assert_eq!(lambda_cache_appconfig::variants::Context::new().with("k", "v").get("k"), Some("v"));
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// True when no key is given.
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::variants::Context::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A rule that does not parse: where, and why. Shows the rule only shortened, as every error
/// here shows an input.
///
/// ```
/// let err = lambda_cache_appconfig::variants::Rule::parse("(eq $a").unwrap_err();
/// assert!(err.to_string().contains("at byte 6"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    at: usize,
    message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.message)
    }
}

impl std::error::Error for RuleError {}

/// A multi-variant flag that cannot be evaluated: its rule does not parse, or its variants are
/// not AppConfig's shape. Names the flag (and the variant).
///
/// ```
/// use lambda_cache_appconfig::variants::FlagRules;
/// let profile = serde_json::json!({"f": {"_variants": [{"name": "V", "enabled": true, "rule": "(eq"}]}});
/// let err = FlagRules::from_json(&profile)?.evaluate("f", &Default::default()).unwrap().unwrap_err();
/// assert!(err.to_string().starts_with("feature flag \"f\", variant \"V\": "), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VariantError(String);

impl fmt::Display for VariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VariantError {}

/// A parsed rule.
///
/// ```
/// use lambda_cache_appconfig::variants::{Context, Rule};
/// let rule = Rule::parse(r#"(and (eq $country "US") (gte $age 21))"#)?;
/// assert!(rule.matches(&Context::new().with("country", "US").with("age", "30")));
/// assert!(!rule.matches(&Context::new().with("country", "US").with("age", "20")));
/// assert!(!rule.matches(&Context::new()), "a missing key matches nothing");
/// # Ok::<(), lambda_cache_appconfig::variants::RuleError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Rule {
    expr: Expr,
}

#[derive(Clone, Debug)]
enum Expr {
    Compare(Cmp, Operand, Operand),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Text(TextOp, Operand, Operand),
    In(Operand, Vec<Operand>),
    Matches(Operand, regex_lite::Regex),
    Exists(String),
    Split { by: String, pct: f64, seed: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Clone, Copy, Debug)]
enum TextOp {
    BeginsWith,
    EndsWith,
    Contains,
}

#[derive(Clone, Debug)]
enum Operand {
    Literal(Literal),
    Context(String),
    Expr(Box<Expr>),
    /// `[a, b]`: only `in` takes one.
    List(Vec<Operand>),
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Milliseconds since the Unix epoch.
    Time(i64),
}

impl Rule {
    /// Parses a rule.
    ///
    /// # Errors
    /// [`RuleError`]: where and why (an unknown operator, a wrong number of operands, an
    /// unclosed string or parenthesis, a bad number, timestamp or pattern, nesting past 32
    /// levels, a rule past 1,024 bytes).
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::variants::Rule::parse("(split by::$id pct::20)").is_ok());
    /// assert!(lambda_cache_appconfig::variants::Rule::parse("(frobnicate $x)").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        if text.len() > MAX_RULE_BYTES {
            return Err(RuleError {
                at: MAX_RULE_BYTES,
                message: format!("longer than {MAX_RULE_BYTES} bytes"),
            });
        }
        let mut parser = Parser { text, at: 0 };
        parser.skip_space();
        let expr = parser.expr(0)?;
        parser.skip_space();
        if parser.at < text.len() {
            return Err(parser.error("text after the rule's closing parenthesis"));
        }
        Ok(Rule { expr })
    }

    /// Whether the rule holds for `context`. A key the context lacks, or a value that is not
    /// of the type it is compared with, makes its test false.
    ///
    /// ```
    /// use lambda_cache_appconfig::variants::{Context, Rule};
    /// let rule = Rule::parse(r#"(not (exists key::"beta"))"#)?;
    /// assert!(rule.matches(&Context::new()));
    /// # Ok::<(), lambda_cache_appconfig::variants::RuleError>(())
    /// ```
    pub fn matches(&self, context: &Context) -> bool {
        self.expr.holds(context)
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> RuleError {
        RuleError {
            at: self.at,
            message: message.into(),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.text.len() - trimmed.len();
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// A run of characters up to white space, a parenthesis, a bracket or a comma.
    fn atom(&mut self) -> &str {
        let start = self.at;
        let end = self
            .rest()
            .find(|c: char| c.is_whitespace() || "()[],\"".contains(c))
            .map_or(self.text.len(), |i| start + i);
        self.at = end;
        &self.text[start..end]
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, RuleError> {
        if depth >= MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        if !self.eat('(') {
            return Err(self.error("an expression starts with ("));
        }
        self.skip_space();
        let op_at = self.at;
        let op = self.atom().to_owned();
        let mut positional = Vec::new();
        let mut named: Vec<(String, Operand, usize)> = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return Err(self.error(format!("({op} is not closed with )"))),
                Some(')') => {
                    self.at += 1;
                    break;
                }
                _ => {}
            }
            let at = self.at;
            if let Some(name_len) = self.rest().find("::").filter(|&i| {
                let name = &self.rest()[..i];
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            }) {
                let name = self.rest()[..name_len].to_owned();
                self.at += name_len + 2;
                let value = self.operand(depth)?;
                named.push((name, value, at));
            } else {
                positional.push(self.operand(depth)?);
            }
        }
        let wrong = |message: String| RuleError { at: op_at, message };
        if op != "in" && positional.iter().any(|p| matches!(p, Operand::List(_))) {
            return Err(wrong(format!("{op} takes no [list]: only in does")));
        }
        let exactly = |n: usize, positional: &[Operand], named: &[(String, Operand, usize)]| {
            if positional.len() == n && named.is_empty() {
                Ok(())
            } else {
                Err(wrong(format!(
                    "{op} takes {n} operand{}",
                    if n == 1 { "" } else { "s" }
                )))
            }
        };
        let expr = match op.as_str() {
            "eq" | "gt" | "gte" | "lt" | "lte" => {
                exactly(2, &positional, &named)?;
                let cmp = match op.as_str() {
                    "eq" => Cmp::Eq,
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                let mut it = positional.into_iter();
                let (a, b) = (it.next(), it.next());
                match (a, b) {
                    (Some(a), Some(b)) => Expr::Compare(cmp, a, b),
                    _ => return Err(wrong(format!("{op} takes 2 operands"))),
                }
            }
            "and" | "or" => {
                if positional.len() < 2 || !named.is_empty() {
                    return Err(wrong(format!("{op} takes 2 or more expressions")));
                }
                let parts = positional
                    .into_iter()
                    .map(|p| match p {
                        Operand::Expr(e) => Ok(*e),
                        _ => Err(wrong(format!("{op} takes expressions, not values"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "and" {
                    Expr::And(parts)
                } else {
                    Expr::Or(parts)
                }
            }
            "not" => {
                exactly(1, &positional, &named)?;
                match positional.pop() {
                    Some(Operand::Expr(e)) => Expr::Not(e),
                    _ => return Err(wrong("not takes an expression".into())),
                }
            }
            "begins_with" | "ends_with" | "contains" => {
                exactly(2, &positional, &named)?;
                let text_op = match op.as_str() {
                    "begins_with" => TextOp::BeginsWith,
                    "ends_with" => TextOp::EndsWith,
                    _ => TextOp::Contains,
                };
                let b = positional.pop();
                let a = positional.pop();
                match (a, b) {
                    (Some(a), Some(b)) => Expr::Text(text_op, a, b),
                    _ => return Err(wrong(format!("{op} takes 2 operands"))),
                }
            }
            "in" => {
                exactly(2, &positional, &named)?;
                let list = positional.pop();
                let value = positional.pop();
                match (value, list) {
                    (Some(value), Some(Operand::List(items)))
                        if !matches!(value, Operand::List(_)) =>
                    {
                        Expr::In(value, items)
                    }
                    _ => return Err(wrong("in takes a value and a [list]".into())),
                }
            }
            "matches" => {
                let (value, pattern) = take_named(named, &["in", "pattern"])?;
                let (Some(value), Some(pattern)) = (value, pattern) else {
                    return Err(wrong(
                        "matches takes in::<value> pattern::\"<regex>\"".into(),
                    ));
                };
                if !positional.is_empty() {
                    return Err(wrong("matches takes only in:: and pattern::".into()));
                }
                let Operand::Literal(Literal::Str(pattern)) = pattern else {
                    return Err(wrong("matches takes its pattern as a string".into()));
                };
                let regex = regex_lite::RegexBuilder::new(&pattern)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| wrong(format!("pattern {}: {e}", shown(&pattern))))?;
                Expr::Matches(value, regex)
            }
            "exists" => {
                let (key, _) = take_named(named, &["key", ""])?;
                if !positional.is_empty() {
                    return Err(wrong("exists takes only key::\"<name>\"".into()));
                }
                match key {
                    Some(Operand::Literal(Literal::Str(key))) => Expr::Exists(key),
                    Some(Operand::Context(key)) => Expr::Exists(key),
                    _ => return Err(wrong("exists takes key::\"<name>\"".into())),
                }
            }
            "split" => {
                if !positional.is_empty() {
                    return Err(wrong(
                        "split takes by::$<key> pct::<0-100> [seed::\"…\"]".into(),
                    ));
                }
                let mut by = None;
                let mut pct = None;
                let mut seed = String::new();
                for (name, value, name_at) in named {
                    let bad = |message: &str| RuleError {
                        at: name_at,
                        message: message.to_owned(),
                    };
                    match (name.as_str(), value) {
                        ("by", Operand::Context(key)) => by = Some(key),
                        ("pct", Operand::Literal(Literal::Int(n))) => pct = Some(n as f64),
                        ("pct", Operand::Literal(Literal::Float(f))) => pct = Some(f),
                        ("seed", Operand::Literal(Literal::Str(s))) => seed = s,
                        ("by", _) => return Err(bad("split's by:: takes a context value ($key)")),
                        ("pct", _) => return Err(bad("split's pct:: takes a number")),
                        ("seed", _) => return Err(bad("split's seed:: takes a string")),
                        _ => return Err(bad("split takes by::, pct:: and seed:: only")),
                    }
                }
                let (Some(by), Some(pct)) = (by, pct) else {
                    return Err(wrong("split takes by::$<key> and pct::<0-100>".into()));
                };
                if !(0.0..=100.0).contains(&pct) {
                    return Err(wrong(format!("split's pct {pct} is not from 0 to 100")));
                }
                Expr::Split { by, pct, seed }
            }
            "" => return Err(wrong("an operator is missing after (".into())),
            other => return Err(wrong(format!("unknown operator {}", shown(other)))),
        };
        Ok(expr)
    }

    fn operand(&mut self, depth: usize) -> Result<Operand, RuleError> {
        match self.peek() {
            Some('(') => Ok(Operand::Expr(Box::new(self.expr(depth + 1)?))),
            Some('[') => {
                // A list, kept as the items of an `in` (read back by the `in` operator).
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_space();
                    if self.eat(']') {
                        break;
                    }
                    if self.peek().is_none() {
                        return Err(self.error("a [list is not closed with ]"));
                    }
                    let item_at = self.at;
                    let item = self.operand(depth)?;
                    if matches!(item, Operand::Expr(_) | Operand::List(_)) {
                        return Err(RuleError {
                            at: item_at,
                            message: "a list holds values, not expressions or lists".into(),
                        });
                    }
                    items.push(item);
                    self.skip_space();
                    if !self.eat(',') && self.peek() != Some(']') {
                        return Err(self.error(match self.peek() {
                            None | Some(')') => "a [list is not closed with ]",
                            _ => "list items are separated by commas",
                        }));
                    }
                }
                Ok(Operand::List(items))
            }
            Some('"') => {
                self.at += 1;
                let mut text = String::new();
                let mut chars = self.rest().char_indices();
                loop {
                    match chars.next() {
                        None => return Err(self.error("a string is not closed with \"")),
                        Some((i, '"')) => {
                            self.at += i + 1;
                            return Ok(Operand::Literal(Literal::Str(text)));
                        }
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c)) => text.push(c),
                            None => return Err(self.error("a string is not closed with \"")),
                        },
                        Some((_, c)) => text.push(c),
                    }
                }
            }
            Some('$') => {
                self.at += 1;
                let at = self.at;
                let key = self.atom();
                if key.is_empty() {
                    return Err(RuleError {
                        at,
                        message: "$ names a context key".into(),
                    });
                }
                Ok(Operand::Context(key.to_owned()))
            }
            Some(')' | ']' | ',') | None => Err(self.error("an operand is missing")),
            Some(_) => {
                let at = self.at;
                let atom = self.atom();
                literal(atom)
                    .map(Operand::Literal)
                    .ok_or_else(|| RuleError {
                        at,
                        message: format!(
                            "{} is not a number, boolean, timestamp, \"string\" or $key",
                            shown(atom)
                        ),
                    })
            }
        }
    }
}

/// The named operands `names[0]` and `names[1]` (an empty name: unused); any other name is an
/// error.
fn take_named(
    named: Vec<(String, Operand, usize)>,
    names: &[&str; 2],
) -> Result<(Option<Operand>, Option<Operand>), RuleError> {
    let (mut first, mut second) = (None, None);
    for (name, value, at) in named {
        if name == names[0] && first.is_none() {
            first = Some(value);
        } else if !names[1].is_empty() && name == names[1] && second.is_none() {
            second = Some(value);
        } else {
            return Err(RuleError {
                at,
                message: format!("{} is not expected here (or given twice)", shown(&name)),
            });
        }
    }
    Ok((first, second))
}

fn literal(atom: &str) -> Option<Literal> {
    match atom {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        _ => {}
    }
    if let Ok(n) = atom.parse::<i64>() {
        return Some(Literal::Int(n));
    }
    if atom
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && let Ok(f) = atom.parse::<f64>()
        && f.is_finite()
    {
        return Some(Literal::Float(f));
    }
    timestamp(atom).map(Literal::Time)
}

/// A W3C date-time (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, then `Thh:mm[:ss[.s]]` and `Z` or
/// `±hh:mm`) in milliseconds since the Unix epoch.
fn timestamp(text: &str) -> Option<i64> {
    let digits = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = digits(parts.next()?, 4)?;
    let month = parts.next().map_or(Some(1), |m| digits(m, 2))?;
    let day = parts.next().map_or(Some(1), |d| digits(d, 2))?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if time.is_some() && date.len() != 10 {
        return None;
    }
    let mut millis = days_from_civil(year, month, day) * 86_400_000;
    if let Some(time) = time {
        let (clock, offset) = if let Some(clock) = time.strip_suffix('Z') {
            (clock, 0)
        } else {
            let split = time.rfind(['+', '-'])?;
            let (clock, zone) = time.split_at(split);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let (h, m) = (digits(h, 2)?, digits(m, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            (clock, sign * (h * 60 + m) * 60_000)
        };
        let mut fields = clock.split(':');
        let hour = digits(fields.next()?, 2)?;
        let minute = digits(fields.next()?, 2)?;
        let (second, fraction) = match fields.next() {
            None => (0, 0),
            Some(s) => {
                let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
                let whole = digits(whole, 2)?;
                if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty())
                {
                    return None;
                }
                let frac: String = frac.chars().chain("000".chars()).take(3).collect();
                (whole, frac.parse::<i64>().ok()?)
            }
        };
        if fields.next().is_some() || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        millis += ((hour * 60 + minute) * 60 + second) * 1000 + fraction - offset;
    }
    Some(millis)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A value during evaluation.
#[derive(Clone, Debug, PartialEq)]
enum Resolved {
    Text(String),
    Number(f64),
    Bool(bool),
    Time(i64),
}

impl Operand {
    fn resolve(&self, context: &Context) -> Option<Resolved> {
        match self {
            Self::Literal(Literal::Str(s)) => Some(Resolved::Text(s.clone())),
            #[allow(clippy::cast_precision_loss)]
            Self::Literal(Literal::Int(n)) => Some(Resolved::Number(*n as f64)),
            Self::Literal(Literal::Float(f)) => Some(Resolved::Number(*f)),
            Self::Literal(Literal::Bool(b)) => Some(Resolved::Bool(*b)),
            Self::Literal(Literal::Time(t)) => Some(Resolved::Time(*t)),
            Self::Context(key) => context.get(key).map(|v| Resolved::Text(v.to_owned())),
            Self::Expr(expr) => Some(Resolved::Bool(expr.holds(context))),
            Self::List(_) => None,
        }
    }
}

/// `text` (a context value) read as the type of `like`.
fn coerce(text: &str, like: &Resolved) -> Option<Resolved> {
    match like {
        Resolved::Text(_) => Some(Resolved::Text(text.to_owned())),
        Resolved::Number(_) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Resolved::Number),
        Resolved::Bool(_) => match text.trim() {
            "true" => Some(Resolved::Bool(true)),
            "false" => Some(Resolved::Bool(false)),
            _ => None,
        },
        Resolved::Time(_) => timestamp(text.trim()).map(Resolved::Time),
    }
}

/// The two sides made comparable: text from the context takes the other side's type.
fn pair(a: Resolved, b: Resolved) -> Option<(Resolved, Resolved)> {
    match (&a, &b) {
        (Resolved::Text(x), Resolved::Text(_)) => Some((Resolved::Text(x.clone()), b)),
        (Resolved::Text(x), other) => Some((coerce(x, other)?, b)),
        (other, Resolved::Text(y)) => Some((a.clone(), coerce(y, other)?)),
        _ => Some((a, b)),
    }
}

fn ordering(a: &Resolved, b: &Resolved) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Resolved::Text(x), Resolved::Text(y)) => Some(x.cmp(y)),
        (Resolved::Number(x), Resolved::Number(y)) => x.partial_cmp(y),
        (Resolved::Bool(x), Resolved::Bool(y)) => Some(x.cmp(y)),
        (Resolved::Time(x), Resolved::Time(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn text_of(value: Resolved) -> Option<String> {
    match value {
        Resolved::Text(s) => Some(s),
        _ => None,
    }
}

impl Expr {
    fn holds(&self, context: &Context) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Compare(cmp, a, b) => {
                let (Some(a), Some(b)) = (a.resolve(context), b.resolve(context)) else {
                    return false;
                };
                let Some((a, b)) = pair(a, b) else {
                    return false;
                };
                let Some(order) = ordering(&a, &b) else {
                    return false;
                };
                match cmp {
                    Cmp::Eq => order == Equal,
                    Cmp::Gt => order == Greater,
                    Cmp::Gte => order != Less,
                    Cmp::Lt => order == Less,
                    Cmp::Lte => order != Greater,
                }
            }
            Self::And(parts) => parts.iter().all(|p| p.holds(context)),
            Self::Or(parts) => parts.iter().any(|p| p.holds(context)),
            Self::Not(inner) => !inner.holds(context),
            Self::Text(op, a, b) => {
                let (Some(a), Some(b)) = (
                    a.resolve(context).and_then(text_of),
                    b.resolve(context).and_then(text_of),
                ) else {
                    return false;
                };
                match op {
                    TextOp::BeginsWith => a.starts_with(&b),
                    TextOp::EndsWith => a.ends_with(&b),
                    TextOp::Contains => a.contains(&b),
                }
            }
            Self::In(value, items) => {
                let Some(value) = value.resolve(context) else {
                    return false;
                };
                items.iter().any(|item| {
                    item.resolve(context)
                        .and_then(|item| pair(value.clone(), item))
                        .and_then(|(a, b)| ordering(&a, &b))
                        == Some(Equal)
                })
            }
            Self::Matches(value, regex) => value
                .resolve(context)
                .and_then(text_of)
                .is_some_and(|text| regex.is_match(&text)),
            Self::Exists(key) => context.get(key).is_some(),
            Self::Split { by, pct, seed } => context.get(by).is_some_and(|value| {
                // FNV-1a of the seed and the value, in basis points: the same value always
                // falls in the same bucket, in every environment.
                let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
                for byte in seed.bytes().chain([0]).chain(value.bytes()) {
                    hash ^= u64::from(byte);
                    hash = hash.wrapping_mul(0x0100_0000_01b3);
                }
                #[allow(clippy::cast_precision_loss)]
                let bucket = (hash % 10_000) as f64 / 100.0;
                bucket < *pct
            }),
        }
    }
}

/// One variant of a flag: its value (with `_variant` naming it), and its rule (none for the
/// default).
#[derive(Clone, Debug)]
struct Variant {
    value: Value,
    rule: Option<Rule>,
}

/// A profile's flags with every multi-variant flag's rules parsed: decode it once per profile
/// version, evaluate it per request.
///
/// ```
/// use lambda_cache_appconfig::variants::{Context, FlagRules};
/// let rules = FlagRules::from_json(&serde_json::json!({"plain": {"enabled": true}}))?;
/// assert_eq!(rules.evaluate("plain", &Context::new()).unwrap()?, serde_json::json!({"enabled": true}));
/// assert!(rules.evaluate("missing", &Context::new()).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct FlagRules {
    flags: Vec<(String, Result<Flag, VariantError>)>,
}

#[derive(Clone, Debug)]
enum Flag {
    Plain(Value),
    Variants(Vec<Variant>, Value),
}

impl FlagRules {
    /// Parses a flags document (an object of flags); a flag whose variants do not parse keeps
    /// its error, so that only asking for that flag fails.
    ///
    /// # Errors
    /// [`VariantError`] when the document is not a JSON object.
    ///
    /// ```
    /// assert!(lambda_cache_appconfig::variants::FlagRules::from_json(&serde_json::json!([1])).is_err());
    /// ```
    pub fn from_json(document: &Value) -> Result<Self, VariantError> {
        let Value::Object(flags) = document else {
            return Err(VariantError(
                "the profile is not a JSON object of feature flags".into(),
            ));
        };
        Ok(Self {
            flags: flags
                .iter()
                .map(|(name, value)| (name.clone(), Flag::parse(name, value)))
                .collect(),
        })
    }

    /// True if any flag has variants (else the profile is served as it is).
    ///
    /// ```
    /// let rules = lambda_cache_appconfig::variants::FlagRules::from_json(&serde_json::json!({"a": {"enabled": true}}))?;
    /// assert!(!rules.has_variants());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn has_variants(&self) -> bool {
        self.flags
            .iter()
            .any(|(_, flag)| !matches!(flag, Ok(Flag::Plain(_))))
    }

    /// The value of flag `name` for `context`: the first variant whose rule holds (with
    /// `_variant` naming it), the flag itself when it has no variants; `None` when the profile
    /// has no such flag.
    ///
    /// # Errors
    /// The flag's [`VariantError`] when its variants did not parse.
    ///
    /// ```
    /// # use lambda_cache_appconfig::variants::{Context, FlagRules};
    /// let rules = FlagRules::from_json(&serde_json::json!({"a": {"enabled": true}}))?;
    /// assert!(rules.evaluate("a", &Context::new()).is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evaluate(&self, name: &str, context: &Context) -> Option<Result<Value, VariantError>> {
        self.flags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, flag)| match flag {
                Ok(flag) => Ok(flag.evaluate(context)),
                Err(e) => Err(e.clone()),
            })
    }

    /// Every flag evaluated for `context`, as an object in the profile's order.
    ///
    /// # Errors
    /// The first flag's [`VariantError`].
    ///
    /// ```
    /// # use lambda_cache_appconfig::variants::{Context, FlagRules};
    /// let rules = FlagRules::from_json(&serde_json::json!({"a": {"enabled": true}}))?;
    /// assert_eq!(rules.evaluate_all(&Context::new())?["a"]["enabled"], true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn evaluate_all(&self, context: &Context) -> Result<Map<String, Value>, VariantError> {
        self.flags
            .iter()
            .map(|(name, flag)| match flag {
                Ok(flag) => Ok((name.clone(), flag.evaluate(context))),
                Err(e) => Err(e.clone()),
            })
            .collect()
    }
}

impl<'de> serde::Deserialize<'de> for FlagRules {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = Value::deserialize(deserializer)?;
        Self::from_json(&document).map_err(serde::de::Error::custom)
    }
}

impl Flag {
    fn parse(name: &str, value: &Value) -> Result<Flag, VariantError> {
        let Some(variants) = value.get("_variants") else {
            return Ok(Flag::Plain(value.clone()));
        };
        let flag_error =
            |message: String| VariantError(format!("feature flag {}: {message}", shown(name)));
        let Value::Array(variants) = variants else {
            return Err(flag_error("_variants is not a list".into()));
        };
        let mut parsed = Vec::with_capacity(variants.len());
        for variant in variants {
            let Some(variant_name) = variant.get("name").and_then(Value::as_str) else {
                return Err(flag_error("a variant has no name".into()));
            };
            let variant_error = |message: String| {
                VariantError(format!(
                    "feature flag {}, variant {}: {message}",
                    shown(name),
                    shown(variant_name)
                ))
            };
            let enabled = variant
                .get("enabled")
                .and_then(Value::as_bool)
                .ok_or_else(|| variant_error("enabled is not true or false".into()))?;
            let rule = match variant.get("rule") {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) if text.trim().is_empty() => None,
                Some(Value::String(text)) => {
                    Some(Rule::parse(text).map_err(|e| variant_error(format!("rule {e}")))?)
                }
                Some(_) => return Err(variant_error("rule is not a string".into())),
            };
            let mut value = Map::new();
            value.insert("enabled".into(), Value::Bool(enabled));
            match variant.get("attributeValues") {
                None | Some(Value::Null) => {}
                Some(Value::Object(attributes)) => {
                    for (key, attribute) in attributes {
                        value.insert(key.clone(), attribute.clone());
                    }
                }
                Some(_) => return Err(variant_error("attributeValues is not an object".into())),
            }
            value.insert("_variant".into(), Value::String(variant_name.to_owned()));
            parsed.push(Variant {
                value: Value::Object(value),
                rule,
            });
        }
        // The flag's own values (without its variants) if no variant is chosen.
        let mut own = value.clone();
        if let Value::Object(own) = &mut own {
            own.remove("_variants");
        }
        Ok(Flag::Variants(parsed, own))
    }

    fn evaluate(&self, context: &Context) -> Value {
        match self {
            Flag::Plain(value) => value.clone(),
            Flag::Variants(variants, own) => variants
                .iter()
                .find(|v| v.rule.as_ref().is_none_or(|rule| rule.matches(context)))
                .map_or_else(|| own.clone(), |v| v.value.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(rule: &str, context: &[(&str, &str)]) -> bool {
        let context = context
            .iter()
            .fold(Context::new(), |c, (k, v)| c.with(*k, *v));
        Rule::parse(rule)
            .unwrap_or_else(|e| panic!("{rule}: {e}"))
            .matches(&context)
    }

    #[test]
    fn every_operator_of_appconfigs_rules() {
        let ctx = [
            ("state", "Virginia"),
            ("age", "70"),
            ("email", "ada@amazon.com"),
            ("promoCode", "WINTER24"),
            ("userId", "456"),
            ("greeting", "happy"),
            ("since", "2024-03-01T10:00:00Z"),
            ("beta", "true"),
        ];
        for (rule, expected) in [
            (r#"(eq $state "Virginia")"#, true),
            ("(gt $age 65)", true),
            ("(gte $age 70)", true),
            ("(lt $age 65)", false),
            ("(lte $age 70.0)", true),
            (r#"(and (eq $state "Virginia") (gt $age 65))"#, true),
            (r#"(or (eq $state "Ohio") (gt $age 99))"#, false),
            (r#"(not (eq $state "Virginia"))"#, false),
            (r#"(begins_with $state "V")"#, true),
            (r#"(ends_with $email "amazon.com")"#, true),
            (r#"(contains $promoCode "WIN")"#, true),
            (r#"(in $userId ["123", "456"])"#, true),
            ("(in $age [1, 2, 70])", true),
            (r#"(matches in::$greeting pattern::"h.*y")"#, true),
            (r#"(exists key::"country")"#, false),
            (r#"(exists key::"state")"#, true),
            ("(gt $since 2024-01)", true),
            ("(lt $since 2024-03-01T05:00:00-08:00)", true),
            ("(eq $beta true)", true),
            ("(split by::$userId pct::100)", true),
            ("(split by::$userId pct::0)", false),
            ("(split by::$nobody pct::100)", false),
            ("(eq $missing \"x\")", false),
            ("(gt $state 1)", false),
        ] {
            assert_eq!(holds(rule, &ctx), expected, "{rule}");
        }
    }

    #[test]
    fn split_sends_about_its_share_and_the_same_key_the_same_way() {
        let rule = Rule::parse(r#"(split by::$id pct::20 seed::"s")"#).unwrap();
        let chosen = (0..10_000)
            .filter(|i| rule.matches(&Context::new().with("id", i.to_string())))
            .count();
        assert!((1_700..2_300).contains(&chosen), "{chosen} of 10,000");
        let one = Context::new().with("id", "user-7");
        assert_eq!(rule.matches(&one), rule.matches(&one));
    }

    #[test]
    fn malformed_rules_say_where() {
        for (rule, said) in [
            ("", "starts with ("),
            ("(eq $a", "not closed"),
            ("(eq $a \"x)", "string is not closed"),
            ("(frob $a)", "unknown operator"),
            ("(eq $a)", "takes 2 operands"),
            ("(and (eq $a 1))", "2 or more"),
            ("(not 1)", "takes an expression"),
            ("(eq $a [1])", "only in does"),
            ("(in $a 1)", "[list]"),
            ("(in $a [1, 2)", "not closed"),
            ("(matches in::$a pattern::\"(\")", "pattern"),
            ("(split by::$a pct::120)", "from 0 to 100"),
            ("(split by::\"a\" pct::1)", "context value"),
            ("(eq $a 1) trailing", "text after"),
            ("(eq $a nope)", "is not a number"),
            ("(eq $ 1)", "$ names"),
            ("(exists)", "key::"),
        ] {
            let err = Rule::parse(rule).unwrap_err().to_string();
            assert!(err.contains(said), "{rule}: {err}");
        }
        let deep = format!("{}(eq $a 1){}", "(not ".repeat(40), ")".repeat(40));
        assert!(
            Rule::parse(&deep)
                .unwrap_err()
                .to_string()
                .contains("deeper")
        );
        let long = format!("(eq $a \"{}\")", "x".repeat(MAX_RULE_BYTES));
        assert!(
            Rule::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer")
        );
    }

    #[test]
    fn timestamps_are_w3c_date_times() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp("1970"), Some(0));
        assert_eq!(timestamp("2024-01"), timestamp("2024-01-01T00:00Z"));
        assert_eq!(
            timestamp("2012-03-04T05:06:07-08:00"),
            timestamp("2012-03-04T13:06:07Z")
        );
        assert_eq!(timestamp("1970-01-01T00:00:01.5Z"), Some(1_500));
        for bad in [
            "2024-13",
            "2024-1",
            "24-01-01",
            "2024-01-01T25:00Z",
            "2024-01-01T10:00",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn variants_are_tried_in_order_and_the_default_last() {
        let rules = FlagRules::from_json(&serde_json::json!({
            "ui": {"enabled": false, "_variants": [
                {"name": "QA", "enabled": true, "rule": "(ends_with $email \"@qa.example\")", "attributeValues": {"theme": "debug"}},
                {"name": "Beta", "enabled": true, "rule": "(in $tier [\"beta\"])"},
                {"name": "Default", "enabled": false, "attributeValues": {"theme": "classic"}}
            ]},
            "broken": {"_variants": [{"name": "X", "enabled": true, "rule": "(eq $a"}]},
            "plain": {"enabled": true}
        }))
        .unwrap();
        assert!(rules.has_variants());
        let qa = Context::new()
            .with("email", "x@qa.example")
            .with("tier", "beta");
        assert_eq!(
            rules.evaluate("ui", &qa).unwrap().unwrap(),
            serde_json::json!({"enabled": true, "theme": "debug", "_variant": "QA"})
        );
        let beta = Context::new().with("tier", "beta");
        assert_eq!(
            rules.evaluate("ui", &beta).unwrap().unwrap()["_variant"],
            "Beta"
        );
        assert_eq!(
            rules.evaluate("ui", &Context::new()).unwrap().unwrap(),
            serde_json::json!({"enabled": false, "theme": "classic", "_variant": "Default"})
        );
        let err = rules
            .evaluate("broken", &Context::new())
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("\"broken\""), "{err}");
        assert_eq!(
            rules.evaluate("plain", &Context::new()).unwrap().unwrap(),
            serde_json::json!({"enabled": true})
        );
        assert!(
            rules.evaluate_all(&Context::new()).is_err(),
            "the broken flag"
        );
    }
}
