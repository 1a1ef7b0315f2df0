//! dev-prism: isolated development sessions of one repository, side by side.

mod appenv;
mod blockers;
mod bulk;
mod claude_settings;
mod cli;
mod clock;
mod commands;
mod completions;
mod compose;
mod config;
mod docker;
mod envfile;
mod git;
mod gitstate;
mod include;
mod inspect;
mod interrupt;
mod layout;
mod lock;
mod output;
mod ownership;
mod ports;
mod process;
mod progress;
mod prompt;
mod ready;
mod safefs;
mod safety;
mod session;
mod setup;
mod teardown;
mod urls;
mod workspace;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // clap's own messages (usage errors, help) follow --color too.
    let early = cli::color_flag(&args).unwrap_or(cli::ColorChoice::Auto);
    let cli = cli::parse(args, output::decide_color(early));
    process::set_verbose(cli.verbose);
    output::init(output::decide_color(cli.color), cli.quiet);
    interrupt::install();
    let result = commands::run(cli).and_then(|code| {
        // A signal that arrived while the command finished anyway (its
        // children were stopped, so its answer may be incomplete).
        interrupt::check()?;
        Ok(code)
    });
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            interrupt::exit_code(&e)
        }
    };
    std::process::exit(code);
}

/// One `error:` line (plus an indented block of the failing command's
/// stderr). A signal that simply ended a command (Ctrl-C on `logs`) prints
/// nothing.
fn report(e: &anyhow::Error) {
    if e.to_string().is_empty() {
        return;
    }
    // A child stopped because of Ctrl-C / SIGTERM: say that, not which
    // command it was.
    let stopped = e.chain().any(|c| {
        c.downcast_ref::<process::CmdError>()
            .is_some_and(process::CmdError::interrupted)
    });
    if let (true, Some(sig)) = (stopped, interrupt::signal()) {
        eprintln!(
            "{} interrupted ({})",
            output::red("error:"),
            interrupt::name(sig)
        );
        return;
    }
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    eprintln!("{} {msg}", output::red("error:"));
}
