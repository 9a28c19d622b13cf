//! One path of the API, registered once: an actix resource whose methods are added together
//! with the `#[utoipa::path]` documentation of their handler, whose other methods answer the
//! JSON 405 (with an `Allow` header; OPTIONS: the CORS preflight), and which labels its
//! requests with its path pattern for the metrics. The router, the 405 answers, the metric
//! labels and the OpenAPI document therefore all come from the one table in `routes.rs`.

use actix_web::dev::{AppService, HttpServiceFactory, Service};
use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, HttpMessage, HttpRequest, Responder};
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa_actix_web::OpenApiFactory;

/// The path pattern a request was routed to, set on every routed request (the metrics'
/// `route` label).
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// Schemas collected from the documentation of a resource's handlers.
type Schemas = Vec<(String, RefOr<Schema>)>;

/// One path of the API and the documentation of each of its methods.
pub struct Resource {
    path: &'static str,
    resource: actix_web::Resource,
    allowed: Vec<String>,
    paths: Paths,
    schemas: Schemas,
}

/// Starts the resource of `path` (the full pattern, as in `#[utoipa::path]`).
pub fn resource(path: &'static str) -> Resource {
    Resource {
        path,
        resource: web::resource(path),
        allowed: Vec::new(),
        paths: Paths::new(),
        schemas: Vec::new(),
    }
}

impl Resource {
    /// Serves GET with `handler`, documented by `doc` (the handler's `__path_*` struct).
    pub fn get<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::GET, HttpMethod::Get, handler, doc)
    }

    /// Serves POST with `handler`, documented by `doc`.
    pub fn post<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::POST, HttpMethod::Post, handler, doc)
    }

    /// Serves PUT with `handler`, documented by `doc`.
    pub fn put<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::PUT, HttpMethod::Put, handler, doc)
    }

    /// Serves DELETE with `handler`, documented by `doc`.
    pub fn delete<F, Args, D>(self, handler: F, doc: D) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        self.method(Method::DELETE, HttpMethod::Delete, handler, doc)
    }

    fn method<F, Args, D>(
        mut self,
        method: Method,
        documented: HttpMethod,
        handler: F,
        doc: D,
    ) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
        D: utoipa::Path + OpenApiFactory,
    {
        assert!(
            D::path() == self.path && D::methods() == [documented],
            "the #[utoipa::path] of the {method} {} handler documents another route: {}",
            self.path,
            D::path()
        );
        self.paths.merge(doc.paths());
        doc.schemas(&mut self.schemas);
        self.allowed.push(method.to_string());
        self.resource = self.resource.route(web::method(method).to(handler));
        self
    }
}

impl Resource {
    /// The methods served on this path.
    pub fn methods(&self) -> &[String] {
        &self.allowed
    }

    /// The path pattern.
    pub fn path(&self) -> &'static str {
        self.path
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        let allow = self.allowed.join(", ");
        let label = RouteLabel(self.path);
        self.resource
            .default_service(web::to(move |req: HttpRequest| {
                super::method_not_allowed(req, allow.clone())
            }))
            .wrap_fn(move |req, service| {
                req.extensions_mut().insert(label);
                service.call(req)
            })
            .register(config);
    }
}

impl OpenApiFactory for Resource {
    fn paths(&self) -> Paths {
        self.paths.clone()
    }

    fn schemas(&self, schemas: &mut Schemas) {
        schemas.extend(self.schemas.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "documents another route")]
    fn a_handler_documented_for_another_path_is_refused() {
        let _ = resource("/elsewhere").get(
            crate::api::health::health,
            crate::api::health::__path_health,
        );
    }

    #[test]
    #[should_panic(expected = "documents another route")]
    fn a_handler_documented_for_another_method_is_refused() {
        let _ = resource("/health").post(
            crate::api::health::health,
            crate::api::health::__path_health,
        );
    }
}
