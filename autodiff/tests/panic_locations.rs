//! Every panicking entry point reports the caller's line, not a line inside the library
//! (issue 14): the panic hook sees a location in this file, and the message names the op.
//!
//! The hook is process-wide, so this file holds a single test.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use wengert_autodiff::{concat, functional, stack, Tape, Tensor};

type Seen = Arc<Mutex<Option<(String, u32)>>>;

/// Runs `body`, which must panic, and checks the panic's location is `line` (or the next two,
/// where rustfmt wraps a call) of this file and its message contains `needle`.
fn panics_here(seen: &Seen, line: u32, needle: &str, body: impl FnOnce()) {
    *seen.lock().unwrap() = None;
    let r = panic::catch_unwind(AssertUnwindSafe(body));
    let msg = match r {
        Ok(()) => panic!("line {line}: expected a panic"),
        Err(e) => e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string())),
    }
    .unwrap_or_default();
    let (file, at) = seen.lock().unwrap().clone().expect("the hook ran");
    assert!(
        file.ends_with("panic_locations.rs") && (line..=line + 2).contains(&at),
        "line {line}: `{msg}` at {file}:{at}"
    );
    assert!(msg.contains(needle), "line {line}: `{msg}` does not name `{needle}`");
}

macro_rules! check {
    ($seen:expr, $needle:expr, $body:expr) => {
        panics_here(&$seen, line!(), $needle, || {
            let _ = $body;
        })
    };
}

#[test]
fn panics_point_at_the_callers_line() {
    let seen: Seen = Arc::new(Mutex::new(None));
    let hook_seen = seen.clone();
    panic::set_hook(Box::new(move |info| {
        if let Some(l) = info.location() {
            *hook_seen.lock().unwrap() = Some((l.file().to_string(), l.line()));
        }
    }));

    let tape = Tape::<f64>::new();
    let a = tape.var(Tensor::zeros(&[2, 3]));
    let b = tape.var(Tensor::zeros(&[4]));
    let v = tape.var(Tensor::zeros(&[3]));
    // Arithmetic operators and methods.
    check!(seen, "add", a + b);
    check!(seen, "sub", a - b);
    check!(seen, "mul", a * b);
    check!(seen, "div", a / b);
    check!(seen, "add", a.add(b));
    check!(seen, "pow", a.pow(b));
    check!(seen, "maximum", a.maximum(b));
    check!(seen, "minimum", a.minimum(b));
    check!(seen, "gt", a.gt(b));
    check!(seen, "where", a.where_(&Tensor::zeros(&[4]), b));
    // Shapes, reductions, indexing.
    check!(seen, "matmul", a.matmul(a));
    check!(seen, "matmul", a.matmul_t(a, false, false));
    check!(seen, "dot", v.dot(b));
    check!(seen, "outer", a.outer(v));
    check!(seen, "reshape", a.reshape(&[5]));
    check!(seen, "broadcast_to", a.broadcast_to(&[4]));
    check!(seen, "sum_to", a.sum_to(&[4]));
    check!(seen, "sum", a.sum_axes(&[2], false));
    check!(seen, "mean", a.mean_axes(&[-3], false));
    check!(seen, "max", a.max_axes(&[2], false));
    check!(seen, "min", a.min_axes(&[2], false));
    check!(seen, "logsumexp", a.logsumexp(2, false));
    check!(seen, "softmax", a.softmax(2));
    check!(seen, "log_softmax", a.log_softmax(-3));
    check!(seen, "permute", a.permute(&[0, 0]));
    check!(seen, "transpose", a.transpose(0, 2));
    check!(seen, "unsqueeze", a.unsqueeze(3));
    check!(seen, "slice", a.slice(1, 2..5));
    check!(seen, "slice", a.slice(2, 0..1));
    check!(seen, "pad", a.pad(1, 1, 3));
    check!(seen, "index_select", a.index_select(0, &[2]));
    check!(seen, "gather", a.gather(1, &[0, 5], &[2, 1]));
    check!(seen, "pick", a.pick(&[0]));
    check!(seen, "concat", concat(&[a, b], 0));
    check!(seen, "stack", stack(&[a, b], 0));
    check!(seen, "one_hot", tape.one_hot(&[5], 3));
    check!(seen, "item", a.item());
    // The tape and tensors.
    check!(seen, "grad", tape.grad(a, &[a]));
    check!(seen, "grad", tape.grad_graph(a, &[a]));
    check!(seen, "from_vec", Tensor::from_vec(vec![1.0], &[2]));
    check!(seen, "reshape", Tensor::<f64>::zeros(&[2]).reshape(&[3]));
    check!(seen, "get", Tensor::<f64>::zeros(&[2]).get(&[2]));
    check!(seen, "item", Tensor::<f64>::zeros(&[2]).item());
    // The functional API.
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]);
    check!(seen, "vjp", functional::vjp(|x| x * 2.0, &x, &Tensor::zeros(&[3])));

    let _ = panic::take_hook();
}
