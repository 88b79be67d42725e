//! Progress bars that switch themselves off when nobody is watching.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps titled `prefix`, drawn on stderr only when `show` is set *and* stderr is a terminal:
/// in CI, in a pipe or in a test it is hidden (`ProgressDrawTarget::hidden()`) and costs nothing.
pub fn progress_bar(len: u64, prefix: String, show: bool) -> ProgressBar {
    let target = if show && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
        .expect("the template is valid")
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(prefix);
    bar
}
