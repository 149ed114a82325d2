//! `tf grafana dashboard --push` against a local HTTP server speaking Grafana's dashboard API.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::{ok, stderr, tf_env};

/// One request the stand-in received: request line, Authorization, body.
type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A stand-in for Grafana: answers every `POST /api/dashboards/db` as Grafana does.
fn fake_grafana() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                let (name, value) = h.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "authorization" => auth = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let uid = body["dashboard"]["uid"].as_str().unwrap_or_default().to_owned();
            record.lock().unwrap().push((line.trim_end().to_owned(), auth, body));
            let answer = format!(
                r#"{{"id":1,"uid":"{uid}","url":"/d/{uid}/taskflows-services","status":"success","version":1}}"#
            );
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (port, seen)
}

#[test]
fn the_dashboard_is_pushed_under_one_uid_and_updated_in_place() {
    let (port, seen) = fake_grafana();
    let url = format!("http://127.0.0.1:{port}/");
    let env = [("TASKFLOWS_GRAFANA", url.as_str()), ("TASKFLOWS_GRAFANA_API_KEY", "glsa_test_token")];
    for _ in 0..2 {
        let out = tf_env(&["grafana", "dashboard", "--push"], &env);
        let said = ok(&out, "tf grafana dashboard --push");
        assert!(said.contains("/d/taskflows-services/"), "{said}");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (line, auth, body) in seen.iter() {
        assert_eq!(line, "POST /api/dashboards/db HTTP/1.1");
        assert_eq!(auth, "Bearer glsa_test_token");
        assert_eq!(body["overwrite"], true);
        assert_eq!(body["dashboard"]["uid"], "taskflows-services");
        assert!(body["dashboard"]["id"].is_null(), "no id: Grafana finds it by uid");
    }
    assert_eq!(seen[0].2, seen[1].2, "the same dashboard both times");
    let panels = seen[0].2["dashboard"]["panels"].as_array().unwrap();
    let logs = panels.iter().find(|p| p["type"] == "logs").expect("a logs panel");
    assert_eq!(logs["targets"][0]["expr"], "{unit=~\"taskflows-($service)\\\\.service\"}");

    // Without the variables, --push says which one is missing.
    let out = tf_env(&["grafana", "dashboard", "--push"], &[("TASKFLOWS_GRAFANA", "")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--push needs TASKFLOWS_GRAFANA"), "{}", stderr(&out));
}
