//! Which workspace and which state a Terraform module's commands use, by
//! Terraform's own rules and as `init` recorded the backend: what the plan,
//! the prompt and the report name before a destroy. Reads files only.

use std::path::PathBuf;

use serde_json::Value;

use super::Terraform;

impl Terraform {
    /// Terraform's data directory: `TF_DATA_DIR` (relative to `dir`), else `.terraform`.
    fn data_dir(&self) -> PathBuf {
        let data_dir = std::env::var_os("TF_DATA_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".terraform"));
        self.dir.join(data_dir)
    }

    /// The backend `init` recorded in the data directory: its type and settings.
    fn backend(&self) -> (String, Value) {
        let recorded = std::fs::read_to_string(self.data_dir().join("terraform.tfstate"))
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok());
        let backend = recorded.map(|v| v["backend"].clone()).unwrap_or(Value::Null);
        let kind = backend["type"].as_str().unwrap_or("local").to_owned();
        (kind, backend["config"].clone())
    }

    /// The backend type `init` recorded (`local` when the module declares none).
    pub fn backend_type(&self) -> String {
        self.backend().0
    }

    /// The workspace Terraform runs in, by Terraform's own rule: `terraform.workspace`
    /// (passed as `TF_WORKSPACE`), else `TF_WORKSPACE`, else the one selected in the
    /// module (`terraform workspace select`, recorded in the data directory), else `default`.
    pub fn workspace_name(&self) -> String {
        if let Some(ws) = &self.workspace {
            return ws.clone();
        }
        if let Some(ws) = std::env::var("TF_WORKSPACE").ok().filter(|w| !w.is_empty()) {
            return ws;
        }
        std::fs::read_to_string(self.data_dir().join("environment"))
            .map(|w| w.trim().to_owned())
            .ok()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "default".to_owned())
    }

    /// What `terraform destroy` destroys, as the plan, the prompt and the
    /// report name it: the module, the workspace and where its state lives
    /// (`s3://bucket/key`, or the local file), as `init` recorded the backend.
    pub fn target(&self) -> String {
        let workspace = self.workspace_name();
        let (kind, config) = self.backend();
        let setting = |name: &str| config[name].as_str().filter(|v| !v.is_empty()).map(str::to_owned);
        let state = match kind.as_str() {
            "s3" => {
                let (bucket, key) = (
                    setting("bucket").unwrap_or_default(),
                    setting("key").unwrap_or_default(),
                );
                match workspace.as_str() {
                    "default" => format!("s3://{bucket}/{key}"),
                    ws => {
                        let prefix = setting("workspace_key_prefix").unwrap_or_else(|| "env:".to_owned());
                        format!("s3://{bucket}/{prefix}/{ws}/{key}")
                    }
                }
            }
            "local" => {
                let path = match workspace.as_str() {
                    "default" => setting("path").unwrap_or_else(|| "terraform.tfstate".to_owned()),
                    ws => {
                        let dir = setting("workspace_dir").unwrap_or_else(|| "terraform.tfstate.d".to_owned());
                        format!("{dir}/{ws}/terraform.tfstate")
                    }
                };
                format!("the local file {}", self.dir.join(path).display())
            }
            other => format!("the {other} backend"),
        };
        format!("{}, workspace {workspace}, state in {state}", self.dir.display())
    }
}
