// Benchmark peer (b): Node's `ws` broadcasting the same messages — every tick forwarded to every open client
// (`wss.clients.forEach(c => c.send(msg))`), the library's own broadcast idiom.
//
// Fed the same ticks as the relay: it reads the Schwab simulator's tick tap (`/sim/ticks`) and forwards each frame,
// unchanged.
//
//   node node_peer.js --listen 127.0.0.1:9102 --upstream 'ws://127.0.0.1:8900/sim/ticks?underlying=SIMX&expiry=nearest'
//
// Prints `node peer listening on ws://ADDR/ws` once it serves.
'use strict';

const { WebSocket, WebSocketServer } = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const listen = arg('listen', '127.0.0.1:9102');
const upstreamUrl = arg('upstream');
if (!upstreamUrl) {
  console.error('--upstream is required');
  process.exit(2);
}
const [host, port] = [listen.slice(0, listen.lastIndexOf(':')), Number(listen.slice(listen.lastIndexOf(':') + 1))];

const wss = new WebSocketServer({ host, port, path: '/ws', perMessageDeflate: false });
wss.on('listening', () => console.log(`node peer listening on ws://${listen}/ws`));
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', () => {});
});

function connectUpstream() {
  const up = new WebSocket(upstreamUrl, { perMessageDeflate: false });
  up.on('message', (data, isBinary) => {
    const msg = isBinary ? data : data.toString();
    wss.clients.forEach((c) => {
      if (c.readyState === WebSocket.OPEN) c.send(msg);
    });
  });
  up.on('close', () => setTimeout(connectUpstream, 500));
  up.on('error', () => {});
}
connectUpstream();

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
