"""What other tools write into BPMN files, and how jichi treats it.

Camunda Modeler, Zeebe and bpmn.io exports carry vendor attributes and extension elements. Those with
execution semantics (listeners, Java delegates, I/O mappings, job workers) would silently do nothing here,
so they are errors; modeler metadata and diagram colours are accepted; anything else in a foreign
namespace is ignored with a warning. Expressions written in JUEL, FEEL or a scripting language get a
diagnostic of their own, because the generic DSL syntax error would not tell the author what to do.
"""

from __future__ import annotations

import re

from lxml import etree

from engine.bpmn.xml import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, JICHI_NS, XSI_NS, SourceFile
from standard_core.diagnostics import Diagnostic, error, warning

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"
ACTIVITI_NS = "http://activiti.org/bpmn"
FLOWABLE_NS = "http://flowable.org/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

VENDORS = {CAMUNDA_NS: "camunda", ZEEBE_NS: "zeebe", ACTIVITI_NS: "activiti", FLOWABLE_NS: "flowable",
           SPIFF_NS: "spiffworkflow"}

# Namespaces whose content is layout, colour or tool metadata only.
PRESENTATION_NS = frozenset({
    BPMNDI_NS, DC_NS, DI_NS, MODELER_NS, XSI_NS,
    "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
    "http://www.w3.org/XML/1998/namespace",
})

# Vendor extension elements and attributes that would run code or move data in their own engine.
EXECUTING_ELEMENTS = frozenset({
    "executionListener", "taskListener", "inputOutput", "inputParameter", "outputParameter", "in", "out",
    "connector", "field", "script", "taskDefinition", "ioMapping", "input", "output", "calledElement",
    "subscription", "loopCharacteristics", "preScript", "postScript", "serviceTaskOperator",
    "calledDecision", "messagePayload", "executionListeners", "taskListeners",
})
EXECUTING_ATTRIBUTES = frozenset({
    "class", "expression", "delegateExpression", "topic", "type", "resultVariable", "decisionRef",
    "resource", "calledElementBinding", "variableMappingClass", "variableMappingDelegateExpression",
    "collection", "elementVariable", "errorCodeVariable", "escalationCodeVariable", "initiator",
})
# Vendor attributes that jichi reads no meaning from but that are harmless: accepted silently.
HARMLESS_ATTRIBUTES = frozenset({"historyTimeToLive", "versionTag", "isStartableInTasklist"})

SCRIPT_FORMATS_OK = frozenset({"", "jichi", "dsl", "jichi-dsl", "text/x-jichi"})
_SCRIPT_LANGUAGES = ("python", "javascript", "ecmascript", "js", "groovy", "juel", "feel", "jython",
                     "ruby", "nashorn", "graal")

_JUEL = re.compile(r"[$#]\{")


def vendor_diagnostics(source: SourceFile) -> list[Diagnostic]:
    """Diagnostics for foreign attributes and extension elements anywhere in the document."""
    found: list[Diagnostic] = []
    for element in source.root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        for attribute in element.attrib:
            found.extend(_attribute(source, element, etree.QName(attribute)))
        namespace = qname.namespace or ""
        if namespace in (BPMN_NS, JICHI_NS) or namespace in PRESENTATION_NS:
            continue
        parent = element.getparent()
        if parent is not None and etree.QName(parent).namespace not in (BPMN_NS, JICHI_NS):
            continue  # reported at the outermost foreign element only
        vendor = VENDORS.get(namespace, namespace)
        label = f"{element.prefix or vendor}:{qname.localname}"
        if element.prefix == "jichi":
            found.append(_wrong_jichi_namespace(source, element, label, namespace))
        elif qname.localname in EXECUTING_ELEMENTS or namespace == SPIFF_NS:
            found.append(error(
                "BPM412", f"拡張要素 <{label}> は jichi では実行されません", source.span(element),
                "リスナー・入出力マッピング・外部ジョブは使えません。処理はスクリプトタスク（jichi DSL）で、"
                "データは jichi:data / jichi:field で宣言してください。"))
        else:
            found.append(warning(
                "BPM413", f"拡張要素 <{label}> は無視されます", source.span(element),
                "jichi はこの要素を読みません。意図した動作がある場合は jichi の機能で書き直してください。"))
    return found


def _wrong_jichi_namespace(source: SourceFile, element: etree._Element, label: str, namespace: str) -> Diagnostic:
    return error("BPM412", f"{label} の接頭辞 jichi の名前空間「{namespace}」は jichi のものではありません",
                 source.span(element),
                 f'bpmn:definitions に xmlns:jichi="{JICHI_NS}" と書いてください（docs/packs.md「手続き」）。')


def _attribute(source: SourceFile, element: etree._Element, name: etree.QName) -> list[Diagnostic]:
    namespace = name.namespace
    if namespace is None or namespace in PRESENTATION_NS or namespace in (BPMN_NS, JICHI_NS):
        return []
    if {uri: prefix for prefix, uri in element.nsmap.items()}.get(namespace) == "jichi":
        return [_wrong_jichi_namespace(source, element, f"jichi:{name.localname}", namespace)]
    vendor = VENDORS.get(namespace, namespace)
    label = f"{vendor}:{name.localname}"
    if name.localname in HARMLESS_ATTRIBUTES:
        return []
    if name.localname in EXECUTING_ATTRIBUTES or namespace == SPIFF_NS:
        return [error("BPM412", f"属性 {label} は jichi では実行されません", source.span(element),
                      "Java クラス・式・外部タスクの呼び出しは使えません。属性を削除し、処理は"
                      "スクリプトタスク（jichi DSL）で書いてください。")]
    return [warning("BPM413", f"属性 {label} は無視されます", source.span(element),
                    "担当者やフォームの割り当ては jichi のレーン・jichi:field で指定してください。")]


def script_format_diagnostic(source: SourceFile, element: etree._Element) -> Diagnostic | None:
    """An error when a script task declares a language other than the jichi DSL."""
    script_format = (element.get("scriptFormat") or "").strip()
    if script_format.lower() in SCRIPT_FORMATS_OK:
        return None
    return error("BPM414", f"スクリプト言語「{script_format}」は使えません（実行されません）", source.span(element),
                 "jichi のスクリプトは DSL だけです。scriptFormat 属性を削除し、`名前 := 式` の形で"
                 "書き直してください。")


def expression_dialect(source: SourceFile, element: etree._Element, text: str) -> Diagnostic | None:
    """A specific diagnostic for JUEL (`${…}`), FEEL (`=…`, language=feel) or script-language expressions."""
    language = (element.get("language") or "").strip().lower()
    span = source.span(element)
    stripped = text.strip()
    if "feel" in language or (stripped.startswith("=") and not stripped.startswith("==")):
        return error("BPM416", "FEEL 式（Camunda 8 / Zeebe）は使えません", span,
                     "先頭の = を外し、jichi DSL で書き直してください（例: `児童数 >= 2 かつ 所得 < 6,000,000円`）。")
    if language and any(name in language for name in _SCRIPT_LANGUAGES):
        return error("BPM414", f"式の言語「{language}」は使えません（実行されません）", span,
                     "language 属性を削除し、jichi DSL で書き直してください。")
    if _JUEL.search(text):
        return error("BPM415", "JUEL 式（${…}）は使えません", span,
                     "${ と } を外し、jichi DSL で書き直してください（例: `${amount > 1000}` → `金額 > 1,000円`）。")
    return None
