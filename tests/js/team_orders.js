// An order-tracking backend as another team writes it: the idea of our contract
// (shared/CONTRACT.md: rooms joined from the token, the nine statuses and their moves, events
// pushed from a change feed), not its letter. Every difference a staging server typically has:
//   - its own routes: POST /auth/signup, /auth/signin, POST /orders, GET /orders/:id,
//     GET /orders, PUT /orders/:id/status, PUT /orders/:id/driver, GET /drivers;
//   - answer envelopes {success: true, order}, {success: true, token, user}, ...;
//   - token claims `id` (not `sub`) and role `store` (not `store_owner`);
//   - ids are `_id` (24 hex digits, as MongoDB's ObjectIds);
//   - every event's payload is the whole order document: no eventId, version or emittedAt;
//   - the location report is the client event `driver:location` {order, lat, lng}, acked
//     {success: true}; its delivery_update carries `location` and `kind: "location"`;
//   - error bodies are {success: false, message};
//   - the socket takes its token from the query string (?token=).
// Faults for tests (FAULTS, comma-separated): room_leak (status events also go to another
// customer's room, a random one each time), drop=<event>, duplicate=<event>, reorder (a
// customer's customer_order_update into processing held 250 ms, so that a quick next move
// overtakes it).
//
// With SIGNING_KEY set, every HTTP request must carry X-Signature: the hex HMAC-SHA256, under
// that key, of "METHOD URL\n" and the body's bytes (what a contract file cannot say: the
// hooks module examples/team_hooks.py signs for the harness).
//
// Usage: node team_orders.js SECRET [PORT]   (loopback only; PORT 0 or absent: a free port)
//   Prints "team orders listening on http://127.0.0.1:PORT" when ready; stops on SIGTERM,
//   SIGINT, and when its stdin closes.
"use strict";

const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const [secret, portArg] = process.argv.slice(2);
if (!secret) {
  process.stderr.write("usage: node team_orders.js SECRET [PORT]\n");
  process.exit(2);
}
const faults = new Set((process.env.FAULTS || "").split(",").map((s) => s.trim()).filter(Boolean));
const has = (name) => faults.has(name);

// --- tokens (HS256) -----------------------------------------------------------------------
const b64 = (buf) => Buffer.from(buf).toString("base64url");
function sign(claims) {
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const mac = crypto.createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${mac}`;
}
function verify(token) {
  const parts = String(token || "").split(".");
  if (parts.length !== 3) return null;
  const mac = crypto.createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest("base64url");
  if (mac.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(parts[2]))) return null;
  try {
    const claims = JSON.parse(Buffer.from(parts[1], "base64url").toString());
    return claims.exp > Date.now() / 1000 && claims.id && claims.role ? claims : null;
  } catch {
    return null;
  }
}

// --- the store and its change feed --------------------------------------------------------
const objectId = () => crypto.randomBytes(12).toString("hex");
const users = new Map(); // _id -> {_id, name, email, role, hash}
const byEmail = new Map();
const orders = new Map(); // _id -> order document
const feed = []; // changes waiting for the next turn of the event loop, as a change stream
function changed(kind, order, extra) {
  feed.push({ kind, order: { ...order }, extra });
  setImmediate(drain);
}

const MOVES = {
  pending: { processing: ["store"], cancelled: ["store", "customer"] },
  processing: { ready_for_delivery: ["store"], ready_for_pickup: ["store"], cancelled: ["store"] },
  ready_for_delivery: {},
  driver_assigned: { picked_up: ["driver"] },
  picked_up: { in_transit: ["driver"] },
  in_transit: { delivered: ["driver"] },
  ready_for_pickup: { delivered: ["store"] },
};
const DELIVERY_ONLY = new Set(["ready_for_delivery", "driver_assigned", "picked_up", "in_transit"]);
const DELIVERY_UPDATES = new Set(["driver_assigned", "picked_up", "in_transit", "delivered"]);

// --- the realtime side ----------------------------------------------------------------------
const server = http.createServer(handle);
const io = new Server(server, { cors: { origin: true } });
io.use((socket, next) => {
  const claims = verify(socket.handshake.query.token);
  if (!claims) return next(new Error("unauthorized"));
  socket.data.user = claims;
  next();
});
io.on("connection", (socket) => {
  const { id, role } = socket.data.user;
  socket.join(role === "store" ? "store-owners" : role === "driver" ? `driver_${id}` : `customer_${id}`);
  socket.on("driver:location", (body, ack) => {
    const reply = typeof ack === "function" ? ack : () => {};
    const order = body && orders.get(body.order);
    if (role !== "driver" || !order || order.driverId !== id) return reply({ success: false, message: "not your order" });
    if (typeof body.lat !== "number" || typeof body.lng !== "number") return reply({ success: false, message: "lat and lng" });
    order.location = { lat: body.lat, lng: body.lng };
    changed("location", order, { lat: body.lat, lng: body.lng });
    reply({ success: true });
  });
});

function emit(rooms, event, payload) {
  if (has(`drop=${event}`)) return;
  const times = has(`duplicate=${event}`) ? 2 : 1;
  for (let i = 0; i < times; i++) io.to(rooms).emit(event, payload);
}
function toCustomer(order, event, payload) {
  const rooms = [`customer_${order.customerId}`];
  if (has("room_leak")) {
    // Another customer, picked anew each time: the leak reaches whoever is connected.
    const others = [...users.values()].filter((u) => u.role === "customer" && u._id !== order.customerId);
    const other = others[Math.floor(Math.random() * others.length)];
    if (other) rooms.push(`customer_${other._id}`);
  }
  if (has("reorder") && event === "customer_order_update") {
    setTimeout(() => emit(rooms, event, payload), order.status === "processing" ? 250 : 0);
  } else {
    emit(rooms, event, payload);
  }
}
function drain() {
  while (feed.length) {
    const { kind, order, extra } = feed.shift();
    const { location, ...doc } = order;
    if (kind === "created") {
      emit(["store-owners"], "newOrder", doc);
      continue;
    }
    if (kind === "location") {
      const payload = { ...doc, kind: "location", location: extra };
      emit(["store-owners", `driver_${doc.driverId}`], "delivery_update", payload);
      toCustomer(doc, "delivery_update", payload);
      continue;
    }
    const everyone = ["store-owners", ...(doc.driverId ? [`driver_${doc.driverId}`] : [])];
    emit(everyone, "orderStatusUpdated", doc);
    toCustomer(doc, "orderStatusUpdated", doc);
    toCustomer(doc, "customer_order_update", doc);
    if (doc.type === "delivery" && DELIVERY_UPDATES.has(doc.status)) {
      const payload = { ...doc, kind: "status" };
      emit(everyone, "delivery_update", payload);
      toCustomer(doc, "delivery_update", payload);
    }
  }
}

// --- the HTTP side --------------------------------------------------------------------------
function send(res, status, body) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}
const fail = (res, status, message) => send(res, status, { success: false, message });
const publicOrder = (o) => { const { location, ...doc } = o; return doc; };
// Cheap on purpose (N = 1024, not the default 16384): a test server that shares 2 cores with
// its load, and whose synchronous hashing would stall its event loop for every sign-up.
const hash = (password, salt) => crypto.scryptSync(password, salt, 32, { N: 1024 }).toString("hex");

function handle(req, res) {
  if (req.url.startsWith("/socket.io/")) return; // socket.io's own
  let raw = "";
  req.on("data", (chunk) => { raw += chunk; if (raw.length > 65536) req.destroy(); });
  req.on("end", () => {
    const key = process.env.SIGNING_KEY;
    if (key) {
      const want = crypto.createHmac("sha256", key).update(`${req.method} ${req.url}\n${raw}`).digest("hex");
      const got = String(req.headers["x-signature"] || "");
      if (got.length !== want.length || !crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want))) {
        return fail(res, 401, "unsigned or badly signed request");
      }
    }
    let body = {};
    if (raw) {
      try { body = JSON.parse(raw); } catch { return fail(res, 400, "invalid JSON"); }
    }
    try {
      route(req, res, body);
    } catch (err) {
      fail(res, 500, String(err && err.message));
    }
  });
}

function route(req, res, body) {
  const url = new URL(req.url, "http://x");
  const path = url.pathname;
  const claims = verify((req.headers.authorization || "").replace(/^Bearer /, ""));
  const need = () => { if (!claims) { fail(res, 401, "sign in first"); return false; } return true; };
  let m;
  if (req.method === "POST" && path === "/auth/signup") {
    const { name, email, password, role } = body;
    if (!name || !email || !password || !["customer", "store", "driver"].includes(role)) return fail(res, 400, "name, email, password and role");
    if (byEmail.has(email)) return fail(res, 409, "email taken");
    const salt = crypto.randomBytes(8).toString("hex");
    const user = { _id: objectId(), name, email, role, salt, hash: hash(password, salt) };
    users.set(user._id, user);
    byEmail.set(email, user);
    return send(res, 201, { success: true, token: sign({ id: user._id, role }), user: { _id: user._id, name, email, role } });
  }
  if (req.method === "POST" && path === "/auth/signin") {
    const user = byEmail.get(body.email);
    if (!user || hash(String(body.password), user.salt) !== user.hash) return fail(res, 401, "wrong email or password");
    return send(res, 200, { success: true, token: sign({ id: user._id, role: user.role }), user: { _id: user._id, name: user.name, email: user.email, role: user.role } });
  }
  if (req.method === "POST" && path === "/orders") {
    if (!need()) return;
    if (claims.role !== "customer") return fail(res, 403, "customers only");
    const { products, type, address, card } = body;
    if (!Array.isArray(products) || !products.length || !["delivery", "pickup"].includes(type) || !card) return fail(res, 400, "products, type and card");
    if (type === "delivery" && !address) return fail(res, 400, "a delivery needs an address");
    const now = new Date().toISOString();
    const order = { _id: objectId(), customerId: claims.id, type, products, address: address || null, status: "pending", driverId: null, createdAt: now, updatedAt: now };
    orders.set(order._id, order);
    changed("created", order);
    return send(res, 201, { success: true, order: publicOrder(order) });
  }
  if (req.method === "GET" && path === "/orders") {
    if (!need()) return;
    const mine = [...orders.values()].filter((o) => claims.role === "store" || o.customerId === claims.id || o.driverId === claims.id);
    return send(res, 200, { success: true, orders: mine.map(publicOrder) });
  }
  if (req.method === "GET" && path === "/drivers") {
    if (!need()) return;
    if (claims.role !== "store") return fail(res, 403, "store only");
    return send(res, 200, { success: true, drivers: [...users.values()].filter((u) => u.role === "driver").map((u) => ({ _id: u._id, name: u.name })) });
  }
  if ((m = path.match(/^\/orders\/([0-9a-f]{24})(\/status|\/driver)?$/))) {
    if (!need()) return;
    const order = orders.get(m[1]);
    if (!order) return fail(res, 404, "no such order");
    const mayRead = claims.role === "store" || order.customerId === claims.id || order.driverId === claims.id;
    if (req.method === "GET" && !m[2]) {
      return mayRead ? send(res, 200, { success: true, order: publicOrder(order) }) : fail(res, 404, "no such order");
    }
    if (req.method === "PUT" && m[2] === "/driver") {
      if (claims.role !== "store") return fail(res, 403, "store only");
      const driver = users.get(body.driver);
      if (!driver || driver.role !== "driver") return fail(res, 400, "no such driver");
      if (order.status !== "ready_for_delivery") return fail(res, 409, `cannot assign a driver to a ${order.status} order`);
      Object.assign(order, { driverId: driver._id, status: "driver_assigned", updatedAt: new Date().toISOString() });
      changed("status", order);
      return send(res, 200, { success: true, order: publicOrder(order) });
    }
    if (req.method === "PUT" && m[2] === "/status") {
      const target = body.status;
      const allowed = (MOVES[order.status] || {})[target];
      if (!allowed || (order.type === "pickup" && DELIVERY_ONLY.has(target))
          || (order.type === "delivery" && target === "ready_for_pickup")) {
        return fail(res, 409, `cannot move a ${order.status} order to ${target}`);
      }
      const own = claims.role === "store" || (claims.role === "customer" && order.customerId === claims.id)
        || (claims.role === "driver" && order.driverId === claims.id);
      if (!allowed.includes(claims.role) || !own) return fail(res, 403, "not yours to move");
      Object.assign(order, { status: target, updatedAt: new Date().toISOString() });
      changed("status", order);
      return send(res, 200, { success: true, order: publicOrder(order) });
    }
  }
  return fail(res, 404, "no such route");
}

server.listen(Number(portArg || process.env.PORT || 0), "127.0.0.1", () => {
  process.stdout.write(`team orders listening on http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => { io.close(); server.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
