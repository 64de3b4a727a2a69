// A Node.js peer server written with the real JavaScript `socket.io` 4.x server: the
// transport, authentication and CORS parts of the contract (sections 1, 2, 7), as a team's
// Node backend would write them, and no orders. The conformance tests point
// `harness conformance --only 'transport.*,auth.*,cors.*'` at it, to prove those checks
// hold against the server most users run, not only against our Python one.
// Usage: node auth_peer.js SECRET ALLOWED_ORIGIN [ignore-exp]   (prints "node peer listening on URL")
// `ignore-exp` makes it the common Node mistake of verifying the signature but not `exp`.
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const [secret, allowedOrigin, flaw] = process.argv.slice(2);
const checkExp = flaw !== "ignore-exp";
const ROLES = ["customer", "store_owner", "driver"];
const users = new Map();

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const sign = (claims) => {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  const mac = crypto.createHmac("sha256", secret).update(`${head}.${body}`).digest();
  return `${head}.${body}.${b64url(mac)}`;
};

// The signature first (a forged token is `unauthorized` even when also expired), then exp.
function verify(token) {
  if (typeof token !== "string") return { error: "unauthorized" };
  const parts = token.split(".");
  if (parts.length !== 3) return { error: "unauthorized" };
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString());
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
  } catch (e) {
    return { error: "unauthorized" };
  }
  if (!header || header.alg !== "HS256") return { error: "unauthorized" };
  const want = crypto.createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], "base64url");
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { error: "unauthorized" };
  if (!claims || typeof claims.sub !== "string" || !ROLES.includes(claims.role)) return { error: "unauthorized" };
  if (checkExp && typeof claims.exp !== "number") return { error: "unauthorized" };
  if (checkExp && claims.exp * 1000 <= Date.now()) return { error: "token_expired" };
  return { claims };
}

const originOk = (origin) => origin === undefined || origin === allowedOrigin;

function send(res, status, body, origin) {
  const headers = { "Content-Type": "application/json" };
  if (origin && originOk(origin)) Object.assign(headers, { "Access-Control-Allow-Origin": origin, Vary: "Origin" });
  res.writeHead(status, headers);
  res.end(body === null ? "" : JSON.stringify(body));
}
const error = (code, message) => ({ error: { code, message, details: null } });

const server = http.createServer((req, res) => {
  if (req.url.startsWith("/socket.io/")) return; // socket.io answers these
  const origin = req.headers.origin;
  if (!originOk(origin)) return send(res, 403, error("origin_not_allowed", "origin not allowed"));
  if (req.method === "OPTIONS") {
    res.writeHead(204, { "Access-Control-Allow-Origin": origin, Vary: "Origin",
      "Access-Control-Allow-Methods": "GET, POST, PATCH, OPTIONS",
      "Access-Control-Allow-Headers": "authorization, content-type" });
    return res.end();
  }
  let raw = "";
  req.on("data", (chunk) => { raw += chunk; });
  req.on("end", () => {
    const path = req.url.split("?")[0];
    if (req.method === "GET" && path === "/health") return send(res, 200, { status: "ok" }, origin);
    if (req.method === "POST" && path === "/api/auth/register") {
      let body;
      try { body = JSON.parse(raw); } catch (e) { return send(res, 400, error("invalid_json", "not JSON"), origin); }
      if (!body || !ROLES.includes(body.role) || typeof body.email !== "string") {
        return send(res, 400, error("invalid_body", "bad body"), origin);
      }
      const user = { id: crypto.randomUUID().replace(/-/g, ""), name: body.name, email: body.email, role: body.role };
      users.set(user.id, user);
      const now = Math.floor(Date.now() / 1000);
      const token = sign({ sub: user.id, role: user.role, name: user.name, iat: now, exp: now + 3600 });
      return send(res, 201, { token, user }, origin);
    }
    if (req.method === "GET" && path === "/api/orders") {
      const auth = req.headers.authorization || "";
      const checked = auth.startsWith("Bearer ") ? verify(auth.slice(7)) : { error: "unauthorized" };
      if (checked.error) return send(res, 401, error(checked.error, "bad or missing token"), origin);
      return send(res, 200, { orders: [], page: 1, limit: 20, total: 0 }, origin);
    }
    return send(res, 404, error("not_found", "no such route"), origin);
  });
});

const io = new Server(server, {
  cors: { origin: [allowedOrigin] },
  maxHttpBufferSize: 1e6,
  allowRequest: (req, callback) => callback(null, originOk(req.headers.origin)),
});
io.use((socket, next) => {
  const auth = socket.handshake.auth || {};
  const checked = verify(auth.token);
  if (checked.error) return next(new Error(checked.error));
  socket.data.claims = checked.claims;
  next();
});
io.on("connection", (socket) => {
  const { sub, role } = socket.data.claims;
  socket.join(role === "store_owner" ? "store-owners" : `${role}_${sub}`);
  socket.on("time_sync", (data, ack) => { if (typeof ack === "function") ack({ serverTime: Date.now() }); });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`node peer listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
