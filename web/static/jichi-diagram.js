/* The case's BPMN diagram (bpmn-js NavigatedViewer, vendored; its bpmn.io watermark is kept as its licence asks),
 * with the current position and the completed steps marked. The page lists the current position in text too. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("diagram");
    if (!box || typeof BpmnJS === "undefined") { return; }
    var viewer = new BpmnJS({ container: box });
    fetch(box.dataset.url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        canvas.zoom("fit-viewport");
        var registry = viewer.get("elementRegistry");
        function mark(ids, marker) {
          (ids || "").split(" ").filter(Boolean).forEach(function (id) {
            if (registry.get(id)) { canvas.addMarker(id, marker); }
          });
        }
        mark(box.dataset.completed, "jichi-done");
        mark(box.dataset.current, "jichi-current");
        box.dataset.ready = "true";
      })
      .catch(function () {
        box.textContent = "図を表示できませんでした。";
        box.dataset.ready = "error";
      });
  });
})();
