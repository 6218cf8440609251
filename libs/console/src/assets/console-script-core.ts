/**
 * The console's script, first part: calls to the console API (with the tab's API key), the key
 * prompt, DOM helpers that only ever set text (message bodies are untrusted), the confirmation dialog
 * and the refresh loop. Plain browser JavaScript, served as it is; no template literals inside.
 */
export const CONSOLE_SCRIPT_CORE = String.raw`
'use strict';
var KEY_STORE = 'messaging-console-api-key';
var REFRESH_MS = 3000;
var consoleState = { overview: null, rendered: {}, openGroup: null, openLetter: null, outboxView: 'parked', timer: null };

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (name) {
    var value = attrs[name];
    if (value === undefined || value === null || value === false) return;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'onclick') node.addEventListener('click', value);
    else node.setAttribute(name, value === true ? '' : String(value));
  });
  (children || []).forEach(function (child) { if (child) node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child); });
  return node;
}
function byId(id) { return document.getElementById(id); }
function replace(id, node) { var target = byId(id); target.replaceChildren(node); }
function time(ms) { return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : ''; }
function table(caption, heads, rows) {
  return el('table', {}, [
    el('caption', { text: caption }),
    el('thead', {}, [el('tr', {}, heads.map(function (h) { return el('th', { scope: 'col', class: h.cls, text: h.text }); }))]),
    el('tbody', {}, rows),
  ]);
}
function empty(text) { return el('p', { class: 'panel-empty', text: text }); }
function failed(what, error, hint) { return el('p', { class: 'error', role: 'alert', text: 'Could not read ' + what + ': ' + error + '. ' + hint }); }
function report(text) { byId('report').textContent = text; }

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ''; }
function NeedsKey() { this.message = 'an API key is required'; }

function api(method, path, body) {
  var headers = { accept: 'application/json' };
  if (apiKey()) headers['x-api-key'] = apiKey();
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch('/console/api' + path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
    .then(function (response) {
      if (response.status === 401) { showPrompt(apiKey() ? 'That key was refused. Enter a key from API_KEYS.' : ''); throw new NeedsKey(); }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error((data && data.message) || ('the console answered ' + response.status));
        return data;
      });
    });
}

function showPrompt(error) {
  stopRefresh();
  byId('main').hidden = true;
  byId('key-prompt').hidden = false;
  byId('key-error').textContent = error || '';
  byId('refresh-status').textContent = 'Waiting for an API key';
  byId('key-input').focus();
}

function confirmAction(title, text) {
  var dialog = byId('confirm');
  byId('confirm-title').textContent = title;
  byId('confirm-text').textContent = text;
  dialog.returnValue = 'cancel';
  dialog.showModal();
  byId('confirm-cancel').focus();
  return new Promise(function (resolve) {
    dialog.addEventListener('close', function () { resolve(dialog.returnValue === 'ok'); }, { once: true });
  });
}

function stopRefresh() { if (consoleState.timer) clearTimeout(consoleState.timer); consoleState.timer = null; }
function scheduleRefresh() { stopRefresh(); consoleState.timer = setTimeout(refresh, REFRESH_MS); }

function refresh() {
  return api('GET', '/overview').then(function (overview) {
    byId('key-prompt').hidden = true;
    var firstShow = byId('main').hidden;
    byId('main').hidden = false;
    consoleState.overview = overview;
    renderPart('counters', [overview.counters, overview.outbox], function (d) { renderCounters(d[0], d[1]); });
    renderPart('queues', overview.queues, renderQueues);
    renderPart('agreement', overview.deadLetters, renderAgreement);
    renderPart('groups', overview.groups, renderGroups);
    renderPart('outbox-counts', overview.outbox, renderOutboxCounts);
    byId('refresh-status').textContent = 'Updated ' + time(Date.now()) + ', every ' + REFRESH_MS / 1000 + ' s';
    if (firstShow) loadOutbox();
    scheduleRefresh();
  }).catch(function (error) {
    if (error instanceof NeedsKey) return;
    byId('refresh-status').textContent = 'Refresh failed (' + error.message + '): is this app running? Retrying.';
    byId('refresh-status').className = 'error';
    scheduleRefresh();
  });
}

/** Renders a part only when its data changed, so focus and selections survive the refresh. */
function renderPart(name, data, render) {
  var json = JSON.stringify(data);
  if (consoleState.rendered[name] === json) return;
  consoleState.rendered[name] = json;
  render(data);
}

var COUNTERS = [
  ['accepted', 'Accepted'], ['processed', 'Processed'], ['duplicates', 'Duplicates absorbed'],
  ['retried', 'Retried'], ['deadLettered', 'Dead-lettered'],
];
function renderCounters(counters, outbox) {
  if (counters.error) { replace('counters', failed('the counters', counters.error, 'The metrics of this app should always answer: see its log.')); return; }
  var tiles = COUNTERS.map(function (c) { return [c[1], counters[c[0]], c[0]]; });
  tiles.push(['Outbox pending', outbox.error ? '?' : outbox.pending, 'outboxPending'], ['Outbox parked', outbox.error ? '?' : outbox.parked, 'outboxParked']);
  byId('counters').replaceChildren.apply(byId('counters'), tiles.map(function (t) {
    return el('div', {}, [el('dt', { text: t[0] }), el('dd', { 'data-counter': t[2], text: t[1] })]);
  }));
  byId('counter-sources').replaceChildren.apply(byId('counter-sources'), ['Counted since each process started, from: '].concat(
    counters.sources.map(function (s, i) {
      return el('span', { class: s.ok ? 'ok' : 'warn', text: (i ? '; ' : '') + s.name + (s.ok ? '' : ' (unavailable: ' + s.error + ')') });
    })));
}
function renderQueues(queues) {
  if (queues.error) { replace('queues', failed('the queues', queues.error, 'Check RABBITMQ_URL and that the broker is up.')); return; }
  replace('queues', table('Queue depths and consumers, live from the broker', [
    { text: 'Queue' }, { text: 'Role', cls: 'optional' }, { text: 'Messages', cls: 'num' }, { text: 'Consumers', cls: 'num' },
  ], queues.map(function (q) {
    return el('tr', { 'data-queue': q.name }, [
      el('td', { class: 'id', text: q.name }), el('td', { class: 'optional', text: q.role }),
      q.error ? el('td', { class: 'error', colspan: 2, text: q.error }) : el('td', { class: 'num', text: q.messages }),
      q.error ? null : el('td', { class: 'num', text: q.consumers }),
    ]);
  })));
}

document.addEventListener('DOMContentLoaded', function () {
  byId('key-form').addEventListener('submit', function (event) {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, byId('key-input').value.trim());
    byId('key-input').value = '';
    consoleState.rendered = {};
    refresh().then(function () { if (!byId('main').hidden) byId('main').focus(); });
  });
  bindLetters();
  bindOutbox();
  refresh();
});
`;
