/* The studio's BPMN modeler page: bpmn-js Modeler with the properties panel (vendored bundle, global JichiModeler).
 *
 * Check and save send the diagram as XML to the server, which runs the same checks as `jichi check` and answers
 * with diagnostics placed on element ids; they are marked on the diagram and listed below it (text only: nothing
 * from the server or the diagram is inserted as HTML). Core processes open in the read-only viewer instead
 * (jichi-diagram.js). */
(function () {
  "use strict";

  function text(tag, content, className) {
    var node = document.createElement(tag);
    node.textContent = content;
    if (className) { node.className = className; }
    return node;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("modeler");
    if (!box || typeof JichiModeler === "undefined") { return; }
    var status = document.getElementById("m-status");
    var list = document.getElementById("m-diagnostics");
    var none = document.getElementById("m-diag-none");
    var modeler = JichiModeler.createModeler({
      container: document.getElementById("canvas"),
      propertiesPanel: { parent: document.getElementById("properties") }
    });
    var marked = [];

    function say(message) { status.textContent = message; }

    function clearMarks() {
      var canvas = modeler.get("canvas");
      var overlays = modeler.get("overlays");
      marked.forEach(function (id) {
        canvas.removeMarker(id, "jichi-error");
        canvas.removeMarker(id, "jichi-warning");
      });
      overlays.remove({ type: "jichi-diagnostic" });
      marked = [];
    }

    function select(id) {
      var element = modeler.get("elementRegistry").get(id);
      if (!element) { return; }
      modeler.get("selection").select(element);
      modeler.get("canvas").scrollToElement(element);
    }

    function show(diagnostics) {
      clearMarks();
      list.replaceChildren();
      none.textContent = diagnostics.length ? "" : "エラー・警告はありません。";
      none.hidden = diagnostics.length > 0;
      var registry = modeler.get("elementRegistry");
      var counts = {};
      diagnostics.forEach(function (d) {
        var item = document.createElement("li");
        item.className = d.severity === "error" ? "diagnostic error" : "diagnostic warning";
        item.dataset.code = d.code;
        if (d.element) { item.dataset.element = d.element; }
        item.appendChild(text("span", (d.severity === "error" ? "エラー " : "警告 ") + d.code, "code"));
        item.appendChild(text("span", " " + d.message));
        if (d.element && registry.get(d.element)) {
          var go = text("button", "図の要素「" + d.element + "」を選ぶ", "link");
          go.type = "button";
          go.addEventListener("click", function () { select(d.element); });
          item.appendChild(document.createTextNode(" "));
          item.appendChild(go);
        } else if (d.file !== box.dataset.file) {
          item.appendChild(text("span", "（" + d.file + " " + d.line + " 行）"));
        } else {
          item.appendChild(text("span", "（" + d.line + " 行 " + d.column + " 列）"));
        }
        if (d.hint) { item.appendChild(text("div", d.hint, "hint")); }
        list.appendChild(item);
        if (d.element && registry.get(d.element)) {
          var marker = d.severity === "error" ? "jichi-error" : "jichi-warning";
          modeler.get("canvas").addMarker(d.element, marker);
          marked.push(d.element);
          counts[d.element] = (counts[d.element] || 0) + 1;
          var badge = text("div", d.code, "jichi-badge " + marker);
          badge.title = d.message;
          badge.setAttribute("role", "note");
          modeler.get("overlays").add(d.element, "jichi-diagnostic", {
            position: { top: -14 - 18 * (counts[d.element] - 1), left: 0 }, html: badge
          });
        }
      });
    }

    function send(url) {
      return modeler.saveXML({ format: true }).then(function (result) {
        var body = new URLSearchParams();
        body.set("csrf_token", box.dataset.csrf);
        body.set("file", box.dataset.file);
        body.set("xml", result.xml);
        return fetch(url, { method: "POST", body: body, credentials: "same-origin",
                            headers: { "X-CSRF-Token": box.dataset.csrf } });
      }).then(function (response) {
        if (response.status === 413) {  // the server's limit on a posted form
          return { status: 413, answer: { saved: null, diagnostics: [{
            code: "BPM403", severity: "error", message: "図が大きすぎて送れません", file: box.dataset.file, line: 1,
            column: 1, hint: "呼び出しアクティビティで手続きを分けてください。" }] } };
        }
        return response.json().then(function (answer) { return { status: response.status, answer: answer }; });
      });
    }

    function run(kind) {
      say(kind === "save" ? "保存しています…" : "検査しています…");
      box.dataset.state = "busy";
      return send(kind === "save" ? box.dataset.save : box.dataset.check).then(function (r) {
        show(r.answer.diagnostics || []);
        var errors = (r.answer.diagnostics || []).filter(function (d) { return d.severity === "error"; }).length;
        if (kind === "save" && r.answer.saved) {
          say("下書き " + r.answer.saved.number + " として保存しました。");
          var drafts = document.getElementById("m-drafts");
          if (drafts) {
            drafts.prepend(text("li", "下書き " + r.answer.saved.number + "（" + r.answer.saved.at + " " +
                                r.answer.saved.by + "、" + r.answer.saved.sha256.slice(0, 12) + "）"));
          }
        } else if (kind === "save") {
          say("保存できません: エラーが " + errors + " 件あります。図の赤い要素と下の一覧を見て直してください。");
        } else {
          say(errors ? "エラーが " + errors + " 件あります。" : "エラーはありません。");
        }
        box.dataset.state = kind + (r.answer.saved ? "d" : (errors ? "-refused" : "-ok"));
      }).catch(function () {
        say("サーバーに送れませんでした。時間をおいてもう一度試してください。");
        box.dataset.state = "error";
      });
    }

    function open(xml) {
      return modeler.importXML(xml).then(function () {
        modeler.get("canvas").zoom("fit-viewport");
        box.dataset.ready = "true";
      });
    }

    fetch(box.dataset.source, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(open)
      .catch(function () {
        say("図を開けませんでした。");
        box.dataset.ready = "error";
      });

    document.getElementById("m-check").addEventListener("click", function () { run("check"); });
    document.getElementById("m-save").addEventListener("click", function () { run("save"); });
    document.getElementById("m-download").addEventListener("click", function () {
      modeler.saveXML({ format: true }).then(function (result) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(new Blob([result.xml], { type: "application/xml" }));
        link.download = box.dataset.file.split("/").pop();
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
      });
    });
    document.getElementById("m-import").addEventListener("change", function (event) {
      var file = event.target.files && event.target.files[0];
      if (!file) { return; }
      file.text().then(function (xml) {
        return modeler.importXML(xml).then(function () {
          modeler.get("canvas").zoom("fit-viewport");
          say("「" + file.name + "」を読み込みました。まだ保存していません。");
          return run("check");
        });
      }).catch(function () {
        say("「" + file.name + "」は BPMN として読み込めませんでした。");
        show([{ code: "BPM401", severity: "error", message: "BPMN として読み込めません", hint:
                "BPMN 2.0 の XML ファイルを選んでください。", file: box.dataset.file, line: 1, column: 1 }]);
      });
    });
  });
})();
