//! `cargo xtask`: Gregor's developer tasks.
//!
//! Run `cargo xtask --help` for the list. xtask depends on none of the
//! Gregor crates: it builds, starts and checks them from the outside.

mod bench;
mod broker;
mod capture;
mod codegen;
mod demo;
mod deps;
mod docker;
mod fuzz;
mod integration;
mod peers;
mod test;
mod testcontainer;
mod tls;
mod tools;
mod util;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Gregor's developer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Generate gregor-protocol's messages from Kafka's JSON specs.
    Codegen {
        /// Fail if the committed code differs from what the generator writes.
        #[arg(long)]
        check: bool,
    },
    /// Start, stop or inspect a local nisshi broker.
    Broker {
        #[command(subcommand)]
        action: BrokerAction,
    },
    /// Install the interop peers (librdkafka via confluent-kafka, kafka-python).
    Peers,
    /// Run every crate's integration tests against a real broker.
    Integration(integration::Opts),
    /// Show the client at work against a local broker (the main job).
    Demo(demo::Opts),
    /// Everything CI checks: fmt, clippy, tests, codegen, dependency rule, deny, integration.
    Test(test::Opts),
    /// Check that gregor-protocol and gregor-group build without an async runtime.
    Deps,
    /// Capture golden bytes from real clients into testdata/golden (see its README).
    Capture(capture::Opts),
    /// Gregor against rust-rdkafka: producer and consumer throughput and CPU per record.
    Bench(bench::Opts),
    /// Fuzz gregor-protocol's decoders for a while (needs a nightly toolchain).
    Fuzz {
        /// Seconds to run each target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target: frame, request, response, request_header, record_batch, message_set, consumer_protocol.
        #[arg(long)]
        target: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum BrokerAction {
    /// Install (once) and start a broker, waiting until it answers.
    Start(broker::StartOpts),
    /// Stop a broker started by `start`.
    Stop {
        /// Instance name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Restart a broker on the same port and storage.
    Restart {
        /// Instance name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Say whether brokers run and where.
    Status {
        /// Instance name (default: every instance of this checkout).
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Codegen { check } => codegen::run(check),
        Task::Broker { action } => broker_task(action),
        Task::Peers => peers::ensure().map(|p| println!("peers' python: {}", p.display())),
        Task::Integration(opts) => integration::run_all(&opts),
        Task::Demo(opts) => demo::run_demo(&opts),
        Task::Test(opts) => test::run_all(&opts),
        Task::Deps => deps::check(),
        Task::Capture(opts) => capture::run(&opts),
        Task::Bench(opts) => bench::run(&opts),
        Task::Fuzz { seconds, target } => fuzz::run(seconds, target.as_deref()),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn broker_task(action: BrokerAction) -> util::Result {
    match action {
        BrokerAction::Start(opts) => {
            let state = broker::start(&opts)?;
            println!("{}", broker::status_line(&state.name));
            println!("export GREGOR_BOOTSTRAP={}", state.bootstrap());
            if let Some(ca) = &state.tls_ca {
                println!("export GREGOR_TLS_CA={}", ca.display());
            }
            if let (Some(u), Some(p)) = (&state.sasl_user, &state.sasl_password) {
                println!("export GREGOR_SASL_USER={u} GREGOR_SASL_PASSWORD={p}");
            }
            Ok(())
        }
        BrokerAction::Stop { name } => {
            if broker::stop(&name)? {
                println!("stopped broker '{name}'");
            } else {
                println!("broker '{name}' was not running");
            }
            Ok(())
        }
        BrokerAction::Restart { name } => {
            let state = broker::restart(&name)?;
            println!("{}", broker::status_line(&state.name));
            Ok(())
        }
        BrokerAction::Status { name } => {
            let names = match name {
                Some(n) => vec![n],
                None => broker::instances(),
            };
            if names.is_empty() {
                println!("no broker was started in this checkout");
            }
            for n in names {
                println!("{}", broker::status_line(&n));
            }
            Ok(())
        }
    }
}
