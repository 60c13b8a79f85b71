//! The OpenAPI 3.1 document of the API, generated from [`super::routes::ROUTES`] and the types
//! they name. `infra/openapi.json` is this document; a test fails when the two differ
//! (regenerate with `cargo run --bin liftos -- openapi > infra/openapi.json`).
//!
//! Request bodies and query parameters are described as they are read (serde's deserialize
//! contract), answers as they are written (the serialize contract: a field that is always
//! written is required). JSON has no NaN: a number that could not be computed is written as
//! `null`, so every number in an answer may be null.

use schemars::generate::{Contract, SchemaSettings};
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::routes::{Route, ROUTES};

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.contract = contract;
    settings.into_generator()
}

/// `"type": "number"` becomes number-or-null, everywhere in `v`.
fn nullable_numbers(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("type") == Some(&json!("number")) {
                o.insert("type".into(), json!(["number", "null"]));
            }
            if let Some(Value::Array(types)) = o.get_mut("type") {
                if types.contains(&json!("number")) && !types.contains(&json!("null")) {
                    types.push(json!("null"));
                }
            }
            o.values_mut().for_each(nullable_numbers);
        }
        Value::Array(a) => a.iter_mut().for_each(nullable_numbers),
        _ => {}
    }
}

/// Rewrite `$ref`s to `old` into `new` everywhere in `v`.
fn rename_refs(v: &mut Value, old: &str, new: &str) {
    let (from, to) = (format!("#/components/schemas/{old}"), format!("#/components/schemas/{new}"));
    fn walk(v: &mut Value, from: &str, to: &str) {
        match v {
            Value::Object(o) => {
                if o.get("$ref").and_then(Value::as_str) == Some(from) {
                    o.insert("$ref".into(), Value::String(to.to_string()));
                }
                o.values_mut().for_each(|x| walk(x, from, to));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, from, to)),
            _ => {}
        }
    }
    walk(v, &from, &to);
}

fn content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn error_answer(description: &str) -> Value {
    json!({ "description": description, "content": content(json!({ "$ref": "#/components/schemas/Error" })) })
}

/// The query parameters of a route: the properties of its query struct.
fn query_parameters(schema: &Schema) -> Vec<Value> {
    let v = schema.as_value();
    let required: Vec<&str> =
        v["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(props) = v["properties"].as_object() else { return vec![] };
    props
        .iter()
        .map(|(name, s)| {
            let mut s = s.clone();
            let description = s.as_object_mut().and_then(|o| o.remove("description"));
            let mut p =
                json!({ "name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": s });
            if let Some(d) = description {
                p["description"] = d;
            }
            p
        })
        .collect()
}

fn operation(route: &Route, requests: &mut SchemaGenerator, answers: &mut SchemaGenerator) -> Value {
    let mut params: Vec<Value> = route
        .path_params
        .iter()
        .map(|p| json!({ "name": p.name, "in": "path", "required": true, "schema": { "type": "string", "pattern": p.pattern } }))
        .collect();
    if let Some(q) = route.query {
        // A query struct is described inline: its fields are the parameters.
        let mut inline = SchemaSettings::draft2020_12();
        inline.inline_subschemas = true;
        inline.meta_schema = None;
        inline.contract = Contract::Deserialize;
        params.extend(query_parameters(&q(&mut inline.into_generator())));
    }
    let mut responses = Map::new();
    for a in route.answers {
        let v = match a.body {
            Some(body) => {
                json!({ "description": a.description, "content": content(body(answers).to_value()) })
            }
            None => error_answer(a.description),
        };
        responses.insert(a.status.to_string(), v);
    }
    let standard = [
        ("400", "Bad input: the field and the problem"),
        ("401", "No valid token (missing, expired, not yet valid, wrong signature, audience or algorithm, malformed)"),
        ("403", "The token lacks the route's permission"),
        ("503", "A store is busy or the access could not be audited; retry (requests are idempotent)"),
    ];
    for (code, d) in standard {
        responses.entry(code).or_insert_with(|| error_answer(d));
    }
    let mut op = json!({
        "operationId": route.function.replace('-', "_"),
        "summary": route.summary,
        "description": route.description,
        "x-liftos-function": route.function,
        "x-liftos-permission": route.permission,
        "security": [{ "bearerAuth": [] }],
    });
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    if let Some(body) = route.body {
        responses.entry("413").or_insert_with(|| error_answer("The body is over 5 MiB"));
        op["requestBody"] = json!({ "required": true, "content": content(body(requests).to_value()) });
    }
    op["responses"] = Value::Object(responses);
    op
}

/// The document.
pub fn document() -> Value {
    let mut requests = generator(Contract::Deserialize);
    let mut answers = generator(Contract::Serialize);
    answers.subschema_for::<ApiError>();
    let mut paths = Map::new();
    for route in ROUTES.iter() {
        let op = operation(route, &mut requests, &mut answers);
        let item = paths.entry(route.path).or_insert_with(|| json!({}));
        item[route.method.to_lowercase()] = op;
    }
    // One set of schemas: where a type reads differently from how it is written, the reading is
    // named `{Name}Input`.
    let mut schemas: Map<String, Value> = answers.take_definitions(true).into_iter().collect();
    schemas.values_mut().for_each(nullable_numbers);
    let mut input_defs: Map<String, Value> = requests.take_definitions(true).into_iter().collect();
    let mut paths = Value::Object(paths);
    // A type that reads as it is written but holds one that does not (a result with a field that
    // has a default when read) must point at the reading too: renaming a clash changes its
    // holders' definitions, so clashes are found again until none is new.
    let mut clashing: Vec<String> = Vec::new();
    loop {
        let new: Vec<String> = input_defs
            .iter()
            .filter(|(k, v)| !clashing.contains(*k) && schemas.get(*k).is_some_and(|w| w != *v))
            .map(|(k, _)| k.clone())
            .collect();
        if new.is_empty() {
            break;
        }
        for name in &new {
            let renamed = format!("{name}Input");
            for v in input_defs.values_mut() {
                rename_refs(v, name, &renamed);
            }
        }
        clashing.extend(new);
    }
    for name in &clashing {
        let new = format!("{name}Input");
        // Only request bodies read with the deserialize contract.
        if let Some(p) = paths.as_object_mut() {
            for item in p.values_mut() {
                for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                    if let Some(body) = op.get_mut("requestBody") {
                        rename_refs(body, name, &new);
                    }
                }
            }
        }
    }
    for (k, v) in input_defs {
        let key = if clashing.contains(&k) { format!("{k}Input") } else { k };
        schemas.entry(key).or_insert(v);
    }
    let mut paths_obj = paths;
    nullable_numbers_in_answers(&mut paths_obj);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "LiftOS Causal API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Causal marketing measurement as an API. Every endpoint needs a bearer JWT (RS256 from the configured OIDC issuer, verified by the API Gateway JWT authorizer against the issuer's JWKS); the org and permissions come from the token only. Errors have one shape (`Error`): 4xx for the caller's mistakes, never a 5xx for bad input. Each operation names its Lambda (`x-liftos-function`) and the permission it needs (`x-liftos-permission`). Generated from the Rust types (`liftos openapi`)."
        },
        "servers": [{
            "url": "https://{api_id}.execute-api.{region}.amazonaws.com",
            "variables": { "api_id": { "default": "example" }, "region": { "default": "eu-west-1" } }
        }],
        "security": [{ "bearerAuth": [] }],
        "paths": paths_obj,
        "components": {
            "securitySchemes": { "bearerAuth": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas
        }
    })
}

/// Numbers in answers' inline schemas may be null too.
fn nullable_numbers_in_answers(paths: &mut Value) {
    for item in paths.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            if let Some(r) = op.get_mut("responses") {
                nullable_numbers(r);
            }
        }
    }
}

/// The document as `infra/openapi.json` holds it.
pub fn document_text() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default() + "\n"
}
