//! `tern bench`: the bundled load-testing tool, for tern or any NATS server.
//!
//! A tour:
//! - [`options`]: the command line and the [`options::Plan`] a run follows.
//! - [`client`]: a minimal synchronous NATS client (one OS thread per connection, the
//!   protocol layer's parser and encoders, batched writes, big reads).
//! - [`run`]: the scenarios: receivers, readiness probes, senders, the start signal,
//!   paced sending and latency measurement.
//! - [`js`]: `js pub`: the stream set up through raw `$JS.API` requests, and publishers
//!   that match each PubAck to its publish within a window.
//! - [`js_consume`]: `js consume`: a stream filled, then read through a pull, push or
//!   ordered consumer.
//! - [`kv`]: `kv put|get`: synchronous Key-Value operations on a bucket.
//! - [`stats`], [`report`], [`svg`], [`progress`]: what a run measured, as a table,
//!   JSON, CSV, a percentile plot, and a bar while it runs.
//! - [`sink`] and [`conns`]: a do-nothing server that measures the tool's own ceiling,
//!   and idle connections for measuring a server's memory.

pub mod client;
pub mod conns;
pub mod js;
pub mod js_consume;
pub mod kv;
pub mod options;
pub mod progress;
pub mod report;
pub mod run;
pub mod sink;
pub mod stats;
pub mod svg;

use std::process::ExitCode;

use clap::Parser;

use self::options::{Cli, Command, JsCommand, JsPubArgs, LoadArgs, Output, Plan, Scenario};
use self::run::Outcome;

/// Points per halving of the distance to 100% in the SVG plot.
const PLOT_TICKS_PER_HALF: u32 = 5;

/// `tern bench <args>`, `args` being what follows `bench`.
pub fn main(args: &[String]) -> ExitCode {
    let cli = match Cli::try_parse_from(
        std::iter::once("tern bench".to_string()).chain(args.iter().cloned()),
    ) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Pub(args) => load(Scenario::Pub, args),
        Command::Sub(args) => load(Scenario::Sub, args),
        Command::Pubsub(args) => load(Scenario::Pubsub, args),
        Command::Fanout(args) => load(Scenario::Fanout, args),
        Command::Queue(args) => load(Scenario::Queue, args),
        Command::Req(args) => load(Scenario::Req, args),
        Command::Conns(args) => conns::run(&args),
        Command::Sink(args) => sink::run(&args),
        Command::Kv(args) => kv::run(&args),
        Command::Js {
            command: JsCommand::Pub(args),
        } => js_pub(*args),
        Command::Js {
            command: JsCommand::Consume(args),
        } => js_consume::main(*args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tern bench: {error}");
            ExitCode::from(1)
        }
    }
}

/// Runs one load scenario and prints its result; Err (exit 1) if it could not run or a
/// client failed.
fn load(scenario: Scenario, args: LoadArgs) -> Result<(), String> {
    let plan = Plan::new(scenario, args)?;
    let outcome = run::run(&plan)?;
    print(&plan, &outcome)?;
    match outcome.errors.len() {
        0 => Ok(()),
        failed => Err(format!("{failed} client(s) failed (see above)")),
    }
}

/// `js pub`: sets the stream up, runs the publishers, and looks at the stream again.
/// Err (exit 1) if a publisher failed or no publish was stored.
fn js_pub(args: JsPubArgs) -> Result<(), String> {
    let plan = Plan::js_pub(args)?;
    let stream = js::prepare_stream(&plan)?;
    let mut outcome = run::run(&plan)?;
    outcome.stream = Some(js::stream_after(&plan, stream));
    print(&plan, &outcome)?;
    let acks = outcome.acks.clone().unwrap_or_default();
    if acks.acked == 0 && acks.errors > 0 {
        return Err(format!(
            "every publish failed: {}",
            acks.first_error.as_deref().unwrap_or("error acks")
        ));
    }
    match outcome.errors.len() {
        0 => Ok(()),
        failed => Err(format!("{failed} client(s) failed (see above)")),
    }
}

/// Prints the outcome in the plan's format and writes the plot, if asked.
fn print(plan: &Plan, outcome: &Outcome) -> Result<(), String> {
    match plan.output {
        Output::Table => print!("{}", report::table(plan, outcome)),
        Output::Json => println!("{:#}", report::json(plan, outcome)),
        Output::Csv => print!("{}", report::csv(plan, outcome)),
    }
    if let Some(path) = &plan.histogram {
        if outcome.histogram.is_empty() {
            return Err(format!(
                "no latency was measured, so no plot was written to {}",
                path.display()
            ));
        }
        let points = stats::percentile_points(&outcome.histogram, PLOT_TICKS_PER_HALF);
        let title = format!(
            "{}: latency at the {} ({} samples)",
            report::describe(plan),
            outcome.latency_role,
            outcome.histogram.len()
        );
        std::fs::write(path, svg::percentile_plot(&points, &title))
            .map_err(|e| format!("can not write {}: {e}", path.display()))?;
    }
    if plan.output == Output::Csv {
        for error in &outcome.errors {
            eprintln!("tern bench: {error}");
        }
    }
    Ok(())
}
