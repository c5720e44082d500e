/* jichi: small behaviours on top of htmx. No inline script (the CSP forbids it), no eval.
 *
 * - After a page load or an htmx swap, the focus goes to the first invalid input (or the error summary), so a
 *   keyboard or screen-reader user lands on what needs fixing; the summary is a role="alert" region.
 * - Drafts: a task form's inputs are kept in this tab's sessionStorage while typing, so an expired session
 *   (sign in again, come back) does not lose them; restricted inputs (個人番号) are never kept; the draft is
 *   dropped when the task is completed.
 * - An answer htmx does not swap (403 after a session expired, 5xx) is announced in the status region.
 */
(function () {
  "use strict";

  function focusFirstProblem(root) {
    var invalid = root.querySelector('[aria-invalid="true"]');
    var summary = root.querySelector("#problems, .problems");
    var target = invalid || summary;
    if (target) { target.focus(); }
  }

  function draftKey(form) { return "jichi-draft:" + form.getAttribute("data-draft"); }

  function saveDraft(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrf_token" || el.type === "submit" || el.dataset.restricted === "true") { return; }
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
      values[el.name] = el.value;
    });
    try { sessionStorage.setItem(draftKey(form), JSON.stringify(values)); } catch (e) { /* storage full or off */ }
  }

  function restoreDraft(form) {
    var raw = null;
    try { raw = sessionStorage.getItem(draftKey(form)); } catch (e) { return; }
    if (!raw) { return; }
    var values = JSON.parse(raw), restored = 0;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || !(el.name in values) || el.dataset.restricted === "true") { return; }
      if (el.type === "radio" || el.type === "checkbox") {
        el.checked = el.value === values[el.name];
      } else if (el.value === "" && values[el.name] !== "") {
        el.value = values[el.name];
        restored += 1;
      }
    });
    var note = document.getElementById("draft-note");
    if (restored && note) { note.hidden = false; note.textContent = "前回の入力（下書き）を戻しました。内容を確かめてください。"; }
  }

  function setUp(root) {
    Array.prototype.forEach.call(root.querySelectorAll("form[data-draft]"), function (form) {
      if (form.dataset.draftReady) { return; }
      form.dataset.draftReady = "1";
      restoreDraft(form);
      form.addEventListener("input", function () { saveDraft(form); });
      form.addEventListener("change", function () { saveDraft(form); });
    });
    focusFirstProblem(root);
  }

  function announce(text) {
    var status = document.getElementById("status");
    if (status) { status.textContent = text; }
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSwap", function (event) { setUp(event.detail.target.parentNode || document); });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest("form[data-draft]");
    if (form) { saveDraft(form); }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var redirect = event.detail.xhr.getResponseHeader("HX-Redirect");
    var form = event.detail.elt.closest && event.detail.elt.closest("form[data-draft]");
    if (redirect && form && event.detail.xhr.status < 300) {
      try { sessionStorage.removeItem(draftKey(form)); } catch (e) { /* ignore */ }
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 401 || status === 403) {
      announce("ログインの有効期限が切れたか、この操作はできません。入力は下書きとして残っています。ログインし直してから、もう一度開いてください。");
    } else {
      announce("処理できませんでした（" + status + "）。しばらくしてからもう一度お試しください。");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    announce("サーバーにつながりません。入力は下書きとして残っています。");
  });
})();
