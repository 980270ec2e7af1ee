// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function rulesMet(value, list) {
    var special = list.getAttribute("data-special") || "";
    var min = parseInt(list.getAttribute("data-min"), 10);
    var max = parseInt(list.getAttribute("data-max"), 10);
    var chars = Array.from(value);
    return {
      length: chars.length >= min && chars.length <= max,
      letter: /\p{L}/u.test(value),
      lower: /\p{Ll}/u.test(value),
      upper: /\p{Lu}/u.test(value),
      digit: /[0-9]/.test(value),
      special: chars.some(function (c) { return special.indexOf(c) !== -1; })
    };
  }

  function watchRules(list) {
    var input = document.getElementById(list.getAttribute("data-password-rules"));
    if (!input) { return; }
    var update = function () {
      var met = rulesMet(input.value, list);
      list.querySelectorAll("li[data-rule]").forEach(function (item) {
        item.classList.toggle("portal-rule--met", Boolean(met[item.getAttribute("data-rule")]));
      });
    };
    input.addEventListener("input", update);
    update();
  }

  function showPassword(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = button.getAttribute("aria-pressed") !== "true";
      button.getAttribute("data-controls").split(" ").forEach(function (id) {
        var field = document.getElementById(id);
        if (field) { field.type = show ? "text" : "password"; }
      });
      button.setAttribute("aria-pressed", show ? "true" : "false");
      button.textContent = button.getAttribute(show ? "data-hide-text" : "data-show-text");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-password-rules]").forEach(watchRules);
    document.querySelectorAll(".portal-show-password").forEach(showPassword);
    // a decision sent twice is refused by linking anyway (409); this spares the wait
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-sent") === "true") { event.preventDefault(); return; }
        form.setAttribute("data-sent", "true");
      });
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
}());
