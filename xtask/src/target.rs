//! What is being checked: our own stage binary, or any program given as a command line.
//!
//! Our binaries follow the command-line contract in ARCHITECTURE.md, so the checker can move them
//! to free ports (`--port`, `--ports`, `--upstream`) and run several checks side by side. A
//! student's program (`--cmd '...'`) knows nothing of those flags: it runs on the course's ports,
//! exactly as the grader runs it, with the config path as its only argument.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::layout::Layout;
use crate::ports::{free_tcp_ports, free_udp_port};
use crate::stages::{Helper, ServerKind, Stage};

/// The course's ports.
pub const COURSE_PHASE0_PORT: u16 = 8080;
pub const COURSE_PHASE1_PORTS: [u16; 4] = [8001, 8002, 8003, 8004];
pub const COURSE_UPSTREAM_PORT: u16 = 3000;

/// The program under test.
#[derive(Clone, Debug)]
pub enum Target {
    /// One of our stage binaries, which accepts the port flags.
    Ours { binary: PathBuf },
    /// Any command line, run on the course's default ports.
    Custom { argv: Vec<String> },
}

impl Target {
    /// A target from a shell-style command line such as `'./xps --verbose'`.
    ///
    /// The program runs with the grader layout's `app/` as its working directory, so a program
    /// path with a slash in it (`./xps`, `build/xps`) is made absolute here, against the
    /// directory the checker was started from, where the user typed it. A bare name (`python3`)
    /// is left for `PATH` to find.
    pub fn custom(command_line: &str) -> Result<Target> {
        let mut argv = shell_words::split(command_line)?;
        let Some(program) = argv.first_mut() else {
            bail!("--cmd is empty");
        };
        if program.contains('/') && !program.starts_with('/') {
            let absolute = std::env::current_dir()?.join(&*program);
            *program = absolute.to_string_lossy().into_owned();
        }
        Ok(Target::Custom { argv })
    }

    /// True if the program can be moved to other ports.
    pub fn movable(&self) -> bool {
        matches!(self, Target::Ours { .. })
    }

    /// Writes what the command line refers to before the target starts and returns the config
    /// path it gets: the config the stage's entry writes for `ports` (ours on free ports get a
    /// copy moved to them; on the course's ports, ours and a student's get the same file), or
    /// the grader's `public/xps_config.json`.
    pub fn prepare(&self, stage: &Stage, ports: &Ports, layout: &Layout) -> Result<PathBuf> {
        match stage.config {
            Some(write_config) => write_config(layout, ports),
            None => Ok(layout.config_path()),
        }
    }

    /// The full command line that starts this target for `stage` on `ports`, with `config` (from
    /// [`Target::prepare`]) as its last argument.
    pub fn argv(&self, stage: &Stage, ports: &Ports, config: &Path) -> Vec<String> {
        let config = config.to_string_lossy().into_owned();
        let mut argv = match self {
            Target::Custom { argv } => argv.clone(),
            Target::Ours { binary } => vec![binary.to_string_lossy().into_owned()],
        };
        if let Target::Ours { .. } = self {
            match stage.kind {
                ServerKind::Tcp | ServerKind::Udp => {
                    argv.extend(["--port".into(), ports.listen[0].to_string()]);
                }
                ServerKind::Core => {
                    let list: Vec<String> = ports.listen.iter().map(u16::to_string).collect();
                    argv.extend(["--ports".into(), list.join(",")]);
                }
                // The config names the ports and the upstream.
                ServerKind::Config => {}
            }
            if stage.needs(Helper::PythonUpstream) && stage.kind != ServerKind::Config {
                argv.extend(["--upstream".into(), format!("127.0.0.1:{}", ports.upstream)]);
            }
        }
        argv.push(config);
        argv
    }
}

/// The ports one run uses: the server's listening ports (1 in phase 0, 4 in phase 1) and the
/// upstream's.
#[derive(Clone, Debug)]
pub struct Ports {
    pub listen: Vec<u16>,
    pub upstream: u16,
}

impl Ports {
    /// The course's ports for this kind of server.
    pub fn course(kind: ServerKind) -> Ports {
        let listen = match kind {
            ServerKind::Core | ServerKind::Config => COURSE_PHASE1_PORTS.to_vec(),
            _ => vec![COURSE_PHASE0_PORT],
        };
        Ports {
            listen,
            upstream: COURSE_UPSTREAM_PORT,
        }
    }

    /// Ports the kernel just reported free.
    pub fn free(kind: ServerKind) -> Result<Ports> {
        let (listen, upstream) = match kind {
            ServerKind::Core | ServerKind::Config => {
                let mut all = free_tcp_ports(5)?;
                let upstream = all.pop().unwrap_or(0);
                (all, upstream)
            }
            ServerKind::Udp => (vec![free_udp_port()?], free_tcp_ports(1)?[0]),
            ServerKind::Tcp => {
                let all = free_tcp_ports(2)?;
                (vec![all[0]], all[1])
            }
        };
        Ok(Ports { listen, upstream })
    }

    /// The port playing course role `n` (1-based: port 1 is 8001 in phase 1).
    pub fn role(&self, n: usize) -> u16 {
        self.listen[n - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    fn program(command_line: &str) -> String {
        match Target::custom(command_line).unwrap() {
            Target::Custom { argv } => argv[0].clone(),
            Target::Ours { .. } => unreachable!("custom() makes a custom target"),
        }
    }

    #[test]
    fn a_relative_program_path_is_resolved_where_the_user_typed_it() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(program("./xps --flag"), cwd.join("./xps").to_string_lossy());
        assert_eq!(
            program("build/xps"),
            cwd.join("build/xps").to_string_lossy()
        );
    }

    #[test]
    fn absolute_paths_and_bare_names_are_left_alone() {
        assert_eq!(program("/usr/bin/xps"), "/usr/bin/xps");
        assert_eq!(program("python3 server.py"), "python3");
        assert!(Target::custom("   ").is_err());
    }
}
