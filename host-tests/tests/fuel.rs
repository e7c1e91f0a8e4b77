//! Fuel metering ([`Plugin::load_with_fuel`], [`Vm::fuel_consumed`]) and
//! [`Plugin::with_fresh_state`], on a small WAT module.

use std::path::PathBuf;
use std::sync::Arc;

use mcp_policy_host_tests::Plugin;

/// `proxy_on_configure` spins once per byte of the plugin configuration, so
/// the work grows linearly with the configuration's length.
const MODULE: &str = r#"
(module
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $p))
  (func (export "proxy_on_configure") (param $root i32) (param $len i32) (result i32)
    (block $done
      (loop $spin
        (br_if $done (i32.eqz (local.get $len)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $spin)))
    (i32.const 1)))
"#;

fn module_file(name: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("mcp-policy-fuel-{}-{name}.wat", std::process::id()));
    std::fs::write(&path, MODULE).expect("write the module");
    path
}

/// Fuel burnt by a fresh VM configured with `len` bytes.
fn configure_cost(plugin: &Arc<Plugin>, len: usize) -> u64 {
    let mut vm = plugin.new_vm().expect("vm");
    let before = vm.fuel_consumed().expect("metered");
    assert!(vm.configure(&"x".repeat(len)).expect("configure"));
    vm.fuel_consumed().expect("metered") - before
}

#[test]
fn fuel_counts_guest_work_deterministically_and_linearly() {
    let path = module_file("linear");
    let plugin = Plugin::load_with_fuel(&path).expect("load with fuel");
    assert!(plugin.meters_fuel());
    let c0 = configure_cost(&plugin, 0);
    let c1000 = configure_cost(&plugin, 1000);
    let c2000 = configure_cost(&plugin, 2000);
    assert!(c1000 > c0, "{c0} {c1000}");
    // Each byte costs the same, every time.
    assert_eq!(c2000 - c1000, c1000 - c0);
    assert_eq!(configure_cost(&plugin, 1000), c1000);
    let _ = std::fs::remove_file(path);
}

#[test]
fn fuel_is_cumulative_per_vm() {
    let path = module_file("cumulative");
    let plugin = Plugin::load_with_fuel(&path).expect("load with fuel");
    let mut vm = plugin.new_vm().expect("vm");
    assert_eq!(vm.fuel_consumed(), Some(0));
    assert!(vm.configure("abc").expect("configure"));
    let once = vm.fuel_consumed().expect("metered");
    assert!(once > 0);
    assert!(vm.configure("abc").expect("reconfigure"));
    assert!(vm.fuel_consumed().expect("metered") > once);
    let _ = std::fs::remove_file(path);
}

#[test]
fn unmetered_plugins_report_no_fuel() {
    let plugin = Plugin::from_bytes(MODULE.as_bytes()).expect("compiles");
    assert!(!plugin.meters_fuel());
    let mut vm = plugin.new_vm().expect("vm");
    assert!(vm.configure("abc").expect("configure"));
    assert_eq!(vm.fuel_consumed(), None);
}

#[test]
fn fresh_state_shares_code_not_shared_data() {
    let path = module_file("fresh");
    let plugin = Plugin::load_with_fuel(&path).expect("load with fuel");
    plugin.set_shared_data("k", b"v");
    plugin.advance_ms(5000);
    let fresh = plugin.with_fresh_state();
    assert!(fresh.meters_fuel());
    assert_eq!(fresh.wasm_path(), plugin.wasm_path());
    assert!(fresh.shared_data().is_empty());
    assert_eq!(plugin.shared_data().len(), 1);
    assert_eq!(fresh.now_ms() + 5000, plugin.now_ms());
    assert_eq!(configure_cost(&fresh, 100), configure_cost(&plugin, 100));
    let _ = std::fs::remove_file(path);
}
