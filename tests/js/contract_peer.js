// A second, independent implementation of the order-tracking contract (shared/CONTRACT.md),
// written the way a Node.js team would write its backend: the plain `http` module for the
// JSON API and the real `socket.io` 4.x server for the realtime side, an in-memory store,
// and a simulated change feed (every write queues a change; the feed emits it on the next
// turn of the event loop, as a MongoDB change stream would deliver it). It exists so that
// the harness's numbers and verdicts can be proven against a server we did not write in
// Python. Nothing here is ported from reference_server/: it was written from the prose.
//
// Usage: node contract_peer.js SECRET ALLOWED_ORIGIN [PORT]
//   PORT (or the PORT environment variable) defaults to 0: a free port. Loopback only.
//   Prints one line when ready: "node contract peer listening on http://127.0.0.1:PORT".
//   Stops on SIGTERM or SIGINT, and when its stdin (a pipe from a test) closes.
"use strict";

const fs = require("fs");
const http = require("http");
const crypto = require("crypto");
const { Server } = require("socket.io");

const [secret, allowedOrigin, portArg] = process.argv.slice(2);
if (!secret || !allowedOrigin) {
  process.stderr.write("usage: node contract_peer.js SECRET ALLOWED_ORIGIN [PORT]\n");
  process.exit(2);
}
const port = Number(portArg ?? process.env.PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`bad port ${portArg ?? process.env.PORT}\n`);
  process.exit(2);
}

// --- the contract's vocabulary (sections 2-8) ------------------------------------------------

const ROLES = ["customer", "store_owner", "driver"];
const STATUSES = ["pending", "processing", "ready_for_pickup", "ready_for_delivery",
  "driver_assigned", "picked_up", "in_transit", "delivered", "cancelled"];
const ORDER_TYPES = ["delivery", "pickup"];
const STORE_ID = "store-1";
const TOKEN_LIFETIME_S = 3600;
const MAX_BODY = 64 * 1024;
const PAGE_LIMIT_DEFAULT = 20;
const PAGE_LIMIT_MAX = 100;
const LOCATION_STATUSES = new Set(["driver_assigned", "picked_up", "in_transit"]);
const DELIVERY_UPDATE_STATUSES = new Set(["driver_assigned", "picked_up", "in_transit", "delivered"]);
const CITY_SPEED_M_S = 30 / 3.6;

// Who may move an order where. `who`: store_owner, the order's customer, the assigned driver.
// `assign`: reached only through POST /assign-driver, never by PATCH.
const MOVES = [
  { from: "pending", to: "processing", who: ["store_owner"] },
  { from: "pending", to: "cancelled", who: ["store_owner", "customer"] },
  { from: "processing", to: "ready_for_pickup", who: ["store_owner"], only: "pickup" },
  { from: "processing", to: "ready_for_delivery", who: ["store_owner"], only: "delivery" },
  { from: "processing", to: "cancelled", who: ["store_owner"] },
  { from: "ready_for_delivery", to: "driver_assigned", who: ["store_owner"], only: "delivery", assign: true },
  { from: "driver_assigned", to: "picked_up", who: ["driver"], only: "delivery" },
  { from: "picked_up", to: "in_transit", who: ["driver"], only: "delivery" },
  { from: "in_transit", to: "delivered", who: ["driver"], only: "delivery" },
  { from: "ready_for_pickup", to: "delivered", who: ["store_owner"], only: "pickup" },
];
const movesFrom = (order) => MOVES.filter((m) => m.from === order.status && (!m.only || m.only === order.orderType));

const MESSAGES = {
  pending: "Thanks! Your order has been placed.",
  processing: "The store has started on your order.",
  ready_for_pickup: "Your order is ready to collect.",
  ready_for_delivery: "Your order is packed and waits for a driver.",
  driver_assigned: "A driver is on the way to the store for your order.",
  picked_up: "The driver has your order.",
  in_transit: "Your order is on the road.",
  delivered: "Your order was delivered. Enjoy!",
  cancelled: "Your order was cancelled.",
};

// --- errors ----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}
const unauthorized = (code = "unauthorized") =>
  new ApiError(401, code, code === "token_expired" ? "the token has expired" : "a valid bearer token is required");
const badBody = (message) => new ApiError(400, "invalid_body", message);
const notFound = () => new ApiError(404, "not_found", "order not found");
const invalidStatus = (value) => new ApiError(422, "invalid_status", `${JSON.stringify(value)} is not a valid status`,
  { validStatuses: STATUSES });
const invalidTransition = (order, to) => new ApiError(409, "invalid_transition",
  `an order that is ${order.status} cannot become ${to}`,
  { currentStatus: order.status, allowedNext: movesFrom(order).map((m) => m.to) });

// --- tokens (HS256 by hand, with node's crypto) ----------------------------------------------

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const hmac = (data) => crypto.createHmac("sha256", secret).update(data).digest();

function signToken(claims) {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify(claims));
  return `${head}.${body}.${b64url(hmac(`${head}.${body}`))}`;
}

function issueToken(sub, role, name, extra = {}) {
  const iat = Math.floor(Date.now() / 1000);
  return signToken({ sub, role, name, ...extra, iat, exp: iat + TOKEN_LIFETIME_S });
}

const parsePart = (part) => {
  try {
    const value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch (e) {
    return null;
  }
};

// The claims, or an error code. The signature is checked before anything in the claims, so a
// forged token is `unauthorized` even when it is also expired.
function verifyToken(token) {
  if (typeof token !== "string" || token.length > 8192) return { error: "unauthorized" };
  const parts = token.split(".");
  if (parts.length !== 3) return { error: "unauthorized" };
  const header = parsePart(parts[0]);
  if (!header || header.alg !== "HS256") return { error: "unauthorized" };
  const want = hmac(`${parts[0]}.${parts[1]}`);
  const got = Buffer.from(parts[2], "base64url");
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return { error: "unauthorized" };
  const claims = parsePart(parts[1]);
  if (!claims || typeof claims.sub !== "string" || !claims.sub || !ROLES.includes(claims.role)) {
    return { error: "unauthorized" };
  }
  if (typeof claims.exp !== "number" || !Number.isFinite(claims.exp)) return { error: "unauthorized" };
  if (claims.exp * 1000 <= Date.now()) return { error: "token_expired" };
  return { claims };
}

// --- passwords: scrypt at a low cost, in libuv's thread pool ---------------------------------

const SCRYPT = { N: 1024, r: 8, p: 1 };
const scrypt = (password, salt) => new Promise((resolve, reject) =>
  crypto.scrypt(password, salt, 32, SCRYPT, (err, key) => (err ? reject(err) : resolve(key))));

// --- the store -------------------------------------------------------------------------------

const users = new Map(); // id -> {id, name, email, role, salt, hash}
const usersByEmail = new Map(); // lower-case e-mail -> user
const orders = new Map(); // id -> order
const allOrders = []; // creation order
const ordersByCustomer = new Map(); // customerId -> [order]
const ordersByDriver = new Map(); // driverId -> [order]
let orderSeq = 0;

const newId = () => crypto.randomBytes(12).toString("hex");
const pushTo = (map, key, value) => {
  const list = map.get(key);
  if (list) list.push(value); else map.set(key, [value]);
};
const cents = (n) => Math.round((n + Number.EPSILON) * 100) / 100;

// The order as the API shows it (internal fields left out).
const view = (order) => {
  const { seq, lastLocation, ...shown } = order;
  return { ...shown, lastLocation: lastLocation ?? null };
};

function canSee(claims, order) {
  if (claims.role === "store_owner") return true;
  if (claims.role === "customer") return order.customerId === claims.sub;
  return order.driverId !== null && order.driverId === claims.sub;
}

function visibleOrder(claims, id) {
  const order = orders.get(id);
  if (!order || !canSee(claims, order)) throw notFound();
  return order;
}

// --- the change feed ------------------------------------------------------------------------
// Every write appends its change here and returns; the feed drains on the next turn of the
// event loop, in write order, so one order's events leave in version order. Each event is
// built from the change itself (never from the order as it is when the feed runs).

const feed = [];
let feedScheduled = false;

function recordChange(change) {
  feed.push(change);
  if (!feedScheduled) {
    feedScheduled = true;
    setImmediate(drainFeed);
  }
}

function drainFeed() {
  feedScheduled = false;
  const batch = feed.splice(0, feed.length);
  for (const change of batch) {
    try {
      for (const [event, rooms, payload] of eventsOf(change)) {
        payload.emittedAt = Date.now();
        io.to(rooms).emit(event, payload);
      }
    } catch (err) {
      process.stderr.write(`change feed: ${err && err.stack}\n`);
    }
  }
}

function eventsOf(change) {
  const base = (event) => ({
    eventId: `${change.orderId}:${change.version}:${event}`,
    orderId: change.orderId,
    customerId: change.customerId,
    status: change.status,
    version: change.version,
  });
  const customerRoom = `customer_${change.customerId}`;
  const driverRooms = change.driverId ? [`driver_${change.driverId}`] : [];
  if (change.kind === "insert") {
    return [["newOrder", ["store-owners"], { ...base("newOrder"), order: change.order }]];
  }
  if (change.kind === "location") {
    return [["delivery_update", [customerRoom, "store-owners", ...driverRooms],
      { ...base("delivery_update"), kind: "location", driverId: change.driverId,
        location: change.location, eta: change.eta }]];
  }
  const out = [
    ["orderStatusUpdated", ["store-owners", customerRoom, ...driverRooms],
      { ...base("orderStatusUpdated"), previousStatus: change.previousStatus, updatedAt: change.at }],
    ["customer_order_update", [customerRoom],
      { ...base("customer_order_update"), previousStatus: change.previousStatus, message: MESSAGES[change.status] }],
  ];
  if (change.orderType === "delivery" && DELIVERY_UPDATE_STATUSES.has(change.status)) {
    out.push(["delivery_update", [customerRoom, "store-owners", ...driverRooms],
      { ...base("delivery_update"), kind: "status", driverId: change.driverId,
        previousStatus: change.previousStatus }]);
  }
  return out;
}

// --- writes (each one change: version + 1, one record for the feed) ----------------------------

function insertOrder(fields) {
  const at = new Date().toISOString();
  const order = {
    id: newId(), orderNumber: ++orderSeq, ...fields, status: "pending", driverId: null,
    statusHistory: [{ status: "pending", at }], version: 1, createdAt: at, updatedAt: at,
    seq: orderSeq,
  };
  orders.set(order.id, order);
  allOrders.push(order);
  pushTo(ordersByCustomer, order.customerId, order);
  recordChange({ kind: "insert", orderId: order.id, customerId: order.customerId, status: order.status,
    version: order.version, order: structuredClone(view(order)) });
  return order;
}

function moveOrder(order, to, driverId) {
  const at = new Date().toISOString();
  const previousStatus = order.status;
  if (driverId) {
    order.driverId = driverId;
    pushTo(ordersByDriver, driverId, order);
  }
  order.status = to;
  order.version += 1;
  order.updatedAt = at;
  order.statusHistory.push({ status: to, at });
  recordChange({ kind: "status", orderId: order.id, customerId: order.customerId, orderType: order.orderType,
    status: to, previousStatus, version: order.version, driverId: order.driverId, at });
  return order;
}

function reportLocation(order, lat, lng) {
  const at = new Date().toISOString();
  order.lastLocation = { lat, lng, at };
  order.version += 1;
  order.updatedAt = at;
  recordChange({ kind: "location", orderId: order.id, customerId: order.customerId, status: order.status,
    version: order.version, driverId: order.driverId, location: { lat, lng }, eta: etaSeconds(order, lat, lng) });
}

// Seconds to the delivery address at city speed, as the crow flies; null without coordinates.
function etaSeconds(order, lat, lng) {
  const to = order.deliveryAddress;
  if (!to || typeof to.lat !== "number" || typeof to.lng !== "number") return null;
  const rad = (d) => (d * Math.PI) / 180;
  const a = Math.sin(rad(to.lat - lat) / 2) ** 2
    + Math.cos(rad(lat)) * Math.cos(rad(to.lat)) * Math.sin(rad(to.lng - lng) / 2) ** 2;
  const metres = 2 * 6371000 * Math.asin(Math.min(1, Math.sqrt(a)));
  return Math.round(metres / CITY_SPEED_M_S);
}

// --- request bodies: structure first (400), values after ---------------------------------------

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isString = (v, min = 1, max = 200) => typeof v === "string" && v.length >= min && v.length <= max;
const isNumber = (v, min, max) => typeof v === "number" && Number.isFinite(v) && v >= min && v <= max;
const isInt = (v, min, max) => Number.isInteger(v) && v >= min && v <= max;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function checkAddress(a) {
  if (!isObject(a) || !isString(a.street) || !isString(a.city) || !isString(a.postalCode, 1, 20)) {
    throw badBody("deliveryAddress needs street, city and postalCode");
  }
  if (a.lat !== undefined && !isNumber(a.lat, -90, 90)) throw badBody("deliveryAddress.lat must be in [-90, 90]");
  if (a.lng !== undefined && !isNumber(a.lng, -180, 180)) throw badBody("deliveryAddress.lng must be in [-180, 180]");
  const out = { street: a.street, city: a.city, postalCode: a.postalCode };
  if (a.lat !== undefined && a.lng !== undefined) Object.assign(out, { lat: a.lat, lng: a.lng });
  return out;
}

function checkPayment(p) {
  if (!isObject(p)) throw badBody("payment must be an object");
  if (p.method === "saved") {
    if (!isString(p.paymentMethodId)) throw badBody("payment.paymentMethodId must be a non-empty string");
    return p;
  }
  if (p.method !== "card") throw badBody("payment.method must be card or saved");
  const c = p.card;
  if (!isObject(c) || !isString(c.number, 1, 40) || !isInt(c.expMonth, 1, 12) || !isInt(c.expYear, 2000, 9999)
      || typeof c.cvc !== "string" || !/^[0-9]{3,4}$/.test(c.cvc)) {
    throw badBody("payment.card needs number, expMonth, expYear and cvc");
  }
  return p;
}

// The order's fields from a checkout body (`body` already an object).
function checkCheckout(body) {
  const { items, orderType } = body;
  if (!Array.isArray(items) || items.length < 1 || items.length > 100) throw badBody("items: 1 to 100 items");
  const lines = items.map((it, i) => {
    if (!isObject(it) || !isString(it.productId) || !isString(it.name) || !isInt(it.quantity, 1, 100)
        || !isNumber(it.unitPrice, 0, 1e6)) {
      throw badBody(`items[${i}] needs productId, name, quantity (1..100) and unitPrice`);
    }
    return { productId: it.productId, name: it.name, quantity: it.quantity, unitPrice: cents(it.unitPrice) };
  });
  if (!ORDER_TYPES.includes(orderType)) throw badBody("orderType must be delivery or pickup");
  let deliveryAddress = null;
  if (body.deliveryAddress !== undefined) deliveryAddress = checkAddress(body.deliveryAddress);
  else if (orderType === "delivery") throw badBody("a delivery order needs a deliveryAddress");
  if (body.storeId !== undefined && !isString(body.storeId)) throw badBody("storeId must be a string");
  const payment = checkPayment(body.payment);
  return { lines, orderType, deliveryAddress, payment, storeId: body.storeId ?? STORE_ID };
}

function luhnOk(number) {
  const digits = number.replace(/[\s-]/g, "");
  if (!/^[0-9]{12,19}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

// Values after structure: the store (422), then the card (402).
function placeOrder(checked, customerId) {
  if (checked.storeId !== STORE_ID) throw new ApiError(422, "unknown_store", `no store ${checked.storeId}`);
  const { payment } = checked;
  if (payment.method === "card") {
    if (!luhnOk(payment.card.number)) throw new ApiError(402, "card_invalid", "the card number is not valid");
    const now = new Date();
    const { expYear, expMonth } = payment.card;
    if (expYear < now.getUTCFullYear() || (expYear === now.getUTCFullYear() && expMonth < now.getUTCMonth() + 1)) {
      throw new ApiError(402, "card_expired", "the card has expired");
    }
  }
  const total = cents(checked.lines.reduce((sum, l) => sum + l.quantity * l.unitPrice, 0));
  return insertOrder({ customerId, storeId: checked.storeId, orderType: checked.orderType, items: checked.lines,
    total, deliveryAddress: checked.deliveryAddress });
}

// --- HTTP ------------------------------------------------------------------------------------

const originOk = (origin) => origin === undefined || origin === allowedOrigin;

function send(res, status, body, origin) {
  const text = body === null ? "" : JSON.stringify(body);
  const headers = { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) };
  if (origin !== undefined && originOk(origin)) Object.assign(headers, { "Access-Control-Allow-Origin": origin, Vary: "Origin" });
  res.writeHead(status, headers);
  res.end(text);
}

// One request, once its body has been read: auth, role, body and the rest, in section 8's order.
class Call {
  constructor(req, url, raw, tooLarge) {
    this.req = req;
    this.url = url;
    this.raw = raw;
    this.tooLarge = tooLarge;
  }

  // The caller's claims (401 without a valid token); 403 when the role may never do this.
  auth(roles) {
    const header = this.req.headers.authorization || "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthorized();
    const checked = verifyToken(match[1]);
    if (checked.error) throw unauthorized(checked.error);
    if (roles && !roles.includes(checked.claims.role)) {
      throw new ApiError(403, "forbidden", `a ${checked.claims.role} may not do this`);
    }
    return checked.claims;
  }

  // The JSON object sent (400 when it is none; 413 when it is too large).
  body() {
    if (this.tooLarge) throw new ApiError(413, "payload_too_large", `the body is over ${MAX_BODY} bytes`);
    let value;
    try {
      value = JSON.parse(this.raw.toString("utf8"));
    } catch (e) {
      throw new ApiError(400, "invalid_json", "the body is not JSON");
    }
    if (!isObject(value)) throw badBody("the body must be a JSON object");
    return value;
  }
}

async function register(call) {
  const b = call.body();
  if (!isString(b.name) || !isString(b.email, 3, 254) || !EMAIL.test(b.email) || !isString(b.password, 8, 200)
      || !ROLES.includes(b.role)) {
    throw badBody("register needs name, email, password (8+ characters) and role");
  }
  const key = b.email.toLowerCase();
  if (usersByEmail.has(key)) throw new ApiError(409, "email_taken", "that e-mail is already registered");
  const salt = crypto.randomBytes(16);
  const user = { id: newId(), name: b.name, email: b.email, role: b.role, salt, hash: null };
  usersByEmail.set(key, user); // held while hashing, so a racing duplicate is refused too
  user.hash = await scrypt(b.password, salt);
  users.set(user.id, user);
  return [201, { token: issueToken(user.id, user.role, user.name), user: publicUser(user) }];
}

const publicUser = (u) => ({ id: u.id, name: u.name, email: u.email, role: u.role });

async function login(call) {
  const b = call.body();
  if (!isString(b.email, 0, 254) || !isString(b.password, 0, 200)) throw badBody("login needs email and password");
  const user = usersByEmail.get(b.email.toLowerCase());
  const hash = await scrypt(b.password, user ? user.salt : crypto.randomBytes(16));
  if (!user || !user.hash || !crypto.timingSafeEqual(hash, user.hash)) {
    throw new ApiError(401, "invalid_credentials", "wrong e-mail or password");
  }
  return [200, { token: issueToken(user.id, user.role, user.name), user: publicUser(user) }];
}

function checkout(call) {
  const claims = call.auth(["customer"]);
  const order = placeOrder(checkCheckout(call.body()), claims.sub);
  return [201, { order: view(order) }];
}

function guestCheckout(call) {
  const body = call.body();
  const g = body.guest;
  if (!isObject(g) || !isString(g.name) || !isString(g.email, 3, 254) || !EMAIL.test(g.email)
      || !isString(g.phone, 3, 40)) {
    throw badBody("guest needs name, email and phone");
  }
  const checked = checkCheckout(body);
  const customerId = `guest-${newId()}`;
  const order = placeOrder(checked, customerId);
  return [201, { order: view(order), token: issueToken(customerId, "customer", g.name, { guest: true }) }];
}

function positiveInt(params, name, fallback) {
  const raw = params.get(name);
  if (raw === null) return fallback;
  if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) < 1) {
    throw new ApiError(400, "invalid_query", `${name} must be a whole number from 1`);
  }
  return Number(raw);
}

function listOrders(call) {
  const claims = call.auth(null);
  const params = call.url.searchParams;
  const page = positiveInt(params, "page", 1);
  const limit = Math.min(positiveInt(params, "limit", PAGE_LIMIT_DEFAULT), PAGE_LIMIT_MAX);
  const status = params.get("status");
  if (status !== null && !STATUSES.includes(status)) throw invalidStatus(status);
  let source;
  if (claims.role === "store_owner") source = allOrders;
  else if (claims.role === "customer") source = ordersByCustomer.get(claims.sub) || [];
  else source = (ordersByDriver.get(claims.sub) || []).slice().sort((a, b) => a.seq - b.seq);
  const matching = [];
  for (let i = source.length - 1; i >= 0; i--) { // newest first
    if (status === null || source[i].status === status) matching.push(source[i]);
  }
  const start = (page - 1) * limit;
  return [200, { orders: matching.slice(start, start + limit).map(view), page, limit, total: matching.length }];
}

function getOrder(call, id) {
  const claims = call.auth(null);
  return [200, { order: view(visibleOrder(claims, id)) }];
}

function updateStatus(call, id) {
  const claims = call.auth(null);
  const body = call.body();
  if (typeof body.status !== "string" || body.status.length > 100) throw badBody("status must be a string");
  const to = body.status;
  if (!STATUSES.includes(to)) throw invalidStatus(to);
  const order = visibleOrder(claims, id);
  const move = movesFrom(order).find((m) => m.to === to && !m.assign);
  if (!move) throw invalidTransition(order, to);
  const actor = claims.role === "store_owner" ? "store_owner"
    : claims.role === "customer" && order.customerId === claims.sub ? "customer"
      : claims.role === "driver" && order.driverId === claims.sub ? "driver" : null;
  if (!move.who.includes(actor)) {
    throw new ApiError(403, "transition_forbidden", `a ${claims.role} may not move this order to ${to}`);
  }
  return [200, { order: view(moveOrder(order, to)) }];
}

function listDrivers(call) {
  call.auth(["store_owner"]);
  const drivers = [];
  for (const u of users.values()) if (u.role === "driver") drivers.push({ id: u.id, name: u.name });
  return [200, { drivers }];
}

// Where the contract is silent, the order is looked up before the driver: an unknown order is
// 404 whatever the driverId (a deliberate choice; the conformance checks must accept it).
function assignDriver(call, id) {
  const claims = call.auth(["store_owner"]);
  const body = call.body();
  if (!isString(body.driverId)) throw badBody("driverId must be a non-empty string");
  const order = visibleOrder(claims, id);
  const driver = users.get(body.driverId);
  if (!driver || driver.role !== "driver") {
    throw new ApiError(422, "unknown_driver", `${body.driverId} is not a registered driver`);
  }
  const move = movesFrom(order).find((m) => m.assign);
  if (!move) throw invalidTransition(order, "driver_assigned");
  return [200, { order: view(moveOrder(order, move.to, driver.id)) }];
}

// [method, path pattern, handler]; a path that matches with another method is 405.
const ROUTES = [
  ["GET", /^\/health$/, () => [200, { status: "ok" }]],
  ["POST", /^\/api\/auth\/register$/, register],
  ["POST", /^\/api\/auth\/login$/, login],
  ["POST", /^\/api\/checkout$/, checkout],
  ["POST", /^\/api\/guest\/checkout$/, guestCheckout],
  ["GET", /^\/api\/orders$/, listOrders],
  ["GET", /^\/api\/orders\/([^/]+)$/, getOrder],
  ["PATCH", /^\/api\/orders\/([^/]+)\/status$/, updateStatus],
  ["GET", /^\/api\/drivers$/, listDrivers],
  ["POST", /^\/api\/orders\/([^/]+)\/assign-driver$/, assignDriver],
];

function route(method, path) {
  let pathKnown = false;
  for (const [m, pattern, handler] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    pathKnown = true;
    if (m === method) return { handler, params: match.slice(1).map(decodeURIComponent) };
  }
  return { pathKnown };
}

function handle(req, res) {
  const origin = req.headers.origin;
  if (!originOk(origin)) return send(res, 403, { error: { code: "origin_not_allowed", message: "origin not allowed", details: null } });
  if (req.method === "OPTIONS") {
    const headers = { "Content-Length": 0 };
    if (origin !== undefined) {
      Object.assign(headers, { "Access-Control-Allow-Origin": origin, Vary: "Origin",
        "Access-Control-Allow-Methods": "GET, POST, PATCH, OPTIONS",
        "Access-Control-Allow-Headers": "authorization, content-type", "Access-Control-Max-Age": "600" });
    }
    res.writeHead(204, headers);
    return res.end();
  }
  let url;
  let found;
  try {
    url = new URL(req.url, "http://peer.invalid");
    found = route(req.method, url.pathname);
  } catch (e) {
    return send(res, 404, { error: { code: "not_found", message: "no such route", details: null } }, origin);
  }
  if (!found.handler) {
    return found.pathKnown
      ? send(res, 405, { error: { code: "method_not_allowed", message: `${req.method} not allowed here`, details: null } }, origin)
      : send(res, 404, { error: { code: "not_found", message: "no such route", details: null } }, origin);
  }
  // Read the whole body first (keeping at most MAX_BODY + 1 bytes), then judge the request.
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size <= MAX_BODY + 1) chunks.push(chunk);
    if (size > 16 * MAX_BODY * 16) req.destroy(); // far beyond any honest client: stop reading
  });
  req.on("end", async () => {
    const call = new Call(req, url, Buffer.concat(chunks), size > MAX_BODY);
    try {
      const [status, body] = await found.handler(call, ...found.params);
      send(res, status, body, origin);
    } catch (err) {
      if (err instanceof ApiError) {
        return send(res, err.status, { error: { code: err.code, message: err.message, details: err.details } }, origin);
      }
      process.stderr.write(`${req.method} ${url.pathname}: ${err && err.stack}\n`);
      send(res, 500, { error: { code: "internal_error", message: "internal error", details: null } }, origin);
    }
  });
  req.on("error", () => {});
}

const server = http.createServer((req, res) => {
  if (req.url.startsWith("/socket.io/")) return; // socket.io answers these
  handle(req, res);
});

// --- Socket.IO ---------------------------------------------------------------------------------

const io = new Server(server, {
  cors: { origin: [allowedOrigin], methods: ["GET", "POST"] },
  maxHttpBufferSize: 1e6,
  allowRequest: (req, callback) => callback(null, originOk(req.headers.origin)),
});

// Rooms come from the verified token alone; no client event joins one.
io.use((socket, next) => {
  const auth = socket.handshake.auth;
  const checked = verifyToken(auth && typeof auth === "object" ? auth.token : undefined);
  if (checked.error) return next(new Error(checked.error));
  socket.data.claims = checked.claims;
  next();
});

function onDriverLocation(claims, data) {
  if (claims.role !== "driver") return { ok: false, error: "only a driver reports locations" };
  if (!isObject(data) || !isString(data.orderId)) return { ok: false, error: "orderId is required" };
  const { lat, lng } = data;
  if (!isNumber(lat, -90, 90) || !isNumber(lng, -180, 180)) {
    return { ok: false, error: "lat must be a number in [-90, 90] and lng in [-180, 180]" };
  }
  const order = orders.get(data.orderId);
  if (!order || order.driverId !== claims.sub) return { ok: false, error: "this order is not assigned to you" };
  if (!LOCATION_STATUSES.has(order.status)) return { ok: false, error: `the order is ${order.status}` };
  reportLocation(order, lat, lng);
  return { ok: true };
}

io.on("connection", (socket) => {
  const { sub, role } = socket.data.claims;
  socket.join(role === "store_owner" ? "store-owners" : `${role}_${sub}`);
  socket.on("driver_location", (data, ack) => {
    if (typeof data === "function") [data, ack] = [undefined, data];
    const answer = onDriverLocation(socket.data.claims, data);
    if (typeof ack === "function") ack(answer);
  });
  socket.on("time_sync", (data, ack) => {
    if (typeof data === "function") ack = data;
    if (typeof ack === "function") ack({ serverTime: Date.now() });
  });
});

// --- start and stop --------------------------------------------------------------------------

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`node contract peer listening on http://127.0.0.1:${server.address().port}\n`);
});
server.on("error", (err) => {
  process.stderr.write(`cannot listen: ${err.message}\n`);
  process.exit(2);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// A parent that pipes our stdin (a test's Child) stops us by closing it. A terminal or
// /dev/null is not watched (reading a terminal from the background would stop the process).
try {
  const st = fs.fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on("end", stop);
    process.stdin.on("error", stop);
    process.stdin.resume();
  }
} catch (e) { /* no stdin at all */ }
