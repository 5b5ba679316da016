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

    /// A new message within the stage (the item being worked on).
    pub fn message(&self, what: String) {
        self.0.set_message(what);
    }
}

impl Progress for Bar {
    /// A stage called again under the same name (a callback reporting
    /// its position) keeps its bar; a new name starts afresh.
    fn stage(&self, what: &str, len: u64) {
        if self.0.message() != what {
            self.0.reset();
            self.0.set_message(what.to_string());
        }
        self.0.set_length(len);
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
