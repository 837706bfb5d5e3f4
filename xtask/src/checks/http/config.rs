//! The grader's config for stages 16 and 17, moved to other ports.
//!
//! From stage 16 on the server takes its ports from the JSON config, not from flags. The grader
//! runs it with `public/xps_config.json` on 8001-8004 and Python on 3000. To run the same checks
//! on free ports (so tests can run side by side), the checker writes a copy of that file with every
//! course port replaced by the run's port: listeners, the proxy's upstream and the redirect's URL.
//!
//! The copy lives in `<tmp>/config/`, next to `<tmp>/public/` and not inside it: a relative
//! `dir_path` of `../public` then means the same folder whether a server resolves it against its
//! working directory (`<tmp>/app`) or against the config's directory, and the copy does not show
//! up in the directory listing that stage 17 checks.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::layout::Layout;
use crate::target::{Ports, COURSE_PHASE1_PORTS, COURSE_UPSTREAM_PORT};

/// True if `ports` are the course's own, so the grader's config can be used as it is.
pub fn is_course(ports: &Ports) -> bool {
    ports.listen == COURSE_PHASE1_PORTS && ports.upstream == COURSE_UPSTREAM_PORT
}

/// Where the config for `ports` is: the grader's own file on the course's ports, the moved copy
/// otherwise.
fn path(layout: &Layout, ports: &Ports) -> PathBuf {
    if is_course(ports) {
        layout.config_path()
    } else {
        layout.root().join("config").join("xps_config.json")
    }
}

/// The `Location` the grader's `/redirect` route sends: `http://localhost:8002/` moved to port 2.
pub fn redirect_location(ports: &Ports) -> String {
    format!("http://localhost:{}/", ports.role(2))
}

/// The config of stages 16 and 17 (a [`crate::stages::ConfigWriter`]): the grader's
/// `public/xps_config.json`, moved to `ports` unless they are the course's. Returns its path.
pub fn graders(layout: &Layout, ports: &Ports) -> Result<PathBuf> {
    if is_course(ports) {
        return Ok(path(layout, ports));
    }
    let config = graders_json(layout, ports)?;
    write(layout, "xps_config.json", &config)
}

/// The grader's config as JSON, moved to `ports` (unchanged on the course's ports), for the
/// later stages' configs, which add routes to it.
pub fn graders_json(layout: &Layout, ports: &Ports) -> Result<Value> {
    let original = layout.config_path();
    let text = fs::read_to_string(&original)
        .with_context(|| format!("cannot read {}", original.display()))?;
    let mut config: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", original.display()))?;
    move_ports(&mut config, ports);
    Ok(config)
}

/// Writes `config` as `<tmp>/config/<name>` (next to `public/`, see the module doc) and returns
/// its path.
pub fn write(layout: &Layout, name: &str, config: &Value) -> Result<PathBuf> {
    let target = layout.root().join("config").join(name);
    if let Some(dir) = target.parent() {
        fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(config)?;
    fs::write(&target, text).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(target)
}

/// The run's port for a course port (8001-8004 and 3000), or `None` for any other port.
fn moved(course: u64, ports: &Ports) -> Option<u16> {
    if course == u64::from(COURSE_UPSTREAM_PORT) {
        return Some(ports.upstream);
    }
    COURSE_PHASE1_PORTS
        .iter()
        .position(|&p| u64::from(p) == course)
        .map(|i| ports.listen[i])
}

/// Replaces `:<course port>` at the end of a `host:port` or before the path of a URL.
fn move_in_text(text: &str, ports: &Ports) -> String {
    let mut out = text.to_string();
    for course in COURSE_PHASE1_PORTS.iter().chain([&COURSE_UPSTREAM_PORT]) {
        let Some(new) = moved(u64::from(*course), ports) else {
            continue;
        };
        for end in ["/", ""] {
            let from = format!(":{course}{end}");
            let matches_here = if end.is_empty() {
                out.ends_with(&from)
            } else {
                out.contains(&from)
            };
            if matches_here {
                out = out.replacen(&from, &format!(":{new}{end}"), 1);
                return out;
            }
        }
    }
    out
}

/// Moves every port in the config: listener ports, upstreams and redirect URLs.
fn move_ports(config: &mut Value, ports: &Ports) {
    let Some(servers) = config.get_mut("servers").and_then(Value::as_array_mut) else {
        return;
    };
    for server in servers {
        if let Some(listeners) = server.get_mut("listeners").and_then(Value::as_array_mut) {
            for listener in listeners {
                let port = listener.get("port").and_then(Value::as_u64);
                if let Some(new) = port.and_then(|p| moved(p, ports)) {
                    listener["port"] = Value::from(new);
                }
            }
        }
        let Some(routes) = server.get_mut("routes").and_then(Value::as_array_mut) else {
            continue;
        };
        for route in routes {
            if let Some(upstreams) = route.get_mut("upstreams").and_then(Value::as_array_mut) {
                for upstream in upstreams {
                    if let Some(text) = upstream.as_str() {
                        *upstream = Value::from(move_in_text(text, ports));
                    }
                }
            }
            if let Some(url) = route.get("redirect_url").and_then(Value::as_str) {
                route["redirect_url"] = Value::from(move_in_text(url, ports));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            listen: vec![41001, 41002, 41003, 41004],
            upstream: 43000,
        }
    }

    #[test]
    fn moves_every_course_port() {
        let mut config: Value = serde_json::from_str(
            r#"{"workers": 4, "servers": [
                {"listeners": [{"host": "0.0.0.0", "port": 8001}], "routes": [
                    {"req_path": "/redirect", "type": "redirect", "redirect_url": "http://localhost:8002/"}]},
                {"listeners": [{"host": "0.0.0.0", "port": 8002}], "routes": [
                    {"req_path": "/", "type": "reverse_proxy", "upstreams": ["localhost:3000"]}]},
                {"listeners": [{"host": "0.0.0.0", "port": 8003}], "routes": [
                    {"req_path": "/", "type": "redirect", "redirect_url": "https://expserver.github.io"}]},
                {"listeners": [{"host": "0.0.0.0", "port": 8004}]}]}"#,
        )
        .unwrap();
        move_ports(&mut config, &ports());
        let servers = config["servers"].as_array().unwrap();
        let listened: Vec<u64> = servers
            .iter()
            .map(|s| s["listeners"][0]["port"].as_u64().unwrap())
            .collect();
        assert_eq!(listened, [41001, 41002, 41003, 41004]);
        assert_eq!(
            servers[0]["routes"][0]["redirect_url"],
            "http://localhost:41002/"
        );
        assert_eq!(servers[1]["routes"][0]["upstreams"][0], "localhost:43000");
        assert_eq!(
            servers[2]["routes"][0]["redirect_url"],
            "https://expserver.github.io"
        );
        assert_eq!(config["workers"], 4);
        assert_eq!(redirect_location(&ports()), "http://localhost:41002/");
    }

    #[test]
    fn our_server_gets_the_moved_copy_and_a_students_gets_the_graders() {
        use crate::target::Target;
        let layout = Layout::new().unwrap();
        let stage = crate::stages::find("16").unwrap();
        let ours = Target::Ours {
            binary: "/bin/xps".into(),
        };
        let moved = ours.prepare(stage, &ports(), &layout).unwrap();
        assert_eq!(moved, path(&layout, &ports()));
        assert_eq!(
            ours.argv(stage, &ports(), &moved),
            ["/bin/xps".to_string(), moved.to_string_lossy().into_owned()]
        );
        let text = fs::read_to_string(&moved).unwrap();
        assert!(
            text.contains("41004") && text.contains("localhost:43000"),
            "{text}"
        );
        assert!(!text.contains("8001") && !text.contains(":3000"), "{text}");
        let course = Ports::course(stage.kind);
        let student = Target::custom("xps").unwrap();
        let config = student.prepare(stage, &course, &layout).unwrap();
        let argv = student.argv(stage, &course, &config);
        assert_eq!(
            argv,
            [
                "xps".to_string(),
                layout.config_path().to_string_lossy().into_owned()
            ]
        );
    }
}
