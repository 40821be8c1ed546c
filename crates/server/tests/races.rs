//! Same-name races through the API: of ten concurrent creations of one database or one
//! account, exactly one succeeds and the others are told the name is taken.

mod common;

use common::*;

async fn race(c: &Client, action: &str, params: Vec<(&'static str, String)>) -> Vec<Reply> {
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (c, params, action) = (c.clone(), params.clone(), action.to_string());
        calls.spawn(async move {
            let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            c.call(&action, &borrowed).await
        });
    }
    calls.join_all().await
}

fn one_winner(replies: &[Reply], duplicate: &str) {
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "exactly one creation succeeds: {:?}", replies.iter().map(|r| (r.status, r.body["Code"].clone())).collect::<Vec<_>>());
    for r in replies.iter().filter(|r| r.status != 200) {
        r.err(400, duplicate);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_of_one_name_give_one_success_and_duplicates() {
    let (_server, c) = serve().await;
    let (pg, maria) = tokio::join!(c.create_pg("pg.n2.small.1"), c.create_mariadb("mariadb.n2.medium.1", "20"));
    for (id, charset) in [(&pg, "UTF8"), (&maria, "utf8mb4")] {
        c.wait_status(id, "Running").await;
        let replies = race(&c, "CreateDatabase", vec![("DBInstanceId", id.clone()), ("DBName", "raced".into()), ("CharacterSetName", charset.into())]).await;
        one_winner(&replies, "InvalidDBName.Duplicate");
        let replies =
            race(&c, "CreateAccount", vec![("DBInstanceId", id.clone()), ("AccountName", "racer".into()), ("AccountPassword", "Racer_pass1".into())]).await;
        one_winner(&replies, "InvalidAccountName.Duplicate");
    }
    c.delete_all(&[&pg, &maria]).await;
}
