//! Progress bars on stderr (indicatif) for the library's long steps.

use cimpool::pipeline::Progress;

/// One bar, restarted for each stage.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new() -> Bar {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed:>4} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        Bar(bar)
    }

    pub fn start(&self, what: &str, len: u64) {
        self.stage(what, len);
    }

    pub fn message(&self, what: String) {
        self.0.set_message(what);
    }

    pub fn tick(&self) {
        self.0.inc(1);
    }

    pub fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn stage(&self, what: &str, len: u64) {
        if self.0.length() != Some(len) {
            self.0.set_length(len);
        }
        if self.0.message() != what {
            self.0.reset();
            self.0.set_length(len);
            self.0.set_message(what.to_string());
        }
    }
    fn set(&self, done: u64) {
        self.0.set_position(done);
    }
    fn inc(&self) {
        self.0.inc(1);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
        self.0.reset();
    }
    fn note(&self, line: &str) {
        self.0.suspend(|| println!("{line}"));
    }
}
