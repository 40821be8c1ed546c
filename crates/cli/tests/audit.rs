//! The audit trail of the real `openrds serve`: one line per request, refusals included,
//! with who asked, from where, for what and how it ended; JSON lines with
//! `--log-format json`, no colour codes in a file; no secret in any line. And oversized
//! requests answered in the error envelope.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};

/// An HTTP/1.1 exchange by hand, for requests no client library would send.
fn raw_http(listen: &str, head: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(listen).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer and close before it has read a body it refuses.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status: u16 = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn envelope(reply: &(u16, Value), status: u16, code: &str) -> String {
    assert_eq!(reply.0, status, "{:?}", reply.1);
    assert_eq!(reply.1["Code"], code, "{:?}", reply.1);
    for key in ["RequestId", "HostId", "Message"] {
        assert!(reply.1[key].as_str().is_some_and(|v| !v.is_empty()), "{key} in {:?}", reply.1);
    }
    reply.1["RequestId"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_audited_once_as_json_and_no_secret_is_logged() {
    let site = Site::new(0);
    let served = site.serve(&[("OPENRDS_LOG_FORMAT", "json")]).await;
    let api = &served.api;
    let mut request_ids = Vec::new();

    let ok = api.send("DescribeRegions", &[] as &[(&str, &str)]).await.unwrap();
    request_ids.push(ok.body["RequestId"].as_str().unwrap().to_string());

    // A RAM user, whose new key's secret is in a response and must be in no log.
    let ram = api.with_version(wire::RAM_VERSION);
    ram.call("CreateUser", &[("UserName", "auditor")]).await.unwrap();
    let key = ram.call("CreateAccessKey", &[("UserName", "auditor")]).await.unwrap();
    let (user_key, user_secret) =
        (key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(), key["AccessKey"]["AccessKeySecret"].as_str().unwrap().to_string());
    let denied = api
        .with_key(&user_key, &user_secret)
        .send("DescribeDBInstances", &[("RegionId", "cn-hangzhou")])
        .await
        .unwrap();
    assert_eq!((denied.status, denied.body["Code"].as_str()), (403, Some("Forbidden.RAM")));
    request_ids.push(denied.body["RequestId"].as_str().unwrap().to_string());

    // A bad signature, an unknown action.
    let forged = api.with_key(KEY_ID, "not-the-secret").send("DescribeRegions", &[] as &[(&str, &str)]).await.unwrap();
    assert_eq!(forged.body["Code"], "SignatureDoesNotMatch");
    request_ids.push(forged.body["RequestId"].as_str().unwrap().to_string());
    let unknown = api.send("NoSuchAction", &[] as &[(&str, &str)]).await.unwrap();
    assert_eq!(unknown.status, 404);
    request_ids.push(unknown.body["RequestId"].as_str().unwrap().to_string());

    // An account password travels in a refused call (the instance does not exist); the
    // audit line names the instance and the account, never the password.
    let password = "Audit_Secret_pw1";
    let refused = api
        .send("CreateAccount", &[("DBInstanceId", "pgm-nosuchinstance0000000"), ("AccountName", "app"), ("AccountPassword", password)])
        .await
        .unwrap();
    assert_eq!(refused.status, 404);
    request_ids.push(refused.body["RequestId"].as_str().unwrap().to_string());

    // Oversized requests get the envelope, with 413 and 414.
    let big = vec![b'a'; 9 << 20];
    let head = format!("POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", served.listen, big.len());
    request_ids.push(envelope(&raw_http(&served.listen, &head, &big), 413, "RequestEntityTooLarge"));
    let head = format!("GET /?Action=DescribeRegions&Pad={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", "b".repeat(40 << 10), served.listen);
    request_ids.push(envelope(&raw_http(&served.listen, &head, b""), 414, "RequestURITooLong"));
    // Past the HTTP library's own limit (64 KiB) too.
    let head = format!("GET /?Action=DescribeRegions&Pad={} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", "c".repeat(200 << 10), served.listen);
    envelope(&raw_http(&served.listen, &head, b""), 414, "RequestURITooLong");

    served.stop().await;
    let log = std::fs::read_to_string(site.root.path().join("serve.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "no terminal colour codes in a log file");
    for secret in [SECRET, user_secret.as_str(), password] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object a line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    let audit: Vec<&Value> = lines.iter().filter(|l| l["target"] == "openrds::audit").collect();
    for id in &request_ids {
        let mine: Vec<&&Value> = audit.iter().filter(|l| l["request_id"] == id.as_str()).collect();
        assert_eq!(mine.len(), 1, "request {id} is logged exactly once: {mine:?}");
    }
    let line = |id: &str| *audit.iter().find(|l| l["request_id"] == id).unwrap();
    let denied = line(&request_ids[1]);
    assert_eq!(denied["access_key_id"], user_key.as_str());
    assert_eq!(denied["ram_user"], "auditor");
    assert_eq!(denied["action"], "DescribeDBInstances");
    assert!(denied["resources"].as_str().unwrap().contains("RegionId=cn-hangzhou"), "{denied}");
    assert_eq!((denied["status"].as_u64(), denied["code"].as_str()), (Some(403), Some("Forbidden.RAM")));
    assert_eq!(denied["client"], "127.0.0.1");
    let forged = line(&request_ids[2]);
    assert_eq!((forged["access_key_id"].as_str(), forged["code"].as_str()), (Some(KEY_ID), Some("SignatureDoesNotMatch")));
    let ok = line(&request_ids[0]);
    assert_eq!((ok["status"].as_u64(), ok["code"].as_str(), ok["action"].as_str()), (Some(200), Some("OK"), Some("DescribeRegions")));
    let create = line(&request_ids[4]);
    assert!(create["resources"].as_str().unwrap().contains("DBInstanceId=pgm-nosuchinstance0000000 AccountName=app"), "{create}");
    assert_eq!(line(&request_ids[5])["status"].as_u64(), Some(413));
    assert_eq!(line(&request_ids[6])["status"].as_u64(), Some(414));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_written_to_a_file_have_no_colour_codes() {
    let site = Site::new(1);
    let served = site.serve(&[]).await;
    served.api.call("DescribeRegions", &[] as &[(&str, &str)]).await.unwrap();
    served.stop().await;
    let log = std::fs::read_to_string(site.root.path().join("serve.log")).unwrap();
    assert!(log.contains("openrds::audit") || log.contains("DescribeRegions"), "{log}");
    assert!(!log.contains('\u{1b}'), "no terminal colour codes in a log file: {log}");
}
