//! `mcphub completions <shell>` and `mcphub man`: generated from the clap definition,
//! so they cannot drift from the real options. `completions/` and `man/` in the
//! repository hold their output, checked fresh by a test.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// Shell to generate completions for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write every page (mcphub.1 and one per subcommand) into this directory instead
    /// of printing mcphub.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn completions(args: CompletionArgs) -> ExitCode {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "mcphub", &mut std::io::stdout());
    ExitCode::SUCCESS
}

pub fn man(args: ManArgs) -> ExitCode {
    let cmd = crate::Cli::command();
    let result = match &args.dir {
        Some(dir) => std::fs::create_dir_all(dir).and_then(|_| clap_mangen::generate_to(cmd, dir)),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcphub man: {e}");
            ExitCode::FAILURE
        }
    }
}
