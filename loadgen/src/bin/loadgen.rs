//! `loadgen URL [--rate R] [--connections C] [--duration D] [--closed] [--path P] [--json]`:
//! see `loadgen --help` and the crate docs.

use std::process::exit;

fn main() {
    let cfg = match loadgen::Config::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) if e == "help" => {
            println!("{}", loadgen::USAGE);
            return;
        }
        Err(e) => {
            eprintln!("loadgen: {e}\n{}", loadgen::USAGE);
            exit(2);
        }
    };
    match loadgen::run(&cfg) {
        Ok(run) if cfg.json => println!(
            "{}",
            serde_json::to_string(&run.report).expect("the report serialises")
        ),
        Ok(run) => print!("{}", run.report.render()),
        Err(e) => {
            eprintln!("loadgen: {e}");
            exit(1);
        }
    }
}
