//! `liftos serve`: every HTTP route of the template on loopback from one process, on the
//! embedded store, with the Lambdas' own handlers, authentication and errors. The request is
//! handed to the handler as a function URL would hand it (no API Gateway routing: the path
//! parameters come from matching the path, the query from the URL).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::RequestExt;
use liftos::api::error::{ApiError, ErrorCode};
use liftos::api::routes::{Route, ROUTES};
use liftos::runtime::Deps;
use std::sync::Arc;

/// Bodies above this are refused before they are read whole (the handlers' own cap is 5 MiB).
const MAX_READ: usize = 6 * 1024 * 1024;

/// The route for a method and path: the one with this method, else one with the path only (its
/// handler answers 405 with `allow`).
pub fn route_for(method: &str, path: &str) -> Option<&'static Route> {
    let on_path = |r: &&Route| r.matches(path).is_some();
    ROUTES.iter().filter(on_path).find(|r| r.method == method).or_else(|| ROUTES.iter().find(on_path))
}

fn query_map(query: Option<&str>) -> lambda_http::aws_lambda_events::query_map::QueryMap {
    let mut map: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        map.entry(k.into_owned()).or_default().push(v.into_owned());
    }
    map.into()
}

fn to_hyper(resp: lambda_http::Response<lambda_http::Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(t) => Bytes::from(t),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

fn error(status: u16, code: ErrorCode, message: String) -> hyper::Response<Full<Bytes>> {
    let req = lambda_http::Request::default();
    to_hyper(liftos::runtime::http::error_response(&req, ApiError::new(status, code, message)))
}

/// One request, start to end.
pub async fn handle(deps: &Deps, req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Some(route) = route_for(parts.method.as_str(), &path) else {
        return error(404, ErrorCode::NotFound, format!("no route {} {path}", parts.method));
    };
    let bytes = match Limited::new(body, MAX_READ).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                413,
                ErrorCode::PayloadTooLarge,
                format!("the body is over {MAX_READ} bytes (or was cut off)"),
            )
        }
    };
    let query = query_map(parts.uri.query());
    let body = if bytes.is_empty() {
        lambda_http::Body::Empty
    } else {
        match String::from_utf8(bytes.to_vec()) {
            Ok(t) => lambda_http::Body::Text(t),
            Err(e) => lambda_http::Body::Binary(e.into_bytes()),
        }
    };
    let req = lambda_http::Request::from_parts(parts, body).with_query_string_parameters(query);
    match liftos::runtime::handlers::dispatch(deps, route.function, req).await {
        Some(mut resp) => {
            // Every method the path takes, not only the first route's.
            if resp.status() == 405 {
                let methods: Vec<&str> =
                    ROUTES.iter().filter(|r| r.matches(&path).is_some()).map(|r| r.method).collect();
                if let Ok(v) = lambda_http::http::HeaderValue::from_str(&methods.join(", ")) {
                    resp.headers_mut().insert("allow", v);
                }
            }
            to_hyper(resp)
        }
        None => error(500, ErrorCode::InternalError, format!("no handler for {}", route.function)),
    }
}

/// Serve on `127.0.0.1:port` until the process is stopped. Prints the address it listens on.
pub async fn run(deps: Deps, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    eprintln!("liftos: serving {} routes on http://{addr} (embedded store)", ROUTES.len());
    let deps = Arc::new(deps);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let deps = deps.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let deps = deps.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&deps, req).await) }
            });
            if let Err(e) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
            {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
}
