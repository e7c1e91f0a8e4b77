//! The test RLS as Envoy meets it: a real `redis-server`, the `test-rls` binary, and a
//! gRPC client over HTTP/2 cleartext. Every process is killed when its guard drops, so a
//! failing test leaves nothing running. Without redis-server a test skips, except under
//! CI=true where it fails.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mcp_policy_test_rls::proto::{
    Code, Entry, RateLimitDescriptor, RateLimitRequest, RateLimitResponse, Unit, SHOULD_RATE_LIMIT,
};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Endpoint;
use tonic::{Code as GrpcCode, Status};
use tonic_prost::ProstCodec;

// ---- processes ------------------------------------------------------------------------

fn in_ci() -> bool {
    matches!(
        std::env::var("CI")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str(),
        "1" | "true" | "yes"
    )
}

/// The redis-server binary: $REDIS_SERVER (when set, the only one looked at), else the
/// Debian package's, else on PATH.
fn redis_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let debian = PathBuf::from("/usr/bin/redis-server");
    if debian.is_file() {
        return Some(debian);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    })
}

/// redis-server, or None (the test skips) when it is missing outside CI.
fn redis_or_skip(test: &str) -> Option<Redis> {
    match redis_server_bin() {
        Some(bin) => Some(Redis::start(bin, free_port())),
        None if in_ci() => panic!(
            "redis-server is not installed (apt redis-server, via envoy/setup.sh); required under CI=true"
        ),
        None => {
            eprintln!("{test}: SKIPPED, redis-server is not installed (apt redis-server)");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "test-rls-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A child process killed (and reaped) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A redis-server on 127.0.0.1 with no persistence: a restart starts empty.
struct Redis {
    bin: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Killed>,
}

impl Redis {
    fn start(bin: PathBuf, port: u16) -> Self {
        let mut redis = Redis {
            bin,
            port,
            dir: scratch_dir(),
            child: None,
        };
        redis.up();
        redis
    }

    fn up(&mut self) {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(Killed(child));
        assert!(
            wait_port(self.port, Duration::from_secs(10)),
            "redis-server did not listen on {}",
            self.port
        );
    }

    fn down(&mut self) {
        self.child = None;
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "redis-server still listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

/// A `test-rls` process; its stderr goes to a file shown when a test asks.
struct Rls {
    addr: SocketAddr,
    stderr: PathBuf,
    child: Killed,
}

impl Rls {
    fn start(redis: &Redis, limits_yaml: &str) -> Self {
        let dir = scratch_dir();
        let limits = dir.join("limits.yaml");
        std::fs::write(&limits, limits_yaml).expect("write limits");
        let stderr = dir.join("test-rls.stderr");
        let mut child = Command::new(env!("CARGO_BIN_EXE_test-rls"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--redis",
                &redis.url(),
                "--limits",
            ])
            .arg(&limits)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start test-rls");
        let stdout = child.stdout.take().expect("stdout");
        let child = Killed(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "test-rls did not start: stdout {line:?}, stderr:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            });
        Rls {
            addr,
            stderr,
            child,
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.0.try_wait(), Ok(None))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// One `ShouldRateLimit` call on a fresh HTTP/2 connection.
    fn call(&self, req: RateLimitRequest) -> Result<RateLimitResponse, Status> {
        let url = format!("http://{}", self.addr);
        runtime().block_on(async move {
            let channel = Endpoint::from_shared(url)
                .map_err(|e| Status::internal(e.to_string()))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .connect()
                .await
                .map_err(|e| Status::unknown(format!("connect: {e}")))?;
            let mut grpc = tonic::client::Grpc::new(channel);
            grpc.ready()
                .await
                .map_err(|e| Status::unknown(format!("ready: {e}")))?;
            grpc.unary(
                tonic::Request::new(req),
                PathAndQuery::from_static(SHOULD_RATE_LIMIT),
                ProstCodec::<RateLimitRequest, RateLimitResponse>::default(),
            )
            .await
            .map(tonic::Response::into_inner)
        })
    }

    fn code(&self, req: RateLimitRequest) -> Code {
        let resp = self
            .call(req)
            .unwrap_or_else(|s| panic!("ShouldRateLimit failed: {s:?}\n{}", self.stderr()));
        Code::try_from(resp.overall_code).expect("a known code")
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---- requests -------------------------------------------------------------------------

const KEY: &str = "mcp_policy.c.0123456789abcdef";
const OTHER_KEY: &str = "mcp_policy.c.fedcba9876543210";

fn descriptor(entries: &[(&str, &str)]) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: entries
            .iter()
            .map(|(k, v)| Entry {
                key: k.to_string(),
                value: v.to_string(),
            })
            .collect(),
        hits_addend: None,
    }
}

fn request(domain: &str, descriptors: Vec<RateLimitDescriptor>, hits: u32) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.to_string(),
        descriptors,
        hits_addend: hits,
    }
}

/// The filter's layout: descriptors[0] has one entry per counter.
fn call_of(scope: &str) -> RateLimitRequest {
    request("mcp", vec![descriptor(&[(KEY, scope)])], 1)
}

/// One limit per (key, max, seconds), in the layout the filter's limits file uses.
fn limits(items: &[(&str, u64, u64)]) -> String {
    items
        .iter()
        .map(|(key, max, seconds)| {
            format!(
                "- namespace: mcp\n  name: \"{key}, {max} per {seconds} s\"\n  max_value: {max}\n  seconds: {seconds}\n  conditions: ['descriptors[0][\"{key}\"] != \"\"']\n  variables: ['descriptors[0][\"{key}\"]']\n"
            )
        })
        .collect()
}

// ---- tests ----------------------------------------------------------------------------

#[test]
fn max_value_calls_pass_then_over_limit_with_the_time_to_reset() {
    let Some(redis) = redis_or_skip("max_value_calls") else {
        return;
    };
    let rls = Rls::start(&redis, &limits(&[(KEY, 3, 60)]));
    for i in 0..3 {
        let resp = rls.call(call_of("digest-a")).expect("call");
        assert_eq!(resp.overall_code, Code::Ok as i32, "call {i}: {resp:?}");
        let status = &resp.statuses[0];
        assert_eq!(status.limit_remaining, 2 - i, "call {i}: {resp:?}");
    }
    let resp = rls.call(call_of("digest-a")).expect("call");
    assert_eq!(resp.overall_code, Code::OverLimit as i32, "{resp:?}");
    let status = &resp.statuses[0];
    assert_eq!(status.code, Code::OverLimit as i32);
    let limit = status.current_limit.as_ref().expect("current_limit");
    assert_eq!(limit.requests_per_unit, 3);
    assert_eq!(limit.unit, Unit::Minute as i32);
    assert_eq!(limit.name, format!("{KEY}, 3 per 60 s"));
    assert_eq!(status.limit_remaining, 0);
    let reset = status
        .duration_until_reset
        .as_ref()
        .expect("duration_until_reset");
    let reset_ms = reset.seconds * 1000 + i64::from(reset.nanos) / 1_000_000;
    assert!(
        (50_000..=60_000).contains(&reset_ms),
        "reset in {reset_ms} ms"
    );
    // Still over limit: a refused call takes nothing, and nothing resets early.
    assert_eq!(rls.code(call_of("digest-a")), Code::OverLimit);
}

#[test]
fn each_variable_value_is_counted_apart() {
    let Some(redis) = redis_or_skip("each_variable_value") else {
        return;
    };
    let rls = Rls::start(&redis, &limits(&[(KEY, 2, 60)]));
    for _ in 0..2 {
        assert_eq!(rls.code(call_of("digest-a")), Code::Ok);
    }
    assert_eq!(rls.code(call_of("digest-a")), Code::OverLimit);
    // Another scope digest, and the global counter `_`, have their own counts.
    for _ in 0..2 {
        assert_eq!(rls.code(call_of("digest-b")), Code::Ok);
        assert_eq!(rls.code(call_of("_")), Code::Ok);
    }
    assert_eq!(rls.code(call_of("digest-b")), Code::OverLimit);
    assert_eq!(rls.code(call_of("_")), Code::OverLimit);
}

#[test]
fn two_services_on_one_redis_share_the_count() {
    let Some(redis) = redis_or_skip("two_services") else {
        return;
    };
    let yaml = limits(&[(KEY, 3, 60)]);
    let first = Rls::start(&redis, &yaml);
    let second = Rls::start(&redis, &yaml);
    assert_eq!(first.code(call_of("d")), Code::Ok);
    assert_eq!(second.code(call_of("d")), Code::Ok);
    assert_eq!(first.code(call_of("d")), Code::Ok);
    assert_eq!(second.code(call_of("d")), Code::OverLimit);
    assert_eq!(first.code(call_of("d")), Code::OverLimit);
}

#[test]
fn hits_addend_counts_that_many_and_zero_counts_one() {
    let Some(redis) = redis_or_skip("hits_addend") else {
        return;
    };
    let rls = Rls::start(&redis, &limits(&[(KEY, 5, 60)]));
    let with_hits = |hits| request("mcp", vec![descriptor(&[(KEY, "d")])], hits);
    let resp = rls.call(with_hits(3)).expect("call");
    assert_eq!(resp.overall_code, Code::Ok as i32);
    assert_eq!(resp.statuses[0].limit_remaining, 2);
    // 3 + 3 > 5: refused whole, and nothing taken.
    let resp = rls.call(with_hits(3)).expect("call");
    assert_eq!(resp.overall_code, Code::OverLimit as i32);
    assert_eq!(resp.statuses[0].limit_remaining, 2);
    assert_eq!(rls.code(with_hits(0)), Code::Ok); // 0 means 1: 4
    assert_eq!(rls.code(with_hits(1)), Code::Ok); // 5
    assert_eq!(rls.code(with_hits(0)), Code::OverLimit);
}

#[test]
fn every_counter_of_descriptor_zero_counts_and_the_tightest_decides() {
    let Some(redis) = redis_or_skip("every_counter") else {
        return;
    };
    let rls = Rls::start(&redis, &limits(&[(KEY, 2, 60), (OTHER_KEY, 5, 3600)]));
    let both = || request("mcp", vec![descriptor(&[(KEY, "a"), (OTHER_KEY, "_")])], 1);
    assert_eq!(rls.code(both()), Code::Ok);
    assert_eq!(rls.code(both()), Code::Ok);
    let resp = rls.call(both()).expect("call");
    assert_eq!(resp.overall_code, Code::OverLimit as i32);
    let limit = resp.statuses[0].current_limit.as_ref().expect("limit");
    assert_eq!(
        (limit.requests_per_unit, limit.unit),
        (2, Unit::Minute as i32)
    );
    // The refused call took nothing from the other counter: 3 more fit in it.
    let other = || request("mcp", vec![descriptor(&[(OTHER_KEY, "_")])], 1);
    for _ in 0..3 {
        assert_eq!(rls.code(other()), Code::Ok);
    }
    assert_eq!(rls.code(other()), Code::OverLimit);
}

#[test]
fn further_descriptors_and_other_domains_are_harmless() {
    let Some(redis) = redis_or_skip("further_descriptors") else {
        return;
    };
    let rls = Rls::start(&redis, &limits(&[(KEY, 1, 60)]));
    let with_more = || {
        request(
            "mcp",
            vec![
                descriptor(&[(KEY, "d")]),
                descriptor(&[("generic_key", "x"), (KEY, "other")]),
                descriptor(&[]),
            ],
            1,
        )
    };
    assert_eq!(rls.code(with_more()), Code::Ok);
    assert_eq!(rls.code(with_more()), Code::OverLimit);
    // The key only in a later descriptor: no limit applies.
    let later_only = request("mcp", vec![descriptor(&[]), descriptor(&[(KEY, "d")])], 1);
    let resp = rls.call(later_only).expect("call");
    assert_eq!(resp.overall_code, Code::Ok as i32);
    assert!(resp.statuses.is_empty(), "{resp:?}");
    // Another domain, an empty domain (limitador-server: UNKNOWN).
    assert_eq!(
        rls.code(request("other", vec![descriptor(&[(KEY, "d")])], 1)),
        Code::Ok
    );
    assert_eq!(
        rls.code(request("", vec![descriptor(&[(KEY, "d")])], 1)),
        Code::Unknown
    );
}

#[test]
fn redis_down_answers_unavailable_and_redis_back_works_without_restart() {
    let Some(mut redis) = redis_or_skip("redis_down") else {
        return;
    };
    let mut rls = Rls::start(&redis, &limits(&[(KEY, 2, 60)]));
    assert_eq!(rls.code(call_of("d")), Code::Ok);

    redis.down();
    for _ in 0..3 {
        let status = rls.call(call_of("d")).expect_err("Redis is down");
        assert_eq!(status.code(), GrpcCode::Unavailable, "{status:?}");
    }
    assert!(rls.alive(), "test-rls died:\n{}", rls.stderr());

    // Back, empty (no persistence): counting starts again. The first call or two may
    // still meet the failed connection while it is replaced.
    redis.up();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match rls.call(call_of("d")) {
            Ok(resp) => {
                assert_eq!(resp.overall_code, Code::Ok as i32);
                break;
            }
            Err(s) if s.code() == GrpcCode::Unavailable && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(s) => panic!("Redis is back but: {s:?}\n{}", rls.stderr()),
        }
    }
    assert_eq!(rls.code(call_of("d")), Code::Ok);
    assert_eq!(rls.code(call_of("d")), Code::OverLimit);
    assert!(rls.alive());
}

#[test]
fn a_condition_that_fails_to_evaluate_answers_an_error_and_the_server_lives() {
    let Some(redis) = redis_or_skip("condition_error") else {
        return;
    };
    // A condition that is a string, not a boolean: limitador's Limit::applies panics on it.
    let yaml = format!(
        "- namespace: broken\n  max_value: 1\n  seconds: 60\n  conditions: ['descriptors[0][\"k\"]']\n  variables: []\n{}",
        limits(&[(KEY, 1, 60)])
    );
    let mut rls = Rls::start(&redis, &yaml);
    let status = rls
        .call(request("broken", vec![descriptor(&[("k", "v")])], 1))
        .expect_err("the condition cannot be evaluated");
    assert_eq!(status.code(), GrpcCode::Internal, "{status:?}");
    assert!(rls.alive(), "test-rls died:\n{}", rls.stderr());
    assert_eq!(rls.code(call_of("d")), Code::Ok);
    assert_eq!(rls.code(call_of("d")), Code::OverLimit);
}

#[test]
fn limitador_reads_descriptors_as_documented() {
    let Some(redis) = redis_or_skip("limitador_reads") else {
        return;
    };
    let yaml = "\
- namespace: oob-condition
  max_value: 1
  seconds: 60
  conditions: ['descriptors[1][\"k\"] == \"v\"']
  variables: []
- namespace: oob-variable
  max_value: 1
  seconds: 60
  conditions: []
  variables: ['descriptors[1][\"k\"]']
- namespace: missing-variable
  max_value: 1
  seconds: 60
  conditions: []
  variables: ['descriptors[0][\"absent\"]']
{}";
    let yaml = yaml.replace("{}", &limits(&[(KEY, 1, 60)]));
    let mut rls = Rls::start(&redis, &yaml);
    let one = |ns: &str| request(ns, vec![descriptor(&[("k", "v")])], 1);
    // An index past the descriptors, in a condition: limitador panics (INTERNAL here).
    let status = rls
        .call(one("oob-condition"))
        .expect_err("index out of range");
    assert_eq!(status.code(), GrpcCode::Internal, "{status:?}");
    // ... in a variable: an evaluation error, UNAVAILABLE as limitador-server answers.
    let status = rls
        .call(one("oob-variable"))
        .expect_err("index out of range");
    assert_eq!(status.code(), GrpcCode::Unavailable, "{status:?}");
    // No descriptors at all, under the filter's own conditions: descriptors[0] is out of
    // range, and limitador panics too. The filter always sends descriptors[0].
    let status = rls
        .call(request("mcp", vec![], 1))
        .expect_err("no descriptors[0]");
    assert_eq!(status.code(), GrpcCode::Internal, "{status:?}");
    // A key that is not there, in a variable: the limit silently does not count.
    for _ in 0..3 {
        assert_eq!(rls.code(one("missing-variable")), Code::Ok);
    }
    assert!(rls.alive(), "test-rls died:\n{}", rls.stderr());
}

#[test]
fn validate_accepts_good_limits_and_refuses_a_bad_condition() {
    let dir = scratch_dir();
    let validate = |name: &str, yaml: &str| {
        let file = dir.join(name);
        std::fs::write(&file, yaml).expect("write");
        Command::new(env!("CARGO_BIN_EXE_test-rls"))
            .arg("--validate")
            .arg(&file)
            .output()
            .expect("run test-rls --validate")
    };
    let good = validate("good.yaml", &limits(&[(KEY, 3, 60), (OTHER_KEY, 10, 3600)]));
    assert!(good.status.success(), "{good:?}");
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim(),
        format!("{}: 2 limits", dir.join("good.yaml").display())
    );

    let bad_condition = limits(&[(KEY, 3, 60)]).replace("!= \"\"", "!= ");
    let bad = validate("bad-condition.yaml", &bad_condition);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("Couldn't parse"), "{err}");

    let bad_variable = limits(&[(KEY, 3, 60)]).replace(
        "variables: ['descriptors[0][",
        "variables: ['descriptors[0]][",
    );
    let bad = validate("bad-variable.yaml", &bad_variable);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");

    let not_a_list = validate(
        "not-a-list.yaml",
        "namespace: mcp\nmax_value: 1\nseconds: 1\n",
    );
    assert_eq!(not_a_list.status.code(), Some(1), "{not_a_list:?}");

    let missing = Command::new(env!("CARGO_BIN_EXE_test-rls"))
        .args(["--validate", "/nonexistent/limits.yaml"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
}

#[test]
fn a_bad_limits_file_or_redis_unreachable_stops_the_server_at_start() {
    let dir = scratch_dir();
    let file = dir.join("limits.yaml");
    std::fs::write(
        &file,
        "- namespace: mcp\n  seconds: 1\n  conditions: ['(']\n  variables: []\n",
    )
    .expect("write");
    let port = free_port();
    let run = |limits: &Path| {
        Command::new(env!("CARGO_BIN_EXE_test-rls"))
            .args(["--listen", "127.0.0.1:0"])
            .args(["--redis", &format!("redis://127.0.0.1:{port}/")])
            .arg("--limits")
            .arg(limits)
            .output()
            .expect("run test-rls")
    };
    let out = run(&file);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    std::fs::write(&file, limits(&[(KEY, 1, 1)])).expect("write");
    let out = run(&file); // nothing listens on `port`
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Failed to connect to Redis"),
        "{out:?}"
    );
}
