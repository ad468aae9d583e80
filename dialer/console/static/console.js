// The console page: sign-in, and the agent's screen fed by server-sent events.
// Changes go to the ordinary /api/v1 routes with the session cookie and the session's CSRF
// token in a header; nothing polls: the screen redraws when the event stream says the agent
// changed, and a one-second timer only ticks the clocks.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => window.I18n.t(key, vars);
  const PAUSE_REASONS = ["break", "lunch", "training", "meeting"];
  const TEXT_INPUTS = new Set(["INPUT", "TEXTAREA", "SELECT"]);

  let session = null; // {name, role, agent_id, csrf_token, csrf_header, language}
  let events = null; // the EventSource of the agent's screen
  let screen = null; // the last state from the stream
  let call = null; // the call card on screen (GET /agents/{id}/call)
  let chosen = null; // the disposition code chosen
  let shownCall = null; // the call id the card was drawn for

  // -- talking to the daemon ------------------------------------------------------------

  class Refused extends Error {
    constructor(status, detail, retryAfter) {
      super(detail);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  function detailText(body) {
    const d = body && body.detail;
    if (Array.isArray(d)) return d.map((e) => e.msg).join("; ");
    return d ? String(d) : "";
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (session && method !== "GET") headers[session.csrf_header] = session.csrf_token;
    const r = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.status === 204) return null;
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      if (r.status === 401 && session) signedOut(t("signin.ended"));
      throw new Refused(r.status, detailText(data) || r.statusText, r.headers.get("Retry-After"));
    }
    return data;
  }

  // -- views ----------------------------------------------------------------------------

  function show(view) {
    for (const id of ["loading", "signin-view", "staff-view", "agent-view"]) {
      $(id).hidden = id !== view;
    }
  }

  function showSignin(message) {
    show("signin-view");
    $("who").textContent = "";
    $("signout").hidden = true;
    $("signin-error").textContent = message || "";
    $("signin-password").value = "";
    $("signin-name").focus();
  }

  function signedOut(message) {
    session = null;
    stopEvents();
    showSignin(message);
  }

  async function signedIn(s) {
    session = s;
    $("who").textContent = t("app.signed_in_as", { name: s.name, role: t(`role.${s.role}`) });
    $("signout").hidden = false;
    if (s.role === "agent" && s.agent_id !== null) {
      show("agent-view");
      screen = null;
      call = null;
      shownCall = null;
      drawState();
      startEvents();
      $("btn-ready").focus();
    } else {
      show("staff-view");
    }
  }

  // -- sign-in --------------------------------------------------------------------------

  async function onSignin(ev) {
    ev.preventDefault();
    const name = $("signin-name").value.trim();
    const password = $("signin-password").value;
    $("signin-error").textContent = "";
    $("signin-submit").disabled = true;
    try {
      const s = await api("POST", "/console/signin", { name, password });
      $("signin-password").value = "";
      await signedIn(s);
    } catch (e) {
      let message;
      if (e.status === 401) message = t("signin.wrong");
      else if (e.status === 403) message = t("signin.disabled");
      else if (e.status === 429) message = t("signin.throttled", { seconds: e.retryAfter || "?" });
      else message = t("signin.failed", { detail: e.message });
      $("signin-error").textContent = message;
      $("signin-password").select();
    } finally {
      $("signin-submit").disabled = false;
    }
  }

  async function onSignout() {
    try {
      await api("POST", "/console/signout");
    } catch (e) {
      // the session is gone either way
    }
    signedOut("");
  }

  // -- the agent's screen ---------------------------------------------------------------

  function agentPath(action) {
    return `/api/v1/agents/${session.agent_id}/${action}`;
  }

  function startEvents() {
    stopEvents();
    events = new EventSource(agentPath("events"));
    events.addEventListener("open", () => setLink(true));
    events.addEventListener("state", (ev) => onState(JSON.parse(ev.data)));
    events.addEventListener("signed_out", () => signedOut(t("signin.ended")));
    events.addEventListener("error", async () => {
      setLink(false);
      if (events && events.readyState === EventSource.CLOSED) {
        // Refused (401, 503 ...): ask whether the session is still there.
        try {
          await api("GET", "/console/session");
          setTimeout(() => session && startEvents(), 3000);
        } catch (e) {
          // api() has shown the sign-in if the session has ended
        }
      }
    });
  }

  function stopEvents() {
    if (events) events.close();
    events = null;
    setLink(false);
  }

  function setLink(up) {
    $("link").dataset.link = up ? "up" : "down";
    $("link").textContent = t(up ? "agent.link.up" : "agent.link.down");
  }

  async function onState(state) {
    screen = state;
    drawState();
    if (state.call_id !== shownCall || (state.call_id && !call)) {
      shownCall = state.call_id;
      if (state.call_id) {
        try {
          call = (await api("GET", agentPath("call"))).call;
        } catch (e) {
          call = null;
        }
      } else {
        call = null;
      }
      drawCall();
    }
  }

  const ENABLED = {
    logged_out: ["btn-login"],
    logging_in: ["btn-logout"],
    ready: ["btn-pause", "btn-logout"],
    on_call: ["btn-pause", "btn-logout"],
    wrapup: ["btn-ready", "btn-pause", "btn-logout"],
    paused: ["btn-ready", "btn-pause", "btn-logout"],
    logging_out: [],
  };

  function drawState() {
    const state = screen ? screen.state : "logged_out";
    $("state").dataset.state = state;
    $("state").textContent = t(`state.${state}`);
    let enabled = ENABLED[state] || [];
    // In wrap-up, Ready only takes back a pause or log-out asked for; the result ends it.
    if (state === "wrapup" && !(screen && screen.pending)) {
      enabled = enabled.filter((id) => id !== "btn-ready");
    }
    for (const id of ["btn-login", "btn-ready", "btn-pause", "btn-logout"]) {
      $(id).disabled = !enabled.includes(id);
    }
    $("pause-input").disabled = !enabled.includes("btn-pause");
    const reason = screen && screen.pause_reason;
    $("pause-shown").hidden = !(reason && (state === "paused" || screen.pending === "paused"));
    $("pause-reason").textContent = reason || "";
    $("pending").hidden = !(screen && screen.pending);
    $("pending").textContent = screen && screen.pending ? t(`agent.pending.${screen.pending}`) : "";
    tick();
  }

  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  }

  function tick() {
    const now = Date.now() / 1000;
    $("state-time").textContent = screen && screen.since ? clock(now - screen.since) : "0:00";
    const ends = screen && screen.state === "wrapup" ? screen.wrapup_ends_at : null;
    $("wrapup").hidden = ends === null;
    $("wrapup-left").textContent = ends === null ? "" : clock(Math.round(ends - now));
    if (call) {
      $("lead-time").textContent = new Intl.DateTimeFormat(window.I18n.language, {
        timeZone: call.lead.time_zone,
        weekday: "short",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }).format(new Date());
    }
  }

  function when(iso) {
    return new Intl.DateTimeFormat(window.I18n.language, {
      dateStyle: "short",
      timeStyle: "short",
    }).format(new Date(iso));
  }

  function cellRow(values) {
    const tr = document.createElement("tr");
    for (const v of values) {
      const td = document.createElement("td");
      td.textContent = v || "";
      tr.append(td);
    }
    return tr;
  }

  function drawCall() {
    $("call").hidden = !call;
    $("no-call").hidden = !!call;
    chosen = null;
    $("dispose-status").textContent = "";
    if (!call) return;
    const lead = call.lead;
    $("lead-name").textContent = lead.name || t("call.unnamed", { id: lead.id });
    $("lead-phone").textContent = lead.phone;
    $("lead-zone").textContent = lead.time_zone;
    const fields = $("lead-fields");
    fields.replaceChildren();
    for (const [k, v] of Object.entries(lead.fields)) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      fields.append(dt, dd);
    }
    $("fields-none").hidden = Object.keys(lead.fields).length > 0;
    const body = $("history").querySelector("tbody");
    body.replaceChildren(
      ...call.history.map((h) =>
        cellRow([
          when(h.originated_at),
          h.result ? t(`result.${h.result}`) : "",
          h.agent,
          h.disposition,
          h.note,
        ]),
      ),
    );
    $("history").hidden = call.history.length === 0;
    $("history-none").hidden = call.history.length > 0;
    const codes = $("codes");
    codes.replaceChildren();
    call.dispositions.forEach((d, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.code = d.code;
      b.setAttribute("aria-pressed", "false");
      if (i < 9) {
        const k = document.createElement("kbd");
        k.textContent = String(i + 1);
        b.append(k);
        b.setAttribute("aria-keyshortcuts", String(i + 1));
      }
      b.append(d.label || d.code);
      b.addEventListener("click", () => choose(d.code, false));
      codes.append(b);
    });
    $("note").value = call.given ? call.given.note || "" : "";
    if (call.given) choose(call.given.code, false);
    tick();
  }

  function choose(code, moveFocus) {
    chosen = code;
    for (const b of $("codes").querySelectorAll("button")) {
      b.setAttribute("aria-pressed", String(b.dataset.code === code));
    }
    if (moveFocus) $("dispose-save").focus();
  }

  async function onDispose(ev) {
    ev.preventDefault();
    if (!call) return;
    if (!chosen) {
      $("dispose-status").textContent = t("dispose.choose");
      const first = $("codes").querySelector("button");
      if (first) first.focus();
      return;
    }
    try {
      const d = await api("POST", agentPath("disposition"), {
        code: chosen,
        note: $("note").value,
        attempt_id: call.attempt_id,
      });
      call.given = { code: d.code, note: d.note };
      $("dispose-status").textContent = t("dispose.saved", { code: d.code });
    } catch (e) {
      $("dispose-status").textContent = t("dispose.refused", { detail: e.message });
    }
  }

  async function control(action, body) {
    $("agent-error").textContent = "";
    try {
      await api("POST", agentPath(action), body);
    } catch (e) {
      $("agent-error").textContent = t("agent.refused", { detail: e.message });
    }
  }

  function onPause() {
    const reason = $("pause-input").value.trim();
    if (!reason) {
      $("agent-error").textContent = t("agent.need_reason");
      $("pause-input").focus();
      return;
    }
    control("pause", { reason });
  }

  function onKey(ev) {
    if (!call || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    const target = ev.target;
    if (ev.key === "Escape" && target === $("note")) {
      const pressed = $("codes").querySelector('button[aria-pressed="true"]');
      const first = pressed || $("codes").querySelector("button");
      if (first) first.focus();
      return;
    }
    if (TEXT_INPUTS.has(target.tagName)) return;
    if (/^[1-9]$/.test(ev.key)) {
      const d = call.dispositions[Number(ev.key) - 1];
      if (d) {
        ev.preventDefault();
        choose(d.code, true);
      }
    }
  }

  function fillReasons() {
    const list = $("pause-reasons");
    list.replaceChildren(
      ...PAUSE_REASONS.map((r) => {
        const o = document.createElement("option");
        o.value = t(`reason.${r}`);
        return o;
      }),
    );
  }

  async function setLanguage(lang) {
    await window.I18n.load(lang);
    $("language").value = window.I18n.language;
    fillReasons();
    if (session) {
      $("who").textContent = t("app.signed_in_as", { name: session.name, role: t(`role.${session.role}`) });
    }
    setLink($("link").dataset.link === "up");
    drawState();
    if (call) drawCall();
  }

  async function start() {
    $("signin-form").addEventListener("submit", onSignin);
    $("signout").addEventListener("click", onSignout);
    $("btn-login").addEventListener("click", () => control("login"));
    $("btn-ready").addEventListener("click", () => control("ready"));
    $("btn-pause").addEventListener("click", onPause);
    $("pause-input").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") onPause();
    });
    $("btn-logout").addEventListener("click", () => control("logout"));
    $("dispose-form").addEventListener("submit", onDispose);
    $("note").addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && ev.ctrlKey) onDispose(ev);
    });
    document.addEventListener("keydown", onKey);
    $("language").addEventListener("change", () => {
      localStorage.setItem("console.language", $("language").value);
      setLanguage($("language").value);
    });
    setInterval(tick, 1000);
    let s = null;
    try {
      s = await api("GET", "/console/session");
    } catch (e) {
      s = null;
    }
    await setLanguage(localStorage.getItem("console.language") || (s && s.language) || "en");
    if (s) await signedIn(s);
    else showSignin("");
  }

  document.addEventListener("DOMContentLoaded", start);
})();
