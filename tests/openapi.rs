//! The OpenAPI document at `/v1/openapi.json`, fetched from a running server: it is
//! OpenAPI 3.x JSON with components and the `admin_token` bearer scheme, and every route
//! the source registers (each `.route("PATH", ...)` in `src/http/**/*.rs`, with its methods)
//! is in it. The walk reads the source, so a route added anywhere under `src/http` without
//! a `#[utoipa::path]` (or without its entry in `ApiDoc`) fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod http_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http_support::{TestServer, agent, config_toml};
use serde_json::Value;

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn document() -> Value {
    let server = TestServer::start(&config_toml("74950000100-74950000101", 100));
    let mut resp = agent().get(server.url("/v1/openapi.json")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    resp.body_mut().read_json().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The production part of a source file: test modules cut off, comment lines dropped.
fn production(code: &str) -> String {
    let code = code.split("#[cfg(test)]").next().unwrap_or(code);
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// From the text right after a `.route(`: the path literal and the rest of the call
/// (up to its closing parenthesis).
fn route_call(rest: &str) -> Option<(String, &str)> {
    let rest = rest.trim_start().strip_prefix('"')?;
    let (path, rest) = rest.split_once('"')?;
    let mut depth = 1usize;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((path.to_owned(), &rest[..i]));
                }
            }
            _ => {}
        }
    }
    None
}

/// The HTTP methods named in a method router expression: `get(h)`, `get(h).post(h2)`, ...
fn methods_in(expr: &str) -> Vec<&'static str> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    METHODS
        .into_iter()
        .filter(|m| {
            expr.match_indices(&format!("{m}("))
                .any(|(at, _)| !expr[..at].chars().next_back().is_some_and(ident))
        })
        .collect()
}

/// Every `.route("PATH", methods)` under `src/http`: path -> methods (over all files).
fn routes_in_source() -> BTreeMap<String, Vec<&'static str>> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut files,
    );
    let mut routes: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for file in files {
        let code = production(&std::fs::read_to_string(&file).unwrap());
        for (at, _) in code.match_indices(".route(") {
            let Some((path, expr)) = route_call(&code[at + ".route(".len()..]) else {
                panic!("{}: a .route( without a path literal", file.display());
            };
            let methods = methods_in(expr);
            assert!(!methods.is_empty(), "{path}: no method in {expr:?}");
            routes.entry(path).or_default().extend(methods);
        }
    }
    routes
}

#[test]
fn the_walker_reads_routes_and_methods() {
    let (path, expr) = route_call(
        " \"/v1/admin/blacklist\",\n get(blacklist::list)\n .post(blacklist::add),\n)\n.route(",
    )
    .unwrap();
    assert_eq!(path, "/v1/admin/blacklist");
    assert_eq!(methods_in(expr), ["get", "post"]);
    assert_eq!(methods_in("delete(sessions::release)"), ["delete"]);
    assert!(methods_in("sessions::get(x)").is_empty());
    let routes = routes_in_source();
    assert!(routes.len() >= 10, "{routes:?}");
    assert_eq!(routes["/v1/sessions/{session_id}"], ["delete"]);
}

#[test]
fn the_document_is_openapi_3_with_components_and_the_admin_token() {
    let doc = document();
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["title"], "calltrack");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "SessionView",
        "LeadView",
        "LeadBody",
        "DealView",
        "ErrorBody",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }
    let token = &doc["components"]["securitySchemes"]["admin_token"];
    assert_eq!(token["type"], "http");
    assert_eq!(token["scheme"], "bearer");
    let pools = &doc["paths"]["/v1/admin/pools"]["get"];
    assert_eq!(pools["security"][0]["admin_token"], Value::Array(vec![]));
    let leads = &doc["paths"]["/v1/leads"]["get"];
    assert!(leads["security"][0].get("admin_token").is_some(), "{leads}");
}

/// Every `$ref` string anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
        _ => {}
    }
}

#[test]
fn every_schema_reference_resolves() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 10, "{found:?}");
    let dangling: Vec<&str> = found
        .into_iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_none_or(|name| !schemas.contains_key(name))
        })
        .collect();
    assert!(
        dangling.is_empty(),
        "schemas used but not listed in ApiDoc: {dangling:?}"
    );
}

#[test]
fn every_route_in_the_source_is_documented_with_its_methods() {
    let doc = document();
    let paths = doc["paths"].as_object().unwrap();
    let mut missing = Vec::new();
    for (path, methods) in routes_in_source() {
        let Some(item) = paths.get(&path) else {
            missing.push(format!("{path} (all of {methods:?})"));
            continue;
        };
        for method in methods {
            if item.get(method).is_none() {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without #[utoipa::path] or not listed in ApiDoc:\n{}",
        missing.join("\n")
    );
}
