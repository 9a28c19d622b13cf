//! The web dashboard (at `/`) and the customer portal (at `/portal`): static pages compiled
//! into the binary, so every API node serves them with no extra server and no build step.
//! They are plain HTML, CSS and JavaScript modules that call the public API (a session cookie
//! on the dashboard, an application-scoped bearer token on the portal): whatever they show or
//! change, a token could too.
//!
//! The pages are served with a strict Content-Security-Policy (scripts, styles and API calls
//! from this origin only, no inline script, no framing), so even a bug that put data into the
//! page as markup could not run code or be clickjacked.

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::resource::RouteLabel;
use super::ApiState;

/// One file of the pages: its name under `/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($(($name:literal, $content_type:expr)),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("assets/", $name)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/`.
const ASSETS: &[Asset] = assets![
    ("style.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
    ("app.js", JS),
    ("api.js", JS),
    ("ui.js", JS),
    ("chart.js", JS),
    ("pages/signin.js", JS),
    ("pages/applications.js", JS),
    ("pages/application.js", JS),
    ("pages/endpoint.js", JS),
    ("pages/message.js", JS),
    ("pages/tokens.js", JS),
    ("pages/event-types.js", JS),
    ("pages/operational.js", JS),
];

/// The one HTML page: the scripts pick the dashboard or the portal from the path.
const INDEX: &str = include_str!("assets/index.html");

/// What the browser may do with the pages.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// Registers `/`, `/portal` and `/assets/{file}`.
pub fn register(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/portal", web::get().to(page))
        .route("/assets/{file:.+}", web::get().to(asset));
}

fn enabled(req: &HttpRequest) -> bool {
    req.app_data::<web::Data<ApiState>>()
        .is_some_and(|state| state.config.dashboard.enabled)
}

fn respond(
    req: &HttpRequest,
    label: &'static str,
    content_type: &str,
    body: &'static [u8],
) -> HttpResponse {
    req.extensions_mut().insert(RouteLabel(label));
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

/// `GET /` and `GET /portal`: the page shell.
async fn page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if !enabled(&req) {
        return Err(ApiError::NoRoute);
    }
    let label = if req.path() == "/portal" {
        "/portal"
    } else {
        "/"
    };
    Ok(respond(
        &req,
        label,
        "text/html; charset=utf-8",
        INDEX.as_bytes(),
    ))
}

/// `GET /assets/{file}`: scripts, styles, icons.
async fn asset(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let found = ASSETS.iter().find(|a| a.name == file.as_str());
    match found {
        Some(asset) if enabled(&req) => Ok(respond(
            &req,
            "/assets/{file}",
            asset.content_type,
            asset.bytes,
        )),
        _ => Err(ApiError::NoRoute),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every module a script imports is served (a missing one breaks the page silently).
    #[test]
    fn every_imported_module_is_an_asset() {
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).expect("utf-8");
            let dir = asset.name.rsplit_once('/').map_or("", |(dir, _)| dir);
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let resolved = resolve(dir, spec);
                assert!(
                    ASSETS.iter().any(|a| a.name == resolved),
                    "{} imports {spec} ({resolved}), which is not in ASSETS",
                    asset.name
                );
            }
        }
        assert!(INDEX.contains("/assets/app.js"));
    }

    fn resolve(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for part in spec.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
