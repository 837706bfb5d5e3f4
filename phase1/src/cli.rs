//! The command line every stage 6-13 binary shares (see ARCHITECTURE.md): four ports in the
//! course's roles, the upstream, the public directory, the refused file, and one ignored
//! positional config path (the official grader always passes one).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::{Core, PortRole, StageProfile};

/// The four listening ports: 1 = proxy (stage 11 on), 2 = file (12 on), 3 = refused file (12),
/// 4 = echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ports(pub [u16; 4]);

fn parse_ports(text: &str) -> Result<Ports, String> {
    let ports = text
        .split(',')
        .map(|p| p.trim().parse::<u16>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<Vec<u16>, String>>()?;
    let ports: [u16; 4] = ports
        .try_into()
        .map_err(|v: Vec<u16>| format!("exactly four ports are needed, got {}", v.len()))?;
    Ok(Ports(ports))
}

/// `--ports`.
#[derive(clap::Args, Debug)]
pub struct PortsArg {
    /// The four ports to listen on, comma-separated.
    #[arg(long, value_name = "P1,P2,P3,P4", default_value = "8001,8002,8003,8004", value_parser = parse_ports)]
    pub ports: Ports,
}

/// The optional positional config path, accepted and ignored before stage 16.
#[derive(clap::Args, Debug)]
pub struct ConfigArg {
    /// Config file (ignored before stage 16; the official grader always passes one).
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
}

/// `--upstream`.
#[derive(clap::Args, Debug)]
pub struct UpstreamArg {
    /// The server port 1 proxies to.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:3000")]
    pub upstream: String,
}

/// `--public`.
#[derive(clap::Args, Debug)]
pub struct PublicArg {
    /// The public directory; port 2 serves `<public>/sample.txt`.
    #[arg(long, value_name = "DIR", default_value = "../public")]
    pub public: PathBuf,
}

/// `--refused`.
#[derive(clap::Args, Debug)]
pub struct RefusedArg {
    /// The file port 3 tries to serve; it lies outside the public directory and is refused.
    #[arg(long, value_name = "FILE", default_value = "../temp/file.txt")]
    pub refused: PathBuf,
}

/// What `main` returns: success, or the error's message (with its causes, one `: ` apart) on
/// stderr and exit status 1. Returning `anyhow::Result` from `main` would print the error's
/// `Debug` form instead, which includes a backtrace whenever `RUST_BACKTRACE` is set, as it
/// often is in Rust environments: a user who mistyped a config path should see one line.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `0.0.0.0:port`: listeners bind every interface, as the grader connects from outside.
pub fn any_addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
}

/// Start the logger, do the process-wide setup, create a core for `profile`, listen on the
/// four ports with their roles, and run until SIGINT.
pub fn serve(profile: StageProfile, ports: Ports, roles: [PortRole; 4]) -> anyhow::Result<()> {
    crate::logger::init();
    crate::init()?;
    let mut core = Core::new(profile)?;
    for (port, role) in ports.0.into_iter().zip(roles) {
        core.listen(any_addr(port), role)
            .map_err(|err| anyhow::anyhow!("cannot listen on port {port}: {err}"))?;
    }
    core.run()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_four_ports() {
        assert_eq!(parse_ports("1,2,3,4"), Ok(Ports([1, 2, 3, 4])));
        assert!(parse_ports("1,2,3").is_err());
        assert!(parse_ports("1,2,3,4,5").is_err());
        assert!(parse_ports("1,2,x,4").is_err());
    }
}
