//! Progress bars (indicatif) behind the graph crate's `Progress` hook.
//! Bars draw on stderr only when it is a terminal.

use std::time::Duration;

use ferrograph_graph::progress::{Progress, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct Bars {
    multi: MultiProgress,
}

impl Bars {
    pub fn new() -> Self {
        Bars { multi: MultiProgress::new() }
    }
}

struct Bar(ProgressBar);

impl Step for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bars {
    fn start(&self, name: &str, total: u64) -> Box<dyn Step + '_> {
        let pb = if total > 0 {
            let pb = ProgressBar::new(total);
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg:40!} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            pb
        } else {
            let pb = ProgressBar::new_spinner();
            pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            pb
        };
        let pb = self.multi.add(pb);
        pb.set_message(name.to_string());
        pb.enable_steady_tick(Duration::from_millis(200));
        Box::new(Bar(pb))
    }
}

/// A spinner for a step the library does not report on.
pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}
