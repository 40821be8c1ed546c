//! Calls the openrds API the way the official SDKs do: V3 (ACS3-HMAC-SHA256) signed POSTs
//! with the parameters in the query string. One place owns signing and sending, so that
//! the CLI, the demo, the benchmarks and the tests all exercise the same wire path.

use serde_json::Value;

/// The server's answer: HTTP status and the JSON body (success or error envelope).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The envelope's `Code`, empty on success.
    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or_default()
    }

    /// The body of a successful call, or the envelope as an error.
    pub fn into_result(self) -> Result<Value, CallError> {
        if self.is_success() {
            Ok(self.body)
        } else {
            Err(CallError::Api {
                status: self.status,
                code: self.code().to_string(),
                message: self.body["Message"].as_str().unwrap_or_default().to_string(),
                request_id: self.body["RequestId"].as_str().unwrap_or_default().to_string(),
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// `reason` is the innermost cause (`Connection refused (os error 111)`): the HTTP
    /// library's own chain repeats "error sending request for url" at each level.
    #[error("cannot reach the openrds API at {endpoint}: {reason}")]
    Transport { endpoint: String, reason: String },
    #[error("the server at {endpoint} answered HTTP {status} with a body that is not JSON: {body}")]
    NotJson { endpoint: String, status: u16, body: String },
    #[error("{code} (HTTP {status}): {message} [RequestId {request_id}]")]
    Api { status: u16, code: String, message: String, request_id: String },
}

/// A client for one endpoint, key and API version. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    host: String,
    key_id: String,
    secret: String,
    version: String,
}

impl Client {
    /// `endpoint` is `host:port`, with or without `http://`; calls use the RDS version.
    pub fn new(endpoint: &str, key_id: &str, secret: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            host: endpoint.trim_start_matches("http://").trim_end_matches('/').to_string(),
            key_id: key_id.into(),
            secret: secret.into(),
            version: wire::RDS_VERSION.into(),
        }
    }

    /// The same endpoint and key, another API version (e.g. [`wire::RAM_VERSION`]).
    pub fn with_version(&self, version: &str) -> Client {
        Client { version: version.into(), ..self.clone() }
    }

    /// The same endpoint and version, another key.
    pub fn with_key(&self, key_id: &str, secret: &str) -> Client {
        Client { key_id: key_id.into(), secret: secret.into(), ..self.clone() }
    }

    pub fn endpoint(&self) -> &str {
        &self.host
    }

    /// Sends `action` and returns whatever the server answered, error envelopes included.
    pub async fn send<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> Result<Reply, CallError> {
        let (status, body) = self.exchange(action, params).await?;
        self.parse(status, body)
    }

    /// Sends `action` and returns the HTTP status and the body's bytes unread: for a
    /// caller that checks answers by comparing them, as a load generator does.
    pub async fn send_raw<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> Result<(u16, Vec<u8>), CallError> {
        self.exchange(action, params).await
    }

    /// Sends `action` and reads a success into `T`, which names only the fields it needs:
    /// a caller that wants two fields of a long answer does not build a tree of all of it.
    /// An error envelope becomes [`CallError::Api`].
    pub async fn call_as<T, K, V>(&self, action: &str, params: &[(K, V)]) -> Result<T, CallError>
    where
        T: serde::de::DeserializeOwned,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let (status, body) = self.exchange(action, params).await?;
        if (200..300).contains(&status) {
            if let Ok(body) = serde_json::from_slice(&body) {
                return Ok(body);
            }
        }
        let reply = self.parse(status, body)?;
        let body = reply.into_result()?;
        Err(CallError::NotJson { endpoint: self.host.clone(), status, body: format!("an answer of another shape: {body}") })
    }

    /// Signs and sends `action`; the HTTP status and the body.
    async fn exchange<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> Result<(u16, Vec<u8>), CallError> {
        let params: Vec<(String, String)> = params.iter().map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())).collect();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let call = wire::client::Call {
            action,
            version: &self.version,
            params: &params,
            access_key_id: &self.key_id,
            secret: &self.secret,
            now: chrono::Utc::now(),
            nonce: &nonce,
        };
        let signed = call.sign_v3(&self.host);
        let mut request = self.http.post(format!("http://{}/?{}", self.host, signed.query)).body(signed.body);
        for (name, value) in &signed.headers {
            // reqwest derives Host from the URL; a second one would be a protocol error.
            if name != "host" {
                request = request.header(name, value);
            }
        }
        let transport = |e: reqwest::Error| CallError::Transport { endpoint: self.host.clone(), reason: root_cause(&e) };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        Ok((status, body.to_vec()))
    }

    fn parse(&self, status: u16, body: Vec<u8>) -> Result<Reply, CallError> {
        match serde_json::from_slice(&body) {
            Ok(body) => Ok(Reply { status, body }),
            Err(_) => Err(CallError::NotJson { endpoint: self.host.clone(), status, body: String::from_utf8_lossy(&body).into_owned() }),
        }
    }

    /// Sends `action`; an error envelope becomes [`CallError::Api`].
    pub async fn call<K: AsRef<str>, V: AsRef<str>>(&self, action: &str, params: &[(K, V)]) -> Result<Value, CallError> {
        self.send(action, params).await?.into_result()
    }
}

/// The parameters of a CreateDBInstance call, with the defaults the demo, benchmarks and
/// tests share (intranet, pay-as-you-go, reachable from 127.0.0.1).
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub engine: String,
    pub engine_version: String,
    pub class: String,
    pub storage_gb: u32,
    pub description: String,
}

impl NewInstance {
    /// An instance of `engine` (as the API's `Engine` names it) at `engine_version`, of
    /// `class` with `storage_gb` of storage.
    pub fn new(engine: &str, engine_version: &str, class: &str, storage_gb: u32) -> NewInstance {
        NewInstance {
            engine: engine.into(),
            engine_version: engine_version.into(),
            class: class.into(),
            storage_gb,
            description: String::new(),
        }
    }

    pub fn described(self, description: &str) -> NewInstance {
        NewInstance { description: description.into(), ..self }
    }

    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("RegionId", "cn-hangzhou".to_string()),
            ("Engine", self.engine.clone()),
            ("EngineVersion", self.engine_version.clone()),
            ("DBInstanceClass", self.class.clone()),
            ("DBInstanceStorage", self.storage_gb.to_string()),
            ("DBInstanceNetType", "Intranet".to_string()),
            ("PayType", "Postpaid".to_string()),
            ("SecurityIPList", "127.0.0.1".to_string()),
        ];
        if !self.description.is_empty() {
            p.push(("DBInstanceDescription", self.description.clone()));
        }
        p
    }
}

impl Client {
    /// CreateDBInstance; returns the new DBInstanceId (the instance is `Creating`).
    pub async fn create_instance(&self, new: &NewInstance) -> Result<String, CallError> {
        let body = self.call("CreateDBInstance", &new.params()).await?;
        Ok(body["DBInstanceId"].as_str().unwrap_or_default().to_string())
    }
}

/// The deepest error of a chain, where the actual reason is (refused, timed out, reset).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
