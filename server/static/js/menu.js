// The header on small screens and the little things every page shares (templates/base.html):
// - the "Meny" button opens and closes the navigation (without this script the navigation
//   stays open under the brand, and the button stays hidden);
// - a dropdown (<details class="menu-group">) closes on Escape or a click elsewhere;
// - filter forms (form[data-auto-submit]) apply a changed choice at once; their button is
//   hidden, and after the new page loads the focus is back on the field that changed.
// Loaded without defer in <head>, so that the page is first drawn with the menu closed.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");
  var FOCUS_KEY = "ktl-filter-focus";

  function setOpen(toggle, menu, open) {
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("open", open);
  }

  function menuButton() {
    var toggle = document.querySelector(".menu-toggle");
    var menu = document.getElementById("site-menu");
    if (!toggle || !menu) return;
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      setOpen(toggle, menu, toggle.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || toggle.getAttribute("aria-expanded") !== "true") return;
      if (!menu.contains(document.activeElement)) return;
      setOpen(toggle, menu, false);
      toggle.focus();
    });
  }

  function dropdowns() {
    var groups = document.querySelectorAll("details.menu-group");
    document.addEventListener("click", function (event) {
      groups.forEach(function (group) {
        if (group.open && !group.contains(event.target)) group.open = false;
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      groups.forEach(function (group) {
        if (!group.open || !group.contains(document.activeElement)) return;
        group.open = false;
        group.querySelector("summary").focus();
      });
    });
  }

  function filters() {
    document.querySelectorAll("form[data-auto-submit]").forEach(function (form) {
      form.querySelectorAll("[data-auto-submit-button]").forEach(function (button) {
        button.hidden = true;
      });
      form.addEventListener("change", function (event) {
        if (event.target.tagName !== "SELECT") return;
        try { window.sessionStorage.setItem(FOCUS_KEY, event.target.name); } catch (e) { /* private mode */ }
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      });
    });
    var name = null;
    try {
      name = window.sessionStorage.getItem(FOCUS_KEY);
      window.sessionStorage.removeItem(FOCUS_KEY);
    } catch (e) { /* private mode */ }
    var field = name && document.querySelector('form[data-auto-submit] [name="' + name + '"]');
    if (field) field.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    menuButton();
    dropdowns();
    filters();
  });
})();
