/** The console's styles: system fonts only, readable from a phone to a wide screen, visible focus. */
export const CONSOLE_STYLE = `
:root { --fg: #1a1a1a; --muted: #555; --line: #c8c8c8; --bg: #fff; --accent: #0b57d0; --danger: #b3261e; --ok: #146c2e; --warn: #8a4b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem; }
.skip:focus { left: .5rem; z-index: 10; }
.top { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: .5rem; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
.top h1 { margin: 0; font-size: 1.35rem; }
.top p { margin: 0; color: var(--muted); }
main, #key-prompt { max-width: 1400px; margin: 0 auto; padding: 0 1rem 4rem; }
main:focus { outline: none; }
nav ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; padding: 0; margin: 1rem 0; }
section > h2 { margin: 1.75rem 0 .5rem; font-size: 1.2rem; border-bottom: 2px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
h4 { margin: 1rem 0 .25rem; font-size: .95rem; }
a { color: var(--accent); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5rem, 1fr)); gap: .5rem; margin: 0; }
.tiles div { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem; }
.tiles dt { color: var(--muted); font-size: .85rem; }
.tiles dd { margin: 0; font-size: 1.5rem; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: .9rem; }
.error { color: var(--danger); }
.warn { color: var(--warn); }
.ok { color: var(--ok); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .93rem; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.reason { max-width: 28rem; overflow-wrap: anywhere; }
td.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; overflow-wrap: anywhere; }
button { font: inherit; padding: .4rem .8rem; min-height: 2.25rem; border: 1px solid var(--accent); background: #fff; color: var(--accent); border-radius: 5px; cursor: pointer; }
button:hover { background: #eef3fd; }
button.danger { border-color: var(--danger); color: var(--danger); }
button[aria-pressed="true"] { background: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: not-allowed; }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
td .actions { margin: 0; }
input[type="password"], input[type="search"] { font: inherit; padding: .4rem .5rem; border: 1px solid #777; border-radius: 5px; min-width: min(24rem, 100%); }
form label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
form { margin: .5rem 0; }
pre { background: #f6f6f6; border: 1px solid var(--line); padding: .75rem; overflow: auto; max-height: 24rem; font-size: .85rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.fields { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
.fields dt { color: var(--muted); }
.fields dd { margin: 0; overflow-wrap: anywhere; }
.panel-empty { padding: .75rem; border: 1px dashed var(--line); border-radius: 6px; color: var(--muted); }
.report { position: fixed; bottom: 0; left: 0; right: 0; margin: 0; padding: .6rem 1rem; background: #1f2d3d; color: #fff; }
.report:empty { display: none; }
dialog { border: 1px solid var(--line); border-radius: 8px; max-width: min(36rem, 92vw); }
dialog::backdrop { background: rgb(0 0 0 / .35); }
@media (max-width: 640px) {
  body { font-size: 15px; }
  th.optional, td.optional { display: none; }
  .fields { grid-template-columns: 1fr; }
  .tiles dd { font-size: 1.25rem; }
}
`;
