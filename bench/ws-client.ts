/**
 * One client process of bench/websockets.ts. Args: url, count, Host header,
 * ping interval (ms), id. Opens `count` WebSockets (at most CONCURRENCY
 * handshakes at a time), prints one JSON line {phase:"connected"}, then reads
 * commands on stdin, one a line:
 *   go   — each connection sends one small message per ping interval (first
 *          one at a random offset, so the load is spread), and checks that the
 *          echoes come back in order and unchanged;
 *   stop — stops sending, waits up to 10 s for outstanding echoes, prints one
 *          JSON line {phase:"done"} with the counts. The sockets stay open
 *          until the process is stopped.
 * A connection that closes or errors after it opened and before `stop` is a drop.
 */
export {};

const [url, countArg, host, pingArg, id] = process.argv.slice(2) as [string, string, string, string, string];
const count = Number(countArg);
const pingMs = Number(pingArg);
const CONCURRENCY = 64;

interface Conn {
  ws: WebSocket;
  index: number;
  sent: number;
  echoed: number;
  open: boolean;
  dropped: boolean;
  timer: Timer | null;
}

const conns: Conn[] = [];
let dropped = 0;
let wrong = 0;
let stopping = false;
const failures = new Map<string, number>();
const dropCodes = new Map<string, number>();
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

function connect(index: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { Host: host } });
    const conn: Conn = { ws, index, sent: 0, echoed: 0, open: false, dropped: false, timer: null };
    let settled = false;
    ws.onopen = () => {
      settled = true;
      conn.open = true;
      conns.push(conn);
      resolve();
    };
    ws.onmessage = (event) => {
      const expected = `${id}.${index}.${conn.echoed}`;
      if (event.data === expected) conn.echoed++;
      else wrong++;
    };
    // Before open, the first error or close settles the attempt as failed.
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      bump(failures, why);
      resolve();
    };
    ws.onerror = (event) => {
      if (!conn.open) fail(`error ${(event as ErrorEvent).message ?? ""}`.trim());
    };
    ws.onclose = (event) => {
      if (!conn.open) {
        fail(`close ${event.code}`);
        return;
      }
      conn.open = false;
      if (conn.timer) clearInterval(conn.timer);
      if (!stopping && !conn.dropped) {
        conn.dropped = true;
        dropped++;
        bump(dropCodes, String(event.code));
      }
    };
  });
}

let next = 0;
async function worker(): Promise<void> {
  while (next < count) await connect(next++);
}
await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
console.log(JSON.stringify({ phase: "connected", id, opened: conns.length, failed: count - conns.length, failures: Object.fromEntries(failures) }));

function send(conn: Conn): void {
  if (!conn.open || stopping) return;
  conn.ws.send(`${id}.${conn.index}.${conn.sent}`);
  conn.sent++;
}

function go(): void {
  for (const conn of conns) {
    setTimeout(() => {
      send(conn);
      if (conn.open && !stopping) conn.timer = setInterval(() => send(conn), pingMs);
    }, Math.random() * pingMs);
  }
}

async function stop(): Promise<void> {
  stopping = true;
  for (const conn of conns) if (conn.timer) clearInterval(conn.timer);
  const outstanding = () => conns.reduce((n, c) => n + (c.open ? c.sent - c.echoed : 0), 0);
  for (let i = 0; i < 100 && outstanding() > 0; i++) await Bun.sleep(100);
  const sent = conns.reduce((n, c) => n + c.sent, 0);
  const echoed = conns.reduce((n, c) => n + c.echoed, 0);
  const held = conns.filter((c) => c.open).length;
  console.log(JSON.stringify({ phase: "done", id, opened: conns.length, held, dropped, dropCodes: Object.fromEntries(dropCodes), sent, echoed, missing: sent - echoed, wrong }));
}

for await (const line of console) {
  const cmd = line.trim();
  if (cmd === "go") go();
  else if (cmd === "stop") await stop();
}
