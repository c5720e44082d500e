"""The OpenAPI 3.1 document of the JSON API (web/api.py), served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from web import jichi_version


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {status: {"description": text, **_json(_ref("Error"))} for status, text in (
    ("401", "ログインしていない（トークンがない・無効）"),
    ("403", "その職・役割では行えない"),
    ("404", "ない（別の団体のものも同じ）"),
    ("409", "競合（すでに処理された、同じ Idempotency-Key を処理中）"),
    ("410", "保存年限を過ぎて消去された"),
    ("422", "入力が受け付けられない（診断つき）"),
)}


def _operation(summary: str, ok: dict[str, Any], *, body: dict[str, Any] | None = None,
               parameters: list[dict[str, Any]] | None = None, codes: tuple[str, ...] = ("401", "404", "422"),
               operation_id: str) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "operationId": operation_id, "responses": {**ok, **{
        c: ERRORS[c] for c in codes}}}
    if body is not None:
        op["requestBody"] = {"required": True, **_json(body)}
    if parameters:
        op["parameters"] = parameters
    return op


def _path_id(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": text,
            "schema": {"type": "string", "maxLength": 100}}


def _idempotency_key(description: str) -> dict[str, Any]:
    return {"name": "Idempotency-Key", "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "pattern": "^[!-~]{1,200}$"}}


def document() -> dict[str, Any]:
    diagnostic = {"type": "object", "required": ["code", "message", "hint", "where"], "properties": {
        "code": {"type": "string", "examples": ["ENG516"]}, "message": {"type": "string"},
        "hint": {"type": "string"},
        "where": {"type": ["object", "null"], "properties": {
            "file": {"type": "string"}, "line": {"type": "integer"}, "column": {"type": "integer"}}}}}
    task = {"type": "object", "required": ["id", "case_id", "municipality", "name", "state"], "properties": {
        "id": {"type": "string"}, "case_id": {"type": "string"}, "municipality": {"type": "string"},
        "kind": {"type": "string"}, "bpmn_id": {"type": "string"}, "name": {"type": "string"},
        "lane": {"type": ["string", "null"]}, "assignee": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["ready", "waiting", "completed", "cancelled"]},
        "due_at": {"type": ["string", "null"]}, "created_at": {"type": ["string", "null"]},
        "completed_at": {"type": ["string", "null"]}, "completed_by": {"type": ["string", "null"]},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "position": {"type": ["string", "null"]}, "on_behalf_of": {"type": ["string", "null"]}}}
    case = {"type": "object", "required": ["id", "municipality", "process_id", "status", "data", "tasks"],
            "properties": {
                "id": {"type": "string"}, "municipality": {"type": "string"}, "process_id": {"type": "string"},
                "process_name": {"type": "string"}, "status": {"type": "string"}, "version": {"type": "integer"},
                "spec_hash": {"type": "string"}, "started_by": {"type": "string"},
                "started_at": {"type": ["string", "null"]}, "completed_at": {"type": ["string", "null"]},
                "data": {"type": "object"}, "tasks": {"type": "array", "items": _ref("Task")},
                "history": {"type": "array", "items": _ref("Task")},
                "rules": {"type": ["string", "null"]}, "unit": {"type": ["string", "null"]}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "jichi（自治）API", "version": jichi_version(),
                 "description": "案件の開始と参照、タスクの一覧・引受け・完了、規則の判定と説明。利用者が役割を持つ団体のものだけが"
                                "見えます（別の団体のものは 404）。エラーはすべて Error の形です。"},
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "jichi user token で作ったトークン"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-jichi_session",
                            "description": "画面のログイン。GET 以外は X-CSRF-Token ヘッダーが必要"}},
            "schemas": {
                "Diagnostic": diagnostic,
                "Error": {"type": "object", "required": ["error"], "properties": {
                    "error": {"type": "object", "required": ["status", "code", "message", "hint", "where"],
                              "properties": {"status": {"type": "integer"}, **diagnostic["properties"],
                                             "request_id": {"type": ["string", "null"], "description":
                                                            "問い合わせ番号（5xx のとき。X-Request-Id と同じ。アプリのログの行の先頭）"}}},
                    "diagnostics": {"type": "array", "items": _ref("Diagnostic")}}},
                "Task": task,
                "Case": case,
                "BatchResult": {"type": "object", "required": ["completed", "refused", "results"], "properties": {
                    "completed": {"type": "integer"}, "refused": {"type": "integer"},
                    "results": {"type": "array", "items": {
                        "type": "object", "required": ["id", "status"], "properties": {
                            "id": {"type": "string"}, "status": {"type": "integer"}, "case": _ref("Case"),
                            "error": {"type": "object"}, "diagnostics": {"type": "array", "items": _ref("Diagnostic")}}}}}},
                "Evaluation": {"type": "object", "required": ["value", "type", "trace", "diagnostics"], "properties": {
                    "value": {}, "type": {"type": ["string", "null"]}, "trace": {"type": ["object", "null"]},
                    "diagnostics": {"type": "array", "items": _ref("Diagnostic")}}},
            },
        },
        "paths": {
            "/api/cases": {"post": _operation(
                "案件を開始する", {"201": {"description": "開始した案件", **_json(_ref("Case"))}},
                operation_id="startCase", codes=("401", "403", "404", "409", "422"),
                parameters=[_idempotency_key("再送しても案件は一度だけ開始する（同じ鍵の再送には保存した答えを返す）")],
                body={"type": "object", "required": ["process_id", "municipality"], "properties": {
                    "process_id": {"type": "string"}, "municipality": {"type": "string", "pattern": "^[0-9]{6}$"},
                    "data": {"type": "object"}, "unit": {"type": "string"}}})},
            "/api/cases/{case_id}": {"get": _operation(
                "案件を読む（データ、処理待ちのタスク、履歴）", {"200": {"description": "案件", **_json(_ref("Case"))}},
                operation_id="readCase", parameters=[_path_id("case_id", "案件 ID")], codes=("401", "404", "410"))},
            "/api/tasks": {"get": _operation(
                "タスクの一覧（期限順）", {"200": {"description": "タスク", **_json({
                    "type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array",
                                                                                     "items": _ref("Task")}}})}},
                operation_id="listTasks", codes=("401", "422"), parameters=[
                    {"name": "municipality", "in": "query", "schema": {"type": "string"}},
                    {"name": "case_id", "in": "query", "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "schema": {"type": "string", "enum": [
                        "ready", "waiting", "completed", "cancelled"]}},
                    {"name": "lane", "in": "query", "schema": {"type": "string"}},
                    {"name": "assignee", "in": "query", "schema": {"type": "string"},
                     "description": "引き受けた人で絞り込む"},
                    {"name": "mine", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]},
                     "description": "自分の受付箱: 引き受けたタスクと、今日自分が在職・代理・代決する職に宛てたタスク"}])},
            "/api/tasks/{task_id}/claim": {"post": _operation(
                "タスクを引き受ける（担当者のほかは完了できなくなる）", {"200": {"description": "タスク",
                                                                 **_json(_ref("Task"))}},
                operation_id="claimTask", codes=("401", "403", "404", "409"),
                parameters=[_path_id("task_id", "タスク ID")])},
            "/api/tasks/{task_id}/release": {"post": _operation(
                "引き受けたタスクを共有の受付箱に戻す", {"200": {"description": "タスク", **_json(_ref("Task"))}},
                operation_id="releaseTask", codes=("401", "403", "404", "409"),
                parameters=[_path_id("task_id", "タスク ID")])},
            "/api/tasks/{task_id}/complete": {"post": _operation(
                "タスクを入力データで完了する", {"200": {"description": "進んだ案件", **_json(_ref("Case"))}},
                operation_id="completeTask", codes=("401", "403", "404", "409", "422"),
                parameters=[_path_id("task_id", "タスク ID"),
                            _idempotency_key("再送しても一度だけ完了する（同じ鍵の再送には保存した答えを返す）")],
                body={"type": "object", "properties": {"data": {"type": "object"}}})},
            "/api/tasks/complete": {"post": _operation(
                "一括処理: 複数のタスクを完了する（1件ずつの手順を1回のコミットで。最大 100 件）",
                {"200": {"description": "1件ずつの結果（送った順）", **_json(_ref("BatchResult"))}},
                operation_id="completeTasks", codes=("401", "409", "422"),
                parameters=[_idempotency_key("再送しても一度だけ処理する（同じ鍵の再送には保存した答えを返す）")],
                body={"type": "object", "required": ["tasks"], "properties": {"tasks": {
                    "type": "array", "minItems": 1, "maxItems": 100, "items": {
                        "type": "object", "required": ["id"], "properties": {
                            "id": {"type": "string", "minLength": 1, "maxLength": 100},
                            "data": {"type": "object"}}}}}})},
            "/api/decisions/evaluate": {"post": _operation(
                "規則の決定を評価し、根拠の説明を返す", {"200": {"description": "値と説明", **_json(_ref("Evaluation"))}},
                operation_id="evaluateDecision",
                body={"type": "object", "required": ["municipality", "procedure"], "properties": {
                    "municipality": {"type": "string"}, "procedure": {"type": "string"},
                    "input": {"type": "object"}, "on": {"type": "string"}}})},
        },
    }
