//! [`prepare`](crate::sentiment::prepare) with a progress bar: what `mindset models prepare`, the
//! demo and `examples/prepare.rs` show while the sentiment model trains. Without a terminal (a log
//! file) it prints a line every 50 steps instead of drawing a bar.

use std::{io::IsTerminal, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    NlpError,
    sentiment::{self, PrepareOptions, Prepared, Progress},
};

/// Trains or finds the sentiment model of `opts`, showing progress on stderr.
pub fn prepare_with_bar(opts: &PrepareOptions) -> Result<Prepared, NlpError> {
    let plain = !std::io::stderr().is_terminal();
    let bar = ProgressBar::new_spinner();
    if !plain {
        bar.enable_steady_tick(Duration::from_millis(200));
    }
    bar.set_message("sentiment model: loading data and weights");
    let prepared = sentiment::prepare(opts, &mut |p| match p {
        Progress::Loading => bar.set_message("sentiment model: loading data and weights"),
        Progress::Training { step, steps, loss } if plain => {
            if step == 1 || step % 50 == 0 || step == steps {
                eprintln!(
                    "sentiment model: training step {step}/{steps}, loss {loss:.3}, {:.0?}",
                    bar.elapsed()
                );
            }
        }
        Progress::Training { step, steps, loss } => {
            if step == 1 {
                bar.set_style(
                    ProgressStyle::with_template(
                        "sentiment model: training {bar:40} {pos}/{len} steps, {elapsed} (eta {eta}) {msg}",
                    )
                    .expect("template"),
                );
                bar.set_length(steps as u64);
            }
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.3}"));
        }
        Progress::Evaluating { done, total } => bar.set_message(format!(
            "sentiment model: scoring the held-out split {done}/{total}"
        )),
        Progress::Saving => bar.set_message("sentiment model: saving"),
    });
    bar.finish_and_clear();
    prepared
}
