//! `fake-provider`: a dyndns2 provider and an address echo on 127.0.0.1, for scripts.
//!
//!     fake-provider [--port N] [--address A]
//!
//! `GET /nic/update?hostname=a,b&myip=X` answers `good X` once per name; `GET /ip` answers
//! A (default 81.2.69.160). `--port 0` (the default) takes a free port. The first line on
//! standard output is `listening on http://127.0.0.1:PORT`, then one line per request
//! (method, path, names, address; never the credentials). Runs until killed.
// A command-line tool: standard output is its log.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use dyntray_tests::fake_provider::{FakeProvider, Reply};

const USAGE: &str = "usage: fake-provider [--port N] [--address A]";

fn parse_args() -> Result<(u16, IpAddr), String> {
    let mut port = 0;
    let mut address = IpAddr::V4(Ipv4Addr::new(81, 2, 69, 160));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                port = v.parse().map_err(|_| format!("bad port `{v}`"))?;
            }
            "--address" => {
                let v = value("--address")?;
                address = v.parse().map_err(|_| format!("bad address `{v}`"))?;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok((port, address))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (port, address) = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fake-provider: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match FakeProvider::start_on(port).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("fake-provider: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    server.echo_good();
    server.route("/ip", Reply::ok(&format!("{address}\n")));
    println!("listening on {}", server.url());

    // The server records requests; print the new ones a few times a second.
    let mut printed = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if server.count() == printed {
            continue;
        }
        let seen = server.seen();
        for request in &seen[printed..] {
            let names = request.hostnames().join(",");
            let myip = request.param("myip").unwrap_or("-");
            println!(
                "{} {} names={} myip={myip}",
                request.method,
                request.path,
                if names.is_empty() { "-" } else { &names }
            );
        }
        printed = seen.len();
    }
}
