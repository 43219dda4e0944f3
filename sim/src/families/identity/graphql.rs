//! The GraphQL subset the Identity Protection endpoint speaks: a parser for executable documents
//! (operations with variables, fields with aliases and arguments, inline fragments, named
//! fragments, `@include`/`@skip`), validation against a static schema (unknown fields, arguments,
//! types, fragments and variables are errors, as a real server reports them), and an executor
//! that completes selections over JSON objects with a [`Resolver`] for the fields that compute.
//!
//! Not supported (answered as errors, never ignored): mutations and subscriptions, block strings,
//! introspection beyond `__typename`, directives other than `@include`/`@skip`.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value, json};

/// A GraphQL error: message plus where in the document (or the response) it arose.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GqlError {
    pub message: String,
    /// (line, column), 1-based.
    pub location: Option<(usize, usize)>,
    /// Response path of a field error.
    pub path: Vec<Value>,
}

impl GqlError {
    fn at(pos: Pos, message: impl Into<String>) -> GqlError {
        GqlError {
            message: message.into(),
            location: Some((pos.line, pos.col)),
            path: Vec::new(),
        }
    }

    fn plain(message: impl Into<String>) -> GqlError {
        GqlError {
            message: message.into(),
            location: None,
            path: Vec::new(),
        }
    }

    /// The `errors[]` item.
    pub fn to_json(&self) -> Value {
        let mut e = json!({"message": self.message});
        if let Some((line, column)) = self.location {
            e["locations"] = json!([{"line": line, "column": column}]);
        }
        if !self.path.is_empty() {
            e["path"] = Value::Array(self.path.clone());
        }
        e
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer.

#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Punct(&'static str),
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("Name \"{n}\""),
            Tok::Int(i) => format!("Int \"{i}\""),
            Tok::Float(f) => format!("Float \"{f}\""),
            Tok::Str(s) => format!("String \"{s}\""),
            Tok::Punct(p) => format!("\"{p}\""),
            Tok::Eof => "<EOF>".to_string(),
        }
    }
}

fn lex(src: &str) -> Result<Vec<(Tok, Pos)>, GqlError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let syntax = |p: Pos, m: String| GqlError::at(p, format!("Syntax Error: {m}"));
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        match c {
            '\n' => {
                line += 1;
                col = 1;
                i += 1;
                continue;
            }
            ' ' | '\t' | '\r' | ',' | '\u{feff}' => {}
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '!' | '$' | '(' | ')' | ':' | '=' | '@' | '[' | ']' | '{' | '}' | '|' | '&' => {
                const P: &[&str] = &[
                    "!", "$", "(", ")", ":", "=", "@", "[", "]", "{", "}", "|", "&",
                ];
                let p = P.iter().find(|p| p.starts_with(c)).copied().unwrap_or("!");
                out.push((Tok::Punct(p), pos));
            }
            '.' => {
                if chars.get(i + 1) == Some(&'.') && chars.get(i + 2) == Some(&'.') {
                    out.push((Tok::Punct("..."), pos));
                    i += 3;
                    col += 3;
                    continue;
                }
                return Err(syntax(pos, "Unexpected \".\".".into()));
            }
            '"' => {
                if chars.get(i + 1) == Some(&'"') && chars.get(i + 2) == Some(&'"') {
                    return Err(syntax(pos, "block strings are not supported.".into()));
                }
                let mut s = String::new();
                i += 1;
                col += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(syntax(Pos { line, col }, "Unterminated string.".into()));
                    };
                    match ch {
                        '"' => break,
                        '\n' => {
                            return Err(syntax(Pos { line, col }, "Unterminated string.".into()));
                        }
                        '\\' => {
                            let esc = chars.get(i + 1).copied().unwrap_or(' ');
                            let un = match esc {
                                '"' => '"',
                                '\\' => '\\',
                                '/' => '/',
                                'b' => '\u{8}',
                                'f' => '\u{c}',
                                'n' => '\n',
                                'r' => '\r',
                                't' => '\t',
                                'u' => {
                                    let hex: String = chars.iter().skip(i + 2).take(4).collect();
                                    let code =
                                        u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                                    let Some(code) = code.filter(|_| hex.len() == 4) else {
                                        return Err(syntax(
                                            Pos { line, col },
                                            format!(
                                                "Invalid Unicode escape sequence: \"\\u{hex}\"."
                                            ),
                                        ));
                                    };
                                    i += 4;
                                    col += 4;
                                    code
                                }
                                other => {
                                    return Err(syntax(
                                        Pos { line, col },
                                        format!(
                                            "Invalid character escape sequence: \"\\{other}\"."
                                        ),
                                    ));
                                }
                            };
                            s.push(un);
                            i += 2;
                            col += 2;
                            continue;
                        }
                        ch => s.push(ch),
                    }
                    i += 1;
                    col += 1;
                }
                out.push((Tok::Str(s), pos));
            }
            c if c == '-' || c.is_ascii_digit() => {
                let start = i;
                i += 1;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                col += i - start;
                let tok = if let Ok(n) = text.parse::<i64>() {
                    Tok::Int(n)
                } else if let Some(f) = text.parse::<f64>().ok().filter(|_| {
                    !text.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
                }) {
                    Tok::Float(f)
                } else {
                    return Err(syntax(pos, format!("Invalid number \"{text}\".")));
                };
                out.push((tok, pos));
                continue;
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let start = i;
                while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                col += i - start;
                out.push((Tok::Name(chars[start..i].iter().collect()), pos));
                continue;
            }
            other => return Err(syntax(pos, format!("Unexpected character \"{other}\"."))),
        }
        i += 1;
        col += 1;
    }
    out.push((Tok::Eof, Pos { line, col }));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Syntax tree and parser.

/// An argument or default value as written.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Var(String, Pos),
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<Lit>),
    Object(Vec<(String, Lit)>),
}

#[derive(Debug, Clone)]
struct Directive {
    name: String,
    args: Vec<(String, Lit, Pos)>,
    pos: Pos,
}

#[derive(Debug, Clone)]
enum Selection {
    Field(Field),
    Spread {
        name: String,
        directives: Vec<Directive>,
        pos: Pos,
    },
    Inline {
        on: Option<(String, Pos)>,
        directives: Vec<Directive>,
        set: Vec<Selection>,
    },
}

#[derive(Debug, Clone)]
struct Field {
    alias: Option<String>,
    name: String,
    args: Vec<(String, Lit, Pos)>,
    directives: Vec<Directive>,
    set: Vec<Selection>,
    pos: Pos,
}

impl Field {
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone)]
struct VarDef {
    name: String,
    ty: String,
    required: bool,
    default: Option<Lit>,
}

#[derive(Debug, Clone)]
struct Operation {
    kind: String,
    name: Option<String>,
    vars: Vec<VarDef>,
    set: Vec<Selection>,
    pos: Pos,
}

#[derive(Debug, Clone)]
struct Fragment {
    on: (String, Pos),
    set: Vec<Selection>,
}

/// A parsed executable document.
#[derive(Debug, Clone)]
pub(crate) struct Document {
    ops: Vec<Operation>,
    fragments: BTreeMap<String, Fragment>,
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.i].1
    }

    fn bump(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn unexpected(&self, want: &str) -> GqlError {
        GqlError::at(
            self.pos(),
            format!(
                "Syntax Error: Expected {want}, found {}.",
                self.peek().describe()
            ),
        )
    }

    fn is(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn eat(&mut self, p: &str) -> bool {
        if self.is(p) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), GqlError> {
        if self.eat(p) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("\"{p}\"")))
        }
    }

    fn name(&mut self) -> Result<(String, Pos), GqlError> {
        match self.peek().clone() {
            Tok::Name(n) => {
                let pos = self.bump().1;
                Ok((n, pos))
            }
            _ => Err(self.unexpected("Name")),
        }
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == k)
    }

    fn document(&mut self) -> Result<Document, GqlError> {
        let mut doc = Document {
            ops: Vec::new(),
            fragments: BTreeMap::new(),
        };
        while *self.peek() != Tok::Eof {
            let pos = self.pos();
            if self.is("{") {
                let set = self.selection_set()?;
                doc.ops.push(Operation {
                    kind: "query".into(),
                    name: None,
                    vars: Vec::new(),
                    set,
                    pos,
                });
            } else if self.keyword("fragment") {
                self.bump();
                let (name, npos) = self.name()?;
                if name == "on" {
                    return Err(GqlError::at(npos, "Syntax Error: Unexpected Name \"on\"."));
                }
                if !self.keyword("on") {
                    return Err(self.unexpected("\"on\""));
                }
                self.bump();
                let on = self.name()?;
                let set = self.selection_set()?;
                if doc
                    .fragments
                    .insert(name.clone(), Fragment { on, set })
                    .is_some()
                {
                    return Err(GqlError::at(
                        npos,
                        format!("There can be only one fragment named \"{name}\"."),
                    ));
                }
            } else if self.keyword("query")
                || self.keyword("mutation")
                || self.keyword("subscription")
            {
                let (kind, _) = self.name()?;
                let name = match self.peek() {
                    Tok::Name(_) => Some(self.name()?.0),
                    _ => None,
                };
                let vars = if self.is("(") {
                    self.var_defs()?
                } else {
                    Vec::new()
                };
                let directives = self.directives()?;
                if let Some(d) = directives.first() {
                    return Err(GqlError::at(
                        d.pos,
                        format!(
                            "Directive \"@{}\" may not be used on {}.",
                            d.name,
                            kind.to_uppercase()
                        ),
                    ));
                }
                let set = self.selection_set()?;
                doc.ops.push(Operation {
                    kind,
                    name,
                    vars,
                    set,
                    pos,
                });
            } else {
                return Err(self.unexpected("\"query\", \"fragment\" or \"{\""));
            }
        }
        if doc.ops.is_empty() {
            return Err(GqlError::plain(
                "Syntax Error: the document has no operation.",
            ));
        }
        Ok(doc)
    }

    fn var_defs(&mut self) -> Result<Vec<VarDef>, GqlError> {
        self.expect("(")?;
        let mut out = Vec::new();
        while !self.eat(")") {
            self.expect("$")?;
            let (name, _) = self.name()?;
            self.expect(":")?;
            let (ty, required) = self.type_ref()?;
            let default = if self.eat("=") {
                Some(self.value(true)?)
            } else {
                None
            };
            out.push(VarDef {
                name,
                ty,
                required,
                default,
            });
        }
        Ok(out)
    }

    /// A type reference as text (`[String!]!`) and whether its outer type is non-null.
    fn type_ref(&mut self) -> Result<(String, bool), GqlError> {
        let ty = if self.eat("[") {
            let (inner, inner_req) = self.type_ref()?;
            self.expect("]")?;
            format!("[{inner}{}]", if inner_req { "!" } else { "" })
        } else {
            self.name()?.0
        };
        Ok((ty, self.eat("!")))
    }

    fn value(&mut self, constant: bool) -> Result<Lit, GqlError> {
        let (tok, pos) = (self.peek().clone(), self.pos());
        Ok(match tok {
            Tok::Punct("$") if !constant => {
                self.bump();
                Lit::Var(self.name()?.0, pos)
            }
            Tok::Punct("[") => {
                self.bump();
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.value(constant)?);
                }
                Lit::List(items)
            }
            Tok::Punct("{") => {
                self.bump();
                let mut fields = Vec::new();
                while !self.eat("}") {
                    let (k, _) = self.name()?;
                    self.expect(":")?;
                    fields.push((k, self.value(constant)?));
                }
                Lit::Object(fields)
            }
            Tok::Int(n) => {
                self.bump();
                Lit::Int(n)
            }
            Tok::Float(f) => {
                self.bump();
                Lit::Float(f)
            }
            Tok::Str(s) => {
                self.bump();
                Lit::Str(s)
            }
            Tok::Name(n) => {
                self.bump();
                match n.as_str() {
                    "true" => Lit::Bool(true),
                    "false" => Lit::Bool(false),
                    "null" => Lit::Null,
                    _ => Lit::Enum(n),
                }
            }
            _ => return Err(self.unexpected("a value")),
        })
    }

    fn args(&mut self) -> Result<Vec<(String, Lit, Pos)>, GqlError> {
        let mut out = Vec::new();
        if self.eat("(") {
            while !self.eat(")") {
                let (name, pos) = self.name()?;
                self.expect(":")?;
                out.push((name, self.value(false)?, pos));
            }
        }
        Ok(out)
    }

    fn directives(&mut self) -> Result<Vec<Directive>, GqlError> {
        let mut out = Vec::new();
        while self.is("@") {
            let pos = self.bump().1;
            let (name, _) = self.name()?;
            out.push(Directive {
                name,
                args: self.args()?,
                pos,
            });
        }
        Ok(out)
    }

    fn selection_set(&mut self) -> Result<Vec<Selection>, GqlError> {
        self.expect("{")?;
        let mut out = Vec::new();
        while !self.eat("}") {
            if *self.peek() == Tok::Eof {
                return Err(self.unexpected("\"}\""));
            }
            if self.eat("...") {
                if self.keyword("on") {
                    self.bump();
                    let on = self.name()?;
                    let directives = self.directives()?;
                    out.push(Selection::Inline {
                        on: Some(on),
                        directives,
                        set: self.selection_set()?,
                    });
                } else if self.is("{") || self.is("@") {
                    let directives = self.directives()?;
                    out.push(Selection::Inline {
                        on: None,
                        directives,
                        set: self.selection_set()?,
                    });
                } else {
                    let (name, pos) = self.name()?;
                    out.push(Selection::Spread {
                        name,
                        directives: self.directives()?,
                        pos,
                    });
                }
                continue;
            }
            let (first, pos) = self.name()?;
            let (alias, name) = if self.eat(":") {
                (Some(first), self.name()?.0)
            } else {
                (None, first)
            };
            let args = self.args()?;
            let directives = self.directives()?;
            let set = if self.is("{") {
                self.selection_set()?
            } else {
                Vec::new()
            };
            out.push(Selection::Field(Field {
                alias,
                name,
                args,
                directives,
                set,
                pos,
            }));
        }
        if out.is_empty() {
            return Err(self.unexpected("Name"));
        }
        Ok(out)
    }
}

/// The field names at the root of the document's operations (through fragments, whatever
/// their directives say): what a request may touch, for access checks before it runs.
pub(crate) fn root_field_names(doc: &Document) -> Vec<String> {
    fn walk(doc: &Document, set: &[Selection], seen: &mut Vec<String>, out: &mut Vec<String>) {
        for sel in set {
            match sel {
                Selection::Field(f) => out.push(f.name.clone()),
                Selection::Inline { set, .. } => walk(doc, set, seen, out),
                Selection::Spread { name, .. } => {
                    if let Some(frag) = doc.fragments.get(name)
                        && !seen.contains(name)
                    {
                        seen.push(name.clone());
                        walk(doc, &frag.set, seen, out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for op in &doc.ops {
        walk(doc, &op.set, &mut Vec::new(), &mut out);
    }
    out
}

/// Parse an executable document.
pub(crate) fn parse(src: &str) -> Result<Document, GqlError> {
    let toks = lex(src)?;
    Parser { toks, i: 0 }.document()
}

// ---------------------------------------------------------------------------------------------
// Schema.

/// Whether a type is a concrete object type or an interface.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TypeKind {
    Object,
    Interface,
}

/// An output type: its fields (an object type also has its interfaces' fields).
pub(crate) struct TypeDef {
    pub name: &'static str,
    pub kind: TypeKind,
    pub interfaces: &'static [&'static str],
    pub fields: &'static [FieldDef],
}

/// A field: its type (a type of the schema, else a leaf: scalar or enum), list-ness, arguments.
pub(crate) struct FieldDef {
    pub name: &'static str,
    pub ty: &'static str,
    pub list: bool,
    pub args: &'static [ArgDef],
}

/// An argument and its input type.
pub(crate) struct ArgDef {
    pub name: &'static str,
    pub ty: ArgType,
}

/// Input types.
pub(crate) enum ArgType {
    String,
    Int,
    Boolean,
    /// An enum: its name and values.
    Enum(&'static str, &'static [&'static str]),
    List(&'static ArgType),
    /// An input object: its name and fields.
    Input(&'static str, &'static [ArgDef]),
}

impl ArgType {
    fn name(&self) -> String {
        match self {
            ArgType::String => "String".into(),
            ArgType::Int => "Int".into(),
            ArgType::Boolean => "Boolean".into(),
            ArgType::Enum(n, _) | ArgType::Input(n, _) => n.to_string(),
            ArgType::List(t) => format!("[{}]", t.name()),
        }
    }
}

/// A schema: its types, the query root's name.
pub(crate) struct Schema {
    pub types: &'static [TypeDef],
    pub query: &'static str,
}

impl Schema {
    pub fn get(&self, name: &str) -> Option<&'static TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The field `name` of type `t` (own fields, then its interfaces').
    pub fn field(&self, t: &TypeDef, name: &str) -> Option<&'static FieldDef> {
        self.get(t.name)?
            .fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| {
                t.interfaces
                    .iter()
                    .filter_map(|i| self.get(i))
                    .find_map(|i| i.fields.iter().find(|f| f.name == name))
            })
    }

    /// The concrete types a value of `t` may be.
    fn possible(&self, t: &TypeDef) -> Vec<&'static str> {
        match t.kind {
            TypeKind::Object => vec![t.name],
            TypeKind::Interface => self
                .types
                .iter()
                .filter(|o| o.kind == TypeKind::Object && o.interfaces.contains(&t.name))
                .map(|o| o.name)
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct Validator<'a> {
    schema: &'a Schema,
    doc: &'a Document,
    vars: HashSet<&'a str>,
    errors: Vec<GqlError>,
    /// Fragments being expanded (cycle guard).
    stack: Vec<String>,
}

impl<'a> Validator<'a> {
    fn lit(&mut self, v: &Lit) {
        match v {
            Lit::Var(n, pos) if !self.vars.contains(n.as_str()) => {
                self.errors.push(GqlError::at(
                    *pos,
                    format!("Variable \"${n}\" is not defined."),
                ));
            }
            Lit::List(items) => items.iter().for_each(|x| self.lit(x)),
            Lit::Object(fields) => fields.iter().for_each(|(_, x)| self.lit(x)),
            _ => {}
        }
    }

    fn directives(&mut self, ds: &[Directive]) {
        for d in ds {
            if d.name != "include" && d.name != "skip" {
                self.errors.push(GqlError::at(
                    d.pos,
                    format!("Unknown directive \"@{}\".", d.name),
                ));
                continue;
            }
            match d.args.as_slice() {
                [(n, v, _)] if n == "if" => self.lit(v),
                _ => self.errors.push(GqlError::at(
                    d.pos,
                    format!(
                        "Directive \"@{}\" takes exactly one argument \"if\" of type \"Boolean!\".",
                        d.name
                    ),
                )),
            }
        }
    }

    fn type_cond(
        &mut self,
        on: &(String, Pos),
        parent: &'static TypeDef,
    ) -> Option<&'static TypeDef> {
        let Some(t) = self.schema.get(&on.0) else {
            self.errors
                .push(GqlError::at(on.1, format!("Unknown type \"{}\".", on.0)));
            return None;
        };
        let overlap = self
            .schema
            .possible(t)
            .iter()
            .any(|p| self.schema.possible(parent).contains(p));
        if !overlap {
            self.errors.push(GqlError::at(on.1, format!("Fragment cannot be spread here as objects of type \"{}\" can never be of type \"{}\".", parent.name, t.name)));
            return None;
        }
        Some(t)
    }

    fn set(&mut self, set: &[Selection], parent: &'static TypeDef) {
        for sel in set {
            match sel {
                Selection::Field(f) => self.field(f, parent),
                Selection::Inline {
                    on,
                    directives,
                    set,
                } => {
                    self.directives(directives);
                    let t = match on {
                        Some(on) => self.type_cond(on, parent),
                        None => Some(parent),
                    };
                    if let Some(t) = t {
                        self.set(set, t);
                    }
                }
                Selection::Spread {
                    name,
                    directives,
                    pos,
                } => {
                    self.directives(directives);
                    let Some(frag) = self.doc.fragments.get(name) else {
                        self.errors
                            .push(GqlError::at(*pos, format!("Unknown fragment \"{name}\".")));
                        continue;
                    };
                    if self.stack.contains(name) {
                        self.errors.push(GqlError::at(
                            *pos,
                            format!("Cannot spread fragment \"{name}\" within itself."),
                        ));
                        continue;
                    }
                    if let Some(t) = self.type_cond(&frag.on, parent) {
                        self.stack.push(name.clone());
                        self.set(&frag.set, t);
                        self.stack.pop();
                    }
                }
            }
        }
    }

    fn field(&mut self, f: &Field, parent: &'static TypeDef) {
        self.directives(&f.directives);
        if f.name == "__typename" {
            if !f.set.is_empty() || !f.args.is_empty() {
                self.errors.push(GqlError::at(
                    f.pos,
                    "Field \"__typename\" takes no arguments or subfields.",
                ));
            }
            return;
        }
        let Some(def) = self.schema.field(parent, &f.name) else {
            self.errors.push(GqlError::at(
                f.pos,
                format!(
                    "Cannot query field \"{}\" on type \"{}\".",
                    f.name, parent.name
                ),
            ));
            return;
        };
        for (name, v, pos) in &f.args {
            if !def.args.iter().any(|a| a.name == name) {
                self.errors.push(GqlError::at(
                    *pos,
                    format!(
                        "Unknown argument \"{name}\" on field \"{}.{}\".",
                        parent.name, f.name
                    ),
                ));
            }
            self.lit(v);
        }
        match (self.schema.get(def.ty), f.set.is_empty()) {
            (Some(t), false) => self.set(&f.set, t),
            (Some(t), true) => self.errors.push(GqlError::at(
                f.pos,
                format!(
                    "Field \"{}\" of type \"{}\" must have a selection of subfields.",
                    f.name, t.name
                ),
            )),
            (None, false) => self.errors.push(GqlError::at(
                f.pos,
                format!(
                    "Field \"{}\" must not have a selection since type \"{}\" has no subfields.",
                    f.name, def.ty
                ),
            )),
            (None, true) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Execution.

/// Computes the fields that are not a property of their parent object.
pub(crate) trait Resolver {
    /// The value of `field` (with coerced `args`) on `parent` of type `ty`; `Ok(None)` reads
    /// the parent's property of the field's name.
    fn resolve(
        &mut self,
        ty: &str,
        field: &str,
        parent: &Value,
        args: &Map<String, Value>,
    ) -> Result<Option<Value>, String>;
}

/// The outcome of one request: `data` (absent when the document was refused) and `errors`.
pub(crate) struct Outcome {
    pub data: Option<Value>,
    pub errors: Vec<GqlError>,
    /// Objects completed (a cost measure).
    pub objects: usize,
    /// Root fields of the operation that ran.
    pub root_fields: Vec<String>,
}

impl Outcome {
    fn refused(errors: Vec<GqlError>) -> Outcome {
        Outcome {
            data: None,
            errors,
            objects: 0,
            root_fields: Vec::new(),
        }
    }
}

struct Exec<'a, R: Resolver> {
    schema: &'a Schema,
    doc: &'a Document,
    vars: Map<String, Value>,
    resolver: &'a mut R,
    errors: Vec<GqlError>,
    objects: usize,
}

impl<'a, R: Resolver> Exec<'a, R> {
    /// Whether `@include`/`@skip` keep a selection.
    fn kept(&self, ds: &[Directive]) -> bool {
        ds.iter().all(|d| {
            let v = d
                .args
                .first()
                .map(|(_, v, _)| self.literal_json(v))
                .unwrap_or(Value::Null);
            let on = v.as_bool().unwrap_or(false);
            if d.name == "include" { on } else { !on }
        })
    }

    /// A literal with variables substituted (absent variables read as null).
    fn literal_json(&self, v: &Lit) -> Value {
        match v {
            Lit::Var(n, _) => self.vars.get(n).cloned().unwrap_or(Value::Null),
            Lit::Int(i) => json!(i),
            Lit::Float(f) => json!(f),
            Lit::Str(s) | Lit::Enum(s) => json!(s),
            Lit::Bool(b) => json!(b),
            Lit::Null => Value::Null,
            Lit::List(items) => Value::Array(items.iter().map(|x| self.literal_json(x)).collect()),
            Lit::Object(f) => Value::Object(
                f.iter()
                    .map(|(k, x)| (k.clone(), self.literal_json(x)))
                    .collect(),
            ),
        }
    }

    /// The fields to complete on an object of concrete type `ty`, grouped by response key.
    fn collect<'s>(&self, set: &'s [Selection], ty: &str, out: &mut Vec<(String, Vec<&'s Field>)>)
    where
        'a: 's,
    {
        for sel in set {
            match sel {
                Selection::Field(f) if self.kept(&f.directives) => {
                    match out.iter_mut().find(|(k, _)| k == f.key()) {
                        Some((_, fs)) => fs.push(f),
                        None => out.push((f.key().to_string(), vec![f])),
                    }
                }
                Selection::Field(_) => {}
                Selection::Inline {
                    on,
                    directives,
                    set,
                } => {
                    if self.kept(directives) && on.as_ref().is_none_or(|(t, _)| self.applies(t, ty))
                    {
                        self.collect(set, ty, out);
                    }
                }
                Selection::Spread {
                    name, directives, ..
                } => {
                    if let Some(frag) = self.doc.fragments.get(name)
                        && self.kept(directives)
                        && self.applies(&frag.on.0, ty)
                    {
                        self.collect(&frag.set, ty, out);
                    }
                }
            }
        }
    }

    fn applies(&self, cond: &str, ty: &str) -> bool {
        self.schema
            .get(cond)
            .is_some_and(|t| self.schema.possible(t).contains(&ty))
    }

    /// Complete `set` on `obj`, whose static type is `static_ty`.
    fn object(
        &mut self,
        set: &[Selection],
        static_ty: &'static TypeDef,
        obj: &Value,
        path: &[Value],
    ) -> Value {
        self.objects += 1;
        let ty = match static_ty.kind {
            TypeKind::Object => static_ty.name.to_string(),
            TypeKind::Interface => obj["__typename"]
                .as_str()
                .unwrap_or(static_ty.name)
                .to_string(),
        };
        let Some(concrete) = self.schema.get(&ty) else {
            return Value::Null;
        };
        let mut groups = Vec::new();
        self.collect(set, &ty, &mut groups);
        let mut out = Map::new();
        for (key, fields) in groups {
            let f = fields[0];
            let mut p = path.to_vec();
            p.push(json!(key));
            let value = self.field(f, &fields, concrete, obj, &p);
            out.insert(key, value);
        }
        Value::Object(out)
    }

    fn field(
        &mut self,
        f: &Field,
        all: &[&Field],
        parent: &'static TypeDef,
        obj: &Value,
        path: &[Value],
    ) -> Value {
        if f.name == "__typename" {
            return json!(parent.name);
        }
        let Some(def) = self.schema.field(parent, &f.name) else {
            return Value::Null;
        };
        let fail = |this: &mut Self, message: String| {
            this.errors.push(GqlError {
                message,
                location: Some((f.pos.line, f.pos.col)),
                path: path.to_vec(),
            });
            Value::Null
        };
        let args = match self.args(f, def) {
            Ok(a) => a,
            Err(m) => return fail(self, m),
        };
        let raw = match self.resolver.resolve(parent.name, &f.name, obj, &args) {
            Ok(Some(v)) => v,
            Ok(None) => obj.get(&f.name).cloned().unwrap_or(Value::Null),
            Err(m) => return fail(self, m),
        };
        if !raw.is_null() && raw.is_array() != def.list {
            return fail(
                self,
                format!(
                    "internal error: {}.{} resolved to the wrong shape",
                    parent.name, f.name
                ),
            );
        }
        let Some(t) = self.schema.get(def.ty) else {
            return raw;
        };
        let set: Vec<Selection> = all.iter().flat_map(|x| x.set.iter().cloned()).collect();
        match raw {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, it)| {
                        let mut p = path.to_vec();
                        p.push(json!(i));
                        if it.is_null() {
                            Value::Null
                        } else {
                            self.object(&set, t, it, &p)
                        }
                    })
                    .collect(),
            ),
            Value::Null => Value::Null,
            v => self.object(&set, t, &v, path),
        }
    }

    /// Coerce a field's arguments; absent variables leave their argument out.
    fn args(&self, f: &Field, def: &FieldDef) -> Result<Map<String, Value>, String> {
        let mut out = Map::new();
        for (name, v, _) in &f.args {
            let Some(a) = def.args.iter().find(|a| a.name == name) else {
                continue;
            };
            if let Lit::Var(var, _) = v
                && !self.vars.contains_key(var)
            {
                continue;
            }
            let value = coerce(&a.ty, v, &self.vars)
                .map_err(|m| format!("Argument \"{name}\" has invalid value: {m}"))?;
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

/// An argument value checked against its input type, variables substituted.
fn coerce(ty: &ArgType, v: &Lit, vars: &Map<String, Value>) -> Result<Value, String> {
    if let Lit::Var(n, _) = v {
        let value = vars.get(n).cloned().unwrap_or(Value::Null);
        return coerce_json(ty, &value).map_err(|m| format!("variable \"${n}\": {m}"));
    }
    match (ty, v) {
        (_, Lit::Null) => Ok(Value::Null),
        (ArgType::String, Lit::Str(s)) => Ok(json!(s)),
        (ArgType::Int, Lit::Int(i)) => i32::try_from(*i)
            .map(|i| json!(i))
            .map_err(|_| format!("Int cannot represent non 32-bit signed integer value: {i}")),
        (ArgType::Boolean, Lit::Bool(b)) => Ok(json!(b)),
        (ArgType::Enum(name, values), Lit::Enum(e)) => {
            if values.contains(&e.as_str()) {
                Ok(json!(e))
            } else {
                Err(format!("Value \"{e}\" does not exist in \"{name}\" enum."))
            }
        }
        (ArgType::List(inner), Lit::List(items)) => items
            .iter()
            .map(|x| coerce(inner, x, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (ArgType::List(inner), single) => Ok(Value::Array(vec![coerce(inner, single, vars)?])),
        (ArgType::Input(name, fields), Lit::Object(given)) => {
            let mut out = Map::new();
            for (k, x) in given {
                let f = fields
                    .iter()
                    .find(|f| f.name == k)
                    .ok_or_else(|| format!("Field \"{k}\" is not defined by type \"{name}\"."))?;
                out.insert(k.clone(), coerce(&f.ty, x, vars)?);
            }
            Ok(Value::Object(out))
        }
        (ty, _) => Err(format!("expected a value of type \"{}\"", ty.name())),
    }
}

/// A JSON variable value checked against an input type (enums come as strings).
fn coerce_json(ty: &ArgType, v: &Value) -> Result<Value, String> {
    let bad = || {
        Err(format!(
            "expected a value of type \"{}\", found {v}",
            ty.name()
        ))
    };
    match (ty, v) {
        (_, Value::Null) => Ok(Value::Null),
        (ArgType::String, Value::String(_)) | (ArgType::Boolean, Value::Bool(_)) => Ok(v.clone()),
        (ArgType::Int, Value::Number(n))
            if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) =>
        {
            Ok(v.clone())
        }
        (ArgType::Enum(name, values), Value::String(s)) => {
            if values.contains(&s.as_str()) {
                Ok(v.clone())
            } else {
                Err(format!("Value \"{s}\" does not exist in \"{name}\" enum."))
            }
        }
        (ArgType::List(inner), Value::Array(items)) => items
            .iter()
            .map(|x| coerce_json(inner, x))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (ArgType::List(inner), single) => Ok(Value::Array(vec![coerce_json(inner, single)?])),
        (ArgType::Input(name, fields), Value::Object(given)) => {
            let mut out = Map::new();
            for (k, x) in given {
                let f = fields
                    .iter()
                    .find(|f| f.name == k)
                    .ok_or_else(|| format!("Field \"{k}\" is not defined by type \"{name}\"."))?;
                out.insert(k.clone(), coerce_json(&f.ty, x)?);
            }
            Ok(Value::Object(out))
        }
        _ => bad(),
    }
}

/// Run `query` (with JSON `variables` and an optional `operation_name`) against `schema`.
pub(crate) fn execute(
    schema: &Schema,
    query: &str,
    variables: &Map<String, Value>,
    operation_name: Option<&str>,
    resolver: &mut impl Resolver,
) -> Outcome {
    let doc = match parse(query) {
        Ok(d) => d,
        Err(e) => return Outcome::refused(vec![e]),
    };
    let op = match operation_name {
        Some(n) => doc.ops.iter().find(|o| o.name.as_deref() == Some(n)),
        None if doc.ops.len() == 1 => doc.ops.first(),
        None => {
            return Outcome::refused(vec![GqlError::plain(
                "Must provide operation name if query contains multiple operations.",
            )]);
        }
    };
    let Some(op) = op else {
        return Outcome::refused(vec![GqlError::plain(format!(
            "Unknown operation named \"{}\".",
            operation_name.unwrap_or_default()
        ))]);
    };
    if op.kind != "query" {
        return Outcome::refused(vec![GqlError::at(
            op.pos,
            format!("Schema is not configured to execute {} operation.", op.kind),
        )]);
    }
    let root = schema
        .get(schema.query)
        .expect("the schema has its query type");
    let mut v = Validator {
        schema,
        doc: &doc,
        vars: op.vars.iter().map(|d| d.name.as_str()).collect(),
        errors: Vec::new(),
        stack: Vec::new(),
    };
    v.set(&op.set, root);
    for frag in doc.fragments.values() {
        if schema.get(&frag.on.0).is_none() {
            v.errors.push(GqlError::at(
                frag.on.1,
                format!("Unknown type \"{}\".", frag.on.0),
            ));
        }
    }
    // Variables: declared ones take the given value, else their default; required ones must come.
    let mut vars = Map::new();
    for d in &op.vars {
        match (variables.get(&d.name), &d.default) {
            (Some(Value::Null), _) | (None, None) if d.required => {
                v.errors.push(GqlError::plain(format!(
                    "Variable \"${}\" of required type \"{}!\" was not provided.",
                    d.name, d.ty
                )))
            }
            (Some(val), _) => {
                vars.insert(d.name.clone(), val.clone());
            }
            (None, Some(def)) => {
                vars.insert(d.name.clone(), const_json(def));
            }
            (None, None) => {}
        }
    }
    if !v.errors.is_empty() {
        return Outcome::refused(v.errors);
    }
    let mut exec = Exec {
        schema,
        doc: &doc,
        vars,
        resolver,
        errors: Vec::new(),
        objects: 0,
    };
    let mut groups = Vec::new();
    exec.collect(&op.set, root.name, &mut groups);
    let root_fields = groups.iter().map(|(_, fs)| fs[0].name.clone()).collect();
    let data = exec.object(&op.set, root, &Value::Object(Map::new()), &[]);
    Outcome {
        data: Some(data),
        errors: exec.errors,
        objects: exec.objects,
        root_fields,
    }
}

/// A constant (default) value as JSON.
fn const_json(v: &Lit) -> Value {
    match v {
        Lit::Var(..) | Lit::Null => Value::Null,
        Lit::Int(i) => json!(i),
        Lit::Float(f) => json!(f),
        Lit::Str(s) | Lit::Enum(s) => json!(s),
        Lit::Bool(b) => json!(b),
        Lit::List(items) => Value::Array(items.iter().map(const_json).collect()),
        Lit::Object(f) => {
            Value::Object(f.iter().map(|(k, x)| (k.clone(), const_json(x))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SCHEMA: Schema = Schema {
        query: "Query",
        types: &[
            TypeDef {
                name: "Query",
                kind: TypeKind::Object,
                interfaces: &[],
                fields: &[FieldDef {
                    name: "things",
                    ty: "Thing",
                    list: true,
                    args: &[
                        ArgDef {
                            name: "first",
                            ty: ArgType::Int,
                        },
                        ArgDef {
                            name: "kinds",
                            ty: ArgType::List(&ArgType::Enum("Kind", &["A", "B"])),
                        },
                    ],
                }],
            },
            TypeDef {
                name: "Thing",
                kind: TypeKind::Interface,
                interfaces: &[],
                fields: &[
                    FieldDef {
                        name: "id",
                        ty: "String",
                        list: false,
                        args: &[],
                    },
                    FieldDef {
                        name: "other",
                        ty: "Thing",
                        list: false,
                        args: &[],
                    },
                ],
            },
            TypeDef {
                name: "Big",
                kind: TypeKind::Object,
                interfaces: &["Thing"],
                fields: &[FieldDef {
                    name: "size",
                    ty: "Int",
                    list: false,
                    args: &[],
                }],
            },
            TypeDef {
                name: "Small",
                kind: TypeKind::Object,
                interfaces: &["Thing"],
                fields: &[],
            },
        ],
    };

    struct R;
    impl Resolver for R {
        fn resolve(
            &mut self,
            ty: &str,
            field: &str,
            _: &Value,
            args: &Map<String, Value>,
        ) -> Result<Option<Value>, String> {
            Ok(match (ty, field) {
                ("Query", "things") => {
                    let n = args.get("first").and_then(Value::as_u64).unwrap_or(2) as usize;
                    let all = vec![
                        json!({"__typename": "Big", "id": "b", "size": 9, "other": {"__typename": "Small", "id": "s"}}),
                        json!({"__typename": "Small", "id": "s"}),
                    ];
                    if args.get("kinds").is_some_and(|k| k == &json!(["B"])) {
                        return Err("no B things".into());
                    }
                    Some(Value::Array(all.into_iter().take(n).collect()))
                }
                _ => None,
            })
        }
    }

    fn run(q: &str, vars: Value) -> Outcome {
        execute(&SCHEMA, q, vars.as_object().unwrap(), None, &mut R)
    }

    #[test]
    fn executes_aliases_fragments_variables_and_directives() {
        let q = r#"
            # a comment, and commas are whitespace
            query Q($n: Int, $big: Boolean! = false) {
              all: things(first: $n) { __typename id ...F ... on Big @include(if: $big) { size } }
              one: things(first: 1, kinds: A) { other { id } }
            }
            fragment F on Thing { other @skip(if: $big) { id } }"#;
        let o = run(q, json!({"big": true}));
        assert!(o.errors.is_empty(), "{:?}", o.errors);
        assert_eq!(
            o.data.unwrap(),
            json!({"all": [{"__typename": "Big", "id": "b", "size": 9}, {"__typename": "Small", "id": "s"}], "one": [{"other": {"id": "s"}}]})
        );
        // An absent variable leaves its argument out; `@include(if: false)` drops the fragment.
        let o = run(q, json!({}));
        assert_eq!(
            o.data.unwrap()["all"][0],
            json!({"__typename": "Big", "id": "b", "other": {"id": "s"}})
        );
        assert_eq!(o.root_fields, vec!["things", "things"]);
    }

    #[test]
    fn refuses_what_it_does_not_know_with_locations() {
        let cases = [
            (
                "{ things { nope } }",
                "Cannot query field \"nope\" on type \"Thing\".",
            ),
            (
                "{ things { size } }",
                "Cannot query field \"size\" on type \"Thing\".",
            ),
            (
                "{ things(last: 1) { id } }",
                "Unknown argument \"last\" on field \"Query.things\".",
            ),
            ("{ things }", "must have a selection of subfields"),
            ("{ things { id { x } } }", "must not have a selection"),
            (
                "{ things { ... on Nope { id } } }",
                "Unknown type \"Nope\".",
            ),
            ("{ things { ...G } }", "Unknown fragment \"G\"."),
            (
                "{ things(first: $x) { id } }",
                "Variable \"$x\" is not defined.",
            ),
            (
                "{ things @cached { id } }",
                "Unknown directive \"@cached\".",
            ),
            (
                "mutation { things { id } }",
                "not configured to execute mutation",
            ),
            (
                "{ things { id }",
                "Syntax Error: Expected \"}\", found <EOF>.",
            ),
            (
                "query ($n: Int!) { things(first: $n) { id } }",
                "Variable \"$n\" of required type \"Int!\" was not provided.",
            ),
            (
                "{ things { ...F } } fragment F on Thing { ...F }",
                "Cannot spread fragment \"F\" within itself.",
            ),
        ];
        for (q, want) in cases {
            let o = run(q, json!({}));
            assert!(o.data.is_none(), "{q}");
            assert!(
                o.errors.iter().any(|e| e.message.contains(want)),
                "{q}: {:?}",
                o.errors
            );
        }
        let e = &run("{\n  things { nope } }", json!({})).errors[0];
        assert_eq!(e.to_json()["locations"], json!([{"line": 2, "column": 12}]));
    }

    #[test]
    fn argument_errors_are_field_errors_with_a_path() {
        let o = run("{ things(kinds: [C]) { id } }", json!({}));
        assert_eq!(o.data.unwrap(), json!({"things": null}));
        assert!(
            o.errors[0]
                .message
                .contains("\"C\" does not exist in \"Kind\" enum"),
            "{:?}",
            o.errors
        );
        assert_eq!(o.errors[0].path, vec![json!("things")]);
        let o = run(
            "query ($k: [Kind]) { things(kinds: $k) { id } }",
            json!({"k": "B"}),
        );
        assert_eq!(o.errors[0].message, "no B things");
        let o = run(
            "query ($n: Int) { things(first: $n) { id } }",
            json!({"n": "two"}),
        );
        assert!(o.errors[0].message.contains("Int"), "{:?}", o.errors);
        let o = run(r#"{ things(first: "2") { id } }"#, json!({}));
        assert!(
            o.errors[0]
                .message
                .contains("expected a value of type \"Int\""),
            "{:?}",
            o.errors
        );
    }
}
