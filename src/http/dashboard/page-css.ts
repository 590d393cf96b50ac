/** The dashboard's stylesheet (GET /dashboard.css). */
export const PAGE_CSS = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --dim: #6b7280; --line: #d8dce3; --lit: #0b7a3b; --litbg: #dff5e7; --warn: #b45309; --warnbg: #fdf0dc; --bad: #b91c1c; --badbg: #fde2e2; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; justify-content: space-between; padding: 10px 18px; background: var(--ink); color: #fff; }
h1 { font-size: 18px; margin: 0; } h1 span { font-weight: normal; opacity: .8; }
h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .05em; color: var(--dim); margin: 0 0 6px; }
#conn { padding: 3px 10px; border-radius: 12px; font-weight: 600; }
#conn[data-state="live"] { background: var(--lit); }
#conn[data-state="connecting"] { background: var(--warn); }
#conn[data-state="down"] { background: var(--bad); }
body.stale main { opacity: .45; filter: grayscale(1); }
main { padding: 14px 18px; display: grid; gap: 12px; }
.numbers { display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.big { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; }
.hint { color: var(--dim); font-size: 12px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0; } dt { color: var(--dim); } dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
#lag-spark { width: 100%; height: 60px; background: #fafbfc; border: 1px solid var(--line); }
#lag-spark polyline { fill: none; stroke: #2563eb; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); font-variant-numeric: tabular-nums; }
th { color: var(--dim); font-weight: 600; font-size: 12px; }
tr.open td { background: var(--warnbg); }
#charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 12px; }
.machine h3 { margin: 0 0 8px; font-size: 15px; display: flex; gap: 10px; align-items: baseline; }
.machine .current { font: 600 13px ui-monospace, monospace; padding: 2px 8px; border-radius: 10px; background: var(--litbg); color: var(--lit); }
.machine .current.retrying { background: var(--warnbg); color: var(--warn); }
.machine .current.off { background: #eee; color: var(--dim); }
.state { border: 1px solid var(--line); border-radius: 6px; padding: 4px 6px; margin: 4px 0; background: #fff; }
.state > .name { font: 600 12px ui-monospace, monospace; }
.state > .name .initial { color: var(--dim); font-weight: normal; }
.state > ul { list-style: none; margin: 2px 0 0; padding: 0; font: 11px ui-monospace, monospace; color: var(--dim); }
.state > .children { display: flex; flex-wrap: wrap; gap: 6px; } .state > .children > .state { flex: 1 1 150px; }
.state.lit { border-color: var(--lit); background: var(--litbg); box-shadow: 0 0 0 2px var(--lit) inset; }
.state.lit.retrying { border-color: var(--warn); background: var(--warnbg); box-shadow: 0 0 0 2px var(--warn) inset; }
.state.final > .name::after { content: " (final)"; color: var(--dim); font-weight: normal; }
footer { padding: 6px 18px 16px; }
`;
