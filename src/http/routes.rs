//! The endpoints, with pymanager's paths, shapes and messages.

use std::sync::Arc;

use serde_json::{Value, json};
use tide::{Request, Response, StatusCode};

use super::reply::{error, json_response};
use crate::supervisor::{Manager, ManagerStatus, ProcessState, RestartError, RunState};

#[derive(Clone)]
pub struct Api {
    pub manager: Arc<Manager>,
}

pub fn add(app: &mut tide::Server<Api>) {
    app.at("/").get(list).delete(shut_down);
    app.at("/status").get(status);
    app.at("/restart/:id").post(restart);
    app.at("/env").get(env);
}

/// What the tests need to reach the environment: its ports.
async fn env(req: Request<Api>) -> tide::Result {
    let ports: serde_json::Map<String, Value> = req
        .state()
        .manager
        .ports()
        .into_iter()
        .map(|(name, port)| (name, port.into()))
        .collect();
    Ok(json_response(StatusCode::Ok, json!({"ports": ports})))
}

/// pymanager's answer to anything but `GET /status` once shutdown has begun.
fn in_shutdown(api: &Api) -> Option<Response> {
    matches!(
        api.manager.status(),
        ManagerStatus::Shutdown | ManagerStatus::ForceShutdown
    )
    .then(|| error(StatusCode::Forbidden, "Process is in shutdown."))
}

async fn list(req: Request<Api>) -> tide::Result {
    if let Some(refused) = in_shutdown(req.state()) {
        return Ok(refused);
    }
    let processes: Vec<Value> = req
        .state()
        .manager
        .processes()
        .iter()
        .map(process)
        .collect();
    Ok(json_response(
        StatusCode::Ok,
        json!({"count": processes.len(), "processes": processes}),
    ))
}

async fn status(req: Request<Api>) -> tide::Result {
    let status = req.state().manager.status();
    Ok(json_response(
        StatusCode::Ok,
        json!({"status": status.to_string()}),
    ))
}

async fn restart(req: Request<Api>) -> tide::Result {
    let api = req.state();
    if let Some(refused) = in_shutdown(api) {
        return Ok(refused);
    }
    let raw = req.param("id").unwrap_or_default();
    let given = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    // Ids win over names: a process named "2" is reached by its id or not at all.
    let id = match given.parse::<usize>() {
        Ok(id) => id,
        Err(_) => match api.manager.find(&given) {
            Some(id) => id,
            None => {
                return Ok(error(
                    StatusCode::BadRequest,
                    &format!("Invalid ID '{given}'."),
                ));
            }
        },
    };
    match api.manager.restart(id).await {
        Ok(state) => Ok(json_response(
            StatusCode::Ok,
            json!({"success": true, "process": process(&state)}),
        )),
        Err(e) => {
            let (status, output) = match &e {
                RestartError::NotFound(_) => (StatusCode::NotFound, None),
                RestartError::Launching => (StatusCode::Conflict, None),
                RestartError::ShuttingDown => (StatusCode::Forbidden, None),
                RestartError::Failed { output, .. } => {
                    (StatusCode::InternalServerError, Some(output))
                }
            };
            let mut body = json!({"success": false, "error": {"message": e.to_string()}});
            // The process's own last words usually say why.
            if let Some(output) = output {
                body["output"] = json!(output);
            }
            Ok(json_response(status, body))
        }
    }
}

async fn shut_down(req: Request<Api>) -> tide::Result {
    if !req.state().manager.shutdown() {
        return Ok(error(StatusCode::Forbidden, "Process is in shutdown."));
    }
    Ok(json_response(StatusCode::Ok, json!({"success": true})))
}

/// One process in pymanager's shape, plus `name`: `pid` only while running, `code` only
/// once terminated.
fn process(state: &ProcessState) -> Value {
    let mut value = json!({
        "id": state.id,
        "name": state.name,
        "command": state.command,
        "status": state.run.to_string(),
    });
    match state.run {
        RunState::Running { pid } => value["pid"] = pid.into(),
        RunState::Terminated { code } => value["code"] = code.into(),
        RunState::NotStarted => {}
    }
    value
}
