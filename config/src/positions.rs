//! Where each key and value sits in the YAML text, so that problems found in the value
//! tree can name a line and column: a small structural scanner over block and flow
//! collections, run beside serde_yaml_ng (which gives positions only for its own errors).
//! The scanner (`scan.rs`) only follows structure; where it cannot place a node, lookups
//! fall back to the nearest ancestor it did place.

use std::collections::HashMap;

/// One step from the document root: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A node's address from the document root, e.g. `pipeline.stages[2].when`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct YamlPath(Vec<Seg>);

impl YamlPath {
    /// The document root.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// The value under mapping key `key` of this node.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        Self(segs)
    }

    /// The item at `index` of this list node.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    fn parent(&self) -> Option<Self> {
        let mut segs = self.0.clone();
        segs.pop()?;
        Some(Self(segs))
    }
}

/// A 1-based line and column (columns count characters, as serde_yaml_ng's do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Pos {
    pub(super) const START: Pos = Pos { line: 1, column: 1 };
}

/// A key that appears twice in one mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DuplicateKey {
    pub(crate) key: String,
    pub(crate) at: Pos,
    pub(crate) first: Pos,
}

/// Positions of the keys and values of one YAML document.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    /// Where each mapping key (and each block list item's `-`) is written.
    pub(super) keys: HashMap<YamlPath, Pos>,
    /// Where each value starts.
    pub(super) values: HashMap<YamlPath, Pos>,
    /// Keys repeated within one mapping, in text order.
    pub(crate) duplicates: Vec<DuplicateKey>,
}

impl Positions {
    /// Scans `text` for the positions of its keys and values.
    pub(crate) fn scan(text: &str) -> Self {
        super::scan::scan(text)
    }

    /// Where the key of `path` is written; else its value; else the nearest ancestor.
    pub(crate) fn key(&self, path: &YamlPath) -> Pos {
        self.find(path, true)
    }

    /// Where the value of `path` starts; else its key; else the nearest ancestor.
    pub(crate) fn value(&self, path: &YamlPath) -> Pos {
        self.find(path, false)
    }

    fn find(&self, path: &YamlPath, key_first: bool) -> Pos {
        let mut current = Some(path.clone());
        while let Some(p) = current {
            let (first, second) = if key_first {
                (&self.keys, &self.values)
            } else {
                (&self.values, &self.keys)
            };
            if let Some(pos) = first.get(&p).or_else(|| second.get(&p)) {
                return *pos;
            }
            current = p.parent();
        }
        Pos::START
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn p(segs: &[&str]) -> YamlPath {
        let mut path = YamlPath::root();
        for seg in segs {
            path = match seg.parse::<usize>() {
                Ok(i) => path.index(i),
                Err(_) => path.key(seg),
            };
        }
        path
    }

    const DOC: &str = "# a comment
pipeline:
  stages: [lint, \"test\", {name: build, needs: [lint]}]
  notify:
    on_success: true   # inline comment
  list:
  - a
  -   name: deploy
      with: {region: eu}
  - - nested
  text: |
    key: not a key
  'quoted key': 1
";

    #[test]
    fn positions_block_keys_and_values() {
        let pos = Positions::scan(DOC);
        assert_eq!(pos.key(&p(&["pipeline"])), at(2, 1));
        assert_eq!(pos.key(&p(&["pipeline", "stages"])), at(3, 3));
        assert_eq!(pos.value(&p(&["pipeline", "stages"])), at(3, 11));
        assert_eq!(pos.key(&p(&["pipeline", "notify", "on_success"])), at(5, 5));
        assert_eq!(
            pos.value(&p(&["pipeline", "notify", "on_success"])),
            at(5, 17)
        );
        assert_eq!(pos.key(&p(&["pipeline", "quoted key"])), at(13, 3));
        assert!(pos.duplicates.is_empty());
    }

    #[test]
    fn positions_flow_items_and_keys() {
        let pos = Positions::scan(DOC);
        assert_eq!(pos.value(&p(&["pipeline", "stages", "0"])), at(3, 12));
        assert_eq!(pos.value(&p(&["pipeline", "stages", "1"])), at(3, 18));
        assert_eq!(
            pos.key(&p(&["pipeline", "stages", "2", "needs"])),
            at(3, 40)
        );
        assert_eq!(
            pos.value(&p(&["pipeline", "stages", "2", "needs", "0"])),
            at(3, 48)
        );
    }

    #[test]
    fn positions_lists_aligned_with_their_key_and_compact_maps() {
        let pos = Positions::scan(DOC);
        assert_eq!(pos.value(&p(&["pipeline", "list", "0"])), at(7, 5));
        assert_eq!(pos.key(&p(&["pipeline", "list", "1", "name"])), at(8, 7));
        assert_eq!(
            pos.key(&p(&["pipeline", "list", "1", "with", "region"])),
            at(9, 14)
        );
        assert_eq!(pos.value(&p(&["pipeline", "list", "2", "0"])), at(10, 7));
    }

    #[test]
    fn positions_skip_block_scalars() {
        let pos = Positions::scan(DOC);
        assert_eq!(pos.key(&p(&["pipeline", "text", "key"])), at(11, 3));
        assert_eq!(pos.value(&p(&["pipeline", "text"])), at(11, 9));
    }

    #[test]
    fn positions_fall_back_to_the_nearest_ancestor() {
        let pos = Positions::scan(DOC);
        assert_eq!(pos.key(&p(&["pipeline", "notify", "missing"])), at(4, 3));
        assert_eq!(pos.key(&p(&["nothing", "here"])), at(2, 1));
    }

    #[test]
    fn positions_find_duplicate_keys() {
        let pos = Positions::scan("a: 1\nb:\n  c: 1\n  c: 2\n");
        assert_eq!(
            pos.duplicates,
            vec![DuplicateKey {
                key: "c".into(),
                at: at(4, 3),
                first: at(3, 3)
            }]
        );
    }

    /// Every mapping key and list item in `value`, with its path.
    fn all_paths(value: &serde_yaml_ng::Value, path: YamlPath, out: &mut Vec<YamlPath>) {
        match value {
            serde_yaml_ng::Value::Mapping(map) => {
                for (k, v) in map {
                    let key = super::super::reader::scalar_text(k).unwrap_or_default();
                    let child = path.key(&key);
                    out.push(child.clone());
                    all_paths(v, child, out);
                }
            }
            serde_yaml_ng::Value::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    let child = path.index(i);
                    out.push(child.clone());
                    all_paths(v, child, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn positions_place_every_node_of_varied_documents() {
        let documents = [
            DOC,
            "%YAML 1.2\n---\npipeline:\n  stages:\n    - lint\n    -\n      name: x\n      with:\n        script: |\n          echo: hi\n          - not a list\n        other: >-\n          folded\n        note: a plain\n          multi-line value\n        q: \"quoted\n          across lines\"\n    - {name: y,\n       needs: [\n         lint,   # why\n         x ],\n       with: {\"a b\": 'it''s', c: [1, {d: 2}]}}\n",
            "pipeline:\r\n  stages: [a]\r\n  notify:\r\n    on_success: true\r\n",
            "pipeline:\n  stages:\n  - &base\n    name: a\n    timeout: 5m\n  - <<: *base\n    name: b\n  key with spaces  : 1\n  \"k:\": {\"x\":1, 'y' : 2}\n  url: http://example.test/a#b\n",
            "- - a\n  - b\n- c: 1\n  d:\n  - e\n",
        ];
        for text in documents {
            let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
            let mut paths = Vec::new();
            all_paths(&value, YamlPath::root(), &mut paths);
            let positions = Positions::scan(text);
            for path in paths {
                if path
                    .0
                    .iter()
                    .any(|seg| matches!(seg, Seg::Key(k) if k == "<<"))
                {
                    continue;
                }
                assert!(
                    positions.keys.contains_key(&path) || positions.values.contains_key(&path),
                    "{path:?} not placed in:\n{text}"
                );
            }
        }
    }

    #[test]
    fn positions_survive_odd_input() {
        for text in [
            "", "---\n", "[", "{a: [", "- - - -", "\"open", "a: |", "? x\n: y", "&a b: *a",
        ] {
            let _ = Positions::scan(text);
        }
        let deep = "[".repeat(5000);
        let pos = Positions::scan(&deep);
        assert_eq!(pos.value(&YamlPath::root()), at(1, 1));
    }
}
