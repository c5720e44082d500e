"""Which BPMN 2.0 elements jichi runs, and the Japanese names of those it does not.

The supported set is what SpiffWorkflow 3.2 executes *and* what this project binds today: plain tasks, user
and manual tasks, DSL script tasks, business rule tasks that call a decision of the rule files, the three deterministic gateways, call activities, embedded
sub-processes, none/terminate/timer events (a bare intermediate throw event is a milestone marker). Everything else is refused at load time with its Japanese name,
rather than parsed by SpiffWorkflow and failing (or silently doing nothing) when a token reaches it.
"""

from __future__ import annotations

# Flow nodes we run. Values: Japanese names used in messages.
FLOW_NODES: dict[str, str] = {
    "startEvent": "開始イベント",
    "endEvent": "終了イベント",
    "task": "タスク",
    "userTask": "ユーザータスク",
    "manualTask": "手作業タスク",
    "scriptTask": "スクリプトタスク",
    "businessRuleTask": "ビジネスルールタスク",
    "exclusiveGateway": "排他ゲートウェイ",
    "parallelGateway": "並列ゲートウェイ",
    "inclusiveGateway": "包含ゲートウェイ",
    "callActivity": "呼び出しアクティビティ",
    "subProcess": "サブプロセス",
    "boundaryEvent": "境界イベント",
    "intermediateCatchEvent": "中間捕捉イベント",
    "intermediateThrowEvent": "中間イベント",
}

# Elements that carry no behaviour, or whose behaviour is checked elsewhere (flows, lanes, data, notes).
STRUCTURE: frozenset[str] = frozenset({
    "definitions", "process", "sequenceFlow", "conditionExpression", "documentation", "extensionElements",
    "laneSet", "lane", "flowNodeRef", "childLaneSet", "collaboration", "participant", "textAnnotation",
    "text", "association", "group", "category", "categoryValue", "incoming", "outgoing", "script",
    "timerEventDefinition", "terminateEventDefinition", "timeDate", "timeDuration", "timeCycle",
    "dataObject", "dataObjectReference", "dataStoreReference", "itemDefinition",
    "dataInputAssociation", "dataOutputAssociation", "sourceRef", "targetRef", "assignment", "from", "to",
    "ioSpecification", "dataInput", "dataOutput", "inputSet", "outputSet", "dataInputRefs",
    "dataOutputRefs", "property", "dataState", "import",
    # parallel multi-instance user tasks (合議): checked in expressions.py
    "multiInstanceLoopCharacteristics", "loopDataInputRef", "inputDataItem", "completionCondition",
})

# Unsupported elements, named the way a Japanese BPMN textbook names them.
UNSUPPORTED: dict[str, str] = {
    "sendTask": "送信タスク",
    "receiveTask": "受信タスク",
    "serviceTask": "サービスタスク",
    "dataStore": "データストア",
    "eventBasedGateway": "イベントベースゲートウェイ",
    "complexGateway": "複合ゲートウェイ",
    "transaction": "トランザクション",
    "adHocSubProcess": "アドホックサブプロセス",
    "standardLoopCharacteristics": "ループ",
    "message": "メッセージ定義",
    "messageFlow": "メッセージフロー",
    "signal": "シグナル定義",
    "escalation": "エスカレーション定義",
    "error": "エラー定義",
    "correlationProperty": "相関プロパティ",
    "correlationKey": "相関キー",
    "conversation": "会話",
    "choreography": "コレオグラフィ",
    "globalTask": "グローバルタスク",
    "interface": "インターフェース",
    "operation": "操作",
    "callChoreography": "コレオグラフィ呼び出し",
    "subChoreography": "サブコレオグラフィ",
    "choreographyTask": "コレオグラフィタスク",
    "resource": "リソース",
    "humanPerformer": "担当者指定",
    "potentialOwner": "担当候補指定",
    "performer": "担当者指定",
}

EVENT_DEFINITIONS: dict[str, str] = {
    "messageEventDefinition": "メッセージ",
    "signalEventDefinition": "シグナル",
    "escalationEventDefinition": "エスカレーション",
    "compensateEventDefinition": "補償",
    "conditionalEventDefinition": "条件",
    "errorEventDefinition": "エラー",
    "cancelEventDefinition": "キャンセル",
    "linkEventDefinition": "リンク",
    "timerEventDefinition": "タイマー",
    "terminateEventDefinition": "終了（強制）",
}

EVENT_KINDS: dict[str, str] = {
    "startEvent": "開始イベント",
    "endEvent": "終了イベント",
    "boundaryEvent": "境界イベント",
    "intermediateCatchEvent": "中間イベント",
    "intermediateThrowEvent": "中間イベント",
}

# Event definitions allowed per event kind; a bare event (no definition) is allowed for start and end.
ALLOWED_EVENT_DEFINITIONS: dict[str, frozenset[str]] = {
    "startEvent": frozenset({"timerEventDefinition"}),
    "endEvent": frozenset({"terminateEventDefinition"}),
    "boundaryEvent": frozenset({"timerEventDefinition"}),
    "intermediateCatchEvent": frozenset({"timerEventDefinition"}),
    "intermediateThrowEvent": frozenset(),
}

GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway"})
CONDITIONAL_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
CONTAINERS = frozenset({"process", "subProcess"})


def japanese_name(local: str) -> str:
    """A Japanese name for any BPMN element name (falls back to the element name itself)."""
    return FLOW_NODES.get(local) or UNSUPPORTED.get(local) or EVENT_KINDS.get(local) or f"<{local}>"
