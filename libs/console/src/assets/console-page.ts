/**
 * The console's HTML: a shell the scripts fill in. Every part has a heading and a place for its
 * empty and error states; nothing is loaded from outside this app (see CONSOLE_CSP).
 */
export const CONSOLE_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Messaging console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/console.css">
<script src="/console/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the console</a>
<header class="top">
  <h1>Messaging console</h1>
  <p id="refresh-status" role="status" aria-live="polite">Loading…</p>
</header>
<section id="key-prompt" hidden aria-labelledby="key-title">
  <h2 id="key-title">API key required</h2>
  <p>This system has API keys set (API_KEYS). Enter one to see it; the key is kept for this browser tab only.</p>
  <form id="key-form">
    <label for="key-input">API key</label>
    <input id="key-input" name="key" type="password" autocomplete="off" required minlength="16">
    <button type="submit">Open the console</button>
    <p id="key-error" class="error" role="alert"></p>
  </form>
</section>
<main id="main" hidden tabindex="-1">
  <nav aria-label="Sections"><ul>
    <li><a href="#counters-title">Counters</a></li><li><a href="#letters-title">Dead letters</a></li>
    <li><a href="#outbox-title">Outbox</a></li><li><a href="#search-title">Search</a></li>
  </ul></nav>
  <section aria-labelledby="counters-title">
    <h2 id="counters-title">Live counters</h2>
    <dl id="counters" class="tiles"></dl>
    <p id="counter-sources" class="note"></p>
    <h3>Queues</h3>
    <div id="queues" class="scroll"></div>
  </section>
  <section aria-labelledby="letters-title">
    <h2 id="letters-title">Dead letters</h2>
    <div id="letters-agreement"></div>
    <div id="letter-groups" class="scroll"></div>
    <section id="group-panel" hidden aria-labelledby="group-title">
      <h3 id="group-title" tabindex="-1">Group</h3>
      <p id="group-summary" class="note"></p>
      <div class="actions">
        <button type="button" id="retry-selected">Retry selected</button>
        <button type="button" id="delete-selected" class="danger">Delete selected</button>
        <button type="button" id="close-group">Close the group</button>
      </div>
      <div id="group-letters" class="scroll"></div>
    </section>
    <section id="letter-panel" hidden aria-labelledby="letter-title">
      <h3 id="letter-title" tabindex="-1">Dead letter</h3>
      <dl id="letter-fields" class="fields"></dl>
      <h4>Headers</h4><pre id="letter-headers"></pre>
      <h4>Body</h4><pre id="letter-body"></pre>
      <div class="actions">
        <button type="button" id="retry-letter">Retry this message</button>
        <button type="button" id="delete-letter" class="danger">Delete this message</button>
        <button type="button" id="close-letter">Close</button>
      </div>
    </section>
  </section>
  <section aria-labelledby="outbox-title">
    <h2 id="outbox-title">Outbox</h2>
    <p id="outbox-counts"></p>
    <div class="actions" role="group" aria-label="Which outbox messages">
      <button type="button" id="show-pending" aria-pressed="false">Pending</button>
      <button type="button" id="show-parked" aria-pressed="true">Parked</button>
      <button type="button" id="retry-parked">Retry selected parked</button>
    </div>
    <div id="outbox-list" class="scroll"></div>
  </section>
  <section aria-labelledby="search-title">
    <h2 id="search-title">Search</h2>
    <form id="search-form">
      <label for="search-input">Message id or correlation id</label>
      <input id="search-input" name="q" type="search" required maxlength="200">
      <button type="submit">Search</button>
    </form>
    <div id="search-results"></div>
  </section>
</main>
<p id="report" class="report" role="status" aria-live="polite"></p>
<dialog id="confirm" aria-labelledby="confirm-title">
  <form method="dialog">
    <h2 id="confirm-title">Are you sure?</h2>
    <p id="confirm-text"></p>
    <div class="actions">
      <button value="cancel" id="confirm-cancel">Cancel</button>
      <button value="ok" id="confirm-ok">Confirm</button>
    </div>
  </form>
</dialog>
</body>
</html>
`;
