//! Octohooks: a webhook delivery service.
//!
//! The modules follow a message through the system, each using only those below it:
//!
//! ```text
//! cli ─ runtime                  roles, start-up, graceful shutdown
//!   api                          HTTP: routes, validation, idempotency, API shapes
//!   dispatch                     the worker: leases, partitions, one actor per endpoint
//!   store                        entities in Redis (and accepting a message onto its stream)
//!   queue · delivery · retry     work formats and scripts · signed HTTP · when to try again
//!   db                           Redis connections, the key catalogue, data-layer errors
//!   domain · telemetry           entities and their rules · logs and metrics
//!   clock · config               time · settings
//! ```
//!
//! A test (`layering` in this file) checks that no module imports one above it.

pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod dispatch;
pub mod domain;
pub mod queue;
pub mod retry;
pub mod runtime;
pub mod store;
pub mod telemetry;

#[cfg(test)]
mod layering {
    //! The layering rule, checked on the sources: a module may use only modules of lower
    //! layers (and itself). `cargo test layering -- --nocapture` prints the import graph.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Each top-level module and its layer; higher layers may use lower ones only.
    const LAYERS: &[(&str, u8)] = &[
        ("clock", 0),
        ("config", 0),
        ("domain", 1),
        ("telemetry", 1),
        ("db", 2),
        ("queue", 3),
        ("retry", 3),
        ("delivery", 3),
        ("store", 4),
        ("dispatch", 5),
        ("api", 5),
        ("runtime", 6),
        ("cli", 7),
    ];

    fn layer(module: &str) -> u8 {
        LAYERS
            .iter()
            .find(|(name, _)| *name == module)
            .map(|(_, layer)| *layer)
            .unwrap_or_else(|| panic!("module {module} has no layer in LAYERS"))
    }

    /// Top-level module → the top-level modules its files name through `crate::`.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let relative = path.strip_prefix(&src).expect("under src");
                let first = relative.components().next().expect("a component");
                let module = first
                    .as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string();
                if matches!(module.as_str(), "lib" | "main") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read source");
                let used = graph.entry(module.clone()).or_default();
                for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for (at, _) in line.match_indices("crate::") {
                        let name: String = line[at + 7..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() && name != module {
                            used.insert(name);
                        }
                    }
                }
            }
        }
        graph
    }

    #[test]
    fn no_module_imports_one_above_it() {
        let graph = imports();
        let mut violations = Vec::new();
        for (module, used) in &graph {
            println!("{module} (layer {}) -> {used:?}", layer(module));
            for target in used {
                if layer(target) >= layer(module) {
                    violations.push(format!("{module} uses {target}"));
                }
            }
        }
        assert!(violations.is_empty(), "layering broken: {violations:?}");
    }
}
