//! The structural YAML scanner behind [`Positions`]: follows block and flow collections,
//! comments, quoted and block scalars, and records where each key and value starts.
//!
//! It only needs to follow structure, not to understand scalars: it runs beside
//! serde_yaml_ng, which has accepted the same text (or rejected it for a duplicate key).

use super::positions::{DuplicateKey, Pos, Positions, YamlPath};
use std::collections::HashMap;

/// Scans `text` for the positions of its keys and values.
pub(super) fn scan(text: &str) -> Positions {
    let mut scanner = Scanner::new(text);
    scanner.skip_document_start();
    scanner.node(&YamlPath::root(), -1, false);
    scanner.out
}

/// Nesting deeper than this is left unscanned (serde_yaml_ng refuses deeper documents).
const MAX_DEPTH: usize = 200;

struct Scanner {
    chars: Vec<char>,
    line_starts: Vec<usize>,
    i: usize,
    depth: usize,
    gave_up: bool,
    out: Positions,
}

fn is_separator(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t' | '\r' | '\n'))
}

fn is_flow_indicator(c: Option<char>) -> bool {
    matches!(c, Some(',' | '[' | ']' | '{' | '}'))
}

impl Scanner {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut line_starts = vec![0];
        for (i, c) in chars.iter().enumerate() {
            if *c == '\n' {
                line_starts.push(i + 1);
            }
        }
        let mut scanner = Self {
            chars,
            line_starts,
            i: 0,
            depth: 0,
            gave_up: false,
            out: Positions::default(),
        };
        if scanner.peek() == Some('\u{feff}') {
            scanner.i += 1;
        }
        scanner
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.i + offset).copied()
    }

    fn eof(&self) -> bool {
        self.i >= self.chars.len()
    }

    fn line_start(&self, index: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|start| *start <= index);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        (line.max(1), start)
    }

    fn pos(&self) -> Pos {
        let (line, start) = self.line_start(self.i);
        Pos {
            line,
            column: self.i - start + 1,
        }
    }

    /// 0-based column of the current character.
    fn col(&self) -> usize {
        let (_, start) = self.line_start(self.i);
        self.i - start
    }

    fn skip_inline_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
            self.i += 1;
        }
    }

    fn skip_to_line_end(&mut self) {
        while !matches!(self.peek(), None | Some('\n')) {
            self.i += 1;
        }
    }

    /// True at a newline, a comment or the end, after any spaces (which it skips).
    fn at_line_end(&mut self) -> bool {
        self.skip_inline_space();
        matches!(self.peek(), None | Some('\n' | '#'))
    }

    /// Skips spaces, comments and empty lines up to the next content character.
    fn skip_blank(&mut self) {
        loop {
            self.skip_inline_space();
            match self.peek() {
                Some('#') => self.skip_to_line_end(),
                Some('\n') => self.i += 1,
                _ => return,
            }
        }
    }

    fn skip_document_start(&mut self) {
        loop {
            self.skip_blank();
            if self.col() != 0 {
                return;
            }
            if self.peek() == Some('%') {
                self.skip_to_line_end();
            } else if self.peek() == Some('-')
                && self.peek_at(1) == Some('-')
                && self.peek_at(2) == Some('-')
                && is_separator(self.peek_at(3))
            {
                self.i += 3;
            } else {
                return;
            }
        }
    }

    /// Runs `f` one nesting level deeper, unless the document is too deep to follow.
    fn nested(&mut self, f: impl FnOnce(&mut Self)) {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            self.gave_up = true;
        }
        if !self.gave_up {
            f(self);
        }
        self.depth -= 1;
    }

    fn record_value(&mut self, path: &YamlPath) {
        let pos = self.pos();
        self.out.values.entry(path.clone()).or_insert(pos);
    }

    fn record_key(
        &mut self,
        path: &YamlPath,
        key: &str,
        pos: Pos,
        seen: &mut HashMap<String, Pos>,
    ) {
        if let Some(first) = seen.get(key) {
            self.out.duplicates.push(DuplicateKey {
                key: key.to_string(),
                at: pos,
                first: *first,
            });
        } else {
            seen.insert(key.to_string(), pos);
        }
        self.out.keys.entry(path.key(key)).or_insert(pos);
    }

    /// Skips anchors (`&a`) and tags (`!t`) in front of a node.
    fn skip_properties(&mut self) {
        while matches!(self.peek(), Some('&' | '!')) {
            while !is_separator(self.peek()) {
                self.i += 1;
            }
            self.skip_inline_space();
        }
    }

    fn is_seq_dash(&self) -> bool {
        self.peek() == Some('-') && is_separator(self.peek_at(1))
    }

    /// Whether a block mapping key (`key:` followed by a space or line end) starts here.
    fn is_key_here(&self) -> bool {
        let mut j = self.i;
        let at = |j: usize| self.chars.get(j).copied();
        match at(j) {
            None | Some('[' | '{' | '#' | '|' | '>' | '\n' | '-' | '?') => {
                // '-' and '?' start a key only when not followed by a space.
                if matches!(at(j), Some('-' | '?')) && !is_separator(at(j + 1)) {
                    return self.plain_key_ahead(j);
                }
                false
            }
            Some(quote @ ('"' | '\'')) => {
                j += 1;
                while let Some(c) = at(j) {
                    if c == '\n' {
                        return false;
                    }
                    if c == '\\' && quote == '"' {
                        j += 2;
                        continue;
                    }
                    if c == quote {
                        if quote == '\'' && at(j + 1) == Some('\'') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                j += 1;
                while matches!(at(j), Some(' ' | '\t')) {
                    j += 1;
                }
                at(j) == Some(':') && is_separator(at(j + 1))
            }
            Some(_) => self.plain_key_ahead(j),
        }
    }

    fn plain_key_ahead(&self, mut j: usize) -> bool {
        let at = |j: usize| self.chars.get(j).copied();
        while let Some(c) = at(j) {
            match c {
                '\n' => return false,
                ':' if is_separator(at(j + 1)) => return true,
                '#' if j > 0 && matches!(at(j - 1), Some(' ' | '\t')) => return false,
                _ => j += 1,
            }
        }
        false
    }

    /// Reads a quoted scalar starting at its opening quote; returns its text.
    fn quoted(&mut self) -> String {
        let quote = self.peek();
        self.i += 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.i += 1;
            if Some(c) == quote {
                if c == '\'' && self.peek() == Some('\'') {
                    self.i += 1;
                    text.push('\'');
                    continue;
                }
                break;
            }
            if c == '\\' && quote == Some('"') {
                if let Some(escaped) = self.peek() {
                    self.i += 1;
                    text.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                continue;
            }
            text.push(c);
        }
        text
    }

    /// Reads a block mapping key and its `:`; returns the key's text.
    fn block_key(&mut self) -> String {
        if matches!(self.peek(), Some('"' | '\'')) {
            let key = self.quoted();
            self.skip_inline_space();
            if self.peek() == Some(':') {
                self.i += 1;
            }
            return key;
        }
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' || (c == ':' && is_separator(self.peek_at(1))) {
                break;
            }
            key.push(c);
            self.i += 1;
        }
        if self.peek() == Some(':') {
            self.i += 1;
        }
        key.trim_end().to_string()
    }

    /// The node after an indicator (`key:`, `- `, or the document start). Its content
    /// must be indented past `parent_indent`, except a list under a mapping key, which may
    /// sit at the key's own indent.
    fn node(&mut self, path: &YamlPath, parent_indent: isize, list_may_align: bool) {
        self.nested(|s| s.node_inner(path, parent_indent, list_may_align));
    }

    fn node_inner(&mut self, path: &YamlPath, parent_indent: isize, list_may_align: bool) {
        self.skip_inline_space();
        self.skip_properties();
        if self.at_line_end() {
            self.skip_blank();
            if self.eof() {
                return;
            }
            let col = self.col() as isize;
            let aligned_list = list_may_align && col == parent_indent && self.is_seq_dash();
            if col <= parent_indent && !aligned_list {
                return;
            }
            self.skip_properties();
        }
        self.record_value(path);
        let col = self.col();
        if self.is_seq_dash() {
            self.block_seq(path, col);
        } else if self.is_key_here() {
            self.block_map(path, col);
        } else {
            match self.peek() {
                Some('[' | '{') => self.flow(path),
                Some('|' | '>') => self.block_scalar(parent_indent),
                Some('"' | '\'') => {
                    self.quoted();
                }
                _ => self.skip_to_line_end(),
            }
        }
    }

    /// After a node: skips blank lines and lines indented deeper than `indent` (the rest
    /// of a multi-line scalar); true when the next line starts at exactly `indent`.
    fn next_line_at(&mut self, indent: usize) -> bool {
        self.skip_blank();
        while !self.eof() && self.col() > indent {
            self.skip_to_line_end();
            self.skip_blank();
        }
        !self.eof() && !self.gave_up && self.col() == indent
    }

    fn block_map(&mut self, path: &YamlPath, indent: usize) {
        let mut seen = HashMap::new();
        loop {
            let before = self.i;
            let key_pos = self.pos();
            let key = self.block_key();
            self.record_key(path, &key, key_pos, &mut seen);
            self.node(&path.key(&key), indent as isize, true);
            if !self.next_line_at(indent) || !self.is_key_here() || self.i == before {
                return;
            }
        }
    }

    fn block_seq(&mut self, path: &YamlPath, indent: usize) {
        let mut index = 0;
        loop {
            let before = self.i;
            let item = path.index(index);
            let dash = self.pos();
            self.out.keys.entry(item.clone()).or_insert(dash);
            self.i += 1;
            self.node(&item, indent as isize, false);
            index += 1;
            if !self.next_line_at(indent) || !self.is_seq_dash() || self.i == before {
                return;
            }
        }
    }

    /// Skips a literal or folded block scalar: its header line and every following line
    /// that is blank or indented past the parent.
    fn block_scalar(&mut self, parent_indent: isize) {
        self.skip_to_line_end();
        while self.peek() == Some('\n') {
            let line_start = self.i + 1;
            self.i = line_start;
            self.skip_inline_space();
            if matches!(self.peek(), None | Some('\n')) {
                continue;
            }
            if (self.i - line_start) as isize > parent_indent {
                self.skip_to_line_end();
            } else {
                self.i = line_start;
                return;
            }
        }
    }

    fn skip_flow_space(&mut self) {
        self.skip_blank();
    }

    /// A flow collection (`[...]` or `{...}`), which may span lines.
    fn flow(&mut self, path: &YamlPath) {
        self.nested(|s| s.flow_inner(path));
    }

    fn flow_inner(&mut self, path: &YamlPath) {
        let is_list = self.peek() == Some('[');
        let close = if is_list { ']' } else { '}' };
        self.i += 1;
        let mut index = 0;
        let mut seen = HashMap::new();
        loop {
            self.skip_flow_space();
            let before = self.i;
            match self.peek() {
                None => return,
                Some(c) if c == close => {
                    self.i += 1;
                    return;
                }
                Some(']' | '}') => {
                    self.i += 1;
                    return;
                }
                Some(',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            if is_list {
                let item = path.index(index);
                index += 1;
                self.record_value(&item);
                self.flow_node(&item);
                self.skip_flow_space();
                if self.peek() == Some(':') {
                    self.i += 1;
                    self.skip_flow_space();
                    self.flow_node(&item);
                }
            } else {
                let key_pos = self.pos();
                let key = self.flow_key();
                self.record_key(path, &key, key_pos, &mut seen);
                self.skip_flow_space();
                if self.peek() == Some(':') {
                    self.i += 1;
                    self.skip_flow_space();
                    if !matches!(self.peek(), Some(',' | ']' | '}') | None) {
                        let value = path.key(&key);
                        self.record_value(&value);
                        self.flow_node(&value);
                    }
                }
            }
            if self.i == before {
                self.i += 1;
            }
            if self.gave_up {
                return;
            }
        }
    }

    fn flow_key(&mut self) -> String {
        if matches!(self.peek(), Some('"' | '\'')) {
            return self.quoted();
        }
        let start = self.i;
        self.plain_flow_scalar();
        self.chars
            .get(start..self.i)
            .map(|chars| chars.iter().collect::<String>())
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    fn flow_node(&mut self, path: &YamlPath) {
        self.skip_properties();
        match self.peek() {
            Some('[' | '{') => self.flow(path),
            Some('"' | '\'') => {
                self.quoted();
            }
            _ => self.plain_flow_scalar(),
        }
    }

    fn plain_flow_scalar(&mut self) {
        while let Some(c) = self.peek() {
            let next = self.peek_at(1);
            let ends = is_flow_indicator(Some(c))
                || (c == ':' && (is_separator(next) || is_flow_indicator(next)))
                || (c == '#' && self.i > 0 && is_separator(self.chars.get(self.i - 1).copied()));
            if ends {
                return;
            }
            self.i += 1;
        }
    }
}
