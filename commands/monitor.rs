//! `mcphub monitor`: a live dashboard. On a terminal it takes the alternate screen and
//! leaves it restored on `q`, Ctrl+C, SIGTERM or a panic; elsewhere it prints plain
//! frames, one per interval.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use futures::StreamExt;
use mcphub::toolkit::alerts::Thresholds;
use mcphub::toolkit::anomalies::parse_duration;
use mcphub::toolkit::dashboard::{cpu_between, frame};
use mcphub::toolkit::observe::{Observation, observe};

use crate::toolkit::{HubArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    hub: HubArgs,
    /// Refresh period.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    interval: Duration,
    /// Print one frame and exit.
    #[arg(long)]
    once: bool,
}

/// Puts the terminal back however the dashboard ends.
struct Screen;

impl Screen {
    fn enter() -> std::io::Result<Screen> {
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        Ok(Screen)
    }
}

fn restore() {
    let _ = execute!(
        std::io::stdout(),
        cursor::Show,
        terminal::LeaveAlternateScreen
    );
    let _ = terminal::disable_raw_mode();
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

pub fn run(args: Args) -> ExitCode {
    block_on(monitor(args))
}

async fn look(args: &Args, prev: &Option<Observation>) -> (Observation, String) {
    let o = observe(args.hub.target(), args.hub.token.clone()).await;
    let cpu = cpu_between(prev.as_ref(), &o);
    let text = frame(&o, cpu, &Thresholds::default());
    (o, text)
}

async fn monitor(args: Args) -> ExitCode {
    let mut prev = None;
    if args.once {
        // Two looks a moment apart, so the one frame has a CPU figure.
        let (o, _) = look(&args, &prev).await;
        prev = Some(o);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, text) = look(&args, &prev).await;
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mcphub monitor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let _screen = if tty {
        match Screen::enter() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("mcphub monitor: cannot use the terminal: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let mut keys = tty.then(EventStream::new);
    loop {
        let (o, text) = look(&args, &prev).await;
        prev = Some(o);
        let mut out = std::io::stdout();
        if tty {
            // Raw mode: lines need an explicit carriage return.
            let _ = execute!(
                out,
                cursor::MoveTo(0, 0),
                terminal::Clear(terminal::ClearType::All)
            );
            let _ = write!(out, "{}", text.replace('\n', "\r\n"));
            let _ = write!(out, "\r\nrefresh every {:?} · q to quit", args.interval);
        } else {
            let _ = writeln!(out, "{text}");
        }
        let _ = out.flush();
        let sleep = tokio::time::sleep(args.interval);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                _ = term.recv() => return ExitCode::SUCCESS,
                _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
                ev = async { match keys.as_mut() { Some(k) => k.next().await, None => std::future::pending().await } } => {
                    match ev {
                        Some(Ok(Event::Key(KeyEvent { code: KeyCode::Char('q'), .. })))
                        | Some(Ok(Event::Key(KeyEvent { code: KeyCode::Esc, .. }))) => return ExitCode::SUCCESS,
                        Some(Ok(Event::Key(KeyEvent { code: KeyCode::Char('c'), modifiers, .. })))
                            if modifiers.contains(KeyModifiers::CONTROL) => return ExitCode::SUCCESS,
                        Some(Ok(Event::Resize(..))) => break,
                        None | Some(Err(_)) => keys = None,
                        _ => {}
                    }
                }
            }
        }
    }
}
