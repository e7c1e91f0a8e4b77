//! Tests of the harness itself, with small proxy-wasm modules written in WAT
//! (no dependency on the real filter).

use std::sync::Arc;

use mcp_policy_host_tests::{serialize_pairs, Action, MetricKind, Plugin, Vm, DEFAULT_START_MS};

/// Imports, memory, a bump allocator and two logging helpers shared by every
/// test module: `$say n` logs the single character `'0' + n` at info level,
/// `$msg ptr len` logs a string. Scratch return slots live at 0..32.
const PRELUDE: &str = r#"
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $add_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace_hv (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove_hv (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $local (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buf (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $get_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $set_sd (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $def_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_increment_metric" (func $inc_metric (param i32 i64) (result i32)))
  (import "env" "proxy_record_metric" (func $rec_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_ctx (param i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $continue (param i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $set_prop (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $now (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1)))))
    (local.get $p))
  (func $say (param $n i32)
    (i32.store8 (i32.const 32) (i32.add (i32.const 48) (local.get $n)))
    (drop (call $log (i32.const 2) (i32.const 32) (i32.const 1))))
  (func $msg (param $p i32) (param $l i32)
    (drop (call $log (i32.const 2) (local.get $p) (local.get $l))))
"#;

/// Bytes as a WAT string literal body.
fn wat_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

fn plugin(body: &str) -> Arc<Plugin> {
    let text = format!("(module {PRELUDE} {body})");
    Plugin::from_bytes(text.as_bytes()).expect("module compiles")
}

fn started(plugin: &Arc<Plugin>) -> Vm {
    let mut vm = plugin.new_vm().expect("vm");
    assert!(vm.configure("").expect("configure"));
    vm
}

fn vm(body: &str) -> Vm {
    started(&plugin(body))
}

/// Info-level messages logged so far.
fn said(vm: &Vm) -> Vec<String> {
    vm.logs()
        .into_iter()
        .filter(|(level, _)| *level == 2)
        .map(|(_, m)| m)
        .collect()
}

// ---------------------------------------------------------------------------

const LOCAL_REPLY: &str = r#"
  (data (i32.const 1024) "X-AGENT-ID")
  (data (i32.const 1100) "denied_by_test")
  (data (i32.const 1200) "\01\00\00\00\08\00\00\00\04\00\00\00X-Reason\00nope\00")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $st i32)
    (local.set $st (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 10) (i32.const 0) (i32.const 4)))
    (if (i32.eqz (local.get $st))
      (then
        (drop (call $local (i32.const 403) (i32.const 1100) (i32.const 14)
                (i32.load (i32.const 0)) (i32.load (i32.const 4))
                (i32.const 1200) (i32.const 26) (i32.const -1)))
        (return (i32.const 1))))
    (call $say (local.get $st))
    (i32.const 0))
"#;

#[test]
fn header_read_case_insensitively_and_local_reply() {
    let mut vm = vm(LOCAL_REPLY);
    let mut s = vm.stream();
    let action = s
        .request_headers(&[(":path", "/mcp"), ("x-agent-id", "agent-7")], false)
        .unwrap();
    assert_eq!(action, Action::Pause);
    let reply = s.local_response().expect("local reply");
    assert_eq!(reply.status, 403);
    assert_eq!(reply.details, "denied_by_test");
    assert_eq!(reply.body_str(), "agent-7");
    assert_eq!(
        reply.headers,
        vec![("x-reason".to_string(), "nope".to_string())]
    );
    assert_eq!(reply.grpc_status, -1);
    assert!(s.upstream_request().is_none());
    // The reply went through the (absent) response callbacks to the client.
    let down = s.downstream_response();
    assert_eq!(down.header(":status"), Some("403"));
    assert_eq!(down.header("X-Reason"), Some("nope"));
    assert_eq!(down.header("content-type"), Some("text/plain"));
    assert_eq!(down.body_str(), "agent-7");
    // Later callbacks still run, but nothing goes upstream.
    assert_eq!(s.request_body(b"{}", true).unwrap(), Action::Continue);
    assert!(s.upstream_request().is_none());
    s.finish().unwrap();
}

#[test]
fn missing_header_is_not_found_and_continue_releases_headers() {
    let mut vm = vm(LOCAL_REPLY);
    let mut s = vm.stream();
    let action = s.request_headers(&[(":path", "/mcp")], false).unwrap();
    assert_eq!(action, Action::Continue);
    assert!(s.local_response().is_none());
    let up = s.upstream_request().expect("headers went upstream");
    assert_eq!(up.header(":PATH"), Some("/mcp"));
    assert!(up.body.is_empty());
    s.request_body(b"abc", true).unwrap();
    assert_eq!(s.upstream_request().unwrap().body, b"abc");
    drop(s);
    assert_eq!(said(&vm), vec!["1"]);
}

// ---------------------------------------------------------------------------

const BODY: &str = r#"
  (data (i32.const 1024) "{\"ok\":true}")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (call $say (local.get $size))
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (drop (call $get_buf (i32.const 0) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (call $say (call $set_buf (i32.const 0) (i32.const 0) (local.get $size) (i32.const 1024) (i32.const 11)))
    (call $say (call $set_buf (i32.const 0) (i32.const 1) (i32.const 1) (i32.const 1024) (i32.const 1)))
    (i32.const 0))
"#;

#[test]
fn body_is_buffered_while_paused_and_released_on_continue() {
    let mut vm = vm(BODY);
    let mut s = vm.stream();
    assert_eq!(
        s.request_headers(&[(":method", "POST"), (":path", "/mcp")], false)
            .unwrap(),
        Action::Pause
    );
    assert_eq!(s.request_body(b"abc", false).unwrap(), Action::Pause);
    assert!(
        s.upstream_request().is_none(),
        "nothing upstream while paused"
    );
    assert_eq!(s.buffered_request_body(), b"abc");
    assert_eq!(s.request_body(b"def", true).unwrap(), Action::Continue);
    let up = s.upstream_request().expect("released");
    assert_eq!(up.header(":method"), Some("POST"));
    assert_eq!(up.body_json().unwrap(), serde_json::json!({"ok": true}));
    assert!(s.buffered_request_body().is_empty());
    drop(s);
    // sizes 3 then 6 (whole buffer), the body read, replace-all ok, mid-buffer edit refused
    assert_eq!(said(&vm), vec!["3", "6", "abcdef", "0", "2"]);
}

const BODY_PASS: &str = r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
"#;

#[test]
fn body_continue_releases_held_headers_chunk_by_chunk() {
    let mut vm = vm(BODY_PASS);
    let mut s = vm.stream();
    s.request_headers(&[(":path", "/x")], false).unwrap();
    assert!(s.upstream_request().is_none());
    s.request_body(b"abc", false).unwrap();
    assert_eq!(s.upstream_request().unwrap().body, b"abc");
    s.request_body(b"def", false).unwrap();
    s.request_trailers(&[("x-t", "1")]).unwrap();
    let up = s.upstream_request().unwrap();
    assert_eq!(up.body, b"abcdef");
    assert_eq!(
        up.trailers,
        Some(vec![("x-t".to_string(), "1".to_string())])
    );
}

#[test]
fn without_allow_on_headers_stop_iteration_body_callbacks_never_come() {
    let mut vm = vm(BODY);
    vm.set_allow_on_headers_stop_iteration(false);
    let mut s = vm.stream();
    s.request_headers(&[(":path", "/mcp")], false).unwrap();
    assert_eq!(s.request_body(b"abc", true).unwrap(), Action::Pause);
    assert!(s.upstream_request().is_none());
    drop(s);
    assert!(said(&vm).is_empty(), "on_request_body was not called");
}

const RESPONSE: &str = r#"
  (data (i32.const 1024) "content-length")
  (data (i32.const 1050) "X-Rewritten")
  (data (i32.const 1070) "yes")
  (data (i32.const 1080) "server")
  (data (i32.const 1090) "harness")
  (data (i32.const 1100) "XYZ")
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (if (i32.eqz (local.get $eos)) (then (return (i32.const 1))))
    (call $say (call $set_buf (i32.const 1) (i32.const 0) (local.get $size) (i32.const 1100) (i32.const 3)))
    (call $say (call $remove_hv (i32.const 2) (i32.const 1024) (i32.const 14)))
    (call $say (call $add_hv (i32.const 2) (i32.const 1050) (i32.const 11) (i32.const 1070) (i32.const 3)))
    (call $say (call $replace_hv (i32.const 2) (i32.const 1080) (i32.const 6) (i32.const 1090) (i32.const 7)))
    (i32.const 0))
"#;

#[test]
fn response_changes_show_in_downstream_response() {
    let mut vm = vm(RESPONSE);
    let mut s = vm.stream();
    s.request_headers(&[(":path", "/mcp")], true).unwrap();
    let headers = [
        (":status", "200"),
        ("content-length", "6"),
        ("server", "a"),
        ("Server", "b"),
    ];
    assert_eq!(s.response_headers(&headers, false).unwrap(), Action::Pause);
    assert_eq!(s.downstream_response().headers, None);
    s.response_body(b"abc", false).unwrap();
    assert!(s.downstream_response().body.is_empty());
    assert_eq!(s.response_body(b"def", true).unwrap(), Action::Continue);
    let down = s.downstream_response();
    assert_eq!(down.body_str(), "XYZ");
    let h = down.headers.clone().unwrap();
    assert!(!h.iter().any(|(k, _)| k == "content-length"));
    assert_eq!(down.header("x-rewritten"), Some("yes"));
    assert_eq!(
        h.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("server"))
            .count(),
        1
    );
    assert_eq!(down.header("server"), Some("harness"));
    drop(s);
    assert_eq!(said(&vm), vec!["0", "0", "0", "0"]);
}

// ---------------------------------------------------------------------------

const LIFETIME: &str = r#"
  (data (i32.const 1024) ":path")
  (data (i32.const 1040) "x-pause")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (i32.eqz (call $get_hv (i32.const 0) (i32.const 1040) (i32.const 7) (i32.const 0) (i32.const 4))))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (call $say (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 5) (i32.const 0) (i32.const 4)))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (call $say (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 5) (i32.const 0) (i32.const 4))))
  (func (export "proxy_on_done") (param i32) (result i32)
    (call $say (i32.const 52)) (i32.const 1))
  (func (export "proxy_on_delete") (param i32)
    (call $say (i32.const 53)))
"#;

#[test]
fn request_headers_are_gone_after_continue_but_back_in_on_log() {
    let mut vm = vm(LIFETIME);
    {
        let mut s = vm.stream();
        assert_eq!(
            s.request_headers(&[(":path", "/a")], false).unwrap(),
            Action::Continue
        );
        s.request_body(b"x", true).unwrap();
        s.log().unwrap();
    } // dropped: on_done + on_delete
    {
        let mut s = vm.stream();
        assert_eq!(
            s.request_headers(&[(":path", "/a"), ("x-pause", "1")], false)
                .unwrap(),
            Action::Pause
        );
        s.request_body(b"x", true).unwrap();
        s.finish().unwrap();
    }
    // BadArgument after Continue, Ok in on_log, 'd'one, 'e' delete; Ok while held.
    assert_eq!(said(&vm), vec!["2", "0", "d", "e", "0", "d", "e"]);
}

#[test]
fn detached_streams_stay_open() {
    let mut vm = vm(LIFETIME);
    let first = {
        let mut s = vm.stream();
        s.request_headers(&[(":path", "/a"), ("x-pause", "1")], false)
            .unwrap();
        s.detach()
    };
    {
        let mut s = vm.stream();
        s.request_headers(&[(":path", "/b")], true).unwrap();
        s.finish().unwrap();
    }
    let mut s = vm.resume_stream(first).unwrap();
    s.request_body(b"x", true).unwrap();
    assert_eq!(s.upstream_request().unwrap().header(":path"), Some("/a"));
    s.finish().unwrap();
    assert!(vm.resume_stream(first).is_err());
}

// ---------------------------------------------------------------------------

const CAS: &str = r#"
  (data (i32.const 1024) "k")
  (data (i32.const 1030) "abc")
  (global $cas (mut i32) (i32.const 0))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say (call $get_sd (i32.const 1024) (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 8)))
    (call $say (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 1030) (i32.const 1) (i32.const 0)))
    (call $say (call $get_sd (i32.const 1024) (i32.const 1) (i32.const 0) (i32.const 4) (i32.const 8)))
    (global.set $cas (i32.load (i32.const 8)))
    (call $say (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 1031) (i32.const 1)
      (i32.add (global.get $cas) (i32.const 1))))
    (call $say (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 1031) (i32.const 1) (global.get $cas)))
    (call $say (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 1032) (i32.const 1) (global.get $cas)))
    (i32.const 0))
"#;

#[test]
fn shared_data_compare_and_swap() {
    let p = plugin(CAS);
    let mut vm = started(&p);
    vm.stream().request_headers(&[], true).unwrap();
    // get missing, set cas 0, get, stale+1 mismatch, exact ok, stale mismatch
    assert_eq!(said(&vm), vec!["1", "0", "0", "8", "0", "8"]);
    let data = p.shared_data();
    let (value, cas) = &data["k"];
    assert_eq!(value, b"b");
    assert!(*cas > 0);
}

const COUNTER: &str = r#"
  (data (i32.const 1024) "counter")
  (data (i32.const 1040) "retries")
  (global $retries (mut i32) (i32.const 0))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $def_metric (i32.const 0) (i32.const 1040) (i32.const 7) (i32.const 12)))
    (global.set $retries (i32.load (i32.const 12)))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (local $st i32)
    (loop $retry
      (local.set $st (call $get_sd (i32.const 1024) (i32.const 7) (i32.const 0) (i32.const 4) (i32.const 8)))
      (if (local.get $st) (then unreachable))
      (i32.store (i32.const 16) (i32.add (i32.load (i32.load (i32.const 0))) (i32.const 1)))
      (local.set $st (call $set_sd (i32.const 1024) (i32.const 7) (i32.const 16) (i32.const 4)
        (i32.load (i32.const 8))))
      (if (i32.eq (local.get $st) (i32.const 8))
        (then
          (drop (call $inc_metric (global.get $retries) (i64.const 1)))
          (br $retry)))
      (if (local.get $st) (then unreachable))))
"#;

#[test]
fn shared_data_is_exact_under_two_threads() {
    const TICKS: u32 = 400;
    let p = plugin(COUNTER);
    p.set_shared_data("counter", &0u32.to_le_bytes());
    let vm_a = started(&p); // created here, moved to a thread: Vm is Send
    let a = std::thread::spawn(move || {
        let mut vm = vm_a;
        for _ in 0..TICKS {
            vm.tick().unwrap();
        }
    });
    let p2 = p.clone();
    let b = std::thread::spawn(move || {
        let mut vm = started(&p2);
        for _ in 0..TICKS {
            vm.tick().unwrap();
        }
    });
    a.join().unwrap();
    b.join().unwrap();
    let (value, _) = &p.shared_data()["counter"];
    assert_eq!(
        u32::from_le_bytes(value[..4].try_into().unwrap()),
        2 * TICKS
    );
    assert_eq!(p.metrics()["retries"].0, MetricKind::Counter);
    eprintln!("CAS retries under contention: {}", p.metric("retries"));
}

// ---------------------------------------------------------------------------

const METRICS: &str = r#"
  (data (i32.const 1024) "reqs")
  (data (i32.const 1030) "g")
  (data (i32.const 1032) "h")
  (global $c (mut i32) (i32.const 0))
  (global $g (mut i32) (i32.const 0))
  (global $h (mut i32) (i32.const 0))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (drop (call $def_metric (i32.const 0) (i32.const 1024) (i32.const 4) (i32.const 12)))
    (global.set $c (i32.load (i32.const 12)))
    (drop (call $def_metric (i32.const 0) (i32.const 1024) (i32.const 4) (i32.const 12)))
    (call $say (i32.eq (global.get $c) (i32.load (i32.const 12))))
    (drop (call $def_metric (i32.const 1) (i32.const 1030) (i32.const 1) (i32.const 12)))
    (global.set $g (i32.load (i32.const 12)))
    (drop (call $def_metric (i32.const 2) (i32.const 1032) (i32.const 1) (i32.const 12)))
    (global.set $h (i32.load (i32.const 12)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say (call $inc_metric (global.get $c) (i64.const 1)))
    (call $say (call $inc_metric (global.get $c) (i64.const 0)))
    (call $say (call $rec_metric (global.get $g) (i64.const 5)))
    (call $say (call $rec_metric (global.get $h) (i64.const 7)))
    (call $say (call $get_metric (global.get $h) (i32.const 16)))
    (call $say (call $get_metric (global.get $c) (i32.const 16)))
    (i32.const 0))
"#;

#[test]
fn metrics_are_process_wide_by_name() {
    let p = plugin(METRICS);
    let mut vm = started(&p);
    vm.stream().request_headers(&[], true).unwrap();
    vm.stream().request_headers(&[], true).unwrap();
    // same id for same name; inc ok, inc 0 refused, record ok x2, histogram unreadable, counter readable
    assert_eq!(
        said(&vm),
        vec!["1", "0", "2", "0", "0", "2", "0", "0", "2", "0", "0", "2", "0"]
    );
    let mut other = started(&p);
    other.stream().request_headers(&[], true).unwrap();
    let m = p.metrics();
    assert_eq!(m["reqs"], (MetricKind::Counter, 3));
    assert_eq!(m["g"], (MetricKind::Gauge, 5));
    assert_eq!(m["h"], (MetricKind::Histogram, 3));
    assert_eq!(p.histogram("h"), vec![7, 7, 7]);
    assert_eq!(p.metric("reqs"), 3);
}

// ---------------------------------------------------------------------------

const TRAP: &str = r#"
  (data (i32.const 1024) "\00\05\00\00\05\00\00\00")
  (data (i32.const 1280) "boom\n")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $fd_write (i32.const 2) (i32.const 1024) (i32.const 1) (i32.const 16)))
    unreachable)
"#;

#[test]
fn a_trap_is_an_error_and_poisons_the_vm() {
    let mut vm = vm(TRAP);
    {
        let mut s = vm.stream();
        let err = s.request_headers(&[], false).unwrap_err().to_string();
        eprintln!("trap error as reported:\n{err}");
        assert!(err.contains("proxy_on_request_headers"), "{err}");
        assert!(err.contains("boom"), "{err}");
        let again = s.request_body(b"x", true).unwrap_err().to_string();
        assert!(again.contains("poisoned"), "{again}");
    }
    assert!(vm.poisoned().is_some());
    assert!(
        vm.logs().contains(&(4, "boom".to_string())),
        "stderr is an error log line"
    );
    assert!(vm.try_stream().is_err());
    assert!(vm.tick().is_err());
    assert!(vm.configure("").is_err());
}

const UNKNOWN_IMPORT: &str = r#"
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $new (i32.const 0)))
"#;

#[test]
fn unknown_imports_load_but_trap_when_called() {
    // Imports must precede functions in WAT, so this one goes before the prelude.
    let text = format!(
        r#"(module (import "env" "proxy_brand_new" (func $new (param i32) (result i32))) {PRELUDE} {UNKNOWN_IMPORT})"#
    );
    let mut vm = started(&Plugin::from_bytes(text.as_bytes()).unwrap());
    let err = vm
        .stream()
        .request_headers(&[], true)
        .unwrap_err()
        .to_string();
    eprintln!("unknown import error as reported:\n{err}");
    assert!(err.contains("proxy_brand_new"), "{err}");
}

const BAD_POINTERS: &str = r#"
  (data (i32.const 1024) ":path")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say (call $log (i32.const 2) (i32.const -16) (i32.const 100)))
    (call $say (call $get_hv (i32.const 0) (i32.const 1024) (i32.const 5) (i32.const 0x7ffffff0) (i32.const 4)))
    (call $say (call $set_sd (i32.const -256) (i32.const 10) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $say (call $get_hv (i32.const 9) (i32.const 1024) (i32.const 5) (i32.const 0) (i32.const 4)))
    (call $say (call $get_buf (i32.const 0) (i32.const 0) (i32.const 10) (i32.const -4) (i32.const 4)))
    (i32.const 0))
"#;

#[test]
fn bad_guest_pointers_get_a_status_not_a_panic() {
    let mut vm = vm(BAD_POINTERS);
    vm.stream()
        .request_headers(&[(":path", "/mcp")], true)
        .unwrap();
    // InvalidMemoryAccess x3, BadArgument for map type 9, empty body: Ok without writing? no:
    // the return slots are written even for an empty buffer, so -4 is invalid.
    assert_eq!(said(&vm), vec!["6", "6", "6", "2", "6"]);
}

// ---------------------------------------------------------------------------

const CONFIG: &str = r#"
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (call $say (call $get_buf (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0) (i32.const 4)))
    (if (i32.eqz (local.get $size)) (then (return (i32.const 0))))
    (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say (call $get_buf (i32.const 7) (i32.const 0) (i32.const 10) (i32.const 0) (i32.const 4)))
    (call $say (call $get_buf (i32.const 6) (i32.const 0) (i32.const 10) (i32.const 0) (i32.const 4)))
    (i32.const 0))
"#;

#[test]
fn plugin_configuration_is_readable_during_on_configure_only() {
    let p = plugin(CONFIG);
    let mut vm = p.new_vm().unwrap();
    assert!(vm.try_stream().is_err(), "no streams before configure");
    assert!(vm.configure(r#"{"a":1}"#).unwrap());
    vm.stream().request_headers(&[], true).unwrap();
    assert_eq!(said(&vm), vec!["0", r#"{"a":1}"#, "1", "0"]);

    let mut refused = p.new_vm().unwrap();
    assert!(!refused.configure("").unwrap());
    assert!(refused.try_stream().is_err());
}

// ---------------------------------------------------------------------------

fn http_module() -> String {
    let headers = serialize_pairs(&[
        (":method", "POST"),
        (":path", "/approve"),
        (":authority", "approvals"),
    ]);
    format!(
        r#"
  (data (i32.const 1024) "approval")
  (data (i32.const 1100) "{headers}")
  (data (i32.const 1500) "ping")
  (data (i32.const 1600) ":status")
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param i32 i32) (result i32)
    (local $st i32)
    (global.set $stream (local.get $ctx))
    (local.set $st (call $http_call (i32.const 1024) (i32.const 8) (i32.const 1100) (i32.const {len})
      (i32.const 1500) (i32.const 4) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 8)))
    (call $say (local.get $st))
    (i32.eqz (local.get $st)))
  (func (export "proxy_on_http_call_response") (param $ctx i32) (param $token i32) (param $nh i32) (param $bs i32) (param $nt i32)
    (local $st i32)
    (call $say (local.get $ctx))
    (drop (call $set_ctx (global.get $stream)))
    (local.set $st (call $get_hv (i32.const 6) (i32.const 1600) (i32.const 7) (i32.const 0) (i32.const 4)))
    (call $say (local.get $st))
    (if (i32.eqz (local.get $st))
      (then (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4)))))
    (drop (call $get_buf (i32.const 4) (i32.const 0) (local.get $bs) (i32.const 0) (i32.const 4)))
    (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (drop (call $continue (i32.const 0))))
"#,
        headers = wat_bytes(&headers),
        len = headers.len()
    )
}

#[test]
fn http_call_is_recorded_answered_on_the_root_and_resumes_the_stream() {
    let mut vm = vm(&http_module());
    let mut s = vm.stream();
    let id = s.id();
    assert_eq!(
        s.request_headers(&[(":path", "/mcp")], false).unwrap(),
        Action::Pause
    );
    let calls = s.vm().http_calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.upstream, "approval");
    assert_eq!(call.header(":path"), Some("/approve"));
    assert_eq!(call.body, b"ping");
    assert_eq!(call.timeout_ms, 5000);
    assert_eq!(call.context_id, id);
    assert!(s.upstream_request().is_none());
    assert!(!s.continued());

    s.http_call_response(call.token, &[(":status", "200")], b"yes")
        .unwrap();
    assert!(s.continued());
    assert_eq!(s.upstream_request().unwrap().header(":path"), Some("/mcp"));
    assert!(s.vm().http_calls().is_empty());
    assert!(
        s.http_call_response(call.token, &[], b"").is_err(),
        "answered already"
    );
    drop(s);
    // call ok; callback on root context 1; :status found; body
    assert_eq!(said(&vm), vec!["0", "1", "0", "200", "yes"]);
}

#[test]
fn http_call_failure_and_rejected_cluster() {
    let mut vm = vm(&http_module());
    {
        let mut s = vm.stream();
        s.request_headers(&[(":path", "/mcp")], false).unwrap();
        let token = s.vm().http_calls()[0].token;
        s.http_call_failure(token).unwrap();
        assert!(s.continued());
    }
    // no response headers on a reset: map 6 is absent (BadArgument); empty body
    assert_eq!(said(&vm), vec!["0", "1", "2", ""]);

    vm.take_logs();
    vm.reject_upstream("approval");
    let mut s = vm.stream();
    assert_eq!(
        s.request_headers(&[(":path", "/mcp")], false).unwrap(),
        Action::Continue
    );
    drop(s);
    assert_eq!(said(&vm), vec!["2"]);
    assert!(vm.http_calls().is_empty());
}

// ---------------------------------------------------------------------------

const PROPS: &str = r#"
  (data (i32.const 1024) "connection\00uri_san_peer_certificate")
  (data (i32.const 1100) "nope")
  (data (i32.const 1200) "mcp_policy.decision")
  (data (i32.const 1300) "deny")
  (data (i32.const 1400) "request\00path\00")
  (func $show (param $st i32)
    (call $say (local.get $st))
    (if (i32.eqz (local.get $st))
      (then (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4))))))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
    (call $say (call $set_prop (i32.const 1200) (i32.const 19) (i32.const 1300) (i32.const 4)))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $show (call $get_prop (i32.const 1024) (i32.const 35) (i32.const 0) (i32.const 4)))
    (call $say (call $get_prop (i32.const 1100) (i32.const 4) (i32.const 0) (i32.const 4)))
    (call $say (call $set_prop (i32.const 1200) (i32.const 19) (i32.const 1300) (i32.const 4)))
    (call $show (call $get_prop (i32.const 1200) (i32.const 19) (i32.const 0) (i32.const 4)))
    (call $show (call $get_prop (i32.const 1400) (i32.const 13) (i32.const 0) (i32.const 4)))
    (i32.const 0))
"#;

#[test]
fn properties_and_filter_state() {
    let mut vm = vm(PROPS);
    let mut s = vm.stream();
    s.set_property(
        &["connection", "uri_san_peer_certificate"],
        b"spiffe://corp/agent/billing",
    );
    s.request_headers(&[(":path", "/mcp")], true).unwrap();
    assert_eq!(
        s.filter_state_str("wasm.mcp_policy.decision").as_deref(),
        Some("deny")
    );
    assert_eq!(s.filter_state().len(), 1);
    drop(s);
    assert_eq!(
        said(&vm),
        vec![
            "1", // set_property on the root context: NotFound, as in Envoy
            "0",
            "spiffe://corp/agent/billing",
            "1",
            "0",
            "0",
            "deny",
            "0",
            "/mcp"
        ]
    );
}

// ---------------------------------------------------------------------------

const CLOCK: &str = r#"
  (data (i32.const 1024) "t")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $now (i32.const 16)))
    (drop (call $set_sd (i32.const 1024) (i32.const 1) (i32.const 16) (i32.const 8) (i32.const 0)))
    (i32.const 0))
"#;

#[test]
fn the_clock_is_the_plugins() {
    let p = plugin(CLOCK);
    let mut vm = started(&p);
    let read = |p: &Plugin| {
        let (v, _) = &p.shared_data()["t"];
        u64::from_le_bytes(v[..8].try_into().unwrap())
    };
    vm.stream().request_headers(&[], true).unwrap();
    assert_eq!(read(&p), DEFAULT_START_MS * 1_000_000);
    p.advance_ms(1500);
    vm.stream().request_headers(&[], true).unwrap();
    assert_eq!(read(&p), (DEFAULT_START_MS + 1500) * 1_000_000);
    p.set_time_ms(42);
    assert_eq!(p.now_ms(), 42);
    vm.stream().request_headers(&[], true).unwrap();
    assert_eq!(read(&p), 42_000_000);
}

// ---------------------------------------------------------------------------

const LOCAL_FROM_BODY: &str = r#"
  (data (i32.const 1024) "{}")
  (data (i32.const 1030) "x-seen")
  (data (i32.const 1040) "1")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
    (drop (call $local (i32.const 200) (i32.const 0) (i32.const 0) (i32.const 1024) (i32.const 2)
      (i32.const 0) (i32.const 0) (i32.const -1)))
    ;; returning Continue must not forward anything after a local reply
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_hv (i32.const 2) (i32.const 1030) (i32.const 6) (i32.const 1040) (i32.const 1)))
    (i32.const 0))
"#;

#[test]
fn local_reply_passes_through_the_filters_response_callbacks() {
    let mut vm = vm(LOCAL_FROM_BODY);
    let mut s = vm.stream();
    s.request_headers(&[(":path", "/mcp")], false).unwrap();
    assert_eq!(s.request_body(b"{}", true).unwrap(), Action::Continue);
    assert!(s.upstream_request().is_none());
    assert_eq!(s.local_response().unwrap().status, 200);
    let down = s.downstream_response();
    assert_eq!(down.header(":status"), Some("200"));
    assert_eq!(down.header("x-seen"), Some("1"));
    assert_eq!(down.header("content-length"), Some("2"));
    assert_eq!(down.body_json().unwrap(), serde_json::json!({}));
    drop(s);

    vm.set_local_reply_encoding(false);
    let mut s = vm.stream();
    s.request_headers(&[(":path", "/mcp")], false).unwrap();
    s.request_body(b"{}", true).unwrap();
    assert!(s.local_response().is_some());
    assert_eq!(s.downstream_response().headers, None);
}

// ---------------------------------------------------------------------------

/// Builds (or takes `$MCP_POLICY_WASM`) and instantiates the real filter.
#[test]
fn load_default_builds_and_instantiates_the_real_filter() {
    let p = Plugin::load_default().expect("load_default");
    assert!(p.wasm_path().unwrap().ends_with("mcp_policy.wasm"));
    p.new_vm().expect("instantiate");
    // Cached: the second call neither rebuilds nor recompiles, and has fresh state.
    let q = Plugin::load_default().unwrap();
    assert!(q.shared_data().is_empty());
}

const JWT_CLAIM: &str = r#"
  (data (i32.const 1024) "metadata\00filter_metadata\00envoy.filters.http.jwt_authn\00agents\00sub")
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say (call $get_prop (i32.const 1024) (i32.const 64) (i32.const 0) (i32.const 4)))
    (call $msg (i32.load (i32.const 0)) (i32.load (i32.const 4)))
    (i32.const 0))
"#;

#[test]
fn dynamic_metadata_is_navigable_like_envoys_cel_view() {
    let mut vm = vm(JWT_CLAIM);
    let mut s = vm.stream();
    s.set_dynamic_metadata(
        "envoy.filters.http.jwt_authn",
        serde_json::json!({"agents": {"sub": "1234", "iss": "corp"}}),
    );
    s.request_headers(&[], true).unwrap();
    drop(s);
    assert_eq!(said(&vm), vec!["0", "1234"]);
}
