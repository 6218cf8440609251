/** The console's script, dead letters: the index's agreement, the groups, a group's letters, one letter, retry and delete. */
export const CONSOLE_SCRIPT_LETTERS = String.raw`
function renderAgreement(rows) {
  if (rows.error) { replace('letters-agreement', failed('the dead-letter index', rows.error, 'Check that Redis is reachable from this app (REDIS_URL).')); return; }
  byId('letters-agreement').replaceChildren.apply(byId('letters-agreement'), rows.map(function (row) {
    var agrees = row.inQueue === undefined || row.inQueue === row.indexed;
    var text = row.queue + ': ' + row.indexed + ' indexed, ' + (row.inQueue === undefined ? 'queue unreadable (broker unreachable?)' : row.inQueue + ' in the queue');
    var note = agrees ? '' : row.reconciling ? ' (reconciling now)' : ' (they disagree: a pass over the queue reconciles them within seconds, or now:)';
    return el('p', { class: agrees ? 'note' : 'warn' }, [text + note, agrees ? null : el('button', { type: 'button', 'data-reconcile': row.queue, text: 'Reconcile ' + row.queue, onclick: function () { reconcile(row.queue); } })]);
  }));
}
function reconcile(queue) {
  report('Reconciling ' + queue + '…');
  api('POST', '/dead-letters/' + encodeURIComponent(queue) + '/reconcile').then(function (r) {
    report('Reconciled ' + queue + ': ' + r.added + ' added to the index, ' + r.removed + ' removed' + (r.complete ? '' : ' (another reader held messages: nothing removed)') + '.');
    refresh();
  }).catch(actionFailed);
}

function renderGroups(groups) {
  if (groups.error) { replace('letter-groups', failed('the dead letters', groups.error, 'Check that Redis is reachable from this app (REDIS_URL).')); return; }
  if (groups.length === 0) { replace('letter-groups', empty('No dead letters. A message lands here when it cannot be read, or when its handler failed CONSUMER_MAX_ATTEMPTS times.')); return; }
  replace('letter-groups', table('Dead letters by failure kind, reason and message type', [
    { text: 'Kind' }, { text: 'Reason' }, { text: 'Type' }, { text: 'Count', cls: 'num' },
    { text: 'First seen', cls: 'optional' }, { text: 'Last seen', cls: 'optional' }, { text: 'Actions' },
  ], groups.map(function (g) {
    var label = g.count + ' ' + g.type + ' (' + g.kind + ')';
    return el('tr', { 'data-group': g.group }, [
      el('td', { text: g.kind }), el('td', { class: 'reason', text: g.reason }), el('td', { text: g.type }),
      el('td', { class: 'num', text: g.count }), el('td', { class: 'optional', text: time(g.firstSeenMs) }), el('td', { class: 'optional', text: time(g.lastSeenMs) }),
      el('td', {}, [el('div', { class: 'actions' }, [
        el('button', { type: 'button', 'aria-label': 'Open the group of ' + label, text: 'Open', onclick: function () { openGroup(g); } }),
        el('button', { type: 'button', 'aria-label': 'Retry the group of ' + label, text: 'Retry all', onclick: function () { retry({ queue: g.queue, group: g.group }, 'all ' + g.count + ' dead letters of this group'); } }),
        el('button', { type: 'button', class: 'danger', 'aria-label': 'Delete the group of ' + label, text: 'Delete all', onclick: function () { remove({ queue: g.queue, group: g.group }, 'all ' + g.count + ' dead letters of this group'); } }),
      ])]),
    ]);
  })));
  if (consoleState.openGroup) {
    var open = groups.filter(function (g) { return g.group === consoleState.openGroup.group; })[0];
    if (!open) closeGroup();
  }
}

function openGroup(group) {
  consoleState.openGroup = group;
  byId('group-panel').hidden = false;
  byId('group-title').textContent = group.type + ': ' + group.reason;
  byId('group-summary').textContent = group.count + ' letter(s) in ' + group.queue + ', kind ' + group.kind + ', first ' + time(group.firstSeenMs) + ', last ' + time(group.lastSeenMs) + '.';
  loadGroup().then(function () { byId('group-title').focus(); });
}
function closeGroup() { consoleState.openGroup = null; byId('group-panel').hidden = true; closeLetter(); }
function loadGroup() {
  var g = consoleState.openGroup;
  if (!g) return Promise.resolve();
  return api('GET', '/dead-letters/' + encodeURIComponent(g.queue) + '/groups/' + encodeURIComponent(g.group) + '?limit=200').then(function (letters) {
    if (letters.length === 0) { replace('group-letters', empty('This group is empty now: its letters were retried or deleted.')); return; }
    replace('group-letters', table('Letters of this group (oldest first, up to 200)', [
      { text: 'Select' }, { text: 'Message id' }, { text: 'Correlation id', cls: 'optional' }, { text: 'Attempts', cls: 'num' }, { text: 'Failed at', cls: 'optional' }, { text: 'Details' },
    ], letters.map(function (l) {
      return el('tr', { 'data-letter': l.key }, [
        el('td', {}, [el('input', { type: 'checkbox', class: 'pick', value: l.key, 'aria-label': 'Select ' + (l.messageId || l.key) })]),
        el('td', { class: 'id', text: l.messageId || '(no id)' }), el('td', { class: 'id optional', text: l.correlationId || '' }),
        el('td', { class: 'num', text: l.attempts }), el('td', { class: 'optional', text: time(l.failedAtMs) }),
        el('td', {}, [el('button', { type: 'button', 'aria-label': 'Show ' + (l.messageId || l.key), text: 'Show', onclick: function () { openLetter(g.queue, l.key); } })]),
      ]);
    })));
  }).catch(actionFailed);
}
function selectedKeys() {
  return Array.prototype.map.call(document.querySelectorAll('#group-letters input.pick:checked'), function (box) { return box.value; });
}

function openLetter(queue, key) {
  api('GET', '/dead-letters/' + encodeURIComponent(queue) + '/letters/' + encodeURIComponent(key)).then(function (letter) {
    consoleState.openLetter = { queue: queue, key: key };
    var fields = [['Message id', letter.messageId || '(none)'], ['Type', letter.type], ['Correlation id', letter.correlationId || '(none)'], ['Attempts', letter.attempts],
      ['Kind', letter.kind], ['Reason', letter.reason], ['Failed at', time(letter.failedAtMs)], ['Queue', queue]];
    byId('letter-fields').replaceChildren.apply(byId('letter-fields'), fields.reduce(function (all, f) { return all.concat([el('dt', { text: f[0] }), el('dd', { text: f[1] })]); }, []));
    byId('letter-headers').textContent = pretty(letter.headers);
    byId('letter-body').textContent = pretty(letter.body);
    byId('letter-panel').hidden = false;
    byId('letter-title').textContent = 'Dead letter ' + (letter.messageId || key);
    byId('letter-title').focus();
  }).catch(actionFailed);
}
function closeLetter() { consoleState.openLetter = null; byId('letter-panel').hidden = true; }
function pretty(text) { try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; } }

function retry(selection, what) {
  return confirmAction('Retry dead letters', 'Move ' + what + ' back to the work queue? They keep their ids, so work that did happen is absorbed by the idempotency guard.').then(function (ok) {
    if (!ok) return;
    return api('POST', '/dead-letters/retry', selection).then(function (r) {
      report('Retried ' + r.retried.length + ' dead letter(s)' + (r.notInQueue.length ? '; ' + r.notInQueue.length + ' were no longer in the queue (dropped from the index)' : '') +
        (r.refused.length ? '; ' + r.refused.length + ' without a message id cannot be retried by id (delete them instead)' : '') + '.');
      afterAction();
    });
  }).catch(actionFailed);
}
function remove(selection, what) {
  return confirmAction('Delete dead letters', 'Delete ' + what + ' for good? They are taken out of the dead-letter queue and cannot be retried afterwards.').then(function (ok) {
    if (!ok) return;
    return api('POST', '/dead-letters/delete', selection).then(function (r) {
      report('Deleted ' + r.deleted.length + ' dead letter(s)' + (r.notInQueue.length ? '; ' + r.notInQueue.length + ' were no longer in the queue (dropped from the index)' : '') + '.');
      afterAction();
    });
  }).catch(actionFailed);
}
function afterAction() { closeLetter(); consoleState.rendered = {}; refresh().then(loadGroup); }
function actionFailed(error) { if (!(error instanceof NeedsKey)) report('That did not work: ' + error.message); }

function bindLetters() {
  byId('close-group').addEventListener('click', closeGroup);
  byId('close-letter').addEventListener('click', closeLetter);
  byId('retry-selected').addEventListener('click', function () {
    var keys = selectedKeys();
    if (keys.length === 0) { report('Select one or more letters first (the boxes in the Select column).'); return; }
    retry({ queue: consoleState.openGroup.queue, keys: keys }, keys.length + ' selected dead letter(s)');
  });
  byId('delete-selected').addEventListener('click', function () {
    var keys = selectedKeys();
    if (keys.length === 0) { report('Select one or more letters first (the boxes in the Select column).'); return; }
    remove({ queue: consoleState.openGroup.queue, keys: keys }, keys.length + ' selected dead letter(s)');
  });
  byId('retry-letter').addEventListener('click', function () { var l = consoleState.openLetter; retry({ queue: l.queue, keys: [l.key] }, 'this dead letter'); });
  byId('delete-letter').addEventListener('click', function () { var l = consoleState.openLetter; remove({ queue: l.queue, keys: [l.key] }, 'this dead letter'); });
}
`;
