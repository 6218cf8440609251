/** The console's script, outbox and search: pending and parked lists, retry of parked ones, search by id or correlation id. */
export const CONSOLE_SCRIPT_OUTBOX = String.raw`
function renderOutboxCounts(outbox) {
  if (outbox.error) { replace('outbox-counts', failed('the outbox', outbox.error, 'Check that Redis is reachable from this app (REDIS_URL).')); return; }
  byId('outbox-counts').textContent = outbox.pending + ' pending (waiting for replay), ' + outbox.parked + ' parked (replays failed for the message itself).';
  loadOutbox();
}
function showOutbox(view) {
  consoleState.outboxView = view;
  byId('show-pending').setAttribute('aria-pressed', String(view === 'pending'));
  byId('show-parked').setAttribute('aria-pressed', String(view === 'parked'));
  byId('retry-parked').hidden = view !== 'parked';
  loadOutbox();
}
function loadOutbox() {
  var view = consoleState.outboxView;
  var checked = selectedParked();
  return api('GET', '/outbox/' + view + '?limit=100').then(function (entries) {
    if (consoleState.outboxView !== view) return;
    if (entries.length === 0) {
      replace('outbox-list', empty(view === 'parked'
        ? 'Nothing parked. A message is parked after OUTBOX_MAX_ATTEMPTS replays nacked or returned (no queue bound for its type).'
        : 'Nothing pending: every accepted message was confirmed by the broker or replayed.'));
      return;
    }
    replace('outbox-list', table((view === 'parked' ? 'Parked' : 'Pending') + ' outbox messages (oldest first, up to 100)', [
      view === 'parked' ? { text: 'Select' } : null, { text: 'Message id' }, { text: 'Type' }, { text: 'Correlation id', cls: 'optional' },
      { text: 'Stored at', cls: 'optional' }, { text: 'Attempts', cls: 'num' }, { text: 'Last error' }, view === 'parked' ? { text: 'Actions' } : null,
    ].filter(Boolean), entries.map(function (e) {
      return el('tr', { 'data-outbox': e.id }, [
        view === 'parked' ? el('td', {}, [el('input', { type: 'checkbox', class: 'pick-parked', value: e.id, checked: checked.indexOf(e.id) >= 0, 'aria-label': 'Select ' + e.id })]) : null,
        el('td', { class: 'id', text: e.id }), el('td', { text: e.type }), el('td', { class: 'id optional', text: e.correlationId || '' }),
        el('td', { class: 'optional', text: e.storedAt }), el('td', { class: 'num', text: e.attempts }), el('td', { class: 'reason', text: e.lastError || '' }),
        view === 'parked' ? el('td', {}, [el('button', { type: 'button', 'aria-label': 'Retry ' + e.id, text: 'Retry', onclick: function () { retryParked([e.id]); } })]) : null,
      ]);
    })));
  }).catch(function (error) {
    if (!(error instanceof NeedsKey)) replace('outbox-list', failed('the outbox', error.message, 'Check that Redis is reachable from this app (REDIS_URL).'));
  });
}
function selectedParked() {
  return Array.prototype.map.call(document.querySelectorAll('#outbox-list input.pick-parked:checked'), function (box) { return box.value; });
}
function retryParked(ids) {
  return confirmAction('Retry parked messages', 'Put ' + ids.length + ' parked message(s) back in line for replay, with a fresh attempt budget?').then(function (ok) {
    if (!ok) return;
    return api('POST', '/outbox/retry', { ids: ids }).then(function (r) {
      report('Put ' + r.retried + ' parked message(s) back in line for replay' + (r.retried < ids.length ? '; ' + (ids.length - r.retried) + ' were no longer parked' : '') + '.');
      consoleState.rendered = {};
      refresh();
    });
  }).catch(actionFailed);
}

function search(term) {
  replace('search-results', el('p', { class: 'note', text: 'Searching…' }));
  api('GET', '/search?q=' + encodeURIComponent(term)).then(function (r) {
    var parts = [];
    if (r.deadLetters.error) parts.push(failed('the dead letters', r.deadLetters.error, 'Check Redis.'));
    else if (r.deadLetters.length === 0) parts.push(empty('No dead letter has the id or correlation id ' + term + '.'));
    else parts.push(table('Dead letters', [{ text: 'Message id' }, { text: 'Type' }, { text: 'Reason' }, { text: 'Details' }], r.deadLetters.map(function (l) {
      return el('tr', { 'data-found-letter': l.key }, [el('td', { class: 'id', text: l.messageId || l.key }), el('td', { text: l.type }), el('td', { class: 'reason', text: l.reason }),
        el('td', {}, [el('button', { type: 'button', 'aria-label': 'Show ' + (l.messageId || l.key), text: 'Show', onclick: function () { openLetter(l.queue, l.key); } })])]);
    })));
    if (r.outbox.error) parts.push(failed('the outbox', r.outbox.error, 'Check Redis.'));
    else if (r.outbox.results.length === 0) parts.push(empty('No outbox message has the id or correlation id ' + term + (r.outbox.truncated ? ' among the oldest 10,000 of each state' : '') + '.'));
    else parts.push(table('Outbox', [{ text: 'Message id' }, { text: 'State' }, { text: 'Type' }, { text: 'Last error' }], r.outbox.results.map(function (e) {
      return el('tr', { 'data-found-outbox': e.id }, [el('td', { class: 'id', text: e.id }), el('td', { text: e.state }), el('td', { text: e.type }), el('td', { class: 'reason', text: e.lastError || '' })]);
    })));
    byId('search-results').replaceChildren.apply(byId('search-results'), parts);
  }).catch(function (error) { if (!(error instanceof NeedsKey)) replace('search-results', failed('the search', error.message, 'Try again.')); });
}

function bindOutbox() {
  byId('show-pending').addEventListener('click', function () { showOutbox('pending'); });
  byId('show-parked').addEventListener('click', function () { showOutbox('parked'); });
  byId('retry-parked').addEventListener('click', function () {
    var ids = selectedParked();
    if (ids.length === 0) { report('Select one or more parked messages first.'); return; }
    retryParked(ids);
  });
  byId('search-form').addEventListener('submit', function (event) { event.preventDefault(); search(byId('search-input').value.trim()); });
}
`;
