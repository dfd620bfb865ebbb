//! A reader for the Python-literal architecture strings researchers already use:
//! `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)` (DARTS) and
//! `ModelSpec(matrix=[[0, 1], [0, 0]], ops=['input', 'output'])` or the same as a dict
//! `{'matrix': ..., 'ops': ...}` (NAS-Bench-101). Integers, quoted or bare strings, lists,
//! tuples and `range(a, b)`; whitespace is free.

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// An integer.
    Int(i64),
    /// A string, quoted or bare (`sep_conv_3x3`, `conv3x3-bn-relu`).
    Str(String),
    /// A list or a tuple (`range(a, b)` reads as the list of its integers).
    List(Vec<Value>),
}

impl Value {
    /// The integer, if this is one.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub(crate) fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }
}

/// Most items `range(a, b)` may produce, most values in all (`range` items included), and
/// deepest nesting, so that a string cannot make the reader allocate or recurse without bound
/// (an architecture needs a few dozen values).
const MAX_RANGE: i64 = 4096;
const MAX_VALUES: usize = 65_536;
const MAX_DEPTH: usize = 16;

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    /// Values read so far.
    values: usize,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at character {}", self.i + 1)
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn word(&mut self) -> String {
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || b"_-.".contains(&self.s[self.i]))
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn items(&mut self, close: u8, depth: usize) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(out);
            }
            out.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.err(&format!("expected ',' or '{}'", close as char))),
            }
        }
    }

    /// Counts `n` more values against [`MAX_VALUES`].
    fn take(&mut self, n: usize) -> Result<(), String> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_VALUES {
            return Err(self.err("too many values"));
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.take(1)?;
        match self.peek() {
            Some(b'[') => {
                self.i += 1;
                self.items(b']', depth).map(Value::List)
            }
            Some(b'(') => {
                self.i += 1;
                self.items(b')', depth).map(Value::List)
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i] != q {
                    self.i += 1;
                }
                if self.i == self.s.len() {
                    return Err(self.err("unterminated string"));
                }
                let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                Ok(Value::Str(v))
            }
            Some(c) if c.is_ascii_digit() || c == b'-' => {
                let w = self.word();
                match w.parse::<i64>() {
                    Ok(i) => Ok(Value::Int(i)),
                    Err(_) => Ok(Value::Str(w)),
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let w = self.word();
                if w == "range" && self.peek() == Some(b'(') {
                    self.i += 1;
                    let args = self.items(b')', depth)?;
                    let ints: Option<Vec<i64>> = args.iter().map(Value::int).collect();
                    let (a, b) = match ints.as_deref() {
                        Some([b]) => (0, *b),
                        Some([a, b]) => (*a, *b),
                        _ => return Err(self.err("range() takes one or two integers")),
                    };
                    if b.saturating_sub(a) > MAX_RANGE {
                        return Err(self.err("range() too long"));
                    }
                    self.take(usize::try_from(b.saturating_sub(a)).unwrap_or(0))?;
                    return Ok(Value::List((a..b).map(Value::Int).collect()));
                }
                Ok(Value::Str(w))
            }
            Some(c) => Err(self.err(&format!("unexpected '{}'", c as char))),
            None => Err(self.err("unexpected end")),
        }
    }
}

/// Reads `Name(key=value, ...)` (`name` is `Name`, checked when given), or
/// `{'key': value, ...}`, or bare `key=value, ...`, into its keyword arguments in order.
pub(crate) fn keywords(text: &str, name: &str) -> Result<Vec<(String, Value)>, String> {
    let mut r = Reader { s: text.as_bytes(), i: 0, values: 0 };
    let (close, sep) = match r.peek() {
        Some(b'{') => {
            r.i += 1;
            (Some(b'}'), b':')
        }
        _ => {
            let save = r.i;
            let w = r.word();
            if r.peek() == Some(b'(') {
                if w != name {
                    return Err(format!("expected {name}(...), found {w}(...)"));
                }
                r.i += 1;
                (Some(b')'), b'=')
            } else {
                r.i = save;
                (None, b'=')
            }
        }
    };
    let mut out = Vec::new();
    loop {
        match (r.peek(), close) {
            (Some(c), Some(close)) if c == close => {
                r.i += 1;
                break;
            }
            (None, None) => break,
            (None, Some(c)) => return Err(r.err(&format!("expected '{}'", c as char))),
            _ => {}
        }
        let key = match r.peek() {
            Some(b'\'' | b'"') => r.value(0)?.str().unwrap_or_default().to_string(),
            _ => r.word(),
        };
        if key.is_empty() {
            return Err(r.err("expected a key"));
        }
        r.expect(sep)?;
        out.push((key, r.value(0)?));
        match r.peek() {
            Some(b',') => r.i += 1,
            Some(c) if Some(c) == close => {}
            None if close.is_none() => {}
            _ => return Err(r.err("expected ','")),
        }
    }
    if r.peek().is_some() {
        return Err(r.err("unexpected text after the end"));
    }
    Ok(out)
}

/// The value of keyword `key`, or an error naming it.
pub(crate) fn get<'a>(kw: &'a [(String, Value)], key: &str) -> Result<&'a Value, String> {
    kw.iter().find(|(k, _)| k == key).map(|(_, v)| v).ok_or_else(|| format!("missing {key}="))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_genotypes_model_specs_and_dicts() {
        let kw = keywords(
            "Genotype(normal=[('sep_conv_3x3', 1), (\"skip_connect\", 0)], normal_concat=range(2, 4))",
            "Genotype",
        )
        .expect("genotype");
        assert_eq!(kw[0].0, "normal");
        let pair = &kw[0].1.list().expect("list")[1];
        assert_eq!(pair.list().expect("tuple")[0].str(), Some("skip_connect"));
        assert_eq!(kw[1].1, Value::List(vec![Value::Int(2), Value::Int(3)]));
        let kw = keywords("{'matrix': [[0, 1], [0, 0]], 'ops': [input, output]}", "ModelSpec")
            .expect("dict");
        assert_eq!(kw[1].1.list().expect("ops")[0].str(), Some("input"));
        let kw = keywords("matrix=[[0,1],[0,0]], ops=[input,conv3x3-bn-relu]", "ModelSpec")
            .expect("bare");
        assert_eq!(kw[1].1.list().expect("ops")[1].str(), Some("conv3x3-bn-relu"));
    }

    #[test]
    fn bad_text_is_an_error_with_a_position() {
        for bad in [
            "Genotype(normal=[('a', 1)",
            "Foo(normal=[])",
            "Genotype(normal=[1 2])",
            "Genotype(x=range(0, 100000))",
            "Genotype(x='abc)",
            "{'matrix' [[0]]}",
        ] {
            assert!(keywords(bad, "Genotype").is_err(), "{bad}");
        }
        let deep = "[".repeat(100);
        assert!(keywords(&format!("x={deep}"), "X").is_err());
        // 36 KB of ranges would make 12 million values: refused after the first 65,536.
        let wide = format!("x=[{}]", vec!["range(4096)"; 3000].join(","));
        let e = keywords(&wide, "X").expect_err("too many values");
        assert!(e.contains("too many values"), "{e}");
    }
}
