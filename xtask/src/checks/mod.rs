//! The grader's checks, stage by stage.
//!
//! Each stage's list is a `fn(&Ctx) -> Vec<Check>` ([`stage1`] ... [`stage13`] here,
//! `http::stage14` ... `http::stage17`) that the stage's entry in [`crate::stages::STAGES`]
//! names. A list follows the official grader's `stageN.ts` (same checks, same order, same
//! restarts, same inputs). Where the grader is weak the check is stricter: every wait has a
//! timeout, write-back checks really check, and the CPU and memory checks use real bounds.

pub mod balance;
pub mod cpu;
pub mod file;
pub mod flood;
pub mod http;
pub mod proxy;
pub mod tcp;
pub mod timeouts;
pub mod udp;
pub mod wire;
pub mod workers;

use crate::procstat::mb;
use crate::runner::{Options, StageRun};
use crate::target::{Ports, COURSE_PHASE1_PORTS};
use wire::Reply;
use wire::Reply::{Echo, Reverse};

/// What a stage's check list is built from: the run's ports and the checker's options.
pub struct Ctx<'a> {
    pub ports: &'a Ports,
    pub options: &'a Options,
}

/// `Ok(observed)` when a check passes, `Err(observed)` when it fails.
pub type Verdict = Result<String, String>;

/// One check: what it sends, what it expects, and the code that does it.
pub struct Check {
    pub title: String,
    pub input: String,
    pub expected: String,
    /// Start a fresh server (and upstream) first, like the grader's `requireRestart`.
    pub restart: bool,
    /// The server must still be running when the check ends.
    pub must_survive: bool,
    pub run: Box<dyn Fn(&mut StageRun) -> Verdict>,
}

impl Check {
    fn new(
        title: String,
        input: &str,
        expected: String,
        run: impl Fn(&mut StageRun) -> Verdict + 'static,
    ) -> Check {
        Check {
            title,
            input: input.to_string(),
            expected,
            restart: false,
            must_survive: true,
            run: Box::new(run),
        }
    }

    fn restart(mut self) -> Check {
        self.restart = true;
        self
    }

    fn may_exit(mut self) -> Check {
        self.must_survive = false;
        self
    }
}

/// Names a port for a title: the course's name, and the real one when they differ.
fn port_name(port: u16, course: u16) -> String {
    if port == course {
        format!("port {port}")
    } else {
        format!("port {port} (course port {course})")
    }
}

const LOCK_STEP_INPUT: &str =
    "1000 random lines of 0-99 characters [A-Za-z0-9] plus \\n, each sent after the previous reply";

fn lock_step(ports: &Ports, role: usize, reply: Reply) -> Check {
    let port = ports.role(role);
    let course = if ports.listen.len() == 4 {
        COURSE_PHASE1_PORTS[role - 1]
    } else {
        8080
    };
    let name = match reply {
        Reply::Reverse => "string reversal",
        Reply::Echo => "string write-back",
    };
    let expected = match reply {
        Reply::Reverse => "each reply is the line reversed with its \\n kept last, within 5 s",
        Reply::Echo => "each reply is the line unchanged, within 5 s",
    };
    Check::new(
        format!("{name} on {}", port_name(port, course)),
        LOCK_STEP_INPUT,
        expected.into(),
        move |_| tcp::lock_step(port, reply),
    )
}

fn ten_clients(ports: &Ports, reply: Reply) -> Check {
    let port = ports.role(1);
    let expected = match reply {
        Reply::Reverse => "client i receives \"i-gnirts\\n\" within 5 s",
        Reply::Echo => "client i receives \"string-i\\n\" within 5 s",
    };
    Check::new(
        format!("10 simultaneous clients on port {port}"),
        "10 clients connect at once; client i sends \"string-i\\n\"",
        expected.into(),
        move |_| tcp::ten_clients(port, reply),
    )
}

fn client_leaves(ports: &Ports, reply: Reply) -> Check {
    let port = ports.role(1);
    Check::new(
        format!("a client disconnects (port {port})"),
        "clients A and B connect; A closes; B sends a random line; a new client C sends one",
        format!(
            "B and C get their lines {}; the server keeps running",
            reply.verb()
        ),
        move |_| tcp::client_leaves(port, reply),
    )
}

fn non_blocking(ports: &Ports) -> Check {
    let port = ports.role(1);
    Check::new(
        format!("a client that never reads does not block the server (port {port})"),
        &format!(
            "client 1 sends {} without ever reading; then client 2 sends \"hello world\\n\"",
            mb(flood::NON_BLOCKING_FLOOD)
        ),
        "client 2 receives a reply within 5 s".into(),
        move |_| flood::non_blocking(port),
    )
}

fn idle_cpu(ports: &Ports, options: &Options) -> Check {
    let port = ports.role(1);
    Check::new(
        format!("idle CPU with one connected client (port {port})"),
        &format!(
            "a fresh server; one client connects and sends nothing for {} s",
            options.cpu_window.as_secs()
        ),
        format!(
            "the server uses under {} % of one core",
            cpu::IDLE_CPU_LIMIT
        ),
        move |run| cpu::idle(run, port),
    )
    .restart()
}

fn memory(ports: &Ports, options: &Options) -> Check {
    let port = ports.role(1);
    Check::new(
        format!("memory while streaming through port {port}"),
        &format!(
            "{} of generated data sent to port 1 while the echo is read back",
            mb(options.stream_bytes)
        ),
        format!(
            "every byte echoed back in order, and the server's RSS stays under {}",
            mb(flood::RSS_LIMIT)
        ),
        move |run| flood::stream_through(run, port),
    )
}

fn proxy(ports: &Ports) -> Check {
    let (port, upstream) = (ports.role(1), ports.upstream);
    Check::new(
        format!("proxy: 3 concurrent requests through port {port}"),
        &format!("GET /0, /1, /2 at once through the proxy, and the same requests straight to the upstream on port {upstream}"),
        "status line, headers and body identical byte for byte; the Date values within 1 s".into(),
        move |_| proxy::three_gets(port, upstream),
    )
}

fn upstream_down(ports: &Ports) -> Check {
    let port = ports.role(1);
    Check::new(
        format!("proxy with the upstream down (port {port})"),
        "a fresh server; the upstream is killed, then a client sends GET /",
        "the client is accepted and closed with 0 bytes; the server keeps running".into(),
        move |run| proxy::upstream_down(run, port),
    )
    .restart()
}

fn serves_file(ports: &Ports) -> Check {
    let port = ports.role(2);
    Check::new(
        format!("file on {}", port_name(port, 8002)),
        "a client connects and sends nothing",
        "it receives exactly ../public/sample.txt, then the connection closes".into(),
        move |run| file::serves_sample(run, port),
    )
}

fn refuses_file(ports: &Ports) -> Check {
    let port = ports.role(3);
    Check::new(
        format!("refused file on {}", port_name(port, 8003)),
        "a client connects to the port serving ../temp/file.txt (outside public/) and sends nothing",
        "the connection is closed with 0 bytes".into(),
        move |_| file::refuses(port),
    )
}

/// Lock-step checks on each of the given phase-1 ports.
fn on_ports(ports: &Ports, roles: &[usize], reply: Reply) -> Vec<Check> {
    roles
        .iter()
        .map(|&role| lock_step(ports, role, reply))
        .collect()
}

const ALL_PORTS: [usize; 4] = [1, 2, 3, 4];

// The grader's lists, one function per stage, named by the stage's entry in `stages::STAGES`.
// Each follows the grader's `stageN.ts`: same checks, same order, same restarts.

/// Stage 1: reversal, then the exit on the client's disconnect (the server ends with it).
pub fn stage1(cx: &Ctx) -> Vec<Check> {
    let port = cx.ports.role(1);
    vec![
        lock_step(cx.ports, 1, Reverse).restart().may_exit(),
        Check::new(
            format!("exit on client disconnect (port {port})"),
            "a client connects and closes at once without sending",
            "the server exits with status exactly 1 within 3 s".into(),
            move |run| tcp::exit_on_disconnect(run, port),
        )
        .restart()
        .may_exit(),
    ]
}

/// Stage 3: the UDP server.
pub fn stage3(cx: &Ctx) -> Vec<Check> {
    let port = cx.ports.role(1);
    vec![
        Check::new(
            format!("UDP string reversal on port {port}"),
            "1000 random datagrams of 0-99 characters [A-Za-z0-9] plus \\n, each after the previous reply",
            "each reply datagram is the line reversed with its \\n kept last, within 5 s".into(),
            move |_| udp::lock_step(port),
        )
        .restart(),
        Check::new(
            format!("10 simultaneous UDP clients on port {port}"),
            "10 sockets send \"string-i\\n\" at the same moment",
            "socket i receives \"i-gnirts\\n\" within 5 s".into(),
            move |_| udp::ten_clients(port),
        ),
        Check::new(
            format!("a UDP client goes away (port {port})"),
            "socket A sends a line, gets any reply and closes; new sockets B and C each send a line",
            "B and C get their lines reversed; the server keeps running".into(),
            move |_| udp::client_leaves(port),
        )
        .restart(),
    ]
}

/// Stage 4: the epoll server, several clients at once.
pub fn stage4(cx: &Ctx) -> Vec<Check> {
    vec![
        lock_step(cx.ports, 1, Reverse),
        ten_clients(cx.ports, Reverse),
        client_leaves(cx.ports, Reverse).restart(),
    ]
}

/// Stage 5: the proxy.
pub fn stage5(cx: &Ctx) -> Vec<Check> {
    vec![proxy(cx.ports)]
}

/// Stage 6: reversal on all four ports.
pub fn stage6(cx: &Ctx) -> Vec<Check> {
    let mut list = on_ports(cx.ports, &ALL_PORTS, Reverse);
    list.push(ten_clients(cx.ports, Reverse));
    list.push(client_leaves(cx.ports, Reverse).restart());
    list
}

/// Stage 7: the grader runs stage 6's list again (the freeze is shown by the demo, not graded).
pub fn stage7(cx: &Ctx) -> Vec<Check> {
    stage6(cx)
}

/// Stage 8: a client that never reads must not block the others.
pub fn stage8(cx: &Ctx) -> Vec<Check> {
    let mut list = vec![non_blocking(cx.ports)];
    list.extend(stage6(cx));
    list
}

/// Stage 9: and an idle client must not cost CPU.
pub fn stage9(cx: &Ctx) -> Vec<Check> {
    let mut list = vec![non_blocking(cx.ports), idle_cpu(cx.ports, cx.options)];
    list.extend(on_ports(cx.ports, &ALL_PORTS, Reverse));
    list.push(ten_clients(cx.ports, Reverse));
    list.push(client_leaves(cx.ports, Reverse));
    list
}

/// Stage 10: echo through pipes, with memory bounded while streaming.
pub fn stage10(cx: &Ctx) -> Vec<Check> {
    let mut list = vec![
        non_blocking(cx.ports),
        idle_cpu(cx.ports, cx.options),
        memory(cx.ports, cx.options),
    ];
    list.extend(on_ports(cx.ports, &ALL_PORTS, Echo));
    list.push(ten_clients(cx.ports, Echo));
    list.push(client_leaves(cx.ports, Echo));
    list
}

/// Stage 11: port 1 becomes the proxy.
pub fn stage11(cx: &Ctx) -> Vec<Check> {
    let mut list = on_ports(cx.ports, &[2, 3, 4], Echo);
    list.push(proxy(cx.ports));
    list.push(upstream_down(cx.ports));
    list
}

/// Stage 12: ports 2 and 3 serve (and refuse) a file.
pub fn stage12(cx: &Ctx) -> Vec<Check> {
    let mut list = on_ports(cx.ports, &[4], Echo);
    list.push(proxy(cx.ports));
    list.push(serves_file(cx.ports));
    list.push(upstream_down(cx.ports));
    list.push(refuses_file(cx.ports));
    list
}

/// Stage 13: the session layer keeps the proxy and the file working.
pub fn stage13(cx: &Ctx) -> Vec<Check> {
    vec![
        proxy(cx.ports),
        serves_file(cx.ports),
        upstream_down(cx.ports),
    ]
}
