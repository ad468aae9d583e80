// The console's texts: one JSON catalogue per language under i18n/, the same keys in each.
// Elements name their text with data-i18n (text) or data-i18n-label (aria-label).
"use strict";
(function () {
  const LANGUAGES = ["en", "ru"];
  let catalogue = {};
  let fallback = {};
  let language = "en";

  async function fetchCatalogue(lang) {
    const r = await fetch(`/console/static/i18n/${lang}.json`, { credentials: "same-origin" });
    if (!r.ok) throw new Error(`catalogue ${lang}: ${r.status}`);
    return r.json();
  }

  async function load(lang) {
    if (!LANGUAGES.includes(lang)) lang = "en";
    if (Object.keys(fallback).length === 0) fallback = await fetchCatalogue("en");
    catalogue = lang === "en" ? fallback : await fetchCatalogue(lang);
    language = lang;
    document.documentElement.lang = lang;
    apply(document);
  }

  function t(key, vars) {
    let text = catalogue[key] ?? fallback[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  function apply(root) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-label]")) {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    }
  }

  window.I18n = { LANGUAGES, load, t, apply, get language() { return language; } };
})();
