// A Socket.IO peer written with the real JavaScript client, connecting exactly as the
// seed's frontend does: io(url, {auth: {token}, transports: ['websocket', 'polling']}).
// Prints one JSON line per happening: {"type": "connect"|"connect_error"|"event"|"ack", ...}.
// Usage: node listen.js URL TOKEN [EMIT_EVENT EMIT_JSON]   (stops on stdin close or SIGTERM)
const { io } = require("socket.io-client");

const [url, token, emitEvent, emitJson] = process.argv.slice(2);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, { auth: { token }, transports: ["websocket", "polling"], reconnection: false });
socket.on("connect", () => {
  out({ type: "connect", id: socket.id, transport: socket.io.engine.transport.name });
  if (emitEvent) {
    socket.emit(emitEvent, JSON.parse(emitJson || "null"), (ack) => out({ type: "ack", event: emitEvent, ack }));
  }
});
socket.on("connect_error", (err) => out({ type: "connect_error", message: err.message }));
// `at`: when the handler ran, ms since the epoch (sub-millisecond: performance's clock).
socket.onAny((event, payload) => out({ type: "event", event, payload, at: performance.timeOrigin + performance.now() }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));

const stop = () => { socket.close(); process.exit(0); };
process.stdin.on("end", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
