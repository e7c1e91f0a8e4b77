//! The human approval service of SPEC §7.2 (`mcp-policy approvals serve`).
//!
//! Owns: the entry points ([`run`], [`serve`]), the shared state ([`App`])
//! and the router. Does not own: the filter's API (`api`), the call binding
//! and its digest (`binding`), the approvers' pages and sign-in (`web`),
//! markup (`html`), state (`store`) or options (`config`).
//!
//! Routes: `POST /v1/check` (the filter), `GET /`, `GET /approvals`,
//! `GET /approvals/{id}`, `POST /approvals/{id}/approve`,
//! `POST /approvals/{id}/deny`, `GET|POST /login`, `POST /logout`,
//! `GET /static/app.css`, `GET /healthz`.

mod api;
pub mod binding;
pub mod config;
pub mod html;
pub mod reveal;
pub mod store;
mod web;

pub use config::{Approver, Options, PublicUrl, DEFAULT_APPROVED_TTL, DEFAULT_PENDING_TTL};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{Store, Ttl};

/// Milliseconds since the Unix epoch; tests substitute their own.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The running service's state, cheap to clone into handlers.
#[derive(Clone)]
pub struct App(Arc<Shared>);

struct Shared {
    /// One connection: checks are serialized here and by `BEGIN IMMEDIATE`.
    store: Mutex<Store>,
    approvers: Vec<Approver>,
    public: PublicUrl,
    ttl: Ttl,
    clock: Clock,
}

impl App {
    /// Opens the database for `options`; `bound` is where the service
    /// listens (the public URL's default).
    pub fn open(options: &Options, bound: SocketAddr) -> Result<App, String> {
        App::open_with_clock(options, bound, Arc::new(system_now))
    }

    pub fn open_with_clock(
        options: &Options,
        bound: SocketAddr,
        clock: Clock,
    ) -> Result<App, String> {
        options.validate()?;
        let public = match &options.public_url {
            Some(url) => PublicUrl::parse(url)?,
            None => PublicUrl::for_address(bound),
        };
        let store = Store::open(&options.db)
            .map_err(|e| format!("cannot open {}: {e}", options.db.display()))?;
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Ok(App(Arc::new(Shared {
            store: Mutex::new(store),
            approvers: options.approvers.clone(),
            public,
            ttl: Ttl {
                pending_ms: ms(options.pending_ttl),
                decided_ms: ms(options.approved_ttl),
                session_ms: store::SESSION_TTL_MS,
            },
            clock,
        })))
    }

    /// The public URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.0.public.base
    }

    pub fn router(&self) -> Router {
        // Body limits per route: a check carries a call's arguments (up to
        // the filter's 64 MiB); a person's form is a few fields.
        let form = DefaultBodyLimit::max(web::FORM_BODY_LIMIT);
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(
                "/v1/check",
                post(api::check).layer(DefaultBodyLimit::max(api::CHECK_BODY_LIMIT)),
            )
            .route("/", get(web::index))
            .route("/approvals", get(web::index))
            .route("/approvals/", get(web::index))
            .route("/approvals/{id}", get(web::request_page))
            .route("/approvals/{id}/approve", post(web::approve).layer(form))
            .route("/approvals/{id}/deny", post(web::deny).layer(form))
            .route("/login", get(web::login_page).post(web::login).layer(form))
            .route("/logout", post(web::logout).layer(form))
            .route("/static/app.css", get(web::stylesheet))
            .fallback(web::not_found)
            .layer(axum::middleware::map_response(security_headers))
            .with_state(self.clone())
    }

    /// Runs `f` on the store off the async threads, with the time now.
    pub(crate) async fn with_store<T, F>(&self, f: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store, i64) -> T + Send + 'static,
    {
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let now = app.now();
            // A panic mid-transaction rolled it back: the store is fine.
            let mut store = app.0.store.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut store, now)
        })
        .await
        .map_err(|e| format!("store task failed: {e}"))
    }

    fn now(&self) -> i64 {
        (self.0.clock)()
    }

    fn ttl(&self) -> Ttl {
        self.0.ttl
    }

    fn public(&self) -> &PublicUrl {
        &self.0.public
    }

    fn approvers(&self) -> &[Approver] {
        &self.0.approvers
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The headers every response carries (a handler's own `Cache-Control`
/// wins: the stylesheet may be cached).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: under it browsers send `Origin: null` on form
        // POSTs (Fetch, "serializing a request origin"), and approve, deny
        // and sign-in need the real origin. `same-origin` still tells no
        // other site anything (the pages link nowhere else).
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        let name: HeaderName = name;
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    response
}

/// Listens, serves until SIGTERM or SIGINT, and returns.
pub async fn serve(options: Options) -> Result<(), String> {
    options.validate()?;
    let listener = tokio::net::TcpListener::bind(&options.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", options.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let app = App::open(&options, bound)?;
    println!(
        "approvals: listening on http://{bound}, approval pages at {}/approvals/",
        app.public_url()
    );
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app.router())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stopping.send(());
        })
        .into_future();
    // Graceful, but bounded: a client that never closes does not keep the
    // process alive past 5 s.
    let deadline = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(Duration::from_secs(5)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.map_err(|e| format!("server failed: {e}"))?,
        () = deadline => eprintln!("approvals: connections still open after 5 s; stopping anyway"),
    }
    println!("approvals: stopped");
    Ok(())
}

/// [`serve`] on a runtime of its own, for a caller that has none.
pub fn run(options: Options) -> Result<(), String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(serve(options))
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
