/** The dashboard page (GET /). Static: everything live arrives over /events; no external asset. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sdl dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>sdl <span id="pipeline"></span></h1>
  <div id="conn" data-state="connecting">connecting to sdl…</div>
</header>
<main>
  <section class="numbers">
    <div class="card"><h2>lag</h2><div class="big"><span id="lag-now">–</span> s</div>
      <svg id="lag-spark" viewBox="0 0 300 60" preserveAspectRatio="none" role="img" aria-label="lag over the last hour"></svg>
      <div class="hint">behind the source at the last commit (<span id="last-commit">–</span>); last hour: <span id="lag-max">–</span> s at most</div></div>
    <div class="card"><h2>rows/s</h2><div class="big" id="rate-total">–</div>
      <div class="hint"><span id="rows-total">–</span> rows committed since start</div></div>
    <div class="card"><h2>backlog</h2>
      <dl>
        <dt>staged, pending</dt><dd id="staged">–</dd>
        <dt>committer queue</dt><dd id="queue">–</dd>
        <dt>in flight</dt><dd id="inflight">–</dd>
        <dt>reader</dt><dd id="throttled">–</dd>
      </dl></div>
    <div class="card"><h2>dead letters</h2><div class="big" id="dead-unreplayed">–</div>
      <div class="hint">unreplayed in MongoDB; <span id="dead-run">–</span> written by this run</div></div>
    <div class="card"><h2>lease</h2><div id="lease-owner">–</div>
      <div class="hint" id="lease-detail"></div></div>
  </section>
  <section id="snapshot" class="card wide" hidden>
    <h2>initial snapshot</h2>
    <div class="hint" id="snapshot-pace"></div>
    <table><thead><tr><th>table</th><th>rows</th><th>of ~</th><th></th></tr></thead><tbody id="snapshot-tables"></tbody></table>
  </section>
  <section class="card wide">
    <h2>rows/s by table and op</h2>
    <table><thead><tr><th>table</th><th>op</th><th>rows/s</th><th>total</th></tr></thead><tbody id="rates"></tbody></table>
  </section>
  <section class="card wide">
    <h2>last errors</h2>
    <table><thead><tr><th>machine</th><th>code</th><th>class</th><th>retries</th><th>last</th><th>message</th></tr></thead><tbody id="errors"></tbody></table>
  </section>
  <section id="charts"></section>
</main>
<footer class="hint">store facts (staging, dead letters, lease) read from MongoDB <span id="store-age">–</span></footer>
</body>
</html>
`;
